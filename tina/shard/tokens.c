/*
 * tokens.c -- replies sent later (placeholder, filled in below).
 */
#include "shard.h"

void tina__tokens_orphan(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    (void)s, (void)t, (void)i;
}
