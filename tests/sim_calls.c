/*
 * sim_calls.c -- a call is never left to its timeout when the runtime
 * knows it failed (SPEC 6 and 13).
 *
 *   - a request that crosses to a dead isolate, or to one whose mailbox is
 *     full on arrival, is answered by the receiving shard with
 *     TINA_TAG_CALL_FAILED carrying the reason;
 *   - so is one left unanswered because its callee ended: queued in the
 *     mailbox it lost, or in the very handler call that crashed;
 *   - a graceful shutdown cuts a pending call short (TINA_ESHUTDOWN), so
 *     the caller gets its shutdown notice and drains, instead of keeping
 *     the shutdown waiting for the call's timeout.
 * Every call here has a 50 ms timeout; an outcome must come within 1 ms.
 */
#include "helpers.h"

enum { TAG_REQ = H_TAG_FIRST, TAG_FILL, TAG_LATER, TAG_BYE };
#define CALL_TIMEOUT_NS 50000000ull
#define PROMPT_NS 1000000ull

enum call_case { TO_DEAD, TO_FULL, QUEUED_WHEN_CALLEE_DIES, CALLEE_CRASHES_HANDLING };
static enum call_case g_case;
static int32_t g_result;
static uint32_t g_outcomes, g_timeouts;
static uint64_t g_waited_ns;

typedef struct caller {
    uint32_t step;
    uint64_t called_at_ns;
} caller;

static tina_handle call_target(tina_ctx *ctx) {
    if (g_case == TO_DEAD) return tina_handle_make(1, 2, 0, 9); /* a stale generation */
    return tina_child_handle(ctx, 1, 1);
}

/* Waits for the callee's shard to be ready, then calls once. */
static tina_effect call_maker(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller *c = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 200000, 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER && c->step++ == 0) {
        c->called_at_ns = tina_now_ns(ctx);
        return tina_call(call_target(ctx), TAG_REQ, NULL, 0, CALL_TIMEOUT_NS);
    }
    g_waited_ns = tina_now_ns(ctx) - c->called_at_ns;
    g_outcomes++;
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) g_timeouts++;
    if (msg->tag == TINA_TAG_CALL_FAILED) memcpy(&g_result, msg->payload, sizeof(g_result));
    return tina_receive();
}

/* On shard 1, mailbox of one: it parks in a long call to `silent` and its
 * mailbox is filled by `filler`; or it dies with the request queued; or it
 * crashes handling it. */
static tina_effect callee(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0 && g_case != CALLEE_CRASHES_HANDLING) {
        /* Dying with the request queued: its own call ends (5 ms) before the caller's. */
        uint64_t timeout = g_case == QUEUED_WHEN_CALLEE_DIES ? 5000000 : 10 * CALL_TIMEOUT_NS;
        return tina_call(tina_child_handle(ctx, 3, 1), TAG_REQ, NULL, 0, timeout);
    }
    if (msg->tag == TINA_TAG_CALL_TIMEOUT && g_case == QUEUED_WHEN_CALLEE_DIES)
        return tina_crash(6); /* the caller's request is in its mailbox */
    if (msg->kind == TINA_MSG_CALL && g_case == CALLEE_CRASHES_HANDLING) return tina_crash(6);
    return tina_receive();
}

static tina_effect filler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    if (g_case == TO_FULL) (void)tina_send(ctx, tina_child_handle(ctx, 1, 1), TAG_FILL, NULL, 0);
    return tina_receive();
}

