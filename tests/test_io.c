/*
 * test_io.c -- I/O on real sockets and files, on 127.0.0.1.
 *
 * The echo example is the server under test (included, its main left
 * out): 2 shards, the acceptor on shard 0 handing connections round-robin.
 * Clients are plain blocking sockets on the test thread.  Every test runs
 * on io_uring and again on the epoll fallback (forced by the spec).
 * Smaller isolates below check descriptor handles, handoff and files.
 */
#define ECHO_NO_MAIN
#include "../examples/echo.c"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* ---- the echo server in a thread ------------------------------------------ */

#define SERVER_CREATE echo_create
#include "server.h"

static uint16_t echo_start(struct server *sv, int epoll) {
    g_epoll = (uint32_t)epoll;
    return server_start(sv);
}

static int client_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(ge(int, fd, 0));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0), "connect: %s",
              strerror(errno));
    struct timeval tv = {.tv_sec = 10}; /* a bound on every blocking read */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static uint8_t pattern(size_t i) { return (uint8_t)(i * 131u + (i >> 9)); }

/* Send `total` bytes in odd-sized chunks while reading the echo back. */
static void echo_exchange(int fd, size_t total) {
    static uint8_t out[8192], in[65536];
    size_t sent = 0, got = 0, chunk = 1;
    while (got < total) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        cr_assert(eq(int, poll(&p, 1, 10000), 1), "no progress for 10 s at %zu/%zu", got, total);
        if ((p.revents & POLLOUT) && sent < total) {
            chunk = chunk * 7 % 7919 + 1; /* 1..7919 bytes, odd sizes */
            size_t n = total - sent < chunk ? total - sent : chunk;
            for (size_t k = 0; k < n; k++) out[k] = pattern(sent + k);
            ssize_t w = send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
        }
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, in, sizeof(in), MSG_DONTWAIT);
            cr_assert(ge(long, (long)r, 1), "the server closed at %zu/%zu", got, total);
            for (ssize_t k = 0; k < r; k++)
                cr_assert(eq(u8, in[k], pattern(got + (size_t)k)), "byte %zu", got + (size_t)k);
            got += (size_t)r;
        }
    }
}

static void one_mib_intact(int epoll) {
    struct server sv;
    uint16_t port = echo_start(&sv, epoll);
    int fd = client_connect(port);
    echo_exchange(fd, 1u << 20);
    close(fd);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(ge(u64, st.io_completed, 16), "many operations ran");
    cr_assert(eq(u64, st.fds_open, 0), "every descriptor closed at the end");
}

Test(io, one_mib_echoed_intact_in_odd_chunks, .timeout = 60) { one_mib_intact(0); }

/* Eight buffers for the whole shard and sixteen connections: the recv
 * buffers must run out, and the recvs that found none wait (io_uring: the
 * provided ring runs dry, the multishot recvs end with ENOBUFS and are
 * armed again as buffers come back; epoll: the slot is retried once
 * buffers are back), and every stream stays intact.
 *
 * Running dry is forced, not hoped for.  A gate accepts the sixteen
 * connections and holds them while the client writes the first bytes of
 * each; the client's seventeenth connection opens the gate, which hands all
 * sixteen to echo's conns in one handler call.  The conns run in the same
 * pass, so sixteen recvs are submitted together on sockets that already
 * hold data: the first eight take the eight buffers, the rest find none.
 * Sends can find every reactor buffer out too: echo's conns then retry
 * them on the next pass (TINA_EIO_BUFFERS, a yield). */
#define GATED 16
#define GATE_FIRST_BYTES 4000u
static _Atomic uint32_t g_gate_port;

typedef struct gate {
    tina_fd listener;
    uint32_t held;
    tina_fd fds[GATED];
} gate;

static uint32_t gate_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    gate *g = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &g->listener), TINA_OK);
    H_CHECK_RESULT(ctx, tina_bind(ctx, g->listener, &a, sizeof(a)), TINA_OK);
    H_CHECK_RESULT(ctx, tina_listen(ctx, g->listener, 2 * GATED), TINA_OK);
    g_gate_port = tina_local_port(ctx, g->listener);
    h_kick(ctx);
    return 0;
}

static tina_effect gate_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    gate *g = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* the listener closes with us */
    if (msg->tag == H_TAG_KICK) return tina_io_accept(g->listener);
    if (msg->tag != TINA_TAG_IO(TINA_IO_ACCEPT)) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.result == -ECANCELED) return tina_receive(); /* shutdown: the notice follows */
    H_CHECK_EQ(ctx, d.error, TINA_OK);
    if (g->held < GATED) {
        g->fds[g->held++] = d.fd;
        return tina_io_accept(g->listener);
    }
    for (uint32_t k = 0; k < GATED; k++) { /* the seventeenth: open the gate */
        tina_handle c;
        H_CHECK_RESULT(ctx, tina_spawn(ctx, 1, NULL, 0, &c), TINA_OK);
        H_CHECK_RESULT(ctx, tina_fd_transfer(ctx, g->fds[k], c, 0), TINA_OK);
    }
    return tina_io_close(d.fd);
}

