/*
 * swarm.h -- the runtime under its own simulator: one seed draws a boot
 * spec, a workload and a set of faults, runs it with every checker on, and
 * says whether anything broke.  Used by tests/sim_swarm.c (the CI slice and
 * the regression seeds) and tests/swarm.c (`make swarm SEEDS=N FROM=S`).
 *
 * In the spirit of TigerBeetle's VOPR, and "swarm testing" (Groce et al.,
 * 2012): each seed switches on a random subset of features and fault kinds
 * at random rates, so rare combinations get whole runs of their own.
 *
 * From the seed alone (its own stream, below the simulator's) it draws:
 *   - a spec: 1..4 shards, 2..5 types with small mailboxes, few slots and
 *     small pools, a supervision tree up to depth 3 with every strategy,
 *     restart type and tight or loose budgets, dynamic children;
 *   - a workload of ordinary isolates (every type runs the one handler
 *     below, its personality drawn per seed): local and cross-shard sends
 *     to live, dead, forged and restarted handles; calls with timeouts to
 *     live, dead, silent and slow targets; timers one-shot, periodic,
 *     cancelled, zero and huge (up to UINT64_MAX); spawn and spawn_child,
 *     some with failing inits; monitors and demonitors; done, crash and real faults (an
 *     invalid write, a division by zero, a bad spawn args pointer) in
 *     handlers and inits; yield loops; a graceful shutdown part-way;
 *     simulated TCP connections carrying checksummed bytes, echoed, and
 *     descriptors handed across shards;
 *   - faults: crashes, init failures, drops, delays, partitions, stalls,
 *     I/O errors and delays, an operator reviving quarantined shards after
 *     a while and calling tina_revive on healthy ones at random.
 * Then the run has a calm phase: every fault off, every isolate winding
 * down.  It must settle within SWARM_CALM_ROUNDS.
 *
 * Checks, beside the simulator's built-in whole-state checkers:
 *   - every call ends exactly once (reply with its nonce, timeout or
 *     failure), and an isolate parked in a call or an I/O operation is
 *     woken by nothing else;
 *   - per sender and receiver, messages arrive at most once and in order
 *     (a sequence number per sender incarnation), intact (a pattern), and
 *     addressed to the receiving incarnation (nothing sent to an old
 *     handle reaches its successor);
 *   - a handler never runs on an incarnation whose init did not run;
 *   - a timer is delivered only while armed; a DOWN only for a monitor
 *     set and not taken back, once per monitor; a demonitor finds every
 *     monitor whose DOWN has not come; a resume never while mail waits;
 *   - stream bytes come back intact and in order;
 *   - the network's own count of each channel's user sends equals the
 *     workload's count of sends that returned TINA_OK, and no receiver
 *     handles more than the network delivered;
 *   - at the end of a calm run: no call pending, no mail waiting, nothing
 *     parked; at the end of a shutdown, nothing forced.
 *
 * Everything here runs on the simulator's one thread; the world below is
 * reset at the start of every run.  White-box on purpose: it includes the
 * simulator's private header to read the network's counts and to tell a
 * live handle from a dead one when it picks targets.
 */
#ifndef TINA_TEST_SWARM_H
#define TINA_TEST_SWARM_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "random.h"
#include "sim.h"
#include "tina.h"

#define SWARM_MAGIC 0x5357524du /* "SWRM" */
#define SWARM_TAG_SEQ 0x40u     /* a sequenced message (send or call) */
#define SWARM_TAG_KICK 0x41u    /* an isolate's first message to itself */
#define SWARM_TAG_BEAT 0x42u    /* the heartbeat timer */
#define SWARM_TAG_TIMER 0x43u   /* a timer of the workload's (one-shot or periodic) */
#define SWARM_TAG_ANSWER 0x44u  /* a reply */
#define SWARM_TYPES_MAX 5u
#define SWARM_KNOWN 256u        /* handles the workload has seen, a ring */
#define SWARM_SEEN 16u          /* senders a receiver tracks for order */
#define SWARM_TIMERS 6u
#define SWARM_MONITORS 6u
#define SWARM_TOKENS 3u         /* deferred calls an isolate holds at once */
#define SWARM_CHUNK 192u        /* stream bytes per send */
#define SWARM_PORT 7100u
#define SWARM_CALM_ROUNDS 60000u
#define SWARM_ROUND_LIMIT 400000u
#define SWARM_CALL_TIMEOUT_MAX_NS 20000000ull /* 20 ms: every call ends in the calm */

/* ------------------------------------------------------------------------ */
/* What a seed switched on, and what it did: counted over a sweep            */
/* ------------------------------------------------------------------------ */

#define SWARM_FEATURES(X)                                                                   \
    X(send_local) X(send_remote) X(send_dead) X(send_forged) X(send_restarted)              \
    X(call) X(call_dead) X(call_silent) X(call_tiny_timeout) X(timer_once) X(timer_periodic) \
    X(timer_cancel) X(timer_zero) X(timer_huge) X(spawn) X(spawn_child) X(init_fail)         \
    X(monitor) X(monitor_dead) X(done) X(crash) X(fault_write) X(fault_div) X(fault_init)    \
    X(fault_spawn_args) X(yield) X(shutdown) X(io) X(handoff) X(log) X(send_address)      \
    X(defer) X(token_misuse) X(inject)

#define SWARM_FAULTS(X)                                                                     \
    X(f_crash) X(f_init) X(f_drop) X(f_delay) X(f_partition) X(f_stall) X(f_io_error)       \
    X(f_io_delay) X(f_revive_after) X(f_revive_random)

/* What happened, counted by the workload and taken from the report. */
#define SWARM_EVENTS(X)                                                                     \
    X(sends_ok) X(sends_refused) X(calls_replied) X(calls_timed_out) X(calls_failed)        \
    X(timers_delivered) X(spawned) X(children_spawned) X(downs) X(yields) X(faults_raised)  \
    X(streams_verified) X(stream_bytes) X(handoffs) X(shutdowns_begun) X(restarts)          \
    X(quarantines) X(revivals) X(crashes) X(mailbox_full) X(drops_on_arrival)              \
    X(crashes_injected) X(init_failures_injected) X(drops_injected) X(stalls_injected)      \
    X(partitions_injected) X(io_errors_injected) X(answers_lost) X(slots_retired)          \
    X(address_not_running) X(replies_later) X(tokens_late) X(tokens_orphaned)          \
    X(demonitors) X(monitors_released) X(injected) X(inject_refused)

struct swarm_counts {
#define SWARM_FIELD(name) uint64_t name;
    SWARM_FEATURES(SWARM_FIELD)
    SWARM_FAULTS(SWARM_FIELD)
    SWARM_EVENTS(SWARM_FIELD)
#undef SWARM_FIELD
};

enum swarm_feature {
#define SWARM_ENUM(name) SW_##name,
    SWARM_FEATURES(SWARM_ENUM)
#undef SWARM_ENUM
    SW_FEATURE_COUNT
};

/* ------------------------------------------------------------------------ */
/* The world of one run                                                      */
/* ------------------------------------------------------------------------ */

enum swarm_role { ROLE_ACTOR = 0, ROLE_SERVER = 1 };
enum swarm_mode { MODE_ACTOR = 0, MODE_CLIENT, MODE_CONN, MODE_SERVER };

/* Spawn arguments (kept for restarts). */
struct swarm_args {
    uint8_t role;
    uint8_t init_fail;  /* 0 never, 1 sometimes, 2 always (a child that can never start) */
    uint8_t init_fault; /* a real fault in init */
    uint8_t pad;
    uint32_t salt;
};

/* The payload of a sequenced message. */
struct swarm_payload {
    uint32_t magic;
    uint32_t size;     /* bytes of this payload, pattern included */
    tina_handle to;    /* the incarnation it is meant for */
    tina_handle from;  /* the incarnation that sent it */
    uint64_t seq;      /* per sender incarnation, across receivers */
    uint64_t nonce;    /* calls: the caller's nonce, echoed by the reply */
    uint8_t pattern[TINA_PAYLOAD_MAX - 40];
};
_Static_assert(sizeof(struct swarm_payload) == TINA_PAYLOAD_MAX, "a payload fills a message");

struct swarm_iso {
    tina_handle self;        /* set by init: a handler on another incarnation is a fault */
    uint32_t role, mode;
    uint32_t yields_left;
    uint32_t yielded;        /* returned yield: the next message may be a resume */
    uint32_t call_pending;   /* returned a call effect: its outcome comes next */
    uint32_t call_dead;      /* ... to a target dead when called, with a long timeout */
    uint64_t call_lost_before; /* the target shard's answers_lost when the call was made */
    uint64_t call_nonce;
    tina_handle call_to;
    uint64_t call_made_ns, call_deadline_ns;
    uint32_t io_pending;     /* returned an io effect: its completion comes next */
    uint32_t io_op;
    uint32_t shutdown_seen;
    uint32_t calm_done;      /* wound down after the calm began */
    uint64_t seq_next;
    struct { tina_handle from; uint64_t seq; } seen[SWARM_SEEN];
    struct { tina_timer_id id; uint32_t periodic; uint64_t due_ns, period_ns; } timers[SWARM_TIMERS];
    tina_timer_id beat;
    struct { tina_handle target; uint32_t count; } monitors[SWARM_MONITORS];
    struct { tina_reply_token token; uint64_t nonce; tina_handle caller; } tokens[SWARM_TOKENS];
    tina_reply_token token_spent; /* the last one used: using it again is TINA_ETOKEN */
    /* I/O: one session at a time (client, conn or server). */
    tina_fd fd;
    uint64_t stream, sent_off, echo_off, total;
    uint32_t chunk_len, chunk_done, io_steps;
    struct swarm_payload out; /* what a send or call carries: stable while parked */
    uint8_t buf[SWARM_CHUNK];
};

