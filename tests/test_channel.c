/*
 * test_channel.c -- cross-shard messaging through the SPSC rings.
 *
 * A remote send is accepted into the ring of the ordered shard pair and
 * published at the end of the sender's pass; the receiving shard drains it
 * into the target's mailbox, or drops and counts it (stale target, full
 * mailbox).  Every channel balances: accepted == delivered + dropped +
 * in_flight.
 */
#include "helpers.h"

enum {
    TAG_SEQ = H_TAG_FIRST,
    TAG_BYE,
    TAG_DATA,
    TAG_WITNESS,
    TAG_WAKE,
    TAG_AGAIN,
};

typedef struct plain {
    uint64_t unused;
} plain;

/* ------------------------------------------------------------------------ */
/* Ten million sequenced messages from shard 0 to shard 1: once, in order.   */
/* ------------------------------------------------------------------------ */

#if defined(__SANITIZE_THREAD__)
#define SEQ_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SEQ_SLOW_BUILD 1
#endif
#endif
#ifdef SEQ_SLOW_BUILD
#define SEQ_TOTAL 1000000ull /* ThreadSanitizer is ~10x slower; the check is the same */
#else
#define SEQ_TOTAL 10000000ull
#endif
#define SEQ_RING 1024u

static uint64_t seq_next;      /* producer, shard 0 */
static uint64_t seq_full;      /* producer: EMAILBOX_FULL results */
static uint64_t seq_expected;  /* consumer, shard 1 */
static int seq_finished;

static tina_effect seq_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 1, 1);
    while (seq_next < SEQ_TOTAL) {
        tina_result r = tina_send(ctx, to, TAG_SEQ, &seq_next, sizeof(seq_next));
        if (r == TINA_OK) {
            seq_next++;
            continue;
        }
        if (r == TINA_EMAILBOX_FULL) {
            seq_full++;
            return tina_yield();
        }
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    return tina_receive();
}

static tina_effect seq_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    uint64_t v;
    memcpy(&v, msg->payload, sizeof(v));
    if (__builtin_expect(v != seq_expected || msg->tag != TAG_SEQ, 0)) {
        h_fail(ctx, __FILE__, __LINE__, "got %" PRIu64 " (tag %#x), expected %" PRIu64, v,
               msg->tag, seq_expected);
        return tina_receive();
    }
    if (++seq_expected == SEQ_TOTAL) {
        seq_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

Test(channel, ten_million_sequenced_messages_arrive_once_in_order, .timeout = 180) {
    /* The consumer takes up to 32 x 64 messages a pass and its mailbox holds
     * eight rings' worth, so nothing may be dropped on arrival. */
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, h_kick_init, seq_producer),
        H_TYPE("consumer", plain, 1, 8 * SEQ_RING, 32, NULL, seq_consumer),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.ring_slots = SEQ_RING;
    spec.pool_user_slots = 16 * SEQ_RING;
    tina_runtime *rt = h_boot_and_run(&spec);
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s1.dropped_on_arrival, 0),
              "precondition: the consumer's mailbox never overflowed (full %" PRIu64 ")",
              s1.dropped_full);
    h_assert_no_failures();
    cr_assert(eq(int, seq_finished, 1));
    cr_assert(eq(u64, seq_expected, SEQ_TOTAL));
    cr_assert(eq(u64, seq_next, SEQ_TOTAL));
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u64, c.accepted, SEQ_TOTAL));
    cr_assert(eq(u64, c.delivered, SEQ_TOTAL));
    cr_assert(eq(u64, c.dropped, 0));
    cr_assert(eq(u64, c.in_flight, 0));
    cr_assert(eq(u64, c.full, seq_full));
    cr_assert(eq(u32, c.slots, SEQ_RING));
    cr_assert(eq(u64, s0.channel_full, seq_full));
    cr_assert(eq(u64, s0.mailbox_full, 0));
    cr_assert(eq(u64, s0.sent_remote, SEQ_TOTAL));
    cr_assert(eq(u64, s0.sent, SEQ_TOTAL + 1)); /* and the kick */
    cr_assert(eq(u64, s1.delivered, SEQ_TOTAL));
    cr_assert(eq(u64, s1.sent, 0));
    cr_assert(eq(u64, h_channel(rt, 1, 0).accepted, 0));
    h_assert_channels_balance(rt);
    h_assert_shard_clean(rt, &spec, 0);
    h_assert_shard_clean(rt, &spec, 1);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A sender facing a full ring sees mailbox-full.                             */
/* ------------------------------------------------------------------------ */

