/*
 * platform.c -- the simulation platform: one thread, simulated time.
 *
 * Laid out like tina/os/platform.c: private helpers, static functions,
 * then the table.  The clock is the run loop's simulated time.  Channels
 * are the same SPSC rings (channel.h; the atomics are simply uncontended
 * on one thread), so ordering and accounting are exactly production's;
 * only publishing differs.  Nothing sleeps and
 * nothing needs waking: the run loop decides who runs next.  Network
 * faults (drops, delays, partitions) and simulated I/O attach here.
 */
#include "sim.h"

#include <stdlib.h>

static struct tina__sim *sim_of(struct tina__shard *s) {
    return (struct tina__sim *)s->rt->platform_state;
}

static uint64_t sim_clock_ns(struct tina__shard *s) { return sim_of(s)->now_ns; }

/* The network lost the envelope in slot `at` of the ring to `to`. */
static void net_lost(struct tina__shard *s, uint32_t to, uint64_t at) {
    struct tina__sim *sim = sim_of(s);
    struct tina__ring *ring = s->chan.outbound[to];
    if (sim->lost)
        ++*tina__sim_net(sim->lost, s->shard_count, s->id, to, ring->slots[at & ring->mask].kind);
}

/* The network loses some of this pass's messages: drop them from the
 * part of the ring written since the last publish, keeping the survivors in
 * order. */
static void network_drops(struct tina__shard *s, uint32_t to, uint64_t from) {
    struct tina__sim *sim = sim_of(s);
    struct tina__ring *ring = s->chan.outbound[to];
    uint64_t kept = from;
    for (uint64_t at = from; at < ring->producer.pending; at++) {
        if (tina__sim_chance(sim->drops, sim->drop_per_million)) {
            sim->drops_injected++;
            net_lost(s, to, at);
            continue;
        }
        if (kept != at) ring->slots[kept & ring->mask] = ring->slots[at & ring->mask];
        kept++;
    }
    ring->producer.pending = kept;
}

/* A partition between this shard and `to`: this pass's messages are lost. */
static int partitioned(const struct tina__sim *sim, uint32_t from, uint32_t to) {
    return sim->cut_left > 0 && ((from == sim->cut_a && to == sim->cut_b) ||
                                 (from == sim->cut_b && to == sim->cut_a));
}

/* Delays: give this pass's messages their release rounds (never earlier
 * than the one before, so the channel stays FIFO), then publish the
 * released prefix.  Called for every channel every pass. */
static void delayed_publish(struct tina__shard *s, uint32_t to) {
    struct tina__sim *sim = sim_of(s);
    struct tina__sim_delay *d = &sim->delays[(size_t)s->id * sim->shard_count + to];
    struct tina__ring *ring = s->chan.outbound[to];
    for (; d->scheduled < ring->producer.pending; d->scheduled++) {
        uint64_t span = sim->delay_max - sim->delay_min + 1;
        uint64_t at = sim->round + sim->delay_min + tina__rng_next(sim->delay_rng) % span;
        if (at < d->last) at = d->last;
        d->last = at;
        d->release[d->scheduled & ring->mask] = at;
    }
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed), end = tail;
    while (end < d->scheduled && d->release[end & ring->mask] <= sim->round) end++;
    if (end == tail) return;
    uint64_t pending = ring->producer.pending;
    ring->producer.pending = end; /* publish just the released prefix */
    (void)ring_publish(ring);
    ring->producer.pending = pending;
}

static void sim_channel_publish(struct tina__shard *s) {
    struct tina__sim *sim = sim_of(s);
    for (uint64_t bits = s->chan.out_dirty; bits; bits &= bits - 1) {
        uint32_t to = (uint32_t)__builtin_ctzll(bits);
        struct tina__ring *ring = s->chan.outbound[to];
        uint64_t fresh = atomic_load_explicit(&ring->tail, memory_order_relaxed);
        if (sim->delays) fresh = sim->delays[(size_t)s->id * sim->shard_count + to].scheduled;
        if (sim->carried) /* what this pass handed to the network, before it acts */
            for (uint64_t at = fresh; at < ring->producer.pending; at++)
                ++*tina__sim_net(sim->carried, s->shard_count, s->id, to,
                                 ring->slots[at & ring->mask].kind);
        if (partitioned(sim, s->id, to)) {
            sim->partition_drops[s->id > to] += ring->producer.pending - fresh;
            for (uint64_t at = fresh; at < ring->producer.pending; at++) net_lost(s, to, at);
            ring->producer.pending = fresh; /* never accepted by the channel */
        } else if (sim->drop_per_million) {
            network_drops(s, to, fresh);
        }
        if (!sim->delays) (void)ring_publish(ring);
    }
    s->chan.out_dirty = 0;
    if (sim->delays)
        for (uint32_t to = 0; to < s->shard_count; to++)
            if (to != s->id) delayed_publish(s, to);
}

int tina__sim_delays_alloc(struct tina__sim *sim, struct tina_runtime *rt) {
    uint32_t n = rt->shard_count;
    sim->shard_count = n;
    sim->delays = calloc((size_t)n * n, sizeof(*sim->delays));
    if (sim->delays == NULL) return -1;
    for (uint32_t from = 0; from < n; from++)
        for (uint32_t to = 0; to < n; to++) {
            if (from == to) continue;
            struct tina__sim_delay *d = &sim->delays[(size_t)from * n + to];
            d->release = calloc(rt->shards[from]->chan.outbound[to]->mask + 1, sizeof(uint64_t));
            if (d->release == NULL) return -1;
        }
    return 0;
}

void tina__sim_delays_free(struct tina__sim *sim) {
    if (sim->delays == NULL) return;
    for (size_t k = 0; k < (size_t)sim->shard_count * sim->shard_count; k++)
        free(sim->delays[k].release);
    free(sim->delays);
    sim->delays = NULL;
}

static void sim_idle(struct tina__shard *s, uint64_t deadline_ns) {
    (void)s;
    (void)deadline_ns;
}

static void sim_wake(struct tina__shard *s, uint32_t peer) {
    (void)s;
    (void)peer;
}

const struct tina__platform tina__platform_sim = {
    .name = "sim",
    .places_threads = 0, /* nothing is pinned: no hwloc topology to discover per run */
    .clock_ns = sim_clock_ns,
    .channel_publish = sim_channel_publish,
    .io_setup = tina__sim_io_setup, /* io.c: the simulated network and files */
    .io_submit = tina__sim_io_submit,
    .io_reap = tina__sim_io_reap,
    .io_cancel = tina__sim_io_cancel,
    .io_ctl = tina__sim_io_ctl,
    .io_teardown = tina__sim_io_teardown,
    .idle = sim_idle,
    .wake = sim_wake,
};
