/*
 * tree.h -- one shard's instance of the supervision tree (tree.c).
 *
 * The boot spec declares groups (a parent, a strategy, a restart budget)
 * and static children, each in a group; every shard runs its own instance
 * over the static children placed on it.  The tree knows membership and
 * budgets and answers what a failure means (tina__tree_fail); it never
 * tears down or restarts anything -- the shard does (shard/supervise.c).
 */
#ifndef TINA_TREE_H
#define TINA_TREE_H

#include "base.h"

/* A static child as declared (the runtime's copy of the spec, args copied). */
struct tina__child {
    uint32_t type_id, shard, restart, args_size, group;
    uint8_t args[TINA_ARGS_MAX];
};

/* One shard's instance of a supervision group. */
struct tina__group {
    uint32_t parent;        /* group index, NIL for the root */
    uint8_t strategy;       /* tina_strategy */
    uint8_t implicit;       /* the root of a spec with no groups: the default budget */
    uint16_t reserved;
    uint32_t restart_max;
    uint32_t restart_used;  /* timestamps recorded, <= restart_max */
    uint32_t restart_next;  /* ring position of the oldest timestamp */
    uint32_t dynamic_max;   /* room for dynamic children */
    uint32_t dynamic_count; /* dynamic children alive or waiting to restart */
    uint64_t window_ns;
    uint64_t *restart_at;   /* restart_max timestamps (ring) */
};

struct tina__tree {
    struct tina__group *groups; /* group_count >= 1; 0 is the root */
    uint32_t group_count;
    uint32_t child_count;       /* static children of the spec */
    const struct tina__child *children;
    const uint32_t *child_slot; /* [child * stride]: this shard's slot of each child, or NIL */
    uint32_t stride;
};

/* The slot of static child c on this shard, or NIL if it is not placed here. */
static inline uint32_t tina__tree_slot(const struct tina__tree *tree, uint32_t c) {
    return tree->child_slot[(size_t)c * tree->stride];
}

/* Members.  A group's members, in order, are its static children (spec
 * order) and then its child groups (index order), each named by a key: a
 * child's key is its child index, a group's is child_count + its index. */
uint32_t tina__tree_child_key(const struct tina__tree *tree, uint32_t g, uint32_t c);
uint32_t tina__tree_group_key(const struct tina__tree *tree, uint32_t g, uint32_t h);
/* Whether member `key` is in the set a strategy acts on when member
 * `failed` fails (NIL: a dynamic child, only itself). */
int tina__tree_selected(uint8_t strategy, uint32_t key, uint32_t failed);

/* What a failure of member `key` of group g comes to: the group whose
 * strategy applies and for which failed member (NIL: the root itself
 * failed), after the groups that were over their budgets, in order. */
struct tina__verdict {
    uint32_t group;
    uint32_t key;
    uint32_t escalations;
    uint32_t escalated[TINA_GROUP_DEPTH_MAX + 1];
};
void tina__tree_fail(struct tina__tree *tree, uint32_t g, uint32_t key, uint64_t now,
                     struct tina__verdict *out);

/* After group g applied its strategy for `failed`: the groups restarted
 * with the set start with a fresh budget. */
void tina__tree_budgets_reset(struct tina__tree *tree, uint32_t g, uint32_t failed);

#endif /* TINA_TREE_H */