static void gated_streams(int epoll) {
    g_gate_port = 0;
    tina_type_spec types[] = {
        H_TYPE("gate", gate, 1, 16, 1, gate_init, gate_handle),
        {.name = "conn", .struct_size = sizeof(conn), .slots_per_shard = GATED,
         .mailbox_capacity = 4, .handler = conn_handle}};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 2, children, 1, 1);
    spec.fd_slots = 64;
    spec.io_buffers = 8;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    struct server sv = {.rt = h_create(&spec)};
    cr_assert(eq(int, pthread_create(&sv.thread, NULL, server_main, &sv), 0));
    for (int k = 0; k < 5000 && g_gate_port == 0; k++) usleep(1000); /* bounded: 5 s */
    uint16_t port = (uint16_t)g_gate_port;
    cr_assert(ne(u16, port, 0), "the gate listens");

    int fds[GATED];
    static uint8_t out[GATED][4096], in[65536];
    size_t sent[GATED] = {0}, got[GATED] = {0}, total = 256 * 1024, done = 0;
    for (int k = 0; k < GATED; k++) { /* data waits in every socket before any recv */
        fds[k] = client_connect(port);
        for (size_t b = 0; b < GATE_FIRST_BYTES; b++) out[k][b] = pattern(b + (size_t)k);
        cr_assert(eq(long, (long)send(fds[k], out[k], GATE_FIRST_BYTES, MSG_NOSIGNAL),
                     (long)GATE_FIRST_BYTES));
        sent[k] = GATE_FIRST_BYTES;
    }
    int opener = client_connect(port);
    while (done < GATED) {
        struct pollfd p[GATED];
        for (int k = 0; k < GATED; k++)
            p[k] = (struct pollfd){.fd = fds[k], .events = POLLIN | (sent[k] < total ? POLLOUT : 0)};
        cr_assert(ge(int, poll(p, GATED, 10000), 1), "no progress for 10 s");
        for (int k = 0; k < GATED; k++) {
            if ((p[k].revents & POLLOUT) && sent[k] < total) {
                size_t n = total - sent[k] < 4096 ? total - sent[k] : 4096;
                for (size_t b = 0; b < n; b++) out[k][b] = pattern(sent[k] + b + (size_t)k);
                ssize_t w = send(fds[k], out[k], n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0) sent[k] += (size_t)w;
            }
            if ((p[k].revents & POLLIN) && got[k] < total) {
                ssize_t r = recv(fds[k], in, sizeof(in), MSG_DONTWAIT);
                cr_assert(ge(long, (long)r, 1), "conn %d closed at %zu", k, got[k]);
                for (ssize_t b = 0; b < r; b++)
                    cr_assert(eq(u8, in[b], pattern(got[k] + (size_t)b + (size_t)k)), "conn %d", k);
                got[k] += (size_t)r;
                if (got[k] == total) done++;
            }
        }
    }
    for (int k = 0; k < GATED; k++) close(fds[k]);
    close(opener);
    tina_shutdown(sv.rt);
    pthread_join(sv.thread, NULL);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(sv.rt, 0);
    tina_destroy(sv.rt);
    cr_assert(eq(u64, st.fds_open, 0));
    cr_assert(ge(u64, st.io_recv_starved, 1), "the buffers ran out: %llu recvs found none",
              (unsigned long long)st.io_recv_starved);
}

Test(io, sixteen_streams_through_eight_buffers, .timeout = 120) { gated_streams(0); }
Test(io, sixteen_streams_through_eight_buffers_on_the_epoll_fallback, .timeout = 120) {
    gated_streams(1);
}
Test(io, one_mib_echoed_intact_on_the_epoll_fallback, .timeout = 60) { one_mib_intact(1); }

/* ---- 1,000 connections at once -------------------------------------------- */

#define CONNS 1000

static void thousand_connections(int epoll) {
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2 * CONNS + 200 && lim.rlim_max >= 2 * CONNS + 200) {
        lim.rlim_cur = 2 * CONNS + 200;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    cr_assert(ge(u64, (uint64_t)lim.rlim_cur, 2 * CONNS + 200),
              "RLIMIT_NOFILE %llu is too low for this test", (unsigned long long)lim.rlim_cur);
    struct server sv;
    uint16_t port = echo_start(&sv, epoll);
    static int fds[CONNS];
    for (int k = 0; k < CONNS; k++) fds[k] = client_connect(port);
    for (int k = 0; k < CONNS; k++) {
        uint32_t v = (uint32_t)k * 2654435761u;
        cr_assert(eq(long, (long)send(fds[k], &v, sizeof(v), MSG_NOSIGNAL), 4));
    }
    for (int k = 0; k < CONNS; k++) { /* all open at once, each answered */
        uint32_t v = 0, want = (uint32_t)k * 2654435761u;
        cr_assert(eq(long, (long)recv(fds[k], &v, sizeof(v), MSG_WAITALL), 4), "conn %d", k);
        cr_assert(eq(u32, v, want), "conn %d", k);
    }
    for (int k = 0; k < CONNS; k++) close(fds[k]);
    uint64_t served0 = g_serve.served[0], served1 = g_serve.served[1];
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, served0 + served1, CONNS));
    cr_assert(ge(u64, served0, CONNS / 2 - 1), "round-robin: shard 0 took %llu",
              (unsigned long long)served0);
    cr_assert(ge(u64, served1, CONNS / 2 - 1), "round-robin: shard 1 took %llu",
              (unsigned long long)served1);
    cr_assert(eq(u64, st.fds_open, 0));
}

