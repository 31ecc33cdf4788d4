/*
 * test_inject.c -- the way in from threads that are not shards:
 * tina_inject, tina_inject_call, tina_stats_inject, and the simulator's
 * inject hook.
 *
 * The threaded tests run tina_run on a runner thread and play the foreign
 * thread on Criterion's; every wait is on a condition (a counter the
 * runtime publishes, a flag a handler sets), bounded by WAIT_NS, never a
 * sleep that hopes.
 *
 *   flood            millions of injections into a slow consumer with a
 *                    small mailbox: each is accepted or refused full; the
 *                    books balance (accepted = injected + inject_dropped);
 *                    the consumer saw exactly `injected`; RSS stays flat;
 *                    a sleeping shard is woken by an injection.
 *   misuse           from a handler, after tina_run, into a quarantined
 *                    shard, bad arguments, a full queue: each named and
 *                    counted.
 *   inject_call      a reply; a timeout, whose late reply is counted and
 *                    never reaches the entry's next caller; a dead target
 *                    answered at once; an address; a call still waiting
 *                    when tina_run returns answered TINA_ESTATE; a 65th
 *                    caller refused while 64 wait.
 *   simulator        the hook's injections are part of the seed's digest;
 *                    tina_inject outside it and tina_inject_call inside it
 *                    are refused.
 */
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"

#define WAIT_NS (10ull * 1000000000ull)
enum { TAG_WORK = H_TAG_FIRST, TAG_ECHO, TAG_LAST, TAG_DEFER, TAG_LATER };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait, bounded, until cond(arg) holds; returns whether it did. */
static int wait_until(int (*cond)(void *), void *arg) {
    uint64_t deadline = now_ns() + WAIT_NS;
    const struct timespec tick = {0, 100000};
    while (!cond(arg)) {
        if (now_ns() > deadline) return 0;
        nanosleep(&tick, NULL);
    }
    return 1;
}

static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, resident = 0;
    if (f == NULL) return -1;
    int n = fscanf(f, "%lld %lld", &pages, &resident);
    fclose(f);
    return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

/* ---- a runtime on a runner thread ------------------------------------------- */

static tina_runtime *g_rt;
static pthread_t g_runner;

static void *runner_main(void *arg) {
    tina_result *r = arg;
    *r = tina_run(g_rt);
    return NULL;
}

static tina_result g_run_result;

static void run_start(tina_runtime *rt) {
    g_rt = rt;
    cr_assert(eq(int, pthread_create(&g_runner, NULL, runner_main, &g_run_result), 0));
}

static void run_stop(void) {
    tina_stop(g_rt);
    pthread_join(g_runner, NULL);
    H_ASSERT_RESULT(g_run_result, TINA_OK);
}

static tina_inject_stats inject_stats(tina_runtime *rt, uint32_t shard) {
    tina_inject_stats st;
    H_ASSERT_RESULT(tina_stats_inject(rt, shard, &st), TINA_OK);
    return st;
}

/* ---- flood ------------------------------------------------------------------ */

/* About 0.5 s here, under ASan too: a refusal of a full queue is two loads. */
#define FLOOD_COUNT 10000000ull

static _Atomic uint64_t g_handled;
static _Atomic uint64_t g_sleeps_when_handled; /* the shard's live sleeps, at the last message */
static volatile uint64_t g_sink;

static tina_effect slow_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    H_CHECK(ctx, msg->from == TINA_HANDLE_NONE && msg->kind == TINA_MSG_SEND && msg->corr == 0);
    for (uint32_t k = 0; k < 200; k++) g_sink = g_sink + k; /* some work per message */
    atomic_store_explicit(&g_sleeps_when_handled, tina_ctx_stats(ctx)->sleeps, memory_order_relaxed);
    atomic_store_explicit(&g_handled, atomic_load_explicit(&g_handled, memory_order_relaxed) + 1,
                          memory_order_release);
    return tina_receive();
}

static tina_spec one_consumer(tina_type_spec *type, tina_child_spec *child, uint32_t mailbox) {
    *type = (tina_type_spec)H_TYPE("consumer", uint64_t, 4, mailbox, 1, NULL, slow_consumer);
    *child = (tina_child_spec)H_CHILD(0, 0);
    tina_spec spec = h_spec(type, 1, child, 1, 1);
    spec.idle_spin_ns = 1000; /* sleep soon once idle */
    return spec;
}