struct swarm_world {
    uint64_t seed;
    uint64_t rng[4];               /* the workload's own draws (spec, personalities) */
    uint32_t shard_count, type_count, group_count, child_count;
    uint32_t one_for_one[8], one_for_one_count; /* groups that take dynamic children */
    uint32_t features[SW_FEATURE_COUNT]; /* per mille per handler call (0: off) */
    uint32_t reply_per_mille[SWARM_TYPES_MAX];
    uint32_t io_on, real_faults_on, drops_on;
    uint64_t calm_at_ns, shutdown_at_ns;
    const struct tina_runtime *rt;
    tina_handle known[SWARM_KNOWN];
    uint32_t known_next;
    uint64_t sent_ok[TINA_SHARD_COUNT_MAX][TINA_SHARD_COUNT_MAX]; /* remote sends that said OK */
    uint64_t handled[TINA_SHARD_COUNT_MAX][TINA_SHARD_COUNT_MAX]; /* ... handled at the far end */
    uint32_t inject_period;        /* rounds between injections (0: none) */
    uint64_t inject_seq;           /* the hook's own sequence, as a sender */
    uint32_t shutdown_asked;
    uint64_t shutdown_asked_ns;
    char violation[192];           /* the first model violation */
    struct swarm_counts counts;
    /* The spec's arrays live here: the runtime copies them at create. */
    tina_type_spec types[SWARM_TYPES_MAX];
    char type_names[SWARM_TYPES_MAX][16];
    tina_group_spec groups[8];
    tina_child_spec children[24];
    struct swarm_args child_args[24];
};

static struct swarm_world W;

static inline uint64_t swarm_draw(uint64_t n) { return n ? tina__rng_next(W.rng) % n : 0; }
static inline uint64_t swarm_range(uint64_t lo, uint64_t hi) { return lo + swarm_draw(hi - lo + 1); }
static inline int swarm_coin(uint32_t per_mille) { return swarm_draw(1000) < per_mille; }

static inline uint64_t iso_draw(tina_ctx *ctx, uint64_t n) { return n ? tina_random(ctx) % n : 0; }
static inline int iso_coin(tina_ctx *ctx, uint32_t per_mille) {
    return per_mille != 0 && tina_random(ctx) % 1000 < per_mille;
}
/* Is feature f exercised now?  Counted each time it is. */
static inline int feature(tina_ctx *ctx, enum swarm_feature f) {
    if (!iso_coin(ctx, W.features[f])) return 0;
    ((uint64_t *)&W.counts)[f]++; /* the features lead struct swarm_counts, in enum order */
    return 1;
}

