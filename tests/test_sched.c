/*
 * test_sched.c -- the pass: per-type budgets (weight x base_budget), FIFO
 * within a type, yield and resume, and the starvation bound.
 *
 * Each pass dispatches, per type in type order, up to weight x base_budget
 * handler calls.  An isolate of another type that gets a message is
 * dispatched within two passes, however many isolates of a type ahead of it
 * yield forever.
 */
#include "helpers.h"

enum {
    TAG_PING = H_TAG_FIRST,
    TAG_ACK,
    TAG_GO,
};

typedef struct plain {
    uint64_t unused;
} plain;

typedef struct counter {
    uint32_t index;
    uint64_t dispatches;
} counter;

/* ------------------------------------------------------------------------ */
/* Starvation bound: 100 yielding isolates of type A, budget 4 a pass.        */
/* ------------------------------------------------------------------------ */

#define STARVE_A 100
#define STARVE_ROUNDS 1000
#define STARVE_BUDGET 4

static uint64_t starve_a_dispatches[STARVE_A];
static uint64_t starve_a_total;
static uint64_t starve_sent_at_pass;
static uint64_t starve_max_delta;
static uint32_t starve_rounds;
static int starve_finished;

static uint32_t starve_a_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    counter *c = self;
    H_CHECK_EQ(ctx, args_size, sizeof(uint32_t));
    memcpy(&c->index, args, sizeof(uint32_t));
    h_kick(ctx);
    return 0;
}

static tina_effect starve_a(void *self, tina_ctx *ctx, const tina_msg *msg) {
    counter *c = self;
    H_UNUSED(ctx);
    H_UNUSED(msg);
    if (c->index < STARVE_A) starve_a_dispatches[c->index]++;
    starve_a_total++;
    return tina_yield(); /* forever */
}

static tina_effect starve_b(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_PING);
    uint64_t delta = h_passes(ctx) - starve_sent_at_pass;
    if (delta > starve_max_delta) starve_max_delta = delta;
    tina_result r = tina_send(ctx, msg->from, TAG_ACK, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

static tina_effect starve_driver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TAG_ACK && ++starve_rounds == STARVE_ROUNDS) {
        starve_finished = 1;
        tina_request_stop(ctx);
        return tina_receive();
    }
    starve_sent_at_pass = h_passes(ctx);
    tina_result r = tina_send(ctx, tina_child_handle(ctx, STARVE_A, 0), TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

Test(sched, starved_type_is_dispatched_within_two_passes, .timeout = 60) {
    static uint32_t idx[STARVE_A];
    static tina_child_spec children[STARVE_A + 2];
    for (uint32_t i = 0; i < STARVE_A; i++) {
        idx[i] = i;
        children[i] = (tina_child_spec)H_CHILD_ARGS(0, 0, TINA_RESTART_TEMPORARY, &idx[i]);
    }
    children[STARVE_A] = (tina_child_spec)H_CHILD(1, 0);
    children[STARVE_A + 1] = (tina_child_spec)H_CHILD(2, 0);
    /* A first in type order, B after it, the driver last: the driver's ping
     * lands after B's turn, so B can only run in a later pass. */
    const tina_type_spec types[] = {
        H_TYPE("a_yields", counter, STARVE_A, 0, 1, starve_a_init, starve_a),
        H_TYPE("b_pinged", plain, 1, 0, 1, NULL, starve_b),
        H_TYPE("driver", plain, 1, 0, 1, h_kick_init, starve_driver),
    };
    tina_spec spec = h_spec(types, 3, children, STARVE_A + 2, 1);
    spec.base_budget = STARVE_BUDGET;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, starve_finished, 1));
    cr_assert(le(u64, starve_max_delta, 2), "B waited %" PRIu64 " passes", starve_max_delta);
    cr_assert(ge(u64, starve_max_delta, 1));
    tina_shard_stats s = h_stats(rt, 0);
    /* A never gets more than its budget a pass, and always gets all of it. */
    cr_assert(le(u64, starve_a_total, STARVE_BUDGET * s.passes));
    cr_assert(ge(u64, starve_a_total + 2 * STARVE_BUDGET, STARVE_BUDGET * s.passes),
              "A: %" PRIu64 " dispatches in %" PRIu64 " passes", starve_a_total, s.passes);
    /* FIFO within A: round robin, so no two A isolates differ by more than one. */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < STARVE_A; i++) {
        if (starve_a_dispatches[i] < lo) lo = starve_a_dispatches[i];
        if (starve_a_dispatches[i] > hi) hi = starve_a_dispatches[i];
    }
    cr_assert(ge(u64, lo, 1), "every A isolate ran");
    cr_assert(le(u64, hi - lo, 1), "A dispatches range %" PRIu64 "..%" PRIu64, lo, hi);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Weights divide the dispatches exactly.                                     */
