/*
 * sim_io.c -- the simulated network and file system under tina_simulate.
 *
 * The workload: an echo server on shard 0 (a listener on port 7000 whose
 * accept loop spawns one echo isolate per connection and hands it the
 * descriptor) and a client on shard 1 that connects, sends 64 KiB in odd
 * chunks, reads every byte back and checks it, closes and stops the run.
 * Under injected I/O errors the client closes and starts over on a fresh
 * connection, up to ATTEMPTS_MAX times, then gives up; either way the run
 * ends.  Asserted: the bytes, the stop reason, one digest per seed (with
 * faults on too), errors injected and resets seen, ECONNREFUSED, files at
 * offsets, a stale descriptor after close, datagrams, and that a server
 * waiting in accept with no client does not keep a run alive.
 *
 * Handlers run on the calling thread under the simulator; they record what
 * they saw in `g` and the test asserts on it after tina_simulate returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "helpers.h"

#define ECHO_PORT 7000u
#define DEAD_PORT 7001u
#define UDP_PORT 9000u
#define TOTAL_BYTES (64u * 1024u)
#define BUFFER_BYTES 16384u
#define ATTEMPTS_MAX 40u

enum {
    T_SERVER, T_ECHO, T_CLIENT, T_REFUSER, T_FILER, T_UDP_ECHO, T_UDP_PINGER, T_QUITTER, T_CLOSER,
    T_SLEEPER, T_COUNT
};

static struct {
    uint32_t verified;      /* the client got back all TOTAL_BYTES and closed */
    uint32_t gave_up;       /* the client ran out of attempts */
    uint32_t attempts;      /* connections the client tried */
    uint32_t resets;        /* -ECONNRESET seen by the client */
    uint32_t other_errors;  /* any other failure the client saw (incl. early EOF) */
    uint32_t bad_bytes;     /* bytes that came back wrong */
    uint32_t accepted;      /* connections handed to an echo isolate */
    uint32_t echo_errors;   /* failures seen by echo isolates */
    int32_t refused;        /* the refuser's connect result */
    uint32_t file_steps;    /* file checks passed, in order */
    int32_t stale_error;    /* done.error of an op on a closed descriptor */
    int32_t readonly_write; /* a write through an O_RDONLY descriptor */
    uint32_t udp_pongs;     /* datagram round trips checked */
    int32_t accept_cancelled; /* the server's accept when a shutdown came */
    int32_t close_result;     /* a close a shutdown tried to cancel */
    uint32_t close_seen;
} g;

static struct sockaddr_in loopback(uint32_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static tina_io_done done_of(const tina_msg *msg) {
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    return d;
}

/* ---- the echo server ------------------------------------------------------- */

typedef struct server {
    tina_fd listener;
} server;

static uint32_t server_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    server *sv = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = loopback(ECHO_PORT);
    int one = 1;
    if (tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &sv->listener) != TINA_OK) return 1;
    if (tina_setsockopt(ctx, sv->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != TINA_OK)
        return 2;
    if (tina_bind(ctx, sv->listener, &a, sizeof(a)) != TINA_OK) return 3;
    if (tina_listen(ctx, sv->listener, 16) != TINA_OK) return 4;
    if (tina_local_port(ctx, sv->listener) != ECHO_PORT) return 5;
    h_kick(ctx);
    return 0;
}

static int g_stubborn; /* the server re-arms its accept even when cancelled */

static tina_effect server_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    server *sv = self;
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* the listener closes with us */
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        tina_io_done d = done_of(msg);
        if (d.result == -ECANCELED && tina_shutting_down(ctx) && !g_stubborn) {
            g.accept_cancelled = d.result;
            return tina_receive(); /* the notice comes next */
        }
        if (d.result < 0) return tina_io_accept(sv->listener); /* aborted: take the next */
        H_CHECK_EQ(ctx, d.addr_len, sizeof(struct sockaddr_in));
        tina_handle worker;
        if (tina_spawn(ctx, T_ECHO, NULL, 0, &worker) != TINA_OK ||
            tina_fd_transfer(ctx, d.fd, worker, 0) != TINA_OK)
            return tina_io_close(d.fd); /* then accept again */
        g.accepted++;
    }
    return tina_io_accept(sv->listener);
}

