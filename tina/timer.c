/*
 * timer.c -- the shard's hashed timer wheel.
 *
 * Entries live in a fixed array (timer_slots) carved at boot; a free list
 * threads the unused ones.  A live entry is in exactly one of:
 *
 *   the wheel   bucket (tick & mask), doubly linked, where the entry's
 *               tick = ceil(deadline_ns / resolution_ns), computed once as
 *               it is scheduled (a division) and kept in the entry;
 *   the due list  entries whose time has come, fired in the timer phase;
 *   the fired list  its owner's (slot->fired_head), FIFO, until the
 *               dispatcher delivers it;
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
 * The wheel never acts on an expiry: advancing sets up a walk over the
 * ticks that passed, and the shard's timer phase takes the expired entries
 * one by one (tina__timer_expired) and decides.  A user timer fires into its owner's
 * fired list: firing needs no message slot at all, the entry itself waits
 * there and the dispatcher synthesizes the TINA_MSG_TIMER message from it,
 * ahead of the mailbox (so neither an exhausted pool nor a full mailbox
 * can hold a timer back).  At delivery a one-shot entry is
 * freed and a periodic one re-armed for its next period; so a periodic
 * timer has at most one undelivered fire, and fires missed while its owner
 * was busy are skipped, not queued up.  A call timeout marks the caller's
 * slot and the dispatcher synthesizes the notice the same way.
 *
 * Timer ids are (generation << 32 | index); the generation is bumped when
 * an entry is freed, so an old id can never cancel a newer timer.
 *
 * Deadlines saturate: a delay or period too large to add to the clock
 * gives TINA__NEVER, and such an entry stays owned (cancel and teardown
 * find it) but in no list, so it never fires and never keeps a shard
 * awake.  The same holds for call and I/O timeouts, armed here too.
 */
#include <string.h>

#include "timer.h"

enum { IN_NONE = 0, IN_WHEEL = 1, IN_DUE = 2, IN_FIRED = 3 };

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
    w->walking = 0;
    for (uint32_t i = 0; i < wheel_slots; i++) buckets[i] = TINA__NIL;
    for (uint32_t i = 0; i < capacity; i++) {
        memset(&timers[i], 0, sizeof(timers[i]));
        timers[i].generation = 1;
        timers[i].next = i + 1 < capacity ? i + 1 : TINA__NIL;
    }
    w->free_head = 0;
}

/* The tick whose boundary is the first at or after the deadline, without
 * overflowing near UINT64_MAX. */
static inline uint64_t due_tick(const struct tina__wheel *w, const struct tina__timer *e) {
    return e->deadline_ns / w->resolution_ns + (e->deadline_ns % w->resolution_ns != 0);
}

/* Unlink from whichever list (bucket, due or the owner's fired list) the
 * entry is in. */
static inline __attribute__((always_inline)) void entry_unlink(struct tina__wheel *w,
                                                               struct tina__slot *owner, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    uint32_t *head, *tail = NULL;
    switch (e->where) {
    case IN_DUE:
        head = &w->due_head;
        tail = &w->due_tail;
        break;
    case IN_FIRED:
        head = &owner->fired_head;
        tail = &owner->fired_tail;
        break;
    case IN_WHEEL:
        head = &w->buckets[e->tick & w->mask];
        break;
    default:
        return;
    }
    if (e->prev != TINA__NIL) w->timers[e->prev].next = e->next;
    else *head = e->next;
    if (e->next != TINA__NIL) w->timers[e->next].prev = e->prev;
    else if (tail) *tail = e->prev;
    if (e->where == IN_FIRED) tina__slot_pending(owner);
    e->where = IN_NONE;
}

/* Append to a FIFO list (due list or an owner's fired list). */
static void fifo_append(struct tina__wheel *w, uint32_t *head, uint32_t *tail, uint32_t i,
                        uint8_t where) {
    struct tina__timer *e = &w->timers[i];
    e->where = where;
    e->next = TINA__NIL;
    e->prev = *tail;
    if (*tail != TINA__NIL) w->timers[*tail].next = i;
    else *head = i;
    *tail = i;
}

static void due_append(struct tina__wheel *w, uint32_t i) {
    fifo_append(w, &w->due_head, &w->due_tail, i, IN_DUE);
}

