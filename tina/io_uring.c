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
 * queued op and one io_uring_submit for all of them (TASKRUN_FLAG tells a
 * pass whether deferred work waits, so reap enters the kernel only then).
 * user_data is the op index; two reserved values mark the doorbell read
 * and cancels.
 *
 * Sleeping: an idle shard arms a read of its eventfd (the doorbell other
 * shards ring) and waits in io_uring_submit_and_wait_timeout, so it wakes
 * for a completion, a peer's message or its next timer.
 *
 * Receiving: where the kernel takes a provided buffer ring (5.19+), recv
 * needs no reactor buffer.  A connection's first recv arms one multishot
 * recv on it; from then on the kernel picks a buffer of the shard's ring
 * for every arrival and posts a completion, whether or not an isolate is
 * waiting.  Arrivals queue per descriptor (struct ms_fd) and are handed to
 * recv ops in order; a buffer is lent for one handler call and goes back
 * to the ring at the next submit.  An end of stream or an error stays at
 * the head of the queue, so every later recv sees it.  A descriptor that
 * closes or leaves the shard is forgotten: its multishot is cancelled and
 * its queued buffers go back.  Where the ring cannot be set up, recv is
 * one-shot into a reactor buffer.
 *
 * Not used, though the kernel has them: registered files (each accepted
 * descriptor would need a table update: a syscall, or accept-direct, which
 * gives no ordinary fd to hand to another shard or to epoll), and multishot
 * accept (one address buffer for every connection: the peer address of
 * each would cost a getpeername).
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define DOORBELL_DATA (UINT64_MAX - 1u)
#define CANCEL_DATA (UINT64_MAX - 2u)
#define RING_ENTRIES_MAX 4096u
#define MS_BIT (1ull << 62)          /* user_data of a multishot recv: slot and generation */
#define BUFFER_GROUP 7u
#define PROVIDED_MAX 4096u           /* provided buffers per shard */
#define NO_BUFFER 0xffffu
_Static_assert(PROVIDED_MAX <= NO_BUFFER, "a provided buffer id fits in 16 bits, beside NO_BUFFER");

enum { AT_NONE = 0, AT_KERNEL, AT_WAITING, AT_READY }; /* where an op is, for cancel */

/* One arrival not taken yet: bytes in a provided buffer, or an end.  The
 * buffer id is 16 bits because the kernel's are; a byte count is not: an
 * arrival fills up to io_buffer_bytes (up to 1 MiB), and a 16-bit count
 * wrapped at 64 KiB and handed the same bytes out again. */
struct ms_entry {
    int32_t res;          /* bytes (> 0), 0 (end of stream) or -errno: sticky */
    uint32_t taken_bytes; /* of res, already handed out */
    uint32_t next;
    uint16_t buffer;      /* provided buffer id, NO_BUFFER for an end */
};

/* Multishot recv state of one descriptor slot. */
struct ms_fd {
    int32_t os_fd;                /* -1: nothing */
    uint32_t generation;
    uint32_t wait_head, wait_tail; /* recv ops waiting, FIFO, linked by op->backend */
    uint32_t queue_head, queue_tail; /* arrivals, FIFO */
    uint32_t next_starved;          /* link of the starved list */
    uint8_t armed;
    uint8_t starved;                /* ended for want of buffers: arm again once some return */
};

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
    uint8_t *where;      /* per op: AT_* */
    uint32_t ready_head, ready_tail; /* ops answered from a queue: reported at reap */
    /* The provided buffer ring (NULL: recv is one-shot). */
    struct io_uring_buf_ring *br;
    uint8_t *br_bufs;
    uint32_t br_count, br_bytes;
    uint16_t *lent;      /* buffers handed to handlers this pass: back at submit */
    uint32_t lent_count;
    struct ms_fd *fds;   /* per descriptor slot */
    struct ms_entry *entries;
    uint32_t entry_free;
    uint32_t starved_head;          /* slots waiting for buffers to come back */
};

static struct uring *uring_of(struct tina__shard *s) { return s->io->backend; }

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

/* ---- the provided buffer ring ------------------------------------------- */