Test(io, a_thousand_concurrent_connections_spread_over_shards, .timeout = 120) {
    thousand_connections(0);
}
Test(io, a_thousand_connections_on_the_epoll_fallback, .timeout = 120) { thousand_connections(1); }

/* ---- a peer that resets --------------------------------------------------- */

static void reset_mid_stream(int epoll) {
    struct server sv;
    uint16_t port = echo_start(&sv, epoll);
    for (int round = 0; round < 20; round++) {
        int fd = client_connect(port);
        static uint8_t junk[200000]; /* more than the socket buffers: the server is mid-write */
        ssize_t w = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);
        cr_assert(ge(long, (long)w, 1));
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd); /* RST */
    }
    int fd = client_connect(port); /* the server is still fine */
    echo_exchange(fd, 100000);
    close(fd);
    for (int k = 0; k < 2000 && (g_serve.served[0] + g_serve.served[1]) < 21; k++) usleep(1000);
    tina_shard_stats st = server_stop(&sv);
    cr_assert(eq(u64, g_serve.served[0] + g_serve.served[1], 21));
    cr_assert(eq(u64, st.fds_open, 0), "reset connections were closed");
    cr_assert(ge(u64, st.io_failed, 1), "the resets showed as failed operations");
    cr_assert(eq(u64, st.crashes, 0));
}

Test(io, a_peer_resetting_mid_write_is_closed_cleanly, .timeout = 60) { reset_mid_stream(0); }
Test(io, a_peer_resetting_on_the_epoll_fallback, .timeout = 60) { reset_mid_stream(1); }

/* ---- descriptor handles, handoff, files ------------------------------------ */

static char g_path[64];
static int32_t g_read_result;
static char g_read_back[16];
static tina_result g_stale_bind, g_stale_transfer, g_dead_transfer;
static int32_t g_stale_error;
static tina_fd g_old_fd;

/* Shard 1: reads the file it is handed at offset 3. */
static tina_effect reader(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        H_CHECK_EQ(ctx, tina_handle_shard(t.from), 0u);
        H_CHECK_EQ(ctx, t.note, 77u);
        H_CHECK_EQ(ctx, (uint32_t)(t.fd >> 56), 1u); /* a handle of this shard */
        return tina_io_read(t.fd, 5, 3);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_READ)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        g_read_result = d.result;
        if (d.result > 0) memcpy(g_read_back, d.data, (size_t)d.result);
        tina_request_stop(ctx);
        return tina_io_close(d.fd);
    }
    return tina_receive();
}

/* Shard 0: write a file, close a socket and try its stale handle, hand the
 * file to the reader on shard 1. */
static tina_effect writer(void *self, tina_ctx *ctx, const tina_msg *msg) {
    tina_fd *fd = self;
    tina_io_done d;
    if (msg->tag >= TINA_TAG_IO_FIRST && msg->tag <= TINA_TAG_IO_LAST)
        memcpy(&d, msg->payload, sizeof(d));
    switch (msg->tag) {
    case H_TAG_KICK:
        H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &g_old_fd), TINA_OK);
        return tina_io_close(g_old_fd);
    case TINA_TAG_IO(TINA_IO_CLOSE): {
        H_CHECK_EQ(ctx, d.result, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        g_stale_bind = tina_bind(ctx, g_old_fd, &a, sizeof(a));
        return tina_io_send(g_old_fd, "x", 1); /* stale: refused, not sent */
    }
    case TINA_TAG_IO(TINA_IO_SEND):
        g_stale_error = d.error;
        H_CHECK_RESULT(ctx, tina_open(ctx, g_path, O_RDWR | O_CREAT | O_TRUNC, 0600, fd), TINA_OK);
        return tina_io_write(*fd, "abcdefghij", 10, 0);
    case TINA_TAG_IO(TINA_IO_WRITE):
        H_CHECK_EQ(ctx, d.result, 10);
        g_dead_transfer = tina_fd_transfer(ctx, *fd, tina_handle_make(1, 1, 5, 9), 1);
        H_CHECK_RESULT(ctx, tina_fd_transfer(ctx, *fd, tina_child_handle(ctx, 1, 1), 77), TINA_OK);
        g_stale_transfer = tina_fd_transfer(ctx, *fd, tina_child_handle(ctx, 1, 1), 78);
        return tina_receive();
    default:
        return tina_receive();
    }
}

