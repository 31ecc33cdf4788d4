/*
 * descriptors.c -- opening descriptors, the set-up calls on them, and
 * handing one over to another isolate.
 *
 * The set-up calls (socket, open, bind, listen, setsockopt, the local
 * port) are synchronous: they go through the platform's io_ctl and never
 * park the isolate.  A failure keeps its errno for tina_io_errno.
 *
 * A handoff (tina_fd_transfer) moves a descriptor with nothing in flight
 * to another isolate: on this shard it is re-installed for the receiver at
 * once and the message names the new handle; across shards the envelope
 * carries the os fd and the receiving shard installs it on arrival (or
 * closes it, counted, if there is no room).  It is user traffic in a
 * system envelope: it takes a user slot and obeys the mailbox bound.
 */
#include <errno.h>
#include <string.h>

#include "shard.h"

static tina_result ctl_run(struct tina__shard *s, struct tina__io_ctl *c, int64_t *out) {
    int64_t r = s->platform->io_ctl(s, c);
    if (r < 0) {
        s->io->last_errno = (int)-r;
        return (r == -EMFILE || r == -ENFILE) ? TINA_EFD_EXHAUSTED : TINA_ESYSTEM;
    }
    if (out) *out = r;
    return TINA_OK;
}

static tina_result fd_open_with(tina_ctx *ctx, struct tina__io_ctl *c, tina_fd *out) {
    struct tina__shard *s = ctx->shard;
    if (out) *out = TINA_FD_NONE;
    if (s->io == NULL) return TINA_EIO_OFF;
    if (out == NULL) return TINA_EINVAL;
    if (s->io->fd_free == TINA__NIL) {
        s->stats.fd_exhausted++;
        return TINA_EFD_EXHAUSTED;
    }
    int64_t os_fd;
    tina_result r = ctl_run(s, c, &os_fd);
    if (r == TINA_EFD_EXHAUSTED) s->stats.fd_exhausted++;
    if (r != TINA_OK) return r;
    *out = tina__fd_install(s, (int32_t)os_fd, ctx->self);
    return TINA_OK;
}

tina_result tina_socket(tina_ctx *ctx, int domain, int type, int protocol, tina_fd *out) {
    struct tina__io_ctl c = {.op = TINA__CTL_SOCKET, .a = domain, .b = type, .c = protocol};
    return fd_open_with(ctx, &c, out);
}

tina_result tina_open(tina_ctx *ctx, const char *path, int flags, uint32_t mode, tina_fd *out) {
    if (path == NULL) return TINA_EINVAL;
    struct tina__io_ctl c = {.op = TINA__CTL_OPEN, .a = flags, .ptr = path, .len = mode};
    return fd_open_with(ctx, &c, out);
}

static tina_result fd_ctl(tina_ctx *ctx, tina_fd fd, struct tina__io_ctl *c, int64_t *out) {
    struct tina__shard *s = ctx->shard;
    if (s->io == NULL) return TINA_EIO_OFF;
    struct tina__fd *e = tina__io_fd_lookup(s->io, fd);
    if (e == NULL) return TINA_EFD_STALE;
    c->os_fd = e->os_fd;
    return ctl_run(s, c, out);
}

tina_result tina_bind(tina_ctx *ctx, tina_fd fd, const void *addr, uint32_t addr_len) {
    if (addr == NULL || addr_len == 0 || addr_len > 128) return TINA_EINVAL;
    struct tina__io_ctl c = {.op = TINA__CTL_BIND, .ptr = addr, .len = addr_len};
    return fd_ctl(ctx, fd, &c, NULL);
}

tina_result tina_listen(tina_ctx *ctx, tina_fd fd, int backlog) {
    struct tina__io_ctl c = {.op = TINA__CTL_LISTEN, .a = backlog};
    return fd_ctl(ctx, fd, &c, NULL);
}

