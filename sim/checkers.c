/*
 * checkers.c -- built-in invariant checkers for simulated runs.
 *
 * Run between rounds (every check_every_rounds and at the end), when no
 * handler is running, so every structure is at rest.  Each returns 0 or
 * writes the violation into `why` and returns 1.  They walk whole
 * structures (O(pool + slots + timers + monitors + descriptors)), which is
 * why they are the simulator's and not the production loop's.  They read
 * the shard's real structures and recount them from scratch; a counter is
 * checked against a count, never against another counter it is derived
 * from.
 *
 *   lists       every slot is in exactly the lists its state implies: FREE
 *               on the free list, READY on the ready queue or the yield
 *               list, a dynamic child RESTARTING on its type's restart list,
 *               IDLE, CALLING and a static RESTARTING on none; no slot is
 *               EXITING between passes; each type's live count equals the
 *               slots found alive, the shard's pending restarts the slots
 *               found RESTARTING
 *   pool        per shard: the free lists hold exactly user_free and
 *               system_free slots, free + queued = pool size, and user
 *               traffic (send, call, reply) never sits in the system region
 *   mailboxes   each mailbox list is as long as its count, and holds no
 *               more user messages than its bound; an IDLE isolate has
 *               nothing queued
 *   generations never 0, never lower than last time (a shadow copy)
 *   timers      every armed entry is owned by a live isolate of that very
 *               generation and sits in its owner's list; a call's timeout
 *               guards its owner's pending call, an I/O timeout its op;
 *               live and free entries add up to the table
 *   monitors    a watching entry names a live target and is in that
 *               target's list; a DOWN waits in its live watcher's ring and
 *               every ring holds DOWNs only (its links both ways agree);
 *               the pending list holds PENDING and CANCEL entries; every
 *               watcher list is well linked and holds only entries of a
 *               live watcher of that slot, and every entry of a watcher
 *               here (WATCHING with no peer, REMOTE, DOWN) is on its
 *               watcher's list; the states add up
 *   descriptors every open descriptor has a live owner and is in its list
 *   channels    head <= tail <= pending, and the consumer's own counts of
 *               what it delivered and dropped add up to its head
 *   liveness    no timer overdue by more than two wheel ticks, so no caller
 *               is parked in a call past its timeout
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define FAIL(...)                               \
    do {                                        \
        snprintf(why, why_size, __VA_ARGS__);   \
        return 1;                               \
    } while (0)

static int check_pool(struct tina__shard *s, char *why, size_t why_size) {
    uint64_t user = 0, system = 0, queued = 0;
    for (uint32_t i = s->pool.user_head; i != TINA__NIL && user <= s->pool.slots; i = s->pool.msgs[i].reserved)
        user++;
    for (uint32_t i = s->pool.system_head; i != TINA__NIL && system <= s->pool.slots;
         i = s->pool.msgs[i].reserved)
        system++;
    if (user != s->pool.user_free || system != s->pool.system_free)
        FAIL("pool: shard %u free lists hold %llu/%llu slots, counters say %u/%u", s->id,
             (unsigned long long)user, (unsigned long long)system, s->pool.user_free, s->pool.system_free);
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            queued += t->slots[i].mbox_count;
            if (t->slots[i].call == TINA__CALL_WAITING || t->slots[i].call == TINA__CALL_REPLIED) queued++;
        }
    }
    if (user + system + queued != s->pool.slots)
        FAIL("pool: shard %u free %llu + queued %llu != %u slots", s->id,
             (unsigned long long)(user + system), (unsigned long long)queued, s->pool.slots);
    return 0;
}

static int check_mailboxes(struct tina__shard *s, char *why, size_t why_size) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            const struct tina__slot *slot = &t->slots[i];
            uint32_t n = 0;
            for (uint32_t m = slot->mbox_head; m != TINA__NIL && n <= slot->mbox_count;
                 m = s->pool.msgs[m].reserved)
                n++;
            if (n != slot->mbox_count)
                FAIL("mailbox: shard %u %s slot %u holds %u messages, its count says %u", s->id,
                     t->name, i, n, slot->mbox_count);
            uint32_t user = 0; /* user traffic (a handoff too) obeys the bound; notices do not */
            n = 0;
            for (uint32_t m = slot->mbox_head; m != TINA__NIL && n++ <= slot->mbox_count;
                 m = s->pool.msgs[m].reserved)
                user += s->pool.msgs[m].kind != TINA_MSG_SYSTEM || s->pool.msgs[m].tag == TINA_TAG_TRANSFER;
            if (user > t->mailbox_capacity)
                FAIL("mailbox: shard %u %s slot %u holds %u user messages, its bound is %u", s->id,
                     t->name, i, user, t->mailbox_capacity);
            if (slot->state == TINA__IDLE &&
                (n > 0 || slot->fired_head != TINA__NIL || slot->downs != TINA__NIL))
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
        struct tina__ring *r = s->chan.inbound[from];
        uint64_t head = atomic_load(&r->head), tail = atomic_load(&r->tail);
        uint64_t dropped = atomic_load(&r->consumer.dropped);
        uint64_t delivered = atomic_load(&r->consumer.delivered);
        if (head > tail || tail > r->producer.pending || dropped > head ||
            r->producer.pending - head > r->mask + 1)
            FAIL("channel %u->%u: head %llu tail %llu pending %llu dropped %llu", from, s->id,
                 (unsigned long long)head, (unsigned long long)tail,
                 (unsigned long long)r->producer.pending, (unsigned long long)dropped);
        /* Two counts the consumer keeps, against the index it moved. */
        if (delivered + dropped != head)
            FAIL("channel %u->%u: consumed %llu, but delivered %llu + dropped %llu", from, s->id,
                 (unsigned long long)head, (unsigned long long)delivered,
                 (unsigned long long)dropped);
    }
    return 0;
}

