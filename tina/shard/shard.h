/*
 * shard.h -- the shard: one single-threaded, deterministic loop over the
 * isolates of one core, and what its files share.
 *
 * A shard owns a message pool, the isolate slots of every type, a timer
 * wheel, a log ring, a monitor table, its instance of the supervision tree
 * and the consumer side of its inbound channels, all carved from its
 * grand arena at boot (carve.c; the memory map is tina__layout_compute).
 * Exactly one thread runs a shard (a pinned thread in production, the
 * simulator's thread under simulation), so the intra-shard path takes no
 * lock and no atomic read-modify-write; the atomics in struct tina__shard
 * are the words other threads read (statistics, the watchdog's beat, the
 * doorbell).  The outside world is reached only through s->platform (the
 * seam, platform.h).
 *
 * The shard's files, each a noun:
 *   pass.c        the pass, its phases in order, boot, shutdown state
 *   send.c        sends, replies and call answers, system envelopes
 *   arrive.c      draining inbound channels and the inbox into mailboxes
 *   isolate.c     isolate life: start, exit, terminate, spawn
 *   dispatch.c    choosing the next message, running handlers, effects
 *   notice.c      shutdown notices, quarantine and revival, peer notices
 *   supervise.c   acting on the supervision tree's verdicts
 *   timers.c      arming timers and the timer phase
 *   monitors.c    the monitor protocol
 *   tokens.c      replies sent later (tina_defer, tina_reply_later)
 *   io.c          the io effect and its completions
 *   descriptors.c opening, set-up calls and handing descriptors over
 *   context.c     what a handler asks of its context; statistics; logging
 *   carve.c       the memory map, and carving a shard out of its arena
 */
#ifndef TINA_SHARD_H
#define TINA_SHARD_H

#include <setjmp.h>
#include <stdatomic.h>
#include <string.h>

#include "callers.h"
#include "channel.h"
#include "inbox.h"
#include "io.h"
#include "log.h"
#include "monitor.h"
#include "platform.h"
#include "pool.h"
#include "timer.h"
#include "token.h"
#include "trap.h"
#include "tree.h"
#include "world.h"

/* The context handed to handlers is the shard's dispatch state. */
struct tina_ctx {
    struct tina__shard *shard;
    struct tina__type *type;   /* running isolate's type */
    uint32_t slot;             /* running isolate's slot */
    tina_handle self;
    const tina_msg *msg;       /* message being handled; NULL in init */
    uint32_t deferred;         /* the call being handled was deferred (tina_defer) */
};

struct tina__shard {
    /* --- hot: the dispatch path --- */
    struct tina_ctx ctx;
    struct tina__pool pool;    /* messages: user region then system region */
    struct tina__type *types;
    uint32_t type_count;
    uint32_t id;
    uint32_t shard_count;
    uint32_t did_work;         /* this pass changed something */
    uint64_t now_ns;           /* pass clock, valid when now_valid (tina__shard_now) */
    uint32_t now_valid;        /* cleared at the start of each pass */
    uint64_t corr_next;        /* next call correlation id (shard in high bits) */
    const struct tina__platform *platform;
    struct tina_runtime *rt;
    tina_shard_stats stats;
    uint64_t rng[4];           /* xoshiro256** state */
    uint8_t *scratch;
    uint32_t scratch_bytes;
    uint8_t *altstack;         /* TINA__ALTSTACK_BYTES, for SIGSEGV on overflow */
    uint32_t shutdown_seen;    /* this shard has begun the graceful shutdown */
    struct tina__tree tree;    /* this shard's instance of the supervision tree */
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

    struct tina__trap trap;    /* where a fault in user code jumps back to */
    int32_t budget_left;       /* dispatch state that must survive a jump: handler calls
                                  left in this batch (-1 once a cut batch ran its last) */
    int32_t budget_cut;        /* what a quarantine took off budget_left (dispatch.c) */

    struct tina__wheel wheel;
    struct tina__log log;
    struct tina__monitors monitors;
    struct tina__tokens tokens;
    struct tina__channels chan;

    /* Published copy of stats for other threads (seqlock). */
    _Alignas(64) _Atomic uint32_t snapshot_seq;
    uint64_t snapshot_at_ns;
    _Atomic uint64_t snapshot[sizeof(tina_shard_stats) / 8];

    /* Set by tina_revive, taken by this shard's next pass. */
    _Alignas(64) _Atomic uint32_t revive_requested;

