/*
 * io.c -- the shard's side of I/O: the descriptor table, the operation
 * table, the reactor buffer pool, and the io effect's life.
 *
 * An isolate returns an io effect.  effect_io() checks the descriptor
 * handle, takes an operation entry (and a reactor buffer for anything that
 * moves bytes: sends are copied in, receives land there), queues it for
 * the pass's single submission and parks the isolate (state CALLING, flag
 * IO_PARKED, call_timer = the op index, call_corr 0 so no reply matches).
 * The backend -- io_uring or epoll in production (platform_thread.c), the
 * simulated network in sim/ -- hands it to the kernel in io_submit and
 * reports the result through tina__io_complete() in io_reap; that wakes the
 * isolate with a note, and next_message() asks tina__io_deliver() to build
 * the completion message in place (no pool slot: a completion is never
 * refused).  A received buffer is lent for that handler call and taken
 * back at the next io effect applied (its call is over by then) or after
 * the dispatch phase.  A backend with recv_late (epoll, the simulator)
 * takes a recv's buffer only as it tries the syscall, so a recv waiting on
 * a quiet connection holds none; io_uring's multishot recv brings its own
 * (a provided ring).
 *
 * Descriptors are named by generational handles (shard | slot | generation)
 * so a stale handle is TINA_EFD_STALE, never a recycled fd.  Each belongs to
 * an isolate and is closed when that isolate ends.  Teardown with an
 * operation in flight orphans it (owner 0) and asks the backend to cancel;
 * the completion, whenever it comes, is reclaimed and counted (io_dead).
 * The kernel only ever touches reactor buffers, never an isolate's struct,
 * so a dead isolate's successor is never written or read by a late
 * operation.
 *
 * Allocation happens in tina__io_create only (before boot).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define FD_SLOTS_MAX 65536u
#define IO_BUFFERS_MAX 65536u

/* ---- descriptors ------------------------------------------------------- */

static tina_fd fd_handle(const struct tina__shard *s, uint32_t slot, uint32_t generation) {
    return (tina_fd)s->id << 56 | (tina_fd)slot << 32 | generation;
}

static struct tina__fd *fd_lookup(struct tina__shard *s, tina_fd fd) {
    struct tina__io *io = s->io;
    uint32_t slot = (uint32_t)(fd >> 32) & 0xffffffu;
    if (io == NULL || (fd >> 56) != s->id || slot >= io->fd_count) return NULL;
    struct tina__fd *e = &io->fds[slot];
    if (e->os_fd < 0 || e->generation != (uint32_t)fd) return NULL;
    return e;
}

/* The head of an isolate's list of descriptors (so its end closes them
 * without looking at the whole table). */
static uint32_t *owned_head(struct tina__io *io, tina_handle owner) {
    return &io->owned[io->owner_base[tina_handle_type(owner)] + tina_handle_slot(owner)];
}

/* A new descriptor owned by `owner`; 0 if the table is full. */
tina_fd tina__io_fd_install(struct tina__shard *s, int32_t os_fd, tina_handle owner) {
    struct tina__io *io = s->io;
    if (io == NULL || io->fd_free == TINA__NIL) {
        s->stats.fd_exhausted++;
        return TINA_FD_NONE;
    }
    uint32_t slot = io->fd_free;
    struct tina__fd *e = &io->fds[slot];
    io->fd_free = e->next;
    e->os_fd = os_fd;
    e->owner = owner;
    e->inflight = 0;
    uint32_t *head = owned_head(io, owner);
    e->prev = TINA__NIL;
    e->next = *head;
    if (*head != TINA__NIL) io->fds[*head].prev = slot;
    *head = slot;
    io->fds_open++;
    return fd_handle(s, slot, e->generation);
}

/* Forget a descriptor (its os fd is closed or handed on by the caller). */
static void fd_release(struct tina__io *io, struct tina__fd *e) {
    if (e->prev != TINA__NIL) io->fds[e->prev].next = e->next;
    else *owned_head(io, e->owner) = e->next;
    if (e->next != TINA__NIL) io->fds[e->next].prev = e->prev;
    e->os_fd = -1;
    e->owner = 0;
    e->generation = (e->generation + 1) ? e->generation + 1 : 1;
    e->next = io->fd_free;
    io->fd_free = (uint32_t)(e - io->fds);
    io->fds_open--;
}

