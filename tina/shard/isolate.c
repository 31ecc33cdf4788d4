/*
 * isolate.c -- an isolate's life: start, exit, terminate, spawn.
 *
 * Start runs init under a trap point of its own in a fresh zeroed struct.
 * Exit tears down in a fixed order: the monitors it set and its
 * undelivered DOWNs go, the monitors of it fire, mail it never handled
 * goes back (a call in it fails now), its descriptors go, its timers are
 * cancelled, its generation is bumped (every old handle is stale from
 * here on), and the supervisor decides
 * (supervise.c) between a restart and the free list.  A slot whose last
 * generation is spent retires instead: a handle is never reused.
 *
 * Spawn copies the user's args before taking anything, so a bad pointer
 * crashes the caller with no slot taken.
 */
#include <string.h>

#include "shard.h"

/* Run init under a trap point of its own (it may be nested in a handler's
 * spawn).  Returns init's reason, or the fault's. */
static uint32_t init_protected(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    sigjmp_buf point;
    sigjmp_buf *outer_point = s->trap.jmp;
    uint32_t outer_armed = s->trap.armed;
    struct tina_ctx saved = s->ctx;
    volatile uint32_t reason = 0;
    s->trap.jmp = &point;
    int sig = TINA__TRAP_POINT(point);
    if (sig == 0) {
        s->ctx.type = t;
        s->ctx.slot = i;
        s->ctx.self = tina__slot_handle(t, i, slot->generation);
        s->ctx.msg = NULL;
        s->ctx.deferred = 0;
        s->trap.armed = 1;
        reason = t->init(tina__slot_struct(t, i), &s->ctx, t->args + (size_t)i * TINA_ARGS_MAX,
                         t->reach[i].args_size);
        if (TINA__UNLIKELY(s->trace != NULL)) { /* the simulator sees (and may fail) inits */
            tina_effect e = reason ? tina_crash(reason) : tina_receive();
            s->trace(s, NULL, &e);
            if (e.kind == TINA_EFFECT_CRASH) reason = e.crash.reason ? e.crash.reason : 1;
        }
        s->trap.armed = 0;
    } else {
        reason = TINA_CRASH_SIGNAL_BASE + (uint32_t)sig;
    }
    s->trap.jmp = outer_point;
    s->trap.armed = outer_armed;
    s->ctx = saved;
    return reason;
}

/* Run init in a fresh zeroed struct.  Returns 1 if the isolate is alive. */
int tina__isolate_start(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    memset(tina__slot_struct(t, i), 0, t->stride);
    slot->state = TINA__READY; /* not queued: starting */
    slot->flags = (uint8_t)(TINA__STARTING | (s->shutdown_seen ? TINA__SHUTDOWN : 0));
    slot->timer_head = TINA__NIL;
    slot->fired_head = slot->fired_tail = TINA__NIL;
    slot->downs = TINA__NIL;
    tina__slot_call(slot, TINA__CALL_NONE);
    slot->call_note = TINA__NIL;
    slot->call_timer = TINA__NIL;
    slot->call_corr = 0;
    t->live++;
    s->stats.spawns++;
    s->did_work = 1;
    if (t->init) {
        uint32_t reason = init_protected(s, t, i);
        if (reason != 0) {
            s->stats.init_failed++;
            tina__isolate_exit(s, t, i, TINA__EXIT_CRASHED, reason);
            return 0;
        }
    }
    slot->flags &= (uint8_t)~TINA__STARTING;
    tina__slot_park(t, i);
    return 1;
}

/* Teardown: mailbox back to the pool, timers cancelled, generation bumped;
 * then the supervisor decides between the free list and a restart. */
/* A dead slot nobody will restart.  A static child's slot stays its own
 * (FREE, on no list): the supervision tree, its restarts and a revival
 * name it by child index, and a spawned stranger there would be torn down
 * or restarted as that child.  Any other goes back on the free list. */
