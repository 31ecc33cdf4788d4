/*
 * test_supervise.c -- the supervision tree.
 *
 * Members are static children that record each start (and their current
 * handle) in per-child counters; a driver isolate in the root group sends
 * them "crash" or "done" commands, one per step, with a few passes between
 * steps so that restarts (phase 3 of the next pass) have happened.  After
 * the run the test asserts the start counts and the counters.
 */
#include <signal.h>

#include "helpers.h"

typedef struct plain {
    uint64_t unused;
} plain;

enum { TAG_CRASH = H_TAG_FIRST, TAG_DONE, TAG_STEP };
#define MEMBERS_MAX 8u
#define STEPS_MAX 16u
#define STEP_PASSES 4u

/* Per-child bookkeeping, written by the shard thread. */
static uint32_t g_starts[MEMBERS_MAX];
static tina_handle g_handle[MEMBERS_MAX];

/* The script: (child, tag) per step; the driver waits `gap_ns` between steps. */
static struct {
    uint32_t child[STEPS_MAX];
    uint16_t tag[STEPS_MAX];
    uint32_t count;
    uint64_t gap_ns;
} g_script;

static uint32_t g_step;
static int g_driver_stops;

static void script_reset(void) {
    g_step = 0;
    g_driver_stops = 1;
    memset(g_starts, 0, sizeof(g_starts));
    memset(g_handle, 0, sizeof(g_handle));
    memset(&g_script, 0, sizeof(g_script));
}

static void script_add(uint32_t child, uint16_t tag) {
    g_script.child[g_script.count] = child;
    g_script.tag[g_script.count] = tag;
    g_script.count++;
}

static uint32_t member_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self);
    uint32_t id;
    H_CHECK_EQ(ctx, size, sizeof(id));
    memcpy(&id, args, sizeof(id));
    g_starts[id]++;
    g_handle[id] = tina_self(ctx);
    return 0;
}

static tina_effect member(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TAG_CRASH) return tina_crash(7);
    if (msg->tag == TAG_DONE) return tina_done();
    return tina_receive();
}

typedef struct driver {
    uint32_t waited;
} driver;

/* g_step: the script position outlives the driver, so a driver rebuilt by
 * a revival does not replay the script.  g_driver_stops: whether the driver
 * ends the run at the end of the script (otherwise another isolate does). */

static tina_effect driver_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    driver *d = self;
    H_UNUSED(msg);
    if (d->waited < STEP_PASSES) { /* let restarts happen before the next step */
        d->waited++;
        return tina_yield();
    }
    if (g_step == g_script.count) {
        if (g_driver_stops) tina_request_stop(ctx);
        return tina_receive();
    }
    uint32_t child = g_script.child[g_step];
    tina_result r = tina_send(ctx, g_handle[child], g_script.tag[g_step], NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    g_step++;
    d->waited = 0;
    if (g_script.gap_ns) {
        tina_timer_id id;
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, g_script.gap_ns, 0, TAG_STEP, &id), TINA_OK);
        d->waited = STEP_PASSES; /* the timer is the wait */
        return tina_receive();
    }
    return tina_yield();
}

/* Child 0 is the driver (root group); members are children 1..n. */
static tina_type_spec g_types[2];
static tina_child_spec g_children[MEMBERS_MAX];
static uint32_t g_ids[MEMBERS_MAX];

static tina_spec tree_spec(const tina_group_spec *groups, uint32_t group_count,
                           const uint32_t *member_group, const uint32_t *member_restart,
                           uint32_t members) {
    g_types[0] = (tina_type_spec)H_TYPE("driver", driver, 1, 0, 1, h_kick_init, driver_handle);
    g_types[1] = (tina_type_spec)H_TYPE("member", plain, MEMBERS_MAX, 0, 1, member_init, member);
    g_children[0] = (tina_child_spec)H_CHILD(0, 0);
    for (uint32_t m = 1; m <= members; m++) {
        g_ids[m] = m;
        g_children[m] = (tina_child_spec){.type_id = 1, .shard = 0, .restart = member_restart[m - 1],
                                          .args_size = sizeof(uint32_t), .args = &g_ids[m],
                                          .group = member_group[m - 1]};
    }
    tina_spec spec = h_spec(g_types, 2, g_children, members + 1, 1);
    spec.groups = groups;
    spec.group_count = group_count;
    return spec;
}

/* ---- each strategy with each restart type --------------------------------- */

static const char *const strategy_names[] = {"one-for-one", "one-for-all", "rest-for-one"};

