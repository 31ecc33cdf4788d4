/*
 * serve.c -- a TCP server's accepting half, ready made: one isolate type
 * placed on every shard; one listening socket and connections dealt out,
 * or (reuseport) one listening socket per shard, each accepting for itself.
 *
 * This file is a user of Tina, not a part of its core: it includes tina.h
 * and system headers only, and does nothing an application could not do
 * with the public calls.  It exists because every TCP server written on
 * Tina needs the same fifty lines, and the examples (echo, http) had them
 * twice.
 *
 *   shard 0   acceptor: socket, SO_REUSEADDR, bind, listen; then accept, accept, ...
 *               |  each connection to the next shard in turn, shard 0 included
 *               |  (tina_fd_transfer to that shard's instance; shard 0: no hop)
 *               v
 *   shard k   instance: tina_spawn(conn_type_id), tina_fd_transfer(fd, conn)
 *               v
 *             conn: TINA_TAG_TRANSFER (note 0), then recv/send/close as it likes
 *
 * The instance on shard 0 is the acceptor: it owns the listener, and an
 * accept is in flight whenever it is not handling a message, so it never
 * takes mail meant for a connection.  It spawns shard 0's connections
 * itself; the instances on the other shards spawn theirs when a descriptor
 * arrives.  A shard whose instance refuses the handoff (mailbox or channel
 * full) is passed over for the next; a connection nobody takes is closed.
 *
 * What the application learns comes back as data, never through a
 * callback: the port, the listen result and the counters in its tina_serve
 * (each field written by one shard only; the port with a release store,
 * read with tina_serve_port), and one report message to a static child of
 * its choice once the acceptor listens or has failed to.  A failure ends
 * the acceptor cleanly (tina_done, not a crash); whether the runtime should
 * stop is the application's call.
 *
 * With reuseport set, shard 0's acceptor opens its socket with
 * SO_REUSEPORT too, and once it listens sends each other shard's instance
 * a kick; an instance kicked (or started, or restarted, when the port is
 * already known) opens its own socket with SO_REUSEPORT on the same port
 * and from then on accepts and starts connections on its own shard, just
 * as shard 0 does; the kernel spreads the connections over the listeners.
 *
 *   shard 0   socket, SO_REUSEPORT, bind, listen --kick--> shard k
 *             accept -> conn here                          socket, SO_REUSEPORT,
 *                                                          bind the same port, listen
 *                                                          accept -> conn here
 *
 * Where a bad setting is caught: everything that can be is caught by
 * tina_serve_check before boot (TINA_EINVAL, TINA_EIO_OFF), which also
 * parses the host once; an acceptor whose tina_serve was never checked
 * refuses to listen (TINA_ESTATE) rather than guess.  Only a child not made
 * by tina_serve_child -- args that are not a tina_serve pointer, so nowhere
 * to write a result -- fails its init, with the result negated as reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tina.h"

#define ACCEPTOR_SHARD 0u
#define BACKLOG_DEFAULT 4096u
#define HOST_DEFAULT "127.0.0.1"
/* A listener's first message: shard 0's to itself; with reuseport also
 * shard 0's to every other shard's instance (the port is known), and such
 * an instance's to itself. */
#define KICK_TAG ((uint16_t)TINA_TAG_USER)

/* One instance per shard.  The listener's fields are used on shard 0, and
 * with reuseport on every shard; the report's and the deal's on shard 0. */
typedef struct instance {
    tina_serve *serve;   /* the application's, from the static child's args */
    tina_fd listener;    /* the listening socket */
    uint32_t listening;  /* non-zero once listen succeeded */
    uint32_t reported;   /* shard 0: the report went out (or was not asked for) */
    uint32_t next_shard; /* shard 0, handoff: where the next connection goes */
} instance;

static tina_effect instance_handle(void *self, tina_ctx *ctx, const tina_msg *msg);
static uint32_t instance_init(void *self, tina_ctx *ctx, const void *args, size_t size);

