/*
 * stress_inject.c -- the way in from foreign threads under real
 * concurrency: what `make test SANITIZE=thread` gives ThreadSanitizer to
 * look at on the injection path (a plain program, like stress_channel.c:
 * Criterion's sandbox does not start under TSan).
 *
 *   two_producers_and_a_caller
 *       two foreign threads inject sequenced envelopes into one consumer
 *       (shard 1) while a third makes blocking tina_inject_call round trips
 *       to an echo isolate (shard 0) with a short timeout now and then;
 *       the consumer sees each producer's sequence in order, the books
 *       balance (accepted = injected + inject_dropped), every call gets its
 *       own reply or times out, and late replies never reach the wrong
 *       caller.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tina.h"

#include "stress.h"

#ifdef UNDER_TSAN
#define SCALE 20u
#else
#define SCALE 1u
#endif

#define PER_PRODUCER (1000000ull / SCALE)
#define CALLS (20000u / SCALE)
#define WAIT_NS (20ull * 1000000000ull)
enum { TAG_SEQ = TINA_TAG_USER, TAG_ECHO };

static tina_runtime *g_rt;
static uint64_t g_next[2], g_out_of_order, g_received; /* the consumer's shard only */
static _Atomic uint64_t g_received_seen;
static uint64_t g_call_wrong, g_call_ok, g_call_timeouts, g_call_other;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static tina_effect consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self, (void)ctx;
    uint64_t word;
    memcpy(&word, msg->payload, sizeof(word));
    uint32_t producer = (uint32_t)(word >> 63);
    uint64_t seq = word & ~(1ull << 63);
    if (seq < g_next[producer]) g_out_of_order++; /* drops leave gaps; never a step back */
    g_next[producer] = seq + 1;
    g_received++;
    atomic_store_explicit(&g_received_seen, g_received, memory_order_release);
    return tina_receive();
}

/* The reply carries the request's payload back, + 1; every 64th request
 * is answered after a little work, so that short timeouts happen. */
static tina_effect echo(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint64_t *out = self; /* an effect's payload must outlive the handler's return */
    (void)ctx;
    if (msg->kind != TINA_MSG_CALL) return tina_receive();
    uint64_t v;
    memcpy(&v, msg->payload, sizeof(v));
    if (v % 64 == 0) {
        uint64_t until = now_ns() + 200000u;
        while (now_ns() < until) {
        }
    }
    *out = v + 1;
    return tina_reply(TAG_ECHO, out, sizeof(*out));
}

static void *producer_main(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    tina_handle to = tina_runtime_child_handle(g_rt, 0, 1);
    for (uint64_t k = 0; k < PER_PRODUCER; k++) {
        uint64_t word = k | id << 63;
        tina_result r = tina_inject(g_rt, to, TAG_SEQ, &word, sizeof(word));
        if (r != TINA_OK && r != TINA_EMAILBOX_FULL) CHECK(0, "inject: %s", tina_result_name(r));
    }
    return NULL;
}

static void *caller_main(void *arg) {
    (void)arg;
    tina_handle to = tina_runtime_child_address(g_rt, 1, 0);
    for (uint64_t k = 1; k <= CALLS; k++) {
        tina_msg reply;
        uint64_t timeout = k % 64 == 0 ? 50000u : WAIT_NS; /* 50 us: the slow ones time out */
        tina_result r = tina_inject_call(g_rt, to, TAG_ECHO, &k, sizeof(k), timeout, &reply);
        uint64_t v = 0;
        if (r == TINA_OK) memcpy(&v, reply.payload, sizeof(v));
        if (r == TINA_OK) g_call_ok++, g_call_wrong += v != k + 1;
        else if (r == TINA_ETIMEDOUT) g_call_timeouts++;
        else g_call_other++;
    }
    return NULL;
}

static void *runner_main(void *arg) {
    (void)arg;
    CHECK(tina_run(g_rt) == TINA_OK, "run");
    return NULL;
}

