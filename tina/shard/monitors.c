/*
 * monitors.c -- the monitor protocol: watching an isolate end, on this shard
 * or another (the table itself is monitor.c).
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
 * A monitor flood is refused by name (TINA_EMONITOR_EXHAUSTED) when the
 * table is full.  A DOWN is never delivered to a successor: a watcher that
 * died has its undelivered DOWNs dropped with it, a DOWN fired for a dead
 * local watcher is freed, and a DOWN crossing shards names its watcher's
 * entry by index and generation, bumped at every free.
 *
 * Bounds: an entry is held while its target lives; a REMOTE entry whose
 * watcher died stays until its DOWN arrives.  The only loss is a
 * NO_MONITOR answer that finds the channel back full (counted in
 * answers_lost): there is no entry to keep it in.
 */
#include <string.h>

#include "shard.h"

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

static int alive(struct tina__shard *s, tina_handle h) {
    return tina__slot_alive(tina__slot_of(s->types, h), h);
}

/* The DOWN of entry i is for a watcher on this shard: into its ring, and
 * the watcher wakes.  0 if the watcher is gone (the entry is freed). */
static int down_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    if (!alive(s, e->watcher)) {
        tina__monitor_free(&s->monitors, i);
        return 0;
    }
    tina__monitor_down_push(&s->monitors, tina__slot_of(s->types, e->watcher), i);
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

/* Entry i fires: a DOWN for its watcher, here or there. */
static void down_emit(struct tina__shard *s, uint32_t i, int how, uint32_t reason) {
    struct tina__monitor *e = &s->monitors.entries[i];
    e->how = (uint8_t)how;
    e->reason = reason;
    if (e->peer == TINA__NIL) {
        if (down_local(s, i)) s->stats.downs_sent++;
    } else if (down_send(s, i)) {
        tina__monitor_free(&s->monitors, i);
    } else {
        tina__monitor_pending_push(&s->monitors, i);
        s->stats.downs_deferred++;
    }
}

/* Link entry i (watcher and target set) to its live target, or fire NOPROC. */
static void watch_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    if (!alive(s, e->target)) {
        down_emit(s, i, TINA_DOWN_NOPROC, 0);
        return;
    }
    tina__monitor_watch(&s->monitors, tina__slot_of(s->types, e->target), i);
}

tina_result tina_monitor(tina_ctx *ctx, tina_handle target) {
    struct tina__shard *s = ctx->shard;
    if (target == TINA_HANDLE_NONE || tina__handle_valid(s, target) != TINA_OK)
        return TINA_EHANDLE;
    uint32_t i = tina__monitor_take(&s->monitors);
    if (i == TINA__NIL) {
        s->stats.monitor_exhausted++;
        return TINA_EMONITOR_EXHAUSTED;
    }
    struct tina__monitor *e = &s->monitors.entries[i];
    e->watcher = ctx->self;
    e->target = target;
    if (tina_handle_shard(target) == s->id) {
        s->stats.monitors_set++;
        watch_local(s, i);
        return TINA_OK;
    }
    struct monitor_request req = {.watcher = ctx->self, .entry = i, .generation = e->generation};
    int r = tina__system_send(s, target, TINA__TAG_MONITOR, &req, sizeof(req));
    if (r <= 0) {
        tina__monitor_free(&s->monitors, i);
        return r == 0 ? TINA_EMAILBOX_FULL : TINA_ESTALE;
    }
    s->stats.monitors_set++;
    e->state = TINA__MON_REMOTE;
    return TINA_OK;
}

/* A request from another shard reached the target's shard. */
void tina__monitor_arrived(struct tina__shard *s, const tina_msg *request) {
    struct monitor_request req;
    memcpy(&req, request->payload, sizeof(req));
    uint32_t i = tina__monitor_take(&s->monitors);
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
    if (e->state != TINA__MON_REMOTE || e->generation != env.generation) return 0;
    e->how = (uint8_t)env.down.how;
    e->reason = env.down.reason;
    e->target = env.down.target;
    return down_local(s, env.entry); /* counted in downs_sent by the shard that sent it */
}

/* The target is ending: every monitor of it becomes a DOWN. */
void tina__monitors_fire(struct tina__shard *s, struct tina__slot *slot, tina_handle target,
                         int how, uint32_t reason) {
    uint32_t i = tina__monitor_unwatch_all(slot);
    while (i != TINA__NIL) {
        uint32_t next = s->monitors.entries[i].next;
        TINA_ASSERT(s->monitors.entries[i].target == target);
        down_emit(s, i, how, reason);
        i = next;
    }
}

/* Each pass: retry the DOWNs that found no channel room, in order. */
void tina__monitors_flush(struct tina__shard *s) {
    uint32_t i = tina__monitor_pending_detach(&s->monitors);
    while (i != TINA__NIL) {
        uint32_t next = s->monitors.entries[i].next;
        if (down_send(s, i)) tina__monitor_free(&s->monitors, i);
        else tina__monitor_pending_push(&s->monitors, i);
        i = next;
    }
}

/* The watcher in slot i is ending: every monitor it set goes. */
void tina__monitors_release_watcher(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    (void)s, (void)t, (void)i; /* TODO(reach): the watcher's list */
}

tina_result tina_demonitor(tina_ctx *ctx, tina_handle target) {
    (void)ctx, (void)target;
    return TINA_ENOT_MONITORING; /* TODO(reach) */
}
