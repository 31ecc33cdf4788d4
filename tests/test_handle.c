/*
 * test_handle.c -- handles: layout, boot placement, malformed handles,
 * staleness after done, crash and restart, spawn results.
 *
 * A handle is shard | type | slot | generation.  Static children are placed
 * in spec order with generation 1; every death bumps the slot's generation so
 * that no old handle ever reaches the slot's next occupant.
 */
#include "helpers.h"

enum {
    TAG_PING = H_TAG_FIRST,
    TAG_DIE,
    TAG_DYING,
    TAG_HELLO,
    TAG_CRASH,
    TAG_DONE,
    TAG_DATA,
};

typedef struct plain {
    uint64_t unused;
} plain;

/* ------------------------------------------------------------------------ */

Test(handle, layout_round_trips, .timeout = 10) {
    tina_handle h = tina_handle_make(63, 254, TINA_SLOT_COUNT_MAX - 1, TINA_GENERATION_MASK);
    cr_assert(eq(u32, tina_handle_shard(h), 63));
    cr_assert(eq(u32, tina_handle_type(h), 254));
    cr_assert(eq(u32, tina_handle_slot(h), TINA_SLOT_COUNT_MAX - 1));
    cr_assert(eq(u32, tina_handle_generation(h), TINA_GENERATION_MASK));

    tina_handle g = tina_handle_make(1, 2, 3, 4);
    cr_assert(eq(u64, g, (1ull << 56) | (2ull << 48) | (3ull << 28) | 4ull));
    cr_assert(ne(u64, tina_handle_make(0, 0, 0, 1), TINA_HANDLE_NONE));
    cr_assert(eq(u64, TINA_HANDLE_NONE, 0));
    /* Each field is masked: an over-wide generation does not spill into the slot. */
    cr_assert(eq(u32, tina_handle_slot(tina_handle_make(0, 0, 5, TINA_GENERATION_MASK + 2u)), 5));
    cr_assert(eq(u32, tina_handle_generation(tina_handle_make(0, 0, 5, TINA_GENERATION_MASK + 2u)),
                 1));
}

/* ------------------------------------------------------------------------ */
/* Boot placement: spec order, generation 1, per shard.                       */
/* ------------------------------------------------------------------------ */

#define BOOT_CHILDREN 4
static tina_handle boot_self[2][BOOT_CHILDREN];      /* tina_self in init, [shard][child] */
static tina_handle boot_ctx_handle[2][BOOT_CHILDREN]; /* tina_child_handle from init */
static atomic_uint boot_inits;

static uint32_t boot_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    uint32_t child = 0;
    H_CHECK_EQ(ctx, args_size, sizeof(child));
    memcpy(&child, args, sizeof(child));
    uint32_t shard = tina_shard_id(ctx);
    H_CHECK(ctx, shard < 2 && child < BOOT_CHILDREN);
    if (shard >= 2 || child >= BOOT_CHILDREN) return 0;
    boot_self[shard][child] = tina_self(ctx);
    boot_ctx_handle[shard][child] = tina_child_handle(ctx, child, shard);
    atomic_fetch_add(&boot_inits, 1);
    if (shard == 0 && child == 0) h_kick(ctx);
    return 0;
}

static tina_effect boot_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    /* Child 0 on shard 0 waits until every init on both shards has run. */
    if (atomic_load(&boot_inits) < 5) return tina_yield();
    tina_request_stop(ctx);
    return tina_receive();
}

