/*
 * loadshed -- overload without unbounded queues.
 *
 *   loadshed [--seconds=S]
 *
 * One consumer on shard 0 does CONSUMER_WORK_NS of work per message, so it
 * can take about 500,000 messages a second.  A producer on every shard
 * offers, together, ten times that.  Nothing in Tina buffers a message the
 * receiver has no room for: the producer next to the consumer gets
 * TINA_EMAILBOX_FULL straight from tina_send; the producer on the other
 * shard gets it when the channel is full, or its message is accepted into
 * the channel and dropped -- and counted -- on arrival at a full mailbox.
 * The producers simply count the refusals and carry on.
 *
 * Every second the program prints the live counters and the process RSS;
 * at the end it prints every counter and checks that the books balance:
 *
 *   sent                = delivered + dropped on arrival + in flight
 *   per channel:
 *     accepted          = delivered + dropped + in flight
 *   producers' ok       = sent (every accepted send is counted once)
 *   producers' full     = mailbox_full + channel_full
 *
 * and that memory stayed flat (RSS after a warm-up vs at the end).  Exit
 * status 0 when the books balance and RSS grew by less than
 * RSS_GROWTH_LIMIT_BYTES; 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"
#include "tina.h"

#define SHARD_COUNT 2u
#define CONSUMER_WORK_NS 2000ull
#define OVERLOAD_FACTOR 10ull
#define BURST_MAX 4096ull /* attempts per dispatch, so one late pass cannot flood */
#define WARMUP_NS 500000000ull
#define SECONDS_DEFAULT 3ull
#define RSS_GROWTH_LIMIT_BYTES (16ll << 20)

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_WORK (TINA_TAG_USER + 1)

/* Attempted sends per second, per producer. */
#define PRODUCER_RATE_PER_S \
    (OVERLOAD_FACTOR * (1000000000ull / CONSUMER_WORK_NS) / SHARD_COUNT)

/* Application-side tallies, one line per shard, each written only by that
 * shard's thread.  Main reads them after tina_run returned. */
typedef struct tally {
    _Alignas(64) uint64_t kicks; /* start messages a producer sent itself */
    uint64_t attempts;           /* tina_send calls for work */
    uint64_t ok;                 /* ... that returned TINA_OK */
    uint64_t full;               /* ... that returned TINA_EMAILBOX_FULL */
    uint64_t other;              /* ... that returned anything else */
    uint64_t handled;            /* consumer: work messages handled */
} tally;
static tally g_tally[SHARD_COUNT];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Isolates                                                                  */
/* ------------------------------------------------------------------------ */

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
    if (r != TINA_OK) return 1;
    g_tally[p->shard].kicks++;
    return 0;
}

/* Send what is due at PRODUCER_RATE_PER_S since the start, then yield:
 * the producer runs every pass, and every refusal is simply counted. */
static tina_effect producer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    producer *p = self;
    if (msg->tag == TINA_TAG_SHUTDOWN || tina_shutting_down(ctx)) return tina_done();
    uint64_t t_ns = now_ns();
    if (msg->tag == TAG_START) p->started_ns = t_ns;
    uint64_t due = (t_ns - p->started_ns) * PRODUCER_RATE_PER_S / 1000000000ull;
    if (due > p->attempts + BURST_MAX) p->attempts = due - BURST_MAX;
    tally *t = &g_tally[p->shard];
    while (p->attempts < due) {
        memcpy(p->payload, &p->attempts, sizeof p->attempts);
        tina_result r = tina_send(ctx, p->consumer, TAG_WORK, p->payload, sizeof p->payload);
        p->attempts++;
        t->attempts++;
        if (r == TINA_OK) {
            t->ok++;
        } else if (r == TINA_EMAILBOX_FULL) {
            t->full++; /* shed: the consumer has no room; nothing is queued */
        } else {
            t->other++;
        }
    }
    return tina_yield();
}

static tina_effect consumer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag != TAG_WORK) return tina_receive();
    uint64_t until_ns = now_ns() + CONSUMER_WORK_NS; /* the fixed cost of one job */
    while (now_ns() < until_ns) {
    }
    g_tally[tina_shard_id(ctx)].handled++;
    return tina_receive();
}

/* ------------------------------------------------------------------------ */
/* The monitor thread: prints live counters every second, stops the run      */
/* ------------------------------------------------------------------------ */

