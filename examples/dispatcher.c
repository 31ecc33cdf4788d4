/*
 * dispatcher -- the flagship demo: jobs, crashes, restarts, load shedding.
 *
 *   dispatcher [--seconds=S] [--workers=N]
 *
 * One dispatcher on shard 0 hands jobs to N workers on every shard.  Some
 * jobs (one in 251, so every worker gets some) make a worker fail: a user crash (tina_crash), a real NULL pointer
 * dereference, an integer division by zero.  The trap boundary turns each
 * fault into a crash of that worker alone; its supervision group (one-for-
 * one, budget 1000 restarts per second) restarts it in a fresh struct.
 * Nobody needs to learn the new incarnation's handle: the dispatcher sends
 * jobs to each worker's address (tina_child_address), which reaches
 * whichever incarnation runs when the job arrives, and workers send results
 * to the dispatcher's address the same way.  A job that arrives while its
 * worker is being restarted is refused by name (TINA_ENOT_RUNNING).  The
 * dispatcher monitors every worker by address, so it learns of each death
 * from a DOWN naming the incarnation that died -- and on purpose it sends
 * to that dead handle once, to show that a stale send fails safely
 * (TINA_ESTALE locally, dropped and counted on arrival across shards): a
 * handle never reaches a successor; only an address does.
 *
 * In the middle third of the run the dispatcher goes into overload: it
 * offers each worker ten times what it can take, and the workers' small
 * mailboxes answer with TINA_EMAILBOX_FULL at once -- load is shed, memory
 * stays flat.  At the end the dispatcher asks for a graceful shutdown;
 * every isolate gets its notice, drains and finishes; the counters are
 * printed and checked.  Exit status 0 when the story holds together.
 *
 * --sim runs the very same program under the deterministic simulator: every
 * shard on one thread, simulated time, one seed (--seed=N, or TINA_SEED)
 * giving one execution; it prints the report line with the trace digest.
 * --faults=PROFILE turns on a named set of injected faults (crash,
 * network, stall or all: see tina_sim_faults); --seeds=N sweeps N seeds
 * and prints the command that replays each failing one.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flags.h"
#include "tina.h"

#define WORKERS_MAX 64u
#define SHARDS_MAX 16u

enum { TAG_JOB = TINA_TAG_USER, TAG_RESULT, TAG_TICK };
enum { JOB_WORK = 0, JOB_CRASH = 1, JOB_NULL = 2, JOB_DIVIDE = 3 };

static uint32_t g_seconds = 3, g_workers_per_shard = 4, g_sim, g_seed = 1, g_seeds;
static const char *g_faults = "none";

/* Read by main after tina_run: written only by the dispatcher's shard. */
static struct {
    uint64_t jobs_sent, results, mailbox_full, not_running, address_stale, monitors, downs,
        down_crashed, down_segv, down_fpe, stale_local, stale_remote_sent, bursts;
    uint32_t worker_count;
} g;

/* ---- worker --------------------------------------------------------------- */

typedef struct worker {
    uint32_t id;
    uint64_t done;
} worker;

typedef struct job {
    uint32_t kind;
    uint32_t worker;
    uint64_t seq;
} job;

static volatile int *volatile g_null;
static volatile int g_zero;

static uint32_t worker_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    worker *w = self;
    uint32_t slot;
    if (size != sizeof(slot)) return 1;
    memcpy(&slot, args, sizeof(slot));
    w->id = tina_shard_id(ctx) * g_workers_per_shard + slot;
    return 0;
}

static tina_effect worker_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    worker *w = self;
    if (msg->tag != TAG_JOB) return tina_receive(); /* shutdown notice: nothing to drain */
    job j;
    memcpy(&j, msg->payload, sizeof(j));
    switch (j.kind) {
    case JOB_CRASH:
        return tina_crash(42);
    case JOB_NULL:
        *g_null = 1; /* a real invalid memory access */
        break;
    case JOB_DIVIDE:
        g_zero = 100 / g_zero; /* (1 / x is folded into a compare: no division) */
        break;
    default:
        break;
    }
    uint64_t spin = 0;
    for (int k = 0; k < 2000; k++) spin = spin * 31u + (uint64_t)k; /* a little real work */
    w->done += 1 + (spin == 42); /* keeps the work from being optimised away */
    /* To the dispatcher's address: a restarted dispatcher gets it too. */
    (void)tina_send(ctx, tina_child_address(ctx, 0, 0), TAG_RESULT, &j.seq, sizeof(j.seq));
    return tina_receive();
}