Test(supervise, each_strategy_with_each_restart_type, .timeout = 60) {
    static const struct {
        uint32_t restart;
        uint16_t tag;
        int triggers;
    } scenarios[] = {
        {TINA_RESTART_PERMANENT, TAG_DONE, 1},  {TINA_RESTART_PERMANENT, TAG_CRASH, 1},
        {TINA_RESTART_TRANSIENT, TAG_DONE, 0},  {TINA_RESTART_TRANSIENT, TAG_CRASH, 1},
        {TINA_RESTART_TEMPORARY, TAG_CRASH, 0},
    };
    for (uint32_t strategy = 0; strategy < 3; strategy++) {
        for (uint32_t k = 0; k < H_COUNT(scenarios); k++) {
            script_reset();
            tina_group_spec groups[2] = {
                {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 100,
                 .window_ns = H_MS(1000)},
                {.parent = 0, .strategy = strategy, .restart_max = 100, .window_ns = H_MS(1000)}};
            /* A, B, C in group 1; B is the one that ends.  C is temporary:
             * whatever the strategy does to it, it is never restarted. */
            uint32_t in_group[3] = {1, 1, 1};
            uint32_t restart[3] = {TINA_RESTART_PERMANENT, scenarios[k].restart,
                                   TINA_RESTART_TEMPORARY};
            script_add(2, scenarios[k].tag);
            tina_spec spec = tree_spec(groups, 2, in_group, restart, 3);
            tina_runtime *rt = h_create(&spec);
            h_run(rt);
            h_assert_no_failures();
            tina_shard_stats st = h_stats(rt, 0);
            int trig = scenarios[k].triggers;
            uint32_t want_a = 1 + (trig && strategy == TINA_ONE_FOR_ALL);
            uint32_t want_b = 1 + (uint32_t)trig;
            uint32_t want_c_alive = !(trig && strategy != TINA_ONE_FOR_ONE);
            cr_assert(eq(u32, g_starts[1], want_a), "%s, scenario %u: A", strategy_names[strategy], k);
            cr_assert(eq(u32, g_starts[2], want_b), "%s, scenario %u: B", strategy_names[strategy], k);
            cr_assert(eq(u32, g_starts[3], 1), "%s, scenario %u: C is temporary",
                      strategy_names[strategy], k);
            cr_assert(eq(u64, st.restarts, (uint64_t)(want_a - 1 + want_b - 1)),
                      "%s, scenario %u", strategy_names[strategy], k);
            uint64_t want_terminated = (want_a - 1) + (1 - want_c_alive);
            cr_assert(eq(u64, st.terminated, want_terminated), "%s, scenario %u",
                      strategy_names[strategy], k);
            /* driver + A + B (unless it stayed dead) + C (unless torn down) */
            uint64_t want_live = 2 + (want_b == 2) + want_c_alive;
            cr_assert(eq(u64, st.live, want_live), "%s, scenario %u", strategy_names[strategy], k);
            h_assert_shard_clean(rt, &spec, 0);
            tina_destroy(rt);
        }
    }
}

/* ---- budgets ---------------------------------------------------------------- */

static tina_shard_stats run_budget(uint64_t window_ns, uint64_t gap_ns, uint32_t crashes) {
    script_reset();
    tina_group_spec groups[2] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 100,
         .window_ns = H_MS(10000)},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 3, .window_ns = window_ns}};
    uint32_t in_group[2] = {1, 1};
    uint32_t restart[2] = {TINA_RESTART_PERMANENT, TINA_RESTART_PERMANENT};
    for (uint32_t k = 0; k < crashes; k++) script_add(1, TAG_CRASH);
    g_script.gap_ns = gap_ns;
    tina_spec spec = tree_spec(groups, 2, in_group, restart, 2);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt);
    return st;
}

Test(supervise, budget_escalates_exactly_at_max_plus_one_inside_the_window, .timeout = 30) {
    tina_shard_stats st = run_budget(H_MS(10000), 0, 3);
    cr_assert(eq(u64, st.escalations, 0), "three restarts fit a budget of three");
    cr_assert(eq(u32, g_starts[2], 1), "the sibling was untouched");
    st = run_budget(H_MS(10000), 0, 4);
    cr_assert(eq(u64, st.escalations, 1), "the fourth restart inside the window escalates");
    /* The root restarted group 1 as a member: both children came back. */
    cr_assert(eq(u32, g_starts[1], 5));
    cr_assert(eq(u32, g_starts[2], 2));
    cr_assert(eq(u64, st.quarantines, 0));
}

