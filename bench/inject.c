/*
 * inject -- what the way in from a foreign thread costs (tina_inject).
 *
 *   inject_msgs_per_s       a foreign thread pinned to the first CPU injects
 *                           envelopes (8-byte payload) into a consumer that
 *                           only counts, on a shard pinned to the second;
 *                           it retries when the queue is full.  Rate =
 *                           messages the consumer handled / time, so only
 *                           accepted messages count.  Median of rounds.
 *   inject_full_per_attempt the share of tina_inject calls refused with a
 *                           full queue in those rounds (the retries).
 *   inject_wake_ns_median   the consumer's shard asleep (its published
 *   inject_wake_ns_p99      `sleeps` moved past what the handler last saw:
 *                           checked, not assumed), one tina_inject: from
 *                           just before the call to the handler's first
 *                           instruction, on a shared monotonic clock.
 *                           WAKE_COUNT samples.
 *   futex_wake_ns_median    the floor under it: two bare threads on the same
 *                           two CPUs, one asleep in FUTEX_WAIT, the other
 *                           storing and calling FUTEX_WAKE; from before the
 *                           wake to the sleeper's first instruction after.
 *
 * tina_run runs on a third thread, unpinned: it only waits for the shard.
 * Benchmarks are never timed tests; figures go to stdout as
 * `name: value unit`, diagnostics to stderr.
 */
#include "bench.h"

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define RATE_ROUND_COUNT 5u
#define RATE_MESSAGE_COUNT 5000000ull
#define QUEUE_SLOTS 4096u
#define WAKE_COUNT 1000u
#define WAIT_LIMIT_NS (10ull * 1000000000ull)

static uint32_t g_cpus[2];
static tina_runtime *g_rt;
static pthread_t g_runner;
static _Atomic uint64_t g_handled;          /* the consumer's count */
static _Atomic uint64_t g_handled_at_ns;    /* the consumer's clock at its latest message */
static _Atomic uint64_t g_sleeps_at_handle; /* its shard's sleeps then */

static tina_effect counter(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t at = bench_now_ns(); /* first: the wake latency ends here */
    (void)self, (void)msg;
    atomic_store_explicit(&g_handled_at_ns, at, memory_order_relaxed);
    atomic_store_explicit(&g_sleeps_at_handle, tina_ctx_stats(ctx)->sleeps, memory_order_relaxed);
    /* Release pairs with the injector's acquire load of the count. */
    atomic_store_explicit(&g_handled, atomic_load_explicit(&g_handled, memory_order_relaxed) + 1,
                          memory_order_release);
    return tina_receive();
}

static void *runner_main(void *arg) {
    (void)arg;
    bench_check(tina_run(g_rt), "tina_run");
    return NULL;
}

static void runtime_start(void) {
    tina_type_spec types[1] = {{.name = "counter", .struct_size = 8, .slots_per_shard = 1,
                                .mailbox_capacity = 4 * QUEUE_SLOTS, .handler = counter}};
    tina_child_spec children[1] = {{.type_id = 0, .shard = 0}};
    tina_spec spec = {.types = types, .type_count = 1, .children = children, .child_count = 1,
                      .shard_count = 1, .core_count = 1, .cores = &g_cpus[1],
                      /* a pass drains at most one queue: the budget handles it all */
                      .inject_slots = QUEUE_SLOTS, .base_budget = QUEUE_SLOTS,
                      .pool_user_slots = 4 * QUEUE_SLOTS, .no_signal_handlers = 1};
    g_rt = bench_create(&spec);
    if (pthread_create(&g_runner, NULL, runner_main, NULL) != 0) bench_die("pthread_create");
}

/* Wait, bounded, until the consumer has handled `count`. */
static void handled_wait(uint64_t count) {
    uint64_t deadline = bench_now_ns() + WAIT_LIMIT_NS;
    /* Acquire pairs with the consumer's release. */
    while (atomic_load_explicit(&g_handled, memory_order_acquire) < count) {
        if (bench_now_ns() > deadline) bench_die("the consumer stopped at %llu of %llu",
                                                 (unsigned long long)atomic_load(&g_handled),
                                                 (unsigned long long)count);
        bench_cpu_relax();
    }
}

static double rate_round(tina_handle to, uint64_t *full) {
    uint64_t base = atomic_load(&g_handled);
    uint64_t start = bench_now_ns();
    for (uint64_t k = 0; k < RATE_MESSAGE_COUNT;) {
        tina_result r = tina_inject(g_rt, to, TINA_TAG_USER, &k, sizeof(k));
        if (r == TINA_OK) k++;
        else if (r == TINA_EMAILBOX_FULL) ++*full, bench_cpu_relax();
        else bench_check(r, "tina_inject");
    }
    handled_wait(base + RATE_MESSAGE_COUNT);
    return (double)RATE_MESSAGE_COUNT * 1e9 / (double)(bench_now_ns() - start);
}

static int by_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* One sample: wait until the shard has slept since its last message,
 * then time one injection to the handler's first instruction. */