/* ---- dispatcher ----------------------------------------------------------- */

/* The dispatcher's state outlives its incarnations (as if kept on disk):
 * a restart (an injected crash under the simulator) carries on with the
 * same workers and phase instead of starting the story again. */
typedef struct dispatcher {
    uint8_t watched[WORKERS_MAX]; /* a monitor of the worker's address is set */
    uint64_t seq;
    uint64_t started_ns;
    uint32_t next;
    uint32_t phase; /* 0 normal, 1 overload, 2 calm, 3 shutting down */
} dispatcher;

static dispatcher g_desk;

static uint32_t dispatcher_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    dispatcher *d = &g_desk;
    (void)self, (void)args, (void)size;
    if (tina_self(ctx) == tina_child_handle(ctx, 0, 0)) { /* first incarnation of this run */
        memset(&g, 0, sizeof(g)); /* one run's counters (a sweep runs many) */
        memset(d, 0, sizeof(*d));
        d->started_ns = tina_now_ns(ctx);
        g.worker_count = tina_shard_count(ctx) * g_workers_per_shard;
    }
    /* Watch every worker again at the next tick: a dead watcher's monitors
     * died with it. */
    memset(d->watched, 0, sizeof(d->watched));
    tina_timer_id id;
    return tina_timer_set(ctx, 1000000u, 1000000u, TAG_TICK, &id) == TINA_OK ? 0 : 1;
}

static const char *how_text(uint32_t how, uint32_t reason) {
    if (how != TINA_DOWN_CRASHED) return how == TINA_DOWN_DONE ? "done" : "terminated";
    if (reason == TINA_CRASH_SIGNAL_BASE + SIGSEGV) return "crashed: SIGSEGV (invalid memory access)";
    if (reason == TINA_CRASH_SIGNAL_BASE + SIGFPE) return "crashed: SIGFPE (division by zero)";
    return "crashed: tina_crash";
}

/* Worker w is static child 1 + (w % per shard) on shard w / per shard:
 * its address reaches whichever incarnation of it runs. */
static tina_handle worker_address(tina_ctx *ctx, uint32_t w) {
    return tina_child_address(ctx, 1 + w % g_workers_per_shard, w / g_workers_per_shard);
}

static uint32_t worker_of(tina_ctx *ctx, tina_handle h) {
    for (uint32_t w = 0; w < g.worker_count; w++)
        if (tina_address_of(h) == worker_address(ctx, w)) return w; /* its first incarnation */
    for (uint32_t w = 0; w < g.worker_count; w++) { /* a later one: same shard, type, slot */
        tina_handle a = worker_address(ctx, w);
        if (tina_handle_shard(a) == tina_handle_shard(h) && tina_handle_slot(a) == tina_handle_slot(h) &&
            tina_handle_type(a) == tina_handle_type(h))
            return w;
    }
    return WORKERS_MAX;
}

static void on_down(dispatcher *d, tina_ctx *ctx, const tina_msg *msg) {
    tina_down down;
    memcpy(&down, msg->payload, sizeof(down));
    uint32_t w = worker_of(ctx, down.target);
    if (w >= WORKERS_MAX) return;
    d->watched[w] = 0; /* watch the next incarnation from the next tick */
    if (down.how == TINA_DOWN_NOPROC) return; /* it was being restarted when we asked */
    g.downs++;
    if (down.how == TINA_DOWN_CRASHED) g.down_crashed++;
    if (down.reason == TINA_CRASH_SIGNAL_BASE + SIGSEGV) g.down_segv++;
    if (down.reason == TINA_CRASH_SIGNAL_BASE + SIGFPE) g.down_fpe++;
    /* Show that the dead incarnation's handle is dead weight: it never
     * reaches the successor (an address would). */
    tina_result r = tina_send(ctx, down.target, TAG_JOB, &(job){0}, sizeof(job));
    if (r == TINA_ESTALE) g.stale_local++;
    else if (r == TINA_OK) g.stale_remote_sent++; /* dropped on arrival, counted there */
    if (g.downs <= 4)
        tina_log(ctx, TINA_LOG_INFO, "worker %u %s; a send to its old handle: %s; its address "
                 "reaches the next one", w, how_text(down.how, down.reason), tina_result_name(r));
}