Test(handle, boot_handles_follow_spec_order, .timeout = 60) {
    static const uint32_t idx[BOOT_CHILDREN] = {0, 1, 2, 3};
    const tina_type_spec types[] = {
        H_TYPE("alpha", plain, 4, 0, 1, boot_init, boot_handler),
        H_TYPE("beta", plain, 2, 0, 1, boot_init, boot_handler),
    };
    const tina_child_spec children[] = {
        H_CHILD_ARGS(0, 0, TINA_RESTART_TEMPORARY, &idx[0]),
        H_CHILD_ARGS(0, 0, TINA_RESTART_TEMPORARY, &idx[1]),
        H_CHILD_ARGS(1, TINA_SHARD_EVERY, TINA_RESTART_TEMPORARY, &idx[2]),
        H_CHILD_ARGS(0, 1, TINA_RESTART_TEMPORARY, &idx[3]),
    };
    tina_spec spec = h_spec(types, 2, children, 4, 2);
    tina_runtime *rt = h_create(&spec);
    const tina_handle expected[2][BOOT_CHILDREN] = {
        {tina_handle_make(0, 0, 0, 1), tina_handle_make(0, 0, 1, 1), tina_handle_make(0, 1, 0, 1),
         TINA_HANDLE_NONE},
        {TINA_HANDLE_NONE, TINA_HANDLE_NONE, tina_handle_make(1, 1, 0, 1),
         tina_handle_make(1, 0, 0, 1)},
    };
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t c = 0; c < BOOT_CHILDREN; c++)
            cr_assert(eq(u64, tina_runtime_child_handle(rt, c, s), expected[s][c]),
                      "child %u on shard %u", c, s);
    cr_assert(eq(u64, tina_runtime_child_handle(rt, BOOT_CHILDREN, 0), TINA_HANDLE_NONE));
    cr_assert(eq(u64, tina_runtime_child_handle(rt, 0, 2), TINA_HANDLE_NONE));

    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(u32, atomic_load(&boot_inits), 5));
    for (uint32_t s = 0; s < 2; s++) {
        for (uint32_t c = 0; c < BOOT_CHILDREN; c++) {
            if (expected[s][c] == TINA_HANDLE_NONE) continue;
            cr_assert(eq(u64, boot_self[s][c], expected[s][c]), "self of child %u on shard %u", c,
                      s);
            cr_assert(eq(u64, boot_ctx_handle[s][c], expected[s][c]),
                      "tina_child_handle(%u, %u) from init", c, s);
        }
    }
    cr_assert(eq(u64, h_stats(rt, 0).spawns, 3));
    cr_assert(eq(u64, h_stats(rt, 1).spawns, 2));
    cr_assert(eq(u64, h_stats(rt, 0).live, 3));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Malformed handles, reserved tags, oversized payloads.                      */
/* ------------------------------------------------------------------------ */

static uint64_t bad_expected_invalid; /* refusals the sender counted */
static uint64_t bad_ok_sent;
static int bad_big_received;
static uint8_t big_buffer[1024];

static uint32_t bad_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(args);
    H_UNUSED(args_size);
    if (tina_shard_id(ctx) == 0) h_kick(ctx);
    return 0;
}

static void bad_expect(tina_ctx *ctx, tina_handle to, uint16_t tag, size_t size, tina_result want,
                       int line) {
    tina_result r = tina_send(ctx, to, tag, big_buffer, size);
    if (r != want)
        h_fail(ctx, __FILE__, line, "send to %#" PRIx64 " tag %#x size %zu: got %s, expected %s",
               to, tag, size, tina_result_name(r), tina_result_name(want));
    if (want == TINA_OK) bad_ok_sent++;
    else bad_expected_invalid++;
}