static uint32_t ring_attempts;  /* set by each test before the run */
static uint32_t ring_capacity;  /* expected accepted sends */
static uint64_t ring_ok, ring_full, ring_received;
static int ring_finished;

static tina_effect ring_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 1, 1);
    for (uint64_t i = 0; i < ring_attempts; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_SEQ, i);
        H_CHECK_RESULT(ctx, r, i < ring_capacity ? TINA_OK : TINA_EMAILBOX_FULL);
        if (r == TINA_OK) ring_ok++;
        if (r == TINA_EMAILBOX_FULL) ring_full++;
    }
    const tina_shard_stats *st = tina_ctx_stats(ctx);
    H_CHECK_EQ(ctx, st->channel_full, ring_full);
    H_CHECK_EQ(ctx, st->mailbox_full, 0);
    return tina_receive();
}

static tina_effect ring_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, h_u64(msg), ring_received);
    if (++ring_received == ring_capacity) {
        ring_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static void ring_run(uint32_t ring_slots, const tina_ring_override *ovr, uint32_t ovr_count,
                     uint32_t capacity, uint32_t attempts) {
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, h_kick_init, ring_producer),
        H_TYPE("consumer", plain, 1, 1024, 1, NULL, ring_consumer),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.ring_slots = ring_slots;
    spec.ring_overrides = ovr;
    spec.ring_override_count = ovr_count;
    ring_capacity = capacity;
    ring_attempts = attempts;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, ring_finished, 1));
    cr_assert(eq(u64, ring_ok, capacity));
    cr_assert(eq(u64, ring_full, attempts - capacity));
    cr_assert(eq(u64, ring_received, capacity));
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u32, c.slots, capacity));
    cr_assert(eq(u64, c.accepted, capacity));
    cr_assert(eq(u64, c.full, attempts - capacity));
    cr_assert(eq(u64, c.delivered, capacity));
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.channel_full, attempts - capacity));
    cr_assert(eq(u64, s0.mailbox_full, 0));
    cr_assert(eq(u64, s0.sent_remote, capacity));
    cr_assert(eq(u32, h_channel(rt, 1, 0).slots, ring_slots));
    h_assert_channels_balance(rt);
    tina_destroy(rt);
}

Test(channel, full_ring_returns_mailbox_full, .timeout = 60) {
    ring_run(16, NULL, 0, 16, 40);
}

Test(channel, ring_override_sizes_one_direction, .timeout = 60) {
    static const tina_ring_override ovr[] = {{.from = 0, .to = 1, .slots = 4}};
    ring_run(16, ovr, 1, 4, 10);
}

/* ------------------------------------------------------------------------ */
/* A full mailbox on arrival: the first messages are kept, the rest dropped. */
/* ------------------------------------------------------------------------ */

#define ARRIVE_CAPACITY 4
#define ARRIVE_SENT 10
static uint64_t arrive_received;

static tina_effect arrive_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 1, 1);
    for (uint64_t i = 0; i < ARRIVE_SENT; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_SEQ, i);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    return tina_receive();
}

static tina_effect arrive_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, h_u64(msg), arrive_received);
    if (++arrive_received == ARRIVE_CAPACITY) tina_request_stop(ctx);
    return tina_receive();
}

Test(channel, full_mailbox_on_arrival_drops_and_counts, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, h_kick_init, arrive_producer),
        H_TYPE("consumer", plain, 1, ARRIVE_CAPACITY, 1, NULL, arrive_consumer),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.ring_slots = 16;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u64, arrive_received, ARRIVE_CAPACITY));
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u64, c.accepted, ARRIVE_SENT));
    cr_assert(eq(u64, c.delivered, ARRIVE_CAPACITY));
    cr_assert(eq(u64, c.dropped, ARRIVE_SENT - ARRIVE_CAPACITY));
    cr_assert(eq(u64, c.in_flight, 0));
    tina_shard_stats s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s1.dropped_on_arrival, ARRIVE_SENT - ARRIVE_CAPACITY));
    cr_assert(eq(u64, s1.dropped_full, ARRIVE_SENT - ARRIVE_CAPACITY));
    cr_assert(eq(u64, s1.dropped_stale, 0));
    cr_assert(eq(u64, s1.delivered, ARRIVE_CAPACITY));
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.sent_remote, ARRIVE_SENT));
    cr_assert(eq(u64, s0.mailbox_full, 0), "the sender was told OK: accepted into the channel");
    h_assert_channels_balance(rt);
    h_assert_shard_clean(rt, &spec, 1);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A stale target on arrival: dropped and counted on the receiving shard.    */
/* ------------------------------------------------------------------------ */