void tina__io_close_os(struct tina__shard *s, int32_t os_fd) {
    struct tina__io_ctl c = {.op = TINA__CTL_CLOSE, .os_fd = os_fd, .a = -1};
    (void)s->platform->io_ctl(s, &c);
}

/* Close a table entry's os fd (the backend hears which slot it was). */
static void fd_close(struct tina__shard *s, struct tina__fd *e) {
    struct tina__io_ctl c = {.op = TINA__CTL_CLOSE, .os_fd = e->os_fd,
                             .a = (int)(e - s->io->fds), .b = (int)e->generation};
    (void)s->platform->io_ctl(s, &c);
}

/* ---- buffers and operations -------------------------------------------- */

static void buf_put(struct tina__io *io, uint32_t b) {
    TINA_ASSERT_DEBUG(io->buf_top < io->buf_count);
    io->buf_stack[io->buf_top++] = b;
}

static uint32_t op_alloc(struct tina__io *io) {
    uint32_t i = io->op_free;
    if (i != TINA__NIL) io->op_free = io->ops[i].next;
    return i;
}

static void op_free(struct tina__io *io, uint32_t i) {
    struct tina__io_op *op = &io->ops[i];
    if (op->buf != TINA__NIL) buf_put(io, op->buf);
    op->buf = TINA__NIL;
    op->state = TINA__OP_FREE;
    op->next = io->op_free;
    io->op_free = i;
}

static void op_queue(struct tina__io *io, uint32_t i) {
    io->inflight++; /* from here on it completes exactly once, through the backend */
    io->ops[i].state = TINA__OP_QUEUED;
    io->ops[i].next = TINA__NIL;
    if (io->queued_tail == TINA__NIL) io->queued_head = i;
    else io->ops[io->queued_tail].next = i;
    io->queued_tail = i;
}

/* The descriptor entry an op ran on, if it is still the same one. */
static struct tina__fd *op_fd(struct tina__shard *s, const struct tina__io_op *op) {
    struct tina__io *io = s->io;
    uint32_t slot = (uint32_t)(op->fd >> 32) & 0xffffffu;
    if (slot >= io->fd_count || io->fds[slot].generation != (uint32_t)op->fd) return NULL;
    return &io->fds[slot];
}

/* ---- the effect ---------------------------------------------------------- */

static void park(struct tina__slot *slot, uint32_t op) {
    slot->state = TINA__CALLING;
    slot->flags |= TINA__IO_PARKED;
    slot->call_timer = op;
    slot->call_corr = 0;
}

/* Tina answers the op itself: the isolate wakes at once with the result. */
static void op_refuse(struct tina__shard *s, struct tina__type *t, uint32_t i, uint32_t opi,
                      tina_result error, int32_t result) {
    struct tina__io_op *op = &s->io->ops[opi];
    op->state = TINA__OP_DONE;
    op->error = error;
    op->result = result;
    s->stats.io_refused++;
    if (error == TINA_EIO_BUFFERS) s->stats.io_buffers_exhausted++;
    park(&t->slots[i], opi);
    t->slots[i].call_note = TINA__NOTE_IO;
    tina__slot_ready(s, t, i);
}

/* Copy what the kernel will read (data, address) into the op, then take a
 * reactor buffer if it needs one: the user's memory is read before
 * anything is taken, so a bad pointer faults with nothing half-done. */
