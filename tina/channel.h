/*
 * channel.h -- a shard's side of its channels, the same on both platforms.
 *
 * A channel is the SPSC ring from one shard to another (ring.h), living in
 * the consumer's arena.  Sending reserves the next slot, fills it and
 * commits it; nothing is visible to the consumer until the platform's
 * channel_publish at the end of the pass (one release store per written
 * channel, doorbells rung; the simulator's network acts there).  The
 * consumer peeks at the batch published when it looked and releases it.
 */
#ifndef TINA_CHANNEL_H
#define TINA_CHANNEL_H

#include <stdatomic.h>

#include "ring.h"
#include "world.h"

#define TINA__CHANNEL_DOWN ((tina_msg *)1) /* reserve: the peer is quarantined */

/* Everything a shard keeps of its channels. */
struct tina__channels {
    struct tina__ring *outbound[TINA_SHARD_COUNT_MAX]; /* in the peer's arena */
    struct tina__ring *inbound[TINA_SHARD_COUNT_MAX];  /* in ours */
    uint64_t out_dirty;        /* bit per peer: ring written this pass */
    uint32_t id;               /* this shard */
    const _Atomic uint32_t *transitions; /* rt->transitions: odd while a shard is quarantined */
};

/* Shard `to` is quarantined: its handles are all stale, it takes nothing. */
static inline int tina__channel_down(const struct tina__channels *c, uint32_t to) {
    return atomic_load_explicit(&c->transitions[to], memory_order_relaxed) & 1u;
}

/* A slot in the ring to shard `to`, NULL if it is full, or
 * TINA__CHANNEL_DOWN if that shard is quarantined. */
static inline tina_msg *tina__channel_reserve(struct tina__channels *c, uint32_t to) {
    if (tina__channel_down(c, to)) return TINA__CHANNEL_DOWN;
    tina_msg *m = ring_reserve(c->outbound[to]);
    if (m) c->out_dirty |= 1ull << to;
    return m;
}

/* The caller has filled the slot it reserved (before its pass ends). */
static inline void tina__channel_commit(struct tina__channels *c, uint32_t to) {
    ring_commit(c->outbound[to]);
}

/* The consumer's contiguous batch from shard `from`; refresh (first call
 * per channel per pass) looks for newly published envelopes, later calls
 * only continue the batch past the ring's wrap. */
static inline uint32_t tina__channel_peek(struct tina__channels *c, uint32_t from,
                                          tina_msg **first, int refresh) {
    return ring_peek(c->inbound[from], first, refresh);
}

static inline void tina__channel_release(struct tina__channels *c, uint32_t from, uint32_t count) {
    ring_release(c->inbound[from], count);
}

#endif /* TINA_CHANNEL_H */
