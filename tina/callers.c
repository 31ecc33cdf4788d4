/*
 * callers.c -- the foreign caller table (callers.h): taking an entry,
 * waiting on its futex with a deadline, answering it.
 *
 * Who writes what: the calling thread takes an entry (CAS to WAITING),
 * gives it back (FREE) once it has copied its answer, or abandons it (CAS
 * to ABANDONED) when its deadline passes; the shard that answers claims it
 * (CAS WAITING to ANSWERING), writes result and reply, and publishes DONE
 * with a release store that pairs with the waiter's acquire load, then
 * wakes the futex.  Every transition is a CAS on the one word, so a late
 * answer and a timeout cannot both win, and a wake-up that finds the word
 * changed is simply looked at again (futex waits are allowed spurious
 * returns).  The wait's deadline is CLOCK_MONOTONIC, each futex wait
 * given what is left of it.
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "callers.h"

#define STATE_BITS 4u
#define WORD(generation, state) ((uint32_t)(generation) << STATE_BITS | (uint32_t)(state))
#define WORD_GENERATION(w) ((w) >> STATE_BITS)
#define WORD_STATE(w) ((w) & ((1u << STATE_BITS) - 1u))
#define ANSWERING_WAIT_NS 1000000u /* a shard is writing the answer: moments */

_Static_assert(TINA_GENERATION_MASK >> (32u - STATE_BITS) == 0,
               "a handle's generation and the state fit the futex word");

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void word_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                          .tv_nsec = (long)(timeout_ns % 1000000000u)};
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

