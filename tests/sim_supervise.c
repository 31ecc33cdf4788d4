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
#include "shard/shard.h" /* a handler reaches its runtime, to play the operator */

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

/* ---- a quarantine ends the batch it was raised in --------------------- */

/* One shard, one type, four static children.  The first child crashes on
 * every message; its siblings send themselves a message on every one, so
 * they always wait in the type's ready queue.  The root allows one restart:
 * the second crash fails it, and the shard is quarantined from inside that
 * handler's exit, with siblings queued behind it in the same batch.  None
 * of them may run after that: the tree they belong to has failed.  And the
 * shard's count of handler calls, kept by the dispatch budget, must agree
 * with the handlers' own count. */
static uint32_t g_batch_crashes, g_batch_sibling_runs, g_batch_runs_after;

static tina_effect batch_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    if (tina_handle_slot(tina_self(ctx)) == 0) {
        g_batch_crashes++;
        return tina_crash(9);
    }
    g_batch_sibling_runs++;
    if (g_batch_crashes >= 2) g_batch_runs_after++;
    h_kick(ctx);
    return tina_receive();
}

Test(sim_supervise, a_quarantine_ends_the_batch_it_was_raised_in, .timeout = 30) {
    g_batch_crashes = g_batch_sibling_runs = g_batch_runs_after = 0;
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("sibling", uint64_t, 4, 4, 1, h_kick_init, batch_handle);
    static tina_child_spec children[4];
    for (uint32_t c = 0; c < 4; c++) {
        children[c] = (tina_child_spec)H_CHILD(0, 0);
        children[c].restart = TINA_RESTART_PERMANENT;
    }
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1,
         .window_ns = 1000000000000ull}};
    tina_spec spec = h_spec(types, 1, children, 4, 1);
    spec.groups = groups;
    spec.group_count = 1;
    tina_sim_config config = {.seed = 3, .round_limit = 1000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u64, r.total.quarantines, 1), "the second crash was over the root's budget");
    cr_assert(eq(u32, g_batch_crashes, 2));
    cr_assert(ge(u32, g_batch_sibling_runs, 4), "the siblings ran between the crashes");
    cr_assert(eq(u32, g_batch_runs_after, 0), "%u sibling calls after their root failed",
              g_batch_runs_after);
    cr_assert(eq(u64, r.total.dispatched, g_batch_crashes + g_batch_sibling_runs),
              "the shard counted %llu handler calls, the handlers %u",
              (unsigned long long)r.total.dispatched, g_batch_crashes + g_batch_sibling_runs);
}

/* ---- a strategy tears down siblings wherever they stand ---------------- */

/* A one-for-all group of two: `a` (type 0) and `b` (type 1).  When `a`
 * crashes, `b` is torn down too, wherever it stands: in its type's ready
 * queue (mail waiting), in the yield list, not started yet (boot), or --
 * when the escalation comes from inside `a`'s own handler -- running.  It
 * must come back through init, once, and nothing may be left behind: no
 * stale queue entry, no pending restart, live counts that add up. */
enum sibling_case { SIB_QUEUED, SIB_YIELDING, SIB_AT_BOOT, SIB_RUNNING };
static enum sibling_case g_sib_case;
static uint32_t g_sib_starts[2], g_sib_crashed, g_sib_orphans;

static uint32_t sib_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(size);
    uint32_t who = *(const uint32_t *)args;
    g_sib_starts[who]++;
    if (who == 0 && g_sib_case == SIB_AT_BOOT && g_sib_starts[0] == 1) return 5; /* fails once */
    h_kick(ctx);
    return 0;
}

/* A dynamic child that can never start (for the running case). */
static uint32_t doomed_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(args), H_UNUSED(size);
    return 9;
}

static tina_effect doomed_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

