/*
 * internal.h -- what the runtime's files share: the shard, the isolate
 * slots and types, the timer wheel, the platform seam, the runtime.
 *
 * Names shared between files carry the tina__ prefix.  Everything here is
 * carved out of a shard's grand arena at boot (see layout.c for the memory
 * map) except struct tina_runtime itself, which is allocated once by
 * tina_create before any thread starts.
 */
#ifndef TINA_INTERNAL_H
#define TINA_INTERNAL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tina.h"
#include "ring.h"

#define TINA__NIL UINT32_MAX
#define TINA__DYNAMIC 0x80000000u /* slot->child: a dynamic child of group (child & ~this) */

/* Always-on invariant check: prints expression, file, line and shard. */
extern _Thread_local int tina__assert_shard; /* -1 outside shard threads */
void tina__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define TINA_ASSERT(e) ((e) ? (void)0 : tina__assert_fail(#e, __FILE__, __LINE__))
#ifdef TINA_DEBUG_CHECKS
#define TINA_ASSERT_DEBUG(e) TINA_ASSERT(e)
#else
#define TINA_ASSERT_DEBUG(e) ((void)0)
#endif

#define TINA__LIKELY(x) __builtin_expect(!!(x), 1)
#define TINA__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Defaults for zero fields of tina_spec. */
#define TINA__DEFAULT_MAILBOX 256u
#define TINA__DEFAULT_POOL_USER 4096u
#define TINA__DEFAULT_POOL_SYSTEM 1024u
#define TINA__DEFAULT_RING 1024u
#define TINA__DEFAULT_TIMERS 4096u
#define TINA__DEFAULT_WHEEL 4096u
#define TINA__DEFAULT_RESOLUTION_NS 100000u
#define TINA__DEFAULT_LOG 1024u
#define TINA__DEFAULT_BUDGET 64u
#define TINA__DEFAULT_SCRATCH 4096u
#define TINA__DEFAULT_SPIN_NS 50000u
#define TINA__DEFAULT_SHUTDOWN_NS 5000000000ull
#define TINA__DEFAULT_MONITORS 4096u
#define TINA__DEFAULT_WATCHDOG_NS 1000000000ull
/* The implicit root (a spec with no groups): 100 restarts a second, then the
 * shard is quarantined -- a child that can never start is a loop, not a
 * workload. */
#define TINA__ROOT_RESTARTS 100u
#define TINA__ROOT_WINDOW_NS 1000000000ull
#define TINA__TAG_MONITOR 0x0Au /* internal: a monitor request crossing shards */
#define TINA__DEFAULT_IO_BUFFER_BYTES 16384u
#define TINA__ALTSTACK_BYTES (64u * 1024u) /* signal stack for the trap boundary */

/* ------------------------------------------------------------------------ */
/* Isolate slots                                                             */
/* ------------------------------------------------------------------------ */

enum tina__slot_state {
    TINA__FREE = 0,    /* on the type's free list */
    TINA__IDLE,        /* alive, parked in receive, mailbox empty */
    TINA__READY,       /* alive, in the ready queue or the yield list, or running */
    TINA__CALLING,     /* alive, parked in a call: only the reply or timeout wakes it */
    TINA__RESTARTING,  /* dead, generation bumped, waiting to be restarted */
    TINA__EXITING,     /* being torn down (inside tina__isolate_exit) */
    TINA__RETIRED      /* its last generation is spent: never used again */
};

enum tina__slot_flag {
    TINA__RESUME = 1u << 0,   /* next dispatch delivers TINA_TAG_RESUME */
    TINA__SHUTDOWN = 1u << 1, /* next dispatch delivers TINA_TAG_SHUTDOWN */
    TINA__DRAINING = 1u << 2, /* got its shutdown notice: done when it parks idle */
    TINA__IO_PARKED = 1u << 3, /* CALLING on an I/O operation: call_timer is its op index */
    TINA__QUEUED = 1u << 4,   /* READY on its type's ready queue or yield list */
    TINA__STARTING = 1u << 5, /* placed at boot or revival, or in its init: a strategy
                                 leaves it alone (its init runs anyway) */
    TINA__RUNNING = 1u << 6,  /* its handler is running */
    TINA__DOOMED = 1u << 7    /* a strategy tore it down while it ran: the teardown
                                 happens as its handler returns */
};

/* call_note values that are not pool indexes: notices synthesized at
 * dispatch, which need no pool slot.  A failed call keeps its (negative)
 * result in the note itself.  Pools hold fewer than 2^30 slots. */
#define TINA__NOTE_TIMEOUT (UINT32_MAX - 1u)
#define TINA__NOTE_FAILED_BASE (UINT32_MAX - 2u)
#define TINA__NOTE_FAILED(result) (TINA__NOTE_FAILED_BASE - (uint32_t)(-(result)))
#define TINA__NOTE_FIRST (UINT32_MAX - 4096u)
#define TINA__NOTE_IO TINA__NOTE_FIRST /* the I/O operation in call_timer completed */

/* Per-isolate bookkeeping: 56 bytes, next to 64 bytes of spawn args. */
struct tina__slot {
    uint32_t generation;  /* current incarnation; never 0 */
    uint8_t state;        /* enum tina__slot_state */
    uint8_t flags;        /* enum tina__slot_flag */
    uint8_t restart;      /* tina_restart */
    uint8_t args_size;    /* bytes in this slot's args */
    uint32_t mbox_head;   /* pool index of the oldest queued message, or NIL */
    uint32_t mbox_tail;   /* pool index of the newest queued message, or NIL */
    uint32_t mbox_count;  /* queued messages */
    uint32_t next;        /* link: free list, ready queue, yield or restart list */
    uint32_t timer_head;  /* first timer this isolate owns, or NIL */
    uint32_t call_note;   /* CALLING: the pool slot reserved for the reply; then the reply
                             (that slot) / TIMEOUT / FAILED(r) to deliver first; or NIL */
    uint32_t call_timer;  /* timer entry of the pending call's timeout, or NIL */
    uint32_t fired_head;  /* timers fired and not yet delivered, FIFO, or NIL */
    uint32_t fired_tail;
    uint32_t downs;       /* DOWNs for this isolate, not yet delivered: the newest monitor
                             entry of a ring threaded by next (FIFO), or NIL */
    uint64_t call_corr;   /* correlation id of the pending call, 0 if none */
    uint32_t child;       /* static child index (supervision), NIL if spawned */
    uint32_t monitor_head; /* monitors watching this isolate, or NIL */
};
_Static_assert(sizeof(struct tina__slot) == 64, "slot bookkeeping is one cache line");

struct tina__list {
    uint32_t head, tail; /* slot indexes, NIL when empty */
};

struct tina__type {
    tina_handler_fn handler;
    tina_init_fn init;
    struct tina__slot *slots;  /* capacity entries */
    uint8_t *args;             /* capacity x TINA_ARGS_MAX */
    uint8_t *structs;          /* capacity x stride */
    uint32_t stride;           /* struct_size rounded up to 16 */
    uint32_t struct_size;
    uint32_t capacity;         /* slots_per_shard */
    uint32_t mailbox_capacity;
    uint32_t budget;           /* dispatches per pass: weight x base_budget */
    tina_handle handle_base;   /* shard and type bits of this type's handles */
    uint32_t id;
    uint32_t live;             /* alive isolates */
    uint32_t free_head;        /* free slots (LIFO) */
    struct tina__list ready;   /* runnable now, FIFO */
    struct tina__list yielded; /* run next pass */
    struct tina__list restart; /* dynamic children waiting to be restarted */
    const char *name;
};

/* One shard's instance of a supervision group (supervise.c). */
struct tina__group {
    uint32_t parent;        /* group index, NIL for the root */
    uint8_t strategy;       /* tina_strategy */
    uint8_t implicit;       /* the root of a spec with no groups: the default budget */
    uint16_t reserved;
    uint32_t restart_max;
    uint32_t restart_used;  /* timestamps recorded, <= restart_max */
    uint32_t restart_next;  /* ring position of the oldest timestamp */
    uint32_t dynamic_max;   /* room for dynamic children */
    uint32_t dynamic_count; /* dynamic children alive or waiting to restart */
    uint64_t window_ns;
    uint64_t *restart_at;   /* restart_max timestamps (ring) */
};

/* A monitor entry lives on the target's shard (monitor.c). */
/* A monitor entry (monitor.c).  A local monitor is one entry on the shard
 * of both; a remote one is two: the watcher's (REMOTE, waiting for the
 * DOWN) and the target's (WATCHING, with `peer` naming the watcher's). */
struct tina__monitor {
    tina_handle watcher;  /* gets the DOWN; may be on any shard */
    tina_handle target;
    uint32_t next, prev;  /* WATCHING: the target's list; PENDING: the pending list; DOWN:
                             its watcher's downs (a ring, next only); FREE: the free list */
    uint32_t reason;      /* the DOWN's, once fired */
    uint32_t generation;  /* bumped when freed: a DOWN crossing shards names (index,
                             generation) of the watcher's entry, so a stale one is dropped */
    uint32_t peer;        /* target side of a remote monitor: the watcher's entry, else NIL */
    uint32_t peer_generation;
    uint8_t state;        /* enum tina__monitor_state (monitor.c) */
    uint8_t how;          /* tina_down_how, once fired */
    uint16_t reserved;
};

struct tina__monitors {
    struct tina__monitor *entries;
    uint32_t capacity;
    uint32_t free_head;
    uint32_t pending_head, pending_tail; /* DOWNs for other shards, waiting for channel room */
};

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

enum tina__timer_kind { TINA__TIMER_USER = 1, TINA__TIMER_CALL = 2, TINA__TIMER_IO = 3 };
#define TINA__NEVER UINT64_MAX /* a deadline that saturated: it never comes */

struct tina__timer {
    uint64_t deadline_ns;  /* absolute shard time */
    uint64_t period_ns;    /* 0: one-shot */
    tina_handle owner;
    uint64_t corr;         /* call timeouts: the call they guard */
    uint32_t next, prev;   /* bucket or due list; free list uses next */
    uint32_t owner_next;   /* owner's timers (doubly linked) */
    uint32_t owner_prev;
    uint32_t generation;   /* high half of the timer id; bumped on free */
    uint16_t tag;
    uint8_t kind;          /* enum tina__timer_kind, 0 when free */
    uint8_t where;         /* wheel, due list, owner's fired list, or none */
};

struct tina__wheel {
    struct tina__timer *timers; /* timer_slots entries */
    uint32_t *buckets;          /* wheel_slots heads */
    uint32_t capacity;
    uint32_t mask;              /* wheel_slots - 1 */
    uint64_t resolution_ns;
    uint64_t tick;              /* last tick processed */
    uint32_t free_head;
    uint32_t live;
    uint32_t due_head, due_tail; /* fire in the timer phase of this pass */
};

/* ------------------------------------------------------------------------ */
/* Log ring                                                                  */
/* ------------------------------------------------------------------------ */

#define TINA__LOG_TEXT 96
struct tina__log_entry {
    uint64_t time_ns;
    tina_handle handle;
    uint16_t type_id;
    uint8_t level;
    uint8_t length;
    char text[TINA__LOG_TEXT];
    uint8_t pad[12];
};
_Static_assert(sizeof(struct tina__log_entry) == 128, "log entries are two cache lines");

struct tina__log {
    struct tina__log_entry *entries;
    uint32_t mask;
    uint32_t level_min;
    uint64_t head, tail; /* tail - head entries queued */
    /* The runtime's own lines (tina__log_event) are rate-limited: a token
     * bucket of TINA__LOG_EVENT_BURST, one token back every
     * TINA__LOG_EVENT_EVERY_NS of shard time. */
    uint32_t event_tokens;
    uint64_t event_refill_ns;
    uint64_t event_suppressed; /* since the last line written: said in the next one */
};
#define TINA__LOG_EVENT_BURST 16u
#define TINA__LOG_EVENT_EVERY_NS 100000000ull /* 10 lines a second after the burst */

/* ------------------------------------------------------------------------ */
/* The platform seam                                                          */
/* ------------------------------------------------------------------------ */

struct tina__shard;

/*
 * Everything the shard needs from the world.  One production table
 * (platform_thread.c: pinned threads, monotonic clock, SPSC rings, futex
 * doorbells) and, with the simulator, one simulation table (sim/).  The shard
 * calls each entry once per phase (channel_reserve once per remote send).
 */
/* ------------------------------------------------------------------------ */
/* I/O (io.c; backends io_uring.c, io_epoll.c, sim/io_sim.c)                 */
/* ------------------------------------------------------------------------ */

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
 * answers through tina__io_complete(op index, result, ...). */
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
    struct tina__fd *fds;
    uint32_t fd_count, fd_free, fds_open;
    uint32_t *owned;                     /* per isolate slot of the shard: its first descriptor */
    uint32_t owner_base[TINA_TYPE_COUNT_MAX]; /* index in owned[] of a type's slot 0 */
    struct tina__io_op *ops;
    uint32_t op_count, op_free;
    uint32_t queued_head, queued_tail;   /* ops to submit this pass, FIFO */
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
    void *backend;                       /* the backend's state */
};

enum tina__io_ctl_op {
    TINA__CTL_SOCKET, TINA__CTL_BIND, TINA__CTL_LISTEN, TINA__CTL_SETSOCKOPT,
    TINA__CTL_OPEN, TINA__CTL_CLOSE, TINA__CTL_LOCAL_PORT,
    TINA__CTL_FORGET /* the descriptor leaves this shard's table without a close */
};

struct tina__io_ctl {
    uint32_t op;         /* enum tina__io_ctl_op */
    int32_t os_fd;
    int a, b, c;         /* socket: domain/type/protocol; listen: backlog; setsockopt: level/name;
                            close, forget: the table slot (-1 if none) and its generation */
    const void *ptr;     /* bind: address; setsockopt: value; open: path */
    uint32_t len;        /* bind: address bytes; setsockopt: value bytes; open: mode */
};

/* A production I/O backend; platform_thread.c picks one per runtime at
 * create (io_uring, or the epoll fallback) and routes its seam entries to
 * it.  submit takes the ops queued this pass (io->queued_head, linked by
 * op->next; it marks each INFLIGHT and empties the queue); an orphan (owner
 * 0) that is not a close may be completed at once with -ECANCELED; every
 * other completion is reported by reap only, through tina__io_complete.
 * wait blocks until a completion, wake() (any thread) or the timeout.
 * forget: the descriptor in that table slot is closing (leaving 0) or
 * being handed over (leaving 1); drop whatever the backend keeps armed on
 * it.  Handing over returns -EBUSY, changing nothing, if data already
 * arrived for it that no recv took. */
struct tina__io_backend {
    const char *name;
    int (*setup)(struct tina__shard *s);  /* 0, or -errno; sets io->backend */
    void (*submit)(struct tina__shard *s);
    uint32_t (*reap)(struct tina__shard *s);
    void (*cancel)(struct tina__shard *s, uint32_t op);
    void (*wait)(struct tina__shard *s, uint64_t timeout_ns); /* UINT64_MAX: no timeout */
    void (*wake)(struct tina__shard *s);
    int (*ready)(struct tina__shard *s);  /* completions waiting, without a syscall */
    int (*forget)(struct tina__shard *s, uint32_t slot, int32_t os_fd, uint32_t generation,
                  int leaving);
    void (*teardown)(struct tina__shard *s);
};
extern const struct tina__io_backend tina__io_backend_uring, tina__io_backend_epoll;

struct tina__platform {
    const char *name;
    int places_threads; /* pins shards to cores: wants the machine's topology (hwloc) */
    /* Clock: nanoseconds, monotonic, read once per pass. */
    uint64_t (*clock_ns)(struct tina__shard *shard);
    /* Channels.  reserve: a slot in the ring to shard `to`, or NULL if full;
     * commit: the caller has filled it (before its pass ends).  publish: make every slot
     * reserved this pass visible and ring sleeping peers' doorbells.
     * peek/release: the consumer's contiguous batch from shard `from`;
     * refresh (first call per channel per pass) looks for newly published
     * messages, later calls only continue the batch past the ring's wrap. */
    tina_msg *(*channel_reserve)(struct tina__shard *shard, uint32_t to);
#define TINA__CHANNEL_DOWN ((tina_msg *)1) /* reserve: the peer is quarantined */
    void (*channel_commit)(struct tina__shard *shard, uint32_t to);
    void (*channel_publish)(struct tina__shard *shard);
    uint32_t (*channel_peek)(struct tina__shard *shard, uint32_t from, tina_msg **first,
                             int refresh);
    void (*channel_release)(struct tina__shard *shard, uint32_t from, uint32_t count);
    /* I/O (io.c is the shard's side).  io_setup: at create, once the
     * shard's tables exist (0, or -errno: the boot fails); io_submit: hand
     * this pass's queued operations over, one submission per pass; io_reap:
     * feed completions to tina__io_complete, return how many; io_cancel:
     * ask for an operation's early completion (it still completes once);
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

extern const struct tina__platform tina__platform_thread;

/* ------------------------------------------------------------------------ */
/* The shard                                                                 */
/* ------------------------------------------------------------------------ */

struct tina_runtime;

/* The context handed to handlers is the shard's dispatch state. */
struct tina_ctx {
    struct tina__shard *shard;
    struct tina__type *type;   /* running isolate's type */
    uint32_t slot;             /* running isolate's slot */
    tina_handle self;
    const tina_msg *msg;       /* message being handled; NULL in init */
};

struct tina__shard {
    /* --- hot: the dispatch path --- */
    struct tina_ctx ctx;
    tina_msg *msgs;            /* pool: user region then system region */
    uint32_t pool_user_slots;
    uint32_t pool_slots;       /* user + system */
    uint32_t user_free_head;
    uint32_t system_free_head;
    uint32_t user_free;
    uint32_t system_free;
    struct tina__type *types;
    uint32_t type_count;
    uint32_t id;
    uint32_t shard_count;
    uint32_t did_work;         /* this pass changed something */
    uint64_t now_ns;           /* pass clock, valid when now_valid (tina__shard_now) */
    uint32_t now_valid;        /* cleared at the start of each pass */
    uint64_t corr_next;        /* next call correlation id (shard in high bits) */
    uint64_t out_dirty;        /* bit per peer: ring written this pass */
    const struct tina__platform *platform;
    struct tina_runtime *rt;
    tina_shard_stats stats;
    uint64_t rng[4];           /* xoshiro256** state */
    uint8_t *scratch;
    uint32_t scratch_bytes;
    uint8_t *altstack;         /* TINA__ALTSTACK_BYTES, for SIGSEGV on overflow */
    uint32_t shutdown_seen;    /* this shard has begun the graceful shutdown */
    struct tina__group *groups; /* supervision tree instance */
    uint32_t group_count;
    uint32_t restart_pending;  /* slots in RESTARTING state */
    uint32_t supervisor_busy;  /* tearing down for a strategy: exits do not decide */
    uint32_t quarantine_pending;
    uint32_t quarantined;      /* torn down, not dispatching */
    uint32_t quarantine_epoch_seen; /* rt->quarantine_epoch last acted upon */
    uint32_t peer_transitions_seen[TINA_SHARD_COUNT_MAX]; /* peers' transitions, as last seen */
    uint32_t drained;          /* ... and has no isolate left */
    uint64_t shutdown_deadline_ns;
    tina_msg synth;            /* resume / timeout / failed notices, no pool slot */
    /* The simulator's trace digest: called after every handler call with the
     * message and the effect (after every init with NULL and the outcome as
     * receive or crash); it may turn the effect into a crash.  NULL outside
     * simulation. */
    void (*trace)(struct tina__shard *s, const tina_msg *m, tina_effect *e);

    /* Trap boundary (trap.h): where a fault in user code jumps back to. */
    sigjmp_buf *trap_jmp;      /* innermost jump point, NULL outside dispatch/init */
    volatile uint32_t trap_armed;     /* user code is running under trap_jmp */
    uint32_t budget_left;      /* dispatch state that must survive a jump */
    uint32_t running_pool_index;      /* the running handler's message, or NIL */

    struct tina__wheel wheel;
    struct tina__log log;
    struct tina__monitors monitors;

    /* Channels: outbound[to] lives in `to`'s arena, inbound[from] in ours. */
    struct tina__ring *outbound[TINA_SHARD_COUNT_MAX];
    struct tina__ring *inbound[TINA_SHARD_COUNT_MAX];

    /* Published copy of stats for other threads (seqlock). */
    _Alignas(64) _Atomic uint32_t snapshot_seq;
    uint64_t snapshot_at_ns;
    _Atomic uint64_t snapshot[sizeof(tina_shard_stats) / 8];

    /* Read by peers: quarantines and revivals of this shard, counted (odd:
     * quarantined now).  Sends to a quarantined shard are stale. */
    _Alignas(64) _Atomic uint32_t transitions;
    _Atomic uint32_t revive_requested;

    /* Watchdog (watchdog.c): this shard writes its pass count and the
     * isolate it is running; the watchdog thread reads them and counts
     * stalls here. */
    _Alignas(64) _Atomic uint64_t beat;
    _Atomic tina_handle running;
    _Atomic uint64_t stalls;

    /* Doorbell: written by this shard going to sleep and by waking peers. */
    _Alignas(64) _Atomic uint32_t sleeping;
    struct tina__io *io; /* NULL when the spec's fd_slots is 0 */
    _Alignas(64) uint8_t end_pad[1];
};

/* ------------------------------------------------------------------------ */
/* The runtime                                                               */
/* ------------------------------------------------------------------------ */

struct tina__child {
    uint32_t type_id, shard, restart, args_size, group;
    uint8_t args[TINA_ARGS_MAX];
};

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
    void *watchdog;                  /* watchdog.c state, create to destroy; NULL if off */
    pthread_t threads[TINA_SHARD_COUNT_MAX]; /* shard threads, started at create */
    uint32_t thread_count;           /* started; shard_count on the thread platform, else 0 */
    _Atomic uint32_t gate;           /* parked, run, quit: runtime.c moves it, threads wait */
    _Atomic uint32_t threads_done;   /* shard threads back from their run */
    int creator_pid;                 /* the threads live in this process only */
    void *platform_state;            /* the simulator's world; NULL for threads */
    uint64_t boot_ns;
    tina_boot_report report;
};

/* ------------------------------------------------------------------------ */
/* Functions shared between files                                            */
/* ------------------------------------------------------------------------ */

/* runtime.c: create on a given platform (thread or simulation). */
tina_result tina__create(const tina_spec *spec, const struct tina__platform *platform,
                         void *platform_state, tina_runtime **out, tina_boot_report *report);

/* layout.c: the memory map of a shard, shared by validation and carving. */
struct tina__layout {
    size_t shard_off, types_off, pool_off, timers_off, buckets_off, log_off, scratch_off;
    size_t altstack_off, groups_off, group_times_off, monitors_off;
    size_t type_slots_off[TINA_TYPE_COUNT_MAX];
    size_t type_args_off[TINA_TYPE_COUNT_MAX];
    size_t type_structs_off[TINA_TYPE_COUNT_MAX];
    size_t ring_off[TINA_SHARD_COUNT_MAX]; /* inbound ring from shard i */
    size_t total;
};
uint32_t tina__ring_slots(const tina_spec *spec, uint32_t from, uint32_t to);
void tina__layout_compute(const tina_spec *spec, uint32_t shard, uint32_t shard_count,
                          struct tina__layout *out);
tina_result tina__spec_resolve(const tina_spec *in, tina_spec *out, tina_boot_report *report,
                               int with_topology);

/* topology.c */
tina_result tina__topology_cores(const tina_spec *spec, int with_topology, uint32_t *shard_count,
                                 uint32_t *cores, uint32_t *oversubscribed, char *why,
                                 size_t why_size);
uint64_t tina__memory_limit(void);
tina_result tina__arena_map(struct tina_runtime *rt, uint32_t shard, size_t bytes);
void tina__arena_unmap(struct tina__arena *arena);
int tina__pin_thread(uint32_t os_cpu);
void tina__topology_close(struct tina_runtime *rt);

/* The pass clock: read from the platform at most once per pass, and only
 * if something needs it (timers, tina_now_ns, logging, idle accounting). */
static inline uint64_t tina__shard_now(struct tina__shard *s) {
    if (!s->now_valid) {
        s->now_ns = s->platform->clock_ns(s);
        s->now_valid = 1;
    }
    return s->now_ns;
}

/* shard.c */
void tina__shard_carve(struct tina_runtime *rt, uint32_t shard_id, const struct tina__layout *l);
void tina__shard_boot(struct tina__shard *shard);
int tina__shard_pass(struct tina__shard *shard);
uint64_t tina__shard_next_deadline(struct tina__shard *shard);
int tina__shard_shutdown_state(struct tina__shard *shard);
int tina__shard_has_news(struct tina__shard *shard);
void tina__shard_publish_stats(struct tina__shard *shard);
void tina__deliver_remote(struct tina__shard *shard, const tina_msg *msg, uint32_t from);

/* timer.c */
void tina__wheel_init(struct tina__wheel *w, struct tina__timer *timers, uint32_t *buckets,
                      uint32_t capacity, uint32_t wheel_slots, uint64_t resolution_ns);
uint32_t tina__timer_add(struct tina__shard *s, struct tina__slot *owner_slot, tina_handle owner,
                         uint64_t delay_ns, uint64_t period_ns, uint16_t tag, uint8_t kind,
                         uint64_t corr);
tina_result tina__timer_cancel(struct tina__shard *s, struct tina__slot *owner_slot,
                               tina_handle owner, uint32_t index, uint32_t generation);
void tina__timer_cancel_all(struct tina__shard *s, struct tina__slot *owner_slot);
void tina__timers_advance(struct tina__shard *s);
uint32_t tina__timer_deliver(struct tina__shard *s, struct tina__slot *owner_slot, tina_msg *out);
uint64_t tina__timers_next_deadline(struct tina__shard *s);

/* log.c */
void tina__log_init(struct tina__log *log, struct tina__log_entry *entries, uint32_t count,
                    uint32_t level_min);
void tina__log_flush(struct tina__shard *s);
/* A line of the runtime's own about an isolate (crash, restart, escalation,
 * quarantine, forced shutdown), rate-limited per shard; lines skipped are
 * counted (stats.log_suppressed) and said in the next one. */
void tina__log_event(struct tina__shard *s, tina_log_level level, tina_handle h,
                     uint32_t type_id, const char *fmt, ...) TINA_PRINTF(5, 6);

/* shard.c: isolate life, used by supervise.c */
int tina__isolate_start(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
/* How an isolate ended; the values are tina_down_how's. */
enum {
    TINA__EXIT_DONE = TINA_DOWN_DONE,
    TINA__EXIT_CRASHED = TINA_DOWN_CRASHED,
    TINA__EXIT_TERMINATED = TINA_DOWN_TERMINATED,
    TINA__EXIT_QUARANTINED = TINA_DOWN_QUARANTINED
};
void tina__isolate_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                        int how, uint32_t reason);
/* A strategy tears an isolate down (supervise.c): now if it is parked or
 * queued, as its handler returns if it is running, not at all if it is
 * still starting; a dynamic child waiting for its restart loses it. */
void tina__isolate_terminate(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);

/* shard.c: a system envelope to another shard (monitor requests, DOWNs,
 * handoffs).  Returns 1 sent, 0 no room now (retry), -1 its shard is
 * quarantined. */
int tina__system_send(struct tina__shard *s, tina_handle to, uint16_t tag, const void *payload,
                      uint32_t size);

/* watchdog.c */
int tina__watchdog_start(struct tina_runtime *rt);
void tina__watchdog_arm(struct tina_runtime *rt);
void tina__watchdog_disarm(struct tina_runtime *rt);
void tina__watchdog_stop(struct tina_runtime *rt);
void tina__watchdog_report(struct tina_runtime *rt, uint32_t id, uint64_t stuck_ns, int may_abort);

/* monitor.c */
void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count);
void tina__monitors_fire(struct tina__shard *s, struct tina__slot *slot, tina_handle target,
                         int how, uint32_t reason);
