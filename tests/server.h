/*
 * server.h -- an example server (examples/echo.c, examples/http.c) run in
 * a thread for tests that drive it with real sockets.  Include it after
 * the example (with its main left out) and helpers.h; SERVER_CREATE names
 * the example's create function.  The example's g_port, g_shards and
 * g_bound_port are the knobs and the answer.
 */
#ifndef TINA_TEST_SERVER_H
#define TINA_TEST_SERVER_H

#include <unistd.h>

struct server {
    tina_runtime *rt;
    pthread_t thread;
};

static void *server_main(void *arg) {
    struct server *sv = arg;
    if (tina_run(sv->rt) != TINA_OK) abort();
    return NULL;
}

/* Two shards, any port; returns the port once the listener is up. */
static uint16_t server_start(struct server *sv) {
    g_port = 0;
    g_shards = 2;
    g_bound_port = 0;
    tina_boot_report report;
    H_ASSERT_RESULT(SERVER_CREATE(&sv->rt, &report), TINA_OK);
    cr_assert(eq(int, pthread_create(&sv->thread, NULL, server_main, sv), 0));
    for (int k = 0; k < 5000 && g_bound_port == 0; k++) usleep(1000); /* bounded: 5 s */
    cr_assert(ne(u32, g_bound_port, 0), "the server listens");
    return (uint16_t)g_bound_port;
}

/* Graceful shutdown; both shards' counters, summed. */
static tina_shard_stats server_stop(struct server *sv) {
    tina_shutdown(sv->rt);
    pthread_join(sv->thread, NULL);
    tina_shard_stats sum = {0}, st;
    for (uint32_t s = 0; s < 2; s++) {
        st = h_stats(sv->rt, s);
        uint64_t *acc = (uint64_t *)&sum;
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / 8; k++) acc[k] += v[k];
    }
    tina_destroy(sv->rt);
    return sum;
}

#endif /* TINA_TEST_SERVER_H */
