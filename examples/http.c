/*
 * http -- a minimal HTTP/1.1 plaintext responder on every shard.
 *
 *   build/examples/http [--port=P] [--shards=N] [--seconds=S] [--epoll] [--reuseport]
 *
 * Every request for anything gets "Hello, World!"; HEAD gets the same
 * headers (Content-Length: 13) and no body.  HTTP/1.1 keeps the
 * connection alive unless the request says "Connection: close"; HTTP/1.0
 * closes after the answer unless it says "Connection: keep-alive", which
 * the answer then says too (as ab -k expects).  An answer after which the
 * connection closes says "Connection: close".  Pipelined requests are
 * answered in order, several responses per send.  wrk drives it:
 * wrk -t1 -c64 -d5s http://127.0.0.1:P/
 *
 * Connections are accepted on shard 0 and dealt round-robin to every shard
 * by Tina's TCP service (tina_serve, in tina.h), exactly as in
 * examples/echo.c, or with --reuseport accepted by every shard on its own
 * SO_REUSEPORT socket; each connection is one `conn` isolate looping
 * recv -> parse -> send.
 *
 * Bad input: a malformed request line or header gets 400 and the
 * connection is closed; a request whose head does not fit the 8 KiB
 * buffer gets 431 and is closed; bodies (Content-Length) are read and
 * ignored, chunked bodies get 400.  A client that never reads only parks
 * its own conn on its send: other connections on the shard go on.  Every
 * recv and send carries a 10 s deadline (tina_io_timeout): a connection
 * idle that long, or a client that stops reading, is closed.  When every
 * reactor buffer of the shard is out (TINA_EIO_BUFFERS), the conn yields
 * and tries the same operation again next pass.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tina.h"

#define CONNS_PER_SHARD 1024u

enum { TYPE_SERVE, TYPE_CONTROL, TYPE_CONN, TYPE_COUNT };
enum { CHILD_SERVE, CHILD_CONTROL, CHILD_COUNT };
enum { TAG_STOP = TINA_TAG_USER, TAG_LISTENING };

static uint32_t g_port = 8080, g_shards, g_seconds, g_epoll, g_reuseport;
static tina_serve g_serve;            /* the service's settings; its counters, printed at exit */
static _Atomic uint32_t g_bound_port; /* the port it got: tests and benches wait for it */
static int g_quiet;                   /* benches: no banner */
static const uint32_t *g_cores;       /* benches: pin shard i to g_cores[i] */

/* ---- HTTP parsing ------------------------------------------------------- */

#define IN_BYTES 8192u
static uint64_t g_idle_ns = 10000000000ull; /* silent (or not reading) this long: closed */
#define OUT_BYTES 16384u

/* The common answer, whole: HTTP/1.1 GET, kept alive.  The others are
 * built from the pieces below. */
static const char k_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"
                           "\r\nHello, World!";
#define OK_HEAD_BYTES (sizeof(k_ok) - 1 - 13 - 2) /* up to the empty line */
static const char k_keep_alive[] = "Connection: keep-alive\r\n";
static const char k_close[] = "Connection: close\r\n";
static const char k_400[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char k_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n";

/* Room kept in the output for one more answer, the longest. */
#define ANSWER_BYTES_MAX (sizeof(k_ok) + sizeof(k_keep_alive))
_Static_assert(sizeof(k_431) <= ANSWER_BYTES_MAX && sizeof(k_400) <= ANSWER_BYTES_MAX,
               "an error answer fits the room kept for one");

enum { PARSE_MORE = 0, PARSE_BAD = -400, PARSE_TOO_BIG = -431 };

/* What a request asks of its answer. */
typedef struct request {
    int http10; /* HTTP/1.0: closes unless kept alive, and then says so */
    int head;   /* HEAD: headers only */
    int close;  /* answer, then close */
} request;

static int is_token(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The request line: METHOD SP target SP HTTP/1.x.  Sets q->http10 and
 * q->head. */
static int line_ok(const char *p, const char *end, request *req) {
    const char *q = p;
    while (q < end && is_token(*q)) q++;
    if (q == p || q - p > 16 || q >= end) return 0;
    req->head = q - p == 4 && memcmp(p, "HEAD", 4) == 0;
    if (*q++ != ' ') return 0;
    const char *target = q;
    while (q < end && *q > ' ' && *q < 0x7f) q++;
    if (q == target || q >= end || *q++ != ' ') return 0;
    if (end - q != 8 || memcmp(q, "HTTP/1.", 7) != 0 || (q[7] != '0' && q[7] != '1')) return 0;
    req->http10 = q[7] == '0';
    return 1;
}

static int header_is(const char *p, const char *colon, const char *name) {
    size_t n = strlen(name);
    return (size_t)(colon - p) == n && strncasecmp(p, name, n) == 0;
}

/* Headers, line by line, up to the empty line at `end`. */
static int headers_ok(const char *p, const char *end, int *close, long *body) {
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 1 >= end + 2 || eol[1] != '\n') return 0;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) return 0;
        for (const char *c = p; c < colon; c++)
            if (!is_token(*c)) return 0;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) v++;
        size_t vlen = (size_t)(eol - v);
        if (header_is(p, colon, "connection")) {
            if (vlen >= 5 && strncasecmp(v, "close", 5) == 0) *close = 1;
            if (vlen >= 10 && strncasecmp(v, "keep-alive", 10) == 0) *close = 0;
        } else if (header_is(p, colon, "content-length")) {
            char *stop;
            *body = strtol(v, &stop, 10);
            if (stop == v || stop != eol || *body < 0) return 0;
        } else if (header_is(p, colon, "transfer-encoding")) {
            return 0; /* no chunked bodies here */
        }
        p = eol + 2;
    }
    return 1;
}

