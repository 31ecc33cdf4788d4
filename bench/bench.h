/*
 * bench.h -- small helpers shared by the benchmark programs in bench/.
 *
 * Every benchmark is one C file built into build/bench/<name>.  It prints
 * its figures on stdout, one per line, as `name: value unit`, and nothing
 * else; diagnostics go to stderr.  These helpers are header-only (static
 * functions) so that each program still builds from its own file alone.
 *
 * What lives here: the monotonic clock, a median, a fatal-error exit, the
 * allowed-CPU lookup used to pin shards, the process RSS, a safety timer
 * that stops a runtime that hangs, and a counter dump for stderr.
 */
#ifndef TINA_BENCH_H
#define TINA_BENCH_H

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tina.h"

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bench_die(const char *fmt, ...) TINA_PRINTF(1, 2);
static void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of count values; sorts values in place. */
static inline double bench_median(double *values, size_t count) {
    qsort(values, count, sizeof values[0], bench_cmp_double);
    if (count % 2 == 1) return values[count / 2];
    return (values[count / 2 - 1] + values[count / 2]) / 2.0;
}

/* The first two CPUs of the allowed set, so that benches pin to real,
 * permitted cores even inside a restricted cpuset. */
static inline void bench_two_cpus(uint32_t cpus[2]) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) bench_die("sched_getaffinity failed");
    uint32_t found = 0;
    for (uint32_t cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[found++] = cpu;
    }
    if (found < 2) bench_die("need at least two allowed CPUs, found %u", found);
}

/* A pause in a busy-wait loop. */
static inline void bench_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

/* Pin the calling thread to one CPU, or die. */
static inline void bench_pin_to(uint32_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        bench_die("pthread_setaffinity_np(cpu %u) failed", cpu);
}

/* Resident set size of this process, in bytes (from /proc/self/statm). */
static inline long long bench_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    long long size_pages = 0, resident_pages = 0;
    int n = fscanf(f, "%lld %lld", &size_pages, &resident_pages);
    fclose(f);
    if (n != 2) return -1;
    return resident_pages * (long long)sysconf(_SC_PAGESIZE);
}

static inline void bench_check(tina_result r, const char *what) {
    if (r != TINA_OK) bench_die("%s: %s (%s)", what, tina_result_name(r), tina_strerror(r));
}

/* Create a runtime or die with the boot report's message. */
static inline tina_runtime *bench_create(const tina_spec *spec) {
    tina_runtime *rt = NULL;
    tina_boot_report report;
    memset(&report, 0, sizeof report);
    tina_result r = tina_create(spec, &rt, &report);
    if (r != TINA_OK) {
        bench_die("tina_create: %s: %s", tina_result_name(r), report.message);
    }
    return rt;
}

/*
 * Safety timer: a thread that stops the runtime if a run takes longer than
 * limit_ns, so that a lost message makes the bench fail instead of hang.
 * The benchmark's own isolates normally end the run with
 * tina_request_stop() long before.
 */
typedef struct bench_guard {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tina_runtime *rt;
    uint64_t limit_ns;
    int finished; /* guarded by lock: the run returned */
    int fired;    /* written by the guard thread; read after join */
} bench_guard;

static void *bench_guard_main(void *arg) {
    bench_guard *g = arg;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + g->limit_ns;
    deadline.tv_sec += (time_t)(ns / 1000000000ull);
    deadline.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&g->lock);
    while (!g->finished) {
        if (pthread_cond_timedwait(&g->cond, &g->lock, &deadline) != 0) break;
    }
    if (!g->finished) {
        g->fired = 1;
        tina_stop(g->rt);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* Run rt to completion under a safety timer; returns non-zero if the
 * timer had to stop it. */
static inline int bench_run_guarded(tina_runtime *rt, uint64_t limit_ns) {
    bench_guard g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    g.rt = rt;
    g.limit_ns = limit_ns;
    if (pthread_create(&g.thread, NULL, bench_guard_main, &g) != 0) bench_die("pthread_create");
    tina_result r = tina_run(rt);
    pthread_mutex_lock(&g.lock);
    g.finished = 1;
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.lock);
    pthread_join(g.thread, NULL);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
    bench_check(r, "tina_run");
    return g.fired;
}

/* Print one shard's non-zero counters to stderr. */
static inline void bench_dump_stats(const tina_runtime *rt, uint32_t shard) {
    tina_shard_stats s;
    if (tina_stats(rt, shard, &s) != TINA_OK) return;
    fprintf(stderr, "  shard %u:", shard);
#define BENCH__STAT(name) \
    if (s.name != 0) fprintf(stderr, " " #name "=%llu", (unsigned long long)s.name);
    TINA_SHARD_STATS_MAP(BENCH__STAT)
#undef BENCH__STAT
    fputc('\n', stderr);
}

#endif /* TINA_BENCH_H */
