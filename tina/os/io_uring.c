/*
 * io_uring.c -- the production I/O backend: one ring per shard.
 *
 * Set-up (at tina_create, on the creating thread): the ring is created
 * disabled (IORING_SETUP_R_DISABLED) with SINGLE_ISSUER and DEFER_TASKRUN,
 * so completions are only processed when the shard asks for them, and the
 * shard thread enables it on its first submit, becoming its one issuer.  A
 * kernel that refuses a flag gets the ring without it (DEFER_TASKRUN, then
 * SINGLE_ISSUER, then R_DISABLED); a kernel that refuses io_uring entirely
 * makes setup fail and the platform (os/platform.c) falls back to epoll.
 *
 * A pass: reap (peek the completion queue, after running deferred task work
 * if nothing entered the kernel since), dispatch, then submit: one SQE per
 * queued op and one io_uring_submit for all of them (TASKRUN_FLAG tells a
 * pass whether deferred work waits, so reap enters the kernel only then).
 * user_data is the op index; two reserved values mark the doorbell read
 * and cancels.
 *
 * Sleeping: an idle shard arms a read of its eventfd (the doorbell other
 * shards ring) and waits in io_uring_submit_and_wait_timeout, so it wakes
 * for a completion, a peer's message or its next timer.
 *
 * Receiving: where the kernel takes a provided buffer ring (5.19+), one
 * multishot recv per connection and no reactor buffer (io_uring_recv.c);
 * where the ring cannot be set up, recv is one-shot into a reactor buffer.
 *
 * Not used, though the kernel has them: registered files (each accepted
 * descriptor would need a table update: a syscall, or accept-direct, which
 * gives no ordinary fd to hand to another shard or to epoll), and multishot
 * accept (one address buffer for every connection: the peer address of
 * each would cost a getpeername).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"
#include "uring.h"

static int ring_create(struct uring *u, uint32_t entries) {
    static const unsigned tries[] = {
        IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL, 0};
    int err = -EINVAL;
    for (size_t k = 0; k < sizeof(tries) / sizeof(tries[0]); k++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = tries[k];
        err = io_uring_queue_init_params(entries, &u->ring, &p);
        if (err == 0) {
            u->disabled = (tries[k] & IORING_SETUP_R_DISABLED) != 0;
            u->deferred = (tries[k] & IORING_SETUP_DEFER_TASKRUN) != 0;
            return 0;
        }
        if (err != -EINVAL) return err; /* ENOSYS, EPERM, ENOMEM: no io_uring here */
    }
    return err;
}

static int uring_setup(struct tina__io *io) {
    struct uring *u = calloc(1, sizeof(*u));
    if (u == NULL) return -ENOMEM;
    u->msgs = calloc(io->op_count, sizeof(*u->msgs));
    u->iovs = calloc(io->op_count, sizeof(*u->iovs));
    u->where = calloc(io->op_count, 1);
    u->doorbell_fd = eventfd(0, EFD_CLOEXEC);
    int err = (u->msgs && u->iovs && u->where) ? 0 : -ENOMEM;
    if (err == 0 && u->doorbell_fd < 0) err = -errno;
    uint32_t entries = io->op_count < RING_ENTRIES_MAX ? io->op_count : RING_ENTRIES_MAX;
    if (err == 0) err = ring_create(u, entries < 8 ? 8 : entries);
    if (err != 0) {
        if (u->doorbell_fd >= 0) close(u->doorbell_fd);
        free(u->msgs);
        free(u->iovs);
        free(u->where);
        free(u);
        return err;
    }
    u->enabled = !u->disabled;
    u->ready_head = u->ready_tail = TINA__NIL;
    io->backend = u;
    io->recv_provided = tina__uring_provided_setup(u, io) == 0;
    return 0;
}

static void uring_teardown(struct tina__io *io) {
    struct uring *u = tina__uring_of(io);
    tina__uring_provided_free(u);
    free(u->where);
    io_uring_queue_exit(&u->ring);
    close(u->doorbell_fd);
    free(u->msgs);
    free(u->iovs);
    free(u);
    io->backend = NULL;
}

/* The first call on the shard thread makes it the ring's single issuer. */
static void ring_enable(struct uring *u) {
    if (!u->enabled) {
        /* io_uring_enable_rings(), which liburing 2.3 declares but does not export */
        long err = syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                           NULL, 0);
        TINA_ASSERT(err == 0);
        u->enabled = 1;
    }
}

/* An SQE, submitting what is queued if the ring is full (rare: a pass that
 * queued more ops than the ring has entries). */