static tina_effect bad_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_handle me = tina_self(ctx);
        tina_handle peer = tina_child_handle(ctx, 0, 1);
        H_CHECK(ctx, peer != TINA_HANDLE_NONE);
        for (size_t i = 0; i < sizeof(big_buffer); i++) big_buffer[i] = (uint8_t)(i * 7 + 1);
        /* Malformed handles. */
        bad_expect(ctx, TINA_HANDLE_NONE, TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(2, 0, 0, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(255, 0, 0, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(0, 1, 0, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(0, 255, 0, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(0, 0, 4, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(0, 0, 0xfffff, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(1, 1, 0, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        bad_expect(ctx, tina_handle_make(1, 0, 4, 1), TAG_PING, 0, TINA_EHANDLE, __LINE__);
        /* Reserved tags, locally and across shards. */
        bad_expect(ctx, me, TINA_TAG_NONE, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, me, TINA_TAG_RESUME, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, me, TINA_TAG_CALL_TIMEOUT, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, me, TINA_TAG_SHUTDOWN, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, me, TINA_TAG_IO_FIRST, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, me, TINA_TAG_USER - 1, 0, TINA_ERESERVED_TAG, __LINE__);
        bad_expect(ctx, peer, TINA_TAG_DOWN, 0, TINA_ERESERVED_TAG, __LINE__);
        /* Oversized payloads. */
        bad_expect(ctx, me, TAG_PING, TINA_PAYLOAD_MAX + 1, TINA_ETOO_BIG, __LINE__);
        bad_expect(ctx, me, TAG_PING, 255, TINA_ETOO_BIG, __LINE__);
        bad_expect(ctx, me, TAG_PING, 256, TINA_ETOO_BIG, __LINE__);
        bad_expect(ctx, me, TAG_PING, sizeof(big_buffer), TINA_ETOO_BIG, __LINE__);
        bad_expect(ctx, peer, TAG_PING, TINA_PAYLOAD_MAX + 1, TINA_ETOO_BIG, __LINE__);
        /* The largest payload is fine. */
        bad_expect(ctx, me, TAG_DATA, TINA_PAYLOAD_MAX, TINA_OK, __LINE__);
        const tina_shard_stats *st = tina_ctx_stats(ctx);
        H_CHECK_EQ(ctx, st->invalid, bad_expected_invalid);
        H_CHECK_EQ(ctx, st->stale, 0);
        return tina_receive();
    }
    if (msg->tag == TAG_DATA) {
        H_CHECK_EQ(ctx, msg->size, TINA_PAYLOAD_MAX);
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SEND);
        H_CHECK_EQ(ctx, msg->from, tina_self(ctx));
        H_CHECK_EQ(ctx, msg->to, tina_self(ctx));
        H_CHECK_EQ(ctx, msg->corr, 0);
        H_CHECK(ctx, memcmp(msg->payload, big_buffer, TINA_PAYLOAD_MAX) == 0);
        bad_big_received++;
        tina_request_stop(ctx);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "unexpected tag %#x kind %u", msg->tag, msg->kind);
    return tina_receive();
}

Test(handle, send_refuses_malformed_handles_reserved_tags_and_big_payloads, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("target", plain, 4, 0, 1, bad_init, bad_handler)};
    const tina_child_spec children[] = {H_CHILD(0, TINA_SHARD_EVERY)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, bad_big_received, 1));
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.invalid, bad_expected_invalid));
    cr_assert(eq(u64, s0.invalid, 21));
    cr_assert(eq(u64, s0.stale, 0));
    cr_assert(eq(u64, s0.sent, 2)); /* the kick and the 96-byte message */
    cr_assert(eq(u64, s0.sent_remote, 0));
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u64, c.accepted, 0), "refused sends never enter a channel");
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A handle to a free slot, or with generation 0, never reaches anything.     */
/* ------------------------------------------------------------------------ */

static int free_slot_received;

static tina_effect free_slot_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag != H_TAG_KICK) {
        free_slot_received++;
        return tina_receive();
    }
    /* Slot 0 holds this isolate; slots 1..3 are free. */
    tina_result r = tina_send(ctx, tina_handle_make(0, 0, 2, 1), TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_ESTALE);
    r = tina_send(ctx, tina_handle_make(0, 0, 3, 7), TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_ESTALE);
    /* Own slot, wrong generation. */
    r = tina_send(ctx, tina_handle_make(0, 0, 0, 2), TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_ESTALE);
    /* Generation 0 is never valid: refused, as stale or as malformed. */
    r = tina_send(ctx, tina_handle_make(0, 0, 0, 0), TAG_PING, NULL, 0);
    H_CHECK(ctx, r == TINA_ESTALE || r == TINA_EHANDLE);
    const tina_shard_stats *st = tina_ctx_stats(ctx);
    H_CHECK_EQ(ctx, st->stale + st->invalid, 4);
    H_CHECK_EQ(ctx, st->sent, 1); /* the kick */
    tina_request_stop(ctx);
    return tina_receive();
}