struct sleep_watch {
    tina_runtime *rt;
    uint64_t sleeps_before, handled_before;
};

static int has_slept(void *arg) {
    struct sleep_watch *w = arg;
    tina_shard_stats st;
    return tina_stats(w->rt, 0, &st) == TINA_OK && st.sleeps > w->sleeps_before;
}

static int has_handled_one_more(void *arg) {
    struct sleep_watch *w = arg;
    return atomic_load(&g_handled) > w->handled_before;
}

/* The consumer's shard asleep for certain, then one injection: it wakes.
 * A first message is handled; once the shard's published sleeps exceed
 * what its handler saw, it has slept since, and nothing but an injection
 * can wake it (no timers, no peers). */
static void wake_a_sleeper(tina_runtime *rt, tina_handle to) {
    struct sleep_watch w = {.rt = rt, .handled_before = atomic_load(&g_handled)};
    uint64_t v = 1;
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, &v, sizeof(v)), TINA_OK);
    cr_assert(wait_until(has_handled_one_more, &w), "the first message was not handled");
    w.sleeps_before = atomic_load(&g_sleeps_when_handled);
    cr_assert(wait_until(has_slept, &w), "the consumer's shard never slept");
    uint64_t wakeups = inject_stats(rt, 0).wakeups;
    w.handled_before = atomic_load(&g_handled);
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, &v, sizeof(v)), TINA_OK);
    cr_assert(wait_until(has_handled_one_more, &w), "an injection did not wake the sleeper");
    cr_assert(eq(u64, inject_stats(rt, 0).wakeups, wakeups + 1), "the injection rang it");
}

Test(inject, a_flood_into_a_slow_consumer_balances_and_stays_flat, .timeout = 120) {
    tina_type_spec type;
    tina_child_spec child;
    tina_spec spec = one_consumer(&type, &child, 16);
    atomic_store(&g_handled, 0);
    tina_runtime *rt = h_create(&spec);
    tina_handle to = tina_runtime_child_handle(rt, 0, 0);
    run_start(rt);
    long long rss_before = rss_bytes();
    uint64_t ok = 0, full = 0, other = 0;
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < FLOOD_COUNT; k++) {
        tina_result r = tina_inject(rt, to, TAG_WORK, &k, sizeof(k));
        ok += r == TINA_OK, full += r == TINA_EMAILBOX_FULL;
        other += r != TINA_OK && r != TINA_EMAILBOX_FULL;
    }
    cr_log_info("flood: %llu injections in %.2f s: %llu accepted, %llu refused full",
                (unsigned long long)FLOOD_COUNT, (double)(now_ns() - t0) / 1e9,
                (unsigned long long)ok, (unsigned long long)full);
    wake_a_sleeper(rt, to);
    long long rss_after = rss_bytes();
    run_stop();
    h_assert_no_failures();
    tina_inject_stats in = inject_stats(rt, 0);
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u64, other, 0), "every tina_inject was accepted or refused full");
    cr_assert(eq(u64, in.accepted, ok + 2));
    cr_assert(eq(u64, in.full, full));
    cr_assert(eq(u64, in.accepted, st.injected + st.inject_dropped), "the books balance");
    cr_assert(eq(u64, atomic_load(&g_handled), st.injected), "the consumer saw every delivery");
    cr_assert(ge(u64, st.injected, 2), "some got through");
    cr_assert(ge(u64, st.sleeps, 1));
    cr_assert(ge(u64, in.wakeups, 1), "the sleeping shard was rung");
    cr_assert(lt(i64, rss_after - rss_before, 1ll << 20), "RSS grew by %lld bytes",
              rss_after - rss_before);
    cr_log_info("flood: delivered %llu, dropped on arrival %llu (mailbox full); RSS %+lld bytes",
                (unsigned long long)st.injected, (unsigned long long)st.inject_dropped,
                rss_after - rss_before);
    tina_destroy(rt);
}

/* ---- misuse ------------------------------------------------------------------ */