static tina_shard_stats handoff_run(int epoll) {
    snprintf(g_path, sizeof(g_path), "/tmp/tina-io-test-%d", (int)getpid());
    tina_type_spec types[] = {H_TYPE("writer", tina_fd, 1, 16, 1, h_kick_init, writer),
                              H_TYPE("reader", tina_fd, 1, 16, 1, NULL, reader)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.fd_slots = 16;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    tina_runtime *rt = h_boot_and_run(&spec);
    h_assert_no_failures();
    tina_shard_stats s0 = h_stats(rt, 0), s1 = h_stats(rt, 1);
    tina_destroy(rt);
    unlink(g_path);
    cr_assert(eq(u64, s0.fd_transferred, 1));
    cr_assert(eq(u64, s1.fds_open, 0), "the reader closed what it was handed");
    return s0;
}

static void handoff_checks(int epoll) {
    tina_shard_stats s0 = handoff_run(epoll);
    cr_assert(eq(int, g_stale_bind, TINA_EFD_STALE), "bind on a closed handle");
    cr_assert(eq(int, g_stale_error, TINA_EFD_STALE), "send on a closed handle");
    cr_assert(eq(int, g_dead_transfer, TINA_EHANDLE), "a handle past the type's slots");
    cr_assert(eq(int, g_stale_transfer, TINA_EFD_STALE), "a handed-over descriptor is gone here");
    cr_assert(eq(i32, g_read_result, 5));
    cr_assert(eq(int, memcmp(g_read_back, "defgh", 5), 0), "read at offset 3 on the other shard");
    cr_assert(ge(u64, s0.io_refused, 1));
}

Test(io, stale_descriptor_handles_and_a_handoff_across_shards, .timeout = 30) { handoff_checks(0); }
Test(io, stale_handles_and_handoff_on_the_epoll_fallback, .timeout = 30) { handoff_checks(1); }

/* ---- I/O off --------------------------------------------------------------- */

static tina_result g_off_socket;
static int32_t g_off_failed;

static tina_effect io_off(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == H_TAG_KICK) {
        tina_fd fd;
        g_off_socket = tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &fd);
        return tina_io_recv(1, 0);
    }
    if (msg->tag == TINA_TAG_CALL_FAILED) g_off_failed = h_i32(msg);
    tina_request_stop(ctx);
    return tina_receive();
}

Test(io, without_fd_slots_io_is_refused_by_name, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("off", uint64_t, 1, 16, 1, h_kick_init, io_off)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    tina_runtime *rt = h_boot_and_run(&spec);
    tina_destroy(rt);
    cr_assert(eq(int, g_off_socket, TINA_EIO_OFF));
    cr_assert(eq(i32, g_off_failed, TINA_EIO_OFF));
}

/* ---- handing over a connection that has been read from ------------------ */

/* Shard 0's taker accepts one connection, reads the first bytes, then hands
 * it to the finisher on shard 1 while the client keeps sending.  Under
 * io_uring a multishot recv may have read ahead: the handoff is refused
 * (TINA_EIO_BUSY) until a recv took those bytes.  Not one byte is lost or
 * doubled. */
#define STREAM_BYTES 200000u
static uint8_t g_seen[STREAM_BYTES];
static uint32_t g_seen_len, g_busy, g_handed_at;
static _Atomic uint32_t g_taker_port;

typedef struct taker {
    tina_fd listener, conn;
} taker;

static void seen_add(tina_ctx *ctx, const tina_io_done *d) {
    H_CHECK(ctx, g_seen_len + (uint32_t)d->result <= STREAM_BYTES);
    memcpy(g_seen + g_seen_len, d->data, (size_t)d->result);
    g_seen_len += (uint32_t)d->result;
}

static uint32_t taker_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    taker *t = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &t->listener), TINA_OK);
    H_CHECK_RESULT(ctx, tina_bind(ctx, t->listener, &a, sizeof(a)), TINA_OK);
    H_CHECK_RESULT(ctx, tina_listen(ctx, t->listener, 4), TINA_OK);
    g_taker_port = tina_local_port(ctx, t->listener);
    h_kick(ctx);
    return 0;
}

static tina_effect taker_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    taker *t = self;
    if (msg->tag == H_TAG_KICK) return tina_io_accept(t->listener);
    if (msg->tag < TINA_TAG_IO_FIRST || msg->tag > TINA_TAG_IO_LAST) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.op == TINA_IO_ACCEPT) {
        t->conn = d.fd;
        return tina_io_recv(t->conn, 1000);
    }
    if (d.op != TINA_IO_RECV) return tina_receive();
    H_CHECK(ctx, d.result > 0);
    seen_add(ctx, &d);
    if (g_seen_len < 20000) return tina_io_recv(t->conn, 1000); /* read a little, slowly */
    tina_result r = tina_fd_transfer(ctx, t->conn, tina_child_handle(ctx, 1, 1), 0);
    if (r == TINA_EIO_BUSY) { /* bytes came ahead of us: take them first */
        g_busy++;
        return tina_io_recv(t->conn, 0);
    }
    H_CHECK_RESULT(ctx, r, TINA_OK);
    g_handed_at = g_seen_len;
    return tina_receive();
}

static tina_effect finisher_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    tina_fd *fd = self;
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        *fd = t.fd;
        return tina_io_recv(*fd, 0);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECV)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.result > 0) {
            seen_add(ctx, &d);
            return tina_io_recv(*fd, 0);
        }
        tina_request_stop(ctx); /* end of stream: the client is done */
        return tina_io_close(*fd);
    }
    return tina_receive();
}

struct stream_client {
    pthread_t thread;
};

static void *stream_client_main(void *arg) {
    H_UNUSED(arg);
    for (int k = 0; k < 5000 && g_taker_port == 0; k++) usleep(1000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_taker_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) abort();
    static uint8_t out[STREAM_BYTES];
    for (uint32_t k = 0; k < STREAM_BYTES; k++) out[k] = pattern(k);
    for (uint32_t at = 0, n = 0; at < STREAM_BYTES; at += n) {
        n = STREAM_BYTES - at < 997 ? STREAM_BYTES - at : 997;
        if (send(fd, out + at, n, MSG_NOSIGNAL) != (ssize_t)n) abort();
    }
    close(fd);
    return NULL;
}

