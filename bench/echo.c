/*
 * echo -- TCP echo round trips per second: examples/echo on one shard
 * (io_uring) against a plain epoll server, 64 connections, 64-byte
 * messages; the figures and how they are taken: bench/io_bench.h.
 */
#define ECHO_NO_MAIN
#include "../examples/echo.c"

#include "io_bench.h"

static double load(uint16_t port, uint64_t duration_ns, uint64_t *errors) {
    return io_load_echo(port, 64, 64, duration_ns, errors);
}

static tina_runtime *create(uint32_t core) {
    static uint32_t cores[1];
    cores[0] = core;
    g_port = 0, g_shards = 1, g_cores = cores, g_quiet = 1;
    tina_runtime *rt;
    tina_boot_report report;
    bench_check(echo_create(&rt, &report), report.message);
    return rt;
}

int main(void) {
    const struct io_bench b = {.name = "echo", .unit = "round_trip", .mode = IO_MODE_ECHO,
                               .load = load, .create = create, .bound_port = &g_bound_port};
    return io_bench_main(&b);
}
