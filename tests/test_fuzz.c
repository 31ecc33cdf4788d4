/*
 * test_fuzz.c -- millions of random handles, tags, sizes and effects, and
 * the shards' accounting and free lists must come out exact.
 *
 * Fuzzer isolates (two per shard) draw everything from tina_random: sends to
 * random, forged, malformed, stale and live handles on both shards, with
 * random (also reserved) tags and random (also oversized) sizes; spawns of
 * short-lived targets; timers set and cancelled with random ids and tags.
 * Targets die by done, crash or their own death timer.  Every result is
 * tallied per shard by the test and compared with the runtime's counters
 * after the run.  When the last isolate anywhere ends, it stops the runtime:
 * no isolate is alive then, so both pools must be whole and no timer live.
 *
 * Each shard's tallies are written by that shard's thread only and read by
 * the main thread after tina_run() joined it.
 */
#include "helpers.h"

enum {
    FUZZER_TYPE = 0,
    TARGET_TYPE = 1,
    TYPE_COUNT = 2,
};

#define SHARDS 2
#define FUZZERS_PER_SHARD 2
#define TARGET_SLOTS 64
#define FUZZER_SLOTS 4
#define STEPS_PER_CALL 64

enum {
    TAG_DEATH = H_TAG_FIRST, /* a target's own death timer */
};

/* What a target does with a user message: payload[0] % 16. */
enum { CMD_DONE = 0, CMD_CRASH = 1, CMD_YIELD = 2, CMD_REPLY = 3, CMD_SEND = 4 };

struct tally {
    uint64_t attempts;      /* tina_send calls */
    uint64_t ok, ok_remote; /* accepted; of which into a channel */
    uint64_t full_local, full_remote, pool, stale, invalid;
    uint64_t unexpected;
    uint64_t spawn_ok, spawn_no_slot, spawn_bad_type;
    uint64_t timer_ok, timer_reserved, timer_exhausted;
    uint64_t cancel_ok, cancel_stale;
    uint64_t bogus_replies;   /* reply effects on plain messages */
    uint64_t crashes, dones;  /* effects returned */
    uint64_t calls, woken_reply, woken_timeout, woken_failed;
    uint64_t handle_kinds[6];
    uint8_t pad[64];
};

static struct tally tallies[SHARDS];
static atomic_int alive;          /* isolates alive, all shards */
static uint64_t steps_per_fuzzer; /* set by each test */
static int calls_enabled;         /* set by each test */
static atomic_int stop_requested;

typedef struct fuzzer {
    uint64_t steps;
    tina_timer_id timers[16];
    tina_handle spawned[16];
    uint8_t payload[128]; /* call payload: must outlive the handler call */
    uint8_t calling;
} fuzzer;

typedef struct target {
    uint64_t reply_payload[12];
} target;

static struct tally *tally_of(tina_ctx *ctx) { return &tallies[tina_shard_id(ctx)]; }

static void fz_count_send(tina_ctx *ctx, tina_handle to, tina_result r) {
    struct tally *t = tally_of(ctx);
    t->attempts++;
    switch (r) {
    case TINA_OK:
        t->ok++;
        if (tina_handle_shard(to) != tina_shard_id(ctx)) t->ok_remote++;
        break;
    case TINA_EMAILBOX_FULL:
        if (tina_handle_shard(to) != tina_shard_id(ctx)) t->full_remote++;
        else t->full_local++;
        break;
    case TINA_EPOOL_EXHAUSTED: t->pool++; break;
    case TINA_ESTALE: t->stale++; break;
    case TINA_EHANDLE:
    case TINA_ERESERVED_TAG:
    case TINA_ETOO_BIG: t->invalid++; break;
    default:
        t->unexpected++;
        h_fail(ctx, __FILE__, __LINE__, "send gave %s", tina_result_name(r));
    }
}

static void fz_send(tina_ctx *ctx, tina_handle to, uint16_t tag, const void *payload, size_t size) {
    tina_result r = tina_send(ctx, to, tag, payload, size);
    fz_count_send(ctx, to, r);
}

static void fz_end(tina_ctx *ctx) {
    /* The last isolate alive anywhere stops the runtime. */
    if (atomic_fetch_sub(&alive, 1) == 1) {
        atomic_store(&stop_requested, 1);
        tina_request_stop(ctx);
    }
}

