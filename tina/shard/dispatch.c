/*
 * dispatch.c -- running handlers: the next message, the handler call, the
 * effect it returns.
 *
 * Type by type, each type up to its budget per pass, the ready queue's
 * head gets its next message -- the shutdown notice, its pending call's
 * outcome, fired timers, DOWNs, the mailbox, and only then the resume a
 * yield asked for -- and its handler returns an effect: receive (park),
 * yield, done, crash, call, reply or io.  Notices, timers and DOWNs are
 * synthesized into s->synth and need no pool slot.
 *
 * The trap point is set once per type batch: a fault in a handler jumps
 * back to type_dispatch, which crashes the running isolate as if it had
 * returned tina_crash() and goes on with the batch.
 */
#include <string.h>

#include "shard.h"

static void call_fail(struct tina__shard *s, struct tina__type *t, uint32_t i, tina_result r) {
    struct tina__slot *slot = &t->slots[i];
    tina__slot_call(slot, TINA__CALL_FAILED);
    slot->call_note = (uint32_t)r;
    tina__slot_ready(s, t, i);
    s->stats.call_failed++;
}

static void effect_call(struct tina__shard *s, struct tina__type *t, uint32_t i,
                        const tina_effect *e) {
    struct tina__slot *slot = &t->slots[i];
    tina_handle self = s->ctx.self;
    s->stats.calls++;
    if (e->call.timeout_ns == 0) {
        call_fail(s, t, i, TINA_EINVAL);
        return;
    }
    /* The reply's slot is taken now, so that a reply never waits for room
     * (nor holds a channel up) when it comes: no slot, no call. */
    uint32_t reserved = tina__pool_alloc_user(&s->pool);
    if (reserved == TINA__NIL) {
        s->stats.pool_exhausted++;
        call_fail(s, t, i, TINA_EPOOL_EXHAUSTED);
        return;
    }
    uint64_t corr = ++s->corr_next;
    uint32_t timer = tina__timer_arm(s, slot, self, e->call.timeout_ns, 0, 0, TINA__TIMER_CALL, corr);
    if (timer == TINA__NIL) {
        tina__pool_free(&s->pool, reserved);
        call_fail(s, t, i, TINA_ETIMER_EXHAUSTED);
        return;
    }
    tina_result r = tina__request_send(s, e->call.to, e->call.tag, e->call.payload, e->call.size,
                                       corr);
    if (r != TINA_OK) {
        tina__pool_free(&s->pool, reserved);
        tina__timer_disarm_own(s, slot, self, timer);
        call_fail(s, t, i, r);
        return;
    }
    tina__slot_call(slot, TINA__CALL_WAITING);
    slot->call_note = reserved;
    slot->call_corr = corr;
    slot->call_timer = timer;
    slot->state = TINA__CALLING;
}

/* The call being handled (if m is one) ends unanswered: the runtime says
 * so now (SPEC 13) -- unless the handler deferred it, and its token
 * answers (tokens.c). */
static void call_unanswered(struct tina__shard *s, const tina_msg *m, tina_result r) {
    if (!s->ctx.deferred) tina__call_answer_failed(s, m, r);
}

static void effect_reply(struct tina__shard *s, const tina_msg *m, const tina_effect *e) {
    if (m->kind != TINA_MSG_CALL || m->corr == 0 || s->ctx.deferred) {
        s->stats.reply_invalid++;
        return;
    }
    if (tina__reply_send(s, m->from, e->reply.tag, e->reply.payload, e->reply.size, m->corr) ==
        TINA_OK)
        s->stats.replies++;
}

/* Parking in receive.  In a shutdown, an isolate that has had its notice
 * and has nothing left to handle is done. */