#define STALE_SENT 5
static int stale_victim_messages;
static int stale_witnessed;

static tina_effect stale_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_BYE);
    tina_handle victim = tina_child_handle(ctx, 1, 1);
    H_CHECK_EQ(ctx, msg->from, victim);
    for (uint64_t i = 0; i < STALE_SENT; i++) {
        /* Accepted: staleness of a remote target is only known on arrival. */
        tina_result r = h_send_u64(ctx, victim, TAG_DATA, i);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    /* Same channel, so it arrives after the five above. */
    tina_result r = tina_send(ctx, tina_child_handle(ctx, 2, 1), TAG_WITNESS, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

static tina_effect stale_victim(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_result r = tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_BYE, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_done();
    }
    stale_victim_messages++;
    h_fail(ctx, __FILE__, __LINE__, "a dead isolate's handle reached tag %#x", msg->tag);
    return tina_receive();
}

static tina_effect stale_witness(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_WITNESS);
    stale_witnessed = 1;
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->dropped_stale, STALE_SENT);
    tina_request_stop(ctx);
    return tina_receive();
}

Test(channel, stale_target_on_arrival_drops_and_counts, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, NULL, stale_producer),
        H_TYPE("victim", plain, 1, 0, 1, h_kick_init, stale_victim),
        H_TYPE("witness", plain, 1, 0, 1, NULL, stale_witness),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1), H_CHILD(2, 1)};
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, stale_witnessed, 1));
    cr_assert(eq(int, stale_victim_messages, 0));
    tina_shard_stats s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s1.dropped_stale, STALE_SENT));
    cr_assert(eq(u64, s1.dropped_on_arrival, STALE_SENT));
    cr_assert(eq(u64, s1.dropped_full, 0));
    tina_shard_stats s0 = h_stats(rt, 0);
    cr_assert(eq(u64, s0.sent_remote, STALE_SENT + 1));
    cr_assert(eq(u64, s0.stale, 0));
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u64, c.accepted, STALE_SENT + 1));
    cr_assert(eq(u64, c.dropped, STALE_SENT));
    cr_assert(eq(u64, c.delivered, 1));
    cr_assert(eq(u64, c.in_flight, 0));
    h_assert_channels_balance(rt);
    h_assert_shard_clean(rt, &spec, 1);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* FIFO per sender: two remote senders and one local, one receiver.          */
/*                                                                            */
/* Order is checked on whatever arrives: each sender's numbers must strictly */
/* increase.  A gap is allowed only for a message dropped on arrival, and    */
/* the gaps must add up to the receiving shard's dropped_full.  A second     */
/* test gives the receiver a budget above the ring size and a mailbox of     */
/* eight rings: then nothing may be dropped at all.                          */
/* ------------------------------------------------------------------------ */

#define MIX_SENDERS 3
#define MIX_PER_SENDER 300000ull
#define MIX_BATCH 64

typedef struct mix_sender_state {
    uint32_t id;
    uint64_t next;
} mix_sender_state;

typedef struct mix_item {
    uint32_t id;
    uint64_t seq;
} mix_item;

static tina_handle mix_handles[MIX_SENDERS];
static atomic_int mix_senders_finished;
static uint64_t mix_next[MIX_SENDERS];  /* receiver: lowest number still expected */
static uint64_t mix_gaps[MIX_SENDERS];  /* receiver: numbers skipped */
static uint64_t mix_received;
static int mix_finished;

static uint32_t mix_sender_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    mix_sender_state *s = self;
    H_CHECK_EQ(ctx, args_size, sizeof(uint32_t));
    memcpy(&s->id, args, sizeof(uint32_t));
    H_CHECK(ctx, s->id < MIX_SENDERS);
    if (s->id < MIX_SENDERS) mix_handles[s->id] = tina_self(ctx);
    h_kick(ctx);
    return 0;
}

static tina_effect mix_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    mix_sender_state *s = self;
    H_UNUSED(msg);
    tina_handle to = tina_child_handle(ctx, 0, 1);
    for (int i = 0; i < MIX_BATCH && s->next < MIX_PER_SENDER; i++) {
        mix_item item = {s->id, s->next};
        tina_result r = tina_send(ctx, to, TAG_DATA, &item, sizeof(item));
        if (r == TINA_EMAILBOX_FULL) break;
        H_CHECK_RESULT(ctx, r, TINA_OK);
        if (r != TINA_OK) return tina_receive();
        s->next++;
    }
    if (s->next < MIX_PER_SENDER) return tina_yield();
    atomic_fetch_add(&mix_senders_finished, 1);
    return tina_receive();
}