static tina_result g_from_handler;

static tina_effect injector_inside(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    g_from_handler = tina_inject(g_rt, tina_self(ctx), TAG_WORK, NULL, 0);
    tina_request_stop(ctx);
    return tina_receive();
}

Test(inject, from_a_handler_is_refused_and_counted, .timeout = 30) {
    tina_type_spec types[1] = {H_TYPE("inside", uint64_t, 1, 0, 1, h_kick_init, injector_inside)};
    tina_child_spec children[1] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    g_rt = h_create(&spec);
    h_run(g_rt);
    H_ASSERT_RESULT(g_from_handler, TINA_EINJECT_THREAD);
    cr_assert(eq(u64, inject_stats(g_rt, 0).wrong_thread, 1));
    cr_assert(eq(u64, inject_stats(g_rt, 0).accepted, 0));
    /* And once tina_run has returned: the runtime takes nothing more. */
    H_ASSERT_RESULT(tina_inject(g_rt, tina_runtime_child_handle(g_rt, 0, 0), TAG_WORK, NULL, 0),
                    TINA_ESTATE);
    cr_assert(eq(u64, inject_stats(g_rt, 0).refused, 1));
    tina_destroy(g_rt);
}

Test(inject, bad_arguments_are_named_and_counted, .timeout = 30) {
    tina_type_spec type;
    tina_child_spec child;
    tina_spec spec = one_consumer(&type, &child, 16);
    tina_runtime *rt = h_create(&spec);
    tina_handle to = tina_runtime_child_handle(rt, 0, 0);
    uint8_t big[TINA_PAYLOAD_MAX + 1] = {0};
    H_ASSERT_RESULT(tina_inject(NULL, to, TAG_WORK, NULL, 0), TINA_EINVAL);
    H_ASSERT_RESULT(tina_inject(rt, to, TINA_TAG_USER - 1, NULL, 0), TINA_ERESERVED_TAG);
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, big, sizeof(big)), TINA_ETOO_BIG);
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, NULL, 4), TINA_EINVAL);
    H_ASSERT_RESULT(tina_inject(rt, tina_handle_make(1, 0, 0, 1), TAG_WORK, NULL, 0), TINA_EHANDLE);
    H_ASSERT_RESULT(tina_inject(rt, tina_handle_make(0, 1, 0, 1), TAG_WORK, NULL, 0), TINA_EHANDLE);
    H_ASSERT_RESULT(tina_inject(rt, tina_handle_make(0, 0, 4, 1), TAG_WORK, NULL, 0), TINA_EHANDLE);
    H_ASSERT_RESULT(tina_inject(rt, tina_handle_make(0, 0, 0, 0), TAG_WORK, NULL, 0), TINA_EHANDLE);
    H_ASSERT_RESULT(tina_inject_call(rt, to, TAG_WORK, NULL, 0, 0, NULL), TINA_EINVAL);
    tina_inject_stats here = inject_stats(rt, 0), all = inject_stats(rt, TINA_SHARD_EVERY);
    cr_assert(eq(u64, here.refused, 7), "the shard named: tag, size, payload, 3 ranges, timeout");
    cr_assert(eq(u64, all.refused, 8), "and one that names no shard");
    cr_assert(eq(u64, all.accepted, 0));
    tina_inject_stats none;
    H_ASSERT_RESULT(tina_stats_inject(rt, 1, &none), TINA_EINVAL);
    tina_destroy(rt);
}

Test(inject, a_full_queue_is_refused_then_drained_when_the_run_starts, .timeout = 30) {
    tina_type_spec type;
    tina_child_spec child;
    tina_spec spec = one_consumer(&type, &child, 16);
    spec.inject_slots = 4;
    atomic_store(&g_handled, 0);
    tina_runtime *rt = h_create(&spec);
    tina_handle to = tina_runtime_child_handle(rt, 0, 0);
    for (uint64_t k = 0; k < 4; k++) /* before tina_run: they wait in the queue */
        H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, &k, sizeof(k)), TINA_OK);
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, NULL, 0), TINA_EMAILBOX_FULL);
    tina_inject_stats st = inject_stats(rt, 0);
    cr_assert(eq(u64, st.accepted, 4));
    cr_assert(eq(u64, st.full, 1));
    run_start(rt);
    struct sleep_watch w = {.rt = rt, .handled_before = 3};
    cr_assert(wait_until(has_handled_one_more, &w));
    run_stop();
    cr_assert(eq(u64, h_stats(rt, 0).injected, 4));
    cr_assert(eq(u64, atomic_load(&g_handled), 4));
    tina_destroy(rt);
}