static inline void receive_park(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (TINA__LIKELY(slot->flags == 0)) { /* the common case: no notice, not draining */
        if (tina__slot_has_mail(slot)) {
            slot->state = TINA__READY;
            tina__queue_push(t, &t->ready, i);
        } else {
            slot->state = TINA__IDLE;
        }
        return;
    }
    if ((slot->flags & TINA__DRAINING) && !tina__slot_has_mail(slot)) {
        tina__isolate_exit(s, t, i, TINA__EXIT_DONE, 0);
        return;
    }
    tina__slot_park(t, i);
}

static void effect_apply(struct tina__shard *s, struct tina__type *t, uint32_t i,
                         const tina_effect *e, const tina_msg *m) {
    /* A callee that ends while handling a call, without replying: the
     * runtime knows the call failed, so it says so now (SPEC 13). */
    if (TINA__UNLIKELY(m->kind == TINA_MSG_CALL) && e->kind != TINA_EFFECT_REPLY &&
        e->kind != TINA_EFFECT_RECEIVE && e->kind != TINA_EFFECT_YIELD &&
        e->kind != TINA_EFFECT_CALL && e->kind != TINA_EFFECT_IO)
        call_unanswered(s, m, TINA_ESTALE);
    switch (e->kind) {
    case TINA_EFFECT_RECEIVE: {
        uint32_t generation = t->slots[i].generation;
        receive_park(s, t, i); /* a draining isolate may end here */
        if (TINA__UNLIKELY(t->slots[i].generation != generation)) call_unanswered(s, m, TINA_ESTALE);
        return;
    }
    case TINA_EFFECT_YIELD:
        t->slots[i].flags |= TINA__RESUME;
        tina__queue_push(t, &t->yielded, i);
        s->stats.yields++;
        return;
    case TINA_EFFECT_DONE:
        tina__isolate_exit(s, t, i, TINA__EXIT_DONE, 0);
        return;
    case TINA_EFFECT_CRASH:
        tina__isolate_exit(s, t, i, TINA__EXIT_CRASHED, e->crash.reason ? e->crash.reason : 1);
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

/* The message to hand the isolate next, in priority order: the shutdown
 * notice, the pending call's outcome, fired timers, the mailbox, and only
 * then, if nothing else waits, the resume a yield asked for (SPEC 13:
 * yield means "run me again soon", not "ignore my mail").  Notices and
 * timers are synthesized into s->synth; *pool_index is NIL for them. */
static __attribute__((noinline)) const tina_msg *
next_message_other(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->call == TINA__CALL_REPLIED) { /* the reply, in its reserved slot */
        uint32_t reply = slot->call_note;
        tina__slot_call(slot, TINA__CALL_NONE);
        slot->call_note = TINA__NIL;
        return &s->pool.msgs[reply];
    }
    tina_msg *m = &s->synth;
    m->from = 0;
    m->to = tina__slot_handle(t, i, slot->generation);
    m->corr = 0;
    m->kind = TINA_MSG_SYSTEM;
    m->size = 0;
    if (slot->call == TINA__CALL_IO_DONE) {
        tina__io_deliver(s, slot, m);
    } else if (slot->call == TINA__CALL_TIMED_OUT) {
        tina__slot_call(slot, TINA__CALL_NONE);
        slot->call_note = TINA__NIL;
        m->tag = TINA_TAG_CALL_TIMEOUT;
    } else if (slot->call == TINA__CALL_FAILED) {
        int32_t result = (int32_t)slot->call_note;
        tina__slot_call(slot, TINA__CALL_NONE);
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
            tina__timer_hand_over(s, slot, m);
        } else if (slot->downs != TINA__NIL) {
            tina__monitor_down_deliver(&s->monitors, slot, &t->reach[i].watching, m);
        } else if (slot->mbox_head != TINA__NIL) {
            return &s->pool.msgs[tina__mailbox_pop(&s->pool, slot)];
        } else if (resume) {
            m->tag = TINA_TAG_RESUME;
        } else {
            return NULL; /* woken by a timer cancelled since */
        }
    }
    return m;
}