    /* Watchdog (os/watchdog.c): this shard writes its pass count and the
     * isolate it is running; the watchdog thread reads them and counts
     * stalls here. */
    _Alignas(64) _Atomic uint64_t beat;
    _Atomic tina_handle running;
    _Atomic uint64_t stalls;

    /* Doorbell: written by this shard going to sleep and by waking peers
     * (and injecting threads). */
    _Alignas(64) _Atomic uint32_t sleeping;
    struct tina__io *io; /* NULL when the spec's fd_slots is 0 */

    /* The way in from foreign threads (inbox.h): they produce, this shard
     * consumes right after its channels; their counters, bumped by any
     * thread; the foreign caller table its replies may go to (the
     * runtime's, callers.h). */
    struct tina__inbox inbox;
    _Alignas(64) struct tina__inject_counters inject;
    struct tina__callers *callers;
    _Alignas(64) uint8_t end_pad[1];
};

_Static_assert(offsetof(struct tina__shard, ctx) == 0, "a handler's context is its shard");

/* ---- small things every file of the shard uses --------------------------- */

/* A shard's types follow it in its arena (carve.c: types_off), so a type
 * is at a fixed distance from the shard: found without loading s->types. */
#define TINA__SHARD_TYPES_OFF ((sizeof(struct tina__shard) + 63u) & ~(size_t)63u)
static inline struct tina__type *tina__shard_type(struct tina__shard *s, uint32_t type) {
    return (struct tina__type *)(void *)((uint8_t *)s + TINA__SHARD_TYPES_OFF) + type;
}

/* The shard of a handler's context: the context is the shard's first
 * member, so this is a cast, not a load (on the send path, one dependent
 * load fewer before the target's slot is known). */
static inline struct tina__shard *tina__ctx_shard(tina_ctx *ctx) {
    return (struct tina__shard *)(void *)ctx;
}

/* The pass clock: read from the platform at most once per pass, and only
 * if something needs it (timers, tina_now_ns, logging, idle accounting). */
static inline uint64_t tina__shard_now(struct tina__shard *s) {
    if (!s->now_valid) {
        s->now_ns = s->platform->clock_ns(s);
        s->now_valid = 1;
    }
    return s->now_ns;
}

/* A message arrived for slot: a parked receiver becomes ready. */
static inline void tina__slot_wake(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->state == TINA__IDLE) {
        slot->state = TINA__READY;
        tina__queue_push(t, &t->ready, i);
        s->did_work = 1;
    }
}

/* A parked caller's reply, timeout or failure is waiting: queue it. */
static inline void tina__slot_ready(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    t->slots[i].state = TINA__READY;
    tina__queue_push(t, &t->ready, i);
    s->did_work = 1;
}

/* Range checks that hold for every shard: types and capacities are global. */
static inline tina_result tina__handle_valid(const struct tina__shard *s, tina_handle to) {
    if (TINA__UNLIKELY(tina_handle_shard(to) >= s->shard_count)) return TINA_EHANDLE;
    uint32_t type = tina_handle_type(to);
    if (TINA__UNLIKELY(type >= s->type_count)) return TINA_EHANDLE;
    if (TINA__UNLIKELY(tina_handle_slot(to) >= s->types[type].capacity)) return TINA_EHANDLE;
    if (TINA__UNLIKELY(tina_handle_generation(to) == 0)) return TINA_EHANDLE;
    return TINA_OK;
}

/* The live isolate a target of this shard names, its range checks done:
 * a handle names itself if it is alive (else TINA_ESTALE); an address
 * (tina.h) names the incarnation of its lineage running now, and *h
 * becomes its handle -- or TINA_ENOT_RUNNING while its supervisor
 * restarts it, TINA_ESTALE once the lineage ended.  Either way TINA_OK
 * means *h is alive. */
static inline tina_result tina__target_resolve(struct tina__shard *s, tina_handle *h) {
    tina_handle a = *h;
    struct tina__type *t = &s->types[tina_handle_type(a)];
    uint32_t i = tina_handle_slot(a);
    struct tina__slot *slot = &t->slots[i];
    if (TINA__LIKELY(!tina_handle_is_address(a)))
        return tina__slot_alive(slot, a) ? TINA_OK : TINA_ESTALE;
    if (t->reach[i].lineage != tina_handle_generation(a)) return TINA_ESTALE;
    if (tina__slot_live(slot)) {
        *h = tina__slot_handle(t, i, slot->generation);
        return TINA_OK;
    }
    return slot->state == TINA__RESTARTING ? TINA_ENOT_RUNNING : TINA_ESTALE;
}