typedef struct monitor {
    tina_runtime *rt;
    uint64_t run_ns;
    long long rss_start_bytes; /* after WARMUP_NS */
    long long rss_end_bytes;   /* at run_ns */
} monitor;

static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    long long size_pages = 0, resident_pages = 0;
    int n = fscanf(f, "%lld %lld", &size_pages, &resident_pages);
    fclose(f);
    return n == 2 ? resident_pages * (long long)sysconf(_SC_PAGESIZE) : -1;
}

static void sleep_until(uint64_t deadline_ns) {
    for (uint64_t t = now_ns(); t < deadline_ns; t = now_ns()) {
        uint64_t ns = deadline_ns - t;
        struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static void print_live(const monitor *m, uint64_t elapsed_ns) {
    tina_shard_stats sum;
    memset(&sum, 0, sizeof sum);
    for (uint32_t s = 0; s < SHARD_COUNT; s++) {
        tina_shard_stats st;
        if (tina_stats(m->rt, s, &st) != TINA_OK) continue;
        sum.sent += st.sent;
        sum.dispatched += st.dispatched;
        sum.mailbox_full += st.mailbox_full;
        sum.channel_full += st.channel_full;
        sum.dropped_on_arrival += st.dropped_on_arrival;
    }
    printf("t=%4.1fs  sent=%-10" PRIu64 " dispatched=%-10" PRIu64 " mailbox_full=%-10" PRIu64
           " channel_full=%-10" PRIu64 " dropped_on_arrival=%-10" PRIu64 " rss=%lld KiB\n",
           (double)elapsed_ns / 1e9, sum.sent, sum.dispatched, sum.mailbox_full,
           sum.channel_full, sum.dropped_on_arrival, rss_bytes() / 1024);
    fflush(stdout);
}

static void *monitor_main(void *arg) {
    monitor *m = arg;
    uint64_t start_ns = now_ns();
    sleep_until(start_ns + WARMUP_NS);
    m->rss_start_bytes = rss_bytes();
    for (uint64_t tick_ns = 1000000000ull; tick_ns < m->run_ns; tick_ns += 1000000000ull) {
        sleep_until(start_ns + tick_ns);
        print_live(m, tick_ns);
    }
    sleep_until(start_ns + m->run_ns);
    m->rss_end_bytes = rss_bytes();
    tina_stop(m->rt);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Flags, counters, accounting                                               */
/* ------------------------------------------------------------------------ */

static void usage(FILE *to) {
    fprintf(to,
            "usage: loadshed [--seconds=S]\n"
            "\n"
            "Producers on %u shards offer %llux what one consumer can take; the\n"
            "overload is shed with TINA_EMAILBOX_FULL and drops on arrival, the\n"
            "books balance exactly and memory stays flat.\n"
            "\n"
            "  --seconds=S  how long to run, 1..3600 (default %llu)\n"
            "  --help       this text\n",
            SHARD_COUNT, OVERLOAD_FACTOR, SECONDS_DEFAULT);
}

static void parse_flags(int argc, char **argv, uint64_t *seconds) {
    flags_help(argc, argv, usage);
    flags f = {.program = "loadshed"};
    for (int i = 1; i < argc; i++)
        if (!flag_u64(&f, argv[i], "--seconds", 1, 3600, seconds)) flag_unknown(&f, argv[i]);
    flags_end(&f);
}

static void print_counters(const tina_shard_stats *stats) {
    printf("\n%-20s", "counter");
    for (uint32_t s = 0; s < SHARD_COUNT; s++) printf(" %14s%u", "shard ", s);
    printf("\n");
#define PRINT_COUNTER(name)                                                        \
    printf("%-20s", #name);                                                        \
    for (uint32_t s = 0; s < SHARD_COUNT; s++) printf(" %15" PRIu64, stats[s].name); \
    printf("\n");
    TINA_SHARD_STATS_MAP(PRINT_COUNTER)
#undef PRINT_COUNTER
}

static int check(const char *what, uint64_t left, uint64_t right) {
    int ok = left == right;
    printf("  %-62s %12" PRIu64 " %s %-12" PRIu64 " %s\n", what, left, ok ? "==" : "!=", right,
           ok ? "ok" : "MISMATCH");
    return ok;
}

/* The books: returns non-zero when everything balances. */
static int audit(const tina_runtime *rt, const tina_shard_stats *stats) {
    int ok = 1;
    uint64_t sent = 0, delivered = 0, dropped = 0, refused_full = 0, in_flight = 0;
    for (uint32_t s = 0; s < SHARD_COUNT; s++) {
        sent += stats[s].sent;
        delivered += stats[s].delivered;
        dropped += stats[s].dropped_on_arrival;
        refused_full += stats[s].mailbox_full + stats[s].channel_full;
    }
    printf("\naccounting:\n");
    for (uint32_t from = 0; from < SHARD_COUNT; from++) {
        for (uint32_t to = 0; to < SHARD_COUNT; to++) {
            tina_channel_stats ch;
            if (from == to) continue;
            if (tina_stats_channel(rt, from, to, &ch) != TINA_OK) {
                printf("  channel %u->%u: no counters\n", from, to);
                ok = 0;
                continue;
            }
            char what[96];
            snprintf(what, sizeof what,
                     "channel %u->%u accepted = delivered + dropped + in flight", from, to);
            ok &= check(what, ch.accepted, ch.delivered + ch.dropped + ch.in_flight);
            printf("  %-62s full=%" PRIu64 " slots=%u\n", "", ch.full, ch.slots);
            in_flight += ch.in_flight;
        }
    }
    ok &= check("sent = delivered + dropped on arrival + in flight", sent,
                delivered + dropped + in_flight);
    uint64_t kicks = 0, sends_ok = 0, sends_full = 0, sends_other = 0, handled = 0;
    for (uint32_t s = 0; s < SHARD_COUNT; s++) {
        kicks += g_tally[s].kicks;
        sends_ok += g_tally[s].ok;
        sends_full += g_tally[s].full;
        sends_other += g_tally[s].other;
        handled += g_tally[s].handled;
    }
    ok &= check("producers' ok results + start messages = sent", sends_ok + kicks, sent);
    ok &= check("producers' full results = mailbox_full + channel_full", sends_full,
                refused_full);
    ok &= check("producers' other results", sends_other, 0);
    printf("  consumer handled %" PRIu64 " of %" PRIu64 " accepted work messages (%.1f%%)\n",
           handled, sends_ok, sends_ok ? 100.0 * (double)handled / (double)sends_ok : 0.0);
    return ok;
}

int main(int argc, char **argv) {
    uint64_t seconds = SECONDS_DEFAULT;
    parse_flags(argc, argv, &seconds);

    tina_type_spec types[2] = {
        {.name = "consumer",
         .struct_size = 8,
         .slots_per_shard = 1,
         .mailbox_capacity = 256,
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
    };

    tina_runtime *rt = NULL;
    tina_boot_report report;
    memset(&report, 0, sizeof report);
    tina_result r = tina_create(&spec, &rt, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "loadshed: tina_create: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    printf("loadshed: consumer takes ~%llu msgs/s; producers offer %llu msgs/s for %llu s\n",
           1000000000ull / CONSUMER_WORK_NS, PRODUCER_RATE_PER_S * SHARD_COUNT,
           (unsigned long long)seconds);

    monitor m = {.rt = rt, .run_ns = seconds * 1000000000ull};
    pthread_t thread;
    if (pthread_create(&thread, NULL, monitor_main, &m) != 0) {
        fprintf(stderr, "loadshed: pthread_create failed\n");
        tina_destroy(rt);
        return 1;
    }
    r = tina_run(rt);
    pthread_join(thread, NULL);
    if (r != TINA_OK) {
        fprintf(stderr, "loadshed: tina_run: %s\n", tina_strerror(r));
        tina_destroy(rt);
        return 1;
    }

    tina_shard_stats stats[SHARD_COUNT];
    for (uint32_t s = 0; s < SHARD_COUNT; s++) (void)tina_stats(rt, s, &stats[s]);
    print_counters(stats);
    int balanced = audit(rt, stats);
    tina_destroy(rt);

    long long growth = m.rss_end_bytes - m.rss_start_bytes;
    int flat = m.rss_start_bytes > 0 && m.rss_end_bytes > 0 && growth < RSS_GROWTH_LIMIT_BYTES;
    printf("\nmemory: rss %lld KiB after warm-up, %lld KiB at the end: growth %lld bytes (%s)\n",
           m.rss_start_bytes / 1024, m.rss_end_bytes / 1024, growth, flat ? "flat" : "GREW");

    if (!balanced || !flat) {
        fprintf(stderr, "loadshed: FAILED: %s\n",
                !balanced ? "the accounting does not balance" : "memory grew");
        return 1;
    }
    printf("loadshed: ok: overload shed, books balanced, memory flat\n");
    return 0;
}
