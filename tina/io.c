/*
 * io.c -- a shard's I/O tables: descriptors, operations, reactor buffers,
 * and the completions a backend reports.
 *
 * Descriptors are named by generational handles (shard | slot |
 * generation) so a stale handle is TINA_EFD_STALE, never a recycled fd.
 * Each belongs to an isolate, on its owner's list (so the isolate's end
 * closes its own without looking at the whole table).
 *
 * An operation entry is free, QUEUED for this pass's single submission,
 * INFLIGHT in the backend, or DONE: the backend reported it
 * (tina__io_done), which records its index in `done`, in order, for the
 * shard's completion phase.  An entry is recorded once per submission and
 * stays DONE until the shard frees it, so `done` never holds more than
 * op_count entries.
 *
 * Reactor buffers are the only memory the kernel touches: sends are copied
 * in, receives land there and are lent to the handler, so a late
 * operation never writes an isolate's struct.
 *
 * Allocation happens in tina__io_create only (before boot).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io.h"

/* ---- descriptors ------------------------------------------------------- */

struct tina__fd *tina__io_fd_lookup(struct tina__io *io, tina_fd fd) {
    uint32_t slot = tina__fd_slot(fd);
    if (io == NULL || (fd >> 56) != io->shard || slot >= io->fd_count) return NULL;
    struct tina__fd *e = &io->fds[slot];
    if (e->os_fd < 0 || e->generation != (uint32_t)fd) return NULL;
    return e;
}

struct tina__fd *tina__io_op_fd(struct tina__io *io, const struct tina__io_op *op) {
    uint32_t slot = tina__fd_slot(op->fd);
    if (slot >= io->fd_count || io->fds[slot].generation != (uint32_t)op->fd) return NULL;
    return &io->fds[slot];
}

tina_fd tina__io_fd_install(struct tina__io *io, int32_t os_fd, tina_handle owner) {
    if (io == NULL || io->fd_free == TINA__NIL) return TINA_FD_NONE;
    uint32_t slot = io->fd_free;
    struct tina__fd *e = &io->fds[slot];
    io->fd_free = e->next;
    e->os_fd = os_fd;
    e->owner = owner;
    e->inflight = 0;
    uint32_t *head = tina__io_owned_head(io, owner);
    e->prev = TINA__NIL;
    e->next = *head;
    if (*head != TINA__NIL) io->fds[*head].prev = slot;
    *head = slot;
    io->fds_open++;
    return tina__fd_handle(io, slot, e->generation);
}

void tina__io_fd_release(struct tina__io *io, struct tina__fd *e) {
    if (e->prev != TINA__NIL) io->fds[e->prev].next = e->next;
    else *tina__io_owned_head(io, e->owner) = e->next;
    if (e->next != TINA__NIL) io->fds[e->next].prev = e->prev;
    e->os_fd = -1;
    e->owner = 0;
    e->generation = (e->generation + 1) ? e->generation + 1 : 1;
    e->next = io->fd_free;
    io->fd_free = (uint32_t)(e - io->fds);
    io->fds_open--;
}

/* ---- operations ------------------------------------------------------------ */

uint32_t tina__io_op_alloc(struct tina__io *io) {
    uint32_t i = io->op_free;
    if (i != TINA__NIL) io->op_free = io->ops[i].next;
    return i;
}

void tina__io_op_free(struct tina__io *io, uint32_t i) {
    struct tina__io_op *op = &io->ops[i];
    if (op->buf != TINA__NIL) tina__io_buf_put(io, op->buf);
    op->buf = TINA__NIL;
    op->state = TINA__OP_FREE;
    op->next = io->op_free;
    io->op_free = i;
}

void tina__io_op_queue(struct tina__io *io, uint32_t i) {
    io->inflight++; /* from here on it completes exactly once, through the backend */
    io->ops[i].state = TINA__OP_QUEUED;
    io->ops[i].next = TINA__NIL;
    if (io->queued_tail == TINA__NIL) io->queued_head = i;
    else io->ops[io->queued_tail].next = i;
    io->queued_tail = i;
}

