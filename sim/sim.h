/*
 * sim.h -- the simulation platform's private state, shared by sim/ files.
 *
 * One `struct tina__sim` per simulated run: the simulated clock, the
 * PRNG streams and the simulated I/O world (io.c).  The runtime
 * points at it (rt->platform_state) and the simulation platform table
 * (platform.c) reads it; the run loop (run.c) drives every shard's
 * unchanged tina__shard_pass() on the calling thread.
 *
 * The PRNG tree: one 64-bit master seed; each domain gets its own
 * xoshiro256** stream seeded from splitmix64(master ^ domain x golden).
 * Domain numbers never change meaning and new ones are appended, so an old
 * seed replays the same choices:
 *   0x0001            shard order of each round
 *   0x0002            network drops
 *   0x0003            partitions
 *   0x0004            delivery delays
 *   0x0005            the operator's random revivals
 *   0x0100 + shard    that shard's isolate random source (tina_random)
 *   0x0200 + shard    that shard's I/O faults (io.c: errors, delays)
 *   0x0300 + shard    that shard's crash injection
 *   0x0400 + shard    that shard's stalls
 *   0x0500 + shard    that shard's init failures
 */
#ifndef TINA_SIM_H
#define TINA_SIM_H

#include "runtime.h"
#include "shard/shard.h"
#include "random.h"

enum {
    TINA__SIM_DOMAIN_ORDER = 0x0001,
    TINA__SIM_DOMAIN_DROPS = 0x0002,
    TINA__SIM_DOMAIN_PARTITIONS = 0x0003,
    TINA__SIM_DOMAIN_DELAYS = 0x0004,
    TINA__SIM_DOMAIN_OPERATOR = 0x0005,
    TINA__SIM_DOMAIN_ISOLATE = 0x0100,
    TINA__SIM_DOMAIN_IO = 0x0200,
    TINA__SIM_DOMAIN_CRASH = 0x0300,
    TINA__SIM_DOMAIN_STALL = 0x0400,
    TINA__SIM_DOMAIN_INIT = 0x0500
};

struct tina__sim {
    uint64_t now_ns;     /* simulated time, advanced by the run loop only */
    uint64_t seed;
    uint64_t order[4];   /* TINA__SIM_DOMAIN_ORDER stream */
    uint64_t drops[4];   /* TINA__SIM_DOMAIN_DROPS stream */
    uint64_t delay_rng[4]; /* TINA__SIM_DOMAIN_DELAYS stream */
    uint64_t crash[TINA_SHARD_COUNT_MAX][4]; /* per shard: crash injection */
    uint64_t stall[TINA_SHARD_COUNT_MAX][4]; /* per shard: stalls (domain 0x0400 + shard) */
    uint64_t init_fail[TINA_SHARD_COUNT_MAX][4]; /* per shard: init failures (0x0500 + shard) */
    uint32_t stall_left[TINA_SHARD_COUNT_MAX];
    uint32_t crash_per_million, drop_per_million, stall_per_million, stall_rounds_max;
    uint32_t init_fail_per_million;
    uint32_t partition_per_million, partition_rounds_max;
    uint64_t partitions[4];              /* TINA__SIM_DOMAIN_PARTITIONS stream */
    uint32_t cut_a, cut_b, cut_left;     /* the partition on now: shards a < b, rounds left */
    uint64_t partitions_injected, partitions_healed, partition_drops[2];
    uint32_t delay_min, delay_max;       /* rounds */
    uint64_t round;                      /* rounds run so far */
    struct tina__sim_delay *delays;      /* [from * shard_count + to], NULL without delays */
    uint32_t shard_count;
    uint64_t digest;
    uint64_t dispatches;
    uint64_t crashes_injected, drops_injected, stalls_injected, init_failures_injected;
    uint8_t ran[TINA_SHARD_COUNT_MAX]; /* ran a pass in the last round */
    uint64_t beat_ns[TINA_SHARD_COUNT_MAX]; /* watchdog: simulated time of the last pass */
    uint8_t watched[TINA_SHARD_COUNT_MAX];  /* watchdog: this stall already reported */
    uint64_t watchdog_reports;
    uint32_t revive_after;                           /* rounds; 0: never */
    uint64_t quarantined_since[TINA_SHARD_COUNT_MAX]; /* round + 1 it was first seen, 0: not */
    uint64_t io_rng[TINA_SHARD_COUNT_MAX][4]; /* per shard: I/O faults (0x0200 + shard) */
    uint32_t io_error_per_million, io_delay_max; /* io_delay_max in rounds */
    uint64_t io_errors_injected;
    struct tina__sim_world *world;     /* io.c: network and files; NULL until an io_setup */
    tina_sim_check_fn check;           /* the user's checker, or NULL */
    void *check_user;
    /* Liveness (run.c): the calm phase and the spin detector. */
    uint64_t calm_at_ns;               /* 0: no calm phase */
    uint32_t calm_rounds_max;          /* the run must end this many rounds into the calm */
    uint32_t calm;                     /* the calm has begun */
    uint64_t calm_round;               /* ... at this round */
    uint32_t spin_rounds_max;
    uint32_t spin_rounds[TINA_SHARD_COUNT_MAX]; /* passes in a row with work and no progress */
    uint64_t progress[TINA_SHARD_COUNT_MAX];    /* the shard's progress counters, last pass */
    uint32_t revive_random_per_million;
    uint64_t operator_rng[4];          /* TINA__SIM_DOMAIN_OPERATOR stream */
    uint64_t revivals_asked;
    uint8_t revive_asked_quarantined[TINA_SHARD_COUNT_MAX]; /* asked while it was quarantined */
    uint64_t revivals_seen[TINA_SHARD_COUNT_MAX];           /* the shard's revivals counter */
    uint32_t final_check;              /* the checkers' last call, at the end of the run */
    /* What the network carried, per channel and envelope kind, counted by
     * the platform as it goes (platform.c): [(from * n + to) * 5 + kind].
     * carried: handed to the network at publish; lost: dropped by it or a
     * partition before the channel accepted it.  NULL until the run starts. */
    uint64_t *carried, *lost;
};