Test(supervise, the_same_restarts_spread_beyond_the_window_do_not_escalate, .timeout = 30) {
    /* Window 20 ms, a crash every 25 ms: the fourth restart is 75 ms after
     * the first.  Delays on a busy machine only widen the gaps. */
    tina_shard_stats st = run_budget(H_MS(20), H_MS(25), 6);
    cr_assert(eq(u64, st.escalations, 0));
    cr_assert(eq(u32, g_starts[1], 7));
    cr_assert(eq(u32, g_starts[2], 1));
}

/* ---- nested escalation ------------------------------------------------------ */

Test(supervise, nested_escalation_climbs_one_level_per_exhausted_budget, .timeout = 30) {
    script_reset();
    /* root (OFO) <- g1 (OFO, 1 restart) <- g2 (OFO, 1 restart).  X in g2, Y in g1. */
    tina_group_spec groups[3] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 100,
         .window_ns = H_MS(10000)},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1, .window_ns = H_MS(10000)},
        {.parent = 1, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1, .window_ns = H_MS(10000)}};
    uint32_t in_group[2] = {2, 1};
    uint32_t restart[2] = {TINA_RESTART_PERMANENT, TINA_RESTART_PERMANENT};
    for (uint32_t k = 0; k < 4; k++) script_add(1, TAG_CRASH);
    tina_spec spec = tree_spec(groups, 3, in_group, restart, 2);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    /* crash 1: g2 restarts X.  crash 2: g2 over budget -> g1 restarts g2 (X).
     * crash 3: g2 (fresh budget) restarts X.  crash 4: g2 over -> g1 over ->
     * root restarts g1: X and Y. */
    cr_assert(eq(u64, st.escalations, 3));
    cr_assert(eq(u32, g_starts[1], 5));
    cr_assert(eq(u32, g_starts[2], 2), "Y came back only when g1 itself was restarted");
    cr_assert(eq(u64, st.quarantines, 0));
    tina_destroy(rt);
}

Test(supervise, a_tree_deeper_than_eight_is_refused, .timeout = 10) {
    tina_group_spec groups[10];
    for (uint32_t g = 0; g < 10; g++)
        groups[g] = (tina_group_spec){.parent = g == 0 ? TINA_GROUP_NONE : g - 1,
                                      .restart_max = 1, .window_ns = 1};
    uint32_t in_group[1] = {0};
    uint32_t restart[1] = {TINA_RESTART_PERMANENT};
    tina_spec spec = tree_spec(groups, 10, in_group, restart, 1);
    tina_boot_report report;
    H_ASSERT_RESULT(tina_validate(&spec, &report), TINA_ESPEC_GROUP);
    cr_assert(not(eq(ptr, strstr(report.message, "depth"), NULL)), "%s", report.message);
}

/* ---- quarantine and revival ------------------------------------------------- */

static tina_runtime *g_rt;
static uint32_t g_quarantined_notices, g_restarted_notices, g_stale_sends;
static int g_revive_by_signal;

