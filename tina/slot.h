/*
 * slot.h -- an isolate's slot, its type, and the lists that thread slots.
 *
 * Every isolate of a type on a shard has a slot: 64 bytes of bookkeeping
 * (struct tina__slot) next to TINA_ARGS_MAX bytes of spawn arguments and
 * its user struct, all carved at boot.  A slot is named from outside by a
 * handle (shard | type | slot | generation); the generation changes at
 * every teardown, so an old handle is stale forever.
 *
 * Lists of slots (the free list, a type's ready queue, yield list and
 * restart list) are threaded through slot->next: a slot is on at most one.
 */
#ifndef TINA_SLOT_H
#define TINA_SLOT_H

#include "base.h"

#define TINA__DYNAMIC 0x80000000u /* slot->child: a dynamic child of group (child & ~this) */

enum tina__slot_state {
    TINA__FREE = 0,    /* on the type's free list */
    TINA__IDLE,        /* alive, parked in receive, mailbox empty */
    TINA__READY,       /* alive, in the ready queue or the yield list, or running */
    TINA__CALLING,     /* alive, parked in a call: only the reply or timeout wakes it */
    TINA__RESTARTING,  /* dead, generation bumped, waiting to be restarted */
    TINA__EXITING,     /* being torn down (inside tina__isolate_exit) */
    TINA__RETIRED      /* its last generation is spent: never used again */
};

enum tina__slot_flag {
    TINA__RESUME = 1u << 0,   /* next dispatch delivers TINA_TAG_RESUME */
    TINA__SHUTDOWN = 1u << 1, /* next dispatch delivers TINA_TAG_SHUTDOWN */
    TINA__DRAINING = 1u << 2, /* got its shutdown notice: done when it parks idle */
    TINA__PENDING = 1u << 3,  /* something besides mail waits or is awaited: a call or I/O
                                 (call != NONE), a fired timer, a DOWN -- kept equal to that
                                 by tina__slot_pending at every change, so that dispatch tells
                                 "only mail" from one byte */
    TINA__QUEUED = 1u << 4,   /* READY on its type's ready queue or yield list */
    TINA__STARTING = 1u << 5, /* placed at boot or revival, or in its init: a strategy
                                 leaves it alone (its init runs anyway) */
    TINA__RUNNING = 1u << 6,  /* its handler is running */
    TINA__DOOMED = 1u << 7    /* a strategy tore it down while it ran: the teardown
                                 happens as its handler returns */
};

/* A call or I/O operation, pending or answered; call_note holds its value.
 * An answer is delivered before anything else but a shutdown notice, and
 * needs no message slot of its own. */
enum tina__call {
    TINA__CALL_NONE = 0,  /* nothing: call_note is NIL */
    TINA__CALL_WAITING,   /* CALLING on a call: call_note is the pool slot reserved for
                             its reply, call_timer its timeout */
    TINA__CALL_REPLIED,   /* the reply is in pool slot call_note */
    TINA__CALL_TIMED_OUT, /* TINA_TAG_CALL_TIMEOUT is due */
    TINA__CALL_FAILED,    /* TINA_TAG_CALL_FAILED is due, with result (int32_t)call_note */
    TINA__CALL_IO,        /* CALLING on I/O operation call_note */
    TINA__CALL_IO_DONE    /* operation call_note completed (or was refused): its message is due */
};

