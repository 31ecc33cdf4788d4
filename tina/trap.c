/*
 * trap.c -- catching faults in user code (see trap.h for the contract).
 *
 * Signal-handler rules this file keeps: the handler touches only the
 * faulting thread's own shard (found through a thread-local pointer), an
 * int and a jump; it calls nothing that allocates or locks.  Handlers are
 * installed with SA_NODEFER (the signal is not blocked on entry, so the
 * jump back leaves the mask as it was: the next fault is caught too) and
 * SA_ONSTACK (a stack overflow has no stack left to run a handler on).
 *
 * glibc's abort() releases its lock before raising SIGABRT, so jumping out
 * of an abort() is safe; a second abort() on the same thread works.
 *
 * What the boundary takes.  Only a synchronous fault raised by the armed
 * thread itself; the siginfo says which signals those are:
 *
 *   SIGSEGV SIGBUS    taken when si_code > 0: the kernel raised it for the
 *   SIGFPE  SIGILL    instruction this thread just ran (SEGV_MAPERR,
 *                     FPE_INTDIV, ...; SI_KERNEL, a general protection
 *                     fault, counts too).  Sent signals carry si_code <= 0
 *                     (SI_USER from kill, SI_TKILL from tgkill/pthread_kill
 *                     or raise, SI_QUEUE from sigqueue) and are refused,
 *                     whoever sent them, this very thread included.
 *                     BUS_MCEERR_AO (> 0) is refused as well: the kernel
 *                     reports memory found bad in the background, not an
 *                     access this thread made.
 *   SIGABRT           taken when si_code == SI_TKILL and si_pid == getpid():
 *                     what abort() (and raise) produce, as a tgkill aimed
 *                     at the calling thread.  Refused: kill() of the
 *                     process, from outside or from within (SI_USER: it
 *                     lands on any thread), sigqueue (SI_QUEUE), and a
 *                     tgkill from another process (si_pid is not ours).
 *                     Not told apart, and so taken: pthread_kill(SIGABRT)
 *                     aimed at a shard thread by another thread of the
 *                     process -- siginfo does not name the sending thread.
 *                     A failed TINA_ASSERT raises the same signal with the
 *                     same siginfo as a handler's abort(): the boundary
 *                     cannot refuse it, so tina__assert_fail (error.c)
 *                     restores SIGABRT's default action before aborting.
 *
 * A thread of this process could forge a positive si_code with
 * rt_tgsigqueueinfo (the kernel refuses that only across processes); code
 * in the process that does so has chosen to be taken for a fault.
 *
 * A signal the boundary does not take gets what it would have got without
 * this handler: the default action, which ends the process.  The handler
 * restores SIG_DFL, then a synchronous fault returns and its instruction
 * faults again (the core shows the real fault), while anything else is
 * raised again on this thread -- returning would drop it, as nothing
 * re-executes a sent signal.
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "trap.h"

static const int trap_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
enum { TRAP_SIGNAL_COUNT = sizeof(trap_signals) / sizeof(trap_signals[0]) };

static struct sigaction previous[TRAP_SIGNAL_COUNT];
static _Atomic int install_count;
static _Thread_local struct tina__trap *trap_now;

static void trap_count(struct tina__trap *t, int sig) {
    t->trapped++;
    switch (sig) {
    case SIGSEGV: t->segv++; break;
    case SIGBUS: t->bus++; break;
    case SIGFPE: t->fpe++; break;
    case SIGILL: t->ill++; break;
    default: t->abrt++; break;
    }
}

/* The kernel raised it for the instruction this thread just ran, and
 * returning from the handler runs that instruction again. */
static int fault_is_synchronous(int sig, const siginfo_t *info) {
    if (sig == SIGABRT || info->si_code <= 0) return 0;
    return !(sig == SIGBUS && info->si_code == BUS_MCEERR_AO);
}

/* abort() or raise() on this thread (see the essay for what else looks
 * the same). */
static int abort_is_own(int sig, const siginfo_t *info) {
    return sig == SIGABRT && info->si_code == SI_TKILL && info->si_pid == getpid();
}

static void trap_handler(int sig, siginfo_t *info, void *ucontext) {
    (void)ucontext;
    struct tina__trap *t = trap_now;
    int synchronous = fault_is_synchronous(sig, info);
    if (t != NULL && t->armed && t->jmp != NULL && (synchronous || abort_is_own(sig, info))) {
        t->armed = 0;
        trap_count(t, sig);
        siglongjmp(*t->jmp, sig);
    }
    /* Not a fault of user code: a runtime bug, a sent signal, or a thread
     * with no isolate running.  Die of it, as without this handler. */
    signal(sig, SIG_DFL);
    if (synchronous) return; /* the faulting instruction runs again */
    raise(sig);              /* not blocked (SA_NODEFER): delivered before raise returns */
}

int tina__trap_install(void) {
    if (atomic_fetch_add(&install_count, 1) > 0) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = trap_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < TRAP_SIGNAL_COUNT; k++)
        if (sigaction(trap_signals[k], &sa, &previous[k]) != 0) return -1;
    return 0;
}

void tina__trap_uninstall(void) {
    if (atomic_fetch_sub(&install_count, 1) != 1) return;
    for (int k = 0; k < TRAP_SIGNAL_COUNT; k++) sigaction(trap_signals[k], &previous[k], NULL);
}

void tina__trap_thread_enter(struct tina__trap *trap, void *altstack, size_t altstack_bytes) {
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = altstack;
    ss.ss_size = altstack_bytes;
    (void)sigaltstack(&ss, NULL);
    trap_now = trap;
}

void tina__trap_set(struct tina__trap *trap) { trap_now = trap; }

void tina__trap_thread_leave(void) {
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_flags = SS_DISABLE;
    (void)sigaltstack(&ss, NULL);
    trap_now = NULL;
}
