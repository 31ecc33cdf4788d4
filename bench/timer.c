/*
 * timer -- setting and firing a million one-shot timers on one shard.
 *
 * WORKER_COUNT worker isolates each set TIMERS_PER_WORKER one-shot timers
 * (1,000,000 in all) with delays spread evenly over 0..1 ms, and count the
 * fires.  The figure is the time from the first tina_timer_set to the
 * dispatch of the last fire, median of ROUND_COUNT rounds:
 *
 *   timer_1m_s: X s
 *
 * The wheel runs at the default resolution (100 us); the spec raises
 * timer_slots to 2^20 and the system message region to 1.1 M slots so that
 * a million pending fires fit.
 */
#include "bench.h"

#define ROUND_COUNT 5u
#define WORKER_COUNT 1000u
#define TIMERS_PER_WORKER 1000u
#define TIMER_COUNT (WORKER_COUNT * TIMERS_PER_WORKER)
#define DELAY_SPREAD_NS 1000000ull

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_GO (TINA_TAG_USER + 1)
#define TAG_DONE (TINA_TAG_USER + 2)
#define TAG_TICK (TINA_TAG_USER + 3)

/* One shard: every isolate runs on the same thread, so plain globals are
 * safe; main reads them after tina_run returned. */
static uint64_t g_first_set_ns; /* this round; 0 until the first set */
static uint64_t g_last_fire_ns;
static uint64_t g_fired;        /* this round */
static double g_round_s[ROUND_COUNT];
static uint32_t g_rounds_done;
static int g_failed;

static void fail(tina_ctx *ctx, const char *what, tina_result r) {
    fprintf(stderr, "timer: %s: %s\n", what, tina_result_name(r));
    g_failed = 1;
    tina_request_stop(ctx);
}

typedef struct worker {
    tina_handle coordinator;
    uint32_t index; /* 0..WORKER_COUNT-1 */
} worker;

typedef struct worker_args {
    tina_handle coordinator;
    uint32_t index;
} worker_args;

static uint32_t worker_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    worker *w = self;
    const worker_args *a = args;
    (void)ctx;
    if (args_size != sizeof *a) return 1;
    w->coordinator = a->coordinator;
    w->index = a->index;
    return 0;
}

static void worker_set_timers(worker *w, tina_ctx *ctx) {
    if (g_first_set_ns == 0) g_first_set_ns = bench_now_ns();
    for (uint32_t j = 0; j < TIMERS_PER_WORKER; j++) {
        /* Timer k = j * WORKER_COUNT + index gets delay k * 1 ms / 1 M:
         * every worker's timers cover the whole 0..1 ms spread. */
        uint64_t k = (uint64_t)j * WORKER_COUNT + w->index;
        uint64_t delay_ns = k * DELAY_SPREAD_NS / TIMER_COUNT;
        tina_timer_id id;
        tina_result r = tina_timer_set(ctx, delay_ns, 0, TAG_TICK, &id);
        if (r != TINA_OK) {
            fail(ctx, "timer_set", r);
            return;
        }
    }
}

static tina_effect worker_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    worker *w = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_GO) {
        worker_set_timers(w, ctx);
        return tina_receive();
    }
    if (msg->kind != TINA_MSG_TIMER || msg->tag != TAG_TICK) return tina_receive();
    g_fired++;
    if (g_fired == TIMER_COUNT) {
        g_last_fire_ns = bench_now_ns();
        tina_result r = tina_send(ctx, w->coordinator, TAG_DONE, NULL, 0);
        if (r != TINA_OK) fail(ctx, "send done", r);
    }
    return tina_receive();
}

typedef struct coordinator {
    tina_handle workers[WORKER_COUNT];
    uint32_t round;
} coordinator;

static uint32_t coordinator_init(void *self, tina_ctx *ctx, const void *args,
                                 size_t args_size) {
    (void)self;
    (void)args;
    (void)args_size;
    tina_result r = tina_send(ctx, tina_self(ctx), TAG_START, NULL, 0);
    if (r != TINA_OK) {
        fprintf(stderr, "timer: send start: %s\n", tina_result_name(r));
        return 1;
    }
    return 0;
}

static void round_start(coordinator *c, tina_ctx *ctx) {
    g_first_set_ns = 0;
    g_last_fire_ns = 0;
    g_fired = 0;
    for (uint32_t i = 0; i < WORKER_COUNT; i++) {
        tina_result r = tina_send(ctx, c->workers[i], TAG_GO, NULL, 0);
        if (r != TINA_OK) {
            fail(ctx, "send go", r);
            return;
        }
    }
}

static tina_effect coordinator_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    coordinator *c = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_START) {
        for (uint32_t i = 0; i < WORKER_COUNT; i++) {
            worker_args a = {tina_self(ctx), i};
            tina_result r = tina_spawn(ctx, 1, &a, sizeof a, &c->workers[i]);
            if (r != TINA_OK) {
                fail(ctx, "spawn worker", r);
                return tina_receive();
            }
        }
        round_start(c, ctx);
        return tina_receive();
    }
    if (msg->tag != TAG_DONE) return tina_receive();
    g_round_s[c->round] = (double)(g_last_fire_ns - g_first_set_ns) / 1e9;
    c->round++;
    g_rounds_done = c->round;
    if (c->round == ROUND_COUNT) {
        tina_request_stop(ctx);
    } else {
        round_start(c, ctx);
    }
    return tina_receive();
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);

    tina_type_spec types[2] = {
        {.name = "coordinator",
         .struct_size = sizeof(coordinator),
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .init = coordinator_init,
         .handler = coordinator_handler},
        /* Room for every pending fire of a worker plus its go message. */
        {.name = "worker",
         .struct_size = sizeof(worker),
         .slots_per_shard = WORKER_COUNT,
         .mailbox_capacity = 2 * TIMERS_PER_WORKER,
         .init = worker_init,
         .handler = worker_handler},
    };
    tina_child_spec child = {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL};
    tina_spec spec = {
        .types = types,
        .type_count = 2,
        .children = &child,
        .child_count = 1,
        .shard_count = 1,
        .core_count = 1,
        .cores = cpus,
        .timer_slots = 1u << 20,
        .pool_system_slots = 1100000,
        .no_signal_handlers = 1,
    };

    tina_runtime *rt = bench_create(&spec);
    int timed_out = bench_run_guarded(rt, 60ull * 1000000000ull);
    bench_dump_stats(rt, 0);
    tina_destroy(rt);
    if (timed_out) {
        bench_die("timer: run did not finish (%u rounds, %llu fired in the last)", g_rounds_done,
                  (unsigned long long)g_fired);
    }
    if (g_failed || g_rounds_done != ROUND_COUNT) bench_die("timer: run failed");
    for (uint32_t i = 0; i < ROUND_COUNT; i++) {
        fprintf(stderr, "timer: round %u: %.4f s\n", i, g_round_s[i]);
    }
    printf("timer_1m_s: %.4f s\n", bench_median(g_round_s, ROUND_COUNT));
    return 0;
}
