/*
 * shard.c -- the heart: one shard's pass over its isolates.
 *
 * A shard owns a message pool, the isolate slots of every type, a timer
 * wheel, a log ring and the consumer side of its inbound channels, all
 * carved from its grand arena at boot.  Exactly one thread runs a shard
 * (a pinned thread in production, the simulator's thread under
 * simulation), so nothing here takes a lock or an atomic: the outside
 * world is reached only through s->platform (the seam), once per phase.
 *
 * The pass, in this fixed order (tina__shard_pass):
 *
 *   0. notices: a shutdown to begin, a revival asked of this shard, peers'
 *      quarantines and revivals to tell the isolates about
 *   1. drain inbound channels into mailboxes
 *   2. reap I/O completions
 *   3. restart isolates their supervisor asked for (not while quarantined)
 *   4. dispatch ready isolates, type by type, each type up to its budget
 *      (not while quarantined; a quarantine asked for happens right after)
 *   5. submit queued I/O
 *   6. retry deferred DOWN messages, then publish outbound channels (one
 *      release store per written channel)
 *   7. advance timers
 *   8. flush the log
 *
 * Message life, local: tina_send takes a slot from the pool's user region,
 * writes the envelope and links it at the tail of the receiver's mailbox;
 * a parked receiver joins its type's ready queue.  Dispatch pops the
 * oldest message, calls the handler, applies the effect, and returns the
 * slot to the pool.  Remote: tina_send writes the envelope into the ring to
 * the target shard; the consumer's drain copies it into a pool slot of its
 * own and continues as a local delivery, or drops and counts it.
 *
 * Invariants (checked by TINA_ASSERT, and by the simulator's checkers):
 *   - user_free + system_free + messages held = pool_slots;
 *   - a slot is in at most one list (free, ready, yielded, restart);
 *   - a READY slot not in the ready queue or yield list is running or
 *     starting; IDLE slots have empty mailboxes;
 *   - generations are never 0 and only grow (mod 2^28, skipping 0).
 */
#include <string.h>

#include "internal.h"
#include "random.h"
#include "supervise.h"
#include "trap.h"

/* ------------------------------------------------------------------------ */
/* Pool                                                                      */
/* ------------------------------------------------------------------------ */

static inline uint32_t pool_alloc_user(struct tina__shard *s) {
    uint32_t i = s->user_free_head;
    if (TINA__UNLIKELY(i == TINA__NIL)) return TINA__NIL;
    s->user_free_head = s->msgs[i].link;
    s->user_free--;
    return i;
}

uint32_t tina__pool_alloc_system(struct tina__shard *s) {
    uint32_t i = s->system_free_head;
    if (i == TINA__NIL) return TINA__NIL;
    s->system_free_head = s->msgs[i].link;
    s->system_free--;
    return i;
}

static inline void pool_free(struct tina__shard *s, uint32_t i) {
    TINA_ASSERT_DEBUG(i < s->pool_slots);
    if (TINA__LIKELY(i < s->pool_user_slots)) {
        s->msgs[i].link = s->user_free_head;
        s->user_free_head = i;
        s->user_free++;
    } else {
        s->msgs[i].link = s->system_free_head;
        s->system_free_head = i;
        s->system_free++;
    }
}

/* ------------------------------------------------------------------------ */
/* Slot lists and mailboxes                                                  */
/* ------------------------------------------------------------------------ */

static inline void list_push(struct tina__type *t, struct tina__list *l, uint32_t i) {
    t->slots[i].next = TINA__NIL;
    if (l->tail == TINA__NIL) l->head = i;
    else t->slots[l->tail].next = i;
    l->tail = i;
}

static inline uint32_t list_pop(struct tina__type *t, struct tina__list *l) {
    uint32_t i = l->head;
    if (i == TINA__NIL) return i;
    l->head = t->slots[i].next;
    if (l->head == TINA__NIL) l->tail = TINA__NIL;
    return i;
}

/* Take slot i out of list l, wherever it is: O(list), for teardowns only. */
static int list_remove(struct tina__type *t, struct tina__list *l, uint32_t i) {
    for (uint32_t prev = TINA__NIL, j = l->head; j != TINA__NIL; prev = j, j = t->slots[j].next) {
        if (j != i) continue;
        if (prev == TINA__NIL) l->head = t->slots[i].next;
        else t->slots[prev].next = t->slots[i].next;
        if (l->tail == i) l->tail = prev;
        return 1;
    }
    return 0;
}

/* The ready queue and the yield list: membership is a flag, so that a
 * slot torn down while it waits can be taken out (queue_remove) instead
 * of leaving an entry behind that would run a dead slot. */
static inline void queue_push(struct tina__type *t, struct tina__list *l, uint32_t i) {
    t->slots[i].flags |= TINA__QUEUED;
    list_push(t, l, i);
}

static void queue_remove(struct tina__type *t, uint32_t i) {
    t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
    if (list_remove(t, &t->ready, i) || list_remove(t, &t->yielded, i)) return;
    TINA_ASSERT(0 && "a queued slot is on its ready queue or yield list");
}

static inline void list_append(struct tina__type *t, struct tina__list *to, struct tina__list *from) {
    if (from->head == TINA__NIL) return;
    if (to->tail == TINA__NIL) to->head = from->head;
    else t->slots[to->tail].next = from->head;
    to->tail = from->tail;
    from->head = from->tail = TINA__NIL;
}

static inline void mailbox_push(struct tina__shard *s, struct tina__slot *slot, uint32_t msg_index) {
    s->msgs[msg_index].link = TINA__NIL;
    if (slot->mbox_tail == TINA__NIL) slot->mbox_head = msg_index;
    else s->msgs[slot->mbox_tail].link = msg_index;
    slot->mbox_tail = msg_index;
    slot->mbox_count++;
}

static inline uint32_t mailbox_pop(struct tina__shard *s, struct tina__slot *slot) {
    uint32_t i = slot->mbox_head;
    TINA_ASSERT_DEBUG(i != TINA__NIL);
    slot->mbox_head = s->msgs[i].link;
    if (slot->mbox_head == TINA__NIL) slot->mbox_tail = TINA__NIL;
    slot->mbox_count--;
    return i;
}

/* A message arrived for slot: a parked receiver becomes ready. */
static inline void slot_wake(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->state == TINA__IDLE) {
        slot->state = TINA__READY;
        queue_push(t, &t->ready, i);
        s->did_work = 1;
    }
}

void tina__slot_wake(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    slot_wake(s, t, i);
}

/* A parked caller's reply, timeout or failure is waiting: queue it. */
void tina__slot_ready(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    t->slots[i].state = TINA__READY;
    queue_push(t, &t->ready, i);
    s->did_work = 1;
}

/* Something waits to be handed over: queued mail, a fired timer, a DOWN. */
static inline int slot_has_mail(const struct tina__slot *slot) {
    return slot->mbox_count > 0 || slot->fired_head != TINA__NIL || slot->downs != TINA__NIL;
}

/* After a handler or init: park, or queue again if mail is waiting. */
static inline void slot_park(struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot_has_mail(slot) || (slot->flags & TINA__SHUTDOWN)) {
        slot->state = TINA__READY;
        queue_push(t, &t->ready, i);
    } else {
        slot->state = TINA__IDLE;
    }
}

static inline uint32_t generation_next(uint32_t g) {
    g = (g + 1) & TINA_GENERATION_MASK;
    return g ? g : 1;
}

static inline uint32_t generation_prev(uint32_t g) {
    return g > 1 ? g - 1 : TINA_GENERATION_MASK;
}

static inline tina_handle slot_handle(const struct tina__type *t, uint32_t i, uint32_t generation) {
    return t->handle_base | ((tina_handle)i << 28) | generation;
}

static inline void *slot_struct(struct tina__type *t, uint32_t i) {
    return t->structs + (size_t)i * t->stride;
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */
/* ------------------------------------------------------------------------ */

/* Small payloads dominate; copy them without a libc call. */
static inline void payload_copy(uint8_t *dst, const uint8_t *src, uint32_t size) {
    if (size >= 8 && size <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + size - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + size - 8, &b, 8);
    } else if (size < 8) {
        for (uint32_t k = 0; k < size; k++) dst[k] = src[k];
    } else {
        memcpy(dst, src, size);
    }
}

