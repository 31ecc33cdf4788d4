/*
 * test_call.c -- call, reply, timeout, late reply, failed calls; locally and
 * across shards.
 *
 * A call parks the caller until the matching reply (kind TINA_MSG_REPLY,
 * same corr) or its timeout (TINA_TAG_CALL_TIMEOUT); other messages wait in
 * its mailbox and the reply goes ahead of them.  A reply after the timeout is
 * discarded and counted on the caller's shard.  A request that cannot be sent
 * wakes the caller at once with TINA_TAG_CALL_FAILED and the result code.
 *
 * Call and reply payloads point into the isolate's struct: they are copied
 * after the handler returns, so a handler's locals would be gone by then.
 */
#include "helpers.h"

enum {
    TAG_REQ = H_TAG_FIRST,
    TAG_RSP,
    TAG_OTHER,
    TAG_FINISH,
    TAG_FILL,
    TAG_PLAIN,
};

typedef struct plain {
    uint64_t unused;
} plain;

typedef struct caller_state {
    uint64_t out;      /* call payload */
    uint64_t seq;
    uint64_t prev_corr;
    uint64_t called_at_ns;
    uint64_t called_at_pass;
    uint8_t big[TINA_PAYLOAD_MAX + 8];
} caller_state;

typedef struct callee_state {
    uint64_t out; /* reply payload */
} callee_state;

/* Receives call requests and never answers them. */
static int black_hole_requests;

static tina_effect black_hole(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_CALL);
    black_hole_requests++;
    return tina_receive();
}

/* ------------------------------------------------------------------------ */
/* Round trips: locally and across shards.                                    */
/* ------------------------------------------------------------------------ */

#define RT_CALLS 10000ull
static uint64_t rt_last_corr; /* written by the callee, read by the caller after the reply */
static tina_handle rt_caller_handle;
static uint64_t rt_replies;
static int rt_finished;

static tina_effect rt_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller_state *s = self;
    tina_handle callee = tina_child_handle(ctx, 1, tina_shard_count(ctx) - 1);
    if (msg->tag == H_TAG_KICK) {
        rt_caller_handle = tina_self(ctx);
    } else {
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_REPLY);
        H_CHECK_EQ(ctx, msg->tag, TAG_RSP);
        H_CHECK_EQ(ctx, msg->from, callee);
        H_CHECK_EQ(ctx, msg->to, tina_self(ctx));
        H_CHECK(ctx, msg->corr != 0);
        H_CHECK_EQ(ctx, msg->corr, rt_last_corr);
        H_CHECK(ctx, msg->corr != s->prev_corr);
        H_CHECK_EQ(ctx, msg->size, sizeof(uint64_t));
        H_CHECK_EQ(ctx, h_u64(msg), s->out * 3 + 1);
        s->prev_corr = msg->corr;
        rt_replies++;
        if (++s->seq == RT_CALLS) {
            const tina_shard_stats *st = tina_ctx_stats(ctx);
            H_CHECK_EQ(ctx, st->calls, RT_CALLS);
            H_CHECK_EQ(ctx, st->call_timeouts, 0);
            rt_finished = 1;
            tina_request_stop(ctx);
            return tina_receive();
        }
    }
    s->out = s->seq * 7 + 5;
    return tina_call(callee, TAG_REQ, &s->out, sizeof(s->out), H_MS(10000));
}

static tina_effect rt_callee(void *self, tina_ctx *ctx, const tina_msg *msg) {
    callee_state *s = self;
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_CALL);
    H_CHECK_EQ(ctx, msg->tag, TAG_REQ);
    H_CHECK(ctx, msg->corr != 0);
    H_CHECK_EQ(ctx, msg->from, rt_caller_handle);
    H_CHECK_EQ(ctx, tina_sender(ctx), rt_caller_handle);
    H_CHECK_EQ(ctx, msg->size, sizeof(uint64_t));
    rt_last_corr = msg->corr;
    s->out = h_u64(msg) * 3 + 1;
    return tina_reply(TAG_RSP, &s->out, sizeof(s->out));
}

