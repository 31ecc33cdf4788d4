/*
 * send.c -- sending: messages, calls, replies, the runtime's answers for
 * calls it knows failed, and system envelopes to other shards.
 *
 * Local: tina_send takes a slot from the pool's user region, writes the
 * envelope and links it at the tail of the receiver's mailbox; a parked
 * receiver joins its type's ready queue.  Remote: the envelope goes into
 * the ring to the target shard (channel.h), visible to it when this pass
 * publishes; its drain (arrive.c) delivers it or drops and counts it.
 *
 * A call reserves the slot its reply will land in before the request
 * leaves (dispatch.c: effect_call), so a reply never waits for room.  A
 * request the runtime drops, or whose callee ends without answering, is
 * answered at once with a REPLY from no one, tag CALL_FAILED (SPEC 13).
 *
 * A call from a foreign thread (tina_inject_call) names a caller handle
 * no shard owns (callers.h): its reply, or the runtime's answer that it
 * failed, goes straight into the runtime's caller table from whichever
 * shard answers, off the hot path (the handle fails the range check first).
 *
 * Every refusal is named and counted: a reserved tag, an oversized
 * payload, a bad or stale handle, a full mailbox, an exhausted pool, a
 * full channel.
 */
#include <string.h>

#include "shard.h"

/* A pending call ends: its timeout goes; the caller is queued with the
 * outcome (REPLIED: the reply is in the slot reserved for it; TIMED_OUT;
 * FAILED with `result`). */
void tina__call_end(struct tina__shard *s, struct tina__type *t, uint32_t i, tina_handle h,
                    uint8_t outcome, int32_t result) {
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT(slot->call == TINA__CALL_WAITING);
    if (outcome != TINA__CALL_REPLIED) { /* the reservation goes */
        tina__pool_free(&s->pool, slot->call_note);
        slot->call_note = outcome == TINA__CALL_FAILED ? (uint32_t)result : TINA__NIL;
    }
    tina__slot_call(slot, outcome);
    slot->call_corr = 0;
    if (slot->call_timer != TINA__NIL) {
        tina__timer_disarm_own(s, slot, h, slot->call_timer);
        slot->call_timer = TINA__NIL;
    }
    tina__slot_ready(s, t, i);
}

void tina__call_timeout(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    tina__call_end(s, t, i, tina__slot_handle(t, i, slot->generation), TINA__CALL_TIMED_OUT, 0);
    s->stats.call_timeouts++;
}

/* A reply reached the caller's shard: into the slot its call reserved, or
 * counted late.  A REPLY from no one with tag CALL_FAILED is the runtime's
 * answer for a request it dropped: the call fails with its result. */
static inline int reply_awaited(const struct tina__slot *slot, tina_handle to, uint64_t corr) {
    return tina__slot_alive(slot, to) && slot->state == TINA__CALLING &&
           slot->call == TINA__CALL_WAITING && slot->call_corr == corr;
}

void tina__reply_accept(struct tina__shard *s, const tina_msg *src) {
    struct tina__type *t = &s->types[tina_handle_type(src->to)];
    uint32_t i = tina_handle_slot(src->to);
    struct tina__slot *slot = &t->slots[i];
    if (!reply_awaited(slot, src->to, src->corr)) {
        s->stats.late_replies++;
        return;
    }
    if (src->from == TINA_HANDLE_NONE && src->tag == TINA_TAG_CALL_FAILED) {
        int32_t result;
        memcpy(&result, src->payload, sizeof(result));
        TINA_ASSERT(result < 0);
        tina__call_end(s, t, i, src->to, TINA__CALL_FAILED, result);
        s->stats.call_failed++;
        return;
    }
    uint32_t m = slot->call_note; /* reserved by the call */
    TINA_ASSERT(m < s->pool.user_slots);
    tina__envelope_copy(&s->pool.msgs[m], src);
    tina__call_end(s, t, i, src->to, TINA__CALL_REPLIED, 0);
    s->stats.delivered++;
}

