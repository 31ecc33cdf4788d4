/*
 * test_monitor.c -- monitors fire exactly once per death, locally and across
 * shards, never for a successor, and on quarantine.
 *
 * A watcher monitors a target, then tells it to end (crash, done); the
 * target is a permanent static child, so it comes back with a new handle
 * that nobody monitors: a second death must not produce a second DOWN.
 */
#include "helpers.h"

typedef struct plain {
    uint64_t unused;
} plain;

enum { TAG_CRASH = H_TAG_FIRST, TAG_DONE, TAG_TICK };

static uint32_t g_downs, g_target_starts;
static tina_down g_last_down;
static tina_handle g_first_target;

static uint32_t target_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(args), H_UNUSED(size);
    g_target_starts++;
    return 0;
}

static tina_effect target(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TAG_CRASH) return tina_crash(9);
    if (msg->tag == TAG_DONE) return tina_done();
    return tina_receive();
}

/* args: the tag to end the target with.  The watcher monitors child 0 on
 * shard 0 (its boot handle), ends it on the first 5 ms tick (the request has
 * arrived by then, even from another shard) and stops on the eighth; the
 * restarted target is not monitored, so exactly one DOWN may arrive. */
typedef struct watcher {
    uint16_t end_tag;
    uint32_t ticks;
} watcher;

static uint32_t watcher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    watcher *w = self;
    H_CHECK_EQ(ctx, size, sizeof(uint16_t));
    memcpy(&w->end_tag, args, sizeof(uint16_t));
    g_first_target = tina_child_handle(ctx, 0, 0);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, g_first_target), TINA_OK);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(5), H_MS(5), TAG_TICK, &id), TINA_OK);
    return 0;
}

static tina_effect watcher_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    watcher *w = self;
    if (msg->tag == TINA_TAG_DOWN) {
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SYSTEM);
        H_CHECK_EQ(ctx, msg->size, sizeof(tina_down));
        memcpy(&g_last_down, msg->payload, sizeof(g_last_down));
        g_downs++;
        return tina_receive();
    }
    if (msg->tag != TAG_TICK) return tina_receive();
    w->ticks++;
    if (w->ticks == 1) /* the monitor request has arrived by now */
        H_CHECK_RESULT(ctx, tina_send(ctx, g_first_target, w->end_tag, NULL, 0), TINA_OK);
    if (w->ticks == 8) tina_request_stop(ctx);
    return tina_receive();
}

static void run_watch(uint32_t watcher_shard, uint16_t end_tag, uint32_t want_how) {
    g_downs = g_target_starts = 0;
    memset(&g_last_down, 0, sizeof(g_last_down));
    static uint16_t tag;
    tag = end_tag;
    tina_type_spec types[] = {H_TYPE("target", plain, 1, 0, 1, target_init, target),
                              H_TYPE("watcher", watcher, 1, 0, 1, watcher_init, watcher_handle)};
    tina_child_spec children[] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_PERMANENT},
        {.type_id = 1, .shard = watcher_shard, .args_size = sizeof(tag), .args = &tag}};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(u32, g_downs, 1), "exactly one DOWN");
    cr_assert(eq(u64, g_last_down.target, g_first_target));
    cr_assert(eq(u32, g_last_down.how, want_how));
    cr_assert(eq(u32, g_last_down.reason, want_how == TINA_DOWN_CRASHED ? 9u : 0u));
    cr_assert(eq(u32, g_target_starts, 2), "the target was restarted");
    tina_destroy(rt);
}

Test(monitor, local_crash_gives_one_down, .timeout = 30) {
    run_watch(0, TAG_CRASH, TINA_DOWN_CRASHED);
}
Test(monitor, local_done_gives_one_down, .timeout = 30) { run_watch(0, TAG_DONE, TINA_DOWN_DONE); }
Test(monitor, cross_shard_crash_gives_one_down, .timeout = 30) {
    run_watch(1, TAG_CRASH, TINA_DOWN_CRASHED);
}
Test(monitor, cross_shard_done_gives_one_down, .timeout = 30) {
    run_watch(1, TAG_DONE, TINA_DOWN_DONE);
}

/* ---- NOPROC, and never to a watcher's successor ---------------------------- */

static uint32_t g_noproc_local, g_noproc_remote, g_successor_downs;

static tina_effect prober(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        /* Generation 7 of slot 0 was never alive: a dead handle, here and there. */
        H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_handle_make(0, 0, 0, 7)), TINA_OK);
        H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_handle_make(1, 0, 0, 7)), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TINA_TAG_DOWN) {
        tina_down d;
        memcpy(&d, msg->payload, sizeof(d));
        H_CHECK_EQ(ctx, d.how, TINA_DOWN_NOPROC);
        if (tina_handle_shard(d.target) == 0) g_noproc_local++;
        else g_noproc_remote++;
        if (g_noproc_local + g_noproc_remote == 2) tina_request_stop(ctx);
    }
    return tina_receive();
}

Test(monitor, a_dead_handle_gives_noproc_here_and_there, .timeout = 30) {
    g_noproc_local = g_noproc_remote = 0;
    tina_type_spec types[] = {H_TYPE("target", plain, 1, 0, 1, NULL, target),
                              H_TYPE("prober", plain, 1, 0, 1, h_kick_init, prober)};
    tina_child_spec children[] = {H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 1, 2);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(u32, g_noproc_local, 1));
    cr_assert(eq(u32, g_noproc_remote, 1));
    tina_destroy(rt);
}

