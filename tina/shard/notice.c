/*
 * notice.c -- what the shard tells its isolates about the world: a
 * graceful shutdown, its own quarantine and revival, and its peers'.
 *
 * A shutdown gives every live isolate a notice (a flag, delivered first by
 * dispatch: no message slot), wakes the parked, cuts pending calls short
 * (TINA_ESHUTDOWN) and I/O (cancelled), and drops pending restarts.
 *
 * A quarantine (the root group failed) tears every isolate down and stops
 * dispatching; the shard's transitions word turns odd, so peers' sends to
 * it fail as stale, and the quarantine epoch moves so every peer looks.
 * A revival rebuilds from the boot spec with new handles.  Peers learn of
 * both by a notice from the system region, which user traffic cannot
 * drain.
 */
#include <string.h>

#include "shard.h"

/* Graceful shutdown reaches this shard: every live isolate gets a notice
 * (a flag, no message slot), parked ones are woken, pending restarts are
 * dropped.  O(slots), once. */
void tina__shutdown_begin(struct tina__shard *s) {
    s->shutdown_seen = 1;
    uint64_t now = tina__shard_now(s), bound = s->rt->spec.shutdown_timeout_ns;
    s->shutdown_deadline_ns = bound >= TINA__NEVER - now ? TINA__NEVER : now + bound; /* saturates */
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity && (t->live > 0 || s->restart_pending > 0); i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->state == TINA__RESTARTING) { /* nothing restarts in a shutdown */
                tina__slot_forget_restart(s, t, i);
                continue;
            }
            if (slot->state == TINA__FREE || slot->state == TINA__RETIRED) continue;
            slot->flags |= TINA__SHUTDOWN;
            if (tina__slot_io_parked(slot)) {
                tina__io_shutdown(s, slot);
            } else if (slot->state == TINA__CALLING) { /* cut short: it gets its notice now */
                tina__call_end(s, t, i, tina__slot_handle(t, i, slot->generation),
                               TINA__CALL_FAILED, TINA_ESHUTDOWN);
                s->stats.call_failed++;
            }
            if (slot->state == TINA__IDLE) {
                slot->state = TINA__READY;
                tina__queue_push(t, &t->ready, i);
            }
        }
        t->restart.head = t->restart.tail = TINA__NIL;
    }
    s->did_work = 1;
}

static void transitions_bump(struct tina__shard *s) {
    atomic_fetch_add_explicit(&s->rt->transitions[s->id], 1, memory_order_release);
    atomic_fetch_add_explicit(&s->rt->quarantine_epoch, 1, memory_order_release);
    for (uint32_t peer = 0; peer < s->shard_count; peer++)
        if (peer != s->id) s->platform->wake(s, peer);
}

/* The root group failed: tear every isolate down and stop dispatching.
 * Peers see sends to this shard fail as stale and get a notice. */
void tina__quarantine_enter(struct tina__shard *s) {
    tina__log_event(s, TINA_LOG_ERROR, 0, 0xffffu,
                    "shard %u quarantined: its root group failed; every isolate is torn down", s->id);
    s->quarantine_pending = 0;
    s->quarantined = 1;
    atomic_store_explicit(&s->revive_requested, 0, memory_order_relaxed); /* none is for this one */
    s->stats.quarantines++;
    for (uint32_t k = 0; k < s->type_count; k++) { /* every queue goes: no walk per exit */
        struct tina__type *t = &s->types[k];
        for (uint32_t i = t->ready.head; i != TINA__NIL; i = t->slots[i].next)
            t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
        for (uint32_t i = t->yielded.head; i != TINA__NIL; i = t->slots[i].next)
            t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
        t->ready.head = t->ready.tail = TINA__NIL;
        t->yielded.head = t->yielded.tail = TINA__NIL;
    }
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity && (t->live > 0 || s->restart_pending > 0); i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->state == TINA__RESTARTING) {
                tina__slot_forget_restart(s, t, i);
            } else if (slot->state != TINA__FREE && slot->state != TINA__RETIRED) {
                tina__isolate_exit(s, t, i, TINA__EXIT_QUARANTINED, 0);
            }
        }
        t->ready.head = t->ready.tail = TINA__NIL;
        t->yielded.head = t->yielded.tail = TINA__NIL;
        t->restart.head = t->restart.tail = TINA__NIL;
    }
    transitions_bump(s);
}

