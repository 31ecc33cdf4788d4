/*
 * cross_shard -- what a message between two shards costs, against what the
 * hardware itself charges for moving a cache line between the two cores.
 *
 *   cacheline_rtt_ns       two bare threads pinned to the two CPUs bounce
 *                          one 64-byte line (release store / acquire load):
 *                          the floor for any cross-core round trip.
 *   cross_shard_msgs_per_s a producer on shard 0 streams 128-byte envelopes
 *                          (96-byte payload) to a consumer on shard 1 as fast
 *                          as the channel takes them, yielding when it is
 *                          full; rate = messages the consumer handled / time.
 *   cross_shard_rtt_ns     ping-pong between shard 0 and shard 1 while both
 *                          shards are kept busy by an isolate that yields
 *                          forever (so neither shard ever sleeps).
 *   cross_shard_rtt_ratio  cross_shard_rtt_ns / cacheline_rtt_ns, same run.
 *   ring_rtt_ns            the channel alone: two bare threads ping-pong one
 *                          128-byte envelope through two of Tina's SPSC rings
 *                          (tina/ring.h: slot write, one release store of the
 *                          tail, one acquire load), no shard around them.  The
 *                          floor the publish-a-tail protocol itself sets.
 *   ring_rtt_ratio         ring_rtt_ns / cacheline_rtt_ns, same run.
 *
 * Each figure is the median of several rounds in one process.
 */
#include "bench.h"

#include <stdatomic.h>

#include "ring.h" /* internal: the channel itself, for the protocol floor */

#define CACHELINE_RUN_COUNT 7u
#define CACHELINE_TRIP_COUNT 1000000ull

#define STREAM_ROUND_COUNT 5u
#define STREAM_MESSAGE_COUNT 20000000ull
#define STREAM_RING_SLOTS 8192u
#define STREAM_POOL_SLOTS 16384u
#define STREAM_MAILBOX_CAPACITY 32768u
#define STREAM_BASE_BUDGET 8192u /* = the ring: each pass handles all it drained */

#define RTT_ROUND_COUNT 5u
#define RTT_TRIP_COUNT 200000ull

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_DATA (TINA_TAG_USER + 1)
#define TAG_ACK (TINA_TAG_USER + 2)
#define TAG_PING (TINA_TAG_USER + 3)
#define TAG_PONG (TINA_TAG_USER + 4)

static uint32_t g_cpus[2];
static _Atomic int g_failed;

static void fail(tina_ctx *ctx, const char *what, tina_result r) {
    fprintf(stderr, "cross_shard: %s: %s\n", what, tina_result_name(r));
    atomic_store(&g_failed, 1);
    tina_request_stop(ctx);
}

static void send_or_fail(tina_ctx *ctx, tina_handle to, uint16_t tag, const char *what) {
    tina_result r = tina_send(ctx, to, tag, NULL, 0);
    if (r != TINA_OK) fail(ctx, what, r);
}

/* ------------------------------------------------------------------------ */
/* Bare cache-line ping-pong                                                 */
/* ------------------------------------------------------------------------ */

typedef struct cacheline {
    _Alignas(64) _Atomic uint64_t value; /* odd: pinger wrote; even: ponger wrote */
    uint8_t pad[64 - sizeof(uint64_t)];
} cacheline;
_Static_assert(sizeof(cacheline) == 64, "the line is one cache line");

static cacheline g_line;
static pthread_barrier_t g_line_barrier;
static uint64_t g_line_elapsed_ns;

static void *line_pinger(void *arg) {
    (void)arg;
    bench_pin_to(g_cpus[0]);
    pthread_barrier_wait(&g_line_barrier);
    uint64_t start_ns = bench_now_ns();
    for (uint64_t i = 1; i <= CACHELINE_TRIP_COUNT; i++) {
        /* Release pairs with the ponger's acquire load. */
        atomic_store_explicit(&g_line.value, 2 * i - 1, memory_order_release);
        /* Acquire pairs with the ponger's release store of 2i. */
        while (atomic_load_explicit(&g_line.value, memory_order_acquire) != 2 * i) bench_cpu_relax();
    }
    g_line_elapsed_ns = bench_now_ns() - start_ns;
    return NULL;
}