static tina_effect sib_a(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *passes = self;
    H_UNUSED(msg);
    if (g_sib_crashed) return tina_receive();
    switch (g_sib_case) {
    case SIB_QUEUED: /* b gets mail: it waits in its type's ready queue */
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 1, 0), H_TAG_FIRST, NULL, 0),
                       TINA_OK);
        g_sib_crashed = 1;
        return tina_crash(3);
    case SIB_YIELDING: /* b yields every pass: it waits in the yield list */
        if (++*passes < 3) return tina_yield();
        g_sib_crashed = 1;
        return tina_crash(3);
    case SIB_RUNNING: { /* two children that cannot start: the second escalates, from here */
        tina_handle h;
        g_sib_crashed = 1;
        H_CHECK_RESULT(ctx, tina_spawn_child(ctx, 1, TINA_RESTART_PERMANENT, 2, NULL, 0, &h), TINA_OK);
        (void)tina_spawn_child(ctx, 1, TINA_RESTART_PERMANENT, 2, NULL, 0, &h);
        /* Still running on the incarnation being torn down: a timer set now
         * must not outlive it. */
        tina_timer_id id;
        if (tina_timer_set(ctx, 1000000, 0, H_TAG_FIRST, &id) == TINA_OK) g_sib_orphans++;
        return tina_receive();
    }
    default:
        return tina_receive();
    }
}

static tina_effect sib_b(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    if (g_sib_case == SIB_YIELDING && !g_sib_crashed) return tina_yield();
    return tina_receive();
}

static tina_sim_report sibling_run(enum sibling_case what) {
    g_sib_case = what;
    g_sib_starts[0] = g_sib_starts[1] = g_sib_crashed = g_sib_orphans = 0;
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("a", uint32_t, 1, 16, 1, sib_init, sib_a);
    types[1] = (tina_type_spec)H_TYPE("b", uint32_t, 1, 16, 1, sib_init, sib_b);
    types[2] = (tina_type_spec)H_TYPE("doomed", uint32_t, 4, 16, 1, doomed_init, doomed_handle);
    static const uint32_t who[2] = {0, 1};
    static tina_child_spec children[2];
    children[0] = (tina_child_spec)H_CHILD_ARGS(0, 0, TINA_RESTART_PERMANENT, &who[0]);
    children[1] = (tina_child_spec)H_CHILD_ARGS(1, 0, TINA_RESTART_PERMANENT, &who[1]);
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ALL, .restart_max = 10,
         .window_ns = 1000000000ull},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1, .window_ns = 1000000000ull,
         .dynamic_max = 4}};
    tina_spec spec = h_spec(types, 3, children, 2, 1);
    spec.groups = groups;
    spec.group_count = 2;
    tina_sim_config config = {.seed = 3, .check_every_rounds = 1, .round_limit = 100000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    return r;
}

static void sibling_expect(enum sibling_case what, const char *name) {
    tina_sim_report r = sibling_run(what);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s: %s", name, r.failure);
    cr_assert(eq(u32, g_sib_starts[0], 2), "%s: a started twice", name);
    cr_assert(eq(u32, g_sib_starts[1], what == SIB_AT_BOOT ? 1 : 2),
              "%s: b came back through init (%u starts)", name, g_sib_starts[1]);
    cr_assert(eq(u64, r.total.live, 2), "%s: both alive, counted once", name);
    cr_assert(eq(u64, r.total.timers_live, 0), "%s: no timer outlived its isolate", name);
}

Test(sim_supervise, one_for_all_restarts_a_sibling_waiting_in_the_ready_queue, .timeout = 30) {
    sibling_expect(SIB_QUEUED, "queued");
}

Test(sim_supervise, one_for_all_restarts_a_sibling_waiting_in_the_yield_list, .timeout = 30) {
    sibling_expect(SIB_YIELDING, "yielding");
}

Test(sim_supervise, a_failed_boot_init_does_not_tear_down_siblings_not_yet_started, .timeout = 30) {
    sibling_expect(SIB_AT_BOOT, "at boot");
}

Test(sim_supervise, an_escalation_from_inside_a_handler_restarts_its_isolate_after_it, .timeout = 30) {
    sibling_expect(SIB_RUNNING, "running");
    cr_assert(eq(u32, g_sib_orphans, 1), "the handler ran to its end");
}

/* ---- a revival asked of a healthy shard is refused, not remembered -------- */

/* The operator calls tina_revive on shard 1 while it is healthy; later
 * shard 1's root fails and it is quarantined.  The old request must not
 * undo that quarantine: nobody asked for this revival. */
static int32_t g_early_revive;

static tina_effect early_operator(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    H_UNUSED(msg);
    if ((*step)++ == 0) g_early_revive = tina_revive(ctx->shard->rt, 1); /* white-box: the rt */
    return tina_receive();
}

