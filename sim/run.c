/*
 * run.c -- the simulation run loop: every shard on the calling thread.
 *
 * tina_simulate creates the runtime on the simulation platform, seeds every
 * domain's stream from one master seed (sim.h), starts the static children
 * shard by shard, then runs rounds: advance simulated time one tick, call
 * the user's inject hook (tina_inject's only moment here), order the
 * shards (fixed, or shuffled by the ORDER stream), run one
 * tina__shard_pass() of each -- the very function the pinned threads run.
 * It stops on a stop request, a finished graceful shutdown, quiescence
 * (nothing pending anywhere; when only timers remain, time jumps straight
 * to the earliest one) or the round limit.
 *
 * The trace digest: after every handler call the shard calls s->trace with
 * the message and the effect, and the loop folds shard, receiver, sender,
 * tag, kind, size, payload bytes and the effect's fields into a 64-bit
 * FNV-1a over 64-bit words.  Integer arithmetic only; nothing depends on an
 * address or on the host's clock, so a seed gives one digest on any build.
 * An I/O completion's payload carries a pointer (tina_io_done.data): its
 * fields are hashed one by one instead, and the bytes it points at.
 *
 * Simulated I/O (io.c) keeps the run alive while a completion is due
 * or an operation could be decided; an accept or recv that nothing can
 * complete does not (tina__sim_io_pending).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "trap.h"

#define DEFAULT_ROUNDS 10000000ull
#define DEFAULT_TICK_NS 10000ull

static void digest_word(struct tina__sim *sim, uint64_t word) {
    sim->digest = (sim->digest ^ word) * 0x100000001b3ull;
}

/* Bytes packed into 64-bit words, little-endian by definition. */
static void digest_bytes(struct tina__sim *sim, const uint8_t *bytes, uint32_t size) {
    for (uint32_t at = 0; at < size; at += 8) {
        uint64_t word = 0;
        for (uint32_t k = 0; k < 8 && at + k < size; k++)
            word |= (uint64_t)bytes[at + k] << (8 * k);
        digest_word(sim, word);
    }
}

/* An I/O completion: every field but the data pointer, then the data. */
static void digest_io_done(struct tina__sim *sim, const tina_msg *m) {
    tina_io_done d;
    memcpy(&d, m->payload, sizeof(d));
    digest_word(sim, (uint64_t)(uint32_t)d.result | (uint64_t)(uint32_t)d.error << 32);
    digest_word(sim, d.fd);
    digest_word(sim, (uint64_t)d.op | (uint64_t)d.addr_len << 32);
    digest_bytes(sim, d.addr, sizeof(d.addr));
    digest_word(sim, d.reserved);
    if (d.data != NULL && d.result > 0) digest_bytes(sim, d.data, (uint32_t)d.result);
}

static int is_io_done(const tina_msg *m) {
    return m->tag >= TINA_TAG_IO_FIRST && m->tag <= TINA_TAG_IO_LAST &&
           m->size == sizeof(tina_io_done);
}

/* An effect: its kind and, per kind, what it asks for (never a pointer). */
static void digest_effect(struct tina__sim *sim, const tina_effect *e) {
    uint64_t tag = 0, size = 0, word = 0;
    switch (e->kind) {
    case TINA_EFFECT_CALL: tag = e->call.tag, size = e->call.size; break;
    case TINA_EFFECT_REPLY: tag = e->reply.tag, size = e->reply.size; break;
    case TINA_EFFECT_CRASH: word = e->crash.reason; break;
    case TINA_EFFECT_IO: tag = e->io.op, size = e->io.addr_len, word = e->io.len; break;
    default: break;
    }
    digest_word(sim, (uint64_t)e->kind | tag << 8 | size << 24 | word << 32);
    if (e->kind == TINA_EFFECT_CALL) {
        digest_word(sim, e->call.to);
        digest_word(sim, e->call.timeout_ns);
    } else if (e->kind == TINA_EFFECT_IO) { /* the descriptor and, for files, the offset */
        digest_word(sim, e->io.fd);
        if (e->io.op == TINA_IO_READ || e->io.op == TINA_IO_WRITE) digest_word(sim, e->io.offset);
    }
}

