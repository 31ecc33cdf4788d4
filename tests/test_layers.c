/*
 * test_layers.c -- the lower layers on their own, with no shard around them.
 *
 * The timer wheel, the supervision tree and the I/O tables keep tables of
 * their own and hand back what happened as data; the shard acts on it.
 * So each can be driven here directly: a wheel advanced by hand gives its
 * expiries back in order and wakes nobody, a tree says how far a failure
 * escalates, the I/O tables record a backend's completions.  The last test
 * shows that the test build has TINA_ASSERT_DEBUG compiled in.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "io.h"
#include "timer.h"
#include "tree.h"

enum { TIMERS = 8, WHEEL = 16 };
#define RES_NS 100u

struct wheel_fixture {
    struct tina__wheel w;
    struct tina__timer timers[TIMERS];
    uint32_t buckets[WHEEL];
    struct tina__slot owner;
};

static void fixture_init(struct wheel_fixture *f) {
    memset(f, 0, sizeof(*f));
    tina__wheel_init(&f->w, f->timers, f->buckets, TIMERS, WHEEL, RES_NS);
    f->owner.generation = 1;
    f->owner.timer_head = f->owner.fired_head = f->owner.fired_tail = TINA__NIL;
}

static const tina_handle OWNER = ((tina_handle)1 << 28) | 1u; /* shard 0, type 0, slot 1 */

Test(layers, the_wheel_hands_expiries_back_in_order_and_wakes_nobody) {
    struct wheel_fixture f;
    fixture_init(&f);
    static const uint64_t delays[] = {300, 100, 0, 200};
    for (int k = 0; k < 4; k++)
        cr_assert(ne(u32, tina__timer_add(&f.w, 0, &f.owner, OWNER, delays[k], 0,
                                          (uint16_t)(0x40 + delays[k] / 100), TINA__TIMER_USER, 0),
                     TINA__NIL));
    tina__timers_advance(&f.w, 50);
    uint32_t i = tina__timer_expired(&f.w);
    cr_assert(ne(u32, i, TINA__NIL), "a zero delay is due in this pass");
    cr_assert(eq(u16, f.timers[i].tag, 0x40));
    tina__timer_free(&f.w, &f.owner, i);
    cr_assert(eq(u32, tina__timer_expired(&f.w), TINA__NIL), "nothing else before its tick");
    tina__timers_advance(&f.w, 350);
    for (uint16_t want = 0x41; want <= 0x43; want++) {
        i = tina__timer_expired(&f.w);
        cr_assert(ne(u32, i, TINA__NIL));
        cr_assert(eq(u16, f.timers[i].tag, want), "expiries in deadline order");
        tina__timer_fire(&f.w, &f.owner, i);
    }
    cr_assert(eq(u32, tina__timer_expired(&f.w), TINA__NIL));
    cr_assert(eq(u32, f.owner.state, TINA__FREE), "the wheel never touches its owner's state");
    tina_msg m;
    for (uint16_t want = 0x41; want <= 0x43; want++) {
        cr_assert(eq(u32, tina__timer_deliver(&f.w, &f.owner, &m), TINA__NIL), "one-shot: freed");
        cr_assert(eq(u16, m.tag, want), "delivered in the order fired");
        cr_assert(eq(u8, m.kind, TINA_MSG_TIMER));
    }
    cr_assert(eq(u32, f.w.live, 0));
    cr_assert(eq(u32, f.owner.timer_head, TINA__NIL));
}

Test(layers, a_periodic_timer_is_rearmed_by_its_caller_and_cancel_names_the_kind) {
    struct wheel_fixture f;
    fixture_init(&f);
    uint32_t p = tina__timer_add(&f.w, 0, &f.owner, OWNER, 200, 200, 0x50, TINA__TIMER_USER, 0);
    uint32_t c = tina__timer_add(&f.w, 0, &f.owner, OWNER, 5000, 0, 0, TINA__TIMER_CALL, 7);
    tina__timers_advance(&f.w, 200);
    cr_assert(eq(u32, tina__timer_expired(&f.w), p));
    tina__timer_fire(&f.w, &f.owner, p);
    tina_msg m;
    cr_assert(eq(u32, tina__timer_deliver(&f.w, &f.owner, &m), p), "periodic: handed back");
    tina__timer_rearm(&f.w, p, 250);
    cr_assert(eq(u64, f.timers[p].deadline_ns, 400), "the next period, from the last deadline");
    uint32_t generation = f.timers[c].generation;
    cr_assert(eq(u8, tina__timer_cancel(&f.w, &f.owner, OWNER, c, generation), TINA__TIMER_CALL));
    cr_assert(eq(u8, tina__timer_cancel(&f.w, &f.owner, OWNER, c, generation), 0), "stale now");
    cr_assert(eq(u32, tina__timer_cancel_all(&f.w, &f.owner), 1), "one user timer was left");
    cr_assert(eq(u32, f.w.live, 0));
}

