/*
 * carve.c -- the memory map of a shard's grand arena, and carving a shard
 * out of it at tina_create.
 *
 * The same function (tina__layout_compute) gives the bytes validation
 * reports and the offsets carving uses, so the figure reported is the
 * figure used.  The grand arena of shard s, in order (each piece 64-byte
 * aligned):
 *
 *   +------------------------+  shard_off
 *   | struct tina__shard     |
 *   +------------------------+  types_off
 *   | tina__type[types]      |
 *   +------------------------+  pool_off
 *   | message pool           |  (user + system) x 128 B
 *   +------------------------+  per type t:
 *   | slots[t]               |    slots_per_shard x 64 B
 *   | reach[t]               |    slots_per_shard x 16 B (lineage, tokens, monitors set, args size)
 *   | args[t]                |    slots_per_shard x 64 B
 *   | structs[t]             |    slots_per_shard x stride (16-aligned)
 *   +------------------------+  groups_off
 *   | supervision groups     |  this shard's instance of the tree, with
 *   | restart timestamps     |  restart_max x 8 B per group
 *   +------------------------+  monitors_off
 *   | monitor entries        |  monitor_slots x 64 B
 *   +------------------------+  tokens_off
 *   | reply token entries    |  token_slots x 40 B
 *   +------------------------+  timers_off
 *   | timer entries          |  timer_slots x 64 B
 *   | wheel buckets          |  wheel_slots x 4 B
 *   +------------------------+  log_off
 *   | log ring               |  log_entries x 128 B
 *   +------------------------+  ring_off[from], one per peer
 *   | inbound ring from peer |  320 B header + slots x 128 B
 *   +------------------------+  inject_off
 *   | inbox cells            |  inject_slots x 136 B (seq + envelope)
 *   +------------------------+  scratch_off
 *   | scratch                |
 *   +------------------------+  altstack_off
 *   | signal stack           |  64 KiB, for the trap boundary
 *   +------------------------+  total
 *
 * Each arena is mapped separately with a guard page on either side
 * (os/topology.c); a shard's I/O tables live beside it (io.c).
 */
#include <string.h>

#include "random.h"
#include "shard.h"

#define PAGE_BYTES 4096u

static size_t align64(size_t x) { return (x + 63u) & ~(size_t)63u; }

uint32_t tina__ring_slots(const tina_spec *spec, uint32_t from, uint32_t to) {
    uint32_t slots = spec->ring_slots;
    for (uint32_t i = 0; i < spec->ring_override_count; i++) {
        const tina_ring_override *o = &spec->ring_overrides[i];
        if (o->from == from && o->to == to) slots = o->slots;
    }
    return slots;
}

