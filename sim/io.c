/*
 * io.c -- the simulated network and file system behind the seam's I/O.
 *
 * Under tina_simulate the platform's io_* entries land here instead of in
 * io_uring or epoll.  The shard's side (tina/io.c) is unchanged: it queues
 * operations in io->queued_head, we take them in io_submit and report each
 * one exactly once, from io_reap only, through tina__io_done().
 *
 * The world.  One per simulated run (sim->world), shared by every shard,
 * created at the first shard's io_setup and freed by the run loop after
 * tina_destroy (tina__sim_io_free), so the shards' closing of their last
 * descriptors at destroy still finds it.  It holds objects named by
 * simulated os fds (OS_FD_FIRST + object index, unique in the run; a
 * closed object's number is reused as late as possible, FIFO) and a table
 * of files by path:
 *
 *   objs[]   TCP  (socket, maybe bound)  -- listen --> LISTENER(port, backlog)
 *            STREAM: one end of a connection; each end owns the queue of
 *                    bytes travelling towards it (QUEUE_BYTES, a ring)
 *            UDP  (datagrams: records [u16 bytes][u16 source port][bytes])
 *            FILE (a path's entry, access mode, position for offset -1)
 *   tcp_ports[port], udp_ports[port]   object + 1 bound there, 0 if none
 *   files[]  path -> bytes (FILE_BYTES_MAX each, zero-filled holes)
 *
 *      client STREAM                                server STREAM
 *      in: [bytes the server sent] <--- send ---    peer_port = client's
 *      peer_port = 7000             --- send --->   in: [bytes the client sent]
 *
 * connect to 127.0.0.1:port of a listener (any shard's) makes the pair at
 * once and queues the server end in the listener's backlog, as a kernel
 * completes the handshake before accept(2).  Closing an end gives the other
 * end EOF (after the bytes already queued); a reset empties both queues and
 * every later recv or send on either end is -ECONNRESET.
 *
 * Per shard (world->shards[id]; s->io->backend stays NULL, see
 * tina__sim_io_setup) each operation has a record: first WAITING,
 * in submission order, until it can complete (recv: data, EOF or reset;
 * send: room at the peer; accept: a backlog entry; connect: room in the
 * listener's backlog; everything else at once); then DECIDED, with its
 * result and the round its completion is due.  Reap looks at the waiting
 * list in order, decides the ops that can complete (their side effects --
 * bytes moved, connections made -- happen then), then reports the decided
 * ones that are due, in the order they were decided.  So everything
 * follows from the seed and the shard order of each round.
 *
 * Faults come from the shard's I/O stream (domain 0x0200 + shard) and are
 * drawn only when on: io_error_per_million, once per op that could succeed,
 * when it is decided (stream recv/send: -ECONNRESET and the connection is
 * reset both ways; accept: -ECONNABORTED, the connection it would have
 * taken is reset; connect: -ECONNREFUSED or -ETIMEDOUT; file read/write:
 * -EIO); io_delay_rounds_max, once per decided op: its completion waits
 * 0..max more rounds, never before an earlier completion of the same object.
 * Cancelled and orphaned (owner 0) ops are answered -ECANCELED at the
 * next reap, without draws, and so is an op whose object was closed under
 * it (as the epoll backend does); a close is never cancelled: it runs.
 *
 * Pending work (tina__sim_io_pending): a decided op not yet reported, or a
 * waiting op that could be decided now.  A recv or accept that nothing in
 * the world can complete is not pending: only an isolate can change that,
 * and isolates are already the run loop's business, so a server that
 * waits in accept does not keep a run alive forever.
 *
 * Datagram sockets are simulated simply: a datagram that finds nobody bound
 * to its port, or no room, is lost (sendto still says it went); a read
 * shorter than the datagram drops the rest, as recv(2) does; no faults are
 * injected.  Not simulated: connect on a datagram socket (-EOPNOTSUPP),
 * send without an address on one (-EDESTADDRREQ), addresses other than
 * 127.0.0.0/8 and 0.0.0.0 (-ENETUNREACH, -EADDRNOTAVAIL), unlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sim.h"

#define OS_FD_FIRST 1000u          /* os fd of object 0 */
#define OBJECTS_MAX (1u << 17)
#define QUEUE_BYTES 65536u         /* per direction of a connection, per datagram socket */
#define FILE_COUNT_MAX 16u
#define FILE_BYTES_MAX (1u << 20)
#define PATH_BYTES 64u             /* with the terminating zero */
#define PORT_EPHEMERAL_FIRST 40000u
#define PORT_EPHEMERAL_LAST 60999u
#define BACKLOG_MAX 1024u
#define DATAGRAM_HEADER 4u         /* u16 bytes, u16 source port, little-endian */
#define DATAGRAM_BYTES_MAX 65507u
#define NIL TINA__NIL

_Static_assert((QUEUE_BYTES & (QUEUE_BYTES - 1)) == 0, "queue positions wrap by masking");
_Static_assert(QUEUE_BYTES >= DATAGRAM_HEADER + 1, "a queue holds at least one datagram");
_Static_assert(OS_FD_FIRST + OBJECTS_MAX < INT32_MAX, "os fds are int32");

