/*
 * context.c -- what a handler asks of its context (who am I, who sent
 * this, the clock, randomness, scratch memory, the log), and the shard's
 * statistics: its own counters, gauges read from its tables, and the
 * seqlock-published copy other threads read (tina_stats).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "random.h"
#include "shard.h"

static void stats_gauges(struct tina__shard *s) {
    uint64_t live = 0;
    for (uint32_t t = 0; t < s->type_count; t++) live += s->types[t].live;
    s->stats.live = live;
    s->stats.pool_user_free = s->pool.user_free;
    s->stats.pool_system_free = s->pool.system_free;
    s->stats.timers_live = s->wheel.live;
    s->stats.fds_open = s->io != NULL ? s->io->fds_open : 0;
    s->stats.stalls = atomic_load_explicit(&s->stalls, memory_order_relaxed);
    s->stats.io_recv_starved = s->io != NULL ? s->io->recv_starved : 0;
    s->stats.crash_trapped = s->trap.trapped;
    s->stats.crash_segv = s->trap.segv;
    s->stats.crash_bus = s->trap.bus;
    s->stats.crash_fpe = s->trap.fpe;
    s->stats.crash_ill = s->trap.ill;
    s->stats.crash_abort = s->trap.abrt;
    s->stats.log_written = s->log.written;
    s->stats.log_dropped = s->log.dropped;
    s->stats.log_suppressed = s->log.suppressed;
}

void tina__shard_publish_stats(struct tina__shard *s) {
    enum { N = sizeof(tina_shard_stats) / 8 };
    uint64_t words[N];
    stats_gauges(s);
    memcpy(words, &s->stats, sizeof(words));
    uint32_t seq = atomic_load_explicit(&s->snapshot_seq, memory_order_relaxed);
    atomic_store_explicit(&s->snapshot_seq, seq + 1, memory_order_relaxed);
    /* Release fence pairs with the reader's acquire fence in tina_stats(). */
    atomic_thread_fence(memory_order_release);
    for (int k = 0; k < N; k++) atomic_store_explicit(&s->snapshot[k], words[k], memory_order_relaxed);
    atomic_store_explicit(&s->snapshot_seq, seq + 2, memory_order_release);
    s->snapshot_at_ns = tina__shard_now(s);
}

const tina_shard_stats *tina_ctx_stats(const tina_ctx *ctx) {
    stats_gauges(ctx->shard);
    return &ctx->shard->stats;
}

tina_handle tina_self(const tina_ctx *ctx) { return ctx->self; }

tina_handle tina_self_address(const tina_ctx *ctx) {
    uint32_t lineage = ctx->type->reach[ctx->slot].lineage;
    return tina_address_of(tina__slot_handle(ctx->type, ctx->slot, lineage));
}

tina_handle tina_sender(const tina_ctx *ctx) { return ctx->msg ? ctx->msg->from : 0; }

uint32_t tina_shard_id(const tina_ctx *ctx) { return ctx->shard->id; }

uint32_t tina_shard_count(const tina_ctx *ctx) { return ctx->shard->shard_count; }

uint64_t tina_now_ns(const tina_ctx *ctx) { return tina__shard_now(ctx->shard); }

uint64_t tina_random(tina_ctx *ctx) { return tina__rng_next(ctx->shard->rng); }

void *tina_scratch(tina_ctx *ctx, size_t *size_out) {
    if (size_out) *size_out = ctx->shard->scratch_bytes;
    return ctx->shard->scratch;
}

bool tina_shutting_down(const tina_ctx *ctx) {
    return ctx->shard->shutdown_seen ||
           atomic_load_explicit(&ctx->shard->rt->stopping, memory_order_relaxed) != 0;
}

void tina_log(tina_ctx *ctx, tina_log_level level, const char *fmt, ...) {
    struct tina__shard *s = ctx->shard;
    if ((uint32_t)level < s->log.level_min) return;
    va_list ap;
    va_start(ap, fmt);
    tina__log_line(&s->log, tina__shard_now(s), level, ctx->self,
                   ctx->type ? ctx->type->id : 0xffffu, fmt, ap);
    va_end(ap);
}