/* An init (m == NULL): maybe fail it, and fold it into the digest. */
static void sim_trace_init(struct tina__shard *s, tina_effect *e) {
    struct tina__sim *sim = s->rt->platform_state;
    if (e->kind != TINA_EFFECT_CRASH &&
        tina__sim_chance(sim->init_fail[s->id], sim->init_fail_per_million)) {
        *e = tina_crash(TINA_CRASH_INJECTED);
        sim->init_failures_injected++;
    }
    digest_word(sim, s->id);
    digest_word(sim, s->ctx.self);
    digest_word(sim, (uint64_t)e->kind | (uint64_t)(e->kind == TINA_EFFECT_CRASH ? e->crash.reason : 0) << 32);
}

static void sim_trace(struct tina__shard *s, const tina_msg *m, tina_effect *e) {
    struct tina__sim *sim = s->rt->platform_state;
    if (m == NULL) {
        sim_trace_init(s, e);
        return;
    }
    /* Crash injection: the effect becomes a crash and takes the same
     * teardown and supervision path as a real one. */
    if (tina__sim_chance(sim->crash[s->id], sim->crash_per_million)) {
        *e = tina_crash(TINA_CRASH_INJECTED);
        sim->crashes_injected++;
    }
    digest_word(sim, s->id);
    digest_word(sim, m->to);
    digest_word(sim, m->from);
    digest_word(sim, (uint64_t)m->tag | (uint64_t)m->kind << 16 | (uint64_t)m->size << 24);
    if (is_io_done(m)) digest_io_done(sim, m);
    else digest_bytes(sim, m->payload, m->size);
    digest_effect(sim, e);
    sim->dispatches++;
}

static uint64_t seed_resolve(const tina_sim_config *config, int env_allowed) {
    const char *env = env_allowed ? getenv("TINA_SEED") : NULL;
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 0);
        if (*end == 0) return v ? v : 1;
    }
    return config && config->seed ? config->seed : 1;
}

/* Messages published and unread, or written and held back by a delay. */
static int channels_pending(const struct tina_runtime *rt) {
    for (uint32_t to = 0; to < rt->shard_count; to++)
        for (uint32_t from = 0; from < rt->shard_count; from++) {
            if (from == to) continue;
            struct tina__ring *ring = rt->shards[to]->chan.inbound[from];
            if (ring_readable(ring) || ring->producer.pending != atomic_load(&ring->tail))
                return 1;
        }
    return 0;
}