static void swarm_violation(tina_ctx *ctx, const char *fmt, ...) TINA_PRINTF(2, 3);
static void swarm_violation(tina_ctx *ctx, const char *fmt, ...) {
    if (W.violation[0]) return;
    int n = snprintf(W.violation, sizeof(W.violation), "model: shard %u %#llx: ",
                     ctx ? tina_shard_id(ctx) : 0u,
                     ctx ? (unsigned long long)tina_self(ctx) : 0ull);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(W.violation))
        vsnprintf(W.violation + n, sizeof(W.violation) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Handles: live, dead, forged, restarted                                    */
/* ------------------------------------------------------------------------ */

/* White-box: is this handle's incarnation alive right now? */
static int swarm_alive(tina_handle h) {
    const struct tina_runtime *rt = W.rt;
    uint32_t shard = tina_handle_shard(h), type = tina_handle_type(h), i = tina_handle_slot(h);
    if (rt == NULL || shard >= rt->shard_count || type >= rt->spec.type_count) return 0;
    const struct tina__type *t = &rt->shards[shard]->types[type];
    if (i >= t->capacity) return 0;
    const struct tina__slot *slot = &t->slots[i];
    return tina__slot_alive(slot, h);
}

/* White-box: does this address's lineage run right now? */
static int swarm_address_running(tina_handle a) {
    const struct tina_runtime *rt = W.rt;
    uint32_t shard = tina_handle_shard(a), type = tina_handle_type(a), i = tina_handle_slot(a);
    if (rt == NULL || shard >= rt->shard_count || type >= rt->spec.type_count) return 0;
    const struct tina__type *t = &rt->shards[shard]->types[type];
    if (i >= t->capacity || t->reach[i].lineage != tina_handle_generation(a)) return 0;
    return tina__slot_live(&t->slots[i]);
}

/* White-box: the answers a shard lost for want of channel room. */
static uint64_t answers_lost_of(uint32_t shard) {
    return W.rt && shard < W.rt->shard_count ? W.rt->shards[shard]->stats.answers_lost : 0;
}

static void known_add(tina_handle h) {
    W.known[W.known_next++ % SWARM_KNOWN] = h;
}

/* A handle from the directory, alive (want 1) or dead (want 0), or 0. */
static tina_handle known_pick(tina_ctx *ctx, int want_alive, int other_shard) {
    uint32_t have = W.known_next < SWARM_KNOWN ? W.known_next : SWARM_KNOWN;
    for (uint32_t tries = 0; tries < 8 && have > 0; tries++) {
        tina_handle h = W.known[iso_draw(ctx, have)];
        if (h == 0 || swarm_alive(h) != want_alive) continue;
        if (other_shard && tina_handle_shard(h) == tina_shard_id(ctx)) continue;
        return h;
    }
    return 0;
}

static tina_handle forged(tina_ctx *ctx) {
    switch (iso_draw(ctx, 3)) {
    case 0: return tina_random(ctx); /* anything at all */
    case 1: /* well-formed, a random slot and generation */
        return tina_handle_make((uint32_t)iso_draw(ctx, W.shard_count),
                                (uint32_t)iso_draw(ctx, W.type_count), (uint32_t)iso_draw(ctx, 16),
                                1u + (uint32_t)iso_draw(ctx, 4));
    default: return TINA_HANDLE_NONE;
    }
}

/* ------------------------------------------------------------------------ */
/* Model checks on every message                                             */
/* ------------------------------------------------------------------------ */

static void pattern_fill(struct swarm_payload *p, uint32_t size) {
    for (uint32_t k = 0; k + 40 < size; k++) p->pattern[k] = (uint8_t)(p->seq * 31u + k * 7u);
}

static int pattern_ok(const struct swarm_payload *p, uint32_t size) {
    for (uint32_t k = 0; k + 40 < size; k++)
        if (p->pattern[k] != (uint8_t)(p->seq * 31u + k * 7u)) return 0;
    return 1;
}

/* A sequenced message: intact, for this incarnation, in order per sender. */
static void sequenced_check(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    struct swarm_payload p;
    memset(&p, 0, sizeof(p));
    memcpy(&p, msg->payload, msg->size);
    if (msg->size < 40 || p.magic != SWARM_MAGIC || p.size != msg->size || !pattern_ok(&p, msg->size)) {
        swarm_violation(ctx, "a message arrived damaged (tag %#x kind %u size %u)", msg->tag,
                        msg->kind, msg->size);
        return;
    }
    if (p.to != me->self && !(tina_handle_is_address(p.to) && p.to == tina_self_address(ctx)))
        swarm_violation(ctx, "a message for %#llx reached incarnation %#llx",
                        (unsigned long long)p.to, (unsigned long long)me->self);
    if (p.from != msg->from)
        swarm_violation(ctx, "envelope from %#llx, payload from %#llx",
                        (unsigned long long)msg->from, (unsigned long long)p.from);
    uint32_t k = (uint32_t)(p.from * 0x9e3779b97f4a7c15ull >> 60) % SWARM_SEEN;
    if (me->seen[k].from == p.from && p.seq <= me->seen[k].seq)
        swarm_violation(ctx, "from %#llx: seq %llu after %llu (duplicate or out of order)",
                        (unsigned long long)p.from, (unsigned long long)p.seq,
                        (unsigned long long)me->seen[k].seq);
    me->seen[k].from = p.from;
    me->seen[k].seq = p.seq;
    uint32_t from = tina_handle_shard(msg->from), to = tina_shard_id(ctx);
    if (msg->kind == TINA_MSG_SEND && msg->from != 0 && from != to && from < W.shard_count)
        W.handled[from][to]++;
}

static int is_outcome(const tina_msg *msg) {
    return msg->kind == TINA_MSG_REPLY || msg->tag == TINA_TAG_CALL_TIMEOUT ||
           msg->tag == TINA_TAG_CALL_FAILED;
}

static int is_io(const tina_msg *msg) {
    return msg->tag >= TINA_TAG_IO_FIRST && msg->tag <= TINA_TAG_IO_LAST;
}

/* What may wake an isolate, given what it returned last. */
static void arrival_check(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    if (me->call_pending) {
        if (!is_outcome(msg)) {
            swarm_violation(ctx, "parked in a call, woken by tag %#x kind %u", msg->tag, msg->kind);
            return;
        }
        me->call_pending = 0;
        if (msg->kind == TINA_MSG_REPLY) {
            struct swarm_payload p;
            memcpy(&p, msg->payload, sizeof(p) < msg->size ? sizeof(p) : msg->size);
            if (msg->size < 40 || p.nonce != me->call_nonce)
                swarm_violation(ctx, "a reply for nonce %llu, the call was %llu",
                                (unsigned long long)p.nonce, (unsigned long long)me->call_nonce);
            W.counts.calls_replied++;
        } else if (msg->tag == TINA_TAG_CALL_TIMEOUT) {
            W.counts.calls_timed_out++;
            if (tina_now_ns(ctx) < me->call_deadline_ns)
                swarm_violation(ctx, "a call timed out at %llu ns, its deadline %llu ns",
                                (unsigned long long)tina_now_ns(ctx),
                                (unsigned long long)me->call_deadline_ns);
            /* A shutdown cuts a pending call short (SPEC 13): a call made before
             * it, whose timeout is well after it, must not time out.  (The
             * shutdown reaches a stalled shard up to 2 ms late.) */
            if (W.shutdown_asked && me->call_made_ns < W.shutdown_asked_ns &&
                me->call_deadline_ns > W.shutdown_asked_ns + 5000000)
                swarm_violation(ctx, "a call pending at the shutdown waited out its timeout");
            /* Unless its answer found the channel back full (counted). */
            if (me->call_dead && !W.drops_on &&
                answers_lost_of(tina_handle_shard(me->call_to)) == me->call_lost_before)
                swarm_violation(ctx, "a call to a dead isolate waited out its timeout");
        } else {
            int32_t r;
            memcpy(&r, msg->payload, sizeof(r));
            if (msg->size != sizeof(r) || r >= 0 || tina_strerror(r)[0] == 'u')
                swarm_violation(ctx, "a call failed with %d", (int)r);
            W.counts.calls_failed++;
        }
        me->call_dead = 0;
        return;
    }
    if (me->io_pending) {
        uint32_t op = me->io_op;
        me->io_pending = 0;
        if (msg->tag == TINA_TAG_CALL_FAILED) return; /* refused before any op existed */
        /* Returned while its shutdown notice was pending: not started, and
         * the notice is its answer (tina.h, DESIGN 16). */
        if (msg->tag == TINA_TAG_SHUTDOWN && !me->shutdown_seen) return;
        if (msg->tag != TINA_TAG_IO(op))
            swarm_violation(ctx, "parked on I/O op %u, woken by tag %#x", op, msg->tag);
        return;
    }
    if (is_outcome(msg))
        swarm_violation(ctx, "a call outcome (tag %#x kind %u) with no call pending", msg->tag,
                        msg->kind);
    else if (is_io(msg))
        swarm_violation(ctx, "an I/O completion (tag %#x) with no operation pending", msg->tag);
}

/* ------------------------------------------------------------------------ */
/* Actions                                                                   */
/* ------------------------------------------------------------------------ */

static uint32_t payload_make(struct swarm_iso *me, tina_ctx *ctx, tina_handle to, uint64_t nonce) {
    struct swarm_payload *p = &me->out;
    uint32_t size = 40 + (uint32_t)iso_draw(ctx, TINA_PAYLOAD_MAX - 40 + 1);
    memset(p, 0, sizeof(*p));
    p->magic = SWARM_MAGIC;
    p->size = size;
    p->to = to;
    p->from = me->self;
    p->seq = ++me->seq_next;
    p->nonce = nonce;
    pattern_fill(p, size);
    return size;
}

/* A target for a send or a call, and which feature it exercises. */
static tina_handle target_pick(struct swarm_iso *me, tina_ctx *ctx, enum swarm_feature *kind) {
    tina_handle h = 0;
    uint32_t n = (uint32_t)iso_draw(ctx, 10);
    if (n < 1 && feature(ctx, SW_send_forged)) {
        *kind = SW_send_forged;
        return forged(ctx);
    }
    if (n < 2 && feature(ctx, SW_send_dead) && (h = known_pick(ctx, 0, 0)) != 0) {
        *kind = SW_send_dead;
        return h;
    }
    if (n < 4 && feature(ctx, SW_send_address)) { /* a lineage: a static child's, or any */
        if (W.child_count > 0 && iso_coin(ctx, 600))
            h = tina_child_address(ctx, (uint32_t)iso_draw(ctx, W.child_count),
                                   (uint32_t)iso_draw(ctx, W.shard_count));
        else
            h = tina_address_of(known_pick(ctx, iso_coin(ctx, 700), iso_coin(ctx, 300)));
        if (h) {
            *kind = SW_send_address;
            return h;
        }
    }
    if (n < 3 && feature(ctx, SW_send_restarted) && W.child_count > 0) {
        uint32_t c = (uint32_t)iso_draw(ctx, W.child_count);
        h = tina_child_handle(ctx, c, (uint32_t)iso_draw(ctx, W.shard_count));
        if (h) {
            *kind = SW_send_restarted;
            return h;
        }
    }
    if (W.shard_count > 1 && feature(ctx, SW_send_remote) && (h = known_pick(ctx, 1, 1)) != 0) {
        *kind = SW_send_remote;
        return h;
    }
    *kind = SW_send_local;
    h = known_pick(ctx, 1, 0);
    return h && tina_handle_shard(h) == tina_shard_id(ctx) ? h : me->self;
}

static void act_send(struct swarm_iso *me, tina_ctx *ctx) {
    enum swarm_feature kind;
    tina_handle to = target_pick(me, ctx, &kind);
    uint32_t size = payload_make(me, ctx, to, 0);
    tina_result r = tina_send(ctx, to, SWARM_TAG_SEQ, &me->out, size);
    if (kind == SW_send_local) W.counts.send_local++; /* the others counted as drawn */
    uint32_t from = tina_shard_id(ctx), dest = tina_handle_shard(to);
    int remote = dest != from && dest < W.shard_count;
    int refused = r == TINA_ESTALE || r == TINA_ENOT_RUNNING;
    if (kind == SW_send_address && !remote && (r == TINA_OK || refused) &&
        refused == swarm_address_running(to))
        swarm_violation(ctx, "a send to address %#llx said %s, its lineage %s",
                        (unsigned long long)to, tina_result_name(r),
                        swarm_address_running(to) ? "runs" : "does not run");
    switch (r) {
    case TINA_OK:
        W.counts.sends_ok++;
        if (remote) W.sent_ok[from][dest]++;
        if (kind == SW_send_dead && !remote)
            swarm_violation(ctx, "a send to dead %#llx said OK", (unsigned long long)to);
        return;
    case TINA_ENOT_RUNNING:
        if (kind != SW_send_address) swarm_violation(ctx, "a send to a handle said ENOT_RUNNING");
        break;
    case TINA_EMAILBOX_FULL: W.counts.mailbox_full++; break;
    case TINA_ESTALE:
        if (!remote && swarm_alive(to))
            swarm_violation(ctx, "a send to live %#llx said ESTALE", (unsigned long long)to);
        break;
    case TINA_EPOOL_EXHAUSTED: case TINA_EHANDLE: break;
    default: swarm_violation(ctx, "tina_send returned %s", tina_result_name(r));
    }
    W.counts.sends_refused++;
}

/* a + b, or UINT64_MAX if it does not fit: when a timer may fire, at the
 * earliest (the runtime saturates the same way: SPEC 13). */
static uint64_t add_saturated(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

static void timer_note(struct swarm_iso *me, tina_timer_id id, uint32_t periodic, uint64_t due_ns,
                       uint64_t period_ns) {
    for (uint32_t k = 0; k < SWARM_TIMERS; k++)
        if (me->timers[k].id == 0) {
            me->timers[k].id = id;
            me->timers[k].periodic = periodic;
            me->timers[k].due_ns = due_ns;
            me->timers[k].period_ns = period_ns;
            return;
        }
}

static int timers_room(const struct swarm_iso *me) {
    for (uint32_t k = 0; k < SWARM_TIMERS; k++)
        if (me->timers[k].id == 0) return 1;
    return 0;
}

static uint64_t delay_draw(tina_ctx *ctx) {
    switch (iso_draw(ctx, 8)) {
    case 0: return feature(ctx, SW_timer_zero) ? 0 : 1000;
    case 1:
        if (feature(ctx, SW_timer_huge)) {
            uint64_t k = iso_draw(ctx, 4);
            return k == 0 ? UINT64_MAX : k == 1 ? UINT64_MAX - iso_draw(ctx, 1000000) : 1ull << (40 + k * 7);
        }
        return 5000;
    default: return 1000 + iso_draw(ctx, 3000000);
    }
}

static void act_timer(struct swarm_iso *me, tina_ctx *ctx) {
    if (me->timers[0].id && feature(ctx, SW_timer_cancel)) {
        uint32_t k = (uint32_t)iso_draw(ctx, SWARM_TIMERS);
        tina_timer_id id = me->timers[k].id ? me->timers[k].id : tina_random(ctx);
        tina_result r = tina_timer_cancel(ctx, id);
        if (me->timers[k].id == id) { /* ours: armed (OK), or a one-shot delivered already */
            if (r != TINA_OK) swarm_violation(ctx, "cancelling an armed timer: %s", tina_result_name(r));
            me->timers[k].id = 0;
        } else if (r != TINA_ETIMER_STALE) {
            swarm_violation(ctx, "cancelling a forged timer id: %s", tina_result_name(r));
        }
        return;
    }
    if (!timers_room(me)) return;
    int periodic = feature(ctx, SW_timer_periodic);
    uint64_t delay = delay_draw(ctx);
    uint64_t period = periodic ? 100000 + iso_draw(ctx, 2000000) : 0;
    tina_timer_id id;
    tina_result r = tina_timer_set(ctx, delay, period, SWARM_TAG_TIMER, &id);
    if (!periodic) W.counts.timer_once++;
    if (r == TINA_OK) timer_note(me, id, periodic, add_saturated(tina_now_ns(ctx), delay), period);
    else if (r != TINA_ETIMER_EXHAUSTED) swarm_violation(ctx, "tina_timer_set: %s", tina_result_name(r));
}

static void args_draw(tina_ctx *ctx, struct swarm_args *a) {
    memset(a, 0, sizeof(*a));
    a->role = ROLE_ACTOR;
    if (feature(ctx, SW_init_fail)) a->init_fail = 1;
    if (W.real_faults_on && feature(ctx, SW_fault_init)) a->init_fault = 1 + (uint8_t)iso_draw(ctx, 2);
    a->salt = (uint32_t)tina_random(ctx);
}

static void act_spawn(struct swarm_iso *me, tina_ctx *ctx) {
    (void)me;
    struct swarm_args a;
    args_draw(ctx, &a);
    tina_handle h;
    tina_result r;
    uint32_t type = (uint32_t)iso_draw(ctx, W.type_count + 1); /* one past the end: EINVAL */
    const void *args = &a;
    if (W.real_faults_on && feature(ctx, SW_fault_spawn_args)) {
        args = (const void *)(uintptr_t)8; /* a fault inside the runtime's call: trapped */
        W.counts.faults_raised++;
    }
    if (W.one_for_one_count > 0 && feature(ctx, SW_spawn_child)) {
        uint32_t g = iso_coin(ctx, 100) ? 200 : W.one_for_one[iso_draw(ctx, W.one_for_one_count)];
        r = tina_spawn_child(ctx, g, (uint32_t)iso_draw(ctx, 4), type, args, sizeof(a), &h);
        if (r == TINA_OK) W.counts.children_spawned++;
        else if (r != TINA_EINVAL && r != TINA_EGROUP_FULL && r != TINA_ENO_SLOT)
            swarm_violation(ctx, "tina_spawn_child: %s", tina_result_name(r));
    } else {
        r = tina_spawn(ctx, type, args, sizeof(a), &h);
        if (r == TINA_OK) W.counts.spawned++;
        else if (r != TINA_EINVAL && r != TINA_ENO_SLOT)
            swarm_violation(ctx, "tina_spawn: %s", tina_result_name(r));
    }
    if (r == TINA_OK) known_add(h);
    if (r == TINA_EINVAL && type < W.type_count && args == &a && !(W.one_for_one_count > 0))
        swarm_violation(ctx, "tina_spawn of type %u said EINVAL", type);
}

/* Take back every monitor of one target this isolate still waits on: the
 * runtime must find them (their DOWN is not yet delivered), and no DOWN of
 * that target may come after. */
static void act_demonitor(struct swarm_iso *me, tina_ctx *ctx) {
    uint32_t k = (uint32_t)iso_draw(ctx, SWARM_MONITORS);
    if (me->monitors[k].target == 0 || me->monitors[k].count == 0) return;
    tina_handle target = me->monitors[k].target;
    tina_result r = tina_demonitor(ctx, target);
    if (r != TINA_OK) swarm_violation(ctx, "tina_demonitor: %s", tina_result_name(r));
    for (uint32_t j = 0; j < SWARM_MONITORS; j++)
        if (me->monitors[j].target == target) me->monitors[j].count = 0;
}

static void act_monitor(struct swarm_iso *me, tina_ctx *ctx) {
    if (iso_coin(ctx, 250)) {
        act_demonitor(me, ctx);
        return;
    }
    uint32_t k = 0;
    while (k < SWARM_MONITORS && me->monitors[k].target != 0 && me->monitors[k].count > 0) k++;
    if (k == SWARM_MONITORS) return; /* the model keeps a few */
    tina_handle target = feature(ctx, SW_monitor_dead) ? known_pick(ctx, 0, 0) : known_pick(ctx, 1, 0);
    if (target == 0) return;
    tina_result r = tina_monitor(ctx, target);
    if (r == TINA_OK) {
        me->monitors[k].target = target;
        me->monitors[k].count = 1;
    } else if (r != TINA_EMAILBOX_FULL && r != TINA_ESTALE && r != TINA_EMONITOR_EXHAUSTED) {
        swarm_violation(ctx, "tina_monitor: %s", tina_result_name(r));
    }
}

static void down_check(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    tina_down d;
    memcpy(&d, msg->payload, sizeof(d));
    W.counts.downs++;
    for (uint32_t k = 0; k < SWARM_MONITORS; k++) {
        if (me->monitors[k].target != d.target || me->monitors[k].count == 0) continue;
        me->monitors[k].count--;
        if (d.how == TINA_DOWN_NOPROC && swarm_alive(d.target))
            swarm_violation(ctx, "a NOPROC DOWN for %#llx, which is alive",
                            (unsigned long long)d.target);
        return;
    }
    swarm_violation(ctx, "a DOWN (how %u) for %#llx, never monitored or already down", d.how,
                    (unsigned long long)d.target);
}

static void timer_check(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    tina_timer_id id;
    memcpy(&id, msg->payload, sizeof(id));
    W.counts.timers_delivered++;
    if (msg->tag == SWARM_TAG_BEAT) {
        if (id != me->beat) swarm_violation(ctx, "a heartbeat from a timer not armed");
        return;
    }
    for (uint32_t k = 0; k < SWARM_TIMERS; k++) {
        if (me->timers[k].id != id) continue;
        uint64_t now = tina_now_ns(ctx);
        if (now < me->timers[k].due_ns)
            swarm_violation(ctx, "timer %#llx fired at %llu ns, due at %llu ns",
                            (unsigned long long)id, (unsigned long long)now,
                            (unsigned long long)me->timers[k].due_ns);
        if (!me->timers[k].periodic) me->timers[k].id = 0;
        /* its next period, as documented: after this one, never sooner */
        else me->timers[k].due_ns = add_saturated(me->timers[k].due_ns, me->timers[k].period_ns);
        return;
    }
    swarm_violation(ctx, "timer %#llx delivered, not armed", (unsigned long long)id);
}

/* Raise a real fault (the trap boundary crashes only this isolate). */
static volatile int *volatile swarm_bad_pointer = (volatile int *)16;
static volatile int swarm_zero;

static void fault_raise(tina_ctx *ctx, int div) {
    (void)ctx;
    W.counts.faults_raised++;
    if (div) {
        volatile int x = 7;
        x = x / swarm_zero;
    } else {
        *swarm_bad_pointer = 1;
    }
}

/* ------------------------------------------------------------------------ */
/* I/O sessions: a client streams checksummed bytes to a server's conn,    */
/* which echoes them; descriptors hop between isolates and shards           */
/* ------------------------------------------------------------------------ */

static uint8_t stream_byte(uint64_t stream, uint64_t offset) {
    uint64_t z = stream * 0x9e3779b97f4a7c15ull + offset * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(z >> 56 ^ z >> 17);
}

static struct sockaddr_in swarm_addr(uint32_t shard) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)(SWARM_PORT + shard));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static tina_effect io_park(struct swarm_iso *me, tina_effect e) {
    me->io_pending = 1;
    me->io_op = e.kind == TINA_EFFECT_IO ? e.io.op : TINA_IO_OP_COUNT;
    if (me->io_op >= TINA_IO_OP_COUNT) me->io_pending = 0; /* refused: arrives as an io tag */
    me->io_steps++;
    return e;
}

