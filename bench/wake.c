/*
 * wake.c -- what the idle spin costs and wins: the latency of a message to
 * an idle shard, and the CPU that shard burns, with the fixed spin and
 * with the adaptive one (tina_spec.idle_spin_fixed).
 *
 * A producer on shard 0 sends one message every GAP, stamped with the
 * monotonic clock; the consumer on shard 1 has nothing else to do, so
 * between messages it polls and/or sleeps.  Latency is the stamp to the
 * consumer's handler; the consumer's CPU is its thread's CPU time over the
 * run (CLOCK_THREAD_CPUTIME_ID, read in the handler), as a share of the
 * wall time.  Two gaps: 20 us ("frequent": a poll of 50 us catches it)
 * and 1 ms ("rare": a poll only burns the core).  Prints, for each
 * policy and gap:
 *
 *   wake_ns_median_<policy>_<gap>: ns     wake_ns_p99_<policy>_<gap>: ns
 *   wake_cpu_<policy>_<gap>: % of a core
 *
 * with the two shards pinned to the first two allowed CPUs (printed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define SAMPLES 2000u
#define WARMUP 50u
enum { TAG_TICK = TINA_TAG_USER, TAG_STAMP };

static uint64_t g_gap_ns;
static double g_lat[SAMPLES];
static uint32_t g_seen;
static uint64_t g_cpu0, g_cpu1, g_wall0, g_wall1;

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t producer_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    tina_timer_id id;
    return tina_timer_set(ctx, g_gap_ns, g_gap_ns, TAG_TICK, &id) == TINA_OK ? 0 : 1;
}

static tina_effect producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag != TAG_TICK) return tina_receive();
    uint64_t stamp = bench_now_ns();
    (void)tina_send(ctx, tina_child_handle(ctx, 1, 1), TAG_STAMP, &stamp, sizeof(stamp));
    return tina_receive();
}

static tina_effect consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag != TAG_STAMP) return tina_receive();
    uint64_t now = bench_now_ns(), stamp;
    memcpy(&stamp, msg->payload, sizeof(stamp));
    uint32_t k = g_seen++;
    if (k == WARMUP) g_cpu0 = thread_cpu_ns(), g_wall0 = now;
    if (k >= WARMUP && k < WARMUP + SAMPLES) g_lat[k - WARMUP] = (double)(now - stamp);
    if (k == WARMUP + SAMPLES) {
        g_cpu1 = thread_cpu_ns(), g_wall1 = now;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static double percentile(double *v, uint32_t n, uint32_t pct) {
    qsort(v, n, sizeof(double), bench_cmp_double);
    return v[(size_t)n * pct / 100 - (pct == 100)];
}

static void one(uint32_t fixed, uint64_t gap_ns, const char *gap_name, const uint32_t cpus[2]) {
    tina_type_spec types[] = {
        {.name = "producer", .struct_size = 8, .slots_per_shard = 1, .init = producer_init,
         .handler = producer},
        {.name = "consumer", .struct_size = 8, .slots_per_shard = 1, .mailbox_capacity = 64,
         .handler = consumer}};
    tina_child_spec children[] = {{.type_id = 0, .shard = 0}, {.type_id = 1, .shard = 1}};
    tina_spec spec = {.types = types, .type_count = 2, .children = children, .child_count = 2,
                      .shard_count = 2, .cores = cpus, .core_count = 2,
                      .timer_resolution_ns = 1000, .idle_spin_fixed = fixed,
                      .no_signal_handlers = 1, .log_level = TINA_LOG_ERROR};
    g_gap_ns = gap_ns;
    g_seen = 0;
    tina_runtime *rt = bench_create(&spec);
    bench_check(tina_run(rt), "tina_run");
    tina_destroy(rt);
    if (g_seen <= WARMUP + SAMPLES) bench_die("wake: the run stopped early");
    const char *policy = fixed ? "fixed" : "adaptive";
    double cpu = 100.0 * (double)(g_cpu1 - g_cpu0) / (double)(g_wall1 - g_wall0);
    printf("wake_ns_median_%s_%s: %.0f ns\n", policy, gap_name, percentile(g_lat, SAMPLES, 50));
    printf("wake_ns_p99_%s_%s: %.0f ns\n", policy, gap_name, percentile(g_lat, SAMPLES, 99));
    printf("wake_cpu_%s_%s: %.1f %%\n", policy, gap_name, cpu);
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);
    fprintf(stderr, "wake: producer on cpu %u, consumer on cpu %u; spin at most 50 us\n", cpus[0],
            cpus[1]);
    static const struct { uint64_t gap_ns; const char *name; } gaps[] = {{20000, "20us"},
                                                                          {1000000, "1ms"}};
    for (uint32_t g = 0; g < 2; g++)
        for (uint32_t fixed = 0; fixed < 2; fixed++) one(1 - fixed, gaps[g].gap_ns, gaps[g].name, cpus);
    return 0;
}