/* ---- setting up ---------------------------------------------------------- */

static int host_parse(const char *host, uint32_t *address) {
    struct in_addr a;
    if (inet_pton(AF_INET, host ? host : HOST_DEFAULT, &a) != 1) return 0;
    *address = a.s_addr;
    return 1;
}

tina_type_spec tina_serve_type(void) {
    tina_type_spec t;
    memset(&t, 0, sizeof(t));
    t.name = "acceptor";
    t.struct_size = sizeof(instance);
    t.slots_per_shard = 1;
    t.mailbox_capacity = 4096; /* handoffs queue here when a shard is busy */
    t.init = instance_init;
    t.handler = instance_handle;
    return t;
}

tina_child_spec tina_serve_child(tina_serve *serve, uint32_t type_id) {
    tina_child_spec c;
    memset(&c, 0, sizeof(c));
    if (serve) serve->self = serve;
    c.type_id = type_id;
    c.shard = TINA_SHARD_EVERY;
    c.restart = TINA_RESTART_TRANSIENT;
    c.args = serve ? (const void *)&serve->self : NULL;
    c.args_size = sizeof(tina_serve *);
    return c;
}

/* The one child whose args are this serve's pointer; UINT32_MAX if none or
 * several. */
static uint32_t serve_child_find(const tina_serve *serve, const tina_spec *spec) {
    uint32_t found = UINT32_MAX, count = 0;
    for (uint32_t c = 0; c < spec->child_count; c++) {
        if (spec->children[c].args != (const void *)&serve->self) continue;
        found = c;
        count++;
    }
    return count == 1 ? found : UINT32_MAX;
}

static int type_is_serve(const tina_spec *spec, uint32_t type_id) {
    return type_id < spec->type_count && spec->types[type_id].handler == instance_handle;
}

/* Why the settings do not fit the spec, or NULL; on the way, host is
 * parsed into serve->address and the service's child found. */
static const char *settings_wrong(tina_serve *serve, const tina_spec *spec, uint32_t *child) {
    if (!host_parse(serve->host, &serve->address)) return "host is not a dotted IPv4 address";
    if (serve->port > 65535) return "port is over 65535";
    if (serve->backlog > INT_MAX) return "backlog is over INT_MAX";
    if (spec->types == NULL || (spec->children == NULL && spec->child_count > 0))
        return "the spec has no types or no children array";
    *child = serve_child_find(serve, spec);
    if (*child == UINT32_MAX) return "not one static child made by tina_serve_child(serve)";
    const tina_child_spec *c = &spec->children[*child];
    if (!type_is_serve(spec, c->type_id)) return "its child's type is not tina_serve_type()";
    if (c->shard != TINA_SHARD_EVERY) return "its child is not on TINA_SHARD_EVERY";
    if (serve->conn_type_id >= spec->type_count) return "conn_type_id is not a type of the spec";
    if (type_is_serve(spec, serve->conn_type_id)) return "conn_type_id is the service's own type";
    if (serve->report_tag == 0) return NULL;
    if (serve->report_tag < TINA_TAG_USER || serve->report_tag > 0xffffu)
        return "report_tag is not a user tag";
    if (serve->report_child >= spec->child_count) return "report_child is not a static child";
    uint32_t shard = spec->children[serve->report_child].shard;
    if (shard != ACCEPTOR_SHARD && shard != TINA_SHARD_EVERY)
        return "report_child is not on shard 0 or on every shard";
    return NULL;
}

/* A fresh run: no port, no result, no counts. */
static void serve_zero_outcome(tina_serve *serve) {
    serve->bound_port = 0;
    serve->result = TINA_OK;
    serve->error = 0;
    serve->listeners = 0;
    serve->accepted = serve->handed = serve->refused = 0;
    memset(serve->served, 0, sizeof(serve->served));
    memset(serve->dropped, 0, sizeof(serve->dropped));
}

