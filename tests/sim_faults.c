/*
 * sim_faults.c -- injected faults: off by default, at their rate when on,
 * and part of the one execution a seed names.
 *
 * The workload: 2 shards x 32 isolates sending to random isolates anywhere,
 * permanent children (so injected crashes are restarted through the same
 * supervision path as real ones).  Rates are per million; the tolerance
 * stated for each rate test is +/-40% of the expected count over thousands
 * of events.
 */
#include "helpers.h"

#define ISOLATES 32u
#define HOPS 400u

enum { TAG_GO = H_TAG_FIRST, TAG_HOP };

static uint32_t hopper_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    return tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) == TINA_OK ? 0 : 1;
}

static tina_effect hopper(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *sent = self;
    H_UNUSED(msg);
    if (*sent >= HOPS) return tina_receive();
    uint64_t r = tina_random(ctx);
    tina_handle to = tina_child_handle(ctx, (uint32_t)(r % ISOLATES), (uint32_t)((r >> 32) % 2));
    if (tina_send(ctx, to, TAG_HOP, &r, sizeof(r)) == TINA_OK) ++*sent;
    /* keep going even if the message is lost: poke ourselves */
    if (tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) != TINA_OK) return tina_yield();
    return tina_receive();
}

/* Watchdog settings for the next run (0/0: the spec's defaults). */
static uint64_t g_watchdog_ns;
static uint32_t g_watchdog_policy;

static tina_sim_report run(tina_sim_config config) {
    static tina_type_spec types[1];
    static tina_child_spec children[ISOLATES];
    types[0] = (tina_type_spec)H_TYPE("hopper", uint32_t, ISOLATES, 256, 1, hopper_init, hopper);
    for (uint32_t k = 0; k < ISOLATES; k++) {
        children[k] = (tina_child_spec)H_CHILD(0, TINA_SHARD_EVERY);
        children[k].restart = TINA_RESTART_PERMANENT;
    }
    tina_spec spec = h_spec(types, 1, children, ISOLATES, 2);
    spec.groups = h_root_unbounded; /* thousands of injected crashes, every one restarted */
    spec.group_count = 1;
    spec.pool_user_slots = 16384;
    spec.ring_slots = 4096;
    spec.watchdog_ns = g_watchdog_ns;
    spec.watchdog_policy = g_watchdog_policy;
    /* A restarted hopper starts counting again, so with crashes on the
     * run would not end by itself: bound it. */
    config.round_limit = 20000;
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    return r;
}

static void assert_near(uint64_t got, double expected, const char *what) {
    cr_assert(ge(dbl, (double)got, expected * 0.6), "%s: %llu, expected about %.0f", what,
              (unsigned long long)got, expected);
    cr_assert(le(dbl, (double)got, expected * 1.4), "%s: %llu, expected about %.0f", what,
              (unsigned long long)got, expected);
}

Test(sim_faults, off_by_default_nothing_is_injected, .timeout = 60) {
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1});
    cr_assert(eq(u64, r.crashes_injected + r.drops_injected + r.stalls_injected +
                          r.init_failures_injected, 0));
    cr_assert(eq(u64, r.total.crashes, 0));
    cr_assert(ge(u64, r.handler_calls, 10001));
}

Test(sim_faults, crashes_happen_at_their_rate_and_are_restarted, .timeout = 60) {
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1, .crash_per_million = 20000});
    assert_near(r.crashes_injected, (double)r.handler_calls * 0.02, "crashes");
    cr_assert(eq(u64, r.total.crashes, r.crashes_injected), "every injected crash was a crash");
    cr_assert(eq(u64, r.total.restarts, r.crashes_injected), "and went through supervision");
}

Test(sim_faults, drops_happen_at_their_rate, .timeout = 60) {
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1, .drop_per_million = 50000});
    assert_near(r.drops_injected, (double)r.total.sent_remote * 0.05, "drops");
}