static inline void envelope_fill(tina_msg *m, tina_handle from, tina_handle to, uint16_t tag,
                                 const void *payload, uint32_t size, uint8_t kind, uint64_t corr) {
    m->from = from;
    m->to = to;
    m->corr = corr;
    m->tag = tag;
    m->size = (uint8_t)size;
    m->kind = kind;
    payload_copy(m->payload, payload, size);
}

/* Range checks that hold for every shard: types and capacities are global. */
static inline tina_result handle_check(const struct tina__shard *s, tina_handle to) {
    if (TINA__UNLIKELY(tina_handle_shard(to) >= s->shard_count)) return TINA_EHANDLE;
    uint32_t type = tina_handle_type(to);
    if (TINA__UNLIKELY(type >= s->type_count)) return TINA_EHANDLE;
    if (TINA__UNLIKELY(tina_handle_slot(to) >= s->types[type].capacity)) return TINA_EHANDLE;
    if (TINA__UNLIKELY(tina_handle_generation(to) == 0)) return TINA_EHANDLE;
    return TINA_OK;
}

tina_result tina__handle_valid(const struct tina__shard *s, tina_handle h) {
    return handle_check(s, h);
}

static inline int slot_alive(const struct tina__slot *slot, tina_handle h) {
    return slot->generation == tina_handle_generation(h) &&
           (slot->state == TINA__IDLE || slot->state == TINA__READY ||
            slot->state == TINA__CALLING);
}

/* A pending call ends: its timeout goes; the caller is queued with `note`
 * (the reply, in the slot reserved for it, or a failure). */
static void call_end(struct tina__shard *s, struct tina__type *t, uint32_t i, tina_handle h,
                     uint32_t note) {
    struct tina__slot *slot = &t->slots[i];
    if (note != slot->call_note) pool_free(s, slot->call_note); /* the reservation goes */
    slot->call_note = note;
    slot->call_corr = 0;
    if (slot->call_timer != TINA__NIL) {
        (void)tina__timer_cancel(s, slot, h, slot->call_timer,
                                 s->wheel.timers[slot->call_timer].generation);
        slot->call_timer = TINA__NIL;
    }
    tina__slot_ready(s, t, i);
}

void tina__call_timeout(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    call_end(s, t, i, tina_handle_make(s->id, t->id, i, slot->generation), TINA__NOTE_TIMEOUT);
    s->stats.call_timeouts++;
}

/* A reply reached the caller's shard: into the slot its call reserved, or
 * counted late.  A REPLY from no one with tag CALL_FAILED is the runtime's
 * answer for a request it dropped: the call fails with its result. */
static void reply_accept(struct tina__shard *s, const tina_msg *src) {
    struct tina__type *t = &s->types[tina_handle_type(src->to)];
    uint32_t i = tina_handle_slot(src->to);
    struct tina__slot *slot = &t->slots[i];
    if (!slot_alive(slot, src->to) || slot->state != TINA__CALLING ||
        (slot->flags & TINA__IO_PARKED) || slot->call_corr != src->corr) {
        s->stats.late_replies++;
        return;
    }
    if (src->from == TINA_HANDLE_NONE && src->tag == TINA_TAG_CALL_FAILED) {
        int32_t result;
        memcpy(&result, src->payload, sizeof(result));
        TINA_ASSERT(result < 0);
        call_end(s, t, i, src->to, TINA__NOTE_FAILED(result));
        s->stats.call_failed++;
        return;
    }
    uint32_t m = slot->call_note; /* reserved by the call */
    TINA_ASSERT(m < s->pool_user_slots);
    memcpy(&s->msgs[m], src, offsetof(tina_msg, payload) + src->size);
    call_end(s, t, i, src->to, m);
    s->stats.delivered++;
}

/* A local reply: straight into the slot the caller reserved. */
static __attribute__((noinline)) tina_result reply_local(struct tina__shard *s, tina_handle from,
                                                         tina_handle to, uint16_t tag,
                                                         const void *payload, uint32_t size,
                                                         uint64_t corr) {
    tina_msg reply;
    envelope_fill(&reply, from, to, tag, payload, size, TINA_MSG_REPLY, corr);
    reply_accept(s, &reply);
    s->stats.sent++;
    return TINA_OK;
}

/* The runtime knows a call failed (its request was dropped, or its callee
 * ended without answering): tell the caller now, with the reason, rather
 * than leave it to its timeout (SPEC 13).  Locally at once; across shards
 * if the channel back has room (else counted in answers_lost). */
static void call_answer_failed(struct tina__shard *s, const tina_msg *request, tina_result r) {
    if (request->kind != TINA_MSG_CALL || request->corr == 0) return;
    int32_t result = r;
    uint32_t shard = tina_handle_shard(request->from);
    if (shard == s->id) {
        tina_msg answer;
        envelope_fill(&answer, TINA_HANDLE_NONE, request->from, TINA_TAG_CALL_FAILED, &result,
                      sizeof(result), TINA_MSG_REPLY, request->corr);
        reply_accept(s, &answer);
        return;
    }
    tina_msg *m = s->platform->channel_reserve(s, shard);
    if (m == NULL || m == TINA__CHANNEL_DOWN) { /* down: the caller is gone with its shard */
        if (m == NULL) s->stats.answers_lost++;
        return;
    }
    envelope_fill(m, TINA_HANDLE_NONE, request->from, TINA_TAG_CALL_FAILED, &result,
                  sizeof(result), TINA_MSG_REPLY, request->corr);
    s->platform->channel_commit(s, shard);
}

static inline __attribute__((always_inline)) tina_result send_local(struct tina__shard *s, tina_handle from, tina_handle to,
                                     uint16_t tag, const void *payload, uint32_t size,
                                     uint8_t kind, uint64_t corr) {
    if (TINA__UNLIKELY(kind == TINA_MSG_REPLY))
        return reply_local(s, from, to, tag, payload, size, corr);
    struct tina__type *t = &s->types[tina_handle_type(to)];
    uint32_t i = tina_handle_slot(to);
    struct tina__slot *slot = &t->slots[i];
    if (TINA__UNLIKELY(!slot_alive(slot, to))) {
        s->stats.stale++;
        return TINA_ESTALE;
    }
    if (TINA__UNLIKELY(slot->mbox_count >= t->mailbox_capacity)) {
        s->stats.mailbox_full++;
        return TINA_EMAILBOX_FULL;
    }
    uint32_t m = s->user_free_head;
    if (TINA__UNLIKELY(m == TINA__NIL)) {
        s->stats.pool_exhausted++;
        return TINA_EPOOL_EXHAUSTED;
    }
    /* Fill before taking the slot (the fill leaves `link` alone): a bad
     * payload pointer faults here and the trap boundary finds nothing
     * half-done. */
    envelope_fill(&s->msgs[m], from, to, tag, payload, size, kind, corr);
    (void)pool_alloc_user(s);
    mailbox_push(s, slot, m);
    slot_wake(s, t, i);
    s->stats.sent++;
    s->stats.delivered++;
    return TINA_OK;
}

static __attribute__((noinline)) tina_result send_remote(struct tina__shard *s, tina_handle from, tina_handle to,
                               uint16_t tag, const void *payload, uint32_t size, uint8_t kind,
                               uint64_t corr) {
    tina_msg *m = s->platform->channel_reserve(s, tina_handle_shard(to));
    if (TINA__UNLIKELY(m == NULL)) {
        s->stats.channel_full++;
        return TINA_EMAILBOX_FULL;
    }
    if (TINA__UNLIKELY(m == TINA__CHANNEL_DOWN)) {
        s->stats.stale++;
        return TINA_ESTALE;
    }
    envelope_fill(m, from, to, tag, payload, size, kind, corr);
    s->platform->channel_commit(s, tina_handle_shard(to));
    s->stats.sent++;
    s->stats.sent_remote++;
    return TINA_OK;
}

static inline __attribute__((always_inline)) tina_result message_send(struct tina__shard *s, tina_handle from, tina_handle to,
                                uint16_t tag, const void *payload, size_t size, uint8_t kind,
                                uint64_t corr) {
    if (TINA__UNLIKELY(tag < TINA_TAG_USER)) {
        s->stats.invalid++;
        return TINA_ERESERVED_TAG;
    }
    if (TINA__UNLIKELY(size > TINA_PAYLOAD_MAX || (size > 0 && payload == NULL))) {
        s->stats.invalid++;
        return size > TINA_PAYLOAD_MAX ? TINA_ETOO_BIG : TINA_EINVAL;
    }
    tina_result r = handle_check(s, to);
    if (TINA__UNLIKELY(r != TINA_OK)) {
        s->stats.invalid++;
        return r;
    }
    if (tina_handle_shard(to) == s->id)
        return send_local(s, from, to, tag, payload, (uint32_t)size, kind, corr);
    return send_remote(s, from, to, tag, payload, (uint32_t)size, kind, corr);
}