Test(handle, free_slot_and_wrong_generation_are_stale, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("lonely", plain, 4, 0, 1, h_kick_init, free_slot_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, free_slot_received, 0));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.stale + s.invalid, 4));
    cr_assert(ge(u64, s.stale, 3));
    cr_assert(eq(u64, s.delivered, 1));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Done: the old handle goes stale, the slot's next occupant is untouched.    */
/* ------------------------------------------------------------------------ */

enum { CTRL_TYPE = 0, WORKER_TYPE = 1 };

static tina_handle done_w1, done_w2;
static int done_worker_pings;  /* pings received by any worker */
static int done_finished;

static tina_effect done_ctrl_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_result r;
    if (msg->tag == H_TAG_KICK) {
        r = tina_spawn(ctx, WORKER_TYPE, NULL, 0, &done_w1);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        H_CHECK_EQ(ctx, tina_handle_shard(done_w1), 0);
        H_CHECK_EQ(ctx, tina_handle_type(done_w1), WORKER_TYPE);
        H_CHECK(ctx, tina_handle_generation(done_w1) != 0);
        r = tina_send(ctx, done_w1, TAG_DIE, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_DYING) {
        /* The worker returned done right after sending this. */
        H_CHECK_EQ(ctx, msg->from, done_w1);
        r = tina_send(ctx, done_w1, TAG_PING, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_ESTALE);
        r = tina_spawn(ctx, WORKER_TYPE, NULL, 0, &done_w2);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        /* One slot per shard: the successor takes the same slot, a new generation. */
        H_CHECK_EQ(ctx, tina_handle_slot(done_w2), tina_handle_slot(done_w1));
        H_CHECK(ctx, done_w2 != done_w1);
        H_CHECK_EQ(ctx, tina_handle_generation(done_w2), tina_handle_generation(done_w1) + 1);
        r = tina_send(ctx, done_w1, TAG_PING, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_ESTALE);
        r = tina_send(ctx, done_w2, TAG_PING, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_HELLO) {
        H_CHECK_EQ(ctx, msg->from, done_w2);
        H_CHECK_EQ(ctx, done_worker_pings, 1);
        const tina_shard_stats *st = tina_ctx_stats(ctx);
        H_CHECK_EQ(ctx, st->stale, 2);
        H_CHECK_EQ(ctx, st->done, 1);
        done_finished = 1;
        tina_request_stop(ctx);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "ctrl: unexpected tag %#x", msg->tag);
    return tina_receive();
}

static tina_effect done_worker_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_handle ctrl = tina_child_handle(ctx, 0, 0);
    if (msg->tag == TAG_DIE) {
        H_CHECK_EQ(ctx, tina_self(ctx), done_w1);
        tina_result r = tina_send(ctx, ctrl, TAG_DYING, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_done();
    }
    if (msg->tag == TAG_PING) {
        H_CHECK_EQ(ctx, tina_self(ctx), done_w2);
        H_CHECK_EQ(ctx, msg->to, done_w2);
        done_worker_pings++;
        tina_result r = tina_send(ctx, ctrl, TAG_HELLO, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "worker: unexpected tag %#x", msg->tag);
    return tina_receive();
}

Test(handle, done_makes_old_handle_stale_and_spares_the_successor, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("ctrl", plain, 1, 0, 1, h_kick_init, done_ctrl_handler),
        H_TYPE("worker", plain, 1, 0, 1, NULL, done_worker_handler),
    };
    const tina_child_spec children[] = {H_CHILD(CTRL_TYPE, 0)};
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, done_finished, 1));
    cr_assert(eq(int, done_worker_pings, 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.stale, 2));
    cr_assert(eq(u64, s.done, 1));
    cr_assert(eq(u64, s.spawns, 3));
    cr_assert(eq(u64, s.live, 2));
    cr_assert(eq(u64, s.restarts, 0));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Restart types: generations, args, zeroed structs, stale old handles.      */