static void slot_release(struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    slot->state = TINA__FREE;
    if (slot->child != TINA__NIL && !(slot->child & TINA__DYNAMIC)) return;
    t->reach[i].lineage = 0; /* its address is stale from here on */
    slot->next = t->free_head;
    t->free_head = i;
}

/* Out of generations: on no list, never alive again.  A restart its
 * supervisor wanted cannot happen (a dynamic child's room goes back). */
static void slot_retire(struct tina__shard *s, struct tina__type *t, uint32_t i, int restart) {
    struct tina__slot *slot = &t->slots[i];
    if (restart && slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->tree.groups[slot->child & ~TINA__DYNAMIC].dynamic_count--;
    slot->state = TINA__RETIRED;
    if (slot->child == TINA__NIL || (slot->child & TINA__DYNAMIC)) t->reach[i].lineage = 0;
    s->stats.slots_retired++;
    tina__log_event(s, TINA_LOG_WARN, tina__slot_handle(t, i, slot->generation), t->id,
                    "slot %u retired: its last generation is spent%s", i,
                    restart ? "; the restart cannot happen" : "");
}

/* What an ending isolate holds goes: the monitors it set and its
 * undelivered DOWNs first (so it does not watch its own end), then the
 * monitors of it fire, mail it never handled goes back (a call in it fails
 * now), then its reply tokens, its descriptors and operations, its call
 * and its timers. */
static void exit_release(struct tina__shard *s, struct tina__slot *slot, tina_handle h, int how,
                         uint32_t reason) {
    struct tina__type *t = &s->types[tina_handle_type(h)];
    uint32_t i = tina_handle_slot(h);
    if (t->reach[i].watching != TINA__NIL) tina__monitors_release_watcher(s, t, i);
    if (slot->monitor_head != TINA__NIL) tina__monitors_fire(s, slot, h, how, reason);
    while (slot->mbox_head != TINA__NIL) {
        uint32_t m = tina__mailbox_pop(&s->pool, slot);
        if (TINA__UNLIKELY(s->pool.msgs[m].kind == TINA_MSG_CALL))
            tina__call_answer_failed(s, &s->pool.msgs[m], TINA_ESTALE);
        tina__pool_free(&s->pool, m);
    }
    if (t->reach[i].tokens != TINA__NIL) tina__tokens_orphan(s, t, i);
    if (TINA__UNLIKELY(s->io != NULL)) tina__io_isolate_exit(s, slot, h);
    if (slot->call == TINA__CALL_WAITING || slot->call == TINA__CALL_REPLIED)
        tina__pool_free(&s->pool, slot->call_note);
    tina__slot_call(slot, TINA__CALL_NONE);
    slot->call_note = TINA__NIL;
    tina__timers_cancel_all(s, slot);
    slot->call_timer = TINA__NIL;
    slot->call_corr = 0;
    slot->flags = 0;
    tina__slot_pending(slot); /* a DOWN may still wait: its monitor's teardown takes it */
}

void tina__isolate_exit(struct tina__shard *s, struct tina__type *t, uint32_t i, int how,
                        uint32_t reason) {
    struct tina__slot *slot = &t->slots[i];
    TINA_ASSERT(slot->state != TINA__EXITING && slot->state != TINA__FREE);
    if (slot->flags & TINA__QUEUED) tina__queue_remove(t, i);
    slot->state = TINA__EXITING; /* a strategy applied from here skips it */
    tina_handle h = tina__slot_handle(t, i, slot->generation);
    exit_release(s, slot, h, how, reason);
    /* A generation is never used twice: the slot whose last one this was
     * retires (it would wrap to a handle given out 268 million lives ago). */
    int retiring = slot->generation == TINA_GENERATION_MASK;
    if (!retiring) slot->generation = tina__generation_next(slot->generation);
    t->live--;
    if (how == TINA__EXIT_CRASHED) {
        s->stats.crashes++;
        tina__log_event(s, TINA_LOG_WARN, h, t->id, "crashed, reason %#x", reason);
    } else if (how == TINA__EXIT_DONE) {
        s->stats.done++;
    } else {
        s->stats.terminated++;
    }
    s->did_work = 1;
    int restart = tina__supervise_exit(s, t, i, how);
    if (TINA__UNLIKELY(retiring)) {
        slot_retire(s, t, i, restart);
    } else if (restart) {
        slot->state = TINA__RESTARTING;
        s->restart_pending++;
        if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC)) tina__list_push(t, &t->restart, i);
    } else {
        slot_release(t, i);
    }
}

