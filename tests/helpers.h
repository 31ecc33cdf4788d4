/*
 * helpers.h -- what every Criterion test program of Tina shares.
 *
 * Handlers run on shard threads, where a Criterion assertion must not be
 * used (it unwinds the main thread's test).  So handlers check with H_CHECK*
 * macros: a failed check records the first failure's text, counts every
 * failure and asks the runtime to stop, so a broken test ends at once instead
 * of running into its timeout.  After tina_run() returns (the shard threads
 * are joined, so everything they wrote is visible) the test calls
 * h_assert_no_failures() and asserts on the exact counters.
 *
 * Everything here is static inline so that a test program that does not use
 * a helper gets no unused-function warning.
 */
#ifndef TINA_TEST_HELPERS_H
#define TINA_TEST_HELPERS_H

#include <criterion/criterion.h>
/* Beware: Criterion 2.4.1's gt(T, a, b) also passes when a == b (so
 * gt(u64, n, 0) never fails).  Tests write ge(T, a, b + 1); `make lint`
 * refuses gt(. */
#include <criterion/new/assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tina.h"

#define H_UNUSED(x) (void)(x)

/* User tags every test may use; tests number their own from H_TAG_FIRST. */
#define H_TAG_KICK 0x40u  /* an isolate's first message, sent to itself in init */
#define H_TAG_FIRST 0x41u

#define H_MS(n) ((uint64_t)(n) * 1000000ull)
#define H_SEED 0x7153eed5eedull

/* ------------------------------------------------------------------------ */
/* Failures recorded on shard threads                                        */
/* ------------------------------------------------------------------------ */

struct h_failures {
    atomic_uint_fast64_t count; /* failed checks, any thread */
    atomic_flag first_taken;    /* set by the thread that writes first[] */
    char first[512];            /* text of the first failed check */
};

static inline struct h_failures *h_failures_state(void) {
    static struct h_failures state;
    return &state;
}

static inline void h_fail(tina_ctx *ctx, const char *file, int line, const char *fmt, ...)
    TINA_PRINTF(4, 5);

