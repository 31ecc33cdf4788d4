/*
 * spec.c -- boot spec validation: defaults, ranges, the shard count, and
 * the memory each shard's grand arena needs.
 *
 * Validation runs in full before anything is reserved: every field is
 * checked against its range, defaults fill zero fields, the shard count
 * and cores come from the topology (os/topology.c), and the exact bytes
 * each shard's grand arena needs are computed by the same function that
 * later carves the arena (shard/carve.c: tina__layout_compute, with the
 * memory map), so the figure reported is the figure used.  The first bad
 * field found is reported by a named TINA_ESPEC_* code and a message
 * naming the field and its value.
 */
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "os/os.h"
#include "runtime.h"
#include "shard/shard.h"

#define PAGE_BYTES 4096u

static int is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

#define FAIL(code, ...)                                                       \
    do {                                                                      \
        if (report) snprintf(report->message, sizeof(report->message), __VA_ARGS__); \
        return code;                                                          \
    } while (0)

static tina_result types_check(const tina_spec *s, tina_boot_report *report) {
    if (s->types == NULL || s->type_count == 0 || s->type_count > TINA_TYPE_COUNT_MAX)
        FAIL(TINA_ESPEC_TYPES, "types/type_count: %u types (need 1..255 and a types array)",
             s->type_count);
    for (uint32_t t = 0; t < s->type_count; t++) {
        const tina_type_spec *ts = &s->types[t];
        if (ts->name == NULL || ts->name[0] == 0 || strlen(ts->name) > 31)
            FAIL(TINA_ESPEC_TYPE_NAME, "types[%u].name: %s (need 1..31 chars)", t,
                 ts->name ? "over 31 chars or empty" : "NULL");
        if (ts->struct_size == 0 || ts->struct_size > (1u << 20))
            FAIL(TINA_ESPEC_STRUCT_SIZE, "types[%u].struct_size: %u (need 1..1048576)", t,
                 ts->struct_size);
        if (ts->slots_per_shard == 0 || ts->slots_per_shard > TINA_SLOT_COUNT_MAX)
            FAIL(TINA_ESPEC_SLOTS, "types[%u].slots_per_shard: %u (need 1..1048576)", t,
                 ts->slots_per_shard);
        if (ts->mailbox_capacity > (1u << 24))
            FAIL(TINA_ESPEC_MAILBOX, "types[%u].mailbox_capacity: %u (need 0..16777216)", t,
                 ts->mailbox_capacity);
        if (ts->weight > 1024)
            FAIL(TINA_ESPEC_WEIGHT, "types[%u].weight: %u (need 0..1024)", t, ts->weight);
        if (ts->handler == NULL)
            FAIL(TINA_ESPEC_HANDLER, "types[%u].handler: NULL (type '%s')", t, ts->name);
    }
    return TINA_OK;
}

