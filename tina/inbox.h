/*
 * inbox.h -- a shard's way in from threads that are not shards: a bounded
 * multi-producer, single-consumer queue of envelopes.
 *
 * tina_inject (inject.c) is the producer, on any number of foreign
 * threads at once; the shard whose arena holds the queue is its only
 * consumer (shard/arrive.c, once per pass, right after the channels).  It
 * is Dmitry Vyukov's bounded MPMC array queue with the consumer side
 * specialised for one consumer: each cell carries a sequence number that
 * says whose turn it is.
 *
 *   cell i, position p (i = p & mask):
 *     seq == p          free for the producer that claims position p
 *     seq == p + 1      written: the consumer may take it
 *     seq == p + cap    taken: free for the producer of position p + cap
 *
 *   line 0  tail        producers: next position to claim (CAS)
 *   line 1  head        consumer: next position to take (plain)
 *   line 2  cells, mask constants, written once at boot
 *   then    cells       capacity x (8 B seq + 128 B envelope), in the arena
 *
 * A producer claims a position with one CAS on tail, writes the envelope
 * into the cell, and publishes it with one release store of the cell's
 * seq; a full queue (the cell at tail still holds an untaken envelope) is
 * refused at once, never waited for.  The consumer looks at the cell at
 * head with one acquire load: an empty queue costs the pass exactly that.
 * A claimed cell whose producer has not yet published stops the batch
 * there; the rest wait for the next pass (the producer rings after
 * publishing, so a sleeping consumer cannot miss it).
 *
 * The counters foreign threads bump (tina_inject_stats) live here too,
 * one struct per shard on a line of their own: relaxed fetch_adds, off
 * every shard's hot path.
 *
 * Nothing here knows the shard: it is data and inline helpers.
 */
#ifndef TINA_INBOX_H
#define TINA_INBOX_H

#include <stdatomic.h>
#include <stdint.h>

#include "tina.h"

#define TINA__INBOX_DEFAULT 1024u /* inject_slots 0 */

struct tina__inbox_cell {
    _Atomic uint64_t seq; /* whose turn: see the table above */
    tina_msg msg;         /* producer writes before its release of seq; consumer reads after */
};

struct tina__inbox {
    _Alignas(64) _Atomic uint64_t tail; /* producers: next position to claim (CAS) */
    _Alignas(64) uint64_t head;         /* consumer: next position to take */
    _Alignas(64) struct tina__inbox_cell *cells; /* boot: capacity cells in the arena */
    uint64_t mask;                               /* boot: capacity - 1 */
};

/* tina_inject_stats, per shard (and one set for refusals naming no shard):
 * written by any thread with relaxed fetch_add, read by tina_stats_inject. */
struct tina__inject_counters {
    _Atomic uint64_t accepted, full, refused, wrong_thread;
    _Atomic uint64_t wakeups, calls, call_timeouts, late_replies;
};

static inline void tina__inject_count(_Atomic uint64_t *counter) {
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* The cells' bytes for a capacity (carve.c's arithmetic). */
static inline size_t tina__inbox_bytes(uint32_t capacity) {
    return sizeof(struct tina__inbox_cell) * (size_t)capacity;
}

static inline void tina__inbox_init(struct tina__inbox *q, struct tina__inbox_cell *cells,
                                    uint32_t capacity) {
    atomic_init(&q->tail, 0);
    q->head = 0;
    q->cells = cells;
    q->mask = capacity - 1u;
    for (uint32_t i = 0; i < capacity; i++) atomic_init(&cells[i].seq, i);
}

/* Producer (any thread): claim the next position.  Returns the cell's
 * envelope to fill, its position in *pos, or NULL if the queue is full. */
static inline tina_msg *tina__inbox_claim(struct tina__inbox *q, uint64_t *pos) {
    uint64_t p = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        struct tina__inbox_cell *c = &q->cells[p & q->mask];
        /* Acquire pairs with the consumer's release in tina__inbox_pop:
         * it has finished reading the envelope a lap ago. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - p);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &p, p + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *pos = p;
                return &c->msg;
            }
            /* p was reloaded by the failed CAS: another producer won it */
        } else if (dif < 0) {
            return NULL; /* the cell still holds an envelope of the last lap: full */
        } else {
            p = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

/* Producer: the envelope at pos is written; hand it to the consumer. */
static inline void tina__inbox_publish(struct tina__inbox *q, uint64_t pos) {
    /* Release pairs with the consumer's acquire in tina__inbox_peek. */
    atomic_store_explicit(&q->cells[pos & q->mask].seq, pos + 1, memory_order_release);
}

/* Consumer: the envelope at head, or NULL if none is published there. */
static inline const tina_msg *tina__inbox_peek(struct tina__inbox *q) {
    struct tina__inbox_cell *c = &q->cells[q->head & q->mask];
    /* Acquire pairs with the producer's release in tina__inbox_publish. */
    if (atomic_load_explicit(&c->seq, memory_order_acquire) != q->head + 1) return NULL;
    return &c->msg;
}

/* Consumer: done with the envelope at head; its cell goes to the producer
 * of the next lap. */
static inline void tina__inbox_pop(struct tina__inbox *q) {
    struct tina__inbox_cell *c = &q->cells[q->head & q->mask];
    /* Release pairs with the producer's acquire in tina__inbox_claim. */
    atomic_store_explicit(&c->seq, q->head + q->mask + 1, memory_order_release);
    q->head++;
}

/* Consumer (its last look before it sleeps, tina__shard_has_news): is an
 * envelope published at head? */
static inline int tina__inbox_ready(struct tina__inbox *q) {
    return tina__inbox_peek(q) != NULL;
}

#endif /* TINA_INBOX_H */