/* The pool slot of a message handed to a handler, or NIL: a synthesized
 * notice (s->synth) has none. */
static inline uint32_t message_pool_index(const struct tina__shard *s, const tina_msg *m) {
    if (m == NULL || m == &s->synth) return TINA__NIL;
    uint32_t index = (uint32_t)(m - s->pool.msgs);
    TINA_ASSERT(index < s->pool.slots);
    return index;
}

static inline __attribute__((always_inline)) const tina_msg *
next_message(struct tina__shard *s, struct tina__type *t, uint32_t i, uint32_t *pool_index) {
    struct tina__slot *slot = &t->slots[i];
    /* Nothing but mail: no flag that asks for a notice, and nothing
     * pending -- no call outcome, no fired timer, no DOWN. */
    TINA_ASSERT_DEBUG(((slot->flags & TINA__PENDING) != 0) == tina__slot_has_pending(slot));
    if (TINA__LIKELY(!(slot->flags & (TINA__RESUME | TINA__SHUTDOWN | TINA__PENDING)))) {
        if (TINA__UNLIKELY(slot->mbox_head == TINA__NIL)) return NULL; /* timer cancelled */
        *pool_index = tina__mailbox_pop(&s->pool, slot);
        return &s->pool.msgs[*pool_index];
    }
    const tina_msg *m = next_message_other(s, t, i);
    *pool_index = message_pool_index(s, m);
    return m;
}

/* A strategy tore this isolate down while its handler ran (an escalation
 * from a spawn inside it): its effect is dropped and the teardown happens
 * now, with the strategy's restart rule (supervise.c: supervisor_busy). */
static void doomed_exit(struct tina__shard *s, struct tina__type *t, uint32_t i,
                        const tina_msg *m) {
    if (m != NULL) call_unanswered(s, m, TINA_ESTALE);
    uint32_t busy = s->supervisor_busy;
    s->supervisor_busy = 1;
    tina__isolate_exit(s, t, i, TINA__EXIT_TERMINATED, 0);
    s->supervisor_busy = busy;
}

/* One handler call: the next message of the ready queue's head.  `traced`
 * is a constant (type_dispatch): outside the simulator the trace hook costs
 * no test per message. */
static inline __attribute__((always_inline)) void dispatch_one(struct tina__shard *s,
                                                               struct tina__type *t, int traced) {
    uint32_t i = tina__list_pop(t, &t->ready);
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT_DEBUG((slot->flags & (TINA__QUEUED | TINA__RUNNING)) == TINA__QUEUED);
    slot->flags ^= TINA__QUEUED | TINA__RUNNING; /* off the queue, running */
    uint32_t pool_index;
    const tina_msg *m = next_message(s, t, i, &pool_index);
    if (TINA__UNLIKELY(m == NULL)) { /* woken by a timer cancelled since */
        slot->flags &= (uint8_t)~TINA__RUNNING;
        tina__slot_park(t, i);
        s->budget_left--; /* counted, so no state can make a pass spin */
        return;
    }
    s->ctx.slot = i; /* ctx.type is the batch's (type_dispatch) */
    s->ctx.self = tina__slot_handle(t, i, slot->generation);
    s->ctx.msg = m; /* a trap frees it if it is a pool slot (dispatch_trapped) */
    s->ctx.deferred = 0;
    atomic_store_explicit(&s->running, s->ctx.self, memory_order_relaxed); /* for the watchdog */
    s->trap.armed = 1;
    tina_effect e = t->handler(tina__slot_struct(t, i), &s->ctx, m);
    if (traced) s->trace(s, m, &e);
    uint8_t flags = (uint8_t)(slot->flags & ~TINA__RUNNING);
    slot->flags = flags;
    if (TINA__LIKELY(flags == 0 && e.kind == TINA_EFFECT_RECEIVE)) {
        /* The common case, receive_park's first branch: no notice, not
         * draining, so the isolate cannot end here; nothing pending, so
         * only its mailbox says whether it runs again. */
        if (TINA__LIKELY(slot->mbox_count == 0)) {
            slot->state = TINA__IDLE;
        } else {
            slot->state = TINA__READY;
            tina__queue_push(t, &t->ready, i);
        }
    } else if (TINA__UNLIKELY(flags & TINA__DOOMED)) {
        doomed_exit(s, t, i, s->ctx.msg); /* m, from memory: no register kept for it */
    } else {
        effect_apply(s, t, i, &e, s->ctx.msg); /* copies user payloads: still armed */
    }
    s->trap.armed = 0;
    if (pool_index != TINA__NIL) tina__pool_free(&s->pool, pool_index);
    s->budget_left--;
}

