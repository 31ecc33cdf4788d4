/*
 * spin.h -- the idle poll of a shard thread (runtime.c's loop): how long
 * it polls before it sleeps, and how it polls.
 *
 * Polling catches work that comes soon at no wake-up cost; polling for
 * work that comes late burns a core a neighbour could use.  So the poll's
 * length adapts to what it has lately won (spin_adapt), and past its first
 * microseconds each turn offers the core to whatever else is runnable on
 * it (spin_wait).  Production only: the simulator's shards never poll.
 */
#ifndef TINA_OS_SPIN_H
#define TINA_OS_SPIN_H

#include <sched.h>
#include <stdatomic.h>

#include "shard/shard.h"

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* The idle spin adapts to what it wins (tina_spec.idle_spin_fixed): after
 * an idle gap -- from the pass that found nothing to the pass that found
 * work -- no longer than the most it may poll, polling would have caught
 * the work, so the poll doubles (from TINA__SPIN_MIN_NS); after a longer
 * one it would have burnt the core for nothing, so it halves, down to
 * sleeping at once. */
#define TINA__SPIN_MIN_NS 500u
static inline uint64_t spin_adapt(struct tina__shard *s, uint64_t budget, uint64_t gap_ns) {
    uint64_t max = s->rt->spec.idle_spin_ns;
    if (s->rt->spec.idle_spin_fixed) return max;
    if (gap_ns <= max) {
        s->stats.spin_won++;
        budget = budget < TINA__SPIN_MIN_NS ? TINA__SPIN_MIN_NS : budget * 2;
    } else {
        s->stats.spin_lost++;
        budget /= 2;
    }
    budget = budget > max ? max : budget;
    s->stats.spin_budget_ns = budget;
    return budget;
}

/* One turn of the idle poll.  The first microseconds poll the core alone
 * (a peer's answer in a round trip comes that fast); after that each turn
 * offers the core to whatever else is runnable there -- a client on the
 * same machine, a wrk, another shard's producer -- and comes straight back
 * if nothing is: polling then costs a syscall a turn, not the neighbour's
 * time slice (DESIGN §19: 1.8x the HTTP requests with a client on the
 * same two cores). */
#define TINA__SPIN_ALONE_NS 2000u
static inline void spin_wait(uint64_t idle_ns) {
    if (idle_ns < TINA__SPIN_ALONE_NS) cpu_relax();
    else sched_yield();
}

#endif /* TINA_OS_SPIN_H */
