/*
 * io.h -- a shard's I/O tables (io.c) and the backend interface.
 *
 * The descriptor table (generational tina_fd handles, each owned by an
 * isolate), the operation table, the reactor buffers, and the list of
 * completions a backend recorded.  A backend -- io_uring or epoll
 * (tina/os/), the simulated network (sim/io.c) -- takes the operations
 * queued this pass and reports each completion once, as data
 * (tina__io_done); the shard reads the list in its completion phase and
 * wakes the isolates (shard/io.c).  Nothing here calls up.
 */
#ifndef TINA_IO_H
#define TINA_IO_H

#include "slot.h"

/* One descriptor of the shard's table; its tina_fd is shard | slot | generation. */
struct tina__fd {
    int32_t os_fd;        /* -1 when free */
    uint32_t generation;  /* never 0 */
    tina_handle owner;    /* the isolate it is closed with */
    uint32_t next, prev;  /* free list (next), or its owner's list of descriptors */
    uint32_t inflight;    /* operations in flight on it */
};

enum tina__op_state { TINA__OP_FREE = 0, TINA__OP_QUEUED, TINA__OP_INFLIGHT, TINA__OP_DONE };

/* One operation.  The backend reads op, os_fd, buf/len/offset/addr and
 * answers with tina__io_done(op index, result). */
struct tina__io_op {
    tina_handle owner;   /* the parked isolate; 0 once it ended (orphan) */
    tina_fd fd;
    int32_t os_fd;
    int32_t result;      /* bytes, 0 or -errno; accept: the new os fd */
    int32_t error;       /* a tina_result when Tina refused it */
    uint32_t len;
    uint32_t buf;        /* reactor buffer index, or NIL */
    uint32_t next;       /* free list, submit queue or refused list */
    uint64_t offset;
    uint8_t op;          /* tina_io_op */
    uint8_t state;       /* enum tina__op_state */
    uint8_t cancel;      /* cancel asked */
    uint8_t addr_len;
    uint8_t timed_out;   /* its timeout fired: a cancelled result reads -ETIMEDOUT */
    uint32_t timer;      /* its timeout's timer entry, or NIL */
    uint32_t backend;    /* the backend's own word (epoll, io_uring: a list link) */
    const uint8_t *data; /* recv: the backend's own buffer (a provided ring), or NULL */
    uint8_t addr[28];    /* connect/sendto: the target; accept/recvfrom: the peer */
    uint32_t msg_addr_len; /* backend scratch for recvmsg/accept address length */
};

struct tina__io {
    uint32_t shard;                      /* the shard bits of its tina_fd handles */
    struct tina__fd *fds;
    uint32_t fd_count, fd_free, fds_open;
    uint32_t *owned;                     /* per isolate slot of the shard: its first descriptor */
    uint32_t owner_base[TINA_TYPE_COUNT_MAX]; /* index in owned[] of a type's slot 0 */
    struct tina__io_op *ops;
    uint32_t op_count, op_free;
    uint32_t queued_head, queued_tail;   /* ops to submit this pass, FIFO */
    uint32_t *done, done_count;          /* completed ops the shard has not seen, in order */
    uint8_t *bufs;                       /* buf_count x buf_bytes, mmap'd */
    uint32_t buf_count, buf_bytes;
    uint32_t *buf_stack, buf_top;        /* free buffers */
    uint32_t *loaned, loaned_count;      /* lent to handlers this pass: back after dispatch */
    uint32_t inflight;                   /* ops handed to the backend, not yet complete */
    int last_errno;
    uint32_t backend_kind;               /* tina_io_backend resolved (URING or EPOLL) */
    uint8_t recv_provided;               /* the backend brings recv buffers (op->data) */
    uint8_t recv_late;                   /* the backend takes a recv's reactor buffer when it
                                            tries the syscall: a waiting recv holds none */
    uint64_t recv_starved;               /* stats.io_recv_starved, counted by the backend */
    void *backend;                       /* the backend's state */
};

enum tina__io_ctl_op {
    TINA__CTL_SOCKET, TINA__CTL_BIND, TINA__CTL_LISTEN, TINA__CTL_SETSOCKOPT,
    TINA__CTL_OPEN, TINA__CTL_CLOSE, TINA__CTL_LOCAL_PORT,
    TINA__CTL_FORGET /* the descriptor leaves this shard's table without a close */
};

/* A synchronous call (the platform's io_ctl). */
struct tina__io_ctl {
    uint32_t op;         /* enum tina__io_ctl_op */
    int32_t os_fd;
    int a, b, c;         /* socket: domain/type/protocol; listen: backlog; setsockopt: level/name;
                            close, forget: the table slot (-1 if none) and its generation */
    const void *ptr;     /* bind: address; setsockopt: value; open: path */
    uint32_t len;        /* bind: address bytes; setsockopt: value bytes; open: mode */
};

