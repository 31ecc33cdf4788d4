/*
 * supervise.c -- what happens when an isolate ends: the shard acting for
 * its supervision tree (the tree itself, membership and budgets, is tree.c).
 *
 * Each shard runs its own instance of the tree declared in the boot spec
 * (groups[] and each static child's group), over the static children
 * placed on that shard.  Supervision never needs a message slot: a restart
 * reuses the dead isolate's own slot (its generation already bumped, so the
 * new handle differs from every old one) and runs init with the spawn
 * arguments kept beside the slot.
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
 * Restarts run in pass phase 3, in spec order, so a one-for-all group comes
 * back in the order it was first started; an init that fails again is a
 * crash and goes through the same decision, so a crash loop is bounded by
 * the budgets and costs at most one init per child per pass.
 */
#include <stdlib.h>

#include "shard.h"

/* Tear down the dynamic children of every group below g inside the chosen
 * members.  O(slots): it happens on escalation only. */
static void dynamic_teardown(struct tina__shard *s, uint32_t g, uint8_t strategy, uint32_t failed) {
    for (uint32_t k = 0; k < s->type_count; k++) {
        struct tina__type *t = &s->types[k];
        for (uint32_t i = 0; i < t->capacity; i++) {
            struct tina__slot *slot = &t->slots[i];
            if (slot->child == TINA__NIL || !(slot->child & TINA__DYNAMIC)) continue;
            if (slot->state == TINA__FREE || slot->state == TINA__EXITING) continue;
            uint32_t key = tina__tree_group_key(&s->tree, g, slot->child & ~TINA__DYNAMIC);
            if (key != TINA__NIL && tina__tree_selected(strategy, key, failed))
                tina__isolate_terminate(s, t, i); /* waiting to restart: it ends too */
        }
    }
}

/* Apply group g's strategy for its failed member `failed`: tear down the
 * live children of the chosen members (reverse order), queue restarts. */
static void strategy_apply(struct tina__shard *s, uint32_t g, uint32_t failed, uint32_t exiting) {
    const struct tina__tree *tree = &s->tree;
    uint8_t strategy = tree->groups[g].strategy;
    s->supervisor_busy = 1;
    for (uint32_t c = tree->child_count; c-- > 0;) {
        uint32_t i = tina__tree_slot(tree, c);
        if (i == TINA__NIL || c == exiting) continue;
        uint32_t key = tina__tree_child_key(tree, g, c);
        if (key == TINA__NIL || !tina__tree_selected(strategy, key, failed)) continue;
        struct tina__type *t = &s->types[tree->children[c].type_id];
        if (tina__slot_live(&t->slots[i])) tina__isolate_terminate(s, t, i);
    }
    /* Dynamic children of groups inside the set end with their group. */
    if (failed != TINA__NIL && (strategy != TINA_ONE_FOR_ONE || failed >= tree->child_count))
        dynamic_teardown(s, g, strategy, failed);
    s->supervisor_busy = 0;
    tina__tree_budgets_reset(&s->tree, g, failed);
}

/* A member of group g failed: the tree says who absorbs it; escalations
 * are counted and said, the root failing quarantines the shard (or aborts
 * the process, by policy).  Returns 1 if g itself absorbed it. */
static int member_failed(struct tina__shard *s, uint32_t g, uint32_t key, uint32_t exiting) {
    struct tina__verdict v;
    tina__tree_fail(&s->tree, g, key, tina__shard_now(s), &v);
    for (uint32_t k = 0; k < v.escalations; k++) {
        const struct tina__group *over = &s->tree.groups[v.escalated[k]];
        s->stats.escalations++;
        tina__log_event(s, TINA_LOG_WARN, 0, 0xffffu,
                        "group %u over its budget (%u restarts in %llu ms): %s", v.escalated[k],
                        over->restart_max, (unsigned long long)(over->window_ns / 1000000u),
                        over->parent == TINA__NIL ? "the root fails" : "escalated");
    }
    if (v.group == TINA__NIL) {
        if (s->rt->spec.quarantine_abort) {
            s->trap.armed = 0; /* this abort is the policy, not a handler's fault */
            abort();
        }
        s->quarantine_pending = 1;
        tina__dispatch_cut(s); /* the batch running now, if any, ends with this handler */
        return 0;
    }
    strategy_apply(s, v.group, v.key, exiting);
    return v.escalations == 0;
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
    member_failed(s, s->tree.children[c].group, c, c);
    /* The failing child restarts unless its group escalated to a quarantine. */
    return !s->quarantine_pending;
}

int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                         int how) {
    struct tina__slot *slot = &t->slots[slot_index];
    int restart = restart_decide(s, slot, how);
    if (!restart && slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->tree.groups[slot->child & ~TINA__DYNAMIC].dynamic_count--; /* room back */
    return restart;
}

static void restart_one(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    s->stats.restarts++;
    tina__log_event(s, TINA_LOG_INFO, tina__slot_handle(t, i, t->slots[i].generation), t->id,
                    "restarted");
    (void)tina__isolate_start(s, t, i);
}

void tina__supervise_restart_pending(struct tina__shard *s) {
    if (s->restart_pending == 0) return;
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
    for (uint32_t c = 0; c < s->tree.child_count; c++) {
        uint32_t i = tina__tree_slot(&s->tree, c);
        if (i == TINA__NIL) continue;
        struct tina__type *t = &s->types[s->tree.children[c].type_id];
        if (t->slots[i].state != TINA__RESTARTING) continue;
        s->restart_pending--;
        restart_one(s, t, i);
    }
}