typedef struct echo {
    tina_fd fd;
    uint32_t have, sent;
    uint8_t buf[BUFFER_BYTES];
} echo;

static tina_effect echo_failed(echo *e, int32_t result) {
    if (result < 0) g.echo_errors++;
    return tina_io_close(e->fd);
}

static tina_effect echo_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    echo *e = self;
    H_UNUSED(ctx);
    tina_io_done d = done_of(msg);
    switch (msg->tag) {
    case TINA_TAG_TRANSFER: {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        e->fd = t.fd;
        return tina_io_recv(e->fd, 0);
    }
    case TINA_TAG_IO(TINA_IO_RECV):
        if (d.result <= 0) return echo_failed(e, d.result); /* 0: the client closed */
        memcpy(e->buf, d.data, (size_t)d.result);
        e->have = (uint32_t)d.result;
        e->sent = 0;
        return tina_io_send(e->fd, e->buf, e->have);
    case TINA_TAG_IO(TINA_IO_SEND):
        if (d.result < 0) return echo_failed(e, d.result);
        e->sent += (uint32_t)d.result;
        if (e->sent < e->have) return tina_io_send(e->fd, e->buf + e->sent, e->have - e->sent);
        return tina_io_recv(e->fd, 0);
    case TINA_TAG_IO(TINA_IO_CLOSE):
        return tina_done();
    default:
        return tina_receive();
    }
}

/* ---- the client ----------------------------------------------------------------- */

static const uint32_t chunk_bytes[] = {1, 4093, 333, 7, 16383, 2047, 9, 5001, 12345, 77, 8191};

static uint8_t pattern(uint32_t at) { return (uint8_t)((at * 2654435761u) >> 24); }

typedef struct client {
    tina_fd fd;
    uint32_t sent, received;       /* bytes of this attempt */
    uint32_t chunk_len, chunk_at;  /* the chunk being sent, and how much of it went */
    uint32_t chunk_index, attempts, finishing;
    struct sockaddr_in to;         /* read when the effect is applied: not on the stack */
    uint8_t out[BUFFER_BYTES];
} client;

static tina_effect client_connect(client *c, tina_ctx *ctx) {
    if (++c->attempts > ATTEMPTS_MAX) {
        g.gave_up = 1;
        tina_request_stop(ctx);
        return tina_done();
    }
    g.attempts = c->attempts;
    c->sent = c->received = c->chunk_index = c->finishing = 0;
    tina_result r = tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &c->fd);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    c->to = loopback(ECHO_PORT);
    return tina_io_connect(c->fd, &c->to, sizeof(c->to));
}

static tina_effect client_next_chunk(client *c) {
    if (c->sent == TOTAL_BYTES) {
        c->finishing = 1;
        return tina_io_close(c->fd);
    }
    uint32_t n = chunk_bytes[c->chunk_index++ % H_COUNT(chunk_bytes)];
    if (n > TOTAL_BYTES - c->sent) n = TOTAL_BYTES - c->sent;
    for (uint32_t k = 0; k < n; k++) c->out[k] = pattern(c->sent + k);
    c->chunk_len = n;
    c->chunk_at = 0;
    return tina_io_send(c->fd, c->out, n);
}

/* Give this connection up: close it, then start over. */
static tina_effect client_failed(client *c, int32_t result) {
    if (result == -ECONNRESET) g.resets++;
    else g.other_errors++;
    c->finishing = 0;
    return tina_io_close(c->fd);
}

static tina_effect client_received(client *c, const tina_io_done *d) {
    if (d->result <= 0) return client_failed(c, d->result ? d->result : -EPIPE);
    for (int32_t k = 0; k < d->result; k++)
        if (d->data[k] != pattern(c->received + (uint32_t)k)) g.bad_bytes++;
    c->received += (uint32_t)d->result;
    if (c->received > c->sent) g.bad_bytes++; /* more than was sent came back */
    if (c->received < c->sent) return tina_io_recv(c->fd, 0);
    return client_next_chunk(c);
}