/* size bytes (width <= size <= 2 x width) as two pieces of `width`, one
 * from each end: a constant width once inlined, so a plain load and store
 * each, both loads before the first store. */
static inline __attribute__((always_inline)) void tina__copy_ends(uint8_t *dst, const uint8_t *src,
                                                                  uint32_t size, uint32_t width) {
    uint8_t a[32], b[32];
    memcpy(a, src, width);
    memcpy(b, src + size - width, width);
    memcpy(dst, a, width);
    memcpy(dst + size - width, b, width);
}

/* Copy a payload (at most TINA_PAYLOAD_MAX bytes) without a library call:
 * two fixed-size pieces that overlap in the middle, each a plain load and
 * store the compiler inlines.  No call on the send path means no register
 * saved around one.  Every source byte is read before the first store. */
static inline __attribute__((always_inline)) void tina__payload_copy(uint8_t *dst,
                                                                     const uint8_t *src,
                                                                     uint32_t size) {
    _Static_assert(TINA_PAYLOAD_MAX <= 96, "two pieces cover the largest payload");
    if (size <= 16) {
        if (size >= 8) {
            tina__copy_ends(dst, src, size, 8);
        } else if (size >= 4) {
            tina__copy_ends(dst, src, size, 4);
        } else if (size > 0) { /* 1..3: first, middle, last */
            uint8_t a = src[0], b = src[size / 2], c = src[size - 1];
            dst[0] = a;
            dst[size / 2] = b;
            dst[size - 1] = c;
        }
    } else if (size <= 32) {
        tina__copy_ends(dst, src, size, 16);
    } else if (size <= 64) {
        tina__copy_ends(dst, src, size, 32);
    } else {
        uint8_t a[64], b[32];
        memcpy(a, src, 64);
        memcpy(b, src + size - 32, 32);
        memcpy(dst, a, 64);
        memcpy(dst + size - 32, b, 32);
    }
}

/* Copy a whole envelope (an arrival, a reply) with a fixed-size copy the
 * compiler inlines, not a library call of a variable length: one cache
 * line when the payload fits in it (the second is then never read), else
 * both.  Bytes past the payload are copied as they are: nobody reads them. */
static inline void tina__envelope_copy(tina_msg *dst, const tina_msg *src) {
    if (src->size <= 64 - offsetof(tina_msg, payload)) memcpy(dst, src, 64);
    else memcpy(dst, src, sizeof(tina_msg));
}

/* Fill an envelope; its pool link is left alone. */
static inline __attribute__((always_inline)) void
tina__envelope_fill(tina_msg *m, tina_handle from, tina_handle to, uint16_t tag, const void *payload,
                    uint32_t size, uint8_t kind, uint64_t corr) {
    m->from = from;
    m->to = to;
    m->corr = corr;
    m->tag = tag;
    m->size = (uint8_t)size;
    m->kind = kind;
    tina__payload_copy(m->payload, payload, size);
}

/* ---- pass.c -------------------------------------------------------------- */

void tina__shard_boot(struct tina__shard *s);
/* One pass; returns non-zero if the shard did or has work. */
int tina__shard_pass(struct tina__shard *s);
uint64_t tina__shard_next_deadline(struct tina__shard *s);
int tina__shard_shutdown_state(struct tina__shard *s);
int tina__shard_has_news(struct tina__shard *s);

/* ---- send.c -------------------------------------------------------------- */

/* A call's request and a reply, from the running isolate (ctx.self):
 * message_send with its kind fixed, so each keeps only its own paths. */
tina_result tina__request_send(struct tina__shard *s, tina_handle to, uint16_t tag,
                               const void *payload, size_t size, uint64_t corr);
tina_result tina__reply_send(struct tina__shard *s, tina_handle to, uint16_t tag,
                             const void *payload, size_t size, uint64_t corr);
/* A system envelope to another shard (monitor requests, DOWNs).  Returns
 * 1 sent, 0 no room now (retry), -1 its shard is quarantined. */
int tina__system_send(struct tina__shard *s, tina_handle to, uint16_t tag, const void *payload,
                      uint32_t size);
/* A descriptor handoff's envelope, under user bounds.  Returns TINA_OK,
 * TINA_ESTALE, TINA_EMAILBOX_FULL or TINA_EPOOL_EXHAUSTED. */
tina_result tina__transfer_send(struct tina__shard *s, tina_handle to, const void *payload,
                                uint32_t size);