static tina_effect session_end(struct swarm_iso *me) {
    me->mode = me->role == ROLE_SERVER ? MODE_SERVER : MODE_ACTOR;
    tina_fd fd = me->fd;
    me->fd = TINA_FD_NONE;
    if (fd == TINA_FD_NONE) return tina_receive();
    return io_park(me, tina_io_close(fd));
}

static tina_effect client_next_chunk(struct swarm_iso *me, tina_ctx *ctx) {
    if (me->sent_off >= me->total) {
        W.counts.streams_verified++;
        return session_end(me);
    }
    uint64_t left = me->total - me->sent_off;
    me->chunk_len = (uint32_t)(left < SWARM_CHUNK ? left : 1 + iso_draw(ctx, SWARM_CHUNK));
    for (uint32_t k = 0; k < me->chunk_len; k++) me->buf[k] = stream_byte(me->stream, me->sent_off + k);
    me->chunk_done = 0;
    return io_park(me, tina_io_timeout(tina_io_send(me->fd, me->buf, me->chunk_len), 5000000));
}

static tina_effect client_start(struct swarm_iso *me, tina_ctx *ctx) {
    tina_fd fd;
    if (tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &fd) != TINA_OK) return tina_receive();
    me->mode = MODE_CLIENT;
    me->fd = fd;
    me->stream = tina_random(ctx) | 1;
    me->sent_off = me->echo_off = 0;
    me->total = 64 + iso_draw(ctx, 4096);
    struct sockaddr_in a = swarm_addr((uint32_t)iso_draw(ctx, W.shard_count));
    memcpy(me->buf, &a, sizeof(a));
    return io_park(me, tina_io_timeout(tina_io_connect(fd, me->buf, sizeof(a)), 3000000));
}

static tina_effect client_step(struct swarm_iso *me, tina_ctx *ctx, const tina_io_done *d) {
    switch (d->op) {
    case TINA_IO_CONNECT:
        if (d->result < 0 || d->error) return session_end(me);
        return client_next_chunk(me, ctx);
    case TINA_IO_SEND:
        if (d->result <= 0 || d->error) return session_end(me);
        me->chunk_done += (uint32_t)d->result;
        if (me->chunk_done < me->chunk_len) /* partial: the rest */
            return io_park(me, tina_io_timeout(tina_io_send(me->fd, me->buf + me->chunk_done,
                                                            me->chunk_len - me->chunk_done),
                                               5000000));
        me->sent_off += me->chunk_len;
        return io_park(me, tina_io_timeout(tina_io_recv(me->fd, SWARM_CHUNK), 5000000));
    case TINA_IO_RECV:
        if (d->result <= 0 || d->error) return session_end(me);
        for (int32_t k = 0; k < d->result; k++) {
            if (d->data[k] != stream_byte(me->stream, me->echo_off + (uint64_t)k)) {
                swarm_violation(ctx, "stream %#llx: byte %llu came back wrong",
                                (unsigned long long)me->stream,
                                (unsigned long long)(me->echo_off + (uint64_t)k));
                return session_end(me);
            }
        }
        me->echo_off += (uint64_t)d->result;
        W.counts.stream_bytes += (uint64_t)d->result;
        if (me->echo_off > me->sent_off) {
            swarm_violation(ctx, "stream %#llx: more came back than was sent",
                            (unsigned long long)me->stream);
            return session_end(me);
        }
        if (me->echo_off < me->sent_off)
            return io_park(me, tina_io_timeout(tina_io_recv(me->fd, SWARM_CHUNK), 5000000));
        return client_next_chunk(me, ctx);
    default:
        return session_end(me);
    }
}

