/*
 * supervise.c -- the supervision tree: who restarts when an isolate ends.
 *
 * Each shard runs its own instance of the tree declared in the boot spec
 * (groups[] and each static child's group), over the static children
 * placed on that shard.  Supervision never needs a message slot: a restart
 * reuses the dead isolate's own slot (its generation already bumped, so the
 * new handle differs from every old one) and runs init with the spawn
 * arguments kept beside the slot.
 *
 * Members.  A group's members, in order, are its static children (spec
 * order) and then its child groups (index order).  A member is named by a
 * key: a child's key is its child index, a group's key is child_count + its
 * group index, so "the members after m" are the keys greater than m's.  A
 * static child belongs to member k of group g if k is the child itself or
 * the child group of g on the child's path to the root.
 *
 * When an isolate ends (tina__supervise_exit):
 *   - plainly spawned isolates (tina_spawn) are never restarted;
 *   - a dynamic child (tina_spawn_child) of a one-for-one group is restarted
 *     by its group like a static member, charging the group's budget; when
 *     a strategy or an escalation tears its group down, it ends with the
 *     group and is not restarted;
 *   - a temporary child, or a transient one that finished (done), stays
 *     dead: nothing else happens;
 *   - otherwise its group charges its restart budget (a ring of the last
 *     restart_max restart times: the (max+1)th within window_ns fails) and
 *     applies its strategy: one-for-one restarts the member, one-for-all
 *     every member, rest-for-one the member and the members after it.
 *     Live children in that set are torn down in reverse order (counted as
 *     `terminated`), then every non-temporary child in it is queued for a
 *     restart; budgets of groups inside the set start afresh.
 *   - a group over budget fails as a member of its parent, which charges
 *     its own budget and applies its own strategy; the root failing
 *     quarantines the shard (or aborts the process, by policy).
 * Escalation is a loop up the tree (depth <= 8), not a recursion.
 *
 * Restarts run in pass phase 3, in spec order, so a one-for-all group comes
 * back in the order it was first started; an init that fails again is a
 * crash and goes through the same decision, so a crash loop is bounded by
 * the budgets and costs at most one init per child per pass.
 */
#include <stdlib.h>

#include "supervise.h"

static uint32_t child_slot(const struct tina__shard *s, uint32_t c) {
    const struct tina_runtime *rt = s->rt;
    return rt->child_slot[(size_t)c * rt->shard_count + s->id];
}

static struct tina__type *child_type(const struct tina__shard *s, uint32_t c) {
    return &s->types[s->rt->children[c].type_id];
}

/* The key of the member of group g that holds child c, or NIL. */
static uint32_t member_key(const struct tina__shard *s, uint32_t g, uint32_t c) {
    uint32_t at = s->rt->children[c].group;
    if (at == g) return c;
    for (uint32_t depth = 0; at != TINA__NIL && depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        uint32_t parent = s->groups[at].parent;
        if (parent == g) return s->rt->spec.child_count + at;
        at = parent;
    }
    return TINA__NIL;
}

/* The key of the member of group g that holds group h (h strictly below
 * g), or NIL. */
static uint32_t group_member_key(const struct tina__shard *s, uint32_t g, uint32_t h) {
    for (uint32_t at = h, depth = 0; at != TINA__NIL && depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        uint32_t parent = s->groups[at].parent;
        if (parent == g) return s->rt->spec.child_count + at;
        at = parent;
    }
    return TINA__NIL;
}

/* Charge one restart; 0 if that exceeds the group's budget. */
static int budget_charge(struct tina__shard *s, struct tina__group *g) {
    uint64_t now = tina__shard_now(s);
    if (g->restart_used < g->restart_max) {
        g->restart_at[(g->restart_next + g->restart_used) % g->restart_max] = now;
        g->restart_used++;
        return 1;
    }
    uint64_t oldest = g->restart_at[g->restart_next];
    if (now - oldest < g->window_ns) return 0; /* restart_max + 1 inside the window */
    g->restart_at[g->restart_next] = now;
    g->restart_next = (g->restart_next + 1) % g->restart_max;
    return 1;
}

static void budget_reset(struct tina__group *g) {
    g->restart_used = 0;
    g->restart_next = 0;
}

static int key_selected(uint8_t strategy, uint32_t key, uint32_t failed) {
    if (failed == TINA__NIL) return 0; /* a dynamic child: only itself */
    if (strategy == TINA_ONE_FOR_ALL) return 1;
    if (strategy == TINA_REST_FOR_ONE) return key >= failed;
    return key == failed;
}

/* Tear down the dynamic children of every group below g inside the chosen
 * members.  O(slots): it happens on escalation only. */
static void dynamic_teardown(struct tina__shard *s, uint32_t g, uint8_t strategy, uint32_t failed) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->child == TINA__NIL || !(slot->child & TINA__DYNAMIC)) continue;
            if (slot->state == TINA__FREE || slot->state == TINA__EXITING) continue;
            uint32_t key = group_member_key(s, g, slot->child & ~TINA__DYNAMIC);
            if (key != TINA__NIL && key_selected(strategy, key, failed))
                tina__isolate_terminate(s, t, i); /* waiting to restart: it ends too */
        }
    }
}

/* Apply group g's strategy for its failed member `failed`: tear down the
 * live children of the chosen members (reverse order), queue restarts. */