static tina_result op_fill(struct tina__io *io, struct tina__io_op *op, const tina_effect *e) {
    const void *addr = op->op == TINA_IO_CONNECT ? e->payload
                       : op->op == TINA_IO_SENDTO ? (const void *)(uintptr_t)e->timeout_ns
                                                  : NULL;
    if (addr != NULL || op->op == TINA_IO_CONNECT || op->op == TINA_IO_SENDTO) {
        if (addr == NULL || e->size == 0 || e->size > sizeof(op->addr)) return TINA_EINVAL;
        memcpy(op->addr, addr, e->size);
        op->addr_len = e->size;
    }
    op->offset = e->timeout_ns; /* read/write: the offset; accept..recvfrom: a timeout */
    if (op->op == TINA_IO_RECV && io->recv_provided) { /* the backend brings the buffer */
        op->len = e->reason;
        return TINA_OK;
    }
    if ((op->op == TINA_IO_RECV || op->op == TINA_IO_RECVFROM) && io->recv_late) {
        op->len = e->reason == 0 || e->reason > io->buf_bytes ? io->buf_bytes : e->reason;
        return TINA_OK; /* the backend takes a buffer when it tries the syscall */
    }
    switch (op->op) {
    case TINA_IO_RECV: case TINA_IO_READ: case TINA_IO_RECVFROM:
    case TINA_IO_SEND: case TINA_IO_WRITE: case TINA_IO_SENDTO:
        if (io->buf_top == 0) return TINA_EIO_BUFFERS;
        op->len = e->reason == 0 || e->reason > io->buf_bytes ? io->buf_bytes : e->reason;
        if (op->op == TINA_IO_SEND || op->op == TINA_IO_WRITE || op->op == TINA_IO_SENDTO) {
            if (e->reason == 0) op->len = 0;
            else if (e->payload == NULL) return TINA_EINVAL;
            else /* memmove: the data may be a loan that just came back, the very buffer */
                memmove(tina__io_buf(io, io->buf_stack[io->buf_top - 1]), e->payload, op->len);
        }
        op->buf = io->buf_stack[--io->buf_top];
        break;
    default:
        break;
    }
    return TINA_OK;
}

void tina__io_effect(struct tina__shard *s, struct tina__type *t, uint32_t i,
                     const tina_effect *e) {
    struct tina__io *io = s->io;
    struct tina__slot *slot = &t->slots[i];
    if (TINA__UNLIKELY(slot->flags & TINA__SHUTDOWN) && e->tag != TINA_IO_CLOSE) {
        /* Its shutdown notice is pending (a cancel just woke it): the op is
         * not started and the notice comes next, so re-arming an accept
         * cannot keep a shutdown waiting. */
        s->stats.io_cancelled++;
        tina__slot_ready(s, t, i);
        return;
    }
    if (io == NULL) { /* I/O off */
        slot->call_note = TINA__NOTE_FAILED(TINA_EIO_OFF);
        tina__slot_ready(s, t, i);
        s->stats.io_refused++;
        return;
    }
    /* Every loan's handler call is over (this effect is the return of the
     * last): the buffers go back now, so a conn that echoes what it was
     * lent needs one buffer, not two. */
    while (io->loaned_count > 0) buf_put(io, io->loaned[--io->loaned_count]);
    /* Checked and filled aside first: a bad user pointer faults in op_fill
     * (the trap boundary crashes the isolate) before any entry is taken. */
    struct tina__io_op local = {.owner = s->ctx.self, .fd = e->to, .op = (uint8_t)e->tag,
                                .buf = TINA__NIL, .os_fd = -1, .timer = TINA__NIL};
    struct tina__fd *fd = e->tag < TINA_IO_OP_COUNT ? fd_lookup(s, e->to) : NULL;
    tina_result r = fd != NULL ? op_fill(io, &local, e)
                               : e->tag < TINA_IO_OP_COUNT ? TINA_EFD_STALE : TINA_EINVAL;
    uint32_t opi = op_alloc(io);
    if (opi == TINA__NIL) { /* every op entry in use */
        if (local.buf != TINA__NIL) buf_put(io, local.buf);
        slot->call_note = TINA__NOTE_FAILED(TINA_EIO_BUFFERS);
        tina__slot_ready(s, t, i);
        s->stats.io_refused++;
        return;
    }
    struct tina__io_op *op = &io->ops[opi];
    *op = local;
    if (r != TINA_OK) {
        op_refuse(s, t, i, opi, r, r == TINA_EFD_STALE ? -EBADF : r == TINA_EIO_BUFFERS ? -ENOBUFS : -EINVAL);
        return;
    }
    op->os_fd = fd->os_fd;
    op->timer = TINA__NIL;
    if (op->offset != 0 && op->op != TINA_IO_READ && op->op != TINA_IO_WRITE &&
        op->op != TINA_IO_SENDTO) { /* tina_io_timeout: the field is a deadline */
        op->timer = tina__timer_add(s, slot, s->ctx.self, op->offset, 0, 0, TINA__TIMER_IO, opi);
        if (op->timer == TINA__NIL) {
            op_refuse(s, t, i, opi, TINA_ETIMER_EXHAUSTED, -ENOMEM);
            return;
        }
        op->offset = 0;
    }
    if (op->op == TINA_IO_CLOSE) fd_release(io, fd); /* stale from now on; the os fd closes async */
    else fd->inflight++;
    op_queue(io, opi);
    park(slot, opi);
    s->stats.io_submitted++;
}