/* A conn echoes; now and then it hands its descriptor to another isolate. */
static tina_effect conn_step(struct swarm_iso *me, tina_ctx *ctx, const tina_io_done *d) {
    switch (d->op) {
    case TINA_IO_RECV:
        if (d->result <= 0 || d->error) return session_end(me);
        memcpy(me->buf, d->data, (size_t)d->result);
        me->chunk_len = (uint32_t)d->result;
        me->chunk_done = 0;
        return io_park(me, tina_io_timeout(tina_io_send(me->fd, me->buf, me->chunk_len), 5000000));
    case TINA_IO_SEND:
        if (d->result <= 0 || d->error) return session_end(me);
        me->chunk_done += (uint32_t)d->result;
        if (me->chunk_done < me->chunk_len)
            return io_park(me, tina_io_timeout(tina_io_send(me->fd, me->buf + me->chunk_done,
                                                            me->chunk_len - me->chunk_done),
                                               5000000));
        if (feature(ctx, SW_handoff) && tina_now_ns(ctx) < W.calm_at_ns) {
            tina_handle to = known_pick(ctx, 1, iso_coin(ctx, 700));
            if (to && to != me->self) {
                tina_result r = tina_fd_transfer(ctx, me->fd, to, me->stream);
                if (r == TINA_OK) {
                    W.counts.handoffs++;
                    me->fd = TINA_FD_NONE;
                    return session_end(me);
                }
                if (r != TINA_EIO_BUSY && r != TINA_ESTALE && r != TINA_EMAILBOX_FULL &&
                    r != TINA_EPOOL_EXHAUSTED &&
                    r != TINA_EHANDLE && r != TINA_EFD_EXHAUSTED)
                    swarm_violation(ctx, "tina_fd_transfer: %s", tina_result_name(r));
            }
        }
        return io_park(me, tina_io_timeout(tina_io_recv(me->fd, SWARM_CHUNK), 5000000));
    default:
        return session_end(me);
    }
}

static tina_effect server_accept(struct swarm_iso *me, tina_ctx *ctx) {
    if (tina_now_ns(ctx) >= W.calm_at_ns || me->shutdown_seen || me->fd == TINA_FD_NONE)
        return tina_receive();
    return io_park(me, tina_io_timeout(tina_io_accept(me->fd), 2000000));
}

static tina_effect server_step(struct swarm_iso *me, tina_ctx *ctx, const tina_io_done *d) {
    if (d->op == TINA_IO_ACCEPT && d->result >= 0 && d->error == TINA_OK) {
        tina_handle to = known_pick(ctx, 1, iso_coin(ctx, 500));
        tina_result r = to ? tina_fd_transfer(ctx, d->fd, to, 0) : TINA_ESTALE;
        if (r == TINA_OK) W.counts.handoffs++;
        else return io_park(me, tina_io_close(d->fd)); /* then accept again */
    }
    return server_accept(me, ctx);
}

static tina_effect io_step(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    tina_io_done d;
    memcpy(&d, msg->payload, sizeof(d));
    if (d.op == TINA_IO_CLOSE) return me->mode == MODE_SERVER ? server_accept(me, ctx) : tina_receive();
    switch (me->mode) {
    case MODE_CLIENT: return client_step(me, ctx, &d);
    case MODE_CONN: return conn_step(me, ctx, &d);
    case MODE_SERVER: return server_step(me, ctx, &d);
    default: return tina_receive();
    }
}

/* A descriptor handed over: this isolate becomes a conn. */
static tina_effect transfer_take(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    tina_fd_transfer_msg t;
    memcpy(&t, msg->payload, sizeof(t));
    if (me->mode != MODE_ACTOR || me->shutdown_seen) return io_park(me, tina_io_close(t.fd));
    (void)ctx;
    me->mode = MODE_CONN;
    me->fd = t.fd;
    return io_park(me, tina_io_timeout(tina_io_recv(me->fd, SWARM_CHUNK), 5000000));
}

/* ------------------------------------------------------------------------ */
/* The isolate                                                               */
/* ------------------------------------------------------------------------ */

static uint32_t swarm_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    struct swarm_iso *me = self;
    struct swarm_args a;
    memset(&a, 0, sizeof(a));
    memcpy(&a, args, size < sizeof(a) ? size : sizeof(a));
    if (W.rt == NULL) W.rt = ctx->shard->rt; /* to tell live handles from dead ones */
    me->self = tina_self(ctx);
    me->role = a.role;
    known_add(me->self);
    if (a.init_fail == 2) return 7; /* can never start */
    int calm = tina_now_ns(ctx) >= W.calm_at_ns;
    if (!calm && a.init_fail == 1 && iso_coin(ctx, 300)) return 9;
    if (!calm && a.init_fault && W.real_faults_on && iso_coin(ctx, 200)) fault_raise(ctx, a.init_fault == 2);
    if (a.role == ROLE_SERVER && W.io_on) {
        struct sockaddr_in addr = swarm_addr(tina_shard_id(ctx));
        int one = 1;
        if (tina_socket(ctx, AF_INET, SOCK_STREAM, 0, &me->fd) != TINA_OK) return 11;
        if (tina_setsockopt(ctx, me->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != TINA_OK ||
            tina_bind(ctx, me->fd, &addr, sizeof(addr)) != TINA_OK ||
            tina_listen(ctx, me->fd, 8) != TINA_OK)
            return 12; /* the descriptor closes with the isolate */
        me->mode = MODE_SERVER;
    }
    if (!calm) {
        tina_result r = tina_timer_set(ctx, 1000 + iso_draw(ctx, 200000), 200000 + iso_draw(ctx, 800000),
                                       SWARM_TAG_BEAT, &me->beat);
        if (r != TINA_OK && r != TINA_ETIMER_EXHAUSTED) swarm_violation(ctx, "beat: %s", tina_result_name(r));
        if (r != TINA_OK) me->beat = 0;
    }
    return 0;
}

/* Answer calls this isolate deferred: some now, every one once calm (a
 * timer set at the defer brings it back).  Now and then a spent or forged
 * token first, which must be refused by name. */
static void tokens_answer(struct swarm_iso *me, tina_ctx *ctx, int all) {
    for (uint32_t k = 0; k < SWARM_TOKENS; k++) {
        if (me->tokens[k].token == 0 || (!all && !iso_coin(ctx, 500))) continue;
        if (feature(ctx, SW_token_misuse)) {
            tina_reply_token bad = me->token_spent && iso_coin(ctx, 500)
                                       ? me->token_spent
                                       : me->tokens[k].token ^ 0x80000000u; /* another generation */
            tina_result r = tina_reply_later(ctx, bad, SWARM_TAG_ANSWER, NULL, 0);
            if (r != TINA_ETOKEN) swarm_violation(ctx, "a spent or forged token: %s", tina_result_name(r));
        }
        uint32_t size = payload_make(me, ctx, me->tokens[k].caller, me->tokens[k].nonce);
        tina_result r = tina_reply_later(ctx, me->tokens[k].token, SWARM_TAG_ANSWER, &me->out, size);
        switch (r) {
        case TINA_OK: W.counts.replies_later++; break;
        case TINA_ETOKEN_LATE: W.counts.tokens_late++; break;
        case TINA_ESTALE: break;           /* the caller's shard is quarantined */
        case TINA_EMAILBOX_FULL: continue; /* the channel back is full: the token stays good */
        default: swarm_violation(ctx, "tina_reply_later: %s", tina_result_name(r));
        }
        me->token_spent = me->tokens[k].token;
        me->tokens[k].token = 0;
    }
}

/* Defer the call being handled, if there is room to keep it and a timer to
 * come back for it.  1 if deferred. */
static int call_defer(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg, uint64_t nonce) {
    uint32_t k = 0;
    while (k < SWARM_TOKENS && me->tokens[k].token != 0) k++;
    if (k == SWARM_TOKENS || !timers_room(me)) return 0;
    tina_result r = tina_defer(ctx, &me->tokens[k].token);
    if (r != TINA_OK) {
        if (r != TINA_ETOKEN_EXHAUSTED) swarm_violation(ctx, "tina_defer: %s", tina_result_name(r));
        me->tokens[k].token = 0;
        return 0;
    }
    me->tokens[k].nonce = nonce;
    me->tokens[k].caller = msg->from;
    tina_timer_id id;
    uint64_t delay = 1000 + iso_draw(ctx, 3000000);
    if (tina_timer_set(ctx, delay, 0, SWARM_TAG_TIMER, &id) == TINA_OK)
        timer_note(me, id, 0, add_saturated(tina_now_ns(ctx), delay), 0);
    return 1;
}

/* After the calm began: cancel what would keep the run alive, do nothing new. */
static tina_effect wind_down(struct swarm_iso *me, tina_ctx *ctx) {
    if (!me->calm_done) {
        me->calm_done = 1;
        if (me->beat && tina_timer_cancel(ctx, me->beat) != TINA_OK)
            swarm_violation(ctx, "cancelling the heartbeat failed");
        me->beat = 0;
        for (uint32_t k = 0; k < SWARM_TIMERS; k++) {
            if (me->timers[k].id && me->timers[k].periodic) (void)tina_timer_cancel(ctx, me->timers[k].id);
            if (me->timers[k].periodic) me->timers[k].id = 0;
        }
    }
    return tina_receive();
}