/* A short-lived watcher monitors the target and finishes; a new watcher
 * takes its slot; then the target dies: the DOWN is stale, dropped. */
static tina_handle g_target_handle;

/* No args: the first watcher (monitors, then finishes).  With args: its
 * successor in the same slot, which monitors nothing and stays. */
static tina_handle g_shortlived, g_successor;

static uint32_t shortlived_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args);
    if (size > 0) {
        g_successor = tina_self(ctx);
        return 0;
    }
    g_shortlived = tina_self(ctx);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, g_target_handle), TINA_OK);
    h_kick(ctx);
    return 0;
}

static tina_effect shortlived(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_DOWN) g_successor_downs++;
    if (msg->tag == H_TAG_KICK && !tina_shutting_down(ctx)) return tina_done();
    return tina_receive();
}

static uint32_t spawner_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    g_target_handle = tina_child_handle(ctx, 0, 0);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(2), H_MS(2), TAG_TICK, &id), TINA_OK);
    return 0;
}

static tina_effect spawner(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *ticks = self;
    H_UNUSED(msg);
    ++*ticks;
    tina_handle h;
    if (*ticks == 1) H_CHECK_RESULT(ctx, tina_spawn(ctx, 2, NULL, 0, &h), TINA_OK);
    /* Tick 3: the first watcher is done; its slot goes to a plain successor
     * that monitors nothing (spawned with the same type, same slot). */
    if (*ticks == 3) {
        uint8_t successor_mode = 1;
        H_CHECK_RESULT(ctx, tina_spawn(ctx, 2, &successor_mode, 1, &h), TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, g_target_handle, TAG_CRASH, NULL, 0), TINA_OK);
    }
    if (*ticks == 10) tina_request_stop(ctx);
    return tina_receive();
}

Test(monitor, never_delivered_to_the_successor_of_a_dead_watcher, .timeout = 30) {
    g_successor_downs = 0;
    tina_type_spec types[] = {
        H_TYPE("target", plain, 1, 0, 1, NULL, target),
        H_TYPE("spawner", uint32_t, 1, 0, 1, spawner_init, spawner),
        H_TYPE("shortlived", plain, 1, 0, 1, shortlived_init, shortlived)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 3, children, 2, 1);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u32, tina_handle_slot(g_successor), tina_handle_slot(g_shortlived)),
              "the successor took the dead watcher's slot");
    cr_assert(ne(u64, g_successor, g_shortlived));
    cr_assert(eq(u32, g_successor_downs, 0));
    cr_assert(eq(u64, st.downs_sent, 0), "the DOWN found its watcher gone");
    cr_assert(eq(u64, st.pool_system_free, spec.pool_system_slots));
    tina_destroy(rt);
}

/* ---- quarantine -------------------------------------------------------------- */

/* Shard 0: a temporary target T (watched from shard 1) and a permanent
 * crasher C that crashes 20 ms after each start.  The root allows one
 * restart: C's second crash quarantines shard 0, which tears T down. */
static uint32_t g_quarantine_downs, g_quarantine_notices;
static tina_down g_quarantine_down;

static void q_maybe_stop(tina_ctx *ctx) {
    if (g_quarantine_downs && g_quarantine_notices) tina_request_stop(ctx);
}

static tina_effect q_watcher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TINA_TAG_DOWN) {
        memcpy(&g_quarantine_down, msg->payload, sizeof(g_quarantine_down));
        g_quarantine_downs++;
    } else if (msg->tag == TINA_TAG_SHARD_QUARANTINED) {
        g_quarantine_notices++;
    }
    q_maybe_stop(ctx);
    return tina_receive();
}

static uint32_t q_watcher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 0, 0)), TINA_OK);
    return 0;
}

static uint32_t crasher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(20), 0, TAG_TICK, &id), TINA_OK);
    return 0;
}

static tina_effect crasher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    return msg->tag == TAG_TICK ? tina_crash(3) : tina_receive();
}

Test(monitor, a_quarantine_gives_down_to_remote_watchers, .timeout = 30) {
    g_quarantine_downs = g_quarantine_notices = 0;
    tina_group_spec groups[1] = {{.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,
                                  .restart_max = 1, .window_ns = H_MS(10000)}};
    tina_type_spec types[] = {H_TYPE("target", plain, 1, 0, 1, NULL, target),
                              H_TYPE("watcher", plain, 1, 0, 1, q_watcher_init, q_watcher),
                              H_TYPE("crasher", plain, 1, 0, 1, crasher_init, crasher)};
    tina_child_spec children[] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY},
        {.type_id = 1, .shard = 1},
        {.type_id = 2, .shard = 0, .restart = TINA_RESTART_PERMANENT}};
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    spec.groups = groups;
    spec.group_count = 1;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.quarantines, 1));
    cr_assert(eq(u32, g_quarantine_downs, 1), "exactly one DOWN");
    cr_assert(eq(u32, g_quarantine_down.how, TINA_DOWN_QUARANTINED));
    cr_assert(eq(u64, g_quarantine_down.target, tina_runtime_child_handle(rt, 0, 0)));
    cr_assert(eq(u32, g_quarantine_notices, 1));
    tina_destroy(rt);
}