static void handoff_after_reading(int epoll) {
    g_seen_len = g_busy = g_handed_at = 0;
    g_taker_port = 0;
    tina_type_spec types[] = {H_TYPE("taker", taker, 1, 16, 1, taker_init, taker_handle),
                              H_TYPE("finisher", tina_fd, 1, 16, 1, NULL, finisher_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 1)};
    tina_spec spec = h_spec(types, 2, children, 2, 2);
    spec.fd_slots = 16;
    spec.io_buffer_bytes = 4096;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    struct stream_client c;
    pthread_create(&c.thread, NULL, stream_client_main, NULL);
    tina_runtime *rt = h_boot_and_run(&spec);
    pthread_join(c.thread, NULL);
    h_assert_no_failures();
    tina_destroy(rt);
    cr_assert(eq(u32, g_seen_len, STREAM_BYTES), "every byte arrived once (busy %u)", g_busy);
    for (uint32_t k = 0; k < STREAM_BYTES; k++)
        cr_assert(eq(u8, g_seen[k], pattern(k)), "byte %u (handed over at %u)", k, g_handed_at);
    cr_assert(ge(u32, g_handed_at, 20000), "the taker read first, then handed over");
}

Test(io, a_connection_handed_over_after_reading_loses_no_byte, .timeout = 60) {
    handoff_after_reading(0);
}
Test(io, a_connection_handed_over_after_reading_on_the_epoll_fallback, .timeout = 60) {
    handoff_after_reading(1);
}

/* ---- arrivals of 64 KiB and more ------------------------------------------ */

/* Reactor buffers of 64 KiB and of 128 KiB, so that one arrival is 65,536
 * bytes or more: what a multishot recv has handed out of a provided buffer
 * must be counted that high (a 16-bit count wrapped to 0 and the same bytes
 * were handed out again, and again).  Large arrivals are arranged, not
 * hoped for: the sink accepts the data connection, then waits for a second
 * connection that opens the gate; the client opens it only after its first
 * 100,000-byte write returned, and both socket buffers are large, so the
 * first recv finds more waiting than a buffer holds.  The client writes
 * 400,000 bytes in 100,000-byte writes; the sink checks every byte as it
 * arrives, and stops if more arrive than were sent. */
#define BIG_WRITE_BYTES 100000u
#define BIG_STREAM_BYTES 400000u
#define BIG_SOCKET_BUFFER_BYTES (1 << 20)
_Static_assert(BIG_STREAM_BYTES % BIG_WRITE_BYTES == 0, "the stream is whole writes");
static _Atomic uint32_t g_sink_port;
static uint64_t g_sink_bytes, g_sink_wrong_count, g_sink_first_wrong_at;
static uint32_t g_sink_arrival_bytes_max;
static int32_t g_sink_end; /* the last recv's result: 0 for the end of stream */

typedef struct sink {
    tina_fd listener, data;
    uint32_t accepted_count;
} sink;

static uint32_t sink_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    sink *k = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int big = BIG_SOCKET_BUFFER_BYTES; /* accepted connections inherit it */
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &k->listener), TINA_OK);
    H_CHECK_RESULT(ctx, tina_setsockopt(ctx, k->listener, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)),
                   TINA_OK);
    H_CHECK_RESULT(ctx, tina_bind(ctx, k->listener, &a, sizeof(a)), TINA_OK);
    H_CHECK_RESULT(ctx, tina_listen(ctx, k->listener, 4), TINA_OK);
    g_sink_port = tina_local_port(ctx, k->listener);
    h_kick(ctx);
    return 0;
}

/* The stream is its own offsets, as 32-bit words, low byte first: bytes
 * repeated or out of place are wrong at any distance (pattern() repeats
 * every 128 KiB, so a buffer of 128 KiB handed out twice would pass it). */
static uint8_t counted(size_t i) { return (uint8_t)((uint32_t)(i / 4) >> (8 * (i % 4))); }

/* Checks, not assertions: this runs on a shard thread. */
static void sink_check(const tina_io_done *d) {
    for (int32_t b = 0; b < d->result; b++) {
        if (d->data[b] == counted(g_sink_bytes + (size_t)b)) continue;
        if (g_sink_wrong_count++ == 0) g_sink_first_wrong_at = g_sink_bytes + (uint64_t)b;
    }
    g_sink_bytes += (uint64_t)d->result;
    if ((uint32_t)d->result > g_sink_arrival_bytes_max)
        g_sink_arrival_bytes_max = (uint32_t)d->result;
}

static tina_effect sink_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    sink *k = self;
    if (msg->tag == H_TAG_KICK) return tina_io_accept(k->listener);
    if (msg->tag < TINA_TAG_IO_FIRST || msg->tag > TINA_TAG_IO_LAST) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.op == TINA_IO_ACCEPT) {
        H_CHECK_EQ(ctx, d.error, TINA_OK);
        if (k->accepted_count++ == 0) { /* the data connection: wait for the gate */
            k->data = d.fd;
            return tina_io_accept(k->listener);
        }
        return tina_io_recv(k->data, 0); /* the gate: the first write waits in the socket */
    }
    if (d.op != TINA_IO_RECV) return tina_receive();
    H_CHECK_EQ(ctx, d.error, TINA_OK);
    if (d.result > 0) {
        sink_check(&d);
        if (g_sink_bytes <= BIG_STREAM_BYTES) return tina_io_recv(k->data, 0);
    }
    g_sink_end = d.result; /* the end, or more than was sent: stop either way */
    tina_request_stop(ctx);
    return tina_io_close(k->data);
}