static inline __attribute__((always_inline)) void entry_schedule(struct tina__wheel *w, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    if (e->deadline_ns == TINA__NEVER) { /* owned, cancellable, in no list: never fires */
        e->where = IN_NONE;
        return;
    }
    uint64_t tick = due_tick(w, e);
    if (tick <= w->tick) {
        due_append(w, i);
        return;
    }
    uint32_t *head = &w->buckets[tick & w->mask];
    e->tick = tick;
    e->where = IN_WHEEL;
    e->prev = TINA__NIL;
    e->next = *head;
    if (*head != TINA__NIL) w->timers[*head].prev = i;
    *head = i;
}

static inline __attribute__((always_inline)) void entry_free(struct tina__wheel *w,
                                                             struct tina__slot *owner, uint32_t i) {
    struct tina__timer *e = &w->timers[i];
    TINA_ASSERT_DEBUG(e->where == IN_NONE);
    if (e->owner_prev != TINA__NIL) w->timers[e->owner_prev].owner_next = e->owner_next;
    else owner->timer_head = e->owner_next;
    if (e->owner_next != TINA__NIL) w->timers[e->owner_next].owner_prev = e->owner_prev;
    e->kind = 0;
    e->generation = e->generation + 1 ? e->generation + 1 : 1;
    e->next = w->free_head;
    w->free_head = i;
    w->live--;
}

void tina__timer_free(struct tina__wheel *w, struct tina__slot *owner, uint32_t i) {
    entry_free(w, owner, i);
}

uint32_t tina__timer_add(struct tina__wheel *w, uint64_t now, struct tina__slot *owner_slot,
                         tina_handle owner, uint64_t delay_ns, uint64_t period_ns, uint16_t tag,
                         uint8_t kind, uint64_t corr) {
    uint32_t i = w->free_head;
    if (i == TINA__NIL) return TINA__NIL;
    struct tina__timer *e = &w->timers[i];
    /* An empty wheel is not advanced (no clock read); catch its tick up. */
    if (w->live == 0) w->tick = now / w->resolution_ns;
    w->free_head = e->next;
    w->live++;
    /* A zero delay is due now: the next pass sees it, and a period counts
     * from now (a deadline of 0 would count it from the clock's start). */
    e->deadline_ns = tina__deadline_after(now, delay_ns);
    TINA_ASSERT_DEBUG(kind == TINA__TIMER_USER ? corr == 0 : period_ns == 0);
    if (kind == TINA__TIMER_USER) e->period_ns = period_ns;
    else e->corr = corr;
    e->owner = owner;
    e->tag = tag;
    e->kind = kind;
    e->owner_prev = TINA__NIL;
    e->owner_next = owner_slot->timer_head;
    if (owner_slot->timer_head != TINA__NIL) w->timers[owner_slot->timer_head].owner_prev = i;
    owner_slot->timer_head = i;
    if (delay_ns == 0) due_append(w, i); /* this pass's timer phase, never a tick later */
    else entry_schedule(w, i);
    return i;
}

uint8_t tina__timer_cancel(struct tina__wheel *w, struct tina__slot *owner_slot,
                           tina_handle owner, uint32_t index, uint32_t generation) {
    if (index >= w->capacity) return 0;
    struct tina__timer *e = &w->timers[index];
    if (e->kind == 0 || e->generation != generation || e->owner != owner) return 0;
    uint8_t kind = e->kind;
    entry_unlink(w, owner_slot, index);
    entry_free(w, owner_slot, index);
    return kind;
}

uint32_t tina__timer_cancel_all(struct tina__wheel *w, struct tina__slot *owner_slot) {
    uint32_t user = 0;
    while (owner_slot->timer_head != TINA__NIL) {
        uint32_t i = owner_slot->timer_head;
        entry_unlink(w, owner_slot, i);
        if (w->timers[i].kind == TINA__TIMER_USER) user++;
        tina__timer_free(w, owner_slot, i);
    }
    return user;
}

uint32_t tina__timer_due_pop(struct tina__wheel *w) {
    uint32_t i = w->due_head;
    if (i != TINA__NIL) entry_unlink(w, NULL, i);
    return i;
}

void tina__timer_fire(struct tina__wheel *w, struct tina__slot *owner_slot, uint32_t i) {
    fifo_append(w, &owner_slot->fired_head, &owner_slot->fired_tail, i, IN_FIRED);
    owner_slot->flags |= TINA__PENDING;
}