/* A handler faulted: the signal handler jumped here.  Crash the isolate
 * that was running, as if it had returned tina_crash(). */
static void dispatch_trapped(struct tina__shard *s, int sig) {
    struct tina__type *t = s->ctx.type;
    uint32_t running = message_pool_index(s, s->ctx.msg);
    s->ctx.msg = NULL;
    const tina_msg *m = running != TINA__NIL ? &s->pool.msgs[running] : NULL;
    if (t->slots[s->ctx.slot].flags & TINA__DOOMED) {
        doomed_exit(s, t, s->ctx.slot, m);
    } else {
        if (m != NULL) call_unanswered(s, m, TINA_ESTALE);
        tina__isolate_exit(s, t, s->ctx.slot, TINA__EXIT_CRASHED, TINA_CRASH_SIGNAL_BASE + (uint32_t)sig);
    }
    if (running != TINA__NIL) tina__pool_free(&s->pool, running);
    s->budget_left--;
}

/* The batch's loop, out of type_dispatch's line: a function that calls
 * sigsetjmp keeps what lives across it in memory, this one in registers. */
static __attribute__((noinline)) void dispatch_run(struct tina__shard *s, struct tina__type *t) {
    while (s->budget_left > 0 && t->ready.head != TINA__NIL) dispatch_one(s, t, 0);
}

static __attribute__((noinline)) void dispatch_run_traced(struct tina__shard *s,
                                                          struct tina__type *t) {
    while (s->budget_left > 0 && t->ready.head != TINA__NIL) dispatch_one(s, t, 1);
}

/* One type's batch: up to its budget of handler calls.  A quarantine
 * raised meanwhile cuts the budget (tina__dispatch_cut), so the loop tests
 * the budget and the queue alone. */
static void type_dispatch(struct tina__shard *s, struct tina__type *t) {
    sigjmp_buf point;
    tina__list_append(t, &t->ready, &t->yielded);
    if (t->ready.head == TINA__NIL || s->quarantine_pending) return;
    s->budget_left = (int32_t)t->budget; /* at most 1024 x 2^20 (spec.c): it fits */
    s->budget_cut = 0;
    s->ctx.type = t; /* an init nested in a handler restores it */
    s->trap.jmp = &point;
    int sig = TINA__TRAP_POINT(point); /* once per batch, not per message */
    if (TINA__UNLIKELY(sig != 0)) dispatch_trapped(s, sig);
    if (TINA__LIKELY(s->trace == NULL)) dispatch_run(s, t);
    else dispatch_run_traced(s, t);
    /* handler calls, trapped ones included */
    uint32_t ran = (uint32_t)((int32_t)t->budget - s->budget_left - s->budget_cut);
    s->stats.dispatched += ran;
    if (ran) s->did_work = 1;
    s->trap.jmp = NULL;
    s->ctx.msg = NULL;
    atomic_store_explicit(&s->running, 0, memory_order_relaxed);
}

void tina__shard_dispatch(struct tina__shard *s) {
    for (uint32_t t = 0; t < s->type_count; t++) type_dispatch(s, &s->types[t]);
}