/* Per-isolate bookkeeping: one cache line, next to its spawn args. */
struct tina__slot {
    uint32_t generation;  /* current incarnation; never 0 */
    uint8_t state;        /* enum tina__slot_state: a whole byte, written on every send
                             and park without a read-modify-write */
    uint8_t flags;        /* enum tina__slot_flag */
    uint8_t call;         /* enum tina__call */
    uint8_t restart;      /* tina_restart */
    uint32_t mbox_head;   /* pool index of the oldest queued message, or NIL */
    uint32_t mbox_tail;   /* pool index of the newest queued message, or NIL */
    uint32_t mbox_count;  /* queued messages */
    uint32_t next;        /* link: free list, ready queue, yield or restart list */
    uint32_t timer_head;  /* first timer this isolate owns, or NIL */
    uint32_t call_note;   /* by `call`: a pool slot, an I/O operation or a result */
    uint32_t call_timer;  /* timer entry of the pending call's timeout, or NIL */
    uint32_t fired_head;  /* timers fired and not yet delivered, FIFO, or NIL */
    uint32_t fired_tail;
    uint32_t downs;       /* DOWNs for this isolate, not yet delivered: the newest monitor
                             entry of a ring threaded by next (FIFO), or NIL */
    uint64_t call_corr;   /* correlation id of the pending call, 0 if none */
    uint32_t child;       /* static child index (supervision), NIL if spawned */
    uint32_t monitor_head; /* monitors watching this isolate, or NIL */
};
_Static_assert(sizeof(struct tina__slot) == 64, "slot bookkeeping is one cache line");

struct tina__list {
    uint32_t head, tail; /* slot indexes, NIL when empty */
};

/* What reaches a slot besides its handle, kept beside the slot (the slot
 * itself is one full cache line): the lineage its address names, the
 * reply tokens its isolate holds, the monitors its isolate set; and the
 * size of its spawn args, read only when an isolate starts. */
struct tina__reach {
    uint32_t lineage;  /* generation of the lineage's first incarnation; 0: no lineage (the
                          slot is free); a static child's slot keeps 1 for ever */
    uint32_t tokens;   /* reply token entries this isolate holds (token.h), or NIL */
    uint32_t watching; /* monitor entries this isolate set, still held (monitor.h), or NIL */
    uint32_t args_size; /* bytes in this slot's spawn args (cold: read at init) */
};

struct tina__type {
    tina_handler_fn handler;
    tina_init_fn init;
    struct tina__slot *slots;  /* capacity entries */
    struct tina__reach *reach; /* capacity entries, beside slots */
    uint8_t *args;             /* capacity x TINA_ARGS_MAX */
    uint8_t *structs;          /* capacity x stride */
    uint32_t stride;           /* struct_size rounded up to 16 */
    uint32_t struct_size;
    uint32_t capacity;         /* slots_per_shard */
    uint32_t mailbox_capacity;
    uint32_t budget;           /* dispatches per pass: weight x base_budget */
    tina_handle handle_base;   /* shard and type bits of this type's handles */
    uint32_t id;
    uint32_t live;             /* alive isolates */
    uint32_t free_head;        /* free slots (LIFO) */
    struct tina__list ready;   /* runnable now, FIFO */
    struct tina__list yielded; /* run next pass */
    struct tina__list restart; /* dynamic children waiting to be restarted */
    const char *name;
};

/* Live: an isolate is in it (parked, ready, running or calling). */
static inline int tina__slot_live(const struct tina__slot *slot) {
    return slot->state == TINA__IDLE || slot->state == TINA__READY || slot->state == TINA__CALLING;
}

/* Alive: live, and this handle's generation.  An address (its top bit
 * set) is never alive here: it must be resolved first (shard.h). */
static inline int tina__slot_alive(const struct tina__slot *slot, tina_handle h) {
    return (uint64_t)slot->generation == (h & (TINA_ADDRESS_BIT | TINA_GENERATION_MASK)) &&
           tina__slot_live(slot);
}

/* The slot a handle of this shard names (its type and slot in range). */
static inline struct tina__slot *tina__slot_of(struct tina__type *types, tina_handle h) {
    return &types[tina_handle_type(h)].slots[tina_handle_slot(h)];
}

static inline tina_handle tina__slot_handle(const struct tina__type *t, uint32_t i,
                                            uint32_t generation) {
    return t->handle_base | ((tina_handle)i << 28) | generation;
}

static inline void *tina__slot_struct(struct tina__type *t, uint32_t i) {
    return t->structs + (size_t)i * t->stride;
}

static inline uint32_t tina__generation_next(uint32_t g) {
    g = (g + 1) & TINA_GENERATION_MASK;
    return g ? g : 1;
}

static inline uint32_t tina__generation_prev(uint32_t g) {
    return g > 1 ? g - 1 : TINA_GENERATION_MASK;
}

