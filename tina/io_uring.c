/*
 * io_uring.c -- the production I/O backend: one ring per shard.
 *
 * Set-up (at tina_create, on the creating thread): the ring is created
 * disabled (IORING_SETUP_R_DISABLED) with SINGLE_ISSUER and DEFER_TASKRUN,
 * so completions are only processed when the shard asks for them, and the
 * shard thread enables it on its first submit, becoming its one issuer.  A
 * kernel that refuses a flag gets the ring without it (DEFER_TASKRUN, then
 * SINGLE_ISSUER, then R_DISABLED); a kernel that refuses io_uring entirely
 * makes setup fail and platform_thread.c falls back to epoll.
 *
 * A pass: reap (peek the completion queue, after running deferred task work
 * if nothing entered the kernel since), dispatch, then submit: one SQE per
 * queued op and one io_uring_submit for all of them.  user_data is the op
 * index; two reserved values mark the doorbell read and cancels.
 *
 * Sleeping: an idle shard arms a read of its eventfd (the doorbell other
 * shards ring) and waits in io_uring_submit_and_wait_timeout, so it wakes
 * for a completion, a peer's message or its next timer.
 *
 * Not used yet, though the kernel has them: registered files, multishot
 * accept and recv with provided buffer rings (DESIGN.md, I/O).
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define DOORBELL_DATA (UINT64_MAX - 1u)
#define CANCEL_DATA (UINT64_MAX - 2u)
#define RING_ENTRIES_MAX 4096u

struct uring {
    struct io_uring ring;
    int doorbell_fd;
    int doorbell_armed;
    uint64_t doorbell_value;
    int enabled;    /* R_DISABLED: the shard thread enables it on first use */
    int disabled;   /* created with R_DISABLED */
    int deferred;   /* DEFER_TASKRUN: completions need an io_uring_enter */
    int entered;    /* the kernel ran our task work since the last reap */
    struct msghdr *msgs; /* per op: sendto/recvfrom */
    struct iovec *iovs;
};

static struct uring *uring_of(struct tina__shard *s) { return s->io->backend; }

static int ring_create(struct uring *u, uint32_t entries) {
    static const unsigned tries[] = {
        IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_SUBMIT_ALL,
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

static int uring_setup(struct tina__shard *s) {
    struct tina__io *io = s->io;
    struct uring *u = calloc(1, sizeof(*u));
    if (u == NULL) return -ENOMEM;
    u->msgs = calloc(io->op_count, sizeof(*u->msgs));
    u->iovs = calloc(io->op_count, sizeof(*u->iovs));
    u->doorbell_fd = eventfd(0, EFD_CLOEXEC);
    int err = (u->msgs && u->iovs) ? 0 : -ENOMEM;
    if (err == 0 && u->doorbell_fd < 0) err = -errno;
    uint32_t entries = io->op_count < RING_ENTRIES_MAX ? io->op_count : RING_ENTRIES_MAX;
    if (err == 0) err = ring_create(u, entries < 8 ? 8 : entries);
    if (err != 0) {
        if (u->doorbell_fd >= 0) close(u->doorbell_fd);
        free(u->msgs);
        free(u->iovs);
        free(u);
        return err;
    }
    u->enabled = !u->disabled;
    io->backend = u;
    return 0;
}

static void uring_teardown(struct tina__shard *s) {
    struct uring *u = uring_of(s);
    io_uring_queue_exit(&u->ring);
    close(u->doorbell_fd);
    free(u->msgs);
    free(u->iovs);
    free(u);
    s->io->backend = NULL;
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
static struct io_uring_sqe *sqe_get(struct uring *u) {
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

static void uring_submit(struct tina__shard *s) {
    struct tina__io *io = s->io;
    struct uring *u = uring_of(s);
    ring_enable(u);
    uint32_t i = io->queued_head;
    io->queued_head = io->queued_tail = TINA__NIL;
    while (i != TINA__NIL) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->next;
        op->state = TINA__OP_INFLIGHT;
        if (op->owner == 0 && op->op != TINA_IO_CLOSE) {
            tina__io_complete(s, i, -ECANCELED);
        } else {
            if (op->op == TINA_IO_CLOSE) { /* what still waits on it ends now, not on late data */
                struct io_uring_sqe *sqe = sqe_get(u);
                io_uring_prep_cancel_fd(sqe, op->os_fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, CANCEL_DATA);
                sqe->flags |= IOSQE_IO_HARDLINK; /* the close runs after it, whatever it found */
            }
            op_prepare(u, io, i, sqe_get(u));
        }
        i = next;
    }
    if (io_uring_sq_ready(&u->ring) > 0) { /* one submission for the whole pass */
        (void)io_uring_submit(&u->ring);
        u->entered = 1;
    }
}

static uint32_t uring_reap(struct tina__shard *s) {
    struct tina__io *io = s->io;
    struct uring *u = uring_of(s);
    ring_enable(u);
    if (u->deferred && !u->entered && (io->inflight > 0 || u->doorbell_armed))
        (void)io_uring_get_events(&u->ring); /* run the deferred task work */
    else if (!u->deferred && io_uring_cq_ready(&u->ring) == 0)
        return 0;
    u->entered = 0;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    uint32_t completed = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        uint64_t data = io_uring_cqe_get_data64(cqe);
        seen++;
        if (data == DOORBELL_DATA) {
            u->doorbell_armed = 0;
        } else if (data != CANCEL_DATA) {
            TINA_ASSERT(data < io->op_count);
            struct tina__io_op *op = &io->ops[data];
            if (op->op == TINA_IO_RECVFROM && cqe->res >= 0)
                op->msg_addr_len = u->msgs[data].msg_namelen;
            tina__io_complete(s, (uint32_t)data, cqe->res);
            completed++;
        }
    }
    io_uring_cq_advance(&u->ring, seen);
    return completed;
}

static void uring_cancel(struct tina__shard *s, uint32_t op) {
    struct uring *u = uring_of(s);
    struct io_uring_sqe *sqe = sqe_get(u);
    io_uring_prep_cancel64(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, CANCEL_DATA); /* submitted with the pass's batch */
}

static void uring_wait(struct tina__shard *s, uint64_t timeout_ns) {
    struct uring *u = uring_of(s);
    ring_enable(u);
    if (!u->doorbell_armed) {
        struct io_uring_sqe *sqe = sqe_get(u);
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
static void uring_wake(struct tina__shard *s) {
    uint64_t one = 1;
    (void)!write(uring_of(s)->doorbell_fd, &one, sizeof(one));
}

static int uring_ready(struct tina__shard *s) {
    return io_uring_cq_ready(&uring_of(s)->ring) > 0;
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
    .teardown = uring_teardown,
};
