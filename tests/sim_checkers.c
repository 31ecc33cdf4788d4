/*
 * sim_checkers.c -- each built-in checker catches a deliberately corrupted
 * state.
 *
 * A saboteur isolate reaches into its own shard's internals (this test
 * includes the runtime's private header on purpose) and breaks one
 * invariant; the next check (every round here) must stop the run with
 * reason TINA_SIM_CHECKER and name the broken invariant.  The liveness
 * rules (a shard that would spin, a calm that does not settle) are checked
 * the same way.
 */
#include "helpers.h"
#include "shard/shard.h"

enum sabotage {
    POOL, MAILBOX, GENERATION, CHANNEL, LIVENESS, LISTS, LIVE_COUNT, REGION, TIMER_OWNER,
    MONITOR_TARGET, MONITOR_WATCHER, MAILBOX_BOUND, SPIN, NOTHING
};
static enum sabotage g_sabotage;

static tina_effect saboteur(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    H_UNUSED(msg);
    struct tina__shard *s = ctx->shard;
    if (++*step < 5) { /* let a few clean rounds (and checks) pass first */
        (void)tina_send(ctx, tina_self(ctx), H_TAG_KICK, NULL, 0);
        return tina_receive();
    }
    tina_timer_id id;
    if (*step > 5) return tina_receive(); /* once */
    switch (g_sabotage) {
    case POOL: s->pool.user_free++; break;
    case MAILBOX: ctx->type->slots[ctx->slot].mbox_count += 2; break;
    case GENERATION: ctx->type->slots[ctx->type->capacity - 1].generation = 0; break;
    case CHANNEL: atomic_store(&s->chan.inbound[1]->consumer.dropped, 1000000); break;
    case LIVENESS:
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000000u, 0, H_TAG_FIRST, &id), TINA_OK);
        s->wheel.timers[(uint32_t)id].deadline_ns = 1; /* due long ago, never fired */
        break;
    case LISTS: /* a free slot looks alive, still on the free list */
        ctx->type->slots[ctx->type->capacity - 1].state = TINA__IDLE;
        break;
    case LIVE_COUNT: ctx->type->live++; break;
    case REGION: /* a user message dressed as a system notice, in the user region */
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_self(ctx), H_TAG_FIRST, NULL, 0), TINA_OK);
        s->pool.msgs[ctx->type->slots[ctx->slot].mbox_tail].kind = TINA_MSG_SYSTEM;
        return tina_yield(); /* the mail waits to the next pass: the check sees it */
    case TIMER_OWNER: /* a timer whose owner is another incarnation */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000000u, 0, H_TAG_FIRST, &id), TINA_OK);
        s->wheel.timers[(uint32_t)id].owner ^= 1;
        break;
    case MONITOR_TARGET: { /* a monitor of itself, then its target's generation moves */
        H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_self(ctx)), TINA_OK);
        s->monitors.entries[ctx->type->slots[ctx->slot].monitor_head].target ^= 1;
        break;
    }
    case MONITOR_WATCHER: /* a monitor its watcher's list has lost */
        H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_self(ctx)), TINA_OK);
        ctx->type->reach[ctx->slot].watching = TINA__NIL;
        break;
    case MAILBOX_BOUND: /* mail past the bound, through the back door */
        for (int k = 0; k < 3; k++)
            H_CHECK_RESULT(ctx, tina_send(ctx, tina_self(ctx), H_TAG_FIRST, NULL, 0), TINA_OK);
        ctx->type->mailbox_capacity = 1;
        return tina_yield(); /* the mail waits to the next pass: the check sees it */
    case SPIN: /* work pending that no pass will ever do */
        s->restart_pending++;
        break;
    case NOTHING: break;
    }
    return tina_receive();
}

static tina_sim_report run(enum sabotage what) {
    g_sabotage = what;
    uint32_t spin = what == SPIN ? 50 : 0; /* the detector before the lists checker looks */
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("saboteur", uint32_t, 2, 0, 1, h_kick_init, saboteur);
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_sim_config config = {.seed = 5, .check_every_rounds = spin ? 100000 : 1,
                              .round_limit = 100000, .spin_rounds_max = spin};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    return r;
}

static void expect_caught(enum sabotage what, const char *name) {
    tina_sim_report r = run(what);
    cr_assert(eq(u32, r.reason, TINA_SIM_CHECKER), "%s: reason %u", name, r.reason);
    cr_assert(eq(int, strncmp(r.failure, name, strlen(name)), 0), "%s: got '%s'", name, r.failure);
    char line[256];
    tina_sim_summary(&r, line, sizeof(line));
    cr_assert(not(eq(ptr, strstr(line, "reason=checker"), NULL)), "%s", line);
}