/* ---- the world -------------------------------------------------------- */

struct queue {
    uint8_t *bytes;      /* QUEUE_BYTES, allocated at first use, kept for reuse */
    uint32_t head, tail; /* tail - head bytes queued; both wrap */
};

enum obj_kind { OBJ_FREE = 0, OBJ_TCP, OBJ_LISTENER, OBJ_STREAM, OBJ_UDP, OBJ_FILE };

struct obj {
    uint32_t generation;  /* bumped at close: an op that began on it sees it gone */
    uint8_t kind;         /* enum obj_kind */
    uint8_t reset;        /* stream: reset; recv and send say -ECONNRESET */
    uint8_t access;       /* file: O_RDONLY, O_WRONLY or O_RDWR */
    uint8_t append;       /* file: O_APPEND, writes go to the end */
    uint16_t port;        /* local port; 0 unbound */
    uint16_t peer_port;   /* stream: the other end's port */
    uint32_t peer;        /* stream: the other end; NIL once it closed (EOF) */
    uint32_t file;        /* file: index in world->files */
    uint32_t backlog_max; /* listener: connections not accepted yet, at most */
    uint32_t backlog_count, backlog_head, backlog_tail; /* FIFO of streams, by next */
    uint32_t next;        /* free list or backlog link */
    uint64_t position;    /* file: where offset -1 reads and writes */
    uint64_t last_due;    /* round of its latest completion: they leave in order */
    struct queue in;      /* stream, udp: what arrived and is not read yet */
};

struct file {
    char path[PATH_BYTES];
    uint8_t *data;        /* FILE_BYTES_MAX; NULL: no such file */
    uint32_t size;
};

struct shard_io;

struct tina__sim_world {
    struct shard_io *shards[TINA_SHARD_COUNT_MAX]; /* each shard's op records (see setup) */
    struct obj *objs;
    uint32_t obj_count;
    uint32_t free_head, free_tail; /* FIFO, so an os fd number is reused late */
    uint32_t port_next;            /* where the next ephemeral port search starts */
    uint32_t tcp_ports[65536];     /* object + 1 bound to each port, 0 if none */
    uint32_t udp_ports[65536];
    struct file files[FILE_COUNT_MAX];
};

/* ---- per shard: the ops' records -------------------------------------- */

enum rec_where { REC_NONE = 0, REC_WAITING, REC_DECIDED };

struct rec {
    uint64_t due;          /* decided: the round its completion is reported in */
    uint32_t obj;          /* the object its os fd named at submit, or NIL */
    uint32_t generation;   /* ... and that object's generation then */
    uint32_t next;         /* waiting or decided list */
    int32_t result;        /* decided: bytes, 0, an os fd (accept) or -errno */
    uint8_t where;         /* enum rec_where */
    uint8_t cancelled;     /* io_cancel asked: -ECANCELED at the next reap */
    uint8_t starved;       /* a ready recv found every reactor buffer out (counted once) */
};

struct list {
    uint32_t head, tail;   /* op indexes, NIL when empty */
};

struct shard_io {
    struct tina__sim *sim;
    struct tina__sim_world *world;
    struct rec *recs;      /* io->op_count, by op index */
    struct list waiting;   /* submitted, not decided: in submission order */
    struct list decided;   /* decided, not reported: in decision order */
};

static struct tina__sim *sim_of(struct tina__shard *s) { return s->rt->platform_state; }

/* NULL when I/O is off on this shard (or its set-up failed). */
static struct shard_io *shard_io_of(struct tina__shard *s) {
    struct tina__sim_world *w = sim_of(s)->world;
    return s->io != NULL && w != NULL ? w->shards[s->id] : NULL;
}

static void list_push(struct rec *recs, struct list *l, uint32_t i) {
    recs[i].next = NIL;
    if (l->tail == NIL) l->head = i;
    else recs[l->tail].next = i;
    l->tail = i;
}

/* Unlink i, whose predecessor is prev (NIL: i is the head). */
static void list_unlink(struct rec *recs, struct list *l, uint32_t prev, uint32_t i) {
    if (prev == NIL) l->head = recs[i].next;
    else recs[prev].next = recs[i].next;
    if (l->tail == i) l->tail = prev;
}

/* ---- byte queues -------------------------------------------------------- */

static uint32_t queue_used(const struct queue *q) { return q->tail - q->head; }

static uint32_t queue_room(const struct queue *q) { return QUEUE_BYTES - queue_used(q); }

/* Its buffer, allocated the first time an object needs one. */
static int queue_ready(struct queue *q) {
    if (q->bytes == NULL) q->bytes = malloc(QUEUE_BYTES);
    return q->bytes != NULL ? 0 : -ENOMEM;
}

static void queue_put(struct queue *q, const uint8_t *src, uint32_t n) {
    for (uint32_t done = 0; done < n;) {
        uint32_t at = q->tail & (QUEUE_BYTES - 1), run = QUEUE_BYTES - at;
        if (run > n - done) run = n - done;
        memcpy(q->bytes + at, src + done, run);
        q->tail += run;
        done += run;
    }
}