static int check_liveness(struct tina__shard *s, uint64_t now, char *why, size_t why_size) {
    struct tina__wheel *w = &s->wheel;
    uint64_t late = 2 * w->resolution_ns;
    for (uint32_t b = 0; b <= w->mask; b++)
        for (uint32_t i = w->buckets[b]; i != TINA__NIL; i = w->timers[i].next)
            if (now > w->timers[i].deadline_ns && now - w->timers[i].deadline_ns > late)
                FAIL("liveness: shard %u timer %u (%s) is %llu ns overdue", s->id, i,
                     w->timers[i].kind == TINA__TIMER_CALL ? "a call's timeout" : "user",
                     (unsigned long long)(now - w->timers[i].deadline_ns));
    return 0;
}

/* Mark every slot on list `l` (threaded by slot->next) in seen[] with bit
 * `mark`; a slot met twice, or a list longer than the type, is a fault. */
static int list_mark(const struct tina__type *t, uint32_t head, uint8_t *seen, uint8_t mark,
                     const char *name, uint32_t shard, char *why, size_t why_size) {
    uint32_t n = 0;
    for (uint32_t i = head; i != TINA__NIL; i = t->slots[i].next) {
        if (i >= t->capacity || ++n > t->capacity)
            FAIL("lists: shard %u %s %s list runs past its %u slots", shard, t->name, name,
                 t->capacity);
        if (seen[i])
            FAIL("lists: shard %u %s slot %u is on the %s list and another list (or twice)",
                 shard, t->name, i, name);
        seen[i] = mark;
    }
    return 0;
}

enum { ON_FREE = 1, ON_READY = 2, ON_YIELDED = 3, ON_RESTART = 4 };

static int check_lists(struct tina__shard *s, uint8_t *seen, char *why, size_t why_size) {
    uint32_t restarting = 0;
    for (uint32_t k = 0; k < s->type_count; k++) {
        const struct tina__type *t = &s->types[k];
        memset(seen, 0, t->capacity);
        if (list_mark(t, t->free_head, seen, ON_FREE, "free", s->id, why, why_size) ||
            list_mark(t, t->ready.head, seen, ON_READY, "ready", s->id, why, why_size) ||
            list_mark(t, t->yielded.head, seen, ON_YIELDED, "yield", s->id, why, why_size) ||
            list_mark(t, t->restart.head, seen, ON_RESTART, "restart", s->id, why, why_size))
            return 1;
        uint32_t alive = 0;
        for (uint32_t i = 0; i < t->capacity; i++) {
            const struct tina__slot *slot = &t->slots[i];
            int dynamic = slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC);
            uint8_t want;
            switch (slot->state) {
            case TINA__FREE: /* a static child's slot stays its own, off the free list */
                want = slot->child != TINA__NIL && !(slot->child & TINA__DYNAMIC) ? 0 : ON_FREE;
                break;
            case TINA__READY: want = seen[i] == ON_YIELDED ? ON_YIELDED : ON_READY; break;
            case TINA__IDLE: case TINA__CALLING: case TINA__RETIRED: want = 0; break;
            case TINA__RESTARTING: want = dynamic ? ON_RESTART : 0; restarting++; break;
            default:
                FAIL("lists: shard %u %s slot %u is in state %u between passes", s->id, t->name,
                     i, slot->state);
            }
            if (seen[i] != want)
                FAIL("lists: shard %u %s slot %u in state %u is on list %u, expected %u "
                     "(1 free, 2 ready, 3 yield, 4 restart)",
                     s->id, t->name, i, slot->state, seen[i], want);
            alive += tina__slot_live(slot);
        }
        if (alive != t->live)
            FAIL("lists: shard %u %s counts %u live isolates, %u slots are alive", s->id, t->name,
                 t->live, alive);
    }
    if (!s->quarantined && restarting != s->restart_pending)
        FAIL("lists: shard %u counts %u pending restarts, %u slots are RESTARTING", s->id,
             s->restart_pending, restarting);
    return 0;
}