static tina_runtime *create(void) {
    static tina_type_spec types[2] = {
        {.name = "consumer", .struct_size = 8, .slots_per_shard = 1, .mailbox_capacity = 64,
         .handler = consumer},
        {.name = "echo", .struct_size = 8, .slots_per_shard = 1, .handler = echo}};
    static tina_child_spec children[2] = {{.type_id = 0, .shard = 1},
                                          {.type_id = 1, .shard = 0}};
    tina_spec spec = {.types = types, .type_count = 2, .children = children, .child_count = 2,
                      .shard_count = 2, .inject_slots = 256, .idle_spin_ns = 1000,
                      .no_signal_handlers = 1};
    tina_runtime *rt = NULL;
    tina_boot_report report;
    tina_result r = tina_create(&spec, &rt, &report);
    CHECK(r == TINA_OK, "%s: %s", tina_strerror(r), report.message);
    return r == TINA_OK ? rt : NULL;
}

/* Every accepted envelope taken by the consumer's shard (bounded). */
static void drained_wait(void) {
    uint64_t deadline = now_ns() + WAIT_NS;
    const struct timespec tick = {0, 1000000};
    for (;;) {
        tina_inject_stats in;
        tina_shard_stats st;
        (void)tina_stats_inject(g_rt, 1, &in);
        (void)tina_stats(g_rt, 1, &st);
        if (st.injected + st.inject_dropped == in.accepted &&
            atomic_load_explicit(&g_received_seen, memory_order_acquire) == st.injected)
            return;
        if (now_ns() > deadline) {
            CHECK(0, "not drained: accepted %llu, injected %llu, dropped %llu",
                  (unsigned long long)in.accepted, (unsigned long long)st.injected,
                  (unsigned long long)st.inject_dropped);
            return;
        }
        nanosleep(&tick, NULL);
    }
}

static void two_producers_and_a_caller(void) {
    if ((g_rt = create()) == NULL) return;
    pthread_t runner, p[2], c;
    pthread_create(&runner, NULL, runner_main, NULL);
    pthread_create(&c, NULL, caller_main, NULL);
    for (uintptr_t i = 0; i < 2; i++) pthread_create(&p[i], NULL, producer_main, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(p[i], NULL);
    pthread_join(c, NULL);
    drained_wait();
    tina_stop(g_rt);
    pthread_join(runner, NULL);
    tina_inject_stats in, all;
    tina_shard_stats st;
    (void)tina_stats_inject(g_rt, 1, &in);
    (void)tina_stats_inject(g_rt, TINA_SHARD_EVERY, &all);
    (void)tina_stats(g_rt, 1, &st);
    CHECK(g_out_of_order == 0, "%llu out of order", (unsigned long long)g_out_of_order);
    CHECK(in.accepted == st.injected + st.inject_dropped, "books: %llu != %llu + %llu",
          (unsigned long long)in.accepted, (unsigned long long)st.injected,
          (unsigned long long)st.inject_dropped);
    CHECK(g_received == st.injected, "received %llu of %llu", (unsigned long long)g_received,
          (unsigned long long)st.injected);
    CHECK(g_call_wrong == 0 && g_call_other == 0, "%llu wrong replies, %llu other results",
          (unsigned long long)g_call_wrong, (unsigned long long)g_call_other);
    CHECK(g_call_ok + g_call_timeouts == CALLS, "calls %llu + %llu", (unsigned long long)g_call_ok,
          (unsigned long long)g_call_timeouts);
    CHECK(all.call_timeouts == g_call_timeouts, "timeouts counted %llu, seen %llu",
          (unsigned long long)all.call_timeouts, (unsigned long long)g_call_timeouts);
    CHECK(all.late_replies <= g_call_timeouts, "late %llu", (unsigned long long)all.late_replies);
    fprintf(stderr, "stress_inject: accepted %llu (full %llu), injected %llu, dropped %llu; calls "
            "%llu ok, %llu timed out, %llu late replies; %llu wakeups\n",
            (unsigned long long)in.accepted, (unsigned long long)in.full,
            (unsigned long long)st.injected, (unsigned long long)st.inject_dropped,
            (unsigned long long)g_call_ok, (unsigned long long)g_call_timeouts,
            (unsigned long long)all.late_replies, (unsigned long long)all.wakeups);
    tina_destroy(g_rt);
}

int main(void) {
    static const struct stress_test tests[] = {
        {"two_producers_and_a_caller", two_producers_and_a_caller}};
    return stress_main("stress_inject", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
