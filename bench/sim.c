/*
 * sim -- simulated messages per second on one core.
 *
 *   sim_msgs_per_s   handler calls per wall-clock second while tina_simulate
 *                    runs every shard on this thread: 4 shards, 64 isolates
 *                    per shard sending to random isolates on every shard,
 *                    shard order shuffled each round.  Faults are not built
 *                    yet, so this is the fault-free figure; the simulation
 *                    issue's target (>= 5 M/s) is for a run with faults on.
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
    (void)msg;
    /* Each message received sends one on, to a random isolate anywhere. */
    if (h->sent >= MESSAGES_PER_ISOLATE) return tina_receive();
    uint64_t r = tina_random(ctx);
    tina_handle to = tina_child_handle(ctx, (uint32_t)(r % ISOLATES), (uint32_t)((r >> 32) % SHARDS));
    if (tina_send(ctx, to, TAG_HOP, &r, sizeof(r)) == TINA_OK) h->sent++;
    else if (tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) != TINA_OK) return tina_yield();
    return tina_receive();
}

int main(void) {
    static tina_child_spec children[ISOLATES];
    tina_type_spec types[] = {{.name = "hopper", .struct_size = sizeof(hopper),
                               .slots_per_shard = ISOLATES, .mailbox_capacity = 64,
                               .init = hopper_init, .handler = hopper_handle}};
    for (uint32_t k = 0; k < ISOLATES; k++)
        children[k] = (tina_child_spec){.type_id = 0, .shard = TINA_SHARD_EVERY};
    tina_spec spec = {.types = types, .type_count = 1, .children = children,
                      .child_count = ISOLATES, .shard_count = SHARDS, .pool_user_slots = 16384,
                      .ring_slots = 4096, .no_signal_handlers = 1};
    double rates[RUNS];
    for (uint32_t run = 0; run < RUNS; run++) {
        tina_sim_config config = {.seed = 1000 + run, .shuffle = 1};
        tina_sim_report report;
        uint64_t start = bench_now_ns();
        bench_check(tina_simulate(&spec, &config, &report), "simulate");
        uint64_t elapsed = bench_now_ns() - start;
        rates[run] = (double)report.total.dispatched * 1e9 / (double)elapsed;
        char line[160];
        tina_sim_summary(&report, line, sizeof(line));
        fprintf(stderr, "sim: %s dispatched=%llu %.0f msgs/s\n", line,
                (unsigned long long)report.total.dispatched, rates[run]);
    }
    printf("sim_msgs_per_s: %.0f msgs/s\n", bench_median(rates, RUNS));
    return 0;
}
