/*
 * stress_channel.c -- the cross-thread paths under real concurrency.
 *
 * A plain program, not a Criterion suite, because Criterion's sandbox does
 * not start under ThreadSanitizer; `make test SANITIZE=thread` runs this
 * file (and `make test` runs it too).  It prints a Criterion-style synthesis
 * line so the test target counts it with the rest.
 *
 *   ring_stream        two bare threads, one small ring, millions of
 *                      sequenced envelopes published in batches: each
 *                      arrives once, in order, intact.
 *   shard_stream       two shards, a producer that yields on a full
 *                      channel, a consumer that checks the sequence: all
 *                      arrive in order and the channel's books balance.
 *   sleeper_wakes      a consumer shard that has gone to sleep is woken by
 *                      each cross-shard message (doorbell path), and by stop.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ring.h"
#include "tina.h"

#include "stress.h"

#ifdef UNDER_TSAN
#define SCALE 10u /* ThreadSanitizer is ~10x slower: fewer messages, same paths */
#else
#define SCALE 1u
#endif

/* ---- ring_stream ---------------------------------------------------------- */

#define RING_COUNT (2000000ull / SCALE)
#define RING_SLOTS 64u

static struct tina__ring g_ring;
static tina_msg g_slots[RING_SLOTS];
static uint64_t g_ring_errors, g_ring_seen;

static void *ring_producer(void *arg) {
    (void)arg;
    uint64_t next = 0;
    while (next < RING_COUNT) {
        uint32_t batch = (uint32_t)(next % 16u) + 1u; /* like a pass: write, then publish once */
        for (uint32_t k = 0; k < batch && next < RING_COUNT; k++) {
            tina_msg *m = ring_reserve(&g_ring);
            if (m == NULL) break;
            m->corr = next;
            m->size = 8;
            memcpy(m->payload, &next, 8);
            ring_commit(&g_ring);
            next++;
        }
        (void)ring_publish(&g_ring);
    }
    return NULL;
}

static void *ring_consumer(void *arg) {
    (void)arg;
    uint64_t expect = 0;
    while (expect < RING_COUNT) {
        tina_msg *first;
        uint32_t n = ring_peek(&g_ring, &first, 1);
        for (uint32_t k = 0; k < n; k++, expect++) {
            uint64_t in_payload;
            memcpy(&in_payload, first[k].payload, 8);
            if (first[k].corr != expect || in_payload != expect) g_ring_errors++;
        }
        if (n) ring_release(&g_ring, n);
    }
    g_ring_seen = expect;
    return NULL;
}

static void ring_stream(void) {
    ring_init(&g_ring, g_slots, RING_SLOTS);
    pthread_t p, c;
    pthread_create(&c, NULL, ring_consumer, NULL);
    pthread_create(&p, NULL, ring_producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    CHECK(g_ring_errors == 0, "%llu envelopes out of order or torn", (unsigned long long)g_ring_errors);
    CHECK(g_ring_seen == RING_COUNT, "saw %llu", (unsigned long long)g_ring_seen);
    CHECK(atomic_load(&g_ring.tail) == RING_COUNT && atomic_load(&g_ring.head) == RING_COUNT,
          "indices %llu/%llu", (unsigned long long)atomic_load(&g_ring.tail),
          (unsigned long long)atomic_load(&g_ring.head));
}

/* ---- shard_stream ----------------------------------------------------------- */

#define SHARD_COUNT_MSGS (1000000ull / SCALE)
enum { TAG_GO = TINA_TAG_USER, TAG_SEQ, TAG_TICK };

typedef struct producer {
    uint64_t next;
} producer;

static uint64_t g_consumer_next, g_consumer_errors;

static uint32_t producer_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    return tina_send(ctx, tina_self(ctx), TAG_GO, NULL, 0) == TINA_OK ? 0 : 1;
}

static tina_effect producer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    producer *p = self;
    (void)msg;
    tina_handle to = tina_child_handle(ctx, 1, 1);
    while (p->next < SHARD_COUNT_MSGS) {
        if (tina_send(ctx, to, TAG_SEQ, &p->next, sizeof(p->next)) != TINA_OK) return tina_yield();
        p->next++;
    }
    return tina_receive();
}

static tina_effect consumer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    uint64_t seq;
    if (msg->tag != TAG_SEQ) return tina_receive();
    memcpy(&seq, msg->payload, sizeof(seq));
    if (seq != g_consumer_next) g_consumer_errors++;
    g_consumer_next = seq + 1;
    if (g_consumer_next == SHARD_COUNT_MSGS) tina_request_stop(ctx);
    return tina_receive();
}

static tina_spec two_shards(tina_type_spec *types, tina_child_spec *children, uint32_t mailbox) {
    types[0] = (tina_type_spec){.name = "producer", .struct_size = sizeof(producer),
                                .slots_per_shard = 1, .init = producer_init,
                                .handler = producer_handle};
    /* Budget 64 x 4 = 256 = one ring per pass: the mailbox cannot fill. */
    types[1] = (tina_type_spec){.name = "consumer", .struct_size = 8, .slots_per_shard = 1,
                                .mailbox_capacity = mailbox, .weight = 4,
                                .handler = consumer_handle};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    children[1] = (tina_child_spec){.type_id = 1, .shard = 1};
    return (tina_spec){.types = types, .type_count = 2, .children = children, .child_count = 2,
                       .shard_count = 2, .ring_slots = 256, .base_budget = 64,
                       .pool_user_slots = 8192,
                       .no_signal_handlers = 1};
}