/* A local reply: written once, straight into the slot the caller
 * reserved (a bad payload pointer faults before the call ends, and the
 * caller is then told its call failed), or counted late. */
static __attribute__((noinline)) tina_result reply_local(struct tina__shard *s, tina_handle from,
                                                         tina_handle to, uint16_t tag,
                                                         const void *payload, uint32_t size,
                                                         uint64_t corr) {
    struct tina__type *t = &s->types[tina_handle_type(to)];
    uint32_t i = tina_handle_slot(to);
    struct tina__slot *slot = &t->slots[i];
    s->stats.sent++;
    if (!reply_awaited(slot, to, corr)) {
        s->stats.late_replies++;
        return TINA_OK;
    }
    uint32_t m = slot->call_note; /* reserved by the call */
    TINA_ASSERT(m < s->pool.user_slots);
    tina__envelope_fill(&s->pool.msgs[m], from, to, tag, payload, size, TINA_MSG_REPLY, corr);
    tina__call_end(s, t, i, to, TINA__CALL_REPLIED, 0);
    s->stats.delivered++;
    return TINA_OK;
}

/* A reply, or the runtime's answer that the call failed (result < 0), to
 * a foreign thread waiting in tina_inject_call: into its caller entry, or
 * counted late if it no longer waits (it timed out). */
static __attribute__((noinline)) void reply_foreign(struct tina__shard *s, const tina_msg *reply,
                                                    int32_t result) {
    if (!tina__callers_answer(s->callers, reply->to, reply, result))
        tina__inject_count(&s->inject.late_replies);
}

/* The runtime knows a call failed (its request was dropped, or its callee
 * ended without answering): tell the caller now, with the reason, rather
 * than leave it to its timeout (SPEC 13).  Locally at once; across shards
 * if the channel back has room (else counted in answers_lost). */
void tina__call_answer_failed(struct tina__shard *s, const tina_msg *request, tina_result r) {
    if (request->kind != TINA_MSG_CALL || request->corr == 0) return;
    int32_t result = r;
    if (TINA__UNLIKELY(tina__handle_is_foreign(request->from))) {
        tina_msg answer;
        tina__envelope_fill(&answer, TINA_HANDLE_NONE, request->from, TINA_TAG_CALL_FAILED,
                            &result, sizeof(result), TINA_MSG_REPLY, request->corr);
        reply_foreign(s, &answer, result);
        return;
    }
    uint32_t shard = tina_handle_shard(request->from);
    if (shard == s->id) {
        tina_msg answer;
        tina__envelope_fill(&answer, TINA_HANDLE_NONE, request->from, TINA_TAG_CALL_FAILED, &result,
                      sizeof(result), TINA_MSG_REPLY, request->corr);
        tina__reply_accept(s, &answer);
        return;
    }
    tina_msg *m = tina__channel_reserve(&s->chan, shard);
    if (m == NULL || m == TINA__CHANNEL_DOWN) { /* down: the caller is gone with its shard */
        if (m == NULL) s->stats.answers_lost++;
        return;
    }
    tina__envelope_fill(m, TINA_HANDLE_NONE, request->from, TINA_TAG_CALL_FAILED, &result,
                  sizeof(result), TINA_MSG_REPLY, request->corr);
    tina__channel_commit(&s->chan, shard);
}

/* `to` was not a live handle: if it is an address, the incarnation of its
 * lineage running now (the same slot); else, or if none runs, the refusal,
 * counted (stale, or address_not_running). */
static __attribute__((noinline)) tina_result address_resolve_counted(struct tina__shard *s,
                                                                     tina_handle *to) {
    tina_result r = tina__target_resolve(s, to);
    if (r == TINA_OK) return TINA_OK;
    if (r == TINA_ENOT_RUNNING) s->stats.address_not_running++;
    else s->stats.stale++;
    return r;
}

