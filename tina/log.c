/*
 * log.c -- the per-shard log ring and tina_log.
 *
 * Handlers append fixed 128-byte entries (time, handle, type, level, up to
 * 95 characters of text) to their shard's ring; the shard flushes the ring
 * to stderr at the end of every pass with as few write(2) calls as the
 * text needs (one per 16 KiB).  A full ring drops the new line and counts
 * it (stats.log_dropped): logging never blocks and never allocates.
 *
 * Line format:
 *   [   12.345678] shard=0 INFO  worker#0001000000001: text
 *                  time since boot        type#handle(hex)
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char *const level_names[] = {"?    ", "DEBUG", "INFO ", "WARN ", "ERROR"};

void tina__log_init(struct tina__log *log, struct tina__log_entry *entries, uint32_t count,
                    uint32_t level_min) {
    log->entries = entries;
    log->mask = count - 1;
    log->level_min = level_min;
    log->head = log->tail = 0;
}

void tina_log(tina_ctx *ctx, tina_log_level level, const char *fmt, ...) {
    struct tina__shard *s = ctx->shard;
    struct tina__log *log = &s->log;
    if ((uint32_t)level < log->level_min) return;
    if (log->tail - log->head > log->mask) {
        s->stats.log_dropped++;
        return;
    }
    struct tina__log_entry *e = &log->entries[log->tail & log->mask];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof(e->text) - 1) n = (int)sizeof(e->text) - 1;
    e->length = (uint8_t)n;
    e->time_ns = tina__shard_now(s);
    e->handle = ctx->self;
    e->type_id = ctx->type ? (uint16_t)ctx->type->id : 0xffff;
    e->level = (uint8_t)(level < TINA_LOG_DEBUG   ? TINA_LOG_DEBUG
                         : level > TINA_LOG_ERROR ? TINA_LOG_ERROR
                                                  : level);
    log->tail++;
    s->stats.log_written++;
}

static void write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0) return; /* stderr gone: nothing sensible to do */
        buf += w;
        len -= (size_t)w;
    }
}

void tina__log_flush(struct tina__shard *s) {
    struct tina__log *log = &s->log;
    if (log->head == log->tail) return;
    char buf[16384];
    size_t used = 0;
    uint64_t boot = s->rt->boot_ns;
    while (log->head != log->tail) {
        const struct tina__log_entry *e = &log->entries[log->head & log->mask];
        const char *type = e->type_id < s->type_count ? s->types[e->type_id].name : "-";
        uint64_t t = e->time_ns > boot ? e->time_ns - boot : 0;
        if (sizeof(buf) - used < 256) {
            write_all(buf, used);
            used = 0;
        }
        int n = snprintf(buf + used, sizeof(buf) - used, "[%5llu.%06llu] shard=%u %s %s#%016llx: %.*s\n",
                         (unsigned long long)(t / 1000000000u),
                         (unsigned long long)(t % 1000000000u / 1000u), s->id,
                         level_names[e->level], type, (unsigned long long)e->handle,
                         (int)e->length, e->text);
        if (n > 0) used += (size_t)n < sizeof(buf) - used ? (size_t)n : sizeof(buf) - used - 1;
        log->head++;
    }
    write_all(buf, used);
}