static tina_result sizes_check(const tina_spec *s, tina_boot_report *report) {
    uint64_t pool = (uint64_t)s->pool_user_slots + s->pool_system_slots;
    if (s->pool_user_slots < 1 || s->pool_system_slots < 1 || pool >= (1u << 30))
        FAIL(TINA_ESPEC_POOL, "pool_user_slots/pool_system_slots: %u/%u (need >= 1 each, sum < 2^30)",
             s->pool_user_slots, s->pool_system_slots);
    if (!is_pow2(s->ring_slots) || s->ring_slots < 2 || s->ring_slots > (1u << 20))
        FAIL(TINA_ESPEC_RING, "ring_slots: %u (need a power of two 2..1048576)", s->ring_slots);
    for (uint32_t i = 0; i < s->ring_override_count; i++) {
        const tina_ring_override *o = &s->ring_overrides[i];
        if (!is_pow2(o->slots) || o->slots < 2 || o->slots > (1u << 20))
            FAIL(TINA_ESPEC_RING, "ring_overrides[%u].slots: %u (need a power of two 2..1048576)",
                 i, o->slots);
        if (o->from >= s->shard_count || o->to >= s->shard_count || o->from == o->to)
            FAIL(TINA_ESPEC_RING, "ring_overrides[%u]: from %u to %u (need distinct shards < %u)",
                 i, o->from, o->to, s->shard_count);
    }
    if (s->watchdog_policy > TINA_WATCHDOG_OFF || s->watchdog_ns < 1000000u)
        FAIL(TINA_ESPEC_WATCHDOG, "watchdog_policy/watchdog_ns: %u/%llu (need 0..2 and >= 1 ms)",
             s->watchdog_policy, (unsigned long long)s->watchdog_ns);
    if ((s->fd_slots != 0 && (s->fd_slots < 16 || s->fd_slots > 65536)) || s->io_buffers > 65536 ||
        s->io_buffer_bytes < 512 || s->io_buffer_bytes > (1u << 20) || s->io_backend > TINA_IO_EPOLL)
        FAIL(TINA_ESPEC_IO, "fd_slots/io_buffers/io_buffer_bytes/io_backend: %u/%u/%u/%u (need 0 or "
             "16..65536, 1..65536, 512..1048576, 0..2)", s->fd_slots, s->io_buffers,
             s->io_buffer_bytes, s->io_backend);
    if (s->monitor_slots >= (1u << 30))
        FAIL(TINA_ESPEC_MONITORS, "monitor_slots: %u (need 1..2^30-1)", s->monitor_slots);
    if (s->token_slots > (1u << 20))
        FAIL(TINA_ESPEC_TOKENS, "token_slots: %u (need 1..2^20)", s->token_slots);
    if (s->timer_slots < 1 || s->timer_slots >= (1u << 30))
        FAIL(TINA_ESPEC_TIMERS, "timer_slots: %u (need 1..2^30-1)", s->timer_slots);
    if (!is_pow2(s->timer_wheel_slots) || s->timer_wheel_slots > (1u << 24))
        FAIL(TINA_ESPEC_TIMERS, "timer_wheel_slots: %u (need a power of two up to 2^24)",
             s->timer_wheel_slots);
    if (s->timer_resolution_ns < 1000 || s->timer_resolution_ns > 1000000000ull)
        FAIL(TINA_ESPEC_TIMERS, "timer_resolution_ns: %llu (need 1000..1000000000)",
             (unsigned long long)s->timer_resolution_ns);
    if (!is_pow2(s->log_entries) || s->log_entries > (1u << 20))
        FAIL(TINA_ESPEC_LOG, "log_entries: %u (need a power of two up to 2^20)", s->log_entries);
    if (s->log_level > TINA_LOG_ERROR)
        FAIL(TINA_ESPEC_LOG, "log_level: %u (need 0 for the default, or 1..4)", s->log_level);
    if (s->base_budget < 1 || s->base_budget > (1u << 20))
        FAIL(TINA_ESPEC_BUDGET, "base_budget: %u (need 1..1048576)", s->base_budget);
    if (s->scratch_bytes < 64 || s->scratch_bytes > (64u << 20))
        FAIL(TINA_ESPEC_SCRATCH, "scratch_bytes: %u (need 64..67108864)", s->scratch_bytes);
    if (!is_pow2(s->inject_slots) || s->inject_slots < 2 || s->inject_slots > (1u << 20))
        FAIL(TINA_ESPEC_INJECT, "inject_slots: %u (need a power of two 2..1048576)",
             s->inject_slots);
    return TINA_OK;
}

/* Static children of one type on each shard must fit its slots. */
static tina_result children_fit(const tina_spec *s, uint32_t type, tina_boot_report *report) {
    uint32_t on_shard[TINA_SHARD_COUNT_MAX] = {0}, on_every = 0;
    for (uint32_t c = 0; c < s->child_count; c++) {
        const tina_child_spec *cs = &s->children[c];
        if (cs->type_id != type) continue;
        if (cs->shard == TINA_SHARD_EVERY) on_every++;
        else on_shard[cs->shard]++;
        uint32_t worst = on_every + (cs->shard == TINA_SHARD_EVERY ? 0 : on_shard[cs->shard]);
        for (uint32_t sh = 0; cs->shard == TINA_SHARD_EVERY && sh < s->shard_count; sh++)
            if (on_every + on_shard[sh] > worst) worst = on_every + on_shard[sh];
        if (worst > s->types[type].slots_per_shard)
            FAIL(TINA_ESPEC_TOO_MANY_CHILDREN,
                 "children[%u]: %u static children of type '%s' on one shard exceed "
                 "slots_per_shard %u", c, worst, s->types[type].name,
                 s->types[type].slots_per_shard);
    }
    return TINA_OK;
}

