/*
 * http -- HTTP/1.1 requests per second: examples/http on one shard
 * (io_uring) against a plain epoll server, 64 keep-alive connections, one
 * request in flight on each (as wrk -c64 does); see bench/io_bench.h.
 */
#define HTTP_NO_MAIN
#include "../examples/http.c"

#include "io_bench.h"

static double load(uint16_t port, uint64_t duration_ns, uint64_t *errors) {
    return io_load_http(port, 64, 1, duration_ns, errors);
}

static tina_runtime *create(uint32_t core) {
    static uint32_t cores[1];
    cores[0] = core;
    g_port = 0, g_shards = 1, g_cores = cores, g_quiet = 1;
    tina_runtime *rt;
    tina_boot_report report;
    bench_check(http_create(&rt, &report), report.message);
    return rt;
}

int main(void) {
    const struct io_bench b = {.name = "http", .unit = "request", .mode = IO_MODE_HTTP,
                               .load = load, .create = create, .bound_port = &g_bound_port};
    return io_bench_main(&b);
}
