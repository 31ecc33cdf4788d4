/*
 * sim_monitor.c -- a monitor's entries are bounded by the watcher's life,
 * not the target's (SPEC 7), and monitors can be taken back.
 *
 *   - a long-lived target watched by watcher after watcher, each dying
 *     with its monitor set, 10x the monitor table over, here and from
 *     another shard: the tables never fill (the watcher's entries go with
 *     it, and the target's shard is told);
 *   - tina_demonitor, here and across shards: no DOWN of that target
 *     arrives after it returns, even when the target dies at once or its
 *     DOWN is already waiting undelivered; a monitor set twice goes at
 *     once; not monitored is TINA_ENOT_MONITORING, a bad handle
 *     TINA_EHANDLE;
 *   - the word that frees the target's side, finding its channel full,
 *     waits and is sent later, not lost;
 *   - a monitor of an address watches the incarnation running when the
 *     request arrives; a lineage restarting or ended gives NOPROC.
 * After every run every monitor entry of every shard is free again (a
 * user checker counts the free lists; the built-in one checks the lists).
 */
#include "helpers.h"
#include "shard/shard.h"

enum { TAG_CRASH = H_TAG_FIRST, TAG_DONE, TAG_TICK, TAG_LATER, TAG_REQ, TAG_FILL };

#define RELEASE_TABLE 8u
#define RELEASE_WATCHERS (10u * RELEASE_TABLE)

enum scenario { RELEASE, DEMONITOR, QUEUED, CHANNEL_FULL, ADDRESS };
static enum scenario g_case;
static uint32_t g_watcher_shard;
static uint32_t g_spawned, g_monitored, g_bad_downs, g_good_downs, g_step;
static uint32_t g_free[2], g_capacity[2];
static tina_down g_downs[8];
static uint32_t g_down_count;

/* ---- the cast ------------------------------------------------------------ */

static tina_effect target(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TAG_CRASH) return tina_crash(9);
    if (msg->tag == TAG_DONE) return tina_done();
    return tina_receive();
}

static tina_effect silent(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

/* A watcher that lives for one message: it monitors child 0 and ends. */
static uint32_t brief_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 0, 0)), TINA_OK);
    g_monitored++;
    h_kick(ctx);
    return 0;
}

static tina_effect brief(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_DOWN) g_bad_downs++;
    return msg->tag == H_TAG_KICK ? tina_done() : tina_receive();
}

/* Every check, and at the end: how many entries each shard has free. */
static int tables_count(void *user, const tina_runtime *rt, char *why, size_t why_size) {
    H_UNUSED(user), H_UNUSED(why), H_UNUSED(why_size);
    for (uint32_t k = 0; k < 2; k++) {
        const struct tina__monitors *m = &rt->shards[k]->monitors;
        uint32_t n = 0;
        for (uint32_t i = m->free_head; i != TINA__NIL && n <= m->capacity; i = m->entries[i].next)
            n++;
        g_free[k] = n;
        g_capacity[k] = m->capacity;
    }
    return 0;
}

static void later(tina_ctx *ctx, uint64_t ns) {
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, ns, 0, TAG_LATER, &id), TINA_OK);
}

static void down_record(const tina_msg *msg, tina_handle bad) {
    tina_down d;
    memcpy(&d, msg->payload, sizeof(d));
    if (g_down_count < H_COUNT(g_downs)) g_downs[g_down_count] = d;
    g_down_count++;
    if (d.target == bad) g_bad_downs++;
    else g_good_downs++;
}

/* ---- the watcher, by scenario -------------------------------------------- */

/* RELEASE: a brief watcher every tick, RELEASE_WATCHERS of them. */
static tina_effect release_story(tina_ctx *ctx, const tina_msg *msg) {
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK)
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 50000, 50000, TAG_TICK, &id), TINA_OK);
    if (msg->tag != TAG_TICK) return tina_receive();
    tina_handle h;
    if (g_spawned < RELEASE_WATCHERS) {
        if (tina_spawn(ctx, 3, NULL, 0, &h) == TINA_OK) g_spawned++;
    } else if (++g_step == 40) { /* the last cancel has long arrived */
        tina_request_stop(ctx);
    }
    return tina_receive();
}