/* ------------------------------------------------------------------------ */

#define W_ISOLATES 20
#define W_PASSES 500
static uint64_t w_light_total, w_heavy_total, w_driver_runs;
static uint64_t w_max_per_pass_light, w_max_per_pass_heavy;
static uint64_t w_light_this_pass, w_heavy_this_pass, w_pass_seen;

static void w_account(const tina_ctx *ctx) {
    uint64_t p = h_passes(ctx);
    if (p != w_pass_seen) {
        w_pass_seen = p;
        w_light_this_pass = w_heavy_this_pass = 0;
    }
}

static tina_effect w_light(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    w_account(ctx);
    w_light_total++;
    if (++w_light_this_pass > w_max_per_pass_light) w_max_per_pass_light = w_light_this_pass;
    return tina_yield();
}

static tina_effect w_heavy(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    w_account(ctx);
    w_heavy_total++;
    if (++w_heavy_this_pass > w_max_per_pass_heavy) w_max_per_pass_heavy = w_heavy_this_pass;
    return tina_yield();
}

static tina_effect w_driver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    if (++w_driver_runs == W_PASSES) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    return tina_yield();
}

Test(sched, weights_divide_dispatches_per_pass, .timeout = 60) {
    static tina_child_spec children[2 * W_ISOLATES + 1];
    for (uint32_t i = 0; i < W_ISOLATES; i++) {
        children[i] = (tina_child_spec)H_CHILD(0, 0);
        children[W_ISOLATES + i] = (tina_child_spec)H_CHILD(1, 0);
    }
    children[2 * W_ISOLATES] = (tina_child_spec)H_CHILD(2, 0);
    const tina_type_spec types[] = {
        H_TYPE("light", plain, W_ISOLATES, 0, 1, h_kick_init, w_light),
        H_TYPE("heavy", plain, W_ISOLATES, 0, 3, h_kick_init, w_heavy),
        H_TYPE("driver", plain, 1, 0, 1, h_kick_init, w_driver),
    };
    tina_spec spec = h_spec(types, 3, children, 2 * W_ISOLATES + 1, 1);
    spec.base_budget = 2;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u64, w_driver_runs, W_PASSES));
    cr_assert(eq(u64, w_max_per_pass_light, 2));
    cr_assert(eq(u64, w_max_per_pass_heavy, 6));
    /* The driver runs once a pass, last: every pass it saw was a full one. */
    cr_assert(eq(u64, w_light_total, 2 * w_driver_runs));
    cr_assert(eq(u64, w_heavy_total, 6 * w_driver_runs));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.dispatched, w_light_total + w_heavy_total + w_driver_runs));
    cr_assert(eq(u64, s.yields, s.dispatched - 1));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Yield: the next call, on the next pass, carries TINA_TAG_RESUME.           */
/* ------------------------------------------------------------------------ */

#define YIELDS 10
static uint64_t yield_pass[YIELDS + 1];
static int yield_calls;

static tina_effect yielder(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (yield_calls == 0) {
        H_CHECK_EQ(ctx, msg->tag, H_TAG_KICK);
    } else {
        H_CHECK_EQ(ctx, msg->tag, TINA_TAG_RESUME);
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SYSTEM);
        H_CHECK_EQ(ctx, msg->from, TINA_HANDLE_NONE);
        H_CHECK_EQ(ctx, msg->to, tina_self(ctx));
    }
    yield_pass[yield_calls] = h_passes(ctx);
    if (yield_calls++ == YIELDS) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    return tina_yield();
}