static void rt_run(uint32_t shards) {
    const tina_type_spec types[] = {
        H_TYPE("caller", caller_state, 1, 0, 1, h_kick_init, rt_caller),
        H_TYPE("callee", callee_state, 1, 0, 1, NULL, rt_callee),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, shards - 1)};
    tina_spec spec = h_spec(types, 2, children, 2, shards);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, rt_finished, 1));
    cr_assert(eq(u64, rt_replies, RT_CALLS));
    tina_shard_stats caller = h_stats(rt, 0), callee = h_stats(rt, shards - 1);
    cr_assert(eq(u64, caller.calls, RT_CALLS));
    cr_assert(eq(u64, caller.call_timeouts, 0));
    cr_assert(eq(u64, caller.call_failed, 0));
    cr_assert(eq(u64, caller.late_replies, 0));
    cr_assert(eq(u64, callee.replies, RT_CALLS));
    cr_assert(eq(u64, callee.reply_invalid, 0));
    if (shards == 2) {
        cr_assert(eq(u64, h_channel(rt, 0, 1).delivered, RT_CALLS));
        cr_assert(eq(u64, h_channel(rt, 1, 0).delivered, RT_CALLS));
        h_assert_channels_balance(rt);
    }
    /* Each reply cancelled its call's timeout. */
    for (uint32_t s = 0; s < shards; s++) h_assert_shard_clean(rt, &spec, s);
    tina_destroy(rt);
}

Test(call, local_call_and_reply, .timeout = 60) { rt_run(1); }

Test(call, cross_shard_call_and_reply, .timeout = 60) { rt_run(2); }

/* ------------------------------------------------------------------------ */
/* Timeouts: locally and across shards; the caller can call again after.     */
/* ------------------------------------------------------------------------ */

#define TO_TIMEOUT_NS H_MS(5)
#define TO_RESOLUTION_NS 100000ull
static int to_timeouts;
static int to_replies;
static uint64_t to_elapsed_ns;

static tina_effect to_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller_state *s = self;
    uint32_t peer_shard = tina_shard_count(ctx) - 1;
    if (msg->tag == H_TAG_KICK) {
        s->called_at_ns = tina_now_ns(ctx);
        return tina_call(tina_child_handle(ctx, 1, peer_shard), TAG_REQ, NULL, 0, TO_TIMEOUT_NS);
    }
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SYSTEM);
        to_timeouts++;
        to_elapsed_ns = tina_now_ns(ctx) - s->called_at_ns;
        H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->call_timeouts, 1);
        /* The caller is free again: a call to a live callee gets its reply. */
        s->out = 11;
        return tina_call(tina_child_handle(ctx, 2, peer_shard), TAG_REQ, &s->out, sizeof(s->out),
                         H_MS(10000));
    }
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_REPLY);
    H_CHECK_EQ(ctx, h_u64(msg), 34);
    to_replies++;
    tina_request_stop(ctx);
    return tina_receive();
}

static void to_run(uint32_t shards) {
    const tina_type_spec types[] = {
        H_TYPE("caller", caller_state, 1, 0, 1, h_kick_init, to_caller),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, black_hole),
        H_TYPE("callee", callee_state, 1, 0, 1, NULL, rt_callee),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, shards - 1),
                                        H_CHILD(2, shards - 1)};
    tina_spec spec = h_spec(types, 3, children, 3, shards);
    spec.timer_resolution_ns = TO_RESOLUTION_NS;
    tina_runtime *rt = h_create(&spec);
    rt_caller_handle = tina_runtime_child_handle(rt, 0, 0);
    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(int, to_timeouts, 1));
    cr_assert(eq(int, to_replies, 1));
    cr_assert(eq(int, black_hole_requests, 1));
    cr_assert(ge(u64, to_elapsed_ns, TO_TIMEOUT_NS - TO_RESOLUTION_NS),
              "woke after %" PRIu64 " ns", to_elapsed_ns);
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.calls, 2));
    cr_assert(eq(u64, s0.call_timeouts, 1));
    cr_assert(eq(u64, s0.late_replies, 0));
    h_assert_channels_balance(rt);
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

Test(call, local_timeout_wakes_caller, .timeout = 60) { to_run(1); }

Test(call, cross_shard_timeout_wakes_caller, .timeout = 60) { to_run(2); }

/* ------------------------------------------------------------------------ */
/* Late replies: the slow callee answers after the caller's timeout.          */
/*                                                                            */
/* The slow callee first parks in its own call to a black hole (30 ms), so    */
/* the caller's request (3 ms) waits in its mailbox; when the slow callee's   */
/* call times out it answers the caller, whose call is long gone.             */
/* ------------------------------------------------------------------------ */

static int late_caller_messages; /* after the kick */
static int late_caller_timeouts;
static uint64_t late_seen_by_caller;
static int late_finished;