/* Take envelope m (the pool's free head, already filled) and link it at
 * the tail of slot i's mailbox (its checks passed: alive, `count` <
 * capacity); a parked receiver joins the ready queue. */
static inline __attribute__((always_inline)) void
local_link(struct tina__shard *s, struct tina__type *t, uint32_t i, uint32_t count, uint32_t m,
           tina_msg *env) {
    struct tina__slot *slot = &t->slots[i];
    tina_msg *msgs = s->pool.msgs;
    uint32_t tail = slot->mbox_tail;
    s->pool.user_head = env->reserved; /* tina__pool_alloc_user */
    s->pool.user_free--;
    env->reserved = TINA__NIL; /* tina__mailbox_push */
    if (tail == TINA__NIL) slot->mbox_head = m;
    else msgs[tail].reserved = m;
    slot->mbox_tail = m;
    slot->mbox_count = count + 1;
    if (slot->state == TINA__IDLE) { /* tina__slot_wake */
        slot->state = TINA__READY;
        tina__queue_push(t, &t->ready, i);
        s->did_work = 1;
    }
    s->stats.sent++;
    s->stats.delivered++;
}

/* Deliver to slot i, whose checks passed (alive, `count` < capacity, `m`
 * the pool's free head).  The envelope is filled first, in the free slot
 * it is not yet taken from: a bad payload pointer faults with nothing
 * half-done. */
static inline __attribute__((always_inline)) void
local_deliver(struct tina__shard *s, struct tina__type *t, uint32_t i, uint32_t count, uint32_t m,
              tina_handle from, tina_handle to, uint16_t tag, const void *payload, uint32_t size,
              uint8_t kind, uint64_t corr) {
    tina_msg *env = &s->pool.msgs[m];
    tina__envelope_fill(env, from, to, tag, payload, size, kind, corr);
    local_link(s, t, i, count, m, env);
}

static inline __attribute__((always_inline)) tina_result
send_local(struct tina__shard *s, tina_handle from, tina_handle to, uint16_t tag,
           const void *payload, uint32_t size, uint8_t kind, uint64_t corr) {
    if (TINA__UNLIKELY(kind == TINA_MSG_REPLY))
        return reply_local(s, from, to, tag, payload, size, corr);
    struct tina__type *t = tina__shard_type(s, tina_handle_type(to));
    uint32_t i = tina_handle_slot(to);
    struct tina__slot *slot = &t->slots[i];
    if (TINA__UNLIKELY(!tina__slot_alive(slot, to))) {
        tina_result r = address_resolve_counted(s, &to);
        if (r != TINA_OK) return r;
    }
    if (TINA__UNLIKELY(slot->mbox_count >= t->mailbox_capacity)) {
        s->stats.mailbox_full++;
        return TINA_EMAILBOX_FULL;
    }
    if (TINA__UNLIKELY(s->pool.user_head == TINA__NIL)) {
        s->stats.pool_exhausted++;
        return TINA_EPOOL_EXHAUSTED;
    }
    local_deliver(s, t, i, slot->mbox_count, s->pool.user_head, from, to, tag, payload, size,
                  kind, corr);
    return TINA_OK;
}

static inline __attribute__((always_inline)) tina_result
send_remote(struct tina__shard *s, tina_handle from, tina_handle to, uint16_t tag,
            const void *payload, uint32_t size, uint8_t kind, uint64_t corr) {
    uint32_t shard = tina_handle_shard(to);
    struct tina__ring *ring = s->chan.outbound[shard];
    tina_msg *m = tina__channel_reserve(&s->chan, shard);
    if (TINA__UNLIKELY(m == NULL)) {
        s->stats.channel_full++;
        return TINA_EMAILBOX_FULL;
    }
    if (TINA__UNLIKELY(m == TINA__CHANNEL_DOWN)) {
        s->stats.stale++;
        return TINA_ESTALE;
    }
    uint64_t pending = ring->producer.pending; /* before the copy, which may alias it */
    tina__envelope_fill(m, from, to, tag, payload, size, kind, corr);
    ring_commit_at(ring, pending);
    s->stats.sent++;
    s->stats.sent_remote++;
    return TINA_OK;
}

