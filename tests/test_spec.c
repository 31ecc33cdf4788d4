/*
 * test_spec.c -- boot-spec validation, the memory figure, and the
 * runtime's life cycle (create, run, stop, destroy).
 *
 * Every invalid field gives its own TINA_ESPEC_* code, and the report's
 * message names the field and the bad value.  Validation happens before
 * anything is reserved; the memory the spec needs is always reported.
 */
#include <pthread.h>
#include <sched.h>

#include "helpers.h" /* criterion.h first: parameterized.h after it */
#include <criterion/parameterized.h>

typedef struct plain {
    uint64_t unused;
} plain;

static tina_effect idle_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    return tina_receive();
}

/* A valid base: two shards, one type, one child, every array large enough
 * for the mutations below to stay in bounds. */
#define BASE_TYPES 256
#define BASE_CHILDREN 8

struct base {
    tina_spec spec;
    tina_type_spec types[BASE_TYPES];
    tina_child_spec children[BASE_CHILDREN];
    tina_ring_override overrides[2];
    tina_group_spec groups[3];
    uint32_t cores[2];
    uint8_t args[TINA_ARGS_MAX + 1];
};

static void base_init(struct base *b) {
    memset(b, 0, sizeof(*b));
    for (uint32_t t = 0; t < BASE_TYPES; t++)
        b->types[t] = (tina_type_spec)H_TYPE("base", plain, 4, 0, 1, NULL, idle_handler);
    for (uint32_t c = 0; c < BASE_CHILDREN; c++) b->children[c] = (tina_child_spec)H_CHILD(0, 0);
    b->spec = h_spec(b->types, 1, b->children, 1, 2);
    b->spec.memory_limit_bytes = 0;
}

/* ------------------------------------------------------------------------ */
/* One case per invalid field.                                                */
/* ------------------------------------------------------------------------ */

typedef void (*mutate_fn)(struct base *b);

struct spec_case {
    const char *label;
    mutate_fn mutate;
    int expected;
    const char *field; /* must appear in report.message */
    const char *value; /* must appear too, when not NULL */
};

#define MUT(name, ...) \
    static void name(struct base *b) { __VA_ARGS__; }

MUT(m_types_null, b->spec.types = NULL)
MUT(m_type_count_zero, b->spec.type_count = 0)
MUT(m_type_count_256, b->spec.type_count = 256)
MUT(m_name_null, b->types[0].name = NULL)
MUT(m_name_empty, b->types[0].name = "")
MUT(m_name_long, b->types[0].name = "an_isolate_type_name_of_32_chars")
MUT(m_struct_zero, b->types[0].struct_size = 0)
MUT(m_struct_big, b->types[0].struct_size = (1u << 20) + 1)
MUT(m_slots_zero, b->types[0].slots_per_shard = 0)
MUT(m_slots_big, b->types[0].slots_per_shard = TINA_SLOT_COUNT_MAX + 1)
MUT(m_mailbox_big, b->types[0].mailbox_capacity = UINT32_MAX)
MUT(m_weight_big, b->types[0].weight = 1025)
MUT(m_handler_null, b->types[0].handler = NULL)
MUT(m_second_type_bad, b->spec.type_count = 2; b->types[1].weight = 5000)
MUT(m_shards_big, b->spec.shard_count = TINA_SHARD_COUNT_MAX + 1)
MUT(m_cores_bad, b->cores[0] = 100000; b->cores[1] = 100001; b->spec.cores = b->cores;
    b->spec.core_count = 2)
MUT(m_pool_user_big, b->spec.pool_user_slots = UINT32_MAX)
MUT(m_pool_system_big, b->spec.pool_system_slots = UINT32_MAX)
MUT(m_ring_not_pow2, b->spec.ring_slots = 1000)
MUT(m_ring_one, b->spec.ring_slots = 1)
MUT(m_ring_big, b->spec.ring_slots = 1u << 21)
MUT(m_override_slots, b->overrides[0] = (tina_ring_override){0, 1, 3};
    b->spec.ring_overrides = b->overrides; b->spec.ring_override_count = 1)
MUT(m_override_shard, b->overrides[0] = (tina_ring_override){0, 5, 64};
    b->spec.ring_overrides = b->overrides; b->spec.ring_override_count = 1)
MUT(m_override_same, b->overrides[0] = (tina_ring_override){1, 1, 64};
    b->spec.ring_overrides = b->overrides; b->spec.ring_override_count = 1)
