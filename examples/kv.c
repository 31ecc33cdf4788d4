/*
 * kv -- a key-value store served over TCP, whose store crashes on command
 * and whose clients never notice.
 *
 *   build/examples/kv [--port=P] [--shards=N] [--seconds=S] [--selftest]
 *
 * One `store` isolate on shard 0 owns the table.  Connections are accepted
 * by Tina's TCP service and spread over every shard; each becomes a `conn`
 * isolate that reads lines
 *
 *   SET key value     -> OK
 *   GET key           -> VALUE value   or NONE
 *   DEL key           -> OK            or NONE
 *   COUNT             -> COUNT n
 *   CRASH             -> OK            (and the store crashes)
 *
 * (keys up to 24 bytes, values up to 64) and calls the store for each, by
 * its address (tina_child_address): whichever incarnation of the store runs
 * when the call arrives answers it.  While the supervisor restarts the
 * store, a call is refused with TINA_ENOT_RUNNING, or fails with
 * TINA_ESTALE if it was queued when the store crashed; the conn waits a
 * tick and calls again, so the client sees an answer, never an error.  The
 * store keeps its table where a restart does not lose it (a static array,
 * standing for a disk), so a restart costs a pause, not the data.
 *
 * The program's main thread is not a shard: it runs the runtime on a
 * thread of its own and talks to the store from outside.  It loads a few
 * keys with tina_inject_call (a blocking call with a timeout), then, every
 * second, asks the store for its size and prints it.  Work can come in
 * from any thread this way, bounded and without allocation.
 *
 * --selftest: a client thread connects over TCP, runs 3,000 commands with
 * a CRASH every 25th, and checks every answer; exit 0 if all were right.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"
#include "tina.h"

#define KEY_MAX 24u
#define VALUE_MAX 64u
#define KEYS 4096u
#define LINE_MAX 256u
#define CONNS_PER_SHARD 1024u
#define CALL_TIMEOUT_NS 1000000000ull
#define RETRY_NS 200000ull /* a restart takes a pass: try again after 0.2 ms */
#define RETRIES_MAX 5000u

enum { TYPE_SERVE, TYPE_CONTROL, TYPE_STORE, TYPE_CONN, TYPE_COUNT };
enum { CHILD_SERVE, CHILD_CONTROL, CHILD_STORE, CHILD_COUNT };
enum { TAG_LISTENING = TINA_TAG_USER, TAG_STOP, TAG_RETRY, TAG_ANSWER,
       OP_SET, OP_GET, OP_DEL, OP_COUNT, OP_CRASH };

static uint32_t g_port = 7379, g_shards, g_seconds, g_selftest;
static tina_serve g_serve;
static _Atomic uint32_t g_bound_port;
static int g_quiet; /* control.h: the banner is always printed */

/* A request and its answer: each fits one message. */
typedef struct request {
    uint8_t key_len, value_len;
    char key[KEY_MAX];
    char value[VALUE_MAX];
} request;
typedef struct answer {
    int32_t found; /* OP_COUNT: the count */
    uint8_t value_len;
    char value[VALUE_MAX];
} answer;
_Static_assert(sizeof(request) <= TINA_PAYLOAD_MAX && sizeof(answer) <= TINA_PAYLOAD_MAX,
               "a request fits a message");

/* ---- store: shard 0, the table ----------------------------------------- */

/* The table outlives the store's incarnations, as a disk would: written
 * only by the store, on shard 0's thread.  Open addressing, linear probes. */
static struct entry {
    uint8_t used, key_len, value_len;
    char key[KEY_MAX];
    char value[VALUE_MAX];
} g_disk[KEYS];
static uint32_t g_disk_count;
static _Atomic uint64_t g_store_starts;

static uint32_t key_hash(const char *key, uint32_t len) {
    uint32_t h = 2166136261u;
    for (uint32_t k = 0; k < len; k++) h = (h ^ (uint8_t)key[k]) * 16777619u;
    return h;
}

/* The slot of key, or the empty slot where it would go (NULL: table full). */
static struct entry *slot_of(const request *q) {
    for (uint32_t n = 0, i = key_hash(q->key, q->key_len) % KEYS; n < KEYS; n++, i = (i + 1) % KEYS) {
        struct entry *e = &g_disk[i];
        if (!e->used || (e->key_len == q->key_len && memcmp(e->key, q->key, q->key_len) == 0))
            return e;
    }
    return NULL;
}

static uint32_t store_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)ctx, (void)args, (void)size;
    atomic_fetch_add(&g_store_starts, 1);
    return 0;
}