/* Each tick: watch every worker not watched (its address: the DOWN will
 * name the incarnation that died). */
static void watch_workers(dispatcher *d, tina_ctx *ctx) {
    for (uint32_t w = 0; w < g.worker_count; w++) {
        if (d->watched[w]) continue;
        if (tina_monitor(ctx, worker_address(ctx, w)) != TINA_OK) return; /* again next tick */
        d->watched[w] = 1;
        g.monitors++;
    }
}

static void send_job(dispatcher *d, tina_ctx *ctx, uint32_t kind) {
    uint32_t w = d->next++ % g.worker_count;
    job j = {.kind = kind, .worker = w, .seq = ++d->seq};
    tina_result r = tina_send(ctx, worker_address(ctx, w), TAG_JOB, &j, sizeof(j));
    if (r == TINA_OK) g.jobs_sent++;
    else if (r == TINA_EMAILBOX_FULL) g.mailbox_full++;
    else if (r == TINA_ENOT_RUNNING) g.not_running++; /* being restarted: it lost this one */
    else if (r == TINA_ESTALE) g.address_stale++;     /* never: workers are permanent */
}

static void on_tick(dispatcher *d, tina_ctx *ctx) {
    uint64_t elapsed = tina_now_ns(ctx) - d->started_ns, total = (uint64_t)g_seconds * 1000000000u;
    uint32_t phase = elapsed < total / 3 ? 0 : elapsed < 2 * total / 3 ? 1 : elapsed < total ? 2 : 3;
    if (phase != d->phase) {
        static const char *const names[] = {"normal", "overload: 10x offered", "calm", "shutdown"};
        tina_log(ctx, TINA_LOG_INFO, "phase: %s", names[phase]);
        d->phase = phase;
        if (phase == 3) {
            tina_request_shutdown(ctx);
            return;
        }
    }
    if (phase == 3) return;
    watch_workers(d, ctx);
    /* Normal: a few jobs per worker per tick; one in 64 fails, in turn. */
    uint32_t jobs = g.worker_count * (phase == 1 ? 40u : 4u);
    if (phase == 1) g.bursts++;
    for (uint32_t k = 0; k < jobs; k++) {
        uint32_t kind = JOB_WORK;
        if (phase != 1 && d->seq % 251 == 250) kind = 1u + (uint32_t)((d->seq / 251) % 3);
        send_job(d, ctx, kind);
    }
}

static tina_effect dispatcher_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    dispatcher *d = &g_desk;
    (void)self;
    switch (msg->tag) {
    case TAG_RESULT: g.results++; break;
    case TINA_TAG_DOWN: on_down(d, ctx, msg); break;
    case TAG_TICK: on_tick(d, ctx); break;
    default: break;
    }
    return tina_receive();
}

/* ---- main ------------------------------------------------------------------ */

static void replay_line(uint64_t seed) {
    printf("  replay: TINA_SEED=0x%llx build/examples/dispatcher --sim", (unsigned long long)seed);
    if (strcmp(g_faults, "none") != 0) printf(" --faults=%s", g_faults);
    printf("\n");
}

static int sweep(const tina_spec *spec) {
    tina_sim_config config = {.shuffle = 1};
    (void)tina_sim_faults(&config, g_faults); /* checked in main */
    uint64_t failing[16];
    uint32_t failed = 0;
    tina_result r = tina_simulate_sweep(spec, &config, g_seed, g_seeds, failing, 16, &failed);
    if (r != TINA_OK) {
        fprintf(stderr, "dispatcher: %s\n", tina_strerror(r));
        return 1;
    }
    printf("dispatcher: %u seeds from %u, %u failing\n", g_seeds, g_seed, failed);
    for (uint32_t k = 0; k < failed && k < 16; k++) replay_line(failing[k]);
    return failed ? 1 : 0;
}