static uint64_t wake_sample(tina_handle to) {
    uint64_t deadline = bench_now_ns() + WAIT_LIMIT_NS;
    const struct timespec pause = {0, 20000};
    for (;;) {
        tina_shard_stats st;
        bench_check(tina_stats(g_rt, 0, &st), "tina_stats");
        if (st.sleeps > atomic_load(&g_sleeps_at_handle)) break;
        if (bench_now_ns() > deadline) bench_die("the consumer's shard never slept");
        nanosleep(&pause, NULL);
    }
    uint64_t count = atomic_load(&g_handled);
    uint64_t t0 = bench_now_ns();
    bench_check(tina_inject(g_rt, to, TINA_TAG_USER, NULL, 0), "tina_inject");
    handled_wait(count + 1);
    return atomic_load(&g_handled_at_ns) - t0;
}

/* ---- the floor: a bare futex wake between the same two CPUs --------------- */

static _Atomic uint32_t g_bare_word;       /* 1: the sleeper may sleep; 0: wake up */
static _Atomic uint32_t g_bare_asleep;     /* the sleeper is about to wait */
static _Atomic uint64_t g_bare_woke_at_ns; /* its clock right after each wake */
static _Atomic uint32_t g_bare_quit;

static void *bare_sleeper(void *arg) {
    (void)arg;
    bench_pin_to(g_cpus[1]);
    while (!atomic_load(&g_bare_quit)) {
        atomic_store(&g_bare_word, 1);
        atomic_store(&g_bare_asleep, 1);
        while (atomic_load(&g_bare_word) == 1)
            (void)syscall(SYS_futex, &g_bare_word, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
        atomic_store(&g_bare_woke_at_ns, bench_now_ns());
        atomic_store(&g_bare_asleep, 0);
    }
    return NULL;
}

static uint64_t bare_wake_median_ns(void) {
    static uint64_t samples[WAKE_COUNT];
    pthread_t th;
    if (pthread_create(&th, NULL, bare_sleeper, NULL) != 0) bench_die("pthread_create");
    const struct timespec pause = {0, 200000}; /* long enough for the sleeper to be in the kernel */
    for (uint32_t i = 0; i <= WAKE_COUNT; i++) {
        while (!atomic_load(&g_bare_asleep)) bench_cpu_relax();
        nanosleep(&pause, NULL);
        uint64_t before = atomic_load(&g_bare_woke_at_ns);
        if (i == WAKE_COUNT) atomic_store(&g_bare_quit, 1);
        uint64_t t0 = bench_now_ns();
        atomic_store(&g_bare_word, 0);
        (void)syscall(SYS_futex, &g_bare_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        while (atomic_load(&g_bare_woke_at_ns) == before) bench_cpu_relax();
        if (i < WAKE_COUNT) samples[i] = atomic_load(&g_bare_woke_at_ns) - t0;
    }
    pthread_join(th, NULL);
    qsort(samples, WAKE_COUNT, sizeof(samples[0]), by_u64);
    return samples[WAKE_COUNT / 2];
}

int main(void) {
    bench_two_cpus(g_cpus);
    runtime_start();
    bench_pin_to(g_cpus[0]);
    tina_handle to = tina_runtime_child_handle(g_rt, 0, 0);
    double rates[RATE_ROUND_COUNT];
    uint64_t full = 0;
    for (uint32_t i = 0; i < RATE_ROUND_COUNT; i++) {
        rates[i] = rate_round(to, &full);
        fprintf(stderr, "inject: rate round %u: %.0f msgs/s\n", i, rates[i]);
    }
    static uint64_t wake_ns[WAKE_COUNT];
    for (uint32_t i = 0; i < WAKE_COUNT; i++) wake_ns[i] = wake_sample(to);
    qsort(wake_ns, WAKE_COUNT, sizeof(wake_ns[0]), by_u64);
    tina_inject_stats in;
    bench_check(tina_stats_inject(g_rt, 0, &in), "tina_stats_inject");
    tina_stop(g_rt);
    pthread_join(g_runner, NULL);
    bench_dump_stats(g_rt, 0);
    fprintf(stderr, "inject: accepted=%llu full=%llu wakeups=%llu; injector on cpu %u, shard on cpu %u\n",
            (unsigned long long)in.accepted, (unsigned long long)in.full,
            (unsigned long long)in.wakeups, g_cpus[0], g_cpus[1]);
    tina_destroy(g_rt);
    uint64_t floor_ns = bare_wake_median_ns();
    uint64_t attempts = RATE_ROUND_COUNT * RATE_MESSAGE_COUNT + full;
    printf("inject_msgs_per_s: %.0f msgs/s\n", bench_median(rates, RATE_ROUND_COUNT));
    printf("inject_full_per_attempt: %.3f ratio\n", (double)full / (double)attempts);
    printf("inject_wake_ns_median: %llu ns\n", (unsigned long long)wake_ns[WAKE_COUNT / 2]);
    printf("inject_wake_ns_p99: %llu ns\n", (unsigned long long)wake_ns[WAKE_COUNT * 99 / 100]);
    printf("futex_wake_ns_median: %llu ns\n", (unsigned long long)floor_ns);
    printf("inject_wake_ratio: %.2f x futex\n",
           floor_ns ? (double)wake_ns[WAKE_COUNT / 2] / (double)floor_ns : 0.0);
    return 0;
}