static tina_handle fz_handle(tina_ctx *ctx, fuzzer *f) {
    uint64_t r = tina_random(ctx);
    uint32_t kind = (uint32_t)(r % 6);
    uint64_t x = tina_random(ctx);
    tally_of(ctx)->handle_kinds[kind]++;
    switch (kind) {
    case 0: return x; /* anything at all */
    case 1: return TINA_HANDLE_NONE;
    case 2: /* well-formed-ish: small ranges around the real ones */
        return tina_handle_make((uint32_t)(x % (SHARDS + 1)), (uint32_t)((x >> 8) % (TYPE_COUNT + 1)),
                                (uint32_t)((x >> 16) % (TARGET_SLOTS + 4)),
                                (uint32_t)((x >> 32) % 5));
    case 3: /* a target this fuzzer spawned: live or long dead */
        return f->spawned[x % 16];
    case 4: /* a fuzzer, this shard or the other */
        return tina_child_handle(ctx, (uint32_t)(x % FUZZERS_PER_SHARD), (uint32_t)((x >> 8) % SHARDS));
    default: /* a live-looking target handle on either shard */
        return tina_handle_make((uint32_t)(x % SHARDS), TARGET_TYPE, (uint32_t)((x >> 8) % TARGET_SLOTS),
                                1 + (uint32_t)((x >> 16) % 3));
    }
}

static uint16_t fz_tag(tina_ctx *ctx) {
    uint64_t r = tina_random(ctx);
    if (r % 4 == 0) return (uint16_t)((r >> 8) % TINA_TAG_USER); /* reserved */
    return (uint16_t)(TINA_TAG_USER + (r >> 8) % (0x10000u - TINA_TAG_USER));
}

static void fz_random_send(tina_ctx *ctx, fuzzer *f) {
    uint8_t payload[112];
    uint64_t r = tina_random(ctx);
    size_t size = (size_t)(r % 110); /* 97..109 are too big */
    for (size_t i = 0; i < sizeof(payload); i += 8) {
        uint64_t v = tina_random(ctx);
        memcpy(&payload[i], &v, 8);
    }
    tina_handle to = fz_handle(ctx, f);
    fz_send(ctx, to, fz_tag(ctx), payload, size);
}

static void fz_spawn(tina_ctx *ctx, fuzzer *f) {
    struct tally *t = tally_of(ctx);
    uint64_t r = tina_random(ctx);
    uint32_t type = r % 10 == 0 ? 7 : TARGET_TYPE;
    tina_handle h = TINA_HANDLE_NONE;
    tina_result res = tina_spawn(ctx, type, &r, sizeof(r), &h);
    if (res == TINA_OK) {
        t->spawn_ok++;
        f->spawned[(r >> 8) % 16] = h;
    } else if (res == TINA_ENO_SLOT) {
        t->spawn_no_slot++;
    } else if (res == TINA_EINVAL && type != TARGET_TYPE) {
        t->spawn_bad_type++;
    } else {
        t->unexpected++;
        h_fail(ctx, __FILE__, __LINE__, "spawn of type %u gave %s", type, tina_result_name(res));
    }
}

static void fz_count_timer_set(tina_ctx *ctx, tina_result r) {
    struct tally *t = tally_of(ctx);
    if (r == TINA_OK) t->timer_ok++;
    else if (r == TINA_ERESERVED_TAG) t->timer_reserved++;
    else if (r == TINA_ETIMER_EXHAUSTED) t->timer_exhausted++;
    else {
        t->unexpected++;
        h_fail(ctx, __FILE__, __LINE__, "timer set gave %s", tina_result_name(r));
    }
}

static void fz_cancel(tina_ctx *ctx, tina_timer_id id);

