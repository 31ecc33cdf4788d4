/*
 * arrive.c -- draining inbound channels into mailboxes.
 *
 * Once per pass, before completions and dispatch, the shard takes from
 * each peer the batch it had published when it looked: one acquire load
 * per channel (two peeks if the batch wraps), one release store to hand
 * the slots back.  Each envelope is taken, never left waiting: delivered
 * (a copy into a pool slot of this shard, or a reply into the slot its
 * call reserved, or a monitor request or DOWN into the monitor table) or
 * dropped and counted by reason (stale, mailbox full, pool exhausted), a
 * dropped call answered.  So one isolate's backlog never holds up the rest
 * of a channel, and memory stays flat.
 *
 * Right after the channels, the inbox (inbox.h): what foreign threads
 * injected, taken by the same rules (arrival_accept with no ring), at most
 * one queue's worth per pass so that a flood cannot keep the shard from
 * its dispatch; counted as injected or inject_dropped.  An empty inbox
 * costs the pass one acquire load.
 */
#include <string.h>

#include "shard.h"

#define ARRIVAL_PREFETCH_AHEAD 8u /* envelopes */

/* A drop, counted by reason and on its channel (ring NULL: the inbox). */
static void arrival_drop(struct tina__shard *s, struct tina__ring *ring, uint64_t *why) {
    s->stats.dropped_on_arrival++;
    if (why) ++*why;
    if (ring != NULL) tina__counter_bump(&ring->consumer.dropped);
}

/* One envelope from a channel (or, ring NULL, the inbox), always taken (1
 * delivered, 0 dropped and counted): a reply goes to the slot its call
 * reserved; a monitor request or its cancel to the monitor table; a DOWN
 * to its watcher's entry; anything else to a mailbox -- user traffic (and a
 * descriptor handoff) into the user region within the mailbox bound, or
 * dropped and counted, a dropped call answered.  Nothing here waits for
 * room, so one isolate's backlog never holds up the rest of a channel. */
static int arrival_accept(struct tina__shard *s, const tina_msg *src, struct tina__ring *ring) {
    if (src->kind == TINA_MSG_REPLY) {
        uint64_t late = s->stats.late_replies;
        tina__reply_accept(s, src);
        if (s->stats.late_replies == late) return 1;
        arrival_drop(s, ring, NULL);
        return 0;
    }
    if (TINA__UNLIKELY(src->kind == TINA_MSG_SYSTEM && src->tag != TINA_TAG_TRANSFER)) {
        if (src->tag == TINA__TAG_MONITOR) tina__monitor_arrived(s, src);
        else if (src->tag == TINA__TAG_DEMONITOR) tina__demonitor_arrived(s, src);
        else if (!tina__down_arrived(s, src)) {
            arrival_drop(s, ring, &s->stats.dropped_stale);
            return 0;
        }
        s->stats.delivered++;
        return 1;
    }
    struct tina__type *t = &s->types[tina_handle_type(src->to)];
    uint32_t i = tina_handle_slot(src->to);
    struct tina__slot *slot = &t->slots[i];
    int transfer = src->kind == TINA_MSG_SYSTEM; /* the one system envelope a user sends */
    uint64_t *why = NULL;
    tina_result r = TINA_OK;
    uint32_t m = TINA__NIL;
    tina_handle to = src->to;
    if (!tina__slot_alive(slot, to)) { /* an address resolves here, on the target's shard */
        r = tina__target_resolve(s, &to);
        if (r != TINA_OK)
            why = r == TINA_ENOT_RUNNING ? &s->stats.address_not_running : &s->stats.dropped_stale;
    }
    if (r == TINA_OK && slot->mbox_count >= t->mailbox_capacity) why = &s->stats.dropped_full, r = TINA_EMAILBOX_FULL;
    else if (r == TINA_OK && (m = tina__pool_alloc_user(&s->pool)) == TINA__NIL) why = &s->stats.dropped_pool, r = TINA_EPOOL_EXHAUSTED;
    if (r != TINA_OK) {
        if (TINA__UNLIKELY(transfer)) tina__io_transfer_drop(s, src);
        tina__call_answer_failed(s, src, r);
        arrival_drop(s, ring, why);
        return 0;
    }
    tina__envelope_copy(&s->pool.msgs[m], src);
    s->pool.msgs[m].to = to;
    if (TINA__UNLIKELY(transfer) && tina__io_transfer_arrive(s, &s->pool.msgs[m]) == TINA_FD_NONE) {
        tina__pool_free(&s->pool, m);
        arrival_drop(s, ring, NULL);
        return 0;
    }
    tina__mailbox_push(&s->pool, slot, m);
    tina__slot_wake(s, t, i);
    s->stats.delivered++;
    return 1;
}

/* Take in, from each peer, the batch it had published when we looked: one
 * acquire load per channel per pass (two peeks if the batch wraps). */
void tina__shard_drain(struct tina__shard *s) {
    for (uint32_t from = 0; from < s->shard_count; from++) {
        if (from == s->id) continue;
        struct tina__ring *ring = s->chan.inbound[from];
        tina_msg *batch;
        uint32_t count;
        int refresh = 1;
        while ((count = tina__channel_peek(&s->chan, from, &batch, refresh)) > 0) {
            refresh = 0;
            uint32_t delivered = 0;
            for (uint32_t k = 0; k < count; k++) {
                /* Ask for a later envelope's two lines now: they cross
                 * from the producer's core while this one is taken
                 * (stream: +10 % at 4 ahead, +4 % more at 8, no more at 16). */
                if (k + ARRIVAL_PREFETCH_AHEAD < count) {
                    __builtin_prefetch(&batch[k + ARRIVAL_PREFETCH_AHEAD]);
                    __builtin_prefetch((const uint8_t *)&batch[k + ARRIVAL_PREFETCH_AHEAD] + 64);
                }
                delivered += (uint32_t)arrival_accept(s, &batch[k], ring);
            }
            tina__counter_add(&ring->consumer.delivered, delivered);
            tina__channel_release(&s->chan, from, count);
            s->did_work = 1;
        }
    }
}

/* Take what foreign threads published, in order, up to one queue's worth:
 * a flood that refills the queue as it drains waits for the next pass. */
void tina__shard_drain_inbox(struct tina__shard *s) {
    struct tina__inbox *q = &s->inbox;
    const tina_msg *m;
    for (uint64_t k = 0; k <= q->mask && (m = tina__inbox_peek(q)) != NULL; k++) {
        if (arrival_accept(s, m, NULL)) s->stats.injected++;
        else s->stats.inject_dropped++;
        tina__inbox_pop(q);
        s->did_work = 1;
    }
}
