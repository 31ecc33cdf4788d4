/*
 * test_ring.c -- the SPSC channel on its own (tina/ring.h), without shards.
 *
 * Single-threaded tests pin down the index arithmetic: full at capacity,
 * batches stop at the wrap, nothing visible before publish, and a pass that
 * does not refresh sees nothing published after it looked.  The threaded
 * tests are in stress_channel.c, which also runs under ThreadSanitizer.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <string.h>

#include "ring.h"

#define SMALL 8u

static struct tina__ring ring;
static tina_msg slots[1024];

/* Reserve and commit: what a completed send does. */
static tina_msg *take(struct tina__ring *r) {
    tina_msg *m = ring_reserve(r);
    if (m) ring_commit(r);
    return m;
}

Test(ring, reserve_returns_null_at_capacity) {
    ring_init(&ring, slots, SMALL);
    for (uint32_t i = 0; i < SMALL; i++) cr_assert(ne(ptr, take(&ring), NULL), "slot %u", i);
    cr_assert(eq(ptr, take(&ring), NULL));
    cr_assert(eq(u64, atomic_load(&ring.producer.full), 1));
}

Test(ring, nothing_is_visible_before_publish) {
    ring_init(&ring, slots, SMALL);
    tina_msg *first;
    tina_msg *m = take(&ring);
    m->corr = 7;
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 0));
    cr_assert(eq(int, ring_readable(&ring), 0));
    cr_assert(eq(int, ring_publish(&ring), 1));
    cr_assert(eq(int, ring_publish(&ring), 0), "a second publish has nothing new");
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 1));
    cr_assert(eq(u64, first->corr, 7));
}

Test(ring, released_slots_are_reusable_and_batches_stop_at_the_wrap) {
    ring_init(&ring, slots, SMALL);
    tina_msg *first;
    for (uint32_t i = 0; i < 6; i++) take(&ring)->corr = i;
    ring_publish(&ring);
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 6));
    ring_release(&ring, 6);
    /* head = tail = 6: eight more fit, split by the wrap into 2 + 6. */
    for (uint32_t i = 0; i < SMALL; i++) {
        tina_msg *m = take(&ring);
        cr_assert(ne(ptr, m, NULL), "slot %u after release", i);
        m->corr = 100 + i;
    }
    cr_assert(eq(ptr, take(&ring), NULL));
    ring_publish(&ring);
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 2), "the batch ends at the wrap");
    cr_assert(eq(u64, first[0].corr, 100));
    cr_assert(eq(u64, first[1].corr, 101));
    ring_release(&ring, 2);
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 6));
    cr_assert(eq(u64, first[0].corr, 102));
    cr_assert(eq(u64, first[5].corr, 107));
    ring_release(&ring, 6);
    cr_assert(eq(int, ring_readable(&ring), 0));
}

Test(ring, without_refresh_a_pass_sees_only_what_it_looked_at) {
    ring_init(&ring, slots, SMALL);
    tina_msg *first;
    take(&ring)->corr = 1;
    ring_publish(&ring);
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 1));
    ring_release(&ring, 1);
    take(&ring)->corr = 2;
    ring_publish(&ring);
    cr_assert(eq(u32, ring_peek(&ring, &first, 0), 0), "published after the look: next pass");
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 1));
    cr_assert(eq(u64, first->corr, 2));
}

Test(ring, a_reserved_slot_is_not_taken_until_commit) {
    ring_init(&ring, slots, SMALL);
    tina_msg *first;
    tina_msg *a = ring_reserve(&ring);
    tina_msg *b = ring_reserve(&ring);
    cr_assert(eq(ptr, a, b), "an uncommitted reservation is handed out again");
    cr_assert(eq(int, ring_publish(&ring), 0), "nothing committed, nothing to publish");
    ring_commit(&ring);
    cr_assert(eq(int, ring_publish(&ring), 1));
    cr_assert(eq(u32, ring_peek(&ring, &first, 1), 1));
}