/* One request at the head of buf: its length (> 0), PARSE_MORE, PARSE_BAD
 * or PARSE_TOO_BIG; *req says what its answer must be. */
static int request_parse(const char *buf, size_t len, request *req) {
    const char *eol = memchr(buf, '\n', len);
    if (eol == NULL) return len >= IN_BYTES ? PARSE_TOO_BIG : PARSE_MORE;
    if (eol == buf || eol[-1] != '\r' || !line_ok(buf, eol - 1, req)) return PARSE_BAD;
    const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
    if (head_end == NULL) return len >= IN_BYTES ? PARSE_TOO_BIG : PARSE_MORE;
    long body = 0;
    req->close = req->http10; /* HTTP/1.0: closes unless kept alive */
    if (!headers_ok(eol + 1, head_end + 2, &req->close, &body)) return PARSE_BAD;
    size_t total = (size_t)(head_end + 4 - buf);
    if (body > (long)(IN_BYTES - total)) return PARSE_TOO_BIG;
    if (total + (size_t)body > len) return PARSE_MORE;
    return (int)(total + (size_t)body);
}

/* ---- conn: one connection ----------------------------------------------- */

typedef struct conn {
    tina_fd fd;
    uint32_t in_len;
    uint32_t out_len, out_sent;
    uint32_t close_after; /* answer what is queued, then close */
    char in[IN_BYTES];
    char out[OUT_BYTES];
} conn;

static uint64_t g_requests[64], g_bad[64];

static tina_effect conn_close(conn *c) {
    tina_fd fd = c->fd;
    c->fd = TINA_FD_NONE;
    return fd ? tina_io_close(fd) : tina_done();
}

static void out_add(conn *c, const char *text, size_t n) {
    memcpy(c->out + c->out_len, text, n);
    c->out_len += (uint32_t)n;
}

/* The answer to a good request: k_ok whole in the common case, else its
 * head, the Connection header the request calls for, and the body unless
 * it was HEAD. */
static void answer_add(conn *c, const request *req) {
    if (!req->http10 && !req->head && !req->close) {
        out_add(c, k_ok, sizeof(k_ok) - 1);
        return;
    }
    out_add(c, k_ok, OK_HEAD_BYTES);
    if (req->close) out_add(c, k_close, sizeof(k_close) - 1);
    else if (req->http10) out_add(c, k_keep_alive, sizeof(k_keep_alive) - 1);
    out_add(c, "\r\n", 2);
    if (!req->head) out_add(c, k_ok + OK_HEAD_BYTES + 2, 13);
}

/* Answer every complete request buffered (as many as fit the output),
 * then send, or read more. */
static tina_effect conn_serve(conn *c, tina_ctx *ctx) {
    uint32_t shard = tina_shard_id(ctx) % 64;
    while (!c->close_after && c->out_len + ANSWER_BYTES_MAX < OUT_BYTES) {
        request req = {0};
        int n = request_parse(c->in, c->in_len, &req);
        if (n == PARSE_MORE) break;
        if (n < 0) {
            g_bad[shard]++;
            if (n == PARSE_BAD) out_add(c, k_400, sizeof(k_400) - 1);
            else out_add(c, k_431, sizeof(k_431) - 1);
            c->close_after = 1;
            break;
        }
        g_requests[shard]++;
        answer_add(c, &req);
        memmove(c->in, c->in + n, c->in_len - (uint32_t)n);
        c->in_len -= (uint32_t)n;
        c->close_after = (uint32_t)req.close;
    }
    if (c->out_len > 0) return tina_io_timeout(tina_io_send(c->fd, c->out, c->out_len), g_idle_ns);
    if (c->close_after) return conn_close(c);
    return tina_io_timeout(tina_io_recv(c->fd, IN_BYTES - c->in_len), g_idle_ns);
}

