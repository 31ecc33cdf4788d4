/*
 * monitor.h -- the monitor table (monitor.c).
 *
 * Entries live in a fixed table per shard (monitor_slots), carved at boot.
 * The table keeps entries and the lists they are on -- a target's
 * watchers, a watcher's undelivered DOWNs, the DOWNs waiting for channel
 * room -- and builds a DOWN message from an entry.  It never sends or
 * wakes: the monitor protocol (shard/monitors.c) does, with these as its
 * data.
 *
 * A local monitor is one entry on the shard of both; a remote one is two:
 * the watcher's (REMOTE, waiting for the DOWN) and the target's (WATCHING,
 * with `peer` naming the watcher's entry).
 */
#ifndef TINA_MONITOR_H
#define TINA_MONITOR_H

#include "slot.h"

#define TINA__TAG_MONITOR 0x0Au /* internal: a monitor request crossing shards */

enum tina__monitor_state {
    TINA__MON_FREE = 0,
    TINA__MON_WATCHING = 1, /* in its (local) target's list */
    TINA__MON_PENDING = 2,  /* a DOWN for another shard, waiting for channel room */
    TINA__MON_REMOTE = 3,   /* the watcher's side of a remote monitor, waiting for its DOWN */
    TINA__MON_DOWN = 4      /* fired: in its watcher's downs ring, to be delivered */
};

struct tina__monitor {
    tina_handle watcher;  /* gets the DOWN; may be on any shard */
    tina_handle target;
    uint32_t next, prev;  /* WATCHING: the target's list; PENDING: the pending list; DOWN:
                             its watcher's downs (a ring, next only); FREE: the free list */
    uint32_t reason;      /* the DOWN's, once fired */
    uint32_t generation;  /* bumped when freed: a DOWN crossing shards names (index,
                             generation) of the watcher's entry, so a stale one is dropped */
    uint32_t peer;        /* target side of a remote monitor: the watcher's entry, else NIL */
    uint32_t peer_generation;
    uint8_t state;        /* enum tina__monitor_state */
    uint8_t how;          /* tina_down_how, once fired */
    uint16_t reserved;
};
_Static_assert(sizeof(struct tina__monitor) == 48, "a monitor entry is 48 bytes");

struct tina__monitors {
    struct tina__monitor *entries;
    uint32_t capacity;
    uint32_t free_head;
    uint32_t pending_head, pending_tail; /* DOWNs for other shards, waiting for channel room */
};

void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count);

/* A free entry (peer NIL), or NIL if the table is full. */
uint32_t tina__monitor_take(struct tina__monitors *m);
/* Back to the free list; its generation is bumped. */
void tina__monitor_free(struct tina__monitors *m, uint32_t i);

/* Entry i watches the isolate of target_slot (WATCHING, in its list). */
void tina__monitor_watch(struct tina__monitors *m, struct tina__slot *target_slot, uint32_t i);
/* The target ends: its list is emptied and returned, threaded by next. */
uint32_t tina__monitor_unwatch_all(struct tina__slot *target_slot);

/* Entry i is a DOWN for the watcher of watcher_slot: into its ring (FIFO). */
void tina__monitor_down_push(struct tina__monitors *m, struct tina__slot *watcher_slot,
                             uint32_t i);
/* Dispatch: the oldest DOWN of slot's into *out (its entry is freed). */
void tina__monitor_down_deliver(struct tina__monitors *m, struct tina__slot *slot, tina_msg *out);
/* The watcher ends: its undelivered DOWNs go. */
void tina__monitor_downs_drop(struct tina__monitors *m, struct tina__slot *slot);

/* The DOWNs waiting for channel room, FIFO. */
void tina__monitor_pending_push(struct tina__monitors *m, uint32_t i);
/* Take the whole list (threaded by next), leaving it empty. */
uint32_t tina__monitor_pending_detach(struct tina__monitors *m);

#endif /* TINA_MONITOR_H */
