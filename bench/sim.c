/*
 * sim -- simulated messages per second on one core.
 *
 *   sim_msgs_per_s   handler calls per wall-clock second while tina_simulate
 *                    runs every shard on this thread: 4 shards, 64 isolates
 *                    per shard sending to random isolates on every shard,
 *                    shard order shuffled each round, every fault on
 *                    (crash 0.1% of handler calls, init failure 0.1%, drop
 *                    1% of messages, stalls and partitions 0.1% per round,
 *                    deliveries delayed 0..3 rounds),
 *                    the built-in checkers every 1000 rounds; 20,000 rounds.
 *   sim_msgs_per_s_faults_off   the same 20,000 rounds, faults off.
 *
 * Each isolate keeps itself going with a GO message to itself, so lost
 * messages do not end the traffic; both runs are bounded by the round limit.
 *
 * The median of five runs with different seeds.
 */
#include "bench.h"

#define ISOLATES 64u
#define SHARDS 4u
#define MESSAGES_PER_ISOLATE 20000u
#define RUNS 5u

enum { TAG_GO = TINA_TAG_USER, TAG_HOP };

typedef struct hopper {
    uint32_t sent;
} hopper;

static uint32_t hopper_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    return tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) == TINA_OK ? 0 : 1;
}

static tina_effect hopper_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    hopper *h = self;
    /* Each message received sends one on, to a random isolate anywhere. */
    if (h->sent >= MESSAGES_PER_ISOLATE) return tina_receive();
    if (msg->tag == TINA_TAG_RESUME && tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) != TINA_OK)
        return tina_yield();
    uint64_t r = tina_random(ctx);
    tina_handle to = tina_child_handle(ctx, (uint32_t)(r % ISOLATES), (uint32_t)((r >> 32) % SHARDS));
    if (tina_send(ctx, to, TAG_HOP, &r, sizeof(r)) == TINA_OK) h->sent++;
    /* Only a GO keeps an isolate going, so dropped hops do not end the run. */
    if (msg->tag == TAG_GO && tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) != TINA_OK)
        return tina_yield();
    return tina_receive();
}

/* Median over RUNS seeds of handler calls per wall-clock second. */
static double rate(const tina_spec *spec, tina_sim_config config) {
    double rates[RUNS];
    for (uint32_t run = 0; run < RUNS; run++) {
        config.seed = 1000 + run;
        tina_sim_report report;
        uint64_t start = bench_now_ns();
        bench_check(tina_simulate(spec, &config, &report), "simulate");
        uint64_t elapsed = bench_now_ns() - start;
        rates[run] = (double)report.handler_calls * 1e9 / (double)elapsed;
        char line[256];
        tina_sim_summary(&report, line, sizeof(line));
        fprintf(stderr, "sim: %s calls=%llu crashes=%llu drops=%llu %.0f msgs/s\n", line,
                (unsigned long long)report.handler_calls,
                (unsigned long long)report.crashes_injected,
                (unsigned long long)report.drops_injected, rates[run]);
    }
    return bench_median(rates, RUNS);
}

int main(void) {
    static tina_child_spec children[ISOLATES];
    tina_type_spec types[] = {{.name = "hopper", .struct_size = sizeof(hopper),
                               .slots_per_shard = ISOLATES, .mailbox_capacity = 64,
                               .init = hopper_init, .handler = hopper_handle}};
    for (uint32_t k = 0; k < ISOLATES; k++)
        children[k] = (tina_child_spec){.type_id = 0, .shard = TINA_SHARD_EVERY,
                                        .restart = TINA_RESTART_PERMANENT};
    tina_spec spec = {.types = types, .type_count = 1, .children = children,
                      .child_count = ISOLATES, .shard_count = SHARDS, .pool_user_slots = 16384,
                      .ring_slots = 4096, .no_signal_handlers = 1};
    tina_sim_config faults = {.shuffle = 1, .crash_per_million = 1000,
                              .init_fail_per_million = 1000, .drop_per_million = 10000,
                              .stall_per_million = 1000, .partition_per_million = 1000,
                              .delay_rounds_min = 0, .delay_rounds_max = 3, .round_limit = 20000};
    tina_sim_config clean = {.shuffle = 1, .round_limit = 20000};
    printf("sim_msgs_per_s: %.0f msgs/s\n", rate(&spec, faults));
    printf("sim_msgs_per_s_faults_off: %.0f msgs/s\n", rate(&spec, clean));
    return 0;
}