static void *line_ponger(void *arg) {
    (void)arg;
    bench_pin_to(g_cpus[1]);
    pthread_barrier_wait(&g_line_barrier);
    for (uint64_t i = 1; i <= CACHELINE_TRIP_COUNT; i++) {
        /* Acquire pairs with the pinger's release store of 2i-1. */
        while (atomic_load_explicit(&g_line.value, memory_order_acquire) != 2 * i - 1) bench_cpu_relax();
        /* Release pairs with the pinger's acquire load. */
        atomic_store_explicit(&g_line.value, 2 * i, memory_order_release);
    }
    return NULL;
}

static double cacheline_rtt_ns(void) {
    double runs_ns[CACHELINE_RUN_COUNT];
    for (uint32_t run = 0; run < CACHELINE_RUN_COUNT; run++) {
        atomic_store(&g_line.value, 0);
        pthread_barrier_init(&g_line_barrier, NULL, 2);
        pthread_t a, b;
        if (pthread_create(&b, NULL, line_ponger, NULL) != 0) bench_die("pthread_create");
        if (pthread_create(&a, NULL, line_pinger, NULL) != 0) bench_die("pthread_create");
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&g_line_barrier);
        runs_ns[run] = (double)g_line_elapsed_ns / (double)CACHELINE_TRIP_COUNT;
        fprintf(stderr, "cross_shard: cache line run %u: %.1f ns\n", run, runs_ns[run]);
    }
    return bench_median(runs_ns, CACHELINE_RUN_COUNT);
}

/* ------------------------------------------------------------------------ */
/* The bare channel: two threads, two rings, no shard                        */
/* ------------------------------------------------------------------------ */

#define RING_SLOT_COUNT 1024u
static struct tina__ring g_ring_ab, g_ring_ba;
static tina_msg g_slots_ab[RING_SLOT_COUNT], g_slots_ba[RING_SLOT_COUNT];
static uint64_t g_ring_elapsed_ns;

/* Wait for one envelope, copy it out, hand the slot back. */
static void ring_take(struct tina__ring *ring, tina_msg *out) {
    tina_msg *first;
    while (ring_peek(ring, &first, 1) == 0) bench_cpu_relax();
    memcpy(out, first, sizeof(*out));
    ring_release(ring, 1);
}

static void ring_give(struct tina__ring *ring, const tina_msg *m) {
    tina_msg *slot;
    while ((slot = ring_reserve(ring)) == NULL) bench_cpu_relax();
    memcpy(slot, m, sizeof(*m));
    ring_commit(ring);
    (void)ring_publish(ring);
}

static void *ring_pinger(void *arg) {
    (void)arg;
    bench_pin_to(g_cpus[0]);
    tina_msg m = {.size = TINA_PAYLOAD_MAX};
    pthread_barrier_wait(&g_line_barrier);
    uint64_t start_ns = bench_now_ns();
    for (uint64_t i = 0; i < CACHELINE_TRIP_COUNT; i++) {
        m.corr = i;
        ring_give(&g_ring_ab, &m);
        ring_take(&g_ring_ba, &m);
    }
    g_ring_elapsed_ns = bench_now_ns() - start_ns;
    return NULL;
}

static void *ring_ponger(void *arg) {
    (void)arg;
    bench_pin_to(g_cpus[1]);
    tina_msg m;
    pthread_barrier_wait(&g_line_barrier);
    for (uint64_t i = 0; i < CACHELINE_TRIP_COUNT; i++) {
        ring_take(&g_ring_ab, &m);
        ring_give(&g_ring_ba, &m);
    }
    return NULL;
}

