/*
 * sim_swarm.c -- the swarm's CI slice: SWARM_CI_SEEDS seeds of swarm.h,
 * each drawing its own spec, workload and faults, every one in its own
 * process, none may fail; and one seed replayed gives one digest.
 *
 * `make swarm SEEDS=N FROM=S` runs the same workload over more seeds.
 */
#include "helpers.h"
#include "swarm.h"

#define SWARM_CI_SEEDS 200u
#define SWARM_CI_FROM 1u

Test(swarm, a_slice_of_seeds_breaks_nothing, .timeout = 600) {
    unsetenv("TINA_SEED");
    uint32_t failed = 0;
    struct swarm_counts sum;
    memset(&sum, 0, sizeof(sum));
    for (uint32_t k = 0; k < SWARM_CI_SEEDS; k++) {
        struct swarm_result r;
        swarm_run_forked(SWARM_CI_FROM + k, &r);
        const uint64_t *from = (const uint64_t *)&r.counts;
        uint64_t *to = (uint64_t *)&sum;
        for (size_t i = 0; i < sizeof(sum) / sizeof(uint64_t); i++) to[i] += from[i];
        if (!r.failed) continue;
        failed++;
        cr_log_error("seed 0x%llx: %s -- replay: TINA_SEED=0x%llx build/tests/swarm",
                     (unsigned long long)r.seed, r.why, (unsigned long long)r.seed);
    }
    cr_assert(eq(u32, failed, 0), "%u of %u seeds failed", failed, SWARM_CI_SEEDS);
    /* The slice exercises what it claims to. */
    cr_assert(ge(u64, sum.calls_replied, 1));
    cr_assert(ge(u64, sum.calls_timed_out, 1));
    cr_assert(ge(u64, sum.calls_failed, 1));
    cr_assert(ge(u64, sum.restarts, 1));
    cr_assert(ge(u64, sum.quarantines, 1));
    cr_assert(ge(u64, sum.stream_bytes, 1));
    cr_assert(ge(u64, sum.handoffs, 1));
    cr_assert(ge(u64, sum.shutdowns_begun, 1));
    cr_assert(ge(u64, sum.send_address, 1), "sends and calls by address");
    cr_assert(ge(u64, sum.address_not_running, 1), "an address met a restart");
    cr_assert(ge(u64, sum.replies_later, 1), "deferred calls answered later");
    cr_assert(ge(u64, sum.tokens_orphaned, 1), "deferred calls whose owner ended");
    cr_assert(ge(u64, sum.token_misuse, 1), "spent and forged tokens refused");
    cr_assert(ge(u64, sum.demonitors, 1), "monitors taken back");
    cr_assert(ge(u64, sum.monitors_released, 1), "monitors freed as their watcher ended");
    cr_assert(ge(u64, sum.injected, 1), "messages injected from outside the shards");
}

Test(swarm, one_seed_replays_one_digest, .timeout = 60) {
    unsetenv("TINA_SEED");
    for (uint64_t seed = 7; seed < 10; seed++) {
        struct swarm_result a, b;
        swarm_run_here(seed, &a);
        swarm_run_here(seed, &b);
        cr_assert(eq(u64, a.report.digest, b.report.digest), "seed %llu", (unsigned long long)seed);
        cr_assert(eq(u64, a.report.rounds, b.report.rounds), "seed %llu", (unsigned long long)seed);
        cr_assert(ge(u64, a.report.handler_calls, 1));
    }
}
