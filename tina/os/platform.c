/*
 * platform.c -- the production platform: pinned threads, the
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

#include "os.h"
#include "shard/shard.h"

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


/* Ring the doorbell of a peer if it sleeps.  Also used by tina_stop.  A
 * shard with I/O sleeps in its backend (io_uring or epoll), woken by an
 * eventfd; the others on the futex. */
void tina__doorbell(struct tina__shard *peer, int always) {
    if (always || atomic_load_explicit(&peer->sleeping, memory_order_relaxed)) {
        atomic_store_explicit(&peer->sleeping, 0, memory_order_relaxed);
        if (peer->io != NULL && peer->io->backend != NULL) tina__io_backend_of(peer->io)->wake(peer->io);
        else futex_wake(&peer->sleeping);
    }
}

/* ---- the table ---------------------------------------------------------- */

static uint64_t thread_clock_ns(struct tina__shard *s) {
    (void)s;
    return tina__monotonic_ns();
}

static void thread_channel_publish(struct tina__shard *s) {
    uint64_t dirty = s->chan.out_dirty;
    if (dirty == 0) return;
    s->chan.out_dirty = 0;
    for (uint64_t bits = dirty; bits; bits &= bits - 1)
        (void)ring_publish(s->chan.outbound[__builtin_ctzll(bits)]);
    light_barrier(s->rt);
    for (uint64_t bits = dirty; bits; bits &= bits - 1) {
        struct tina__shard *peer = s->rt->shards[__builtin_ctzll(bits)];
        if (atomic_load_explicit(&peer->sleeping, memory_order_relaxed)) {
            tina__doorbell(peer, 1);
            s->stats.wakeups_sent++;
        }
    }
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
        err = tina__io_backend_uring.setup(s->io);
        if (err == 0 || want == TINA_IO_URING) return err;
        static _Atomic int announced;
        if (!atomic_exchange(&announced, 1))
            fprintf(stderr, "tina: io_uring is unavailable (%s): using epoll. Allow io_uring_setup "
                            "in the seccomp profile, raise RLIMIT_MEMLOCK, or set "
                            "sysctl kernel.io_uring_disabled=0 to get it back.\n",
                    strerror(-err));
    }
    s->io->backend_kind = TINA_IO_EPOLL;
    return tina__io_backend_epoll.setup(s->io);
}

static void thread_io_submit(struct tina__shard *s) {
    if (s->io != NULL && s->io->backend != NULL) tina__io_backend_of(s->io)->submit(s->io); /* cheap when idle */
}

static uint32_t thread_io_reap(struct tina__shard *s) {
    if (s->io == NULL || s->io->backend == NULL) return 0;
    return tina__io_backend_of(s->io)->reap(s->io); /* also takes back a doorbell that rang */
}

static void thread_io_cancel(struct tina__shard *s, uint32_t op) {
    tina__io_backend_of(s->io)->cancel(s->io, op);
}

static int64_t thread_io_ctl(struct tina__shard *s, struct tina__io_ctl *c) {
    return tina__sys_ctl(s->io, c);
}

static void thread_io_teardown(struct tina__shard *s) {
    tina__io_backend_of(s->io)->teardown(s->io);
}

static int inbound_readable(struct tina__shard *s) {
    for (uint32_t from = 0; from < s->shard_count; from++)
        if (from != s->id && ring_readable(s->chan.inbound[from])) return 1;
    return 0;
}

static void thread_idle(struct tina__shard *s, uint64_t deadline_ns) {
    struct tina_runtime *rt = s->rt;
    const struct tina__io_backend *io = s->io != NULL ? tina__io_backend_of(s->io) : NULL;
    atomic_store_explicit(&s->sleeping, 1, memory_order_relaxed);
    heavy_barrier(rt);
    if (inbound_readable(s) || tina__shard_has_news(s) || (io && io->ready(s->io))) {
        atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
        return;
    }
    uint64_t timeout = UINT64_MAX;
    if (deadline_ns != UINT64_MAX) {
        uint64_t now = tina__monotonic_ns();
        if (deadline_ns <= now) {
            atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
            return;
        }
        timeout = deadline_ns - now;
    }
    s->stats.sleeps++;
    tina__shard_publish_stats(s); /* other threads see this very sleep counted */
    if (io) io->wait(s->io, timeout); /* completions, the eventfd doorbell or the timeout */
    else futex_wait(&s->sleeping, 1, timeout);
    atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
}

const struct tina__platform tina__platform_thread = {
    .name = "thread",
    .places_threads = 1,
    .clock_ns = thread_clock_ns,
    .channel_publish = thread_channel_publish,
    .io_setup = thread_io_setup,
    .io_submit = thread_io_submit,
    .io_reap = thread_io_reap,
    .io_cancel = thread_io_cancel,
    .io_ctl = thread_io_ctl,
    .io_teardown = thread_io_teardown,
    .idle = thread_idle,
    .wake = thread_wake,
};