static tina_effect conn_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    conn *c = self;
    if (msg->tag == TINA_TAG_TRANSFER) { /* our connection, from the service */
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        c->fd = t.fd;
        int one = 1; /* answers go out at once, not after the peer's delayed ack */
        (void)tina_setsockopt(ctx, c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return tina_io_timeout(tina_io_recv(c->fd, IN_BYTES), g_idle_ns);
    }
    if (msg->tag == TINA_TAG_SHUTDOWN) return conn_close(c);
    if (msg->tag == TINA_TAG_RESUME) { /* after a refusal for want of a buffer: again */
        if (c->out_sent < c->out_len)
            return tina_io_timeout(
                tina_io_send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent), g_idle_ns);
        return conn_serve(c, ctx);
    }
    if (msg->tag < TINA_TAG_IO_FIRST || msg->tag > TINA_TAG_IO_LAST) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.error == TINA_EIO_BUFFERS) return tina_yield(); /* the shard's buffers are all out */
    switch (d.op) {
    case TINA_IO_RECV:
        if (d.result <= 0) return conn_close(c); /* end of stream, reset or cancelled */
        memcpy(c->in + c->in_len, d.data, (size_t)d.result);
        c->in_len += (uint32_t)d.result;
        return conn_serve(c, ctx);
    case TINA_IO_SEND:
        if (d.result < 0) return conn_close(c);
        c->out_sent += (uint32_t)d.result;
        if (c->out_sent < c->out_len)
            return tina_io_timeout(
                tina_io_send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent), g_idle_ns);
        c->out_len = c->out_sent = 0;
        return conn_serve(c, ctx);
    case TINA_IO_CLOSE:
        return tina_done();
    default:
        return conn_close(c);
    }
}

/* ---- control: shard 0, the clock and the service's report -------------- */

#define CONTROL_NAME "http"
#include "control.h"

/* ---- main ------------------------------------------------------------------ */

/* The service's type and child go where the enums say; tina_serve_check
 * then checks the settings against the finished spec. */
static tina_result http_create(tina_runtime **rt, tina_boot_report *report) {
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
                      .fd_slots = CONNS_PER_SHARD + 64,
                      .io_backend = g_epoll ? TINA_IO_EPOLL : TINA_IO_AUTO,
                      .cores = g_cores, .core_count = g_cores ? g_shards : 0};
    tina_result r = tina_serve_check(&g_serve, &spec, report);
    return r == TINA_OK ? tina_create(&spec, rt, report) : r;
}

#ifndef HTTP_NO_MAIN
#include "flags.h"

static void usage(FILE *f) {
    fprintf(f, "usage: http [--port=P] [--shards=N] [--seconds=S] [--epoll] [--reuseport]\n"
               "  --port=P     TCP port on 127.0.0.1, 0..65535 (default 8080; 0 picks one)\n"
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
    flags f = {.program = "http"};
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
    tina_result r = http_create(&rt, &report);
    if (r != TINA_OK) {
        fprintf(stderr, "http: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    r = tina_run(rt);
    tina_shard_stats sum = {0}, st;
    for (uint32_t s = 0; s < report.shard_count; s++) {
        (void)tina_stats(rt, s, &st);
        uint64_t *acc = (uint64_t *)&sum;
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / 8; k++) acc[k] += v[k];
        printf("shard %u: connections %" PRIu64 ", requests %" PRIu64 ", bad requests %" PRIu64
               ", io completed %" PRIu64 "\n", s, g_serve.served[s], g_requests[s % 64],
               g_bad[s % 64], st.io_completed);
    }
    printf("accepted %" PRIu64 ", handed over %" PRIu64 ", refused %" PRIu64 ", listeners %u\n",
           g_serve.accepted, g_serve.handed, g_serve.refused, g_serve.listeners);
    printf("io: submitted %" PRIu64 ", completed %" PRIu64 ", failed %" PRIu64 ", cancelled %" PRIu64
           ", reclaimed %" PRIu64 ", fds open at exit %" PRIu64 "\n", sum.io_submitted,
           sum.io_completed, sum.io_failed, sum.io_cancelled, sum.io_dead, sum.fds_open);
    tina_destroy(rt);
    if (g_bound_port == 0) { /* control said why */
        fprintf(stderr, "http: never listened: exiting 1\n");
        return 1;
    }
    return r == TINA_OK ? 0 : 1;
}
#endif /* HTTP_NO_MAIN */