Test(sim_faults, stalls_happen_at_their_rate, .timeout = 60) {
    /* 30% with one-round stalls: a few hundred stalls in a run of a few
     * hundred rounds (at 1% there were about 8, too few for +/-40%). */
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1, .stall_per_million = 300000,
                                              .stall_rounds_max = 1});
    /* Each shard draws once per round it is not stalled, and a stall lasts
     * one round: stalls S over 2R shard-rounds satisfy S = p (2R - S). */
    assert_near(r.stalls_injected, (double)r.rounds * 2 * 0.3 / 1.3, "stalls");
    cr_assert(ge(u64, r.stalls_injected, 100), "enough stalls to measure a rate");
}

Test(sim_faults, with_every_fault_on_a_seed_is_still_one_execution, .timeout = 60) {
    tina_sim_config c = {.seed = 11, .shuffle = 1, .crash_per_million = 5000,
                         .drop_per_million = 20000, .stall_per_million = 5000,
                         .init_fail_per_million = 50000, .partition_per_million = 5000,
                         .delay_rounds_min = 1, .delay_rounds_max = 5};
    tina_sim_report a = run(c), b = run(c);
    cr_assert(eq(u64, a.digest, b.digest));
    cr_assert(eq(u64, a.rounds, b.rounds));
    cr_assert(ge(u64, a.crashes_injected, 1));
    cr_assert(ge(u64, a.drops_injected, 1));
    cr_assert(ge(u64, a.stalls_injected, 1));
    cr_assert(ge(u64, a.partitions_injected, 1));
    c.seed = 12;
    cr_assert(ne(u64, run(c).digest, a.digest), "another seed, another execution");
}

Test(sim_faults, init_failures_happen_at_their_rate_and_count_as_crashes, .timeout = 60) {
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1, .crash_per_million = 20000,
                                              .init_fail_per_million = 200000});
    /* Every start draws once: 64 boot inits plus one per restart. */
    double starts = (double)r.total.spawns;
    assert_near(r.init_failures_injected, starts * 0.2, "init failures");
    cr_assert(eq(u64, r.total.init_failed, r.init_failures_injected));
    cr_assert(eq(u64, r.total.crashes, r.crashes_injected + r.init_failures_injected));
}

Test(sim_faults, partitions_cut_both_ways_and_heal, .timeout = 60) {
    tina_sim_report r = run((tina_sim_config){.seed = 3, .shuffle = 1,
                                              .partition_per_million = 20000,
                                              .partition_rounds_max = 50});
    cr_assert(ge(u64, r.partitions_injected, 3));
    cr_assert(ge(u64, r.partitions_healed + 1, r.partitions_injected), "all but the last healed");
    cr_assert(ge(u64, r.partition_drops[0], 1), "messages lost from shard 0 to shard 1");
    cr_assert(ge(u64, r.partition_drops[1], 1), "and from shard 1 to shard 0");
    tina_sim_report off = run((tina_sim_config){.seed = 3, .shuffle = 1});
    cr_assert(eq(u64, off.partitions_injected + off.partition_drops[0] + off.partition_drops[1], 0));
}

/* ---- delays keep each channel in order ------------------------------------ */

#define SEQ_COUNT 5000u
static uint64_t g_seq_next, g_seq_errors, g_max_delay_ns;

typedef struct seq_msg {
    uint64_t seq;
    uint64_t sent_ns;
} seq_msg;

static tina_effect seq_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *next = self;
    H_UNUSED(msg);
    while (*next < SEQ_COUNT) {
        seq_msg m = {*next, tina_now_ns(ctx)};
        if (tina_send(ctx, tina_child_handle(ctx, 1, 1), TAG_HOP, &m, sizeof(m)) != TINA_OK) break;
        ++*next;
        if (*next % 16 == 0) break; /* spread the stream over many passes */
    }
    return *next < SEQ_COUNT ? tina_yield() : tina_receive();
}

static tina_effect seq_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag != TAG_HOP) return tina_receive();
    seq_msg m;
    memcpy(&m, msg->payload, sizeof(m));
    if (m.seq != g_seq_next) g_seq_errors++;
    g_seq_next = m.seq + 1;
    uint64_t delay = tina_now_ns(ctx) - m.sent_ns;
    if (delay > g_max_delay_ns) g_max_delay_ns = delay;
    return tina_receive();
}