MUT(m_timer_slots_big, b->spec.timer_slots = UINT32_MAX)
MUT(m_wheel_not_pow2, b->spec.timer_wheel_slots = 1000)
MUT(m_resolution_big, b->spec.timer_resolution_ns = UINT64_MAX)
MUT(m_log_not_pow2, b->spec.log_entries = 1000)
MUT(m_child_type, b->children[0].type_id = 5)
MUT(m_child_shard, b->children[0].shard = 3)
MUT(m_children_null, b->spec.children = NULL)
MUT(m_child_args_big, b->children[0].args = b->args; b->children[0].args_size = TINA_ARGS_MAX + 1)
MUT(m_child_restart, b->children[0].restart = 3)
MUT(m_too_many_children, b->types[0].slots_per_shard = 2; b->spec.child_count = 3)
MUT(m_too_many_every, b->types[0].slots_per_shard = 1; b->spec.child_count = 2;
    b->children[0].shard = TINA_SHARD_EVERY; b->children[1].shard = TINA_SHARD_EVERY)
MUT(m_budget_big, b->spec.base_budget = UINT32_MAX)
MUT(m_scratch_big, b->spec.scratch_bytes = UINT32_MAX)
MUT(m_memory_small, b->spec.memory_limit_bytes = 4096)
/* A valid two-group tree, then one thing wrong with it. */
#define TREE                                                                                     \
    b->groups[0] = (tina_group_spec){.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE,    \
                                     .restart_max = 3, .window_ns = 1000000000ull};             \
    b->groups[1] = (tina_group_spec){.parent = 0, .strategy = TINA_ONE_FOR_ALL,                  \
                                     .restart_max = 3, .window_ns = 1000000000ull};             \
    b->spec.groups = b->groups;                                                                  \
    b->spec.group_count = 2;
MUT(m_group_root_parent, TREE b->groups[0].parent = 0)
MUT(m_group_cycle, TREE b->groups[1].parent = 1)
MUT(m_group_forward, TREE b->spec.group_count = 3; b->groups[2] = b->groups[1];
    b->groups[1].parent = 2)
MUT(m_group_strategy, TREE b->groups[1].strategy = 7)
MUT(m_group_budget_zero, TREE b->groups[1].restart_max = 0)
MUT(m_group_window_zero, TREE b->groups[1].window_ns = 0)
MUT(m_group_dynamic, TREE b->groups[1].dynamic_max = 4)
MUT(m_child_group, TREE b->children[0].group = 2)
MUT(m_groups_null, TREE b->spec.groups = NULL)
MUT(m_monitors_big, b->spec.monitor_slots = UINT32_MAX)
MUT(m_tokens_big, b->spec.token_slots = (1u << 20) + 1)
MUT(m_watchdog_policy, b->spec.watchdog_policy = 9)
MUT(m_fd_slots, b->spec.fd_slots = 5)
MUT(m_io_buffer_bytes, (b->spec.fd_slots = 64, b->spec.io_buffer_bytes = 100))
MUT(m_io_backend, (b->spec.fd_slots = 64, b->spec.io_backend = 7))
MUT(m_inject_slots, b->spec.inject_slots = 1000)
MUT(m_inject_slots_one, b->spec.inject_slots = 1)

#define CASE(label_, fn_, code_, field_, value_) \
    {.label = (label_), .mutate = (fn_), .expected = (code_), .field = (field_), .value = (value_)}