void tina__monitor_arrived(struct tina__shard *s, const tina_msg *request);
/* A DOWN envelope from the target's shard: into its watcher's entry.
 * Returns 0 if it was stale (the watcher's entry or the watcher gone). */
int tina__down_arrived(struct tina__shard *s, const tina_msg *down);
void tina__monitors_flush(struct tina__shard *s);
/* Dispatch: the oldest DOWN of slot's into *out (the entry is freed). */
void tina__down_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *out);
/* An isolate ending: its undelivered DOWNs go. */
void tina__downs_drop(struct tina__shard *s, struct tina__slot *slot);

/* shard.c: a pending call's timeout fired (timer.c; its entry is free):
 * the reply's reserved slot goes back and the caller wakes. */
void tina__call_timeout(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
/* shard.c: a descriptor handoff's envelope (io.c), under user bounds.
 * Returns TINA_OK, TINA_ESTALE, TINA_EMAILBOX_FULL or TINA_EPOOL_EXHAUSTED. */
tina_result tina__transfer_send(struct tina__shard *s, tina_handle to, const void *payload,
                                uint32_t size);

/* shard.c: message delivery used by timers */
void tina__slot_ready(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
void tina__slot_wake(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
uint32_t tina__pool_alloc_system(struct tina__shard *s);

/* random.h helpers live in random.h */


/* io.c */
int tina__io_create(struct tina__shard *s, const tina_spec *spec);
uint64_t tina__io_bytes(const tina_spec *spec);
void tina__io_destroy(struct tina__shard *s);
void tina__io_effect(struct tina__shard *s, struct tina__type *t, uint32_t i, const tina_effect *e);
void tina__io_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *m);
void tina__io_complete(struct tina__shard *s, uint32_t op, int32_t result);
void tina__io_isolate_exit(struct tina__shard *s, struct tina__slot *slot, tina_handle h);
void tina__io_shutdown(struct tina__shard *s, struct tina__slot *slot);
void tina__io_after_dispatch(struct tina__shard *s);
void tina__io_timeout(struct tina__shard *s, uint32_t op);
tina_fd tina__io_transfer_arrive(struct tina__shard *s, tina_msg *m);
void tina__io_transfer_drop(struct tina__shard *s, const tina_msg *m);
tina_fd tina__io_fd_install(struct tina__shard *s, int32_t os_fd, tina_handle owner);
void tina__io_close_os(struct tina__shard *s, int32_t os_fd);
tina_result tina__handle_valid(const struct tina__shard *s, tina_handle h);
static inline uint8_t *tina__io_buf(struct tina__io *io, uint32_t b) {
    return io->bufs + (size_t)b * io->buf_bytes;
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

#endif /* TINA_INTERNAL_H */