static tina_effect late_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    uint32_t peer_shard = tina_shard_count(ctx) - 1;
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 1, peer_shard), TAG_REQ, NULL, 0, H_MS(3));
    late_caller_messages++;
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        late_caller_timeouts++;
        return tina_receive();
    }
    if (msg->tag == TAG_FINISH) {
        /* Sent by the slow callee after its reply, so the reply was handled. */
        late_seen_by_caller = tina_ctx_stats(ctx)->late_replies;
        late_finished = 1;
        tina_request_stop(ctx);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "caller got tag %#x kind %u", msg->tag, msg->kind);
    return tina_receive();
}

static tina_effect late_slow(void *self, tina_ctx *ctx, const tina_msg *msg) {
    callee_state *s = self;
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 2, tina_shard_id(ctx)), TAG_REQ, NULL, 0, H_MS(30));
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) return tina_receive();
    if (msg->kind == TINA_MSG_CALL) {
        tina_result r = tina_send(ctx, tina_self(ctx), TAG_FINISH, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        s->out = 1;
        return tina_reply(TAG_RSP, &s->out, sizeof(s->out));
    }
    if (msg->tag == TAG_FINISH) {
        /* Handled after the reply went out: tell the caller. */
        tina_result r = tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_FINISH, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "slow callee got tag %#x kind %u", msg->tag, msg->kind);
    return tina_receive();
}

static void late_run(uint32_t shards) {
    const tina_type_spec types[] = {
        H_TYPE("caller", plain, 1, 0, 1, h_kick_init, late_caller),
        H_TYPE("slow", callee_state, 1, 0, 1, h_kick_init, late_slow),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, black_hole),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, shards - 1),
                                        H_CHILD(2, shards - 1)};
    tina_spec spec = h_spec(types, 3, children, 3, shards);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, late_finished, 1));
    cr_assert(eq(int, late_caller_timeouts, 1));
    cr_assert(eq(int, late_caller_messages, 2), "the caller saw its timeout and the finish only");
    cr_assert(eq(u64, late_seen_by_caller, 1));
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.late_replies, 1));
    if (shards == 1) {
        cr_assert(eq(u64, s0.call_timeouts, 2)); /* the caller's and the slow callee's */
    } else {
        cr_assert(eq(u64, s0.call_timeouts, 1));
        cr_assert(eq(u64, h_stats(rt, 1).call_timeouts, 1));
        cr_assert(eq(u64, s0.dropped_on_arrival, 1));
        cr_assert(eq(u64, h_channel(rt, 1, 0).dropped, 1));
        h_assert_channels_balance(rt);
    }
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

Test(call, local_late_reply_is_discarded_and_counted, .timeout = 60) { late_run(1); }

Test(call, cross_shard_late_reply_is_discarded_and_counted, .timeout = 60) { late_run(2); }

/* ------------------------------------------------------------------------ */
/* While parked, other messages wait; the reply goes ahead of them.           */
/* ------------------------------------------------------------------------ */

#define QUEUE_OTHERS 3
static uint16_t queue_order[8];
static uint8_t queue_kinds[8];
static int queue_count;

static tina_effect queue_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 2, tina_shard_count(ctx) - 1), TAG_REQ, NULL, 0,
                         H_MS(10000));
    if (queue_count < 8) {
        queue_kinds[queue_count] = msg->kind;
        queue_order[queue_count] = msg->tag == TAG_OTHER ? (uint16_t)(TAG_OTHER + h_u64(msg))
                                                         : msg->tag;
    }
    if (++queue_count == 1 + QUEUE_OTHERS) tina_request_stop(ctx);
    return tina_receive();
}

/* Local variant: other isolate sends while the caller is parked. */
static tina_effect queue_other(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    for (uint64_t i = 0; i < QUEUE_OTHERS; i++) {
        tina_result r = h_send_u64(ctx, tina_child_handle(ctx, 0, 0), TAG_OTHER, i);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    return tina_receive();
}

/* The callee answers only once its own call to the black hole timed out. */
static tina_effect queue_slow(void *self, tina_ctx *ctx, const tina_msg *msg) {
    callee_state *s = self;
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 3, tina_shard_id(ctx)), TAG_REQ, NULL, 0, H_MS(5));
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) return tina_receive();
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_CALL);
    s->out = 0;
    return tina_reply(TAG_RSP, &s->out, sizeof(s->out));
}

static void queue_assert_order(void) {
    cr_assert(eq(int, queue_count, 1 + QUEUE_OTHERS));
    cr_assert(eq(u32, queue_kinds[0], TINA_MSG_REPLY), "the reply comes first");
    cr_assert(eq(u32, queue_order[0], TAG_RSP));
    for (int i = 0; i < QUEUE_OTHERS; i++) {
        cr_assert(eq(u32, queue_kinds[1 + i], TINA_MSG_SEND));
        cr_assert(eq(u32, queue_order[1 + i], TAG_OTHER + i), "queued message %d", i);
    }
}

