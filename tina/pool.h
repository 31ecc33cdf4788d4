/*
 * pool.h -- a shard's message pool and the mailboxes threaded through it.
 *
 * The pool is one array of 128-byte envelopes carved at boot, in two
 * regions: user slots (sends, arrivals, the slot a call reserves for its
 * reply) and system slots (peer notices), so that no flood of user
 * traffic can starve the runtime's own messages.  Each region has a free
 * list threaded through the envelopes' reserved word.  A mailbox is a FIFO
 * of pool slots threaded the same way, headed in the isolate's slot.
 *
 * Invariant: user_free + system_free + messages held = slots.
 */
#ifndef TINA_POOL_H
#define TINA_POOL_H

#include "slot.h"

struct tina__pool {
    tina_msg *msgs;       /* user region then system region */
    uint32_t user_slots;
    uint32_t slots;       /* user + system */
    uint32_t user_head;   /* free lists, threaded by link */
    uint32_t system_head;
    uint32_t user_free;
    uint32_t system_free;
};

static inline void tina__pool_init(struct tina__pool *p, tina_msg *msgs, uint32_t user,
                                   uint32_t system) {
    p->msgs = msgs;
    p->user_slots = user;
    p->slots = user + system;
    for (uint32_t i = 0; i < p->slots; i++) msgs[i].reserved = i + 1;
    msgs[user - 1].reserved = TINA__NIL;
    msgs[p->slots - 1].reserved = TINA__NIL;
    p->user_head = 0;
    p->system_head = user;
    p->user_free = user;
    p->system_free = system;
}

static inline uint32_t tina__pool_alloc_user(struct tina__pool *p) {
    uint32_t i = p->user_head;
    if (TINA__UNLIKELY(i == TINA__NIL)) return TINA__NIL;
    p->user_head = p->msgs[i].reserved;
    p->user_free--;
    return i;
}

static inline uint32_t tina__pool_alloc_system(struct tina__pool *p) {
    uint32_t i = p->system_head;
    if (i == TINA__NIL) return TINA__NIL;
    p->system_head = p->msgs[i].reserved;
    p->system_free--;
    return i;
}

static inline void tina__pool_free(struct tina__pool *p, uint32_t i) {
    TINA_ASSERT_DEBUG(i < p->slots);
    if (TINA__LIKELY(i < p->user_slots)) {
        p->msgs[i].reserved = p->user_head;
        p->user_head = i;
        p->user_free++;
    } else {
        p->msgs[i].reserved = p->system_head;
        p->system_head = i;
        p->system_free++;
    }
}

static inline void tina__mailbox_push(struct tina__pool *p, struct tina__slot *slot,
                                      uint32_t msg_index) {
    p->msgs[msg_index].reserved = TINA__NIL;
    if (slot->mbox_tail == TINA__NIL) slot->mbox_head = msg_index;
    else p->msgs[slot->mbox_tail].reserved = msg_index;
    slot->mbox_tail = msg_index;
    slot->mbox_count++;
}

static inline uint32_t tina__mailbox_pop(struct tina__pool *p, struct tina__slot *slot) {
    uint32_t i = slot->mbox_head;
    TINA_ASSERT_DEBUG(i != TINA__NIL);
    slot->mbox_head = p->msgs[i].reserved;
    if (slot->mbox_head == TINA__NIL) slot->mbox_tail = TINA__NIL;
    slot->mbox_count--;
    return i;
}

#endif /* TINA_POOL_H */
