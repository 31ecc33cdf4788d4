/*
 * monitor.c -- the monitor table: entries and the lists they are on.
 *
 * A DOWN never takes a message slot: it is kept in a monitor entry of the
 * watcher's own shard until the dispatcher hands it over (synthesized, like
 * a fired timer), so no number of monitors can drain the pool's system
 * region.  An entry is on at most one list, threaded by next (and prev
 * for a target's list, which loses members from the middle):
 *
 *   free       the free list;
 *   WATCHING   its target's list (slot->monitor_head), doubly linked;
 *   DOWN       its watcher's downs, a ring: slot->downs names the newest,
 *              whose next is the oldest, so push and pop are O(1) with one
 *              word in the slot;
 *   PENDING    the DOWNs for other shards waiting for channel room, FIFO;
 *   REMOTE     none: the watcher's side of a remote monitor, waiting.
 *
 * Generations are bumped at every free, so a DOWN crossing shards that
 * names (entry, generation) of a freed entry is known stale.  What an
 * entry's life means -- requests, DOWNs crossing shards, wakes -- is the
 * monitor protocol's (shard/monitors.c).
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

uint32_t tina__monitor_unwatch_all(struct tina__slot *target_slot) {
    uint32_t head = target_slot->monitor_head;
    target_slot->monitor_head = TINA__NIL;
    return head;
}

void tina__monitor_down_push(struct tina__monitors *m, struct tina__slot *watcher_slot,
                             uint32_t i) {
    struct tina__monitor *e = &m->entries[i];
    e->state = TINA__MON_DOWN;
    if (watcher_slot->downs == TINA__NIL) {
        e->next = i;
    } else {
        e->next = m->entries[watcher_slot->downs].next;
        m->entries[watcher_slot->downs].next = i;
    }
    watcher_slot->downs = i;
}

/* Take the oldest entry off slot's downs ring. */
static uint32_t downs_pop(struct tina__monitors *m, struct tina__slot *slot) {
    struct tina__monitor *entries = m->entries;
    uint32_t tail = slot->downs, head = entries[tail].next;
    if (head == tail) slot->downs = TINA__NIL;
    else entries[tail].next = entries[head].next;
    return head;
}

void tina__monitor_down_deliver(struct tina__monitors *m, struct tina__slot *slot, tina_msg *out) {
    TINA_ASSERT(slot->downs != TINA__NIL);
    uint32_t i = downs_pop(m, slot);
    struct tina__monitor *e = &m->entries[i];
    TINA_ASSERT(e->state == TINA__MON_DOWN && e->watcher == out->to);
    tina_down d = {.target = e->target, .how = e->how, .reason = e->reason};
    out->tag = TINA_TAG_DOWN;
    out->kind = TINA_MSG_SYSTEM;
    out->size = sizeof(d);
    memcpy(out->payload, &d, sizeof(d));
    tina__monitor_free(m, i);
}

void tina__monitor_downs_drop(struct tina__monitors *m, struct tina__slot *slot) {
    while (slot->downs != TINA__NIL) tina__monitor_free(m, downs_pop(m, slot));
}

void tina__monitor_pending_push(struct tina__monitors *m, uint32_t i) {
    m->entries[i].state = TINA__MON_PENDING;
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
