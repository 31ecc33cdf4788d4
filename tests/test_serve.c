/*
 * test_serve.c -- the TCP service of tina.h ("Serving TCP on every
 * shard"): tina_serve_type, tina_serve_child, tina_serve_check,
 * tina_serve_port.
 *
 * On real sockets (the runtime in a thread, plain blocking clients on the
 * test's thread, every wait bounded): port 0 gives one port and every shard
 * takes its turn, on io_uring and on the epoll fallback; with reuseport
 * every shard listens on the one port and serves what it accepts, on both
 * backends; a port already taken is reported by name (with reuseport too) and the acceptor ends without a crash, with a
 * report or with a log line; a shutdown ends the acceptor, every instance
 * and every connection.  Under the simulator (one thread, exact): the deal
 * is round-robin over three shards in any shard order and a seed replays;
 * a shard with no room for a connection's isolate closes it and counts it;
 * an unchecked service refuses to listen.  Before boot: every bad setting
 * is refused by tina_serve_check with a named result.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

enum { T_SERVE, T_WATCH, T_CONN, T_COUNT };
enum { C_SERVE, C_WATCH, C_COUNT };
#define TAG_REPORT H_TAG_FIRST

static tina_serve g_serve;

/* What the handlers saw, read by the test once tina_run or tina_simulate
 * returned. */
static struct {
    uint32_t reports;         /* reports the watch got */
    tina_serve_report report; /* the last one */
    uint32_t reports_wanted;  /* the watch stops the run once it has these and a DOWN */
    uint32_t downs;           /* the acceptor's DOWN, if the watch monitors it */
    tina_down down;
    uint32_t connections;     /* sim client: connections to make */
    uint32_t kept;            /* sim client: the first `kept` are held open, never read */
    uint32_t answered;        /* sim client: connections that answered one byte */
    uint32_t closed_early;    /* sim client: connections closed with no answer */
    uint8_t answered_by[64];  /* sim client: the shard each answer named */
} g;

/* ---- connection isolates ---------------------------------------------------- */

typedef struct conn {
    tina_fd fd;
    uint8_t shard; /* the greeting: this shard's index */
} conn;

static tina_effect conn_close(conn *c) {
    tina_fd fd = c->fd;
    c->fd = TINA_FD_NONE;
    return fd ? tina_io_close(fd) : tina_done();
}

/* Says which shard it runs on (one byte), then closes. */
static tina_effect greeter_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    conn *c = self;
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        H_CHECK_EQ(ctx, t.note, 0);
        c->fd = t.fd;
        c->shard = (uint8_t)tina_shard_id(ctx);
        return tina_io_send(c->fd, &c->shard, 1);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_CLOSE)) return tina_done();
    if (msg->tag == TINA_TAG_IO(TINA_IO_SEND) || msg->tag == TINA_TAG_SHUTDOWN)
        return conn_close(c);
    return tina_receive();
}

/* Holds its connection until the peer closes it or a shutdown comes. */
static tina_effect holder_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    conn *c = self;
    H_UNUSED(ctx);
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        c->fd = t.fd;
        return tina_io_recv(c->fd, 0);
    }
    if (msg->tag == TINA_TAG_IO(TINA_IO_CLOSE)) return tina_done();
    if (msg->tag == TINA_TAG_IO(TINA_IO_RECV) || msg->tag == TINA_TAG_SHUTDOWN)
        return conn_close(c);
    return tina_receive();
}

/* ---- the watch: the report child, on shard 0 ----------------------------------- */

static uint32_t watch_monitor_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    H_UNUSED(self), H_UNUSED(args), H_UNUSED(size);
    /* The service's child comes first: its acceptor is alive here. */
    H_CHECK_RESULT(ctx, tina_monitor(ctx, tina_child_handle(ctx, C_SERVE, 0)), TINA_OK);
    return 0;
}

static tina_effect watch_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    if (msg->tag == TAG_REPORT) {
        H_CHECK_EQ(ctx, msg->size, sizeof(tina_serve_report));
        memcpy(&g.report, msg->payload, sizeof(g.report));
        g.reports++;
    } else if (msg->tag == TINA_TAG_DOWN) {
        memcpy(&g.down, msg->payload, sizeof(g.down));
        g.downs++;
    }
    if (g.downs >= 1 && g.reports >= g.reports_wanted) tina_request_stop(ctx);
    return tina_receive();
}