struct big_client {
    pthread_t thread;
    uint64_t sent_bytes;
};

/* All of buf, or as much as the socket took before an error or SO_SNDTIMEO. */
static size_t send_all(int fd, const uint8_t *buf, size_t size) {
    size_t at = 0;
    while (at < size) {
        ssize_t w = send(fd, buf + at, size - at, MSG_NOSIGNAL);
        if (w <= 0) break;
        at += (size_t)w;
    }
    return at;
}

static int big_client_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int big = BIG_SOCKET_BUFFER_BYTES;
    struct timeval tv = {.tv_sec = 10}; /* a bound on every blocking write */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* No Criterion assertions off the test's thread: what it managed to send
 * is checked after the join. */
static void *big_client_main(void *arg) {
    struct big_client *c = arg;
    for (int k = 0; k < 5000 && g_sink_port == 0; k++) usleep(1000); /* bounded: 5 s */
    static uint8_t out[BIG_STREAM_BYTES];
    for (uint32_t k = 0; k < BIG_STREAM_BYTES; k++) out[k] = counted(k);
    int data = big_client_connect((uint16_t)g_sink_port);
    if (data < 0) return NULL;
    c->sent_bytes = send_all(data, out, BIG_WRITE_BYTES);
    int gate = c->sent_bytes == BIG_WRITE_BYTES ? big_client_connect((uint16_t)g_sink_port) : -1;
    while (gate >= 0 && c->sent_bytes < BIG_STREAM_BYTES) {
        size_t written_bytes = send_all(data, out + c->sent_bytes, BIG_WRITE_BYTES);
        c->sent_bytes += written_bytes;
        if (written_bytes < BIG_WRITE_BYTES) break; /* an error, or 10 s without progress */
    }
    close(data);
    if (gate >= 0) close(gate);
    return NULL;
}

static void big_arrivals(uint32_t buffer_bytes, int epoll) {
    g_sink_port = 0;
    g_sink_bytes = g_sink_wrong_count = g_sink_first_wrong_at = 0;
    g_sink_arrival_bytes_max = 0;
    g_sink_end = 1;
    tina_type_spec types[] = {H_TYPE("sink", sink, 1, 16, 1, sink_init, sink_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.fd_slots = 16;
    spec.io_buffer_bytes = buffer_bytes;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    struct big_client c = {0};
    cr_assert(eq(int, pthread_create(&c.thread, NULL, big_client_main, &c), 0));
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 10000);
    tina_destroy(rt); /* closes the sockets: a client still writing stops */
    pthread_join(c.thread, NULL);
    h_assert_no_failures();
    cr_assert(eq(u64, g_sink_bytes, BIG_STREAM_BYTES),
              "every byte arrived once (%llu wrong; the client wrote %llu)",
              (unsigned long long)g_sink_wrong_count, (unsigned long long)c.sent_bytes);
    cr_assert(eq(u64, g_sink_wrong_count, 0), "bytes arrived wrong, the first at %llu",
              (unsigned long long)g_sink_first_wrong_at);
    cr_assert(eq(u64, c.sent_bytes, BIG_STREAM_BYTES), "the client wrote it all");
    cr_assert(eq(i32, g_sink_end, 0), "the stream ended with the client's close");
    cr_assert(ge(u32, g_sink_arrival_bytes_max, 65536), "an arrival filled 64 KiB");
}

Test(io, a_stream_through_64_kib_buffers_arrives_intact, .timeout = 60) {
    big_arrivals(65536, 0);
}
Test(io, a_stream_through_128_kib_buffers_arrives_intact, .timeout = 60) {
    big_arrivals(131072, 0);
}
Test(io, a_stream_through_64_kib_buffers_on_the_epoll_fallback, .timeout = 60) {
    big_arrivals(65536, 1);
}
Test(io, a_stream_through_128_kib_buffers_on_the_epoll_fallback, .timeout = 60) {
    big_arrivals(131072, 1);
}

/* ---- running out: descriptors and reactor buffers ------------------------ */

/* A hoarder accepts and keeps every connection.  The table has 16 slots;
 * 8 spare sockets, the listener and 7 connections fill it; the next accept
 * is answered TINA_EFD_EXHAUSTED (its connection closed), and so is a
 * socket call. */
static _Atomic uint32_t g_hoard_port;
static int32_t g_hoard_error, g_hoard_result;
static tina_result g_hoard_socket;
static uint32_t g_hoarded;

static uint32_t hoarder_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    taker *t = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int k = 0; k < 8; k++) {
        tina_fd spare;
        H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &spare), TINA_OK);
    }
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &t->listener), TINA_OK);
    H_CHECK_RESULT(ctx, tina_bind(ctx, t->listener, &a, sizeof(a)), TINA_OK);
    H_CHECK_RESULT(ctx, tina_listen(ctx, t->listener, 16), TINA_OK);
    g_hoard_port = tina_local_port(ctx, t->listener);
    h_kick(ctx);
    return 0;
}

static tina_effect hoarder_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    taker *t = self;
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.error != TINA_OK) {
            g_hoard_error = d.error;
            g_hoard_result = d.result;
            tina_fd fd;
            g_hoard_socket = tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &fd);
            tina_request_stop(ctx);
            return tina_receive();
        }
        g_hoarded++;
    }
    return tina_io_accept(t->listener);
}