/* User traffic never holds a system slot, and system notices never a user one. */
static int check_regions(struct tina__shard *s, char *why, size_t why_size) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        const struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            const struct tina__slot *slot = &t->slots[i];
            uint32_t n = 0;
            for (uint32_t m = slot->mbox_head; m != TINA__NIL && n++ <= slot->mbox_count;
                 m = s->pool.msgs[m].reserved) {
                /* a handoff is user traffic in a system envelope */
                int system = s->pool.msgs[m].kind == TINA_MSG_SYSTEM && s->pool.msgs[m].tag != TINA_TAG_TRANSFER;
                if (system != (m >= s->pool.user_slots))
                    FAIL("pool: shard %u %s slot %u holds a %s message (tag %#x) in the %s region",
                         s->id, t->name, i, system ? "system" : "user", s->pool.msgs[m].tag,
                         m >= s->pool.user_slots ? "system" : "user");
            }
            if ((slot->call == TINA__CALL_WAITING || slot->call == TINA__CALL_REPLIED) &&
                slot->call_note >= s->pool.user_slots)
                FAIL("pool: shard %u %s slot %u holds a reply in the system region", s->id,
                     t->name, i);
        }
    }
    return 0;
}

static struct tina__slot *slot_of_handle(struct tina__shard *s, tina_handle h) {
    uint32_t type = tina_handle_type(h), i = tina_handle_slot(h);
    if (tina_handle_shard(h) != s->id || type >= s->type_count || i >= s->types[type].capacity)
        return NULL;
    return &s->types[type].slots[i];
}

static int check_timers(struct tina__shard *s, char *why, size_t why_size) {
    struct tina__wheel *w = &s->wheel;
    uint32_t armed = 0, free_count = 0;
    for (uint32_t i = w->free_head; i != TINA__NIL && free_count <= w->capacity; i = w->timers[i].next)
        free_count++;
    for (uint32_t i = 0; i < w->capacity; i++) {
        const struct tina__timer *e = &w->timers[i];
        if (e->kind == 0) continue;
        armed++;
        struct tina__slot *owner = slot_of_handle(s, e->owner);
        if (owner == NULL || owner->generation != tina_handle_generation(e->owner) ||
            !tina__slot_live(owner))
            FAIL("timers: shard %u timer %u (kind %u) belongs to %#llx, which is not alive", s->id,
                 i, e->kind, (unsigned long long)e->owner);
        uint32_t n = 0, found = 0;
        for (uint32_t j = owner->timer_head; j != TINA__NIL && n++ <= w->capacity;
             j = w->timers[j].owner_next)
            found |= j == i;
        if (!found)
            FAIL("timers: shard %u timer %u is not in its owner's list", s->id, i);
        if (e->kind == TINA__TIMER_CALL &&
            (owner->state != TINA__CALLING || owner->call_timer != i || owner->call_corr != e->corr))
            FAIL("timers: shard %u call timeout %u does not guard its owner's pending call", s->id, i);
        if (e->kind == TINA__TIMER_IO &&
            (owner->call != TINA__CALL_IO || s->io == NULL ||
             s->io->ops[owner->call_note].timer != i))
            FAIL("timers: shard %u I/O timeout %u does not guard its owner's operation", s->id, i);
    }
    if (armed != w->live || armed + free_count != w->capacity)
        FAIL("timers: shard %u has %u armed and %u free entries of %u; live says %u", s->id,
             armed, free_count, w->capacity, w->live);
    return 0;
}

