/*
 * log.h -- a shard's log ring (log.c).
 *
 * Fixed 128-byte entries appended by handlers (tina_log) and by the
 * runtime itself (rate-limited events), written to stderr once per pass.
 * The ring is given the time of each line; it keeps its own counters,
 * which the shard's statistics report.
 */
#ifndef TINA_LOG_H
#define TINA_LOG_H

#include <stdarg.h>

#include "slot.h"

#define TINA__LOG_TEXT 96
struct tina__log_entry {
    uint64_t time_ns;
    tina_handle handle;
    uint16_t type_id;
    uint8_t level;
    uint8_t length;
    char text[TINA__LOG_TEXT];
    uint8_t pad[12];
};
_Static_assert(sizeof(struct tina__log_entry) == 128, "log entries are two cache lines");

#define TINA__LOG_EVENT_BURST 16u
#define TINA__LOG_EVENT_EVERY_NS 100000000ull /* 10 lines a second after the burst */

struct tina__log {
    struct tina__log_entry *entries;
    uint32_t mask;
    uint32_t level_min;
    uint64_t head, tail; /* tail - head entries queued */
    /* The runtime's own lines (tina__log_event) are rate-limited: a token
     * bucket of TINA__LOG_EVENT_BURST, one token back every
     * TINA__LOG_EVENT_EVERY_NS of shard time. */
    uint32_t event_tokens;
    uint64_t event_refill_ns;
    uint64_t event_suppressed; /* since the last line written: said in the next one */
    uint64_t written, dropped, suppressed; /* stats.log_written, _dropped, _suppressed */
};

void tina__log_init(struct tina__log *log, struct tina__log_entry *entries, uint32_t count,
                    uint32_t level_min);
/* A handler's line, at `now`; the caller checked level_min. */
void tina__log_line(struct tina__log *log, uint64_t now, tina_log_level level, tina_handle h,
                    uint32_t type_id, const char *fmt, va_list ap);
/* A line of the runtime's own, rate-limited (skipped lines are counted and
 * said in the next one); the caller checked level_min. */
void tina__log_event_line(struct tina__log *log, uint64_t now, tina_log_level level,
                          tina_handle h, uint32_t type_id, const char *fmt, va_list ap);
/* Write every queued line to stderr (times since boot_ns, type names). */
void tina__log_flush(struct tina__log *log, uint32_t shard_id, uint64_t boot_ns,
                     const struct tina__type *types, uint32_t type_count);

#endif /* TINA_LOG_H */
