/*
 * world.h -- what the shards of one runtime share: the resolved boot spec,
 * the static children and where each is placed, the flags every shard
 * reads (stop, shutdown, drained, the quarantine epoch and each shard's
 * transitions), the table of shards and their arenas, and the foreign
 * caller table (callers.h).
 *
 * struct tina_runtime is allocated once by tina_create, before any thread
 * starts; everything else of a shard is carved out of its grand arena
 * (layout.h is the memory map).  A shard writes here only through
 * atomics, and only its own transitions word and the shared counters.
 */
#ifndef TINA_WORLD_H
#define TINA_WORLD_H

#include <pthread.h>
#include <stdatomic.h>

#include "callers.h"
#include "inbox.h"
#include "tree.h"

struct tina__shard;
struct tina__platform;

struct tina__arena {
    void *map;         /* mmap base (guard page first) */
    size_t map_bytes;  /* with both guard pages */
    uint8_t *base;     /* first usable byte */
    size_t bytes;      /* usable */
};

struct tina_runtime {
    tina_spec spec;                  /* with defaults resolved */
    tina_type_spec *types;           /* copy */
    struct tina__child *children;    /* copy, args copied */
    uint32_t *child_slot;            /* [child * shard_count + shard]: boot slot or NIL */
    tina_ring_override *ring_overrides;
    uint32_t shard_count;
    uint32_t cores[TINA_SHARD_COUNT_MAX];
    struct tina__shard *shards[TINA_SHARD_COUNT_MAX];
    struct tina__arena arenas[TINA_SHARD_COUNT_MAX];
    void *topology;                  /* hwloc_topology_t, NULL if unavailable */
    const struct tina__platform *platform;
    _Atomic uint32_t stopping;
    _Atomic uint32_t shutdown;       /* a graceful shutdown was asked for */
    _Atomic uint32_t drained_count;  /* shards with no isolate left in shutdown */
    _Atomic uint32_t quarantine_epoch; /* bumped at every quarantine and revival */
    tina_group_spec *groups;         /* copy; at least the root */
    uint32_t group_count;            /* >= 1 */
    _Atomic uint32_t started;
    uint32_t membarrier_ok;          /* sleepers use membarrier as their heavy fence */
    void *watchdog;                  /* os/watchdog.c state, create to destroy; NULL if off */
    pthread_t threads[TINA_SHARD_COUNT_MAX]; /* shard threads, started at create */
    uint32_t thread_count;           /* started; shard_count on the thread platform, else 0 */
    _Atomic uint32_t gate;           /* parked, run, quit: runtime.c moves it, threads wait */
    _Atomic uint32_t threads_done;   /* shard threads back from their run */
    int creator_pid;                 /* the threads live in this process only */
    void *platform_state;            /* the simulator's world; NULL for threads */
    uint64_t boot_ns;
    tina_boot_report report;
    /* Injection (inject.c): the threads waiting in tina_inject_call, the
     * refusals that name no shard, and, under the simulator, whether its
     * inject hook is running (the only time tina_inject is allowed there). */
    struct tina__callers callers;
    struct tina__inject_counters inject_unplaced;
    uint32_t inject_open;
    /* Each shard's quarantines and revivals, counted (odd: quarantined
     * now); written by that shard, read by every sender to it.  Rarely
     * written, so the lines stay shared. */
    _Alignas(64) _Atomic uint32_t transitions[TINA_SHARD_COUNT_MAX];
};

#endif /* TINA_WORLD_H */