/* An entry of a watcher on this shard: on that watcher's list. */
static int monitor_is_mine(const struct tina__monitor *e) {
    return (e->state == TINA__MON_WATCHING && e->peer == TINA__NIL) ||
           e->state == TINA__MON_REMOTE || e->state == TINA__MON_DOWN;
}

/* Every watcher list: linked both ways, of entries of a live watcher of
 * that very slot; and every entry of a watcher here is on its list. */
static int check_watcher_lists(struct tina__shard *s, char *why, size_t why_size) {
    struct tina__monitors *m = &s->monitors;
    uint32_t listed = 0, mine = 0;
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            tina_handle h = tina__slot_handle(t, i, t->slots[i].generation);
            for (uint32_t j = t->reach[i].watching, prev = TINA__NIL; j != TINA__NIL;
                 prev = j, j = m->entries[j].mine_next) {
                if (j >= m->capacity || ++listed > m->capacity || m->entries[j].mine_prev != prev)
                    FAIL("monitors: shard %u %s slot %u has a broken watcher list", s->id,
                         t->name, i);
                const struct tina__monitor *e = &m->entries[j];
                if (!monitor_is_mine(e) || e->watcher != h || !tina__slot_live(&t->slots[i]))
                    FAIL("monitors: shard %u %s slot %u lists entry %u (state %u) of %#llx, "
                         "not its live watcher's", s->id, t->name, i, j, e->state,
                         (unsigned long long)e->watcher);
            }
        }
    }
    for (uint32_t i = 0; i < m->capacity; i++) {
        const struct tina__monitor *e = &m->entries[i];
        if (!monitor_is_mine(e)) continue;
        mine++;
        struct tina__slot *watcher = slot_of_handle(s, e->watcher);
        if (watcher == NULL)
            FAIL("monitors: shard %u entry %u has a watcher of another shard", s->id, i);
        const uint32_t *head = &s->types[tina_handle_type(e->watcher)]
                                    .reach[tina_handle_slot(e->watcher)].watching;
        if (e->mine_prev == TINA__NIL ? *head != i : m->entries[e->mine_prev].mine_next != i)
            FAIL("monitors: shard %u entry %u is not on its watcher's list", s->id, i);
    }
    if (listed != mine)
        FAIL("monitors: shard %u has %u entries of watchers here, their lists hold %u", s->id,
             mine, listed);
    return 0;
}

static int check_monitors(struct tina__shard *s, char *why, size_t why_size) {
    struct tina__monitors *m = &s->monitors;
    uint32_t free_count = 0, pending = 0, other = 0, in_rings = 0;
    for (uint32_t i = m->free_head; i != TINA__NIL && free_count <= m->capacity; i = m->entries[i].next)
        free_count++;
    for (uint32_t i = m->pending_head; i != TINA__NIL && pending <= m->capacity; i = m->entries[i].next) {
        if (m->entries[i].state != TINA__MON_PENDING && m->entries[i].state != TINA__MON_CANCEL)
            FAIL("monitors: shard %u has entry %u in state %u on its pending list", s->id, i,
                 m->entries[i].state);
        pending++;
    }
    for (uint32_t i = 0; i < m->capacity; i++) {
        const struct tina__monitor *e = &m->entries[i];
        if (e->state == TINA__MON_FREE || e->state == TINA__MON_PENDING ||
            e->state == TINA__MON_CANCEL)
            continue; /* counted by their lists */
        other++;
        if (e->state == 1) { /* watching: a live target's list holds it */
            struct tina__slot *target = slot_of_handle(s, e->target);
            if (target == NULL || target->generation != tina_handle_generation(e->target) ||
                !tina__slot_live(target))
                FAIL("monitors: shard %u entry %u watches %#llx, which is not alive", s->id, i,
                     (unsigned long long)e->target);
            uint32_t n = 0, found = 0;
            for (uint32_t j = target->monitor_head; j != TINA__NIL && n++ <= m->capacity;
                 j = m->entries[j].next)
                found |= j == i;
            if (!found) FAIL("monitors: shard %u entry %u is not in its target's list", s->id, i);
        } else if (e->state == 4) { /* a DOWN to deliver: its live watcher's ring holds it */
            struct tina__slot *watcher = slot_of_handle(s, e->watcher);
            if (watcher == NULL || watcher->generation != tina_handle_generation(e->watcher) ||
                !tina__slot_live(watcher) || watcher->downs == TINA__NIL)
                FAIL("monitors: shard %u holds a DOWN (entry %u) for %#llx, which is not alive "
                     "or has no DOWNs", s->id, i, (unsigned long long)e->watcher);
        } else if (e->state != 3) {
            FAIL("monitors: shard %u entry %u is in state %u", s->id, i, e->state);
        }
    }
    /* Every ring holds DOWN entries only, of its own watcher. */
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            uint32_t tail = t->slots[i].downs, n = 0;
            if (tail == TINA__NIL) continue;
            uint32_t j = tail;
            do {
                uint32_t prev = j;
                j = m->entries[j].next;
                if (j >= m->capacity || m->entries[j].state != 4 || ++n > m->capacity ||
                    m->entries[j].prev != prev)
                    FAIL("monitors: shard %u %s slot %u has a broken ring of DOWNs", s->id,
                         t->name, i);
            } while (j != tail);
            in_rings += n;
        }
    }
    uint32_t downs = 0;
    for (uint32_t i = 0; i < m->capacity; i++) downs += m->entries[i].state == 4;
    if (in_rings != downs)
        FAIL("monitors: shard %u has %u DOWN entries, its rings hold %u", s->id, downs, in_rings);
    if (free_count + pending + other != m->capacity)
        FAIL("monitors: shard %u has %u free, %u pending and %u other entries of %u", s->id,
             free_count, pending, other, m->capacity);
    return check_watcher_lists(s, why, why_size);
}

