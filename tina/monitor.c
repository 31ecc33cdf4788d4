/*
 * monitor.c -- watching an isolate end, on this shard or another.
 *
 * A monitor entry lives on the target's shard, in a fixed table carved at
 * boot (monitor_slots), linked into the target slot's monitor list.  A
 * local tina_monitor() links it directly; a remote one sends an internal
 * request (TINA__TAG_MONITOR, system kind) through the channel, and the
 * target's shard links it on arrival -- or answers at once with a NOPROC
 * DOWN if the target is already dead.
 *
 * When the target ends (tina__isolate_exit, before the slot is reused) every
 * entry in its list turns into a DOWN for its watcher: a TINA_TAG_DOWN
 * system message, delivered locally from the pool's system region or sent
 * through the channel to the watcher's shard, where it also lands in the
 * system region.  Neither can be crowded out by user traffic; if even so
 * there is no room right now, the entry waits on the pending list and is
 * retried every pass, so a DOWN is never lost and never sent twice.  A DOWN
 * addressed to a watcher that has died meanwhile is stale on arrival and
 * dropped: it never reaches the watcher slot's next occupant.
 */
#include <string.h>

#include "internal.h"

enum { MON_FREE = 0, MON_WATCHING = 1, MON_PENDING = 2 };

void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count) {
    m->entries = entries;
    m->capacity = count;
    m->pending_head = m->pending_tail = TINA__NIL;
    for (uint32_t i = 0; i < count; i++) {
        memset(&entries[i], 0, sizeof(entries[i]));
        entries[i].next = i + 1 < count ? i + 1 : TINA__NIL;
    }
    m->free_head = count ? 0 : TINA__NIL;
}

static struct tina__slot *target_slot(struct tina__shard *s, tina_handle target) {
    return &s->types[tina_handle_type(target)].slots[tina_handle_slot(target)];
}

static int target_alive(struct tina__shard *s, tina_handle target) {
    struct tina__slot *slot = target_slot(s, target);
    return slot->generation == tina_handle_generation(target) &&
           (slot->state == TINA__IDLE || slot->state == TINA__READY ||
            slot->state == TINA__CALLING);
}

static uint32_t entry_take(struct tina__shard *s) {
    struct tina__monitors *m = &s->monitors;
    uint32_t i = m->free_head;
    if (i != TINA__NIL) m->free_head = m->entries[i].next;
    return i;
}

static void entry_free(struct tina__shard *s, uint32_t i) {
    struct tina__monitors *m = &s->monitors;
    m->entries[i].state = MON_FREE;
    m->entries[i].next = m->free_head;
    m->free_head = i;
}

/* Try to deliver entry i's DOWN now: 1 done (or watcher gone), 0 retry. */
static int down_send(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    tina_down down = {.target = e->target, .how = e->how, .reason = e->reason};
    int r = tina__system_send(s, e->watcher, TINA_TAG_DOWN, &down, sizeof(down));
    if (r == 0) return 0;
    if (r > 0) s->stats.downs_sent++;
    return 1;
}

static void pending_append(struct tina__shard *s, uint32_t i) {
    struct tina__monitors *m = &s->monitors;
    m->entries[i].state = MON_PENDING;
    m->entries[i].next = TINA__NIL;
    if (m->pending_tail == TINA__NIL) m->pending_head = i;
    else m->entries[m->pending_tail].next = i;
    m->pending_tail = i;
    s->stats.downs_deferred++;
}

/* A DOWN for entry i: now if possible, else from the pending list. */
static void down_emit(struct tina__shard *s, uint32_t i, int how, uint32_t reason) {
    struct tina__monitor *e = &s->monitors.entries[i];
    e->how = (uint8_t)how;
    e->reason = reason;
    if (down_send(s, i)) entry_free(s, i);
    else pending_append(s, i);
}

/* Link a monitor of `target` (on this shard) by `watcher`, or answer NOPROC. */
static tina_result monitor_local(struct tina__shard *s, tina_handle watcher, tina_handle target) {
    uint32_t i = entry_take(s);
    if (i == TINA__NIL) return TINA_EMONITOR_EXHAUSTED;
    struct tina__monitor *e = &s->monitors.entries[i];
    e->watcher = watcher;
    e->target = target;
    s->stats.monitors_set++;
    if (!target_alive(s, target)) {
        down_emit(s, i, TINA_DOWN_NOPROC, 0);
        return TINA_OK;
    }
    struct tina__slot *slot = target_slot(s, target);
    e->state = MON_WATCHING;
    e->prev = TINA__NIL;
    e->next = slot->monitor_head;
    if (slot->monitor_head != TINA__NIL) s->monitors.entries[slot->monitor_head].prev = i;
    slot->monitor_head = i;
    return TINA_OK;
}

tina_result tina_monitor(tina_ctx *ctx, tina_handle target) {
    struct tina__shard *s = ctx->shard;
    uint32_t shard = tina_handle_shard(target), type = tina_handle_type(target);
    if (target == TINA_HANDLE_NONE || shard >= s->shard_count || type >= s->type_count ||
        tina_handle_slot(target) >= s->types[type].capacity || tina_handle_generation(target) == 0)
        return TINA_EHANDLE;
    if (shard == s->id) return monitor_local(s, ctx->self, target);
    int r = tina__system_send(s, target, TINA__TAG_MONITOR, &ctx->self, sizeof(ctx->self));
    if (r == 0) return TINA_EMAILBOX_FULL;
    return r > 0 ? TINA_OK : TINA_ESTALE;
}

/* A request from another shard reached the target's shard. */
void tina__monitor_arrived(struct tina__shard *s, const tina_msg *request) {
    tina_handle watcher;
    memcpy(&watcher, request->payload, sizeof(watcher));
    if (monitor_local(s, watcher, request->to) == TINA_EMONITOR_EXHAUSTED) {
        /* No entry to keep: tell the watcher at once rather than never.  It
         * cannot wait in the pending list without an entry, so it may be lost
         * if even the channel is full; both are counted. */
        tina_down down = {.target = request->to, .how = TINA_DOWN_NOPROC, .reason = 0};
        if (tina__system_send(s, watcher, TINA_TAG_DOWN, &down, sizeof(down)) > 0)
            s->stats.downs_sent++;
        else
            s->stats.notices_dropped++;
    }
}

/* The target is ending: every monitor of it becomes a DOWN. */
void tina__monitors_fire(struct tina__shard *s, struct tina__slot *slot, tina_handle target,
                         int how, uint32_t reason) {
    uint32_t i = slot->monitor_head;
    slot->monitor_head = TINA__NIL;
    while (i != TINA__NIL) {
        uint32_t next = s->monitors.entries[i].next;
        TINA_ASSERT(s->monitors.entries[i].target == target);
        down_emit(s, i, how, reason);
        i = next;
    }
}

/* Each pass: retry the DOWNs that found no room, in order. */
void tina__monitors_flush(struct tina__shard *s) {
    struct tina__monitors *m = &s->monitors;
    uint32_t i = m->pending_head, kept_head = TINA__NIL, kept_tail = TINA__NIL;
    while (i != TINA__NIL) {
        uint32_t next = m->entries[i].next;
        if (down_send(s, i)) {
            entry_free(s, i);
        } else {
            m->entries[i].next = TINA__NIL;
            if (kept_tail == TINA__NIL) kept_head = i;
            else m->entries[kept_tail].next = i;
            kept_tail = i;
        }
        i = next;
    }
    m->pending_head = kept_head;
    m->pending_tail = kept_tail;
}