/* Take n bytes into dst (NULL: drop them). */
static void queue_get(struct queue *q, uint8_t *dst, uint32_t n) {
    for (uint32_t done = 0; done < n;) {
        uint32_t at = q->head & (QUEUE_BYTES - 1), run = QUEUE_BYTES - at;
        if (run > n - done) run = n - done;
        if (dst) memcpy(dst + done, q->bytes + at, run);
        q->head += run;
        done += run;
    }
}

/* ---- objects and ports -------------------------------------------------- */

static struct obj *obj_at(struct tina__sim_world *w, int32_t os_fd) {
    if (os_fd < (int32_t)OS_FD_FIRST || (uint32_t)os_fd - OS_FD_FIRST >= w->obj_count) return NULL;
    struct obj *o = &w->objs[(uint32_t)os_fd - OS_FD_FIRST];
    return o->kind == OBJ_FREE ? NULL : o;
}

static uint32_t obj_index(const struct tina__sim_world *w, const struct obj *o) {
    return (uint32_t)(o - w->objs);
}

static struct obj *obj_alloc(struct tina__sim_world *w, uint8_t kind) {
    uint32_t i = w->free_head;
    if (i == NIL) return NULL;
    struct obj *o = &w->objs[i];
    w->free_head = o->next;
    if (w->free_head == NIL) w->free_tail = NIL;
    struct obj fresh = {.generation = o->generation, .kind = kind, .peer = NIL,
                        .backlog_head = NIL, .backlog_tail = NIL, .next = NIL,
                        .in = {.bytes = o->in.bytes}};
    *o = fresh;
    return o;
}

static void obj_free(struct tina__sim_world *w, struct obj *o) {
    uint32_t i = obj_index(w, o);
    o->kind = OBJ_FREE;
    o->generation++;
    o->in.head = o->in.tail = 0;
    o->next = NIL;
    if (w->free_tail == NIL) w->free_head = i;
    else w->objs[w->free_tail].next = i;
    w->free_tail = i;
}

static uint32_t *ports_of(struct tina__sim_world *w, const struct obj *o) {
    return o->kind == OBJ_UDP ? w->udp_ports : w->tcp_ports;
}

/* Bind o to port (0: the next free ephemeral port). */
static int port_claim(struct tina__sim_world *w, struct obj *o, uint32_t port) {
    uint32_t *ports = ports_of(w, o);
    uint32_t span = PORT_EPHEMERAL_LAST - PORT_EPHEMERAL_FIRST + 1;
    for (uint32_t k = 0; port == 0 && k < span; k++) {
        uint32_t p = PORT_EPHEMERAL_FIRST + (w->port_next + k) % span;
        if (ports[p] == 0) {
            port = p;
            w->port_next = (p - PORT_EPHEMERAL_FIRST + 1) % span;
        }
    }
    if (port == 0) return -EADDRNOTAVAIL;
    if (ports[port] != 0) return -EADDRINUSE;
    ports[port] = obj_index(w, o) + 1;
    o->port = (uint16_t)port;
    return 0;
}

static void port_release(struct tina__sim_world *w, struct obj *o) {
    uint32_t *ports = ports_of(w, o);
    if (o->port != 0 && ports[o->port] == obj_index(w, o) + 1) ports[o->port] = 0;
}

/* Both ends lose what they queued; every later recv or send is a reset. */
static void connection_reset(struct tina__sim_world *w, struct obj *o) {
    o->reset = 1;
    o->in.head = o->in.tail;
    if (o->peer == NIL) return;
    struct obj *p = &w->objs[o->peer];
    p->reset = 1;
    p->in.head = p->in.tail;
}

static struct obj *backlog_pop(struct tina__sim_world *w, struct obj *listener) {
    struct obj *c = &w->objs[listener->backlog_head];
    listener->backlog_head = c->next;
    if (listener->backlog_head == NIL) listener->backlog_tail = NIL;
    listener->backlog_count--;
    c->next = NIL;
    return c;
}

/* A stream's end goes away: the other end sees EOF after its queued bytes. */
static void stream_detach(struct tina__sim_world *w, struct obj *o) {
    if (o->peer == NIL) return;
    w->objs[o->peer].peer = NIL;
    o->peer = NIL;
}

/* A connection that was never accepted is torn down: the client is reset. */
static void stream_abort(struct tina__sim_world *w, struct obj *c) {
    connection_reset(w, c);
    stream_detach(w, c);
    obj_free(w, c); /* a server end shares its listener's port: nothing to release */
}

static void obj_close(struct tina__sim_world *w, struct obj *o) {
    if (o->kind == OBJ_STREAM) stream_detach(w, o);
    while (o->kind == OBJ_LISTENER && o->backlog_count > 0) stream_abort(w, backlog_pop(w, o));
    port_release(w, o);
    obj_free(w, o);
}

/* A sockaddr_in for 127.0.0.1:port, in op->addr. */
static void peer_address(struct tina__io_op *op, uint16_t port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memcpy(op->addr, &sin, sizeof(sin));
    op->msg_addr_len = sizeof(sin);
}

