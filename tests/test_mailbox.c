/*
 * test_mailbox.c -- local delivery: bounded mailboxes, the message pool's
 * user and system regions, FIFO per sender, the envelope's fields.
 *
 * Local sends go straight into the receiver's mailbox, so within one
 * handler call the sender sees exactly how many messages fit: capacity, then
 * TINA_EMAILBOX_FULL; or the user region's size, then TINA_EPOOL_EXHAUSTED.
 * System messages (timers, call timeouts) never need a user slot and ignore
 * mailbox capacity, so they get through both limits.
 */
#include "helpers.h"

enum {
    TAG_DATA = H_TAG_FIRST,
    TAG_DRAINED,
    TAG_GO,
    TAG_PARK,
    TAG_QUESTION,
    TAG_T_ZERO,
    TAG_T_ONE,
    TAG_T_PERIODIC,
    TAG_TICK,
    TAG_HELLO = 0x1234,
};

typedef struct plain {
    uint64_t unused;
} plain;

static tina_effect idle_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    return tina_receive();
}

/* ------------------------------------------------------------------------ */
/* Full mailbox: the named result, and every queued message still arrives.   */
/* ------------------------------------------------------------------------ */

#define FULL_CAPACITY 8
static uint64_t full_next_expected; /* receiver: next sequence number */
static uint64_t full_refused;       /* sender: EMAILBOX_FULL results */
static int full_finished;

static tina_effect full_receiver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_DATA);
    H_CHECK_EQ(ctx, h_u64(msg), full_next_expected);
    full_next_expected++;
    if (full_next_expected == FULL_CAPACITY) {
        tina_result r = tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_DRAINED, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    if (full_next_expected == 2 * FULL_CAPACITY) {
        full_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static tina_effect full_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_handle to = tina_child_handle(ctx, 0, 0);
    uint64_t first = msg->tag == H_TAG_KICK ? 0 : FULL_CAPACITY;
    uint64_t attempts = msg->tag == H_TAG_KICK ? 20 : FULL_CAPACITY + 1;
    H_CHECK(ctx, msg->tag == H_TAG_KICK || msg->tag == TAG_DRAINED);
    for (uint64_t i = 0; i < attempts; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_DATA, first + i);
        H_CHECK_RESULT(ctx, r, i < FULL_CAPACITY ? TINA_OK : TINA_EMAILBOX_FULL);
        if (r == TINA_EMAILBOX_FULL) full_refused++;
    }
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->mailbox_full, full_refused);
    return tina_receive();
}

Test(mailbox, full_returns_named_result_and_loses_nothing_queued, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("receiver", plain, 1, FULL_CAPACITY, 1, NULL, full_receiver),
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, full_sender),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, full_finished, 1));
    cr_assert(eq(u64, full_next_expected, 2 * FULL_CAPACITY));
    cr_assert(eq(u64, full_refused, 12 + 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.mailbox_full, 13));
    cr_assert(eq(u64, s.sent, 1 + FULL_CAPACITY + 1 + FULL_CAPACITY));
    cr_assert(eq(u64, s.delivered, s.sent));
    cr_assert(eq(u64, s.pool_exhausted, 0));
    cr_assert(eq(u64, s.channel_full, 0));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* mailbox_capacity 0 means 256. */
static uint64_t default_ok;

static tina_effect default_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 0, 0);
    for (uint64_t i = 0; i < 300; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_DATA, i);
        if (r == TINA_OK) default_ok++;
        else H_CHECK_RESULT(ctx, r, TINA_EMAILBOX_FULL);
    }
    tina_request_stop(ctx);
    return tina_receive();
}

Test(mailbox, zero_capacity_means_256, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("receiver", plain, 1, 0, 1, NULL, idle_handler),
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, default_sender),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u64, default_ok, 256));
    cr_assert(eq(u64, h_stats(rt, 0).mailbox_full, 300 - 256));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* User-region exhaustion never blocks timers.                                */