/* DEMONITOR: the results, then both targets die; only T2's DOWN comes. */
static tina_effect demonitor_story(tina_ctx *ctx, const tina_msg *msg) {
    tina_handle t = tina_child_handle(ctx, 0, 0), t2 = tina_child_handle(ctx, 1, 0);
    if (msg->tag == TINA_TAG_DOWN) down_record(msg, t);
    if (msg->tag == TAG_LATER) tina_request_stop(ctx);
    if (msg->tag != H_TAG_KICK) return tina_receive();
    H_CHECK_RESULT(ctx, tina_demonitor(ctx, TINA_HANDLE_NONE), TINA_EHANDLE);
    H_CHECK_RESULT(ctx, tina_demonitor(ctx, tina_handle_make(0, 0, 1000, 1)), TINA_EHANDLE);
    H_CHECK_RESULT(ctx, tina_demonitor(ctx, t), TINA_ENOT_MONITORING);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->demonitor_unknown, 1);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, t), TINA_OK);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, t), TINA_OK);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, t2), TINA_OK);
    H_CHECK_RESULT(ctx, tina_demonitor(ctx, t), TINA_OK);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->demonitors, 2);
    H_CHECK_RESULT(ctx, tina_demonitor(ctx, t), TINA_ENOT_MONITORING);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->demonitor_unknown, 2);
    H_CHECK_RESULT(ctx, tina_send(ctx, t, TAG_CRASH, NULL, 0), TINA_OK);
    H_CHECK_RESULT(ctx, tina_send(ctx, t2, TAG_CRASH, NULL, 0), TINA_OK);
    later(ctx, H_MS(2));
    return tina_receive();
}

/* QUEUED: both targets die while the watcher is parked in a call; their
 * DOWNs wait undelivered; demonitor takes T's out of the ring. */
static tina_effect queued_story(tina_ctx *ctx, const tina_msg *msg) {
    tina_handle t = tina_child_handle(ctx, 0, 0), t2 = tina_child_handle(ctx, 1, 0);
    struct tina__slot *slot = &ctx->type->slots[ctx->slot];
    if (msg->tag == TINA_TAG_DOWN) down_record(msg, t);
    if (msg->tag == TAG_LATER) tina_request_stop(ctx);
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_monitor(ctx, t), TINA_OK);
        H_CHECK_RESULT(ctx, tina_monitor(ctx, t2), TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, t, TAG_CRASH, NULL, 0), TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, t2, TAG_CRASH, NULL, 0), TINA_OK);
        return tina_call(tina_child_handle(ctx, 3, g_watcher_shard), TAG_REQ, NULL, 0, H_MS(1));
    }
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        H_CHECK(ctx, slot->downs != TINA__NIL);
        H_CHECK(ctx, ctx->shard->monitors.entries[slot->downs].next != slot->downs); /* two */
        H_CHECK_RESULT(ctx, tina_demonitor(ctx, t), TINA_OK);
        H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->demonitors, 1);
        H_CHECK(ctx, slot->downs != TINA__NIL); /* T2's is still there */
        later(ctx, H_MS(2));
    }
    return tina_receive();
}

/* CHANNEL_FULL: the demonitor's word to shard 0 finds the channel full. */
static tina_effect channel_full_story(tina_ctx *ctx, const tina_msg *msg) {
    tina_handle t = tina_child_handle(ctx, 0, 0);
    if (msg->tag == TINA_TAG_DOWN) down_record(msg, t);
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_monitor(ctx, t), TINA_OK);
        later(ctx, 200000); /* the request has arrived by then */
    }
    if (msg->tag != TAG_LATER) return tina_receive();
    g_step++;
    if (g_step == 1) {
        uint32_t k = 0;
        while (k++ < 100 && tina_send(ctx, t, TAG_FILL, NULL, 0) == TINA_OK) {}
        H_CHECK(ctx, k < 100); /* the channel is full */
        H_CHECK_RESULT(ctx, tina_demonitor(ctx, t), TINA_OK);
        H_CHECK(ctx, ctx->shard->monitors.pending_head != TINA__NIL); /* the word waits */
        later(ctx, H_MS(1));
    } else if (g_step == 2) {
        H_CHECK(ctx, ctx->shard->monitors.pending_head == TINA__NIL); /* ... and went */
        H_CHECK_RESULT(ctx, tina_send(ctx, t, TAG_CRASH, NULL, 0), TINA_OK);
        later(ctx, H_MS(1));
    } else {
        tina_request_stop(ctx);
    }
    return tina_receive();
}

