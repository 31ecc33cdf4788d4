/*
 * inject.c -- the way in from threads that are not shards: tina_inject,
 * tina_inject_call and their counters (tina_stats_inject).
 *
 * Runtime level, beside runtime.c: it reaches into the target shard only
 * for the words foreign threads may touch -- its inbox's producer side
 * (inbox.h), its injection counters and its `sleeping` doorbell -- and
 * into the runtime's foreign caller table (callers.h).  Nothing here
 * allocates or takes a lock; a full queue or a full table is refused at
 * once.
 *
 * The doorbell, with the shard going to sleep (os/platform.c):
 *
 *   injecting thread                    shard going to sleep
 *   claim a cell (CAS tail)             sleeping = 1
 *   write the envelope                  heavy barrier (membarrier or fence)
 *   seq = pos + 1        (release)      tina__shard_has_news: inbox ready?
 *   fence (seq_cst)                       -> yes: run; no: sleep on the
 *   sleeping? -> wake it, count it           futex, or the backend's eventfd
 *
 * Either the sleeper sees the published cell, or the injector sees the
 * flag and rings; the wake is the platform's own (safe from any thread).
 *
 * Under the simulator there is one thread: tina_inject works only inside
 * the run's inject hook (rt->inject_open), at the start of a round, and
 * nothing sleeps, so nothing is rung; tina_inject_call, which would have
 * to wait on that one thread, is refused.
 */
#include "shard/shard.h"

enum { INJECT_STARTED_RETURNED = 2 }; /* rt->started after tina_run (runtime.c) */

/* Where a refusal is counted: its shard's counters, or the runtime's. */
static struct tina__inject_counters *counters_of(struct tina_runtime *rt, tina_handle to) {
    uint32_t shard = tina_handle_shard(to);
    return shard < rt->shard_count ? &rt->shards[shard]->inject : &rt->inject_unplaced;
}

/* The checks message_send makes, and the ranges of a handle or address. */
static tina_result envelope_check(const struct tina_runtime *rt, tina_handle to, uint16_t tag,
                                  const void *payload, size_t size) {
    if (tag < TINA_TAG_USER) return TINA_ERESERVED_TAG;
    if (size > TINA_PAYLOAD_MAX) return TINA_ETOO_BIG;
    if (size > 0 && payload == NULL) return TINA_EINVAL;
    uint32_t type = tina_handle_type(to);
    if (tina_handle_shard(to) >= rt->shard_count || type >= rt->spec.type_count ||
        tina_handle_slot(to) >= rt->types[type].slots_per_shard ||
        tina_handle_generation(to) == 0)
        return TINA_EHANDLE;
    return TINA_OK;
}

/* A thread may inject now: not a shard's (under the simulator: only the
 * inject hook), and the runtime not stopping nor finished. */
static tina_result inject_allowed(struct tina_runtime *rt) {
    int simulated = rt->platform_state != NULL;
    if (tina__assert_shard >= 0 || (simulated && !rt->inject_open)) return TINA_EINJECT_THREAD;
    if (atomic_load_explicit(&rt->stopping, memory_order_relaxed) ||
        atomic_load_explicit(&rt->started, memory_order_relaxed) == INJECT_STARTED_RETURNED)
        return TINA_ESTATE;
    return TINA_OK;
}

/* Every check, counted where it fails.  TINA_OK: `to` names a shard. */
static tina_result inject_check(struct tina_runtime *rt, tina_handle to, uint16_t tag,
                                const void *payload, size_t size) {
    tina_result r = inject_allowed(rt);
    if (r == TINA_EINJECT_THREAD) {
        tina__inject_count(&counters_of(rt, to)->wrong_thread);
        return r;
    }
    if (r == TINA_OK) r = envelope_check(rt, to, tag, payload, size);
    if (r == TINA_OK && (atomic_load_explicit(&rt->transitions[tina_handle_shard(to)],
                                              memory_order_relaxed) & 1u))
        r = TINA_ESTALE; /* quarantined: every handle on it is stale */
    if (r != TINA_OK) tina__inject_count(&counters_of(rt, to)->refused);
    return r;
}