/* A production I/O backend (tina/os/); the production platform picks one
 * per runtime at create (io_uring, or the epoll fallback) and routes its
 * seam entries to it.  submit takes the ops queued this pass
 * (io->queued_head, linked by op->next; it marks each INFLIGHT and empties
 * the queue); an orphan (owner 0) that is not a close may be completed at
 * once with -ECANCELED.  Every completion is reported once through
 * tina__io_done; reap returns how many it reported.  wait blocks until a
 * completion, wake() (any thread) or the timeout.  forget: the descriptor
 * in that table slot is closing (leaving 0) or being handed over
 * (leaving 1); drop whatever the backend keeps armed on it.  Handing over
 * returns -EBUSY, changing nothing, if data already arrived for it that no
 * recv took. */
struct tina__io_backend {
    const char *name;
    int (*setup)(struct tina__io *io);  /* 0, or -errno; sets io->backend */
    void (*submit)(struct tina__io *io);
    uint32_t (*reap)(struct tina__io *io);
    void (*cancel)(struct tina__io *io, uint32_t op);
    void (*wait)(struct tina__io *io, uint64_t timeout_ns); /* UINT64_MAX: no timeout */
    void (*wake)(struct tina__io *io);
    int (*ready)(struct tina__io *io);  /* completions waiting, without a syscall */
    int (*forget)(struct tina__io *io, uint32_t slot, int32_t os_fd, uint32_t generation,
                  int leaving);
    void (*teardown)(struct tina__io *io);
};

/* ---- the tables ------------------------------------------------------------ */

/* At create (the only allocation): tables for fd_slots descriptors and
 * io_buffers buffers, an owner list per isolate slot of these types.
 * NULL (and *err = -errno) if memory is short. */
struct tina__io *tina__io_create(const tina_spec *spec, uint32_t shard,
                                 const struct tina__type *types, uint32_t type_count, int *err);
void tina__io_destroy(struct tina__io *io);
/* What tina__io_create and a backend take for one shard, for the boot
 * report's memory figure (spec with defaults resolved). */
uint64_t tina__io_bytes(const tina_spec *spec);

static inline uint32_t tina__fd_slot(tina_fd fd) { return (uint32_t)(fd >> 32) & 0xffffffu; }

static inline tina_fd tina__fd_handle(const struct tina__io *io, uint32_t slot,
                                      uint32_t generation) {
    return (tina_fd)io->shard << 56 | (tina_fd)slot << 32 | generation;
}

/* The live entry fd names on this shard, or NULL. */
struct tina__fd *tina__io_fd_lookup(struct tina__io *io, tina_fd fd);
/* The entry an op ran on, if it is still the same one. */
struct tina__fd *tina__io_op_fd(struct tina__io *io, const struct tina__io_op *op);
/* A new descriptor owned by `owner`; TINA_FD_NONE if the table is full. */
tina_fd tina__io_fd_install(struct tina__io *io, int32_t os_fd, tina_handle owner);
/* Forget a descriptor (its os fd is closed or handed on by the caller). */
void tina__io_fd_release(struct tina__io *io, struct tina__fd *e);
/* The head of an isolate's list of descriptors. */
static inline uint32_t *tina__io_owned_head(struct tina__io *io, tina_handle owner) {
    return &io->owned[io->owner_base[tina_handle_type(owner)] + tina_handle_slot(owner)];
}

uint32_t tina__io_op_alloc(struct tina__io *io); /* NIL if every entry is in use */
void tina__io_op_free(struct tina__io *io, uint32_t i);
/* For this pass's submission; from here on it completes exactly once. */
void tina__io_op_queue(struct tina__io *io, uint32_t i);

/* The backend's report: op i completed with `result`. */
void tina__io_done(struct tina__io *io, uint32_t i, int32_t result);

static inline uint8_t *tina__io_buf(struct tina__io *io, uint32_t b) {
    return io->bufs + (size_t)b * io->buf_bytes;
}

static inline void tina__io_buf_put(struct tina__io *io, uint32_t b) {
    TINA_ASSERT_DEBUG(io->buf_top < io->buf_count);
    io->buf_stack[io->buf_top++] = b;
}

/* recv_late backends, as a recv or recvfrom is tried: a reactor buffer for
 * it (0; kept if it has one), or -1 if every buffer is out. */
static inline int tina__io_buf_take(struct tina__io *io, struct tina__io_op *op) {
    if (op->buf != TINA__NIL) return 0;
    if (io->buf_top == 0) return -1;
    op->buf = io->buf_stack[--io->buf_top];
    return 0;
}

/* ... and back when the try would have blocked: the op waits without it. */
static inline void tina__io_buf_give(struct tina__io *io, struct tina__io_op *op) {
    io->buf_stack[io->buf_top++] = op->buf;
    op->buf = TINA__NIL;
}

#endif /* TINA_IO_H */