/* ADDRESS: monitor a permanent child by address, crash it; monitor it
 * again while it restarts; an ended lineage; a monitor by address taken
 * back by address. */
static tina_effect address_story(tina_ctx *ctx, const tina_msg *msg) {
    tina_handle a = tina_child_address(ctx, 0, 0), ended = tina_child_address(ctx, 1, 0);
    if (msg->tag == TINA_TAG_DOWN) {
        down_record(msg, TINA_HANDLE_NONE);
        if (g_down_count == 1) H_CHECK_RESULT(ctx, tina_monitor(ctx, a), TINA_OK);
    }
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_monitor(ctx, a), TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_DONE, NULL, 0),
                       TINA_OK);
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_CRASH, NULL, 0),
                       TINA_OK);
        later(ctx, H_MS(2));
    }
    if (msg->tag != TAG_LATER) return tina_receive();
    if (++g_step == 1) {
        H_CHECK_RESULT(ctx, tina_monitor(ctx, ended), TINA_OK);
        H_CHECK_RESULT(ctx, tina_monitor(ctx, a), TINA_OK); /* its second incarnation */
        H_CHECK_RESULT(ctx, tina_demonitor(ctx, a), TINA_OK);
        H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->demonitors, 1);
        later(ctx, H_MS(2));
    } else {
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static tina_effect watcher(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    switch (g_case) {
    case RELEASE: return release_story(ctx, msg);
    case DEMONITOR: return demonitor_story(ctx, msg);
    case QUEUED: return queued_story(ctx, msg);
    case CHANNEL_FULL: return channel_full_story(ctx, msg);
    case ADDRESS: return address_story(ctx, msg);
    }
    return tina_receive();
}

/* ---- the runs -------------------------------------------------------------- */

/* Child 0 and 1: targets on shard 0 (0 permanent for ADDRESS); child 2:
 * the watcher on `shard`; child 3: a silent isolate beside it. */
static tina_sim_report story_run(enum scenario what, uint32_t shard) {
    g_case = what;
    g_watcher_shard = shard;
    g_spawned = g_monitored = g_bad_downs = g_good_downs = g_step = g_down_count = 0;
    memset(g_downs, 0, sizeof(g_downs));
    memset(g_free, 0, sizeof(g_free));
    static tina_type_spec types[4];
    types[0] = (tina_type_spec)H_TYPE("target", uint32_t, 2, 256, 1, NULL, target);
    types[1] = (tina_type_spec)H_TYPE("watcher", uint32_t, 1, 16, 1, h_kick_init, watcher);
    types[2] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 16, 1, NULL, silent);
    types[3] = (tina_type_spec)H_TYPE("brief", uint32_t, 1, 16, 1, brief_init, brief);
    static tina_child_spec children[4];
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0,
                                    .restart = what == ADDRESS ? TINA_RESTART_PERMANENT
                                                               : TINA_RESTART_TEMPORARY};
    children[1] = (tina_child_spec)H_CHILD(0, 0);
    children[2] = (tina_child_spec)H_CHILD(1, shard);
    children[3] = (tina_child_spec)H_CHILD(2, shard);
    tina_spec spec = h_spec(types, 4, children, 4, 2);
    if (what == RELEASE) spec.monitor_slots = RELEASE_TABLE;
    static tina_ring_override narrow = {.from = 1, .to = 0, .slots = 4};
    if (what == CHANNEL_FULL) spec.ring_overrides = &narrow, spec.ring_override_count = 1;
    tina_sim_config config = {.seed = 11, .round_limit = 1000000, .check_every_rounds = 50,
                              .check = tables_count};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED), "reason %u: %s", r.reason, r.failure);
    for (uint32_t k = 0; k < 2; k++)
        cr_assert(eq(u32, g_free[k], g_capacity[k]), "shard %u: %u of %u monitor entries free",
                  k, g_free[k], g_capacity[k]);
    return r;
}

