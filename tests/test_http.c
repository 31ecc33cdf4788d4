/*
 * test_http.c -- the http example against real sockets: keep-alive,
 * pipelining, HEAD, HTTP/1.0 with and without keep-alive, 400 and 431 with
 * the connection closed, a client that never reads while others are
 * served.
 */
#define HTTP_NO_MAIN
#include "../examples/http.c"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define SERVER_CREATE http_create
#include "server.h"

static int client(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0));
    struct timeval tv = {.tv_sec = 10}; /* bounds every read below */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *text, size_t n) {
    cr_assert(eq(long, (long)send(fd, text, n, MSG_NOSIGNAL), (long)n));
}

/* Read until `want` bytes arrived or the server closed (returns the count). */
static size_t read_upto(int fd, char *buf, size_t want) {
    size_t got = 0;
    while (got < want) {
        ssize_t r = recv(fd, buf + got, want - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

static int closed_by_server(int fd) {
    char c;
    return recv(fd, &c, 1, 0) == 0;
}

Test(http, keep_alive_and_pipelining_answer_in_order, .timeout = 30) {
    struct server sv;
    int fd = client(server_start(&sv));
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char pipelined[sizeof(req) * 10];
    size_t n = 0;
    for (int k = 0; k < 10; k++, n += sizeof(req) - 1) memcpy(pipelined + n, req, sizeof(req) - 1);
    send_all(fd, pipelined, n);
    static char buf[sizeof(k_ok) * 12];
    size_t want = (sizeof(k_ok) - 1) * 10;
    cr_assert(eq(sz, read_upto(fd, buf, want), want));
    for (int k = 0; k < 10; k++)
        cr_assert(eq(int, memcmp(buf + k * (sizeof(k_ok) - 1), k_ok, sizeof(k_ok) - 1), 0));
    send_all(fd, req, sizeof(req) - 1); /* still open: keep-alive */
    cr_assert(eq(sz, read_upto(fd, buf, sizeof(k_ok) - 1), sizeof(k_ok) - 1));
    static const char bye[] = "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n";
    send_all(fd, bye, sizeof(bye) - 1);
    size_t want_close = sizeof(k_ok) - 1 + sizeof(k_close) - 1;
    cr_assert(eq(sz, read_upto(fd, buf, want_close), want_close));
    cr_assert(not(eq(ptr, memmem(buf, want_close, k_close, sizeof(k_close) - 1), NULL)),
              "the answer says it closes");
    cr_assert(closed_by_server(fd), "Connection: close closes");
    close(fd);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_requests[0] + g_requests[1], 12));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0));
}

static void expect_error(uint16_t port, const char *req, size_t n, const char *status) {
    int fd = client(port);
    send_all(fd, req, n);
    char buf[256] = {0};
    size_t got = read_upto(fd, buf, sizeof(buf) - 1);
    cr_assert(ge(sz, got, strlen(status)), "an answer to a bad request");
    cr_assert(eq(int, strncmp(buf, status, strlen(status)), 0), "got: %s", buf);
    cr_assert(eq(sz, got, strlen(buf)), "and the connection closed after it");
    close(fd);
}

Test(http, malformed_and_oversized_requests_get_400_and_431_and_close, .timeout = 30) {
    struct server sv;
    uint16_t port = server_start(&sv);
    static const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",
        "\x01\x02\x03\r\n\r\n"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        expect_error(port, bad[k], strlen(bad[k]), "HTTP/1.1 400 ");
    static char big[IN_BYTES + 512];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: ");
    memset(big + n, 'a', sizeof(big) - n - 1); /* the head never ends within 8 KiB */
    expect_error(port, big, IN_BYTES + 100, "HTTP/1.1 431 ");
    static const char body[] = "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    expect_error(port, body, sizeof(body) - 1, "HTTP/1.1 431 ");
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_bad[0] + g_bad[1], 11));
    cr_assert(eq(u64, st.crashes, 0), "bad input never crashes a conn");
    cr_assert(eq(u64, st.fds_open, 0));
}

Test(http, a_client_that_never_reads_does_not_stall_the_others, .timeout = 60) {
    struct server sv;
    uint16_t port = server_start(&sv);
    int hogs[2]; /* one per shard (round-robin) */
    static char flood[256 * 1024];
    static const char req[] = "GET / HTTP/1.1\r\n\r\n";
    for (size_t k = 0; k + sizeof(req) - 1 <= sizeof(flood); k += sizeof(req) - 1)
        memcpy(flood + k, req, sizeof(req) - 1);
    for (int h = 0; h < 2; h++) {
        hogs[h] = client(port);
        /* Pipeline far more than the socket buffers hold and never read:
         * the server's sends to it block in the kernel. */
        (void)send(hogs[h], flood, sizeof(flood) - sizeof(flood) % (sizeof(req) - 1),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    usleep(100 * 1000); /* not a correctness wait: lets the hogs' buffers fill first */
    for (int k = 0; k < 20; k++) { /* meanwhile every other connection is answered */
        int fd = client(port);
        send_all(fd, req, sizeof(req) - 1);
        char buf[sizeof(k_ok)];
        cr_assert(eq(sz, read_upto(fd, buf, sizeof(k_ok) - 1), sizeof(k_ok) - 1), "conn %d", k);
        close(fd);
    }
    close(hogs[0]);
    close(hogs[1]);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, st.crashes, 0));
}