Test(sim_faults, delays_keep_every_channel_in_order, .timeout = 60) {
    g_seq_next = g_seq_errors = g_max_delay_ns = 0;
    tina_type_spec types[] = {H_TYPE("producer", uint64_t, 1, 0, 1, hopper_init, seq_producer),
                              H_TYPE("consumer", uint64_t, 1, 8192, 8, NULL, seq_consumer)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.ring_slots = 8192;
    spec.pool_user_slots = 16384;
    tina_sim_config config = {.seed = 9, .shuffle = 1, .delay_rounds_min = 2,
                              .delay_rounds_max = 40};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(u64, g_seq_next, SEQ_COUNT), "every message arrived");
    cr_assert(eq(u64, g_seq_errors, 0), "in order");
    cr_assert(ge(u64, g_max_delay_ns, 20u * 10000u), "and some waited 20+ rounds (10 us each)");
}

/* The watchdog runs in simulated time: stalls of 100..500 rounds (1..5 ms
 * at 10 us a round) pass its 1 ms limit; the default 1 s never trips. */
Test(sim_faults, the_watchdog_sees_stalls_in_simulated_time, .timeout = 60) {
    tina_sim_config config = {.seed = 5, .shuffle = 1, .stall_per_million = 20000,
                              .stall_rounds_max = 500};
    tina_sim_report quiet = run(config);
    cr_assert(ge(u64, quiet.stalls_injected, 1));
    cr_assert(eq(u64, quiet.watchdog_reports, 0), "1 s is never reached by a 5 ms stall");
    g_watchdog_ns = 1000000;
    tina_sim_report r = run(config);
    cr_assert(ge(u64, r.watchdog_reports, 1));
    cr_assert(le(u64, r.watchdog_reports, r.stalls_injected), "at most one report per stall");
    cr_assert(eq(u64, r.total.stalls, r.watchdog_reports), "counted in stats.stalls");
    cr_assert(eq(u64, r.digest, run(config).digest), "reports are part of the one execution");
    g_watchdog_policy = TINA_WATCHDOG_ABORT;
    tina_sim_report stop = run(config);
    cr_assert(eq(u32, stop.reason, TINA_SIM_WATCHDOG), "abort policy ends the run, not the process");
    cr_assert(eq(u64, stop.watchdog_reports, 1));
    g_watchdog_policy = TINA_WATCHDOG_OFF;
    cr_assert(eq(u64, run(config).watchdog_reports, 0), "off means off");
    g_watchdog_ns = 0;
    g_watchdog_policy = 0;
}

Test(sim_faults, profiles_name_their_faults, .timeout = 60) {
    tina_sim_config c = {.seed = 9};
    H_ASSERT_RESULT(tina_sim_faults(&c, "all"), TINA_OK);
    cr_assert(c.crash_per_million && c.drop_per_million && c.stall_per_million &&
              c.init_fail_per_million && c.partition_per_million && c.delay_rounds_max);
    cr_assert(eq(u64, c.seed, 9), "other fields are left alone");
    H_ASSERT_RESULT(tina_sim_faults(&c, "bogus"), TINA_EINVAL);
    cr_assert(c.crash_per_million != 0, "an unknown name leaves the config untouched");
    H_ASSERT_RESULT(tina_sim_faults(&c, "network"), TINA_OK);
    cr_assert(eq(u32, c.crash_per_million, 0));
    cr_assert(c.drop_per_million && c.partition_per_million);
    H_ASSERT_RESULT(tina_sim_faults(&c, "none"), TINA_OK);
    tina_sim_report r = run(c);
    cr_assert(eq(u64, r.crashes_injected + r.drops_injected + r.stalls_injected +
                          r.init_failures_injected + r.partitions_injected, 0));
    H_ASSERT_RESULT(tina_sim_faults(&c, "all"), TINA_OK);
    uint64_t seen[5] = {0};
    for (c.seed = 1; c.seed <= 8; c.seed++) { /* some faults are rare in a short run */
        r = run(c);
        seen[0] += r.crashes_injected, seen[1] += r.drops_injected;
        seen[2] += r.stalls_injected, seen[3] += r.init_failures_injected;
        seen[4] += r.partitions_injected;
    }
    for (int k = 0; k < 5; k++) cr_assert(ge(u64, seen[k], 1), "fault kind %d happens", k);
}
