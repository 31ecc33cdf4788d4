/*
 * tree.c -- the supervision tree: who is a member of what, and budgets.
 *
 * A static child belongs to member k of group g if k is the child itself
 * or the child group of g on the child's path to the root, so "the
 * members after m" are the keys greater than m's.
 *
 * A failing member charges its group's restart budget: a ring of the last
 * restart_max restart times, so the (max+1)th restart within window_ns
 * fails.  A group over budget fails as a member of its parent, which
 * charges its own budget; the root failing is the shard's failure.
 * Escalation is a loop up the tree (depth <= TINA_GROUP_DEPTH_MAX), not a
 * recursion.
 */
#include "tree.h"

uint32_t tina__tree_child_key(const struct tina__tree *tree, uint32_t g, uint32_t c) {
    uint32_t at = tree->children[c].group;
    if (at == g) return c;
    for (uint32_t depth = 0; at != TINA__NIL && depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        uint32_t parent = tree->groups[at].parent;
        if (parent == g) return tree->child_count + at;
        at = parent;
    }
    return TINA__NIL;
}

/* h strictly below g. */
uint32_t tina__tree_group_key(const struct tina__tree *tree, uint32_t g, uint32_t h) {
    for (uint32_t at = h, depth = 0; at != TINA__NIL && depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        uint32_t parent = tree->groups[at].parent;
        if (parent == g) return tree->child_count + at;
        at = parent;
    }
    return TINA__NIL;
}

int tina__tree_selected(uint8_t strategy, uint32_t key, uint32_t failed) {
    if (failed == TINA__NIL) return 0; /* a dynamic child: only itself */
    if (strategy == TINA_ONE_FOR_ALL) return 1;
    if (strategy == TINA_REST_FOR_ONE) return key >= failed;
    return key == failed;
}

/* Charge one restart; 0 if that exceeds the group's budget. */
static int budget_charge(struct tina__group *g, uint64_t now) {
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

void tina__tree_fail(struct tina__tree *tree, uint32_t g, uint32_t key, uint64_t now,
                     struct tina__verdict *out) {
    out->escalations = 0;
    for (uint32_t depth = 0; depth <= TINA_GROUP_DEPTH_MAX; depth++) {
        if (budget_charge(&tree->groups[g], now)) {
            out->group = g;
            out->key = key;
            return;
        }
        out->escalated[out->escalations++] = g;
        if (tree->groups[g].parent == TINA__NIL) { /* the root failed */
            out->group = TINA__NIL;
            out->key = TINA__NIL;
            return;
        }
        key = tree->child_count + g;
        g = tree->groups[g].parent;
    }
    TINA_ASSERT(0 && "group depth is validated");
}

void tina__tree_budgets_reset(struct tina__tree *tree, uint32_t g, uint32_t failed) {
    uint8_t strategy = tree->groups[g].strategy;
    for (uint32_t h = 0; h < tree->group_count; h++) {
        uint32_t key = tina__tree_group_key(tree, g, h);
        if (key != TINA__NIL && tina__tree_selected(strategy, key, failed)) {
            tree->groups[h].restart_used = 0;
            tree->groups[h].restart_next = 0;
        }
    }
}
