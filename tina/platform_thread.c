/*
 * platform_thread.c -- the production platform: pinned threads, the
 * monotonic clock, SPSC rings between shards and futex doorbells.
 *
 * Laid out like Redis's ae_epoll.c: private helpers, static functions, then
 * the table the shard calls through (struct tina__platform).  The shard
 * never sees any of this; the simulator provides a table of its own.
 *
 * Sleeping and waking.  A shard that has been idle for idle_spin_ns goes to
 * sleep on its `sleeping` word.  The race to close is the classic one: a
 * producer publishes a ring tail just as the consumer decides to sleep.
 *
 *   sleeper (rare)                     producer (once per pass, per channel)
 *   sleeping = 1                       tail = pending          (release)
 *   HEAVY barrier                      LIGHT barrier (compiler only)
 *   any inbound tail moved? -> run     sleeping == 1? -> sleeping = 0, futex_wake
 *   futex_wait(sleeping, 1, timeout)
 *
 * The heavy barrier is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): it
 * forces a full fence on every running thread of the process, so either
 * the producer's tail store is visible to the sleeper's check, or the
 * sleeper's flag store is visible to the producer's load.  The cost sits
 * on the side that is about to sleep anyway; the producer pays a plain
 * load.  Where membarrier is unavailable both sides use a seq_cst fence
 * (the producer's once per pass with output, never per message).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns != UINT64_MAX) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word) {
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Register for expedited membarrier once per process; 1 if usable. */
int tina__membarrier_register(void) {
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return 0;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

static void heavy_barrier(const struct tina_runtime *rt) {
    if (!rt->membarrier_ok ||
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        atomic_thread_fence(memory_order_seq_cst);
}

static void light_barrier(const struct tina_runtime *rt) {
    if (rt->membarrier_ok) atomic_signal_fence(memory_order_seq_cst);
    else atomic_thread_fence(memory_order_seq_cst);
}

static const struct tina__io_backend *backend_of(const struct tina__shard *s) {
    return s->io->backend_kind == TINA_IO_EPOLL ? &tina__io_backend_epoll : &tina__io_backend_uring;
}

/* Ring the doorbell of a peer if it sleeps.  Also used by tina_stop.  A
 * shard with I/O sleeps in its backend (io_uring or epoll), woken by an
 * eventfd; the others on the futex. */
void tina__doorbell(struct tina__shard *peer, int always) {
    if (always || atomic_load_explicit(&peer->sleeping, memory_order_relaxed)) {
        atomic_store_explicit(&peer->sleeping, 0, memory_order_relaxed);
        if (peer->io != NULL && peer->io->backend != NULL) backend_of(peer)->wake(peer);
        else futex_wake(&peer->sleeping);
    }
}

/* ---- the table ---------------------------------------------------------- */

static uint64_t thread_clock_ns(struct tina__shard *s) {
    (void)s;
    return monotonic_ns();
}

static tina_msg *thread_channel_reserve(struct tina__shard *s, uint32_t to) {
    /* A peer in quarantine takes nothing: its handles are all stale. */
    if (atomic_load_explicit(&s->rt->shards[to]->transitions, memory_order_relaxed) & 1u)
        return TINA__CHANNEL_DOWN;
    tina_msg *m = ring_reserve(s->outbound[to]);
    if (m) s->out_dirty |= 1ull << to;
    return m;
}

static void thread_channel_commit(struct tina__shard *s, uint32_t to) {
    ring_commit(s->outbound[to]);
}

static void thread_channel_publish(struct tina__shard *s) {
    uint64_t dirty = s->out_dirty;
    if (dirty == 0) return;
    s->out_dirty = 0;
    for (uint64_t bits = dirty; bits; bits &= bits - 1)
        (void)ring_publish(s->outbound[__builtin_ctzll(bits)]);
    light_barrier(s->rt);
    for (uint64_t bits = dirty; bits; bits &= bits - 1) {
        struct tina__shard *peer = s->rt->shards[__builtin_ctzll(bits)];
        if (atomic_load_explicit(&peer->sleeping, memory_order_relaxed)) {
            tina__doorbell(peer, 1);
            s->stats.wakeups_sent++;
        }
    }
}

static uint32_t thread_channel_peek(struct tina__shard *s, uint32_t from, tina_msg **first,
                                    int refresh) {
    return ring_peek(s->inbound[from], first, refresh);
}

static void thread_channel_release(struct tina__shard *s, uint32_t from, uint32_t count) {
    ring_release(s->inbound[from], count);
}

static void thread_wake(struct tina__shard *s, uint32_t peer) {
    tina__doorbell(s->rt->shards[peer], 1);
}

/* ---- I/O: routed to the backend chosen at create ------------------------- */

/* io_uring unless the spec says epoll; the fallback when the kernel
 * refuses io_uring and the spec allows it, announced once per process. */
static int thread_io_setup(struct tina__shard *s) {
    uint32_t want = s->rt->spec.io_backend;
    int err = -ENOSYS;
    if (want != TINA_IO_EPOLL) {
        s->io->backend_kind = TINA_IO_URING;
        err = tina__io_backend_uring.setup(s);
        if (err == 0 || want == TINA_IO_URING) return err;
        static _Atomic int announced;
        if (!atomic_exchange(&announced, 1))
            fprintf(stderr, "tina: io_uring is unavailable (%s): using epoll. Allow io_uring_setup "
                            "in the seccomp profile, raise RLIMIT_MEMLOCK, or set "
                            "sysctl kernel.io_uring_disabled=0 to get it back.\n",
                    strerror(-err));
    }
    s->io->backend_kind = TINA_IO_EPOLL;
    return tina__io_backend_epoll.setup(s);
}

static void thread_io_submit(struct tina__shard *s) {
    if (s->io != NULL && s->io->backend != NULL) backend_of(s)->submit(s); /* cheap when idle */
}

static uint32_t thread_io_reap(struct tina__shard *s) {
    if (s->io == NULL || s->io->backend == NULL) return 0;
    return backend_of(s)->reap(s); /* also takes back a doorbell that rang */
}

static void thread_io_cancel(struct tina__shard *s, uint32_t op) {
    backend_of(s)->cancel(s, op);
}

static void thread_io_teardown(struct tina__shard *s) {
    backend_of(s)->teardown(s);
}

static int64_t errno_result(long r) { return r < 0 ? -(int64_t)errno : (int64_t)r; }

/* The synchronous calls.  Sockets are blocking under io_uring (which polls
 * for them) and non-blocking under epoll; always close-on-exec. */
static int64_t thread_io_ctl(struct tina__shard *s, struct tina__io_ctl *c) {
    int nonblock = s->io->backend_kind == TINA_IO_EPOLL;
    switch (c->op) {
    case TINA__CTL_SOCKET:
        return errno_result(socket(c->a, c->b | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), c->c));
    case TINA__CTL_BIND:
        return errno_result(bind(c->os_fd, (const struct sockaddr *)c->ptr, c->len));
    case TINA__CTL_LISTEN:
        return errno_result(listen(c->os_fd, c->a));
    case TINA__CTL_SETSOCKOPT:
        return errno_result(setsockopt(c->os_fd, c->a, c->b, c->ptr, c->len));
    case TINA__CTL_OPEN:
        return errno_result(open((const char *)c->ptr, c->a | O_CLOEXEC, (mode_t)c->len));
    case TINA__CTL_CLOSE:
        if (c->a >= 0) (void)backend_of(s)->forget(s, (uint32_t)c->a, c->os_fd, (uint32_t)c->b, 0);
        return errno_result(close(c->os_fd));
    case TINA__CTL_FORGET:
        return backend_of(s)->forget(s, (uint32_t)c->a, c->os_fd, (uint32_t)c->b, 1);
    case TINA__CTL_LOCAL_PORT: {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(c->os_fd, (struct sockaddr *)&ss, &len) != 0) return -(int64_t)errno;
        if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return -EAFNOSUPPORT;
    }
    default:
        return -EINVAL;
    }
}