static int check_fds(struct tina__shard *s, char *why, size_t why_size) {
    struct tina__io *io = s->io;
    if (io == NULL) return 0;
    uint32_t open = 0;
    for (uint32_t k = 0; k < io->fd_count; k++) {
        const struct tina__fd *e = &io->fds[k];
        if (e->os_fd < 0) continue;
        open++;
        struct tina__slot *owner = slot_of_handle(s, e->owner);
        if (owner == NULL || owner->generation != tina_handle_generation(e->owner) ||
            !tina__slot_live(owner))
            FAIL("fds: shard %u descriptor %u is owned by %#llx, which is not alive", s->id, k,
                 (unsigned long long)e->owner);
    }
    if (open != io->fds_open)
        FAIL("fds: shard %u has %u descriptors open, fds_open says %u", s->id, open, io->fds_open);
    return 0;
}

static size_t per_shard_slots(const struct tina_runtime *rt) {
    size_t slots = 0;
    for (uint32_t k = 0; k < rt->spec.type_count; k++) slots += rt->types[k].slots_per_shard;
    return slots;
}

/* Shadow generations, one per slot of every type of every shard, then a
 * scratch byte per slot of the largest type (the lists checker's marks). */
uint32_t *tina__sim_shadow_alloc(const struct tina_runtime *rt) {
    size_t largest = 0;
    for (uint32_t k = 0; k < rt->spec.type_count; k++)
        if (rt->types[k].slots_per_shard > largest) largest = rt->types[k].slots_per_shard;
    return calloc(per_shard_slots(rt) * rt->shard_count + (largest + 3) / 4 + 1, sizeof(uint32_t));
}

int tina__sim_check(struct tina_runtime *rt, const struct tina__sim *sim, uint32_t *shadow,
                    char *why, size_t why_size) {
    size_t per_shard = per_shard_slots(rt);
    uint8_t *seen = (uint8_t *)(shadow + per_shard * rt->shard_count); /* after the shadow */
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__shard *s = rt->shards[id];
        /* The specific checks first: a wrong mailbox count also unbalances the pool. */
        if (check_lists(s, seen, why, why_size) || check_mailboxes(s, why, why_size) ||
            check_pool(s, why, why_size) || check_regions(s, why, why_size) ||
            check_timers(s, why, why_size) || check_monitors(s, why, why_size) ||
            check_fds(s, why, why_size) ||
            check_generations(s, shadow + per_shard * id, why, why_size) ||
            check_channels(s, why, why_size) ||
            /* a shard that sat out the round (a stall) is late by design */
            (sim->ran[id] && check_liveness(s, sim->now_ns, why, why_size)))
            return 1;
    }
    if (sim->check && sim->check(sim->check_user, rt, why, why_size)) return 1;
    return 0;
}
