/*
 * ring.h -- the single-producer/single-consumer channel between two shards.
 *
 * One ring per ordered shard pair (N x (N-1) rings).  It lives in the
 * consumer's grand arena.  The producer writes envelopes straight into the
 * next free slots and publishes the whole pass's batch with one release
 * store of `tail`; the consumer takes the batch with one acquire load and
 * hands slots back with one release store of `head`.  No CAS, no lock.
 *
 *   line 0  tail         producer writes (once per pass), consumer reads
 *   line 1  producer     producer-private: unpublished tail, cached head, counters
 *   line 2  head         consumer writes (once per drain), producer reads
 *   line 3  consumer     consumer-private: cached tail, counters
 *   line 4  constants    slot array and mask, written once at boot
 *   then    slots        capacity x 128-byte envelopes
 *
 * Indices are 64-bit and never wrap in practice; slot = index & mask.
 * Invariant: head <= tail <= head + capacity, and producer.pending >= tail.
 *
 * Counters other threads may read (tina_channel_stats while running) are
 * relaxed atomics written by one side with a plain load + store, which is
 * an ordinary move on the hot path: no read-modify-write.
 */
#ifndef TINA_RING_H
#define TINA_RING_H

#include <stdatomic.h>
#include <stdint.h>

#include "tina.h"

struct tina__ring {
    _Alignas(64) _Atomic uint64_t tail; /* producer: published end of the batch */
    _Alignas(64) struct {
        uint64_t pending;              /* producer: end of written, unpublished slots */
        uint64_t head_cache;           /* producer: last head it read */
        _Atomic uint64_t full;         /* producer: sends refused, ring full */
    } producer;
    _Alignas(64) _Atomic uint64_t head; /* consumer: end of consumed slots */
    _Alignas(64) struct {
        uint64_t tail_cache;           /* consumer: last tail it read */
        _Atomic uint64_t dropped;      /* consumer: dropped on arrival */
        _Atomic uint64_t delivered;    /* consumer: delivered (counted per batch, so that
                                          head = delivered + dropped is a check, not a definition) */
    } consumer;
    _Alignas(64) tina_msg *slots;      /* boot: capacity envelopes */
    uint64_t mask;                     /* boot: capacity - 1 */
};
_Static_assert(sizeof(struct tina__ring) == 5 * 64, "five cache lines, no false sharing");

static inline void tina__counter_add(_Atomic uint64_t *counter, uint64_t n) {
    /* Single writer: a load and a store, never a locked instruction. */
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void tina__counter_bump(_Atomic uint64_t *counter) { tina__counter_add(counter, 1); }

static inline void ring_init(struct tina__ring *ring, tina_msg *slots, uint32_t capacity) {
    atomic_init(&ring->tail, 0);
    ring->producer.pending = 0;
    ring->producer.head_cache = 0;
    atomic_init(&ring->producer.full, 0);
    atomic_init(&ring->head, 0);
    ring->consumer.tail_cache = 0;
    atomic_init(&ring->consumer.dropped, 0);
    atomic_init(&ring->consumer.delivered, 0);
    ring->slots = slots;
    ring->mask = capacity - 1;
}

/* Producer: the next free slot, or NULL when the ring is full.  The slot
 * is not taken until ring_commit: a writer that faults half-way through
 * (a bad payload pointer, caught by the trap boundary) leaves nothing. */
static inline tina_msg *ring_reserve(struct tina__ring *ring) {
    uint64_t pending = ring->producer.pending;
    if (pending - ring->producer.head_cache > ring->mask) {
        /* Acquire pairs with the consumer's release in ring_release(): the
         * consumer is done reading the slots it handed back. */
        ring->producer.head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (pending - ring->producer.head_cache > ring->mask) {
            tina__counter_bump(&ring->producer.full);
            return NULL;
        }
    }
    return &ring->slots[pending & ring->mask];
}

/* Producer: the slot ring_reserve returned is written; take it. */
static inline void ring_commit(struct tina__ring *ring) { ring->producer.pending++; }

/* The same, from producer.pending as read before the slot was written: a
 * writer whose copy the compiler cannot tell apart from the ring's own
 * fields need not load them again. */
static inline void ring_commit_at(struct tina__ring *ring, uint64_t pending) {
    ring->producer.pending = pending + 1;
}

/* Producer: publish every written slot.  Returns 1 if anything was new. */
static inline int ring_publish(struct tina__ring *ring) {
    uint64_t pending = ring->producer.pending;
    if (pending == atomic_load_explicit(&ring->tail, memory_order_relaxed)) return 0;
    /* Release pairs with the consumer's acquire in ring_peek(): the slot
     * contents are visible before the new tail. */
    atomic_store_explicit(&ring->tail, pending, memory_order_release);
    /* Take ownership of the next slot now, while nothing waits on it. */
    __builtin_prefetch(&ring->slots[pending & ring->mask], 1);
    return 1;
}

/* Consumer: a contiguous batch of readable slots (may stop at the wrap).
 * With refresh, an exhausted cache reloads the producer's tail: a shard
 * does that once per channel per pass, so one pass takes in at most what
 * was published when it looked, never an endless stream. */
static inline uint32_t ring_peek(struct tina__ring *ring, tina_msg **first, int refresh) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head == ring->consumer.tail_cache) {
        if (!refresh) return 0;
        /* Fetch the next slot in parallel with the tail: when a message has
         * just been published, both lines cross the interconnect at once
         * instead of one after the other. */
        __builtin_prefetch(&ring->slots[head & ring->mask]);
        /* Acquire pairs with the producer's release in ring_publish(). */
        ring->consumer.tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head == ring->consumer.tail_cache) return 0;
    }
    uint64_t count = ring->consumer.tail_cache - head;
    uint64_t to_wrap = ring->mask + 1 - (head & ring->mask);
    if (count > to_wrap) count = to_wrap;
    *first = &ring->slots[head & ring->mask];
    return (uint32_t)count;
}

/* Consumer: hand count slots back to the producer. */
static inline void ring_release(struct tina__ring *ring, uint32_t count) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    /* Release pairs with the producer's acquire in ring_reserve(). */
    atomic_store_explicit(&ring->head, head + count, memory_order_release);
}

/* Either side or an observer: is anything published and unconsumed? */
static inline int ring_readable(struct tina__ring *ring) {
    return atomic_load_explicit(&ring->tail, memory_order_acquire) !=
           atomic_load_explicit(&ring->head, memory_order_relaxed);
}

#endif /* TINA_RING_H */