static tina_effect watcher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    uint32_t shard;
    if (msg->tag == TINA_TAG_SHARD_QUARANTINED) {
        memcpy(&shard, msg->payload, sizeof(shard));
        H_CHECK_EQ(ctx, shard, 0);
        g_quarantined_notices++;
        /* Every handle on the quarantined shard is stale now. */
        if (tina_send(ctx, tina_child_handle(ctx, 0, 0), H_TAG_KICK, NULL, 0) == TINA_ESTALE)
            g_stale_sends++;
        if (g_revive_by_signal) H_CHECK_EQ(ctx, kill(getpid(), SIGUSR2), 0);
        else H_CHECK_RESULT(ctx, tina_revive(g_rt, 0), TINA_OK);
    } else if (msg->tag == TINA_TAG_SHARD_RESTARTED) {
        memcpy(&shard, msg->payload, sizeof(shard));
        H_CHECK_EQ(ctx, shard, 0);
        g_restarted_notices++;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static void quarantine_and_revive(int by_signal) {
    script_reset();
    g_revive_by_signal = by_signal;
    g_quarantined_notices = g_restarted_notices = g_stale_sends = 0;
    tina_group_spec groups[1] = {{.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,
                                  .restart_max = 1, .window_ns = H_MS(10000)}};
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("driver", driver, 1, 0, 1, h_kick_init, driver_handle);
    types[1] = (tina_type_spec)H_TYPE("member", plain, MEMBERS_MAX, 0, 1, member_init, member);
    types[2] = (tina_type_spec)H_TYPE("watcher", plain, 1, 0, 1, NULL, watcher);
    g_ids[1] = 1;
    tina_child_spec children[3] = {
        H_CHILD(0, 0),
        {.type_id = 1, .shard = 0, .restart = TINA_RESTART_PERMANENT,
         .args_size = sizeof(uint32_t), .args = &g_ids[1]},
        H_CHILD(2, 1)};
    script_add(1, TAG_CRASH);
    script_add(1, TAG_CRASH); /* second restart inside the window: the root fails */
    g_driver_stops = 0;       /* the watcher ends the run */
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    spec.groups = groups;
    spec.group_count = 1;
    spec.no_signal_handlers = !by_signal;
    g_rt = h_create(&spec);
    h_run(g_rt);
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(g_rt, 0), s1 = h_stats(g_rt, 1);
    cr_assert(eq(u64, s0.escalations, 1));
    cr_assert(eq(u64, s0.quarantines, 1));
    cr_assert(eq(u64, s0.revivals, 1));
    cr_assert(eq(u32, g_quarantined_notices, 1), "the peer heard of the quarantine once");
    cr_assert(eq(u32, g_restarted_notices, 1), "and of the revival once");
    cr_assert(eq(u32, g_stale_sends, 1), "sends to the quarantined shard were stale");
    cr_assert(eq(u64, s1.peer_notices, 2));
    cr_assert(eq(u32, g_starts[1], 3), "boot, one restart, then rebuilt from the spec");
    cr_assert(eq(u64, s0.live, 2), "driver and member are back");
    cr_assert(eq(int, tina_quarantined(g_rt, 0), 0));
    tina_destroy(g_rt);
}

Test(supervise, root_over_budget_quarantines_and_revival_rebuilds, .timeout = 30) {
    quarantine_and_revive(0);
}

Test(supervise, sigusr2_revives_a_quarantined_shard, .timeout = 30) { quarantine_and_revive(1); }

Test(supervise, abort_policy_aborts_the_process, .timeout = 30, .signal = SIGABRT) {
    script_reset();
    tina_group_spec groups[1] = {{.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,
                                  .restart_max = 1, .window_ns = H_MS(10000)}};
    uint32_t in_group[1] = {0};
    uint32_t restart[1] = {TINA_RESTART_PERMANENT};
    script_add(1, TAG_CRASH);
    script_add(1, TAG_CRASH);
    tina_spec spec = tree_spec(groups, 1, in_group, restart, 1);
    spec.quarantine_abort = 1;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    cr_fail("the process should have aborted");
}

/* ---- dynamic children ------------------------------------------------------- */

/* A one-for-one group with room for two dynamic children; its spawner (a
 * static child of the root) spawns into it.  Scripted through ticks. */
static tina_result g_third, g_into_root, g_after_room;
static uint32_t g_dyn_starts;
static tina_handle g_dyn[3];
static uint64_t g_dyn_escalations;

static uint32_t dyn_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(ctx);
    H_CHECK_EQ(ctx, size, sizeof(uint32_t));
    uint32_t id;
    memcpy(&id, args, sizeof(id));
    g_dyn_starts++;
    if (id < 3) g_dyn[id] = tina_self(ctx);
    return 0;
}

static uint32_t dyn_spawner_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_STEP, &id), TINA_OK);
    return 0;
}

static tina_effect dyn_spawner(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *tick = self;
    H_UNUSED(msg);
    static const uint32_t ids[3] = {0, 1, 2};
    tina_handle h;
    switch (++*tick) {
    case 1:
        H_CHECK_RESULT(ctx, tina_spawn_child(ctx, 1, TINA_RESTART_PERMANENT, 1, &ids[0], 4, &h),
                       TINA_OK);
        H_CHECK_RESULT(ctx, tina_spawn_child(ctx, 1, TINA_RESTART_TEMPORARY, 1, &ids[1], 4, &h),
                       TINA_OK);
        g_third = tina_spawn_child(ctx, 1, TINA_RESTART_TEMPORARY, 1, &ids[2], 4, &h);
        g_into_root = tina_spawn_child(ctx, 0, TINA_RESTART_TEMPORARY, 1, &ids[2], 4, &h);
        break;
    case 3: /* the permanent one crashes: restarted by its group */
        H_CHECK_RESULT(ctx, tina_send(ctx, g_dyn[0], TAG_CRASH, NULL, 0), TINA_OK);
        break;
    case 5: /* the temporary one finishes: its room comes back */
        H_CHECK_RESULT(ctx, tina_send(ctx, g_dyn[1], TAG_DONE, NULL, 0), TINA_OK);
        break;
    case 7:
        g_after_room = tina_spawn_child(ctx, 1, TINA_RESTART_TEMPORARY, 1, &ids[2], 4, &h);
        break;
    case 9: /* crash the permanent one twice more: budget 2 in the window -> escalation */
    case 11:
        H_CHECK_RESULT(ctx, tina_send(ctx, g_dyn[0], TAG_CRASH, NULL, 0), TINA_OK);
        break;
    case 14:
        g_dyn_escalations = tina_ctx_stats(ctx)->escalations;
        tina_request_stop(ctx);
        break;
    }
    return tina_receive();
}

