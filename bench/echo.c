/*
 * echo -- TCP echo round trips per second: Tina against plain epoll.
 *
 *   echo_round_trips_per_s           examples/echo on one shard (io_uring),
 *                                    64 connections, 64-byte messages
 *   echo_baseline_round_trips_per_s  bench/io_load.h's epoll server, one
 *                                    thread, the same load
 *   echo_ratio                       the first over the second
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

static cpu_set_t g_allowed; /* this thread's CPU set at start: tina_create checks against it */

static void pin(uint32_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) bench_die("pin to %u", cpu);
}

static void *server_main(void *arg) {
    bench_check(tina_run(arg), "tina_run");
    return NULL;
}

static double tina_round(uint32_t cpus[2], uint64_t *errors) {
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
    double rate = io_load_echo((uint16_t)g_bound_port, CONNS, MESSAGE_BYTES, ROUND_NS, errors);
    tina_shutdown(rt);
    pthread_join(thread, NULL);
    tina_destroy(rt);
    return rate;
}

static double baseline_round(uint32_t cpus[2], uint64_t *errors) {
    struct io_baseline b;
    pin(cpus[0]); /* the server's thread inherits this CPU */
    if (io_baseline_start(&b, IO_MODE_ECHO, 0, 1) != 0) bench_die("baseline start");
    pin(cpus[1]);
    double rate = io_load_echo(b.port, CONNS, MESSAGE_BYTES, ROUND_NS, errors);
    io_baseline_stop(&b);
    return rate;
}

int main(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);
    pthread_getaffinity_np(pthread_self(), sizeof(g_allowed), &g_allowed);
    double tina[ROUNDS], base[ROUNDS], ratio[ROUNDS];
    uint64_t errors = 0;
    for (int r = 0; r < ROUNDS; r++) {
        tina[r] = tina_round(cpus, &errors);
        base[r] = baseline_round(cpus, &errors);
        ratio[r] = base[r] > 0 ? tina[r] / base[r] : 0;
    }
    if (errors) bench_die("echo: %llu client errors", (unsigned long long)errors);
    printf("echo_round_trips_per_s: %.0f round_trips/s\n", bench_median(tina, ROUNDS));
    printf("echo_baseline_round_trips_per_s: %.0f round_trips/s\n", bench_median(base, ROUNDS));
    printf("echo_ratio: %.2f x\n", bench_median(ratio, ROUNDS));
    return 0;
}