static tina_effect client_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    client *c = self;
    tina_io_done d = done_of(msg);
    switch (msg->tag) {
    case H_TAG_KICK:
        return client_connect(c, ctx);
    case TINA_TAG_IO(TINA_IO_CONNECT):
        return d.result < 0 ? client_failed(c, d.result) : client_next_chunk(c);
    case TINA_TAG_IO(TINA_IO_SEND):
        if (d.result < 0) return client_failed(c, d.result);
        c->chunk_at += (uint32_t)d.result;
        c->sent += (uint32_t)d.result;
        if (c->chunk_at < c->chunk_len)
            return tina_io_send(c->fd, c->out + c->chunk_at, c->chunk_len - c->chunk_at);
        return tina_io_recv(c->fd, 0);
    case TINA_TAG_IO(TINA_IO_RECV):
        return client_received(c, &d);
    case TINA_TAG_IO(TINA_IO_CLOSE):
        H_CHECK_EQ(ctx, d.result, 0);
        if (!c->finishing) return client_connect(c, ctx);
        g.verified = c->received == TOTAL_BYTES;
        tina_request_stop(ctx);
        return tina_done();
    default:
        return tina_receive();
    }
}

/* ---- connect to nobody, files, datagrams ------------------------------------------ */

typedef struct refuser {
    tina_fd fd;
    struct sockaddr_in to;
} refuser;

static tina_effect refuser_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    refuser *r = self;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &r->fd), TINA_OK);
        r->to = loopback(DEAD_PORT);
        return tina_io_connect(r->fd, &r->to, sizeof(r->to));
    }
    g.refused = done_of(msg).result;
    tina_request_stop(ctx);
    return tina_done();
}

typedef struct filer {
    tina_fd fd, old;
    uint32_t step;
} filer;

static const char k_path[] = "/sim/data.log";

/* Each step checks the completion of the one before and starts the next. */
static tina_effect filer_step(filer *f, tina_ctx *ctx, const tina_io_done *d) {
    switch (f->step++) {
    case 0:
        H_CHECK_RESULT(ctx, tina_open(ctx, k_path, O_CREAT | O_RDWR | O_TRUNC, 0644, &f->fd), TINA_OK);
        return tina_io_write(f->fd, "hello, world", 12, 0);
    case 1:
        if (d->result == 12) g.file_steps++;
        return tina_io_write(f->fd, "XYZ", 3, 100); /* past the end: a hole */
    case 2:
        if (d->result == 3) g.file_steps++;
        return tina_io_read(f->fd, 5, 7);
    case 3:
        if (d->result == 5 && memcmp(d->data, "world", 5) == 0) g.file_steps++;
        return tina_io_read(f->fd, 64, 96);
    case 4:
        if (d->result == 7 && memcmp(d->data, "\0\0\0\0XYZ", 7) == 0) g.file_steps++;
        f->old = f->fd;
        return tina_io_close(f->fd);
    case 5:
        if (d->result == 0) g.file_steps++;
        return tina_io_read(f->old, 5, 0); /* the handle is stale now */
    case 6:
        g.stale_error = d->error;
        H_CHECK_RESULT(ctx, tina_open(ctx, k_path, O_RDONLY, 0, &f->fd), TINA_OK);
        return tina_io_read(f->fd, 256, 0); /* what was written stayed */
    case 7:
        if (d->result == 103 && memcmp(d->data, "hello, world", 12) == 0) g.file_steps++;
        return tina_io_write(f->fd, "no", 2, 0);
    default:
        g.readonly_write = d->result;
        tina_request_stop(ctx);
        return tina_done();
    }
}

static tina_effect filer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    tina_io_done d = done_of(msg);
    return filer_step(self, ctx, &d);
}

typedef struct udp_node {
    tina_fd fd;
    uint32_t round_trips;
    uint8_t data[64];
    struct sockaddr_in to;
} udp_node;

static uint32_t udp_echo_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    udp_node *u = self;
    H_UNUSED(args), H_UNUSED(size);
    struct sockaddr_in a = loopback(UDP_PORT);
    if (tina_socket(ctx, AF_INET, SOCK_DGRAM, 0, &u->fd) != TINA_OK) return 1;
    if (tina_bind(ctx, u->fd, &a, sizeof(a)) != TINA_OK) return 2;
    h_kick(ctx);
    return 0;
}