/* ---- the sim client: also the report child ----------------------------------- */

typedef struct client {
    tina_fd fd;
    uint32_t made; /* connections made */
    uint8_t answer;
    struct sockaddr_in to; /* read as the connect is applied: not on the stack */
} client;

static tina_effect client_connect(client *c, tina_ctx *ctx) {
    H_CHECK_RESULT(ctx, tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &c->fd), TINA_OK);
    c->made++;
    return tina_io_connect(c->fd, &c->to, sizeof(c->to));
}

/* The first g.kept connections are held open; each later one is read for
 * its one-byte answer (or its close) and closed; after the last, a
 * graceful shutdown. */
static tina_effect client_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    client *c = self;
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    switch (msg->tag) {
    case TAG_REPORT:
        memcpy(&g.report, msg->payload, sizeof(g.report));
        g.reports++;
        H_CHECK_RESULT(ctx, g.report.result, TINA_OK);
        c->to.sin_family = AF_INET;
        c->to.sin_port = htons((uint16_t)g.report.port);
        c->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return client_connect(c, ctx);
    case TINA_TAG_IO(TINA_IO_CONNECT):
        H_CHECK_EQ(ctx, d.result, 0);
        if (c->made <= g.kept) return client_connect(c, ctx); /* this one stays open */
        return tina_io_recv(c->fd, 1);
    case TINA_TAG_IO(TINA_IO_RECV):
        if (d.result == 1) g.answered_by[g.answered++ % 64] = d.data[0];
        else g.closed_early++;
        return tina_io_close(c->fd);
    case TINA_TAG_IO(TINA_IO_CLOSE):
        if (c->made < g.connections) return client_connect(c, ctx);
        tina_request_shutdown(ctx);
        return tina_done();
    default:
        return tina_receive();
    }
}

/* ---- specs and runs ------------------------------------------------------------ */

static tina_type_spec g_types[T_COUNT];
static tina_child_spec g_children[C_COUNT];

/* The service on every shard, connections to conn_handler's type, the
 * report to the watch (or the client) on shard 0, port 0. */
static tina_spec serve_spec(uint32_t shard_count, tina_handler_fn conn_handler, uint32_t conn_slots,
                            tina_init_fn watch_init, tina_handler_fn watch_handler) {
    memset(&g, 0, sizeof(g));
    g.reports_wanted = 1;
    g_types[T_SERVE] = tina_serve_type();
    g_types[T_WATCH] = (tina_type_spec)H_TYPE("watch", client, 1, 16, 1, watch_init, watch_handler);
    g_types[T_CONN] = (tina_type_spec)H_TYPE("conn", conn, conn_slots, 8, 1, NULL, conn_handler);
    g_serve = (tina_serve){.conn_type_id = T_CONN, .report_child = C_WATCH,
                           .report_tag = TAG_REPORT};
    g_children[C_SERVE] = tina_serve_child(&g_serve, T_SERVE);
    g_children[C_WATCH] = (tina_child_spec)H_CHILD(T_WATCH, 0);
    tina_spec spec = h_spec(g_types, T_COUNT, g_children, C_COUNT, shard_count);
    spec.fd_slots = 64;
    return spec;
}

struct running {
    tina_runtime *rt;
    pthread_t thread;
};

static void *running_main(void *arg) {
    struct running *r = arg;
    if (tina_run(r->rt) != TINA_OK) abort();
    return NULL;
}

/* Check, boot, run in a thread; returns the port once the service listens. */
static uint16_t serve_start(struct running *r, tina_spec *spec) {
    tina_boot_report report;
    H_ASSERT_RESULT(tina_serve_check(&g_serve, spec, &report), TINA_OK);
    r->rt = h_create(spec);
    cr_assert(eq(int, pthread_create(&r->thread, NULL, running_main, r), 0));
    for (int k = 0; k < 5000 && tina_serve_port(&g_serve) == 0; k++) usleep(1000); /* 5 s */
    uint16_t port = tina_serve_port(&g_serve);
    cr_assert(ne(u16, port, 0), "the service listens");
    return port;
}

