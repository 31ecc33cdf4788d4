/*
 * test_lifecycle.c -- stopping and idling.
 *
 * SIGTERM and SIGINT end tina_run cleanly (TINA_OK) when the runtime owns
 * the signals; an idle runtime costs next to no CPU: its shards sleep
 * instead of spinning, and wake for their timers.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"

typedef struct plain {
    uint64_t unused;
} plain;

/* ---- a signal ends the run -------------------------------------------- */

static int g_signal;
static uint64_t g_ticks;

static uint32_t raiser_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(1), H_MS(1), H_TAG_FIRST, &id), TINA_OK);
    return 0;
}

static tina_effect raiser(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    /* A few ticks in, the process gets the signal, as from a terminal. */
    if (++g_ticks == 5) H_CHECK_EQ(ctx, kill(getpid(), g_signal), 0);
    return tina_receive();
}

static void signal_ends_run(int sig) {
    g_signal = sig;
    g_ticks = 0;
    tina_type_spec types[] = {H_TYPE("raiser", plain, 1, 0, 1, raiser_init, raiser)};
    tina_child_spec children[] = {H_CHILD(0, 1)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.no_signal_handlers = 0; /* the runtime owns SIGINT/SIGTERM while it runs */
    tina_runtime *rt = h_create(&spec);
    cr_assert(eq(int, tina_run(rt), TINA_OK));
    h_assert_no_failures();
    cr_assert(ge(u64, g_ticks, 5), "stopped by the signal, not before");
    struct sigaction now;
    sigaction(sig, NULL, &now);
    cr_assert(eq(ptr, (void *)now.sa_handler, (void *)SIG_DFL), "handler restored after run");
    tina_destroy(rt);
}

Test(lifecycle, sigterm_ends_run_cleanly, .timeout = 30) { signal_ends_run(SIGTERM); }
Test(lifecycle, sigint_ends_run_cleanly, .timeout = 30) { signal_ends_run(SIGINT); }

/* ---- idle costs nothing ---------------------------------------------------- */

/* Two shards with nothing to do but one 20 ms timer on shard 0 that stops
 * the run after 500 ms.  Spinning shards would burn 2 x 500 ms of CPU. */
static uint64_t g_idle_ticks;

static uint32_t idler_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    tina_timer_id id;
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, H_MS(20), H_MS(20), H_TAG_FIRST, &id), TINA_OK);
    return 0;
}

static tina_effect idler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    if (++g_idle_ticks == 25) tina_request_stop(ctx);
    return tina_receive();
}

static uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

Test(lifecycle, idle_shards_sleep_and_cost_almost_no_cpu, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("idler", plain, 1, 0, 1, idler_init, idler)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    tina_runtime *rt = h_create(&spec);
    uint64_t cpu0 = cpu_ns(), wall0 = wall_ns();
    h_run(rt);
    uint64_t cpu = cpu_ns() - cpu0, wall = wall_ns() - wall0;
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    cr_assert(ge(u64, wall, H_MS(480)), "the run lasted its 25 ticks");
    /* Under 10% of one core for two shards (sanitizers included). */
    cr_assert(lt(u64, cpu, wall / 10), "cpu %" PRIu64 " ns over %" PRIu64 " ns wall", cpu, wall);
    cr_assert(ge(u64, s0.sleeps, 20), "shard 0 slept between its timer ticks");
    /* Shard 1 has no isolate, no timer and no peer that writes to it: the
     * stop is the only doorbell it can hear, and a stop ends the loop
     * without another pass.  So it goes to sleep exactly once and stays
     * asleep.  (How many passes its idle_spin_ns window holds before that
     * sleep depends on the core's speed, and is not asserted.) */
    cr_assert(eq(u64, s1.sleeps, 1), "shard 1 slept once and stayed asleep");
    tina_destroy(rt);
}

/* ---- the adaptive idle spin --------------------------------------------------- */

/* A ticker whose timer comes LONG apart ten times (20 ms, far past the
 * 5 ms most the shard may poll), then SHORT apart ten times (20 us): the
 * long gaps teach the shard to sleep at once, the short ones to poll
 * again.  Each gap is at least its timer's delay, so "long" holds however
 * loaded the machine; "short" holds unless the thread is kept off its core
 * for more than 5 ms, which only a few of ten may be. */
#define SPIN_MAX_NS H_MS(5)
static tina_shard_stats g_spin_after_long;

static tina_effect spin_ticker(void *self, tina_ctx *ctx, const tina_msg *msg) {
    uint32_t *ticks = self;
    tina_timer_id id;
    if (msg->tag != H_TAG_KICK && msg->tag != H_TAG_FIRST) return tina_receive();
    uint32_t k = (*ticks)++;
    if (k == 10) g_spin_after_long = *tina_ctx_stats(ctx);
    if (k == 20) {
        tina_request_stop(ctx);
        return tina_receive();
    }
    H_CHECK_RESULT(ctx, tina_timer_set(ctx, k < 10 ? H_MS(20) : 20000, 0, H_TAG_FIRST, &id), TINA_OK);
    return tina_receive();
}

static tina_shard_stats spin_run(uint32_t fixed) {
    tina_type_spec types[] = {H_TYPE("ticker", uint32_t, 1, 4, 1, h_kick_init, spin_ticker)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.idle_spin_ns = SPIN_MAX_NS;
    spec.idle_spin_fixed = fixed;
    spec.timer_resolution_ns = 1000;
    memset(&g_spin_after_long, 0, sizeof(g_spin_after_long));
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt);
    return st;
}