/* ------------------------------------------------------------------------ */

#define RS_IDS 5 /* ids 1..4 */
#define RS_INC_MAX 8

typedef struct rs_worker {
    uint64_t marker[4];
} rs_worker;

typedef struct rs_hello {
    uint32_t id, incarnation;
    tina_handle self;
} rs_hello;

static uint32_t rs_incarnations[RS_IDS];
static tina_handle rs_handles[RS_IDS][RS_INC_MAX + 1];
static uint32_t rs_hellos;
static int rs_settle_passes;
static int rs_finished;

/* What the controller tells incarnation `inc` of worker `id` to do. */
static uint16_t rs_plan(uint32_t id, uint32_t inc) {
    switch (id) {
    case 1: return inc == 1 ? TAG_CRASH : inc == 2 ? TAG_DONE : 0; /* permanent */
    case 2: return inc == 1 ? TAG_CRASH : inc == 2 ? TAG_DONE : 0; /* transient */
    case 3: return inc == 1 ? TAG_CRASH : 0;                       /* temporary */
    case 4: return inc == 1 ? TAG_DONE : 0;                        /* transient */
    default: return 0;
    }
}

static uint32_t rs_worker_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    rs_worker *w = self;
    uint32_t id = 0;
    H_CHECK_EQ(ctx, args_size, sizeof(id));
    if (args_size == sizeof(id)) memcpy(&id, args, sizeof(id));
    H_CHECK(ctx, id >= 1 && id < RS_IDS);
    if (id < 1 || id >= RS_IDS) return 0;
    /* A fresh, zeroed struct on every start. */
    H_CHECK(ctx, w->marker[0] == 0 && w->marker[1] == 0 && w->marker[2] == 0 && w->marker[3] == 0);
    w->marker[0] = 0xdeadbeef;
    w->marker[1] = id;
    w->marker[3] = ~0ull;
    uint32_t inc = ++rs_incarnations[id];
    H_CHECK(ctx, inc <= RS_INC_MAX);
    if (inc > RS_INC_MAX) return 0;
    w->marker[2] = inc;
    rs_handles[id][inc] = tina_self(ctx);
    rs_hello hello = {id, inc, tina_self(ctx)};
    tina_result r = tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_HELLO, &hello, sizeof(hello));
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return 0;
}

static tina_effect rs_worker_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    rs_worker *w = self;
    H_CHECK_EQ(ctx, w->marker[0], 0xdeadbeef);
    if (msg->tag == TAG_CRASH) return tina_crash(77);
    if (msg->tag == TAG_DONE) return tina_done();
    if (msg->tag == TAG_PING) {
        /* Only ever delivered to the incarnation it was addressed to. */
        H_CHECK_EQ(ctx, msg->to, tina_self(ctx));
        H_CHECK_EQ(ctx, h_u64(msg), tina_self(ctx));
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "worker: unexpected tag %#x", msg->tag);
    return tina_receive();
}

