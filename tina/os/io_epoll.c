/*
 * io_epoll.c -- the fallback I/O backend: readiness and retry over epoll.
 *
 * Used when the kernel refuses io_uring (seccomp, RLIMIT_MEMLOCK,
 * kernel.io_uring_disabled) and the spec allows the fallback, or always
 * when spec.io_backend is TINA_IO_EPOLL.  The platform (os/platform.c)
 * routes the seam to it and creates sockets O_NONBLOCK; accepted sockets are made
 * non-blocking here.  Handlers cannot tell it from io_uring: the same
 * effects, the same results (bytes, 0 or the kernel's -errno), reported
 * through tina__io_done from reap only.
 *
 * Submit tries each queued op's syscall at once (sys.c).  A result is put on the
 * done list; EAGAIN (EINPROGRESS for a connect) puts the op on the wait
 * list of its descriptor slot instead, and makes sure the os fd is
 * registered with epoll.  Reap (and wait, when the shard sleeps) asks
 * epoll which slots became ready and retries their waiters in FIFO order;
 * one still EAGAIN stays.  Only the waiters an edge concerns are retried:
 * readers on input, writers on room to write, all of them on an error or
 * a hang-up.  Then reap completes the done list, in order.
 *
 * Receive buffers are taken late (io->recv_late): a recv takes a reactor
 * buffer only for the syscall, and gives it back if the answer is EAGAIN,
 * so a recv waiting on a quiet connection holds none, as under io_uring.
 * A recv that finds every buffer out stays a waiter and its slot goes on
 * the starved list (counted in io_recv_starved); its edge was spent, so
 * the slot is retried without one, oldest first, once buffers are back.
 *
 *   slots[fd slot]   registered os fd + generation, head -> op -> op -> NIL
 *   done             head -> op -> op -> NIL   (results in op->result)
 *
 * One link per op is enough: an op is on one list at a time, linked by
 * op->backend; where[op] says which (and whether a connect is underway).
 *
 * Registration is edge-triggered, for reading and writing at once, keyed
 * by the slot.  An edge can only be missed if it came before the attempt
 * that said EAGAIN, and then that attempt would have seen the data: every
 * op tries its syscall before it waits.  A slot is registered anew when
 * its os fd or generation changes (EEXIST: the fd moved between slots on
 * this shard, so MOD re-keys it; MOD re-polls too, so no edge is lost).
 * close(2) drops the registration with the descriptor.
 *
 * Purging.  A close op first answers the waiters on its os fd with
 * -ECANCELED, then closes it.  A waiter whose descriptor entry changed
 * generation (closed under it by its owner's exit) is answered -ECANCELED
 * when its slot is next retried or registered -- never retried on an os
 * fd number that may belong to someone else by now; until then it waits
 * (or its cancel comes).  cancel() moves a waiter to the done list with
 * -ECANCELED; one already done completes as it is.
 *
 * The doorbell is an eventfd in the same epoll set (level-triggered):
 * wake() writes it from any thread, the sleeper drains it.  Allocation
 * happens in setup only.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "os.h"

#define DOORBELL_DATA ((uint64_t)UINT32_MAX) /* epoll data of the eventfd; slots are < 2^24 */
#define EVENTS_MAX 256u                      /* readiness taken per epoll_wait */
#define REGISTER_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

_Static_assert(EAGAIN == EWOULDBLOCK, "one would-block errno on Linux: compared once");

/* where[op]: the list an op in this backend's hands is on. */
enum op_place { PLACE_NONE = 0, PLACE_WAITING = 1, PLACE_DONE = 2 };
#define PLACE_CONNECTING 0x80u /* with WAITING: connect said EINPROGRESS; SO_ERROR finishes it */

/* One descriptor slot: what epoll knows of it and who waits on it. */
struct slot_waiters {
    int32_t os_fd;       /* registered with epoll for this slot, or -1 */
    uint32_t generation; /* of the tina_fd it was registered for; 0: none */
    uint32_t head, tail; /* waiting ops, FIFO, linked by op->backend; NIL when empty */
    uint32_t next_starved; /* link of the starved list */
    uint8_t starved;       /* on it: a recv here found no buffer */
};