/* self holds the answer: a reply's payload is read after the handler
 * returns, so it must not live on the handler's stack. */
static tina_effect store_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)ctx;
    if (msg->tag == OP_CRASH) return tina_crash(0xdead); /* on command */
    if (msg->kind != TINA_MSG_CALL) return tina_receive();
    request q;
    memset(&q, 0, sizeof(q));
    memcpy(&q, msg->payload, msg->size < sizeof(q) ? msg->size : sizeof(q));
    answer *out = self, a = {0};
    struct entry *e = msg->tag == OP_COUNT ? NULL : slot_of(&q);
    switch (msg->tag) {
    case OP_SET:
        if (e == NULL) break; /* full: found 0 */
        if (!e->used) g_disk_count++;
        *e = (struct entry){.used = 1, .key_len = q.key_len, .value_len = q.value_len};
        memcpy(e->key, q.key, q.key_len);
        memcpy(e->value, q.value, q.value_len);
        a.found = 1;
        break;
    case OP_GET:
        if (e && e->used) {
            a.found = 1;
            a.value_len = e->value_len;
            memcpy(a.value, e->value, e->value_len);
        }
        break;
    case OP_DEL: /* backward-shift deletion keeps every probe chain whole */
        if (e && e->used) {
            a.found = 1;
            uint32_t i = (uint32_t)(e - g_disk);
            g_disk[i].used = 0;
            g_disk_count--;
            for (uint32_t j = (i + 1) % KEYS; g_disk[j].used; j = (j + 1) % KEYS) {
                struct entry moved = g_disk[j];
                g_disk[j].used = 0;
                request r = {.key_len = moved.key_len};
                memcpy(r.key, moved.key, moved.key_len);
                *slot_of(&r) = moved;
            }
        }
        break;
    case OP_COUNT: a.found = (int32_t)g_disk_count; break;
    default: return tina_receive();
    }
    *out = a;
    return tina_reply(TAG_ANSWER, out, sizeof(*out));
}

/* ---- conn: one connection, one request at a time ----------------------- */

typedef struct conn {
    tina_fd fd;
    uint32_t len;                 /* bytes in in[] */
    uint32_t line;                /* length of the line being served (with its '\n') */
    uint16_t op;                  /* its store operation, 0 for none */
    uint32_t retries;
    request q;
    uint32_t out_len, out_sent;
    char in[LINE_MAX];
    char out[LINE_MAX];
} conn;

static tina_effect conn_close(conn *c) {
    tina_fd fd = c->fd;
    c->fd = TINA_FD_NONE;
    return fd ? tina_io_close(fd) : tina_done();
}

static tina_effect conn_reply(conn *c, const char *text, const char *value, uint32_t value_len) {
    int n = snprintf(c->out, sizeof(c->out), "%s%s%.*s\n", text, value_len ? " " : "",
                     (int)value_len, value ? value : "");
    c->out_len = (uint32_t)n;
    c->out_sent = 0;
    return tina_io_send(c->fd, c->out, c->out_len);
}

/* Parse "OP [key [value]]" into c->op and c->q; 0 if malformed. */
static int conn_parse(conn *c, char *line) {
    char *rest; /* strtok_r: conns on every shard parse at once */
    char *op = strtok_r(line, " \r", &rest), *key = strtok_r(NULL, " \r", &rest);
    char *value = strtok_r(NULL, "\r", &rest);
    static const struct { const char *name; uint16_t op; int args; } ops[] = {
        {"SET", OP_SET, 2}, {"GET", OP_GET, 1}, {"DEL", OP_DEL, 1},
        {"COUNT", OP_COUNT, 0}, {"CRASH", OP_CRASH, 0}};
    memset(&c->q, 0, sizeof(c->q));
    for (size_t k = 0; op && k < sizeof(ops) / sizeof(ops[0]); k++) {
        if (strcmp(op, ops[k].name) != 0) continue;
        if ((ops[k].args >= 1) != (key != NULL) || (ops[k].args == 2) != (value != NULL)) return 0;
        if ((key && strlen(key) > KEY_MAX) || (value && strlen(value) > VALUE_MAX)) return 0;
        if (key) memcpy(c->q.key, key, c->q.key_len = (uint8_t)strlen(key));
        if (value) memcpy(c->q.value, value, c->q.value_len = (uint8_t)strlen(value));
        c->op = ops[k].op;
        return 1;
    }
    return 0;
}

static tina_effect conn_call(conn *c, tina_ctx *ctx) {
    return tina_call(tina_child_address(ctx, CHILD_STORE, 0), c->op, &c->q, sizeof(c->q),
                     CALL_TIMEOUT_NS);
}

