/*
 * timers.c -- the shard's side of its timer wheel (timer.c).
 *
 * Three kinds of entries share the wheel: user timers (tina_timer_set),
 * the timeout of a pending call, and the timeout of an I/O operation.  The
 * wheel only keeps time; here the shard arms entries, counts them, and in
 * the timer phase of its pass decides what each expiry means:
 *
 *   user   the entry joins its owner's fired list (no message slot) and
 *          the owner wakes; dispatch synthesizes the TINA_MSG_TIMER
 *          message from it, and re-arms a periodic one then;
 *   call   the entry is freed and the call fails with TINA_TAG_CALL_TIMEOUT;
 *   I/O    the entry is freed and the operation is cancelled: it completes
 *          with -ETIMEDOUT.
 *
 * Teardown cancels every entry an isolate owns, so an expiring entry's
 * owner is always alive.
 */
#include "shard.h"

tina_result tina__timer_disarm(struct tina__shard *s, struct tina__slot *slot, tina_handle owner,
                               uint32_t index, uint32_t generation) {
    uint8_t kind = tina__timer_cancel(&s->wheel, slot, owner, index, generation);
    if (kind == TINA__TIMER_USER) s->stats.timers_cancelled++;
    return kind != 0 ? TINA_OK : TINA_ETIMER_STALE;
}

/* A pending call's or I/O operation's timeout, which is known to be live
 * (and is never a user timer: nothing to count). */
void tina__timer_disarm_own(struct tina__shard *s, struct tina__slot *slot, tina_handle owner,
                            uint32_t index) {
    uint8_t kind = tina__timer_cancel(&s->wheel, slot, owner, index, s->wheel.timers[index].generation);
    TINA_ASSERT_DEBUG(kind == TINA__TIMER_CALL || kind == TINA__TIMER_IO);
    (void)kind;
}

void tina__timers_cancel_all(struct tina__shard *s, struct tina__slot *slot) {
    s->stats.timers_cancelled += tina__timer_cancel_all(&s->wheel, slot);
}

/* One expired entry, just taken off the due list. */
static void expiry(struct tina__shard *s, uint32_t i) {
    struct tina__timer *e = &s->wheel.timers[i];
    struct tina__type *t = &s->types[tina_handle_type(e->owner)];
    uint32_t slot_index = tina_handle_slot(e->owner);
    struct tina__slot *slot = &t->slots[slot_index];
    TINA_ASSERT(slot->generation == tina_handle_generation(e->owner));
    if (e->kind == TINA__TIMER_IO) { /* an I/O operation's timeout: cancel it */
        uint32_t op = (uint32_t)e->corr;
        tina__timer_free(&s->wheel, slot, i);
        tina__io_timeout(s, op);
        return;
    }
    if (e->kind == TINA__TIMER_CALL) {
        TINA_ASSERT(slot->state == TINA__CALLING && slot->call_corr == e->corr);
        slot->call_timer = TINA__NIL;
        tina__timer_free(&s->wheel, slot, i);
        tina__call_timeout(s, t, slot_index);
        return;
    }
    tina__timer_fire(&s->wheel, slot, i);
    tina__slot_wake(s, t, slot_index);
    s->stats.timers_fired++;
}

/* Pass phase 7.  Nothing armed, nothing due: no clock read. */
void tina__shard_timers(struct tina__shard *s) {
    if (s->wheel.live == 0) return;
    tina__timers_advance(&s->wheel, tina__shard_now(s));
    uint32_t i;
    while ((i = tina__timer_expired(&s->wheel)) != TINA__NIL) {
        expiry(s, i);
        s->did_work = 1;
    }
}

/* Dispatch: the slot's oldest fired timer, as a message in *out. */
void tina__timer_hand_over(struct tina__shard *s, struct tina__slot *slot, tina_msg *out) {
    uint32_t periodic = tina__timer_deliver(&s->wheel, slot, out);
    if (periodic != TINA__NIL) tina__timer_rearm(&s->wheel, periodic, tina__shard_now(s));
}

tina_result tina_timer_set(tina_ctx *ctx, uint64_t delay_ns, uint64_t period_ns, uint16_t tag,
                           tina_timer_id *out) {
    struct tina__shard *s = ctx->shard;
    if (out) *out = 0;
    if (tag < TINA_TAG_USER) return TINA_ERESERVED_TAG;
    struct tina__slot *slot = &ctx->type->slots[ctx->slot];
    uint32_t i = tina__timer_arm(s, slot, ctx->self, delay_ns, period_ns, tag, TINA__TIMER_USER, 0);
    if (i == TINA__NIL) return TINA_ETIMER_EXHAUSTED;
    if (out) *out = tina__timer_id(&s->wheel, i);
    return TINA_OK;
}

tina_result tina_timer_cancel(tina_ctx *ctx, tina_timer_id id) {
    struct tina__slot *slot = &ctx->type->slots[ctx->slot];
    return tina__timer_disarm(ctx->shard, slot, ctx->self, (uint32_t)id, (uint32_t)(id >> 32));
}