/* Rebuild from the boot spec: free lists anew (generations kept, so every
 * old handle stays stale), budgets empty, static children started in spec
 * order with new handles. */
void tina__quarantine_revive(struct tina__shard *s) {
    const struct tina__tree *tree = &s->tree;
    for (uint32_t c = 0; c < tree->child_count; c++) {
        uint32_t i = tina__tree_slot(tree, c);
        struct tina__slot *slot = i != TINA__NIL ? &s->types[tree->children[c].type_id].slots[i] : NULL;
        if (slot == NULL || slot->state == TINA__RETIRED) continue;
        slot->state = TINA__READY; /* placed, starting */
        slot->flags = TINA__STARTING;
    }
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        t->free_head = TINA__NIL;
        for (uint32_t i = t->capacity; i-- > 0;) {
            if (t->slots[i].state != TINA__FREE) continue;
            t->slots[i].next = t->free_head;
            t->free_head = i;
        }
    }
    for (uint32_t g = 0; g < s->tree.group_count; g++) {
        s->tree.groups[g].restart_used = 0;
        s->tree.groups[g].restart_next = 0;
        s->tree.groups[g].dynamic_count = 0; /* the quarantine ended them all */
    }
    s->quarantined = 0;
    s->stats.revivals++;
    tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu, "shard %u revived", s->id);
    for (uint32_t c = 0; c < tree->child_count; c++) {
        uint32_t i = tina__tree_slot(tree, c);
        struct tina__type *t = &s->types[tree->children[c].type_id];
        if (i != TINA__NIL && t->slots[i].state == TINA__READY) (void)tina__isolate_start(s, t, i);
    }
    transitions_bump(s);
}

/* Tell every live isolate here that a peer was quarantined or revived.
 * Notices come from the system region, which user traffic cannot drain;
 * if even that is empty the notice is counted as dropped. */
static void notice_broadcast(struct tina__shard *s, uint16_t tag, uint32_t peer) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0, seen = 0; i < t->capacity && seen < t->live; i++) {
            struct tina__slot *slot = &t->slots[i];
            if (!tina__slot_live(slot)) continue;
            seen++;
            uint32_t m = tina__pool_alloc_system(&s->pool);
            if (m == TINA__NIL) {
                s->stats.notices_dropped++;
                continue;
            }
            tina__envelope_fill(&s->pool.msgs[m], 0, tina__slot_handle(t, i, slot->generation), tag,
                                &peer, sizeof(peer), TINA_MSG_SYSTEM, 0);
            tina__mailbox_push(&s->pool, slot, m);
            tina__slot_wake(s, t, i);
            s->stats.peer_notices++;
        }
    }
}

void tina__peers_check(struct tina__shard *s) {
    uint32_t epoch = atomic_load_explicit(&s->rt->quarantine_epoch, memory_order_acquire);
    if (epoch == s->quarantine_epoch_seen) return;
    s->quarantine_epoch_seen = epoch;
    for (uint32_t peer = 0; peer < s->shard_count; peer++) {
        if (peer == s->id) continue;
        uint32_t now = atomic_load_explicit(&s->rt->transitions[peer], memory_order_acquire);
        /* Deliver every transition missed since the last look, in order. */
        for (uint32_t seen = s->peer_transitions_seen[peer]; seen != now; seen++)
            notice_broadcast(s, (seen & 1u) ? TINA_TAG_SHARD_RESTARTED : TINA_TAG_SHARD_QUARANTINED,
                             peer);
        s->peer_transitions_seen[peer] = now;
    }
}
