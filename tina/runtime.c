/*
 * runtime.c -- boot, run, stop: the public lifecycle of a tina_runtime.
 *
 * tina_create validates the spec in full (spec.c), reserves one grand
 * arena per shard (os/topology.c), carves every shard (shard/carve.c), links each
 * producer to its rings in the consumers' arenas, and places the static
 * children in their slots.  Nothing runs yet and nothing is half-started:
 * any failure unwinds through one ladder.  This is the last place the
 * runtime allocates from the heap (the runtime struct and copies of the
 * spec's arrays); after tina_create returns, no path calls malloc.
 *
 * That includes starting threads: glibc's pthread_create callocs each new
 * thread's TLS vector (and a join may free one), so the threads are
 * started here too, on the thread platform: one per shard, and the
 * watchdog's.  Each shard thread pins itself to its core (a cpu_set_t, no
 * hwloc) and parks on the runtime's gate:
 *
 *   tina_create     tina_run                       tina_destroy
 *   start, park --> gate RUN: run ... done, park --> gate QUIT: return, join
 *
 * tina_run opens the gate.  Each shard starts its static children, then
 * loops: pass; if the pass found nothing to do, poll for a while (at
 * most idle_spin_ns, as long as polling lately wins: os/spin.h), then
 * sleep through the platform until a doorbell, the next timer or stop.  tina_stop (any thread, or the SIGINT/SIGTERM handler) raises a
 * flag and rings every doorbell; each shard finishes its pass, counts
 * itself done and parks again, and tina_run returns once all are done.
 * tina_destroy lets them return and joins them.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"
#include "os/spin.h"
#include "runtime.h"
#include "shard/shard.h"
#include "trap.h"

/* ---- create --------------------------------------------------------------- */

static tina_result create_spec_copy(struct tina_runtime *rt, const tina_spec *resolved) {
    rt->spec = *resolved;
    size_t n = rt->spec.type_count;
    rt->types = calloc(n, sizeof(*rt->types));
    rt->children = calloc(rt->spec.child_count + 1, sizeof(*rt->children));
    rt->child_slot = calloc((size_t)(rt->spec.child_count + 1) * rt->shard_count, sizeof(uint32_t));
    rt->ring_overrides = calloc(rt->spec.ring_override_count + 1, sizeof(*rt->ring_overrides));
    if (!rt->types || !rt->children || !rt->child_slot || !rt->ring_overrides)
        return TINA_ENO_MEMORY;
    memcpy(rt->types, resolved->types, n * sizeof(*rt->types));
    rt->spec.types = rt->types;
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        const tina_child_spec *cs = &resolved->children[c];
        struct tina__child *ch = &rt->children[c];
        ch->type_id = cs->type_id;
        ch->shard = cs->shard;
        ch->restart = cs->restart;
        ch->args_size = cs->args_size;
        if (cs->args_size) memcpy(ch->args, cs->args, cs->args_size);
    }
    rt->spec.children = NULL; /* the copy above is what the runtime uses */
    for (uint32_t c = 0; c < rt->spec.child_count; c++)
        rt->children[c].group = resolved->children[c].group;
    /* The tree: the spec's groups, or an implicit one-for-one root. */
    rt->group_count = resolved->group_count ? resolved->group_count : 1;
    rt->groups = calloc(rt->group_count, sizeof(*rt->groups));
    if (!rt->groups) return TINA_ENO_MEMORY;
    if (resolved->group_count) {
        memcpy(rt->groups, resolved->groups, rt->group_count * sizeof(*rt->groups));
    } else { /* the implicit root: one-for-one, with a default budget (SPEC 13) */
        rt->groups[0].parent = TINA_GROUP_NONE;
        rt->groups[0].strategy = TINA_ONE_FOR_ONE;
        rt->groups[0].restart_max = TINA__ROOT_RESTARTS;
        rt->groups[0].window_ns = TINA__ROOT_WINDOW_NS;
    }
    rt->spec.groups = rt->groups;
    if (rt->spec.ring_override_count)
        memcpy(rt->ring_overrides, resolved->ring_overrides,
               rt->spec.ring_override_count * sizeof(*rt->ring_overrides));
    rt->spec.ring_overrides = rt->ring_overrides;
    rt->spec.cores = NULL;
    return TINA_OK;
}

