/*
 * stress_io.c -- I/O across threads under real concurrency (and TSan).
 *
 * A plain program like stress_channel.c, so that `make test
 * SANITIZE=thread` runs it: the echo example on two shards, four client
 * threads with four connections each.  Every connection is accepted on
 * shard 0 and handed round-robin to a shard (descriptor handoff through the
 * rings), the shards sleep in io_uring or epoll before the clients come
 * (and between bursts) and are woken by the eventfd doorbell, and every
 * byte comes back intact.
 *
 *   echo_uring    the io_uring backend
 *   echo_epoll    the epoll fallback
 */
#define ECHO_NO_MAIN
#include "../examples/echo.c"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stress.h"

#ifdef UNDER_TSAN
#define ROUNDS 20u
#else
#define ROUNDS 200u
#endif

#define CLIENTS 4
#define CONNS_EACH 4
#define MESSAGE_BYTES 1500u

static _Atomic int g_client_errors;

static void *client_main(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    for (int c = 0; c < CONNS_EACH; c++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_bound_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {.tv_sec = 10}; /* a bound on every read */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
            atomic_fetch_add(&g_client_errors, 1);
            close(fd);
            continue;
        }
        uint8_t out[MESSAGE_BYTES], in[MESSAGE_BYTES];
        for (uint32_t r = 0; r < ROUNDS; r++) {
            for (uint32_t k = 0; k < MESSAGE_BYTES; k++) out[k] = (uint8_t)(id * 31u + r * 7u + k);
            if (send(fd, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out)) break;
            size_t got = 0;
            while (got < sizeof(in)) {
                ssize_t n = recv(fd, in + got, sizeof(in) - got, 0);
                if (n <= 0) break;
                got += (size_t)n;
            }
            if (got != sizeof(in) || memcmp(in, out, sizeof(in)) != 0) {
                atomic_fetch_add(&g_client_errors, 1);
                break;
            }
            if (r % 50 == 49) usleep(2000); /* a pause: the shards go to sleep */
        }
        close(fd);
    }
    return NULL;
}

static void *server_main(void *arg) {
    CHECK(tina_run(arg) == TINA_OK, "tina_run");
    return NULL;
}

static void echo_run(int epoll) {
    g_port = 0, g_shards = 2, g_epoll = (uint32_t)epoll, g_quiet = 1, g_bound_port = 0;
    atomic_store(&g_client_errors, 0);
    tina_runtime *rt;
    tina_boot_report report;
    tina_result r = echo_create(&rt, &report);
    CHECK(r == TINA_OK, "%s", report.message);
    if (r != TINA_OK) return;
    pthread_t server, clients[CLIENTS];
    pthread_create(&server, NULL, server_main, rt);
    for (int k = 0; k < 5000 && g_bound_port == 0; k++) usleep(1000); /* bounded: 5 s */
    CHECK(g_bound_port != 0, "the server listens");
    /* Both shards asleep before the first client: shard 1 can then only
     * get its connections by being woken (a bounded wait: 5 s). */
    tina_shard_stats s0, s1;
    for (int k = 0; k < 5000; k++) {
        (void)tina_stats(rt, 0, &s0);
        (void)tina_stats(rt, 1, &s1);
        if (s0.sleeps >= 1 && s1.sleeps >= 1) break;
        usleep(1000);
    }
    CHECK(s0.sleeps >= 1 && s1.sleeps >= 1, "both shards went to sleep while no client came");
    for (uintptr_t k = 0; k < CLIENTS; k++) pthread_create(&clients[k], NULL, client_main, (void *)k);
    for (int k = 0; k < CLIENTS; k++) pthread_join(clients[k], NULL);
    tina_shutdown(rt);
    pthread_join(server, NULL);
    (void)tina_stats(rt, 0, &s0);
    (void)tina_stats(rt, 1, &s1);
    tina_destroy(rt);
    CHECK(atomic_load(&g_client_errors) == 0, "%d client errors", atomic_load(&g_client_errors));
    CHECK(g_serve.served[0] + g_serve.served[1] == CLIENTS * CONNS_EACH, "served %llu + %llu",
          (unsigned long long)g_serve.served[0], (unsigned long long)g_serve.served[1]);
    CHECK(g_serve.served[1] >= 1, "shard 1 got connections handed over");
    CHECK(s0.fds_open + s1.fds_open == 0, "every descriptor closed");
    CHECK(s0.wakeups_sent >= 1, "shard 0 rang the sleeping shard 1's doorbell");
}

static void echo_uring(void) { echo_run(0); }
static void echo_epoll(void) { echo_run(1); }

int main(void) {
    static const struct stress_test tests[] = {{"echo_uring", echo_uring},
                                               {"echo_epoll", echo_epoll}};
    return stress_main("stress_io", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