static tina_result groups_check(const tina_spec *s, tina_boot_report *report) {
    if (s->group_count > 0 && s->groups == NULL)
        FAIL(TINA_ESPEC_GROUP, "groups: NULL with group_count %u", s->group_count);
    if (s->group_count > 255)
        FAIL(TINA_ESPEC_GROUP, "group_count: %u (need 0..255)", s->group_count);
    for (uint32_t g = 0; g < s->group_count; g++) {
        const tina_group_spec *gs = &s->groups[g];
        if (g == 0 && gs->parent != TINA_GROUP_NONE)
            FAIL(TINA_ESPEC_GROUP, "groups[0].parent: %u (the root's parent is TINA_GROUP_NONE)",
                 gs->parent);
        if (g > 0 && gs->parent >= g)
            FAIL(TINA_ESPEC_GROUP,
                 "groups[%u].parent: %u (need an earlier group: a later or own index is a cycle)",
                 g, gs->parent);
        uint32_t depth = 0;
        for (uint32_t up = g; up != TINA_GROUP_NONE && depth <= TINA_GROUP_DEPTH_MAX; depth++)
            up = up == 0 ? TINA_GROUP_NONE : s->groups[up].parent;
        if (depth > TINA_GROUP_DEPTH_MAX)
            FAIL(TINA_ESPEC_GROUP, "groups[%u]: depth over %u", g, TINA_GROUP_DEPTH_MAX);
        if (gs->strategy > TINA_REST_FOR_ONE)
            FAIL(TINA_ESPEC_STRATEGY, "groups[%u].strategy: %u (need 0..2)", g, gs->strategy);
        if (gs->restart_max == 0 || gs->restart_max > TINA_GROUP_RESTARTS_MAX || gs->window_ns == 0)
            FAIL(TINA_ESPEC_GROUP_BUDGET,
                 "groups[%u].restart_max/window_ns: %u/%llu (need 1..%u and a window > 0)", g,
                 gs->restart_max, (unsigned long long)gs->window_ns, TINA_GROUP_RESTARTS_MAX);
        if (gs->dynamic_max > 0 && gs->strategy != TINA_ONE_FOR_ONE)
            FAIL(TINA_ESPEC_GROUP_DYNAMIC,
                 "groups[%u].dynamic_max: %u in a group whose strategy is %u (not one-for-one)", g,
                 gs->dynamic_max, gs->strategy);
    }
    return TINA_OK;
}

static tina_result children_check(const tina_spec *s, tina_boot_report *report) {
    if (s->child_count > 0 && s->children == NULL)
        FAIL(TINA_ESPEC_CHILD, "children: NULL with child_count %u", s->child_count);
    for (uint32_t c = 0; c < s->child_count; c++) {
        const tina_child_spec *cs = &s->children[c];
        if (cs->type_id >= s->type_count)
            FAIL(TINA_ESPEC_CHILD, "children[%u].type_id: %u (there are %u types)", c, cs->type_id,
                 s->type_count);
        if (cs->shard != TINA_SHARD_EVERY && cs->shard >= s->shard_count)
            FAIL(TINA_ESPEC_CHILD, "children[%u].shard: %u (there are %u shards)", c, cs->shard,
                 s->shard_count);
        if (cs->restart > TINA_RESTART_PERMANENT)
            FAIL(TINA_ESPEC_RESTART, "children[%u].restart: %u (need 0..2)", c, cs->restart);
        if (cs->args_size > TINA_ARGS_MAX || (cs->args_size > 0 && cs->args == NULL))
            FAIL(TINA_ESPEC_CHILD_ARGS, "children[%u].args_size: %u (need 0..64 and args)", c,
                 cs->args_size);
        if (cs->group >= (s->group_count ? s->group_count : 1))
            FAIL(TINA_ESPEC_CHILD_GROUP, "children[%u].group: %u (there are %u groups)", c,
                 cs->group, s->group_count ? s->group_count : 1);
    }
    for (uint32_t t = 0; t < s->type_count; t++) {
        tina_result r = children_fit(s, t, report);
        if (r != TINA_OK) return r;
    }
    return TINA_OK;
}