/* A reply reached the caller's shard: into the slot its call reserved. */
void tina__reply_accept(struct tina__shard *s, const tina_msg *src);
/* A pending call ends: its timeout goes; the caller is queued with the
 * outcome (enum tina__call: REPLIED, TIMED_OUT, or FAILED with result). */
void tina__call_end(struct tina__shard *s, struct tina__type *t, uint32_t i, tina_handle h,
                    uint8_t outcome, int32_t result);
/* A pending call's timeout fired (its timer entry is free). */
void tina__call_timeout(struct tina__shard *s, struct tina__type *t, uint32_t i);
/* The runtime knows `request` (a call) failed: tell its caller now. */
void tina__call_answer_failed(struct tina__shard *s, const tina_msg *request, tina_result r);

/* ---- arrive.c ------------------------------------------------------------ */

void tina__shard_drain(struct tina__shard *s);
/* Take what foreign threads injected, at most one queue's worth. */
void tina__shard_drain_inbox(struct tina__shard *s);

/* ---- isolate.c ----------------------------------------------------------- */

/* How an isolate ended; the values are tina_down_how's. */
enum {
    TINA__EXIT_DONE = TINA_DOWN_DONE,
    TINA__EXIT_CRASHED = TINA_DOWN_CRASHED,
    TINA__EXIT_TERMINATED = TINA_DOWN_TERMINATED,
    TINA__EXIT_QUARANTINED = TINA_DOWN_QUARANTINED
};
/* Run init in a fresh zeroed struct.  Returns 1 if the isolate is alive. */
int tina__isolate_start(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
void tina__isolate_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                        int how, uint32_t reason);
/* A strategy tears an isolate down: now if it is parked or queued, as its
 * handler returns if it is running, not at all if it is still starting; a
 * dynamic child waiting for its restart loses it. */
void tina__isolate_terminate(struct tina__shard *s, struct tina__type *t, uint32_t slot_index);
/* A slot waiting for its restart will not get it. */
void tina__slot_forget_restart(struct tina__shard *s, struct tina__type *t, uint32_t i);

/* ---- dispatch.c ---------------------------------------------------------- */

void tina__shard_dispatch(struct tina__shard *s);
/* A quarantine is pending: the batch running now (if any) runs no handler
 * after the one running, which keeps the loop's test to the budget alone. */
static inline void tina__dispatch_cut(struct tina__shard *s) {
    s->budget_cut += s->budget_left;
    s->budget_left = 0;
}

/* ---- notice.c ------------------------------------------------------------ */

void tina__shutdown_begin(struct tina__shard *s);
void tina__quarantine_enter(struct tina__shard *s);
void tina__quarantine_revive(struct tina__shard *s);
void tina__peers_check(struct tina__shard *s);

/* ---- supervise.c --------------------------------------------------------- */

/* Once per teardown, after the generation bump; `how` is a TINA__EXIT_*
 * value.  Returns 1 to leave the slot RESTARTING (restarted in phase 3 of
 * a later pass). */
int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index, int how);
/* Pass phase 3: restart every slot queued by the previous passes.  An
 * isolate whose init fails again is queued again, so a crash loop costs at
 * most one init per pass. */
void tina__supervise_restart_pending(struct tina__shard *s);

/* ---- timers.c ------------------------------------------------------------ */

/* Arm an entry for `owner` (its slot), counted: NIL if every entry is in
 * use.  Inline, so that the wheel's add is the one call a call's timeout
 * makes. */
static inline uint32_t tina__timer_arm(struct tina__shard *s, struct tina__slot *slot,
                                       tina_handle owner, uint64_t delay_ns, uint64_t period_ns,
                                       uint16_t tag, uint8_t kind, uint64_t corr) {
    uint32_t i = tina__timer_add(&s->wheel, tina__shard_now(s), slot, owner, delay_ns, period_ns,
                                 tag, kind, corr);
    if (TINA__UNLIKELY(i == TINA__NIL)) s->stats.timer_exhausted++;
    else if (kind == TINA__TIMER_USER) s->stats.timers_set++;
    return i;
}
tina_result tina__timer_disarm(struct tina__shard *s, struct tina__slot *slot, tina_handle owner,
                               uint32_t index, uint32_t generation);
void tina__timer_disarm_own(struct tina__shard *s, struct tina__slot *slot, tina_handle owner,
                            uint32_t index);