/* Parked on I/O, or its completion not yet delivered. */
static inline int tina__slot_io_parked(const struct tina__slot *slot) {
    return slot->call == TINA__CALL_IO || slot->call == TINA__CALL_IO_DONE;
}

/* What TINA__PENDING stands for: a call or I/O state, a fired timer, a
 * DOWN. */
static inline int tina__slot_has_pending(const struct tina__slot *slot) {
    return slot->call != TINA__CALL_NONE || slot->fired_head != TINA__NIL ||
           slot->downs != TINA__NIL;
}

/* After any change to the fired list or the DOWNs (timer.c, monitor.c):
 * TINA__PENDING says again whether anything is pending. */
static inline void tina__slot_pending(struct tina__slot *slot) {
    uint8_t flags = (uint8_t)(slot->flags & ~TINA__PENDING);
    if (tina__slot_has_pending(slot)) flags |= TINA__PENDING;
    slot->flags = flags;
}

/* Every change of the call state goes through here, TINA__PENDING with it. */
static inline void tina__slot_call(struct tina__slot *slot, uint8_t call) {
    slot->call = call;
    if (call != TINA__CALL_NONE) slot->flags |= TINA__PENDING;
    else tina__slot_pending(slot);
}

/* Something waits to be handed over: queued mail, a fired timer, a DOWN. */
static inline int tina__slot_has_mail(const struct tina__slot *slot) {
    return slot->mbox_count > 0 || slot->fired_head != TINA__NIL || slot->downs != TINA__NIL;
}

/* ---- lists of slots ------------------------------------------------------ */

static inline void tina__list_push(struct tina__type *t, struct tina__list *l, uint32_t i) {
    t->slots[i].next = TINA__NIL;
    if (l->tail == TINA__NIL) l->head = i;
    else t->slots[l->tail].next = i;
    l->tail = i;
}

static inline uint32_t tina__list_pop(struct tina__type *t, struct tina__list *l) {
    uint32_t i = l->head;
    if (i == TINA__NIL) return i;
    l->head = t->slots[i].next;
    if (l->head == TINA__NIL) l->tail = TINA__NIL;
    return i;
}

/* Take slot i out of list l, wherever it is: O(list), for teardowns only. */
static inline int tina__list_remove(struct tina__type *t, struct tina__list *l, uint32_t i) {
    for (uint32_t prev = TINA__NIL, j = l->head; j != TINA__NIL; prev = j, j = t->slots[j].next) {
        if (j != i) continue;
        if (prev == TINA__NIL) l->head = t->slots[i].next;
        else t->slots[prev].next = t->slots[i].next;
        if (l->tail == i) l->tail = prev;
        return 1;
    }
    return 0;
}

static inline void tina__list_append(struct tina__type *t, struct tina__list *to,
                                     struct tina__list *from) {
    if (from->head == TINA__NIL) return;
    if (to->tail == TINA__NIL) to->head = from->head;
    else t->slots[to->tail].next = from->head;
    to->tail = from->tail;
    from->head = from->tail = TINA__NIL;
}

/* The ready queue and the yield list: membership is a flag, so that a
 * slot torn down while it waits can be taken out (tina__queue_remove)
 * instead of leaving an entry behind that would run a dead slot. */
static inline void tina__queue_push(struct tina__type *t, struct tina__list *l, uint32_t i) {
    t->slots[i].flags |= TINA__QUEUED;
    tina__list_push(t, l, i);
}

static inline void tina__queue_remove(struct tina__type *t, uint32_t i) {
    t->slots[i].flags &= (uint8_t)~TINA__QUEUED;
    if (tina__list_remove(t, &t->ready, i) || tina__list_remove(t, &t->yielded, i)) return;
    TINA_ASSERT(0 && "a queued slot is on its ready queue or yield list");
}

/* After a handler or init: park, or queue again if mail is waiting. */
static inline void tina__slot_park(struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (tina__slot_has_mail(slot) || (slot->flags & TINA__SHUTDOWN)) {
        slot->state = TINA__READY;
        tina__queue_push(t, &t->ready, i);
    } else {
        slot->state = TINA__IDLE;
    }
}

#endif /* TINA_SLOT_H */
