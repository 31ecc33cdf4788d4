/*
 * overload -- memory under sustained overload: does RSS stay flat when
 * producers send ten times what the consumer can take?
 *
 * One consumer on shard 0 spends CONSUMER_WORK_NS of busy work on each
 * message, so it takes at most 1e9 / CONSUMER_WORK_NS messages per second.
 * One producer on each shard attempts sends at a paced rate so that,
 * together, they offer OVERLOAD_FACTOR (10) times that.  The producer on
 * shard 0 meets the consumer's full mailbox (TINA_EMAILBOX_FULL); the one on
 * shard 1 meets a full channel or has its messages dropped on arrival.
 * Nothing is buffered anywhere, so memory must not grow.
 *
 * RSS (from /proc/self/statm) is sampled after a WARMUP_NS warm-up and at
 * the end of a RUN_NS run; the signed difference is printed:
 *
 *   overload_rss_growth_bytes: X bytes
 *
 * The shedding counters (mailbox_full, channel_full, dropped_full) go to
 * stderr to show that the load was in fact shed.
 */
#include "bench.h"

#include <stdatomic.h>

#define CONSUMER_WORK_NS 2000ull
#define OVERLOAD_FACTOR 10ull
#define SHARD_COUNT 2u
#define WARMUP_NS 500000000ull
#define RUN_NS 5000000000ull
#define BURST_MAX 4096ull /* attempts per dispatch, so one late pass cannot flood */

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_DATA (TINA_TAG_USER + 1)

/* Attempted sends per second, per producer. */
#define PRODUCER_RATE_PER_S \
    (OVERLOAD_FACTOR * (1000000000ull / CONSUMER_WORK_NS) / SHARD_COUNT)

/* Per-shard tallies, each written by one shard thread only; read by main
 * after tina_run returned. */
typedef struct tally {
    _Alignas(64) uint64_t attempts;
    uint64_t ok;
    uint64_t full;
    uint64_t other;
    uint64_t handled;
} tally;
static tally g_tally[SHARD_COUNT];

typedef struct producer {
    tina_handle consumer;
    uint64_t started_ns;
    uint64_t attempts;
    uint32_t shard;
    uint8_t payload[64];
} producer;

static uint32_t producer_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    producer *p = self;
    (void)args;
    (void)args_size;
    p->consumer = tina_child_handle(ctx, 0, 0);
    p->shard = tina_shard_id(ctx);
    tina_result r = tina_send(ctx, tina_self(ctx), TAG_START, NULL, 0);
    return r == TINA_OK ? 0 : 1;
}

static tina_effect producer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    producer *p = self;
    if (msg->tag == TINA_TAG_SHUTDOWN || tina_shutting_down(ctx)) return tina_done();
    uint64_t now_ns = bench_now_ns();
    if (msg->tag == TAG_START) p->started_ns = now_ns;
    uint64_t due = (now_ns - p->started_ns) * PRODUCER_RATE_PER_S / 1000000000ull;
    if (due > p->attempts + BURST_MAX) p->attempts = due - BURST_MAX;
    tally *t = &g_tally[p->shard];
    while (p->attempts < due) {
        memcpy(p->payload, &p->attempts, sizeof p->attempts);
        tina_result r = tina_send(ctx, p->consumer, TAG_DATA, p->payload, sizeof p->payload);
        p->attempts++;
        t->attempts++;
        if (r == TINA_OK) {
            t->ok++;
        } else if (r == TINA_EMAILBOX_FULL) {
            t->full++;
        } else {
            t->other++;
        }
    }
    return tina_yield();
}

static tina_effect consumer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag != TAG_DATA) return tina_receive();
    /* Fixed work per message: the consumer's capacity. */
    uint64_t until_ns = bench_now_ns() + CONSUMER_WORK_NS;
    while (bench_now_ns() < until_ns) {
    }
    g_tally[tina_shard_id(ctx)].handled++;
    return tina_receive();
}