int tina__system_send(struct tina__shard *s, tina_handle to, uint16_t tag, const void *payload,
                      uint32_t size) {
    uint32_t shard = tina_handle_shard(to);
    TINA_ASSERT(shard != s->id); /* local notices are synthesized, never sent */
    tina_msg *m = s->platform->channel_reserve(s, shard);
    if (m == NULL) return 0;
    if (m == TINA__CHANNEL_DOWN) return -1;
    envelope_fill(m, 0, to, tag, payload, size, TINA_MSG_SYSTEM, 0);
    s->platform->channel_commit(s, shard);
    return 1;
}

/* A descriptor handed over (io.c): user traffic in a system envelope, so
 * it takes a user slot and obeys the receiver's mailbox bound -- a flood of
 * handoffs cannot drain the system region.  Locally it is delivered now;
 * across shards the receiving shard applies the same rules on arrival. */
tina_result tina__transfer_send(struct tina__shard *s, tina_handle to, const void *payload,
                                uint32_t size) {
    uint32_t shard = tina_handle_shard(to);
    if (shard != s->id) {
        int r = tina__system_send(s, to, TINA_TAG_TRANSFER, payload, size);
        if (r == 0) s->stats.channel_full++;
        return r > 0 ? TINA_OK : r == 0 ? TINA_EMAILBOX_FULL : TINA_ESTALE;
    }
    struct tina__type *t = &s->types[tina_handle_type(to)];
    uint32_t i = tina_handle_slot(to);
    struct tina__slot *slot = &t->slots[i];
    if (!slot_alive(slot, to)) return TINA_ESTALE;
    if (slot->mbox_count >= t->mailbox_capacity) {
        s->stats.mailbox_full++;
        return TINA_EMAILBOX_FULL;
    }
    uint32_t m = pool_alloc_user(s);
    if (m == TINA__NIL) {
        s->stats.pool_exhausted++;
        return TINA_EPOOL_EXHAUSTED;
    }
    envelope_fill(&s->msgs[m], 0, to, TINA_TAG_TRANSFER, payload, size, TINA_MSG_SYSTEM, 0);
    mailbox_push(s, slot, m);
    slot_wake(s, t, i);
    return TINA_OK;
}

tina_result tina_send(tina_ctx *ctx, tina_handle to, uint16_t tag, const void *payload,
                      size_t size) {
    return message_send(ctx->shard, ctx->self, to, tag, payload, size, TINA_MSG_SEND, 0);
}

/* ------------------------------------------------------------------------ */
/* Draining inbound channels                                                 */
/* ------------------------------------------------------------------------ */

static void arrival_drop(struct tina__shard *s, struct tina__ring *ring, uint64_t *why) {
    s->stats.dropped_on_arrival++;
    if (why) ++*why;
    tina__counter_bump(&ring->consumer.dropped);
}

/* One envelope from a channel, always taken (1 delivered, 0 dropped and
 * counted): a reply goes to the slot its
 * call reserved; a monitor request to the monitor table; a DOWN to its
 * watcher's entry; anything else to a mailbox -- user traffic (and a
 * descriptor handoff) into the user region within the mailbox bound, or
 * dropped and counted, a dropped call answered.  Nothing here waits for
 * room, so one isolate's backlog never holds up the rest of a channel. */
