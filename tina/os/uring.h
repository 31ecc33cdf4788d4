/*
 * uring.h -- what the io_uring backend's two files share (io_uring.c: the
 * ring, submit and reap; io_uring_recv.c: the provided buffer ring and
 * the multishot recv).  Private to tina/os/.
 */
#ifndef TINA_OS_URING_H
#define TINA_OS_URING_H

#include <liburing.h>

#include "io.h"

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

static inline struct uring *tina__uring_of(struct tina__io *io) { return io->backend; }

/* io_uring.c */
struct io_uring_sqe *tina__uring_sqe(struct uring *u);

/* io_uring_recv.c */
int tina__uring_provided_setup(struct uring *u, struct tina__io *io);
void tina__uring_provided_free(struct uring *u);
void tina__uring_provided_recycle(struct uring *u);
void tina__uring_ready_push(struct uring *u, struct tina__io *io, uint32_t i, int32_t result);
void tina__uring_ms_arm(struct uring *u, struct ms_fd *m, uint32_t slot);
void tina__uring_ms_recv(struct tina__io *io, struct uring *u, uint32_t i);
uint32_t tina__uring_ms_arrived(struct tina__io *io, struct uring *u, const struct io_uring_cqe *cqe);
int tina__uring_forget(struct tina__io *io, uint32_t slot, int32_t os_fd, uint32_t generation,
                       int leaving);

#endif /* TINA_OS_URING_H */