static tina_effect crasher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_crash(7);
}

static int is_quarantined(void *arg) { return tina_quarantined(arg, 0); }

Test(inject, into_a_quarantined_shard_is_stale, .timeout = 30) {
    tina_group_spec groups[1] = {{.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,
                                  .restart_max = 1, .window_ns = H_MS(10000)}};
    tina_type_spec types[1] = {H_TYPE("crasher", uint64_t, 1, 0, 1, h_kick_init, crasher)};
    tina_child_spec children[1] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_PERMANENT}};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.groups = groups;
    spec.group_count = 1;
    tina_runtime *rt = h_create(&spec);
    tina_handle to = tina_runtime_child_handle(rt, 0, 0);
    run_start(rt);
    cr_assert(wait_until(is_quarantined, rt), "the crash loop never quarantined shard 0");
    H_ASSERT_RESULT(tina_inject(rt, to, TAG_WORK, NULL, 0), TINA_ESTALE);
    H_ASSERT_RESULT(tina_inject(rt, tina_address_of(to), TAG_WORK, NULL, 0), TINA_ESTALE);
    run_stop();
    cr_assert(eq(u64, inject_stats(rt, 0).refused, 2));
    cr_assert(eq(u64, inject_stats(rt, 0).accepted, 0));
    tina_destroy(rt);
}

/* ---- inject_call ------------------------------------------------------------- */

static _Atomic int g_release_late; /* the test lets the slow callee answer */

/* TAG_ECHO: the payload + 1, at once.  TAG_LAST: the payload + 1000,
 * once the test says so (bounded): after its caller's timeout. */
static tina_effect echo(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *out = self; /* an effect's payload must outlive the handler's return */
    if (msg->kind != TINA_MSG_CALL) return tina_receive();
    uint64_t v = h_u64(msg) + 1;
    if (msg->tag == TAG_LAST) {
        uint64_t deadline = now_ns() + WAIT_NS;
        while (!atomic_load(&g_release_late) && now_ns() < deadline) {
        }
        H_CHECK(ctx, atomic_load(&g_release_late));
        v += 999;
    }
    *out = v;
    return tina_reply(msg->tag, out, sizeof(*out));
}

static tina_runtime *echo_runtime(void) {
    static tina_type_spec types[1];
    static tina_child_spec children[1];
    types[0] = (tina_type_spec)H_TYPE("echo", uint64_t, 2, 0, 1, NULL, echo);
    children[0] = (tina_child_spec){.type_id = 0, .shard = 1, .restart = TINA_RESTART_PERMANENT};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.watchdog_policy = TINA_WATCHDOG_OFF; /* the slow callee spins on purpose */
    return h_create(&spec);
}

Test(inject, call_gets_its_reply_by_handle_and_by_address, .timeout = 30) {
    tina_runtime *rt = echo_runtime();
    run_start(rt);
    tina_handle h = tina_runtime_child_handle(rt, 0, 1);
    tina_handle a = tina_runtime_child_address(rt, 0, 1);
    for (uint64_t k = 0; k < 100; k++) {
        tina_msg reply;
        memset(&reply, 0, sizeof(reply));
        H_ASSERT_RESULT(tina_inject_call(rt, k % 2 ? a : h, TAG_ECHO, &k, sizeof(k), H_MS(5000),
                                         &reply), TINA_OK);
        cr_assert(eq(u64, h_u64(&reply), k + 1));
        cr_assert(eq(u32, reply.kind, TINA_MSG_REPLY));
        cr_assert(eq(u32, reply.tag, TAG_ECHO));
        cr_assert(eq(u64, reply.from, h));
    }
    run_stop();
    tina_inject_stats st = inject_stats(rt, 1);
    cr_assert(eq(u64, st.calls, 100));
    cr_assert(eq(u64, st.call_timeouts, 0));
    cr_assert(eq(u64, h_stats(rt, 1).injected, 100));
    tina_destroy(rt);
}

