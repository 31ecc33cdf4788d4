/*
 * io.c -- I/O as the shard does it: the io effect, its completion, and
 * what an isolate's end or a shutdown does to its operations.  (The tables
 * are tina/io.c; opening and handing over descriptors is descriptors.c.)
 *
 * An isolate returns an io effect.  tina__io_effect checks the descriptor
 * handle, takes an operation entry (and a reactor buffer for anything that
 * moves bytes: sends are copied in, receives land there), queues it for
 * the pass's single submission and parks the isolate (state CALLING, call
 * IO with call_note = the op index, call_corr 0 so no reply matches).
 * The backend -- io_uring or epoll in production (tina/os/), the simulated
 * network in sim/ -- hands it to the kernel in io_submit and records the
 * result (tina__io_done) in io_reap; the completion phase right after
 * (tina__shard_io_completions) wakes the isolate with a note, and
 * dispatch asks tina__io_deliver to build the completion message in place
 * (no pool slot: a completion is never refused).  A received buffer is
 * lent for that handler call and taken back at the next io effect applied
 * (its call is over by then) or after the dispatch phase.  A backend with
 * recv_late (epoll, the simulator) takes a recv's buffer only as it tries
 * the syscall, so a recv waiting on a quiet connection holds none;
 * io_uring's multishot recv brings its own (a provided ring).
 *
 * Each descriptor belongs to an isolate and is closed when that isolate
 * ends.  Teardown with an operation in flight orphans it (owner 0) and
 * asks the backend to cancel; the completion, whenever it comes, is
 * reclaimed and counted (io_dead).
 */
#include <errno.h>
#include <string.h>

#include "shard.h"

/* ---- descriptors, counted ------------------------------------------------ */