struct io_uring_sqe *tina__uring_sqe(struct uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) {
        (void)io_uring_submit(&u->ring);
        u->entered = 1;
        sqe = io_uring_get_sqe(&u->ring);
    }
    TINA_ASSERT(sqe != NULL);
    return sqe;
}

static void msg_prepare(struct uring *u, struct tina__io *io, uint32_t i, int sending) {
    struct tina__io_op *op = &io->ops[i];
    struct msghdr *m = &u->msgs[i];
    memset(m, 0, sizeof(*m));
    u->iovs[i].iov_base = tina__io_buf(io, op->buf);
    u->iovs[i].iov_len = op->len;
    m->msg_iov = &u->iovs[i];
    m->msg_iovlen = 1;
    m->msg_name = op->addr;
    m->msg_namelen = sending ? op->addr_len : sizeof(op->addr);
}

static void op_prepare(struct uring *u, struct tina__io *io, uint32_t i, struct io_uring_sqe *sqe) {
    struct tina__io_op *op = &io->ops[i];
    void *buf = op->buf != TINA__NIL ? tina__io_buf(io, op->buf) : NULL;
    switch (op->op) {
    case TINA_IO_ACCEPT:
        op->msg_addr_len = sizeof(op->addr);
        io_uring_prep_accept(sqe, op->os_fd, (struct sockaddr *)op->addr,
                             (socklen_t *)&op->msg_addr_len, SOCK_CLOEXEC);
        break;
    case TINA_IO_CONNECT:
        io_uring_prep_connect(sqe, op->os_fd, (const struct sockaddr *)op->addr, op->addr_len);
        break;
    case TINA_IO_RECV: io_uring_prep_recv(sqe, op->os_fd, buf, op->len, 0); break;
    case TINA_IO_SEND: io_uring_prep_send(sqe, op->os_fd, buf, op->len, MSG_NOSIGNAL); break;
    case TINA_IO_READ: io_uring_prep_read(sqe, op->os_fd, buf, op->len, op->offset); break;
    case TINA_IO_WRITE: io_uring_prep_write(sqe, op->os_fd, buf, op->len, op->offset); break;
    case TINA_IO_CLOSE: io_uring_prep_close(sqe, op->os_fd); break;
    case TINA_IO_SENDTO:
        msg_prepare(u, io, i, 1);
        io_uring_prep_sendmsg(sqe, op->os_fd, &u->msgs[i], MSG_NOSIGNAL);
        break;
    case TINA_IO_RECVFROM:
        msg_prepare(u, io, i, 0);
        io_uring_prep_recvmsg(sqe, op->os_fd, &u->msgs[i], 0);
        break;
    default:
        TINA_ASSERT(0 && "unknown op");
    }
    io_uring_sqe_set_data64(sqe, i);
}

/* ---- submit and reap ------------------------------------------------------ */

static void uring_submit(struct tina__io *io) {
    struct uring *u = tina__uring_of(io);
    ring_enable(u);
    if (u->br != NULL && u->lent_count > 0) { /* after the dispatch that used them */
        tina__uring_provided_recycle(u);
        while (u->starved_head != TINA__NIL) { /* and who ran dry may go on */
            uint32_t slot = u->starved_head;
            struct ms_fd *m = &u->fds[slot];
            u->starved_head = m->next_starved;
            m->starved = 0;
            if (m->os_fd >= 0) tina__uring_ms_arm(u, m, slot);
        }
    }
    uint32_t i = io->queued_head;
    io->queued_head = io->queued_tail = TINA__NIL;
    while (i != TINA__NIL) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->next;
        op->state = TINA__OP_INFLIGHT;
        if (op->owner == 0 && op->op != TINA_IO_CLOSE) {
            tina__io_done(io, i, -ECANCELED);
        } else if (op->op == TINA_IO_RECV && io->recv_provided) {
            tina__uring_ms_recv(io, u, i);
        } else {
            if (op->op == TINA_IO_CLOSE) { /* what still waits on it ends now, not on late data */
                (void)tina__uring_forget(io, tina__fd_slot(op->fd), op->os_fd,
                                   (uint32_t)op->fd, 0);
                struct io_uring_sqe *sqe = tina__uring_sqe(u);
                io_uring_prep_cancel_fd(sqe, op->os_fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, CANCEL_DATA);
                sqe->flags |= IOSQE_IO_HARDLINK; /* the close runs after it, whatever it found */
            }
            u->where[i] = AT_KERNEL;
            op_prepare(u, io, i, tina__uring_sqe(u));
        }
        i = next;
    }
    if (io_uring_sq_ready(&u->ring) > 0) { /* one submission for the whole pass */
        (void)io_uring_submit(&u->ring);
        u->entered = 1;
    }
}