static int arrival_accept(struct tina__shard *s, const tina_msg *src, struct tina__ring *ring) {
    if (src->kind == TINA_MSG_REPLY) {
        uint64_t late = s->stats.late_replies;
        reply_accept(s, src);
        if (s->stats.late_replies == late) return 1;
        arrival_drop(s, ring, NULL);
        return 0;
    }
    if (TINA__UNLIKELY(src->kind == TINA_MSG_SYSTEM && src->tag != TINA_TAG_TRANSFER)) {
        if (src->tag == TINA__TAG_MONITOR) tina__monitor_arrived(s, src);
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
    if (!slot_alive(slot, src->to)) why = &s->stats.dropped_stale, r = TINA_ESTALE;
    else if (slot->mbox_count >= t->mailbox_capacity) why = &s->stats.dropped_full, r = TINA_EMAILBOX_FULL;
    else if ((m = pool_alloc_user(s)) == TINA__NIL) why = &s->stats.dropped_pool, r = TINA_EPOOL_EXHAUSTED;
    if (r != TINA_OK) {
        if (TINA__UNLIKELY(transfer)) tina__io_transfer_drop(s, src);
        call_answer_failed(s, src, r);
        arrival_drop(s, ring, why);
        return 0;
    }
    memcpy(&s->msgs[m], src, offsetof(tina_msg, payload) + src->size);
    if (TINA__UNLIKELY(transfer) && tina__io_transfer_arrive(s, &s->msgs[m]) == TINA_FD_NONE) {
        pool_free(s, m);
        arrival_drop(s, ring, NULL);
        return 0;
    }
    mailbox_push(s, slot, m);
    slot_wake(s, t, i);
    s->stats.delivered++;
    return 1;
}

/* Take in, from each peer, the batch it had published when we looked: one
 * acquire load per channel per pass (two peeks if the batch wraps). */
static void channels_drain(struct tina__shard *s) {
    for (uint32_t from = 0; from < s->shard_count; from++) {
        if (from == s->id) continue;
        struct tina__ring *ring = s->inbound[from];
        tina_msg *batch;
        uint32_t count;
        int refresh = 1;
        while ((count = s->platform->channel_peek(s, from, &batch, refresh)) > 0) {
            refresh = 0;
            uint32_t delivered = 0;
            for (uint32_t k = 0; k < count; k++) delivered += (uint32_t)arrival_accept(s, &batch[k], ring);
            tina__counter_add(&ring->consumer.delivered, delivered);
            s->platform->channel_release(s, from, count);
            s->did_work = 1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Isolate life                                                              */
/* ------------------------------------------------------------------------ */

/* Run init under a trap point of its own (it may be nested in a handler's
 * spawn).  Returns init's reason, or the fault's. */
static uint32_t init_protected(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    sigjmp_buf point;
    sigjmp_buf *outer_point = s->trap_jmp;
    uint32_t outer_armed = s->trap_armed;
    struct tina_ctx saved = s->ctx;
    volatile uint32_t reason = 0;
    s->trap_jmp = &point;
    int sig = TINA__TRAP_POINT(point);
    if (sig == 0) {
        s->ctx.type = t;
        s->ctx.slot = i;
        s->ctx.self = tina_handle_make(s->id, t->id, i, slot->generation);
        s->ctx.msg = NULL;
        s->trap_armed = 1;
        reason = t->init(slot_struct(t, i), &s->ctx, t->args + (size_t)i * TINA_ARGS_MAX,
                         slot->args_size);
        if (TINA__UNLIKELY(s->trace != NULL)) { /* the simulator sees (and may fail) inits */
            tina_effect e = reason ? tina_crash(reason) : tina_receive();
            s->trace(s, NULL, &e);
            if (e.kind == TINA_EFFECT_CRASH) reason = e.reason ? e.reason : 1;
        }
        s->trap_armed = 0;
    } else {
        reason = TINA_CRASH_SIGNAL_BASE + (uint32_t)sig;
    }
    s->trap_jmp = outer_point;
    s->trap_armed = outer_armed;
    s->ctx = saved;
    return reason;
}

/* Run init in a fresh zeroed struct.  Returns 1 if the isolate is alive. */
int tina__isolate_start(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    memset(slot_struct(t, i), 0, t->stride);
    slot->state = TINA__READY; /* not queued: starting */
    slot->flags = (uint8_t)(TINA__STARTING | (s->shutdown_seen ? TINA__SHUTDOWN : 0));
    slot->timer_head = TINA__NIL;
    slot->fired_head = slot->fired_tail = TINA__NIL;
    slot->downs = TINA__NIL;
    slot->call_note = TINA__NIL;
    slot->call_timer = TINA__NIL;
    slot->call_corr = 0;
    t->live++;
    s->stats.spawns++;
    s->did_work = 1;
    if (t->init) {
        uint32_t reason = init_protected(s, t, i);
        if (reason != 0) {
            s->stats.init_failed++;
            tina__isolate_exit(s, t, i, TINA__EXIT_CRASHED, reason);
            return 0;
        }
    }
    slot->flags &= (uint8_t)~TINA__STARTING;
    slot_park(t, i);
    return 1;
}

/* Teardown: mailbox back to the pool, timers cancelled, generation bumped;
 * then the supervisor decides between the free list and a restart. */
/* A dead slot nobody will restart.  A static child's slot stays its own
 * (FREE, on no list): the supervision tree, its restarts and a revival
 * name it by child index, and a spawned stranger there would be torn down
 * or restarted as that child.  Any other goes back on the free list. */
static void slot_release(struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    slot->state = TINA__FREE;
    if (slot->child != TINA__NIL && !(slot->child & TINA__DYNAMIC)) return;
    slot->next = t->free_head;
    t->free_head = i;
}

/* Out of generations: on no list, never alive again.  A restart its
 * supervisor wanted cannot happen (a dynamic child's room goes back). */
static void slot_retire(struct tina__shard *s, struct tina__type *t, uint32_t i, int restart) {
    struct tina__slot *slot = &t->slots[i];
    if (restart && slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->groups[slot->child & ~TINA__DYNAMIC].dynamic_count--;
    slot->state = TINA__RETIRED;
    s->stats.slots_retired++;
    tina__log_event(s, TINA_LOG_WARN, tina_handle_make(s->id, t->id, i, slot->generation), t->id,
                    "slot %u retired: its last generation is spent%s", i,
                    restart ? "; the restart cannot happen" : "");
}

void tina__isolate_exit(struct tina__shard *s, struct tina__type *t, uint32_t i, int how,
                        uint32_t reason) {
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT(slot->state != TINA__EXITING && slot->state != TINA__FREE);
    if (slot->flags & TINA__QUEUED) queue_remove(t, i);
    slot->state = TINA__EXITING; /* a strategy applied from here skips it */
    if (slot->monitor_head != TINA__NIL)
        tina__monitors_fire(s, slot, tina_handle_make(s->id, t->id, i, slot->generation), how,
                            reason);
    while (slot->mbox_head != TINA__NIL) { /* a request it never answered fails now */
        uint32_t m = mailbox_pop(s, slot);
        if (TINA__UNLIKELY(s->msgs[m].kind == TINA_MSG_CALL)) call_answer_failed(s, &s->msgs[m], TINA_ESTALE);
        pool_free(s, m);
    }
    if (slot->downs != TINA__NIL) tina__downs_drop(s, slot);
    if (TINA__UNLIKELY(s->io != NULL))
        tina__io_isolate_exit(s, slot, tina_handle_make(s->id, t->id, i, slot->generation));
    if (slot->call_note < s->pool_slots) pool_free(s, slot->call_note);
    slot->call_note = TINA__NIL;
    tina__timer_cancel_all(s, slot);
    slot->call_timer = TINA__NIL;
    slot->call_corr = 0;
    slot->flags = 0;
    /* A generation is never used twice: the slot whose last one this was
     * retires (it would wrap to a handle given out 268 million lives ago). */
    int retiring = slot->generation == TINA_GENERATION_MASK;
    if (!retiring) slot->generation = generation_next(slot->generation);
    t->live--;
    if (how == TINA__EXIT_CRASHED) {
        s->stats.crashes++;
        tina__log_event(s, TINA_LOG_WARN,
                        tina_handle_make(s->id, t->id, i,
                                         retiring ? slot->generation : generation_prev(slot->generation)),
                        t->id, "crashed, reason %#x", reason);
    } else if (how == TINA__EXIT_DONE) {
        s->stats.done++;
    } else {
        s->stats.terminated++;
    }
    s->did_work = 1;
    int restart = tina__supervise_exit(s, t, i, how, reason);
    if (TINA__UNLIKELY(retiring)) {
        slot_retire(s, t, i, restart);
    } else if (restart) {
        slot->state = TINA__RESTARTING;
        s->restart_pending++;
        if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC)) list_push(t, &t->restart, i);
    } else {
        slot_release(t, i);
    }
}

static void slot_forget_restart(struct tina__shard *s, struct tina__type *t, uint32_t i);

void tina__isolate_terminate(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->state == TINA__RESTARTING) { /* a dynamic child: it ends with its group */
        if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC) &&
            list_remove(t, &t->restart, i))
            slot_forget_restart(s, t, i);
        return;
    }
    if (slot->state != TINA__IDLE && slot->state != TINA__READY && slot->state != TINA__CALLING)
        return; /* free, or already on its way out */
    if (slot->flags & TINA__STARTING) return; /* its init is about to run, or running */
    if (slot->flags & TINA__RUNNING) {        /* torn down as its handler returns */
        slot->flags |= TINA__DOOMED;
        return;
    }
    tina__isolate_exit(s, t, i, TINA__EXIT_TERMINATED, 0);
}

static tina_result spawn_into(struct tina__shard *s, uint32_t type_id, const void *args,
                              size_t args_size, uint32_t restart, uint32_t child,
                              tina_handle *out) {
    if (out) *out = TINA_HANDLE_NONE;
    if (type_id >= s->type_count || (args_size > 0 && args == NULL)) return TINA_EINVAL;
    if (args_size > TINA_ARGS_MAX) return TINA_ETOO_BIG;
    /* Read the user's args before taking anything: a bad pointer faults
     * here (the trap crashes the caller) with no slot or room taken. */
    uint8_t copy[TINA_ARGS_MAX];
    if (args_size) memcpy(copy, args, args_size);
    struct tina__type *t = &s->types[type_id];
    uint32_t i = t->free_head;
    if (i == TINA__NIL) {
        s->stats.spawn_failed++;
        return TINA_ENO_SLOT;
    }
    struct tina__slot *slot = &t->slots[i];
    t->free_head = slot->next;
    slot->restart = (uint8_t)restart;
    slot->child = child;
    if (child != TINA__NIL) s->groups[child & ~TINA__DYNAMIC].dynamic_count++;
    slot->args_size = (uint8_t)args_size;
    if (args_size) memcpy(t->args + (size_t)i * TINA_ARGS_MAX, copy, args_size);
    tina_handle h = tina_handle_make(s->id, type_id, i, slot->generation);
    if (out) *out = h;
    (void)tina__isolate_start(s, t, i);
    return TINA_OK;
}

tina_result tina_spawn(tina_ctx *ctx, uint32_t type_id, const void *args, size_t args_size,
                       tina_handle *out) {
    return spawn_into(ctx->shard, type_id, args, args_size, TINA_RESTART_TEMPORARY, TINA__NIL,
                      out);
}

tina_result tina_spawn_child(tina_ctx *ctx, uint32_t group, uint32_t restart, uint32_t type_id,
                             const void *args, size_t args_size, tina_handle *out) {
    struct tina__shard *s = ctx->shard;
    if (out) *out = TINA_HANDLE_NONE;
    if (group >= s->group_count || restart > TINA_RESTART_PERMANENT ||
        s->groups[group].dynamic_max == 0)
        return TINA_EINVAL;
    if (s->groups[group].dynamic_count >= s->groups[group].dynamic_max) return TINA_EGROUP_FULL;
    return spawn_into(s, type_id, args, args_size, restart, TINA__DYNAMIC | group, out);
}

/* ------------------------------------------------------------------------ */
/* Effects                                                                   */
/* ------------------------------------------------------------------------ */

static void call_fail(struct tina__shard *s, struct tina__type *t, uint32_t i, tina_result r) {
    struct tina__slot *slot = &t->slots[i];
    slot->call_note = TINA__NOTE_FAILED(r);
    tina__slot_ready(s, t, i);
    s->stats.call_failed++;
}