/* The shard order of one round: fixed, or a Fisher-Yates shuffle. */
static void round_order(struct tina__sim *sim, uint32_t n, int shuffle, uint32_t *order) {
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(tina__rng_next(sim->order) % (i + 1));
        uint32_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* Partitions: at most one at a time, symmetric, healed after its rounds. */
static void partition_step(struct tina_runtime *rt, struct tina__sim *sim) {
    if (sim->cut_left > 0) {
        if (--sim->cut_left == 0) sim->partitions_healed++;
        return;
    }
    if (rt->shard_count < 2 || !tina__sim_chance(sim->partitions, sim->partition_per_million))
        return;
    uint32_t a = (uint32_t)(tina__rng_next(sim->partitions) % rt->shard_count);
    uint32_t b = (uint32_t)(tina__rng_next(sim->partitions) % (rt->shard_count - 1));
    if (b >= a) b++;
    sim->cut_a = a < b ? a : b;
    sim->cut_b = a < b ? b : a;
    sim->cut_left = 1 + (uint32_t)(tina__rng_next(sim->partitions) % sim->partition_rounds_max);
    sim->partitions_injected++;
}

/* What a shard has done so far, as one number that moves whenever a pass
 * changes anything an isolate or a peer could see: handler calls,
 * deliveries and drops, timers, supervision, I/O, monitors, notices. */
static uint64_t shard_progress(const struct tina__shard *s) {
    const tina_shard_stats *st = &s->stats;
    return st->dispatched + st->delivered + st->dropped_on_arrival + st->sent + st->timers_fired +
           st->call_timeouts + st->call_failed + st->restarts + st->spawns + st->crashes +
           st->done + st->terminated + st->quarantines + st->revivals + st->peer_notices +
           st->downs_sent + st->notices_dropped + st->io_submitted + st->io_completed +
           st->io_dead + st->io_cancelled + st->io_timeouts + st->shutdown_notices;
}

/* The spin detector: a pass that reports work but changed nothing is what
 * a production shard would repeat at 100% CPU. */
static void spin_watch(struct tina__sim *sim, const struct tina__shard *s, int worked) {
    uint64_t now = shard_progress(s);
    if (worked && now == sim->progress[s->id]) sim->spin_rounds[s->id]++;
    else sim->spin_rounds[s->id] = 0;
    sim->progress[s->id] = now;
}

/* The calm: every fault off from here on, so that what is pending can end. */
static void calm_begin(struct tina__sim *sim) {
    sim->calm = 1;
    sim->calm_round = sim->round;
    sim->crash_per_million = sim->drop_per_million = sim->stall_per_million = 0;
    sim->init_fail_per_million = sim->partition_per_million = 0;
    sim->io_error_per_million = 0;
    sim->io_delay_max = 0;
    sim->delay_min = sim->delay_max = 0;
    sim->revive_random_per_million = 0;
    if (sim->cut_left > 0) {
        sim->cut_left = 0;
        sim->partitions_healed++;
    }
    for (uint32_t id = 0; id < TINA_SHARD_COUNT_MAX; id++) sim->stall_left[id] = 0;
}

/* Why a run has not ended yet, for a liveness violation's text. */
static void pending_describe(struct tina_runtime *rt, char *why, size_t why_size) {
    size_t used = strlen(why);
    for (uint32_t id = 0; id < rt->shard_count && used + 1 < why_size; id++) {
        struct tina__shard *s = rt->shards[id];
        uint32_t ready = 0, parked = 0, mail = 0;
        for (uint32_t k = 0; k < s->type_count; k++) {
            struct tina__type *t = &s->types[k];
            ready += t->ready.head != TINA__NIL || t->yielded.head != TINA__NIL;
            for (uint32_t i = 0; i < t->capacity; i++) {
                parked += t->slots[i].state == TINA__CALLING;
                mail += t->slots[i].mbox_count;
            }
        }
        if (!ready && !parked && !mail && !s->restart_pending && !s->wheel.live &&
            s->monitors.pending_head == TINA__NIL && !s->quarantined)
            continue; /* nothing to say */
        uint64_t next = tina__shard_next_deadline(s);
        int n = snprintf(why + used, why_size - used, "; s%u q%u r%u p%u m%u rs%u t%u@%llx d%u", id,
                         s->quarantined, ready, parked, mail, s->restart_pending, s->wheel.live,
                         (unsigned long long)(next == UINT64_MAX ? 0 : next / 1000000u),
                         s->monitors.pending_head != TINA__NIL);
        if (n < 0) break;
        used += (size_t)n < why_size - used ? (size_t)n : why_size - used - 1;
    }
}

/* Liveness: a shard spinning, or a calm that does not settle. */
static int liveness_check(struct tina_runtime *rt, struct tina__sim *sim, char *why,
                          size_t why_size) {
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        if (sim->spin_rounds[id] < sim->spin_rounds_max) continue;
        snprintf(why, why_size,
                 "liveness: shard %u passed %u rounds in a row with work pending and nothing done",
                 id, sim->spin_rounds[id]);
        pending_describe(rt, why, why_size);
        return 1;
    }
    if (sim->calm && sim->calm_rounds_max && sim->round - sim->calm_round > sim->calm_rounds_max) {
        snprintf(why, why_size, "liveness: not settled %u rounds into the calm (channels %d, io %d)",
                 sim->calm_rounds_max, channels_pending(rt), tina__sim_io_pending(rt));
        pending_describe(rt, why, why_size);
        return 1;
    }
    return 0;
}