struct hoard_clients {
    pthread_t thread;
    int closed_by_server; /* the 8th connection saw the server close it */
};

static void *hoard_clients_main(void *arg) {
    struct hoard_clients *h = arg;
    for (int k = 0; k < 5000 && g_hoard_port == 0; k++) usleep(1000);
    int fds[8];
    for (int k = 0; k < 8; k++) {
        fds[k] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_hoard_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fds[k], (struct sockaddr *)&addr, sizeof(addr)) != 0) abort();
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fds[7], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    ssize_t r = recv(fds[7], &c, 1, 0); /* 0: closed; -1 EAGAIN: the 10 s bound ran out */
    h->closed_by_server = r == 0 || (r < 0 && errno != EAGAIN);
    for (int k = 0; k < 8; k++) close(fds[k]);
    return NULL;
}

static void descriptors_run_out(int epoll) {
    g_hoard_port = 0;
    g_hoarded = 0;
    tina_type_spec types[] = {H_TYPE("hoarder", taker, 1, 16, 1, hoarder_init, hoarder_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.fd_slots = 16; /* the smallest table */
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    struct hoard_clients h = {0};
    pthread_create(&h.thread, NULL, hoard_clients_main, &h);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    pthread_join(h.thread, NULL);
    h_assert_no_failures();
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt);
    cr_assert(eq(i32, g_hoard_error, TINA_EFD_EXHAUSTED));
    cr_assert(eq(i32, g_hoard_result, -ENFILE));
    cr_assert(eq(int, g_hoard_socket, TINA_EFD_EXHAUSTED), "and a socket call is refused by name");
    cr_assert(ge(u64, st.fd_exhausted, 2), "both counted");
    cr_assert(eq(u32, g_hoarded, 7), "the listener and 7 connections filled the table");
    cr_assert(h.closed_by_server, "the connection with no room was closed");
}

Test(io, running_out_of_descriptors_is_named_and_counted, .timeout = 30) { descriptors_run_out(0); }
Test(io, running_out_of_descriptors_on_the_epoll_fallback, .timeout = 30) { descriptors_run_out(1); }

/* Reactor buffers: a send holds one until the kernel took its bytes.  Three
 * flooders send to clients that never read; with 2 buffers for the shard,
 * two sends parked on full sockets hold both, and the next send is refused
 * at once, by name. */
static int32_t g_buf_error, g_buf_result;
static uint32_t g_dealt;
static uint8_t g_flood[16384];

static tina_effect dealer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    taker *t = self;
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        H_CHECK_EQ(ctx, d.error, TINA_OK);
        tina_handle flooder = tina_child_handle(ctx, 1 + g_dealt % 3, 0);
        H_CHECK_RESULT(ctx, tina_fd_transfer(ctx, d.fd, flooder, 0), TINA_OK);
        if (++g_dealt == 3) return tina_receive();
    }
    return tina_io_accept(t->listener);
}

static tina_effect flooder_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    tina_fd *fd = self;
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        *fd = t.fd;
        int small = 4096; /* the socket fills after a few sends */
        H_CHECK_RESULT(ctx, tina_setsockopt(ctx, *fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
                       TINA_OK);
        return tina_io_send(*fd, g_flood, sizeof(g_flood));
    }
    if (msg->tag != TINA_TAG_IO(TINA_IO_SEND)) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.error == TINA_OK) {
        H_CHECK(ctx, d.result > 0);
        return tina_io_send(*fd, g_flood, sizeof(g_flood)); /* until it parks */
    }
    if (g_buf_error == 0) {
        g_buf_error = d.error;
        g_buf_result = d.result;
    }
    tina_request_stop(ctx);
    return tina_receive();
}

static void buffers_run_out(int epoll) {
    g_hoard_port = 0;
    g_dealt = 0;
    g_buf_error = g_buf_result = 0;
    tina_type_spec types[] = {H_TYPE("dealer", taker, 1, 16, 1, hoarder_init, dealer_handle),
                              H_TYPE("flooder", tina_fd, 3, 16, 1, NULL, flooder_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0), H_CHILD(1, 0), H_CHILD(1, 0), H_CHILD(1, 0)};
    tina_spec spec = h_spec(types, 2, children, 4, 1);
    spec.fd_slots = 32;
    spec.io_buffers = 2;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    struct hoard_clients h = {0};
    pthread_create(&h.thread, NULL, hoard_clients_main, &h);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt); /* closes the connections: the clients' reads end */
    pthread_join(h.thread, NULL);
    h_assert_no_failures();
    cr_assert(eq(i32, g_buf_error, TINA_EIO_BUFFERS));
    cr_assert(eq(i32, g_buf_result, -ENOBUFS));
    cr_assert(ge(u64, st.io_buffers_exhausted, 1));
    cr_assert(eq(u64, st.crashes, 0));
}

Test(io, running_out_of_reactor_buffers_is_named_and_counted, .timeout = 30) { buffers_run_out(0); }
Test(io, running_out_of_reactor_buffers_on_the_epoll_fallback, .timeout = 30) { buffers_run_out(1); }

/* ---- timeouts -------------------------------------------------------------- */

