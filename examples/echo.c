/*
 * echo -- a TCP echo server on every shard.
 *
 *   build/examples/echo [--port=P] [--shards=N] [--seconds=S] [--epoll]
 *
 * An acceptor isolate on shard 0 owns the listening socket and loops on the
 * accept effect.  Each new connection is handed, round-robin, to the `home`
 * isolate of the next shard (tina_fd_transfer), so every shard serves a
 * share of the connections however hot shard 0 is.  The home spawns one
 * `conn` isolate per connection and hands it the descriptor; the conn
 * loops recv -> send (finishing partial sends) until the peer closes, then
 * closes its descriptor and is done.  No handler makes a syscall: each
 * returns an io effect and is woken by its completion.  When every reactor
 * buffer of the shard is out (TINA_EIO_BUFFERS), the conn yields and tries
 * the same operation again next pass: its data is still in its own buffer.
 *
 * SIGINT/SIGTERM (or --seconds) begin a graceful shutdown: operations in
 * flight are cancelled, every isolate closes what it holds and finishes.
 * The counters are printed at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tina.h"

#define CONN_BUFFER_BYTES 4096u
#define CONNS_PER_SHARD 2048u

enum { TYPE_ACCEPTOR, TYPE_HOME, TYPE_CONN };
enum { CHILD_ACCEPTOR, CHILD_HOME };
enum { TAG_STOP = TINA_TAG_USER, TAG_KICK };

/* Counters printed at exit; each written by one shard only. */
static uint64_t g_served[64], g_accepted, g_handed, g_refused;

static uint32_t g_port = 7000, g_shards, g_seconds, g_epoll;
static _Atomic uint32_t g_bound_port; /* the port the listener got */
static int g_quiet;                     /* benches: no banner */
static const uint32_t *g_cores;         /* benches: pin shard i to g_cores[i] */
static uint32_t g_io_buffers;           /* tests: reactor buffers per shard (0: the default) */

/* ---- conn: one connection ----------------------------------------------- */

typedef struct conn {
    tina_fd fd;
    uint32_t len, sent; /* bytes in buf; bytes of them sent */
    uint8_t buf[CONN_BUFFER_BYTES];
} conn;

static tina_effect conn_close(conn *c) {
    tina_fd fd = c->fd;
    c->fd = TINA_FD_NONE;
    return fd ? tina_io_close(fd) : tina_done();
}

static tina_effect conn_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    conn *c = self;
    if (msg->tag == TINA_TAG_TRANSFER) { /* our connection, from home */
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        c->fd = t.fd;
        int one = 1; /* answers go out at once, not after the peer's delayed ack */
        (void)tina_setsockopt(ctx, c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return tina_io_recv(c->fd, CONN_BUFFER_BYTES);
    }
    if (msg->tag == TINA_TAG_SHUTDOWN) return conn_close(c);
    if (msg->tag == TINA_TAG_RESUME) /* after a refusal for want of a buffer: again */
        return c->sent < c->len ? tina_io_send(c->fd, c->buf + c->sent, c->len - c->sent)
                                : tina_io_recv(c->fd, CONN_BUFFER_BYTES);
    if (msg->tag < TINA_TAG_IO_FIRST || msg->tag > TINA_TAG_IO_LAST) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.error == TINA_EIO_BUFFERS) return tina_yield(); /* the shard's buffers are all out */
    switch (d.op) {
    case TINA_IO_RECV:
        if (d.result <= 0) return conn_close(c); /* end of stream, reset or cancelled */
        memcpy(c->buf, d.data, (size_t)d.result);
        c->len = (uint32_t)d.result;
        c->sent = 0;
        return tina_io_send(c->fd, c->buf, c->len);
    case TINA_IO_SEND:
        if (d.result < 0) return conn_close(c);
        c->sent += (uint32_t)d.result;
        if (c->sent < c->len) return tina_io_send(c->fd, c->buf + c->sent, c->len - c->sent);
        return tina_io_recv(c->fd, CONN_BUFFER_BYTES);
    case TINA_IO_CLOSE:
        return tina_done();
    default:
        return conn_close(c);
    }
}

/* ---- home: one per shard, turns handed-over descriptors into conns ------ */

/* Shard 0's home also keeps the --seconds timer: the acceptor spends its
 * life parked on accept, and a parked isolate's timers wait with its mail. */
static uint32_t home_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    tina_timer_id id;
    if (g_seconds && tina_shard_id(ctx) == 0 &&
        tina_timer_set(ctx, (uint64_t)g_seconds * 1000000000u, 0, TAG_STOP, &id) != TINA_OK)
        return 1;
    return 0;
}

static tina_effect home_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TAG_STOP) tina_request_shutdown(ctx);
    if (msg->tag != TINA_TAG_TRANSFER) return tina_receive();
    tina_fd_transfer_msg t;
    memcpy(&t, msg->payload, sizeof(t));
    tina_handle c;
    if (tina_spawn(ctx, TYPE_CONN, NULL, 0, &c) != TINA_OK ||
        tina_fd_transfer(ctx, t.fd, c, 0) != TINA_OK) {
        tina_log(ctx, TINA_LOG_WARN, "no room for a connection: closing it");
        return tina_io_close(t.fd); /* the completion comes back here; ignored */
    }
    g_served[tina_shard_id(ctx) % 64]++;
    return tina_receive();
}

/* ---- acceptor: shard 0 ---------------------------------------------------- */

typedef struct acceptor {
    tina_fd listener;
    uint32_t next_shard;
} acceptor;

