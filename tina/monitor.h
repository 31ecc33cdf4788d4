/*
 * monitor.h -- the monitor table (monitor.c).
 *
 * Entries live in a fixed table per shard (monitor_slots), carved at boot,
 * one cache line each.  The table keeps entries and the lists they are on
 * -- a target's watchers, a watcher's own entries, a watcher's undelivered
 * DOWNs, the envelopes waiting for channel room -- and builds a DOWN
 * message from an entry.  It never sends or wakes: the monitor protocol
 * (shard/monitors.c) does, with these as its data.  It knows slots (a
 * target's list, a watcher's DOWN ring) but no other layer: a watcher's
 * own list is handed in as the word that heads it.
 *
 * A local monitor is one entry on the shard of both; a remote one is two:
 * the watcher's (REMOTE, waiting for the DOWN) and the target's (WATCHING,
 * with `peer` naming the watcher's entry).  An entry is freed when its DOWN
 * is delivered, when its watcher ends, or by tina_demonitor: never later.
 */
#ifndef TINA_MONITOR_H
#define TINA_MONITOR_H

#include "slot.h"

#define TINA__TAG_MONITOR 0x0Au   /* internal: a monitor request crossing shards */
#define TINA__TAG_DEMONITOR 0x0Bu /* internal: its cancel, freeing the target's side */

enum tina__monitor_state {
    TINA__MON_FREE = 0,
    TINA__MON_WATCHING = 1, /* in its (local) target's list */
    TINA__MON_PENDING = 2,  /* a DOWN for another shard, waiting for channel room */
    TINA__MON_REMOTE = 3,   /* the watcher's side of a remote monitor, waiting for its DOWN */
    TINA__MON_DOWN = 4,     /* fired: in its watcher's downs ring, to be delivered */
    TINA__MON_CANCEL = 5    /* a REMOTE entry given up (demonitor, watcher ended): the cancel
                               to the target's shard waits for channel room (pending list) */
};

/* On which lists an entry is, by state:
 *
 *   state      next/prev                        mine_next/mine_prev
 *   FREE       the free list (next only)        --
 *   WATCHING   its target's list                its watcher's, if the watcher is here
 *   PENDING    the pending list (next only)     --
 *   REMOTE     --                               its watcher's
 *   DOWN       its watcher's downs ring         its watcher's
 *   CANCEL     the pending list (next only)     --
 *
 * "Here" is peer == NIL: a WATCHING entry with a peer is the target's side
 * of a remote monitor, its watcher's list on the other shard. */
struct tina__monitor {
    tina_handle watcher;  /* gets the DOWN; may be on any shard */
    tina_handle target;   /* the incarnation watched (an address resolved), or what was
                             asked for when nothing ran */
    tina_handle asked;    /* what the watcher passed to tina_monitor: handle or address,
                             as tina_demonitor matches it */
    uint32_t next, prev;  /* by state, see above */
    uint32_t mine_next, mine_prev; /* its watcher's list (tina__reach.watching) */
    uint32_t reason;      /* the DOWN's, once fired */
    uint32_t generation;  /* bumped when freed: a DOWN crossing shards names (index,
                             generation) of the watcher's entry, so a stale one is dropped */
    uint32_t peer;        /* target side of a remote monitor: the watcher's entry, else NIL */
    uint32_t peer_generation;
    uint8_t state;        /* enum tina__monitor_state */
    uint8_t how;          /* tina_down_how, once fired */
    uint16_t reserved;
    uint32_t spare;
};
_Static_assert(sizeof(struct tina__monitor) == 64, "a monitor entry is one cache line");

struct tina__monitors {
    struct tina__monitor *entries;
    uint32_t capacity;
    uint32_t free_head;
    uint32_t pending_head, pending_tail; /* PENDING and CANCEL entries, waiting for room */
};

void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count);

/* A free entry (peer NIL), or NIL if the table is full. */
uint32_t tina__monitor_take(struct tina__monitors *m);
/* Back to the free list; its generation is bumped.  It is on no other list. */
void tina__monitor_free(struct tina__monitors *m, uint32_t i);

/* Entry i belongs to the watcher whose list *mine heads (doubly linked). */
void tina__monitor_mine_link(struct tina__monitors *m, uint32_t *mine, uint32_t i);
void tina__monitor_mine_unlink(struct tina__monitors *m, uint32_t *mine, uint32_t i);

/* Entry i watches the isolate of target_slot (WATCHING, in its list). */
void tina__monitor_watch(struct tina__monitors *m, struct tina__slot *target_slot, uint32_t i);
/* Entry i stops watching: out of its target's list, from anywhere. */
void tina__monitor_unwatch(struct tina__monitors *m, struct tina__slot *target_slot, uint32_t i);
/* The target ends: its list is emptied and returned, threaded by next. */
uint32_t tina__monitor_unwatch_all(struct tina__slot *target_slot);

/* Entry i is a DOWN for the watcher of watcher_slot: into its ring (FIFO). */
void tina__monitor_down_push(struct tina__monitors *m, struct tina__slot *watcher_slot,
                             uint32_t i);
/* Entry i, a DOWN, leaves its watcher's ring undelivered (from anywhere). */
void tina__monitor_down_remove(struct tina__monitors *m, struct tina__slot *watcher_slot,
                               uint32_t i);
/* Dispatch: the oldest DOWN of slot's into *out; its entry leaves the
 * watcher's list *mine and is freed. */
void tina__monitor_down_deliver(struct tina__monitors *m, struct tina__slot *slot, uint32_t *mine,
                                tina_msg *out);

/* Entry i waits for channel room, FIFO, in state (PENDING or CANCEL). */
void tina__monitor_pending_push(struct tina__monitors *m, uint32_t i, uint8_t state);
/* Take the whole list (threaded by next), leaving it empty. */
uint32_t tina__monitor_pending_detach(struct tina__monitors *m);

#endif /* TINA_MONITOR_H */