static void effect_call(struct tina__shard *s, struct tina__type *t, uint32_t i,
                        const tina_effect *e) {
    struct tina__slot *slot = &t->slots[i];
    tina_handle self = s->ctx.self;
    s->stats.calls++;
    if (e->timeout_ns == 0) {
        call_fail(s, t, i, TINA_EINVAL);
        return;
    }
    /* The reply's slot is taken now, so that a reply never waits for room
     * (nor holds a channel up) when it comes: no slot, no call. */
    uint32_t reserved = pool_alloc_user(s);
    if (reserved == TINA__NIL) {
        s->stats.pool_exhausted++;
        call_fail(s, t, i, TINA_EPOOL_EXHAUSTED);
        return;
    }
    uint64_t corr = ++s->corr_next;
    uint32_t timer = tina__timer_add(s, slot, self, e->timeout_ns, 0, 0, TINA__TIMER_CALL, corr);
    if (timer == TINA__NIL) {
        pool_free(s, reserved);
        call_fail(s, t, i, TINA_ETIMER_EXHAUSTED);
        return;
    }
    tina_result r = message_send(s, self, e->to, e->tag, e->payload, e->size, TINA_MSG_CALL, corr);
    if (r != TINA_OK) {
        pool_free(s, reserved);
        (void)tina__timer_cancel(s, slot, self, timer, s->wheel.timers[timer].generation);
        call_fail(s, t, i, r);
        return;
    }
    slot->call_note = reserved;
    slot->call_corr = corr;
    slot->call_timer = timer;
    slot->state = TINA__CALLING;
}

static void effect_reply(struct tina__shard *s, const tina_msg *m, const tina_effect *e) {
    if (m->kind != TINA_MSG_CALL || m->corr == 0) {
        s->stats.reply_invalid++;
        return;
    }
    if (message_send(s, s->ctx.self, m->from, e->tag, e->payload, e->size, TINA_MSG_REPLY,
                     m->corr) == TINA_OK)
        s->stats.replies++;
}

/* Parking in receive.  In a shutdown, an isolate that has had its notice
 * and has nothing left to handle is done. */
static inline void receive_park(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (TINA__LIKELY(slot->flags == 0)) { /* the common case: no notice, not draining */
        if (slot_has_mail(slot)) {
            slot->state = TINA__READY;
            queue_push(t, &t->ready, i);
        } else {
            slot->state = TINA__IDLE;
        }
        return;
    }
    if ((slot->flags & TINA__DRAINING) && !slot_has_mail(slot)) {
        tina__isolate_exit(s, t, i, TINA__EXIT_DONE, 0);
        return;
    }
    slot_park(t, i);
}

static void effect_apply(struct tina__shard *s, struct tina__type *t, uint32_t i,
                         const tina_effect *e, const tina_msg *m) {
    /* A callee that ends while handling a call, without replying: the
     * runtime knows the call failed, so it says so now (SPEC 13). */
    if (TINA__UNLIKELY(m->kind == TINA_MSG_CALL) && e->kind != TINA_EFFECT_REPLY &&
        e->kind != TINA_EFFECT_RECEIVE && e->kind != TINA_EFFECT_YIELD &&
        e->kind != TINA_EFFECT_CALL && e->kind != TINA_EFFECT_IO)
        call_answer_failed(s, m, TINA_ESTALE);
    switch (e->kind) {
    case TINA_EFFECT_RECEIVE: {
        uint32_t generation = t->slots[i].generation;
        receive_park(s, t, i); /* a draining isolate may end here */
        if (TINA__UNLIKELY(t->slots[i].generation != generation)) call_answer_failed(s, m, TINA_ESTALE);
        return;
    }
    case TINA_EFFECT_YIELD:
        t->slots[i].flags |= TINA__RESUME;
        queue_push(t, &t->yielded, i);
        s->stats.yields++;
        return;
    case TINA_EFFECT_DONE:
        tina__isolate_exit(s, t, i, TINA__EXIT_DONE, 0);
        return;
    case TINA_EFFECT_CRASH:
        tina__isolate_exit(s, t, i, TINA__EXIT_CRASHED, e->reason ? e->reason : 1);
        return;
    case TINA_EFFECT_CALL:
        effect_call(s, t, i, e);
        return;
    case TINA_EFFECT_REPLY:
        effect_reply(s, m, e);
        receive_park(s, t, i);
        return;
    case TINA_EFFECT_IO:
        tina__io_effect(s, t, i, e);
        return;
    default:
        /* An effect kind we do not know is the handler's bug: crash it. */
        s->stats.invalid++;
        tina__isolate_exit(s, t, i, TINA__EXIT_CRASHED, TINA_CRASH_UNKNOWN_EFFECT);
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

/* The message to hand the isolate next, in priority order: the shutdown
 * notice, the pending call's outcome, fired timers, the mailbox, and only
 * then, if nothing else waits, the resume a yield asked for (SPEC 13:
 * yield means "run me again soon", not "ignore my mail").  Notices and
 * timers are synthesized into s->synth; *pool_index is NIL for them. */
static const tina_msg *next_message(struct tina__shard *s, struct tina__type *t, uint32_t i,
                                    uint32_t *pool_index) {
    struct tina__slot *slot = &t->slots[i];
    uint32_t note = slot->call_note;
    if (TINA__LIKELY(!(slot->flags & (TINA__RESUME | TINA__SHUTDOWN)) && note == TINA__NIL &&
                     slot->fired_head == TINA__NIL && slot->downs == TINA__NIL)) {
        if (TINA__UNLIKELY(slot->mbox_head == TINA__NIL)) return NULL; /* timer cancelled */
        *pool_index = mailbox_pop(s, slot);
        return &s->msgs[*pool_index];
    }
    *pool_index = TINA__NIL;
    if (note != TINA__NIL && note < TINA__NOTE_FIRST) { /* the reply, in its reserved slot */
        slot->call_note = TINA__NIL;
        *pool_index = note;
        return &s->msgs[note];
    }
    tina_msg *m = &s->synth;
    m->from = 0;
    m->to = tina_handle_make(s->id, t->id, i, slot->generation);
    m->corr = 0;
    m->kind = TINA_MSG_SYSTEM;
    m->size = 0;
    if (note == TINA__NOTE_IO) {
        tina__io_deliver(s, slot, m);
    } else if (note == TINA__NOTE_TIMEOUT) {
        slot->call_note = TINA__NIL;
        m->tag = TINA_TAG_CALL_TIMEOUT;
    } else if (note != TINA__NIL) {
        int32_t result = -(int32_t)(TINA__NOTE_FAILED_BASE - note);
        slot->call_note = TINA__NIL;
        m->tag = TINA_TAG_CALL_FAILED;
        m->size = sizeof(result);
        memcpy(m->payload, &result, sizeof(result));
    } else if (slot->flags & TINA__SHUTDOWN) {
        slot->flags = (uint8_t)((slot->flags & ~TINA__SHUTDOWN) | TINA__DRAINING);
        m->tag = TINA_TAG_SHUTDOWN;
        s->stats.shutdown_notices++;
    } else {
        /* Mail of any kind spends a yield: the resume comes only without. */
        uint8_t resume = slot->flags & TINA__RESUME;
        slot->flags &= (uint8_t)~TINA__RESUME;
        if (slot->fired_head != TINA__NIL) {
            (void)tina__timer_deliver(s, slot, m);
        } else if (slot->downs != TINA__NIL) {
            tina__down_deliver(s, slot, m);
        } else if (slot->mbox_head != TINA__NIL) {
            *pool_index = mailbox_pop(s, slot);
            return &s->msgs[*pool_index];
        } else if (resume) {
            m->tag = TINA_TAG_RESUME;
        } else {
            return NULL; /* woken by a timer cancelled since */
        }
    }
    return m;
}

/* A strategy tore this isolate down while its handler ran (an escalation
 * from a spawn inside it): its effect is dropped and the teardown happens
 * now, with the strategy's restart rule (supervise.c: supervisor_busy). */
static void doomed_exit(struct tina__shard *s, struct tina__type *t, uint32_t i,
                        const tina_msg *m) {
    if (m != NULL) call_answer_failed(s, m, TINA_ESTALE);
    uint32_t busy = s->supervisor_busy;
    s->supervisor_busy = 1;
    tina__isolate_exit(s, t, i, TINA__EXIT_TERMINATED, 0);
    s->supervisor_busy = busy;
}

/* One handler call: the next message of the ready queue's head. */
static void dispatch_one(struct tina__shard *s, struct tina__type *t) {
    uint32_t i = list_pop(t, &t->ready);
    struct tina__slot *slot = &t->slots[i];
    slot->flags &= (uint8_t)~TINA__QUEUED;
    uint32_t pool_index;
    const tina_msg *m = next_message(s, t, i, &pool_index);
    if (TINA__UNLIKELY(m == NULL)) { /* woken by a timer cancelled since */
        slot_park(t, i);
        s->budget_left--; /* counted, so no state can make a pass spin */
        return;
    }
    s->ctx.type = t;
    s->ctx.slot = i;
    s->ctx.self = slot_handle(t, i, slot->generation);
    s->ctx.msg = m;
    s->running_pool_index = pool_index;
    atomic_store_explicit(&s->running, s->ctx.self, memory_order_relaxed); /* for the watchdog */
    slot->flags |= TINA__RUNNING;
    s->trap_armed = 1;
    tina_effect e = t->handler(slot_struct(t, i), &s->ctx, m);
    if (TINA__UNLIKELY(s->trace != NULL)) s->trace(s, m, &e);
    slot->flags &= (uint8_t)~TINA__RUNNING;
    if (TINA__UNLIKELY(slot->flags & TINA__DOOMED)) doomed_exit(s, t, i, m);
    else effect_apply(s, t, i, &e, m); /* copies user payloads: still armed */
    s->trap_armed = 0;
    if (pool_index != TINA__NIL) pool_free(s, pool_index);
    s->running_pool_index = TINA__NIL;
    s->budget_left--;
}

/* A handler faulted: the signal handler jumped here.  Crash the isolate
 * that was running, as if it had returned tina_crash(). */
static void dispatch_trapped(struct tina__shard *s, int sig) {
    struct tina__type *t = s->ctx.type;
    uint32_t running = s->running_pool_index;
    s->running_pool_index = TINA__NIL;
    s->ctx.msg = NULL;
    const tina_msg *m = running != TINA__NIL ? &s->msgs[running] : NULL;
    if (t->slots[s->ctx.slot].flags & TINA__DOOMED) {
        doomed_exit(s, t, s->ctx.slot, m);
    } else {
        if (m != NULL) call_answer_failed(s, m, TINA_ESTALE);
        tina__isolate_exit(s, t, s->ctx.slot, TINA__EXIT_CRASHED, TINA_CRASH_SIGNAL_BASE + (uint32_t)sig);
    }
    if (running != TINA__NIL) pool_free(s, running);
    s->budget_left--;
}

static void type_dispatch(struct tina__shard *s, struct tina__type *t) {
    sigjmp_buf point;
    list_append(t, &t->ready, &t->yielded);
    if (t->ready.head == TINA__NIL) return;
    s->budget_left = t->budget;
    s->trap_jmp = &point;
    int sig = TINA__TRAP_POINT(point); /* once per batch, not per message */
    if (TINA__UNLIKELY(sig != 0)) dispatch_trapped(s, sig);
    while (s->budget_left > 0 && t->ready.head != TINA__NIL && !s->quarantine_pending)
        dispatch_one(s, t);
    uint32_t ran = t->budget - s->budget_left; /* handler calls, trapped ones included */
    s->stats.dispatched += ran;
    if (ran) s->did_work = 1;
    s->trap_jmp = NULL;
    s->ctx.msg = NULL;
    atomic_store_explicit(&s->running, 0, memory_order_relaxed);
}

static void dispatch(struct tina__shard *s) {
    for (uint32_t t = 0; t < s->type_count; t++) type_dispatch(s, &s->types[t]);
}

/* ------------------------------------------------------------------------ */
/* The pass                                                                  */
/* ------------------------------------------------------------------------ */

static int work_pending(const struct tina__shard *s) {
    for (uint32_t t = 0; t < s->type_count; t++) {
        const struct tina__type *type = &s->types[t];
        if (type->ready.head != TINA__NIL || type->yielded.head != TINA__NIL) return 1;
    }
    return s->restart_pending > 0 || s->wheel.due_head != TINA__NIL ||
           s->monitors.pending_head != TINA__NIL;
}

/* A slot waiting for its restart will not get it: free it, and give its
 * dynamic group the room back. */
static void slot_forget_restart(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->groups[slot->child & ~TINA__DYNAMIC].dynamic_count--;
    slot_release(t, i);
    s->restart_pending--;
}

/* Graceful shutdown reaches this shard: every live isolate gets a notice
 * (a flag, no message slot), parked ones are woken, pending restarts are
 * dropped.  O(slots), once. */
static void shutdown_begin(struct tina__shard *s) {
    s->shutdown_seen = 1;
    uint64_t now = tina__shard_now(s), bound = s->rt->spec.shutdown_timeout_ns;
    s->shutdown_deadline_ns = bound >= TINA__NEVER - now ? TINA__NEVER : now + bound; /* saturates */
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity && (t->live > 0 || s->restart_pending > 0); i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->state == TINA__RESTARTING) { /* nothing restarts in a shutdown */
                slot_forget_restart(s, t, i);
                continue;
            }
            if (slot->state == TINA__FREE || slot->state == TINA__RETIRED) continue;
            slot->flags |= TINA__SHUTDOWN;
            if (slot->flags & TINA__IO_PARKED) {
                tina__io_shutdown(s, slot);
            } else if (slot->state == TINA__CALLING) { /* cut short: it gets its notice now */
                call_end(s, t, i, tina_handle_make(s->id, k, i, slot->generation),
                         TINA__NOTE_FAILED(TINA_ESHUTDOWN));
                s->stats.call_failed++;
            }
            if (slot->state == TINA__IDLE) {
                slot->state = TINA__READY;
                queue_push(t, &t->ready, i);
            }
        }
        t->restart.head = t->restart.tail = TINA__NIL;
    }
    s->did_work = 1;
}

