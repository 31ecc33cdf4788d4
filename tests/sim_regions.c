/*
 * sim_regions.c -- the message pool's regions and the channels under
 * floods (SPEC 13: the system region belongs to the runtime; one isolate's
 * backlog never stalls the channel that carries other isolates' traffic).
 *
 *   - monitors on dead handles, as many as a handler can make, hold no
 *     system slot: a shard quarantine's notices and a DOWN from another
 *     shard still get through, and nothing spins;
 *   - a reply crosses into a shard whose user region is exhausted: it has
 *     a slot of its own, and the drain neither waits nor spins;
 *   - a monitor the target's shard has no room for is refused by name
 *     (TINA_DOWN_NO_MONITOR with TINA_EMONITOR_EXHAUSTED), never reported
 *     as the death of a live target.
 */
#include "helpers.h"

enum { TAG_FLOOD = H_TAG_FIRST, TAG_REQ, TAG_ANSWER, TAG_FILL, TAG_LATER };

/* ---- a monitor flood holds no system slot ------------------------------ */

#define FLOOD_SYSTEM_SLOTS 8u
static uint32_t g_flood_ok, g_flood_refused, g_flood_downs, g_system_low, g_notices, g_far_downs;

static tina_effect flooder(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0) {
        tina_handle dead = tina_handle_make(0, 3, 0, 7); /* a free slot: long dead */
        for (uint32_t k = 0; k < 50 * FLOOD_SYSTEM_SLOTS; k++) {
            tina_result r = tina_monitor(ctx, dead);
            if (r == TINA_OK) g_flood_ok++;
            else if (r == TINA_EMONITOR_EXHAUSTED) g_flood_refused++;
            else h_fail(ctx, __FILE__, __LINE__, "tina_monitor: %s", tina_result_name(r));
        }
        if (tina_ctx_stats(ctx)->pool_system_free < FLOOD_SYSTEM_SLOTS) g_system_low++;
        /* Park in a long call so the DOWNs pile up unread. */
        return tina_call(tina_child_handle(ctx, 2, 0), TAG_REQ, NULL, 0, 50000000);
    }
    if (msg->tag == TINA_TAG_DOWN) g_flood_downs++;
    if (msg->tag == TINA_TAG_SHARD_QUARANTINED) g_notices++;
    return tina_receive();
}

/* On shard 0: watches the doomed isolate on shard 1, hears the notices. */
static uint32_t far_watcher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 3, 1)), TINA_OK);
    return 0;
}

static tina_effect far_watcher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_DOWN) g_far_downs++;
    if (msg->tag == TINA_TAG_SHARD_QUARANTINED) g_notices++;
    return tina_receive();
}

static tina_effect silent(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

/* On shard 1: crashes after a while; the root's budget of one is spent by
 * the first crash of its sibling, so this one quarantines shard 1. */
static tina_effect doomed(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 2000000, 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER && (*step)++ < 2) return tina_crash(4);
    return tina_receive();
}

Test(sim_regions, a_monitor_flood_holds_no_system_slot, .timeout = 30) {
    g_flood_ok = g_flood_refused = g_flood_downs = g_system_low = g_notices = g_far_downs = 0;
    static tina_type_spec types[5];
    types[0] = (tina_type_spec)H_TYPE("flooder", uint32_t, 1, 4, 1, h_kick_init, flooder);
    types[1] = (tina_type_spec)H_TYPE("far_watcher", uint32_t, 1, 4, 1, far_watcher_init, far_watcher);
    types[2] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 4, 1, NULL, silent);
    types[3] = (tina_type_spec)H_TYPE("gone", uint32_t, 1, 4, 1, NULL, silent);
    types[4] = (tina_type_spec)H_TYPE("doomed", uint32_t, 1, 4, 1, h_kick_init, doomed);
    static tina_child_spec children[4];
    children[0] = (tina_child_spec)H_CHILD(0, 0); /* flooder */
    children[1] = (tina_child_spec)H_CHILD(1, 0); /* far watcher */
    children[2] = (tina_child_spec)H_CHILD(2, 0); /* silent */
    children[3] = (tina_child_spec)H_CHILD(4, 1); /* doomed, on shard 1 */
    children[3].restart = TINA_RESTART_PERMANENT;
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1,
         .window_ns = 1000000000ull}};
    tina_spec spec = h_spec(types, 5, children, 4, 2);
    spec.groups = groups;
    spec.group_count = 1;
    spec.pool_system_slots = FLOOD_SYSTEM_SLOTS;
    spec.monitor_slots = 64;
    tina_sim_config config = {.seed = 4, .round_limit = 200000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(ge(u32, g_flood_refused, 1), "the flood ran out of monitor entries, by name");
    cr_assert(eq(u32, g_flood_downs, g_flood_ok), "every monitor set gave its DOWN");
    cr_assert(eq(u32, g_system_low, 0), "the flood's DOWNs held no system slot");
    cr_assert(eq(u64, r.total.quarantines, 1));
    cr_assert(eq(u32, g_notices, 2), "both shard-0 watchers heard of the quarantine");
    cr_assert(eq(u64, r.total.notices_dropped, 0));
    cr_assert(eq(u32, g_far_downs, 1), "the DOWN from shard 1 got through");
}

/* ---- a reply into a shard whose user region is exhausted ----------------- */

#define FULL_USER_SLOTS 16u
static uint32_t g_replies, g_timeouts, g_hog_refused;