static void provided_free(struct uring *u) {
    if (u->br != NULL) {
        (void)io_uring_unregister_buf_ring(&u->ring, BUFFER_GROUP);
        munmap(u->br, u->br_count * sizeof(struct io_uring_buf));
    }
    if (u->br_bufs != NULL) munmap(u->br_bufs, (size_t)u->br_count * u->br_bytes);
    free(u->lent);
    free(u->fds);
    free(u->entries);
    u->br = NULL;
    u->br_bufs = NULL;
}

static void provided_give(struct uring *u, uint16_t buffer, int offset) {
    io_uring_buf_ring_add(u->br, u->br_bufs + (size_t)buffer * u->br_bytes, u->br_bytes, buffer,
                          io_uring_buf_ring_mask(u->br_count), offset);
}

/* 0 if the kernel took the ring; otherwise recv stays one-shot. */
static int provided_setup(struct uring *u, struct tina__io *io) {
    uint32_t count = 8;
    while (count * 2 <= io->buf_count && count * 2 <= PROVIDED_MAX) count *= 2;
    u->br_count = count;
    u->br_bytes = io->buf_bytes;
    u->br = mmap(NULL, count * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    u->br_bufs = mmap(NULL, (size_t)count * u->br_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (u->br == MAP_FAILED) u->br = NULL;
    if (u->br_bufs == MAP_FAILED) u->br_bufs = NULL;
    u->lent = calloc(count, sizeof(*u->lent));
    u->fds = calloc(io->fd_count, sizeof(*u->fds));
    u->entries = calloc(count + io->fd_count, sizeof(*u->entries));
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)u->br, .ring_entries = count,
                                   .bgid = BUFFER_GROUP};
    if (!u->br || !u->br_bufs || !u->lent || !u->fds || !u->entries ||
        io_uring_register_buf_ring(&u->ring, &reg, 0) != 0) {
        if (u->br != NULL) munmap(u->br, count * sizeof(struct io_uring_buf));
        u->br = NULL; /* not registered: provided_free must not unregister */
        provided_free(u);
        return -1;
    }
    io_uring_buf_ring_init(u->br);
    for (uint32_t b = 0; b < count; b++) provided_give(u, (uint16_t)b, (int)b);
    io_uring_buf_ring_advance(u->br, (int)count);
    for (uint32_t k = 0; k < io->fd_count; k++)
        u->fds[k] = (struct ms_fd){.os_fd = -1, .wait_head = TINA__NIL, .wait_tail = TINA__NIL,
                                   .queue_head = TINA__NIL, .queue_tail = TINA__NIL};
    u->starved_head = TINA__NIL;
    for (uint32_t k = 0; k < count + io->fd_count; k++) u->entries[k].next = k + 1;
    u->entries[count + io->fd_count - 1].next = TINA__NIL;
    return 0;
}

/* Buffers lent to handlers last dispatch: back to the kernel. */
static void provided_recycle(struct uring *u) {
    if (u->lent_count == 0) return;
    for (uint32_t k = 0; k < u->lent_count; k++) provided_give(u, u->lent[k], (int)k);
    io_uring_buf_ring_advance(u->br, (int)u->lent_count);
    u->lent_count = 0;
}

static int uring_setup(struct tina__shard *s) {
    struct tina__io *io = s->io;
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
    io->recv_provided = provided_setup(u, io) == 0;
    return 0;
}