tina_result tina_setsockopt(tina_ctx *ctx, tina_fd fd, int level, int name, const void *value,
                            uint32_t value_len) {
    if (value == NULL || value_len == 0 || value_len > 256) return TINA_EINVAL;
    struct tina__io_ctl c = {.op = TINA__CTL_SETSOCKOPT, .a = level, .b = name, .ptr = value,
                             .len = value_len};
    return fd_ctl(ctx, fd, &c, NULL);
}

uint16_t tina_local_port(tina_ctx *ctx, tina_fd fd) {
    struct tina__io_ctl c = {.op = TINA__CTL_LOCAL_PORT};
    int64_t port = 0;
    return fd_ctl(ctx, fd, &c, &port) == TINA_OK ? (uint16_t)port : 0;
}

int tina_io_errno(const tina_ctx *ctx) {
    return ctx->shard->io ? ctx->shard->io->last_errno : 0;
}

/* ---- handing a descriptor over ---------------------------------------------- */

/* The envelope between shards carries the os fd in place of the handle. */
tina_result tina_fd_transfer(tina_ctx *ctx, tina_fd fd, tina_handle to, uint64_t note) {
    struct tina__shard *s = ctx->shard;
    if (s->io == NULL) return TINA_EIO_OFF;
    struct tina__fd *e = tina__io_fd_lookup(s->io, fd);
    if (e == NULL) return TINA_EFD_STALE;
    if (e->inflight > 0) return TINA_EIO_BUSY;
    tina_result r = tina__handle_valid(s, to);
    if (r != TINA_OK) return r;
    /* Nothing of this shard's may stay armed on it (io_uring's multishot
     * recv): the backend drops it, or says data already came for it. */
    struct tina__io_ctl c = {.op = TINA__CTL_FORGET, .os_fd = e->os_fd,
                             .a = (int)(e - s->io->fds), .b = (int)e->generation};
    if (s->platform->io_ctl(s, &c) == -EBUSY) return TINA_EIO_BUSY;
    tina_fd_transfer_msg body = {.fd = (tina_fd)(uint32_t)e->os_fd, .from = ctx->self, .note = note};
    int local = tina_handle_shard(to) == s->id;
    tina_fd moved = TINA_FD_NONE;
    if (local) { /* install for the receiver now; the message names the new handle */
        moved = tina__fd_install(s, e->os_fd, to);
        if (moved == TINA_FD_NONE) return TINA_EFD_EXHAUSTED;
        body.fd = moved;
    }
    r = tina__transfer_send(s, to, &body, sizeof(body));
    if (r != TINA_OK) {
        if (local) tina__io_fd_release(s->io, tina__io_fd_lookup(s->io, moved));
        return r;
    }
    tina__io_fd_release(s->io, e); /* the os fd lives on: in the receiver's entry or the envelope */
    s->stats.fd_transferred++;
    return TINA_OK;
}

/* A TINA_TAG_TRANSFER envelope arrived from another shard for a live
 * receiver: install its os fd.  Returns the new handle, or 0 (closed and
 * counted) if there is no room. */
tina_fd tina__io_transfer_arrive(struct tina__shard *s, tina_msg *m) {
    tina_fd_transfer_msg body;
    memcpy(&body, m->payload, sizeof(body));
    tina_fd fd = tina__fd_install(s, (int32_t)body.fd, m->to);
    if (fd == TINA_FD_NONE) {
        tina__io_close_os(s, (int32_t)body.fd);
        s->stats.fd_transfer_dropped++;
        return TINA_FD_NONE;
    }
    body.fd = fd;
    memcpy(m->payload, &body, sizeof(body));
    return fd;
}

/* A transfer envelope that will not be delivered: close what it carries. */
void tina__io_transfer_drop(struct tina__shard *s, const tina_msg *m) {
    tina_fd_transfer_msg body;
    memcpy(&body, m->payload, sizeof(body));
    tina__io_close_os(s, (int32_t)body.fd);
    s->stats.fd_transfer_dropped++;
}