/* The operator at random: tina_revive on any shard, quarantined or not. */
static void operator_step(struct tina_runtime *rt, struct tina__sim *sim) {
    if (!tina__sim_chance(sim->operator_rng, sim->revive_random_per_million)) return;
    uint32_t id = (uint32_t)(tina__rng_next(sim->operator_rng) % rt->shard_count);
    sim->revivals_asked++;
    sim->revive_asked_quarantined[id] |= tina_quarantined(rt, id);
    (void)tina_revive(rt, id);
}

/* Every revival answers a request made while its shard was quarantined:
 * a request for a healthy shard must not be kept for its next quarantine. */
static int revivals_check(struct tina_runtime *rt, struct tina__sim *sim, char *why,
                          size_t why_size) {
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        uint64_t now = rt->shards[id]->stats.revivals;
        if (now == sim->revivals_seen[id]) continue;
        sim->revivals_seen[id] = now;
        if (!sim->revive_asked_quarantined[id]) {
            snprintf(why, why_size, "operator: shard %u was revived, and nobody asked while it "
                     "was quarantined", id);
            return 1;
        }
        sim->revive_asked_quarantined[id] = 0;
    }
    return 0;
}

/* One round; returns non-zero if any shard did or has work. */
static int round_run(struct tina_runtime *rt, struct tina__sim *sim, int shuffle) {
    uint32_t order[TINA_SHARD_COUNT_MAX];
    int busy = 0;
    partition_step(rt, sim);
    round_order(sim, rt->shard_count, shuffle, order);
    for (uint32_t k = 0; k < rt->shard_count; k++) {
        uint32_t id = order[k];
        struct tina__shard *s = rt->shards[id];
        sim->ran[id] = 0;
        if (sim->stall_left[id] > 0) { /* a slow core: this shard sits the round out */
            sim->stall_left[id]--;
            busy = 1;
            continue;
        }
        if (tina__sim_chance(sim->stall[id], sim->stall_per_million)) {
            sim->stall_left[id] = 1 + (uint32_t)(tina__rng_next(sim->stall[id]) % sim->stall_rounds_max);
            sim->stalls_injected++;
            busy = 1;
            continue;
        }
        tina__trap_set(&s->trap);
        int worked = tina__shard_pass(s);
        busy |= worked;
        sim->ran[id] = 1;
        spin_watch(sim, s, worked);
    }
    return busy;
}

static int shutdown_finished(struct tina_runtime *rt) {
    if (!atomic_load(&rt->shutdown)) return 0;
    for (uint32_t id = 0; id < rt->shard_count; id++)
        if (tina__shard_shutdown_state(rt->shards[id]) == 0) return 0;
    return 1;
}

/* Nothing left but timers: jump to the earliest.  0 if nothing at all. */
static int fast_forward(struct tina_runtime *rt, struct tina__sim *sim, uint64_t tick_ns) {
    uint64_t next = UINT64_MAX;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        uint64_t d = tina__shard_next_deadline(rt->shards[id]);
        if (d < next) next = d;
    }
    /* A deadline within a tick of the clock's end (584 years in) is as
     * good as never: the simulated clock does not wrap. */
    if (next >= UINT64_MAX - tick_ns) return 0;
    if (next > sim->now_ns + tick_ns) sim->now_ns = next - tick_ns;
    return 1;
}