/* Put each static child into the next free slot of its type on its shard. */
static void children_place(struct tina_runtime *rt) {
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        const struct tina__child *ch = &rt->children[c];
        for (uint32_t sh = 0; sh < rt->shard_count; sh++) {
            uint32_t *cell = &rt->child_slot[(size_t)c * rt->shard_count + sh];
            *cell = TINA__NIL;
            if (ch->shard != TINA_SHARD_EVERY && ch->shard != sh) continue;
            struct tina__type *t = &rt->shards[sh]->types[ch->type_id];
            uint32_t i = t->free_head;
            TINA_ASSERT(i != TINA__NIL); /* validation counted the slots */
            struct tina__slot *slot = &t->slots[i];
            t->free_head = slot->next;
            slot->state = TINA__READY; /* starting: accepts mail, not queued */
            slot->flags = TINA__STARTING;
            slot->restart = (uint8_t)ch->restart;
            slot->child = c;
            TINA_ASSERT(slot->generation == 1); /* the address tina_child_address gives */
            t->reach[i].lineage = 1;            /* for ever: the slot stays this child's */
            t->reach[i].args_size = ch->args_size;
            memcpy(t->args + (size_t)i * TINA_ARGS_MAX, ch->args, ch->args_size);
            *cell = i;
        }
    }
}

static void threads_quit(struct tina_runtime *rt);

static void runtime_free(struct tina_runtime *rt) {
    threads_quit(rt); /* first: they run on the shards and arenas below */
    if (rt->creator_pid == getpid()) tina__watchdog_stop(rt); /* a forked child has no thread */
    for (uint32_t s = 0; s < rt->shard_count; s++) {
        struct tina__shard *shard = rt->shards[s];
        if (shard == NULL || shard->io == NULL) continue;
        tina__shard_io_destroy(shard); /* closes what is still open, then the backend */
    }
    for (uint32_t s = 0; s < TINA_SHARD_COUNT_MAX; s++) tina__arena_unmap(&rt->arenas[s]);
    tina__topology_close(rt);
    free(rt->types);
    free(rt->children);
    free(rt->child_slot);
    free(rt->ring_overrides);
    free(rt->groups);
    free(rt);
}

tina_result tina_create(const tina_spec *spec, tina_runtime **out, tina_boot_report *report) {
    return tina__create(spec, &tina__platform_thread, NULL, out, report);
}

/* Every shard's I/O tables and backend (nothing when fd_slots is 0). */
static tina_result io_setup(struct tina_runtime *rt, tina_boot_report *report) {
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__shard *s = rt->shards[id];
        if (tina__shard_io_create(s, &rt->spec) != 0) {
            snprintf(report->message, sizeof(report->message),
                     "io: the tables of shard %u (fd_slots %u, io_buffers %u x %u bytes) do not fit",
                     id, rt->spec.fd_slots, rt->spec.io_buffers, rt->spec.io_buffer_bytes);
            return TINA_ENO_MEMORY;
        }
        if (s->io == NULL) continue;
        int err = rt->platform->io_setup(s);
        if (err != 0) {
            snprintf(report->message, sizeof(report->message),
                     "io: shard %u: %s backend set-up failed: %s", id,
                     rt->spec.io_backend == TINA_IO_URING ? "io_uring" : "I/O", strerror(-err));
            return TINA_ESYSTEM;
        }
    }
    return TINA_OK;
}

static tina_result threads_start(struct tina_runtime *rt, tina_boot_report *report);