static uint32_t live_count(const struct tina__shard *s) {
    uint32_t live = 0;
    for (uint32_t t = 0; t < s->type_count; t++) live += s->types[t].live;
    return live;
}

/* ------------------------------------------------------------------------ */
/* Quarantine                                                                */
/* ------------------------------------------------------------------------ */

static void transitions_bump(struct tina__shard *s) {
    atomic_fetch_add_explicit(&s->transitions, 1, memory_order_release);
    atomic_fetch_add_explicit(&s->rt->quarantine_epoch, 1, memory_order_release);
    for (uint32_t peer = 0; peer < s->shard_count; peer++)
        if (peer != s->id) s->platform->wake(s, peer);
}

/* Something a sleeping shard must wake for, besides its channels and
 * timers: a stop, a shutdown it has not begun or that every shard has
 * finished draining, a revival asked of it, a peer's quarantine or revival
 * it has not told its isolates about.  The last shard to drain rings only
 * the peers it finds asleep; a peer past its last pass but not yet asleep
 * learns it here, after its heavy barrier (platform_thread.c). */
int tina__shard_has_news(struct tina__shard *s) {
    struct tina_runtime *rt = s->rt;
    return atomic_load_explicit(&rt->stopping, memory_order_relaxed) ||
           (!s->shutdown_seen && atomic_load_explicit(&rt->shutdown, memory_order_relaxed)) ||
           (s->shutdown_seen &&
            atomic_load_explicit(&rt->drained_count, memory_order_relaxed) == rt->shard_count) ||
           (s->quarantined && atomic_load_explicit(&s->revive_requested, memory_order_relaxed)) ||
           atomic_load_explicit(&rt->quarantine_epoch, memory_order_relaxed) !=
               s->quarantine_epoch_seen;
}

/* The root group failed: tear every isolate down and stop dispatching.
 * Peers see sends to this shard fail as stale and get a notice. */
static void quarantine_enter(struct tina__shard *s) {
    tina__log_event(s, TINA_LOG_ERROR, 0, 0xffffu,
                    "shard %u quarantined: its root group failed; every isolate is torn down", s->id);
    s->quarantine_pending = 0;
    s->quarantined = 1;
    atomic_store_explicit(&s->revive_requested, 0, memory_order_relaxed); /* none is for this one */
    s->stats.quarantines++;
    for (uint32_t k = 0; k < s->type_count; k++) { /* every queue goes: no walk per exit */
        struct tina__type *t = &s->types[k];
        for (uint32_t i = t->ready.head; i != TINA__NIL; i = t->slots[i].next)
            t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
        for (uint32_t i = t->yielded.head; i != TINA__NIL; i = t->slots[i].next)
            t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
        t->ready.head = t->ready.tail = TINA__NIL;
        t->yielded.head = t->yielded.tail = TINA__NIL;
    }
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity && (t->live > 0 || s->restart_pending > 0); i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->state == TINA__RESTARTING) {
                slot_forget_restart(s, t, i);
            } else if (slot->state != TINA__FREE && slot->state != TINA__RETIRED) {
                tina__isolate_exit(s, t, i, TINA__EXIT_QUARANTINED, 0);
            }
        }
        t->ready.head = t->ready.tail = TINA__NIL;
        t->yielded.head = t->yielded.tail = TINA__NIL;
        t->restart.head = t->restart.tail = TINA__NIL;
    }
    transitions_bump(s);
}