static void fz_timer(tina_ctx *ctx, fuzzer *f) {
    uint64_t r = tina_random(ctx);
    uint64_t delay = (r >> 8) % 2000000;
    uint64_t period = (r % 8 == 0) ? 500000 + (r >> 32) % 1500000 : 0;
    tina_timer_id id = 0;
    /* Reserved timer tags only where send refusals are not being balanced:
     * the runtime may count a refused timer tag among its invalid refusals. */
    uint16_t tag = calls_enabled ? fz_tag(ctx) : (uint16_t)(TINA_TAG_USER + (r >> 16) % 100);
    tina_result res = tina_timer_set(ctx, delay, period, tag, &id);
    fz_count_timer_set(ctx, res);
    if (res != TINA_OK) return;
    /* Each fuzzer keeps at most 16 timers: the id it forgets is cancelled
     * (stale already if it fired), so periodic timers cannot pile up. */
    uint32_t k = (uint32_t)((r >> 40) % 16);
    fz_cancel(ctx, f->timers[k]);
    f->timers[k] = id;
}

static void fz_cancel(tina_ctx *ctx, tina_timer_id id) {
    struct tally *t = tally_of(ctx);
    tina_result r = tina_timer_cancel(ctx, id);
    if (r == TINA_OK) t->cancel_ok++;
    else if (r == TINA_ETIMER_STALE) t->cancel_stale++;
    else {
        t->unexpected++;
        h_fail(ctx, __FILE__, __LINE__, "cancel gave %s", tina_result_name(r));
    }
}

static uint32_t fuzzer_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(args);
    H_UNUSED(args_size);
    atomic_fetch_add(&alive, 1);
    fz_send(ctx, tina_self(ctx), H_TAG_KICK, NULL, 0);
    return 0;
}

static tina_effect fuzzer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    fuzzer *f = self;
    struct tally *t = tally_of(ctx);
    if (f->calling) {
        f->calling = 0;
        if (msg->kind == TINA_MSG_REPLY) t->woken_reply++;
        else if (msg->tag == TINA_TAG_CALL_TIMEOUT) t->woken_timeout++;
        else if (msg->tag == TINA_TAG_CALL_FAILED) t->woken_failed++;
        else h_fail(ctx, __FILE__, __LINE__, "a parked caller got tag %#x kind %u", msg->tag, msg->kind);
    }
    if (f->steps >= steps_per_fuzzer) {
        /* Wind down: cancel what is remembered, then end (teardown takes the rest). */
        for (int i = 0; i < 16; i++) fz_cancel(ctx, f->timers[i]);
        t->dones++;
        fz_end(ctx);
        return tina_done();
    }
    for (int i = 0; i < STEPS_PER_CALL && f->steps < steps_per_fuzzer; i++, f->steps++) {
        uint64_t r = tina_random(ctx) % 100;
        if (r < 80) fz_random_send(ctx, f);
        else if (r < 85) fz_spawn(ctx, f);
        else if (r < 93) fz_timer(ctx, f);
        else if (r < 97) fz_cancel(ctx, f->timers[tina_random(ctx) % 16]);
        else fz_cancel(ctx, tina_random(ctx));
    }
    if (calls_enabled && tina_random(ctx) % 4 == 0) {
        uint64_t r = tina_random(ctx);
        for (size_t i = 0; i < sizeof(f->payload); i += 8) memcpy(&f->payload[i], &r, 8);
        t->calls++;
        f->calling = 1;
        return tina_call(fz_handle(ctx, f), fz_tag(ctx), f->payload, (size_t)(r % 100),
                         (r >> 8) % 1500000);
    }
    return tina_yield();
}

static uint32_t target_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, args_size, sizeof(uint64_t));
    uint64_t r = 0;
    memcpy(&r, args, sizeof(r));
    atomic_fetch_add(&alive, 1);
    tina_timer_id id;
    tina_result res = tina_timer_set(ctx, (r >> 16) % 3000000, 0, TAG_DEATH, &id);
    fz_count_timer_set(ctx, res);
    if (res != TINA_OK) {
        /* No death timer: die at once instead (counts as a crash). */
        fz_end(ctx);
        tally_of(ctx)->crashes++;
        return 1;
    }
    return 0;
}