/* The watchdog in simulated time: a shard that has not run a pass for
 * watchdog_ns (a stall fault) is reported once per stall, as the watchdog
 * thread reports a stuck shard.  Under TINA_WATCHDOG_ABORT the run ends
 * (reason watchdog) instead of the process. */
static int watchdog_step(struct tina_runtime *rt, struct tina__sim *sim) {
    if (rt->spec.watchdog_policy == TINA_WATCHDOG_OFF) return 0;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        if (sim->ran[id]) {
            sim->beat_ns[id] = sim->now_ns;
            sim->watched[id] = 0;
            continue;
        }
        uint64_t stuck = sim->now_ns - sim->beat_ns[id];
        if (sim->watched[id] || stuck < rt->spec.watchdog_ns) continue;
        sim->watched[id] = 1;
        sim->watchdog_reports++;
        tina__shard_stalled(rt->shards[id], stuck, 0);
        if (rt->spec.watchdog_policy == TINA_WATCHDOG_ABORT) return 1;
    }
    return 0;
}

/* The operator: a shard quarantined for revive_after rounds is revived
 * (tina_revive, as SIGUSR2 would in production). */
static void revive_step(struct tina_runtime *rt, struct tina__sim *sim) {
    if (sim->revive_after == 0) return;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        if (!tina_quarantined(rt, id)) {
            sim->quarantined_since[id] = 0;
        } else if (sim->quarantined_since[id] == 0) {
            sim->quarantined_since[id] = sim->round + 1;
        } else if (sim->round + 1 - sim->quarantined_since[id] >= sim->revive_after) {
            sim->revive_asked_quarantined[id] = 1;
            (void)tina_revive(rt, id); /* its next pass rebuilds it; pending until then */
        }
    }
}

static int revive_pending(const struct tina__sim *sim, struct tina_runtime *rt) {
    for (uint32_t id = 0; sim->revive_after != 0 && id < rt->shard_count; id++)
        if (sim->quarantined_since[id] != 0) return 1;
    return 0;
}

/* The user's inject hook, the one moment tina_inject is allowed on the
 * simulator's thread; non-zero while it has more to inject. */
static int inject_step(struct tina_runtime *rt, const tina_sim_config *config, uint64_t round) {
    if (config == NULL || config->inject == NULL) return 0;
    rt->inject_open = 1;
    int more = config->inject(config->inject_user, rt, round);
    rt->inject_open = 0;
    return more != 0;
}

static uint32_t sim_loop(struct tina_runtime *rt, struct tina__sim *sim,
                         const tina_sim_config *config, uint64_t *rounds, uint32_t *shadow,
                         char *why, size_t why_size) {
    uint64_t limit = config && config->round_limit ? config->round_limit : DEFAULT_ROUNDS;
    uint64_t tick = config && config->tick_ns ? config->tick_ns : DEFAULT_TICK_NS;
    uint64_t every = config && config->check_every_rounds ? config->check_every_rounds : 1000;
    int shuffle = config && config->shuffle;
    uint32_t reason = TINA_SIM_ROUND_LIMIT;
    for (*rounds = 0; *rounds < limit;) {
        sim->now_ns = sim->now_ns < UINT64_MAX - tick ? sim->now_ns + tick : UINT64_MAX;
        if (!sim->calm && sim->calm_at_ns && sim->now_ns >= sim->calm_at_ns) calm_begin(sim);
        operator_step(rt, sim);
        int more = inject_step(rt, config, *rounds);
        int busy = round_run(rt, sim, shuffle) | more;
        sim->round = ++*rounds;
        /* before the operator's requests of this round: they are for later revivals */
        if (revivals_check(rt, sim, why, why_size)) return TINA_SIM_CHECKER;
        if (watchdog_step(rt, sim)) return TINA_SIM_WATCHDOG;
        revive_step(rt, sim);
        if (liveness_check(rt, sim, why, why_size)) return TINA_SIM_CHECKER;
        if (*rounds % every == 0 && tina__sim_check(rt, sim, shadow, why, why_size))
            return TINA_SIM_CHECKER;
        if (atomic_load(&rt->stopping)) { reason = TINA_SIM_STOPPED; break; }
        if (shutdown_finished(rt)) { reason = TINA_SIM_SHUTDOWN; break; }
        if (!busy && !channels_pending(rt) && !tina__sim_io_pending(rt) && !revive_pending(sim, rt) &&
            !fast_forward(rt, sim, tick)) {
            reason = TINA_SIM_QUIESCENT;
            break;
        }
    }
    /* And once more at the end. */
    sim->final_check = reason + 1;
    if (tina__sim_check(rt, sim, shadow, why, why_size)) return TINA_SIM_CHECKER;
    return reason;
}