static double ring_rtt_ns(void) {
    double runs_ns[CACHELINE_RUN_COUNT];
    for (uint32_t run = 0; run < CACHELINE_RUN_COUNT; run++) {
        ring_init(&g_ring_ab, g_slots_ab, RING_SLOT_COUNT);
        ring_init(&g_ring_ba, g_slots_ba, RING_SLOT_COUNT);
        pthread_barrier_init(&g_line_barrier, NULL, 2);
        pthread_t a, b;
        if (pthread_create(&b, NULL, ring_ponger, NULL) != 0) bench_die("pthread_create");
        if (pthread_create(&a, NULL, ring_pinger, NULL) != 0) bench_die("pthread_create");
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&g_line_barrier);
        runs_ns[run] = (double)g_ring_elapsed_ns / (double)CACHELINE_TRIP_COUNT;
    }
    return bench_median(runs_ns, CACHELINE_RUN_COUNT);
}

/* ------------------------------------------------------------------------ */
/* One-way stream: producer on shard 0, consumer on shard 1                  */
/* ------------------------------------------------------------------------ */

/* Written on the two shard threads, read by main after tina_run. */
static uint64_t g_stream_start_ns[STREAM_ROUND_COUNT]; /* producer: first send */
static uint64_t g_stream_end_ns[STREAM_ROUND_COUNT];   /* consumer: last handled */
static uint32_t g_stream_rounds_done;
static uint64_t g_stream_full_results; /* producer: TINA_EMAILBOX_FULL seen */

typedef struct producer {
    tina_handle consumer;
    uint64_t sent; /* accepted this round */
    uint32_t round;
    uint8_t payload[TINA_PAYLOAD_MAX];
} producer;

typedef struct consumer {
    uint64_t received; /* handled this round */
    uint64_t checksum; /* keeps the payload read */
    uint32_t round;
} consumer;

static uint32_t producer_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    producer *p = self;
    (void)args;
    (void)args_size;
    p->consumer = tina_child_handle(ctx, 1, 1);
    memset(p->payload, 0xab, sizeof p->payload);
    send_or_fail(ctx, tina_self(ctx), TAG_START, "send start");
    return 0;
}

static tina_effect producer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    producer *p = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_START || msg->tag == TAG_ACK) {
        p->sent = 0;
        g_stream_start_ns[p->round] = bench_now_ns();
    } else if (msg->tag != TINA_TAG_RESUME) {
        return tina_receive();
    }
    while (p->sent < STREAM_MESSAGE_COUNT) {
        memcpy(p->payload, &p->sent, sizeof p->sent);
        tina_result r = tina_send(ctx, p->consumer, TAG_DATA, p->payload, sizeof p->payload);
        if (r == TINA_EMAILBOX_FULL) {
            g_stream_full_results++;
            return tina_yield(); /* the pass publishes; retry on TINA_TAG_RESUME */
        }
        if (r != TINA_OK) {
            fail(ctx, "stream send", r);
            return tina_receive();
        }
        p->sent++;
    }
    p->round++;
    return tina_receive(); /* wait for the consumer's TAG_ACK */
}

static tina_effect consumer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    consumer *c = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag != TAG_DATA) return tina_receive();
    uint64_t seq;
    memcpy(&seq, msg->payload, sizeof seq);
    c->checksum += seq + msg->payload[TINA_PAYLOAD_MAX - 1];
    c->received++;
    if (c->received < STREAM_MESSAGE_COUNT) return tina_receive();
    g_stream_end_ns[c->round] = bench_now_ns();
    c->round++;
    c->received = 0;
    g_stream_rounds_done = c->round;
    if (c->round == STREAM_ROUND_COUNT) {
        tina_request_stop(ctx);
    } else {
        send_or_fail(ctx, msg->from, TAG_ACK, "send ack");
    }
    return tina_receive();
}

