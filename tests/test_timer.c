/*
 * test_timer.c -- one-shot, zero-delay, periodic and cancelled timers, timer
 * exhaustion, and timers of dead isolates.
 *
 * A timer delivers a TINA_MSG_TIMER message with the chosen tag and the
 * timer id as an 8-byte payload.  The shard clock is read once per pass and
 * the wheel ticks at timer_resolution_ns, so a timer may fire up to one tick
 * early relative to the clock read in the pass that set it: the lower bounds
 * below allow one resolution of slack, and there are no upper bounds on time.
 */
#include "helpers.h"

enum {
    TAG_A = H_TAG_FIRST,
    TAG_Z,
    TAG_P,
    TAG_SENTINEL,
    TAG_FOREIGN,
    TAG_MANY,
    TAG_INC_BASE = 0x100, /* incarnation i uses tags TAG_INC_BASE + 4 i + k */
};

#define RES_NS 100000ull

typedef struct timer_state {
    uint64_t set_at_ns;
    uint64_t set_at_pass;
    tina_timer_id id;
    uint32_t fires;
} timer_state;

typedef struct plain {
    uint64_t unused;
} plain;

static tina_spec timer_spec(const tina_type_spec *types, uint32_t type_count,
                            const tina_child_spec *children, uint32_t child_count) {
    tina_spec spec = h_spec(types, type_count, children, child_count, 1);
    spec.timer_resolution_ns = RES_NS;
    return spec;
}

static void check_timer_msg(tina_ctx *ctx, const tina_msg *msg, tina_timer_id id, int line) {
    if (msg->kind != TINA_MSG_TIMER || msg->size != sizeof(tina_timer_id) || h_u64(msg) != id)
        h_fail(ctx, __FILE__, line, "timer message: kind %u size %u id %#" PRIx64 ", expected %#" PRIx64,
               msg->kind, msg->size, h_u64(msg), id);
}

/* ------------------------------------------------------------------------ */
/* One-shot: fires once, not early, then its id is stale.                     */
/* ------------------------------------------------------------------------ */

static int one_fires, one_sentinel;
static uint64_t one_elapsed_ns;

static tina_effect one_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    timer_state *s = self;
    tina_result r;
    tina_timer_id sentinel;
    if (msg->tag == H_TAG_KICK) {
        s->set_at_ns = tina_now_ns(ctx);
        r = tina_timer_set(ctx, H_MS(2), 0, TAG_A, &s->id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_timer_set(ctx, H_MS(20), 0, TAG_SENTINEL, &sentinel);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        H_CHECK(ctx, sentinel != s->id);
        H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->timers_live, 2);
        return tina_receive();
    }
    if (msg->tag == TAG_A) {
        check_timer_msg(ctx, msg, s->id, __LINE__);
        one_fires++;
        one_elapsed_ns = tina_now_ns(ctx) - s->set_at_ns;
        r = tina_timer_cancel(ctx, s->id);
        H_CHECK_RESULT(ctx, r, TINA_ETIMER_STALE);
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_SENTINEL);
    H_CHECK_EQ(ctx, msg->kind, TINA_MSG_TIMER);
    one_sentinel++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(timer, one_shot_fires_once, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("t", timer_state, 1, 0, 1, h_kick_init, one_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = timer_spec(types, 1, children, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, one_fires, 1));
    cr_assert(eq(int, one_sentinel, 1));
    cr_assert(ge(u64, one_elapsed_ns, H_MS(2) - RES_NS), "fired after %" PRIu64 " ns",
              one_elapsed_ns);
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_set, 2));
    cr_assert(eq(u64, s.timers_fired, 2));
    cr_assert(eq(u64, s.timers_cancelled, 0));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Zero delay fires on the next pass, not a wheel turn later.                 */
/* ------------------------------------------------------------------------ */

static uint64_t zero_pass_delta[8];
static int zero_fires;

static tina_effect zero_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    timer_state *s = self;
    if (msg->tag == TAG_Z) {
        check_timer_msg(ctx, msg, s->id, __LINE__);
        zero_pass_delta[zero_fires] = h_passes(ctx) - s->set_at_pass;
        if (++zero_fires == 8) {
            tina_request_stop(ctx);
            return tina_receive();
        }
    } else {
        H_CHECK_EQ(ctx, msg->tag, H_TAG_KICK);
    }
    s->set_at_pass = h_passes(ctx);
    tina_result r = tina_timer_set(ctx, 0, 0, TAG_Z, &s->id);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

/* Keeps passes coming, so a wheel tick would be thousands of passes. */
static tina_effect spinner_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    return tina_yield();
}