Test(sim_supervise, a_revival_asked_of_a_healthy_shard_is_refused_not_remembered, .timeout = 30) {
    g_crashes = g_quarantined = g_restarted = g_downs_crashed = g_fragile_boots = 0;
    g_early_revive = 1;
    static tina_type_spec types[2];
    types[0] = (tina_type_spec)H_TYPE("operator", uint32_t, 1, 16, 1, h_kick_init, early_operator);
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
    tina_sim_config config = {.seed = 5, .round_limit = 100000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u64, r.total.quarantines, 1));
    cr_assert(eq(u64, r.total.revivals, 0), "the early request did not undo the quarantine");
    cr_assert(eq(i32, g_early_revive, TINA_ESTATE), "shard 1 was not quarantined: %s",
              tina_result_name(g_early_revive));
}

/* ---- no silent crash loop under the implicit root -------------------------- */

/* A spec with no groups and a permanent child whose init always fails: the
 * implicit root's default budget ends the loop (the shard is quarantined),
 * and the crashes, restarts, escalation and quarantine are logged. */
static uint32_t never_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(args), H_UNUSED(size);
    return 13;
}

Test(sim_supervise, a_child_that_never_starts_is_bounded_by_the_implicit_root, .timeout = 30) {
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("never", uint32_t, 1, 16, 1, never_init, doomed_handle);
    static tina_child_spec children[1];
    children[0] = (tina_child_spec)H_CHILD(0, 0);
    children[0].restart = TINA_RESTART_PERMANENT;
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.log_level = TINA_LOG_INFO;
    tina_sim_config config = {.seed = 12, .round_limit = 20000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "the loop ended: %s", r.failure);
    cr_assert(le(u64, r.total.restarts, 100), "%llu restarts", (unsigned long long)r.total.restarts);
    cr_assert(eq(u64, r.total.escalations, 1));
    cr_assert(eq(u64, r.total.quarantines, 1));
    /* One line per crash and restart, rate-limited, then the escalation and
     * the quarantine: at least the first burst, and not one per crash. */
    cr_assert(ge(u64, r.total.log_written, 4), "%llu lines", (unsigned long long)r.total.log_written);
    cr_assert(ge(u64, r.total.log_written + r.total.log_suppressed, r.total.crashes + r.total.restarts),
              "every crash and restart is a line, written or counted as suppressed");
}

/* ---- a generation never comes back ---------------------------------------- */

/* A slot's generation has 28 bits.  Were it to wrap after its last value,
 * the next incarnation would carry the handle of the first, and a handle
 * kept that long would reach a stranger.  The slot is retired instead:
 * never used again, counted.  (A slot reaches its last generation after
 * 268 million incarnations; the test starts it there, white-box.) */
static tina_handle g_first_kid;
static int32_t g_respawn, g_old_send;
static uint32_t g_wrap_step;

static tina_effect kid(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_done();
}

static tina_effect wrapper(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    tina_handle h;
    switch (g_wrap_step++) {
    case 0: /* the first incarnation; it ends at once */
        H_CHECK_RESULT(ctx, tina_spawn(ctx, 1, NULL, 0, &g_first_kid), TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, g_first_kid, H_TAG_FIRST, NULL, 0), TINA_OK);
        return tina_yield();
    case 1: /* 268 million incarnations later: the last generation */
        ctx->shard->types[1].slots[0].generation = TINA_GENERATION_MASK;
        H_CHECK_RESULT(ctx, tina_spawn(ctx, 1, NULL, 0, &h), TINA_OK);
        H_CHECK_EQ(ctx, tina_handle_generation(h), TINA_GENERATION_MASK);
        H_CHECK_RESULT(ctx, tina_send(ctx, h, H_TAG_FIRST, NULL, 0), TINA_OK);
        return tina_yield();
    case 2: /* it ended: no generation is left for the slot */
        g_respawn = tina_spawn(ctx, 1, NULL, 0, &h);
        g_old_send = tina_send(ctx, g_first_kid, H_TAG_FIRST, NULL, 0);
        return tina_receive();
    default:
        return tina_receive();
    }
}