static uint32_t acceptor_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    acceptor *a = self;
    (void)args, (void)size;
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    tina_result r = tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &a->listener);
    if (r == TINA_OK) r = tina_setsockopt(ctx, a->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (r == TINA_OK) r = tina_bind(ctx, a->listener, &addr, sizeof(addr));
    if (r == TINA_OK) r = tina_listen(ctx, a->listener, 4096);
    if (r != TINA_OK) {
        fprintf(stderr, "echo: cannot listen on 127.0.0.1:%u: %s (%s)\n", g_port, tina_strerror(r),
                strerror(tina_io_errno(ctx)));
        tina_request_stop(ctx);
        return 1;
    }
    g_bound_port = tina_local_port(ctx, a->listener);
    if (!g_quiet) printf("echo: listening on 127.0.0.1:%u, %u shards\n", g_bound_port, tina_shard_count(ctx));
    fflush(stdout);
    /* The first accept goes out with a message to ourselves. */
    return tina_send(ctx, tina_self(ctx), TAG_KICK, NULL, 0) == TINA_OK ? 0 : 3;
}

/* Round-robin over the shards' homes; a refused handoff tries the next.
 * Returns 0 if nobody took it. */
static int acceptor_hand_over(acceptor *a, tina_ctx *ctx, tina_fd fd) {
    uint32_t shards = tina_shard_count(ctx);
    for (uint32_t tries = 0; tries < shards; tries++) {
        uint32_t shard = a->next_shard++ % shards;
        if (tina_fd_transfer(ctx, fd, tina_child_handle(ctx, CHILD_HOME, shard), 0) == TINA_OK) {
            g_handed++;
            return 1;
        }
    }
    g_refused++;
    return 0;
}

static tina_effect acceptor_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    acceptor *a = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* the listener closes with us */
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.result == -ECANCELED) return tina_receive(); /* shutdown: the notice follows */
        if (d.result == 0) {
            g_accepted++;
            if (!acceptor_hand_over(a, ctx, d.fd)) return tina_io_close(d.fd); /* then accept */
        }
    }
    if (tina_shutting_down(ctx)) return tina_receive();
    return tina_io_accept(a->listener);
}

/* ---- main ------------------------------------------------------------------ */

static tina_result echo_create(tina_runtime **rt, tina_boot_report *report) {
    static tina_type_spec types[] = {
        [TYPE_ACCEPTOR] = {.name = "acceptor", .struct_size = sizeof(acceptor), .slots_per_shard = 1,
                           .init = acceptor_init, .handler = acceptor_handle},
        [TYPE_HOME] = {.name = "home", .struct_size = 8, .slots_per_shard = 1,
                       .mailbox_capacity = 4096, .init = home_init, .handler = home_handle},
        [TYPE_CONN] = {.name = "conn", .struct_size = sizeof(conn),
                       .slots_per_shard = CONNS_PER_SHARD, .mailbox_capacity = 4,
                       .handler = conn_handle}};
    static tina_child_spec children[] = {
        [CHILD_ACCEPTOR] = {.type_id = TYPE_ACCEPTOR, .shard = 0, .restart = TINA_RESTART_TRANSIENT},
        [CHILD_HOME] = {.type_id = TYPE_HOME, .shard = TINA_SHARD_EVERY,
                        .restart = TINA_RESTART_PERMANENT}};
    tina_spec spec = {.types = types, .type_count = 3, .children = children, .child_count = 2,
                      .shard_count = g_shards, .fd_slots = CONNS_PER_SHARD + 64,
                      .io_buffers = g_io_buffers,
                      .io_backend = g_epoll ? TINA_IO_EPOLL : TINA_IO_AUTO,
                      .cores = g_cores, .core_count = g_cores ? g_shards : 0};
    return tina_create(&spec, rt, report);
}

#ifndef ECHO_NO_MAIN
static int flag_u32(const char *arg, const char *name, uint32_t *out) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=') return 0;
    char *end;
    unsigned long v = strtoul(arg + n + 1, &end, 10);
    if (*end != 0 || v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: echo [--port=P] [--shards=N] [--seconds=S] [--epoll]\n"
               "  --port=P     TCP port on 127.0.0.1 (default 7000; 0 picks one)\n"
               "  --shards=N   shards (default: one per core)\n"
               "  --seconds=S  shut down after S seconds (default: at SIGINT/SIGTERM)\n"
               "  --epoll      use the epoll fallback instead of io_uring\n");
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--epoll")) {
            g_epoll = 1;
            continue;
        }
        if (!flag_u32(argv[i], "--port", &g_port) && !flag_u32(argv[i], "--shards", &g_shards) &&
            !flag_u32(argv[i], "--seconds", &g_seconds)) {
            usage(stderr);
            return 2;
        }
    }
    tina_boot_report report;
    tina_runtime *rt;
    tina_result r = echo_create(&rt, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "echo: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    r = tina_run(rt);
    tina_shard_stats sum = {0}, st;
    for (uint32_t s = 0; s < report.shard_count; s++) {
        (void)tina_stats(rt, s, &st);
        uint64_t *acc = (uint64_t *)&sum;
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / 8; k++) acc[k] += v[k];
        printf("shard %u: connections served %" PRIu64 ", io completed %" PRIu64 "\n", s,
               g_served[s % 64], st.io_completed);
    }
    printf("accepted %" PRIu64 ", handed over %" PRIu64 ", refused %" PRIu64 "\n", g_accepted,
           g_handed, g_refused);
    printf("io: submitted %" PRIu64 ", completed %" PRIu64 ", failed %" PRIu64 ", cancelled %" PRIu64
           ", reclaimed %" PRIu64 ", fds open at exit %" PRIu64 "\n", sum.io_submitted,
           sum.io_completed, sum.io_failed, sum.io_cancelled, sum.io_dead, sum.fds_open);
    tina_destroy(rt);
    return r == TINA_OK ? 0 : 1;
}
#endif /* ECHO_NO_MAIN */