Test(timer, zero_delay_fires_on_the_next_pass, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("zero", timer_state, 1, 0, 1, h_kick_init, zero_handler),
        H_TYPE("spinner", plain, 1, 0, 1, h_kick_init, spinner_handler),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = timer_spec(types, 2, children, 2);
    spec.timer_resolution_ns = H_MS(10);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, zero_fires, 8));
    for (int i = 0; i < 8; i++) {
        cr_assert(ge(u64, zero_pass_delta[i], 1), "fire %d in the pass that set it", i);
        cr_assert(le(u64, zero_pass_delta[i], 2), "fire %d came %" PRIu64 " passes later", i,
                  zero_pass_delta[i]);
    }
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Periodic: fires until cancelled, each fire no earlier than its schedule.   */
/* ------------------------------------------------------------------------ */

#define PER_FIRES 5
static uint64_t per_at_ns[PER_FIRES];
static int per_fires, per_sentinel, per_after_cancel;
static uint64_t per_start_ns;

static tina_effect per_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    timer_state *s = self;
    tina_result r;
    if (msg->tag == H_TAG_KICK) {
        per_start_ns = tina_now_ns(ctx);
        r = tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_P, &s->id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_P) {
        check_timer_msg(ctx, msg, s->id, __LINE__);
        if (per_fires >= PER_FIRES) {
            per_after_cancel++;
            h_fail(ctx, __FILE__, __LINE__, "periodic timer fired after its cancel");
            return tina_receive();
        }
        per_at_ns[per_fires++] = tina_now_ns(ctx);
        if (per_fires == PER_FIRES) {
            r = tina_timer_cancel(ctx, s->id);
            H_CHECK_RESULT(ctx, r, TINA_OK);
            r = tina_timer_cancel(ctx, s->id);
            H_CHECK_RESULT(ctx, r, TINA_ETIMER_STALE);
            tina_timer_id sentinel;
            r = tina_timer_set(ctx, H_MS(10), 0, TAG_SENTINEL, &sentinel);
            H_CHECK_RESULT(ctx, r, TINA_OK);
        }
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_SENTINEL);
    per_sentinel++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(timer, periodic_fires_until_cancelled, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("p", timer_state, 1, 0, 1, h_kick_init, per_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = timer_spec(types, 1, children, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, per_fires, PER_FIRES));
    cr_assert(eq(int, per_after_cancel, 0));
    cr_assert(eq(int, per_sentinel, 1));
    for (int k = 0; k < PER_FIRES; k++) {
        uint64_t due = per_start_ns + H_MS(1) * (uint64_t)(k + 1);
        cr_assert(ge(u64, per_at_ns[k] + RES_NS, due), "fire %d at %" PRIu64 " ns, due %" PRIu64,
                  k, per_at_ns[k] - per_start_ns, due - per_start_ns);
    }
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_fired, PER_FIRES + 1));
    cr_assert(eq(u64, s.timers_cancelled, 1));
    cr_assert(eq(u64, s.timers_set, 2));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Cancel before fire; stale, bogus and foreign ids; reserved tags.           */
/* ------------------------------------------------------------------------ */

static tina_timer_id foreign_id;
static int cancel_unwanted, cancel_sentinel, foreign_fires;