/* The port an op's address names: connect, sendto.  0, or -errno. */
static int target_port(const struct tina__io_op *op, uint16_t *port) {
    struct sockaddr_in sin;
    if (op->addr_len < sizeof(sin)) return -EINVAL;
    memcpy(&sin, op->addr, sizeof(sin));
    if (sin.sin_family != AF_INET) return -EAFNOSUPPORT;
    uint32_t a = ntohl(sin.sin_addr.s_addr);
    if (a != INADDR_ANY && (a >> 24) != 127) return -ENETUNREACH; /* only this host exists */
    *port = ntohs(sin.sin_port);
    return *port != 0 ? 0 : -ECONNREFUSED;
}

static struct obj *listener_at(struct tina__sim_world *w, uint16_t port) {
    uint32_t i = w->tcp_ports[port];
    return i != 0 && w->objs[i - 1].kind == OBJ_LISTENER ? &w->objs[i - 1] : NULL;
}

/* ---- the world's life ---------------------------------------------------- */

static struct tina__sim_world *world_create(const struct tina_runtime *rt) {
    struct tina__sim_world *w = calloc(1, sizeof(*w));
    if (w == NULL) return NULL;
    uint64_t want = 2ull * rt->shard_count * rt->spec.fd_slots + 256u;
    w->obj_count = want < OBJECTS_MAX ? (uint32_t)want : OBJECTS_MAX;
    w->objs = calloc(w->obj_count, sizeof(*w->objs));
    if (w->objs == NULL) {
        free(w);
        return NULL;
    }
    for (uint32_t k = 0; k < w->obj_count; k++)
        w->objs[k] = (struct obj){.generation = 1, .next = k + 1 < w->obj_count ? k + 1 : NIL};
    w->free_head = 0;
    w->free_tail = w->obj_count - 1;
    return w;
}

void tina__sim_io_free(struct tina__sim *sim) {
    struct tina__sim_world *w = sim->world;
    if (w == NULL) return;
    for (uint32_t id = 0; id < TINA_SHARD_COUNT_MAX; id++) {
        if (w->shards[id] != NULL) free(w->shards[id]->recs);
        free(w->shards[id]);
    }
    for (uint32_t k = 0; k < w->obj_count; k++) free(w->objs[k].in.bytes);
    for (uint32_t k = 0; k < FILE_COUNT_MAX; k++) free(w->files[k].data);
    free(w->objs);
    free(w);
    sim->world = NULL;
}

int tina__sim_io_setup(struct tina__shard *s) {
    struct tina__sim *sim = sim_of(s);
    if (sim->world == NULL && (sim->world = world_create(s->rt)) == NULL) return -ENOMEM;
    struct shard_io *sh = calloc(1, sizeof(*sh));
    struct rec *recs = calloc(s->io->op_count, sizeof(*recs));
    if (sh == NULL || recs == NULL) {
        free(sh);
        free(recs);
        return -ENOMEM;
    }
    *sh = (struct shard_io){.sim = sim, .world = sim->world, .recs = recs,
                            .waiting = {NIL, NIL}, .decided = {NIL, NIL}};
    sim->world->shards[s->id] = sh;
    /* io->backend stays NULL: the records live in the world, which
     * tina__sim_io_free frees after tina_destroy, so there is nothing for
     * io_teardown to do (and the sim platform's entries never look at it). */
    s->io->backend_kind = TINA_IO_AUTO; /* no kernel interface: nothing to tell apart */
    s->io->recv_late = 1;
    return 0;
}

/* Only called if io->backend is set (see setup): the world owns the records. */
void tina__sim_io_teardown(struct tina__shard *s) { (void)s; }

/* ---- the synchronous calls ----------------------------------------------- */

static int64_t socket_open(struct tina__sim_world *w, const struct tina__io_ctl *c) {
    if (c->a != AF_INET) return -EAFNOSUPPORT;
    int type = c->b & 0xf; /* SOCK_NONBLOCK and SOCK_CLOEXEC live above */
    uint8_t kind = type == SOCK_STREAM ? OBJ_TCP : type == SOCK_DGRAM ? OBJ_UDP : OBJ_FREE;
    if (kind == OBJ_FREE) return -ESOCKTNOSUPPORT;
    if (c->c != 0 && c->c != (kind == OBJ_TCP ? IPPROTO_TCP : IPPROTO_UDP)) return -EPROTONOSUPPORT;
    struct obj *o = obj_alloc(w, kind);
    if (o == NULL) return -ENFILE;
    return OS_FD_FIRST + obj_index(w, o);
}

static int64_t socket_bind(struct tina__sim_world *w, struct obj *o, const struct tina__io_ctl *c) {
    if (o->kind == OBJ_FILE) return -ENOTSOCK;
    if ((o->kind != OBJ_TCP && o->kind != OBJ_UDP) || o->port != 0) return -EINVAL;
    struct sockaddr_in sin;
    if (c->len < sizeof(sin)) return -EINVAL;
    memcpy(&sin, c->ptr, sizeof(sin));
    if (sin.sin_family != AF_INET) return -EAFNOSUPPORT;
    uint32_t a = ntohl(sin.sin_addr.s_addr);
    if (a != INADDR_ANY && (a >> 24) != 127) return -EADDRNOTAVAIL;
    return port_claim(w, o, ntohs(sin.sin_port));
}