void tina__layout_compute(const tina_spec *spec, uint32_t shard, uint32_t shard_count,
                          struct tina__layout *l) {
    size_t at = 0;
    memset(l, 0, sizeof(*l));
    l->shard_off = at;
    at = align64(at + sizeof(struct tina__shard));
    l->types_off = at;
    at = align64(at + sizeof(struct tina__type) * spec->type_count);
    l->pool_off = at;
    at = align64(at + sizeof(tina_msg) * ((size_t)spec->pool_user_slots + spec->pool_system_slots));
    for (uint32_t t = 0; t < spec->type_count; t++) {
        const tina_type_spec *ts = &spec->types[t];
        size_t stride = ((size_t)ts->struct_size + 15u) & ~(size_t)15u;
        l->type_slots_off[t] = at;
        at = align64(at + sizeof(struct tina__slot) * ts->slots_per_shard);
        l->type_reach_off[t] = at;
        at = align64(at + sizeof(struct tina__reach) * ts->slots_per_shard);
        l->type_args_off[t] = at;
        at = align64(at + (size_t)TINA_ARGS_MAX * ts->slots_per_shard);
        l->type_structs_off[t] = at;
        at = align64(at + stride * ts->slots_per_shard);
    }
    l->groups_off = at;
    at = align64(at + sizeof(struct tina__group) * (spec->group_count ? spec->group_count : 1));
    l->group_times_off = at;
    for (uint32_t g = 0; g < spec->group_count; g++)
        at += sizeof(uint64_t) * spec->groups[g].restart_max;
    if (spec->group_count == 0) at += sizeof(uint64_t) * TINA__ROOT_RESTARTS; /* implicit root */
    at = align64(at);
    l->monitors_off = at;
    at = align64(at + sizeof(struct tina__monitor) * spec->monitor_slots);
    l->tokens_off = at;
    at = align64(at + sizeof(struct tina__token) * spec->token_slots);
    l->timers_off = at;
    at = align64(at + sizeof(struct tina__timer) * spec->timer_slots);
    l->buckets_off = at;
    at = align64(at + sizeof(uint32_t) * spec->timer_wheel_slots);
    l->log_off = at;
    at = align64(at + sizeof(struct tina__log_entry) * spec->log_entries);
    for (uint32_t from = 0; from < shard_count; from++) {
        if (from == shard) continue;
        l->ring_off[from] = at;
        at = align64(at + sizeof(struct tina__ring) +
                     sizeof(tina_msg) * (size_t)tina__ring_slots(spec, from, shard));
    }
    l->inject_off = at;
    at = align64(at + tina__inbox_bytes(spec->inject_slots));
    l->scratch_off = at;
    at = align64(at + spec->scratch_bytes);
    l->altstack_off = at;
    at = align64(at + TINA__ALTSTACK_BYTES);
    l->total = (at + PAGE_BYTES - 1) & ~(size_t)(PAGE_BYTES - 1);
}

static void type_carve(struct tina__shard *s, struct tina__type *t, const tina_type_spec *ts,
                       uint32_t id, uint8_t *base, const struct tina__layout *l) {
    const tina_spec *spec = &s->rt->spec;
    t->handler = ts->handler;
    t->init = ts->init;
    t->name = ts->name;
    t->id = id;
    t->struct_size = ts->struct_size;
    t->stride = (ts->struct_size + 15u) & ~15u;
    t->capacity = ts->slots_per_shard;
    t->mailbox_capacity = ts->mailbox_capacity ? ts->mailbox_capacity : TINA__DEFAULT_MAILBOX;
    t->budget = (ts->weight ? ts->weight : 1u) * spec->base_budget;
    t->handle_base = tina_handle_make(s->id, id, 0, 0);
    t->slots = (struct tina__slot *)(base + l->type_slots_off[id]);
    t->reach = (struct tina__reach *)(base + l->type_reach_off[id]);
    t->args = base + l->type_args_off[id];
    t->structs = base + l->type_structs_off[id];
    t->live = 0;
    t->ready.head = t->ready.tail = TINA__NIL;
    t->yielded.head = t->yielded.tail = TINA__NIL;
    t->restart.head = t->restart.tail = TINA__NIL;
    for (uint32_t i = 0; i < t->capacity; i++) {
        struct tina__slot *slot = &t->slots[i];
        memset(slot, 0, sizeof(*slot));
        slot->generation = 1;
        slot->state = TINA__FREE;
        slot->mbox_head = slot->mbox_tail = TINA__NIL;
        slot->timer_head = slot->call_note = slot->call_timer = TINA__NIL;
        slot->fired_head = slot->fired_tail = TINA__NIL;
        slot->downs = TINA__NIL;
        slot->child = TINA__NIL;
        slot->monitor_head = TINA__NIL;
        slot->next = i + 1 < t->capacity ? i + 1 : TINA__NIL;
        t->reach[i] = (struct tina__reach){.lineage = 0, .tokens = TINA__NIL, .watching = TINA__NIL};
    }
    t->free_head = 0;
}

