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
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"
#include "shard/shard.h" /* TINA_ASSERT, to break an invariant on purpose */

#ifdef TINA_SANITIZE
#define TRAP_TEST_DISABLED true
#else
#define TRAP_TEST_DISABLED false
#endif

enum fault {
    FAULT_NULL,
    FAULT_DIVIDE,
    FAULT_ABORT,
    FAULT_OVERFLOW,
    FAULT_SEND_POINTER,
    FAULT_INIT,
    /* Not the handler's faults: each must end the process. */
    FAULT_ASSERT,
    FAULT_ASSERT_IN_INIT,
    FAULT_SEGV_TO_OWN_THREAD,
    FAULT_SEGV_FROM_OTHER_THREAD,
    FAULT_SEGV_TO_PROCESS,
    FAULT_SEGV_TO_PROCESS_UNARMED,
    FAULT_ABRT_TO_PROCESS,
};

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

static pthread_t g_victim_thread; /* for FAULT_SEGV_FROM_OTHER_THREAD's sender */

static int recurse(int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth >= g_depth_limit) return frame[0];
    return recurse(depth + 1) + frame[0];
}

/* Steer a signal sent to the process.  The test's main thread blocks the
 * trap signals (see run_until_killed) and the shard thread inherits the
 * mask: the victim unblocks the one it is about to be sent, so that it
 * lands on its own, armed, thread.  Or the victim blocks it, so that it
 * lands on a thread with no isolate running (the test's main thread). */
static void steer(int sig, int how) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    (void)pthread_sigmask(how, &set, NULL);
}

/* Another thread of the process signals the victim's shard thread
 * (tgkill: si_code SI_TKILL, si_pid our own pid). */
static void *segv_sender(void *arg) {
    H_UNUSED(arg);
    (void)pthread_kill(g_victim_thread, SIGSEGV);
    return NULL;
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
    case FAULT_ASSERT_IN_INIT:
        break;
    case FAULT_ASSERT:
        TINA_ASSERT(g_zero != 0 && "an invariant broken on purpose, while armed");
        break;
    case FAULT_SEGV_TO_OWN_THREAD:
        steer(SIGSEGV, SIG_UNBLOCK);
        (void)pthread_kill(pthread_self(), SIGSEGV);
        break;
    case FAULT_SEGV_FROM_OTHER_THREAD: {
        pthread_t sender;
        steer(SIGSEGV, SIG_UNBLOCK);
        g_victim_thread = pthread_self();
        if (pthread_create(&sender, NULL, segv_sender, NULL) != 0) break;
        (void)pthread_detach(sender);
        for (;;) (void)g_zero; /* armed, until the signal comes */
    }
    case FAULT_SEGV_TO_PROCESS:
        steer(SIGSEGV, SIG_UNBLOCK);
        (void)kill(getpid(), SIGSEGV);
        break;
    case FAULT_SEGV_TO_PROCESS_UNARMED:
        steer(SIGSEGV, SIG_BLOCK);
        (void)kill(getpid(), SIGSEGV);
        for (;;) (void)g_zero; /* the process must die without us */
    case FAULT_ABRT_TO_PROCESS:
        steer(SIGABRT, SIG_UNBLOCK);
        (void)kill(getpid(), SIGABRT);
        break;
    }
}

static uint32_t victim_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    g_ticks_at_last_start = g_sibling_ticks;
    if (atomic_fetch_add(&g_victim_starts, 1) + 1 >= ROUNDS) return 0; /* last round: live */
    if (g_fault == FAULT_INIT) *g_null = 1;
    if (g_fault == FAULT_ASSERT_IN_INIT)
        TINA_ASSERT(g_zero != 0 && "an invariant broken on purpose, in init");
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

static tina_runtime *run_victim(enum fault fault, tina_spec *spec) {
    g_fault = fault;
    atomic_store(&g_victim_starts, 0);
    g_sibling_ticks = 0;
    static tina_type_spec types[] = {
        H_TYPE("victim", victim, 1, 0, 1, victim_init, victim_handle),
        H_TYPE("sibling", victim, 1, 0, 1, sibling_init, sibling_handle)};
    static tina_child_spec children[] = {H_CHILD(1, 0), H_CHILD(0, 0)};
    children[1].restart = TINA_RESTART_PERMANENT;
    *spec = h_spec(types, 2, children, 2, 1);
    tina_runtime *rt = h_create(spec);
    h_run(rt);
    return rt;
}

/* The run must not return: the process dies of the signal the test
 * expects.  With block_here the trap signals are blocked on this thread,
 * and so on the shard thread it starts, so that one sent to the process
 * cannot land here: it reaches the victim's thread, which unblocks it,
 * while armed.  Without, this thread is where it lands. */