static const struct spec_case spec_cases[] = {
    CASE("types NULL", m_types_null, TINA_ESPEC_TYPES, "types", NULL),
    CASE("type_count 0", m_type_count_zero, TINA_ESPEC_TYPES, "type_count", "0"),
    CASE("type_count 256", m_type_count_256, TINA_ESPEC_TYPES, "type_count", "256"),
    CASE("name NULL", m_name_null, TINA_ESPEC_TYPE_NAME, "name", NULL),
    CASE("name empty", m_name_empty, TINA_ESPEC_TYPE_NAME, "name", NULL),
    CASE("name 32 chars", m_name_long, TINA_ESPEC_TYPE_NAME, "name", NULL),
    CASE("struct_size 0", m_struct_zero, TINA_ESPEC_STRUCT_SIZE, "struct_size", "0"),
    CASE("struct_size 1 MiB + 1", m_struct_big, TINA_ESPEC_STRUCT_SIZE, "struct_size", "1048577"),
    CASE("slots_per_shard 0", m_slots_zero, TINA_ESPEC_SLOTS, "slots_per_shard", "0"),
    CASE("slots_per_shard 2^20 + 1", m_slots_big, TINA_ESPEC_SLOTS, "slots_per_shard", "1048577"),
    CASE("mailbox_capacity max", m_mailbox_big, TINA_ESPEC_MAILBOX, "mailbox_capacity",
         "4294967295"),
    CASE("weight 1025", m_weight_big, TINA_ESPEC_WEIGHT, "weight", "1025"),
    CASE("handler NULL", m_handler_null, TINA_ESPEC_HANDLER, "handler", NULL),
    CASE("second type's weight", m_second_type_bad, TINA_ESPEC_WEIGHT, "weight", "5000"),
    CASE("shard_count 65", m_shards_big, TINA_ESPEC_SHARDS, "shard_count", "65"),
    CASE("cores outside the set", m_cores_bad, TINA_ESPEC_CORES, "cores", "100000"),
    CASE("pool_user_slots max", m_pool_user_big, TINA_ESPEC_POOL, "pool_user_slots", "4294967295"),
    CASE("pool_system_slots max", m_pool_system_big, TINA_ESPEC_POOL, "pool_system_slots",
         "4294967295"),
    CASE("ring_slots 1000", m_ring_not_pow2, TINA_ESPEC_RING, "ring_slots", "1000"),
    CASE("ring_slots 1", m_ring_one, TINA_ESPEC_RING, "ring_slots", "1"),
    CASE("ring_slots 2^21", m_ring_big, TINA_ESPEC_RING, "ring_slots", "2097152"),
    CASE("override slots 3", m_override_slots, TINA_ESPEC_RING, "ring_overrides", "3"),
    CASE("override to shard 5", m_override_shard, TINA_ESPEC_RING, "ring_overrides", "5"),
    CASE("override 1 -> 1", m_override_same, TINA_ESPEC_RING, "ring_overrides", NULL),
    CASE("timer_slots max", m_timer_slots_big, TINA_ESPEC_TIMERS, "timer_slots", "4294967295"),
    CASE("timer_wheel_slots 1000", m_wheel_not_pow2, TINA_ESPEC_TIMERS, "timer_wheel_slots", "1000"),
    CASE("timer_resolution_ns max", m_resolution_big, TINA_ESPEC_TIMERS, "timer_resolution_ns",
         "18446744073709551615"),
    CASE("log_entries 1000", m_log_not_pow2, TINA_ESPEC_LOG, "log_entries", "1000"),
    CASE("child type_id 5", m_child_type, TINA_ESPEC_CHILD, "type_id", "5"),
    CASE("child shard 3", m_child_shard, TINA_ESPEC_CHILD, "shard", "3"),
    CASE("children NULL", m_children_null, TINA_ESPEC_CHILD, "children", NULL),
    CASE("child args_size 65", m_child_args_big, TINA_ESPEC_CHILD_ARGS, "args_size", "65"),
    CASE("child restart 3", m_child_restart, TINA_ESPEC_RESTART, "restart", "3"),
    CASE("3 children, 2 slots", m_too_many_children, TINA_ESPEC_TOO_MANY_CHILDREN, "children",
         NULL),
    CASE("2 children on every shard, 1 slot", m_too_many_every, TINA_ESPEC_TOO_MANY_CHILDREN,
         "children", NULL),
    CASE("base_budget max", m_budget_big, TINA_ESPEC_BUDGET, "base_budget", "4294967295"),
    CASE("scratch_bytes max", m_scratch_big, TINA_ESPEC_SCRATCH, "scratch_bytes", "4294967295"),
    CASE("memory limit 4096", m_memory_small, TINA_ESPEC_MEMORY, "memory", "4096"),
    CASE("root with a parent", m_group_root_parent, TINA_ESPEC_GROUP, "groups[0].parent", "0"),
    CASE("group its own parent", m_group_cycle, TINA_ESPEC_GROUP, "groups[1].parent", "1"),
    CASE("group with a later parent", m_group_forward, TINA_ESPEC_GROUP, "groups[1].parent", "2"),
    CASE("unknown strategy", m_group_strategy, TINA_ESPEC_STRATEGY, "groups[1].strategy", "7"),
    CASE("zero budget", m_group_budget_zero, TINA_ESPEC_GROUP_BUDGET, "restart_max", "0"),
    CASE("zero window", m_group_window_zero, TINA_ESPEC_GROUP_BUDGET, "window_ns", "0"),
    CASE("dynamic children, one-for-all", m_group_dynamic, TINA_ESPEC_GROUP_DYNAMIC,
         "groups[1].dynamic_max", "4"),
    CASE("child in group 2 of 2", m_child_group, TINA_ESPEC_CHILD_GROUP, "children[0].group", "2"),
    CASE("groups NULL", m_groups_null, TINA_ESPEC_GROUP, "groups", NULL),
    CASE("monitor_slots max", m_monitors_big, TINA_ESPEC_MONITORS, "monitor_slots", "4294967295"),
    CASE("token_slots max", m_tokens_big, TINA_ESPEC_TOKENS, "token_slots", "1048577"),
    CASE("watchdog_policy 9", m_watchdog_policy, TINA_ESPEC_WATCHDOG, "watchdog_policy", "9"),
    CASE("fd_slots 5", m_fd_slots, TINA_ESPEC_IO, "fd_slots", "5/"),
    CASE("io_buffer_bytes 100", m_io_buffer_bytes, TINA_ESPEC_IO, "io_buffer_bytes", "/100/"),
    CASE("io_backend 7", m_io_backend, TINA_ESPEC_IO, "io_backend", "/7 "),
    CASE("inject_slots 1000", m_inject_slots, TINA_ESPEC_INJECT, "inject_slots", "1000"),
    CASE("inject_slots 1", m_inject_slots_one, TINA_ESPEC_INJECT, "inject_slots", "1 "),
};