static void uring_teardown(struct tina__shard *s) {
    struct uring *u = uring_of(s);
    provided_free(u);
    free(u->where);
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

/* ---- multishot recv ----------------------------------------------------- */

static uint64_t ms_data(uint32_t slot, uint32_t generation) {
    return MS_BIT | (uint64_t)generation << 24 | slot;
}

/* An op answered without a completion of its own: reported at reap. */
static void ready_push(struct uring *u, struct tina__io *io, uint32_t i, int32_t result) {
    io->ops[i].result = result;
    io->ops[i].backend = TINA__NIL;
    u->where[i] = AT_READY;
    if (u->ready_tail == TINA__NIL) u->ready_head = i;
    else io->ops[u->ready_tail].backend = i;
    u->ready_tail = i;
}

static void entry_push(struct uring *u, struct ms_fd *m, int32_t res, uint16_t buffer) {
    uint32_t e = u->entry_free;
    TINA_ASSERT(e != TINA__NIL); /* sized: one per provided buffer + one end per descriptor */
    u->entry_free = u->entries[e].next;
    u->entries[e] = (struct ms_entry){.res = res, .buffer = buffer, .next = TINA__NIL};
    if (m->queue_tail == TINA__NIL) m->queue_head = e;
    else u->entries[m->queue_tail].next = e;
    m->queue_tail = e;
}

static void entry_pop(struct uring *u, struct ms_fd *m) {
    uint32_t e = m->queue_head;
    m->queue_head = u->entries[e].next;
    if (m->queue_head == TINA__NIL) m->queue_tail = TINA__NIL;
    u->entries[e].next = u->entry_free;
    u->entry_free = e;
}

static int ms_ended(const struct uring *u, const struct ms_fd *m) {
    return m->queue_head != TINA__NIL && u->entries[m->queue_head].res <= 0;
}

/* Hand queued arrivals to waiting ops, in order.  In reap the ops complete
 * now; in submit they are reported at the next reap. */
static uint32_t ms_feed(struct tina__shard *s, struct uring *u, struct ms_fd *m, int in_reap) {
    struct tina__io *io = s->io;
    uint32_t fed = 0;
    while (m->wait_head != TINA__NIL && m->queue_head != TINA__NIL) {
        uint32_t i = m->wait_head;
        struct tina__io_op *op = &io->ops[i];
        m->wait_head = op->backend;
        if (m->wait_head == TINA__NIL) m->wait_tail = TINA__NIL;
        struct ms_entry *e = &u->entries[m->queue_head];
        int32_t result = e->res; /* an end stays queued: every later recv sees it */
        if (e->res > 0) {
            uint32_t left_bytes = (uint32_t)e->res - e->taken_bytes;
            uint32_t take_bytes = op->len != 0 && op->len < left_bytes ? op->len : left_bytes;
            op->data = u->br_bufs + (size_t)e->buffer * u->br_bytes + e->taken_bytes;
            result = (int32_t)take_bytes;
            e->taken_bytes += take_bytes;
            TINA_ASSERT(e->taken_bytes <= (uint32_t)e->res);
            if (e->taken_bytes == (uint32_t)e->res) { /* used up: to the ring after the handler */
                u->lent[u->lent_count++] = e->buffer;
                entry_pop(u, m);
            }
        }
        if (in_reap) {
            u->where[i] = AT_NONE;
            tina__io_complete(s, i, result);
        } else {
            ready_push(u, io, i, result);
        }
        fed++;
    }
    return fed;
}

static void ms_arm(struct uring *u, struct ms_fd *m, uint32_t slot) {
    if (m->armed || m->wait_head == TINA__NIL || ms_ended(u, m)) return;
    struct io_uring_sqe *sqe = sqe_get(u);
    io_uring_prep_recv_multishot(sqe, m->os_fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, ms_data(slot, m->generation));
    m->armed = 1;
}

/* Drop what is armed and queued on a slot; waiting ops end -ECANCELED. */
static void ms_reset(struct uring *u, struct tina__io *io, struct ms_fd *m, uint32_t slot) {
    if (m->armed) {
        struct io_uring_sqe *sqe = sqe_get(u);
        io_uring_prep_cancel64(sqe, ms_data(slot, m->generation), 0);
        io_uring_sqe_set_data64(sqe, CANCEL_DATA);
        m->armed = 0;
    }
    while (m->queue_head != TINA__NIL) {
        struct ms_entry *e = &u->entries[m->queue_head];
        if (e->buffer != NO_BUFFER) u->lent[u->lent_count++] = e->buffer;
        entry_pop(u, m);
    }
    while (m->wait_head != TINA__NIL) {
        uint32_t i = m->wait_head;
        m->wait_head = io->ops[i].backend;
        ready_push(u, io, i, -ECANCELED);
    }
    m->wait_tail = TINA__NIL;
    m->os_fd = -1;
}

/* A recv op: wait on its descriptor's queue, arming the multishot. */
static void ms_recv(struct tina__shard *s, struct uring *u, uint32_t i) {
    struct tina__io *io = s->io;
    struct tina__io_op *op = &io->ops[i];
    uint32_t slot = (uint32_t)(op->fd >> 32) & 0xffffffu;
    struct ms_fd *m = &u->fds[slot];
    if (m->os_fd != op->os_fd || m->generation != (uint32_t)op->fd) {
        if (m->os_fd >= 0) ms_reset(u, io, m, slot);
        m->os_fd = op->os_fd;
        m->generation = (uint32_t)op->fd;
    }
    op->backend = TINA__NIL;
    u->where[i] = AT_WAITING;
    if (m->wait_tail == TINA__NIL) m->wait_head = i;
    else io->ops[m->wait_tail].backend = i;
    m->wait_tail = i;
    (void)ms_feed(s, u, m, 0);
    ms_arm(u, m, slot);
}

/* A multishot completion: queue the arrival, feed the waiting. */
static uint32_t ms_arrived(struct tina__shard *s, struct uring *u, const struct io_uring_cqe *cqe) {
    uint64_t data = io_uring_cqe_get_data64(cqe);
    uint32_t slot = (uint32_t)data & 0xffffffu, generation = (uint32_t)(data >> 24) & 0xffffffffu;
    uint16_t buffer = (cqe->flags & IORING_CQE_F_BUFFER) ? (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
                                                         : NO_BUFFER;
    struct ms_fd *m = &u->fds[slot];
    if (m->os_fd < 0 || m->generation != generation) { /* forgotten: only the buffer matters */
        if (buffer != NO_BUFFER) u->lent[u->lent_count++] = buffer;
        return 0;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) m->armed = 0;
    if (cqe->res == -ENOBUFS) { /* the ring ran dry: arm again once buffers come back */
        s->stats.io_recv_starved++;
        if (!m->starved) {
            m->starved = 1;
            m->next_starved = u->starved_head;
            u->starved_head = slot;
        }
        return 0;
    }
    if (cqe->res == -ECANCELED) return 0;
    entry_push(u, m, cqe->res, cqe->res > 0 ? buffer : NO_BUFFER);
    if (cqe->res <= 0 && buffer != NO_BUFFER) u->lent[u->lent_count++] = buffer;
    uint32_t fed = ms_feed(s, u, m, 1);
    ms_arm(u, m, slot);
    return fed;
}

/* Did the kernel post an arrival for this multishot that we have not
 * reaped yet?  Looks at the completion queue without consuming it. */
static int ms_posted(struct uring *u, uint64_t data) {
    struct io_uring_cqe *cqe;
    unsigned head;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (io_uring_cqe_get_data64(cqe) == data && cqe->res != -ECANCELED && cqe->res != -ENOBUFS)
            return 1;
    }
    return 0;
}

static int uring_forget(struct tina__shard *s, uint32_t slot, int32_t os_fd, uint32_t generation,
                        int leaving) {
    struct uring *u = uring_of(s);
    if (u->fds == NULL || slot >= s->io->fd_count) return 0;
    struct ms_fd *m = &u->fds[slot];
    if (m->os_fd != os_fd || m->generation != generation) return 0;
    if (leaving) { /* handed over: stop the multishot now, and lose no byte */
        if (m->armed) {
            if (io_uring_sq_ready(&u->ring) > 0) (void)io_uring_submit(&u->ring); /* an arm not
                                                     yet submitted must be cancelled too */
            struct io_uring_sync_cancel_reg reg = {.addr = ms_data(slot, generation),
                                                   .timeout = {.tv_sec = -1, .tv_nsec = -1}};
            (void)io_uring_register_sync_cancel(&u->ring, &reg);
            m->armed = 0;
            if (u->deferred) (void)io_uring_get_events(&u->ring);
        }
        if (m->queue_head != TINA__NIL || ms_posted(u, ms_data(slot, generation))) return -EBUSY;
    }
    ms_reset(u, s->io, m, slot);
    return 0;
}

/* ---- submit and reap ------------------------------------------------------ */

static void uring_submit(struct tina__shard *s) {
    struct tina__io *io = s->io;
    struct uring *u = uring_of(s);
    ring_enable(u);
    if (u->br != NULL && u->lent_count > 0) { /* after the dispatch that used them */
        provided_recycle(u);
        while (u->starved_head != TINA__NIL) { /* and who ran dry may go on */
            uint32_t slot = u->starved_head;
            struct ms_fd *m = &u->fds[slot];
            u->starved_head = m->next_starved;
            m->starved = 0;
            if (m->os_fd >= 0) ms_arm(u, m, slot);
        }
    }
    uint32_t i = io->queued_head;
    io->queued_head = io->queued_tail = TINA__NIL;
    while (i != TINA__NIL) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->next;
        op->state = TINA__OP_INFLIGHT;
        if (op->owner == 0 && op->op != TINA_IO_CLOSE) {
            tina__io_complete(s, i, -ECANCELED);
        } else if (op->op == TINA_IO_RECV && io->recv_provided) {
            ms_recv(s, u, i);
        } else {
            if (op->op == TINA_IO_CLOSE) { /* what still waits on it ends now, not on late data */
                (void)uring_forget(s, (uint32_t)(op->fd >> 32) & 0xffffffu, op->os_fd,
                                   (uint32_t)op->fd, 0);
                struct io_uring_sqe *sqe = sqe_get(u);
                io_uring_prep_cancel_fd(sqe, op->os_fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, CANCEL_DATA);
                sqe->flags |= IOSQE_IO_HARDLINK; /* the close runs after it, whatever it found */
            }
            u->where[i] = AT_KERNEL;
            op_prepare(u, io, i, sqe_get(u));
        }
        i = next;
    }
    if (io_uring_sq_ready(&u->ring) > 0) { /* one submission for the whole pass */
        (void)io_uring_submit(&u->ring);
        u->entered = 1;
    }
}

