/*
 * sim_reach.c -- reaching isolates: addresses that survive restarts, and
 * replies sent later (tina_defer, tina_reply_later).
 *
 *   - a store on shard 1 crashes 1,000 times (killed by a neighbour, or
 *     crashing in the middle of a call, sometimes holding deferred calls)
 *     while a client on shard 0 calls it by address in a loop: a call made
 *     while the store ran fails only if a crash came while it was in
 *     flight, every call ends exactly once, none by its timeout; under the
 *     simulator and under real threads;
 *   - an address is refused with TINA_ENOT_RUNNING while its child is
 *     being restarted and with TINA_ESTALE once its lineage ended; an old
 *     handle never reaches the successor; a dynamic child's address follows
 *     its restarts and never reaches a stranger in its slot;
 *   - deferred replies, locally and across shards, and each misuse of a
 *     token: used twice, forged, another isolate's, too late, a reply
 *     effect after a defer, a defer twice or of no call, no entry free, an
 *     owner that ends holding one.
 */
#include <stdatomic.h>

#include "helpers.h"

enum { TAG_GET = H_TAG_FIRST, TAG_CRASH, TAG_ANSWER, TAG_TICK, TAG_GO, TAG_SEND };

/* ======================================================================== */
/* The store that crashes 1,000 times                                        */
/* ======================================================================== */

#define CRASHES 1000u
#define CALL_TIMEOUT_NS H_MS(1000)

static _Atomic uint64_t g_starts, g_crashes;
static uint64_t g_calls, g_outcomes, g_replies, g_failed_stale, g_failed_not_running,
    g_timeouts, g_violations, g_bad_reply;
static int32_t g_other_failure;

typedef struct store {
    uint64_t handled;
    tina_reply_token pending;
} store;

static uint32_t store_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(args), H_UNUSED(size);
    atomic_fetch_add(&g_starts, 1);
    return 0;
}

static tina_effect store_crash(void) {
    atomic_fetch_add(&g_crashes, 1);
    return tina_crash(7);
}

/* Echoes each GET's value + 1: at once, or (every third) later from a
 * timer, holding the token; every seventh call it crashes instead. */
static tina_effect store_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    store *st = self;
    if (msg->tag == TAG_CRASH) return store_crash();
    if (msg->tag == TAG_ANSWER && st->pending) {
        uint64_t v = st->handled;
        tina_result r = tina_reply_later(ctx, st->pending, TAG_GET, &v, sizeof(v));
        H_CHECK_RESULT(ctx, r, TINA_OK);
        st->pending = 0;
        return tina_receive();
    }
    if (msg->kind != TINA_MSG_CALL) return tina_receive();
    st->handled = h_u64(msg) + 1;
    uint64_t seq = st->handled - 1;
    if (seq % 7 == 3) return store_crash(); /* in the middle of a call */
    if (seq % 3 == 0 && st->pending == 0) {
        tina_timer_id id;
        H_CHECK_RESULT(ctx, tina_defer(ctx, &st->pending), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 30000 + (seq % 4) * 20000, 0, TAG_ANSWER, &id), TINA_OK);
        return tina_receive();
    }
    return tina_reply(TAG_GET, &st->handled, sizeof(st->handled));
}

/* On the store's shard: sends the store a crash command by address every
 * 50 us until it has crashed CRASHES times. */
static tina_effect killer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 50000, 50000, TAG_TICK, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_TICK && atomic_load(&g_crashes) < CRASHES) {
        tina_result r = tina_send(ctx, tina_child_address(ctx, 1, 1), TAG_CRASH, NULL, 0);
        if (r != TINA_OK && r != TINA_ENOT_RUNNING && r != TINA_EMAILBOX_FULL)
            h_fail(ctx, __FILE__, __LINE__, "killer's send: %s", tina_result_name(r));
    }
    return tina_receive();
}

typedef struct client {
    uint64_t seq;
    uint64_t crashes_at_call;
    int store_ran_at_call;
    int waiting;
} client;

static tina_effect client_call(client *c, tina_ctx *ctx) {
    uint64_t crashes = atomic_load(&g_crashes);
    c->crashes_at_call = crashes;
    c->store_ran_at_call = atomic_load(&g_starts) == crashes + 1;
    c->waiting = 1;
    c->seq++;
    g_calls++;
    return tina_call(tina_child_address(ctx, 1, 1), TAG_GET, &c->seq, sizeof(c->seq),
                     CALL_TIMEOUT_NS);
}

/* Calls the store by address, one call at a time, until it crashed
 * CRASHES times; checks each outcome. */