/* Everything sent has arrived or was dropped on arrival. */
static void mix_check_end(tina_ctx *ctx) {
    if (atomic_load(&mix_senders_finished) < MIX_SENDERS) return;
    if (mix_received + tina_ctx_stats(ctx)->dropped_on_arrival < MIX_SENDERS * MIX_PER_SENDER)
        return;
    mix_finished = 1;
    tina_request_stop(ctx);
}

static uint32_t mix_receiver_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(args);
    H_UNUSED(args_size);
    tina_timer_id id; /* checks the end even if the last messages were dropped */
    tina_result r = tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_WAKE, &id);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return 0;
}

static tina_effect mix_receiver(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TAG_WAKE) {
        mix_check_end(ctx);
        return tina_receive();
    }
    mix_item item;
    memcpy(&item, msg->payload, sizeof(item));
    if (item.id >= MIX_SENDERS || item.seq < mix_next[item.id]) {
        h_fail(ctx, __FILE__, __LINE__, "sender %u: got %" PRIu64 " after %" PRIu64, item.id,
               item.seq, item.id < MIX_SENDERS ? mix_next[item.id] : 0);
        return tina_receive();
    }
    if (msg->from != mix_handles[item.id])
        h_fail(ctx, __FILE__, __LINE__, "sender %u: from %#" PRIx64, item.id, msg->from);
    mix_gaps[item.id] += item.seq - mix_next[item.id];
    mix_next[item.id] = item.seq + 1;
    mix_received++;
    mix_check_end(ctx);
    return tina_receive();
}

static tina_runtime *mix_run(tina_spec *spec) {
    static const uint32_t ids[MIX_SENDERS] = {0, 1, 2};
    static tina_type_spec types[2];
    types[0] = (tina_type_spec)H_TYPE("receiver", plain, 1, 8192, 32, mix_receiver_init, mix_receiver);
    types[1] = (tina_type_spec)H_TYPE("sender", mix_sender_state, MIX_SENDERS, 0, 1, mix_sender_init,
                                      mix_sender);
    static const tina_child_spec children[] = {
        H_CHILD(0, 1),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[0]),
        H_CHILD_ARGS(1, 0, TINA_RESTART_TEMPORARY, &ids[1]),
        H_CHILD_ARGS(1, 1, TINA_RESTART_TEMPORARY, &ids[2]),
    };
    *spec = h_spec(types, 2, children, 4, 2);
    spec->ring_slots = 1024;
    spec->pool_user_slots = 16384;
    tina_runtime *rt = h_boot_and_run(spec);
    h_assert_no_failures();
    cr_assert(eq(int, mix_finished, 1));
    h_assert_channels_balance(rt);
    return rt;
}

Test(channel, fifo_per_sender_across_shards, .timeout = 120) {
    tina_spec spec;
    tina_runtime *rt = mix_run(&spec);
    tina_shard_stats s1 = h_stats(rt, 1);
    uint64_t gaps = mix_gaps[0] + mix_gaps[1] + mix_gaps[2];
    cr_assert(eq(u64, gaps, s1.dropped_full), "every missing message was dropped and counted");
    cr_assert(eq(u64, mix_gaps[2], 0), "local sends are never dropped");
    cr_assert(eq(u64, s1.dropped_stale, 0));
    cr_assert(eq(u64, mix_received + gaps, MIX_SENDERS * MIX_PER_SENDER));
    for (uint32_t i = 0; i < MIX_SENDERS; i++)
        cr_assert(le(u64, mix_next[i], MIX_PER_SENDER), "sender %u", i);
    tina_channel_stats c = h_channel(rt, 0, 1);
    cr_assert(eq(u64, c.accepted, 2 * MIX_PER_SENDER));
    cr_assert(eq(u64, c.dropped, s1.dropped_full));
    tina_destroy(rt);
}