/* Rebuild from the boot spec: free lists anew (generations kept, so every
 * old handle stays stale), budgets empty, static children started in spec
 * order with new handles. */
static void quarantine_revive(struct tina__shard *s) {
    const struct tina_runtime *rt = s->rt;
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        uint32_t i = rt->child_slot[(size_t)c * rt->shard_count + s->id];
        if (i == TINA__NIL || s->types[rt->children[c].type_id].slots[i].state == TINA__RETIRED)
            continue;
        s->types[rt->children[c].type_id].slots[i].state = TINA__READY; /* placed, starting */
        s->types[rt->children[c].type_id].slots[i].flags = TINA__STARTING;
    }
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        t->free_head = TINA__NIL;
        for (uint32_t i = t->capacity; i-- > 0;) {
            if (t->slots[i].state != TINA__FREE) continue;
            t->slots[i].next = t->free_head;
            t->free_head = i;
        }
    }
    for (uint32_t g = 0; g < s->group_count; g++) {
        s->groups[g].restart_used = 0;
        s->groups[g].restart_next = 0;
        s->groups[g].dynamic_count = 0; /* the quarantine ended them all */
    }
    s->quarantined = 0;
    s->stats.revivals++;
    tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu, "shard %u revived", s->id);
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        uint32_t i = rt->child_slot[(size_t)c * rt->shard_count + s->id];
        if (i != TINA__NIL && s->types[rt->children[c].type_id].slots[i].state == TINA__READY)
            (void)tina__isolate_start(s, &s->types[rt->children[c].type_id], i);
    }
    transitions_bump(s);
}

/* Tell every live isolate here that a peer was quarantined or revived.
 * Notices come from the system region, which user traffic cannot drain;
 * if even that is empty the notice is counted as dropped. */
static void notice_broadcast(struct tina__shard *s, uint16_t tag, uint32_t peer) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0, seen = 0; i < t->capacity && seen < t->live; i++) {
            struct tina__slot *slot = &t->slots[i];
            if (!slot_alive(slot, tina_handle_make(s->id, k, i, slot->generation))) continue;
            seen++;
            uint32_t m = tina__pool_alloc_system(s);
            if (m == TINA__NIL) {
                s->stats.notices_dropped++;
                continue;
            }
            envelope_fill(&s->msgs[m], 0, tina_handle_make(s->id, k, i, slot->generation), tag,
                          &peer, sizeof(peer), TINA_MSG_SYSTEM, 0);
            mailbox_push(s, slot, m);
            slot_wake(s, t, i);
            s->stats.peer_notices++;
        }
    }
}

static void peers_check(struct tina__shard *s) {
    uint32_t epoch = atomic_load_explicit(&s->rt->quarantine_epoch, memory_order_acquire);
    if (epoch == s->quarantine_epoch_seen) return;
    s->quarantine_epoch_seen = epoch;
    for (uint32_t peer = 0; peer < s->shard_count; peer++) {
        if (peer == s->id) continue;
        uint32_t now = atomic_load_explicit(&s->rt->shards[peer]->transitions, memory_order_acquire);
        /* Deliver every transition missed since the last look, in order. */
        for (uint32_t seen = s->peer_transitions_seen[peer]; seen != now; seen++)
            notice_broadcast(s, (seen & 1u) ? TINA_TAG_SHARD_RESTARTED : TINA_TAG_SHARD_QUARANTINED,
                             peer);
        s->peer_transitions_seen[peer] = now;
    }
}

/* One pass; returns non-zero if the shard did or has work. */
int tina__shard_pass(struct tina__shard *s) {
    s->did_work = 0;
    s->now_valid = 0;
    atomic_store_explicit(&s->beat, s->stats.passes, memory_order_relaxed);
    if (TINA__UNLIKELY(!s->shutdown_seen) &&
        atomic_load_explicit(&s->rt->shutdown, memory_order_relaxed))
        shutdown_begin(s);
    if (TINA__UNLIKELY(s->quarantined) &&
        atomic_exchange_explicit(&s->revive_requested, 0, memory_order_acquire))
        quarantine_revive(s);
    peers_check(s);
    channels_drain(s);
    if (s->platform->io_reap(s) > 0) s->did_work = 1;
    if (TINA__LIKELY(!s->quarantined)) {
        tina__supervise_restart_pending(s);
        dispatch(s);
        if (s->io != NULL && s->io->loaned_count > 0) tina__io_after_dispatch(s);
        if (TINA__UNLIKELY(s->quarantine_pending)) quarantine_enter(s);
    }
    s->platform->io_submit(s);
    if (s->monitors.pending_head != TINA__NIL) tina__monitors_flush(s);
    s->platform->channel_publish(s);
    tina__timers_advance(s);
    tina__log_flush(s);
    if ((++s->stats.passes & 1023u) == 0 && tina__shard_now(s) - s->snapshot_at_ns >= 1000000u)
        tina__shard_publish_stats(s);
    return s->did_work || work_pending(s);
}

uint64_t tina__shard_next_deadline(struct tina__shard *s) {
    uint64_t deadline = tina__timers_next_deadline(s);
    if (s->shutdown_seen && s->shutdown_deadline_ns < deadline) deadline = s->shutdown_deadline_ns;
    return deadline;
}

/* In a shutdown: 1 once this shard has no isolate left (counted once in
 * rt->drained_count), 2 once its deadline has passed, else 0. */
int tina__shard_shutdown_state(struct tina__shard *s) {
    if (!s->shutdown_seen) return 0;
    if (!s->drained && live_count(s) == 0) {
        s->drained = 1;
        atomic_fetch_add_explicit(&s->rt->drained_count, 1, memory_order_relaxed);
    }
    if (tina__shard_now(s) >= s->shutdown_deadline_ns) {
        s->stats.shutdown_forced = live_count(s);
        if (s->stats.shutdown_forced)
            tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu,
                            "shutdown deadline passed: %llu isolates still alive are forced",
                            (unsigned long long)s->stats.shutdown_forced);
        return 2;
    }
    return s->drained ? 1 : 0;
}

/* Start the static children placed on this shard at tina_create. */
void tina__shard_boot(struct tina__shard *s) {
    struct tina_runtime *rt = s->rt;
    s->now_valid = 0;
    s->wheel.tick = tina__shard_now(s) / s->wheel.resolution_ns;
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        uint32_t i = rt->child_slot[(size_t)c * rt->shard_count + s->id];
        if (i == TINA__NIL) continue;
        (void)tina__isolate_start(s, &s->types[rt->children[c].type_id], i);
    }
    s->platform->channel_publish(s);
    tina__log_flush(s);
    tina__shard_publish_stats(s);
}

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

static void stats_gauges(struct tina__shard *s) {
    uint64_t live = 0;
    for (uint32_t t = 0; t < s->type_count; t++) live += s->types[t].live;
    s->stats.live = live;
    s->stats.pool_user_free = s->user_free;
    s->stats.pool_system_free = s->system_free;
    s->stats.timers_live = s->wheel.live;
    s->stats.fds_open = s->io != NULL ? s->io->fds_open : 0;
    s->stats.stalls = atomic_load_explicit(&s->stalls, memory_order_relaxed);
}

void tina__shard_publish_stats(struct tina__shard *s) {
    enum { N = sizeof(tina_shard_stats) / 8 };
    uint64_t words[N];
    stats_gauges(s);
    memcpy(words, &s->stats, sizeof(words));
    uint32_t seq = atomic_load_explicit(&s->snapshot_seq, memory_order_relaxed);
    atomic_store_explicit(&s->snapshot_seq, seq + 1, memory_order_relaxed);
    /* Release fence pairs with the reader's acquire fence in tina_stats(). */
    atomic_thread_fence(memory_order_release);
    for (int k = 0; k < N; k++) atomic_store_explicit(&s->snapshot[k], words[k], memory_order_relaxed);
    atomic_store_explicit(&s->snapshot_seq, seq + 2, memory_order_release);
    s->snapshot_at_ns = tina__shard_now(s);
}

const tina_shard_stats *tina_ctx_stats(const tina_ctx *ctx) {
    stats_gauges(ctx->shard);
    return &ctx->shard->stats;
}

/* ------------------------------------------------------------------------ */
/* Context accessors                                                         */
/* ------------------------------------------------------------------------ */

