/*
 * control.h -- the `control` isolate the TCP examples (echo, http, kv)
 * share: on shard 0, it keeps the --seconds clock and hears whether the
 * service listens.
 *
 * The acceptor spends its life parked on accept, and a parked isolate's
 * timers wait with its mail, so the --seconds timer lives here.  The
 * service reports whether it listens: on which port (kept in
 * g_bound_port, which tests, benches and main wait for), or why not --
 * then the run stops and main exits 1.
 *
 * The including example defines, before including this: CONTROL_NAME (its
 * name, for messages), the tags TAG_STOP and TAG_LISTENING, and the
 * globals g_port and g_seconds (its flags), g_quiet (no banner: benches)
 * and _Atomic uint32_t g_bound_port.
 */
#ifndef TINA_EXAMPLES_CONTROL_H
#define TINA_EXAMPLES_CONTROL_H

#include <stdio.h>
#include <string.h>

#include "tina.h"

static uint32_t control_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    tina_timer_id id;
    if (g_seconds &&
        tina_timer_set(ctx, (uint64_t)g_seconds * 1000000000u, 0, TAG_STOP, &id) != TINA_OK)
        return 1;
    return 0;
}

static tina_effect control_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TAG_STOP) tina_request_shutdown(ctx);
    if (msg->tag != TAG_LISTENING) return tina_receive();
    tina_serve_report r;
    memcpy(&r, msg->payload, sizeof(r));
    if (r.result != TINA_OK) {
        fprintf(stderr, CONTROL_NAME ": cannot listen on 127.0.0.1:%u: %s (%s)\n", g_port,
                tina_strerror(r.result), strerror(r.error));
        tina_request_stop(ctx);
        return tina_receive();
    }
    g_bound_port = r.port;
    if (!g_quiet)
        printf(CONTROL_NAME ": listening on 127.0.0.1:%u, %u shards\n", r.port,
               tina_shard_count(ctx));
    fflush(stdout);
    return tina_receive();
}

#endif /* TINA_EXAMPLES_CONTROL_H */