static void release_run(uint32_t shard) {
    tina_sim_report r = story_run(RELEASE, shard);
    cr_assert(eq(u32, g_monitored, RELEASE_WATCHERS));
    cr_assert(eq(u64, r.total.monitor_exhausted, 0), "no table ever filled");
    cr_assert(eq(u64, r.total.monitors_released, RELEASE_WATCHERS), "once per monitor");
    cr_assert(eq(u64, r.total.downs_sent, 0));
    cr_assert(eq(u32, g_bad_downs, 0));
}

Test(sim_monitor, dying_watchers_never_fill_the_table_here, .timeout = 30) { release_run(0); }
Test(sim_monitor, dying_watchers_never_fill_the_table_there, .timeout = 30) { release_run(1); }

static void demonitor_run(uint32_t shard) {
    tina_sim_report r = story_run(DEMONITOR, shard);
    cr_assert(eq(u32, g_bad_downs, 0), "no DOWN after demonitor");
    cr_assert(eq(u32, g_good_downs, 1), "the other target's DOWN came");
    cr_assert(eq(u64, r.total.demonitors, 2));
    cr_assert(eq(u64, r.total.demonitor_unknown, 2));
    cr_assert(eq(u64, r.total.downs_sent, 1), "the target's side was freed before it died");
}

Test(sim_monitor, demonitor_here_stops_every_down, .timeout = 30) { demonitor_run(0); }
Test(sim_monitor, demonitor_there_stops_every_down, .timeout = 30) { demonitor_run(1); }

static void queued_run(uint32_t shard) {
    tina_sim_report r = story_run(QUEUED, shard);
    cr_assert(eq(u32, g_bad_downs, 0), "the waiting DOWN was taken back");
    cr_assert(eq(u32, g_good_downs, 1), "the other waiting DOWN came");
    cr_assert(eq(u64, r.total.demonitors, 1));
}

Test(sim_monitor, demonitor_takes_back_a_waiting_down_here, .timeout = 30) { queued_run(0); }
Test(sim_monitor, demonitor_takes_back_a_waiting_down_there, .timeout = 30) { queued_run(1); }

Test(sim_monitor, a_cancel_that_finds_the_channel_full_is_sent_later, .timeout = 30) {
    tina_sim_report r = story_run(CHANNEL_FULL, 1);
    cr_assert(eq(u32, g_step, 3));
    cr_assert(eq(u32, g_down_count, 0));
    cr_assert(eq(u64, r.total.downs_sent, 0), "the target's side was gone when it died");
    cr_assert(eq(u64, r.total.demonitors, 1));
}

static void address_run(uint32_t shard) {
    tina_handle first = tina_handle_make(0, 0, 0, 1);
    tina_sim_report r = story_run(ADDRESS, shard);
    cr_assert(eq(u32, g_down_count, 3));
    cr_assert(eq(u64, g_downs[0].target, first), "the incarnation running, by handle");
    cr_assert(eq(u32, g_downs[0].how, TINA_DOWN_CRASHED));
    cr_assert(eq(u32, g_downs[0].reason, 9));
    cr_assert(eq(u64, g_downs[1].target, tina_address_of(first)), "restarting: no incarnation");
    cr_assert(eq(u32, g_downs[1].how, TINA_DOWN_NOPROC));
    cr_assert(eq(i32, (int32_t)g_downs[1].reason, TINA_ENOT_RUNNING));
    cr_assert(eq(u64, g_downs[2].target, tina_address_of(tina_handle_make(0, 0, 1, 1))));
    cr_assert(eq(u32, g_downs[2].how, TINA_DOWN_NOPROC), "an ended lineage");
    cr_assert(eq(i32, (int32_t)g_downs[2].reason, TINA_ESTALE));
    cr_assert(eq(u64, r.total.demonitors, 1));
}

Test(sim_monitor, an_address_watches_the_incarnation_running_here, .timeout = 30) {
    address_run(0);
}
Test(sim_monitor, an_address_watches_the_incarnation_running_there, .timeout = 30) {
    address_run(1);
}
