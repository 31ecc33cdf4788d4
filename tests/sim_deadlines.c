/*
 * sim_deadlines.c -- deadlines at their limits (SPEC 13: a delay or
 * timeout too large to add to the clock means "never", never "now").
 *
 * Timers, call timeouts, I/O timeouts and the graceful shutdown's bound
 * are each armed with UINT64_MAX and values near it, on a clock that has
 * already advanced, so that clock + delay overflows.  None may fire
 * early; the run must still settle (a timer that never fires does not
 * keep it alive).
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include "helpers.h"

enum { TAG_HUGE = H_TAG_FIRST, TAG_SOON, TAG_CALL, TAG_LATER };

static uint32_t g_huge_fired, g_periodic_fired, g_soon_fired, g_call_outcomes, g_io_outcomes;
static uint32_t g_drained;
static int32_t g_io_result;

/* Each overflows a clock past 1 ms. */
static const uint64_t huge_delays[] = {UINT64_MAX, UINT64_MAX - 1000, UINT64_MAX - 999999};

/* Waits a little (so the clock is not 0), then arms every huge delay. */
static tina_effect armer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 5000000, 0, TAG_SOON, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_SOON) {
        g_soon_fired++;
        /* A deadline that fits, one nanosecond short of the end of time:
         * within a wheel tick of UINT64_MAX, where rounding up overflows. */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, UINT64_MAX - tina_now_ns(ctx) - 1, 0, TAG_HUGE, &id),
                       TINA_OK);
        for (uint32_t k = 0; k < H_COUNT(huge_delays); k++) {
            H_CHECK_RESULT(ctx, tina_timer_set(ctx, huge_delays[k], 0, TAG_HUGE, &id), TINA_OK);
            /* fires once, 1 us from now; its next period never comes */
            H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000, huge_delays[k], TAG_LATER, &id), TINA_OK);
        }
        return tina_receive();
    }
    if (msg->tag == TAG_HUGE) g_huge_fired++;
    if (msg->tag == TAG_LATER) g_periodic_fired++;
    return tina_receive();
}

/* Calls a silent isolate with a timeout of UINT64_MAX: it must wait. */
static tina_effect caller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    if (msg->tag == H_TAG_KICK) {
        tina_timer_id id;
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000, 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER && (*step)++ == 0)
        return tina_call(tina_child_handle(ctx, 2, 0), TAG_CALL, NULL, 0, UINT64_MAX);
    g_call_outcomes++;
    return tina_receive();
}

static tina_effect silent(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

/* A recv on a connection nobody writes to, with a timeout of UINT64_MAX. */
typedef struct waiter {
    tina_fd listener, conn;
    struct sockaddr_in addr; /* stable while the connect is parked */
} waiter;

static uint32_t waiter_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    waiter *w = self;
    H_UNUSED(args), H_UNUSED(size);
    w->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(7300),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &w->listener), TINA_OK);
    H_CHECK_RESULT(ctx, tina_bind(ctx, w->listener, &w->addr, sizeof(w->addr)), TINA_OK);
    H_CHECK_RESULT(ctx, tina_listen(ctx, w->listener, 4), TINA_OK);
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &w->conn), TINA_OK);
    h_kick(ctx);
    return 0;
}

static tina_effect waiter_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    waiter *w = self;
    H_UNUSED(ctx);
    if (msg->tag == H_TAG_KICK) return tina_io_connect(w->conn, &w->addr, sizeof(w->addr));
    if (msg->tag == TINA_TAG_IO(TINA_IO_CONNECT)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        H_CHECK_EQ(ctx, d.result, 0);
        return tina_io_timeout(tina_io_recv(w->conn, 0), UINT64_MAX);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECV)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        g_io_result = d.result;
        g_io_outcomes++;
    }
    return tina_receive();
}