struct epoller {
    int epoll_fd;
    int doorbell_fd;                 /* eventfd: wake() writes, the shard drains */
    struct slot_waiters *slots;      /* io->fd_count entries */
    uint8_t *where;                  /* io->op_count entries: enum op_place */
    uint32_t done_head, done_tail;   /* ops with a result for reap, FIFO */
    uint32_t waiting;                /* ops on the slots' wait lists */
    uint32_t starved_head, starved_tail; /* slots to retry once buffers are back, FIFO */
    uint64_t *recv_starved;          /* the shard's io_recv_starved counter */
    struct epoll_event events[EVENTS_MAX];
};

static struct epoller *epoller_of(struct tina__io *io) { return io->backend; }

static uint32_t slot_of(const struct tina__io *io, const struct tina__io_op *op) {
    uint32_t slot = tina__fd_slot(op->fd);
    TINA_ASSERT(slot < io->fd_count);
    return slot;
}

/* The op's descriptor entry was released (closed) since it was queued. */
static int op_stale(const struct tina__io *io, const struct tina__io_op *op) {
    return io->fds[slot_of(io, op)].generation != (uint32_t)op->fd;
}

/* ---- set-up and teardown -------------------------------------------------- */

static void epoller_free(struct epoller *p) {
    if (p->doorbell_fd >= 0) close(p->doorbell_fd);
    if (p->epoll_fd >= 0) close(p->epoll_fd);
    free(p->slots);
    free(p->where);
    free(p);
}

static int epoll_setup(struct tina__io *io) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = DOORBELL_DATA};
    int err = -ENOMEM;
    struct epoller *p = calloc(1, sizeof(*p));
    if (p == NULL) return -ENOMEM;
    p->epoll_fd = p->doorbell_fd = -1;
    p->slots = calloc(io->fd_count, sizeof(*p->slots));
    p->where = calloc(io->op_count, sizeof(*p->where));
    if (p->slots == NULL || p->where == NULL) goto fail;
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epoll_fd < 0) goto fail_errno;
    p->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->doorbell_fd < 0) goto fail_errno;
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->doorbell_fd, &ev) != 0) goto fail_errno;
    for (uint32_t k = 0; k < io->fd_count; k++)
        p->slots[k] = (struct slot_waiters){.os_fd = -1, .head = TINA__NIL, .tail = TINA__NIL};
    p->done_head = p->done_tail = TINA__NIL;
    p->starved_head = p->starved_tail = TINA__NIL;
    p->recv_starved = &io->recv_starved;
    io->recv_late = 1;
    io->backend = p;
    return 0;
fail_errno:
    err = -errno;
fail:
    epoller_free(p);
    return err;
}

/* Ops still waiting are dropped with the tables: io.c is freeing them too. */
static void epoll_teardown(struct tina__io *io) {
    epoller_free(epoller_of(io));
    io->backend = NULL;
}

/* ---- the lists ------------------------------------------------------------- */

/* A result for reap to report, after those already there. */
static void done_push(struct epoller *p, struct tina__io *io, uint32_t i, int32_t result) {
    io->ops[i].result = result; /* tina__io_done stores the same value */
    io->ops[i].backend = TINA__NIL;
    p->where[i] = PLACE_DONE;
    if (p->done_tail == TINA__NIL) p->done_head = i;
    else io->ops[p->done_tail].backend = i;
    p->done_tail = i;
}

static void waiter_push(struct epoller *p, struct tina__io *io, uint32_t slot, uint32_t i,
                        int connecting) {
    struct slot_waiters *w = &p->slots[slot];
    io->ops[i].backend = TINA__NIL;
    p->where[i] = (uint8_t)(PLACE_WAITING | (connecting ? PLACE_CONNECTING : 0u));
    if (w->tail == TINA__NIL) w->head = i;
    else io->ops[w->tail].backend = i;
    w->tail = i;
    p->waiting++;
}