/* Criterion may start each test in a fresh process image (with its own
 * address layout), so a parameter carries an index, never a pointer. */
static uint32_t spec_case_index[H_COUNT(spec_cases)];

ParameterizedTestParameters(spec, invalid_field_is_named) {
    for (uint32_t i = 0; i < H_COUNT(spec_cases); i++) spec_case_index[i] = i;
    return cr_make_param_array(uint32_t, spec_case_index, H_COUNT(spec_cases));
}

ParameterizedTest(uint32_t *index, spec, invalid_field_is_named, .timeout = 10) {
    cr_assert(lt(u32, *index, H_COUNT(spec_cases)));
    const struct spec_case *c = &spec_cases[*index];
    struct base b;
    base_init(&b);
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(&b.spec, &report), TINA_OK); /* the base is valid */
    c->mutate(&b);
    memset(&report, 0xa5, sizeof(report));
    tina_result r = tina_validate(&b.spec, &report);
    cr_assert(eq(int, (int)r, c->expected), "%s: got %s, expected %s (%s)", c->label,
              tina_result_name(r), tina_result_name(c->expected), report.message);
    cr_assert(not(eq(ptr, memchr(report.message, 0, sizeof(report.message)), NULL)),
              "%s: message is not terminated", c->label);
    cr_assert(not(eq(ptr, strstr(report.message, c->field), NULL)),
              "%s: message \"%s\" does not name %s", c->label, report.message, c->field);
    if (c->value != NULL)
        cr_assert(not(eq(ptr, strstr(report.message, c->value), NULL)),
                  "%s: message \"%s\" does not name the value %s", c->label, report.message,
                  c->value);
    if (c->expected == TINA_ESPEC_MEMORY)
        cr_assert(ge(u64, report.memory_bytes, 4097), "the needed figure is reported");

    /* tina_create refuses the same spec with the same code. */
    tina_runtime *rt = NULL;
    r = tina_create(&b.spec, &rt, &report);
    cr_assert(eq(int, (int)r, c->expected), "%s: tina_create gave %s", c->label,
              tina_result_name(r));
}

/* Every TINA_ESPEC_* code of the map has at least one case above. */
Test(spec, every_spec_error_has_a_case, .timeout = 10) {
#define H_SPEC_CODE(name, value, text) value,
    static const int all_codes[] = {TINA_RESULT_MAP(H_SPEC_CODE)};
#undef H_SPEC_CODE
    for (uint32_t i = 0; i < H_COUNT(all_codes); i++) {
        int code = all_codes[i];
        if (code > TINA_ESPEC_NULL || code == TINA_ESPEC_NULL || code <= TINA_EFD_STALE)
            continue; /* NULL: its own test; -60 and below are I/O, not spec */
        int found = 0;
        for (uint32_t j = 0; j < H_COUNT(spec_cases); j++) found |= spec_cases[j].expected == code;
        cr_assert(found, "%s has no case", tina_result_name(code));
    }
}

Test(spec, null_spec_is_refused, .timeout = 10) {
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(NULL, &report), TINA_ESPEC_NULL);
    cr_assert(ge(sz, strlen(report.message), 1));
    H_ASSERT_RESULT(tina_validate(NULL, NULL), TINA_ESPEC_NULL);
    tina_runtime *rt = NULL;
    H_ASSERT_RESULT(tina_create(NULL, &rt, &report), TINA_ESPEC_NULL);
}