static double cross_shard_msgs_per_s(void) {
    tina_type_spec types[2] = {
        {.name = "producer",
         .struct_size = sizeof(producer),
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .init = producer_init,
         .handler = producer_handler},
        {.name = "consumer",
         .struct_size = sizeof(consumer),
         .slots_per_shard = 1,
         .mailbox_capacity = STREAM_MAILBOX_CAPACITY,
         .handler = consumer_handler},
    };
    tina_child_spec children[2] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
        {.type_id = 1, .shard = 1, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
    };
    tina_spec spec = {
        .types = types,
        .type_count = 2,
        .children = children,
        .child_count = 2,
        .shard_count = 2,
        .core_count = 2,
        .cores = g_cpus,
        .ring_slots = STREAM_RING_SLOTS,
        /* A drain takes at most one ring a pass and never waits for room
         * (DESIGN 6), so nothing is dropped only if the consumer handles a
         * ring's worth each pass: budget = ring, pool and mailbox above it.
         * Back-pressure then reaches the producer as a full ring. */
        .pool_user_slots = STREAM_POOL_SLOTS,
        .base_budget = STREAM_BASE_BUDGET,
        .no_signal_handlers = 1,
    };
    tina_runtime *rt = bench_create(&spec);
    int timed_out = bench_run_guarded(rt, 120ull * 1000000000ull);
    bench_dump_stats(rt, 0);
    bench_dump_stats(rt, 1);
    tina_channel_stats ch;
    if (tina_stats_channel(rt, 0, 1, &ch) == TINA_OK) {
        fprintf(stderr, "  channel 0->1: accepted=%llu full=%llu delivered=%llu dropped=%llu\n",
                (unsigned long long)ch.accepted, (unsigned long long)ch.full,
                (unsigned long long)ch.delivered, (unsigned long long)ch.dropped);
    }
    tina_destroy(rt);
    if (timed_out) bench_die("stream: run did not finish (%u rounds)", g_stream_rounds_done);
    if (atomic_load(&g_failed) || g_stream_rounds_done != STREAM_ROUND_COUNT) {
        bench_die("stream: run failed");
    }
    fprintf(stderr, "cross_shard: stream: %llu full results\n",
            (unsigned long long)g_stream_full_results);

    double rates[STREAM_ROUND_COUNT];
    for (uint32_t i = 0; i < STREAM_ROUND_COUNT; i++) {
        uint64_t elapsed_ns = g_stream_end_ns[i] - g_stream_start_ns[i];
        rates[i] = (double)STREAM_MESSAGE_COUNT * 1e9 / (double)elapsed_ns;
        fprintf(stderr, "cross_shard: stream round %u: %.0f msgs/s\n", i, rates[i]);
    }
    return bench_median(rates, STREAM_ROUND_COUNT);
}

/* ------------------------------------------------------------------------ */
/* Round trip between two busy shards                                        */
/* ------------------------------------------------------------------------ */

static double g_rtt_round_ns[RTT_ROUND_COUNT];
static uint32_t g_rtt_rounds_done;

typedef struct pinger {
    tina_handle ponger;
    uint64_t trips;      /* round trips this round */
    uint64_t started_ns; /* start of this round */
    uint32_t round;
} pinger;

static uint32_t pinger_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    pinger *p = self;
    (void)args;
    (void)args_size;
    p->ponger = tina_child_handle(ctx, 1, 1);
    send_or_fail(ctx, tina_self(ctx), TAG_START, "send start");
    return 0;
}

static tina_effect pinger_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    pinger *p = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_PONG) {
        p->trips++;
        if (p->trips < RTT_TRIP_COUNT) {
            send_or_fail(ctx, p->ponger, TAG_PING, "send ping");
            return tina_receive();
        }
        uint64_t elapsed_ns = bench_now_ns() - p->started_ns;
        g_rtt_round_ns[p->round] = (double)elapsed_ns / (double)RTT_TRIP_COUNT;
        p->round++;
        g_rtt_rounds_done = p->round;
        if (p->round == RTT_ROUND_COUNT) {
            tina_request_stop(ctx);
            return tina_receive();
        }
    } else if (msg->tag != TAG_START) {
        return tina_receive();
    }
    p->trips = 0;
    p->started_ns = bench_now_ns();
    send_or_fail(ctx, p->ponger, TAG_PING, "send ping");
    return tina_receive();
}

