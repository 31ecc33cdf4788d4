/*
 * checkers.c -- built-in invariant checkers for simulated runs.
 *
 * Run between rounds (every check_every_rounds and at the end), when no
 * handler is running, so every structure is at rest.  Each returns 0 or
 * writes the violation into `why` and returns 1.  They walk whole
 * structures (O(pool + slots + timers)), which is why they are the
 * simulator's and not the production loop's.
 *
 *   pool        per shard: the free lists hold exactly user_free and
 *               system_free slots, and free + queued = pool size
 *   mailboxes   each mailbox list is as long as its count; an IDLE isolate
 *               has nothing queued
 *   generations never 0, never lower than last time (a shadow copy)
 *   channels    head <= tail <= pending, and dropped <= head
 *   liveness    no timer overdue by more than two wheel ticks, so no caller
 *               is parked in a call past its timeout
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define FAIL(...)                               \
    do {                                        \
        snprintf(why, why_size, __VA_ARGS__);   \
        return 1;                               \
    } while (0)

static int check_pool(struct tina__shard *s, char *why, size_t why_size) {
    uint64_t user = 0, system = 0, queued = 0;
    for (uint32_t i = s->user_free_head; i != TINA__NIL && user <= s->pool_slots; i = s->msgs[i].link)
        user++;
    for (uint32_t i = s->system_free_head; i != TINA__NIL && system <= s->pool_slots;
         i = s->msgs[i].link)
        system++;
    if (user != s->user_free || system != s->system_free)
        FAIL("pool: shard %u free lists hold %llu/%llu slots, counters say %u/%u", s->id,
             (unsigned long long)user, (unsigned long long)system, s->user_free, s->system_free);
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            queued += t->slots[i].mbox_count;
            if (t->slots[i].call_note < s->pool_slots) queued++;
        }
    }
    if (user + system + queued != s->pool_slots)
        FAIL("pool: shard %u free %llu + queued %llu != %u slots", s->id,
             (unsigned long long)(user + system), (unsigned long long)queued, s->pool_slots);
    return 0;
}

static int check_mailboxes(struct tina__shard *s, char *why, size_t why_size) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            const struct tina__slot *slot = &t->slots[i];
            uint32_t n = 0;
            for (uint32_t m = slot->mbox_head; m != TINA__NIL && n <= slot->mbox_count;
                 m = s->msgs[m].link)
                n++;
            if (n != slot->mbox_count)
                FAIL("mailbox: shard %u %s slot %u holds %u messages, its count says %u", s->id,
                     t->name, i, n, slot->mbox_count);
            if (slot->state == TINA__IDLE && (n > 0 || slot->fired_head != TINA__NIL))
                FAIL("mailbox: shard %u %s slot %u is parked with mail waiting", s->id, t->name, i);
        }
    }
    return 0;
}

static int check_generations(struct tina__shard *s, uint32_t *shadow, char *why,
                             size_t why_size) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++, shadow++) {
            uint32_t g = t->slots[i].generation;
            if (g == 0) FAIL("generation: shard %u %s slot %u is 0", s->id, t->name, i);
            if (g < *shadow && *shadow - g < (TINA_GENERATION_MASK >> 1)) /* wrap is fine */
                FAIL("generation: shard %u %s slot %u went from %u down to %u", s->id, t->name,
                     i, *shadow, g);
            *shadow = g;
        }
    }
    return 0;
}

static int check_channels(struct tina__shard *s, char *why, size_t why_size) {
    for (uint32_t from = 0; from < s->shard_count; from++) {
        if (from == s->id) continue;
        struct tina__ring *r = s->inbound[from];
        uint64_t head = atomic_load(&r->head), tail = atomic_load(&r->tail);
        uint64_t dropped = atomic_load(&r->consumer.dropped);
        if (head > tail || tail > r->producer.pending || dropped > head ||
            r->producer.pending - head > r->mask + 1)
            FAIL("channel %u->%u: head %llu tail %llu pending %llu dropped %llu", from, s->id,
                 (unsigned long long)head, (unsigned long long)tail,
                 (unsigned long long)r->producer.pending, (unsigned long long)dropped);
    }
    return 0;
}

static int check_liveness(struct tina__shard *s, uint64_t now, char *why, size_t why_size) {
    struct tina__wheel *w = &s->wheel;
    uint64_t late = 2 * w->resolution_ns;
    for (uint32_t b = 0; b <= w->mask; b++)
        for (uint32_t i = w->buckets[b]; i != TINA__NIL; i = w->timers[i].next)
            if (w->timers[i].deadline_ns + late < now)
                FAIL("liveness: shard %u timer %u (%s) is %llu ns overdue", s->id, i,
                     w->timers[i].kind == TINA__TIMER_CALL ? "a call's timeout" : "user",
                     (unsigned long long)(now - w->timers[i].deadline_ns));
    return 0;
}

/* Shadow generations, one per slot of every type of every shard. */
uint32_t *tina__sim_shadow_alloc(const struct tina_runtime *rt) {
    size_t slots = 0;
    for (uint32_t k = 0; k < rt->spec.type_count; k++) slots += rt->types[k].slots_per_shard;
    return calloc(slots * rt->shard_count + 1, sizeof(uint32_t));
}

int tina__sim_check(struct tina_runtime *rt, const struct tina__sim *sim, uint32_t *shadow,
                    char *why, size_t why_size) {
    size_t per_shard = 0;
    for (uint32_t k = 0; k < rt->spec.type_count; k++) per_shard += rt->types[k].slots_per_shard;
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__shard *s = rt->shards[id];
        /* The specific checks first: a wrong mailbox count also unbalances the pool. */
        if (check_mailboxes(s, why, why_size) || check_pool(s, why, why_size) ||
            check_generations(s, shadow + per_shard * id, why, why_size) ||
            check_channels(s, why, why_size) ||
            /* a shard that sat out the round (a stall) is late by design */
            (sim->ran[id] && check_liveness(s, sim->now_ns, why, why_size)))
            return 1;
    }
    if (sim->check && sim->check(sim->check_user, rt, why, why_size)) return 1;
    return 0;
}