/*                                                                            */
/* The holder parks in a call that is never answered, so the messages filled */
/* into its mailbox stay there and the user region stays empty while the     */
/* filler's timers fire.                                                      */
/* ------------------------------------------------------------------------ */

#define EXH_USER_SLOTS 64
static int exh_holder_wakeups;  /* messages the parked holder got after its call */
static int exh_question_seen;   /* the black hole got the holder's request */
static uint64_t exh_ok;         /* filler: sends accepted */
static uint64_t exh_refused;    /* filler: EPOOL_EXHAUSTED results */
static int exh_fired[3];        /* zero-delay, 2 ms, periodic */
static int exh_fired_while_empty;
static tina_timer_id exh_periodic;
static uint64_t exh_go_fires;
static int exh_finished;

static tina_effect exh_holder(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        /* 30 s: far beyond the test; only the stop ends this call. */
        return tina_call(tina_child_handle(ctx, 1, 0), TAG_QUESTION, NULL, 0, H_MS(30000));
    }
    exh_holder_wakeups++;
    h_fail(ctx, __FILE__, __LINE__, "parked holder woken by tag %#x kind %u", msg->tag, msg->kind);
    return tina_receive();
}

static tina_effect exh_black_hole(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_CALL);
    H_CHECK_EQ(ctx, msg->tag, TAG_QUESTION);
    exh_question_seen = 1;
    return tina_receive(); /* never answers */
}

static void exh_check_done(tina_ctx *ctx) {
    if (exh_fired[0] < 1 || exh_fired[1] < 1 || exh_fired[2] < 3) return;
    /* Still exhausted: the system region did not leak into user sends. */
    tina_result r = h_send_u64(ctx, tina_child_handle(ctx, 0, 0), TAG_DATA, 0);
    H_CHECK_RESULT(ctx, r, TINA_EPOOL_EXHAUSTED);
    if (r == TINA_EPOOL_EXHAUSTED) exh_refused++;
    exh_finished = 1;
    tina_request_stop(ctx);
}

/* The filler starts from a timer, a system message: while it fills, the
 * message it is handling holds no user slot, so the region stays empty. */
static uint32_t exh_filler_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(args);
    H_UNUSED(args_size);
    tina_timer_id id;
    tina_result r = tina_timer_set(ctx, 0, 0, TAG_GO, &id);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return 0;
}

static void exh_fill(tina_ctx *ctx) {
    tina_handle holder = tina_child_handle(ctx, 0, 0);
    tina_result r;
    for (uint64_t i = 0; i < 10 * EXH_USER_SLOTS; i++) {
        r = h_send_u64(ctx, holder, TAG_DATA, i);
        if (r == TINA_OK) {
            exh_ok++;
            continue;
        }
        H_CHECK_RESULT(ctx, r, TINA_EPOOL_EXHAUSTED);
        exh_refused++;
        break;
    }
    for (int i = 0; i < 3; i++) {
        r = h_send_u64(ctx, holder, TAG_DATA, 0);
        H_CHECK_RESULT(ctx, r, TINA_EPOOL_EXHAUSTED);
        if (r == TINA_EPOOL_EXHAUSTED) exh_refused++;
    }
    r = tina_send(ctx, tina_self(ctx), TAG_DATA, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_EPOOL_EXHAUSTED);
    if (r == TINA_EPOOL_EXHAUSTED) exh_refused++;
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->pool_user_free, 0);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->pool_exhausted, exh_refused);
}