Test(call, parked_caller_keeps_messages_queued_and_gets_the_reply_first, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("caller", plain, 1, 0, 1, h_kick_init, queue_caller),
        H_TYPE("other", plain, 1, 0, 1, h_kick_init, queue_other),
        H_TYPE("slow", callee_state, 1, 0, 1, h_kick_init, queue_slow),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, black_hole),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 0),
                                        H_CHILD(3, 0)};
    tina_spec spec = h_spec(types, 4, children, 4, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    queue_assert_order();
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* Cross-shard variant: the callee sends three messages, then replies; all
 * four are published in one batch and the reply still comes first. */
static tina_effect queue_remote_callee(void *self, tina_ctx *ctx, const tina_msg *msg) {
    callee_state *s = self;
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_CALL);
    for (uint64_t i = 0; i < QUEUE_OTHERS; i++) {
        tina_result r = h_send_u64(ctx, msg->from, TAG_OTHER, i);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    s->out = 0;
    return tina_reply(TAG_RSP, &s->out, sizeof(s->out));
}

static tina_effect unused_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    h_fail(ctx, __FILE__, __LINE__, "unexpected tag %#x", msg->tag);
    return tina_receive();
}

Test(call, reply_overtakes_queued_messages_across_shards, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("caller", plain, 1, 0, 1, h_kick_init, queue_caller),
        H_TYPE("unused", plain, 1, 0, 1, NULL, unused_handler),
        H_TYPE("callee", callee_state, 1, 0, 1, NULL, queue_remote_callee),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 1)};
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    queue_assert_order();
    h_assert_channels_balance(rt);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A request that cannot be sent wakes the caller at once with the result.    */
/* ------------------------------------------------------------------------ */

enum { FAIL_STEPS = 6 };
static const int fail_expected[FAIL_STEPS] = {
    TINA_EHANDLE, TINA_EHANDLE, TINA_ERESERVED_TAG, TINA_ETOO_BIG, TINA_ESTALE, TINA_EMAILBOX_FULL,
};
static int fail_results[FAIL_STEPS];
static int fail_step;
static uint64_t fail_max_passes;

static tina_effect fail_next_call(caller_state *s, tina_ctx *ctx) {
    tina_handle target = tina_child_handle(ctx, 1, 0);
    s->called_at_pass = h_passes(ctx);
    s->called_at_ns = tina_now_ns(ctx);
    switch (fail_step) {
    case 0: return tina_call(TINA_HANDLE_NONE, TAG_REQ, NULL, 0, H_MS(10000));
    case 1: return tina_call(tina_handle_make(5, 0, 0, 1), TAG_REQ, NULL, 0, H_MS(10000));
    case 2: return tina_call(target, TINA_TAG_SHUTDOWN, NULL, 0, H_MS(10000));
    case 3: return tina_call(target, TAG_REQ, s->big, TINA_PAYLOAD_MAX + 1, H_MS(10000));
    case 4: return tina_call(tina_child_handle(ctx, 2, 0), TAG_REQ, NULL, 0, H_MS(10000));
    default: {
        /* Fill the target's one-message mailbox first. */
        tina_result r = tina_send(ctx, target, TAG_FILL, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_call(target, TAG_REQ, NULL, 0, H_MS(10000));
    }
    }
}

static tina_effect fail_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller_state *s = self;
    if (msg->tag != H_TAG_KICK) {
        H_CHECK_EQ(ctx, msg->tag, TINA_TAG_CALL_FAILED);
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SYSTEM);
        H_CHECK(ctx, msg->size >= sizeof(int32_t));
        uint64_t passes = h_passes(ctx) - s->called_at_pass;
        if (passes > fail_max_passes) fail_max_passes = passes;
        H_CHECK(ctx, tina_now_ns(ctx) - s->called_at_ns < H_MS(5000));
        if (fail_step < FAIL_STEPS) fail_results[fail_step] = h_i32(msg);
        if (++fail_step == FAIL_STEPS) {
            tina_request_stop(ctx);
            return tina_receive();
        }
    }
    return fail_next_call(s, ctx);
}

static int fail_target_fills;

static tina_effect fail_target(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag != TAG_FILL)
        h_fail(ctx, __FILE__, __LINE__, "a failed request arrived: tag %#x", msg->tag);
    fail_target_fills++;
    return tina_receive();
}