/* A reply to a foreign caller (tina_inject_call): sent, whether or not
 * its caller still waits (a late one is counted, as across shards). */
static __attribute__((noinline)) tina_result send_foreign(struct tina__shard *s, tina_handle from,
                                                          tina_handle to, uint16_t tag,
                                                          const void *payload, uint32_t size,
                                                          uint64_t corr) {
    tina_msg reply;
    tina__envelope_fill(&reply, from, to, tag, payload, size, TINA_MSG_REPLY, corr);
    reply_foreign(s, &reply, TINA_OK);
    s->stats.sent++;
    return TINA_OK;
}

static inline __attribute__((always_inline)) tina_result
message_send(struct tina__shard *s, tina_handle from, tina_handle to, uint16_t tag,
             const void *payload, size_t size, uint8_t kind, uint64_t corr) {
    if (TINA__UNLIKELY(tag < TINA_TAG_USER)) {
        s->stats.invalid++;
        return TINA_ERESERVED_TAG;
    }
    if (TINA__UNLIKELY(size > TINA_PAYLOAD_MAX || (size > 0 && payload == NULL))) {
        s->stats.invalid++;
        return size > TINA_PAYLOAD_MAX ? TINA_ETOO_BIG : TINA_EINVAL;
    }
    tina_result r = tina__handle_valid(s, to);
    if (TINA__UNLIKELY(r != TINA_OK)) {
        if (kind == TINA_MSG_REPLY && tina__handle_is_foreign(to))
            return send_foreign(s, from, to, tag, payload, (uint32_t)size, corr);
        s->stats.invalid++;
        return r;
    }
    if (tina_handle_shard(to) == s->id)
        return send_local(s, from, to, tag, payload, (uint32_t)size, kind, corr);
    return send_remote(s, from, to, tag, payload, (uint32_t)size, kind, corr);
}

/* Calls and replies (dispatch.c, tokens.c). */
tina_result tina__request_send(struct tina__shard *s, tina_handle to, uint16_t tag,
                               const void *payload, size_t size, uint64_t corr) {
    return message_send(s, s->ctx.self, to, tag, payload, size, TINA_MSG_CALL, corr);
}

tina_result tina__reply_send(struct tina__shard *s, tina_handle to, uint16_t tag,
                             const void *payload, size_t size, uint64_t corr) {
    return message_send(s, s->ctx.self, to, tag, payload, size, TINA_MSG_REPLY, corr);
}

int tina__system_send(struct tina__shard *s, tina_handle to, uint16_t tag, const void *payload,
                      uint32_t size) {
    uint32_t shard = tina_handle_shard(to);
    TINA_ASSERT(shard != s->id); /* local notices are synthesized, never sent */
    tina_msg *m = tina__channel_reserve(&s->chan, shard);
    if (m == NULL) return 0;
    if (m == TINA__CHANNEL_DOWN) return -1;
    tina__envelope_fill(m, 0, to, tag, payload, size, TINA_MSG_SYSTEM, 0);
    tina__channel_commit(&s->chan, shard);
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
    if (!tina__slot_alive(slot, to)) {
        tina_result r = address_resolve_counted(s, &to);
        if (r != TINA_OK) return r;
    }
    if (slot->mbox_count >= t->mailbox_capacity) {
        s->stats.mailbox_full++;
        return TINA_EMAILBOX_FULL;
    }
    uint32_t m = tina__pool_alloc_user(&s->pool);
    if (m == TINA__NIL) {
        s->stats.pool_exhausted++;
        return TINA_EPOOL_EXHAUSTED;
    }
    tina__envelope_fill(&s->pool.msgs[m], 0, to, TINA_TAG_TRANSFER, payload, size, TINA_MSG_SYSTEM, 0);
    tina__mailbox_push(&s->pool, slot, m);
    tina__slot_wake(s, t, i);
    return TINA_OK;
}