Test(supervise, dynamic_children_have_a_cap_restarts_and_end_with_their_group, .timeout = 30) {
    g_dyn_starts = 0;
    memset(g_dyn, 0, sizeof(g_dyn));
    tina_group_spec groups[2] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 10,
         .window_ns = H_MS(10000)},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 2, .window_ns = H_MS(10000),
         .dynamic_max = 2}};
    static tina_type_spec types[2];
    types[0] = (tina_type_spec)H_TYPE("spawner", uint32_t, 1, 0, 1, dyn_spawner_init, dyn_spawner);
    types[1] = (tina_type_spec)H_TYPE("dynamic", plain, 4, 0, 1, dyn_init, member);
    tina_child_spec children[1] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    spec.groups = groups;
    spec.group_count = 2;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    H_ASSERT_RESULT(g_third, TINA_EGROUP_FULL);
    H_ASSERT_RESULT(g_into_root, TINA_EINVAL);
    H_ASSERT_RESULT(g_after_room, TINA_OK);
    /* starts: 2 spawned, 1 restart, 1 spawned after the room came back,
     * 1 more restart; the third crash escalates: the group is restarted by
     * the root and both its dynamic children end with it. */
    cr_assert(eq(u32, g_dyn_starts, 5));
    cr_assert(eq(u64, g_dyn_escalations, 1));
    cr_assert(eq(u64, st.restarts, 2));
    cr_assert(eq(u64, st.live, 1), "only the spawner is left");
    cr_assert(eq(u64, st.pool_user_free, spec.pool_user_slots));
    cr_assert(eq(u64, st.timers_live, 1), "the spawner's periodic timer only");
    tina_destroy(rt);
}

/* ---- supervision needs no message slot ------------------------------------ */

/* A hog exhausts the user region (its sink sits in a call that is never
 * answered); then a permanent child crashes on a timer, which needs no slot
 * either.  It is restarted all the same. */
static uint64_t g_free_at_restart = UINT64_MAX;
static uint32_t g_victim_starts;

static uint32_t victim_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    if (++g_victim_starts == 2) {
        g_free_at_restart = tina_ctx_stats(ctx)->pool_user_free;
        tina_request_stop(ctx);
        return 0;
    }
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(20), 0, TAG_STEP, &id), TINA_OK);
    return 0;
}

static tina_effect victim(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    return msg->tag == TAG_STEP ? tina_crash(5) : tina_receive();
}

static tina_effect sink(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) /* park in a call nobody answers: mail piles up */
        return tina_call(tina_child_handle(ctx, 0, 0), TAG_STEP, NULL, 0, 3600ull * 1000000000ull);
    return tina_receive();
}

static tina_effect hog(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    /* Fill whatever is free, every pass: its resume notice takes no slot,
     * so the region stays empty between its turns. */
    while (tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_STEP, NULL, 0) == TINA_OK) {
    }
    return tina_yield();
}

Test(supervise, a_restart_works_with_the_pool_exhausted, .timeout = 30) {
    g_victim_starts = 0;
    g_free_at_restart = UINT64_MAX;
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("victim", plain, 1, 0, 1, victim_init, victim);
    types[1] = (tina_type_spec)H_TYPE("sink", plain, 1, 4096, 1, h_kick_init, sink);
    types[2] = (tina_type_spec)H_TYPE("hog", plain, 1, 0, 1, h_kick_init, hog);
    tina_child_spec children[3] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 0)};
    children[0].restart = TINA_RESTART_PERMANENT;
    tina_spec spec = h_spec(types, 3, children, 3, 1);
    spec.pool_user_slots = 64;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(u32, g_victim_starts, 2), "restarted");
    cr_assert(eq(u64, g_free_at_restart, 0), "while the user region was empty");
    cr_assert(eq(u64, h_stats(rt, 0).restarts, 1));
    tina_destroy(rt);
}