void tina__timers_cancel_all(struct tina__shard *s, struct tina__slot *slot);
void tina__shard_timers(struct tina__shard *s);
void tina__timer_hand_over(struct tina__shard *s, struct tina__slot *slot, tina_msg *out);

/* ---- monitors.c ---------------------------------------------------------- */

void tina__monitors_fire(struct tina__shard *s, struct tina__slot *slot, tina_handle target,
                         int how, uint32_t reason);
void tina__monitor_arrived(struct tina__shard *s, const tina_msg *request);
/* A cancel from the watcher's shard: the target's side of that monitor
 * goes, if it is still there. */
void tina__demonitor_arrived(struct tina__shard *s, const tina_msg *cancel);
/* A DOWN envelope from the target's shard: into its watcher's entry.
 * Returns 0 if it was stale (the watcher's entry or the watcher gone). */
int tina__down_arrived(struct tina__shard *s, const tina_msg *down);
void tina__monitors_flush(struct tina__shard *s);
/* The watcher in slot i is ending: every monitor it set goes (entries on
 * other shards are told), and every DOWN it was not handed, so a
 * long-lived target does not fill tables. */
void tina__monitors_release_watcher(struct tina__shard *s, struct tina__type *t, uint32_t i);

/* ---- tokens.c ------------------------------------------------------------ */

/* The isolate in slot i ends holding reply tokens: each caller is answered
 * failed (TINA_ESTALE) and the entries go. */
void tina__tokens_orphan(struct tina__shard *s, struct tina__type *t, uint32_t i);

/* ---- io.c, descriptors.c ------------------------------------------------- */

int tina__shard_io_create(struct tina__shard *s, const tina_spec *spec);
void tina__shard_io_destroy(struct tina__shard *s);
void tina__shard_io_completions(struct tina__shard *s);
void tina__io_effect(struct tina__shard *s, struct tina__type *t, uint32_t i, const tina_effect *e);
void tina__io_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *m);
void tina__io_isolate_exit(struct tina__shard *s, struct tina__slot *slot, tina_handle h);
void tina__io_shutdown(struct tina__shard *s, struct tina__slot *slot);
void tina__io_after_dispatch(struct tina__shard *s);
void tina__io_timeout(struct tina__shard *s, uint32_t op);
tina_fd tina__io_transfer_arrive(struct tina__shard *s, tina_msg *m);
void tina__io_transfer_drop(struct tina__shard *s, const tina_msg *m);
tina_fd tina__fd_install(struct tina__shard *s, int32_t os_fd, tina_handle owner);
void tina__io_close_os(struct tina__shard *s, int32_t os_fd);

/* ---- context.c ----------------------------------------------------------- */

void tina__shard_publish_stats(struct tina__shard *s);
void tina__shard_log_flush(struct tina__shard *s);
/* The watchdog (or the simulator's stall emulation) found this shard stuck
 * in one handler call: say so, count it, and abort if the policy says so. */
void tina__shard_stalled(struct tina__shard *s, uint64_t stuck_ns, int may_abort);
/* A line of the runtime's own about an isolate (crash, restart, escalation,
 * quarantine, forced shutdown), rate-limited per shard; lines skipped are
 * counted (stats.log_suppressed) and said in the next one. */
void tina__log_event(struct tina__shard *s, tina_log_level level, tina_handle h,
                     uint32_t type_id, const char *fmt, ...) TINA_PRINTF(5, 6);

/* ---- carve.c ------------------------------------------------------------- */

/* The memory map of a shard's arena, shared by validation and carving. */
struct tina__layout {
    size_t shard_off, types_off, pool_off, timers_off, buckets_off, log_off, scratch_off;
    size_t altstack_off, groups_off, group_times_off, monitors_off, tokens_off, inject_off;
    size_t type_slots_off[TINA_TYPE_COUNT_MAX];
    size_t type_reach_off[TINA_TYPE_COUNT_MAX];
    size_t type_args_off[TINA_TYPE_COUNT_MAX];
    size_t type_structs_off[TINA_TYPE_COUNT_MAX];
    size_t ring_off[TINA_SHARD_COUNT_MAX]; /* inbound ring from shard i */
    size_t total;
};
uint32_t tina__ring_slots(const tina_spec *spec, uint32_t from, uint32_t to);
void tina__layout_compute(const tina_spec *spec, uint32_t shard, uint32_t shard_count,
                          struct tina__layout *out);
void tina__shard_carve(struct tina_runtime *rt, uint32_t shard_id, const struct tina__layout *l);

#endif /* TINA_SHARD_H */