static inline void h_fail(tina_ctx *ctx, const char *file, int line, const char *fmt, ...) {
    struct h_failures *f = h_failures_state();
    if (!atomic_flag_test_and_set(&f->first_taken)) {
        int n = snprintf(f->first, sizeof(f->first), "%s:%d: ", file, line);
        if (n < 0) n = 0;
        if ((size_t)n < sizeof(f->first)) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(f->first + n, sizeof(f->first) - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    atomic_fetch_add(&f->count, 1);
    if (ctx != NULL) tina_request_stop(ctx);
}

static inline uint64_t h_failure_count(void) { return atomic_load(&h_failures_state()->count); }

/* Main thread, after tina_run(): no handler check may have failed. */
static inline void h_assert_no_failures(void) {
    struct h_failures *f = h_failures_state();
    uint64_t n = atomic_load(&f->count);
    cr_assert(eq(u64, n, 0), "a handler check failed (%" PRIu64 " failures); first: %s", n,
              f->first);
}

#define H_CHECK(ctx, cond)                                                         \
    do {                                                                           \
        if (!(cond)) h_fail((ctx), __FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)

#define H_CHECK_EQ(ctx, a, b)                                                           \
    do {                                                                                \
        uint64_t h_a_ = (uint64_t)(a), h_b_ = (uint64_t)(b);                            \
        if (h_a_ != h_b_)                                                               \
            h_fail((ctx), __FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, \
                   h_a_, h_b_);                                                         \
    } while (0)

/* A tina_result check that prints both results by name. */
#define H_CHECK_RESULT(ctx, got, want)                                                     \
    do {                                                                                   \
        int h_got_ = (int)(got), h_want_ = (int)(want);                                    \
        if (h_got_ != h_want_)                                                             \
            h_fail((ctx), __FILE__, __LINE__, "%s: got %s (%d), expected %s (%d)", #got,   \
                   tina_result_name(h_got_), h_got_, tina_result_name(h_want_), h_want_); \
    } while (0)

/* Main-thread assertion on a tina_result, printing names. */
#define H_ASSERT_RESULT(got, want)                                                       \
    do {                                                                                 \
        int h_got_ = (int)(got), h_want_ = (int)(want);                                  \
        cr_assert(eq(int, h_got_, h_want_), "%s: got %s, expected %s", #got,             \
                  tina_result_name(h_got_), tina_result_name(h_want_));                  \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Specs, boot and run                                                        */
/* ------------------------------------------------------------------------ */

#define H_TYPE(name_, struct_type_, slots_, mailbox_, weight_, init_, handler_)          \
    {                                                                                    \
        .name = (name_), .struct_size = (uint32_t)sizeof(struct_type_),                  \
        .slots_per_shard = (slots_), .mailbox_capacity = (mailbox_), .weight = (weight_), \
        .init = (init_), .handler = (handler_)                                           \
    }

#define H_CHILD(type_, shard_) \
    { .type_id = (type_), .shard = (shard_), .restart = TINA_RESTART_TEMPORARY }
#define H_CHILD_ARGS(type_, shard_, restart_, args_ptr_) \
    { .type_id = (type_), .shard = (shard_), .restart = (restart_), \
      .args_size = (uint32_t)sizeof(*(args_ptr_)), .args = (args_ptr_) }

#define H_COUNT(array) ((uint32_t)(sizeof(array) / sizeof((array)[0])))

/* A small, explicit spec: every test then overrides what it is about. */
static inline tina_spec h_spec(const tina_type_spec *types, uint32_t type_count,
                               const tina_child_spec *children, uint32_t child_count,
                               uint32_t shard_count) {
    tina_spec s;
    memset(&s, 0, sizeof(s));
    s.types = types;
    s.type_count = type_count;
    s.children = children;
    s.child_count = child_count;
    s.shard_count = shard_count;
    s.pool_user_slots = 1024;
    s.pool_system_slots = 256;
    s.ring_slots = 256;
    s.timer_slots = 1024;
    s.timer_wheel_slots = 1024;
    s.timer_resolution_ns = 100000;
    s.log_entries = 256;
    s.base_budget = 64;
    s.scratch_bytes = 4096;
    s.seed = H_SEED;
    s.no_signal_handlers = 1;
    s.log_level = TINA_LOG_WARN;
    return s;
}

/* A root group that restarts as often as asked: 1024 restarts inside 1 ns
 * is never reached.  For tests that crash on purpose faster than the
 * implicit root's default budget (100 restarts a second) allows. */
static const tina_group_spec h_root_unbounded[1] = {
    {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,
     .restart_max = TINA_GROUP_RESTARTS_MAX, .window_ns = 1}};

static inline tina_runtime *h_create(const tina_spec *spec) {
    tina_runtime *rt = NULL;
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    tina_result r = tina_create(spec, &rt, &report);
    cr_assert(eq(int, (int)r, TINA_OK), "tina_create: %s: %s", tina_result_name(r),
              report.message);
    cr_assert(not(eq(ptr, (void *)rt, NULL)));
    return rt;
}

static inline void h_run(tina_runtime *rt) {
    tina_result r = tina_run(rt);
    cr_assert(eq(int, (int)r, TINA_OK), "tina_run: %s", tina_result_name(r));
}

/* Create and run; the caller reads stats and calls tina_destroy(). */
static inline tina_runtime *h_boot_and_run(const tina_spec *spec) {
    tina_runtime *rt = h_create(spec);
    h_run(rt);
    return rt;
}

static inline tina_shard_stats h_stats(const tina_runtime *rt, uint32_t shard) {
    tina_shard_stats s;
    memset(&s, 0, sizeof(s));
    tina_result r = tina_stats(rt, shard, &s);
    cr_assert(eq(int, (int)r, TINA_OK), "tina_stats(%u): %s", shard, tina_result_name(r));
    return s;
}

static inline tina_channel_stats h_channel(const tina_runtime *rt, uint32_t from, uint32_t to) {
    tina_channel_stats c;
    memset(&c, 0, sizeof(c));
    tina_result r = tina_stats_channel(rt, from, to, &c);
    cr_assert(eq(int, (int)r, TINA_OK), "tina_stats_channel(%u, %u): %s", from, to,
              tina_result_name(r));
    return c;
}

/*
 * A liveness guard for long runs: a test-side thread watches the published
 * counters and, if no handler call happens anywhere for quiet_ms, records a
 * failure naming the stuck counters and stops the runtime.  It decides
 * nothing about correctness; it only turns a hang into a prompt, explained
 * failure instead of the Criterion timeout.
 */
struct h_watchdog {
    tina_runtime *rt;
    uint32_t quiet_ms;
    atomic_int finished;
};

static inline void *h_watchdog_main(void *arg) {
    struct h_watchdog *w = arg;
    uint32_t shards = tina_runtime_shard_count(w->rt);
    uint64_t last = UINT64_MAX;
    uint32_t quiet = 0;
    const struct timespec tick = {0, 50 * 1000 * 1000};
    while (!atomic_load(&w->finished)) {
        nanosleep(&tick, NULL);
        uint64_t sum = 0;
        for (uint32_t s = 0; s < shards; s++) {
            tina_shard_stats st;
            if (tina_stats(w->rt, s, &st) == TINA_OK) sum += st.dispatched;
        }
        quiet = sum == last ? quiet + 50 : 0;
        last = sum;
        if (quiet < w->quiet_ms) continue;
        char text[400];
        size_t n = 0;
        for (uint32_t s = 0; s < shards && n < sizeof(text); s++) {
            tina_shard_stats st;
            if (tina_stats(w->rt, s, &st) != TINA_OK) continue;
            int k = snprintf(text + n, sizeof(text) - n,
                             " [shard %u: live %" PRIu64 " passes %" PRIu64 " pool_user_free %" PRIu64
                             " pool_system_free %" PRIu64 " timers_live %" PRIu64 "]",
                             s, st.live, st.passes, st.pool_user_free, st.pool_system_free,
                             st.timers_live);
            if (k > 0) n += (size_t)k;
        }
        h_fail(NULL, __FILE__, __LINE__, "no handler call for %u ms: the run is stuck;%s",
               w->quiet_ms, text);
        tina_stop(w->rt);
        break;
    }
    return NULL;
}

static inline void h_run_watched(tina_runtime *rt, uint32_t quiet_ms) {
    static struct h_watchdog w;
    w.rt = rt;
    w.quiet_ms = quiet_ms;
    atomic_store(&w.finished, 0);
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, h_watchdog_main, &w), 0));
    tina_result r = tina_run(rt);
    atomic_store(&w.finished, 1);
    pthread_join(th, NULL);
    cr_assert(eq(int, (int)r, TINA_OK), "tina_run: %s", tina_result_name(r));
}

/* Every channel: accepted == delivered + dropped + in_flight, exactly. */
static inline void h_assert_channels_balance(const tina_runtime *rt) {
    uint32_t n = tina_runtime_shard_count(rt);
    for (uint32_t from = 0; from < n; from++) {
        for (uint32_t to = 0; to < n; to++) {
            if (from == to) continue;
            tina_channel_stats c = h_channel(rt, from, to);
            cr_assert(eq(u64, c.accepted, c.delivered + c.dropped + c.in_flight),
                      "channel %u->%u: accepted %" PRIu64 " != delivered %" PRIu64
                      " + dropped %" PRIu64 " + in_flight %" PRIu64,
                      from, to, c.accepted, c.delivered, c.dropped, c.in_flight);
        }
    }
}

/* Nothing left allocated in either pool region, no timer entry in use. */
static inline void h_assert_shard_clean(const tina_runtime *rt, const tina_spec *spec,
                                        uint32_t shard) {
    tina_shard_stats s = h_stats(rt, shard);
    cr_assert(eq(u64, s.pool_user_free, spec->pool_user_slots), "shard %u user pool", shard);
    cr_assert(eq(u64, s.pool_system_free, spec->pool_system_slots), "shard %u system pool",
              shard);
    cr_assert(eq(u64, s.timers_live, 0), "shard %u timers_live", shard);
}

/* ------------------------------------------------------------------------ */
/* Handler-side helpers                                                      */
/* ------------------------------------------------------------------------ */

/* Give an isolate its first message: init sends H_TAG_KICK to itself. */
static inline void h_kick(tina_ctx *ctx) {
    tina_result r = tina_send(ctx, tina_self(ctx), H_TAG_KICK, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
}

/* An init that does only that: for types whose story starts at the kick. */
static inline uint32_t h_kick_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    h_kick(ctx);
    return 0;
}

static inline uint64_t h_passes(const tina_ctx *ctx) { return tina_ctx_stats(ctx)->passes; }

static inline uint64_t h_u64(const tina_msg *msg) {
    uint64_t v = 0;
    memcpy(&v, msg->payload, sizeof(v));
    return v;
}

static inline int32_t h_i32(const tina_msg *msg) {
    int32_t v = 0;
    memcpy(&v, msg->payload, sizeof(v));
    return v;
}

static inline tina_result h_send_u64(tina_ctx *ctx, tina_handle to, uint16_t tag, uint64_t v) {
    return tina_send(ctx, to, tag, &v, sizeof(v));
}

#endif /* TINA_TEST_HELPERS_H */