/* ------------------------------------------------------------------------ */
/* Valid specs, boundaries and the memory figure.                             */
/* ------------------------------------------------------------------------ */

static uint64_t memory_of(const tina_spec *spec) {
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    tina_result r = tina_validate(spec, &report);
    cr_assert(eq(int, (int)r, TINA_OK), "%s: %s", tina_result_name(r), report.message);
    return report.memory_bytes;
}

Test(spec, valid_spec_reports_memory_and_placement, .timeout = 10) {
    struct base b;
    base_init(&b);
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(&b.spec, &report), TINA_OK);
    cr_assert(ge(u64, report.memory_bytes, 1));
    cr_assert(ge(u64, report.memory_per_shard_bytes, 1));
    cr_assert(ge(u64, report.memory_bytes, 2 * report.memory_per_shard_bytes));
    cr_assert(ge(u64, report.memory_limit_bytes, report.memory_bytes + 1));
    cr_assert(eq(u32, report.shard_count, 2));
    /* The validator needs no report. */
    H_ASSERT_RESULT(tina_validate(&b.spec, NULL), TINA_OK);
}

Test(spec, automatic_shard_count_is_resolved, .timeout = 10) {
    struct base b;
    base_init(&b);
    b.spec.shard_count = 0;
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(&b.spec, &report), TINA_OK);
    cr_assert(ge(u32, report.shard_count, 1));
    cr_assert(le(u32, report.shard_count, TINA_SHARD_COUNT_MAX));
}

Test(spec, boundary_values_are_valid, .timeout = 10) {
    struct base b;
    base_init(&b);
    b.types[0].name = "a_type_name_of_exactly_31_chars";
    b.types[0].struct_size = 1u << 20;
    b.types[0].weight = 1024;
    b.types[0].mailbox_capacity = 1;
    b.spec.ring_slots = 2;
    b.children[0].args = b.args;
    b.children[0].args_size = TINA_ARGS_MAX;
    b.children[0].restart = TINA_RESTART_PERMANENT;
    b.types[0].slots_per_shard = 2;
    b.spec.child_count = 2; /* as many children as slots */
    b.overrides[0] = (tina_ring_override){1, 0, 1u << 20};
    b.spec.ring_overrides = b.overrides;
    b.spec.ring_override_count = 1;
    (void)memory_of(&b.spec);
    b.spec.type_count = 255;
    (void)memory_of(&b.spec);
}

Test(spec, children_count_against_slots_per_shard, .timeout = 10) {
    /* One slot per shard and one child on each shard: each shard holds one. */
    struct base b;
    base_init(&b);
    b.types[0].slots_per_shard = 1;
    b.spec.child_count = 2;
    b.children[0].shard = 0;
    b.children[1].shard = 1;
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    tina_result r = tina_validate(&b.spec, &report);
    cr_assert(eq(int, (int)r, TINA_OK), "%s: %s", tina_result_name(r), report.message);
}

Test(spec, memory_grows_with_what_the_spec_asks_for, .timeout = 10) {
    struct base b;
    base_init(&b);
    uint64_t base = memory_of(&b.spec);
    b.spec.pool_user_slots += 1024;
    uint64_t more_pool = memory_of(&b.spec);
    cr_assert(ge(u64, more_pool - base, 2ull * 1024 * sizeof(tina_msg)), "two shards' pools");
    b.types[0].slots_per_shard += 1000;
    uint64_t more_slots = memory_of(&b.spec);
    cr_assert(ge(u64, more_slots - more_pool, 2ull * 1000 * sizeof(plain)));
    b.spec.ring_slots *= 4;
    uint64_t more_rings = memory_of(&b.spec);
    cr_assert(ge(u64, more_rings, more_slots + 1));
}

Test(spec, memory_limit_is_checked_against_the_reported_figure, .timeout = 10) {
    struct base b;
    base_init(&b);
    uint64_t need = memory_of(&b.spec);
    b.spec.memory_limit_bytes = need;
    tina_boot_report report;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(&b.spec, &report), TINA_OK);
    cr_assert(eq(u64, report.memory_limit_bytes, need));
    b.spec.memory_limit_bytes = need - 1;
    memset(&report, 0, sizeof(report));
    H_ASSERT_RESULT(tina_validate(&b.spec, &report), TINA_ESPEC_MEMORY);
    cr_assert(eq(u64, report.memory_bytes, need), "refused with the figure it needs");
    char figure[32];
    snprintf(figure, sizeof(figure), "%" PRIu64, need);
    cr_assert(not(eq(ptr, strstr(report.message, figure), NULL)), "message \"%s\" lacks %s",
              report.message, figure);
}