static void defaults_fill(tina_spec *s) {
#define DEFAULT(field, value) \
    if (s->field == 0) s->field = (value)
    DEFAULT(pool_user_slots, TINA__DEFAULT_POOL_USER);
    DEFAULT(pool_system_slots, TINA__DEFAULT_POOL_SYSTEM);
    DEFAULT(ring_slots, TINA__DEFAULT_RING);
    DEFAULT(timer_slots, TINA__DEFAULT_TIMERS);
    DEFAULT(timer_wheel_slots, TINA__DEFAULT_WHEEL);
    DEFAULT(timer_resolution_ns, TINA__DEFAULT_RESOLUTION_NS);
    DEFAULT(log_entries, TINA__DEFAULT_LOG);
    DEFAULT(base_budget, TINA__DEFAULT_BUDGET);
    DEFAULT(scratch_bytes, TINA__DEFAULT_SCRATCH);
    DEFAULT(idle_spin_ns, TINA__DEFAULT_SPIN_NS);
    DEFAULT(log_level, TINA_LOG_INFO);
    DEFAULT(shutdown_timeout_ns, TINA__DEFAULT_SHUTDOWN_NS);
    DEFAULT(monitor_slots, TINA__DEFAULT_MONITORS);
    DEFAULT(token_slots, TINA__DEFAULT_TOKENS);
    DEFAULT(watchdog_ns, TINA__DEFAULT_WATCHDOG_NS);
    DEFAULT(io_buffers, s->fd_slots ? s->fd_slots : 1);
    DEFAULT(io_buffer_bytes, TINA__DEFAULT_IO_BUFFER_BYTES);
    DEFAULT(inject_slots, TINA__INBOX_DEFAULT);
#undef DEFAULT
}

/*
 * Resolve defaults and the shard count, check every field, compute the
 * memory.  `out` receives the resolved spec; its types pointer still points
 * at the caller's array (tina_create copies what it keeps).
 */
tina_result tina__spec_resolve(const tina_spec *in, tina_spec *out, tina_boot_report *report,
                               int with_topology) {
    tina_result r;
    if (in == NULL) FAIL(TINA_ESPEC_NULL, "spec: NULL");
    *out = *in;
    defaults_fill(out);
    if ((r = types_check(out, report)) != TINA_OK) return r;

    uint32_t cores[TINA_SHARD_COUNT_MAX];
    uint32_t shards = out->shard_count, over = 0;
    char why[160] = {0};
    r = tina__topology_cores(out, with_topology, &shards, cores, &over, why, sizeof(why));
    if (r != TINA_OK) FAIL(r, "%s", why);
    out->shard_count = shards;
    if ((r = sizes_check(out, report)) != TINA_OK) return r;
    if ((r = groups_check(out, report)) != TINA_OK) return r;
    if ((r = children_check(out, report)) != TINA_OK) return r;

    uint64_t total = 0, largest = 0;
    for (uint32_t s = 0; s < shards; s++) {
        struct tina__layout l;
        tina__layout_compute(out, s, shards, &l);
        uint64_t mapped = l.total + 2u * PAGE_BYTES; /* guard pages */
        total += mapped + tina__io_bytes(out); /* I/O tables and buffers live beside the arena */
        if (l.total > largest) largest = l.total;
    }
    uint64_t limit = out->memory_limit_bytes ? out->memory_limit_bytes : tina__memory_limit();
    if (report) {
        report->memory_bytes = total;
        report->memory_per_shard_bytes = largest;
        report->memory_limit_bytes = limit;
        report->shard_count = shards;
        report->oversubscribed = over;
        memcpy(report->cores, cores, sizeof(uint32_t) * shards);
    }
    if (total > limit)
        FAIL(TINA_ESPEC_MEMORY, "memory: the spec needs %llu bytes, the limit is %llu bytes",
             (unsigned long long)total, (unsigned long long)limit);
    return TINA_OK;
}

tina_result tina_validate(const tina_spec *spec, tina_boot_report *report) {
    tina_spec resolved;
    if (report) memset(report, 0, sizeof(*report));
    return tina__spec_resolve(spec, &resolved, report, 1);
}