/* Take waiter i (after prev, or first if prev is NIL) off its slot's list. */
static void waiter_unlink(struct epoller *p, struct tina__io *io, struct slot_waiters *w,
                          uint32_t prev, uint32_t i) {
    uint32_t next = io->ops[i].backend;
    if (prev == TINA__NIL) w->head = next;
    else io->ops[prev].backend = next;
    if (w->tail == i) w->tail = prev;
    p->where[i] = PLACE_NONE;
    p->waiting--;
}

/* Answer -ECANCELED to the waiters of slot that are on os_fd (a close) or
 * whose descriptor was closed under them. */
static void waiters_cancel(struct epoller *p, struct tina__io *io, uint32_t slot, int32_t os_fd) {
    struct slot_waiters *w = &p->slots[slot];
    uint32_t prev = TINA__NIL, i = w->head;
    for (uint32_t n = 0; i != TINA__NIL && n < io->op_count; n++) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->backend;
        if (op->os_fd == os_fd || op_stale(io, op)) {
            waiter_unlink(p, io, w, prev, i);
            done_push(p, io, i, -ECANCELED);
        } else {
            prev = i;
        }
        i = next;
    }
}

static int would_block(const struct tina__io_op *op, int32_t r) {
    return r == -EAGAIN || r == TINA__SYS_NO_BUFFER || (op->op == TINA_IO_CONNECT && r == -EINPROGRESS);
}

static void starved_push(struct epoller *p, uint32_t slot) {
    struct slot_waiters *w = &p->slots[slot];
    w->starved = 1;
    w->next_starved = TINA__NIL;
    if (p->starved_tail == TINA__NIL) p->starved_head = slot;
    else p->slots[p->starved_tail].next_starved = slot;
    p->starved_tail = slot;
}

/* A recv on slot found no buffer: retry the slot once some are back. */
static void slot_starve(struct epoller *p, uint32_t slot) {
    if (p->slots[slot].starved) return;
    starved_push(p, slot);
    ++*p->recv_starved;
}

/* ---- waiting ------------------------------------------------------------------ */

/* Make sure slot's os fd is in the epoll set under the slot's number. */
static int slot_register(struct epoller *p, struct tina__io *io, uint32_t slot,
                         const struct tina__io_op *op) {
    struct slot_waiters *w = &p->slots[slot];
    if (w->os_fd == op->os_fd && w->generation == (uint32_t)op->fd) return 0;
    waiters_cancel(p, io, slot, -1); /* a new descriptor here: waiters of the old one are stale */
    struct epoll_event ev = {.events = REGISTER_EVENTS, .data.u64 = slot};
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, op->os_fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, op->os_fd, &ev) != 0))
        return -errno;
    w->os_fd = op->os_fd;
    w->generation = (uint32_t)op->fd;
    return 0;
}

/* The op would block: wait for its slot's next edge (or fail to register). */
static void op_wait(struct epoller *p, struct tina__io *io, uint32_t i, int connecting) {
    uint32_t slot = slot_of(io, &io->ops[i]);
    int err = slot_register(p, io, slot, &io->ops[i]);
    if (err != 0) done_push(p, io, i, err);
    else waiter_push(p, io, slot, i, connecting);
}

/* Whether an edge with these events can change op's answer: readers on
 * input, writers on room to write, everyone on an error or hang-up (the
 * mask is re-polled by epoll_wait, so a readable socket always says IN).
 * Sparing the others a syscall matters: every ACK that frees send room is
 * an OUT edge, and a connection mostly waits to read. */
static int op_wants(const struct tina__io_op *op, uint32_t events) {
    uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
    uint32_t out = EPOLLOUT | EPOLLHUP | EPOLLERR;
    switch (op->op) {
    case TINA_IO_CONNECT: case TINA_IO_SEND: case TINA_IO_WRITE: case TINA_IO_SENDTO:
        return (events & out) != 0;
    default:
        return (events & in) != 0;
    }
}

/* Slot became ready (events): retry its waiters, first come first served.
 * A connect underway finishes with SO_ERROR once the socket is writable
 * or failed. */