static tina_effect exh_filler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_result r;
    tina_timer_id id;
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_TIMER);
    if (msg->tag == TAG_GO) {
        exh_go_fires++;
        if (!exh_question_seen) { /* the holder is not parked yet: try next pass */
            r = tina_timer_set(ctx, 0, 0, TAG_GO, &id);
            H_CHECK_RESULT(ctx, r, TINA_OK);
            return tina_receive();
        }
        exh_fill(ctx);
        r = tina_timer_set(ctx, 0, 0, TAG_T_ZERO, &id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_timer_set(ctx, H_MS(2), 0, TAG_T_ONE, &id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_T_PERIODIC, &exh_periodic);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (tina_ctx_stats(ctx)->pool_user_free == 0) exh_fired_while_empty++;
    switch (msg->tag) {
    case TAG_T_ZERO: exh_fired[0]++; break;
    case TAG_T_ONE: exh_fired[1]++; break;
    case TAG_T_PERIODIC:
        if (++exh_fired[2] == 3) {
            r = tina_timer_cancel(ctx, exh_periodic);
            H_CHECK_RESULT(ctx, r, TINA_OK);
        }
        break;
    default: h_fail(ctx, __FILE__, __LINE__, "unexpected tag %#x", msg->tag);
    }
    exh_check_done(ctx);
    return tina_receive();
}

Test(mailbox, user_pool_exhaustion_never_blocks_timers, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("holder", plain, 1, 4096, 1, h_kick_init, exh_holder),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, exh_black_hole),
        H_TYPE("filler", plain, 1, 0, 1, exh_filler_init, exh_filler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 0)};
    tina_spec spec = h_spec(types, 3, children, 3, 1);
    spec.pool_user_slots = EXH_USER_SLOTS;
    spec.pool_system_slots = 32;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, exh_finished, 1));
    cr_assert(eq(int, exh_holder_wakeups, 0));
    /* One slot is the holder's: its call reserved the reply's slot. */
    cr_assert(eq(u64, exh_ok, EXH_USER_SLOTS - 1), "nothing else held a user slot while filling");
    cr_assert(eq(int, exh_fired[0], 1));
    cr_assert(eq(int, exh_fired[1], 1));
    cr_assert(eq(int, exh_fired[2], 3));
    cr_assert(eq(int, exh_fired_while_empty, 5), "every timer fired while the user region was empty");
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.pool_exhausted, exh_refused));
    cr_assert(eq(u64, s.pool_exhausted, 6));
    cr_assert(eq(u64, s.timers_fired, exh_go_fires + 5)); /* the start timer(s) and the five */
    cr_assert(eq(u64, s.call_timeouts, 0));
    tina_destroy(rt);
}

/* After the receiver drains, the whole user region is free again. */
#define REC_USER_SLOTS 64
static uint64_t rec_ok[2];
static uint64_t rec_received;
static uint64_t rec_refused;
static int rec_round;
static int rec_finished;

static void rec_fill(tina_ctx *ctx) {
    tina_handle sink = tina_child_handle(ctx, 0, 0);
    for (uint64_t i = 0; i < 4 * REC_USER_SLOTS; i++) {
        tina_result r = h_send_u64(ctx, sink, TAG_DATA, i);
        if (r == TINA_OK) {
            rec_ok[rec_round]++;
            continue;
        }
        H_CHECK_RESULT(ctx, r, TINA_EPOOL_EXHAUSTED);
        rec_refused++;
        break;
    }
}

static tina_effect rec_filler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        rec_fill(ctx);
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_DRAINED);
    /* Only the message being handled is out of the region. */
    H_CHECK(ctx, tina_ctx_stats(ctx)->pool_user_free >= REC_USER_SLOTS - 1);
    rec_round = 1;
    rec_fill(ctx);
    H_CHECK_EQ(ctx, rec_ok[1], rec_ok[0]);
    return tina_receive();
}

static tina_effect rec_sink(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_DATA);
    rec_received++;
    if (rec_round == 0 && rec_received == rec_ok[0]) {
        tina_result r = tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_DRAINED, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    if (rec_round == 1 && rec_received == rec_ok[0] + rec_ok[1]) {
        rec_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

Test(mailbox, user_pool_is_whole_again_after_drain, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("sink", plain, 1, 4096, 1, NULL, rec_sink),
        H_TYPE("filler", plain, 1, 0, 1, h_kick_init, rec_filler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    spec.pool_user_slots = REC_USER_SLOTS;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, rec_finished, 1));
    cr_assert(ge(u64, rec_ok[0], REC_USER_SLOTS - 1));
    cr_assert(le(u64, rec_ok[0], REC_USER_SLOTS));
    cr_assert(eq(u64, rec_refused, 2));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.pool_exhausted, 2));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* System messages ignore mailbox capacity.                                   */