/* The effect that ends an ordinary handler call. */
static tina_effect effect_draw(struct swarm_iso *me, tina_ctx *ctx, const tina_msg *msg) {
    if (msg->kind == TINA_MSG_CALL) {
        if (!iso_coin(ctx, W.reply_per_mille[tina_handle_type(me->self)])) W.counts.call_silent++;
        else {
            struct swarm_payload p;
            memcpy(&p, msg->payload, sizeof(p) < msg->size ? sizeof(p) : msg->size);
            if (!me->shutdown_seen && tina_now_ns(ctx) < W.calm_at_ns && feature(ctx, SW_defer) &&
                call_defer(me, ctx, msg, p.nonce))
                return tina_receive();
            uint32_t size = payload_make(me, ctx, msg->from, p.nonce);
            return tina_reply(SWARM_TAG_ANSWER, &me->out, size);
        }
    }
    if (me->yields_left > 0) {
        me->yields_left--;
        me->yielded = 1;
        W.counts.yields++;
        return tina_yield();
    }
    uint32_t n = (uint32_t)iso_draw(ctx, 1000);
    if (n < 3 && feature(ctx, SW_done)) return tina_done();
    if (n < 6 && feature(ctx, SW_crash)) return tina_crash(1 + (uint32_t)iso_draw(ctx, 100));
    if (n < 9 && W.real_faults_on && feature(ctx, SW_fault_write)) fault_raise(ctx, 0);
    if (n < 12 && W.real_faults_on && feature(ctx, SW_fault_div)) fault_raise(ctx, 1);
    if (n < 80 && feature(ctx, SW_yield)) {
        me->yields_left = (uint32_t)iso_draw(ctx, 6);
        me->yielded = 1;
        W.counts.yields++;
        return tina_yield();
    }
    if (n < 200 && feature(ctx, SW_call)) {
        enum swarm_feature kind;
        tina_handle to = target_pick(me, ctx, &kind);
        uint64_t nonce = tina_random(ctx) | 1;
        uint32_t size = payload_make(me, ctx, to, nonce);
        uint64_t timeout = 1000000 + iso_draw(ctx, SWARM_CALL_TIMEOUT_MAX_NS - 1000000);
        if (feature(ctx, SW_call_tiny_timeout)) timeout = 1 + iso_draw(ctx, 20000);
        if (kind == SW_send_dead) W.counts.call_dead++;
        me->call_pending = 1;
        me->call_nonce = nonce;
        me->call_dead = kind == SW_send_dead && timeout >= 15000000;
        me->call_to = to;
        me->call_lost_before = answers_lost_of(tina_handle_shard(to));
        me->call_made_ns = tina_now_ns(ctx);
        me->call_deadline_ns = add_saturated(me->call_made_ns, timeout);
        return tina_call(to, SWARM_TAG_SEQ, &me->out, size, timeout);
    }
    if (n < 240 && W.io_on && feature(ctx, SW_io) && me->mode == MODE_ACTOR) {
        return client_start(me, ctx);
    }
    return tina_receive();
}

static tina_effect swarm_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    struct swarm_iso *me = self;
    if (me->self != tina_self(ctx)) {
        swarm_violation(ctx, "a handler ran on an incarnation whose init did not (struct of %#llx)",
                        (unsigned long long)me->self);
        return tina_receive();
    }
    arrival_check(me, ctx, msg);
    if (msg->tag == TINA_TAG_RESUME) {
        const struct tina__slot *slot = &ctx->type->slots[ctx->slot];
        if (!me->yielded) swarm_violation(ctx, "a resume without a yield");
        if (slot->mbox_count > 0) swarm_violation(ctx, "a resume while %u messages wait", slot->mbox_count);
    }
    me->yielded = 0;
    int calm = tina_now_ns(ctx) >= W.calm_at_ns;
    if (me->tokens[0].token | me->tokens[1].token | me->tokens[2].token)
        tokens_answer(me, ctx, calm || me->shutdown_seen);
    switch (msg->tag) {
    case TINA_TAG_SHUTDOWN:
        if (me->shutdown_seen++) swarm_violation(ctx, "a second shutdown notice");
        me->yields_left = 0;
        if (me->mode == MODE_CLIENT || me->mode == MODE_CONN) return session_end(me);
        return wind_down(me, ctx);
    case TINA_TAG_DOWN: down_check(me, ctx, msg); break;
    case TINA_TAG_TRANSFER:
        return transfer_take(me, ctx, msg);
    default:
        if (is_io(msg)) return io_step(me, ctx, msg);
        if (msg->kind == TINA_MSG_TIMER) timer_check(me, ctx, msg);
        else if (msg->kind == TINA_MSG_SEND || msg->kind == TINA_MSG_CALL) {
            if (msg->tag == SWARM_TAG_SEQ) sequenced_check(me, ctx, msg);
            else if (msg->tag != SWARM_TAG_KICK)
                swarm_violation(ctx, "an unknown user tag %#x", msg->tag);
        }
        break;
    }
    if (me->shutdown_seen || calm) {
        if (msg->kind == TINA_MSG_CALL) return effect_draw(me, ctx, msg); /* answer it */
        if (me->mode == MODE_SERVER && !me->calm_done) {
            (void)wind_down(me, ctx);
            return tina_receive();
        }
        return wind_down(me, ctx);
    }
    if (W.features[SW_shutdown] && !W.shutdown_asked && tina_now_ns(ctx) >= W.shutdown_at_ns) {
        W.shutdown_asked = 1;
        W.shutdown_asked_ns = tina_now_ns(ctx);
        W.counts.shutdown++;
        tina_request_shutdown(ctx);
    }
    /* Up to three actions, then the effect. */
    for (uint32_t k = iso_draw(ctx, 4); k > 0; k--) {
        uint32_t n = (uint32_t)iso_draw(ctx, 5);
        if (n == 0) act_send(me, ctx);
        else if (n == 1) act_timer(me, ctx);
        else if (n == 2 && (feature(ctx, SW_spawn) || feature(ctx, SW_spawn_child))) act_spawn(me, ctx);
        else if (n == 3 && feature(ctx, SW_monitor)) act_monitor(me, ctx);
        else if (n == 4 && feature(ctx, SW_log)) tina_log(ctx, TINA_LOG_DEBUG, "swarm %llu", (unsigned long long)me->seq_next);
        else act_send(me, ctx);
    }
    if (me->mode == MODE_SERVER) return server_accept(me, ctx);
    return effect_draw(me, ctx, msg);
}

/* ------------------------------------------------------------------------ */
/* Injection: the simulator's hook, a sender from outside every shard       */
/* ------------------------------------------------------------------------ */

/* Every inject_period rounds until the calm: a sequenced message from no
 * one (from 0, its own sequence) to a handle or an address seen, live or
 * dead, sometimes forged or with a reserved tag; each answer must be one
 * tina.h lists for what was asked. */
