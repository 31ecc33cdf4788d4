/*
 * token.h -- the reply token table: calls whose answer was put off.
 *
 * A handler that defers a call (tina_defer) keeps, in an entry of its
 * shard's fixed table (token_slots, carved at boot), what answering needs:
 * the caller, the call's correlation id, and the isolate allowed to answer.
 * The token it gets names the entry by (shard, index, generation); the
 * generation is bumped whenever an entry is freed, so a spent token, one
 * kept from an earlier use of the entry, or a forged one does not match.
 *
 * An entry is on one list: the free list, or its owner's (the slot's
 * reach.tokens, doubly linked, so one is spent from the middle in O(1) and
 * an ending isolate finds all of its own).  The table only keeps entries;
 * answering, and answering failed for an owner that ends, is the shard's
 * (shard/tokens.c).
 */
#ifndef TINA_TOKEN_H
#define TINA_TOKEN_H

#include "slot.h"

struct tina__token {
    tina_handle caller;  /* who waits: a handle on any shard, or a foreign caller */
    uint64_t corr;       /* the call's correlation id */
    tina_handle owner;   /* the incarnation that may answer */
    uint32_t generation; /* never 0; bumped at every free */
    uint32_t next, prev; /* the owner's list (or, free, the free list by next) */
    uint32_t held;       /* 1 while a token names this entry */
};
_Static_assert(sizeof(struct tina__token) == 40, "a token entry is 40 bytes");

struct tina__tokens {
    struct tina__token *entries;
    uint32_t capacity;
    uint32_t free_head;
};

static inline void tina__tokens_init(struct tina__tokens *k, struct tina__token *entries,
                                     uint32_t count) {
    k->entries = entries;
    k->capacity = count;
    for (uint32_t i = 0; i < count; i++) {
        entries[i] = (struct tina__token){.generation = 1, .prev = TINA__NIL,
                                          .next = i + 1 < count ? i + 1 : TINA__NIL};
    }
    k->free_head = count ? 0 : TINA__NIL;
}

/* The token naming entry i: shard 8 | entry 24 | generation 32; never 0. */
static inline uint64_t tina__token_value(const struct tina__tokens *k, uint32_t shard, uint32_t i) {
    return (uint64_t)shard << 56 | (uint64_t)i << 32 | k->entries[i].generation;
}

/* The entry a token names on this shard if it is held, else NIL. */
static inline uint32_t tina__token_find(const struct tina__tokens *k, uint32_t shard,
                                        uint64_t token) {
    uint32_t i = (uint32_t)(token >> 32) & 0xffffffu;
    if ((uint32_t)(token >> 56) != shard || i >= k->capacity) return TINA__NIL;
    const struct tina__token *e = &k->entries[i];
    return e->held && e->generation == (uint32_t)token ? i : TINA__NIL;
}

/* A free entry, held and at the head of the owner's list (*head), or NIL. */
static inline uint32_t tina__token_take(struct tina__tokens *k, uint32_t *head) {
    uint32_t i = k->free_head;
    if (i == TINA__NIL) return TINA__NIL;
    struct tina__token *e = &k->entries[i];
    k->free_head = e->next;
    e->held = 1;
    e->prev = TINA__NIL;
    e->next = *head;
    if (*head != TINA__NIL) k->entries[*head].prev = i;
    *head = i;
    return i;
}

/* Entry i leaves its owner's list (*head) for the free list; its generation
 * moves on, so every token naming it is spent. */
static inline void tina__token_free(struct tina__tokens *k, uint32_t *head, uint32_t i) {
    struct tina__token *e = &k->entries[i];
    TINA_ASSERT(e->held);
    if (e->prev != TINA__NIL) k->entries[e->prev].next = e->next;
    else *head = e->next;
    if (e->next != TINA__NIL) k->entries[e->next].prev = e->prev;
    e->held = 0;
    e->generation = e->generation + 1 ? e->generation + 1 : 1;
    e->prev = TINA__NIL;
    e->next = k->free_head;
    k->free_head = i;
}

#endif /* TINA_TOKEN_H */
