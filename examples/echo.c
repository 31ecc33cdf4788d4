/*
 * echo -- a TCP echo server on every shard.
 *
 *   build/examples/echo [--port=P] [--shards=N] [--seconds=S] [--epoll] [--reuseport]
 *
 * The accepting is Tina's TCP service (tina_serve, in tina.h): its acceptor
 * on shard 0 owns the listening socket, and each new connection goes,
 * round-robin, to the next shard, so every shard serves a share of the
 * connections however hot shard 0 is.  (With --reuseport every shard
 * opens its own listening socket on the port, SO_REUSEPORT, and accepts
 * for itself: no handoff, the kernel spreads connections by a hash of
 * their addresses.)  There it becomes one `conn`
 * isolate, handed the descriptor (TINA_TAG_TRANSFER); the conn loops
 * recv -> send (finishing partial sends) until the peer closes, then
 * closes its descriptor and is done.  A `control` isolate on shard 0 keeps
 * the --seconds clock and hears whether the service listens.  No handler
 * makes a syscall: each returns an io effect and is woken by its
 * completion.  When every reactor buffer of the shard is out
 * (TINA_EIO_BUFFERS), the conn yields and tries the same operation again
 * next pass: its data is still in its own buffer.
 *
 * SIGINT/SIGTERM (or --seconds) begin a graceful shutdown: operations in
 * flight are cancelled, every isolate closes what it holds and finishes.
 * The counters are printed at exit.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "tina.h"

#define CONN_BUFFER_BYTES 4096u
#define CONNS_PER_SHARD 2048u

enum { TYPE_SERVE, TYPE_CONTROL, TYPE_CONN, TYPE_COUNT };
enum { CHILD_SERVE, CHILD_CONTROL, CHILD_COUNT };
enum { TAG_STOP = TINA_TAG_USER, TAG_LISTENING };

static uint32_t g_port = 7000, g_shards, g_seconds, g_epoll, g_reuseport;
static tina_serve g_serve;            /* the service's settings; its counters, printed at exit */
static _Atomic uint32_t g_bound_port; /* the port it got: tests and benches wait for it */
static int g_quiet;                   /* benches: no banner */
static const uint32_t *g_cores;       /* benches: pin shard i to g_cores[i] */
static uint32_t g_io_buffers;         /* tests: reactor buffers per shard (0: the default) */

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
    if (msg->tag == TINA_TAG_TRANSFER) { /* our connection, from the service */
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

/* ---- control: shard 0, the clock and the service's report -------------- */

#define CONTROL_NAME "echo"
#include "control.h"

/* ---- main ------------------------------------------------------------------ */

/* The service's type and child go where the enums say; tina_serve_check
 * then checks the settings against the finished spec. */
static tina_result echo_create(tina_runtime **rt, tina_boot_report *report) {
    static tina_type_spec types[TYPE_COUNT];
    static tina_child_spec children[CHILD_COUNT];
    types[TYPE_SERVE] = tina_serve_type();
    types[TYPE_CONTROL] = (tina_type_spec){.name = "control", .struct_size = 8,
                                           .slots_per_shard = 1, .init = control_init,
                                           .handler = control_handle};
    types[TYPE_CONN] = (tina_type_spec){.name = "conn", .struct_size = sizeof(conn),
                                        .slots_per_shard = CONNS_PER_SHARD, .mailbox_capacity = 4,
                                        .handler = conn_handle};
    g_serve = (tina_serve){.host = "127.0.0.1", .port = g_port, .conn_type_id = TYPE_CONN,
                           .report_child = CHILD_CONTROL, .report_tag = TAG_LISTENING,
                           .reuseport = g_reuseport};
    children[CHILD_SERVE] = tina_serve_child(&g_serve, TYPE_SERVE);
    children[CHILD_CONTROL] = (tina_child_spec){.type_id = TYPE_CONTROL, .shard = 0,
                                                .restart = TINA_RESTART_PERMANENT};
    tina_spec spec = {.types = types, .type_count = TYPE_COUNT, .children = children,
                      .child_count = CHILD_COUNT, .shard_count = g_shards,
                      .fd_slots = CONNS_PER_SHARD + 64, .io_buffers = g_io_buffers,
                      .io_backend = g_epoll ? TINA_IO_EPOLL : TINA_IO_AUTO,
                      .cores = g_cores, .core_count = g_cores ? g_shards : 0};
    tina_result r = tina_serve_check(&g_serve, &spec, report);
    return r == TINA_OK ? tina_create(&spec, rt, report) : r;
}

#ifndef ECHO_NO_MAIN
#include "flags.h"

static void usage(FILE *f) {
    fprintf(f, "usage: echo [--port=P] [--shards=N] [--seconds=S] [--epoll] [--reuseport]\n"
               "  --port=P     TCP port on 127.0.0.1, 0..65535 (default 7000; 0 picks one)\n"
               "  --shards=N   shards, 1..%u (default: one per core)\n"
               "  --seconds=S  shut down after S seconds, 1..86400 (default: at SIGINT/SIGTERM)\n"
               "  --epoll      use the epoll fallback instead of io_uring\n"
               "  --reuseport  every shard listens (SO_REUSEPORT) and accepts for itself\n"
               "               (default: shard 0 accepts and hands connections round-robin)\n"
               "  --help       this text\n"
               "Exit status 0 after a clean shutdown; 1 when it cannot listen or boot;\n"
               "2 for a bad flag.\n",
            TINA_SHARD_COUNT_MAX);
}

int main(int argc, char **argv) {
    flags_help(argc, argv, usage);
    flags f = {.program = "echo"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flag_switch(&f, arg, "--epoll", &g_epoll) &&
            !flag_switch(&f, arg, "--reuseport", &g_reuseport) &&
            !flag_u32(&f, arg, "--port", 0, 65535, &g_port) &&
            !flag_u32(&f, arg, "--shards", 1, TINA_SHARD_COUNT_MAX, &g_shards) &&
            !flag_u32(&f, arg, "--seconds", 1, 86400, &g_seconds))
            flag_unknown(&f, arg);
    }
    flags_end(&f);
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
               g_serve.served[s], st.io_completed);
    }
    printf("accepted %" PRIu64 ", handed over %" PRIu64 ", refused %" PRIu64 ", listeners %u\n",
           g_serve.accepted, g_serve.handed, g_serve.refused, g_serve.listeners);
    printf("io: submitted %" PRIu64 ", completed %" PRIu64 ", failed %" PRIu64 ", cancelled %" PRIu64
           ", reclaimed %" PRIu64 ", fds open at exit %" PRIu64 "\n", sum.io_submitted,
           sum.io_completed, sum.io_failed, sum.io_cancelled, sum.io_dead, sum.fds_open);
    tina_destroy(rt);
    if (g_bound_port == 0) { /* control said why */
        fprintf(stderr, "echo: never listened: exiting 1\n");
        return 1;
    }
    return r == TINA_OK ? 0 : 1;
}
#endif /* ECHO_NO_MAIN */
