/*
 * echo -- TCP echo round trips per second: Tina against plain epoll.
 *
 *   echo_round_trips_per_s           examples/echo on one shard (io_uring),
 *                                    64 connections, 64-byte messages
 *   echo_baseline_round_trips_per_s  bench/io_load.h's epoll server, one
 *                                    thread, the same load
 *   echo_ratio                       the first over the second
 *   echo_server_cpu_ns_per_round_trip, echo_baseline_server_cpu_ns_per_round_trip,
 *   echo_server_cpu_ratio            CPU time the server spent per round trip
 *                                    (the process's, less the load generator's
 *                                    thread): the load generator costs about as
 *                                    much as a server, so the rates above are
 *                                    bounded by it and the CPU figures are the
 *                                    ones that tell the servers apart
 *
 * Both servers are pinned to the first allowed CPU, the load generator
 * (one thread, bench/io_load.h) to the second.  Five rounds alternate the
 * two servers, one second each; the medians are printed.
 */
#define ECHO_NO_MAIN
#include "../examples/echo.c"

#include "bench.h"
#include "io_load.h"

#define ROUNDS 5
#define CONNS 64
#define MESSAGE_BYTES 64
#define ROUND_NS 1000000000ull
#define LOAD_ARG_TYPE size_t
#define LOAD_ARG MESSAGE_BYTES

static cpu_set_t g_allowed; /* this thread's CPU set at start: tina_create checks against it */

static void pin(uint32_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) bench_die("pin to %u", cpu);
}

/* CPU the servers used while the load ran: the process's, less the load
 * generator's thread. */
static double process_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs the load; returns the rate and puts the servers' CPU per unit in *cpu. */
static double measured(double (*load)(uint16_t, int, LOAD_ARG_TYPE, uint64_t, uint64_t *),
                       uint16_t port, uint64_t *errors, double *cpu) {
    double p0 = process_cpu_ns(), t0 = thread_cpu_ns();
    double rate = load(port, CONNS, LOAD_ARG, ROUND_NS, errors);
    double server = (process_cpu_ns() - p0) - (thread_cpu_ns() - t0);
    *cpu = rate > 0 ? server / (rate * 1.1 * (double)ROUND_NS / 1e9) : 0; /* 10% warm-up */
    return rate;
}

static void *server_main(void *arg) {
    bench_check(tina_run(arg), "tina_run");
    return NULL;
}

static double tina_round(uint32_t cpus[2], uint64_t *errors, double *cpu) {
    static uint32_t cores[1];
    cores[0] = cpus[0];
    g_port = 0, g_shards = 1, g_cores = cores, g_quiet = 1, g_bound_port = 0;
    tina_runtime *rt;
    tina_boot_report report;
    pthread_setaffinity_np(pthread_self(), sizeof(g_allowed), &g_allowed);
    bench_check(echo_create(&rt, &report), report.message);
    pin(cpus[1]); /* the load generator's CPU */
    pthread_t thread;
    if (pthread_create(&thread, NULL, server_main, rt) != 0) bench_die("pthread_create");
    for (int k = 0; k < 5000 && g_bound_port == 0; k++) usleep(1000);
    if (g_bound_port == 0) bench_die("the echo server did not listen");
    double rate = measured(io_load_echo, (uint16_t)g_bound_port, errors, cpu);
    tina_shutdown(rt);
    pthread_join(thread, NULL);
    tina_destroy(rt);
    return rate;
}

static double baseline_round(uint32_t cpus[2], uint64_t *errors, double *cpu) {
    struct io_baseline b;
    pin(cpus[0]); /* the server's thread inherits this CPU */
    if (io_baseline_start(&b, IO_MODE_ECHO, 0, 1) != 0) bench_die("baseline start");
    pin(cpus[1]);
    double rate = measured(io_load_echo, b.port, errors, cpu);
    io_baseline_stop(&b);
    return rate;
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);
    pthread_getaffinity_np(pthread_self(), sizeof(g_allowed), &g_allowed);
    double tina[ROUNDS], base[ROUNDS], ratio[ROUNDS], tcpu[ROUNDS], bcpu[ROUNDS], cratio[ROUNDS];
    uint64_t errors = 0;
    for (int r = 0; r < ROUNDS; r++) {
        tina[r] = tina_round(cpus, &errors, &tcpu[r]);
        base[r] = baseline_round(cpus, &errors, &bcpu[r]);
        ratio[r] = base[r] > 0 ? tina[r] / base[r] : 0;
        cratio[r] = bcpu[r] > 0 ? tcpu[r] / bcpu[r] : 0;
    }
    if (errors) bench_die("echo: %llu client errors", (unsigned long long)errors);
    printf("echo_round_trips_per_s: %.0f round_trips/s\n", bench_median(tina, ROUNDS));
    printf("echo_baseline_round_trips_per_s: %.0f round_trips/s\n", bench_median(base, ROUNDS));
    printf("echo_ratio: %.2f x\n", bench_median(ratio, ROUNDS));
    printf("echo_server_cpu_ns_per_round_trip: %.0f ns\n", bench_median(tcpu, ROUNDS));
    printf("echo_baseline_server_cpu_ns_per_round_trip: %.0f ns\n", bench_median(bcpu, ROUNDS));
    printf("echo_server_cpu_ratio: %.2f x\n", bench_median(cratio, ROUNDS));
    return 0;
}