static tina_effect cancel_owner(void *self, tina_ctx *ctx, const tina_msg *msg) {
    timer_state *s = self;
    if (msg->tag == H_TAG_KICK) {
        /* Set by the first isolate of the shard: the canceller runs after it. */
        tina_result r = tina_timer_set(ctx, H_MS(10000), 0, TAG_FOREIGN, &foreign_id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        s->id = foreign_id;
        return tina_receive();
    }
    if (msg->tag == TAG_A) {
        /* The canceller is done: the foreign timer survived its attempts. */
        tina_result r = tina_timer_cancel(ctx, s->id);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        tina_request_stop(ctx);
        return tina_receive();
    }
    foreign_fires++;
    h_fail(ctx, __FILE__, __LINE__, "owner got tag %#x", msg->tag);
    return tina_receive();
}

static tina_effect canceller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    tina_result r;
    tina_timer_id a, z, p, junk = 0x1234;
    if (msg->tag == H_TAG_KICK) {
        r = tina_timer_set(ctx, H_MS(2), 0, TAG_A, &a);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_timer_set(ctx, 0, 0, TAG_Z, &z);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_P, &p);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        H_CHECK(ctx, a != z && z != p && a != p);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, a), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, z), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, p), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, a), TINA_ETIMER_STALE);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, z), TINA_ETIMER_STALE);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, 0), TINA_ETIMER_STALE);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, junk), TINA_ETIMER_STALE);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, ~(tina_timer_id)0), TINA_ETIMER_STALE);
        H_CHECK(ctx, foreign_id != 0);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, foreign_id), TINA_ETIMER_STALE);
        /* Reserved tags are refused. */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 0, 0, TINA_TAG_NONE, &junk), TINA_ERESERVED_TAG);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 0, 0, TINA_TAG_CALL_TIMEOUT, &junk),
                       TINA_ERESERVED_TAG);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), 0, TINA_TAG_USER - 1, &junk),
                       TINA_ERESERVED_TAG);
        /* Only the owner's timer is live now. */
        H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->timers_live, 1);
        r = tina_timer_set(ctx, H_MS(20), 0, TAG_SENTINEL, &junk);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_SENTINEL) {
        cancel_sentinel++;
        r = tina_send(ctx, tina_child_handle(ctx, 0, 0), TAG_A, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    cancel_unwanted++;
    h_fail(ctx, __FILE__, __LINE__, "a cancelled timer fired: tag %#x", msg->tag);
    return tina_receive();
}

Test(timer, cancel_stops_timers_and_refuses_stale_bogus_and_foreign_ids, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("owner", timer_state, 1, 0, 1, h_kick_init, cancel_owner),
        H_TYPE("canceller", plain, 1, 0, 1, h_kick_init, canceller),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = timer_spec(types, 2, children, 2);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, cancel_sentinel, 1));
    cr_assert(eq(int, cancel_unwanted, 0));
    cr_assert(eq(int, foreign_fires, 0));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_set, 5));
    cr_assert(eq(u64, s.timers_cancelled, 4));
    cr_assert(eq(u64, s.timers_fired, 1));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Timer entries run out; a cancel gives one back.                            */
/* ------------------------------------------------------------------------ */

#define EXHAUST_SLOTS 64
static int exhaust_finished;

static tina_effect exhaust_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    static tina_timer_id ids[EXHAUST_SLOTS];
    tina_timer_id extra;
    for (int i = 0; i < EXHAUST_SLOTS; i++)
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(10000), 0, TAG_A, &ids[i]), TINA_OK);
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(10000), 0, TAG_A, &extra), TINA_ETIMER_EXHAUSTED);
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, 0, 0, TAG_A, &extra), TINA_ETIMER_EXHAUSTED);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->timers_live, EXHAUST_SLOTS);
    H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, ids[7]), TINA_OK);
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(10000), 0, TAG_A, &ids[7]), TINA_OK);
    for (int i = 0; i < EXHAUST_SLOTS; i++)
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, ids[i]), TINA_OK);
    H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->timers_live, 0);
    exhaust_finished = 1;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(timer, exhausted_timer_entries_are_refused, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("x", plain, 1, 0, 1, h_kick_init, exhaust_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = timer_spec(types, 1, children, 1);
    spec.timer_slots = EXHAUST_SLOTS;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, exhaust_finished, 1));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_set, EXHAUST_SLOTS + 1));
    cr_assert(eq(u64, s.timers_cancelled, EXHAUST_SLOTS + 1));
    cr_assert(eq(u64, s.timers_live, 0));
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* A dead isolate's timers never fire into its successor.                     */
/*                                                                            */
/* A permanent child: incarnation 1 sets timers (zero delay, 2 ms, periodic)  */
/* and returns done; incarnation 2 sets more and crashes; incarnation 3, in   */
/* the same slot, waits 30 ms and must see only its own sentinel.            */
/* ------------------------------------------------------------------------ */

static uint32_t succ_incarnation;
static int succ_foreign;      /* timers of an earlier incarnation delivered */
static int succ_sentinel;
static uint64_t succ_live_at_init[4];

static uint16_t succ_tag(uint32_t inc, uint32_t k) { return (uint16_t)(TAG_INC_BASE + 4 * inc + k); }

static uint32_t succ_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    timer_state *s = self;
    H_UNUSED(args);
    H_UNUSED(args_size);
    uint32_t inc = ++succ_incarnation;
    s->fires = inc;
    if (inc < 4) succ_live_at_init[inc] = tina_ctx_stats(ctx)->timers_live;
    h_kick(ctx);
    return 0;
}