static int64_t socket_listen(struct tina__sim_world *w, struct obj *o, int backlog) {
    if (o->kind == OBJ_FILE) return -ENOTSOCK;
    if (o->kind == OBJ_UDP) return -EOPNOTSUPP;
    if (o->kind != OBJ_TCP && o->kind != OBJ_LISTENER) return -EINVAL;
    if (o->kind == OBJ_TCP && o->port == 0) { /* listen(2) binds an unbound socket */
        int err = port_claim(w, o, 0);
        if (err != 0) return err;
    }
    o->kind = OBJ_LISTENER;
    o->backlog_max = backlog < 1 ? 1u : (uint32_t)backlog > BACKLOG_MAX ? BACKLOG_MAX
                                                                       : (uint32_t)backlog;
    return 0;
}

static uint32_t file_find(const struct tina__sim_world *w, const char *path) {
    for (uint32_t k = 0; k < FILE_COUNT_MAX; k++)
        if (w->files[k].data != NULL && strcmp(w->files[k].path, path) == 0) return k;
    return NIL;
}

static int64_t file_create(struct tina__sim_world *w, const char *path, size_t path_bytes) {
    for (uint32_t k = 0; k < FILE_COUNT_MAX; k++) {
        struct file *f = &w->files[k];
        if (f->data != NULL) continue;
        f->data = calloc(1, FILE_BYTES_MAX);
        if (f->data == NULL) return -ENOMEM;
        memcpy(f->path, path, path_bytes + 1);
        f->size = 0;
        return k;
    }
    return -ENOSPC;
}

static int64_t file_open(struct tina__sim_world *w, const struct tina__io_ctl *c) {
    const char *path = c->ptr;
    size_t n = strnlen(path, PATH_BYTES);
    int flags = c->a, access = flags & O_ACCMODE;
    if (n == 0) return -ENOENT;
    if (n == PATH_BYTES) return -ENAMETOOLONG;
    if (access == O_ACCMODE) return -EINVAL;
    uint32_t f = file_find(w, path);
    if (f != NIL && (flags & O_CREAT) && (flags & O_EXCL)) return -EEXIST;
    if (f == NIL && !(flags & O_CREAT)) return -ENOENT;
    struct obj *o = obj_alloc(w, OBJ_FILE);
    if (o == NULL) return -ENFILE;
    if (f == NIL) {
        int64_t made = file_create(w, path, n);
        if (made < 0) {
            obj_free(w, o);
            return made;
        }
        f = (uint32_t)made;
    }
    if ((flags & O_TRUNC) && access != O_RDONLY) w->files[f].size = 0;
    o->file = f;
    o->access = (uint8_t)access;
    o->append = (flags & O_APPEND) != 0;
    return OS_FD_FIRST + obj_index(w, o);
}

int64_t tina__sim_io_ctl(struct tina__shard *s, struct tina__io_ctl *c) {
    struct tina__sim_world *w = sim_of(s)->world;
    if (c->op == TINA__CTL_SOCKET) return socket_open(w, c);
    if (c->op == TINA__CTL_OPEN) return file_open(w, c);
    if (c->op == TINA__CTL_FORGET) return 0; /* nothing is armed on a simulated descriptor */
    struct obj *o = obj_at(w, c->os_fd);
    if (o == NULL) return -EBADF;
    switch (c->op) {
    case TINA__CTL_BIND: return socket_bind(w, o, c);
    case TINA__CTL_LISTEN: return socket_listen(w, o, c->a);
    case TINA__CTL_SETSOCKOPT: return o->kind == OBJ_FILE ? -ENOTSOCK : 0; /* accepted, ignored */
    case TINA__CTL_CLOSE: obj_close(w, o); return 0;
    case TINA__CTL_LOCAL_PORT: return o->kind == OBJ_FILE ? -ENOTSOCK : o->port;
    default: return -EINVAL;
    }
}

/* ---- deciding an operation -------------------------------------------------- */

/* The object an op runs on, if it is still the one it began on. */
static struct obj *rec_object(struct tina__sim_world *w, const struct rec *r) {
    if (r->obj == NIL) return NULL;
    struct obj *o = &w->objs[r->obj];
    return o->kind != OBJ_FREE && o->generation == r->generation ? o : NULL;
}

/* Cancelled or orphaned: -ECANCELED, nothing done.  A close always runs
 * (its handle is already stale: nobody else could close the os fd). */
static int answered_at_once(const struct tina__io_op *op, const struct rec *r) {
    return op->op != TINA_IO_CLOSE && (r->cancelled || op->cancel || op->owner == 0);
}

