/*
 * supervise.c -- the restart decision (one-for-one for this stage).
 *
 * Supervision never needs a message slot: a restart reuses the dead
 * isolate's own slot (its generation already bumped, so the new handle
 * differs from every old one) and runs init with the spawn arguments kept
 * beside the slot.  See supervise.h for the contract.
 */
#include "supervise.h"

int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                         int crashed, uint32_t reason) {
    (void)reason;
    if (s->shutdown_seen) return 0; /* nothing restarts in a shutdown */
    uint8_t restart = t->slots[slot_index].restart;
    if (restart == TINA_RESTART_PERMANENT) return 1;
    if (restart == TINA_RESTART_TRANSIENT && crashed) return 1;
    return 0;
}

void tina__supervise_restart_pending(struct tina__shard *s) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        uint32_t i = t->restart.head;
        if (i == TINA__NIL) continue;
        /* Detach first: an init that fails again re-queues for next pass. */
        t->restart.head = t->restart.tail = TINA__NIL;
        while (i != TINA__NIL) {
            uint32_t next = t->slots[i].next;
            TINA_ASSERT(t->slots[i].state == TINA__RESTARTING);
            s->stats.restarts++;
            (void)tina__isolate_start(s, t, i);
            i = next;
        }
    }
}