static void report_fill(struct tina_runtime *rt, const struct tina__sim *sim, uint32_t reason,
                        uint64_t rounds, tina_sim_report *report) {
    report->seed = sim->seed;
    report->rounds = rounds;
    report->digest = sim->digest;
    report->sim_ns = sim->now_ns;
    report->reason = reason;
    report->shard_count = rt->shard_count;
    report->handler_calls = sim->dispatches;
    report->crashes_injected = sim->crashes_injected;
    report->drops_injected = sim->drops_injected;
    report->stalls_injected = sim->stalls_injected;
    report->init_failures_injected = sim->init_failures_injected;
    report->partitions_injected = sim->partitions_injected;
    report->partitions_healed = sim->partitions_healed;
    report->partition_drops[0] = sim->partition_drops[0];
    report->partition_drops[1] = sim->partition_drops[1];
    report->watchdog_reports = sim->watchdog_reports;
    report->io_errors_injected = sim->io_errors_injected;
    uint64_t *sum = (uint64_t *)&report->total;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        tina_shard_stats st;
        tina__shard_publish_stats(rt->shards[id]);
        (void)tina_stats(rt, id, &st);
        const uint64_t *v = (const uint64_t *)&st;
        for (size_t k = 0; k < sizeof(st) / sizeof(uint64_t); k++) sum[k] += v[k];
    }
}

static tina_result simulate(const tina_spec *spec, const tina_sim_config *config,
                            int env_allowed, tina_sim_report *report);

tina_result tina_simulate(const tina_spec *spec, const tina_sim_config *config,
                          tina_sim_report *report) {
    return simulate(spec, config, 1, report);
}

tina_result tina_simulate_sweep(const tina_spec *spec, const tina_sim_config *config,
                                uint64_t first_seed, uint32_t count, uint64_t *failing_seeds,
                                uint32_t failing_max, uint32_t *failing_count) {
    tina_sim_config each = config ? *config : (tina_sim_config){0};
    tina_sim_report report;
    uint32_t failed = 0;
    for (uint32_t k = 0; k < count; k++) {
        each.seed = first_seed + k;
        tina_result r = simulate(spec, &each, 0, &report);
        if (r != TINA_OK) return r;
        if (report.reason != TINA_SIM_CHECKER) continue;
        if (failed < failing_max && failing_seeds) failing_seeds[failed] = report.seed;
        failed++;
    }
    if (failing_count) *failing_count = failed;
    return TINA_OK;
}

void tina_sim_each(const tina_runtime *rt, uint32_t type_id,
                   void (*fn)(void *acc, tina_handle h, const void *state), void *acc) {
    if (rt == NULL || fn == NULL || type_id >= rt->spec.type_count) return;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__type *t = &rt->shards[id]->types[type_id];
        for (uint32_t i = 0; i < t->capacity; i++) {
            const struct tina__slot *slot = &t->slots[i];
            if (!tina__slot_live(slot)) continue;
            fn(acc, tina__slot_handle(t, i, slot->generation),
               t->structs + (size_t)i * t->stride);
        }
    }
}