/* Graceful shutdown; every shard's counters, summed.  The shards' threads
 * are joined, so the handlers' writes to g and g_serve are visible. */
static tina_shard_stats serve_stop(struct running *r) {
    tina_shutdown(r->rt);
    pthread_join(r->thread, NULL);
    tina_shard_stats sum = {0};
    for (uint32_t s = 0; s < tina_runtime_shard_count(r->rt); s++) {
        tina_shard_stats st = h_stats(r->rt, s);
        uint64_t *acc = (uint64_t *)&sum;
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / 8; k++) acc[k] += v[k];
    }
    tina_destroy(r->rt);
    return sum;
}

static int client_connect_to(uint16_t port) {
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

static tina_sim_report simulate(const tina_spec *spec, tina_sim_config config) {
    if (config.round_limit == 0) config.round_limit = 200000;
    unsetenv("TINA_SEED");
    tina_sim_report r;
    H_ASSERT_RESULT(tina_simulate(spec, &config, &r), TINA_OK);
    return r;
}

/* ---- every shard takes its turn ----------------------------------------------- */

/* One client at a time, each waiting for its answer: the acceptor takes
 * them in order, so the k-th lands on shard k % 2, exactly. */
static void every_shard_takes_its_turn(int epoll) {
    tina_spec spec = serve_spec(2, greeter_handle, 16, NULL, watch_handle);
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_AUTO;
    struct running r;
    uint16_t port = serve_start(&r, &spec);
    for (int k = 0; k < 8; k++) {
        int fd = client_connect_to(port);
        uint8_t shard = 0xff;
        cr_assert(eq(long, (long)recv(fd, &shard, 1, MSG_WAITALL), 1), "connection %d answered", k);
        cr_assert(eq(u8, shard, (uint8_t)(k % 2)), "connection %d on shard %d", k, k % 2);
        close(fd);
    }
    tina_shard_stats st = serve_stop(&r);
    h_assert_no_failures();
    cr_assert(eq(u32, g.reports, 1), "one report");
    cr_assert(eq(i32, g.report.result, TINA_OK));
    cr_assert(eq(u32, g.report.port, port), "the report names the port tina_serve_port gave");
    cr_assert(eq(u64, g_serve.accepted, 8));
    cr_assert(eq(u64, g_serve.handed, 8));
    cr_assert(eq(u64, g_serve.refused, 0));
    cr_assert(eq(u64, g_serve.served[0], 4));
    cr_assert(eq(u64, g_serve.served[1], 4));
    cr_assert(eq(u64, g_serve.dropped[0] + g_serve.dropped[1], 0));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0), "every descriptor closed, the listener too");
}

Test(serve, port_0_gives_one_port_and_every_shard_takes_its_turn, .timeout = 30) {
    every_shard_takes_its_turn(0);
}
Test(serve, every_shard_takes_its_turn_on_the_epoll_fallback, .timeout = 30) {
    every_shard_takes_its_turn(1);
}

/* ---- reuseport: every shard listens ------------------------------------------------- */

/* Every shard's instance listens on the one port (listeners reaches 2,
 * waited for with a bound), then connections one after the other, each
 * from a new source port, until both shards answered some (at least 16,
 * at most 256: the kernel's hash puts each on either listener, so all on
 * one shard is a 2^-15 chance after 16 and never after 256 in practice).
 * Nothing is handed over: each shard serves what it accepted. */