/* Sends every datagram back to where it came from. */
static tina_effect udp_echo_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    udp_node *u = self;
    H_UNUSED(ctx);
    tina_io_done d = done_of(msg);
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECVFROM) && d.result > 0 &&
        (size_t)d.result <= sizeof(u->data)) {
        memcpy(u->data, d.data, (size_t)d.result);
        memcpy(&u->to, d.addr, sizeof(u->to));
        return tina_io_sendto(u->fd, u->data, (uint32_t)d.result, &u->to, sizeof(u->to));
    }
    return tina_io_recvfrom(u->fd, 0);
}

static tina_effect udp_pinger_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    udp_node *u = self;
    tina_io_done d = done_of(msg);
    if (msg->tag == TINA_TAG_IO(TINA_IO_SENDTO)) {
        H_CHECK_EQ(ctx, d.result, 5);
        return tina_io_recvfrom(u->fd, 0);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECVFROM)) {
        struct sockaddr_in from;
        memcpy(&from, d.addr, sizeof(from));
        if (d.result == 5 && memcmp(d.data, "ping", 4) == 0 && d.data[4] == u->round_trips &&
            ntohs(from.sin_port) == UDP_PORT)
            g.udp_pongs++;
        if (++u->round_trips == 3) {
            tina_request_stop(ctx);
            return tina_done();
        }
    } else {
        H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_DGRAM, 0, &u->fd), TINA_OK);
    }
    memcpy(u->data, "ping", 4);
    u->data[4] = (uint8_t)u->round_trips;
    u->to = loopback(UDP_PORT);
    return tina_io_sendto(u->fd, u->data, 5, &u->to, sizeof(u->to));
}

/* Asks for a graceful shutdown as soon as it runs. */
static tina_effect quitter_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self), H_UNUSED(msg);
    tina_request_shutdown(ctx);
    return tina_done();
}

/* Closes a socket just before a shutdown reaches it: the cancel that
 * comes with the notice must not stop the close. */
static uint32_t closer_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    tina_fd *fd = self;
    H_UNUSED(args), H_UNUSED(size);
    if (tina_socket(ctx, AF_INET, SOCK_STREAM, 0, fd) != TINA_OK) return 1;
    h_kick(ctx);
    return 0;
}

static tina_effect closer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(ctx);
    if (msg->tag == H_TAG_KICK) return tina_io_close(*(tina_fd *)self);
    if (msg->tag == TINA_TAG_IO(TINA_IO_CLOSE)) {
        g.close_result = done_of(msg).result;
        g.close_seen++;
    }
    return msg->tag == TINA_TAG_SHUTDOWN ? tina_done() : tina_receive();
}

/* Connects to the echo server, sends nothing and waits 2 ms for data that
 * never comes: the recv times out. */
typedef struct sleeper {
    tina_fd fd;
    struct sockaddr_in to;
    uint64_t since_ns;
} sleeper;

static int32_t g_sleeper_result;
static uint64_t g_sleeper_waited_ns;

static tina_effect sleeper_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    sleeper *z = self;
    if (msg->tag == H_TAG_KICK) {
        H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &z->fd), TINA_OK);
        z->to = loopback(ECHO_PORT);
        return tina_io_connect(z->fd, &z->to, sizeof(z->to));
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_CONNECT)) {
        H_CHECK_EQ(ctx, done_of(msg).result, 0);
        z->since_ns = tina_now_ns(ctx);
        return tina_io_timeout(tina_io_recv(z->fd, 0), H_MS(2));
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECV)) {
        g_sleeper_result = done_of(msg).result;
        g_sleeper_waited_ns = tina_now_ns(ctx) - z->since_ns;
        tina_request_stop(ctx);
    }
    return tina_receive();
}

/* ---- running ------------------------------------------------------------------ */

static tina_type_spec g_types[T_COUNT];

