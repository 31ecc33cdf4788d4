/*
 * sim_checkers.c -- each built-in checker catches a deliberately corrupted
 * state.
 *
 * A saboteur isolate reaches into its own shard's internals (this test
 * includes the runtime's private header on purpose) and breaks one
 * invariant; the next check (every round here) must stop the run with
 * reason TINA_SIM_CHECKER and name the broken invariant.
 */
#include "helpers.h"
#include "internal.h"

enum sabotage { POOL, MAILBOX, GENERATION, CHANNEL, LIVENESS, NOTHING };
static enum sabotage g_sabotage;

static uint32_t saboteur_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    h_kick(ctx);
    return 0;
}

static tina_effect saboteur(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *step = self;
    H_UNUSED(msg);
    struct tina__shard *s = ctx->shard;
    if (++*step < 5) { /* let a few clean rounds (and checks) pass first */
        (void)tina_send(ctx, tina_self(ctx), H_TAG_KICK, NULL, 0);
        return tina_receive();
    }
    tina_timer_id id;
    switch (g_sabotage) {
    case POOL: s->user_free++; break;
    case MAILBOX: ctx->type->slots[ctx->slot].mbox_count += 2; break;
    case GENERATION: ctx->type->slots[ctx->type->capacity - 1].generation = 0; break;
    case CHANNEL: atomic_store(&s->inbound[1]->consumer.dropped, 1000000); break;
    case LIVENESS:
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, 1000000000u, 0, H_TAG_FIRST, &id), TINA_OK);
        s->wheel.timers[(uint32_t)id].deadline_ns = 1; /* due long ago, never fired */
        break;
    case NOTHING: break;
    }
    return tina_receive();
}

static tina_sim_report run(enum sabotage what) {
    g_sabotage = what;
    static tina_type_spec types[1];
    types[0] = (tina_type_spec)H_TYPE("saboteur", uint32_t, 2, 0, 1, saboteur_init, saboteur);
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_sim_config config = {.seed = 5, .check_every_rounds = 1, .round_limit = 100000};
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