static void reuseport_serves_on_every_shard(int epoll) {
    tina_spec spec = serve_spec(2, greeter_handle, 16, NULL, watch_handle);
    spec.io_backend = epoll ? TINA_IO_EPOLL : TINA_IO_AUTO;
    g_serve.reuseport = 1;
    struct running r;
    uint16_t port = serve_start(&r, &spec);
    for (int k = 0; k < 5000 && __atomic_load_n(&g_serve.listeners, __ATOMIC_ACQUIRE) < 2; k++)
        usleep(1000); /* 5 s */
    cr_assert(eq(u32, __atomic_load_n(&g_serve.listeners, __ATOMIC_ACQUIRE), 2),
              "both shards listen");
    uint64_t by_shard[2] = {0, 0};
    int made = 0;
    while (made < 256 && (made < 16 || by_shard[0] == 0 || by_shard[1] == 0)) {
        int fd = client_connect_to(port);
        uint8_t shard = 0xff;
        cr_assert(eq(long, (long)recv(fd, &shard, 1, MSG_WAITALL), 1), "connection %d", made);
        cr_assert(lt(u8, shard, 2), "connection %d named shard %u", made, shard);
        by_shard[shard]++;
        made++;
        close(fd);
    }
    tina_shard_stats st = serve_stop(&r);
    h_assert_no_failures();
    cr_assert(ne(u64, by_shard[0], 0), "shard 0 served some of %d", made);
    cr_assert(ne(u64, by_shard[1], 0), "shard 1 served some of %d", made);
    cr_assert(eq(u32, g.reports, 1), "one report, shard 0's");
    cr_assert(eq(i32, g.report.result, TINA_OK));
    cr_assert(eq(u32, g.report.port, port));
    cr_assert(eq(u32, g_serve.listeners, 2));
    cr_assert(eq(u64, g_serve.accepted, (uint64_t)made), "every shard's accepts, counted");
    cr_assert(eq(u64, g_serve.handed, 0), "nothing handed over");
    cr_assert(eq(u64, g_serve.refused, 0));
    cr_assert(eq(u64, g_serve.served[0], by_shard[0]), "each shard served what it accepted");
    cr_assert(eq(u64, g_serve.served[1], by_shard[1]));
    cr_assert(eq(u64, g_serve.dropped[0] + g_serve.dropped[1], 0));
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, st.fds_open, 0), "every descriptor closed, both listeners too");
}

Test(serve, with_reuseport_every_shard_listens_and_serves_what_it_accepts, .timeout = 30) {
    reuseport_serves_on_every_shard(0);
}
Test(serve, with_reuseport_on_the_epoll_fallback, .timeout = 30) {
    reuseport_serves_on_every_shard(1);
}

/* ---- a port already taken --------------------------------------------------------- */

/* A plain socket holds the port (no SO_REUSEPORT: the service cannot share
 * it).  The watch monitors the acceptor and stops the run once its DOWN
 * (and the report, if one was asked for) came; a watched run turns a hang
 * into a failure after 5 s without a handler call. */
static void port_taken(int with_report, int reuseport) {
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(eq(int, bind(holder, (struct sockaddr *)&a, sizeof(a)), 0));
    cr_assert(eq(int, listen(holder, 4), 0));
    cr_assert(eq(int, getsockname(holder, (struct sockaddr *)&a, &len), 0));
    tina_spec spec = serve_spec(2, greeter_handle, 4, watch_monitor_init, watch_handle);
    g_serve.port = ntohs(a.sin_port);
    g_serve.reuseport = (uint32_t)reuseport;
    g_serve.report_tag = with_report ? TAG_REPORT : 0;
    g.reports_wanted = with_report ? 1 : 0;
    H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, NULL), TINA_OK);
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 5000);
    tina_shard_stats s0 = h_stats(rt, 0);
    tina_destroy(rt);
    close(holder);
    h_assert_no_failures();
    cr_assert(eq(i32, g_serve.result, TINA_ESYSTEM), "got %s", tina_result_name(g_serve.result));
    cr_assert(eq(i32, g_serve.error, EADDRINUSE), "got %s", strerror(g_serve.error));
    cr_assert(eq(u16, tina_serve_port(&g_serve), 0), "no port: it never listened");
    cr_assert(eq(u32, g.downs, 1));
    cr_assert(eq(u32, g.down.how, TINA_DOWN_DONE), "the acceptor ended; it did not crash");
    cr_assert(eq(u32, g_serve.listeners, 0), "no shard listens");
    cr_assert(eq(u64, s0.crashes, 0));
    cr_assert(eq(u64, s0.init_failed, 0));
    cr_assert(eq(u32, g.reports, with_report ? 1 : 0));
    if (with_report) {
        cr_assert(eq(i32, g.report.result, TINA_ESYSTEM));
        cr_assert(eq(i32, g.report.error, EADDRINUSE));
        cr_assert(eq(u32, g.report.port, 0));
    }
    cr_assert(eq(u64, s0.log_written, with_report ? 0 : 1),
              "logged only when nobody was told: %llu lines", (unsigned long long)s0.log_written);
}