tina_result tina_serve_check(tina_serve *serve, const tina_spec *spec, tina_boot_report *report) {
    if (report) memset(report, 0, sizeof(*report));
    if (serve == NULL || spec == NULL) {
        if (report) snprintf(report->message, sizeof(report->message), "serve: a NULL argument");
        return TINA_EINVAL;
    }
    serve->checked = 0;
    uint32_t child = UINT32_MAX;
    const char *why = settings_wrong(serve, spec, &child);
    tina_result r = TINA_EINVAL;
    if (why == NULL && spec->fd_slots == 0) {
        why = "the spec's fd_slots is 0: I/O is off";
        r = TINA_EIO_OFF;
    }
    if (why != NULL) {
        if (report) snprintf(report->message, sizeof(report->message), "serve: %s", why);
        return r;
    }
    serve->child_index = child;
    serve->self = serve;
    serve_zero_outcome(serve);
    serve->checked = 1;
    return TINA_OK;
}

uint16_t tina_serve_port(const tina_serve *serve) {
    return serve ? (uint16_t)__atomic_load_n(&serve->bound_port, __ATOMIC_ACQUIRE) : 0;
}

/* ---- the acceptor: shard 0 ------------------------------------------------ */

/* Socket, SO_REUSEADDR (and SO_REUSEPORT with reuseport), bind, listen;
 * listeners counts it. */