Test(layers, the_tree_says_how_far_a_failure_escalates) {
    uint64_t times[2];
    struct tina__group groups[2] = {
        {.parent = TINA__NIL, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1,
         .window_ns = 1000000000ull, .restart_at = &times[0]},
        {.parent = 0, .strategy = TINA_ONE_FOR_ALL, .restart_max = 1, .window_ns = 1000000000ull,
         .restart_at = &times[1]},
    };
    struct tina__child child = {.type_id = 0, .group = 1};
    uint32_t child_slot = 0;
    struct tina__tree tree = {.groups = groups, .group_count = 2, .child_count = 1,
                              .children = &child, .child_slot = &child_slot, .stride = 1};
    cr_assert(eq(u32, tina__tree_child_key(&tree, 1, 0), 0), "the child is member 0 of group 1");
    cr_assert(eq(u32, tina__tree_child_key(&tree, 0, 0), 2), "and, through group 1, of the root");
    struct tina__verdict v;
    tina__tree_fail(&tree, 1, 0, 10, &v);
    cr_assert(eq(u32, v.group, 1));
    cr_assert(eq(u32, v.escalations, 0), "group 1 had room");
    tina__tree_fail(&tree, 1, 0, 20, &v);
    cr_assert(eq(u32, v.escalations, 1));
    cr_assert(eq(u32, v.escalated[0], 1));
    cr_assert(eq(u32, v.group, 0), "the root absorbs it");
    cr_assert(eq(u32, v.key, 2), "as the failure of its member group 1");
    tina__tree_fail(&tree, 1, 0, 30, &v);
    cr_assert(eq(u32, v.escalations, 2));
    cr_assert(eq(u32, v.group, TINA__NIL), "the root itself failed");
    tina__tree_budgets_reset(&tree, 0, 2);
    cr_assert(eq(u32, groups[1].restart_used, 0), "group 1 restarts with the set: a fresh budget");
}

Test(layers, the_io_tables_record_a_backends_completions_as_data) {
    tina_type_spec type = {.name = "t", .slots_per_shard = 2};
    tina_spec spec = {.types = &type, .type_count = 1, .fd_slots = 16, .io_buffers = 4,
                      .io_buffer_bytes = 512};
    int err = 0;
    struct tina__type types[1] = {{.capacity = 2}};
    struct tina__io *io = tina__io_create(&spec, 3, types, 1, &err);
    cr_assert(not(eq(ptr, io, NULL)), "create: %d", err);
    tina_fd fd = tina__io_fd_install(io, 42, OWNER);
    cr_assert(eq(u32, (uint32_t)(fd >> 56), 3), "the shard's bits");
    cr_assert(eq(ptr, tina__io_fd_lookup(io, fd), &io->fds[tina__fd_slot(fd)]));
    uint32_t a = tina__io_op_alloc(io), b = tina__io_op_alloc(io);
    io->ops[a] = (struct tina__io_op){.owner = OWNER, .fd = fd, .op = TINA_IO_RECV, .buf = TINA__NIL};
    io->ops[b] = (struct tina__io_op){.owner = 0, .fd = fd, .op = TINA_IO_RECV,
                                      .buf = io->buf_stack[--io->buf_top]}; /* an orphan */
    tina__io_op_queue(io, a);
    tina__io_op_queue(io, b);
    cr_assert(eq(u32, io->inflight, 2));
    tina__io_done(io, b, -ECANCELED);
    tina__io_done(io, a, 7);
    cr_assert(eq(u32, io->done_count, 2));
    cr_assert(eq(u32, io->done[0], b), "recorded in the order reported");
    cr_assert(eq(u32, io->done[1], a));
    cr_assert(eq(i32, io->ops[a].result, 7));
    cr_assert(eq(u8, io->ops[a].state, TINA__OP_DONE));
    cr_assert(eq(u32, io->inflight, 0));
    cr_assert(eq(u32, io->buf_top, 4), "the orphan's buffer is back at once");
    tina__io_destroy(io);
}

/* The test build links libtina-checked.a: a debug-only invariant check
 * ends the process.  Freeing an entry still in the wheel breaks one. */
Test(layers, a_debug_assert_is_compiled_into_the_test_build, .signal = SIGABRT) {
    struct wheel_fixture f;
    fixture_init(&f);
    uint32_t i = tina__timer_add(&f.w, 0, &f.owner, OWNER, 1000, 0, 0x40, TINA__TIMER_USER, 0);
    tina__timer_free(&f.w, &f.owner, i); /* still linked in its bucket */
}
