/*
 * pingpong -- two isolates bounce one message back and forth.
 *
 *   pingpong [--messages=N] [--shards=1|2]
 *
 * Shows the smallest complete Tina program: one isolate type (a struct, an
 * init and a handler), two static children in the boot spec, and a run
 * that ends when an isolate calls tina_request_stop().  The message carries
 * a sequence number; whoever receives number N stops the run.  With
 * --shards=1 both isolates share one shard (local sends: a pool slot linked
 * into a mailbox, no atomics); with --shards=2 the ponger lives on shard 1
 * and every message crosses a channel between two cores.
 *
 * It prints the time per message (one send plus its dispatch) and the
 * message rate, then every counter of every shard, and checks that exactly
 * N messages were exchanged.  Exit status 0 when the count is right.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flags.h"
#include "tina.h"

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_BALL (TINA_TAG_USER + 1)

#define MESSAGES_DEFAULT 1000000ull

/* Set by main before tina_create; read-only while the shards run. */
static uint64_t g_message_count = MESSAGES_DEFAULT;

/* Results, each written by one shard thread; main reads them after
 * tina_run returned (the join orders the accesses). */
static uint64_t g_started_ns;  /* pinger: first send */
static uint64_t g_finished_ns; /* whoever handled message N */
static uint64_t g_received[2]; /* per child: balls handled */
static int g_send_failed;

enum { CHILD_PINGER = 0, CHILD_PONGER = 1 };

typedef struct player_args {
    uint32_t child;      /* CHILD_PINGER or CHILD_PONGER */
    uint32_t peer_shard; /* where the other child lives */
} player_args;

typedef struct player {
    tina_handle peer;
    uint32_t child;
} player;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void send_or_stop(tina_ctx *ctx, tina_handle to, uint16_t tag, uint64_t seq) {
    tina_result r = tina_send(ctx, to, tag, &seq, sizeof seq);
    if (r == TINA_OK) return;
    tina_log(ctx, TINA_LOG_ERROR, "send of message %" PRIu64 " failed: %s", seq,
             tina_strerror(r));
    g_send_failed = 1;
    tina_request_stop(ctx);
}

static uint32_t player_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    player *p = self;
    const player_args *a = args;
    if (args_size != sizeof *a) return 1;
    p->child = a->child;
    p->peer = tina_child_handle(ctx, 1 - a->child, a->peer_shard);
    /* The pinger serves the first ball from its first handler call. */
    if (p->child == CHILD_PINGER) send_or_stop(ctx, tina_self(ctx), TAG_START, 0);
    return 0;
}

static tina_effect player_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    player *p = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_START) {
        g_started_ns = now_ns();
        send_or_stop(ctx, p->peer, TAG_BALL, 1);
        return tina_receive();
    }
    if (msg->tag != TAG_BALL || msg->size != sizeof(uint64_t)) return tina_receive();
    uint64_t seq;
    memcpy(&seq, msg->payload, sizeof seq);
    g_received[p->child]++;
    if (seq >= g_message_count) {
        g_finished_ns = now_ns();
        tina_request_stop(ctx);
        return tina_receive();
    }
    send_or_stop(ctx, p->peer, TAG_BALL, seq + 1);
    return tina_receive();
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: pingpong [--messages=N] [--shards=1|2]\n"
            "\n"
            "Two isolates exchange N messages, one in flight at a time, and the\n"
            "program prints the time per message (one send plus its dispatch).\n"
            "\n"
            "  --messages=N  messages to exchange, N >= 1 (default %llu)\n"
            "  --shards=S    1: both isolates on one shard (local sends);\n"
            "                2: one per shard, every message crosses cores (default 1)\n"
            "  --help        this text\n",
            MESSAGES_DEFAULT);
}

static void parse_flags(int argc, char **argv, uint64_t *messages, uint32_t *shards) {
    flags_help(argc, argv, usage);
    flags f = {.program = "pingpong"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flag_u64(&f, arg, "--messages", 1, UINT64_MAX, messages) &&
            !flag_u32(&f, arg, "--shards", 1, 2, shards))
            flag_unknown(&f, arg);
    }
    flags_end(&f);
}

/* Every channel must balance: accepted = delivered + dropped + in flight. */
static int channels_balance(const tina_runtime *rt, uint32_t shard_count) {
    int balanced = 1;
    for (uint32_t from = 0; from < shard_count; from++) {
        for (uint32_t to = 0; to < shard_count; to++) {
            tina_channel_stats ch;
            if (from == to || tina_stats_channel(rt, from, to, &ch) != TINA_OK) continue;
            if (ch.accepted != ch.delivered + ch.dropped + ch.in_flight) balanced = 0;
        }
    }
    return balanced;
}