tina_fd tina__fd_install(struct tina__shard *s, int32_t os_fd, tina_handle owner) {
    tina_fd fd = tina__io_fd_install(s->io, os_fd, owner);
    if (fd == TINA_FD_NONE) s->stats.fd_exhausted++;
    return fd;
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

/* ---- the effect ---------------------------------------------------------- */

static void park(struct tina__slot *slot, uint32_t op) {
    slot->state = TINA__CALLING;
    tina__slot_call(slot, TINA__CALL_IO);
    slot->call_note = op;
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
    tina__slot_call(&t->slots[i], TINA__CALL_IO_DONE);
    tina__slot_ready(s, t, i);
}

/* Copy what the kernel will read (data, address) into the op, then take a
 * reactor buffer if it needs one: the user's memory is read before
 * anything is taken, so a bad pointer faults with nothing half-done. */
static tina_result op_fill(struct tina__io *io, struct tina__io_op *op, const tina_effect_io *e) {
    if (op->op == TINA_IO_CONNECT || op->op == TINA_IO_SENDTO) {
        const void *addr = op->op == TINA_IO_CONNECT ? e->peer : e->dest;
        if (addr == NULL || e->addr_len == 0 || e->addr_len > sizeof(op->addr)) return TINA_EINVAL;
        memcpy(op->addr, addr, e->addr_len);
        op->addr_len = e->addr_len;
    }
    op->offset = op->op == TINA_IO_READ || op->op == TINA_IO_WRITE ? e->offset
                 : op->op == TINA_IO_SENDTO                     ? 0
                                                                : e->timeout_ns;
    uint32_t len = e->len == 0 || e->len > io->buf_bytes ? io->buf_bytes : e->len;
    if (op->op == TINA_IO_RECV && io->recv_provided) { /* the backend brings the buffer */
        op->len = e->len;
        return TINA_OK;
    }
    if ((op->op == TINA_IO_RECV || op->op == TINA_IO_RECVFROM) && io->recv_late) {
        op->len = len;
        return TINA_OK; /* the backend takes a buffer when it tries the syscall */
    }
    switch (op->op) {
    case TINA_IO_RECV: case TINA_IO_READ: case TINA_IO_RECVFROM:
    case TINA_IO_SEND: case TINA_IO_WRITE: case TINA_IO_SENDTO:
        if (io->buf_top == 0) return TINA_EIO_BUFFERS;
        op->len = len;
        if (op->op == TINA_IO_SEND || op->op == TINA_IO_WRITE || op->op == TINA_IO_SENDTO) {
            if (e->len == 0) op->len = 0;
            else if (e->data == NULL) return TINA_EINVAL;
            else /* memmove: the data may be a loan that just came back, the very buffer */
                memmove(tina__io_buf(io, io->buf_stack[io->buf_top - 1]), e->data, op->len);
        }
        op->buf = io->buf_stack[--io->buf_top];
        break;
    default:
        break;
    }
    return TINA_OK;
}

/* The effect is answered before any entry is taken: I/O off, or a
 * shutdown notice pending.  Returns 1 if it was. */
static int effect_answered(struct tina__shard *s, struct tina__type *t, uint32_t i,
                           const tina_effect *e) {
    struct tina__slot *slot = &t->slots[i];
    if (TINA__UNLIKELY(slot->flags & TINA__SHUTDOWN) && e->io.op != TINA_IO_CLOSE) {
        /* Its shutdown notice is pending (a cancel just woke it): the op is
         * not started and the notice comes next, so re-arming an accept
         * cannot keep a shutdown waiting. */
        s->stats.io_cancelled++;
        tina__slot_ready(s, t, i);
        return 1;
    }
    if (s->io == NULL) { /* I/O off */
        tina__slot_call(slot, TINA__CALL_FAILED);
        slot->call_note = (uint32_t)TINA_EIO_OFF;
        tina__slot_ready(s, t, i);
        s->stats.io_refused++;
        return 1;
    }
    return 0;
}

/* Its timeout, if the op has one (tina_io_timeout: the offset field is a
 * deadline for all but read, write and sendto).  0 if no entry is free. */
static int op_timer(struct tina__shard *s, struct tina__slot *slot, struct tina__io_op *op,
                    uint32_t opi) {
    op->timer = TINA__NIL;
    if (op->offset == 0 || op->op == TINA_IO_READ || op->op == TINA_IO_WRITE ||
        op->op == TINA_IO_SENDTO)
        return 1;
    op->timer = tina__timer_arm(s, slot, s->ctx.self, op->offset, 0, 0, TINA__TIMER_IO, opi);
    op->offset = 0;
    return op->timer != TINA__NIL;
}

void tina__io_effect(struct tina__shard *s, struct tina__type *t, uint32_t i,
                     const tina_effect *e) {
    if (effect_answered(s, t, i, e)) return;
    struct tina__io *io = s->io;
    struct tina__slot *slot = &t->slots[i];
    /* Every loan's handler call is over (this effect is the return of the
     * last): the buffers go back now, so a conn that echoes what it was
     * lent needs one buffer, not two. */
    while (io->loaned_count > 0) tina__io_buf_put(io, io->loaned[--io->loaned_count]);
    /* Checked and filled aside first: a bad user pointer faults in op_fill
     * (the trap boundary crashes the isolate) before any entry is taken. */
    const tina_effect_io *eio = &e->io;
    struct tina__io_op local = {.owner = s->ctx.self, .fd = eio->fd, .op = eio->op,
                                .buf = TINA__NIL, .os_fd = -1, .timer = TINA__NIL};
    struct tina__fd *fd = eio->op < TINA_IO_OP_COUNT ? tina__io_fd_lookup(io, eio->fd) : NULL;
    tina_result r = fd != NULL ? op_fill(io, &local, eio)
                               : eio->op < TINA_IO_OP_COUNT ? TINA_EFD_STALE : TINA_EINVAL;
    uint32_t opi = tina__io_op_alloc(io);
    if (opi == TINA__NIL) { /* every op entry in use */
        if (local.buf != TINA__NIL) tina__io_buf_put(io, local.buf);
        tina__slot_call(slot, TINA__CALL_FAILED);
        slot->call_note = (uint32_t)TINA_EIO_BUFFERS;
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
    if (!op_timer(s, slot, op, opi)) {
        op_refuse(s, t, i, opi, TINA_ETIMER_EXHAUSTED, -ENOMEM);
        return;
    }
    if (op->op == TINA_IO_CLOSE) tina__io_fd_release(io, fd); /* stale now; closes async */
    else fd->inflight++;
    tina__io_op_queue(io, opi);
    park(slot, opi);
    s->stats.io_submitted++;
}

/* An op's timeout fired (its timer entry is already free). */
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

/* ---- completion ---------------------------------------------------------- */

/* An op nobody waits for any more: give back what it holds. */
static void op_reclaim(struct tina__shard *s, uint32_t opi) {
    struct tina__io_op *op = &s->io->ops[opi];
    if (op->op == TINA_IO_ACCEPT && op->error == TINA_OK && op->result >= 0)
        tina__io_close_os(s, op->result);
    tina__io_op_free(s->io, opi);
}

/* One completion the backend recorded: the parked isolate wakes. */
static void op_completed(struct tina__shard *s, uint32_t opi) {
    struct tina__io_op *op = &s->io->ops[opi];
    TINA_ASSERT(op->state == TINA__OP_DONE); /* recorded once, freed only after this */
    if (op->owner == 0) { /* its isolate ended: reclaim */
        s->stats.io_dead++;
        op_reclaim(s, opi);
        return;
    }
    struct tina__type *t = &s->types[tina_handle_type(op->owner)];
    uint32_t i = tina_handle_slot(op->owner);
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT(slot->generation == tina_handle_generation(op->owner) &&
                slot->call == TINA__CALL_IO && slot->call_note == opi);
    if (op->timer != TINA__NIL) { /* it completed before its timeout */
        tina__timer_disarm_own(s, slot, op->owner, op->timer);
        op->timer = TINA__NIL;
    }
    if (op->timed_out && op->result == -ECANCELED) op->result = -ETIMEDOUT;
    tina__slot_call(slot, TINA__CALL_IO_DONE);
    tina__slot_ready(s, t, i);
}

/* Pass phase 2: reap, then every completion recorded, in order (those a
 * submission answered at once included). */
void tina__shard_io_completions(struct tina__shard *s) {
    if (s->platform->io_reap(s) > 0) s->did_work = 1;
    struct tina__io *io = s->io;
    if (io == NULL || io->done_count == 0) return;
    for (uint32_t k = 0; k < io->done_count; k++) op_completed(s, io->done[k]);
    io->done_count = 0;
    s->did_work = 1;
}

/* The message for an accept: the new descriptor, installed for its owner. */
static void accept_deliver(struct tina__shard *s, struct tina__io_op *op, tina_handle owner,
                           tina_io_done *done) {
    done->fd = tina__fd_install(s, op->result, owner);
    done->result = 0;
    if (done->fd == TINA_FD_NONE) {
        tina__io_close_os(s, op->result);
        done->result = -ENFILE;
        done->error = TINA_EFD_EXHAUSTED;
    }
}

/* Build the completion message for the isolate parked on slot. */
void tina__io_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *m) {
    struct tina__io *io = s->io;
    uint32_t opi = slot->call_note;
    struct tina__io_op *op = &io->ops[opi];
    tina_io_done done = {.result = op->result, .error = op->error, .fd = op->fd, .op = op->op};
    if (op->error == TINA_OK && op->result >= 0) {
        if (op->op == TINA_IO_ACCEPT) {
            accept_deliver(s, op, m->to, &done);
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
    tina__io_op_free(io, opi);
    tina__slot_call(slot, TINA__CALL_NONE);
    slot->call_note = TINA__NIL;
    m->tag = TINA_TAG_IO(done.op);
    m->size = sizeof(done);
    memcpy(m->payload, &done, sizeof(done));
}

void tina__io_after_dispatch(struct tina__shard *s) {
    struct tina__io *io = s->io;
    while (io->loaned_count > 0) tina__io_buf_put(io, io->loaned[--io->loaned_count]);
}

/* ---- teardown and shutdown ------------------------------------------------ */

static void op_cancel(struct tina__shard *s, uint32_t opi) {
    struct tina__io_op *op = &s->io->ops[opi];
    if (op->state == TINA__OP_INFLIGHT && !op->cancel) {
        op->cancel = 1;
        s->platform->io_cancel(s, opi);
    }
}

/* Another isolate's ops on a descriptor about to close: cancel them, so
 * they end with -ECANCELED instead of waiting on a dead socket.  Rare (a
 * descriptor shared by two isolates), so a scan is fine. */
static void fd_cancel_all(struct tina__shard *s, tina_fd fd) {
    struct tina__io *io = s->io;
    for (uint32_t k = 0; k < io->op_count; k++) {
        struct tina__io_op *op = &io->ops[k];
        if (op->state == TINA__OP_INFLIGHT && op->fd == fd && !op->cancel && op->op != TINA_IO_CLOSE) {
            s->stats.io_cancelled++;
            op_cancel(s, k);
        }
    }
}

void tina__io_isolate_exit(struct tina__shard *s, struct tina__slot *slot, tina_handle h) {
    struct tina__io *io = s->io;
    if (tina__slot_io_parked(slot)) {
        uint32_t opi = slot->call_note;
        struct tina__io_op *op = &io->ops[opi];
        if (op->state == TINA__OP_DONE) { /* completed, not delivered */
            op_reclaim(s, opi);
        } else {
            op->timer = TINA__NIL; /* teardown cancels the slot's timers, this one too */
            op->owner = 0;         /* completes later, reclaimed then */
            s->stats.io_cancelled++;
            op_cancel(s, opi);
        }
        tina__slot_call(slot, TINA__CALL_NONE);
        slot->call_note = TINA__NIL;
    }
    uint32_t *head = tina__io_owned_head(io, h);
    while (*head != TINA__NIL) { /* its descriptors, and only those */
        struct tina__fd *e = &io->fds[*head];
        TINA_ASSERT(e->owner == h && e->os_fd >= 0);
        if (e->inflight > 0) fd_cancel_all(s, tina__fd_handle(io, *head, e->generation));
        fd_close(s, e);
        tina__io_fd_release(io, e); /* unlinks it: *head moves on */
    }
}

/* A graceful shutdown reaches an isolate parked on I/O: cancel the op so
 * it wakes (-ECANCELED) and gets its notice. */
void tina__io_shutdown(struct tina__shard *s, struct tina__slot *slot) {
    struct tina__io_op *op = &s->io->ops[slot->call_note];
    if (op->state == TINA__OP_INFLIGHT && !op->cancel) s->stats.io_cancelled++;
    op_cancel(s, slot->call_note);
}

/* ---- create and destroy ------------------------------------------------------ */

int tina__shard_io_create(struct tina__shard *s, const tina_spec *spec) {
    s->io = NULL;
    if (spec->fd_slots == 0) return 0;
    int err;
    s->io = tina__io_create(spec, s->id, s->types, s->type_count, &err);
    return err;
}

void tina__shard_io_destroy(struct tina__shard *s) {
    struct tina__io *io = s->io;
    if (io == NULL) return;
    for (uint32_t k = 0; k < io->fd_count; k++)
        if (io->fds[k].os_fd >= 0) fd_close(s, &io->fds[k]);
    if (io->backend != NULL) s->platform->io_teardown(s);
    tina__io_destroy(io);
    s->io = NULL;
}