Test(sched, yield_resumes_on_the_next_pass_with_resume_tag, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("yielder", plain, 1, 0, 1, h_kick_init, yielder)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, yield_calls, YIELDS + 1));
    for (int i = 1; i <= YIELDS; i++)
        cr_assert(eq(u64, yield_pass[i], yield_pass[i - 1] + 1), "resume %d", i);
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.yields, YIELDS));
    cr_assert(eq(u64, s.dispatched, YIELDS + 1));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Yield with mail waiting: the mail comes first, the resume only without.    */
/* ------------------------------------------------------------------------ */

#define YIELD_MAIL 3
static uint32_t ym_mail, ym_resumes, ym_yields;

static tina_effect ym_yielder(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TINA_TAG_RESUME && ym_mail < YIELD_MAIL) ym_resumes++;
    if (msg->tag == TAG_GO) ym_mail++;
    if (ym_mail == YIELD_MAIL) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    if (++ym_yields > 100) {
        h_fail(ctx, __FILE__, __LINE__, "a yield loop never read its mailbox");
        return tina_receive();
    }
    return tina_yield(); /* a loop that yields forever, reading what comes */
}

static tina_effect ym_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    for (int k = 0; k < YIELD_MAIL; k++)
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_GO, NULL, 0), TINA_OK);
    return tina_receive();
}

Test(sched, a_yielding_isolate_is_handed_its_mail_before_a_resume, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("yielder", plain, 1, 0, 1, h_kick_init, ym_yielder),
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, ym_sender),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u32, ym_mail, YIELD_MAIL), "every message reached the yield loop");
    cr_assert(eq(u32, ym_resumes, 0), "no resume while mail waited");
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* FIFO within a type: isolates run in the order they became ready.           */
/* ------------------------------------------------------------------------ */

#define ORDER_N 10
static const uint32_t order_sent[ORDER_N] = {7, 2, 9, 0, 4, 8, 1, 6, 3, 5};
static uint32_t order_seen[ORDER_N];
static int order_count;

static uint32_t order_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    counter *c = self;
    H_CHECK_EQ(ctx, args_size, sizeof(uint32_t));
    memcpy(&c->index, args, sizeof(uint32_t));
    return 0;
}

static tina_effect order_member(void *self, tina_ctx *ctx, const tina_msg *msg) {
    counter *c = self;
    H_CHECK_EQ(ctx, msg->tag, TAG_GO);
    if (order_count < ORDER_N) order_seen[order_count] = c->index;
    if (++order_count == ORDER_N) tina_request_stop(ctx);
    return tina_receive();
}

static tina_effect order_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    for (int i = 0; i < ORDER_N; i++) {
        /* Child 0 is this sender; member k is child k + 1. */
        tina_result r = tina_send(ctx, tina_child_handle(ctx, order_sent[i] + 1, 0), TAG_GO, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    return tina_receive();
}

Test(sched, ready_isolates_of_a_type_run_in_fifo_order, .timeout = 60) {
    static uint32_t idx[ORDER_N];
    static tina_child_spec children[ORDER_N + 1];
    children[0] = (tina_child_spec)H_CHILD(0, 0);
    for (uint32_t i = 0; i < ORDER_N; i++) {
        idx[i] = i;
        children[i + 1] = (tina_child_spec)H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &idx[i]);
    }
    const tina_type_spec types[] = {
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, order_sender),
        H_TYPE("member", counter, ORDER_N, 0, 1, order_init, order_member),
    };
    tina_spec spec = h_spec(types, 2, children, ORDER_N + 1, 1);
    spec.base_budget = 3; /* the order must also survive being split over passes */
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, order_count, ORDER_N));
    for (int i = 0; i < ORDER_N; i++)
        cr_assert(eq(u32, order_seen[i], order_sent[i]), "dispatch %d", i);
    tina_destroy(rt);
}