/* An op's timeout fired (timer.c; the entry is already free). */
void tina__io_timeout(struct tina__shard *s, uint32_t opi) {
    struct tina__io_op *op = &s->io->ops[opi];
    op->timer = TINA__NIL;
    op->timed_out = 1;
    s->stats.io_timeouts++;
    if (op->state == TINA__OP_INFLIGHT && !op->cancel) {
        op->cancel = 1;
        s->platform->io_cancel(s, opi);
    }
}

/* The op completed before its timeout: the timer goes. */
static void op_timer_cancel(struct tina__shard *s, struct tina__slot *slot, struct tina__io_op *op) {
    if (op->timer == TINA__NIL) return;
    (void)tina__timer_cancel(s, slot, op->owner, op->timer, s->wheel.timers[op->timer].generation);
    op->timer = TINA__NIL;
}

/* ---- completion ---------------------------------------------------------- */

/* An op nobody waits for any more: give back what it holds. */
static void op_reclaim(struct tina__shard *s, uint32_t opi) {
    struct tina__io_op *op = &s->io->ops[opi];
    if (op->op == TINA_IO_ACCEPT && op->error == TINA_OK && op->result >= 0)
        tina__io_close_os(s, op->result);
    op_free(s->io, opi);
}

void tina__io_complete(struct tina__shard *s, uint32_t opi, int32_t result) {
    struct tina__io *io = s->io;
    struct tina__io_op *op = &io->ops[opi];
    TINA_ASSERT(op->state == TINA__OP_INFLIGHT || op->state == TINA__OP_QUEUED);
    op->state = TINA__OP_DONE;
    op->result = result;
    io->inflight -= 1;
    struct tina__fd *fd = op->op == TINA_IO_CLOSE ? NULL : op_fd(s, op);
    if (fd != NULL && fd->inflight > 0) fd->inflight--;
    if (op->owner == 0) { /* its isolate ended: reclaim */
        s->stats.io_dead++;
        op_reclaim(s, opi);
        return;
    }
    struct tina__type *t = &s->types[tina_handle_type(op->owner)];
    uint32_t i = tina_handle_slot(op->owner);
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT(slot->generation == tina_handle_generation(op->owner) &&
                (slot->flags & TINA__IO_PARKED) && slot->call_timer == opi);
    op_timer_cancel(s, slot, op);
    if (op->timed_out && result == -ECANCELED) op->result = -ETIMEDOUT;
    slot->call_note = TINA__NOTE_IO;
    tina__slot_ready(s, t, i);
}

/* Build the completion message for the isolate parked on slot. */
void tina__io_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *m) {
    struct tina__io *io = s->io;
    uint32_t opi = slot->call_timer;
    struct tina__io_op *op = &io->ops[opi];
    tina_io_done done = {.result = op->result, .error = op->error, .fd = op->fd, .op = op->op};
    if (op->error == TINA_OK && op->result >= 0) {
        if (op->op == TINA_IO_ACCEPT) {
            done.fd = tina__io_fd_install(s, op->result, m->to);
            done.result = 0;
            if (done.fd == TINA_FD_NONE) {
                tina__io_close_os(s, op->result);
                done.result = -ENFILE;
                done.error = TINA_EFD_EXHAUSTED;
            }
        } else if (op->data != NULL && op->result > 0) { /* the backend's buffer */
            done.data = op->data;
        } else if ((op->op == TINA_IO_RECV || op->op == TINA_IO_READ ||
                    op->op == TINA_IO_RECVFROM) && op->result > 0) {
            done.data = tina__io_buf(io, op->buf);
            io->loaned[io->loaned_count++] = op->buf; /* back at the next io effect or
                                                         after the dispatch phase */
            op->buf = TINA__NIL;
        }
        if (op->op == TINA_IO_ACCEPT || op->op == TINA_IO_RECVFROM) {
            done.addr_len = op->msg_addr_len < sizeof(done.addr) ? op->msg_addr_len
                                                                 : (uint32_t)sizeof(done.addr);
            memcpy(done.addr, op->addr, done.addr_len);
        }
    }
    if (done.result < 0) s->stats.io_failed++;
    s->stats.io_completed++;
    op_free(io, opi);
    slot->flags &= (uint8_t)~TINA__IO_PARKED;
    slot->call_timer = TINA__NIL;
    slot->call_note = TINA__NIL;
    m->tag = TINA_TAG_IO(done.op);
    m->size = sizeof(done);
    memcpy(m->payload, &done, sizeof(done));
}