static void slot_retry(struct epoller *p, struct tina__io *io, uint32_t slot, uint32_t events) {
    struct slot_waiters *w = &p->slots[slot];
    uint32_t prev = TINA__NIL, i = w->head;
    int starved = 0;
    for (uint32_t n = 0; i != TINA__NIL && n < io->op_count; n++) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->backend;
        int connecting = (p->where[i] & PLACE_CONNECTING) != 0;
        int32_t r = -EAGAIN;
        if (op_stale(io, op)) r = -ECANCELED;
        else if (op_wants(op, events)) r = tina__sys_try(io, op, connecting);
        if (would_block(op, r)) {
            if (r == -EINPROGRESS) p->where[i] |= PLACE_CONNECTING;
            starved |= r == TINA__SYS_NO_BUFFER;
            prev = i;
        } else {
            waiter_unlink(p, io, w, prev, i);
            done_push(p, io, i, r);
        }
        i = next;
    }
    if (starved) slot_starve(p, slot);
}

/* Buffers are back: the starved slots' readers try again, oldest first;
 * a slot that still finds none goes to the end of the list. */
static void starved_retry(struct epoller *p, struct tina__io *io) {
    uint32_t slot = p->starved_head;
    p->starved_head = p->starved_tail = TINA__NIL;
    while (slot != TINA__NIL) {
        struct slot_waiters *w = &p->slots[slot];
        uint32_t next = w->next_starved;
        w->starved = 0;
        if (io->buf_top == 0) starved_push(p, slot); /* none left for it: it keeps its turn */
        else slot_retry(p, io, slot, EPOLLIN);
        slot = next;
    }
}

static int starved_can_go(const struct epoller *p, const struct tina__io *io) {
    return p->starved_head != TINA__NIL && io->buf_top > 0;
}

static void doorbell_drain(struct epoller *p) {
    uint64_t value;
    (void)!read(p->doorbell_fd, &value, sizeof(value)); /* EAGAIN: drained already */
}

/* What epoll_wait returned: retries (results to the done list) and the
 * doorbell. */
static void events_process(struct epoller *p, struct tina__io *io, int count) {
    for (int k = 0; k < count; k++) {
        uint64_t data = p->events[k].data.u64;
        if (data == DOORBELL_DATA) {
            doorbell_drain(p);
            continue;
        }
        TINA_ASSERT(data < io->fd_count);
        slot_retry(p, io, (uint32_t)data, p->events[k].events);
    }
}

/* ---- the table ---------------------------------------------------------------- */

/* A close: answer its fd's waiters first, then close.  Its descriptor
 * entry is released already; only the slot number in op->fd is used. */
static void close_start(struct epoller *p, struct tina__io *io, uint32_t i) {
    struct tina__io_op *op = &io->ops[i];
    uint32_t slot = slot_of(io, op);
    waiters_cancel(p, io, slot, op->os_fd);
    p->slots[slot].os_fd = -1; /* close(2) takes the registration with it */
    p->slots[slot].generation = 0;
    done_push(p, io, i, close(op->os_fd) == 0 ? 0 : -errno);
}

static void epoll_submit(struct tina__io *io) {
    struct epoller *p = epoller_of(io);
    uint32_t i = io->queued_head;
    io->queued_head = io->queued_tail = TINA__NIL;
    for (uint32_t n = 0; i != TINA__NIL && n < io->op_count; n++) {
        struct tina__io_op *op = &io->ops[i];
        uint32_t next = op->next;
        op->state = TINA__OP_INFLIGHT;
        if (op->op == TINA_IO_CLOSE) {
            close_start(p, io, i);
        } else if (op->owner == 0) {
            tina__io_done(io, i, -ECANCELED); /* its isolate ended before the kernel saw it */
        } else {
            /* A descriptor closed since the effect (its owner ended) says EBADF,
             * as the kernel would, and its number is never reused by mistake. */
            int32_t r = op_stale(io, op) ? -EBADF : tina__sys_try(io, op, 0);
            if (would_block(op, r)) {
                op_wait(p, io, i, r == -EINPROGRESS);
                if (r == TINA__SYS_NO_BUFFER && (p->where[i] & PLACE_WAITING))
                    slot_starve(p, slot_of(io, op));
            } else {
                done_push(p, io, i, r);
            }
        }
        i = next;
    }
}