Test(serve, a_taken_port_is_reported_by_name_and_the_acceptor_ends, .timeout = 30) {
    port_taken(1, 0);
}
Test(serve, a_taken_port_with_no_report_asked_for_is_logged, .timeout = 30) { port_taken(0, 0); }
/* The holder has no SO_REUSEPORT: the service cannot share the port, and
 * the other shard, never told a port, listens nowhere. */
Test(serve, with_reuseport_a_taken_port_is_reported_and_no_shard_listens, .timeout = 30) {
    port_taken(1, 1);
}

/* ---- shutdown ------------------------------------------------------------------------- */

/* Four connections held open on two shards, the acceptor parked on accept:
 * a graceful shutdown cancels the accept and the recvs, every isolate
 * ends, nothing is forced, every descriptor is closed, and the clients see
 * their connections closed. */
Test(serve, a_shutdown_ends_the_acceptor_every_instance_and_their_connections, .timeout = 30) {
    tina_spec spec = serve_spec(2, holder_handle, 16, NULL, watch_handle);
    struct running r;
    uint16_t port = serve_start(&r, &spec);
    int fds[4];
    for (int k = 0; k < 4; k++) fds[k] = client_connect_to(port);
    uint64_t open_fds = 0;
    for (int k = 0; k < 5000 && open_fds != 5; k++) { /* the listener and four conns; 5 s */
        tina_shard_stats s0 = h_stats(r.rt, 0), s1 = h_stats(r.rt, 1);
        open_fds = s0.fds_open + s1.fds_open;
        if (open_fds != 5) usleep(1000);
    }
    cr_assert(eq(u64, open_fds, 5), "the four connections reached their isolates");
    tina_shard_stats st = serve_stop(&r);
    for (int k = 0; k < 4; k++) {
        char c;
        cr_assert(eq(long, (long)recv(fds[k], &c, 1, 0), 0), "connection %d closed by the server",
                  k);
        close(fds[k]);
    }
    h_assert_no_failures();
    cr_assert(eq(u64, st.live, 0), "every isolate ended");
    cr_assert(eq(u64, st.shutdown_forced, 0), "none had to be forced");
    cr_assert(eq(u64, st.fds_open, 0));
    cr_assert(ge(u64, st.io_cancelled, 5), "the accept and the four recvs were cancelled");
    cr_assert(eq(u64, st.crashes, 0));
    cr_assert(eq(u64, g_serve.served[0], 2));
    cr_assert(eq(u64, g_serve.served[1], 2));
}

/* ---- under the simulator ------------------------------------------------------------ */

/* Three shards, nine connections one after the other, shard order
 * shuffled by the seed: the answers come from shards 0, 1, 2, 0, 1, ...
 * whatever the order, the run ends in a finished shutdown, and the seed
 * gives the same digest twice. */
static tina_sim_report deal_run(uint64_t seed) {
    tina_spec spec = serve_spec(3, greeter_handle, 4, NULL, client_handle);
    g.connections = 9;
    H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, NULL), TINA_OK);
    return simulate(&spec, (tina_sim_config){.seed = seed, .shuffle = 1});
}

Test(serve, under_the_simulator_the_deal_is_round_robin_and_a_seed_replays, .timeout = 60) {
    tina_sim_report a = deal_run(5);
    h_assert_no_failures();
    cr_assert(eq(u32, a.reason, TINA_SIM_SHUTDOWN), "a finished shutdown ended the run");
    cr_assert(eq(u64, a.total.shutdown_forced, 0));
    cr_assert(eq(u64, a.total.live, 0));
    cr_assert(eq(u32, g.answered, 9));
    for (uint32_t k = 0; k < 9; k++)
        cr_assert(eq(u8, g.answered_by[k], (uint8_t)(k % 3)), "connection %u", k);
    for (uint32_t s = 0; s < 3; s++) cr_assert(eq(u64, g_serve.served[s], 3), "shard %u", s);
    cr_assert(eq(u64, g_serve.accepted, 9));
    cr_assert(eq(u64, g_serve.handed, 9));
    cr_assert(ne(u16, tina_serve_port(&g_serve), 0));
    cr_assert(eq(u64, a.total.fds_open, 0));
    tina_sim_report b = deal_run(5);
    cr_assert(eq(u64, a.digest, b.digest), "seed 5 replays");
    cr_assert(eq(u64, a.rounds, b.rounds));
    cr_assert(ne(u64, deal_run(6).digest, a.digest), "another seed, another shard order");
    cr_assert(eq(u32, g.answered, 9), "and the same deal");
}

