/*
 * os.h -- the production platform (tina/os/): pinned threads, the
 * monotonic clock, futex and eventfd doorbells, io_uring with an epoll
 * fallback, hwloc topology and the watchdog thread.
 *
 * tina__platform_thread is one implementation of the seam (platform.h);
 * sim/ holds the other.  Only runtime.c, which creates and runs the
 * threads, reaches past the table into these.
 */
#ifndef TINA_OS_H
#define TINA_OS_H

#include <stddef.h>
#include <time.h>

#include "io.h"
#include "world.h"

extern const struct tina__platform tina__platform_thread;

/* The production clock: nanoseconds, monotonic. */
static inline uint64_t tina__monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* platform.c */
int tina__membarrier_register(void); /* once per process; 1 if usable */
/* Ring a peer's doorbell if it sleeps (always: ring anyway). */
void tina__doorbell(struct tina__shard *peer, int always);

/* io_uring.c, io_epoll.c: the backends the platform routes I/O to. */
extern const struct tina__io_backend tina__io_backend_uring, tina__io_backend_epoll;

static inline const struct tina__io_backend *tina__io_backend_of(const struct tina__io *io) {
    return io->backend_kind == TINA_IO_EPOLL ? &tina__io_backend_epoll : &tina__io_backend_uring;
}

/* sys.c: the plain system calls.  One attempt at an op's syscall, never
 * blocking: bytes, 0, a new os fd (accept) or -errno; -EAGAIN or
 * -EINPROGRESS mean wait, and so does TINA__SYS_NO_BUFFER (a recv with
 * every reactor buffer out).  connecting: a connect underway, finished by
 * SO_ERROR. */
#define TINA__SYS_NO_BUFFER INT32_MIN
int32_t tina__sys_try(struct tina__io *io, struct tina__io_op *op, int connecting);
/* The synchronous set-up calls of io_ctl (>= 0, or -errno). */
int64_t tina__sys_ctl(struct tina__io *io, struct tina__io_ctl *c);

/* topology.c */
void *tina__topology_open(void);
void tina__topology_close(struct tina_runtime *rt);
tina_result tina__topology_cores(const tina_spec *spec, int with_topology, uint32_t *shard_count,
                                 uint32_t *cores, uint32_t *oversubscribed, char *why,
                                 size_t why_size);
uint64_t tina__memory_limit(void);
tina_result tina__arena_map(struct tina_runtime *rt, uint32_t shard, size_t bytes);
void tina__arena_unmap(struct tina__arena *arena);
int tina__pin_thread(uint32_t os_cpu);

/* watchdog.c */
int tina__watchdog_start(struct tina_runtime *rt);
void tina__watchdog_arm(struct tina_runtime *rt);
void tina__watchdog_disarm(struct tina_runtime *rt);
void tina__watchdog_stop(struct tina_runtime *rt);

#endif /* TINA_OS_H */