/* Could this op be decided now?  No side effects: the run loop asks it too. */
static int op_ready(struct tina__sim_world *w, const struct tina__io *io,
                    const struct tina__io_op *op, const struct rec *r) {
    struct obj *o = rec_object(w, r);
    if (answered_at_once(op, r) || o == NULL) return 1;
    if (r->starved && io->buf_top == 0) return 0; /* a buffer first, then its data as before */
    switch (op->op) {
    case TINA_IO_ACCEPT:
        return o->kind != OBJ_LISTENER || o->backlog_count > 0;
    case TINA_IO_CONNECT: {
        uint16_t port;
        if (o->kind != OBJ_TCP || target_port(op, &port) != 0) return 1;
        struct obj *l = listener_at(w, port);
        return l == NULL || l->backlog_count < l->backlog_max; /* a full backlog: wait */
    }
    case TINA_IO_RECV: case TINA_IO_RECVFROM:
        if (o->kind == OBJ_STREAM) return o->reset || o->peer == NIL || queue_used(&o->in) > 0;
        return o->kind != OBJ_UDP || queue_used(&o->in) > 0;
    case TINA_IO_SEND: case TINA_IO_SENDTO:
        if (o->kind != OBJ_STREAM || o->reset || o->peer == NIL || op->len == 0) return 1;
        return queue_room(&w->objs[o->peer].in) > 0;
    default:
        return 1; /* read, write, close: at once */
    }
}

static int32_t accept_run(struct tina__sim_world *w, struct tina__io_op *op, struct obj *o) {
    if (o->kind != OBJ_LISTENER) return o->kind == OBJ_FILE ? -ENOTSOCK : -EINVAL;
    struct obj *c = backlog_pop(w, o);
    peer_address(op, c->peer_port);
    return (int32_t)(OS_FD_FIRST + obj_index(w, c));
}

static int32_t connect_run(struct tina__sim_world *w, struct tina__io_op *op, struct obj *o) {
    if (o->kind != OBJ_TCP)
        return o->kind == OBJ_STREAM ? -EISCONN : o->kind == OBJ_UDP ? -EOPNOTSUPP
               : o->kind == OBJ_FILE ? -ENOTSOCK : -EINVAL;
    uint16_t port = 0;
    int err = target_port(op, &port);
    if (err != 0) return err;
    struct obj *l = listener_at(w, port);
    if (l == NULL) return -ECONNREFUSED;
    if (queue_ready(&o->in) != 0) return -ENOMEM;
    if (o->port == 0 && (err = port_claim(w, o, 0)) != 0) return err;
    struct obj *c = obj_alloc(w, OBJ_STREAM);
    if (c == NULL) return -ENOBUFS;
    if (queue_ready(&c->in) != 0) {
        obj_free(w, c);
        return -ENOMEM;
    }
    o->kind = OBJ_STREAM;
    o->peer = obj_index(w, c);
    o->peer_port = port;
    c->peer = obj_index(w, o);
    c->port = port;
    c->peer_port = o->port;
    if (l->backlog_tail == NIL) l->backlog_head = obj_index(w, c);
    else w->objs[l->backlog_tail].next = obj_index(w, c);
    l->backlog_tail = obj_index(w, c);
    l->backlog_count++;
    return 0;
}

/* One datagram out of o's queue: as much as fits, the rest dropped. */
static int32_t datagram_take(struct tina__io *io, struct tina__io_op *op, struct obj *o) {
    uint8_t h[DATAGRAM_HEADER];
    queue_get(&o->in, h, DATAGRAM_HEADER);
    uint32_t bytes = (uint32_t)h[0] | (uint32_t)h[1] << 8, n = bytes < op->len ? bytes : op->len;
    queue_get(&o->in, tina__io_buf(io, op->buf), n);
    queue_get(&o->in, NULL, bytes - n);
    peer_address(op, (uint16_t)(h[2] | h[3] << 8));
    return (int32_t)n;
}

/* A datagram is sent, or lost when no one is bound there or it does not fit. */
static int32_t datagram_put(struct tina__sim_world *w, struct tina__io *io,
                            struct tina__io_op *op, struct obj *o) {
    uint16_t port = 0;
    int err = op->op == TINA_IO_SENDTO ? target_port(op, &port) : -EDESTADDRREQ;
    if (err != 0) return err == -ECONNREFUSED ? -EINVAL : err;
    if (op->len > DATAGRAM_BYTES_MAX) return -EMSGSIZE;
    if (o->port == 0 && (err = port_claim(w, o, 0)) != 0) return err;
    uint32_t to = w->udp_ports[port];
    struct queue *q = to != 0 ? &w->objs[to - 1].in : NULL;
    if (q && queue_room(q) >= DATAGRAM_HEADER + op->len && queue_ready(q) == 0) {
        uint8_t h[DATAGRAM_HEADER] = {(uint8_t)op->len, (uint8_t)(op->len >> 8),
                                      (uint8_t)o->port, (uint8_t)(o->port >> 8)};
        queue_put(q, h, DATAGRAM_HEADER);
        queue_put(q, tina__io_buf(io, op->buf), op->len);
    }
    return (int32_t)op->len;
}

