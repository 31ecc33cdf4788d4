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
 */
#include <signal.h>
#include <string.h>

#include "trap.h"

static const int trap_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
enum { TRAP_SIGNAL_COUNT = sizeof(trap_signals) / sizeof(trap_signals[0]) };

static struct sigaction previous[TRAP_SIGNAL_COUNT];
static _Atomic int install_count;
static _Thread_local struct tina__shard *trap_shard;

static void trap_count(struct tina__shard *s, int sig) {
    s->stats.crash_trapped++;
    switch (sig) {
    case SIGSEGV: s->stats.crash_segv++; break;
    case SIGBUS: s->stats.crash_bus++; break;
    case SIGFPE: s->stats.crash_fpe++; break;
    case SIGILL: s->stats.crash_ill++; break;
    default: s->stats.crash_abort++; break;
    }
}

static void trap_handler(int sig, siginfo_t *info, void *ucontext) {
    (void)info;
    (void)ucontext;
    struct tina__shard *s = trap_shard;
    if (s != NULL && s->trap_armed && s->trap_jmp != NULL) {
        s->trap_armed = 0;
        trap_count(s, sig);
        siglongjmp(*s->trap_jmp, sig);
    }
    /* Not in user code: a runtime bug or a foreign thread.  Die of it. */
    signal(sig, SIG_DFL);
    if (sig == SIGABRT) raise(sig);
    /* Synchronous faults re-execute the faulting instruction on return. */
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

void tina__trap_thread_enter(struct tina__shard *s, void *altstack, size_t altstack_bytes) {
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = altstack;
    ss.ss_size = altstack_bytes;
    (void)sigaltstack(&ss, NULL);
    trap_shard = s;
}

void tina__trap_set_shard(struct tina__shard *s) { trap_shard = s; }

void tina__trap_thread_leave(void) {
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_flags = SS_DISABLE;
    (void)sigaltstack(&ss, NULL);
    trap_shard = NULL;
}
