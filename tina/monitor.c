/*
 * monitor.c -- watching an isolate end, on this shard or another.
 *
 * Entries live in a fixed table per shard (monitor_slots), carved at boot.
 * A DOWN never takes a message slot: it is kept in a monitor entry of the
 * watcher's own shard until the dispatcher hands it over (synthesized, like
 * a fired timer), so no number of monitors can drain the pool's system
 * region -- a monitor flood is refused by name (TINA_EMONITOR_EXHAUSTED)
 * when the table is full.
 *
 *   local   one entry: WATCHING in the target's list; when the target
 *           ends it becomes the DOWN, moved to its watcher's downs ring
 *           (state DOWN), and the watcher wakes.  A target already dead
 *           gives a NOPROC DOWN at once, through the same ring.
 *   remote  two entries: the watcher's (REMOTE) on its own shard, and,
 *           once the request (TINA__TAG_MONITOR) crossed, the target's
 *           (WATCHING, `peer` naming the watcher's entry and generation).
 *           When the target ends, its entry sends a DOWN envelope back
 *           (PENDING while the channel is full, retried every pass) and is
 *           freed; on arrival the DOWN lands in the watcher's entry, which
 *           joins the downs ring.  A target shard with no entry free
 *           answers TINA_DOWN_NO_MONITOR (reason TINA_EMONITOR_EXHAUSTED):
 *           the target is not reported dead.
 *
 * A DOWN is never delivered to a successor: a watcher that died has its
 * undelivered DOWNs dropped with it (tina__downs_drop), a DOWN fired for a
 * dead local watcher is freed, and a DOWN crossing shards names its
 * watcher's entry by index and generation, bumped at every free.
 *
 * Bounds: an entry is held while its target lives; a REMOTE entry whose
 * watcher died stays until its DOWN arrives.  The only loss is a
 * NO_MONITOR answer that finds the channel back full (counted in
 * answers_lost): there is no entry to keep it in.
 */
#include <string.h>

#include "internal.h"

enum tina__monitor_state {
    MON_FREE = 0,
    MON_WATCHING = 1, /* in its (local) target's list */
    MON_PENDING = 2,  /* a DOWN for another shard, waiting for channel room */
    MON_REMOTE = 3,   /* the watcher's side of a remote monitor, waiting for its DOWN */
    MON_DOWN = 4      /* fired: in its watcher's downs ring, to be delivered */
};

/* What crosses shards: a request, and the DOWN that answers it. */
struct monitor_request {
    tina_handle watcher;
    uint32_t entry, generation; /* the watcher's entry */
};

struct down_envelope {
    tina_down down;
    uint32_t entry, generation; /* the watcher's entry */
};
_Static_assert(sizeof(struct down_envelope) <= TINA_PAYLOAD_MAX, "a DOWN fits a message");

void tina__monitors_init(struct tina__monitors *m, struct tina__monitor *entries, uint32_t count) {
    m->entries = entries;
    m->capacity = count;
    m->pending_head = m->pending_tail = TINA__NIL;
    for (uint32_t i = 0; i < count; i++) {
        memset(&entries[i], 0, sizeof(entries[i]));
        entries[i].generation = 1;
        entries[i].peer = TINA__NIL;
        entries[i].next = i + 1 < count ? i + 1 : TINA__NIL;
    }
    m->free_head = count ? 0 : TINA__NIL;
}

static struct tina__slot *slot_of(struct tina__shard *s, tina_handle h) {
    return &s->types[tina_handle_type(h)].slots[tina_handle_slot(h)];
}

static int alive(struct tina__shard *s, tina_handle h) {
    struct tina__slot *slot = slot_of(s, h);
    return slot->generation == tina_handle_generation(h) &&
           (slot->state == TINA__IDLE || slot->state == TINA__READY ||
            slot->state == TINA__CALLING);
}

static uint32_t entry_take(struct tina__shard *s) {
    struct tina__monitors *m = &s->monitors;
    uint32_t i = m->free_head;
    if (i == TINA__NIL) return i;
    m->free_head = m->entries[i].next;
    m->entries[i].peer = TINA__NIL;
    return i;
}

static void entry_free(struct tina__shard *s, uint32_t i) {
    struct tina__monitors *m = &s->monitors;
    struct tina__monitor *e = &m->entries[i];
    e->state = MON_FREE;
    e->generation = e->generation + 1 ? e->generation + 1 : 1;
    e->next = m->free_head;
    m->free_head = i;
}

/* The DOWN of entry i is for a watcher on this shard: into its ring, and
 * the watcher wakes.  0 if the watcher is gone (the entry is freed). */
static int down_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    if (!alive(s, e->watcher)) {
        entry_free(s, i);
        return 0;
    }
    struct tina__slot *slot = slot_of(s, e->watcher);
    e->state = MON_DOWN;
    if (slot->downs == TINA__NIL) {
        e->next = i;
    } else {
        e->next = s->monitors.entries[slot->downs].next;
        s->monitors.entries[slot->downs].next = i;
    }
    slot->downs = i;
    tina__slot_wake(s, &s->types[tina_handle_type(e->watcher)], tina_handle_slot(e->watcher));
    return 1;
}

/* Try to send entry i's DOWN to its watcher's shard: 1 done (or that shard
 * is quarantined: the watcher is gone), 0 no room now. */