static int32_t recv_run(struct tina__io *io, struct tina__io_op *op, struct obj *o) {
    if (o->kind == OBJ_UDP) return datagram_take(io, op, o);
    if (o->kind != OBJ_STREAM) return o->kind == OBJ_FILE ? -ENOTSOCK : -ENOTCONN;
    if (o->reset) return -ECONNRESET;
    uint32_t n = queue_used(&o->in) < op->len ? queue_used(&o->in) : op->len;
    if (n > 0) queue_get(&o->in, tina__io_buf(io, op->buf), n); /* n 0: it took no buffer */
    return (int32_t)n; /* 0: the peer closed and everything it sent was read */
}

static int32_t send_run(struct tina__sim_world *w, struct tina__io *io, struct tina__io_op *op,
                        struct obj *o) {
    if (o->kind == OBJ_UDP) return datagram_put(w, io, op, o);
    if (o->kind != OBJ_STREAM) return o->kind == OBJ_FILE ? -ENOTSOCK : -ENOTCONN;
    if (o->reset) return -ECONNRESET;
    if (o->peer == NIL) return -EPIPE;
    struct queue *q = &w->objs[o->peer].in;
    uint32_t n = queue_room(q) < op->len ? queue_room(q) : op->len;
    queue_put(q, tina__io_buf(io, op->buf), n);
    return (int32_t)n;
}

static int32_t file_run(struct tina__sim_world *w, struct tina__io *io, struct tina__io_op *op,
                        struct obj *o) {
    if (o->kind != OBJ_FILE) return -ESPIPE;
    struct file *f = &w->files[o->file];
    uint64_t at = op->offset == UINT64_MAX ? o->position : op->offset;
    uint32_t n;
    if (op->op == TINA_IO_READ) {
        if (o->access == O_WRONLY) return -EBADF;
        n = at >= f->size ? 0 : (uint32_t)(f->size - at < op->len ? f->size - at : op->len);
        if (n > 0) memcpy(tina__io_buf(io, op->buf), f->data + at, n);
    } else {
        if (o->access == O_RDONLY) return -EBADF;
        if (o->append) at = f->size;
        if (at >= FILE_BYTES_MAX) return op->len ? -EFBIG : 0;
        n = FILE_BYTES_MAX - at < op->len ? (uint32_t)(FILE_BYTES_MAX - at) : op->len;
        if (at > f->size) memset(f->data + f->size, 0, at - f->size); /* a hole reads as zeros */
        memcpy(f->data + at, tina__io_buf(io, op->buf), n);
        if (at + n > f->size) f->size = (uint32_t)(at + n);
    }
    if (op->offset == UINT64_MAX) o->position = at + n;
    return (int32_t)n;
}

static int32_t op_run(struct tina__sim_world *w, struct tina__io *io, struct tina__io_op *op,
                      struct obj *o) {
    switch (op->op) {
    case TINA_IO_ACCEPT: return accept_run(w, op, o);
    case TINA_IO_CONNECT: return connect_run(w, op, o);
    case TINA_IO_RECV: case TINA_IO_RECVFROM: return recv_run(io, op, o);
    case TINA_IO_SEND: case TINA_IO_SENDTO: return send_run(w, io, op, o);
    case TINA_IO_READ: case TINA_IO_WRITE: return file_run(w, io, op, o);
    case TINA_IO_CLOSE: obj_close(w, o); return 0;
    default: return -EINVAL;
    }
}

/* The error an injected fault would give this op, or 0 if it would fail
 * anyway (or cannot fail): a fault always changes an outcome. */
static int32_t fault_of(struct tina__sim_world *w, const struct tina__io_op *op,
                        const struct obj *o) {
    uint16_t port;
    switch (op->op) {
    case TINA_IO_RECV:
        return o->kind == OBJ_STREAM && !o->reset ? -ECONNRESET : 0;
    case TINA_IO_SEND:
        return o->kind == OBJ_STREAM && !o->reset && o->peer != NIL ? -ECONNRESET : 0;
    case TINA_IO_ACCEPT:
        return o->kind == OBJ_LISTENER && o->backlog_count > 0 ? -ECONNABORTED : 0;
    case TINA_IO_CONNECT:
        return o->kind == OBJ_TCP && target_port(op, &port) == 0 && listener_at(w, port)
                   ? -ECONNREFUSED : 0;
    case TINA_IO_READ: case TINA_IO_WRITE:
        return o->kind == OBJ_FILE ? -EIO : 0;
    default:
        return 0;
    }
}

/* The fault happens: what it does to the world besides the op's result. */
static int32_t fault_inject(struct tina__shard *s, struct tina__sim_world *w,
                            const struct tina__io_op *op, struct obj *o, int32_t fault) {
    struct tina__sim *sim = sim_of(s);
    sim->io_errors_injected++;
    if (op->op == TINA_IO_RECV || op->op == TINA_IO_SEND)
        connection_reset(w, o); /* the peer sees -ECONNRESET too */
    else if (op->op == TINA_IO_ACCEPT)
        stream_abort(w, backlog_pop(w, o)); /* aborted before accept(2) took it */
    else if (op->op == TINA_IO_CONNECT && tina__rng_next(sim->io_rng[s->id]) % 2)
        fault = -ETIMEDOUT;
    return fault;
}