static tina_effect ponger_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_PING) send_or_fail(ctx, msg->from, TAG_PONG, "send pong");
    return tina_receive();
}

/* Keeps its shard busy: it is always ready, so the shard never sleeps. */
static uint32_t spinner_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    (void)self;
    (void)args;
    (void)args_size;
    send_or_fail(ctx, tina_self(ctx), TAG_START, "send start");
    return 0;
}

static tina_effect spinner_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TINA_TAG_SHUTDOWN || tina_shutting_down(ctx)) return tina_done();
    return tina_yield();
}

static double cross_shard_rtt_ns(void) {
    tina_type_spec types[3] = {
        {.name = "pinger",
         .struct_size = sizeof(pinger),
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .init = pinger_init,
         .handler = pinger_handler},
        {.name = "ponger",
         .struct_size = 8,
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .handler = ponger_handler},
        {.name = "spinner",
         .struct_size = 8,
         .slots_per_shard = 1,
         .mailbox_capacity = 16,
         .init = spinner_init,
         .handler = spinner_handler},
    };
    tina_child_spec children[3] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
        {.type_id = 1, .shard = 1, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
        {.type_id = 2, .shard = TINA_SHARD_EVERY, .restart = TINA_RESTART_TEMPORARY, .args_size = 0, .args = NULL},
    };
    tina_spec spec = {
        .types = types,
        .type_count = 3,
        .children = children,
        .child_count = 3,
        .shard_count = 2,
        .core_count = 2,
        .cores = g_cpus,
        .no_signal_handlers = 1,
    };
    tina_runtime *rt = bench_create(&spec);
    int timed_out = bench_run_guarded(rt, 60ull * 1000000000ull);
    bench_dump_stats(rt, 0);
    bench_dump_stats(rt, 1);
    tina_destroy(rt);
    if (timed_out) bench_die("rtt: run did not finish (%u rounds)", g_rtt_rounds_done);
    if (atomic_load(&g_failed) || g_rtt_rounds_done != RTT_ROUND_COUNT) bench_die("rtt: run failed");
    for (uint32_t i = 0; i < RTT_ROUND_COUNT; i++) {
        fprintf(stderr, "cross_shard: rtt round %u: %.1f ns\n", i, g_rtt_round_ns[i]);
    }
    return bench_median(g_rtt_round_ns, RTT_ROUND_COUNT);
}

int main(void) {
    bench_two_cpus(g_cpus);
    double rate = cross_shard_msgs_per_s();
    /* The bare line and the shard round trip run back to back, so that the
     * ratio compares the two under the same conditions on a noisy host. */
    double line_ns = cacheline_rtt_ns();
    double ring_ns = ring_rtt_ns();
    double rtt_ns = cross_shard_rtt_ns();
    fprintf(stderr, "cross_shard: cpus %u and %u\n", g_cpus[0], g_cpus[1]);
    printf("cacheline_rtt_ns: %.1f ns\n", line_ns);
    printf("cross_shard_msgs_per_s: %.0f msgs/s\n", rate);
    printf("cross_shard_rtt_ns: %.1f ns\n", rtt_ns);
    printf("cross_shard_rtt_ratio: %.2f x\n", rtt_ns / line_ns);
    printf("ring_rtt_ns: %.1f ns\n", ring_ns);
    printf("ring_rtt_ratio: %.2f x\n", ring_ns / line_ns);
    printf("cross_shard_rtt_ratio_to_ring: %.2f x\n", rtt_ns / ring_ns);
    return 0;
}
