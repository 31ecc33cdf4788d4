/*
 * spawn -- how fast one shard starts a million isolates, and what each one
 * costs in memory beyond the user's own struct.
 *
 *   spawn_1m_s             one isolate calls tina_spawn 1,000,000 times for a
 *                          small type (16-byte struct, mailbox capacity 1);
 *                          time from the first spawn to the return of the
 *                          last, init included.  Median of RUN_COUNT fresh
 *                          runtimes (each starts from an untouched arena, so
 *                          first-touch page faults are part of the figure).
 *   spawn_1m_create_s      tina_create for that spec alone: reserving, mapping
 *                          and pre-faulting the million slots (median of the
 *                          same runs), and spawn_1m_with_create_s the two
 *                          together -- the boot cost in the open.
 *   isolate_overhead_bytes (memory_per_shard_bytes with 1,000,000 slots of the
 *                          type - the same with 1 slot) / 999,999 - 16: the
 *                          framework's bytes per isolate slot (slot header,
 *                          mailbox, free list, ...) as tina_validate reports.
 */
#include "bench.h"

#define RUN_COUNT 5u
#define SPAWN_COUNT 1000000u
#define SMALL_STRUCT_SIZE 16u

#define TAG_START (TINA_TAG_USER + 0)

typedef struct small {
    uint64_t id;
    uint64_t spare;
} small;
_Static_assert(sizeof(small) == SMALL_STRUCT_SIZE, "the small type is 16 bytes");

/* Written by the shard thread, read by main after tina_run returned. */
static uint64_t g_elapsed_ns;
static uint32_t g_spawned;
static int g_failed;

static uint32_t small_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    small *s = self;
    (void)ctx;
    if (args_size == sizeof s->id) memcpy(&s->id, args, sizeof s->id);
    return 0;
}

static tina_effect small_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    (void)ctx;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    return tina_receive();
}

static uint32_t spawner_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    (void)self;
    (void)args;
    (void)args_size;
    tina_result r = tina_send(ctx, tina_self(ctx), TAG_START, NULL, 0);
    if (r != TINA_OK) {
        fprintf(stderr, "spawn: send start: %s\n", tina_result_name(r));
        return 1;
    }
    return 0;
}

static tina_effect spawner_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag != TAG_START) return tina_receive();
    uint64_t start_ns = bench_now_ns();
    uint32_t spawned = 0;
    for (uint64_t id = 0; id < SPAWN_COUNT; id++) {
        tina_handle h;
        tina_result r = tina_spawn(ctx, 1, &id, sizeof id, &h);
        if (r != TINA_OK) {
            fprintf(stderr, "spawn: spawn %llu: %s\n", (unsigned long long)id,
                    tina_result_name(r));
            g_failed = 1;
            break;
        }
        spawned++;
    }
    g_elapsed_ns = bench_now_ns() - start_ns;
    g_spawned = spawned;
    tina_request_stop(ctx);
    return tina_receive();
}

static void build_spec(tina_spec *spec, tina_type_spec types[2], tina_child_spec *child,
                       uint32_t *cpus, uint32_t small_slots) {
    types[0] = (tina_type_spec){
        .name = "spawner",
        .struct_size = 8,
        .slots_per_shard = 1,
        .mailbox_capacity = 4,
        .init = spawner_init,
        .handler = spawner_handler,
    };
    types[1] = (tina_type_spec){
        .name = "small",
        .struct_size = SMALL_STRUCT_SIZE,
        .slots_per_shard = small_slots,
        .mailbox_capacity = 1,
        .init = small_init,
        .handler = small_handler,
    };
    *child = (tina_child_spec){.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL};
    *spec = (tina_spec){
        .types = types,
        .type_count = 2,
        .children = child,
        .child_count = 1,
        .shard_count = 1,
        .core_count = 1,
        .cores = cpus,
        .no_signal_handlers = 1,
    };
}

static uint64_t per_shard_bytes(uint32_t small_slots, uint32_t *cpus) {
    tina_spec spec;
    tina_type_spec types[2];
    tina_child_spec child;
    build_spec(&spec, types, &child, cpus, small_slots);
    tina_boot_report report;
    memset(&report, 0, sizeof report);
    tina_result r = tina_validate(&spec, &report);
    if (r != TINA_OK) bench_die("tina_validate: %s: %s", tina_result_name(r), report.message);
    return report.memory_per_shard_bytes;
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);

    double runs_s[RUN_COUNT], create_s[RUN_COUNT], both_s[RUN_COUNT];
    for (uint32_t run = 0; run < RUN_COUNT; run++) {
        tina_spec spec;
        tina_type_spec types[2];
        tina_child_spec child;
        build_spec(&spec, types, &child, cpus, SPAWN_COUNT);
        g_elapsed_ns = 0;
        g_spawned = 0;
        uint64_t created_at = bench_now_ns();
        tina_runtime *rt = bench_create(&spec);
        create_s[run] = (double)(bench_now_ns() - created_at) / 1e9;
        int timed_out = bench_run_guarded(rt, 60ull * 1000000000ull);
        if (run == 0) bench_dump_stats(rt, 0);
        tina_destroy(rt);
        if (timed_out) bench_die("spawn: run %u did not finish", run);
        if (g_failed || g_spawned != SPAWN_COUNT) {
            bench_die("spawn: run %u spawned %u of %u", run, g_spawned, SPAWN_COUNT);
        }
        runs_s[run] = (double)g_elapsed_ns / 1e9;
        both_s[run] = create_s[run] + runs_s[run];
        fprintf(stderr, "spawn: run %u: %.4f s (tina_create %.4f s)\n", run, runs_s[run],
                create_s[run]);
    }
    printf("spawn_1m_s: %.4f s\n", bench_median(runs_s, RUN_COUNT));
    printf("spawn_1m_create_s: %.4f s\n", bench_median(create_s, RUN_COUNT));
    printf("spawn_1m_with_create_s: %.4f s\n", bench_median(both_s, RUN_COUNT));

    uint64_t big = per_shard_bytes(SPAWN_COUNT, cpus);
    uint64_t one = per_shard_bytes(1, cpus);
    double per_slot = (double)(big - one) / (double)(SPAWN_COUNT - 1);
    fprintf(stderr, "spawn: memory_per_shard_bytes %llu (1M slots) vs %llu (1 slot)\n",
            (unsigned long long)big, (unsigned long long)one);
    printf("isolate_overhead_bytes: %.0f bytes\n", per_slot - (double)SMALL_STRUCT_SIZE);
    return 0;
}
