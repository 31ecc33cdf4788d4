/*
 * local_msg -- the cost of one local message: one tina_send plus the
 * dispatch of that message, between two isolates on the same shard.
 *
 * A pinger and a ponger (static children on shard 0) bounce one message
 * back and forth; a round is N = 10,000,000 messages (N/2 round trips).
 * The pinger times each round with CLOCK_MONOTONIC and the program prints
 * the median over ROUND_COUNT rounds:
 *
 *   local_msg_ns: X ns
 *
 * Only one message is ever in flight, so this measures latency-bound
 * messaging (send, mailbox link, scheduling, dispatch), not batching.
 *
 * A second run makes the pinger a caller: CALL_COUNT calls (tina_call,
 * answered by tina_reply), one at a time, each a request, a reply into
 * the slot the call reserved, and the caller's resume:
 *
 *   local_call_ns: X ns      per call, median of ROUND_COUNT rounds
 */
#include "bench.h"

#define MESSAGE_COUNT 10000000ull
#define ROUND_COUNT 5u

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_PING (TINA_TAG_USER + 1)
#define TAG_PONG (TINA_TAG_USER + 2)
#define CALL_COUNT 2000000ull
#define CALL_TIMEOUT_NS 1000000000ull

enum { ROLE_PINGER = 0, ROLE_PONGER = 1 };

typedef struct pp_args {
    uint32_t role;
    uint32_t peer_child; /* child index of the other side */
} pp_args;

typedef struct pp_state {
    tina_handle peer;
    uint64_t pongs;      /* pinger: pongs received this round */
    uint64_t started_ns; /* pinger: start of this round */
    uint32_t role;
    uint32_t round;
} pp_state;

/* Written by the shard thread, read by main after tina_run returned. */
static double g_round_ns_per_msg[ROUND_COUNT];
static uint32_t g_rounds_done;
static int g_failed;

static void fail(tina_ctx *ctx, const char *what, tina_result r) {
    fprintf(stderr, "local_msg: %s: %s\n", what, tina_result_name(r));
    g_failed = 1;
    tina_request_stop(ctx);
}

static uint32_t pp_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    pp_state *s = self;
    const pp_args *a = args;
    if (args_size != sizeof *a) return 1;
    s->role = a->role;
    s->peer = tina_child_handle(ctx, a->peer_child, tina_shard_id(ctx));
    if (s->role == ROLE_PINGER) {
        tina_result r = tina_send(ctx, tina_self(ctx), TAG_START, NULL, 0);
        if (r != TINA_OK) fail(ctx, "send start", r);
    }
    return 0;
}

static void round_start(pp_state *s, tina_ctx *ctx) {
    s->pongs = 0;
    s->started_ns = bench_now_ns();
    tina_result r = tina_send(ctx, s->peer, TAG_PING, &s->pongs, sizeof s->pongs);
    if (r != TINA_OK) fail(ctx, "send ping", r);
}

static tina_effect pp_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    pp_state *s = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_PING) {
        tina_result r = tina_send(ctx, msg->from, TAG_PONG, msg->payload, msg->size);
        if (r != TINA_OK) fail(ctx, "send pong", r);
        return tina_receive();
    }
    if (msg->tag == TAG_START) {
        round_start(s, ctx);
        return tina_receive();
    }
    if (msg->tag != TAG_PONG) return tina_receive();
    /* One pong closes a round trip: two messages. */
    s->pongs++;
    if (s->pongs < MESSAGE_COUNT / 2) {
        tina_result r = tina_send(ctx, s->peer, TAG_PING, &s->pongs, sizeof s->pongs);
        if (r != TINA_OK) fail(ctx, "send ping", r);
        return tina_receive();
    }
    uint64_t elapsed_ns = bench_now_ns() - s->started_ns;
    g_round_ns_per_msg[s->round] = (double)elapsed_ns / (double)MESSAGE_COUNT;
    s->round++;
    g_rounds_done = s->round;
    if (s->round == ROUND_COUNT) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    round_start(s, ctx);
    return tina_receive();
}

/* The call run: the pinger calls, the ponger replies. */
static double g_call_round_ns[ROUND_COUNT];
static uint32_t g_call_rounds_done;

static tina_effect call_next(pp_state *s, tina_ctx *ctx) {
    (void)ctx;
    return tina_call(s->peer, TAG_PING, &s->pongs, sizeof s->pongs, CALL_TIMEOUT_NS);
}

static tina_effect call_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    pp_state *s = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done();
    if (msg->tag == TAG_PING) return tina_reply(TAG_PONG, msg->payload, msg->size);
    if (msg->tag == TAG_START) {
        s->pongs = 0;
        s->started_ns = bench_now_ns();
        return call_next(s, ctx);
    }
    if (msg->tag != TAG_PONG) { /* a timeout or a failure: no figure */
        fail(ctx, "call", TINA_ESTALE);
        return tina_receive();
    }
    if (++s->pongs < CALL_COUNT) return call_next(s, ctx);
    g_call_round_ns[s->round] = (double)(bench_now_ns() - s->started_ns) / (double)CALL_COUNT;
    g_call_rounds_done = ++s->round;
    if (s->round == ROUND_COUNT) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    s->pongs = 0;
    s->started_ns = bench_now_ns();
    return call_next(s, ctx);
}

static void run_calls(tina_spec *spec, tina_type_spec *type) {
    type->handler = call_handler;
    tina_runtime *rt = bench_create(spec);
    int timed_out = bench_run_guarded(rt, 60ull * 1000000000ull);
    tina_destroy(rt);
    if (timed_out) bench_die("local_msg: call run did not finish (%u rounds)", g_call_rounds_done);
    if (g_failed || g_call_rounds_done != ROUND_COUNT) bench_die("local_msg: call run failed");
    for (uint32_t i = 0; i < ROUND_COUNT; i++)
        fprintf(stderr, "local_msg: call round %u: %.2f ns/call\n", i, g_call_round_ns[i]);
    printf("local_call_ns: %.1f ns\n", bench_median(g_call_round_ns, ROUND_COUNT));
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);

    tina_type_spec types[1] = {{
        .name = "pingpong",
        .struct_size = sizeof(pp_state),
        .slots_per_shard = 2,
        .mailbox_capacity = 4,
        .init = pp_init,
        .handler = pp_handler,
    }};
    pp_args pinger = {ROLE_PINGER, 1}, ponger = {ROLE_PONGER, 0};
    tina_child_spec children[2] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = sizeof pinger, .args = &pinger},
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_TEMPORARY, .args_size = sizeof ponger, .args = &ponger},
    };
    tina_spec spec = {
        .types = types,
        .type_count = 1,
        .children = children,
        .child_count = 2,
        .shard_count = 1,
        .core_count = 1,
        .cores = cpus,
        .no_signal_handlers = 1,
    };

    tina_runtime *rt = bench_create(&spec);
    int timed_out = bench_run_guarded(rt, 60ull * 1000000000ull);
    bench_dump_stats(rt, 0);
    tina_destroy(rt);
    if (timed_out) bench_die("local_msg: run did not finish (%u rounds)", g_rounds_done);
    if (g_failed || g_rounds_done != ROUND_COUNT) bench_die("local_msg: run failed");

    for (uint32_t i = 0; i < ROUND_COUNT; i++) {
        fprintf(stderr, "local_msg: round %u: %.2f ns/msg\n", i, g_round_ns_per_msg[i]);
    }
    printf("local_msg_ns: %.1f ns\n", bench_median(g_round_ns_per_msg, ROUND_COUNT));
    run_calls(&spec, &types[0]);
    return 0;
}
