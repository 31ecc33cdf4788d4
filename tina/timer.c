/*
 * timer.c -- the shard's hashed timer wheel.
 *
 * Entries live in a fixed array (timer_slots) carved at boot; a free list
 * threads the unused ones.  A live entry is in exactly one of:
 *
 *   the wheel   bucket (due_tick & mask), doubly linked, where
 *               due_tick = ceil(deadline_ns / resolution_ns);
 *   the due list  entries whose time has come, fired in the timer phase.
 *
 * and, at the same time, in its owner's list (slot->timer_head, doubly
 * linked) so that a dying isolate cancels all its timers in O(its timers).
 *
 * Set, cancel and expiry are O(1) per entry; advancing visits each tick's
 * bucket once (at most one full turn after a long sleep) and leaves entries
 * of later turns in place.  A zero delay goes straight to the due list and
 * so fires in this pass's timer phase: the isolate sees it on the next pass,
 * never a wheel turn later.
 *
 * A user timer fires as a TINA_MSG_TIMER message from the system region of
 * the pool (so exhausting the user region never blocks it) into the
 * owner's mailbox; if the system region is empty the entry stays due and
 * fires next pass.  A call timeout needs no message at all: it marks the
 * caller's slot and the dispatcher synthesizes the notice.
 *
 * Timer ids are (generation << 32 | index); the generation is bumped when
 * an entry is freed, so an old id can never cancel a newer timer.
 */
#include <string.h>

#include "internal.h"

enum { IN_NONE = 0, IN_WHEEL = 1, IN_DUE = 2 };

void tina__wheel_init(struct tina__wheel *w, struct tina__timer *timers, uint32_t *buckets,
                      uint32_t capacity, uint32_t wheel_slots, uint64_t resolution_ns) {
    w->timers = timers;
    w->buckets = buckets;
    w->capacity = capacity;
    w->mask = wheel_slots - 1;
    w->resolution_ns = resolution_ns;
    w->tick = 0;
    w->live = 0;
    w->due_head = w->due_tail = TINA__NIL;
    for (uint32_t i = 0; i < wheel_slots; i++) buckets[i] = TINA__NIL;
    for (uint32_t i = 0; i < capacity; i++) {
        memset(&timers[i], 0, sizeof(timers[i]));
        timers[i].generation = 1;
        timers[i].next = i + 1 < capacity ? i + 1 : TINA__NIL;
    }
    w->free_head = 0;
}

static inline uint64_t due_tick(const struct tina__wheel *w, const struct tina__timer *e) {
    return (e->deadline_ns + w->resolution_ns - 1) / w->resolution_ns;
}

/* Unlink from whichever list (bucket or due) the entry is in. */
static void entry_unlink(struct tina__wheel *w, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    uint32_t *head = e->where == IN_DUE ? &w->due_head : &w->buckets[due_tick(w, e) & w->mask];
    if (e->prev != TINA__NIL) w->timers[e->prev].next = e->next;
    else *head = e->next;
    if (e->next != TINA__NIL) w->timers[e->next].prev = e->prev;
    else if (e->where == IN_DUE) w->due_tail = e->prev;
    e->where = IN_NONE;
}

static void due_append(struct tina__wheel *w, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    e->where = IN_DUE;
    e->next = TINA__NIL;
    e->prev = w->due_tail;
    if (w->due_tail != TINA__NIL) w->timers[w->due_tail].next = i;
    else w->due_head = i;
    w->due_tail = i;
}

static void entry_schedule(struct tina__wheel *w, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    uint64_t tick = due_tick(w, e);
    if (tick <= w->tick) {
        due_append(w, i);
        return;
    }
    uint32_t *head = &w->buckets[tick & w->mask];
    e->where = IN_WHEEL;
    e->prev = TINA__NIL;
    e->next = *head;
    if (*head != TINA__NIL) w->timers[*head].prev = i;
    *head = i;
}

static void entry_free(struct tina__shard *s, struct tina__slot *owner, uint32_t i) {
    struct tina__wheel *w = &s->wheel;
    struct tina__timer *e = &w->timers[i];
    if (e->owner_prev != TINA__NIL) w->timers[e->owner_prev].owner_next = e->owner_next;
    else owner->timer_head = e->owner_next;
    if (e->owner_next != TINA__NIL) w->timers[e->owner_next].owner_prev = e->owner_prev;
    e->kind = 0;
    e->generation = e->generation + 1 ? e->generation + 1 : 1;
    e->next = w->free_head;
    w->free_head = i;
    w->live--;
}

uint32_t tina__timer_add(struct tina__shard *s, struct tina__slot *owner_slot, tina_handle owner,
                         uint64_t delay_ns, uint64_t period_ns, uint16_t tag, uint8_t kind,
                         uint64_t corr) {
    struct tina__wheel *w = &s->wheel;
    uint32_t i = w->free_head;
    if (i == TINA__NIL) {
        s->stats.timer_exhausted++;
        return TINA__NIL;
    }
    struct tina__timer *e = &w->timers[i];
    w->free_head = e->next;
    w->live++;
    e->deadline_ns = delay_ns == 0 ? 0 : s->now_ns + delay_ns;
    e->period_ns = period_ns;
    e->owner = owner;
    e->corr = corr;
    e->tag = tag;
    e->kind = kind;
    e->owner_prev = TINA__NIL;
    e->owner_next = owner_slot->timer_head;
    if (owner_slot->timer_head != TINA__NIL) w->timers[owner_slot->timer_head].owner_prev = i;
    owner_slot->timer_head = i;
    entry_schedule(w, i);
    if (kind == TINA__TIMER_USER) s->stats.timers_set++;
    return i;
}