/* ------------------------------------------------------------------------ */

#define SYS_CAPACITY 4
static int sys_timer_seen;
static uint64_t sys_topups;      /* filler passes while the timer was pending */
static uint64_t sys_topups_full; /* ... that ended on EMAILBOX_FULL */
static uint64_t sys_next_seq;    /* filler */
static uint64_t sys_expected;    /* receiver */

static tina_effect sys_receiver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_timer_id id;
        tina_result r = tina_timer_set(ctx, 0, 0, TAG_TICK, &id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_send(ctx, tina_child_handle(ctx, 1, 0), TAG_GO, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_TICK) {
        H_CHECK_EQ(ctx, msg->kind, TINA_MSG_TIMER);
        sys_timer_seen++;
        tina_request_stop(ctx);
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_DATA);
    H_CHECK_EQ(ctx, h_u64(msg), sys_expected);
    sys_expected++;
    return tina_receive();
}

static tina_effect sys_filler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    if (sys_timer_seen) return tina_receive();
    if (sys_topups > 5000) {
        h_fail(ctx, __FILE__, __LINE__, "the timer never got into the full mailbox");
        return tina_receive();
    }
    /* Top the receiver's mailbox up to capacity on every pass. */
    tina_handle to = tina_child_handle(ctx, 0, 0);
    sys_topups++;
    for (int i = 0; i < 2 * SYS_CAPACITY; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_DATA, sys_next_seq);
        if (r == TINA_EMAILBOX_FULL) {
            sys_topups_full++;
            break;
        }
        H_CHECK_RESULT(ctx, r, TINA_OK);
        sys_next_seq++;
    }
    return tina_yield();
}

Test(mailbox, system_messages_ignore_mailbox_capacity, .timeout = 60) {
    /* Receiver first in type order, budget 1: it takes one message per pass,
     * the filler refills after it, and the timer phase finds it full. */
    const tina_type_spec types[] = {
        H_TYPE("receiver", plain, 1, SYS_CAPACITY, 1, h_kick_init, sys_receiver),
        H_TYPE("filler", plain, 1, 0, 1, NULL, sys_filler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    spec.base_budget = 1;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, sys_timer_seen, 1));
    cr_assert(ge(u64, sys_topups, 1));
    cr_assert(eq(u64, sys_topups_full, sys_topups), "the mailbox was full after every top-up");
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_fired, 1));
    cr_assert(eq(u64, s.mailbox_full, sys_topups_full));
    cr_assert(eq(u64, s.dropped_on_arrival, 0));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* FIFO per sender, with three senders interleaving.                          */
/* ------------------------------------------------------------------------ */

#define FIFO_SENDERS 3
#define FIFO_PER_SENDER 300000ull
#define FIFO_BATCH 16

typedef struct fifo_sender_state {
    uint32_t id;
    uint64_t next;
} fifo_sender_state;

typedef struct fifo_item {
    uint32_t id;
    uint64_t seq;
} fifo_item;

static tina_handle fifo_sender_handle[FIFO_SENDERS];
static uint64_t fifo_expected[FIFO_SENDERS];
static uint64_t fifo_full[FIFO_SENDERS];
static uint32_t fifo_senders_done;
static int fifo_finished;

static uint32_t fifo_sender_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    fifo_sender_state *s = self;
    H_CHECK_EQ(ctx, args_size, sizeof(uint32_t));
    memcpy(&s->id, args, sizeof(uint32_t));
    H_CHECK(ctx, s->id < FIFO_SENDERS);
    if (s->id < FIFO_SENDERS) fifo_sender_handle[s->id] = tina_self(ctx);
    h_kick(ctx);
    return 0;
}