/* An accept nobody connects to, with a 30 ms timeout: -ETIMEDOUT.  Then a
 * recv with a generous timeout that data beats: its timer is gone.  A read
 * cannot carry a timeout: refused by name. */
static int32_t g_accept_result, g_recv_result, g_read_error;
static uint64_t g_waited_ns, g_accept_at_ns;

static tina_effect timed_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    taker *t = self;
    if (msg->tag == H_TAG_KICK) {
        g_accept_at_ns = tina_now_ns(ctx);
        return tina_io_timeout(tina_io_accept(t->listener), H_MS(30));
    }
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT) && g_accept_result == 0) {
        g_accept_result = d.result;
        g_waited_ns = tina_now_ns(ctx) - g_accept_at_ns;
        return tina_io_timeout(tina_io_accept(t->listener), H_MS(10000)); /* the client comes */
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        H_CHECK_EQ(ctx, d.error, TINA_OK);
        t->conn = d.fd;
        return tina_io_timeout(tina_io_recv(t->conn, 0), H_MS(10000));
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECV)) {
        g_recv_result = d.result;
        return tina_io_timeout(tina_io_read(t->conn, 10, 0), H_MS(5));
    }
    if (msg->tag >= TINA_TAG_IO_FIRST && msg->tag <= TINA_TAG_IO_LAST) { /* the refused read */
        g_read_error = d.error;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

static void *timed_client_main(void *arg) {
    H_UNUSED(arg);
    for (int k = 0; k < 5000 && (g_hoard_port == 0 || g_accept_result == 0); k++) usleep(1000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_hoard_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) abort();
    if (send(fd, "hi", 2, MSG_NOSIGNAL) != 2) abort();
    char c;
    (void)recv(fd, &c, 1, 0); /* until the server goes */
    close(fd);
    return NULL;
}

static void timeouts(int epoll) {
    g_hoard_port = 0;
    g_accept_result = g_recv_result = g_read_error = 0;
    tina_type_spec types[] = {H_TYPE("timed", taker, 1, 16, 1, hoarder_init, timed_handle)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.fd_slots = 32;
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_URING;
    pthread_t client;
    pthread_create(&client, NULL, timed_client_main, NULL);
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt);
    pthread_join(client, NULL);
    h_assert_no_failures();
    cr_assert(eq(i32, g_accept_result, -ETIMEDOUT));
    cr_assert(ge(u64, g_waited_ns, H_MS(30)), "not before its time");
    cr_assert(le(u64, g_waited_ns, H_MS(2000)), "and not long after");
    cr_assert(eq(i32, g_recv_result, 2), "data beat the second deadline");
    cr_assert(eq(i32, g_read_error, TINA_EINVAL), "a read has no room for a timeout");
    cr_assert(eq(u64, st.io_timeouts, 1));
    cr_assert(eq(u64, st.timers_live, 0), "the timers of completed ops are gone");
}

Test(io, an_operation_past_its_timeout_completes_with_etimedout, .timeout = 30) { timeouts(0); }
Test(io, timeouts_on_the_epoll_fallback, .timeout = 30) { timeouts(1); }

/* ---- a bad pointer in a send ----------------------------------------------- */

#ifndef TINA_SANITIZE /* ASan owns SIGSEGV: the trap boundary is tested without it */
/* The send's data is copied as the effect is applied; a bad pointer faults
 * there, inside the trap boundary: the isolate crashes and nothing is taken.
 * Forty crashes on a shard with 32 op entries, then a close still runs. */
static uint32_t g_bad_sends;
static int32_t g_close_after_faults = 1;

static uint32_t bad_sender_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(args), H_UNUSED(size);
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, (tina_fd *)self), TINA_OK);
    h_kick(ctx);
    return 0;
}

static tina_effect bad_sender(void *self, tina_ctx *ctx, const tina_msg *msg) {
    tina_fd *fd = self;
    if (msg->tag == H_TAG_KICK && g_bad_sends < 40) {
        g_bad_sends++;
        return tina_io_send(*fd, (const void *)(uintptr_t)16, 100); /* faults in the copy */
    }
    if (msg->tag == H_TAG_KICK) return tina_io_close(*fd);
    if (msg->tag == TINA_TAG_IO(TINA_IO_CLOSE)) {
        memcpy(&g_close_after_faults, msg->payload, sizeof(int32_t)); /* done.result */
        tina_request_stop(ctx);
    }
    return tina_receive();
}

Test(io, a_bad_send_pointer_crashes_the_isolate_and_leaks_nothing, .timeout = 30) {
    tina_type_spec types[] = {H_TYPE("bad", tina_fd, 1, 16, 1, bad_sender_init, bad_sender)};
    tina_child_spec children[] = {H_CHILD(0, 0)};
    children[0].restart = TINA_RESTART_PERMANENT;
    tina_spec spec = h_spec(types, 1, children, 1, 1);
    spec.fd_slots = 16;
    spec.io_buffers = 16;
    tina_runtime *rt = h_create(&spec);
    h_run(rt);
    tina_shard_stats st = h_stats(rt, 0);
    tina_destroy(rt);
    h_assert_no_failures();
    cr_assert(eq(u64, st.crash_segv, 40));
    cr_assert(eq(i32, g_close_after_faults, 0), "op entries and buffers are all still there");
    cr_assert(eq(u64, st.fds_open, 0), "each crash closed its socket");
}
#endif