static tina_effect target_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    target *tg = self;
    struct tally *t = tally_of(ctx);
    if (msg->kind == TINA_MSG_TIMER && msg->tag == TAG_DEATH) {
        t->dones++;
        fz_end(ctx);
        return tina_done();
    }
    if (msg->kind == TINA_MSG_CALL) {
        uint64_t r = tina_random(ctx);
        if (r % 3 == 0) return tina_receive(); /* let it time out */
        for (int i = 0; i < 12; i++) tg->reply_payload[i] = r;
        return tina_reply((uint16_t)(TINA_TAG_USER + (r >> 8) % 1000), tg->reply_payload,
                          (size_t)((r >> 20) % 97));
    }
    if (msg->size == 0 || msg->kind != TINA_MSG_SEND) return tina_receive();
    switch (msg->payload[0] % 16) {
    case CMD_DONE:
        t->dones++;
        fz_end(ctx);
        return tina_done();
    case CMD_CRASH:
        t->crashes++;
        fz_end(ctx);
        return tina_crash(42);
    case CMD_YIELD: return tina_yield();
    case CMD_REPLY:
        t->bogus_replies++;
        tg->reply_payload[0] = 1;
        return tina_reply(TINA_TAG_USER, tg->reply_payload, 8);
    case CMD_SEND: {
        uint64_t x = tina_random(ctx);
        tina_handle to = tina_handle_make((uint32_t)(x % SHARDS), (uint32_t)((x >> 8) % TYPE_COUNT),
                                          (uint32_t)((x >> 16) % FUZZER_SLOTS), 1);
        fz_send(ctx, to, TINA_TAG_USER, msg->payload, msg->size);
        return tina_receive();
    }
    default: return tina_receive();
    }
}

static tina_spec fuzz_spec(const tina_type_spec *types, const tina_child_spec *children) {
    tina_spec spec = h_spec(types, TYPE_COUNT, children, FUZZERS_PER_SHARD, SHARDS);
    spec.pool_user_slots = 256;
    spec.pool_system_slots = 64;
    spec.ring_slots = 64;
    spec.timer_slots = 512;
    spec.timer_wheel_slots = 64;
    spec.base_budget = 16;
    return spec;
}

static const tina_type_spec fuzz_types[TYPE_COUNT] = {
    H_TYPE("fuzzer", fuzzer, FUZZER_SLOTS, 64, 1, fuzzer_init, fuzzer_handler),
    H_TYPE("target", target, TARGET_SLOTS, 4, 1, target_init, target_handler),
};

static const tina_child_spec fuzz_children[FUZZERS_PER_SHARD] = {
    {.type_id = FUZZER_TYPE, .shard = TINA_SHARD_EVERY, .restart = TINA_RESTART_TEMPORARY},
    {.type_id = FUZZER_TYPE, .shard = TINA_SHARD_EVERY, .restart = TINA_RESTART_TEMPORARY},
};

/* What holds after any fuzz run: nothing alive, nothing leaked. */
static void assert_intact(const tina_runtime *rt, const tina_spec *spec) {
    cr_assert(eq(int, atomic_load(&stop_requested), 1), "the last isolate stopped the run");
    cr_assert(eq(int, atomic_load(&alive), 0));
    for (uint32_t s = 0; s < SHARDS; s++) {
        tina_shard_stats st = h_stats(rt, s);
        cr_assert(eq(u64, tallies[s].unexpected, 0), "shard %u", s);
        cr_assert(eq(u64, st.live, 0), "shard %u: isolates left alive", s);
        cr_assert(eq(u64, st.pool_user_free, spec->pool_user_slots), "shard %u user region", s);
        cr_assert(eq(u64, st.pool_system_free, spec->pool_system_slots), "shard %u system region",
                  s);
        cr_assert(eq(u64, st.timers_live, 0), "shard %u timers", s);
        cr_assert(eq(u64, st.spawn_failed, tallies[s].spawn_no_slot), "shard %u", s);
        cr_assert(eq(u64, st.timers_set, tallies[s].timer_ok), "shard %u", s);
        cr_assert(eq(u64, st.reply_invalid, tallies[s].bogus_replies), "shard %u", s);
        cr_assert(eq(u64, st.crashes, tallies[s].crashes), "shard %u", s);
        cr_assert(eq(u64, st.done, tallies[s].dones), "shard %u", s);
        cr_assert(eq(u64, st.spawns, FUZZERS_PER_SHARD + tallies[s].spawn_ok + st.restarts),
                  "shard %u", s);
        /* Late replies count locally too, so they bound the rest from above. */
        cr_assert(ge(u64, st.dropped_on_arrival, st.dropped_stale + st.dropped_full), "shard %u", s);
        cr_assert(le(u64, st.dropped_on_arrival, st.dropped_stale + st.dropped_full + st.late_replies),
                  "shard %u", s);
    }
    h_assert_channels_balance(rt);
}

