/*
 * supervise.h -- what happens when an isolate ends.
 *
 * The shard tears an isolate down (shard.c: tina__isolate_exit) and then
 * asks its supervisor whether to restart it.  This stage applies the
 * one-for-one rule to each isolate on its own: permanent restarts after
 * done or crash, transient after a crash only, temporary never.  The full
 * supervision tree (groups, strategies, budgets, escalation) plugs in here
 * without the shard changing: the shard only calls these two functions.
 */
#ifndef TINA_SUPERVISE_H
#define TINA_SUPERVISE_H

#include "internal.h"

/* Called once per teardown, after the generation bump.  Returns 1 to put
 * the slot on its type's restart list (restarted at the next pass). */
int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                         int crashed, uint32_t reason);

/* Pass phase 3: restart every slot queued by the previous passes.  An
 * isolate whose init fails again is queued again, so a crash loop costs at
 * most one init per pass. */
void tina__supervise_restart_pending(struct tina__shard *s);

#endif /* TINA_SUPERVISE_H */