/* The next whole line in in[]: serve it; else read more. */
static tina_effect conn_next(conn *c, tina_ctx *ctx) {
    if (c->line) { /* the last one is answered: drop it */
        memmove(c->in, c->in + c->line, c->len - c->line);
        c->len -= c->line;
        c->line = 0;
    }
    char *nl = memchr(c->in, '\n', c->len);
    if (nl == NULL) {
        if (c->len == sizeof(c->in)) return conn_close(c); /* a line too long */
        return tina_io_recv(c->fd, (uint32_t)(sizeof(c->in) - c->len));
    }
    c->line = (uint32_t)(nl - c->in) + 1;
    char text[LINE_MAX];
    memcpy(text, c->in, c->line - 1);
    text[c->line - 1] = 0;
    c->op = 0;
    c->retries = 0;
    if (!conn_parse(c, text)) return conn_reply(c, "ERR bad request", NULL, 0);
    if (c->op == OP_CRASH) { /* a plain message: the store crashes as it takes it */
        tina_result r = tina_send(ctx, tina_child_address(ctx, CHILD_STORE, 0), OP_CRASH, NULL, 0);
        return conn_reply(c, r == TINA_OK || r == TINA_ENOT_RUNNING ? "OK" : "ERR busy", NULL, 0);
    }
    return conn_call(c, ctx);
}

/* The store's answer, or why there is none yet: while it restarts, wait a
 * moment and ask again, so the client never sees the crash. */
static tina_effect conn_answered(conn *c, tina_ctx *ctx, const tina_msg *msg) {
    if (msg->kind != TINA_MSG_REPLY) {
        int32_t why = TINA_ETIMEDOUT; /* unless it failed: then why */
        if (msg->tag == TINA_TAG_CALL_FAILED) memcpy(&why, msg->payload, sizeof(why));
        tina_timer_id id;
        if ((why == TINA_ENOT_RUNNING || why == TINA_ESTALE) && ++c->retries < RETRIES_MAX &&
            tina_timer_set(ctx, RETRY_NS, 0, TAG_RETRY, &id) == TINA_OK)
            return tina_receive();
        return conn_reply(c, "ERR store unavailable:", tina_result_name(why),
                          (uint32_t)strlen(tina_result_name(why)));
    }
    answer a;
    memcpy(&a, msg->payload, sizeof(a));
    if (c->op == OP_COUNT) {
        char n[16];
        return conn_reply(c, "COUNT", n, (uint32_t)snprintf(n, sizeof(n), "%d", a.found));
    }
    if (!a.found) return conn_reply(c, c->op == OP_SET ? "ERR full" : "NONE", NULL, 0);
    if (c->op == OP_GET) return conn_reply(c, "VALUE", a.value, a.value_len);
    return conn_reply(c, "OK", NULL, 0);
}

static tina_effect conn_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    conn *c = self;
    if (msg->tag == TINA_TAG_TRANSFER) {
        tina_fd_transfer_msg t;
        memcpy(&t, msg->payload, sizeof(t));
        c->fd = t.fd;
        int one = 1;
        (void)tina_setsockopt(ctx, c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return conn_next(c, ctx);
    }
    if (msg->tag == TINA_TAG_SHUTDOWN) return conn_close(c);
    if (msg->tag == TAG_RETRY) return conn_call(c, ctx);
    if (msg->kind == TINA_MSG_REPLY || msg->tag == TINA_TAG_CALL_FAILED ||
        msg->tag == TINA_TAG_CALL_TIMEOUT)
        return conn_answered(c, ctx, msg);
    if (msg->tag == TINA_TAG_RESUME) /* after a refusal for want of a buffer: again */
        return c->out_sent < c->out_len ? tina_io_send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent)
                                        : conn_next(c, ctx);
    if (msg->tag < TINA_TAG_IO_FIRST || msg->tag > TINA_TAG_IO_LAST) return tina_receive();
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.error == TINA_EIO_BUFFERS) return tina_yield();
    switch (d.op) {
    case TINA_IO_RECV:
        if (d.result <= 0) return conn_close(c);
        memcpy(c->in + c->len, d.data, (size_t)d.result);
        c->len += (uint32_t)d.result;
        return conn_next(c, ctx);
    case TINA_IO_SEND:
        if (d.result < 0) return conn_close(c);
        c->out_sent += (uint32_t)d.result;
        if (c->out_sent < c->out_len)
            return tina_io_send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
        return conn_next(c, ctx);
    case TINA_IO_CLOSE: return tina_done();
    default: return conn_close(c);
    }
}