/* The seed's streams and the config's fault rates and bounds. */
static void sim_configure(struct tina__sim *sim, const tina_sim_config *config) {
    tina__sim_stream(sim->order, sim->seed, TINA__SIM_DOMAIN_ORDER);
    tina__sim_stream(sim->drops, sim->seed, TINA__SIM_DOMAIN_DROPS);
    for (uint32_t id = 0; id < TINA_SHARD_COUNT_MAX; id++) {
        tina__sim_stream(sim->crash[id], sim->seed, TINA__SIM_DOMAIN_CRASH + id);
        tina__sim_stream(sim->stall[id], sim->seed, TINA__SIM_DOMAIN_STALL + id);
        tina__sim_stream(sim->init_fail[id], sim->seed, TINA__SIM_DOMAIN_INIT + id);
        tina__sim_stream(sim->io_rng[id], sim->seed, TINA__SIM_DOMAIN_IO + id);
    }
    tina__sim_stream(sim->partitions, sim->seed, TINA__SIM_DOMAIN_PARTITIONS);
    tina__sim_stream(sim->delay_rng, sim->seed, TINA__SIM_DOMAIN_DELAYS);
    tina__sim_stream(sim->operator_rng, sim->seed, TINA__SIM_DOMAIN_OPERATOR);
    if (config) {
        sim->crash_per_million = config->crash_per_million;
        sim->drop_per_million = config->drop_per_million;
        sim->stall_per_million = config->stall_per_million;
        sim->stall_rounds_max = config->stall_rounds_max;
        sim->init_fail_per_million = config->init_fail_per_million;
        sim->partition_per_million = config->partition_per_million;
        sim->partition_rounds_max = config->partition_rounds_max;
        sim->delay_min = config->delay_rounds_min;
        sim->delay_max = config->delay_rounds_max < config->delay_rounds_min
                             ? config->delay_rounds_min
                             : config->delay_rounds_max;
        sim->io_error_per_million = config->io_error_per_million;
        sim->io_delay_max = config->io_delay_rounds_max;
        sim->revive_after = config->revive_after_rounds;
        sim->check = config->check;
        sim->check_user = config->check_user;
        sim->calm_at_ns = config->calm_at_ns;
        sim->calm_rounds_max = config->calm_rounds_max;
        sim->spin_rounds_max = config->spin_rounds_max;
        sim->revive_random_per_million = config->revive_random_per_million;
    }
    if (sim->spin_rounds_max == 0) sim->spin_rounds_max = 10000;
    if (sim->stall_rounds_max == 0) sim->stall_rounds_max = 10;
    if (sim->partition_rounds_max == 0) sim->partition_rounds_max = 100;
}

/* The network's books and delay lines, once the shards exist; then every
 * shard gets the trace and its isolates' stream.  0, or -1 out of memory. */
static int sim_attach(struct tina__sim *sim, struct tina_runtime *rt) {
    size_t channels = (size_t)rt->shard_count * rt->shard_count * 5;
    sim->carried = calloc(channels, sizeof(uint64_t));
    sim->lost = calloc(channels, sizeof(uint64_t));
    if (!sim->carried || !sim->lost || ((sim->delay_max > 0) && tina__sim_delays_alloc(sim, rt) != 0))
        return -1;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        rt->shards[id]->trace = sim_trace;
        tina__sim_stream(rt->shards[id]->rng, sim->seed, TINA__SIM_DOMAIN_ISOLATE + id);
    }
    return 0;
}

static void sim_detach(struct tina__sim *sim) {
    tina__sim_delays_free(sim);
    free(sim->carried);
    free(sim->lost);
}