/* One conn slot per shard and two connections held open: the third goes
 * to shard 0 again, which has no room left; it is closed (the client sees
 * the end of the stream), counted as dropped, and nothing crashes. */
Test(serve, a_shard_with_no_room_closes_the_connection_and_counts_it, .timeout = 30) {
    tina_spec spec = serve_spec(2, holder_handle, 1, NULL, client_handle);
    g.connections = 3;
    g.kept = 2;
    H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, NULL), TINA_OK);
    tina_sim_report r = simulate(&spec, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_SHUTDOWN));
    cr_assert(eq(u32, g.closed_early, 1), "the third connection was closed unanswered");
    cr_assert(eq(u64, g_serve.accepted, 3));
    cr_assert(eq(u64, g_serve.handed, 3));
    cr_assert(eq(u64, g_serve.refused, 0));
    cr_assert(eq(u64, g_serve.served[0], 1));
    cr_assert(eq(u64, g_serve.served[1], 1));
    cr_assert(eq(u64, g_serve.dropped[0], 1), "shard 0 had no slot for it");
    cr_assert(eq(u64, r.total.spawn_failed, 1));
    cr_assert(eq(u64, r.total.crashes, 0));
    cr_assert(eq(u64, r.total.fds_open, 0));
}

/* Without tina_serve_check nothing is known good: the acceptor refuses to
 * listen, says so by name, and ends. */
Test(serve, an_unchecked_service_does_not_listen, .timeout = 30) {
    tina_spec spec = serve_spec(2, greeter_handle, 4, watch_monitor_init, watch_handle);
    tina_sim_report r = simulate(&spec, (tina_sim_config){.seed = 1});
    h_assert_no_failures();
    cr_assert(eq(u32, r.reason, TINA_SIM_STOPPED), "the watch stopped the run");
    cr_assert(eq(u32, g.reports, 1));
    cr_assert(eq(i32, g.report.result, TINA_ESTATE), "got %s", tina_result_name(g.report.result));
    cr_assert(eq(i32, g_serve.result, TINA_ESTATE));
    cr_assert(eq(u16, tina_serve_port(&g_serve), 0));
    cr_assert(eq(u32, g.down.how, TINA_DOWN_DONE));
    cr_assert(eq(u64, r.total.crashes, 0));
    cr_assert(eq(u64, r.total.io_submitted, 0), "not one accept");
}

/* A child of the service's type whose args are not a tina_serve pointer
 * has nowhere to write a result: its init fails, on every shard. */
Test(serve, a_child_not_made_by_tina_serve_child_fails_its_init, .timeout = 30) {
    tina_spec spec = serve_spec(2, greeter_handle, 4, NULL, watch_handle);
    g_children[C_SERVE] = (tina_child_spec){.type_id = T_SERVE, .shard = TINA_SHARD_EVERY,
                                            .restart = TINA_RESTART_TEMPORARY};
    tina_sim_report r = simulate(&spec, (tina_sim_config){.seed = 1});
    cr_assert(eq(u32, r.reason, TINA_SIM_QUIESCENT));
    cr_assert(eq(u64, r.total.init_failed, 2), "one per shard");
    cr_assert(eq(u32, g.reports, 0));
    cr_assert(eq(u64, r.total.io_submitted, 0));
}

/* ---- bad settings, before boot --------------------------------------------------------- */

/* Start from a good service, spoil one setting, expect its result, a
 * message naming the setting, and a service not readied to listen. */