/* TAG_DEFER: deferred, answered 1 ms later from a timer (payload + 7);
 * the holder then ends with a second one held: answered failed. */
typedef struct deferrer {
    tina_reply_token token;
    uint64_t value, answered;
} deferrer;

static tina_effect deferrer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    deferrer *d = self;
    tina_timer_id id;
    if (msg->kind == TINA_MSG_CALL && msg->tag == TAG_DEFER) {
        H_CHECK_RESULT(ctx, tina_defer(ctx, &d->token), TINA_OK);
        d->value = h_u64(msg) + 7;
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER) {
        if (d->answered++ == 1) return tina_crash(3); /* holding the second call's token */
        H_CHECK_RESULT(ctx, tina_reply_later(ctx, d->token, TAG_DEFER, &d->value, 8), TINA_OK);
    }
    return tina_receive();
}

Test(inject, a_foreign_call_can_be_deferred_and_answered_later, .timeout = 30) {
    static tina_type_spec types[1];
    static tina_child_spec children[1];
    types[0] = (tina_type_spec)H_TYPE("deferrer", deferrer, 1, 4, 1, NULL, deferrer_handle);
    children[0] = (tina_child_spec){.type_id = 0, .shard = 1, .restart = TINA_RESTART_TEMPORARY};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_runtime *rt = h_create(&spec);
    run_start(rt);
    tina_handle a = tina_runtime_child_address(rt, 0, 1);
    tina_msg reply;
    uint64_t v = 35;
    H_ASSERT_RESULT(tina_inject_call(rt, a, TAG_DEFER, &v, 8, H_MS(5000), &reply), TINA_OK);
    cr_assert(eq(u64, h_u64(&reply), 42), "the later reply");
    /* The second is held when its owner crashes: answered at once, stale. */
    H_ASSERT_RESULT(tina_inject_call(rt, a, TAG_DEFER, &v, 8, H_MS(5000), &reply), TINA_ESTALE);
    run_stop();
    tina_shard_stats s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s1.tokens_used, 1));
    cr_assert(eq(u64, s1.tokens_orphaned, 1));
    cr_assert(eq(u64, inject_stats(rt, 1).call_timeouts, 0));
    tina_destroy(rt);
}

Test(inject, call_to_a_dead_isolate_fails_at_once, .timeout = 30) {
    tina_runtime *rt = echo_runtime();
    run_start(rt);
    tina_handle stale = tina_handle_make(1, 0, 0, 7); /* generation 7 never lived */
    tina_handle free_slot = tina_handle_make(1, 0, 1, 1);
    uint64_t t0 = now_ns();
    H_ASSERT_RESULT(tina_inject_call(rt, stale, TAG_ECHO, NULL, 0, H_MS(20000), NULL), TINA_ESTALE);
    H_ASSERT_RESULT(tina_inject_call(rt, free_slot, TAG_ECHO, NULL, 0, H_MS(20000), NULL),
                    TINA_ESTALE);
    uint64_t elapsed = now_ns() - t0;
    run_stop();
    cr_assert(lt(u64, elapsed, H_MS(2000)), "answered in %llu ns, not at the timeout",
              (unsigned long long)elapsed);
    cr_assert(eq(u64, h_stats(rt, 1).inject_dropped, 2));
    cr_assert(eq(u64, inject_stats(rt, 1).call_timeouts, 0));
    tina_destroy(rt);
}

struct second_call {
    tina_runtime *rt;
    tina_result result;
    tina_msg reply;
};

static void *second_caller(void *arg) {
    struct second_call *c = arg;
    uint64_t v = 50;
    c->result = tina_inject_call(c->rt, tina_runtime_child_handle(c->rt, 0, 1), TAG_ECHO, &v,
                                 sizeof(v), H_MS(20000), &c->reply);
    return NULL;
}

static int second_call_queued(void *arg) { return inject_stats(arg, 1).calls == 2; }

/* A times out; B takes the same entry (the only one free at once: A's,
 * abandoned) while the late reply to A is still to come; the late reply
 * is counted and B gets B's own. */
