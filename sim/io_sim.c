/*
 * io_sim.c -- the simulated network and file system (placeholder: every
 * I/O set-up fails with ENOSYS under the simulator until it lands).
 */
#include <errno.h>

#include "sim.h"

int tina__sim_io_setup(struct tina__shard *s) {
    (void)s;
    return -ENOSYS;
}

void tina__sim_io_submit(struct tina__shard *s) { (void)s; }

uint32_t tina__sim_io_reap(struct tina__shard *s) {
    (void)s;
    return 0;
}

void tina__sim_io_cancel(struct tina__shard *s, uint32_t op) {
    (void)s;
    (void)op;
}

int64_t tina__sim_io_ctl(struct tina__shard *s, struct tina__io_ctl *c) {
    (void)s;
    (void)c;
    return -ENOSYS;
}

void tina__sim_io_teardown(struct tina__shard *s) { (void)s; }