static void shard_stream(void) {
    tina_type_spec types[2];
    tina_child_spec children[2];
    tina_spec spec = two_shards(types, children, 1024);
    tina_runtime *rt;
    tina_boot_report report;
    tina_result r = tina_create(&spec, &rt, &report);
    CHECK(r == TINA_OK, "%s: %s", tina_strerror(r), report.message);
    if (r != TINA_OK) return;
    CHECK(tina_run(rt) == TINA_OK, "run");
    tina_channel_stats c;
    (void)tina_stats_channel(rt, 0, 1, &c);
    CHECK(g_consumer_errors == 0, "%llu out of order", (unsigned long long)g_consumer_errors);
    CHECK(g_consumer_next == SHARD_COUNT_MSGS, "got %llu", (unsigned long long)g_consumer_next);
    CHECK(c.accepted == c.delivered + c.dropped + c.in_flight, "books: %llu != %llu+%llu+%llu",
          (unsigned long long)c.accepted, (unsigned long long)c.delivered,
          (unsigned long long)c.dropped, (unsigned long long)c.in_flight);
    CHECK(c.dropped == 0, "dropped %llu with a mailbox that cannot fill", (unsigned long long)c.dropped);
    tina_destroy(rt);
}

/* ---- sleeper_wakes -------------------------------------------------------- */

/* The producer sends one message every 2 ms from a timer; the consumer's
 * shard (idle_spin_ns 1 us, no timer of its own) sleeps with no deadline
 * between them, so nothing but a doorbell can wake it.  The consumer
 * counts the messages it receives after its shard slept again since the
 * previous one -- each was delivered by waking a sleeper -- and stops at
 * WAKE_COUNT.  A message that found the shard awake proves nothing and is
 * not counted; the producer gives up (a failure) after WAKE_SENT_MAX. */
#define WAKE_COUNT 50u
#define WAKE_SENT_MAX (20u * WAKE_COUNT)
static uint64_t g_wake_seen, g_wake_sent;

static uint32_t ticker_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    tina_timer_id id;
    return tina_timer_set(ctx, 2000000u, 2000000u, TAG_TICK, &id) == TINA_OK ? 0 : 1;
}

static tina_effect ticker_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *sent = self;
    if (msg->kind != TINA_MSG_TIMER) return tina_receive();
    if (*sent >= WAKE_SENT_MAX) {
        tina_request_stop(ctx); /* the consumer never slept often enough: a failure */
        return tina_receive();
    }
    if (tina_send(ctx, tina_child_handle(ctx, 1, 1), TAG_SEQ, sent, sizeof(*sent)) == TINA_OK)
        g_wake_sent = ++*sent;
    return tina_receive();
}

static tina_effect sleeper_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *sleeps_seen = self;
    (void)msg;
    uint64_t sleeps = tina_ctx_stats(ctx)->sleeps;
    if (sleeps > *sleeps_seen && ++g_wake_seen == WAKE_COUNT) tina_request_stop(ctx);
    *sleeps_seen = sleeps;
    return tina_receive();
}

static void sleeper_wakes(void) {
    tina_type_spec types[2] = {
        {.name = "ticker", .struct_size = 8, .slots_per_shard = 1, .init = ticker_init,
         .handler = ticker_handle},
        {.name = "sleeper", .struct_size = 8, .slots_per_shard = 1, .handler = sleeper_handle}};
    tina_child_spec children[2] = {{.type_id = 0, .shard = 0}, {.type_id = 1, .shard = 1}};
    tina_spec spec = {.types = types, .type_count = 2, .children = children, .child_count = 2,
                      .shard_count = 2, .idle_spin_ns = 1000, .no_signal_handlers = 1};
    tina_runtime *rt;
    CHECK(tina_create(&spec, &rt, NULL) == TINA_OK, "create");
    CHECK(tina_run(rt) == TINA_OK, "run");
    tina_shard_stats s0, s1;
    (void)tina_stats(rt, 0, &s0);
    (void)tina_stats(rt, 1, &s1);
    CHECK(g_wake_seen == WAKE_COUNT, "%llu of %llu messages woke a sleeping shard",
          (unsigned long long)g_wake_seen, (unsigned long long)g_wake_sent);
    CHECK(s1.sleeps >= WAKE_COUNT, "the consumer slept only %llu times",
          (unsigned long long)s1.sleeps);
    /* Each counted message reached a shard that had passed its last check
     * and gone to sleep, so its producer saw the sleeping flag and rang. */
    CHECK(s0.wakeups_sent >= WAKE_COUNT, "only %llu doorbells rung",
          (unsigned long long)s0.wakeups_sent);
    tina_destroy(rt);
}

int main(void) {
    static const struct stress_test tests[] = {{"ring_stream", ring_stream},
                                               {"shard_stream", shard_stream},
                                               {"sleeper_wakes", sleeper_wakes}};
    return stress_main("stress_channel", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