#define SPOILED(want, named, spoil)                                                         \
    do {                                                                                    \
        tina_spec spec = serve_spec(2, greeter_handle, 4, NULL, watch_handle);              \
        tina_boot_report report;                                                            \
        spoil;                                                                              \
        H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, &report), want);                  \
        cr_assert(not(eq(ptr, strstr(report.message, named), NULL)), "%s: message \"%s\"", \
                  #spoil, report.message);                                                  \
        cr_assert(eq(u32, g_serve.checked, 0), "%s: not ready to listen", #spoil);          \
    } while (0)

Test(serve, every_bad_setting_is_refused_by_name_before_boot, .timeout = 10) {
    SPOILED(TINA_EINVAL, "port", g_serve.port = 65536);
    SPOILED(TINA_EINVAL, "host", g_serve.host = "localhost");
    SPOILED(TINA_EINVAL, "host", g_serve.host = "256.0.0.1");
    SPOILED(TINA_EINVAL, "backlog", g_serve.backlog = 0x80000000u);
    SPOILED(TINA_EINVAL, "conn_type_id", g_serve.conn_type_id = T_COUNT);
    SPOILED(TINA_EINVAL, "conn_type_id", g_serve.conn_type_id = T_SERVE);
    SPOILED(TINA_EINVAL, "report_tag", g_serve.report_tag = TINA_TAG_SHUTDOWN);
    SPOILED(TINA_EINVAL, "report_tag", g_serve.report_tag = 0x10000u);
    SPOILED(TINA_EINVAL, "report_child", g_serve.report_child = C_COUNT);
    SPOILED(TINA_EINVAL, "report_child", g_children[C_WATCH].shard = 1);
    SPOILED(TINA_EINVAL, "TINA_SHARD_EVERY", g_children[C_SERVE].shard = 0);
    SPOILED(TINA_EINVAL, "tina_serve_type", g_children[C_SERVE].type_id = T_WATCH);
    SPOILED(TINA_EINVAL, "tina_serve_child", spec.child_count = C_SERVE);
    SPOILED(TINA_EINVAL, "tina_serve_child", g_children[C_WATCH] = g_children[C_SERVE]);
    SPOILED(TINA_EIO_OFF, "fd_slots", spec.fd_slots = 0);
    tina_spec spec = serve_spec(2, greeter_handle, 4, NULL, watch_handle);
    H_ASSERT_RESULT(tina_serve_check(NULL, &spec, NULL), TINA_EINVAL);
    H_ASSERT_RESULT(tina_serve_check(&g_serve, NULL, NULL), TINA_EINVAL);
}

Test(serve, a_good_service_is_readied_for_a_run, .timeout = 10) {
    tina_spec spec = serve_spec(2, greeter_handle, 4, NULL, watch_handle);
    g_serve.served[1] = g_serve.accepted = 7; /* a previous run's */
    g_serve.bound_port = 7000;
    tina_boot_report report;
    H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, &report), TINA_OK);
    cr_assert(eq(u32, g_serve.checked, 1));
    cr_assert(eq(u32, g_serve.child_index, C_SERVE));
    cr_assert(eq(u32, g_serve.address, htonl(INADDR_LOOPBACK)), "no host: 127.0.0.1");
    cr_assert(eq(ptr, (void *)g_serve.self, (void *)&g_serve));
    cr_assert(eq(u64, g_serve.served[1] + g_serve.accepted, 0), "the counters start at 0");
    cr_assert(eq(u16, tina_serve_port(&g_serve), 0));
    cr_assert(eq(str, report.message, ""));
    g_serve.host = "0.0.0.0";
    H_ASSERT_RESULT(tina_serve_check(&g_serve, &spec, NULL), TINA_OK);
    cr_assert(eq(u32, g_serve.address, htonl(INADDR_ANY)));
    H_ASSERT_RESULT(tina_validate(&spec, NULL), TINA_OK); /* and the runtime takes the spec */
    tina_type_spec t = tina_serve_type();
    cr_assert(eq(u32, t.slots_per_shard, 1));
    cr_assert(eq(str, (char *)t.name, "acceptor"));
    tina_child_spec c = tina_serve_child(&g_serve, 3);
    cr_assert(eq(u32, c.type_id, 3));
    cr_assert(eq(u32, c.shard, TINA_SHARD_EVERY));
    cr_assert(eq(u32, c.restart, TINA_RESTART_TRANSIENT));
    cr_assert(eq(u32, c.args_size, sizeof(tina_serve *)));
}