static int down_send(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    struct down_envelope env = {.down = {.target = e->target, .how = e->how, .reason = e->reason},
                                .entry = e->peer, .generation = e->peer_generation};
    int r = tina__system_send(s, e->watcher, TINA_TAG_DOWN, &env, sizeof(env));
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

/* Entry i fires: a DOWN for its watcher, here or there. */
static void down_emit(struct tina__shard *s, uint32_t i, int how, uint32_t reason) {
    struct tina__monitor *e = &s->monitors.entries[i];
    e->how = (uint8_t)how;
    e->reason = reason;
    if (e->peer == TINA__NIL) {
        if (down_local(s, i)) s->stats.downs_sent++;
    } else if (down_send(s, i)) {
        entry_free(s, i);
    } else {
        pending_append(s, i);
    }
}

/* Link entry i (watcher and target set) to its live target, or fire NOPROC. */
static void watch_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    if (!alive(s, e->target)) {
        down_emit(s, i, TINA_DOWN_NOPROC, 0);
        return;
    }
    struct tina__slot *slot = slot_of(s, e->target);
    e->state = MON_WATCHING;
    e->prev = TINA__NIL;
    e->next = slot->monitor_head;
    if (slot->monitor_head != TINA__NIL) s->monitors.entries[slot->monitor_head].prev = i;
    slot->monitor_head = i;
}

tina_result tina_monitor(tina_ctx *ctx, tina_handle target) {
    struct tina__shard *s = ctx->shard;
    uint32_t shard = tina_handle_shard(target), type = tina_handle_type(target);
    if (target == TINA_HANDLE_NONE || shard >= s->shard_count || type >= s->type_count ||
        tina_handle_slot(target) >= s->types[type].capacity || tina_handle_generation(target) == 0)
        return TINA_EHANDLE;
    uint32_t i = entry_take(s);
    if (i == TINA__NIL) {
        s->stats.monitor_exhausted++;
        return TINA_EMONITOR_EXHAUSTED;
    }
    struct tina__monitor *e = &s->monitors.entries[i];
    e->watcher = ctx->self;
    e->target = target;
    if (shard == s->id) {
        s->stats.monitors_set++;
        watch_local(s, i);
        return TINA_OK;
    }
    struct monitor_request req = {.watcher = ctx->self, .entry = i, .generation = e->generation};
    int r = tina__system_send(s, target, TINA__TAG_MONITOR, &req, sizeof(req));
    if (r <= 0) {
        entry_free(s, i);
        return r == 0 ? TINA_EMAILBOX_FULL : TINA_ESTALE;
    }
    s->stats.monitors_set++;
    e->state = MON_REMOTE;
    return TINA_OK;
}

/* A request from another shard reached the target's shard. */
void tina__monitor_arrived(struct tina__shard *s, const tina_msg *request) {
    struct monitor_request req;
    memcpy(&req, request->payload, sizeof(req));
    uint32_t i = entry_take(s);
    if (i == TINA__NIL) { /* nowhere to keep it: say so, by name, if there is room */
        s->stats.monitor_exhausted++;
        struct down_envelope env = {
            .down = {.target = request->to, .how = TINA_DOWN_NO_MONITOR,
                     .reason = (uint32_t)TINA_EMONITOR_EXHAUSTED},
            .entry = req.entry, .generation = req.generation};
        if (tina__system_send(s, req.watcher, TINA_TAG_DOWN, &env, sizeof(env)) == 0)
            s->stats.answers_lost++;
        return;
    }
    struct tina__monitor *e = &s->monitors.entries[i];
    e->watcher = req.watcher;
    e->target = request->to;
    e->peer = req.entry;
    e->peer_generation = req.generation;
    watch_local(s, i);
}

int tina__down_arrived(struct tina__shard *s, const tina_msg *down) {
    struct down_envelope env;
    memcpy(&env, down->payload, sizeof(env));
    struct tina__monitors *m = &s->monitors;
    if (env.entry >= m->capacity) return 0;
    struct tina__monitor *e = &m->entries[env.entry];
    if (e->state != MON_REMOTE || e->generation != env.generation) return 0;
    e->how = (uint8_t)env.down.how;
    e->reason = env.down.reason;
    e->target = env.down.target;
    return down_local(s, env.entry); /* counted in downs_sent by the shard that sent it */
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

/* Each pass: retry the DOWNs that found no channel room, in order. */
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

/* Take the oldest entry off slot's downs ring. */
static uint32_t downs_pop(struct tina__shard *s, struct tina__slot *slot) {
    struct tina__monitor *entries = s->monitors.entries;
    uint32_t tail = slot->downs, head = entries[tail].next;
    if (head == tail) slot->downs = TINA__NIL;
    else entries[tail].next = entries[head].next;
    return head;
}

void tina__down_deliver(struct tina__shard *s, struct tina__slot *slot, tina_msg *out) {
    TINA_ASSERT(slot->downs != TINA__NIL);
    uint32_t i = downs_pop(s, slot);
    struct tina__monitor *e = &s->monitors.entries[i];
    TINA_ASSERT(e->state == MON_DOWN && e->watcher == out->to);
    tina_down d = {.target = e->target, .how = e->how, .reason = e->reason};
    out->tag = TINA_TAG_DOWN;
    out->kind = TINA_MSG_SYSTEM;
    out->size = sizeof(d);
    memcpy(out->payload, &d, sizeof(d));
    entry_free(s, i);
}

void tina__downs_drop(struct tina__shard *s, struct tina__slot *slot) {
    while (slot->downs != TINA__NIL) entry_free(s, downs_pop(s, slot));
}
