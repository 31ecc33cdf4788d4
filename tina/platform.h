/*
 * platform.h -- the seam: everything the shard needs from the world.
 *
 * One table, two implementations: the production platform (tina/os/:
 * pinned threads, the monotonic clock, futex and eventfd doorbells,
 * io_uring or epoll) and the simulation platform (sim/: one thread,
 * simulated time, a simulated network and I/O drawing every choice from
 * the seed).  The shard calls each entry at most once per phase of its
 * pass; the entries return what happened as data and never call back into
 * the shard, except idle, which asks tina__shard_has_news before it sleeps.
 */
#ifndef TINA_PLATFORM_H
#define TINA_PLATFORM_H

#include "io.h"

struct tina__shard;

struct tina__platform {
    const char *name;
    int places_threads; /* pins shards to cores: wants the machine's topology (hwloc) */
    /* Clock: nanoseconds, monotonic, read once per pass. */
    uint64_t (*clock_ns)(struct tina__shard *shard);
    /* Channels (the rings themselves are channel.h).  publish: make every
     * envelope committed this pass visible to its consumer and ring
     * sleeping peers' doorbells (the simulator's network drops, delays
     * and partitions here). */
    void (*channel_publish)(struct tina__shard *shard);
    /* I/O (shard/io.c is the shard's side).  io_setup: at create, once the
     * shard's tables exist (0, or -errno: the boot fails); io_submit: hand
     * this pass's queued operations over, one submission per pass; io_reap:
     * record completions (tina__io_done), return how many; io_cancel: ask
     * for an operation's early completion (it still completes once);
     * io_ctl: the synchronous calls (>= 0, or -errno); io_teardown: at
     * destroy.  All may be called with shard->io NULL (I/O off) except
     * cancel and ctl. */
    int (*io_setup)(struct tina__shard *shard);
    void (*io_submit)(struct tina__shard *shard);
    uint32_t (*io_reap)(struct tina__shard *shard);
    void (*io_cancel)(struct tina__shard *shard, uint32_t op);
    int64_t (*io_ctl)(struct tina__shard *shard, struct tina__io_ctl *ctl);
    void (*io_teardown)(struct tina__shard *shard);
    /* Sleep until deadline_ns (UINT64_MAX: none), a doorbell or stop;
     * never past tina__shard_has_news().  wake: ring a peer's doorbell. */
    void (*idle)(struct tina__shard *shard, uint64_t deadline_ns);
    void (*wake)(struct tina__shard *shard, uint32_t peer);
};

#endif /* TINA_PLATFORM_H */