/* Never answers. */
static tina_effect silent(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

static tina_sim_report calls_run(enum call_case what) {
    g_case = what;
    g_result = 0;
    g_outcomes = g_timeouts = 0;
    g_waited_ns = 0;
    static tina_type_spec types[4];
    types[0] = (tina_type_spec)H_TYPE("caller", caller, 1, 4, 1, h_kick_init, call_maker);
    types[1] = (tina_type_spec)H_TYPE("callee", uint32_t, 1, 1, 1, h_kick_init, callee);
    types[2] = (tina_type_spec)H_TYPE("filler", uint32_t, 1, 4, 1, h_kick_init, filler);
    types[3] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 4, 1, NULL, silent);
    static tina_child_spec children[4];
    children[0] = (tina_child_spec)H_CHILD(0, 0);
    children[1] = (tina_child_spec)H_CHILD(1, 1);
    children[2] = (tina_child_spec)H_CHILD(2, 1);
    children[3] = (tina_child_spec)H_CHILD(3, 1);
    tina_spec spec = h_spec(types, 4, children, 4, 2);
    tina_sim_config config = {.seed = 9, .round_limit = 1000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    return r;
}

static void expect_failed(enum call_case what, int32_t result, const char *name) {
    tina_sim_report r = calls_run(what);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s: %s", name, r.failure);
    cr_assert(eq(u32, g_outcomes, 1), "%s: one outcome", name);
    cr_assert(eq(u32, g_timeouts, 0), "%s: not the timeout", name);
    cr_assert(eq(i32, g_result, result), "%s: %s", name, tina_result_name(g_result));
    cr_assert(le(u64, g_waited_ns, PROMPT_NS), "%s: answered after %llu ns", name,
              (unsigned long long)g_waited_ns);
}

Test(sim_calls, a_request_to_a_dead_isolate_on_another_shard_fails_at_once, .timeout = 30) {
    expect_failed(TO_DEAD, TINA_ESTALE, "dead");
}

Test(sim_calls, a_request_that_finds_a_full_mailbox_on_arrival_fails_at_once, .timeout = 30) {
    expect_failed(TO_FULL, TINA_EMAILBOX_FULL, "full");
}

Test(sim_calls, a_request_in_the_mailbox_of_a_callee_that_dies_fails_at_once, .timeout = 30) {
    tina_sim_report r = calls_run(QUEUED_WHEN_CALLEE_DIES);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(u32, g_outcomes, 1));
    cr_assert(eq(u32, g_timeouts, 0), "not the caller's timeout");
    cr_assert(eq(i32, g_result, TINA_ESTALE), "%s", tina_result_name(g_result));
}

Test(sim_calls, a_request_whose_callee_crashes_handling_it_fails_at_once, .timeout = 30) {
    expect_failed(CALLEE_CRASHES_HANDLING, TINA_ESTALE, "crashes");
}

/* ---- a graceful shutdown cuts a pending call short ------------------------ */

static uint32_t g_cut, g_notices_after;

static tina_effect long_caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0)
        return tina_call(tina_child_handle(ctx, 1, 0), TAG_REQ, NULL, 0, 10000000000ull);
    if (msg->tag == TINA_TAG_CALL_FAILED) {
        int32_t r;
        memcpy(&r, msg->payload, sizeof(r));
        if (r == TINA_ESHUTDOWN) g_cut++;
    }
    if (msg->tag == TINA_TAG_SHUTDOWN && g_cut) g_notices_after++;
    return tina_receive();
}

static tina_effect shutter(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000, 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER && (*step)++ == 0) tina_request_shutdown(ctx);
    return tina_receive();
}

Test(sim_calls, a_graceful_shutdown_cuts_a_pending_call_short, .timeout = 30) {
    g_cut = g_notices_after = 0;
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("caller", uint32_t, 1, 4, 1, h_kick_init, long_caller);
    types[1] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 4, 1, NULL, silent);
    types[2] = (tina_type_spec)H_TYPE("shutter", uint32_t, 1, 4, 1, h_kick_init, shutter);
    static tina_child_spec children[3];
    for (uint32_t k = 0; k < 3; k++) children[k] = (tina_child_spec)H_CHILD(k, 0);
    tina_spec spec = h_spec(types, 3, children, 3, 1);
    spec.shutdown_timeout_ns = 100000000; /* 100 ms, against a 10 s call */
    tina_sim_config config = {.seed = 10, .round_limit = 1000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN), "%s", r.failure);
    cr_assert(eq(u32, g_cut, 1), "the call ended with TINA_ESHUTDOWN");
    cr_assert(eq(u32, g_notices_after, 1), "then the shutdown notice came");
    cr_assert(eq(u64, r.total.shutdown_forced, 0), "everyone drained");
    cr_assert(lt(u64, r.sim_ns, 10000000), "well before the shutdown's 100 ms bound");
}