static tina_effect rs_ctrl_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TAG_HELLO) {
        rs_hello h;
        H_CHECK_EQ(ctx, msg->size, sizeof(h));
        memcpy(&h, msg->payload, sizeof(h));
        rs_hellos++;
        H_CHECK(ctx, h.id >= 1 && h.id < RS_IDS && h.incarnation >= 1 &&
                         h.incarnation <= RS_INC_MAX);
        if (h.id < 1 || h.id >= RS_IDS || h.incarnation < 1 || h.incarnation > RS_INC_MAX)
            return tina_receive();
        tina_result r;
        if (h.incarnation == 1) {
            H_CHECK_EQ(ctx, h.self, tina_child_handle(ctx, h.id, 0));
            H_CHECK_EQ(ctx, tina_handle_generation(h.self), 1);
        } else {
            tina_handle old = rs_handles[h.id][h.incarnation - 1];
            H_CHECK_EQ(ctx, tina_handle_slot(h.self), tina_handle_slot(old));
            H_CHECK_EQ(ctx, tina_handle_type(h.self), tina_handle_type(old));
            H_CHECK_EQ(ctx, tina_handle_generation(h.self), tina_handle_generation(old) + 1);
            r = h_send_u64(ctx, old, TAG_PING, old);
            H_CHECK_RESULT(ctx, r, TINA_ESTALE);
        }
        r = h_send_u64(ctx, h.self, TAG_PING, h.self);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        uint16_t action = rs_plan(h.id, h.incarnation);
        if (action != 0) {
            r = tina_send(ctx, h.self, action, NULL, 0);
            H_CHECK_RESULT(ctx, r, TINA_OK);
        }
        /* 7 starts in all: id 1 x3, id 2 x2, ids 3 and 4 once. */
        if (rs_hellos == 7) {
            r = tina_send(ctx, tina_self(ctx), TAG_DATA, NULL, 0);
            H_CHECK_RESULT(ctx, r, TINA_OK);
        }
        return tina_receive();
    }
    if (msg->tag == TAG_DATA || msg->tag == TINA_TAG_RESUME) {
        /* Restarts happen on the next pass: 20 more passes show none is pending. */
        if (++rs_settle_passes < 20) return tina_yield();
        rs_finished = 1;
        tina_request_stop(ctx);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "ctrl: unexpected tag %#x", msg->tag);
    return tina_receive();
}

Test(handle, restart_types_give_new_generations_and_stale_old_handles, .timeout = 60) {
    static const uint32_t ids[RS_IDS] = {0, 1, 2, 3, 4};
    const tina_type_spec types[] = {
        H_TYPE("ctrl", plain, 1, 0, 1, NULL, rs_ctrl_handler),
        H_TYPE("worker", rs_worker, 4, 0, 1, rs_worker_init, rs_worker_handler),
    };
    const tina_child_spec children[] = {
        H_CHILD(0, 0),
        H_CHILD_ARGS(1, 0, TINA_RESTART_PERMANENT, &ids[1]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TRANSIENT, &ids[2]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[3]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TRANSIENT, &ids[4]),
    };
    tina_spec spec = h_spec(types, 2, children, 5, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, rs_finished, 1));
    cr_assert(eq(u32, rs_incarnations[1], 3), "permanent: restarted after crash and after done");
    cr_assert(eq(u32, rs_incarnations[2], 2), "transient: restarted after crash, not after done");
    cr_assert(eq(u32, rs_incarnations[3], 1), "temporary: never restarted");
    cr_assert(eq(u32, rs_incarnations[4], 1), "transient: not restarted after done");
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.restarts, 3));
    cr_assert(eq(u64, s.crashes, 3));
    cr_assert(eq(u64, s.done, 3));
    cr_assert(eq(u64, s.spawns, 8));
    cr_assert(eq(u64, s.stale, 3));
    cr_assert(eq(u64, s.live, 2)); /* ctrl and the permanent worker's third incarnation */
    cr_assert(eq(u64, s.init_failed, 0));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Init failure counts as a crash; its handle is stale at once.              */
/* ------------------------------------------------------------------------ */

static int initfail_handler_calls;
static int initfail_finished;

static uint32_t initfail_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(args);
    H_UNUSED(args_size);
    return 9;
}

static tina_effect initfail_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    initfail_handler_calls++;
    h_fail(ctx, __FILE__, __LINE__, "an isolate whose init failed was dispatched");
    return tina_receive();
}