/* Create on a given platform: the pinned-thread one, or the simulator's. */
tina_result tina__create(const tina_spec *spec, const struct tina__platform *platform,
                         void *platform_state, tina_runtime **out, tina_boot_report *report) {
    tina_boot_report local;
    tina_spec resolved;
    tina_result r;
    if (report == NULL) report = &local;
    memset(report, 0, sizeof(*report));
    if (out == NULL) return TINA_EINVAL;
    *out = NULL;
    if ((r = tina__spec_resolve(spec, &resolved, report, platform->places_threads)) != TINA_OK)
        return r;

    struct tina_runtime *rt = calloc(1, sizeof(*rt));
    if (rt == NULL) return TINA_ENO_MEMORY;
    rt->shard_count = resolved.shard_count;
    memcpy(rt->cores, report->cores, sizeof(rt->cores));
    rt->platform = platform;
    rt->platform_state = platform_state;
    tina__callers_init(&rt->callers);
    if ((r = create_spec_copy(rt, &resolved)) != TINA_OK) goto fail;
    if (rt->spec.seed == 0) rt->spec.seed = tina__monotonic_ns() | 1u;
    rt->topology = platform->places_threads ? tina__topology_open() : NULL; /* hwloc: slow */
    rt->membarrier_ok = (uint32_t)tina__membarrier_register();

    struct tina__layout layout;
    for (uint32_t s = 0; s < rt->shard_count; s++) {
        tina__layout_compute(&rt->spec, s, rt->shard_count, &layout);
        if ((r = tina__arena_map(rt, s, layout.total)) != TINA_OK) {
            snprintf(report->message, sizeof(report->message),
                     "memory: mapping %zu bytes for shard %u failed", layout.total, s);
            goto fail;
        }
        tina__shard_carve(rt, s, &layout);
    }
    for (uint32_t from = 0; from < rt->shard_count; from++)
        for (uint32_t to = 0; to < rt->shard_count; to++)
            if (from != to) rt->shards[from]->chan.outbound[to] = rt->shards[to]->chan.inbound[from];
    children_place(rt);
    if ((r = io_setup(rt, report)) != TINA_OK) goto fail;
    rt->creator_pid = getpid();
    if (platform->places_threads && (r = threads_start(rt, report)) != TINA_OK) goto fail;
    rt->report = *report;
    *out = rt;
    return TINA_OK;
fail:
    runtime_free(rt);
    return r;
}

void tina_destroy(tina_runtime *rt) {
    if (rt == NULL) return;
    TINA_ASSERT(atomic_load(&rt->started) != 1); /* not while running */
    runtime_free(rt);
}

/* ---- run ------------------------------------------------------------------ */

/* Graceful shutdown: this shard may stop once every shard has drained, or
 * its deadline passed.  The last shard to drain wakes the others. */
static int shutdown_finished(struct tina__shard *s) {
    struct tina_runtime *rt = s->rt;
    uint32_t was_drained = s->drained;
    int state = tina__shard_shutdown_state(s);
    if (state == 2) return 1;
    uint32_t drained = atomic_load_explicit(&rt->drained_count, memory_order_relaxed);
    if (state == 1 && !was_drained && drained == rt->shard_count)
        for (uint32_t peer = 0; peer < rt->shard_count; peer++)
            tina__doorbell(rt->shards[peer], 0);
    return drained == rt->shard_count;
}

/* ---- the threads: started at create, parked on the gate ------------------ */

enum { GATE_PARKED = 0, GATE_RUN = 1, GATE_QUIT = 2 }; /* rt->gate, one way */

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Park until the gate leaves `from`; returns where it went.  The load
 * (seq_cst) pairs with the store in gate_move: what the mover wrote before
 * (boot_ns, the trap handlers) is visible here. */
static uint32_t gate_wait(struct tina_runtime *rt, uint32_t from) {
    uint32_t gate;
    while ((gate = atomic_load(&rt->gate)) == from) futex_wait(&rt->gate, from);
    return gate;
}

static void gate_move(struct tina_runtime *rt, uint32_t to) {
    atomic_store(&rt->gate, to);
    futex_wake_all(&rt->gate);
}

/* One shard's run, from boot to stop, on its own thread. */
static void shard_run(struct tina__shard *s) {
    struct tina_runtime *rt = s->rt;
    const struct tina__platform *p = s->platform;
    if (!rt->spec.no_trap_handlers) tina__trap_thread_enter(&s->trap, s->altstack, TINA__ALTSTACK_BYTES);
    tina__shard_boot(s);
    uint64_t idle_since = 0, spin = rt->spec.idle_spin_ns;
    s->stats.spin_budget_ns = spin;
    while (!atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
        int busy = tina__shard_pass(s);
        if (TINA__UNLIKELY(s->shutdown_seen) && shutdown_finished(s)) break;
        if (busy) {
            if (idle_since != 0) spin = spin_adapt(s, spin, tina__monotonic_ns() - idle_since);
            idle_since = 0;
            continue;
        }
        uint64_t now = tina__shard_now(s);
        if (idle_since == 0) idle_since = now;
        if (now - idle_since < spin) {
            spin_wait(now - idle_since);
            continue;
        }
        p->idle(s, tina__shard_next_deadline(s)); /* publishes the counters if it sleeps */
        spin = spin_adapt(s, spin, tina__monotonic_ns() - idle_since);
        idle_since = 0;
    }
    tina__shard_log_flush(s);
    tina__shard_publish_stats(s);
    if (!rt->spec.no_trap_handlers) tina__trap_thread_leave();
}

