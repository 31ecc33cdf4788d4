/*
 * test_shutdown.c -- graceful shutdown.
 *
 * Every live isolate on every shard gets exactly one TINA_TAG_SHUTDOWN
 * message, even with the pool's user region exhausted; isolates drain
 * their mail and are done when they park idle; nothing restarts; an
 * isolate that never finishes is cut off by shutdown_timeout_ns and
 * counted; tina_run returns TINA_OK in every case.
 */
#include "helpers.h"
#include "shard/shard.h" /* the sleeper's predicate, read directly */

typedef struct plain {
    uint64_t unused;
} plain;

#define TAG_FILL H_TAG_FIRST
#define TAG_WORK (H_TAG_FIRST + 1)
#define WORKERS_PER_SHARD 8u

static _Atomic uint64_t g_notices, g_notice_kinds_ok;

static void note_shutdown(const tina_msg *msg) {
    atomic_fetch_add(&g_notices, 1);
    if (msg->kind == TINA_MSG_SYSTEM && msg->from == 0) atomic_fetch_add(&g_notice_kinds_ok, 1);
}

/* ---- with the pool exhausted ---------------------------------------------- */

static tina_effect worker(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_SHUTDOWN) note_shutdown(msg);
    return tina_receive();
}

/* Sits in a call nobody answers (timeout one hour): never consumes mail. */
static tina_effect sink(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 0, 0), TAG_WORK, NULL, 0, 3600ull * 1000000000ull);
    if (msg->tag == TINA_TAG_SHUTDOWN) note_shutdown(msg);
    return tina_receive();
}

/* Fills the user region with mail for the sink, then asks for shutdown. */
static tina_effect hog(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TINA_TAG_SHUTDOWN) {
        note_shutdown(msg);
        return tina_receive();
    }
    if (msg->tag != H_TAG_KICK && msg->tag != TINA_TAG_RESUME) return tina_receive();
    tina_handle sink_handle = tina_child_handle(ctx, 1, 0);
    tina_result r;
    while ((r = tina_send(ctx, sink_handle, TAG_FILL, NULL, 0)) == TINA_OK) {
    }
    if (r != TINA_EPOOL_EXHAUSTED) return tina_yield(); /* the sink's first call may lag */
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->pool_user_free, 0);
    tina_request_shutdown(ctx);
    return tina_receive();
}

Test(shutdown, reaches_every_isolate_with_the_pool_exhausted, .timeout = 30) {
    atomic_store(&g_notices, 0);
    atomic_store(&g_notice_kinds_ok, 0);
    tina_type_spec types[] = {
        H_TYPE("worker", plain, WORKERS_PER_SHARD, 0, 1, NULL, worker),
        H_TYPE("sink", plain, 1, 4096, 1, h_kick_init, sink),
        H_TYPE("hog", plain, 1, 0, 1, h_kick_init, hog),
    };
    tina_child_spec children[WORKERS_PER_SHARD + 2];
    children[0] = (tina_child_spec)H_CHILD(0, TINA_SHARD_EVERY);
    children[1] = (tina_child_spec)H_CHILD(1, 0);
    children[2] = (tina_child_spec)H_CHILD(2, 0);
    for (uint32_t c = 3; c < WORKERS_PER_SHARD + 2; c++)
        children[c] = (tina_child_spec)H_CHILD(0, TINA_SHARD_EVERY);
    tina_spec spec = h_spec(types, 3, children, WORKERS_PER_SHARD + 2, 2);
    spec.pool_user_slots = 64;
    spec.shutdown_timeout_ns = H_MS(200); /* the sink's call would outlast it */
    tina_runtime *rt = h_create(&spec);
    cr_assert(eq(int, tina_run(rt), TINA_OK));
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    uint64_t expected = 2 * WORKERS_PER_SHARD + 1 /* hog */ + 1 /* sink */;
    /* The sink was parked in an hour-long call: the shutdown cut it short
     * (TINA_ESHUTDOWN), so it got its notice too, drained its mail and
     * ended; nothing waited for the 200 ms bound. */
    cr_assert(eq(u64, atomic_load(&g_notices), expected));
    cr_assert(eq(u64, atomic_load(&g_notice_kinds_ok), expected), "system kind, from no one");
    cr_assert(eq(u64, s0.shutdown_notices + s1.shutdown_notices, expected));
    cr_assert(ge(u64, s0.pool_exhausted, 1), "the pool really was exhausted");
    cr_assert(eq(u64, s0.shutdown_forced, 0), "nobody was left for the timeout");
    cr_assert(eq(u64, s0.live + s1.live, 0), "both shards drained completely");
    tina_destroy(rt);
}

/* ---- draining ------------------------------------------------------------ */