/* ---- control: shard 0, the clock and the service's report -------------- */

#define CONTROL_NAME "kv"
#include "control.h"

/* ---- main: the runtime on a thread, work injected from outside --------- */

static tina_runtime *g_rt;
static _Atomic int g_run_over;

static void *run_thread(void *arg) {
    (void)arg;
    tina_result r = tina_run(g_rt);
    if (r != TINA_OK) fprintf(stderr, "kv: tina_run: %s\n", tina_strerror(r));
    atomic_store(&g_run_over, 1);
    return NULL;
}

/* A call into the store from this thread, which is no shard's. */
static tina_result inject(uint16_t op, const char *key, const char *value, answer *out) {
    request q = {0};
    if (key) memcpy(q.key, key, q.key_len = (uint8_t)strlen(key));
    if (value) memcpy(q.value, value, q.value_len = (uint8_t)strlen(value));
    tina_msg reply;
    tina_result r = tina_inject_call(g_rt, tina_runtime_child_address(g_rt, CHILD_STORE, 0), op,
                                     &q, sizeof(q), CALL_TIMEOUT_NS, &reply);
    if (r == TINA_OK && out) memcpy(out, reply.payload, sizeof(*out));
    return r;
}

static void pause_ms(uint32_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* --selftest's client: plain sockets, one line out, one line back. */
static int client_line(int fd, const char *line, char *back, size_t size) {
    size_t len = strlen(line), n = 0;
    if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) return -1;
    while (n + 1 < size) {
        ssize_t got = recv(fd, back + n, 1, 0);
        if (got <= 0) return -1;
        if (back[n++] == '\n') break;
    }
    back[n] = 0;
    return 0;
}

static void *selftest_thread(void *arg) {
    uint32_t *errors = arg;
    while (atomic_load(&g_bound_port) == 0 && !atomic_load(&g_run_over)) pause_ms(1);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_bound_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        *errors = 1;
        if (fd >= 0) close(fd);
        return NULL;
    }
    char line[LINE_MAX], back[LINE_MAX], want[LINE_MAX];
    for (uint32_t k = 0; k < 3000 && *errors < 10; k++) {
        uint32_t key = k % 97;
        if (k % 25 == 24) snprintf(line, sizeof(line), "CRASH\n"), snprintf(want, sizeof(want), "OK\n");
        else if (k % 3 == 0) snprintf(line, sizeof(line), "SET k%u v%u\n", key, k), snprintf(want, sizeof(want), "OK\n");
        else snprintf(line, sizeof(line), "GET k%u\n", key), want[0] = 0;
        if (client_line(fd, line, back, sizeof(back)) != 0) {
            fprintf(stderr, "kv: selftest: connection lost at command %u\n", k);
            ++*errors;
            break;
        }
        int ok = want[0] ? strcmp(back, want) == 0
                         : strncmp(back, "VALUE v", 7) == 0 || strcmp(back, "NONE\n") == 0;
        if (!ok) fprintf(stderr, "kv: selftest: %.*s -> %s", (int)strcspn(line, "\n"), line, back), ++*errors;
    }
    close(fd);
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: kv [--port=P] [--shards=N] [--seconds=S] [--selftest]\n"
               "  --port=P     TCP port on 127.0.0.1, 0..65535 (default 7379; 0 picks one)\n"
               "  --shards=N   shards, 1..%u (default: one per core)\n"
               "  --seconds=S  shut down after S seconds, 1..86400 (default: at SIGINT/SIGTERM)\n"
               "  --selftest   run 3,000 commands over TCP, a CRASH every 25th, check each\n"
               "               answer, and stop\n"
               "  --help       this text\n"
               "Talk to it with e.g. `nc 127.0.0.1 7379`: SET k v, GET k, DEL k, COUNT, CRASH.\n"
               "Exit status 0 after a clean shutdown (and, with --selftest, every answer\n"
               "right); 1 when it cannot listen or boot; 2 for a bad flag.\n",
            TINA_SHARD_COUNT_MAX);
}

