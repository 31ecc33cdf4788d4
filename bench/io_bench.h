/*
 * io_bench.h -- what bench/echo.c and bench/http.c share: Tina's server
 * (an example, on one shard) and the plain epoll baseline (io_load.h) under
 * the same load, in alternating rounds, in the same run.
 *
 * Both servers are pinned to the first allowed CPU, the load generator
 * (one thread) to the second.  Five rounds of one second each; the medians
 * are printed:
 *
 *   <name>_<unit>s_per_s                       Tina's rate
 *   <name>_baseline_<unit>s_per_s              the baseline's rate
 *   <name>_ratio                               the first over the second
 *   <name>_server_cpu_ns_per_<unit>            CPU the server spent per
 *   <name>_baseline_server_cpu_ns_per_<unit>   operation: the process's, less
 *   <name>_server_cpu_ratio                    the load generator's thread
 *
 * The load generator costs about as much as a server, so the rates are
 * bounded by it; the CPU figures are the ones that tell servers apart.
 */
#ifndef TINA_BENCH_IO_BENCH_H
#define TINA_BENCH_IO_BENCH_H

#include "bench.h"
#include "io_load.h"

#define IO_BENCH_ROUNDS 5
#define IO_BENCH_ROUND_NS 1000000000ull

struct io_bench {
    const char *name, *unit;                    /* "echo", "round_trip" */
    int mode;                                   /* IO_MODE_ECHO or IO_MODE_HTTP */
    double (*load)(uint16_t port, uint64_t duration_ns, uint64_t *errors);
    tina_runtime *(*create)(uint32_t core);     /* the example on one shard on core */
    _Atomic uint32_t *bound_port;               /* the example's listening port, 0 until then */
};

static cpu_set_t io_bench_allowed; /* the CPU set at start: tina_create checks against it */

static inline void io_bench_pin(uint32_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) bench_die("pin to %u", cpu);
}

static inline double io_bench_cpu_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs the load; returns the rate and puts the servers' CPU per operation in *cpu. */
static inline double io_bench_measure(const struct io_bench *b, uint16_t port, uint64_t *errors,
                                      double *cpu) {
    double p0 = io_bench_cpu_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = io_bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    double rate = b->load(port, IO_BENCH_ROUND_NS, errors);
    double server = (io_bench_cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0) -
                    (io_bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
    *cpu = rate > 0 ? server / (rate * 1.1 * (double)IO_BENCH_ROUND_NS / 1e9) : 0; /* 10% warm-up */
    return rate;
}

static inline void *io_bench_server_main(void *arg) {
    bench_check(tina_run(arg), "tina_run");
    return NULL;
}

static inline double io_bench_tina_round(const struct io_bench *b, uint32_t cpus[2],
                                         uint64_t *errors, double *cpu) {
    pthread_setaffinity_np(pthread_self(), sizeof(io_bench_allowed), &io_bench_allowed);
    *b->bound_port = 0;
    tina_runtime *rt = b->create(cpus[0]);
    io_bench_pin(cpus[1]); /* the load generator's CPU */
    pthread_t thread;
    if (pthread_create(&thread, NULL, io_bench_server_main, rt) != 0) bench_die("pthread_create");
    for (int k = 0; k < 5000 && *b->bound_port == 0; k++) usleep(1000); /* bounded: 5 s */
    if (*b->bound_port == 0) bench_die("%s: the server did not listen", b->name);
    double rate = io_bench_measure(b, (uint16_t)*b->bound_port, errors, cpu);
    tina_shutdown(rt);
    pthread_join(thread, NULL);
    tina_destroy(rt);
    return rate;
}

static inline double io_bench_baseline_round(const struct io_bench *b, uint32_t cpus[2],
                                             uint64_t *errors, double *cpu) {
    struct io_baseline base;
    io_bench_pin(cpus[0]); /* the server's thread inherits this CPU */
    if (io_baseline_start(&base, b->mode, 0, 1) != 0) bench_die("%s: baseline start", b->name);
    io_bench_pin(cpus[1]);
    double rate = io_bench_measure(b, base.port, errors, cpu);
    io_baseline_stop(&base);
    return rate;
}

static inline int io_bench_main(const struct io_bench *b) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);
    pthread_getaffinity_np(pthread_self(), sizeof(io_bench_allowed), &io_bench_allowed);
    enum { R = IO_BENCH_ROUNDS };
    double tina[R], base[R], ratio[R], tina_cpu[R], base_cpu[R], cpu_ratio[R];
    uint64_t errors = 0;
    for (int r = 0; r < R; r++) {
        tina[r] = io_bench_tina_round(b, cpus, &errors, &tina_cpu[r]);
        base[r] = io_bench_baseline_round(b, cpus, &errors, &base_cpu[r]);
        ratio[r] = base[r] > 0 ? tina[r] / base[r] : 0;
        cpu_ratio[r] = base_cpu[r] > 0 ? tina_cpu[r] / base_cpu[r] : 0;
    }
    if (errors) bench_die("%s: %llu client errors", b->name, (unsigned long long)errors);
    printf("%s_%ss_per_s: %.0f %ss/s\n", b->name, b->unit, bench_median(tina, R), b->unit);
    printf("%s_baseline_%ss_per_s: %.0f %ss/s\n", b->name, b->unit, bench_median(base, R), b->unit);
    printf("%s_ratio: %.2f x\n", b->name, bench_median(ratio, R));
    printf("%s_server_cpu_ns_per_%s: %.0f ns\n", b->name, b->unit, bench_median(tina_cpu, R));
    printf("%s_baseline_server_cpu_ns_per_%s: %.0f ns\n", b->name, b->unit,
           bench_median(base_cpu, R));
    printf("%s_server_cpu_ratio: %.2f x\n", b->name, bench_median(cpu_ratio, R));
    return 0;
}

#endif /* TINA_BENCH_IO_BENCH_H */