static void strategy_apply(struct tina__shard *s, uint32_t g, uint32_t failed, uint32_t exiting) {
    const struct tina_runtime *rt = s->rt;
    uint8_t strategy = s->groups[g].strategy;
    s->supervisor_busy = 1;
    for (uint32_t c = rt->spec.child_count; c-- > 0;) {
        uint32_t i = child_slot(s, c);
        if (i == TINA__NIL || c == exiting) continue;
        uint32_t key = member_key(s, g, c);
        if (key == TINA__NIL || !key_selected(strategy, key, failed)) continue;
        struct tina__type *t = child_type(s, c);
        uint8_t state = t->slots[i].state;
        if (state == TINA__IDLE || state == TINA__READY || state == TINA__CALLING)
            tina__isolate_terminate(s, t, i);
    }
    /* Dynamic children of groups inside the set end with their group. */
    if (failed != TINA__NIL && (strategy != TINA_ONE_FOR_ONE || failed >= rt->spec.child_count))
        dynamic_teardown(s, g, strategy, failed);
    s->supervisor_busy = 0;
    /* Groups restarted with the set start with a fresh budget. */
    for (uint32_t h = 0; h < s->group_count; h++) {
        uint32_t key = group_member_key(s, g, h);
        if (key != TINA__NIL && key_selected(strategy, key, failed)) budget_reset(&s->groups[h]);
    }
}

/* A member of group g failed: charge, escalate while over budget, apply.
 * Returns 1 if g itself absorbed it (no escalation). */
static int member_failed(struct tina__shard *s, uint32_t g, uint32_t key, uint32_t exiting) {
    for (uint32_t depth = 0; depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        if (budget_charge(s, &s->groups[g])) {
            strategy_apply(s, g, key, exiting);
            return depth == 0;
        }
        s->stats.escalations++;
        tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu,
                        "group %u over its budget (%u restarts in %llu ms): %s", g,
                        s->groups[g].restart_max,
                        (unsigned long long)(s->groups[g].window_ns / 1000000u),
                        s->groups[g].parent == TINA__NIL ? "the root fails" : "escalated");
        if (s->groups[g].parent == TINA__NIL) {
            if (s->rt->spec.quarantine_abort) {
                s->trap_armed = 0; /* this abort is the policy, not a handler's fault */
                abort();
            }
            s->quarantine_pending = 1;
            return 0;
        }
        key = s->rt->spec.child_count + g;
        g = s->groups[g].parent;
    }
    TINA_ASSERT(0 && "group depth is validated");
    return 0;
}

static int restart_decide(struct tina__shard *s, struct tina__slot *slot, int how) {
    if (s->shutdown_seen || s->quarantined || s->quarantine_pending) return 0;
    if (slot->child == TINA__NIL) return 0; /* spawned, not supervised */
    int dynamic = (slot->child & TINA__DYNAMIC) != 0;
    /* Torn down by a strategy: restarted with the set unless temporary;
     * dynamic children end with their group. */
    if (s->supervisor_busy) return !dynamic && slot->restart != TINA_RESTART_TEMPORARY;
    if (slot->restart == TINA_RESTART_TEMPORARY) return 0;
    if (slot->restart == TINA_RESTART_TRANSIENT && how != TINA__EXIT_CRASHED) return 0;
    if (dynamic) /* its one-for-one group restarts it, unless the group failed */
        return member_failed(s, slot->child & ~TINA__DYNAMIC, TINA__NIL, TINA__NIL) &&
               !s->quarantine_pending;
    uint32_t c = slot->child;
    member_failed(s, s->rt->children[c].group, c, c);
    /* The failing child restarts unless its group escalated to a quarantine. */
    return !s->quarantine_pending;
}

int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                         int how, uint32_t reason) {
    (void)reason;
    struct tina__slot *slot = &t->slots[slot_index];
    int restart = restart_decide(s, slot, how);
    if (!restart && slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->groups[slot->child & ~TINA__DYNAMIC].dynamic_count--; /* room back */
    return restart;
}

static void restart_one(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    s->stats.restarts++;
    tina__log_event(s, TINA_LOG_INFO, tina_handle_make(s->id, t->id, i, t->slots[i].generation),
                    t->id, "restarted");
    (void)tina__isolate_start(s, t, i);
}

void tina__supervise_restart_pending(struct tina__shard *s) {
    if (s->restart_pending == 0) return;
    const struct tina_runtime *rt = s->rt;
    for (uint32_t k = 0; k < s->type_count; k++) { /* dynamic children */
        struct tina__type *t = &s->types[k];
        uint32_t i = t->restart.head;
        t->restart.head = t->restart.tail = TINA__NIL; /* a failing init queues again */
        while (i != TINA__NIL) {
            uint32_t next = t->slots[i].next;
            TINA_ASSERT(t->slots[i].state == TINA__RESTARTING);
            s->restart_pending--;
            restart_one(s, t, i);
            i = next;
        }
    }
    for (uint32_t c = 0; c < rt->spec.child_count; c++) {
        uint32_t i = child_slot(s, c);
        if (i == TINA__NIL) continue;
        struct tina__type *t = child_type(s, c);
        if (t->slots[i].state != TINA__RESTARTING) continue;
        s->restart_pending--;
        restart_one(s, t, i);
    }
}