static void *shard_thread(void *arg) {
    struct tina__shard *s = arg;
    struct tina_runtime *rt = s->rt;
    tina__assert_shard = (int)s->id;
    char name[16]; /* what top -H, perf and gdb show */
    snprintf(name, sizeof(name), "tina/shard%u", s->id);
    (void)pthread_setname_np(pthread_self(), name);
    (void)tina__pin_thread(rt->cores[s->id]); /* best effort: unpinned still runs */
    if (gate_wait(rt, GATE_PARKED) != GATE_RUN) return NULL; /* destroyed, never run */
    shard_run(s);
    /* Release: pairs with tina_run's load; the shard's state is its caller's now. */
    atomic_fetch_add(&rt->threads_done, 1);
    futex_wake_all(&rt->threads_done);
    (void)gate_wait(rt, GATE_RUN); /* returns (and is joined) in tina_destroy */
    return NULL;
}

/* On the thread platform, at create: every shard's thread, and the
 * watchdog's (it only watches while tina_run runs). */
static tina_result threads_start(struct tina_runtime *rt, tina_boot_report *report) {
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        int err = pthread_create(&rt->threads[id], NULL, shard_thread, rt->shards[id]);
        if (err != 0) {
            snprintf(report->message, sizeof(report->message),
                     "thread: starting shard %u's thread failed: %s", id, strerror(err));
            return TINA_ESYSTEM;
        }
        rt->thread_count++;
    }
    if (rt->spec.watchdog_policy != TINA_WATCHDOG_OFF)
        (void)tina__watchdog_start(rt); /* none if it cannot start, as ever */
    return TINA_OK;
}

/* Let every parked thread return, and join it (tina_destroy, or create's
 * unwinding).  Never while tina_run runs: the shards are parked. */
static void threads_quit(struct tina_runtime *rt) {
    if (rt->thread_count == 0) return;
    if (rt->creator_pid != getpid()) { /* a forked child: the threads are its parent's */
        rt->thread_count = 0;
        return;
    }
    gate_move(rt, GATE_QUIT);
    for (uint32_t id = 0; id < rt->thread_count; id++) pthread_join(rt->threads[id], NULL);
    rt->thread_count = 0;
}

static _Atomic(struct tina_runtime *) signal_runtime;

static _Atomic uint32_t signal_count;

/* First SIGINT/SIGTERM: graceful shutdown.  Second: stop now. */
static void on_stop_signal(int sig) {
    (void)sig;
    struct tina_runtime *rt = atomic_load(&signal_runtime);
    if (rt == NULL) return;
    if (atomic_fetch_add(&signal_count, 1) == 0) tina_shutdown(rt);
    else tina_stop(rt);
}

/* Wake a shard from outside any shard, through its platform (the
 * simulator's run loop needs no waking; a thread may be asleep). */
static void shard_ring(struct tina_runtime *rt, uint32_t id) {
    rt->platform->wake(rt->shards[id], id);
}

/* Only a quarantined shard can be revived: a request for a healthy one is
 * refused, not kept for its next quarantine (which it would undo at once).
 * The shard clears any request as it enters a quarantine, so one that
 * races with its revival is not kept either. */
tina_result tina_revive(tina_runtime *rt, uint32_t shard) {
    if (rt == NULL || shard >= rt->shard_count) return TINA_EINVAL;
    if (!(atomic_load(&rt->transitions[shard]) & 1u)) return TINA_ESTATE;
    atomic_store(&rt->shards[shard]->revive_requested, 1);
    shard_ring(rt, shard);
    return TINA_OK;
}

bool tina_quarantined(const tina_runtime *rt, uint32_t shard) {
    if (rt == NULL || shard >= rt->shard_count) return false;
    return atomic_load(&rt->transitions[shard]) & 1u;
}