static void run_until_killed(enum fault fault, bool block_here) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGABRT);
    cr_assert(eq(int, pthread_sigmask(block_here ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL), 0));
    tina_spec spec;
    tina_runtime *rt = run_victim(fault, &spec);
    tina_shard_stats st = h_stats(rt, 0);
    cr_fail("the process survived: %" PRIu64 " crashes trapped (%" PRIu64 " segv, %" PRIu64
            " abort), %" PRIu64 " victim starts",
            st.crash_trapped, st.crash_segv, st.crash_abort, (uint64_t)atomic_load(&g_victim_starts));
}

static tina_shard_stats run_fault(enum fault fault) {
    tina_spec spec;
    tina_runtime *rt = run_victim(fault, &spec);
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

Test(trap, failed_assert_in_a_handler_ends_the_process, .timeout = 30, .signal = SIGABRT,
     .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_ASSERT, true);
}

Test(trap, failed_assert_in_init_ends_the_process, .timeout = 30, .signal = SIGABRT,
     .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_ASSERT_IN_INIT, true);
}

Test(trap, segv_a_handler_sends_its_own_thread_ends_the_process, .timeout = 30,
     .signal = SIGSEGV, .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_SEGV_TO_OWN_THREAD, true);
}

Test(trap, segv_from_another_thread_ends_the_process, .timeout = 30, .signal = SIGSEGV,
     .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_SEGV_FROM_OTHER_THREAD, true);
}

Test(trap, segv_sent_to_the_process_ends_it, .timeout = 30, .signal = SIGSEGV,
     .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_SEGV_TO_PROCESS, true);
}

Test(trap, segv_sent_to_the_process_ends_it_on_an_unarmed_thread, .timeout = 30,
     .signal = SIGSEGV, .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_SEGV_TO_PROCESS_UNARMED, false);
}

Test(trap, abrt_sent_to_the_process_ends_it, .timeout = 30, .signal = SIGABRT,
     .disabled = TRAP_TEST_DISABLED) {
    run_until_killed(FAULT_ABRT_TO_PROCESS, true);
}

/* ---- a fault inside a runtime call takes nothing with it ------------------ */

/* A bad args pointer handed to tina_spawn and tina_spawn_child faults
 * inside the runtime's call (trapped: the caller crashes) three times; the
 * caller's fourth incarnation then spawns into every slot of the `kid`
 * type and fills its group's dynamic room.  Nothing the faulting calls
 * began may be left taken: no slot, no dynamic count. */
#define KIDS 2u
static uint32_t g_spawner_starts, g_kids_spawned, g_children_spawned;

static uint32_t spawner_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    g_spawner_starts++;
    h_kick(ctx);
    return 0;
}

static tina_effect kid_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx), H_UNUSED(msg);
    return tina_receive();
}

static tina_effect spawner_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    tina_handle h;
    if (g_spawner_starts <= 3) { /* fault inside the runtime's call */
        const void *bad = (const void *)(uintptr_t)8;
        if (g_spawner_starts % 2) (void)tina_spawn(ctx, 1, bad, 16, &h);
        else (void)tina_spawn_child(ctx, 1, TINA_RESTART_TEMPORARY, 1, bad, 16, &h);
        h_fail(ctx, __FILE__, __LINE__, "the bad pointer did not fault");
        return tina_receive();
    }
    for (uint32_t k = 0; k < KIDS; k++) /* the group's dynamic room, then the type's slots */
        if (tina_spawn_child(ctx, 1, TINA_RESTART_TEMPORARY, 1, NULL, 0, &h) == TINA_OK)
            g_children_spawned++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(trap, a_fault_inside_spawn_leaks_no_slot_and_no_dynamic_room, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_type_spec types[] = {H_TYPE("spawner", victim, 1, 0, 1, spawner_init, spawner_handle),
                              H_TYPE("kid", victim, KIDS, 0, 1, NULL, kid_handle)};
    tina_child_spec children[] = {H_CHILD_ARGS(0, 0, TINA_RESTART_PERMANENT, &g_fault)};
    children[0].group = 0;
    static const tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 100,
         .window_ns = 1000000000ull},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 100,
         .window_ns = 1000000000ull, .dynamic_max = KIDS}};
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    spec.groups = groups;
    spec.group_count = 2;
    g_spawner_starts = g_kids_spawned = g_children_spawned = 0;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u32, g_spawner_starts, 4), "three faults, three restarts");
    cr_assert(eq(u64, st.crash_segv, 3));
    cr_assert(eq(u32, g_children_spawned, KIDS), "every kid slot and all the room were free");
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* Bad payload pointers on the send fast path's other ways out               */
/* ------------------------------------------------------------------------ */