/* The network's count for channel from -> to and a tina_msg_kind. */
static inline uint64_t *tina__sim_net(uint64_t *counts, uint32_t shard_count, uint32_t from,
                                      uint32_t to, uint32_t kind) {
    return &counts[((size_t)from * shard_count + to) * 5 + (kind < 5 ? kind : 4)];
}

/* Delivery delays of one channel: the release round of each written slot;
 * the ring's tail is moved only past released slots, so order holds. */
struct tina__sim_delay {
    uint64_t *release;   /* ring capacity entries, by slot */
    uint64_t scheduled;  /* slots below this index have a release round */
    uint64_t last;       /* the latest release round given: releases never go back */
};

/* checkers.c */
uint32_t *tina__sim_shadow_alloc(const struct tina_runtime *rt);
int tina__sim_check(struct tina_runtime *rt, const struct tina__sim *sim, uint32_t *shadow,
                    char *why, size_t why_size);

/* An integer-ratio coin: true with probability per_million / 10^6. */
static inline int tina__sim_chance(uint64_t stream[4], uint32_t per_million) {
    return per_million != 0 && tina__rng_next(stream) % 1000000u < per_million;
}

static inline void tina__sim_stream(uint64_t state[4], uint64_t seed, uint64_t domain) {
    tina__rng_seed(state, seed ^ (domain * 0x9e3779b97f4a7c15ull));
}

extern const struct tina__platform tina__platform_sim;

/* io.c: the simulated network and file system behind the seam's I/O. */
int tina__sim_io_setup(struct tina__shard *s);
void tina__sim_io_submit(struct tina__shard *s);
uint32_t tina__sim_io_reap(struct tina__shard *s);
void tina__sim_io_cancel(struct tina__shard *s, uint32_t op);
int64_t tina__sim_io_ctl(struct tina__shard *s, struct tina__io_ctl *c);
void tina__sim_io_teardown(struct tina__shard *s);
/* Some I/O completion is due or could be decided now (quiescence waits). */
int tina__sim_io_pending(struct tina_runtime *rt);
/* After tina_destroy: the world outlives every shard's last close. */
void tina__sim_io_free(struct tina__sim *sim);
int tina__sim_delays_alloc(struct tina__sim *sim, struct tina_runtime *rt);
void tina__sim_delays_free(struct tina__sim *sim);

#endif /* TINA_SIM_H */