static int inbound_readable(struct tina__shard *s) {
    for (uint32_t from = 0; from < s->shard_count; from++)
        if (from != s->id && ring_readable(s->inbound[from])) return 1;
    return 0;
}

static void thread_idle(struct tina__shard *s, uint64_t deadline_ns) {
    struct tina_runtime *rt = s->rt;
    const struct tina__io_backend *io = s->io != NULL ? backend_of(s) : NULL;
    atomic_store_explicit(&s->sleeping, 1, memory_order_relaxed);
    heavy_barrier(rt);
    if (inbound_readable(s) || tina__shard_has_news(s) || (io && io->ready(s))) {
        atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
        return;
    }
    uint64_t timeout = UINT64_MAX;
    if (deadline_ns != UINT64_MAX) {
        uint64_t now = monotonic_ns();
        if (deadline_ns <= now) {
            atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
            return;
        }
        timeout = deadline_ns - now;
    }
    s->stats.sleeps++;
    tina__shard_publish_stats(s); /* other threads see this very sleep counted */
    if (io) io->wait(s, timeout); /* completions, the eventfd doorbell or the timeout */
    else futex_wait(&s->sleeping, 1, timeout);
    atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
}

const struct tina__platform tina__platform_thread = {
    .name = "thread",
    .places_threads = 1,
    .clock_ns = thread_clock_ns,
    .channel_reserve = thread_channel_reserve,
    .channel_commit = thread_channel_commit,
    .channel_publish = thread_channel_publish,
    .channel_peek = thread_channel_peek,
    .channel_release = thread_channel_release,
    .io_setup = thread_io_setup,
    .io_submit = thread_io_submit,
    .io_reap = thread_io_reap,
    .io_cancel = thread_io_cancel,
    .io_ctl = thread_io_ctl,
    .io_teardown = thread_io_teardown,
    .idle = thread_idle,
    .wake = thread_wake,
};