Test(lifecycle, the_idle_spin_stops_polling_for_rare_work_and_polls_again_for_frequent,
     .timeout = 30) {
    tina_shard_stats st = spin_run(0);
    /* Ten 20 ms gaps: each lost, each halving the poll from 5 ms. */
    cr_assert(ge(u64, g_spin_after_long.spin_lost, 10), "lost %" PRIu64,
              g_spin_after_long.spin_lost);
    cr_assert(le(u64, g_spin_after_long.spin_budget_ns, SPIN_MAX_NS >> 9),
              "after ten long gaps the shard polls %" PRIu64 " ns", g_spin_after_long.spin_budget_ns);
    /* Ten 20 us gaps: mostly won, each doubling it again. */
    cr_assert(ge(u64, st.spin_won - g_spin_after_long.spin_won, 7), "won %" PRIu64 " of 10",
              st.spin_won - g_spin_after_long.spin_won);
    cr_assert(ge(u64, st.spin_budget_ns, 16 * g_spin_after_long.spin_budget_ns + 1),
              "the poll grew back: %" PRIu64 " ns", st.spin_budget_ns);
}

Test(lifecycle, a_fixed_idle_spin_always_polls_its_whole_window, .timeout = 30) {
    tina_shard_stats st = spin_run(1);
    cr_assert(eq(u64, st.spin_won + st.spin_lost, 0), "nothing adapted");
    cr_assert(eq(u64, st.spin_budget_ns, SPIN_MAX_NS));
}

/* ---- the watchdog ------------------------------------------------------------ */

/* A handler that spins for 300 ms (an explicit, bounded busy wait) with a
 * 50 ms stall threshold: the watchdog reports it exactly once. */
static uint64_t g_spun;

static tina_effect staller(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    uint64_t start = wall_ns();
    while (wall_ns() - start < H_MS(300)) g_spun++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(lifecycle, the_watchdog_reports_a_stuck_handler_once, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("staller", plain, 1, 0, 1, h_kick_init, staller)};
    tina_child_spec children[] = {H_CHILD(0, 1)};
    tina_spec spec = h_spec(types, 1, children, 1, 2);
    spec.watchdog_ns = H_MS(50);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    h_assert_no_failures();
    cr_assert(eq(u64, h_stats(rt, 1).stalls, 1), "one stall, reported once");
    cr_assert(eq(u64, h_stats(rt, 0).stalls, 0), "the idle shard sleeps: not a stall");
    tina_destroy(rt);
}

/* ---- who is who in top -H ----------------------------------------------------- */

/* How many of this process's threads are called `name` (/proc/self/task). */
static int threads_named(const char *name) {
    int found = 0;
    DIR *dir = opendir("/proc/self/task");
    cr_assert(not(eq(ptr, dir, NULL)));
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.') continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue; /* a thread that just ended */
        if (fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0 &&
            comm[strlen(name)] == '\n')
            found++;
        fclose(f);
    }
    closedir(dir);
    return found;
}

Test(lifecycle, threads_are_named_for_top_and_perf, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("idle", plain, 1, 0, 1, NULL, staller)};
    tina_spec spec = h_spec(types, 1, NULL, 0, 2);
    spec.watchdog_ns = H_MS(500);
    tina_runtime *rt = h_create(&spec);
    /* The threads name themselves as they start: wait for it, bounded. */
    int shard0 = 0, shard1 = 0, watchdog = 0;
    for (int tries = 0; tries < 2000 && !(shard0 && shard1 && watchdog); tries++) {
        shard0 = threads_named("tina/shard0");
        shard1 = threads_named("tina/shard1");
        watchdog = threads_named("tina/watchdog");
        if (!(shard0 && shard1 && watchdog)) usleep(1000);
    }
    cr_assert(eq(int, shard0, 1), "one thread named tina/shard0");
    cr_assert(eq(int, shard1, 1), "one thread named tina/shard1");
    cr_assert(eq(int, watchdog, 1), "one thread named tina/watchdog");
    tina_destroy(rt);
}

/* ---- a second signal forces the exit ---------------------------------------- */

/* A spinner ignores its shutdown notice (it yields forever) and the
 * shutdown timeout is 60 s: only the second SIGTERM can end the run. */
static uint64_t g_forced_spins;

static tina_effect forced(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    ++g_forced_spins;
    if (g_forced_spins == 1000) H_CHECK_EQ(ctx, kill(getpid(), SIGTERM), 0); /* graceful */
    /* The second only once the first has been handled: two SIGTERMs pending
     * at once would merge into one. */
    if (msg->tag == TINA_TAG_SHUTDOWN) H_CHECK_EQ(ctx, kill(getpid(), SIGTERM), 0); /* forced */
    return tina_yield();
}

Test(lifecycle, a_second_signal_forces_the_exit, .timeout = 30) {
    g_forced_spins = 0;
    tina_type_spec types[] = {H_TYPE("forced", plain, 1, 0, 1, h_kick_init, forced)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.no_signal_handlers = 0;
    spec.shutdown_timeout_ns = H_MS(60000);
    tina_runtime *rt = h_create(&spec);
    uint64_t start = wall_ns();
    cr_assert(eq(int, tina_run(rt), TINA_OK));
    h_assert_no_failures();
    cr_assert(lt(u64, wall_ns() - start, H_MS(20000)), "not the 60 s shutdown timeout");
    tina_shard_stats st = h_stats(rt, 0);
    cr_assert(eq(u64, st.shutdown_notices, 1), "the first signal began the shutdown");
    cr_assert(eq(u64, st.live, 1), "the second one stopped it with the spinner alive");
    tina_destroy(rt);
}