/* ------------------------------------------------------------------------ */
/* Life cycle.                                                                */
/* ------------------------------------------------------------------------ */

static int stopper_calls;

static tina_effect stopper(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    stopper_calls++;
    tina_request_stop(ctx);
    return tina_receive();
}

Test(lifecycle, create_destroy_without_run, .timeout = 30) {
    struct base b;
    base_init(&b);
    tina_runtime *rt = h_create(&b.spec);
    cr_assert(eq(u32, tina_runtime_shard_count(rt), 2));
    tina_shard_stats s = h_stats(rt, 0);
    cr_assert(eq(u64, s.pool_user_free, b.spec.pool_user_slots));
    cr_assert(eq(u64, s.passes, 0));
    tina_destroy(rt);
}

Test(lifecycle, run_twice_is_refused_and_bad_queries_are_einval, .timeout = 30) {
    struct base b;
    base_init(&b);
    b.types[0].init = h_kick_init;
    b.types[0].handler = stopper;
    tina_runtime *rt = h_boot_and_run(&b.spec);
    h_assert_no_failures();
    cr_assert(eq(int, stopper_calls, 1));
    H_ASSERT_RESULT(tina_run(rt), TINA_ESTATE);
    tina_shard_stats s;
    tina_channel_stats c;
    H_ASSERT_RESULT(tina_stats(rt, 2, &s), TINA_EINVAL);
    H_ASSERT_RESULT(tina_stats(rt, 1000, &s), TINA_EINVAL);
    H_ASSERT_RESULT(tina_stats_channel(rt, 0, 0, &c), TINA_EINVAL);
    H_ASSERT_RESULT(tina_stats_channel(rt, 0, 2, &c), TINA_EINVAL);
    H_ASSERT_RESULT(tina_stats_channel(rt, 5, 0, &c), TINA_EINVAL);
    H_ASSERT_RESULT(tina_stats_channel(rt, 1, 0, &c), TINA_OK);
    cr_assert(eq(u64, h_stats(rt, 0).dispatched, 1));
    tina_destroy(rt);
}

/* tina_stop from another thread, while every isolate is parked. */
static atomic_int parked_started;
static tina_runtime *stop_rt;

static tina_effect parked(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(ctx);
    H_UNUSED(msg);
    atomic_fetch_add(&parked_started, 1);
    return tina_receive();
}

static void *stop_thread(void *arg) {
    H_UNUSED(arg);
    while (atomic_load(&parked_started) < 2) sched_yield();
    tina_stop(stop_rt);
    return NULL;
}

Test(lifecycle, stop_from_another_thread_ends_an_idle_run, .timeout = 30) {
    struct base b;
    base_init(&b);
    b.types[0].init = h_kick_init;
    b.types[0].handler = parked;
    b.children[0].shard = TINA_SHARD_EVERY;
    stop_rt = h_create(&b.spec);
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, stop_thread, NULL), 0));
    h_run(stop_rt);
    pthread_join(th, NULL);
    cr_assert(eq(int, atomic_load(&parked_started), 2));
    cr_assert(eq(u64, h_stats(stop_rt, 0).dispatched, 1));
    cr_assert(eq(u64, h_stats(stop_rt, 1).dispatched, 1));
    tina_destroy(stop_rt);
}

Test(spec, the_memory_figure_counts_io_tables_and_buffers, .timeout = 10) {
    tina_boot_report without, with;
    tina_type_spec types[] = {H_TYPE("t", uint64_t, 1, 16, 1, NULL, idle_handler)};
    tina_spec spec = h_spec(types, 1, NULL, 0, 1);
    H_ASSERT_RESULT(tina_validate(&spec, &without), TINA_OK);
    spec.fd_slots = 1024;
    spec.io_buffer_bytes = 65536;
    H_ASSERT_RESULT(tina_validate(&spec, &with), TINA_OK);
    cr_assert(ge(u64, with.memory_bytes - without.memory_bytes, 1024ull * 65536 * 2),
              "reactor and provided buffers are counted");
    spec.memory_limit_bytes = with.memory_bytes - 1;
    H_ASSERT_RESULT(tina_validate(&spec, &with), TINA_ESPEC_MEMORY);
}