static uint32_t fail_dead_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(args);
    H_UNUSED(args_size);
    return 1; /* dead from the start: its boot handle is stale */
}

Test(call, unsendable_request_fails_at_once_with_the_result, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("caller", caller_state, 1, 0, 1, h_kick_init, fail_caller),
        H_TYPE("target", plain, 1, 1, 1, NULL, fail_target),
        H_TYPE("dead", plain, 1, 0, 1, fail_dead_init, unused_handler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 0)};
    tina_spec spec = h_spec(types, 3, children, 3, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, fail_step, FAIL_STEPS));
    for (int i = 0; i < FAIL_STEPS; i++)
        cr_assert(eq(int, fail_results[i], fail_expected[i]), "step %d: got %s, expected %s", i,
                  tina_result_name(fail_results[i]), tina_result_name(fail_expected[i]));
    cr_assert(le(u64, fail_max_passes, 2), "woken at once, not after the timeout");
    cr_assert(eq(int, fail_target_fills, 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.calls, FAIL_STEPS));
    cr_assert(eq(u64, s.call_failed, FAIL_STEPS));
    cr_assert(eq(u64, s.call_timeouts, 0));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A reply with no call to answer is counted; the isolate carries on.         */
/* ------------------------------------------------------------------------ */

static int invalid_reply_seen;

static tina_effect invalid_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_handle to = tina_child_handle(ctx, 1, 0);
        tina_result r = tina_send(ctx, to, TAG_PLAIN, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_send(ctx, to, TAG_FINISH, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    invalid_reply_seen++; /* the bogus reply must never arrive here */
    h_fail(ctx, __FILE__, __LINE__, "sender got tag %#x kind %u", msg->tag, msg->kind);
    return tina_receive();
}

static int invalid_replier_messages;

static tina_effect invalid_replier(void *self, tina_ctx *ctx, const tina_msg *msg) {
    callee_state *s = self;
    invalid_replier_messages++;
    if (msg->tag == TAG_PLAIN) {
        s->out = 5;
        return tina_reply(TAG_RSP, &s->out, sizeof(s->out)); /* not a call */
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_FINISH);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->reply_invalid, 1);
    tina_request_stop(ctx);
    return tina_receive();
}

Test(call, reply_without_a_call_is_counted_invalid, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, invalid_sender),
        H_TYPE("replier", callee_state, 1, 0, 1, NULL, invalid_replier),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, invalid_replier_messages, 2));
    cr_assert(eq(int, invalid_reply_seen, 0));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.reply_invalid, 1));
    cr_assert(eq(u64, s.sent, 3)); /* kick and the two sends; no reply went out */
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A call timeout gets through while the caller's own timers keep firing.    */
/*                                                                            */
/* The caller sets a fast periodic timer, then parks in a call that nobody   */
/* answers.  Its timer fires while it is parked (a parked caller only wakes  */
/* for the reply or the timeout), with a tiny system region.  The call       */
/* timeout must still wake the caller: timeouts always get through.          */
/* ------------------------------------------------------------------------ */

enum { TAG_TICK = 0x60 };
static int sysfull_timeouts;
static int sysfull_ticks_before_timeout;
static tina_timer_id sysfull_periodic;

static tina_effect sysfull_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_result r = tina_timer_set(ctx, 100000, 100000, TAG_TICK, &sysfull_periodic);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_call(tina_child_handle(ctx, 1, 0), TAG_REQ, NULL, 0, H_MS(5));
    }
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SYSTEM);
        sysfull_timeouts++;
        tina_result r = tina_timer_cancel(ctx, sysfull_periodic);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        tina_request_stop(ctx);
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_TICK);
    if (sysfull_timeouts == 0) sysfull_ticks_before_timeout++;
    return tina_receive();
}

Test(call, timeout_gets_through_while_the_callers_timers_fire, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("caller", plain, 1, 0, 1, h_kick_init, sysfull_caller),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, black_hole),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    spec.pool_system_slots = 4;
    spec.timer_resolution_ns = 100000;
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 3000); /* nothing else runs: 3 s without a dispatch is a hang */
    h_assert_no_failures();
    cr_assert(eq(int, sysfull_timeouts, 1));
    cr_assert(eq(int, sysfull_ticks_before_timeout, 0), "a parked caller was woken by its timer");
    cr_assert(eq(u64, h_stats(rt, 0).call_timeouts, 1));
    tina_destroy(rt);
}