/* Decide op i: its result and the round its completion is due. */
static void op_decide(struct tina__shard *s, struct shard_io *sh, uint32_t i) {
    struct tina__sim *sim = sh->sim;
    struct tina__io_op *op = &s->io->ops[i];
    struct rec *r = &sh->recs[i];
    struct obj *o = rec_object(sh->world, r);
    uint64_t due = sim->round;
    if (answered_at_once(op, r) || o == NULL) {
        r->result = -ECANCELED; /* cancelled, orphaned, or closed under it */
    } else {
        int32_t fault = fault_of(sh->world, op, o);
        if (fault != 0 && tina__sim_chance(sim->io_rng[s->id], sim->io_error_per_million))
            r->result = fault_inject(s, sh->world, op, o, fault);
        else
            r->result = op_run(sh->world, s->io, op, o);
        if (sim->io_delay_max > 0)
            due += tina__rng_next(sim->io_rng[s->id]) % ((uint64_t)sim->io_delay_max + 1);
        if (due < o->last_due) due = o->last_due; /* one object's completions stay in order */
        o->last_due = due;
    }
    r->due = due;
    r->where = REC_DECIDED;
    list_push(sh->recs, &sh->decided, i);
}

/* ---- the seam: submit, reap, cancel ------------------------------------------ */

void tina__sim_io_submit(struct tina__shard *s) {
    struct shard_io *sh = shard_io_of(s);
    if (sh == NULL) return;
    struct tina__io *io = s->io;
    uint32_t i = io->queued_head;
    io->queued_head = io->queued_tail = NIL;
    while (i != NIL) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->next;
        struct obj *o = obj_at(sh->world, op->os_fd);
        op->state = TINA__OP_INFLIGHT;
        sh->recs[i] = (struct rec){.obj = o ? obj_index(sh->world, o) : NIL,
                                   .generation = o ? o->generation : 0,
                                   .where = REC_WAITING, .cancelled = op->cancel};
        list_push(sh->recs, &sh->waiting, i);
        i = next;
    }
}

/* A recv takes its reactor buffer as it is decided (io->recv_late), so a
 * recv waiting for data holds none, and one that will read no bytes (end
 * of stream, reset, cancelled) takes none; one that finds every buffer out
 * keeps waiting, starved, and tries again at the next reap.  0: not now. */
static int op_buffer(struct tina__shard *s, struct shard_io *sh, struct rec *r, uint32_t i) {
    struct tina__io_op *op = &s->io->ops[i];
    struct obj *o = rec_object(sh->world, r);
    int reads = (op->op == TINA_IO_RECV || op->op == TINA_IO_RECVFROM) &&
                !answered_at_once(op, r) && o != NULL && queue_used(&o->in) > 0 &&
                !(o->kind == OBJ_STREAM && o->reset);
    if (!reads || tina__io_buf_take(s->io, op) == 0) return 1;
    if (!r->starved) s->io->recv_starved++;
    r->starved = 1;
    return 0;
}

/* Decide every waiting op that can complete now, in submission order. */
static void waiting_decide(struct tina__shard *s, struct shard_io *sh) {
    uint32_t prev = NIL;
    for (uint32_t i = sh->waiting.head; i != NIL;) {
        uint32_t next = sh->recs[i].next;
        if (op_ready(sh->world, s->io, &s->io->ops[i], &sh->recs[i]) && op_buffer(s, sh, &sh->recs[i], i)) {
            list_unlink(sh->recs, &sh->waiting, prev, i);
            op_decide(s, sh, i);
        } else {
            prev = i;
        }
        i = next;
    }
}

uint32_t tina__sim_io_reap(struct tina__shard *s) {
    struct shard_io *sh = shard_io_of(s);
    if (sh == NULL) return 0;
    waiting_decide(s, sh);
    uint32_t prev = NIL, reported = 0;
    for (uint32_t i = sh->decided.head; i != NIL;) {
        uint32_t next = sh->recs[i].next;
        if (sh->recs[i].due <= sh->sim->round) {
            list_unlink(sh->recs, &sh->decided, prev, i);
            sh->recs[i].where = REC_NONE;
            tina__io_done(s->io, i, sh->recs[i].result);
            reported++;
        } else {
            prev = i;
        }
        i = next;
    }
    return reported;
}

/* A waiting op completes with -ECANCELED at the next reap; a decided one
 * keeps its result (it happened). */
void tina__sim_io_cancel(struct tina__shard *s, uint32_t op) {
    struct rec *r = &shard_io_of(s)->recs[op];
    if (r->where == REC_WAITING) r->cancelled = 1;
}

int tina__sim_io_pending(struct tina_runtime *rt) {
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__shard *s = rt->shards[id];
        struct shard_io *sh = shard_io_of(s);
        if (sh == NULL) continue;
        if (sh->decided.head != NIL) return 1;
        for (uint32_t i = sh->waiting.head; i != NIL; i = sh->recs[i].next)
            if (op_ready(sh->world, s->io, &s->io->ops[i], &sh->recs[i])) return 1;
    }
    return 0;
}