/* Queue the envelope on its shard and ring the shard if it sleeps. */
static tina_result inject_push(struct tina_runtime *rt, tina_handle from, tina_handle to,
                               uint16_t tag, const void *payload, size_t size, uint8_t kind,
                               uint64_t corr) {
    uint32_t id = tina_handle_shard(to);
    struct tina__shard *s = rt->shards[id];
    uint64_t pos;
    tina_msg *m = tina__inbox_claim(&s->inbox, &pos);
    if (m == NULL) {
        tina__inject_count(&s->inject.full);
        return TINA_EMAILBOX_FULL;
    }
    tina__envelope_fill(m, from, to, tag, payload, (uint32_t)size, kind, corr);
    m->reserved = 0;
    tina__inject_count(&s->inject.accepted);
    if (kind == TINA_MSG_CALL) tina__inject_count(&s->inject.calls);
    tina__inbox_publish(&s->inbox, pos);
    /* Pairs with the sleeper's heavy barrier between its store of
     * `sleeping` and its look at the inbox (tina__shard_has_news). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->sleeping, memory_order_relaxed)) {
        rt->platform->wake(s, id);
        tina__inject_count(&s->inject.wakeups);
    }
    return TINA_OK;
}

tina_result tina_inject(tina_runtime *rt, tina_handle to, uint16_t tag, const void *payload,
                        size_t size) {
    if (rt == NULL) return TINA_EINVAL;
    tina_result r = inject_check(rt, to, tag, payload, size);
    if (r != TINA_OK) return r;
    return inject_push(rt, TINA_HANDLE_NONE, to, tag, payload, size, TINA_MSG_SEND, 0);
}

tina_result tina_inject_call(tina_runtime *rt, tina_handle to, uint16_t tag, const void *payload,
                             size_t size, uint64_t timeout_ns, tina_msg *reply) {
    if (rt == NULL) return TINA_EINVAL;
    tina_result r = inject_check(rt, to, tag, payload, size);
    if (r == TINA_OK && (timeout_ns == 0 || rt->platform_state != NULL)) {
        r = timeout_ns == 0 ? TINA_EINVAL : TINA_ESTATE; /* the simulator's thread cannot wait */
        tina__inject_count(&counters_of(rt, to)->refused);
    }
    if (r != TINA_OK) return r;
    struct tina__inject_counters *c = counters_of(rt, to);
    tina_handle caller = tina__callers_take(&rt->callers);
    if (caller == TINA_HANDLE_NONE) {
        tina__inject_count(&c->refused);
        return TINA_ECALLERS_FULL;
    }
    r = inject_push(rt, caller, to, tag, payload, size, TINA_MSG_CALL, caller);
    if (r != TINA_OK) {
        tina__callers_cancel(&rt->callers, caller);
        return r;
    }
    r = tina__callers_wait(&rt->callers, caller, timeout_ns, reply);
    if (r == TINA_ETIMEDOUT) tina__inject_count(&c->call_timeouts);
    return r;
}

static void counters_add(tina_inject_stats *out, const struct tina__inject_counters *c) {
    out->accepted += atomic_load_explicit(&c->accepted, memory_order_relaxed);
    out->full += atomic_load_explicit(&c->full, memory_order_relaxed);
    out->refused += atomic_load_explicit(&c->refused, memory_order_relaxed);
    out->wrong_thread += atomic_load_explicit(&c->wrong_thread, memory_order_relaxed);
    out->wakeups += atomic_load_explicit(&c->wakeups, memory_order_relaxed);
    out->calls += atomic_load_explicit(&c->calls, memory_order_relaxed);
    out->call_timeouts += atomic_load_explicit(&c->call_timeouts, memory_order_relaxed);
    out->late_replies += atomic_load_explicit(&c->late_replies, memory_order_relaxed);
}

tina_result tina_stats_inject(const tina_runtime *rt, uint32_t shard, tina_inject_stats *out) {
    if (rt == NULL || out == NULL || (shard >= rt->shard_count && shard != TINA_SHARD_EVERY))
        return TINA_EINVAL;
    memset(out, 0, sizeof(*out));
    if (shard != TINA_SHARD_EVERY) {
        counters_add(out, &rt->shards[shard]->inject);
        return TINA_OK;
    }
    for (uint32_t id = 0; id < rt->shard_count; id++) counters_add(out, &rt->shards[id]->inject);
    counters_add(out, &rt->inject_unplaced);
    return TINA_OK;
}
