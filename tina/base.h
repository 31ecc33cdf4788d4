/*
 * base.h -- what every file of the runtime shares: the public API, the
 * always-on invariant check, the "no index" value and the defaults a boot
 * spec's zero fields take.
 *
 * The runtime is in layers; each file includes only the layers below it:
 *
 *   base.h ring.h random.h slot.h pool.h          data and inline helpers
 *   timer monitor supervise log io trap layout    lower layers: own tables,
 *   inbox callers                                 return what happened as data
 *   platform.h channel.h world.h                  the seam, what shards share
 *   shard/                                        the heart: the pass
 *   os/ sim/                                      the two platforms
 *   runtime.c spec.c inject.c                     create, run, destroy; foreign threads
 *
 * Names shared between files carry the tina__ prefix.
 */
#ifndef TINA_BASE_H
#define TINA_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "tina.h"

#define TINA__NIL UINT32_MAX
#define TINA__NEVER UINT64_MAX /* a deadline that saturated: it never comes */

/* Always-on invariant check: prints expression, file, line and shard, and
 * ends the process.  TINA_ASSERT_DEBUG is compiled into the test and
 * simulator builds (TINA_DEBUG_CHECKS) and out of the release library. */
extern _Thread_local int tina__assert_shard; /* -1 outside shard threads */
void tina__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define TINA_ASSERT(e) ((e) ? (void)0 : tina__assert_fail(#e, __FILE__, __LINE__))
#ifdef TINA_DEBUG_CHECKS
#define TINA_ASSERT_DEBUG(e) TINA_ASSERT(e)
#else
#define TINA_ASSERT_DEBUG(e) ((void)0)
#endif

#define TINA__LIKELY(x) __builtin_expect(!!(x), 1)
#define TINA__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Defaults for zero fields of tina_spec. */
#define TINA__DEFAULT_MAILBOX 256u
#define TINA__DEFAULT_POOL_USER 4096u
#define TINA__DEFAULT_POOL_SYSTEM 1024u
#define TINA__DEFAULT_RING 1024u
#define TINA__DEFAULT_TIMERS 4096u
#define TINA__DEFAULT_WHEEL 4096u
#define TINA__DEFAULT_RESOLUTION_NS 100000u
#define TINA__DEFAULT_LOG 1024u
#define TINA__DEFAULT_BUDGET 64u
#define TINA__DEFAULT_SCRATCH 4096u
#define TINA__DEFAULT_SPIN_NS 50000u
#define TINA__DEFAULT_SHUTDOWN_NS 5000000000ull
#define TINA__DEFAULT_MONITORS 4096u
#define TINA__DEFAULT_TOKENS 1024u
#define TINA__DEFAULT_WATCHDOG_NS 1000000000ull
#define TINA__DEFAULT_IO_BUFFER_BYTES 16384u
/* The implicit root (a spec with no groups): 100 restarts a second, then the
 * shard is quarantined -- a child that can never start is a loop, not a
 * workload. */
#define TINA__ROOT_RESTARTS 100u
#define TINA__ROOT_WINDOW_NS 1000000000ull
#define TINA__ALTSTACK_BYTES (64u * 1024u) /* signal stack for the trap boundary */

/* now + delay, or TINA__NEVER if that does not fit (SPEC 13: a delay too
 * large to add to the clock means "never", never "now"). */
static inline uint64_t tina__deadline_after(uint64_t now, uint64_t delay_ns) {
    return delay_ns >= TINA__NEVER - now ? TINA__NEVER : now + delay_ns;
}

#endif /* TINA_BASE_H */