Test(inject, call_timeout_then_the_late_reply_never_reaches_the_next_caller, .timeout = 60) {
    tina_runtime *rt = echo_runtime();
    atomic_store(&g_release_late, 0);
    run_start(rt);
    tina_handle h = tina_runtime_child_handle(rt, 0, 1);
    uint64_t v = 1;
    tina_msg reply;
    H_ASSERT_RESULT(tina_inject_call(rt, h, TAG_LAST, &v, sizeof(v), H_MS(20), &reply),
                    TINA_ETIMEDOUT);
    struct second_call b = {.rt = rt};
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, second_caller, &b), 0));
    cr_assert(wait_until(second_call_queued, rt), "the second call was never queued");
    atomic_store(&g_release_late, 1); /* now the callee answers A, late, then B */
    pthread_join(th, NULL);
    run_stop();
    h_assert_no_failures();
    H_ASSERT_RESULT(b.result, TINA_OK);
    cr_assert(eq(u64, h_u64(&b.reply), 51), "B got its own reply, not A's (1000)");
    tina_inject_stats st = inject_stats(rt, TINA_SHARD_EVERY);
    cr_assert(eq(u64, st.call_timeouts, 1));
    cr_assert(eq(u64, st.late_replies, 1));
    cr_assert(eq(u64, st.calls, 2));
    tina_destroy(rt);
}

static tina_effect silent(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive(); /* takes the call, never answers */
}

struct pending_call {
    tina_runtime *rt;
    tina_result result;
    uint64_t elapsed_ns;
};

static void *pending_caller(void *arg) {
    struct pending_call *c = arg;
    uint64_t t0 = now_ns();
    c->result = tina_inject_call(c->rt, tina_runtime_child_handle(c->rt, 0, 0), TAG_ECHO, NULL, 0,
                                 H_MS(30000), NULL);
    c->elapsed_ns = now_ns() - t0;
    return NULL;
}

static int call_taken(void *arg) { return h_stats(arg, 0).injected == 1; }

Test(inject, a_call_still_waiting_when_the_run_ends_gets_estate, .timeout = 30) {
    tina_type_spec types[1] = {H_TYPE("silent", uint64_t, 1, 0, 1, NULL, silent)};
    tina_child_spec children[1] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_runtime *rt = h_create(&spec);
    run_start(rt);
    struct pending_call c = {.rt = rt};
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, pending_caller, &c), 0));
    cr_assert(wait_until(call_taken, rt), "the call never arrived");
    run_stop();
    pthread_join(th, NULL);
    H_ASSERT_RESULT(c.result, TINA_ESTATE);
    cr_assert(lt(u64, c.elapsed_ns, H_MS(10000)), "answered as the run ended, not at its timeout");
    tina_destroy(rt);
}

static int all_callers_queued(void *arg) {
    return inject_stats(arg, 0).calls == TINA_INJECT_CALLERS_MAX;
}

Test(inject, the_65th_waiting_caller_is_refused, .timeout = 60) {
    tina_type_spec types[1] = {H_TYPE("silent", uint64_t, 1, 0, 1, NULL, silent)};
    tina_child_spec children[1] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_runtime *rt = h_create(&spec);
    run_start(rt);
    static struct pending_call calls[TINA_INJECT_CALLERS_MAX];
    static pthread_t threads[TINA_INJECT_CALLERS_MAX];
    for (uint32_t i = 0; i < TINA_INJECT_CALLERS_MAX; i++) {
        calls[i] = (struct pending_call){.rt = rt};
        cr_assert(eq(int, pthread_create(&threads[i], NULL, pending_caller, &calls[i]), 0));
    }
    cr_assert(wait_until(all_callers_queued, rt), "not every caller was queued");
    H_ASSERT_RESULT(tina_inject_call(rt, tina_runtime_child_handle(rt, 0, 0), TAG_ECHO, NULL, 0,
                                     H_MS(1000), NULL), TINA_ECALLERS_FULL);
    run_stop();
    for (uint32_t i = 0; i < TINA_INJECT_CALLERS_MAX; i++) {
        pthread_join(threads[i], NULL);
        H_ASSERT_RESULT(calls[i].result, TINA_ESTATE);
    }
    cr_assert(eq(u64, inject_stats(rt, 0).refused, 1));
    tina_destroy(rt);
}