void tina__io_after_dispatch(struct tina__shard *s) {
    struct tina__io *io = s->io;
    while (io->loaned_count > 0) buf_put(io, io->loaned[--io->loaned_count]);
}

/* ---- teardown and shutdown ------------------------------------------------ */

/* Another isolate's ops on a descriptor about to close: cancel them, so
 * they end with -ECANCELED instead of waiting on a dead socket.  Rare (a
 * descriptor shared by two isolates), so a scan is fine. */
static void fd_cancel_all(struct tina__shard *s, tina_fd fd) {
    struct tina__io *io = s->io;
    for (uint32_t k = 0; k < io->op_count; k++) {
        struct tina__io_op *op = &io->ops[k];
        if (op->state == TINA__OP_INFLIGHT && op->fd == fd && !op->cancel && op->op != TINA_IO_CLOSE) {
            op->cancel = 1;
            s->stats.io_cancelled++;
            s->platform->io_cancel(s, k);
        }
    }
}

void tina__io_isolate_exit(struct tina__shard *s, struct tina__slot *slot, tina_handle h) {
    struct tina__io *io = s->io;
    if (slot->flags & TINA__IO_PARKED) {
        uint32_t opi = slot->call_timer;
        struct tina__io_op *op = &io->ops[opi];
        if (op->state == TINA__OP_DONE) { /* completed, not delivered */
            op_reclaim(s, opi);
        } else {
            op->timer = TINA__NIL; /* teardown cancels the slot's timers, this one too */
            op->owner = 0;         /* completes later, reclaimed then */
            s->stats.io_cancelled++;
            if (op->state == TINA__OP_INFLIGHT && !op->cancel) {
                op->cancel = 1;
                s->platform->io_cancel(s, opi);
            }
        }
        slot->flags &= (uint8_t)~TINA__IO_PARKED;
        slot->call_timer = TINA__NIL;
    }
    uint32_t *head = owned_head(io, h);
    while (*head != TINA__NIL) { /* its descriptors, and only those */
        struct tina__fd *e = &io->fds[*head];
        TINA_ASSERT(e->owner == h && e->os_fd >= 0);
        if (e->inflight > 0) fd_cancel_all(s, fd_handle(s, *head, e->generation));
        fd_close(s, e);
        fd_release(io, e); /* unlinks it: *head moves on */
    }
}

/* A graceful shutdown reaches an isolate parked on I/O: cancel the op so
 * it wakes (-ECANCELED) and gets its notice. */
void tina__io_shutdown(struct tina__shard *s, struct tina__slot *slot) {
    struct tina__io_op *op = &s->io->ops[slot->call_timer];
    if (op->state == TINA__OP_INFLIGHT && !op->cancel) {
        op->cancel = 1;
        s->stats.io_cancelled++;
        s->platform->io_cancel(s, slot->call_timer);
    }
}

/* ---- set-up calls through the context -------------------------------------- */

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
    *out = tina__io_fd_install(s, (int32_t)os_fd, ctx->self);
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
    struct tina__fd *e = fd_lookup(s, fd);
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
    struct tina__fd *e = fd_lookup(s, fd);
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
        moved = tina__io_fd_install(s, e->os_fd, to);
        if (moved == TINA_FD_NONE) return TINA_EFD_EXHAUSTED;
        body.fd = moved;
    }
    r = tina__transfer_send(s, to, &body, sizeof(body));
    if (r != TINA_OK) {
        if (local) fd_release(s->io, fd_lookup(s, moved));
        return r;
    }
    fd_release(s->io, e); /* the os fd lives on: in the receiver's entry or the envelope */
    s->stats.fd_transferred++;
    return TINA_OK;
}