static tina_effect fifo_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    fifo_sender_state *s = self;
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 0, 0);
    for (int i = 0; i < FIFO_BATCH && s->next < FIFO_PER_SENDER; i++) {
        fifo_item item = {s->id, s->next};
        tina_result r = tina_send(ctx, to, TAG_DATA, &item, sizeof(item));
        if (r == TINA_EMAILBOX_FULL) {
            fifo_full[s->id]++;
            break;
        }
        H_CHECK_RESULT(ctx, r, TINA_OK);
        if (r != TINA_OK) return tina_receive();
        s->next++;
    }
    return s->next < FIFO_PER_SENDER ? tina_yield() : tina_receive();
}

static tina_effect fifo_receiver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    fifo_item item;
    H_CHECK_EQ(ctx, msg->size, sizeof(item));
    memcpy(&item, msg->payload, sizeof(item));
    if (item.id >= FIFO_SENDERS) {
        h_fail(ctx, __FILE__, __LINE__, "bad sender id %u", item.id);
        return tina_receive();
    }
    if (item.seq != fifo_expected[item.id]) {
        h_fail(ctx, __FILE__, __LINE__, "sender %u: got %" PRIu64 " after %" PRIu64, item.id,
               item.seq, fifo_expected[item.id]);
        return tina_receive();
    }
    if (msg->from != fifo_sender_handle[item.id])
        h_fail(ctx, __FILE__, __LINE__, "from %#" PRIx64 " is not sender %u", msg->from, item.id);
    if (++fifo_expected[item.id] == FIFO_PER_SENDER && ++fifo_senders_done == FIFO_SENDERS) {
        fifo_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

Test(mailbox, fifo_per_sender_with_interleaved_senders, .timeout = 60) {
    static const uint32_t ids[FIFO_SENDERS] = {0, 1, 2};
    const tina_type_spec types[] = {
        H_TYPE("receiver", plain, 1, 64, 1, NULL, fifo_receiver),
        H_TYPE("sender", fifo_sender_state, FIFO_SENDERS, 0, 1, fifo_sender_init, fifo_sender),
    };
    const tina_child_spec children[] = {
        H_CHILD(0, 0),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[0]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[1]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[2]),
    };
    tina_spec spec = h_spec(types, 2, children, 4, 1);
    spec.base_budget = 8; /* the receiver drains slower than the senders fill */
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, fifo_finished, 1));
    for (uint32_t i = 0; i < FIFO_SENDERS; i++)
        cr_assert(eq(u64, fifo_expected[i], FIFO_PER_SENDER), "sender %u", i);
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.mailbox_full, fifo_full[0] + fifo_full[1] + fifo_full[2]));
    cr_assert(ge(u64, s.mailbox_full, 1), "the senders were meant to hit a full mailbox");
    cr_assert(eq(u64, s.sent, FIFO_SENDERS * (FIFO_PER_SENDER + 1)));
    cr_assert(eq(u64, s.delivered, s.sent));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* The envelope carries what was sent.                                        */
/* ------------------------------------------------------------------------ */

static int env_received;

static tina_effect env_receiver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_handle sender = tina_child_handle(ctx, 1, 0);
    H_CHECK_EQ(ctx, msg->from, sender);
    H_CHECK_EQ(ctx, tina_sender(ctx), sender);
    H_CHECK_EQ(ctx, msg->to, tina_self(ctx));
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_SEND);
    H_CHECK_EQ(ctx, msg->corr, 0);
    H_CHECK_EQ(ctx, msg->tag, TAG_HELLO);
    if (env_received == 0) {
        H_CHECK_EQ(ctx, msg->size, 5);
        H_CHECK(ctx, memcmp(msg->payload, "hello", 5) == 0);
    } else {
        H_CHECK_EQ(ctx, msg->size, 0);
        tina_request_stop(ctx);
    }
    env_received++;
    return tina_receive();
}

static tina_effect env_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 0, 0);
    tina_result r = tina_send(ctx, to, TAG_HELLO, "hello", 5);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    r = tina_send(ctx, to, TAG_HELLO, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

Test(mailbox, envelope_carries_sender_receiver_tag_and_payload, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("receiver", plain, 1, 0, 1, NULL, env_receiver),
        H_TYPE("sender", plain, 1, 0, 1, h_kick_init, env_sender),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, env_received, 2));
    tina_destroy(rt);
}
