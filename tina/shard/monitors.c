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
 *   address an address is resolved where the target lives -- in
 *           tina_monitor, or as the request arrives -- to the incarnation
 *           running then, which the entry watches (`target`; `asked` keeps
 *           the address for tina_demonitor); none running gives NOPROC,
 *           reason TINA_ENOT_RUNNING or TINA_ESTALE.
 *
 * Every entry of a watcher on this shard -- WATCHING here, REMOTE, DOWN --
 * is on the watcher's own list (tina__reach.watching), so what it set is
 * found without a search.  A watcher that ends (tina__monitors_release_
 * watcher) or demonitors gives its entries up: a WATCHING one leaves its
 * target's list, a DOWN its ring, and a REMOTE one sends the target's
 * shard a cancel (TINA__TAG_DEMONITOR, naming the entry and generation),
 * which frees the target's side there.  A cancel with no channel room
 * waits on the pending list (CANCEL) and is retried every pass like a
 * PENDING DOWN, so it is never lost; a cancel that finds nothing (its
 * target's entry fired already) is done, and a DOWN crossing the other
 * way finds the watcher's entry gone (or CANCEL) and is dropped.
 *
 * A monitor flood is refused by name (TINA_EMONITOR_EXHAUSTED) when the
 * table is full.  A DOWN is never delivered to a successor: a watcher's
 * entries go with it, and a DOWN crossing shards names its watcher's
 * entry by index and generation, bumped at every free.
 *
 * Bounds: an entry is freed when its DOWN is delivered, when its watcher
 * ends, or by tina_demonitor (a remote monitor's target side when the
 * cancel arrives); so a long-lived target holds only the monitors of live
 * watchers.  The only loss is a NO_MONITOR answer that finds the channel
 * back full (counted in answers_lost): there is no entry to keep it in.
 */
#include <string.h>

#include "shard.h"

/* What crosses shards: a request, the DOWN that answers it, and the
 * cancel that takes it back.  Each names the watcher's entry. */
struct monitor_request {
    tina_handle watcher;
    uint32_t entry, generation; /* the watcher's entry */
};

struct down_envelope {
    tina_down down;
    uint32_t entry, generation; /* the watcher's entry */
};
_Static_assert(sizeof(struct down_envelope) <= TINA_PAYLOAD_MAX, "a DOWN fits a message");

typedef struct monitor_request monitor_cancel; /* sent to what was asked: the same slot */

static int alive(struct tina__shard *s, tina_handle h) {
    return tina__slot_alive(tina__slot_of(s->types, h), h);
}

/* The list of the entries a watcher of this shard set. */
static uint32_t *mine_of(struct tina__shard *s, tina_handle watcher) {
    return &s->types[tina_handle_type(watcher)].reach[tina_handle_slot(watcher)].watching;
}

/* The DOWN of entry i (on its watcher's list) is for a watcher on this
 * shard: into its ring, and the watcher wakes.  0 if the watcher is gone
 * (the entry is freed). */
static int down_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    if (!alive(s, e->watcher)) {
        tina__monitor_mine_unlink(&s->monitors, mine_of(s, e->watcher), i);
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

/* Try to send the cancel of REMOTE entry i to its target's shard: 1 done
 * (or that shard is quarantined: its entries are gone), 0 no room now. */
static int cancel_send(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    monitor_cancel c = {.watcher = e->watcher, .entry = i, .generation = e->generation};
    return tina__system_send(s, e->asked, TINA__TAG_DEMONITOR, &c, sizeof(c)) != 0;
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
        tina__monitor_pending_push(&s->monitors, i, TINA__MON_PENDING);
        s->stats.downs_deferred++;
    }
}

/* Link entry i (watcher and asked set) to the isolate it names now, an
 * address resolved, or fire NOPROC (reason: why an address names none). */
static void watch_local(struct tina__shard *s, uint32_t i) {
    struct tina__monitor *e = &s->monitors.entries[i];
    e->target = e->asked;
    tina_result r = tina__target_resolve(s, &e->target);
    if (r != TINA_OK) { /* the reason is said for an address only (tina.h) */
        down_emit(s, i, TINA_DOWN_NOPROC, tina_handle_is_address(e->asked) ? (uint32_t)r : 0);
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
    e->target = e->asked = target;
    if (tina_handle_shard(target) == s->id) {
        s->stats.monitors_set++;
        tina__monitor_mine_link(&s->monitors, mine_of(s, ctx->self), i);
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
    tina__monitor_mine_link(&s->monitors, mine_of(s, ctx->self), i);
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
    e->asked = request->to;
    e->peer = req.entry;
    e->peer_generation = req.generation;
    watch_local(s, i);
}

/* A cancel from the watcher's shard: the target's side of that monitor
 * goes, if it still watches (else it fired, and its DOWN will be found
 * stale there). */
void tina__demonitor_arrived(struct tina__shard *s, const tina_msg *cancel) {
    monitor_cancel c;
    memcpy(&c, cancel->payload, sizeof(c));
    struct tina__monitors *m = &s->monitors;
    struct tina__slot *slot = tina__slot_of(s->types, cancel->to);
    for (uint32_t i = slot->monitor_head; i != TINA__NIL; i = m->entries[i].next) {
        struct tina__monitor *e = &m->entries[i];
        if (e->peer != c.entry || e->peer_generation != c.generation || e->watcher != c.watcher)
            continue;
        tina__monitor_unwatch(m, slot, i);
        tina__monitor_free(m, i);
        return;
    }
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

/* Each pass: retry the DOWNs and cancels that found no channel room, in
 * order. */
void tina__monitors_flush(struct tina__shard *s) {
    uint32_t i = tina__monitor_pending_detach(&s->monitors);
    while (i != TINA__NIL) {
        struct tina__monitor *e = &s->monitors.entries[i];
        uint32_t next = e->next;
        int done = e->state == TINA__MON_CANCEL ? cancel_send(s, i) : down_send(s, i);
        if (done) tina__monitor_free(&s->monitors, i);
        else tina__monitor_pending_push(&s->monitors, i, e->state);
        i = next;
    }
}

/* Entry i, just taken off the list of its watcher (in watcher_slot), is
 * given up: out of its target's list or its ring and freed; a REMOTE one
 * tells the target's shard first, or waits for room to. */
static void monitor_give_up(struct tina__shard *s, struct tina__slot *watcher_slot, uint32_t i) {
    struct tina__monitors *m = &s->monitors;
    struct tina__monitor *e = &m->entries[i];
    if (e->state == TINA__MON_WATCHING) {
        tina__monitor_unwatch(m, tina__slot_of(s->types, e->target), i);
    } else if (e->state == TINA__MON_DOWN) {
        tina__monitor_down_remove(m, watcher_slot, i);
    } else {
        TINA_ASSERT(e->state == TINA__MON_REMOTE);
        if (!cancel_send(s, i)) {
            tina__monitor_pending_push(m, i, TINA__MON_CANCEL);
            return;
        }
    }
    tina__monitor_free(m, i);
}

/* The watcher in slot i is ending: every monitor it set goes, and every
 * DOWN it was not handed. */
void tina__monitors_release_watcher(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    uint32_t *mine = &t->reach[i].watching;
    while (*mine != TINA__NIL) {
        uint32_t j = *mine;
        tina__monitor_mine_unlink(&s->monitors, mine, j);
        monitor_give_up(s, &t->slots[i], j);
        s->stats.monitors_released++;
    }
    TINA_ASSERT(t->slots[i].downs == TINA__NIL);
}

tina_result tina_demonitor(tina_ctx *ctx, tina_handle target) {
    struct tina__shard *s = ctx->shard;
    if (target == TINA_HANDLE_NONE || tina__handle_valid(s, target) != TINA_OK)
        return TINA_EHANDLE;
    uint32_t *mine = &ctx->type->reach[ctx->slot].watching;
    uint32_t removed = 0;
    for (uint32_t j = *mine, next; j != TINA__NIL; j = next) {
        next = s->monitors.entries[j].mine_next;
        if (s->monitors.entries[j].asked != target) continue;
        tina__monitor_mine_unlink(&s->monitors, mine, j);
        monitor_give_up(s, &ctx->type->slots[ctx->slot], j);
        removed++;
    }
    if (removed == 0) {
        s->stats.demonitor_unknown++;
        return TINA_ENOT_MONITORING;
    }
    s->stats.demonitors += removed;
    return TINA_OK;
}
