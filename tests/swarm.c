/*
 * swarm.c -- `make swarm SEEDS=N [FROM=S]`: run the swarm (swarm.h) over a
 * range of seeds, each in a child process, and report.
 *
 *   build/tests/swarm --seeds=N [--from=S] [--jobs=J] [--quiet]
 *   build/tests/swarm --seed=S [--verbose]     one seed, in this process
 *   TINA_SEED=S build/tests/swarm              the same
 *
 * Prints every failing seed with the command that replays it, seeds per
 * minute, and how often each feature and fault kind was on and what the
 * seeds did, summed.  Exits 1 if any seed failed.
 */
#include <signal.h>
#include <time.h>

#include "swarm.h"

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int flag_u64(const char *arg, const char *name, uint64_t *out) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=') return 0;
    char *end;
    *out = strtoull(arg + n + 1, &end, 0);
    return *end == 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: swarm [--seeds=N] [--from=S] [--jobs=J] [--quiet]\n"
               "       swarm --seed=S [--verbose]    (or TINA_SEED=S swarm)\n"
               "  --seeds=N    run N seeds (default 100)\n"
               "  --from=S     the first seed (default 1)\n"
               "  --jobs=J     seeds run in parallel, each in its own process (default 1)\n"
               "  --seed=S     run one seed in this process and print its report\n"
               "  --verbose    with --seed: the counts of what it did\n"
               "  --quiet      only the failing seeds and the summary\n"
               "  --digests    and each seed's digest and rounds (to compare two builds)\n"
               "  --help       this text\n");
}

static void counts_print(const struct swarm_counts *c, uint64_t seeds) {
    printf("features: times each was exercised, summed over %llu seeds\n",
           (unsigned long long)seeds);
#define SWARM_PRINT(name) printf("  %-22s %llu\n", #name, (unsigned long long)c->name);
    SWARM_FEATURES(SWARM_PRINT)
    printf("fault kinds: seeds with each switched on\n");
    SWARM_FAULTS(SWARM_PRINT)
    printf("what happened, summed:\n");
    SWARM_EVENTS(SWARM_PRINT)
#undef SWARM_PRINT
}

static void counts_add(struct swarm_counts *sum, const struct swarm_counts *c) {
    const uint64_t *from = (const uint64_t *)c;
    uint64_t *to = (uint64_t *)sum;
    for (size_t k = 0; k < sizeof(*c) / sizeof(uint64_t); k++) to[k] += from[k];
}

static int one_seed(uint64_t seed, int verbose) {
    struct swarm_result r;
    swarm_describe_runs = verbose;
    swarm_run_here(seed, &r);
    char line[512];
    tina_sim_summary(&r.report, line, sizeof(line));
    printf("%s\n", line);
    if (verbose) {
        counts_print(&r.counts, 1);
        printf("runtime: answers_lost %llu, late_replies %llu, dropped_on_arrival %llu, "
               "channel_full %llu, call_timeouts %llu\n",
               (unsigned long long)r.report.total.answers_lost,
               (unsigned long long)r.report.total.late_replies,
               (unsigned long long)r.report.total.dropped_on_arrival,
               (unsigned long long)r.report.total.channel_full,
               (unsigned long long)r.report.total.call_timeouts);
    }
    if (r.failed) {
        printf("FAILED: %s\n", r.why);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    uint64_t seeds = 100, from = 1, jobs = 1, seed = 0;
    int quiet = 0, verbose = 0, single = 0, digests = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--digests")) digests = quiet = 1;
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else if (flag_u64(argv[i], "--seeds", &seeds) || flag_u64(argv[i], "--from", &from) ||
                 flag_u64(argv[i], "--jobs", &jobs)) continue;
        else if (flag_u64(argv[i], "--seed", &seed)) single = 1;
        else {
            fprintf(stderr, "swarm: unknown flag %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    const char *env = getenv("TINA_SEED");
    if (!single && env && *env) {
        seed = strtoull(env, NULL, 0);
        single = 1;
    }
    unsetenv("TINA_SEED"); /* the world is drawn from the seed given here */
    if (single) return one_seed(seed, verbose);
    if (jobs < 1) jobs = 1;
    if (jobs > 64) jobs = 64;
    struct swarm_counts sum;
    memset(&sum, 0, sizeof(sum));
    uint64_t failed = 0, start = wall_ns(), done = 0;
    /* J workers, each a process that runs its share of seeds, one child per seed. */
    int pipes[64][2];
    pid_t workers[64];
    for (uint64_t j = 0; j < jobs; j++) {
        if (pipe(pipes[j]) != 0) return 2;
        fflush(stdout);
        workers[j] = fork();
        if (workers[j] == 0) {
            close(pipes[j][0]);
            for (uint64_t k = j; k < seeds; k += jobs) {
                struct swarm_result r;
                swarm_run_forked(from + k, &r);
                if (write(pipes[j][1], &r, sizeof(r)) != (ssize_t)sizeof(r)) _exit(3);
            }
            _exit(0);
        }
        close(pipes[j][1]);
    }
    for (uint64_t k = 0; k < seeds; k++) {
        uint64_t j = k % jobs;
        struct swarm_result r;
        size_t got = 0;
        while (got < sizeof(r)) {
            ssize_t n = read(pipes[j][0], (char *)&r + got, sizeof(r) - got);
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got != sizeof(r)) {
            fprintf(stderr, "swarm: a worker died\n");
            return 2;
        }
        done++;
        counts_add(&sum, &r.counts);
        if (digests)
            printf("seed 0x%llx digest 0x%016llx rounds %llu\n", (unsigned long long)r.seed,
                   (unsigned long long)r.report.digest, (unsigned long long)r.report.rounds);
        if (r.failed) {
            failed++;
            printf("seed 0x%llx FAILED: %s\n  replay: TINA_SEED=0x%llx build/tests/swarm\n",
                   (unsigned long long)r.seed, r.why, (unsigned long long)r.seed);
        } else if (!quiet && done % 500 == 0) {
            printf("  %llu seeds, %llu failing\n", (unsigned long long)done,
                   (unsigned long long)failed);
        }
        fflush(stdout);
    }
    for (uint64_t j = 0; j < jobs; j++) {
        close(pipes[j][0]);
        waitpid(workers[j], NULL, 0);
    }
    double minutes = (double)(wall_ns() - start) / 60e9;
    if (!quiet) counts_print(&sum, seeds);
    printf("swarm: %llu seeds from %llu, %llu failing\n", (unsigned long long)seeds,
           (unsigned long long)from, (unsigned long long)failed);
    printf("swarm_seeds_per_minute: %.0f seeds/min (%llu jobs)\n", (double)seeds / minutes,
           (unsigned long long)jobs);
    return failed ? 1 : 0;
}