static void word_wake(_Atomic uint32_t *word) {
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* A generation is never 0 (a handle with generation 0 is no handle). */
static uint32_t generation_next(uint32_t generation) {
    generation = (generation + 1u) & TINA_GENERATION_MASK;
    return generation ? generation : 1u;
}

void tina__callers_init(struct tina__callers *c) {
    for (uint32_t i = 0; i < TINA_INJECT_CALLERS_MAX; i++)
        atomic_init(&c->entries[i].word, WORD(0, TINA__CALLER_FREE));
}

tina_handle tina__callers_take(struct tina__callers *c) {
    for (uint32_t i = 0; i < TINA_INJECT_CALLERS_MAX; i++) {
        _Atomic uint32_t *word = &c->entries[i].word;
        uint32_t w = atomic_load_explicit(word, memory_order_relaxed);
        while (WORD_STATE(w) == TINA__CALLER_FREE || WORD_STATE(w) == TINA__CALLER_ABANDONED) {
            uint32_t g = generation_next(WORD_GENERATION(w));
            /* Acquire pairs with the release that freed the entry (the last
             * caller done reading its reply, or a late answerer). */
            if (atomic_compare_exchange_weak_explicit(word, &w, WORD(g, TINA__CALLER_WAITING),
                                                      memory_order_acquire, memory_order_relaxed))
                return tina_handle_make(TINA__FOREIGN_SHARD, TINA__FOREIGN_TYPE, i, g);
        }
    }
    return TINA_HANDLE_NONE;
}

/* No request left, so no shard can answer; only tina__callers_fail_all
 * may have (tina_run returning meanwhile): let it finish, then free. */
void tina__callers_cancel(struct tina__callers *c, tina_handle caller) {
    struct tina__caller *e = &c->entries[tina_handle_slot(caller)];
    uint32_t g = tina_handle_generation(caller);
    uint32_t w;
    while ((w = atomic_load_explicit(&e->word, memory_order_acquire)) ==
           WORD(g, TINA__CALLER_ANSWERING))
        word_wait(&e->word, w, ANSWERING_WAIT_NS);
    TINA_ASSERT(w == WORD(g, TINA__CALLER_WAITING) || w == WORD(g, TINA__CALLER_DONE));
    /* Release pairs with the next taker's acquire. */
    atomic_store_explicit(&e->word, WORD(g, TINA__CALLER_FREE), memory_order_release);
}

tina_result tina__callers_wait(struct tina__callers *c, tina_handle caller, uint64_t timeout_ns,
                               tina_msg *reply) {
    struct tina__caller *e = &c->entries[tina_handle_slot(caller)];
    uint32_t g = tina_handle_generation(caller);
    uint64_t start = monotonic_ns();
    uint64_t deadline = tina__deadline_after(start, timeout_ns);
    for (;;) {
        /* Acquire pairs with the answerer's release store of DONE. */
        uint32_t w = atomic_load_explicit(&e->word, memory_order_acquire);
        TINA_ASSERT(WORD_GENERATION(w) == g);
        if (w == WORD(g, TINA__CALLER_DONE)) {
            tina_result r = (tina_result)e->result;
            if (r == TINA_OK && reply != NULL) *reply = e->reply;
            /* Release pairs with the next taker's acquire. */
            atomic_store_explicit(&e->word, WORD(g, TINA__CALLER_FREE), memory_order_release);
            return r;
        }
        uint64_t now = monotonic_ns();
        if (w == WORD(g, TINA__CALLER_WAITING) && now >= deadline) {
            if (atomic_compare_exchange_strong_explicit(&e->word, &w, WORD(g, TINA__CALLER_ABANDONED),
                                                        memory_order_relaxed, memory_order_relaxed))
                return TINA_ETIMEDOUT;
            continue; /* an answerer claimed it first: take its answer */
        }
        TINA_ASSERT(w == WORD(g, TINA__CALLER_WAITING) || w == WORD(g, TINA__CALLER_ANSWERING));
        uint64_t left = w == WORD(g, TINA__CALLER_WAITING) ? deadline - now : ANSWERING_WAIT_NS;
        word_wait(&e->word, w, left); /* returns early on a wake, a change or a signal */
    }
}

int tina__callers_answer(struct tina__callers *c, tina_handle caller, const tina_msg *reply,
                         int32_t result) {
    uint32_t i = tina_handle_slot(caller), g = tina_handle_generation(caller);
    if (i >= TINA_INJECT_CALLERS_MAX) return 0;
    struct tina__caller *e = &c->entries[i];
    uint32_t w = atomic_load_explicit(&e->word, memory_order_relaxed);
    for (;;) {
        if (WORD_GENERATION(w) != g) return 0; /* the entry was taken again since */
        if (WORD_STATE(w) == TINA__CALLER_ABANDONED) {
            /* Release pairs with the next taker's acquire. */
            if (atomic_compare_exchange_weak_explicit(&e->word, &w, WORD(g, TINA__CALLER_FREE),
                                                      memory_order_release, memory_order_relaxed))
                return 0;
            continue;
        }
        if (WORD_STATE(w) != TINA__CALLER_WAITING) return 0; /* answered already */
        if (atomic_compare_exchange_weak_explicit(&e->word, &w, WORD(g, TINA__CALLER_ANSWERING),
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    e->result = result;
    if (result == TINA_OK && reply != NULL) e->reply = *reply;
    /* Release pairs with the waiter's acquire load: the answer is written. */
    atomic_store_explicit(&e->word, WORD(g, TINA__CALLER_DONE), memory_order_release);
    word_wake(&e->word);
    return 1;
}

void tina__callers_fail_all(struct tina__callers *c, int32_t result) {
    for (uint32_t i = 0; i < TINA_INJECT_CALLERS_MAX; i++) {
        uint32_t w = atomic_load_explicit(&c->entries[i].word, memory_order_relaxed);
        if (WORD_STATE(w) != TINA__CALLER_WAITING) continue;
        tina_handle h = tina_handle_make(TINA__FOREIGN_SHARD, TINA__FOREIGN_TYPE, i,
                                         WORD_GENERATION(w));
        (void)tina__callers_answer(c, h, NULL, result);
    }
}