/* A TINA_TAG_TRANSFER envelope arrived from another shard for a live
 * receiver: install its os fd.  Returns the new handle, or 0 (closed and
 * counted) if there is no room. */
tina_fd tina__io_transfer_arrive(struct tina__shard *s, tina_msg *m) {
    tina_fd_transfer_msg body;
    memcpy(&body, m->payload, sizeof(body));
    tina_fd fd = tina__io_fd_install(s, (int32_t)body.fd, m->to);
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

/* ---- create and destroy ------------------------------------------------------ */

/* What tina__io_create and a backend take for one shard, for the boot
 * report's memory figure (spec with defaults resolved). */
uint64_t tina__io_bytes(const tina_spec *spec) {
    if (spec->fd_slots == 0) return 0;
    uint64_t bufs = spec->io_buffers, fds = spec->fd_slots, ops = bufs + fds;
    uint64_t provided = 8;
    while (provided * 2 <= bufs && provided * 2 <= 4096) provided *= 2;
    uint64_t isolates = 0;
    for (uint32_t t = 0; t < spec->type_count; t++) isolates += spec->types[t].slots_per_shard;
    return isolates * sizeof(uint32_t) + /* each isolate's list of descriptors */
           fds * (sizeof(struct tina__fd) + 64) /* + a backend's per-descriptor state */ +
           ops * (sizeof(struct tina__io_op) + 96) /* + msghdr, iovec */ + bufs * 8 +
           (bufs + provided) * spec->io_buffer_bytes; /* reactor and provided buffers */
}

int tina__io_create(struct tina__shard *s, const tina_spec *spec) {
    s->io = NULL;
    if (spec->fd_slots == 0) return 0;
    struct tina__io *io = calloc(1, sizeof(*io));
    if (io == NULL) return -ENOMEM;
    s->io = io;
    io->fd_count = spec->fd_slots;
    io->buf_count = spec->io_buffers;
    io->buf_bytes = spec->io_buffer_bytes;
    io->op_count = io->buf_count + io->fd_count;
    io->fds = calloc(io->fd_count, sizeof(*io->fds));
    io->ops = calloc(io->op_count, sizeof(*io->ops));
    io->buf_stack = calloc(io->buf_count, sizeof(uint32_t));
    io->loaned = calloc(io->buf_count, sizeof(uint32_t));
    uint32_t isolates = 0;
    for (uint32_t t = 0; t < s->type_count; t++) {
        io->owner_base[t] = isolates;
        isolates += s->types[t].capacity;
    }
    io->owned = malloc((size_t)isolates * sizeof(uint32_t));
    size_t bytes = (size_t)io->buf_count * io->buf_bytes;
    io->bufs = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                    -1, 0);
    if (io->bufs == MAP_FAILED) io->bufs = NULL;
    if (!io->fds || !io->ops || !io->buf_stack || !io->loaned || !io->owned || !io->bufs)
        return -ENOMEM;
    for (uint32_t k = 0; k < isolates; k++) io->owned[k] = TINA__NIL;
    for (uint32_t k = 0; k < io->fd_count; k++)
        io->fds[k] = (struct tina__fd){.os_fd = -1, .generation = 1, .next = k + 1};
    io->fds[io->fd_count - 1].next = TINA__NIL;
    for (uint32_t k = 0; k < io->op_count; k++) io->ops[k].next = k + 1;
    io->ops[io->op_count - 1].next = TINA__NIL;
    for (uint32_t k = 0; k < io->buf_count; k++) io->buf_stack[k] = io->buf_count - 1 - k;
    io->buf_top = io->buf_count;
    io->queued_head = io->queued_tail = TINA__NIL;
    return 0;
}

void tina__io_destroy(struct tina__shard *s) {
    struct tina__io *io = s->io;
    if (io == NULL) return;
    for (uint32_t k = 0; io->fds && k < io->fd_count; k++)
        if (io->fds[k].os_fd >= 0) fd_close(s, &io->fds[k]);
    if (io->backend != NULL) s->platform->io_teardown(s);
    if (io->bufs) munmap(io->bufs, (size_t)io->buf_count * io->buf_bytes);
    free(io->fds);
    free(io->ops);
    free(io->buf_stack);
    free(io->loaned);
    free(io->owned);
    free(io);
    s->io = NULL;
}