static int swarm_inject(void *user, tina_runtime *rt, uint64_t round) {
    (void)user;
    const struct tina__sim *sim = rt->platform_state;
    if (W.inject_period == 0 || round % W.inject_period != 0 || sim->now_ns >= W.calm_at_ns) return 0;
    uint64_t r64 = tina__rng_next(W.rng);
    uint32_t have = W.known_next < SWARM_KNOWN ? W.known_next : SWARM_KNOWN;
    tina_handle to = have ? W.known[r64 % have] : 0;
    if ((r64 >> 20) % 4 == 0) to = tina_address_of(to);
    if ((r64 >> 24) % 16 == 0) to = r64; /* forged: anything at all */
    uint16_t tag = (r64 >> 30) % 32 == 0 ? TINA_TAG_USER - 1 : SWARM_TAG_SEQ;
    struct swarm_payload p;
    memset(&p, 0, sizeof(p));
    uint32_t size = 40 + (uint32_t)((r64 >> 40) % (TINA_PAYLOAD_MAX - 40 + 1));
    p.magic = SWARM_MAGIC;
    p.size = size;
    p.to = to;
    p.from = 0;
    p.seq = ++W.inject_seq;
    pattern_fill(&p, size);
    tina_result r = tina_inject(rt, to, tag, &p, size);
    W.counts.inject++;
    if (r == TINA_OK) {
        W.counts.injected++;
        if (tag < TINA_TAG_USER) swarm_violation(NULL, "an injection with a reserved tag said OK");
        return 0;
    }
    W.counts.inject_refused++;
    if (r == TINA_ERESERVED_TAG ? tag >= TINA_TAG_USER
        : r != TINA_EMAILBOX_FULL && r != TINA_ESTALE && r != TINA_EHANDLE && r != TINA_ESTATE)
        swarm_violation(NULL, "tina_inject to %#llx said %s", (unsigned long long)to,
                        tina_result_name(r));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The user checker: the network's counts against the workload's            */
/* ------------------------------------------------------------------------ */

struct end_scan {
    uint32_t pending_calls, parked, mail;
    tina_handle example;
};

static void end_scan_one(void *acc, tina_handle h, const void *state) {
    struct end_scan *e = acc;
    const struct swarm_iso *me = state;
    const struct tina__type *t = &W.rt->shards[tina_handle_shard(h)]->types[tina_handle_type(h)];
    const struct tina__slot *slot = &t->slots[tina_handle_slot(h)];
    int bad = 0;
    if (me->call_pending || slot->state == TINA__CALLING) e->parked++, bad = 1;
    if (slot->mbox_count > 0) e->mail++, bad = 1;
    if (me->call_pending) e->pending_calls++;
    if (bad && e->example == 0) e->example = h;
}

static int swarm_check(void *user, const tina_runtime *rt, char *why, size_t why_size) {
    (void)user;
    const struct tina__sim *sim = rt->platform_state;
    if (W.violation[0]) {
        snprintf(why, why_size, "%s", W.violation);
        return 1;
    }
    uint32_t n = rt->shard_count;
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t b = 0; b < n; b++) {
            if (a == b) continue;
            uint64_t carried = *tina__sim_net(sim->carried, n, a, b, TINA_MSG_SEND);
            uint64_t lost = *tina__sim_net(sim->lost, n, a, b, TINA_MSG_SEND);
            if (carried != W.sent_ok[a][b]) {
                snprintf(why, why_size,
                         "channels: %u->%u: the network carried %llu user sends, %llu said OK", a,
                         b, (unsigned long long)carried, (unsigned long long)W.sent_ok[a][b]);
                return 1;
            }
            if (W.handled[a][b] > carried - lost) {
                snprintf(why, why_size,
                         "channels: %u->%u: %llu user sends handled, the network delivered %llu", a,
                         b, (unsigned long long)W.handled[a][b], (unsigned long long)(carried - lost));
                return 1;
            }
        }
    /* At the very end of a run that settled in the calm: nothing left over. */
    if (sim->final_check == TINA_SIM_QUIESCENT + 1 && sim->calm) {
        struct end_scan e = {0};
        for (uint32_t t = 0; t < rt->spec.type_count; t++) tina_sim_each(rt, t, end_scan_one, &e);
        if (e.parked || e.mail) {
            snprintf(why, why_size,
                     "liveness: settled with %u isolates parked (%u calls pending) and %u messages "
                     "unread, e.g. %#llx",
                     e.parked, e.pending_calls, e.mail, (unsigned long long)e.example);
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Drawing a seed's spec, workload and faults                                */
/* ------------------------------------------------------------------------ */

static uint32_t pow2_draw(uint32_t lo_log, uint32_t hi_log) {
    return 1u << swarm_range(lo_log, hi_log);
}

static void tree_draw(tina_spec *spec) {
    W.group_count = (uint32_t)swarm_range(0, 5); /* 0: the implicit root */
    W.one_for_one_count = 0;
    uint32_t depth[8] = {0};
    for (uint32_t g = 0; g < W.group_count; g++) {
        tina_group_spec *gs = &W.groups[g];
        memset(gs, 0, sizeof(*gs));
        gs->parent = g == 0 ? TINA_GROUP_NONE : (uint32_t)swarm_draw(g);
        while (g > 0 && depth[gs->parent] >= 2) gs->parent = (uint32_t)swarm_draw(gs->parent + 1) - 0;
        depth[g] = g == 0 ? 0 : depth[gs->parent] + 1;
        gs->strategy = (uint32_t)swarm_draw(3);
        int tight = swarm_coin(500);
        /* Tight: a few restarts in up to 100 ms.  Loose: many, in up to 2 s --
         * never a budget that a child failing once a pass stays inside, which
         * would be a restart loop by design. */
        gs->restart_max = tight ? (uint32_t)swarm_range(1, 4) : (uint32_t)swarm_range(20, 200);
        gs->window_ns = tight ? swarm_range(1000000, 100000000) : swarm_range(100000000, 2000000000);
        if (gs->strategy == TINA_ONE_FOR_ONE && swarm_coin(600)) {
            gs->dynamic_max = (uint32_t)swarm_range(1, 4);
            W.one_for_one[W.one_for_one_count++] = g;
        }
    }
    spec->groups = W.groups;
    spec->group_count = W.group_count;
}

static void children_draw(tina_spec *spec) {
    uint32_t per_type[SWARM_TYPES_MAX] = {0};
    W.child_count = 0;
    uint32_t want = (uint32_t)swarm_range(1, 12);
    for (uint32_t c = 0; c < want && W.child_count < 24; c++) {
        uint32_t type = (uint32_t)swarm_draw(W.type_count);
        uint32_t every = swarm_coin(300);
        uint32_t need = per_type[type] + 1; /* at most one per type per shard and per child: simple */
        if (need + 1 > W.types[type].slots_per_shard) continue;
        per_type[type] = need;
        tina_child_spec *cs = &W.children[W.child_count];
        struct swarm_args *a = &W.child_args[W.child_count];
        memset(cs, 0, sizeof(*cs));
        memset(a, 0, sizeof(*a));
        a->role = ROLE_ACTOR;
        a->init_fail = swarm_coin(80) ? (swarm_coin(150) ? 2 : 1) : 0;
        a->init_fault = W.real_faults_on && swarm_coin(100) ? 1 + (uint8_t)swarm_draw(2) : 0;
        a->salt = (uint32_t)swarm_draw(1u << 31);
        cs->type_id = type;
        cs->shard = every ? TINA_SHARD_EVERY : (uint32_t)swarm_draw(W.shard_count);
        cs->restart = (uint32_t)swarm_draw(3);
        cs->group = W.group_count ? (uint32_t)swarm_draw(W.group_count) : 0;
        /* A child that can never start, restarted under nested budgets whose
         * windows never line up, restarts for ever by design: such a child is
         * drawn restartable only under the implicit root, whose default
         * budget must end the loop (SPEC 13). */
        if (a->init_fail == 2 && W.group_count > 0) cs->restart = TINA_RESTART_TEMPORARY;
        cs->args = a;
        cs->args_size = sizeof(*a);
        W.child_count++;
    }
    /* With I/O on, a server on every shard: permanent, in the root. */
    if (W.io_on && W.child_count < 24) {
        uint32_t type = (uint32_t)swarm_draw(W.type_count);
        if (per_type[type] + 2 <= W.types[type].slots_per_shard) {
            tina_child_spec *cs = &W.children[W.child_count];
            struct swarm_args *a = &W.child_args[W.child_count];
            memset(cs, 0, sizeof(*cs));
            memset(a, 0, sizeof(*a));
            a->role = ROLE_SERVER;
            cs->type_id = type;
            cs->shard = TINA_SHARD_EVERY;
            cs->restart = TINA_RESTART_PERMANENT;
            cs->args = a;
            cs->args_size = sizeof(*a);
            W.child_count++;
        }
    }
    spec->children = W.children;
    spec->child_count = W.child_count;
}

/* Features on or off for this seed, each at its own rate. */
static void features_draw(void) {
    for (uint32_t f = 0; f < SW_FEATURE_COUNT; f++)
        W.features[f] = swarm_coin(700) ? (uint32_t)swarm_range(50, 1000) : 0;
    W.features[SW_send_local] = W.features[SW_send_local] ? W.features[SW_send_local] : 500;
    W.features[SW_shutdown] = swarm_coin(150) ? 1000 : 0;
    W.features[SW_done] = W.features[SW_done] / 4;
    W.features[SW_crash] = W.features[SW_crash] / 4;
#ifdef TINA_SANITIZE
    W.real_faults_on = 0; /* the sanitizers own SIGSEGV */
#else
    W.real_faults_on = swarm_coin(500);
#endif
    if (!W.real_faults_on) {
        W.features[SW_fault_write] = W.features[SW_fault_div] = 0;
        W.features[SW_fault_init] = W.features[SW_fault_spawn_args] = 0;
    }
    if (!W.io_on) W.features[SW_io] = W.features[SW_handoff] = 0;
    for (uint32_t t = 0; t < SWARM_TYPES_MAX; t++)
        W.reply_per_mille[t] = swarm_coin(200) ? (uint32_t)swarm_range(0, 900) : 1000;
}

static void faults_draw(tina_sim_config *c) {
    memset(c, 0, sizeof(*c));
    if (swarm_coin(500)) c->crash_per_million = (uint32_t)swarm_range(100, 20000);
    if (swarm_coin(400)) c->init_fail_per_million = (uint32_t)swarm_range(1000, 100000);
    if (swarm_coin(400)) c->drop_per_million = (uint32_t)swarm_range(100, 50000);
    if (swarm_coin(400)) {
        c->delay_rounds_min = (uint32_t)swarm_range(0, 3);
        c->delay_rounds_max = c->delay_rounds_min + (uint32_t)swarm_range(0, 30);
    }
    if (swarm_coin(300)) {
        c->partition_per_million = (uint32_t)swarm_range(100, 5000);
        c->partition_rounds_max = (uint32_t)swarm_range(1, 300);
    }
    if (swarm_coin(400)) {
        c->stall_per_million = (uint32_t)swarm_range(100, 5000);
        c->stall_rounds_max = (uint32_t)swarm_range(1, 200);
    }
    if (W.io_on && swarm_coin(400)) c->io_error_per_million = (uint32_t)swarm_range(1000, 50000);
    if (W.io_on && swarm_coin(400)) c->io_delay_rounds_max = (uint32_t)swarm_range(1, 20);
    /* An operator who revives a shard whose child can never start would
     * revive it for ever (each revival fails again): a loop by design,
     * not a run that can settle.  Such seeds have no reviving operator. */
    int hopeless = 0;
    for (uint32_t k = 0; k < W.child_count; k++)
        hopeless |= W.child_args[k].init_fail == 2 && W.children[k].restart != TINA_RESTART_TEMPORARY;
    if (!hopeless && swarm_coin(600)) c->revive_after_rounds = (uint32_t)swarm_range(10, 3000);
    if (swarm_coin(200)) c->revive_random_per_million = (uint32_t)swarm_range(10, 3000);
    c->shuffle = swarm_coin(700);
    W.drops_on = c->drop_per_million || c->partition_per_million;
    W.counts.f_crash = c->crash_per_million != 0;
    W.counts.f_init = c->init_fail_per_million != 0;
    W.counts.f_drop = c->drop_per_million != 0;
    W.counts.f_delay = c->delay_rounds_max != 0;
    W.counts.f_partition = c->partition_per_million != 0;
    W.counts.f_stall = c->stall_per_million != 0;
    W.counts.f_io_error = c->io_error_per_million != 0;
    W.counts.f_io_delay = c->io_delay_rounds_max != 0;
    W.counts.f_revive_after = c->revive_after_rounds != 0;
    W.counts.f_revive_random = c->revive_random_per_million != 0;
}

/* The whole draw for one seed. */
static void swarm_draw_world(uint64_t seed, tina_spec *spec, tina_sim_config *config) {
    memset(&W, 0, sizeof(W));
    W.seed = seed;
    tina__rng_seed(W.rng, seed ^ 0x5357524d00000000ull);
    memset(spec, 0, sizeof(*spec));
    W.shard_count = (uint32_t)swarm_range(1, 4);
    W.type_count = (uint32_t)swarm_range(2, SWARM_TYPES_MAX);
    W.io_on = swarm_coin(400);
    for (uint32_t t = 0; t < W.type_count; t++) {
        tina_type_spec *ts = &W.types[t];
        snprintf(W.type_names[t], sizeof(W.type_names[t]), "swarm%u", t);
        ts->name = W.type_names[t];
        ts->struct_size = (uint32_t)sizeof(struct swarm_iso) + (uint32_t)swarm_draw(64);
        ts->slots_per_shard = (uint32_t)swarm_range(3, 12);
        ts->mailbox_capacity = (uint32_t)swarm_range(1, 12);
        ts->weight = (uint32_t)swarm_range(1, 3);
        ts->init = swarm_init;
        ts->handler = swarm_handle;
    }
    spec->types = W.types;
    spec->type_count = W.type_count;
    spec->shard_count = W.shard_count;
    spec->pool_user_slots = (uint32_t)swarm_range(8, 160);
    spec->pool_system_slots = (uint32_t)swarm_range(4, 64);
    spec->ring_slots = pow2_draw(2, 7);
    spec->timer_slots = (uint32_t)swarm_range(8, 160);
    spec->timer_wheel_slots = pow2_draw(3, 8);
    spec->timer_resolution_ns = swarm_range(10000, 1000000);
    spec->monitor_slots = (uint32_t)swarm_range(2, 64);
    spec->base_budget = (uint32_t)swarm_range(1, 8);
    spec->shutdown_timeout_ns = swarm_range(20000000, 200000000);
    spec->log_level = TINA_LOG_ERROR;
    spec->watchdog_policy = TINA_WATCHDOG_OFF;
    if (W.io_on) {
        spec->fd_slots = (uint32_t)swarm_range(16, 40);
        spec->io_buffers = (uint32_t)swarm_range(2, 16);
        spec->io_buffer_bytes = 512u << swarm_draw(4);
    }
    features_draw();
    tree_draw(spec);
    children_draw(spec);
    faults_draw(config);
    W.calm_at_ns = swarm_range(2000000, 40000000);
    W.shutdown_at_ns = swarm_range(1000000, W.calm_at_ns);
    config->seed = seed;
    config->round_limit = SWARM_ROUND_LIMIT;
    config->check_every_rounds = (uint32_t)swarm_range(50, 1000);
    const char *every = getenv("SWARM_CHECK_EVERY"); /* debugging: find the first bad round */
    if (every && *every) config->check_every_rounds = (uint32_t)strtoul(every, NULL, 0);
    config->check = swarm_check;
    if (W.features[SW_inject]) {
        W.inject_period = (uint32_t)swarm_range(1, 200);
        config->inject = swarm_inject;
    }
    config->calm_at_ns = W.calm_at_ns;
    config->calm_rounds_max = SWARM_CALM_ROUNDS;
    config->spin_rounds_max = 1000; /* 10 ms of passes doing nothing: > any stall drawn (2 ms) */
}

/* What a seed drew, for whoever replays it. */
static void swarm_describe(FILE *f, const tina_spec *spec, const tina_sim_config *c) {
    fprintf(f, "spec: %u shards, pool %u+%u, ring %u, timers %u (wheel %u x %llu ns), monitors %u, "
               "budget %u, fd_slots %u, calm at %llu ns\n",
            spec->shard_count, spec->pool_user_slots, spec->pool_system_slots, spec->ring_slots,
            spec->timer_slots, spec->timer_wheel_slots, (unsigned long long)spec->timer_resolution_ns,
            spec->monitor_slots, spec->base_budget, spec->fd_slots,
            (unsigned long long)W.calm_at_ns);
    for (uint32_t t = 0; t < spec->type_count; t++)
        fprintf(f, "  type %u: %u slots, mailbox %u, weight %u, replies %u/1000\n", t,
                spec->types[t].slots_per_shard, spec->types[t].mailbox_capacity,
                spec->types[t].weight, W.reply_per_mille[t]);
    for (uint32_t g = 0; g < spec->group_count; g++)
        fprintf(f, "  group %u: parent %d, strategy %u, %u restarts in %llu ns, dynamic %u\n", g,
                (int)spec->groups[g].parent, spec->groups[g].strategy, spec->groups[g].restart_max,
                (unsigned long long)spec->groups[g].window_ns, spec->groups[g].dynamic_max);
    for (uint32_t k = 0; k < spec->child_count; k++) {
        const struct swarm_args *a = spec->children[k].args;
        fprintf(f, "  child %u: type %u, shard %d, restart %u, group %u, role %u, init_fail %u, "
                   "init_fault %u\n",
                k, spec->children[k].type_id, (int)spec->children[k].shard,
                spec->children[k].restart, spec->children[k].group, a->role, a->init_fail,
                a->init_fault);
    }
    fprintf(f, "faults: crash %u, init %u, drop %u, delay %u..%u, partition %u (%u), stall %u (%u), "
               "io %u/%u, revive after %u, random revive %u, shuffle %u\n",
            c->crash_per_million, c->init_fail_per_million, c->drop_per_million,
            c->delay_rounds_min, c->delay_rounds_max, c->partition_per_million,
            c->partition_rounds_max, c->stall_per_million, c->stall_rounds_max,
            c->io_error_per_million, c->io_delay_rounds_max, c->revive_after_rounds,
            c->revive_random_per_million, c->shuffle);
    fprintf(f, "features (per mille):");
    for (uint32_t k = 0; k < SW_FEATURE_COUNT; k++) fprintf(f, " %u", W.features[k]);
    fprintf(f, "\n");
}

/* ------------------------------------------------------------------------ */
/* Running seeds                                                             */
/* ------------------------------------------------------------------------ */

struct swarm_result {
    uint64_t seed;
    uint32_t failed;       /* 1: a violation, 2: the process died, 3: an error */
    int signal;            /* what it died of */
    char why[256];
    tina_sim_report report;
    struct swarm_counts counts;
};

/* One seed, in this process. */
static int swarm_describe_runs; /* the runner's --verbose: print what each seed drew */

static void swarm_run_here(uint64_t seed, struct swarm_result *out) {
    tina_spec spec;
    tina_sim_config config;
    swarm_draw_world(seed, &spec, &config);
    if (swarm_describe_runs) swarm_describe(stdout, &spec, &config);
    memset(out, 0, sizeof(*out));
    out->seed = seed;
    W.rt = NULL; /* the first init sets it */
    tina_result r = tina_simulate(&spec, &config, &out->report);
    if (r != TINA_OK) {
        out->failed = 3;
        snprintf(out->why, sizeof(out->why), "tina_simulate: %s", tina_result_name(r));
    } else if (out->report.reason == TINA_SIM_CHECKER || out->report.reason == TINA_SIM_ROUND_LIMIT) {
        out->failed = 1;
        snprintf(out->why, sizeof(out->why), "%s",
                 out->report.reason == TINA_SIM_CHECKER ? out->report.failure : "round limit");
    } else if (out->report.reason == TINA_SIM_SHUTDOWN && out->report.total.shutdown_forced > 0) {
        out->failed = 1;
        snprintf(out->why, sizeof(out->why), "shutdown: %llu isolates forced at the deadline",
                 (unsigned long long)out->report.total.shutdown_forced);
    }
    W.counts.restarts = out->report.total.restarts;
    W.counts.quarantines = out->report.total.quarantines;
    W.counts.revivals = out->report.total.revivals;
    W.counts.crashes = out->report.total.crashes;
    W.counts.drops_on_arrival = out->report.total.dropped_on_arrival;
    W.counts.shutdowns_begun = out->report.reason == TINA_SIM_SHUTDOWN;
    W.counts.crashes_injected = out->report.crashes_injected;
    W.counts.init_failures_injected = out->report.init_failures_injected;
    W.counts.drops_injected = out->report.drops_injected;
    W.counts.stalls_injected = out->report.stalls_injected;
    W.counts.partitions_injected = out->report.partitions_injected;
    W.counts.io_errors_injected = out->report.io_errors_injected;
    W.counts.answers_lost = out->report.total.answers_lost;
    W.counts.slots_retired = out->report.total.slots_retired;
    W.counts.address_not_running = out->report.total.address_not_running;
    W.counts.tokens_orphaned = out->report.total.tokens_orphaned;
    W.counts.demonitors = out->report.total.demonitors;
    W.counts.monitors_released = out->report.total.monitors_released;
    out->counts = W.counts;
}

/* One seed in a child process, so that an abort (a failed TINA_ASSERT) or
 * an untrapped fault is a failing seed, not the end of the sweep. */
static void swarm_run_forked(uint64_t seed, struct swarm_result *out) {
    int fds[2];
    memset(out, 0, sizeof(*out));
    out->seed = seed;
    if (pipe(fds) != 0) {
        swarm_run_here(seed, out);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int quiet = open("/dev/null", O_WRONLY); /* the runtime's log lines: a replay shows them */
        if (quiet >= 0) dup2(quiet, STDERR_FILENO);
        struct swarm_result r;
        swarm_run_here(seed, &r);
        const char *p = (const char *)&r;
        for (size_t left = sizeof(r); left > 0;) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0) _exit(3);
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    char *p = (char *)out;
    while (got < sizeof(*out)) {
        ssize_t n = read(fds[0], p + got, sizeof(*out) - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof(*out) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        memset(out, 0, sizeof(*out));
        out->seed = seed;
        out->failed = 2;
        out->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        snprintf(out->why, sizeof(out->why), "the process died (%s %d)",
                 WIFSIGNALED(status) ? "signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
}

#endif /* TINA_TEST_SWARM_H */