tina_handle tina_self(const tina_ctx *ctx) { return ctx->self; }
tina_handle tina_sender(const tina_ctx *ctx) { return ctx->msg ? ctx->msg->from : 0; }
uint32_t tina_shard_id(const tina_ctx *ctx) { return ctx->shard->id; }
uint32_t tina_shard_count(const tina_ctx *ctx) { return ctx->shard->shard_count; }
uint64_t tina_now_ns(const tina_ctx *ctx) { return tina__shard_now(ctx->shard); }
uint64_t tina_random(tina_ctx *ctx) { return tina__rng_next(ctx->shard->rng); }

void *tina_scratch(tina_ctx *ctx, size_t *size_out) {
    if (size_out) *size_out = ctx->shard->scratch_bytes;
    return ctx->shard->scratch;
}

bool tina_shutting_down(const tina_ctx *ctx) {
    return ctx->shard->shutdown_seen ||
           atomic_load_explicit(&ctx->shard->rt->stopping, memory_order_relaxed) != 0;
}

void tina_request_stop(tina_ctx *ctx) { tina_stop(ctx->shard->rt); }
void tina_request_shutdown(tina_ctx *ctx) { tina_shutdown(ctx->shard->rt); }

tina_handle tina_child_handle(const tina_ctx *ctx, uint32_t child_index, uint32_t shard) {
    return tina_runtime_child_handle(ctx->shard->rt, child_index, shard);
}

tina_result tina_timer_set(tina_ctx *ctx, uint64_t delay_ns, uint64_t period_ns, uint16_t tag,
                           tina_timer_id *out) {
    struct tina__shard *s = ctx->shard;
    if (out) *out = 0;
    if (tag < TINA_TAG_USER) return TINA_ERESERVED_TAG;
    struct tina__slot *slot = &ctx->type->slots[ctx->slot];
    uint32_t i = tina__timer_add(s, slot, ctx->self, delay_ns, period_ns, tag, TINA__TIMER_USER, 0);
    if (i == TINA__NIL) return TINA_ETIMER_EXHAUSTED;
    if (out) *out = ((uint64_t)s->wheel.timers[i].generation << 32) | i;
    return TINA_OK;
}

tina_result tina_timer_cancel(tina_ctx *ctx, tina_timer_id id) {
    struct tina__slot *slot = &ctx->type->slots[ctx->slot];
    return tina__timer_cancel(ctx->shard, slot, ctx->self, (uint32_t)id, (uint32_t)(id >> 32));
}

/* ------------------------------------------------------------------------ */
/* Boot: carve a shard out of its arena                                      */
/* ------------------------------------------------------------------------ */

static void pool_carve(struct tina__shard *s, tina_msg *msgs, uint32_t user, uint32_t system) {
    s->msgs = msgs;
    s->pool_user_slots = user;
    s->pool_slots = user + system;
    for (uint32_t i = 0; i < s->pool_slots; i++) msgs[i].link = i + 1;
    msgs[user - 1].link = TINA__NIL;
    msgs[s->pool_slots - 1].link = TINA__NIL;
    s->user_free_head = 0;
    s->system_free_head = user;
    s->user_free = user;
    s->system_free = system;
}

static void type_carve(struct tina__shard *s, struct tina__type *t, const tina_type_spec *ts,
                       uint32_t id, uint8_t *base, const struct tina__layout *l) {
    const tina_spec *spec = &s->rt->spec;
    t->handler = ts->handler;
    t->init = ts->init;
    t->name = ts->name;
    t->id = id;
    t->struct_size = ts->struct_size;
    t->stride = (ts->struct_size + 15u) & ~15u;
    t->capacity = ts->slots_per_shard;
    t->mailbox_capacity = ts->mailbox_capacity ? ts->mailbox_capacity : TINA__DEFAULT_MAILBOX;
    t->budget = (ts->weight ? ts->weight : 1u) * spec->base_budget;
    t->handle_base = tina_handle_make(s->id, id, 0, 0);
    t->slots = (struct tina__slot *)(base + l->type_slots_off[id]);
    t->args = base + l->type_args_off[id];
    t->structs = base + l->type_structs_off[id];
    t->live = 0;
    t->ready.head = t->ready.tail = TINA__NIL;
    t->yielded.head = t->yielded.tail = TINA__NIL;
    t->restart.head = t->restart.tail = TINA__NIL;
    for (uint32_t i = 0; i < t->capacity; i++) {
        struct tina__slot *slot = &t->slots[i];
        memset(slot, 0, sizeof(*slot));
        slot->generation = 1;
        slot->state = TINA__FREE;
        slot->mbox_head = slot->mbox_tail = TINA__NIL;
        slot->timer_head = slot->call_note = slot->call_timer = TINA__NIL;
        slot->fired_head = slot->fired_tail = TINA__NIL;
        slot->downs = TINA__NIL;
        slot->child = TINA__NIL;
        slot->monitor_head = TINA__NIL;
        slot->next = i + 1 < t->capacity ? i + 1 : TINA__NIL;
    }
    t->free_head = 0;
}

/* This shard's instance of the supervision tree; budgets start empty. */
static void groups_carve(struct tina__shard *s, uint8_t *base, const struct tina__layout *l) {
    const struct tina_runtime *rt = s->rt;
    uint64_t *times = (uint64_t *)(base + l->group_times_off);
    s->groups = (struct tina__group *)(base + l->groups_off);
    s->group_count = rt->group_count;
    for (uint32_t g = 0; g < rt->group_count; g++) {
        const tina_group_spec *gs = &rt->groups[g];
        struct tina__group *grp = &s->groups[g];
        memset(grp, 0, sizeof(*grp));
        grp->parent = gs->parent == TINA_GROUP_NONE ? TINA__NIL : gs->parent;
        grp->strategy = (uint8_t)gs->strategy;
        grp->implicit = rt->spec.group_count == 0;
        grp->restart_max = gs->restart_max;
        grp->dynamic_max = gs->dynamic_max;
        grp->window_ns = gs->window_ns;
        grp->restart_at = times;
        times += gs->restart_max;
    }
}

void tina__shard_carve(struct tina_runtime *rt, uint32_t id, const struct tina__layout *l) {
    uint8_t *base = rt->arenas[id].base;
    const tina_spec *spec = &rt->spec;
    struct tina__shard *s = (struct tina__shard *)(base + l->shard_off);
    memset(s, 0, sizeof(*s));
    s->rt = rt;
    s->id = id;
    s->shard_count = rt->shard_count;
    s->platform = rt->platform;
    s->ctx.shard = s;
    s->corr_next = (uint64_t)id << 48;
    s->running_pool_index = TINA__NIL;
    s->types = (struct tina__type *)(base + l->types_off);
    s->type_count = spec->type_count;
    pool_carve(s, (tina_msg *)(base + l->pool_off), spec->pool_user_slots, spec->pool_system_slots);
    for (uint32_t t = 0; t < spec->type_count; t++)
        type_carve(s, &s->types[t], &rt->types[t], t, base, l);
    groups_carve(s, base, l);
    tina__monitors_init(&s->monitors, (struct tina__monitor *)(base + l->monitors_off),
                        spec->monitor_slots);
    tina__wheel_init(&s->wheel, (struct tina__timer *)(base + l->timers_off),
                     (uint32_t *)(base + l->buckets_off), spec->timer_slots,
                     spec->timer_wheel_slots, spec->timer_resolution_ns);
    tina__log_init(&s->log, (struct tina__log_entry *)(base + l->log_off), spec->log_entries,
                   spec->log_level);
    for (uint32_t from = 0; from < rt->shard_count; from++) {
        if (from == id) continue;
        struct tina__ring *ring = (struct tina__ring *)(base + l->ring_off[from]);
        ring_init(ring, (tina_msg *)(ring + 1), tina__ring_slots(spec, from, id));
        s->inbound[from] = ring;
    }
    s->scratch = base + l->scratch_off;
    s->altstack = base + l->altstack_off;
    s->scratch_bytes = spec->scratch_bytes;
    tina__rng_seed(s->rng, spec->seed ^ (0x5348415244000000ull + id)); /* "SHARD" domain */
    atomic_init(&s->snapshot_seq, 0);
    atomic_init(&s->sleeping, 0);
    TINA_ASSERT(l->altstack_off + TINA__ALTSTACK_BYTES <= rt->arenas[id].bytes);
    rt->shards[id] = s;
}