static tina_spec io_spec(const tina_child_spec *children, uint32_t child_count) {
    g_types[T_SERVER] = (tina_type_spec)H_TYPE("server", server, 2, 64, 1, server_init, server_handle);
    g_types[T_ECHO] = (tina_type_spec)H_TYPE("echo", echo, 16, 64, 1, NULL, echo_handle);
    g_types[T_CLIENT] = (tina_type_spec)H_TYPE("client", client, 2, 64, 1, h_kick_init, client_handle);
    g_types[T_REFUSER] =
        (tina_type_spec)H_TYPE("refuser", refuser, 2, 64, 1, h_kick_init, refuser_handle);
    g_types[T_FILER] = (tina_type_spec)H_TYPE("filer", filer, 2, 64, 1, h_kick_init, filer_handle);
    g_types[T_UDP_ECHO] =
        (tina_type_spec)H_TYPE("udp_echo", udp_node, 2, 64, 1, udp_echo_init, udp_echo_handle);
    g_types[T_UDP_PINGER] =
        (tina_type_spec)H_TYPE("udp_pinger", udp_node, 2, 64, 1, h_kick_init, udp_pinger_handle);
    g_types[T_QUITTER] =
        (tina_type_spec)H_TYPE("quitter", udp_node, 2, 64, 1, h_kick_init, quitter_handle);
    g_types[T_CLOSER] =
        (tina_type_spec)H_TYPE("closer", tina_fd, 2, 64, 1, closer_init, closer_handle);
    g_types[T_SLEEPER] =
        (tina_type_spec)H_TYPE("sleeper", sleeper, 2, 64, 1, h_kick_init, sleeper_handle);
    tina_spec spec = h_spec(g_types, T_COUNT, children, child_count, 2);
    spec.fd_slots = 64;
    spec.io_buffer_bytes = BUFFER_BYTES;
    return spec;
}

static tina_sim_report simulate(const tina_child_spec *children, uint32_t child_count,
                                tina_sim_config config) {
    memset(&g, 0, sizeof(g));
    tina_spec spec = io_spec(children, child_count);
    if (config.round_limit == 0) config.round_limit = 200000;
    tina_sim_report r;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(tina_simulate(&spec, &config, &r), TINA_OK);
    char line[256];
    tina_sim_summary(&r, line, sizeof(line));
    fprintf(stderr, "sim_io: %s io_errors=%llu attempts=%u resets=%u\n", line,
            (unsigned long long)r.io_errors_injected, g.attempts, g.resets);
    return r;
}

static const tina_child_spec k_echo_children[] = {H_CHILD(T_SERVER, 0), H_CHILD(T_CLIENT, 1)};

static tina_sim_report echo_run(tina_sim_config config) {
    return simulate(k_echo_children, H_COUNT(k_echo_children), config);
}

/* ---- tests ------------------------------------------------------------------------ */

Test(sim_io, echo_round_trip_returns_every_byte, .timeout = 60) {
    tina_sim_report r = echo_run((tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED));
    cr_assert(eq(u32, g.verified, 1), "the client got all %u bytes back", TOTAL_BYTES);
    cr_assert(eq(u32, g.bad_bytes, 0));
    cr_assert(eq(u32, g.attempts, 1));
    cr_assert(eq(u32, g.resets + g.other_errors + g.echo_errors, 0));
    cr_assert(eq(u32, g.accepted, 1));
    cr_assert(eq(u64, r.io_errors_injected, 0));
    cr_assert(eq(u64, r.total.io_failed, 0));
    cr_assert(eq(u64, r.total.io_refused, 0));
    cr_assert(ge(u64, r.total.io_completed, 2 * H_COUNT(chunk_bytes)));
}

Test(sim_io, a_seed_is_one_execution, .timeout = 60) {
    tina_sim_config c = {.seed = 7, .shuffle = 1};
    tina_sim_report a = echo_run(c), b = echo_run(c);
    cr_assert(eq(u64, a.digest, b.digest));
    cr_assert(eq(u64, a.rounds, b.rounds));
    cr_assert(eq(u64, a.handler_calls, b.handler_calls));
    cr_assert(eq(u32, g.verified, 1));
    c.seed = 8;
    cr_assert(ne(u64, echo_run(c).digest, a.digest), "another seed, another shard order");
}