/* SIGUSR2: revive every quarantined shard. */
static void on_revive_signal(int sig) {
    (void)sig;
    struct tina_runtime *rt = atomic_load(&signal_runtime);
    if (rt == NULL) return;
    for (uint32_t s = 0; s < rt->shard_count; s++)
        if (atomic_load(&rt->transitions[s]) & 1u) (void)tina_revive(rt, s);
}

tina_result tina_run(tina_runtime *rt) {
    if (rt == NULL) return TINA_EINVAL;
    /* Not the thread platform's, or a forked child, which has none of the threads. */
    if (rt->thread_count != rt->shard_count || rt->creator_pid != getpid()) return TINA_ESTATE;
    uint32_t expected = 0;
    if (!atomic_compare_exchange_strong(&rt->started, &expected, 1)) return TINA_ESTATE;
    struct sigaction old_int, old_term, old_usr2, sa;
    int signals = !rt->spec.no_signal_handlers;
    if (signals) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        atomic_store(&signal_count, 0);
        atomic_store(&signal_runtime, rt);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sa.sa_handler = on_revive_signal;
        sigaction(SIGUSR2, &sa, &old_usr2);
    }
    int traps = !rt->spec.no_trap_handlers;
    if (traps && tina__trap_install() != 0) {
        tina__trap_uninstall();
        traps = 0;
    }
    rt->boot_ns = tina__monotonic_ns();
    tina__watchdog_arm(rt);
    gate_move(rt, GATE_RUN);
    uint32_t done;
    /* Acquire: pairs with each shard's count; what they wrote is ours now. */
    while ((done = atomic_load(&rt->threads_done)) < rt->shard_count)
        futex_wait(&rt->threads_done, done);
    tina__watchdog_disarm(rt);
    if (traps) tina__trap_uninstall();
    if (signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGUSR2, &old_usr2, NULL);
        atomic_store(&signal_runtime, NULL);
    }
    atomic_store(&rt->started, 2);
    /* After the store: a foreign call that passed its state check before it
     * is answered here, or finds the entry answered as it starts to wait. */
    tina__callers_fail_all(&rt->callers, TINA_ESTATE);
    return TINA_OK;
}

void tina_shutdown(tina_runtime *rt) {
    if (rt == NULL) return;
    atomic_store(&rt->shutdown, 1);
    for (uint32_t s = 0; s < rt->shard_count; s++) shard_ring(rt, s);
}

void tina_stop(tina_runtime *rt) {
    if (rt == NULL) return;
    atomic_store(&rt->stopping, 1);
    for (uint32_t s = 0; s < rt->shard_count; s++) shard_ring(rt, s);
}

/* ---- observation ---------------------------------------------------------- */

uint32_t tina_runtime_shard_count(const tina_runtime *rt) { return rt ? rt->shard_count : 0; }

tina_handle tina_runtime_child_handle(const tina_runtime *rt, uint32_t child_index,
                                      uint32_t shard) {
    if (rt == NULL || child_index >= rt->spec.child_count || shard >= rt->shard_count) return 0;
    uint32_t i = rt->child_slot[(size_t)child_index * rt->shard_count + shard];
    if (i == TINA__NIL) return 0;
    return tina_handle_make(shard, rt->children[child_index].type_id, i, 1);
}

tina_handle tina_runtime_child_address(const tina_runtime *rt, uint32_t child_index,
                                       uint32_t shard) {
    return tina_address_of(tina_runtime_child_handle(rt, child_index, shard));
}

/* ---- the runtime, asked for from a handler --------------------------------- */

void tina_request_stop(tina_ctx *ctx) { tina_stop(ctx->shard->rt); }
void tina_request_shutdown(tina_ctx *ctx) { tina_shutdown(ctx->shard->rt); }

tina_handle tina_child_handle(const tina_ctx *ctx, uint32_t child_index, uint32_t shard) {
    return tina_runtime_child_handle(ctx->shard->rt, child_index, shard);
}

tina_handle tina_child_address(const tina_ctx *ctx, uint32_t child_index, uint32_t shard) {
    return tina_runtime_child_address(ctx->shard->rt, child_index, shard);
}