static tina_effect succ_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    timer_state *s = self;
    uint32_t inc = s->fires;
    tina_timer_id id;
    if (msg->kind == TINA_MSG_TIMER && (msg->tag < succ_tag(inc, 0) || msg->tag > succ_tag(inc, 3))) {
        succ_foreign++;
        h_fail(ctx, __FILE__, __LINE__, "incarnation %u got timer tag %#x", inc, msg->tag);
        return tina_receive();
    }
    if (msg->tag == H_TAG_KICK) {
        if (inc <= 2) {
            H_CHECK_RESULT(ctx, tina_timer_set(ctx, 0, 0, succ_tag(inc, 0), &id), TINA_OK);
            H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(2), 0, succ_tag(inc, 1), &id), TINA_OK);
            H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), H_MS(1), succ_tag(inc, 2), &id),
                           TINA_OK);
            H_CHECK_EQ(ctx, tina_ctx_stats(ctx)->timers_live, 3);
            return inc == 1 ? tina_done() : tina_crash(3);
        }
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(30), 0, succ_tag(inc, 3), &id), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == succ_tag(3, 3)) {
        succ_sentinel++;
        tina_request_stop(ctx);
        return tina_receive();
    }
    h_fail(ctx, __FILE__, __LINE__, "incarnation %u got tag %#x", inc, msg->tag);
    return tina_receive();
}

Test(timer, dead_isolate_timers_never_fire_into_its_successor, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("phoenix", timer_state, 1, 0, 1, succ_init, succ_handler)};
    const tina_child_spec children[] = {
        {.type_id = 0, .shard = 0, .restart = TINA_RESTART_PERMANENT},
    };
    tina_spec spec = timer_spec(types, 1, children, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u32, succ_incarnation, 3));
    cr_assert(eq(int, succ_foreign, 0));
    cr_assert(eq(int, succ_sentinel, 1));
    cr_assert(eq(u64, succ_live_at_init[2], 0), "teardown released the first incarnation's timers");
    cr_assert(eq(u64, succ_live_at_init[3], 0), "teardown released the second incarnation's timers");
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_fired, 1));
    cr_assert(eq(u64, s.restarts, 2));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Many timers with random delays: each fires exactly once, never early.      */
/* ------------------------------------------------------------------------ */

#define MANY_TIMERS 20000u
#define MANY_HASH 65536u /* open addressing: timer id -> index + 1 */
static tina_timer_id many_ids[MANY_TIMERS];
static uint64_t many_due_ns[MANY_TIMERS];
static uint8_t many_fired[MANY_TIMERS];
static uint32_t many_hash[MANY_HASH];
static uint32_t many_fire_count, many_early, many_unknown;

static uint32_t many_slot(tina_timer_id id) {
    return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 48) & (MANY_HASH - 1);
}

static void many_insert(tina_timer_id id, uint32_t index) {
    uint32_t h = many_slot(id);
    while (many_hash[h] != 0) h = (h + 1) & (MANY_HASH - 1);
    many_hash[h] = index + 1;
}

static int64_t many_find(tina_timer_id id) {
    for (uint32_t h = many_slot(id);; h = (h + 1) & (MANY_HASH - 1)) {
        if (many_hash[h] == 0) return -1;
        if (many_ids[many_hash[h] - 1] == id) return many_hash[h] - 1;
    }
}

static tina_effect many_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        uint64_t now = tina_now_ns(ctx);
        for (uint32_t i = 0; i < MANY_TIMERS; i++) {
            uint64_t delay = tina_random(ctx) % H_MS(5);
            if (i % 16 == 0) delay = 0;
            tina_result r = tina_timer_set(ctx, delay, 0, TAG_MANY, &many_ids[i]);
            H_CHECK_RESULT(ctx, r, TINA_OK);
            if (r != TINA_OK) return tina_receive();
            many_due_ns[i] = now + delay;
            many_insert(many_ids[i], i);
        }
        return tina_receive();
    }
    H_CHECK_EQ(ctx, msg->tag, TAG_MANY);
    int64_t i = many_find(h_u64(msg));
    if (i < 0) {
        many_unknown++;
        h_fail(ctx, __FILE__, __LINE__, "unknown timer id %#" PRIx64, h_u64(msg));
        return tina_receive();
    }
    if (many_fired[i]++ != 0) h_fail(ctx, __FILE__, __LINE__, "timer %" PRId64 " fired twice", i);
    if (tina_now_ns(ctx) + RES_NS < many_due_ns[i]) many_early++;
    if (++many_fire_count == MANY_TIMERS) tina_request_stop(ctx);
    return tina_receive();
}