static uint32_t ready_report(struct tina__shard *s, struct uring *u) {
    uint32_t completed = 0;
    while (u->ready_head != TINA__NIL) {
        uint32_t i = u->ready_head;
        u->ready_head = s->io->ops[i].backend;
        if (u->ready_head == TINA__NIL) u->ready_tail = TINA__NIL;
        u->where[i] = AT_NONE;
        tina__io_complete(s, i, s->io->ops[i].result);
        completed++;
    }
    return completed;
}

static uint32_t uring_reap(struct tina__shard *s) {
    struct tina__io *io = s->io;
    struct uring *u = uring_of(s);
    ring_enable(u);
    uint32_t completed = ready_report(s, u);
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
            completed += ms_arrived(s, u, cqe);
        } else {
            TINA_ASSERT(data < io->op_count);
            struct tina__io_op *op = &io->ops[data];
            if (op->op == TINA_IO_RECVFROM && cqe->res >= 0)
                op->msg_addr_len = u->msgs[data].msg_namelen;
            u->where[data] = AT_NONE;
            tina__io_complete(s, (uint32_t)data, cqe->res);
            completed++;
        }
    }
    io_uring_cq_advance(&u->ring, seen);
    return completed + ready_report(s, u); /* answered while reaping (a forget) */
}

static void uring_cancel(struct tina__shard *s, uint32_t i) {
    struct uring *u = uring_of(s);
    struct tina__io *io = s->io;
    if (u->where[i] == AT_WAITING) { /* on a descriptor's queue: unlink it */
        struct tina__io_op *op = &io->ops[i];
        struct ms_fd *m = &u->fds[(uint32_t)(op->fd >> 32) & 0xffffffu];
        uint32_t prev = TINA__NIL;
        for (uint32_t k = m->wait_head; k != TINA__NIL; prev = k, k = io->ops[k].backend) {
            if (k != i) continue;
            if (prev == TINA__NIL) m->wait_head = op->backend;
            else io->ops[prev].backend = op->backend;
            if (m->wait_tail == i) m->wait_tail = prev;
            break;
        }
        ready_push(u, io, i, -ECANCELED);
        return;
    }
    if (u->where[i] != AT_KERNEL) return; /* already answered */
    struct io_uring_sqe *sqe = sqe_get(u);
    io_uring_prep_cancel64(sqe, i, 0);
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
    struct uring *u = uring_of(s);
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
    .forget = uring_forget,
    .teardown = uring_teardown,
};