Test(sim_checkers, a_clean_run_passes_every_check, .timeout = 30) {
    tina_sim_report r = run(NOTHING);
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT), "%s", r.failure);
}
Test(sim_checkers, pool_accounting, .timeout = 30) { expect_caught(POOL, "pool"); }
Test(sim_checkers, mailbox_counts, .timeout = 30) { expect_caught(MAILBOX, "mailbox"); }
Test(sim_checkers, generations, .timeout = 30) { expect_caught(GENERATION, "generation"); }
Test(sim_checkers, channel_accounting, .timeout = 30) { expect_caught(CHANNEL, "channel"); }
Test(sim_checkers, liveness, .timeout = 30) { expect_caught(LIVENESS, "liveness"); }
Test(sim_checkers, slot_lists, .timeout = 30) { expect_caught(LISTS, "lists"); }
Test(sim_checkers, live_counts, .timeout = 30) { expect_caught(LIVE_COUNT, "lists"); }
Test(sim_checkers, user_traffic_outside_the_user_region, .timeout = 30) {
    expect_caught(REGION, "pool");
}
Test(sim_checkers, timer_owners, .timeout = 30) { expect_caught(TIMER_OWNER, "timers"); }
Test(sim_checkers, monitor_targets, .timeout = 30) { expect_caught(MONITOR_TARGET, "monitors"); }
Test(sim_checkers, monitor_watcher_lists, .timeout = 30) {
    expect_caught(MONITOR_WATCHER, "monitors");
}
Test(sim_checkers, mailbox_bounds, .timeout = 30) { expect_caught(MAILBOX_BOUND, "mailbox"); }
Test(sim_checkers, a_shard_that_would_spin, .timeout = 30) { expect_caught(SPIN, "liveness"); }

/* ---- a calm that never settles ------------------------------------------------ */

static tina_effect ticker(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    tina_timer_id id;
    if (msg->tag == H_TAG_KICK) /* a periodic timer nobody cancels: never quiescent */
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 100000, 100000, H_TAG_FIRST, &id), TINA_OK);
    return tina_receive();
}

Test(sim_checkers, a_run_that_does_not_settle_in_the_calm, .timeout = 30) {
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("ticker", uint32_t, 1, 16, 1, h_kick_init, ticker);
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_sim_config config = {.seed = 5, .round_limit = 1000000, .calm_at_ns = 1000000,
                              .calm_rounds_max = 500};
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    cr_assert(eq(u32, r.reason, TINA_SIM_CHECKER));
    cr_assert(eq(int, strncmp(r.failure, "liveness: not settled 500 rounds", 32), 0), "%s", r.failure);
    cr_assert(le(u64, r.rounds, 2000), "stopped right after its bound: %llu rounds",
              (unsigned long long)r.rounds);
}

/* ---- user checkers and sweeps ------------------------------------------------ */

/* Accounts pass tokens to each other; money is never created.  The broken
 * variant creates a token in init for one seed in four (its random source
 * decides), which the user checker finds. */
typedef struct account {
    int64_t balance;
    uint32_t sends;
} account;

static int g_broken;

static uint32_t account_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    account *a = self;
    H_UNUSED(args), H_UNUSED(size);
    a->balance = 100;
    if (g_broken && tina_shard_id(ctx) == 0 && tina_random(ctx) % 4 == 0) a->balance++;
    h_kick(ctx);
    return 0;
}

static tina_effect account_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    account *a = self;
    if (msg->tag == H_TAG_FIRST) { /* a deposit */
        int64_t amount;
        memcpy(&amount, msg->payload, sizeof(amount));
        a->balance += amount;
        return tina_receive();
    }
    if (a->sends++ < 50 && a->balance > 0) {
        int64_t amount = 1;
        tina_handle to = tina_child_handle(ctx, 0, (uint32_t)(tina_random(ctx) % 2));
        if (tina_send(ctx, to, H_TAG_FIRST, &amount, sizeof(amount)) == TINA_OK) a->balance--;
        (void)tina_send(ctx, tina_self(ctx), H_TAG_KICK, NULL, 0);
    }
    return tina_receive();
}

static void sum_balance(void *acc, tina_handle h, const void *state) {
    H_UNUSED(h);
    *(int64_t *)acc += ((const account *)state)->balance;
}

/* Money may be in flight, never more than there was: sum <= 200. */
static int money_check(void *user, const tina_runtime *rt, char *why, size_t why_size) {
    H_UNUSED(user);
    int64_t sum = 0;
    tina_sim_each(rt, 0, sum_balance, &sum);
    if (sum <= 200) return 0;
    snprintf(why, why_size, "money created: balances sum to %lld of 200", (long long)sum);
    return 1;
}

static tina_spec bank_spec(void) {
    static tina_type_spec types[1];
    static tina_child_spec children[1];
    types[0] = (tina_type_spec)H_TYPE("account", account, 1, 256, 1, account_init, account_handle);
    children[0] = (tina_child_spec)H_CHILD(0, TINA_SHARD_EVERY);
    return h_spec(types, 1, children, 1, 2);
}

Test(sim_checkers, a_user_checker_stops_the_run_with_its_reason, .timeout = 60) {
    tina_spec spec = bank_spec();
    tina_sim_config config = {.shuffle = 1, .check = money_check, .check_every_rounds = 1};
    g_broken = 0;
    uint32_t failed = 99;
    H_ASSERT_RESULT(tina_simulate_sweep(&spec, &config, 1, 16, NULL, 0, &failed), TINA_OK);
    cr_assert(eq(u32, failed, 0), "the correct bank conserves money on every seed");
    g_broken = 1;
    uint64_t seeds[16];
    H_ASSERT_RESULT(tina_simulate_sweep(&spec, &config, 1, 16, seeds, 16, &failed), TINA_OK);
    cr_assert(ge(u32, failed, 1), "the bug is found within 16 seeds");
    cr_assert(lt(u32, failed, 16), "and only where the seed triggers it");
    /* Each failing seed replays to the same failure. */
    for (uint32_t k = 0; k < failed; k++) {
        tina_sim_report r;
        config.seed = seeds[k];
        unsetenv("TINA_SEED");
        H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
        cr_assert(eq(u32, r.reason, TINA_SIM_CHECKER), "seed %llu", (unsigned long long)seeds[k]);
        cr_assert(eq(int, strncmp(r.failure, "money created", 13), 0), "%s", r.failure);
    }
}