/* A slot waiting for its restart will not get it: free it, and give its
 * dynamic group the room back. */
void tina__slot_forget_restart(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC))
        s->tree.groups[slot->child & ~TINA__DYNAMIC].dynamic_count--;
    slot_release(t, i);
    s->restart_pending--;
}

void tina__isolate_terminate(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    struct tina__slot *slot = &t->slots[i];
    if (slot->state == TINA__RESTARTING) { /* a dynamic child: it ends with its group */
        if (slot->child != TINA__NIL && (slot->child & TINA__DYNAMIC) &&
            tina__list_remove(t, &t->restart, i))
            tina__slot_forget_restart(s, t, i);
        return;
    }
    if (!tina__slot_live(slot))
        return; /* free, or already on its way out */
    if (slot->flags & TINA__STARTING) return; /* its init is about to run, or running */
    if (slot->flags & TINA__RUNNING) {        /* torn down as its handler returns */
        slot->flags |= TINA__DOOMED;
        return;
    }
    tina__isolate_exit(s, t, i, TINA__EXIT_TERMINATED, 0);
}

static tina_result spawn_into(struct tina__shard *s, uint32_t type_id, const void *args,
                              size_t args_size, uint32_t restart, uint32_t child,
                              tina_handle *out) {
    if (out) *out = TINA_HANDLE_NONE;
    if (type_id >= s->type_count || (args_size > 0 && args == NULL)) return TINA_EINVAL;
    if (args_size > TINA_ARGS_MAX) return TINA_ETOO_BIG;
    /* Read the user's args before taking anything: a bad pointer faults
     * here (the trap crashes the caller) with no slot or room taken. */
    uint8_t copy[TINA_ARGS_MAX];
    if (args_size) memcpy(copy, args, args_size);
    struct tina__type *t = &s->types[type_id];
    uint32_t i = t->free_head;
    if (i == TINA__NIL) {
        s->stats.spawn_failed++;
        return TINA_ENO_SLOT;
    }
    struct tina__slot *slot = &t->slots[i];
    t->free_head = slot->next;
    slot->restart = (uint8_t)restart;
    slot->child = child;
    if (child != TINA__NIL) s->tree.groups[child & ~TINA__DYNAMIC].dynamic_count++;
    t->reach[i].args_size = (uint32_t)args_size;
    if (args_size) memcpy(t->args + (size_t)i * TINA_ARGS_MAX, copy, args_size);
    t->reach[i].lineage = slot->generation; /* its address: this first incarnation's */
    tina_handle h = tina__slot_handle(t, i, slot->generation);
    if (out) *out = h;
    (void)tina__isolate_start(s, t, i);
    return TINA_OK;
}

tina_result tina_spawn(tina_ctx *ctx, uint32_t type_id, const void *args, size_t args_size,
                       tina_handle *out) {
    return spawn_into(ctx->shard, type_id, args, args_size, TINA_RESTART_TEMPORARY, TINA__NIL,
                      out);
}

tina_result tina_spawn_child(tina_ctx *ctx, uint32_t group, uint32_t restart, uint32_t type_id,
                             const void *args, size_t args_size, tina_handle *out) {
    struct tina__shard *s = ctx->shard;
    if (out) *out = TINA_HANDLE_NONE;
    if (group >= s->tree.group_count || restart > TINA_RESTART_PERMANENT ||
        s->tree.groups[group].dynamic_max == 0)
        return TINA_EINVAL;
    if (s->tree.groups[group].dynamic_count >= s->tree.groups[group].dynamic_max) return TINA_EGROUP_FULL;
    return spawn_into(s, type_id, args, args_size, restart, TINA__DYNAMIC | group, out);
}