void tina__io_done(struct tina__io *io, uint32_t i, int32_t result) {
    struct tina__io_op *op = &io->ops[i];
    TINA_ASSERT(op->state == TINA__OP_INFLIGHT || op->state == TINA__OP_QUEUED);
    op->state = TINA__OP_DONE;
    op->result = result;
    io->inflight -= 1;
    struct tina__fd *fd = op->op == TINA_IO_CLOSE ? NULL : tina__io_op_fd(io, op);
    if (fd != NULL && fd->inflight > 0) fd->inflight--;
    /* An orphan's buffer is back at once, for the ops the backend decides
     * next in this same reap. */
    if (op->owner == 0 && op->buf != TINA__NIL) {
        tina__io_buf_put(io, op->buf);
        op->buf = TINA__NIL;
    }
    TINA_ASSERT(io->done_count < io->op_count);
    io->done[io->done_count++] = i;
}

/* ---- create and destroy ------------------------------------------------------ */

uint64_t tina__io_bytes(const tina_spec *spec) {
    if (spec->fd_slots == 0) return 0;
    uint64_t bufs = spec->io_buffers, fds = spec->fd_slots, ops = bufs + fds;
    uint64_t provided = 8;
    while (provided * 2 <= bufs && provided * 2 <= 4096) provided *= 2;
    uint64_t isolates = 0;
    for (uint32_t t = 0; t < spec->type_count; t++) isolates += spec->types[t].slots_per_shard;
    return isolates * sizeof(uint32_t) + /* each isolate's list of descriptors */
           fds * (sizeof(struct tina__fd) + 64) /* + a backend's per-descriptor state */ +
           ops * (sizeof(struct tina__io_op) + 4 + 96) /* + done list, msghdr, iovec */ +
           bufs * 8 + (bufs + provided) * spec->io_buffer_bytes; /* reactor, provided buffers */
}

static void tables_init(struct tina__io *io, uint32_t isolates) {
    for (uint32_t k = 0; k < isolates; k++) io->owned[k] = TINA__NIL;
    for (uint32_t k = 0; k < io->fd_count; k++)
        io->fds[k] = (struct tina__fd){.os_fd = -1, .generation = 1, .next = k + 1};
    io->fds[io->fd_count - 1].next = TINA__NIL;
    for (uint32_t k = 0; k < io->op_count; k++) io->ops[k].next = k + 1;
    io->ops[io->op_count - 1].next = TINA__NIL;
    for (uint32_t k = 0; k < io->buf_count; k++) io->buf_stack[k] = io->buf_count - 1 - k;
    io->buf_top = io->buf_count;
    io->queued_head = io->queued_tail = TINA__NIL;
}

struct tina__io *tina__io_create(const tina_spec *spec, uint32_t shard,
                                 const struct tina__type *types, uint32_t type_count, int *err) {
    struct tina__io *io = calloc(1, sizeof(*io));
    *err = -ENOMEM;
    if (io == NULL) return NULL;
    io->shard = shard;
    io->fd_count = spec->fd_slots;
    io->buf_count = spec->io_buffers;
    io->buf_bytes = spec->io_buffer_bytes;
    io->op_count = io->buf_count + io->fd_count;
    io->fds = calloc(io->fd_count, sizeof(*io->fds));
    io->ops = calloc(io->op_count, sizeof(*io->ops));
    io->done = calloc(io->op_count, sizeof(uint32_t));
    io->buf_stack = calloc(io->buf_count, sizeof(uint32_t));
    io->loaned = calloc(io->buf_count, sizeof(uint32_t));
    uint32_t isolates = 0;
    for (uint32_t t = 0; t < type_count; t++) {
        io->owner_base[t] = isolates;
        isolates += types[t].capacity;
    }
    io->owned = malloc((size_t)isolates * sizeof(uint32_t));
    size_t bytes = (size_t)io->buf_count * io->buf_bytes;
    io->bufs = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                    -1, 0);
    if (io->bufs == MAP_FAILED) io->bufs = NULL;
    if (!io->fds || !io->ops || !io->done || !io->buf_stack || !io->loaned || !io->owned ||
        !io->bufs) {
        tina__io_destroy(io);
        return NULL;
    }
    tables_init(io, isolates);
    *err = 0;
    return io;
}

/* The memory only: the shard closed the descriptors and the backend first. */
void tina__io_destroy(struct tina__io *io) {
    if (io == NULL) return;
    if (io->bufs) munmap(io->bufs, (size_t)io->buf_count * io->buf_bytes);
    free(io->fds);
    free(io->ops);
    free(io->done);
    free(io->buf_stack);
    free(io->loaned);
    free(io->owned);
    free(io);
}