static tina_result simulate(const tina_spec *spec, const tina_sim_config *config,
                            int env_allowed, tina_sim_report *report) {
    if (spec == NULL || report == NULL) return TINA_EINVAL;
    memset(report, 0, sizeof(*report));
    struct tina__sim sim = {.seed = seed_resolve(config, env_allowed),
                            .digest = 0xcbf29ce484222325ull};
    sim_configure(&sim, config);
    tina_spec copy = *spec;
    copy.seed = sim.seed;
    tina_runtime *rt;
    tina_result r = tina__create(&copy, &tina__platform_sim, &sim, &rt, NULL);
    if (r != TINA_OK) {
        tina__sim_io_free(&sim); /* shard 0 may have made the world before shard 1 failed */
        return r;
    }
    if (sim_attach(&sim, rt) != 0) {
        sim_detach(&sim);
        tina_destroy(rt);
        tina__sim_io_free(&sim);
        return TINA_ENO_MEMORY;
    }
    int traps = !copy.no_trap_handlers && tina__trap_install() == 0;
    if (traps)
        tina__trap_thread_enter(&rt->shards[0]->trap, rt->shards[0]->altstack, TINA__ALTSTACK_BYTES);
    atomic_store(&rt->started, 1);
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        tina__trap_set(&rt->shards[id]->trap);
        tina__shard_boot(rt->shards[id]);
    }
    uint64_t rounds = 0;
    uint32_t *shadow = tina__sim_shadow_alloc(rt); /* before the first round */
    uint32_t reason = shadow ? sim_loop(rt, &sim, config, &rounds, shadow, report->failure,
                                        sizeof(report->failure))
                             : TINA_SIM_ROUND_LIMIT;
    free(shadow);
    report_fill(rt, &sim, reason, rounds, report);
    sim_detach(&sim);
    atomic_store(&rt->started, 2);
    if (traps) {
        tina__trap_thread_leave();
        tina__trap_uninstall();
    }
    tina_destroy(rt);
    tina__sim_io_free(&sim); /* after destroy: the shards closed their descriptors in it */
    return TINA_OK;
}

int tina_sim_summary(const tina_sim_report *report, char *buf, size_t size) {
    static const char *const reasons[] = {"quiescent", "stopped",  "shutdown",
                                          "round_limit", "checker", "watchdog"};
    const char *why = report->reason < 6 ? reasons[report->reason] : "unknown";
    if (report->reason == TINA_SIM_CHECKER)
        return snprintf(buf, size, "seed=0x%llx digest=0x%016llx rounds=%llu reason=%s (%s)",
                        (unsigned long long)report->seed, (unsigned long long)report->digest,
                        (unsigned long long)report->rounds, why, report->failure);
    return snprintf(buf, size, "seed=0x%llx digest=0x%016llx rounds=%llu reason=%s",
                    (unsigned long long)report->seed, (unsigned long long)report->digest,
                    (unsigned long long)report->rounds, why);
}

tina_result tina_sim_faults(tina_sim_config *config, const char *profile) {
    if (config == NULL || profile == NULL) return TINA_EINVAL;
    int crash = !strcmp(profile, "crash"), network = !strcmp(profile, "network");
    int stall = !strcmp(profile, "stall"), io = !strcmp(profile, "io");
    int all = !strcmp(profile, "all");
    if (!crash && !network && !stall && !io && !all && strcmp(profile, "none") != 0)
        return TINA_EINVAL;
    crash |= all;
    network |= all;
    stall |= all;
    io |= all;
    config->crash_per_million = crash ? 2000 : 0;
    config->init_fail_per_million = crash ? 20000 : 0;
    config->drop_per_million = network ? 5000 : 0;
    config->delay_rounds_min = 0;
    config->delay_rounds_max = network ? 20 : 0;
    config->partition_per_million = network ? 1000 : 0;
    config->partition_rounds_max = network ? 200 : 0;
    config->stall_per_million = stall ? 1000 : 0;
    config->stall_rounds_max = stall ? 20 : 0;
    config->io_error_per_million = io ? 2000 : 0;
    config->io_delay_rounds_max = io ? 10 : 0;
    return TINA_OK;
}
