/*
 * test_trap.c -- the trap boundary: real faults crash only their isolate.
 *
 * A victim isolate commits a real fault on its first message (NULL
 * dereference, integer division by zero, abort(), stack overflow, a bad
 * payload pointer handed to tina_send, or a fault in init) while a sibling
 * on the same shard keeps counting timer ticks.  The victim is a permanent
 * static child, so it is restarted and faults again; the run stops after
 * a few rounds.  Asserted: the sibling kept counting across every fault,
 * each fault is counted under its signal, restarts happened, and the pool
 * and timers balance afterwards.
 *
 * Sanitizer builds skip these tests: AddressSanitizer owns SIGSEGV and
 * UndefinedBehaviorSanitizer reports the division itself, which is what
 * they are for.
 */
#include <signal.h>
#include <stdlib.h>

#include "helpers.h"

#ifdef TINA_SANITIZE
#define TRAP_TEST_DISABLED true
#else
#define TRAP_TEST_DISABLED false
#endif

enum fault { FAULT_NULL, FAULT_DIVIDE, FAULT_ABORT, FAULT_OVERFLOW, FAULT_SEND_POINTER, FAULT_INIT };

#define ROUNDS 4u
#define TAG_TICK H_TAG_FIRST

typedef struct victim {
    uint64_t unused;
} victim;

static enum fault g_fault;
static _Atomic uint64_t g_victim_starts;
static uint64_t g_sibling_ticks, g_ticks_at_last_start;

static volatile int *volatile g_null;
static volatile int g_zero;

static volatile int g_depth_limit = 1 << 30; /* never reached: the stack ends first */

static int recurse(int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth >= g_depth_limit) return frame[0];
    return recurse(depth + 1) + frame[0];
}

static void commit_fault(tina_ctx *ctx) {
    switch (g_fault) {
    case FAULT_NULL:
        *g_null = 1;
        break;
    case FAULT_DIVIDE:
        g_zero = 100 / g_zero;
        break;
    case FAULT_ABORT:
        abort();
    case FAULT_OVERFLOW:
        (void)recurse(0);
        break;
    case FAULT_SEND_POINTER:
        (void)tina_send(ctx, tina_self(ctx), H_TAG_KICK, (const void *)16, 64);
        break;
    case FAULT_INIT:
        break;
    }
}

static uint32_t victim_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    g_ticks_at_last_start = g_sibling_ticks;
    if (atomic_fetch_add(&g_victim_starts, 1) + 1 >= ROUNDS) return 0; /* last round: live */
    if (g_fault == FAULT_INIT) *g_null = 1;
    h_kick(ctx);
    return 0;
}

static tina_effect victim_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) commit_fault(ctx);
    return tina_receive();
}

static uint32_t sibling_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, 100000u, 100000u, TAG_TICK, &id), TINA_OK);
    return 0;
}

static tina_effect sibling_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    g_sibling_ticks++;
    /* Stop once the last incarnation has lived through 20 more ticks. */
    if (atomic_load(&g_victim_starts) >= ROUNDS && g_sibling_ticks > g_ticks_at_last_start + 20)
        tina_request_stop(ctx);
    return tina_receive();
}

static tina_shard_stats run_fault(enum fault fault) {
    g_fault = fault;
    atomic_store(&g_victim_starts, 0);
    g_sibling_ticks = 0;
    tina_type_spec types[] = {H_TYPE("victim", victim, 1, 0, 1, victim_init, victim_handle),
                              H_TYPE("sibling", victim, 1, 0, 1, sibling_init, sibling_handle)};
    tina_child_spec children[] = {H_CHILD(1, 0), H_CHILD(0, 0)};
    children[1].restart = TINA_RESTART_PERMANENT;
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u64, atomic_load(&g_victim_starts), ROUNDS));
    cr_assert(eq(u64, st.crashes, ROUNDS - 1), "every fault crashed the victim once");
    cr_assert(eq(u64, st.crash_trapped, ROUNDS - 1));
    cr_assert(eq(u64, st.restarts, ROUNDS - 1));
    cr_assert(ge(u64, g_sibling_ticks, 21), "the sibling kept counting");
    cr_assert(eq(u64, st.live, 2), "victim and sibling alive at the end");
    cr_assert(eq(u64, st.pool_user_free, spec.pool_user_slots), "no message slot leaked");
    cr_assert(eq(u64, st.timers_live, 1), "only the sibling's periodic timer");
    tina_destroy(rt);
    return st;
}

Test(trap, null_dereference_crashes_only_its_isolate, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_NULL);
    cr_assert(eq(u64, st.crash_segv, ROUNDS - 1));
}

Test(trap, integer_division_by_zero_crashes_only_its_isolate, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_DIVIDE);
    cr_assert(eq(u64, st.crash_fpe, ROUNDS - 1));
}

Test(trap, abort_crashes_only_its_isolate, .timeout = 30, .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_ABORT);
    cr_assert(eq(u64, st.crash_abort, ROUNDS - 1));
}

Test(trap, stack_overflow_is_caught_on_the_alternate_stack, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_OVERFLOW);
    cr_assert(eq(u64, st.crash_segv, ROUNDS - 1));
}

Test(trap, bad_payload_pointer_faults_without_leaking_a_slot, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_SEND_POINTER);
    cr_assert(eq(u64, st.crash_segv, ROUNDS - 1));
    cr_assert(eq(u64, st.sent, ROUNDS - 1), "only the kicks: the faulting sends were never accepted");
}

Test(trap, fault_in_init_is_an_init_failure, .timeout = 30, .disabled = TRAP_TEST_DISABLED) {
    tina_shard_stats st = run_fault(FAULT_INIT);
    cr_assert(eq(u64, st.crash_segv, ROUNDS - 1));
    cr_assert(eq(u64, st.init_failed, ROUNDS - 1));
}