uint32_t tina__timer_deliver(struct tina__wheel *w, struct tina__slot *slot, tina_msg *out) {
    uint32_t i = slot->fired_head;
    TINA_ASSERT(i != TINA__NIL);
    struct tina__timer *e = &w->timers[i];
    if (e->next != TINA__NIL) __builtin_prefetch(&w->timers[e->next]);
    tina_timer_id id = tina__timer_id(w, i);
    entry_unlink(w, slot, i);
    out->from = 0;
    out->to = e->owner;
    out->corr = 0;
    out->tag = e->tag;
    out->kind = TINA_MSG_TIMER;
    out->size = sizeof(id);
    memcpy(out->payload, &id, sizeof(id));
    if (e->period_ns) return i;
    tina__timer_free(w, slot, i);
    return TINA__NIL;
}

/* The next period after the one delivered; fires missed while the owner
 * was busy are skipped, not queued up. */
void tina__timer_rearm(struct tina__wheel *w, uint32_t i, uint64_t now) {
    struct tina__timer *e = &w->timers[i];
    e->deadline_ns = tina__deadline_after(e->deadline_ns, e->period_ns);
    if (e->deadline_ns <= now) e->deadline_ns = tina__deadline_after(now, e->period_ns);
    entry_schedule(w, i);
}

/* The walk over the ticks that passed is lazy: tina__timer_expired takes
 * each expired entry out of its bucket as it reaches it, so the shard acts
 * on it while it is in cache (a million timers do not fit in one).  The
 * walk first, bucket by bucket in tick order, then the due list. */
void tina__timers_advance(struct tina__wheel *w, uint64_t now) {
    uint64_t now_tick = now / w->resolution_ns;
    w->walking = 0;
    if (now_tick <= w->tick) return;
    uint64_t from = w->tick + 1;
    if (now_tick - from > w->mask) from = now_tick - w->mask; /* one full turn is enough */
    w->walk_tick = from;
    w->walk_end = now_tick;
    w->walk_next = w->buckets[from & w->mask];
    w->walking = 1;
    w->tick = now_tick;
}

uint32_t tina__timer_expired(struct tina__wheel *w) {
    while (w->walking) {
        uint32_t i = w->walk_next;
        if (i == TINA__NIL) {
            if (w->walk_tick == w->walk_end) {
                w->walking = 0;
                break;
            }
            w->walk_tick++;
            w->walk_next = w->buckets[w->walk_tick & w->mask];
            continue;
        }
        struct tina__timer *e = &w->timers[i];
        TINA_ASSERT_DEBUG(e->kind != 0 && e->where == IN_WHEEL); /* nothing freed ahead */
        w->walk_next = e->next; /* taken now: acting on i may free it */
        if (e->next != TINA__NIL) __builtin_prefetch(&w->timers[e->next]);
        if (e->tick <= w->walk_end) { /* not one of a later turn */
            entry_unlink(w, NULL, i);
            return i;
        }
    }
    return tina__timer_due_pop(w);
}

/* When the shard may sleep (or the simulator jump) until: the earliest
 * deadline, exactly, while few timers are armed (a scan of every bucket);
 * otherwise the tick of the first non-empty bucket, which is never later
 * than the earliest deadline (it may be a turn early). */
uint64_t tina__timers_next_deadline(const struct tina__wheel *w) {
    if (w->due_head != TINA__NIL) return 0; /* due now */
    if (w->live == 0) return UINT64_MAX;
    if (w->live <= 1024u) {
        uint64_t earliest = UINT64_MAX;
        for (uint32_t b = 0; b <= w->mask; b++)
            for (uint32_t i = w->buckets[b]; i != TINA__NIL; i = w->timers[i].next)
                if (w->timers[i].deadline_ns < earliest) earliest = w->timers[i].deadline_ns;
        /* The wheel fires at the tick boundary after the deadline; one past
         * the clock's end is never (rounding up must not wrap to "now",
         * which would have an idle shard spin). */
        if (earliest == UINT64_MAX) return UINT64_MAX; /* only fired entries: nothing to wait for */
        uint64_t tick = earliest / w->resolution_ns + (earliest % w->resolution_ns != 0);
        return tick > UINT64_MAX / w->resolution_ns ? TINA__NEVER : tick * w->resolution_ns;
    }
    for (uint64_t k = w->tick + 1; k <= w->tick + 1 + w->mask; k++) {
        uint32_t i = w->buckets[k & w->mask];
        if (i != TINA__NIL) return k * w->resolution_ns;
    }
    return (w->tick + 1 + w->mask) * w->resolution_ns;
}
