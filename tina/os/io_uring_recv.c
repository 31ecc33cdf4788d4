/*
 * io_uring_recv.c -- receiving under io_uring: the provided buffer ring
 * and one multishot recv per connection (see io_uring.c for the backend).
 *
 * Where the kernel takes a provided buffer ring (5.19+), recv needs no
 * reactor buffer.  A connection's first recv arms one multishot recv on
 * it; from then on the kernel picks a buffer of the shard's ring for every
 * arrival and posts a completion, whether or not an isolate is waiting.
 * Arrivals queue per descriptor (struct ms_fd) and are handed to recv ops
 * in order; a buffer is lent for one handler call and goes back to the
 * ring at the next submit.  An end of stream or an error stays at the head
 * of the queue, so every later recv sees it.  A descriptor that closes or
 * leaves the shard is forgotten: its multishot is cancelled and its queued
 * buffers go back.  A ring that ran dry (-ENOBUFS) is re-armed once
 * buffers come back.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "uring.h"

/* ---- the provided buffer ring ------------------------------------------- */

void tina__uring_provided_free(struct uring *u) {
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
int tina__uring_provided_setup(struct uring *u, struct tina__io *io) {
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
        tina__uring_provided_free(u);
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
void tina__uring_provided_recycle(struct uring *u) {
    if (u->lent_count == 0) return;
    for (uint32_t k = 0; k < u->lent_count; k++) provided_give(u, u->lent[k], (int)k);
    io_uring_buf_ring_advance(u->br, (int)u->lent_count);
    u->lent_count = 0;
}

/* ---- multishot recv ----------------------------------------------------- */

static uint64_t ms_data(uint32_t slot, uint32_t generation) {
    return MS_BIT | (uint64_t)generation << 24 | slot;
}

/* An op answered without a completion of its own: reported at reap. */
void tina__uring_ready_push(struct uring *u, struct tina__io *io, uint32_t i, int32_t result) {
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
static uint32_t ms_feed(struct tina__io *io, struct uring *u, struct ms_fd *m, int in_reap) {
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
            tina__io_done(io, i, result);
        } else {
            tina__uring_ready_push(u, io, i, result);
        }
        fed++;
    }
    return fed;
}

void tina__uring_ms_arm(struct uring *u, struct ms_fd *m, uint32_t slot) {
    if (m->armed || m->wait_head == TINA__NIL || ms_ended(u, m)) return;
    struct io_uring_sqe *sqe = tina__uring_sqe(u);
    io_uring_prep_recv_multishot(sqe, m->os_fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, ms_data(slot, m->generation));
    m->armed = 1;
}

/* Drop what is armed and queued on a slot; waiting ops end -ECANCELED. */
static void ms_reset(struct uring *u, struct tina__io *io, struct ms_fd *m, uint32_t slot) {
    if (m->armed) {
        struct io_uring_sqe *sqe = tina__uring_sqe(u);
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
        tina__uring_ready_push(u, io, i, -ECANCELED);
    }
    m->wait_tail = TINA__NIL;
    m->os_fd = -1;
}

/* A recv op: wait on its descriptor's queue, arming the multishot. */
void tina__uring_ms_recv(struct tina__io *io, struct uring *u, uint32_t i) {
    struct tina__io_op *op = &io->ops[i];
    uint32_t slot = tina__fd_slot(op->fd);
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
    (void)ms_feed(io, u, m, 0);
    tina__uring_ms_arm(u, m, slot);
}

/* A multishot completion: queue the arrival, feed the waiting. */
uint32_t tina__uring_ms_arrived(struct tina__io *io, struct uring *u, const struct io_uring_cqe *cqe) {
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
        io->recv_starved++;
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
    uint32_t fed = ms_feed(io, u, m, 1);
    tina__uring_ms_arm(u, m, slot);
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

int tina__uring_forget(struct tina__io *io, uint32_t slot, int32_t os_fd, uint32_t generation,
                        int leaving) {
    struct uring *u = tina__uring_of(io);
    if (u->fds == NULL || slot >= io->fd_count) return 0;
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
    ms_reset(u, io, m, slot);
    return 0;
}