#define TAG_REQUEST (H_TAG_FIRST + 1)
#define TAG_ANSWER (H_TAG_FIRST + 2)
#define TAG_PROBE (H_TAG_FIRST + 3)
#define BAD_POINTER ((const void *)16)

static int32_t g_call_result;  /* the caller's outcome: TINA_OK if it was answered */
static uint32_t g_outcomes;    /* outcomes the caller saw */
static uint32_t g_arrivals;    /* messages the remote receiver saw */

/* Calls the replier (child 1, same shard) and records how the call ends. */
static tina_effect caller_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK)
        return tina_call(tina_child_handle(ctx, 1, 0), TAG_REQUEST, NULL, 0, 1000000000ull);
    g_outcomes++;
    g_call_result = TINA_OK;
    if (msg->tag == TINA_TAG_CALL_FAILED) memcpy(&g_call_result, msg->payload, sizeof(int32_t));
    else if (msg->tag != TAG_ANSWER) g_call_result = TINA_EINVAL; /* a timeout: wrong */
    tina_request_stop(ctx);
    return tina_receive();
}

static tina_effect replier_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(ctx);
    if (msg->tag == TAG_REQUEST) return tina_reply(TAG_ANSWER, BAD_POINTER, 64);
    return tina_receive();
}

/* A local reply is written straight into the slot its call reserved: a
 * bad payload pointer faults before the call ends, so the callee crashes,
 * its caller is told at once that the call failed, and the reserved slot
 * goes back to the pool. */
Test(trap, a_local_reply_from_a_bad_pointer_fails_the_call, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_type_spec types[] = {H_TYPE("caller", victim, 1, 0, 1, h_kick_init, caller_handle),
                              H_TYPE("replier", victim, 1, 0, 1, NULL, replier_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 2, 1);
    g_outcomes = 0;
    g_call_result = TINA_EINVAL;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u32, g_outcomes, 1), "the call ended once");
    H_ASSERT_RESULT(g_call_result, TINA_ESTALE);
    cr_assert(eq(u64, st.crash_segv, 1), "the replier crashed on its payload");
    cr_assert(eq(u64, st.call_failed, 1));
    cr_assert(eq(u64, st.late_replies, 0), "no half-written reply was taken");
    cr_assert(eq(u64, st.pool_user_free, spec.pool_user_slots), "no message slot leaked");
    tina_destroy(rt);
}

/* Sends to the receiver on shard 1 from a bad pointer and faults. */
static tina_effect remote_sender_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK)
        (void)tina_send(ctx, tina_child_handle(ctx, 2, 1), TAG_REQUEST, BAD_POINTER, 64);
    return tina_receive();
}

/* Watches the sender; at its DOWN sends a probe down the same channel. */
static uint32_t prober_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, 0, 0)), TINA_OK);
    return 0;
}

static tina_effect prober_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    uint8_t probe[64] = {0};
    if (msg->tag == TINA_TAG_DOWN)
        H_CHECK_RESULT(ctx, tina_send(ctx, tina_child_handle(ctx, 2, 1), TAG_PROBE, probe,
                                      sizeof(probe)),
                       TINA_OK);
    return tina_receive();
}

/* The channel is FIFO: whatever the faulting send left would arrive first. */
static tina_effect receiver_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    g_arrivals++;
    H_CHECK_EQ(ctx, msg->tag, TAG_PROBE);
    tina_request_stop(ctx);
    return tina_receive();
}

/* A remote send writes straight into the ring and commits the slot only
 * after the copy: a bad payload pointer faults with nothing sent. */
Test(trap, a_remote_send_from_a_bad_pointer_sends_nothing, .timeout = 30,
     .disabled = TRAP_TEST_DISABLED) {
    tina_type_spec types[] = {
        H_TYPE("sender", victim, 1, 0, 1, h_kick_init, remote_sender_handle),
        H_TYPE("prober", victim, 1, 0, 1, prober_init, prober_handle),
        H_TYPE("receiver", victim, 1, 0, 1, NULL, receiver_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(2, 1)};
    tina_spec spec = h_spec(types, 3, children, 3, 2);
    g_arrivals = 0;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u32, g_arrivals, 1), "only the probe arrived");
    cr_assert(eq(u64, st.crash_segv, 1), "the sender crashed on its payload");
    cr_assert(eq(u64, st.sent_remote, 1), "the probe, and not the faulting send");
    cr_assert(eq(u64, h_channel(rt, 0, 1).accepted, 1));
    tina_destroy(rt);
}