/* ---- the simulator ---------------------------------------------------------- */

static uint64_t g_sim_seen;
static tina_result g_sim_inside_call, g_sim_from_handler;

static tina_effect sim_sink(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *sum = self;
    if (msg->tag == TAG_WORK) {
        *sum += h_u64(msg);
        g_sim_seen++;
        /* Outside the hook, on the simulator's one thread: a shard's moment. */
        g_sim_from_handler = tina_inject(g_rt, tina_self(ctx), TAG_WORK, NULL, 0);
        uint64_t next = *sum;
        (void)tina_send(ctx, tina_child_handle(ctx, 0, 1 - tina_handle_shard(tina_self(ctx))),
                        TAG_ECHO, &next, sizeof(next));
    }
    return tina_receive();
}

/* Every 7th round up to round 700, one envelope to a shard chosen by the
 * round; more to come until then. */
static int sim_hook(void *user, tina_runtime *rt, uint64_t round) {
    H_UNUSED(user);
    g_rt = rt;
    if (round % 7 == 0 && round <= 700) {
        uint64_t v = round;
        tina_result r = tina_inject(rt, tina_runtime_child_address(rt, 0, (uint32_t)(round / 7) % 2),
                                    TAG_WORK, &v, sizeof(v));
        if (r != TINA_OK) h_fail(NULL, __FILE__, __LINE__, "inject in the hook: %d", r);
        g_sim_inside_call = tina_inject_call(rt, tina_runtime_child_handle(rt, 0, 0), TAG_WORK,
                                             NULL, 0, H_MS(1), NULL);
    }
    return round < 700;
}

static tina_sim_report sim_run(uint64_t seed, int with_hook) {
    static tina_type_spec types[1];
    static tina_child_spec children[1];
    types[0] = (tina_type_spec)H_TYPE("sink", uint64_t, 1, 64, 1, NULL, sim_sink);
    children[0] = (tina_child_spec)H_CHILD(0, TINA_SHARD_EVERY);
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_sim_config config = {.seed = seed, .shuffle = 1, .round_limit = 100000,
                              .inject = with_hook ? sim_hook : NULL};
    g_sim_seen = 0;
    tina_sim_report report;
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &report), TINA_OK);
    return report;
}

Test(inject, under_the_simulator_the_hook_is_part_of_the_seed, .timeout = 60) {
    unsetenv("TINA_SEED");
    tina_sim_report a = sim_run(11, 1);
    uint64_t seen = g_sim_seen;
    tina_sim_report b = sim_run(11, 1), none = sim_run(11, 0);
    h_assert_no_failures();
    cr_assert(eq(u64, seen, 101), "rounds 0, 7, ..., 700");
    cr_assert(eq(u64, a.total.injected, 101));
    cr_assert(eq(u64, a.digest, b.digest), "one seed, one execution");
    cr_assert(eq(u64, a.rounds, b.rounds));
    cr_assert(ge(u64, a.rounds, 701), "not quiescent while the hook had more");
    cr_assert(eq(u32, a.reason, TINA_SIM_QUIESCENT));
    cr_assert(not(eq(u64, a.digest, none.digest)), "the injections are in the digest");
    H_ASSERT_RESULT(g_sim_from_handler, TINA_EINJECT_THREAD);
    H_ASSERT_RESULT(g_sim_inside_call, TINA_ESTATE);
}

Test(inject, inject_slots_must_be_a_power_of_two_in_range) {
    tina_type_spec type;
    tina_child_spec child;
    tina_spec spec = one_consumer(&type, &child, 16);
    uint32_t bad[] = {1, 3, 1000, (1u << 20) * 2};
    for (uint32_t k = 0; k < H_COUNT(bad); k++) {
        spec.inject_slots = bad[k];
        H_ASSERT_RESULT(tina_validate(&spec, NULL), TINA_ESPEC_INJECT);
    }
    spec.inject_slots = 2;
    H_ASSERT_RESULT(tina_validate(&spec, NULL), TINA_OK);
}
