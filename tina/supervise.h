/*
 * supervise.h -- what happens when an isolate ends.
 *
 * The shard tears an isolate down (shard.c: tina__isolate_exit) and then
 * asks its supervisor whether to restart it; the supervisor may tear down
 * siblings (its group's strategy), escalate up the tree, or ask for the
 * shard's quarantine (s->quarantine_pending).  See supervise.c.
 */
#ifndef TINA_SUPERVISE_H
#define TINA_SUPERVISE_H

#include "internal.h"

/* Called once per teardown, after the generation bump; `how` is a
 * TINA__EXIT_* value.  Returns 1 to leave the slot RESTARTING (restarted
 * in phase 3 of a later pass). */
int tina__supervise_exit(struct tina__shard *s, struct tina__type *t, uint32_t slot_index,
                         int how, uint32_t reason);

/* Pass phase 3: restart every slot queued by the previous passes.  An
 * isolate whose init fails again is queued again, so a crash loop costs at
 * most one init per pass. */
void tina__supervise_restart_pending(struct tina__shard *s);

#endif /* TINA_SUPERVISE_H */