void tina__log_event(struct tina__shard *s, tina_log_level level, tina_handle h,
                     uint32_t type_id, const char *fmt, ...) {
    if ((uint32_t)level < s->log.level_min) return;
    va_list ap;
    va_start(ap, fmt);
    tina__log_event_line(&s->log, tina__shard_now(s), level, h, type_id, fmt, ap);
    va_end(ap);
}

void tina__shard_log_flush(struct tina__shard *s) {
    tina__log_flush(&s->log, s->id, s->rt->boot_ns, s->types, s->type_count);
}

/* A shard stuck for stuck_ns: one line on stderr naming the
 * handler, stats.stalls.  Shared with the simulator, which watches in
 * simulated time and ends the run instead of aborting (may_abort == 0). */
void tina__shard_stalled(struct tina__shard *s, uint64_t stuck_ns, int may_abort) {
    const struct tina_runtime *rt = s->rt;
    uint32_t id = s->id;
    tina_handle h = atomic_load_explicit(&s->running, memory_order_relaxed);
    uint32_t type = tina_handle_type(h);
    const char *name = h && type < rt->spec.type_count ? rt->types[type].name : "(no handler)";
    int abort_now = may_abort && rt->spec.watchdog_policy == TINA_WATCHDOG_ABORT;
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "tina: watchdog: shard %u stuck for %llu ms in %s#%016llx%s\n", id,
                     (unsigned long long)(stuck_ns / 1000000u), name, (unsigned long long)h,
                     abort_now ? ": aborting" : "");
    if (n > 0) (void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
    atomic_fetch_add_explicit(&s->stalls, 1, memory_order_relaxed);
    if (abort_now) abort();
}

/* ---- read from other threads ------------------------------------------------ */

tina_result tina_stats(const tina_runtime *rt, uint32_t shard, tina_shard_stats *out) {
    if (rt == NULL || out == NULL || shard >= rt->shard_count) return TINA_EINVAL;
    struct tina__shard *s = rt->shards[shard];
    enum { N = sizeof(tina_shard_stats) / 8 };
    uint64_t words[N];
    uint32_t before, after;
    do {
        before = atomic_load_explicit(&s->snapshot_seq, memory_order_acquire);
        for (int k = 0; k < N; k++)
            words[k] = atomic_load_explicit(&s->snapshot[k], memory_order_relaxed);
        /* Acquire fence pairs with the release fence in publish_stats(). */
        atomic_thread_fence(memory_order_acquire);
        after = atomic_load_explicit(&s->snapshot_seq, memory_order_relaxed);
    } while (before != after || (before & 1u));
    memcpy(out, words, sizeof(*out));
    out->stalls = atomic_load_explicit(&s->stalls, memory_order_relaxed); /* watchdog-written */
    if (atomic_load(&rt->started) != 1 && before == 0) {
        /* Never ran: the shard struct is quiescent, read the gauges directly. */
        memset(out, 0, sizeof(*out));
        out->pool_user_free = s->pool.user_free;
        out->pool_system_free = s->pool.system_free;
    }
    return TINA_OK;
}

tina_result tina_stats_channel(const tina_runtime *rt, uint32_t from, uint32_t to,
                               tina_channel_stats *out) {
    if (rt == NULL || out == NULL || from >= rt->shard_count || to >= rt->shard_count || from == to)
        return TINA_EINVAL;
    struct tina__ring *ring = rt->shards[to]->chan.inbound[from];
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    out->accepted = tail;
    out->full = atomic_load_explicit(&ring->producer.full, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&ring->consumer.dropped, memory_order_relaxed);
    out->delivered = atomic_load_explicit(&ring->consumer.delivered, memory_order_relaxed);
    out->in_flight = tail - head;
    out->slots = (uint32_t)(ring->mask + 1);
    return TINA_OK;
}