/* Parks in a long call, so the mail sent to it piles up unread. */
static tina_effect sink(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0)
        return tina_call(tina_child_handle(ctx, 2, 0), TAG_REQ, NULL, 0, 100000000);
    return tina_receive();
}

/* Calls at once, before the hog starts; the reply comes once the hog has
 * been at it for a while. */
static tina_effect caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0)
        return tina_call(tina_child_handle(ctx, 3, 1), TAG_REQ, NULL, 0, 50000000);
    if (msg->kind == TINA_MSG_REPLY) g_replies++;
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) g_timeouts++;
    return tina_receive();
}

/* The last type of shard 0: at the end of every pass it tops the user
 * region up with mail for the parked sink, so each drain finds it full.
 * It runs on timers and resumes, which hold no pool slot. */
static uint32_t hog_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    return tina_timer_set(ctx, 0, 0, TAG_FILL, &id) == TINA_OK ? 0 : 1;
}

static tina_effect hog(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *passes = self;
    H_UNUSED(msg);
    for (uint32_t k = 0; k < 2 * FULL_USER_SLOTS; k++)
        if (tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_FILL, NULL, 0) == TINA_EPOOL_EXHAUSTED)
            g_hog_refused++;
    return ++*passes < 200 ? tina_yield() : tina_receive();
}

/* Busy at first (parked in a call of its own for 200 us), so its reply
 * reaches shard 0 some twenty passes of the hog's later. */
static tina_effect server(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK && (*step)++ == 0)
        return tina_call(tina_child_handle(ctx, 5, 1), TAG_REQ, NULL, 0, 200000);
    if (msg->kind == TINA_MSG_CALL) return tina_reply(TAG_ANSWER, NULL, 0);
    return tina_receive();
}

Test(sim_regions, a_reply_finds_room_in_an_exhausted_user_region, .timeout = 30) {
    g_replies = g_timeouts = g_hog_refused = 0;
    static tina_type_spec types[5];
    types[0] = (tina_type_spec)H_TYPE("sink", uint32_t, 1, 4 * FULL_USER_SLOTS, 1, h_kick_init, sink);
    types[1] = (tina_type_spec)H_TYPE("caller", uint32_t, 1, 4, 1, h_kick_init, caller);
    types[2] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 4, 1, NULL, silent);
    types[3] = (tina_type_spec)H_TYPE("server", uint32_t, 1, 4, 1, h_kick_init, server);
    types[4] = (tina_type_spec)H_TYPE("hog", uint32_t, 1, 4, 1, hog_init, hog);
    static tina_child_spec children[6];
    for (uint32_t k = 0; k < 5; k++) children[k] = (tina_child_spec)H_CHILD(k, k == 3 ? 1 : 0);
    children[5] = (tina_child_spec)H_CHILD(2, 1); /* the server's own silent callee */
    tina_spec spec = h_spec(types, 5, children, 6, 2);
    spec.pool_user_slots = FULL_USER_SLOTS;
    tina_sim_config config = {.seed = 6, .round_limit = 200000, .spin_rounds_max = 1000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(ge(u32, g_hog_refused, 1), "the user region was exhausted");
    cr_assert(eq(u32, g_replies, 1), "the reply got in");
    cr_assert(eq(u32, g_timeouts, 0), "instead of waiting out the call's timeout");
}

/* ---- a monitor the target's shard has no room for ------------------------ */

static uint32_t g_no_monitor, g_noproc;

static tina_effect table_filler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    tina_result r;
    do r = tina_monitor(ctx, tina_child_handle(ctx, 2, 1)); /* fill shard 1's table */
    while (r == TINA_OK);
    H_CHECK_RESULT(ctx, r, TINA_EMONITOR_EXHAUSTED);
    H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_REQ, NULL, 0), TINA_OK);
    return tina_receive();
}

/* On shard 0: monitors the live isolate on shard 1, whose table is full. */
static tina_effect remote_watcher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TAG_REQ) H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 2, 1)), TINA_OK);
    if (msg->tag == TINA_TAG_DOWN) {
        tina_down d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.how == TINA_DOWN_NOPROC) g_noproc++;
        if (d.how == TINA_DOWN_NO_MONITOR && (int32_t)d.reason == TINA_EMONITOR_EXHAUSTED)
            g_no_monitor++;
    }
    return tina_receive();
}

Test(sim_regions, a_full_monitor_table_is_refused_by_name, .timeout = 30) {
    g_no_monitor = g_noproc = 0;
    static tina_type_spec types[3];
    types[0] = (tina_type_spec)H_TYPE("filler", uint32_t, 1, 4, 1, h_kick_init, table_filler);
    types[1] = (tina_type_spec)H_TYPE("watcher", uint32_t, 1, 4, 1, NULL, remote_watcher);
    types[2] = (tina_type_spec)H_TYPE("target", uint32_t, 1, 4, 1, NULL, silent);
    static tina_child_spec children[3];
    children[0] = (tina_child_spec)H_CHILD(0, 1); /* fills shard 1's table, locally */
    children[1] = (tina_child_spec)H_CHILD(1, 0);
    children[2] = (tina_child_spec)H_CHILD(2, 1);
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    spec.monitor_slots = 8;
    tina_sim_config config = {.seed = 8, .round_limit = 100000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(u32, g_noproc, 0), "a live target is never reported dead");
    cr_assert(eq(u32, g_no_monitor, 1), "the refusal names the full table");
}
