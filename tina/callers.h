/*
 * callers.h -- the foreign caller table: threads that are not shards,
 * waiting in tina_inject_call for an isolate's answer (callers.c).
 *
 * A shard caller parks in its slot and its reply lands in a pool slot it
 * reserved; a foreign thread has neither, so the runtime keeps a fixed
 * table of TINA_INJECT_CALLERS_MAX entries (in struct tina_runtime,
 * allocated with it at tina_create: nothing is allocated per call).  An
 * entry is named by a caller handle that no shard owns -- shard 127, type
 * 0xff, slot = entry, generation = the entry's use -- which travels as the
 * request's `from`, so the callee answers it with an ordinary tina_reply.
 *
 * One 32-bit word per entry, generation << 4 | state, is both the state
 * machine and the futex the caller sleeps on:
 *
 *                take (caller, CAS)          answer (a shard, CAS)
 *   FREE(g) ---------------------> WAITING(g+1) -------> ANSWERING -> DONE
 *   ABANDONED(g) ----------------^    |   reply and result written,  |
 *                                     |   release store of DONE,      |
 *                timeout (caller, CAS)|   futex wake                  |
 *                                     v                               v
 *                                ABANDONED(g+1)      caller copies, stores FREE
 *                                     | a late answer (CAS): FREE, counted late
 *
 * The generation is bumped at every take, so an answer for an earlier use
 * of the entry (a reply that took longer than its caller's timeout) never
 * reaches its next user: it finds another generation and is counted late.
 * An abandoned entry whose answer never comes may be taken again at once.
 * When tina_run returns nothing will answer any more: every caller still
 * waiting is answered TINA_ESTATE (tina__callers_fail_all).
 *
 * The table knows no shard and no runtime: the shard answers through
 * tina__callers_answer, the injecting thread takes and waits.
 */
#ifndef TINA_CALLERS_H
#define TINA_CALLERS_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base.h"

#define TINA__FOREIGN_SHARD 127u  /* shards are < 64: no shard has this index */
#define TINA__FOREIGN_TYPE 0xffu

/* A caller handle: a foreign thread waiting in tina_inject_call. */
static inline bool tina__handle_is_foreign(tina_handle h) {
    return !tina_handle_is_address(h) && tina_handle_shard(h) == TINA__FOREIGN_SHARD &&
           tina_handle_type(h) == TINA__FOREIGN_TYPE;
}

enum tina__caller_state {
    TINA__CALLER_FREE = 0,
    TINA__CALLER_WAITING = 1,   /* its request may be in flight */
    TINA__CALLER_ANSWERING = 2, /* a shard is writing the answer */
    TINA__CALLER_DONE = 3,      /* answered: the caller takes it */
    TINA__CALLER_ABANDONED = 4  /* its caller timed out */
};

struct tina__caller {
    _Atomic uint32_t word; /* generation << 4 | state; the futex word */
    int32_t result;        /* the answerer, before DONE: TINA_OK or why the call failed */
    tina_msg reply;        /* the answerer, before DONE (TINA_OK only) */
};

struct tina__callers {
    struct tina__caller entries[TINA_INJECT_CALLERS_MAX];
};

void tina__callers_init(struct tina__callers *c);
/* A free (or abandoned) entry, taken: its caller handle, or
 * TINA_HANDLE_NONE if every entry is busy. */
tina_handle tina__callers_take(struct tina__callers *c);
/* The request of a taken entry was never sent: give the entry back. */
void tina__callers_cancel(struct tina__callers *c, tina_handle caller);
/* Wait, up to timeout_ns, for the answer: TINA_OK (the reply in *reply,
 * if not NULL), the failure the runtime answered, or TINA_ETIMEDOUT (the
 * entry is left abandoned).  Never called on a shard's thread. */
tina_result tina__callers_wait(struct tina__callers *c, tina_handle caller, uint64_t timeout_ns,
                               tina_msg *reply);
/* Answer a caller (any thread; a shard's): reply when result is TINA_OK.
 * Returns 1 if its caller waited for it, 0 if it was late (timed out, an
 * older use of the entry, a forged handle). */
int tina__callers_answer(struct tina__callers *c, tina_handle caller, const tina_msg *reply,
                         int32_t result);
/* Nothing will answer any more (tina_run has returned): every waiting
 * caller is answered with `result`. */
void tina__callers_fail_all(struct tina__callers *c, int32_t result);

#endif /* TINA_CALLERS_H */