static tina_effect client_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    client *c = self;
    if (msg->tag == H_TAG_KICK) return client_call(c, ctx);
    if (!c->waiting) { /* an outcome for no call: twice, or a stranger's */
        g_violations++;
        return tina_receive();
    }
    c->waiting = 0;
    g_outcomes++;
    if (msg->kind == TINA_MSG_REPLY) {
        g_replies++;
        if (h_u64(msg) != c->seq + 1) g_bad_reply++;
    } else if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        g_timeouts++;
    } else if (msg->tag == TINA_TAG_CALL_FAILED) {
        int32_t r = h_i32(msg);
        if (r == TINA_ESTALE) g_failed_stale++;
        else if (r == TINA_ENOT_RUNNING) g_failed_not_running++;
        else g_other_failure = r;
        /* Made while the store ran, it may fail only across a crash. */
        if (c->store_ran_at_call && atomic_load(&g_crashes) == c->crashes_at_call) g_violations++;
    }
    if (atomic_load(&g_crashes) >= CRASHES) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    return client_call(c, ctx);
}

static tina_spec store_spec(void) {
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("client", client, 1, 4, 1, h_kick_init, client_handle);
    types[1] = (tina_type_spec)H_TYPE("store", store, 1, 8, 1, store_init, store_handle);
    types[2] = (tina_type_spec)H_TYPE("killer", uint32_t, 1, 4, 1, h_kick_init, killer_handle);
    static tina_child_spec children[3] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY},
        {.type_id = 1, .shard = 1, .restart = TINA_RESTART_PERMANENT},
        {.type_id = 2, .shard = 1, .restart = TINA_RESTART_TEMPORARY}};
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    spec.groups = h_root_unbounded;
    spec.group_count = 1;
    spec.log_level = TINA_LOG_ERROR;
    return spec;
}

static void store_reset(void) {
    atomic_store(&g_starts, 0);
    atomic_store(&g_crashes, 0);
    g_calls = g_outcomes = g_replies = g_failed_stale = g_failed_not_running = 0;
    g_timeouts = g_violations = g_bad_reply = 0;
    g_other_failure = 0;
}

/* Under threads, whether a request ever lands between a crash and its
 * restart (one pass apart) is timing: only the simulator asserts it. */
static void store_check(const tina_shard_stats *s0, const tina_shard_stats *s1, int simulated) {
    cr_assert(ge(u64, atomic_load(&g_crashes), CRASHES), "the store crashed %llu times",
              (unsigned long long)atomic_load(&g_crashes));
    cr_assert(eq(u64, g_violations, 0), "%llu calls made while the store ran failed with no "
              "crash in flight (or an outcome came for no call)", (unsigned long long)g_violations);
    cr_assert(eq(u64, g_outcomes, g_calls), "every call ended exactly once: %llu of %llu",
              (unsigned long long)g_outcomes, (unsigned long long)g_calls);
    cr_assert(eq(u64, g_timeouts, 0), "no call was left to its timeout");
    cr_assert(eq(i32, g_other_failure, 0), "failed only stale or not running: %s",
              tina_result_name(g_other_failure));
    cr_assert(eq(u64, g_bad_reply, 0), "every reply answers its own call");
    cr_assert(eq(u64, g_replies + g_failed_stale + g_failed_not_running, g_outcomes));
    cr_assert(gt(u64, g_replies, CRASHES), "replies: %llu of %llu calls (stale %llu, not running %llu)",
              (unsigned long long)g_replies, (unsigned long long)g_calls,
              (unsigned long long)g_failed_stale, (unsigned long long)g_failed_not_running);
    cr_assert(ge(u64, g_failed_stale, 1), "calls in flight at a crash failed");
    cr_assert(ge(u64, s1->tokens_used, 1), "deferred calls were answered later");
    cr_assert(ge(u64, s1->tokens_orphaned, 1), "crashes caught deferred calls");
    cr_assert(eq(u64, s0->late_replies, 0), "no reply came late");
    if (simulated) cr_assert(ge(u64, s1->address_not_running, 1), "the address met restarts");
}

Test(sim_reach, a_store_crashing_1000_times_is_reached_by_address_under_the_simulator,
     .timeout = 60) {
    store_reset();
    tina_spec spec = store_spec();
    tina_sim_config config = {.seed = 11, .round_limit = 50000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED), "%s", r.failure);
    store_check(&r.total, &r.total, 1);
}

Test(sim_reach, a_store_crashing_1000_times_is_reached_by_address_under_threads, .timeout = 60) {
    store_reset();
    tina_spec spec = store_spec();
    spec.no_signal_handlers = 0;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    store_check(&s0, &s1, 0);
    tina_destroy(rt);
}