/* The sampler thread: RSS after the warm-up and at the end, then stop. */
typedef struct sampler {
    tina_runtime *rt;
    long long rss_start_bytes;
    long long rss_end_bytes;
} sampler;

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *sampler_main(void *arg) {
    sampler *s = arg;
    sleep_ns(WARMUP_NS);
    s->rss_start_bytes = bench_rss_bytes();
    sleep_ns(RUN_NS - WARMUP_NS);
    s->rss_end_bytes = bench_rss_bytes();
    tina_stop(s->rt);
    return NULL;
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);

    tina_type_spec types[2] = {
        {.name = "consumer",
         .struct_size = 8,
         .slots_per_shard = 1,
         .handler = consumer_handler},
        {.name = "producer",
         .struct_size = sizeof(producer),
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .init = producer_init,
         .handler = producer_handler},
    };
    tina_child_spec children[2] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
        {.type_id = 1, .shard = TINA_SHARD_EVERY, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
    };
    tina_spec spec = {
        .types = types,
        .type_count = 2,
        .children = children,
        .child_count = 2,
        .shard_count = SHARD_COUNT,
        .core_count = SHARD_COUNT,
        .cores = cpus,
        .no_signal_handlers = 1,
    };

    tina_runtime *rt = bench_create(&spec);
    sampler s = {.rt = rt};
    pthread_t thread;
    if (pthread_create(&thread, NULL, sampler_main, &s) != 0) bench_die("pthread_create");
    uint64_t started_ns = bench_now_ns();
    tina_result r = tina_run(rt);
    uint64_t elapsed_ns = bench_now_ns() - started_ns;
    pthread_join(thread, NULL);
    bench_check(r, "tina_run");

    tina_shard_stats st[SHARD_COUNT];
    for (uint32_t i = 0; i < SHARD_COUNT; i++) {
        bench_check(tina_stats(rt, i, &st[i]), "tina_stats");
        bench_dump_stats(rt, i);
    }
    tina_channel_stats ch;
    bench_check(tina_stats_channel(rt, 1, 0, &ch), "tina_stats_channel");
    tina_destroy(rt);

    uint64_t attempts = 0, ok = 0, full = 0, other = 0;
    for (uint32_t i = 0; i < SHARD_COUNT; i++) {
        attempts += g_tally[i].attempts;
        ok += g_tally[i].ok;
        full += g_tally[i].full;
        other += g_tally[i].other;
    }
    double seconds = (double)elapsed_ns / 1e9;
    fprintf(stderr,
            "overload: %.2f s: offered %.0f/s, consumer handled %.0f/s (%.1fx); "
            "send results: ok=%llu full=%llu other=%llu\n",
            seconds, (double)attempts / seconds, (double)g_tally[0].handled / seconds,
            (double)attempts / ((double)g_tally[0].handled + 1.0), (unsigned long long)ok,
            (unsigned long long)full, (unsigned long long)other);
    fprintf(stderr,
            "overload: shed: mailbox_full=%llu channel_full=%llu dropped_full=%llu "
            "(channel 1->0 accepted=%llu delivered=%llu dropped=%llu in_flight=%llu)\n",
            (unsigned long long)(st[0].mailbox_full + st[1].mailbox_full),
            (unsigned long long)(st[0].channel_full + st[1].channel_full),
            (unsigned long long)(st[0].dropped_full + st[1].dropped_full),
            (unsigned long long)ch.accepted, (unsigned long long)ch.delivered,
            (unsigned long long)ch.dropped, (unsigned long long)ch.in_flight);
    fprintf(stderr, "overload: rss start %lld bytes, end %lld bytes\n", s.rss_start_bytes,
            s.rss_end_bytes);
    if (s.rss_start_bytes < 0 || s.rss_end_bytes < 0) bench_die("could not read /proc/self/statm");
    if (full == 0) bench_die("overload: no send was refused: the load was not shed");
    printf("overload_rss_growth_bytes: %lld bytes\n", s.rss_end_bytes - s.rss_start_bytes);
    return 0;
}