Test(sim_io, with_errors_and_delays_a_seed_still_replays_and_resets_are_seen, .timeout = 120) {
    uint64_t injected = 0, resets = 0, verified = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        tina_sim_config c = {.seed = seed, .shuffle = 1, .io_error_per_million = 20000,
                             .io_delay_rounds_max = 8};
        tina_sim_report a = echo_run(c);
        uint32_t attempts = g.attempts, gave_up = g.gave_up;
        resets += g.resets;
        verified += g.verified;
        cr_assert(eq(u32, g.bad_bytes, 0), "seed %llu: no byte came back wrong",
                  (unsigned long long)seed);
        tina_sim_report b = echo_run(c);
        cr_assert(eq(u64, a.digest, b.digest), "seed %llu replays", (unsigned long long)seed);
        cr_assert(eq(u64, a.rounds, b.rounds));
        cr_assert(eq(u64, a.io_errors_injected, b.io_errors_injected));
        cr_assert(eq(u32, g.attempts, attempts));
        cr_assert(eq(u32, a.reason, TINA_SIM_STOPPED), "seed %llu: the client ended the run",
                  (unsigned long long)seed);
        cr_assert(eq(u32, g.verified + gave_up, 1));
        injected += a.io_errors_injected;
    }
    h_assert_no_failures();
    cr_assert(ge(u64, injected, 1), "errors were injected");
    cr_assert(ge(u64, resets, 1), "and the client saw connections reset");
    cr_assert(ge(u64, verified, 1), "and still got its bytes back on a later connection");
}

Test(sim_io, delays_hold_completions_back_without_losing_order, .timeout = 60) {
    tina_sim_report fast = echo_run((tina_sim_config){.seed = 3});
    tina_sim_report slow = echo_run((tina_sim_config){.seed = 3, .io_delay_rounds_max = 30});
    h_assert_no_failures();
    cr_assert(eq(u32, g.verified, 1));
    cr_assert(eq(u32, g.bad_bytes, 0));
    cr_assert(eq(u64, slow.io_errors_injected, 0));
    cr_assert(ge(u64, slow.rounds, fast.rounds + 1));
}

Test(sim_io, connect_to_a_port_nobody_listens_on_is_refused, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_REFUSER, 1)};
    tina_sim_report r = simulate(children, 1, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED));
    cr_assert(eq(i32, g.refused, -ECONNREFUSED));
}

Test(sim_io, a_file_is_written_and_read_back_at_offsets, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_FILER, 0)};
    tina_sim_report r = simulate(children, 1, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED));
    cr_assert(eq(u32, g.file_steps, 6), "write, write past the end, read, read the hole, "
                                        "close, reopen and read");
    cr_assert(eq(i32, g.stale_error, TINA_EFD_STALE), "a closed descriptor's handle is stale");
    cr_assert(eq(i32, g.readonly_write, -EBADF), "O_RDONLY refuses writes");
}

Test(sim_io, datagrams_go_there_and_back, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_UDP_ECHO, 0), H_CHILD(T_UDP_PINGER, 1)};
    tina_sim_report r = simulate(children, 2, (tina_sim_config){.seed = 1, .shuffle = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED));
    cr_assert(eq(u32, g.udp_pongs, 3));
}

Test(sim_io, a_server_waiting_in_accept_does_not_keep_the_run_alive, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_SERVER, 0)};
    tina_sim_report r = simulate(children, 1, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT));
    cr_assert(le(u64, r.rounds, 10));
}

Test(sim_io, a_shutdown_cancels_a_waiting_accept, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_SERVER, 0), H_CHILD(T_QUITTER, 1)};
    tina_sim_report r = simulate(children, 2, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN));
    cr_assert(eq(i32, g.accept_cancelled, -ECANCELED));
    cr_assert(eq(u64, r.total.io_cancelled, 1));
    cr_assert(le(u64, r.rounds, 10), "no wait for the shutdown deadline");
}

/* A server that answers the cancel by accepting again is not started on
 * it: its notice comes next, and the shutdown does not wait its 5 s. */
Test(sim_io, re_arming_io_after_the_cancel_does_not_hold_a_shutdown, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_SERVER, 0), H_CHILD(T_QUITTER, 1)};
    g_stubborn = 1;
    tina_sim_report r = simulate(children, 2, (tina_sim_config){.seed = 1});
    g_stubborn = 0;
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN));
    cr_assert(eq(u64, r.total.shutdown_forced, 0));
    cr_assert(le(u64, r.rounds, 10), "no wait for the shutdown deadline");
    cr_assert(eq(u64, r.total.io_cancelled, 2), "the accept cancelled, the re-armed one not started");
}

