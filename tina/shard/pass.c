/*
 * pass.c -- one shard's pass over its isolates.
 *
 * The pass, in this fixed order (tina__shard_pass):
 *
 *   0. notices: a shutdown to begin, a revival asked of this shard, peers'
 *      quarantines and revivals to tell the isolates about (notice.c)
 *   1. drain inbound channels, then the inbox from foreign threads, into
 *      mailboxes (arrive.c)
 *   2. I/O completions: reap, then wake each parked isolate (io.c)
 *   3. restart isolates their supervisor asked for (supervise.c; not while
 *      quarantined)
 *   4. dispatch ready isolates, type by type, each type up to its budget
 *      (dispatch.c; not while quarantined; a quarantine asked for happens
 *      right after)
 *   5. submit queued I/O
 *   6. retry deferred DOWN messages, then publish outbound channels (one
 *      release store per written channel)
 *   7. timers: advance the wheel, act on each expiry (timers.c)
 *   8. flush the log
 *
 * Invariants (checked by TINA_ASSERT, and by the simulator's checkers):
 *   - user_free + system_free + messages held = pool slots;
 *   - a slot is in at most one list (free, ready, yielded, restart);
 *   - a READY slot not in the ready queue or yield list is running or
 *     starting; IDLE slots have empty mailboxes;
 *   - generations are never 0 and never reused (a slot whose last one is
 *     spent retires).
 */
#include "shard.h"

static int work_pending(const struct tina__shard *s) {
    for (uint32_t t = 0; t < s->type_count; t++) {
        const struct tina__type *type = &s->types[t];
        if (type->ready.head != TINA__NIL || type->yielded.head != TINA__NIL) return 1;
    }
    return s->restart_pending > 0 || s->wheel.due_head != TINA__NIL ||
           s->monitors.pending_head != TINA__NIL || (s->io != NULL && s->io->done_count > 0);
}

static uint32_t live_count(const struct tina__shard *s) {
    uint32_t live = 0;
    for (uint32_t t = 0; t < s->type_count; t++) live += s->types[t].live;
    return live;
}

/* Something a sleeping shard must wake for, besides its channels and
 * timers: an injected envelope (the injecting thread rings only after it
 * published, so this look closes the race), a stop, a shutdown it has not
 * begun or that every shard has finished draining, a revival asked of it, a peer's quarantine or revival
 * it has not told its isolates about.  The last shard to drain rings only
 * the peers it finds asleep; a peer past its last pass but not yet asleep
 * learns it here, after its heavy barrier (os/platform.c). */
int tina__shard_has_news(struct tina__shard *s) {
    struct tina_runtime *rt = s->rt;
    return tina__inbox_ready(&s->inbox) || atomic_load_explicit(&rt->stopping, memory_order_relaxed) ||
           (!s->shutdown_seen && atomic_load_explicit(&rt->shutdown, memory_order_relaxed)) ||
           (s->shutdown_seen &&
            atomic_load_explicit(&rt->drained_count, memory_order_relaxed) == rt->shard_count) ||
           (s->quarantined && atomic_load_explicit(&s->revive_requested, memory_order_relaxed)) ||
           atomic_load_explicit(&rt->quarantine_epoch, memory_order_relaxed) !=
               s->quarantine_epoch_seen;
}

/* One pass; returns non-zero if the shard did or has work. */
int tina__shard_pass(struct tina__shard *s) {
    s->did_work = 0;
    s->now_valid = 0;
    atomic_store_explicit(&s->beat, s->stats.passes, memory_order_relaxed);
    if (TINA__UNLIKELY(!s->shutdown_seen) &&
        atomic_load_explicit(&s->rt->shutdown, memory_order_relaxed))
        tina__shutdown_begin(s);
    if (TINA__UNLIKELY(s->quarantined) &&
        atomic_exchange_explicit(&s->revive_requested, 0, memory_order_acquire))
        tina__quarantine_revive(s);
    tina__peers_check(s);
    tina__shard_drain(s);
    tina__shard_drain_inbox(s);
    tina__shard_io_completions(s);
    if (TINA__LIKELY(!s->quarantined)) {
        tina__supervise_restart_pending(s);
        tina__shard_dispatch(s);
        if (s->io != NULL && s->io->loaned_count > 0) tina__io_after_dispatch(s);
        if (TINA__UNLIKELY(s->quarantine_pending)) tina__quarantine_enter(s);
    }
    s->platform->io_submit(s);
    if (s->monitors.pending_head != TINA__NIL) tina__monitors_flush(s);
    s->platform->channel_publish(s);
    tina__shard_timers(s);
    tina__shard_log_flush(s);
    if ((++s->stats.passes & 1023u) == 0 && tina__shard_now(s) - s->snapshot_at_ns >= 1000000u)
        tina__shard_publish_stats(s);
    return s->did_work || work_pending(s);
}

uint64_t tina__shard_next_deadline(struct tina__shard *s) {
    uint64_t deadline = tina__timers_next_deadline(&s->wheel);
    if (s->shutdown_seen && s->shutdown_deadline_ns < deadline) deadline = s->shutdown_deadline_ns;
    return deadline;
}

/* In a shutdown: 1 once this shard has no isolate left (counted once in
 * rt->drained_count), 2 once its deadline has passed, else 0. */
int tina__shard_shutdown_state(struct tina__shard *s) {
    if (!s->shutdown_seen) return 0;
    if (!s->drained && live_count(s) == 0) {
        s->drained = 1;
        atomic_fetch_add_explicit(&s->rt->drained_count, 1, memory_order_relaxed);
    }
    if (tina__shard_now(s) >= s->shutdown_deadline_ns) {
        s->stats.shutdown_forced = live_count(s);
        if (s->stats.shutdown_forced)
            tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu,
                            "shutdown deadline passed: %llu isolates still alive are forced",
                            (unsigned long long)s->stats.shutdown_forced);
        return 2;
    }
    return s->drained ? 1 : 0;
}

/* Start the static children placed on this shard at tina_create. */
void tina__shard_boot(struct tina__shard *s) {
    s->now_valid = 0;
    s->wheel.tick = tina__shard_now(s) / s->wheel.resolution_ns;
    for (uint32_t c = 0; c < s->tree.child_count; c++) {
        uint32_t i = tina__tree_slot(&s->tree, c);
        if (i != TINA__NIL) (void)tina__isolate_start(s, &s->types[s->tree.children[c].type_id], i);
    }
    s->platform->channel_publish(s);
    tina__shard_log_flush(s);
    tina__shard_publish_stats(s);
}
