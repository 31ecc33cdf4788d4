/*
 * trap.h -- the trap boundary between a handler and its shard.
 *
 * A fault inside a handler or an init (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT; a stack overflow arrives as SIGSEGV on the shard's alternate
 * signal stack) must crash only that isolate.  The shard marks the region
 * where user code runs with a jump point (TINA__TRAP_POINT, a sigsetjmp
 * without signal-mask saving, so no syscall) and an `armed` flag; the
 * signal handler, finding the flag set on the faulting thread's shard,
 * jumps back there and the shard tears the isolate down like a crash.
 * It takes only a synchronous fault of the armed thread or that thread's
 * own abort(), never a signal sent from elsewhere (trap.c reads the
 * siginfo) and never a failed TINA_ASSERT (error.c), since a broken
 * invariant ends the process.  Anything it does not take -- a fault with
 * the flag clear is the runtime's own bug -- gets the default action: the
 * process dies with the signal.
 *
 * The jump point is set once per type batch in the dispatch phase, not per
 * message; a nested init (spawn from a handler, a restart, boot) pushes a
 * point of its own and pops it after.
 */
#ifndef TINA_TRAP_H
#define TINA_TRAP_H

#include <setjmp.h>
#include <stddef.h>

#include "base.h"

#define TINA__TRAP_POINT(buf) sigsetjmp((buf), 0)

/* A shard's trap boundary, and the faults it took (the shard's statistics
 * report them). */
struct tina__trap {
    sigjmp_buf *jmp;          /* innermost jump point, NULL outside dispatch/init */
    volatile uint32_t armed;  /* user code is running under jmp */
    uint64_t trapped, segv, bus, fpe, ill, abrt;
};

/* Process-wide handlers, installed while at least one runtime runs. */
int tina__trap_install(void);
void tina__trap_uninstall(void);

/* Shard thread: bind the thread to its shard's trap and alternate stack. */
void tina__trap_thread_enter(struct tina__trap *trap, void *altstack, size_t altstack_bytes);
void tina__trap_thread_leave(void);
/* The simulator runs every shard on one thread: name the one running now. */
void tina__trap_set(struct tina__trap *trap);

#endif /* TINA_TRAP_H */