static tina_result listener_open(instance *a, tina_ctx *ctx, uint32_t port) {
    tina_serve *serve = a->serve;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = serve->address;
    int one = 1, backlog = serve->backlog ? (int)serve->backlog : (int)BACKLOG_DEFAULT;
    tina_result r = tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &a->listener);
    if (r == TINA_OK)
        r = tina_setsockopt(ctx, a->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (r == TINA_OK && serve->reuseport)
        r = tina_setsockopt(ctx, a->listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (r == TINA_OK) r = tina_bind(ctx, a->listener, &addr, sizeof(addr));
    if (r == TINA_OK) r = tina_listen(ctx, a->listener, backlog);
    a->listening = r == TINA_OK;
    if (a->listening) __atomic_fetch_add(&serve->listeners, 1, __ATOMIC_RELEASE);
    return r;
}

/* Listen (unless the settings were never checked) and write down the
 * outcome: result and error first, then the port with a release store,
 * which is what a thread waiting in tina_serve_port acquires. */
static void acceptor_listen(instance *a, tina_ctx *ctx) {
    tina_serve *serve = a->serve;
    /* A restart binds the port it got the first time, so that a port the
     * kernel picked stays the service's. */
    uint32_t want = serve->port ? serve->port : tina_serve_port(serve);
    tina_result r = serve->checked ? listener_open(a, ctx, want) : TINA_ESTATE;
    uint16_t port = r == TINA_OK ? tina_local_port(ctx, a->listener) : 0;
    if (r == TINA_OK && port == 0) r = TINA_ESYSTEM;
    serve->result = r;
    serve->error = r == TINA_ESYSTEM ? tina_io_errno(ctx) : 0;
    a->listening = r == TINA_OK;
    __atomic_store_n(&serve->bound_port, port, __ATOMIC_RELEASE);
}

static void failure_log(const tina_serve *serve, tina_ctx *ctx) {
    char host[INET_ADDRSTRLEN] = "?";
    struct in_addr address = {.s_addr = serve->address};
    (void)inet_ntop(AF_INET, &address, host, sizeof(host));
    tina_log(ctx, TINA_LOG_WARN, "cannot listen on %s:%u: %s (%s)", host, serve->port,
             tina_result_name(serve->result), strerror(serve->error));
}

/* Tell the application, once: a message to its report child, or without
 * one a log line if listening failed. */
static void acceptor_report(instance *a, tina_ctx *ctx) {
    tina_serve *serve = a->serve;
    a->reported = 1;
    if (serve->report_tag == 0) {
        if (!a->listening) failure_log(serve, ctx);
        return;
    }
    tina_serve_report report = {.result = serve->result, .error = serve->error,
                                .port = tina_serve_port(serve)};
    tina_handle to = tina_child_handle(ctx, serve->report_child, tina_shard_id(ctx));
    tina_result r = tina_send(ctx, to, (uint16_t)serve->report_tag, &report, sizeof(report));
    if (r != TINA_OK)
        tina_log(ctx, TINA_LOG_WARN, "report to child %u not sent: %s", serve->report_child,
                 tina_result_name(r));
}

/* Reuseport: the port is known now; every other shard's instance opens
 * its own listener on it. */
static void peers_kick(instance *a, tina_ctx *ctx) {
    tina_serve *serve = a->serve;
    for (uint32_t shard = 0; shard < tina_shard_count(ctx); shard++) {
        if (shard == ACCEPTOR_SHARD) continue;
        tina_handle peer = tina_child_handle(ctx, serve->child_index, shard);
        tina_result r = tina_send(ctx, peer, KICK_TAG, NULL, 0);
        if (r != TINA_OK)
            tina_log(ctx, TINA_LOG_WARN, "shard %u not told to listen: %s", shard,
                     tina_result_name(r));
    }
}

/* ---- every shard's own listener (reuseport) ------------------------------- */

/* Listen on the port shard 0 got, beside it.  Returns 1 if listening. */
static int peer_listen(instance *in, tina_ctx *ctx) {
    tina_serve *serve = in->serve;
    uint32_t port = tina_serve_port(serve);
    if (!serve->checked || port == 0) return 0; /* shard 0 kicks us once it listens */
    tina_result r = listener_open(in, ctx, port);
    if (r != TINA_OK)
        tina_log(ctx, TINA_LOG_WARN, "shard %u cannot listen on port %u too: %s (%s)",
                 tina_shard_id(ctx), port, tina_result_name(r),
                 r == TINA_ESYSTEM ? strerror(tina_io_errno(ctx)) : "-");
    return in->listening;
}

/* ---- dealing connections -------------------------------------------------- */

/* Spawn the connection's isolate on this shard and hand it the descriptor.
 * On failure the descriptor is still ours, for the caller to close. */
static tina_result conn_start(tina_serve *serve, tina_ctx *ctx, tina_fd fd) {
    uint32_t shard = tina_shard_id(ctx) % TINA_SHARD_COUNT_MAX;
    tina_handle conn;
    tina_result r = tina_spawn(ctx, serve->conn_type_id, NULL, 0, &conn);
    if (r == TINA_OK) r = tina_fd_transfer(ctx, fd, conn, 0);
    if (r != TINA_OK) {
        tina_log(ctx, TINA_LOG_WARN, "no room for a connection (%s): closing it",
                 tina_result_name(r));
        serve->dropped[shard]++;
        return r;
    }
    serve->served[shard]++;
    return TINA_OK;
}

/* Round-robin over the shards, this one included; a shard whose instance
 * refuses the handoff is passed over for the next.  Returns 1 if the
 * descriptor left us, 0 if the caller must close it. */
static int acceptor_deal(instance *a, tina_ctx *ctx, tina_fd fd) {
    tina_serve *serve = a->serve;
    uint32_t shards = tina_shard_count(ctx), here = tina_shard_id(ctx);
    for (uint32_t tries = 0; tries < shards; tries++) {
        uint32_t shard = a->next_shard++ % shards;
        if (shard == here) {
            serve->handed++;
            return conn_start(serve, ctx, fd) == TINA_OK;
        }
        tina_handle peer = tina_child_handle(ctx, serve->child_index, shard);
        if (tina_fd_transfer(ctx, fd, peer, 0) == TINA_OK) {
            serve->handed++;
            return 1;
        }
    }
    serve->refused++;
    return 0;
}

/* A connection accepted here: dealt round-robin (handoff), or started on
 * this shard (reuseport).  Returns 1 if the descriptor left us. */
static int connection_take(instance *in, tina_ctx *ctx, tina_fd fd) {
    tina_serve *serve = in->serve;
    if (!serve->reuseport) {
        serve->accepted++;
        return acceptor_deal(in, ctx, fd);
    }
    __atomic_fetch_add(&serve->accepted, 1, __ATOMIC_RELAXED); /* every shard adds */
    return conn_start(serve, ctx, fd) == TINA_OK;
}

/* A listening instance: every message but the shutdown notice ends in the
 * next accept -- a kick, an accept's completion, the completion of a
 * close.  (An accept is in flight whenever no message is being handled,
 * so a second kick waits in the mailbox, unread and harmless.) */
static tina_effect listener_handle(instance *in, tina_ctx *ctx, const tina_msg *msg) {
    if (msg->tag == TINA_TAG_IO(TINA_IO_ACCEPT)) {
        tina_io_done d;
        memcpy(&d, msg->payload, sizeof(d));
        if (d.result == -ECANCELED) return tina_receive(); /* shutdown: the notice follows */
        if (d.result == 0 && !connection_take(in, ctx, d.fd))
            return tina_io_close(d.fd); /* then accept */
    }
    if (tina_shutting_down(ctx)) return tina_receive();
    return tina_io_accept(in->listener);
}

/* Shard 0: the report first, and with reuseport the other shards' kicks. */
static tina_effect acceptor_handle(instance *a, tina_ctx *ctx, const tina_msg *msg) {
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* the listener closes with us */
    if (!a->reported) {
        acceptor_report(a, ctx);
        if (a->listening && a->serve->reuseport) peers_kick(a, ctx);
    }
    if (!a->listening) return tina_done();
    return listener_handle(a, ctx, msg);
}

/* Another shard's instance with reuseport: it waits for the port (a kick),
 * listens, then accepts as shard 0 does. */
static tina_effect peer_handle(instance *in, tina_ctx *ctx, const tina_msg *msg) {
    if (msg->tag == TINA_TAG_SHUTDOWN) return tina_done(); /* the listener closes with us */
    if (!in->listening) {
        if (msg->tag != KICK_TAG) return tina_receive();
        if (!peer_listen(in, ctx)) return tina_done(); /* logged */
    }
    return listener_handle(in, ctx, msg);
}

/* ---- every other shard ------------------------------------------------------ */

/* A descriptor dealt to this shard becomes a connection isolate.  At
 * shutdown the instance goes on draining its mailbox, so what was dealt
 * before still gets its isolate, and it ends once the mailbox is empty. */
static tina_effect instance_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    instance *in = self;
    if (tina_shard_id(ctx) == ACCEPTOR_SHARD) return acceptor_handle(in, ctx, msg);
    if (in->serve->reuseport) return peer_handle(in, ctx, msg);
    if (msg->tag != TINA_TAG_TRANSFER) return tina_receive(); /* a close's completion too */
    tina_fd_transfer_msg t;
    memcpy(&t, msg->payload, sizeof(t));
    if (conn_start(in->serve, ctx, t.fd) != TINA_OK) return tina_io_close(t.fd);
    return tina_receive();
}

static uint32_t instance_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    instance *in = self;
    if (args == NULL || size != sizeof(tina_serve *)) return (uint32_t)-TINA_EINVAL;
    memcpy(&in->serve, args, sizeof(in->serve));
    if (in->serve == NULL) return (uint32_t)-TINA_EINVAL;
    if (tina_shard_id(ctx) != ACCEPTOR_SHARD) {
        /* Reuseport, the port already known (shard 0 was first, or this is
         * a restart): no need to wait for shard 0's kick. */
        if (!in->serve->reuseport || tina_serve_port(in->serve) == 0) return 0;
    } else {
        acceptor_listen(in, ctx);
    }
    /* The report and the first accept go out from the handler: by then
     * every static child of the shard has started. */
    tina_result r = tina_send(ctx, tina_self(ctx), KICK_TAG, NULL, 0);
    return r == TINA_OK ? 0 : (uint32_t)-r;
}
