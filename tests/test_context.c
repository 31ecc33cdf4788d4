/*
 * test_context.c -- what the context offers a handler: identity, the shard
 * clock, the seeded random stream, the scratch buffer, the log ring.
 */
#include "helpers.h"

enum { TAG_TICK = H_TAG_FIRST };

typedef struct plain {
    uint64_t unused;
} plain;

/* ------------------------------------------------------------------------ */
/* Identity, clock, scratch.                                                  */
/* ------------------------------------------------------------------------ */

#define SCRATCH_BYTES 8192
static atomic_int ident_done;
static uint64_t ident_now[2][20];
static int ident_calls[2];

static tina_effect ident_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    uint32_t me = tina_shard_id(ctx);
    H_CHECK(ctx, me < 2);
    if (me >= 2) return tina_receive();
    H_CHECK_EQ(ctx, tina_shard_count(ctx), 2);
    H_CHECK_EQ(ctx, tina_handle_shard(tina_self(ctx)), me);
    H_CHECK_EQ(ctx, tina_self(ctx), tina_child_handle(ctx, 0, me));
    H_CHECK(ctx, !tina_shutting_down(ctx));
    size_t size = 0;
    uint8_t *scratch = tina_scratch(ctx, &size);
    H_CHECK(ctx, scratch != NULL);
    H_CHECK_EQ(ctx, size, SCRATCH_BYTES);
    if (scratch != NULL) memset(scratch, 0xab, size); /* all of it is writable */
    ident_now[me][ident_calls[me]] = tina_now_ns(ctx);
    if (++ident_calls[me] < 20) return tina_yield();
    if (atomic_fetch_add(&ident_done, 1) == 1) tina_request_stop(ctx);
    return tina_receive();
}

Test(context, identity_clock_and_scratch, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("ident", plain, 1, 0, 1, h_kick_init, ident_handler)};
    const tina_child_spec children[] = {H_CHILD(0, TINA_SHARD_EVERY)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.scratch_bytes = SCRATCH_BYTES;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    for (int s = 0; s < 2; s++) {
        cr_assert(eq(int, ident_calls[s], 20));
        for (int i = 1; i < 20; i++)
            cr_assert(ge(u64, ident_now[s][i], ident_now[s][i - 1]), "shard %d clock went back", s);
        cr_assert(ge(u64, ident_now[s][19], ident_now[s][0] + 1), "shard %d clock never moved", s);
    }
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* The random stream: the same seed gives the same numbers; shards differ.    */
/* ------------------------------------------------------------------------ */

#define DRAWS 64
static uint64_t draws[2][DRAWS];
static atomic_int draws_done;

static tina_effect draw_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    uint32_t me = tina_shard_id(ctx);
    for (int i = 0; i < DRAWS; i++) draws[me][i] = tina_random(ctx);
    if (atomic_fetch_add(&draws_done, 1) == 1) tina_request_stop(ctx);
    return tina_receive();
}

static void draw_run(uint64_t seed, uint64_t out[2][DRAWS]) {
    const tina_type_spec types[] = {H_TYPE("draw", plain, 1, 0, 1, h_kick_init, draw_handler)};
    const tina_child_spec children[] = {H_CHILD(0, TINA_SHARD_EVERY)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.seed = seed;
    atomic_store(&draws_done, 0);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    memcpy(out, draws, sizeof(draws));
    tina_destroy(rt);
}

Test(context, random_stream_follows_the_seed, .timeout = 60) {
    static uint64_t a[2][DRAWS], b[2][DRAWS], c[2][DRAWS];
    draw_run(12345, a);
    draw_run(12345, b);
    draw_run(54321, c);
    cr_assert(eq(int, memcmp(a, b, sizeof(a)), 0), "same seed, same numbers on every shard");
    cr_assert(ne(int, memcmp(a[0], c[0], sizeof(a[0])), 0), "another seed, other numbers");
    cr_assert(ne(int, memcmp(a[0], a[1], sizeof(a[0])), 0), "each shard has its own stream");
    int distinct = 1;
    for (int i = 1; i < DRAWS; i++) distinct &= a[0][i] != a[0][i - 1];
    cr_assert(distinct, "the stream moves");
}

/* ------------------------------------------------------------------------ */
/* The log ring: every line is written or dropped, and both are counted.     */
/* ------------------------------------------------------------------------ */

#define LOG_LINES 100
static int log_finished;

static tina_effect log_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        /* One call writes more lines than the ring holds (flushed per pass). */
        for (int i = 0; i < LOG_LINES; i++)
            tina_log(ctx, TINA_LOG_WARN, "line %d of a burst, with a tail that is long enough to be "
                                         "cut at ninety-five characters: %0100d", i, 0);
        tina_timer_id id;
        tina_result r = tina_timer_set(ctx, 0, 0, TAG_TICK, &id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    const tina_shard_stats *st = tina_ctx_stats(ctx);
    H_CHECK_EQ(ctx, st->log_written + st->log_dropped, LOG_LINES);
    H_CHECK(ctx, st->log_dropped > 0);
    H_CHECK(ctx, st->log_written >= 16);
    log_finished = 1;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(context, full_log_ring_drops_and_counts, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("logger", plain, 1, 0, 1, h_kick_init, log_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.log_entries = 16;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, log_finished, 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.log_written + s.log_dropped, LOG_LINES));
    cr_assert(eq(u64, s.log_written, 16));
    cr_assert(eq(u64, s.log_dropped, LOG_LINES - 16));
    tina_destroy(rt);
}
