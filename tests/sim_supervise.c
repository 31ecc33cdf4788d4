/*
 * sim_supervise.c -- supervision, escalation, quarantine and revival,
 * monitors and notices under the simulator: the same code paths as on
 * threads, one execution per seed.
 *
 * Shard 1's root group allows one restart per second.  Its `fragile` child
 * crashes twice: the second restart is over budget, the root fails, shard 1
 * is quarantined.  Shard 0's `watcher` monitors the fragile one, hears the
 * quarantine notice, and -- after revive_after_rounds, the simulated
 * operator -- the restart notice; the fragile child is restarted by the
 * revival with a new handle and stays up.
 */
#include "helpers.h"

static uint32_t g_crashes, g_quarantined, g_restarted, g_downs_crashed, g_fragile_boots;
static tina_handle g_first_fragile;

static uint32_t fragile_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    if (g_fragile_boots++ == 0) g_first_fragile = tina_self(ctx);
    h_kick(ctx);
    return 0;
}

static tina_effect fragile_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    if (g_crashes < 2) {
        g_crashes++;
        return tina_crash(7);
    }
    return tina_receive();
}

static uint32_t watcher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 1, 1)), TINA_OK);
    return 0;
}

static tina_effect watcher_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TINA_TAG_DOWN) {
        tina_down d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.how == TINA_DOWN_CRASHED && d.reason == 7) g_downs_crashed++;
    } else if (msg->tag == TINA_TAG_SHARD_QUARANTINED) {
        g_quarantined++;
    } else if (msg->tag == TINA_TAG_SHARD_RESTARTED) {
        g_restarted++;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static tina_sim_report run(uint64_t seed, uint32_t revive_after) {
    g_crashes = g_quarantined = g_restarted = g_downs_crashed = g_fragile_boots = 0;
    static tina_type_spec types[2];
    types[0] = (tina_type_spec)H_TYPE("watcher", uint64_t, 1, 16, 1, watcher_init, watcher_handle);
    types[1] = (tina_type_spec)H_TYPE("fragile", uint64_t, 1, 16, 1, fragile_init, fragile_handle);
    static tina_child_spec children[2];
    children[0] = (tina_child_spec)H_CHILD(0, 0);
    children[1] = (tina_child_spec)H_CHILD(1, 1);
    children[1].restart = TINA_RESTART_PERMANENT;
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1,
         .window_ns = 1000000000ull}};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.groups = groups;
    spec.group_count = 1;
    tina_sim_config config = {.seed = seed, .shuffle = 1, .revive_after_rounds = revive_after,
                              .round_limit = 100000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    return r;
}

Test(sim_supervise, escalation_quarantines_and_the_operator_revives, .timeout = 30) {
    tina_sim_report r = run(5, 200);
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED), "the watcher stopped it after the revival");
    cr_assert(eq(u32, g_crashes, 2));
    cr_assert(eq(u64, r.total.escalations, 1), "the second restart was over budget");
    cr_assert(eq(u64, r.total.quarantines, 1));
    cr_assert(eq(u64, r.total.revivals, 1));
    cr_assert(eq(u32, g_quarantined, 1), "the peer heard of the quarantine");
    cr_assert(eq(u32, g_restarted, 1), "and of the revival");
    cr_assert(eq(u32, g_downs_crashed, 1), "its monitor saw the first incarnation crash");
    cr_assert(eq(u32, g_fragile_boots, 3), "boot, one restart, the revival");
    cr_assert(ge(u64, r.rounds, 200), "the revival waited its rounds");
    cr_assert(eq(u64, run(5, 200).digest, r.digest), "one seed, one execution");
}

Test(sim_supervise, without_an_operator_the_shard_stays_quarantined, .timeout = 30) {
    tina_sim_report r = run(5, 0);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT));
    cr_assert(eq(u64, r.total.quarantines, 1));
    cr_assert(eq(u64, r.total.revivals, 0));
    cr_assert(eq(u32, g_restarted, 0));
}