tina_result tina__timer_cancel(struct tina__shard *s, struct tina__slot *owner_slot,
                               tina_handle owner, uint32_t index, uint32_t generation) {
    struct tina__wheel *w = &s->wheel;
    if (index >= w->capacity) return TINA_ETIMER_STALE;
    struct tina__timer *e = &w->timers[index];
    if (e->kind == 0 || e->generation != generation || e->owner != owner) return TINA_ETIMER_STALE;
    entry_unlink(w, index);
    if (e->kind == TINA__TIMER_USER) s->stats.timers_cancelled++;
    entry_free(s, owner_slot, index);
    return TINA_OK;
}

void tina__timer_cancel_all(struct tina__shard *s, struct tina__slot *owner_slot) {
    struct tina__wheel *w = &s->wheel;
    while (owner_slot->timer_head != TINA__NIL) {
        uint32_t i = owner_slot->timer_head;
        entry_unlink(w, i);
        if (w->timers[i].kind == TINA__TIMER_USER) s->stats.timers_cancelled++;
        entry_free(s, owner_slot, i);
    }
}

static struct tina__slot *owner_slot(struct tina__shard *s, tina_handle owner,
                                     struct tina__type **type) {
    struct tina__type *t = &s->types[tina_handle_type(owner)];
    struct tina__slot *slot = &t->slots[tina_handle_slot(owner)];
    /* Teardown cancels every timer, so an entry's owner is always alive. */
    TINA_ASSERT(slot->generation == tina_handle_generation(owner));
    *type = t;
    return slot;
}

/* Fire one due entry.  Returns 0 if it must wait for a system slot. */
static int entry_fire(struct tina__shard *s, uint32_t i) {
    struct tina__wheel *w = &s->wheel;
    struct tina__timer *e = &w->timers[i];
    struct tina__type *t;
    struct tina__slot *slot = owner_slot(s, e->owner, &t);
    uint32_t slot_index = tina_handle_slot(e->owner);
    if (e->kind == TINA__TIMER_CALL) {
        entry_unlink(w, i);
        TINA_ASSERT(slot->state == TINA__CALLING && slot->call_corr == e->corr);
        slot->call_note = TINA__NOTE_TIMEOUT;
        slot->call_corr = 0;
        slot->call_timer = TINA__NIL;
        slot->state = TINA__READY;
        entry_free(s, slot, i);
        tina__slot_ready(s, t, slot_index);
        s->stats.call_timeouts++;
        return 1;
    }
    uint32_t m = tina__pool_alloc_system(s);
    if (m == TINA__NIL) {
        s->stats.system_exhausted++;
        return 0;
    }
    tina_msg *msg = &s->msgs[m];
    tina_timer_id id = ((uint64_t)e->generation << 32) | i;
    msg->from = 0;
    msg->to = e->owner;
    msg->corr = 0;
    msg->tag = e->tag;
    msg->size = sizeof(id);
    msg->kind = TINA_MSG_TIMER;
    memcpy(msg->payload, &id, sizeof(id));
    tina__mailbox_push(s, slot, m);
    tina__slot_wake(s, t, slot_index);
    s->stats.timers_fired++;
    entry_unlink(w, i);
    if (e->period_ns) {
        e->deadline_ns += e->period_ns;
        if (e->deadline_ns <= s->now_ns) e->deadline_ns = s->now_ns + e->period_ns;
        entry_schedule(w, i);
    } else {
        entry_free(s, slot, i);
    }
    return 1;
}

void tina__timers_advance(struct tina__shard *s) {
    struct tina__wheel *w = &s->wheel;
    uint64_t now_tick = s->now_ns / w->resolution_ns;
    if (now_tick > w->tick && w->live > 0) {
        uint64_t from = w->tick + 1;
        if (now_tick - from > w->mask) from = now_tick - w->mask; /* one full turn is enough */
        for (uint64_t k = from; k <= now_tick; k++) {
            uint32_t i = w->buckets[k & w->mask];
            while (i != TINA__NIL) {
                uint32_t next = w->timers[i].next;
                if (due_tick(w, &w->timers[i]) <= now_tick) {
                    entry_unlink(w, i);
                    due_append(w, i);
                }
                i = next;
            }
        }
    }
    if (now_tick > w->tick) w->tick = now_tick;
    /* Fire what is due, in order; a periodic entry re-enters the wheel in
     * the future, so this loop ends. */
    uint32_t i;
    while ((i = w->due_head) != TINA__NIL) {
        if (!entry_fire(s, i)) break;
        s->did_work = 1;
    }
}

uint64_t tina__timers_next_deadline(struct tina__shard *s) {
    struct tina__wheel *w = &s->wheel;
    if (w->due_head != TINA__NIL) return s->now_ns;
    if (w->live == 0) return UINT64_MAX;
    for (uint64_t k = w->tick + 1; k <= w->tick + 1 + w->mask; k++) {
        uint32_t i = w->buckets[k & w->mask];
        if (i != TINA__NIL) return k * w->resolution_ns;
    }
    return (w->tick + 1 + w->mask) * w->resolution_ns;
}