static uint32_t ready_report(struct tina__io *io, struct uring *u) {
    uint32_t completed = 0;
    while (u->ready_head != TINA__NIL) {
        uint32_t i = u->ready_head;
        u->ready_head = io->ops[i].backend;
        if (u->ready_head == TINA__NIL) u->ready_tail = TINA__NIL;
        u->where[i] = AT_NONE;
        tina__io_done(io, i, io->ops[i].result);
        completed++;
    }
    return completed;
}

static uint32_t uring_reap(struct tina__io *io) {
    struct uring *u = tina__uring_of(io);
    ring_enable(u);
    uint32_t completed = ready_report(io, u);
    /* Deferred task work is run only when the kernel flagged some: a busy
     * shard with a recv waiting does not enter the kernel every pass. */
    if (u->deferred && !u->entered &&
        (__atomic_load_n(u->ring.sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN))
        (void)io_uring_get_events(&u->ring);
    else if (!u->deferred && io_uring_cq_ready(&u->ring) == 0)
        return completed;
    u->entered = 0;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        uint64_t data = io_uring_cqe_get_data64(cqe);
        seen++;
        if (data == DOORBELL_DATA) {
            u->doorbell_armed = 0;
        } else if (data == CANCEL_DATA) {
            continue; /* the cancelled op reports itself */
        } else if (data & MS_BIT) {
            completed += tina__uring_ms_arrived(io, u, cqe);
        } else {
            TINA_ASSERT(data < io->op_count);
            struct tina__io_op *op = &io->ops[data];
            if (op->op == TINA_IO_RECVFROM && cqe->res >= 0)
                op->msg_addr_len = u->msgs[data].msg_namelen;
            u->where[data] = AT_NONE;
            tina__io_done(io, (uint32_t)data, cqe->res);
            completed++;
        }
    }
    io_uring_cq_advance(&u->ring, seen);
    return completed + ready_report(io, u); /* answered while reaping (a forget) */
}

static void uring_cancel(struct tina__io *io, uint32_t i) {
    struct uring *u = tina__uring_of(io);
    if (u->where[i] == AT_WAITING) { /* on a descriptor's queue: unlink it */
        struct tina__io_op *op = &io->ops[i];
        struct ms_fd *m = &u->fds[tina__fd_slot(op->fd)];
        uint32_t prev = TINA__NIL;
        for (uint32_t k = m->wait_head; k != TINA__NIL; prev = k, k = io->ops[k].backend) {
            if (k != i) continue;
            if (prev == TINA__NIL) m->wait_head = op->backend;
            else io->ops[prev].backend = op->backend;
            if (m->wait_tail == i) m->wait_tail = prev;
            break;
        }
        tina__uring_ready_push(u, io, i, -ECANCELED);
        return;
    }
    if (u->where[i] != AT_KERNEL) return; /* already answered */
    struct io_uring_sqe *sqe = tina__uring_sqe(u);
    io_uring_prep_cancel64(sqe, i, 0);
    io_uring_sqe_set_data64(sqe, CANCEL_DATA); /* submitted with the pass's batch */
}

static void uring_wait(struct tina__io *io, uint64_t timeout_ns) {
    struct uring *u = tina__uring_of(io);
    ring_enable(u);
    if (!u->doorbell_armed) {
        struct io_uring_sqe *sqe = tina__uring_sqe(u);
        io_uring_prep_read(sqe, u->doorbell_fd, &u->doorbell_value, sizeof(u->doorbell_value), 0);
        io_uring_sqe_set_data64(sqe, DOORBELL_DATA);
        u->doorbell_armed = 1;
    }
    struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                   .tv_nsec = (long long)(timeout_ns % 1000000000u)};
    struct io_uring_cqe *cqe;
    (void)io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
                                           timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
    u->entered = 1;
}

/* Any thread: the doorbell.  An eventfd counter, so a ring before the
 * sleeper blocks is not lost. */
static void uring_wake(struct tina__io *io) {
    uint64_t one = 1;
    (void)!write(tina__uring_of(io)->doorbell_fd, &one, sizeof(one));
}

static int uring_ready(struct tina__io *io) {
    struct uring *u = tina__uring_of(io);
    return u->ready_head != TINA__NIL || io_uring_cq_ready(&u->ring) > 0;
}

const struct tina__io_backend tina__io_backend_uring = {
    .name = "io_uring",
    .setup = uring_setup,
    .submit = uring_submit,
    .reap = uring_reap,
    .cancel = uring_cancel,
    .wait = uring_wait,
    .wake = uring_wake,
    .ready = uring_ready,
    .forget = tina__uring_forget,
    .teardown = uring_teardown,
};