Test(sim_supervise, a_slot_at_its_last_generation_is_retired_not_wrapped, .timeout = 30) {
    g_wrap_step = 0;
    g_respawn = g_old_send = 1;
    static tina_type_spec types[2];
    types[0] = (tina_type_spec)H_TYPE("wrapper", uint32_t, 1, 16, 1, h_kick_init, wrapper);
    types[1] = (tina_type_spec)H_TYPE("kid", uint32_t, 1, 16, 1, NULL, kid);
    static tina_child_spec children[1];
    children[0] = (tina_child_spec)H_CHILD(0, 0);
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    tina_sim_config config = {.seed = 13, .round_limit = 10000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(i32, g_old_send, TINA_ESTALE), "the first handle stays stale: %s",
              tina_result_name(g_old_send));
    cr_assert(eq(i32, g_respawn, TINA_ENO_SLOT), "the slot is not used again: %s",
              tina_result_name(g_respawn));
    cr_assert(eq(u64, r.total.slots_retired, 1));
}

/* ---- a static child's slot belongs to it, also once it has ended ---------- */

/* A one-for-all group: the temporary static child `once` ends (done, not
 * restarted) and `steady` crashes later.  Meanwhile a spawner spawned a
 * plain isolate of `once`'s type.  The strategy must tear down the group's
 * members, never a stranger that happens to sit in the slot `once` left. */
static uint32_t g_stranger_downs, g_stranger_alive;
static tina_handle g_stranger;

/* Type 0 is shared: the static child `once` ends on its first message;
 * the stranger spawned later into its slot stays. */
static tina_effect stranger_or_once(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    if (tina_self(ctx) == tina_child_handle(ctx, 0, 0)) return tina_done();
    return tina_receive();
}

static tina_effect steady(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000, 0, H_TAG_FIRST, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == H_TAG_FIRST && *step == 1) return tina_crash(2);
    return tina_receive();
}

static tina_effect stranger_maker(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) { /* after `once` is gone */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 500000, 0, H_TAG_FIRST + 1, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == H_TAG_FIRST + 1 && (*step)++ == 0) {
        H_CHECK_RESULT(ctx, tina_spawn(ctx, 0, NULL, 0, &g_stranger), TINA_OK);
        H_CHECK_RESULT(ctx, tina_monitor(ctx, g_stranger), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 3000000, 0, H_TAG_FIRST + 2, &id), TINA_OK);
    }
    if (msg->tag == TINA_TAG_DOWN) g_stranger_downs++;
    if (msg->tag == H_TAG_FIRST + 2) g_stranger_alive = tina_send(ctx, g_stranger, H_TAG_FIRST + 3,
                                                                 NULL, 0) == TINA_OK;
    return tina_receive();
}

Test(sim_supervise, a_strategy_never_reaches_a_stranger_in_an_ended_childs_slot, .timeout = 30) {
    g_stranger_downs = g_stranger_alive = 0;
    static tina_type_spec types[3];
    /* type 0 is shared: `once` (static) and the stranger (spawned) */
    types[0] = (tina_type_spec)H_TYPE("shared", uint32_t, 2, 16, 1, h_kick_init, stranger_or_once);
    types[1] = (tina_type_spec)H_TYPE("steady", uint32_t, 1, 16, 1, h_kick_init, steady);
    types[2] = (tina_type_spec)H_TYPE("maker", uint32_t, 1, 16, 1, h_kick_init, stranger_maker);
    static tina_child_spec children[3];
    children[0] = (tina_child_spec)H_CHILD(0, 0); /* once: temporary */
    children[0].group = 1;
    children[1] = (tina_child_spec)H_CHILD(1, 0); /* steady: permanent */
    children[1].restart = TINA_RESTART_PERMANENT;
    children[1].group = 1;
    children[2] = (tina_child_spec)H_CHILD(2, 0);
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 10,
         .window_ns = 1000000000ull},
        {.parent = 0, .strategy = TINA_ONE_FOR_ALL, .restart_max = 10, .window_ns = 1000000000ull}};
    tina_spec spec = h_spec(types, 3, children, 3, 1);
    spec.groups = groups;
    spec.group_count = 2;
    tina_sim_config config = {.seed = 14, .round_limit = 100000, .check_every_rounds = 1};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(u32, g_stranger_downs, 0), "the stranger was not torn down");
    cr_assert(eq(u32, g_stranger_alive, 1), "and is still alive after the group's restart");
}