static tina_sim_report run_deadlines(void) {
    g_huge_fired = g_periodic_fired = g_soon_fired = g_call_outcomes = g_io_outcomes = 0;
    static tina_type_spec types[4];
    types[0] = (tina_type_spec)H_TYPE("armer", uint32_t, 1, 16, 1, h_kick_init, armer);
    types[1] = (tina_type_spec)H_TYPE("caller", uint32_t, 1, 16, 1, h_kick_init, caller);
    types[2] = (tina_type_spec)H_TYPE("silent", uint32_t, 1, 16, 1, NULL, silent);
    types[3] = (tina_type_spec)H_TYPE("waiter", waiter, 1, 16, 1, waiter_init, waiter_handle);
    static tina_child_spec children[4];
    for (uint32_t k = 0; k < 4; k++) children[k] = (tina_child_spec)H_CHILD(k, 0);
    tina_spec spec = h_spec(types, 4, children, 4, 1);
    spec.fd_slots = 16;
    tina_sim_config config = {.seed = 11, .round_limit = 1000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    return r;
}

Test(sim_deadlines, a_delay_too_large_for_the_clock_means_never, .timeout = 30) {
    tina_sim_report r = run_deadlines();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
    cr_assert(eq(u32, g_soon_fired, 1));
    cr_assert(eq(u32, g_huge_fired, 0), "no timer of a huge delay fired");
    cr_assert(eq(u32, g_periodic_fired, H_COUNT(huge_delays)), "a huge period fired once, not again");
    cr_assert(eq(u32, g_call_outcomes, 0), "a call with a timeout of UINT64_MAX still waits");
    cr_assert(eq(u32, g_io_outcomes, 0), "so does a recv with one");
    cr_assert(eq(u64, r.total.call_timeouts, 0));
    cr_assert(eq(u64, r.total.io_timeouts, 0));
}

/* A graceful shutdown with shutdown_timeout_ns = UINT64_MAX: the isolate
 * drains in its own time (a 3 ms timer); nothing is forced at once. */
static tina_effect slow_drainer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *asked = self;
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK && !(*asked)++) {
        tina_request_shutdown(ctx);
        return tina_receive();
    }
    if (msg->tag == TINA_TAG_SHUTDOWN) { /* busy (yielding) until its timer fires */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 3000000, 0, TAG_LATER, &id), TINA_OK);
        return tina_yield();
    }
    if (msg->tag == TINA_TAG_RESUME) return tina_yield();
    if (msg->tag == TAG_LATER) g_drained++;
    return tina_receive();
}

Test(sim_deadlines, a_shutdown_bound_of_uint64_max_never_forces, .timeout = 30) {
    g_drained = 0;
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("drainer", uint32_t, 1, 16, 1, h_kick_init, slow_drainer);
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.shutdown_timeout_ns = UINT64_MAX;
    tina_sim_config config = {.seed = 2, .round_limit = 1000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN), "%s", r.failure);
    cr_assert(eq(u32, g_drained, 1), "it drained in its own time");
    cr_assert(eq(u64, r.total.shutdown_forced, 0));
}

/* ---- a zero-delay periodic timer's next period counts from when it was set */

static uint64_t g_set_at, g_fires[3];
static uint32_t g_fire_count;

static tina_effect zero_periodic(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) { /* wait 3 ms, so that "from 0" and "from now" differ */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 3000000, 0, TAG_LATER, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_LATER) {
        g_set_at = tina_now_ns(ctx);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 0, 5000000, TAG_SOON, &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_SOON && g_fire_count < 3) {
        g_fires[g_fire_count++] = tina_now_ns(ctx);
        if (g_fire_count == 3) (void)tina_timer_cancel(ctx, *(const tina_timer_id *)msg->payload);
    }
    return tina_receive();
}

Test(sim_deadlines, a_zero_delay_periodic_timer_fires_now_then_a_period_later, .timeout = 30) {
    g_fire_count = 0;
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("zero", uint32_t, 1, 16, 1, h_kick_init, zero_periodic);
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_sim_config config = {.seed = 3, .round_limit = 1000000};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    h_assert_no_failures();
    cr_assert(eq(u32, g_fire_count, 3));
    cr_assert(le(u64, g_fires[0] - g_set_at, 1000000), "the first fire comes at once");
    cr_assert(ge(u64, g_fires[1], g_set_at + 5000000), "the second a period after it was set: %llu",
              (unsigned long long)(g_fires[1] - g_set_at));
    cr_assert(ge(u64, g_fires[2], g_set_at + 10000000), "and the third two periods after");
}
