/*
 * log.c -- the per-shard log ring.
 *
 * Handlers append fixed 128-byte entries (time, handle, type, level, up to
 * 95 characters of text) to their shard's ring; the shard flushes the ring
 * to stderr at the end of every pass with as few write(2) calls as the
 * text needs (one per 16 KiB).  A full ring drops the new line and counts
 * it (stats.log_dropped): logging never blocks and never allocates.
 * The shard gives each line its time (shard/context.c: tina_log).
 *
 * The runtime writes lines of its own into the same ring (tina__log_event):
 * crashes, restarts, escalations, quarantines, revivals and forced
 * shutdowns, so that no crash loop is silent.  They are rate-limited per
 * shard -- a burst of 16, then 10 a second of shard time -- and the next
 * line written says how many were skipped (stats.log_suppressed).
 *
 * Line format:
 *   [   12.345678] shard=0 INFO  worker#0001000000001: text
 *                  time since boot        type#handle(hex)
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[] = {"?    ", "DEBUG", "INFO ", "WARN ", "ERROR"};

void tina__log_init(struct tina__log *log, struct tina__log_entry *entries, uint32_t count,
                    uint32_t level_min) {
    log->entries = entries;
    log->mask = count - 1;
    log->level_min = level_min;
    log->head = log->tail = 0;
    log->event_tokens = TINA__LOG_EVENT_BURST;
    log->event_refill_ns = 0;
    log->event_suppressed = 0;
    log->written = log->dropped = log->suppressed = 0;
}

/* Append one line, or drop and count it if the ring is full. */
static void log_append(struct tina__log *log, uint64_t now, tina_log_level level, tina_handle h,
                       uint32_t type_id, const char *prefix, const char *fmt, va_list ap) {
    if (log->tail - log->head > log->mask) {
        log->dropped++;
        return;
    }
    struct tina__log_entry *e = &log->entries[log->tail & log->mask];
    int n = prefix ? snprintf(e->text, sizeof(e->text), "%s", prefix) : 0;
    if (n < 0) n = 0;
    if (n < (int)sizeof(e->text)) {
        int m = vsnprintf(e->text + n, sizeof(e->text) - (size_t)n, fmt, ap);
        n += m > 0 ? m : 0;
    }
    if (n > (int)sizeof(e->text) - 1) n = (int)sizeof(e->text) - 1;
    e->length = (uint8_t)n;
    e->time_ns = now;
    e->handle = h;
    e->type_id = (uint16_t)type_id;
    e->level = (uint8_t)(level < TINA_LOG_DEBUG   ? TINA_LOG_DEBUG
                         : level > TINA_LOG_ERROR ? TINA_LOG_ERROR
                                                  : level);
    log->tail++;
    log->written++;
}

void tina__log_line(struct tina__log *log, uint64_t now, tina_log_level level, tina_handle h,
                    uint32_t type_id, const char *fmt, va_list ap) {
    log_append(log, now, level, h, type_id, NULL, fmt, ap);
}

void tina__log_event_line(struct tina__log *log, uint64_t now, tina_log_level level,
                          tina_handle h, uint32_t type_id, const char *fmt, va_list ap) {
    if (log->event_tokens < TINA__LOG_EVENT_BURST) {
        uint64_t back = (now - log->event_refill_ns) / TINA__LOG_EVENT_EVERY_NS;
        if (back > 0) {
            log->event_tokens = back >= TINA__LOG_EVENT_BURST - log->event_tokens
                                    ? TINA__LOG_EVENT_BURST
                                    : log->event_tokens + (uint32_t)back;
            log->event_refill_ns = now;
        }
    } else {
        log->event_refill_ns = now;
    }
    if (log->event_tokens == 0) {
        log->event_suppressed++;
        log->suppressed++;
        return;
    }
    log->event_tokens--;
    char prefix[48];
    prefix[0] = 0;
    if (log->event_suppressed)
        snprintf(prefix, sizeof(prefix), "(%llu lines suppressed) ",
                 (unsigned long long)log->event_suppressed);
    log->event_suppressed = 0;
    log_append(log, now, level, h, type_id, prefix[0] ? prefix : NULL, fmt, ap);
}

static void write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0) return; /* stderr gone: nothing sensible to do */
        buf += w;
        len -= (size_t)w;
    }
}

void tina__log_flush(struct tina__log *log, uint32_t shard_id, uint64_t boot,
                     const struct tina__type *types, uint32_t type_count) {
    if (log->head == log->tail) return;
    char buf[16384];
    size_t used = 0;
    while (log->head != log->tail) {
        const struct tina__log_entry *e = &log->entries[log->head & log->mask];
        const char *type = e->type_id < type_count ? types[e->type_id].name : "-";
        uint64_t t = e->time_ns > boot ? e->time_ns - boot : 0;
        if (sizeof(buf) - used < 256) {
            write_all(buf, used);
            used = 0;
        }
        int n = snprintf(buf + used, sizeof(buf) - used, "[%5llu.%06llu] shard=%u %s %s#%016llx: %.*s\n",
                         (unsigned long long)(t / 1000000000u),
                         (unsigned long long)(t % 1000000000u / 1000u), shard_id,
                         level_names[e->level], type, (unsigned long long)e->handle,
                         (int)e->length, e->text);
        if (n > 0) used += (size_t)n < sizeof(buf) - used ? (size_t)n : sizeof(buf) - used - 1;
        log->head++;
    }
    write_all(buf, used);
}