static tina_result kv_create(tina_boot_report *report) {
    static tina_type_spec types[TYPE_COUNT];
    static tina_child_spec children[CHILD_COUNT];
    types[TYPE_SERVE] = tina_serve_type();
    types[TYPE_CONTROL] = (tina_type_spec){.name = "control", .struct_size = 8,
                                           .slots_per_shard = 1, .init = control_init,
                                           .handler = control_handle};
    types[TYPE_STORE] = (tina_type_spec){.name = "store", .struct_size = sizeof(answer), .slots_per_shard = 1,
                                         .mailbox_capacity = 4096, .init = store_init,
                                         .handler = store_handle};
    types[TYPE_CONN] = (tina_type_spec){.name = "conn", .struct_size = sizeof(conn),
                                        .slots_per_shard = CONNS_PER_SHARD, .mailbox_capacity = 4,
                                        .handler = conn_handle};
    static const tina_group_spec groups[] = {{.parent = TINA_GROUP_NONE,
        .strategy = TINA_ONE_FOR_ONE, .restart_max = 1000, .window_ns = 1000000000ull}};
    g_serve = (tina_serve){.host = "127.0.0.1", .port = g_port, .conn_type_id = TYPE_CONN,
                           .report_child = CHILD_CONTROL, .report_tag = TAG_LISTENING};
    children[CHILD_SERVE] = tina_serve_child(&g_serve, TYPE_SERVE);
    children[CHILD_CONTROL] = (tina_child_spec){.type_id = TYPE_CONTROL, .shard = 0,
                                                .restart = TINA_RESTART_PERMANENT};
    children[CHILD_STORE] = (tina_child_spec){.type_id = TYPE_STORE, .shard = 0,
                                              .restart = TINA_RESTART_PERMANENT};
    tina_spec spec = {.types = types, .type_count = TYPE_COUNT, .children = children,
                      .child_count = CHILD_COUNT, .groups = groups, .group_count = 1,
                      .shard_count = g_shards, .fd_slots = CONNS_PER_SHARD + 64};
    tina_result r = tina_serve_check(&g_serve, &spec, report);
    return r == TINA_OK ? tina_create(&spec, &g_rt, report) : r;
}

int main(int argc, char **argv) {
    flags_help(argc, argv, usage);
    flags f = {.program = "kv"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flag_switch(&f, arg, "--selftest", &g_selftest) &&
            !flag_u32(&f, arg, "--port", 0, 65535, &g_port) &&
            !flag_u32(&f, arg, "--shards", 1, TINA_SHARD_COUNT_MAX, &g_shards) &&
            !flag_u32(&f, arg, "--seconds", 1, 86400, &g_seconds))
            flag_unknown(&f, arg);
    }
    flags_end(&f);
    if (g_selftest && g_port == 7379) g_port = 0; /* any free port */
    tina_boot_report report;
    tina_result r = kv_create(&report);
    if (r != TINA_OK) {
        fprintf(stderr, "kv: %s: %s\n", tina_result_name(r), report.message);
        return 1;
    }
    pthread_t runner, client;
    uint32_t errors = 0;
    if (pthread_create(&runner, NULL, run_thread, NULL) != 0) return 1;
    /* From this thread, which is not a shard: load a few keys, blocking on
     * each call's reply (with a timeout). */
    static const char *const greetings[][2] = {{"hello", "world"}, {"tina", "actors"}, {"kv", "store"}};
    for (size_t k = 0; k < sizeof(greetings) / sizeof(greetings[0]); k++)
        if ((r = inject(OP_SET, greetings[k][0], greetings[k][1], NULL)) != TINA_OK)
            fprintf(stderr, "kv: loading %s: %s\n", greetings[k][0], tina_strerror(r));
    if (g_selftest && pthread_create(&client, NULL, selftest_thread, &errors) != 0) return 1;
    /* Every second, ask the store for its size: until the runtime stops. */
    for (uint32_t tick = 0; !atomic_load(&g_run_over); tick++) {
        if (g_selftest) {
            pthread_join(client, NULL);
            tina_stop(g_rt);
            break;
        }
        pause_ms(100);
        answer a;
        if (tick % 10 == 9 && inject(OP_COUNT, NULL, NULL, &a) == TINA_OK)
            printf("kv: %d keys, the store started %" PRIu64 " times\n", a.found,
                   atomic_load(&g_store_starts));
        fflush(stdout);
    }
    pthread_join(runner, NULL);
    tina_inject_stats is;
    (void)tina_stats_inject(g_rt, TINA_SHARD_EVERY, &is);
    printf("kv: store started %" PRIu64 " times; injected calls %" PRIu64 ", refused %" PRIu64
           "\n", atomic_load(&g_store_starts), is.calls, is.full + is.refused);
    tina_destroy(g_rt);
    if (atomic_load(&g_bound_port) == 0) {
        fprintf(stderr, "kv: never listened: exiting 1\n");
        return 1;
    }
    if (g_selftest) {
        printf("kv: selftest %s: %u wrong answers\n", errors ? "FAILED" : "ok", errors);
        if (errors || atomic_load(&g_store_starts) < 100) return 1;
    }
    return 0;
}