Test(fuzz, random_sends_keep_accounting_and_free_lists_intact, .timeout = 120) {
    steps_per_fuzzer = 500000; /* 2 M steps, about 1.6 M sends */
    calls_enabled = 0;
    tina_spec spec = fuzz_spec(fuzz_types, fuzz_children);
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 10000);
    h_assert_no_failures();
    assert_intact(rt, &spec);
    uint64_t all_attempts = 0;
    for (uint32_t s = 0; s < SHARDS; s++) {
        const struct tally *t = &tallies[s];
        tina_shard_stats st = h_stats(rt, s);
        all_attempts += t->attempts;
        cr_assert(eq(u64, st.sent, t->ok), "shard %u", s);
        cr_assert(eq(u64, st.sent_remote, t->ok_remote), "shard %u", s);
        cr_assert(eq(u64, st.mailbox_full, t->full_local), "shard %u", s);
        cr_assert(eq(u64, st.channel_full, t->full_remote), "shard %u", s);
        cr_assert(eq(u64, st.pool_exhausted, t->pool), "shard %u", s);
        cr_assert(eq(u64, st.stale, t->stale), "shard %u", s);
        cr_assert(eq(u64, st.invalid, t->invalid), "shard %u", s);
        cr_assert(eq(u64, st.sent + st.mailbox_full + st.channel_full + st.pool_exhausted +
                              st.stale + st.invalid,
                      t->attempts),
                  "shard %u: sent + refusals != attempts", s);
        cr_assert(eq(u64, st.calls, 0));
        /* Local sends go straight into a mailbox; the rest came off channels. */
        tina_channel_stats in = h_channel(rt, 1 - s, s);
        cr_assert(eq(u64, st.delivered, (t->ok - t->ok_remote) + in.delivered), "shard %u", s);
        /* The fuzz reached every path it means to. */
        cr_assert(ge(u64, t->ok_remote, 1));
        cr_assert(ge(u64, t->full_local + t->full_remote, 1));
        cr_assert(ge(u64, t->stale, 1));
        cr_assert(ge(u64, t->invalid, 1));
        cr_assert(ge(u64, t->spawn_ok, 1));
        cr_assert(ge(u64, t->spawn_no_slot + t->spawn_bad_type, 1));
        cr_assert(ge(u64, t->cancel_ok, 1));
        cr_assert(ge(u64, t->cancel_stale, 1));
        cr_assert(ge(u64, t->crashes, 1));
        cr_assert(ge(u64, st.dropped_stale, 1));
    }
    cr_assert(ge(u64, all_attempts, 1000000), "millions of random sends");
    tina_destroy(rt);
}

Test(fuzz, random_calls_and_replies_keep_free_lists_intact, .timeout = 120) {
    steps_per_fuzzer = 250000;
    calls_enabled = 1;
    tina_spec spec = fuzz_spec(fuzz_types, fuzz_children);
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 10000);
    h_assert_no_failures();
    assert_intact(rt, &spec);
    for (uint32_t s = 0; s < SHARDS; s++) {
        const struct tally *t = &tallies[s];
        tina_shard_stats st = h_stats(rt, s);
        cr_assert(eq(u64, st.calls, t->calls), "shard %u", s);
        /* Every call woke its caller exactly once. */
        cr_assert(eq(u64, t->woken_reply + t->woken_timeout + t->woken_failed, t->calls),
                  "shard %u", s);
        cr_assert(eq(u64, st.call_timeouts, t->woken_timeout), "shard %u", s);
        cr_assert(eq(u64, st.call_failed, t->woken_failed), "shard %u", s);
        cr_assert(ge(u64, t->woken_reply, 1));
        cr_assert(ge(u64, t->woken_timeout, 1));
        cr_assert(ge(u64, t->woken_failed, 1));
    }
    tina_destroy(rt);
}