Test(channel, receiver_with_budget_above_the_ring_never_drops, .timeout = 120) {
    /* Per pass the receiving shard takes in at most one ring (1024) plus the
     * local sender's 64, and the receiver may run 32 x 64 = 2048 times: its
     * 8192-message mailbox can never fill, so nothing may be dropped. */
    tina_spec spec;
    tina_runtime *rt = mix_run(&spec);
    tina_shard_stats s1 = h_stats(rt, 1);
    cr_assert(eq(u64, s1.dropped_on_arrival, 0),
              "dropped %" PRIu64 " on arrival (full mailbox) in %" PRIu64 " passes of shard 1",
              s1.dropped_full, s1.passes);
    for (uint32_t i = 0; i < MIX_SENDERS; i++)
        cr_assert(eq(u64, mix_next[i], MIX_PER_SENDER), "sender %u", i);
    cr_assert(eq(u64, mix_received, MIX_SENDERS * MIX_PER_SENDER));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A message to a sleeping shard wakes it.                                    */
/* ------------------------------------------------------------------------ */

/* The producer sends one message after a pause.  The consumer's shard has
 * nothing else to do, so it sleeps with no deadline: only the producer's
 * doorbell can wake it.  A message that arrives before that shard has
 * slept proves nothing, so the consumer asks for another one (a bounded
 * wait: WAKE_TRIES pauses); the test passes on a message received by a
 * shard that had slept, i.e. one whose doorbell woke it. */
#define WAKE_TRIES 100
static int wake_received;
static int wake_tries;

static tina_effect wake_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK || msg->tag == TAG_AGAIN) {
        if (++wake_tries > WAKE_TRIES) {
            h_fail(ctx, __FILE__, __LINE__, "the consumer's shard never slept");
            return tina_receive();
        }
        /* 50 ms: a thousand idle spins, so the consumer's shard sleeps. */
        tina_timer_id id;
        tina_result r = tina_timer_set(ctx, H_MS(50), 0, TAG_WAKE, &id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_WAKE);
    tina_result r = tina_send(ctx, tina_child_handle(ctx, 1, 1), TAG_DATA, NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

static tina_effect wake_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_DATA);
    if (tina_ctx_stats(ctx)->sleeps == 0) { /* came before the shard slept: again */
        tina_result r = tina_send(ctx, tina_sender(ctx), TAG_AGAIN, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    wake_received++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(channel, message_wakes_a_sleeping_shard, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, h_kick_init, wake_producer),
        H_TYPE("consumer", plain, 1, 0, 1, NULL, wake_consumer),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.idle_spin_ns = 50000;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, wake_received, 1), "a message woke the sleeping consumer");
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    cr_assert(ge(u64, s1.sleeps, 1), "the idle consumer shard went to sleep");
    cr_assert(ge(u64, s0.wakeups_sent, 1), "and the producer rang its doorbell");
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Accounting balances even when the run stops with messages in flight.      */
/* ------------------------------------------------------------------------ */

#define FLOOD_STOP_AFTER 20000ull
static uint64_t flood_ok[2], flood_full[2];
static uint64_t flood_received[2];

static tina_effect flood_producer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    uint32_t me = tina_shard_id(ctx);
    tina_handle to = tina_child_handle(ctx, 1, 1 - me);
    for (int i = 0; i < 200; i++) {
        tina_result r = h_send_u64(ctx, to, TAG_DATA, flood_ok[me]);
        if (r == TINA_OK) flood_ok[me]++;
        else if (r == TINA_EMAILBOX_FULL) flood_full[me]++;
        else H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    return tina_yield();
}

static tina_effect flood_consumer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    if (++flood_received[tina_shard_id(ctx)] == FLOOD_STOP_AFTER) tina_request_stop(ctx);
    return tina_receive();
}

Test(channel, accounting_balances_with_messages_in_flight, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("producer", plain, 1, 0, 1, h_kick_init, flood_producer),
        H_TYPE("consumer", plain, 1, 16, 1, NULL, flood_consumer),
    };
    const tina_child_spec children[] = {H_CHILD(0, TINA_SHARD_EVERY), H_CHILD(1, TINA_SHARD_EVERY)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.ring_slots = 128;
    spec.base_budget = 4;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    h_assert_channels_balance(rt);
    for (uint32_t from = 0; from < 2; from++) {
        uint32_t to = 1 - from;
        tina_channel_stats c = h_channel(rt, from, to);
        tina_shard_stats sf = h_stats(rt, from), st = h_stats(rt, to);
        cr_assert(eq(u64, c.accepted, flood_ok[from]), "channel %u->%u", from, to);
        cr_assert(eq(u64, c.full, flood_full[from]));
        cr_assert(eq(u64, sf.sent_remote, flood_ok[from]));
        cr_assert(eq(u64, sf.channel_full, flood_full[from]));
        cr_assert(eq(u64, st.dropped_on_arrival, c.dropped));
        cr_assert(eq(u64, st.dropped_full, c.dropped));
        /* What was delivered was received, or is still queued (at most a mailbox). */
        cr_assert(ge(u64, c.delivered, flood_received[to]));
        cr_assert(le(u64, c.delivered - flood_received[to], 16));
        cr_assert(ge(u64, c.dropped, 1), "the flood was meant to overflow the mailbox");
    }
    tina_destroy(rt);
}