/* Report the done list, in order; returns how many. */
static uint32_t done_complete(struct tina__io *io, struct epoller *p) {
    uint32_t i = p->done_head, completed = 0;
    p->done_head = p->done_tail = TINA__NIL; /* taken whole: completing may free the ops */
    for (; i != TINA__NIL && completed < io->op_count; completed++) {
        uint32_t next = io->ops[i].backend;
        p->where[i] = PLACE_NONE;
        tina__io_done(io, i, io->ops[i].result);
        i = next;
    }
    return completed;
}

/* The starved first (buffers may be back), then readiness (one
 * non-blocking epoll_wait, only if anything waits), then every result.
 * Nothing waiting and nothing done: no syscall. */
static uint32_t epoll_reap(struct tina__io *io) {
    struct epoller *p = epoller_of(io);
    if (starved_can_go(p, io)) starved_retry(p, io);
    if (p->waiting > 0) {
        int count = epoll_wait(p->epoll_fd, p->events, (int)EVENTS_MAX, 0);
        if (count > 0) events_process(p, io, count);
    }
    if (p->done_head == TINA__NIL) return 0;
    return done_complete(io, p);
}

/* Teardown or shutdown asks: a waiter is answered -ECANCELED at the next
 * reap; an op already done completes as it is.  Never completes here. */
static void epoll_cancel(struct tina__io *io, uint32_t i) {
    struct epoller *p = epoller_of(io);
    if (!(p->where[i] & PLACE_WAITING)) return;
    struct slot_waiters *w = &p->slots[slot_of(io, &io->ops[i])];
    uint32_t prev = TINA__NIL, k = w->head;
    for (uint32_t n = 0; k != i && k != TINA__NIL && n < io->op_count; n++) {
        prev = k;
        k = io->ops[k].backend;
    }
    TINA_ASSERT(k == i); /* WAITING means on its slot's list */
    waiter_unlink(p, io, w, prev, i);
    done_push(p, io, i, -ECANCELED);
}

/* Milliseconds for epoll_wait, rounded up so a timer is never woken early;
 * UINT64_MAX: no timeout. */
static int timeout_ms(uint64_t timeout_ns) {
    if (timeout_ns == UINT64_MAX) return -1;
    uint64_t ms = timeout_ns / 1000000u + (timeout_ns % 1000000u != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Sleep until readiness, the doorbell or the timeout.  Retries land on the
 * done list; reap reports them at the start of the next pass. */
static void epoll_wait_for(struct tina__io *io, uint64_t timeout_ns) {
    struct epoller *p = epoller_of(io);
    int ms = p->done_head != TINA__NIL || starved_can_go(p, io) ? 0 : timeout_ms(timeout_ns);
    int count = epoll_wait(p->epoll_fd, p->events, (int)EVENTS_MAX, ms);
    if (count > 0) events_process(p, io, count); /* EINTR: back to the pass */
}

/* Any thread, or a signal handler: the doorbell.  An eventfd counter, so a
 * ring before the sleeper blocks is not lost.  errno is kept: a handler may
 * interrupt this very shard between a syscall and its errno read. */
static void epoll_wake(struct tina__io *io) {
    uint64_t one = 1;
    int saved = errno;
    (void)!write(epoller_of(io)->doorbell_fd, &one, sizeof(one));
    errno = saved;
}

static int epoll_ready(struct tina__io *io) {
    struct epoller *p = epoller_of(io);
    return p->done_head != TINA__NIL || starved_can_go(p, io);
}

/* A descriptor closing or leaving: close(2) drops its registration, and a
 * waiter left on it is answered when its slot is next looked at. */
static int epoll_forget(struct tina__io *io, uint32_t slot, int32_t os_fd, uint32_t generation,
                        int leaving) {
    (void)io, (void)slot, (void)os_fd, (void)generation, (void)leaving;
    return 0; /* epoll never reads ahead of a recv */
}

const struct tina__io_backend tina__io_backend_epoll = {
    .name = "epoll",
    .setup = epoll_setup,
    .submit = epoll_submit,
    .reap = epoll_reap,
    .cancel = epoll_cancel,
    .wait = epoll_wait_for,
    .wake = epoll_wake,
    .ready = epoll_ready,
    .forget = epoll_forget,
    .teardown = epoll_teardown,
};