/* This shard's instance of the supervision tree; budgets start empty. */
static void tree_carve(struct tina__shard *s, uint8_t *base, const struct tina__layout *l) {
    const struct tina_runtime *rt = s->rt;
    uint64_t *times = (uint64_t *)(base + l->group_times_off);
    struct tina__tree *tree = &s->tree;
    tree->groups = (struct tina__group *)(base + l->groups_off);
    tree->group_count = rt->group_count;
    tree->child_count = rt->spec.child_count;
    tree->children = rt->children;
    tree->child_slot = rt->child_slot + s->id;
    tree->stride = rt->shard_count;
    for (uint32_t g = 0; g < rt->group_count; g++) {
        const tina_group_spec *gs = &rt->groups[g];
        struct tina__group *grp = &tree->groups[g];
        memset(grp, 0, sizeof(*grp));
        grp->parent = gs->parent == TINA_GROUP_NONE ? TINA__NIL : gs->parent;
        grp->strategy = (uint8_t)gs->strategy;
        grp->implicit = rt->spec.group_count == 0;
        grp->restart_max = gs->restart_max;
        grp->dynamic_max = gs->dynamic_max;
        grp->window_ns = gs->window_ns;
        grp->restart_at = times;
        times += gs->restart_max;
    }
}

void tina__shard_carve(struct tina_runtime *rt, uint32_t id, const struct tina__layout *l) {
    uint8_t *base = rt->arenas[id].base;
    const tina_spec *spec = &rt->spec;
    struct tina__shard *s = (struct tina__shard *)(base + l->shard_off);
    memset(s, 0, sizeof(*s));
    s->rt = rt;
    s->id = id;
    s->shard_count = rt->shard_count;
    s->platform = rt->platform;
    s->ctx.shard = s;
    s->chan.transitions = rt->transitions;
    s->chan.id = id;
    s->corr_next = (uint64_t)id << 48;
    s->types = (struct tina__type *)(base + l->types_off);
    TINA_ASSERT(s->types == tina__shard_type(s, 0)); /* the send path's shortcut */
    s->type_count = spec->type_count;
    tina__pool_init(&s->pool, (tina_msg *)(base + l->pool_off), spec->pool_user_slots,
                    spec->pool_system_slots);
    for (uint32_t t = 0; t < spec->type_count; t++)
        type_carve(s, &s->types[t], &rt->types[t], t, base, l);
    tree_carve(s, base, l);
    tina__monitors_init(&s->monitors, (struct tina__monitor *)(base + l->monitors_off),
                        spec->monitor_slots);
    tina__tokens_init(&s->tokens, (struct tina__token *)(base + l->tokens_off), spec->token_slots);
    tina__wheel_init(&s->wheel, (struct tina__timer *)(base + l->timers_off),
                     (uint32_t *)(base + l->buckets_off), spec->timer_slots,
                     spec->timer_wheel_slots, spec->timer_resolution_ns);
    tina__log_init(&s->log, (struct tina__log_entry *)(base + l->log_off), spec->log_entries,
                   spec->log_level);
    for (uint32_t from = 0; from < rt->shard_count; from++) {
        if (from == id) continue;
        struct tina__ring *ring = (struct tina__ring *)(base + l->ring_off[from]);
        ring_init(ring, (tina_msg *)(ring + 1), tina__ring_slots(spec, from, id));
        s->chan.inbound[from] = ring;
    }
    tina__inbox_init(&s->inbox, (struct tina__inbox_cell *)(base + l->inject_off),
                     spec->inject_slots);
    s->callers = &rt->callers;
    s->scratch = base + l->scratch_off;
    s->altstack = base + l->altstack_off;
    s->scratch_bytes = spec->scratch_bytes;
    tina__rng_seed(s->rng, spec->seed ^ (0x5348415244000000ull + id)); /* "SHARD" domain */
    atomic_init(&s->snapshot_seq, 0);
    atomic_init(&s->sleeping, 0);
    TINA_ASSERT(l->altstack_off + TINA__ALTSTACK_BYTES <= rt->arenas[id].bytes);
    rt->shards[id] = s;
}