static tina_effect initfail_ctrl_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, H_TAG_KICK);
    tina_handle boot = tina_child_handle(ctx, 1, 0);
    H_CHECK(ctx, boot != TINA_HANDLE_NONE);
    tina_result r = tina_send(ctx, boot, TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_ESTALE);
    tina_handle spawned = TINA_HANDLE_NONE;
    r = tina_spawn(ctx, 1, NULL, 0, &spawned);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    H_CHECK(ctx, spawned != TINA_HANDLE_NONE);
    r = tina_send(ctx, spawned, TAG_PING, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_ESTALE);
    const tina_shard_stats *st = tina_ctx_stats(ctx);
    H_CHECK_EQ(ctx, st->init_failed, 2);
    H_CHECK_EQ(ctx, st->live, 1);
    initfail_finished = 1;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(handle, init_failure_is_a_crash_and_its_handle_is_stale, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("ctrl", plain, 1, 0, 1, h_kick_init, initfail_ctrl_handler),
        H_TYPE("failing", plain, 2, 0, 1, initfail_init, initfail_handler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, initfail_finished, 1));
    cr_assert(eq(int, initfail_handler_calls, 0));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.init_failed, 2));
    cr_assert(eq(u64, s.crashes, 2));
    cr_assert(eq(u64, s.stale, 2));
    cr_assert(eq(u64, s.live, 1));
    cr_assert(eq(u64, s.restarts, 0));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Spawn results.                                                             */
/* ------------------------------------------------------------------------ */

static uint8_t spawn_args_seen[TINA_ARGS_MAX];
static size_t spawn_args_size_seen;
static int spawn_finished;

static uint32_t spawn_worker_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    if (args_size == TINA_ARGS_MAX) {
        memcpy(spawn_args_seen, args, args_size);
        spawn_args_size_seen = args_size;
    }
    return 0;
}

static tina_effect spawn_ctrl_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    uint8_t args[TINA_ARGS_MAX + 1];
    for (uint32_t i = 0; i < sizeof(args); i++) args[i] = (uint8_t)(0xa0 + i);
    tina_handle h1 = TINA_HANDLE_NONE, h2 = TINA_HANDLE_NONE, h3 = TINA_HANDLE_NONE;
    tina_result r = tina_spawn(ctx, 7, NULL, 0, &h3);
    H_CHECK_RESULT(ctx, r, TINA_EINVAL);
    r = tina_spawn(ctx, 1, args, TINA_ARGS_MAX + 1, &h3);
    H_CHECK_RESULT(ctx, r, TINA_ETOO_BIG);
    r = tina_spawn(ctx, 1, args, TINA_ARGS_MAX, &h1);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    H_CHECK_EQ(ctx, spawn_args_size_seen, TINA_ARGS_MAX);
    H_CHECK(ctx, memcmp(spawn_args_seen, args, TINA_ARGS_MAX) == 0);
    r = tina_spawn(ctx, 1, NULL, 0, &h2);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    H_CHECK(ctx, h1 != h2 && tina_handle_slot(h1) != tina_handle_slot(h2));
    H_CHECK_EQ(ctx, tina_handle_generation(h1), 1);
    H_CHECK_EQ(ctx, tina_handle_generation(h2), 1);
    r = tina_spawn(ctx, 1, NULL, 0, &h3);
    H_CHECK_RESULT(ctx, r, TINA_ENO_SLOT);
    const tina_shard_stats *st = tina_ctx_stats(ctx);
    H_CHECK_EQ(ctx, st->spawn_failed, 1);
    H_CHECK_EQ(ctx, st->spawns, 3);
    H_CHECK_EQ(ctx, st->live, 3);
    spawn_finished = 1;
    tina_request_stop(ctx);
    return tina_receive();
}

static tina_effect idle_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    return tina_receive();
}

Test(handle, spawn_reports_bad_type_big_args_and_no_slot, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("ctrl", plain, 1, 0, 1, h_kick_init, spawn_ctrl_handler),
        H_TYPE("worker", plain, 2, 0, 1, spawn_worker_init, idle_handler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, spawn_finished, 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.spawns, 3));
    cr_assert(eq(u64, s.spawn_failed, 1));
    cr_assert(eq(u64, s.live, 3));
    tina_destroy(rt);
}
