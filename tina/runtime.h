/*
 * runtime.h -- creating a runtime on a given platform (runtime.c).
 *
 * tina_create is this on the production platform; the simulator
 * (sim/run.c) creates on its own.
 */
#ifndef TINA_RUNTIME_H
#define TINA_RUNTIME_H

#include "platform.h"
#include "world.h"

tina_result tina__create(const tina_spec *spec, const struct tina__platform *platform,
                         void *platform_state, tina_runtime **out, tina_boot_report *report);

/* spec.c: resolve defaults and the shard count, check every field,
 * compute the memory. */
tina_result tina__spec_resolve(const tina_spec *in, tina_spec *out, tina_boot_report *report,
                               int with_topology);

#endif /* TINA_RUNTIME_H */
