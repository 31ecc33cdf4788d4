/*
 * timer.h -- the shard's hashed timer wheel (timer.c).
 *
 * A table of its own: the wheel arms, cancels and expires entries and
 * hands the expired ones back, one at a time (tina__timer_due_pop); it
 * never wakes anyone.  The shard decides what an expiry means: a user
 * timer joins its owner's fired list and the owner wakes; a call's timeout
 * fails the call; an I/O timeout cancels the operation.
 */
#ifndef TINA_TIMER_H
#define TINA_TIMER_H

#include "slot.h"

enum tina__timer_kind { TINA__TIMER_USER = 1, TINA__TIMER_CALL = 2, TINA__TIMER_IO = 3 };

struct tina__timer {
    uint64_t deadline_ns;  /* absolute shard time */
    uint64_t tick;         /* in the wheel: its due tick (timer.c), kept so that neither a
                              cancel nor the walk over expired ticks divides again */
    tina_handle owner;
    union {                /* by kind: */
        uint64_t period_ns; /* a user timer's period, 0: one-shot */
        uint64_t corr;      /* call timeouts: the call they guard; I/O: the op index */
    };
    uint32_t next, prev;   /* bucket, due list or fired list; free list uses next */
    uint32_t owner_next;   /* owner's timers (doubly linked) */
    uint32_t owner_prev;
    uint32_t generation;   /* high half of the timer id; bumped on free */
    uint16_t tag;
    uint8_t kind;          /* enum tina__timer_kind, 0 when free */
    uint8_t where;         /* wheel, due list, owner's fired list, or none */
};
_Static_assert(sizeof(struct tina__timer) == 56, "a timer entry is 56 bytes (DESIGN.md, section 3)");

struct tina__wheel {
    struct tina__timer *timers; /* timer_slots entries */
    uint32_t *buckets;          /* wheel_slots heads */
    uint32_t capacity;
    uint32_t mask;              /* wheel_slots - 1 */
    uint64_t resolution_ns;
    uint64_t tick;              /* last tick processed */
    uint32_t free_head;
    uint32_t live;
    uint32_t due_head, due_tail; /* due now: zero delays, periods already past */
    /* The walk tina__timers_advance sets up and tina__timer_expired takes. */
    uint64_t walk_tick, walk_end;
    uint32_t walk_next;         /* the next entry of bucket walk_tick to look at */
    uint32_t walking;
};

void tina__wheel_init(struct tina__wheel *w, struct tina__timer *timers, uint32_t *buckets,
                      uint32_t capacity, uint32_t wheel_slots, uint64_t resolution_ns);

/* Arm an entry owned by `owner` (linked in its slot's timer list): due
 * delay_ns after now, then every period_ns if that is not 0.  A zero delay
 * is due in this pass's timer phase.  Returns the entry, or NIL if every
 * entry is in use. */
uint32_t tina__timer_add(struct tina__wheel *w, uint64_t now, struct tina__slot *owner_slot,
                         tina_handle owner, uint64_t delay_ns, uint64_t period_ns, uint16_t tag,
                         uint8_t kind, uint64_t corr);

/* Cancel entry (index, generation) if `owner` owns it: returns its kind,
 * or 0 if the id is stale. */
uint8_t tina__timer_cancel(struct tina__wheel *w, struct tina__slot *owner_slot,
                           tina_handle owner, uint32_t index, uint32_t generation);

/* An isolate ends: every entry it owns goes.  Returns how many were user
 * timers. */
uint32_t tina__timer_cancel_all(struct tina__wheel *w, struct tina__slot *owner_slot);

/* The clock says now: the ticks up to now have passed.  Then each call
 * of tina__timer_expired hands back one expired entry, taken out of its
 * list (in no list now), in the order they expire: the buckets of the
 * ticks that passed, in tick order, then the due list; NIL when none is
 * left. */
void tina__timers_advance(struct tina__wheel *w, uint64_t now);
uint32_t tina__timer_expired(struct tina__wheel *w);

/* The oldest entry of the due list, taken off it, or NIL. */
uint32_t tina__timer_due_pop(struct tina__wheel *w);

/* A due entry becomes its owner's fired timer, delivered by dispatch. */
void tina__timer_fire(struct tina__wheel *w, struct tina__slot *owner_slot, uint32_t i);

/* Free an entry that is in no list (a due one just popped). */
void tina__timer_free(struct tina__wheel *w, struct tina__slot *owner_slot, uint32_t i);

/* Dispatch: turn the slot's oldest fired timer into *out.  A one-shot
 * entry is freed (NIL is returned); a periodic one is returned, to be
 * re-armed with tina__timer_rearm. */
uint32_t tina__timer_deliver(struct tina__wheel *w, struct tina__slot *slot, tina_msg *out);
void tina__timer_rearm(struct tina__wheel *w, uint32_t i, uint64_t now);

/* When the shard may sleep until: see timer.c. */
uint64_t tina__timers_next_deadline(const struct tina__wheel *w);

static inline tina_timer_id tina__timer_id(const struct tina__wheel *w, uint32_t i) {
    return ((uint64_t)w->timers[i].generation << 32) | i;
}

#endif /* TINA_TIMER_H */