static void print_counters(const tina_runtime *rt, uint32_t shard_count) {
    tina_shard_stats stats[2];
    for (uint32_t s = 0; s < shard_count; s++) (void)tina_stats(rt, s, &stats[s]);
    printf("\n%-20s", "counter");
    for (uint32_t s = 0; s < shard_count; s++) printf(" %14s%u", "shard ", s);
    printf("\n");
#define PRINT_COUNTER(name)                                                       \
    printf("%-20s", #name);                                                       \
    for (uint32_t s = 0; s < shard_count; s++) printf(" %15" PRIu64, stats[s].name); \
    printf("\n");
    TINA_SHARD_STATS_MAP(PRINT_COUNTER)
#undef PRINT_COUNTER
    for (uint32_t from = 0; from < shard_count; from++) {
        for (uint32_t to = 0; to < shard_count; to++) {
            tina_channel_stats ch;
            if (from == to || tina_stats_channel(rt, from, to, &ch) != TINA_OK) continue;
            printf("channel %u->%u: accepted=%" PRIu64 " full=%" PRIu64 " delivered=%" PRIu64
                   " dropped=%" PRIu64 " in_flight=%" PRIu64 " slots=%u\n",
                   from, to, ch.accepted, ch.full, ch.delivered, ch.dropped, ch.in_flight,
                   ch.slots);
        }
    }
}

int main(int argc, char **argv) {
    uint32_t shard_count = 1;
    parse_flags(argc, argv, &g_message_count, &shard_count);

    uint32_t ponger_shard = shard_count - 1;
    player_args pinger_args = {CHILD_PINGER, ponger_shard};
    player_args ponger_args = {CHILD_PONGER, 0};
    tina_type_spec types[1] = {{
        .name = "player",
        .struct_size = sizeof(player),
        .slots_per_shard = 2,
        .mailbox_capacity = 4,
        .init = player_init,
        .handler = player_handler,
    }};
    tina_child_spec children[2] = {
        [CHILD_PINGER] = {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY,
                          .args_size = sizeof pinger_args, .args = &pinger_args},
        [CHILD_PONGER] = {.type_id = 0, .shard = ponger_shard, .restart = TINA_RESTART_TEMPORARY,
                          .args_size = sizeof ponger_args, .args = &ponger_args},
    };
    tina_spec spec = {
        .types = types,
        .type_count = 1,
        .children = children,
        .child_count = 2,
        .shard_count = shard_count,
    };

    tina_runtime *rt = NULL;
    tina_boot_report report;
    memset(&report, 0, sizeof report);
    tina_result r = tina_create(&spec, &rt, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "pingpong: tina_create: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    r = tina_run(rt);
    if (r != TINA_OK) {
        fprintf(stderr, "pingpong: tina_run: %s\n", tina_strerror(r));
        tina_destroy(rt);
        return 1;
    }

    uint64_t exchanged = g_received[CHILD_PINGER] + g_received[CHILD_PONGER];
    int ok = !g_send_failed && exchanged == g_message_count && g_finished_ns > g_started_ns;
    if (g_finished_ns > g_started_ns) {
        double elapsed_ns = (double)(g_finished_ns - g_started_ns);
        printf("pingpong: %" PRIu64 " messages %s in %.3f s\n", exchanged,
               shard_count == 1 ? "on one shard" : "across two shards", elapsed_ns / 1e9);
        printf("msg_ns: %.1f ns\n", elapsed_ns / (double)exchanged);
        printf("msgs_per_s: %.0f msgs/s\n", (double)exchanged * 1e9 / elapsed_ns);
    }
    print_counters(rt, shard_count);
    if (!channels_balance(rt, shard_count)) {
        fprintf(stderr, "pingpong: FAILED: a channel's accounting does not balance\n");
        ok = 0;
    }
    tina_destroy(rt);

    if (!ok) {
        fprintf(stderr, "pingpong: FAILED: exchanged %" PRIu64 " of %" PRIu64 " messages%s\n",
                exchanged, g_message_count, g_send_failed ? " (a send failed)" : "");
        return 1;
    }
    printf("pingpong: ok: pinger handled %" PRIu64 ", ponger handled %" PRIu64 "\n",
           g_received[CHILD_PINGER], g_received[CHILD_PONGER]);
    return 0;
}