static int simulate(const tina_spec *spec) {
    if (g_seeds) return sweep(spec);
    tina_sim_config config = {.seed = g_seed, .shuffle = 1};
    (void)tina_sim_faults(&config, g_faults); /* checked in main */
    tina_sim_report report;
    tina_result r = tina_simulate(spec, &config, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "dispatcher: %s\n", tina_strerror(r));
        return 1;
    }
    char line[160];
    tina_sim_summary(&report, line, sizeof(line));
    printf("jobs sent %" PRIu64 ", results %" PRIu64 ", refused (mailbox full) %" PRIu64
           ", restarts %" PRIu64 ", refused (not running) %" PRIu64 "\n", g.jobs_sent,
           g.results, g.mailbox_full, report.total.restarts, g.not_running);
    printf("%s\n", line);
    printf("faults injected: crashes %" PRIu64 ", init failures %" PRIu64 ", drops %" PRIu64
           ", partitions %" PRIu64 ", stalls %" PRIu64 "; escalations %" PRIu64
           ", quarantines %" PRIu64 ", revivals %" PRIu64 "\n", report.crashes_injected,
           report.init_failures_injected, report.drops_injected, report.partitions_injected,
           report.stalls_injected, report.total.escalations, report.total.quarantines,
           report.total.revivals);
    int ok = report.reason == TINA_SIM_SHUTDOWN && g.results > 0 && report.total.restarts > 0 &&
             g.address_stale == 0;
    if (report.reason == TINA_SIM_CHECKER) printf("dispatcher: checker: %s\n", report.failure);
    if (!ok) {
        printf("dispatcher: FAILED (reason %s); replay with:\n", line);
        replay_line(report.seed);
    }
    return ok ? 0 : 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: dispatcher [--seconds=S] [--workers=N] [--sim [--seed=N | --seeds=N]\n"
               "                  [--faults=P]]\n"
               "  --seconds=S  run time in seconds, 1..3600 (default 3): a third normal, a\n"
               "               third overloaded at 10x, a third calm, then a graceful shutdown\n"
               "  --workers=N  workers per shard, 1..%u (default 4, at most %u in all)\n"
               "  --sim        run under the deterministic simulator (2 shards) and print\n"
               "               the report line: seed, trace digest, rounds, reason\n"
               "  --seed=N     the simulation's seed, 1..%u (default 1; TINA_SEED overrides)\n"
               "  --seeds=N    sweep N seeds, 1..1000000, from --seed under the simulator's\n"
               "               checkers and print the command that replays each failing one\n"
               "  --faults=P   injected faults under --sim: %s (default none)\n"
               "  --help       this text\n"
               "Exit status 0 when the counters tell the story; 1 when they do not;\n"
               "2 for a bad flag.\n",
            WORKERS_MAX, WORKERS_MAX, UINT32_MAX, TINA_SIM_FAULT_PROFILES);
}

/* --faults=P: a profile tina_sim_faults knows.  Returns 1 when arg is --faults. */
static int flag_faults(flags *f, const char *arg) {
    const char *profile;
    tina_sim_config probe = {0};
    if (!flag_text(f, arg, "--faults", &profile)) return 0;
    if (!profile) return 1; /* named already */
    if (tina_sim_faults(&probe, profile) != TINA_OK)
        return flag_bad(f, arg, "unknown profile (one of " TINA_SIM_FAULT_PROFILES ")");
    g_faults = profile;
    g_sim = 1;
    return 1;
}