/* Everything tina_send's checks do not pass: a foreign or out-of-range
 * target, a reserved tag, a bad payload.  Five arguments, so the caller
 * ends in a plain jump here and keeps no frame of its own. */
static __attribute__((noinline)) tina_result send_slow(tina_ctx *ctx, tina_handle to, uint16_t tag,
                                                       const void *payload, size_t size) {
    return message_send(ctx->shard, ctx->self, to, tag, payload, size, TINA_MSG_SEND, 0);
}

/* Across shards, out of tina_send's line, so that the local path there
 * saves registers only past its checks. */
static __attribute__((noinline)) tina_result send_to_peer(tina_ctx *ctx, tina_handle to,
                                                          uint16_t tag, const void *payload,
                                                          size_t size) {
    struct tina__shard *s = tina__ctx_shard(ctx);
    if (TINA__UNLIKELY(tina_handle_shard(to) >= s->shard_count || tina_handle_shard(to) == s->id ||
                       tina_handle_generation(to) == 0))
        return send_slow(ctx, to, tag, payload, size); /* out of range, or a local address */
    return send_remote(s, ctx->self, to, tag, payload, (uint32_t)size, TINA_MSG_SEND, 0);
}

/* tina_send's receiver refused what its checks saw (stale, an address,
 * full): message_send decides, in its order, from the envelope already
 * filled in the pool's free head -- the arguments' copy, so that the fast
 * path holds none of them in a register past the fill. */
static __attribute__((noinline)) tina_result send_unchecked(tina_ctx *ctx, const tina_msg *env) {
    return send_slow(ctx, env->to, env->tag, env->payload, env->size);
}

/* message_send's checks, in its order, decided with the fewest loads: the
 * shard is the context's (a cast), a type is at a fixed distance from it;
 * whatever fails them takes message_send itself.
 *
 * The envelope is filled into the pool's free head before the receiver is
 * looked at: it is not taken until it is linked, and a refusal goes to
 * message_send with the envelope's copy of the arguments.  So nothing but
 * the shard and the envelope lives past the fill, and the fast path keeps
 * to scratch registers.  A local handle of generation 0 needs no test of
 * its own: no live slot has generation 0, so it fails the alive test. */
tina_result tina_send(tina_ctx *ctx, tina_handle to, uint16_t tag, const void *payload,
                      size_t size) {
    struct tina__shard *s = tina__ctx_shard(ctx);
    uint32_t type = tina_handle_type(to);
    uint32_t m = s->pool.user_head;
    if (TINA__UNLIKELY(tag < TINA_TAG_USER || size > TINA_PAYLOAD_MAX ||
                       (payload == NULL && size > 0) || type >= s->type_count ||
                       tina_handle_slot(to) >= tina__shard_type(s, type)->capacity ||
                       m == TINA__NIL))
        return send_slow(ctx, to, tag, payload, size);
    /* The shard byte with the address bit: an address, even to this
     * shard, goes out of line (send_to_peer sends it on, or back). */
    if ((to >> 56) != s->id) return send_to_peer(ctx, to, tag, payload, size);
    tina_msg *env = &s->pool.msgs[m];
    tina__envelope_fill(env, ctx->self, to, tag, payload, (uint32_t)size, TINA_MSG_SEND, 0);
    struct tina__type *t = tina__shard_type(s, type);
    uint32_t i = tina_handle_slot(to);
    struct tina__slot *slot = &t->slots[i];
    uint32_t count = slot->mbox_count;
    /* tina__slot_alive, for a handle (not an address) */
    if (TINA__UNLIKELY(slot->generation != (uint32_t)(to & TINA_GENERATION_MASK) ||
                       !tina__slot_live(slot) || count >= t->mailbox_capacity))
        return send_unchecked(ctx, env);
    local_link(s, t, i, count, m, env);
    return TINA_OK;
}