/* Crashes with operations in flight (orphans, closes at exit), drops,
 * partitions, stalls, I/O errors and delays: whatever a run comes to, it
 * comes to it again, no checker objects, and no byte comes back wrong. */
Test(sim_io, with_every_fault_on_runs_end_and_replay, .timeout = 120) {
    uint64_t injected = 0, crashes = 0, dead = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        tina_sim_config c = {.seed = seed, .shuffle = 1, .round_limit = 30000};
        H_ASSERT_RESULT(tina_sim_faults(&c, "all"), TINA_OK);
        c.crash_per_million = 20000;
        c.io_error_per_million = 10000;
        tina_sim_report a = echo_run(c);
        cr_assert(eq(u32, g.bad_bytes, 0), "seed %llu", (unsigned long long)seed);
        tina_sim_report b = echo_run(c);
        cr_assert(eq(u64, a.digest, b.digest), "seed %llu replays", (unsigned long long)seed);
        cr_assert(ne(u32, a.reason, TINA_SIM_CHECKER), "seed %llu: %s", (unsigned long long)seed,
                  a.failure);
        injected += a.io_errors_injected;
        crashes += a.crashes_injected;
        dead += a.total.io_dead;
    }
    cr_assert(ge(u64, injected, 1));
    cr_assert(ge(u64, crashes, 1));
    cr_log_info("every fault: %llu I/O errors, %llu crashes, %llu orphaned completions",
                (unsigned long long)injected, (unsigned long long)crashes,
                (unsigned long long)dead);
}

/* Round 1: shard 0 submits the close, then shard 1 asks for a shutdown;
 * round 2: shard 0 begins it (cancelling the parked op), then reaps. */
Test(sim_io, a_shutdown_does_not_cancel_a_close, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_CLOSER, 0), H_CHILD(T_QUITTER, 1)};
    tina_sim_report r = simulate(children, 2, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN));
    cr_assert(eq(u64, r.total.io_cancelled, 1), "the shutdown did ask to cancel it");
    cr_assert(eq(u32, g.close_seen, 1));
    cr_assert(eq(i32, g.close_result, 0), "and the close ran all the same");
}

Test(sim_io, the_io_profile_turns_io_faults_on, .timeout = 10) {
    tina_sim_config c = {0};
    H_ASSERT_RESULT(tina_sim_faults(&c, "io"), TINA_OK);
    cr_assert(eq(u32, c.io_error_per_million, 2000));
    cr_assert(eq(u32, c.io_delay_rounds_max, 10));
    cr_assert(eq(u32, c.crash_per_million + c.drop_per_million + c.stall_per_million, 0));
    H_ASSERT_RESULT(tina_sim_faults(&c, "all"), TINA_OK);
    cr_assert(eq(u32, c.io_error_per_million, 2000));
    H_ASSERT_RESULT(tina_sim_faults(&c, "crash"), TINA_OK);
    cr_assert(eq(u32, c.io_error_per_million + c.io_delay_rounds_max, 0));
}

Test(sim_io, a_recv_past_its_timeout_completes_with_etimedout, .timeout = 30) {
    static const tina_child_spec children[] = {H_CHILD(T_SERVER, 0), H_CHILD(T_SLEEPER, 1)};
    tina_sim_report a = simulate(children, 2, (tina_sim_config){.seed = 3, .shuffle = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, a.reason, TINA_SIM_STOPPED));
    cr_assert(eq(i32, g_sleeper_result, -ETIMEDOUT));
    cr_assert(ge(u64, g_sleeper_waited_ns, H_MS(2)), "not before its time");
    cr_assert(le(u64, g_sleeper_waited_ns, H_MS(3)), "and within a timer tick or so");
    cr_assert(eq(u64, a.total.io_timeouts, 1));
    tina_sim_report b = simulate(children, 2, (tina_sim_config){.seed = 3, .shuffle = 1});
    cr_assert(eq(u64, a.digest, b.digest));
}