int main(int argc, char **argv) {
    flags_help(argc, argv, usage);
    flags f = {.program = "dispatcher"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (flag_u32(&f, arg, "--seeds", 1, 1000000, &g_seeds)) {
            g_sim = 1;
            continue;
        }
        if (!flag_switch(&f, arg, "--sim", &g_sim) && !flag_faults(&f, arg) &&
            !flag_u32(&f, arg, "--seconds", 1, 3600, &g_seconds) &&
            !flag_u32(&f, arg, "--seed", 1, UINT32_MAX, &g_seed) &&
            !flag_u32(&f, arg, "--workers", 1, WORKERS_MAX, &g_workers_per_shard))
            flag_unknown(&f, arg);
    }
    flags_end(&f);
    static uint32_t slot_args[WORKERS_MAX];
    static tina_child_spec children[1 + WORKERS_MAX];
    tina_type_spec types[] = {
        {.name = "dispatcher", .struct_size = 8, .slots_per_shard = 1,
         .mailbox_capacity = 8192, .init = dispatcher_init, .handler = dispatcher_handle},
        {.name = "worker", .struct_size = sizeof(worker), .slots_per_shard = WORKERS_MAX,
         .mailbox_capacity = 16, .init = worker_init, .handler = worker_handle}};
    tina_group_spec groups[] = {
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1000,
         .window_ns = 1000000000ull},
        {.parent = 0, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1000,
         .window_ns = 1000000000ull}};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0, .restart = TINA_RESTART_PERMANENT};
    tina_spec spec = {.types = types, .type_count = 2, .children = children, .groups = groups,
                      .group_count = 2, .pool_user_slots = 16384, .pool_system_slots = 4096,
                      .shard_count = g_sim ? 2 : 0, .log_level = g_sim ? TINA_LOG_WARN : 0};
    tina_boot_report report;
    if (tina_validate(&spec, &report) != TINA_OK) { /* learn the shard count */
        fprintf(stderr, "dispatcher: %s\n", report.message);
        return 1;
    }
    if (report.shard_count > SHARDS_MAX || report.shard_count * g_workers_per_shard > WORKERS_MAX) {
        fprintf(stderr, "dispatcher: %u shards x %u workers (--workers=%u) is over %u\n",
                report.shard_count, g_workers_per_shard, g_workers_per_shard, WORKERS_MAX);
        return 2;
    }
    for (uint32_t k = 0; k < g_workers_per_shard; k++) {
        slot_args[k] = k;
        children[1 + k] = (tina_child_spec){.type_id = 1, .shard = TINA_SHARD_EVERY,
                                            .restart = TINA_RESTART_PERMANENT,
                                            .args_size = sizeof(uint32_t), .args = &slot_args[k],
                                            .group = 1};
    }
    spec.child_count = 1 + g_workers_per_shard;
    if (g_sim) return simulate(&spec);
    tina_runtime *rt;
    tina_result r = tina_create(&spec, &rt, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "dispatcher: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    printf("dispatcher: %u shards, %u workers, %u s, %.1f MiB reserved\n", report.shard_count,
           report.shard_count * g_workers_per_shard, g_seconds,
           (double)report.memory_bytes / (1024.0 * 1024.0));
    fflush(stdout);
    r = tina_run(rt);

    tina_shard_stats sum = {0}, st;
    uint64_t *acc = (uint64_t *)&sum;
    for (uint32_t s = 0; s < report.shard_count; s++) {
        (void)tina_stats(rt, s, &st);
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / 8; k++) acc[k] += v[k];
    }
    printf("jobs sent %" PRIu64 ", results %" PRIu64 ", refused (mailbox full) %" PRIu64 "\n",
           g.jobs_sent, g.results, g.mailbox_full);
    printf("worker deaths seen by monitor %" PRIu64 " (crashed %" PRIu64 ", SIGSEGV %" PRIu64
           ", SIGFPE %" PRIu64 ")\n", g.downs, g.down_crashed, g.down_segv, g.down_fpe);
    printf("restarts %" PRIu64 ", jobs refused while a worker restarted %" PRIu64
           " (by address, on arrival %" PRIu64 "), stale sends refused %" PRIu64
           ", stale sends dropped on arrival %" PRIu64 "\n", sum.restarts, g.not_running,
           sum.address_not_running, g.stale_local, sum.dropped_stale);
    printf("shards: sent %" PRIu64 ", delivered %" PRIu64 ", dispatched %" PRIu64
           ", crashes %" PRIu64 " (trapped %" PRIu64 "), shutdown notices %" PRIu64
           ", forced %" PRIu64 "\n", sum.sent, sum.delivered, sum.dispatched, sum.crashes,
           sum.crash_trapped, sum.shutdown_notices, sum.shutdown_forced);
    tina_destroy(rt);

    int ok = r == TINA_OK && g.results > 0 && g.down_segv > 0 && g.down_fpe > 0 &&
             sum.restarts >= g.down_crashed && g.down_crashed > 0 && g.address_stale == 0 &&
             g.mailbox_full > 0 && g.stale_local + sum.dropped_stale > 0 && sum.shutdown_forced == 0;
    printf("dispatcher: %s\n", ok ? "ok" : "FAILED: the counters do not tell the story");
    return ok ? 0 : 1;
}