#define QUEUED 100u
static uint64_t g_drained_after_notice;
static int g_saw_notice;

static tina_effect drainer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_SHUTDOWN) g_saw_notice = 1;
    else if (msg->tag == TAG_WORK && g_saw_notice) g_drained_after_notice++;
    return tina_receive();
}

static uint32_t feeder_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    for (uint32_t k = 0; k < QUEUED; k++)
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_WORK, NULL, 0), TINA_OK);
    tina_request_shutdown(ctx); /* the mail is queued; the notice goes ahead of it */
    return 0;
}

static tina_effect feeder(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

Test(shutdown, an_isolate_drains_its_mail_then_is_done, .timeout = 30) {
    g_drained_after_notice = 0;
    g_saw_notice = 0;
    tina_type_spec types[] = {H_TYPE("drainer", plain, 1, 256, 1, NULL, drainer),
                              H_TYPE("feeder", plain, 1, 0, 1, feeder_init, feeder)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_create(&spec);
    cr_assert(eq(int, tina_run(rt), TINA_OK));
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u64, g_drained_after_notice, QUEUED), "all queued mail handled after the notice");
    cr_assert(eq(u64, st.done, 2));
    cr_assert(eq(u64, st.live, 0));
    cr_assert(eq(u64, st.shutdown_forced, 0));
    cr_assert(eq(u64, st.pool_user_free, spec.pool_user_slots));
    tina_destroy(rt);
}

/* ---- nothing restarts; the timeout cuts off a spinner -------------------- */

static tina_effect quitter(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* permanent: not restarted now */
    return tina_receive();
}

static uint64_t g_spins;
static tina_effect spinner(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    if (++g_spins == 1000) tina_request_shutdown(ctx);
    return tina_yield(); /* ignores the notice, never parks */
}

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

Test(shutdown, nothing_restarts_and_the_timeout_bounds_a_spinner, .timeout = 30) {
    g_spins = 0;
    tina_type_spec types[] = {H_TYPE("quitter", plain, 2, 0, 1, NULL, quitter),
                              H_TYPE("spinner", plain, 1, 0, 1, h_kick_init, spinner)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(0, 1), H_CHILD(1, 1)};
    children[0].restart = TINA_RESTART_PERMANENT;
    children[1].restart = TINA_RESTART_PERMANENT;
    tina_spec spec = h_spec(types, 2, children, 3, 2);
    spec.shutdown_timeout_ns = H_MS(100);
    tina_runtime *rt = h_create(&spec);
    uint64_t start = wall_ns();
    cr_assert(eq(int, tina_run(rt), TINA_OK));
    uint64_t took = wall_ns() - start;
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s0.restarts + s1.restarts, 0), "permanent children are not restarted");
    cr_assert(eq(u64, s0.done + s1.done, 2));
    cr_assert(eq(u64, s1.shutdown_forced, 1), "the spinner was cut off");
    cr_assert(eq(u64, s0.shutdown_forced, 0));
    cr_assert(lt(u64, took, H_MS(5000)), "bounded by the 100 ms timeout, not the default 5 s");
    tina_destroy(rt);
}

/* ---- the end of a shutdown reaches a shard about to sleep ----------------- */

/* A drained shard waiting for the others sleeps until a doorbell or its
 * shutdown deadline.  The last shard to drain rings only peers it finds
 * asleep; one that is past its last look but not yet asleep sees no
 * doorbell.  So the sleeper's own last look (tina__shard_has_news, read
 * after its heavy barrier) must see that every shard has drained, or it
 * sleeps until its deadline -- 5 s by default.  The race is a window of
 * nanoseconds between two threads; the predicate it hinges on is tested
 * here directly, on a runtime whose threads are parked. */
Test(shutdown, a_shard_about_to_sleep_sees_that_every_shard_drained, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("quitter", plain, 1, 0, 1, NULL, quitter)};
    tina_spec spec = h_spec(types, 1, NULL, 0, 2);
    tina_runtime *rt = h_create(&spec);
    struct tina__shard *s = rt->shards[0];
    s->shutdown_seen = 1;
    s->quarantine_epoch_seen = atomic_load(&rt->quarantine_epoch);
    atomic_store(&rt->shutdown, 1);
    cr_assert(eq(int, tina__shard_has_news(s), 0), "mid-shutdown, nothing new yet");
    atomic_store(&rt->drained_count, rt->shard_count);
    cr_assert(ne(int, tina__shard_has_news(s), 0), "every shard drained: that is news");
    s->shutdown_seen = 0; /* as created, for tina_destroy */
    atomic_store(&rt->shutdown, 0);
    atomic_store(&rt->drained_count, 0);
    tina_destroy(rt);
}