Test(timer, many_random_timers_fire_exactly_once, .timeout = 60) {
    const tina_type_spec types[] = {H_TYPE("many", plain, 1, 0, 1, h_kick_init, many_handler)};
    const tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = timer_spec(types, 1, children, 1);
    spec.timer_slots = 32768;
    spec.timer_wheel_slots = 16; /* 1.6 ms a turn: the delays wrap the wheel */
    spec.pool_system_slots = 512; /* fewer than the timers due at once */
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(u32, many_fire_count, MANY_TIMERS));
    cr_assert(eq(u32, many_early, 0));
    cr_assert(eq(u32, many_unknown, 0));
    for (uint32_t i = 0; i < MANY_TIMERS; i++) cr_assert(eq(u8, many_fired[i], 1), "timer %u", i);
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.timers_fired, MANY_TIMERS));
    cr_assert(eq(u64, s.timers_set, MANY_TIMERS));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Fires while the owner is parked in a call: delivered after the call's     */
/* result and ahead of queued mail; a periodic timer keeps at most one       */
/* undelivered fire; a cancel withdraws a fired, undelivered timer.          */
/*                                                                            */
/* The owner sets its timers, then parks for 20 ms in a call nobody answers; */
/* a sender queues five messages meanwhile.                                   */
/* ------------------------------------------------------------------------ */

enum { TAG_REQ = 0x70, TAG_MAIL, TAG_ONE, TAG_WITHDRAWN, TAG_TICK };

typedef struct parked_state {
    tina_timer_id one, withdrawn, tick;
} parked_state;

#define PARKED_LOG 64
static uint16_t parked_log[PARKED_LOG]; /* tags the owner saw, in order */
static int parked_count;
static int parked_withdrawn_seen;
static int parked_finished;

static tina_effect parked_owner(void *self, tina_ctx *ctx, const tina_msg *msg) {
    parked_state *s = self;
    tina_result r;
    if (parked_count < PARKED_LOG) parked_log[parked_count] = msg->tag;
    parked_count++;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), 0, TAG_ONE, &s->one), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), 0, TAG_WITHDRAWN, &s->withdrawn), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), H_MS(1), TAG_TICK, &s->tick), TINA_OK);
        return tina_call(tina_child_handle(ctx, 1, 0), TAG_REQ, NULL, 0, H_MS(20));
    }
    if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
        /* Fired 19 ms ago, still undelivered: the cancel withdraws it. */
        r = tina_timer_cancel(ctx, s->withdrawn);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_WITHDRAWN) {
        parked_withdrawn_seen++;
        h_fail(ctx, __FILE__, __LINE__, "a withdrawn timer was delivered");
        return tina_receive();
    }
    if (msg->tag == TAG_MAIL && h_u64(msg) == 4) {
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, s->tick), TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(10), 0, TAG_SENTINEL, &s->one), TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_SENTINEL) {
        parked_finished = 1;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static tina_effect parked_black_hole(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    return tina_receive();
}

static tina_effect parked_mailer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    for (uint64_t i = 0; i < 5; i++) {
        tina_result r = h_send_u64(ctx, tina_child_handle(ctx, 0, 0), TAG_MAIL, i);
        H_CHECK_RESULT(ctx, r, TINA_OK);
    }
    return tina_receive();
}

Test(timer, fires_while_parked_come_after_the_call_result_and_before_mail, .timeout = 60) {
    const tina_type_spec types[] = {
        H_TYPE("owner", parked_state, 1, 0, 1, h_kick_init, parked_owner),
        H_TYPE("black_hole", plain, 1, 0, 1, NULL, parked_black_hole),
        H_TYPE("mailer", plain, 1, 0, 1, h_kick_init, parked_mailer),
    };
    const tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 0)};
    tina_spec spec = timer_spec(types, 3, children, 3);
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    cr_assert(eq(int, parked_finished, 1));
    cr_assert(eq(int, parked_withdrawn_seen, 0));
    /* kick, the call's timeout, then the fired timers (the one-shot, and the
     * periodic once: missed periods are skipped), then the five messages. */
    cr_assert(ge(int, parked_count, 9));
    cr_assert(eq(u32, parked_log[0], H_TAG_KICK));
    cr_assert(eq(u32, parked_log[1], TINA_TAG_CALL_TIMEOUT));
    int one = 0, tick = 0, mail = 0, i = 2;
    for (; i < parked_count && i < PARKED_LOG && parked_log[i] != TAG_MAIL; i++) {
        one += parked_log[i] == TAG_ONE;
        tick += parked_log[i] == TAG_TICK;
    }
    cr_assert(eq(int, one, 1), "the one-shot fired once, before the queued mail");
    cr_assert(eq(int, tick, 1), "the periodic timer kept one undelivered fire");
    for (; i < parked_count && i < PARKED_LOG && parked_log[i] != TAG_SENTINEL; i++)
        mail += parked_log[i] == TAG_MAIL;
    cr_assert(eq(int, mail, 5));
    h_assert_shard_clean(rt, &spec, 0);
    tina_destroy(rt);
}
