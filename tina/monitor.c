/*
 * monitor.c -- the monitor table: entries and the lists they are on.
 *
 * A DOWN never takes a message slot: it is kept in a monitor entry of the
 * watcher's own shard until the dispatcher hands it over (synthesized, like
 * a fired timer), so no number of monitors can drain the pool's system
 * region.  An entry is on at most one list threaded by next (and prev),
 * and, if it is its watcher's and the watcher is on this shard, on that
 * watcher's list too (mine_next, mine_prev):
 *
 *   free       the free list;
 *   WATCHING   its target's list (slot->monitor_head), doubly linked;
 *   DOWN       its watcher's downs, a ring doubly linked: slot->downs names
 *              the newest, whose next is the oldest, so push, pop and a
 *              removal from the middle (demonitor) are O(1) with one word
 *              in the slot;
 *   PENDING,   the envelopes for other shards waiting for channel room,
 *   CANCEL     FIFO (a DOWN, or the cancel of a REMOTE entry);
 *   REMOTE     none: the watcher's side of a remote monitor, waiting.
 *
 *   mine       a watcher's WATCHING (local), REMOTE and DOWN entries,
 *              doubly linked from the word the caller hands in (the
 *              slot's tina__reach.watching), so a watcher that ends or
 *              demonitors finds its entries in O(its entries).
 *
 * Generations are bumped at every free, so a DOWN crossing shards that
 * names (entry, generation) of a freed entry is known stale.  What an
 * entry's life means -- requests, cancels, DOWNs crossing shards, wakes --
 * is the monitor protocol's (shard/monitors.c).
 */
#include <string.h>

#include "monitor.h"

void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count) {
    m->entries = entries;
    m->capacity = count;
    m->pending_head = m->pending_tail = TINA__NIL;
    for (uint32_t i = 0; i < count; i++) {
        memset(&entries[i], 0, sizeof(entries[i]));
        entries[i].generation = 1;
        entries[i].peer = TINA__NIL;
        entries[i].mine_next = entries[i].mine_prev = TINA__NIL;
        entries[i].next = i + 1 < count ? i + 1 : TINA__NIL;
    }
    m->free_head = count ? 0 : TINA__NIL;
}

uint32_t tina__monitor_take(struct tina__monitors *m) {
    uint32_t i = m->free_head;
    if (i == TINA__NIL) return i;
    m->free_head = m->entries[i].next;
    m->entries[i].peer = TINA__NIL;
    return i;
}

void tina__monitor_free(struct tina__monitors *m, uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    e->state = TINA__MON_FREE;
    e->generation = e->generation + 1 ? e->generation + 1 : 1;
    e->next = m->free_head;
    m->free_head = i;
}

void tina__monitor_watch(struct tina__monitors *m, struct tina__slot *target_slot, uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    e->state = TINA__MON_WATCHING;
    e->prev = TINA__NIL;
    e->next = target_slot->monitor_head;
    if (target_slot->monitor_head != TINA__NIL) m->entries[target_slot->monitor_head].prev = i;
    target_slot->monitor_head = i;
}

void tina__monitor_unwatch(struct tina__monitors *m, struct tina__slot *target_slot, uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    TINA_ASSERT(e->state == TINA__MON_WATCHING);
    if (e->prev == TINA__NIL) target_slot->monitor_head = e->next;
    else m->entries[e->prev].next = e->next;
    if (e->next != TINA__NIL) m->entries[e->next].prev = e->prev;
    e->next = e->prev = TINA__NIL;
}

void tina__monitor_mine_link(struct tina__monitors *m, uint32_t *mine, uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    e->mine_prev = TINA__NIL;
    e->mine_next = *mine;
    if (*mine != TINA__NIL) m->entries[*mine].mine_prev = i;
    *mine = i;
}

void tina__monitor_mine_unlink(struct tina__monitors *m, uint32_t *mine, uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    if (e->mine_prev == TINA__NIL) {
        TINA_ASSERT(*mine == i);
        *mine = e->mine_next;
    } else {
        m->entries[e->mine_prev].mine_next = e->mine_next;
    }
    if (e->mine_next != TINA__NIL) m->entries[e->mine_next].mine_prev = e->mine_prev;
    e->mine_next = e->mine_prev = TINA__NIL;
}

uint32_t tina__monitor_unwatch_all(struct tina__slot *target_slot) {
    uint32_t head = target_slot->monitor_head;
    target_slot->monitor_head = TINA__NIL;
    return head;
}

void tina__monitor_down_push(struct tina__monitors *m, struct tina__slot *watcher_slot,
                             uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    uint32_t tail = watcher_slot->downs;
    e->state = TINA__MON_DOWN;
    if (tail == TINA__NIL) {
        e->next = e->prev = i;
    } else { /* between the newest and the oldest */
        uint32_t head = m->entries[tail].next;
        e->next = head;
        e->prev = tail;
        m->entries[tail].next = i;
        m->entries[head].prev = i;
    }
    watcher_slot->downs = i;
    watcher_slot->flags |= TINA__PENDING;
}

void tina__monitor_down_remove(struct tina__monitors *m, struct tina__slot *watcher_slot,
                               uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    TINA_ASSERT(e->state == TINA__MON_DOWN && watcher_slot->downs != TINA__NIL);
    if (e->next == i) {
        watcher_slot->downs = TINA__NIL;
    } else {
        m->entries[e->prev].next = e->next;
        m->entries[e->next].prev = e->prev;
        if (watcher_slot->downs == i) watcher_slot->downs = e->prev;
    }
    e->next = e->prev = TINA__NIL;
    tina__slot_pending(watcher_slot);
}

void tina__monitor_down_deliver(struct tina__monitors *m, struct tina__slot *slot, uint32_t *mine,
                                tina_msg *out) {
    TINA_ASSERT(slot->downs != TINA__NIL);
    uint32_t i = m->entries[slot->downs].next; /* the oldest */
    struct tina__monitor *e = &m->entries[i];
    TINA_ASSERT(e->state == TINA__MON_DOWN && e->watcher == out->to);
    tina__monitor_down_remove(m, slot, i);
    tina__monitor_mine_unlink(m, mine, i);
    tina_down d = {.target = e->target, .how = e->how, .reason = e->reason};
    out->tag = TINA_TAG_DOWN;
    out->kind = TINA_MSG_SYSTEM;
    out->size = sizeof(d);
    memcpy(out->payload, &d, sizeof(d));
    tina__monitor_free(m, i);
}

void tina__monitor_pending_push(struct tina__monitors *m, uint32_t i, uint8_t state) {
    TINA_ASSERT(state == TINA__MON_PENDING || state == TINA__MON_CANCEL);
    m->entries[i].state = state;
    m->entries[i].next = TINA__NIL;
    if (m->pending_tail == TINA__NIL) m->pending_head = i;
    else m->entries[m->pending_tail].next = i;
    m->pending_tail = i;
}

uint32_t tina__monitor_pending_detach(struct tina__monitors *m) {
    uint32_t head = m->pending_head;
    m->pending_head = m->pending_tail = TINA__NIL;
    return head;
}