Test(http, an_idle_connection_is_closed_after_its_deadline, .timeout = 30) {
    g_idle_ns = H_MS(50);
    struct server sv;
    int fd = client(server_start(&sv));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert(closed_by_server(fd), "a silent client is let go");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t waited = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
    cr_assert(ge(u64, waited, H_MS(40)), "not before its deadline");
    close(fd);
    tina_shard_stats st = server_stop(&sv);
    g_idle_ns = 10000000000ull;
    cr_assert(eq(u64, st.fds_open, 0));
    cr_assert(eq(u64, st.crashes, 0));
}

/* Reads one answer: its head up to the empty line, then Content-Length
 * bytes of body if `with_body`.  Returns the bytes read; the head is
 * NUL-terminated in buf. */
static size_t answer_read(int fd, char *buf, size_t size, int with_body) {
    size_t got = 0;
    char *end = NULL;
    while (got + 1 < size && end == NULL) {
        ssize_t r = recv(fd, buf + got, 1, 0); /* a byte at a time: nothing past the answer */
        if (r <= 0) break;
        got += (size_t)r;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    cr_assert(not(eq(ptr, end, NULL)), "a whole head: %s", buf);
    const char *length = strcasestr(buf, "Content-Length: ");
    cr_assert(not(eq(ptr, (void *)length, NULL)), "a Content-Length: %s", buf);
    size_t body = (size_t)atol(length + 16);
    if (with_body) got += read_upto(fd, buf + got, body);
    return got;
}

/* HEAD: the headers GET gets, Content-Length included, and no body; the
 * connection then serves a GET (had a body been sent, the GET's answer
 * would start with it). */
Test(http, head_gets_the_headers_and_no_body_and_the_connection_goes_on, .timeout = 30) {
    struct server sv;
    int fd = client(server_start(&sv));
    static const char head[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, head, sizeof(head) - 1);
    char buf[512];
    size_t got = answer_read(fd, buf, sizeof(buf), 0);
    cr_assert(eq(sz, got, OK_HEAD_BYTES + 2), "got: %s", buf);
    cr_assert(eq(int, memcmp(buf, k_ok, OK_HEAD_BYTES + 2), 0), "GET's headers: %s", buf);
    send_all(fd, get, sizeof(get) - 1);
    cr_assert(eq(sz, read_upto(fd, buf, sizeof(k_ok) - 1), sizeof(k_ok) - 1));
    cr_assert(eq(int, memcmp(buf, k_ok, sizeof(k_ok) - 1), 0), "the GET's answer, whole");
    /* Pipelined: HEAD, GET, HEAD answered in order, one body only. */
    char three[sizeof(head) * 3];
    size_t n = 0;
    memcpy(three + n, head, sizeof(head) - 1), n += sizeof(head) - 1;
    memcpy(three + n, get, sizeof(get) - 1), n += sizeof(get) - 1;
    memcpy(three + n, head, sizeof(head) - 1), n += sizeof(head) - 1;
    send_all(fd, three, n);
    size_t want = 2 * (OK_HEAD_BYTES + 2) + sizeof(k_ok) - 1;
    cr_assert(eq(sz, read_upto(fd, buf, want), want));
    cr_assert(eq(int, memcmp(buf + OK_HEAD_BYTES + 2, k_ok, sizeof(k_ok) - 1), 0));
    close(fd);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_requests[0] + g_requests[1], 5));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0));
}

/* HTTP/1.0 with Connection: keep-alive (as ab -k sends it): two requests
 * on one connection, each answer saying keep-alive. */
Test(http, http10_with_keep_alive_serves_two_requests_on_one_connection, .timeout = 30) {
    struct server sv;
    int fd = client(server_start(&sv));
    static const char req[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: x\r\n\r\n";
    for (int k = 0; k < 2; k++) {
        send_all(fd, req, sizeof(req) - 1);
        char buf[512];
        size_t got = answer_read(fd, buf, sizeof(buf), 1);
        cr_assert(eq(sz, got, sizeof(k_ok) - 1 + sizeof(k_keep_alive) - 1), "request %d", k);
        cr_assert(not(eq(ptr, strstr(buf, k_keep_alive), NULL)), "says keep-alive: %s", buf);
        cr_assert(eq(int, memcmp(buf + got - 13, "Hello, World!", 13), 0), "and the body");
    }
    close(fd);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_requests[0] + g_requests[1], 2));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0));
}

/* HTTP/1.0 without it: the answer says close, and the connection is
 * closed after it (HEAD too). */
Test(http, http10_without_keep_alive_is_closed_after_the_answer, .timeout = 30) {
    struct server sv;
    uint16_t port = server_start(&sv);
    static const char *reqs[] = {"GET / HTTP/1.0\r\n\r\n", "HEAD / HTTP/1.0\r\nHost: x\r\n\r\n"};
    for (int k = 0; k < 2; k++) {
        int fd = client(port);
        send_all(fd, reqs[k], strlen(reqs[k]));
        char buf[512] = {0};
        size_t got = read_upto(fd, buf, sizeof(buf) - 1); /* to the end of the stream */
        size_t want = OK_HEAD_BYTES + sizeof(k_close) - 1 + 2 + (k == 0 ? 13 : 0);
        cr_assert(eq(sz, got, want), "request %d: got %s", k, buf);
        cr_assert(not(eq(ptr, strstr(buf, k_close), NULL)), "says close: %s", buf);
        close(fd);
    }
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_requests[0] + g_requests[1], 2));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0));
}
