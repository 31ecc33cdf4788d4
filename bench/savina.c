/*
 * savina -- five programs of the Savina actor benchmark suite (Imam and
 * Sarkar, "Savina -- An Actor Benchmark Suite", AGERE! 2014), written as
 * their definitions give them (shamsimam/savina), on one shard and on all
 * shards.  bench/peers/savina_caf.cpp is the same five on CAF, and
 * bench/savina_vs_caf.sh runs the two side by side (DESIGN.md, "Savina").
 *
 *   pingpong        ping sends N = 40,000 pings to pong, one at a time;
 *                   pong answers each; then ping sends stop.
 *   counting        a producer sends N = 1,000,000 increments to a counter,
 *                   then asks for the total (must be N).  Mailboxes are
 *                   bounded: when tina_send says TINA_EMAILBOX_FULL the
 *                   producer yields and sends the same message again on
 *                   its resume -- nothing is lost.
 *   counting_sized  the same with the counter's mailbox, the message pool
 *                   (and across shards the channel to it) sized to hold all
 *                   N: the producer never meets a full result (checked).
 *   fjthrput        fork-join throughput: a driver sends N = 10,000
 *                   messages to each of A = 60 actors (for m in N, for a in
 *                   A), each message costing one sin(37.2)^2; retry on full
 *                   as counting does.
 *   big             W = 120 actors each send N = 20,000 pings, one at a
 *                   time, to neighbours drawn by Savina's PseudoRandom(id),
 *                   answering every ping with a pong; a sink counts the W
 *                   actors that finished.
 *   chameneos       C = 100 chameneos meet M = 200,000 times through a mall;
 *                   every meeting changes both colours; at the end each
 *                   reports its meetings (the sum must be 2M).
 *
 * Placement: child k (the driver, sink or mall is child 0) goes to shard
 * k % shards.  "One shard": shard_count 1 pinned to the first allowed CPU;
 * "all shards": shard_count 0 (one per core, placed by the runtime).  The
 * clock starts when the driver's first message is handled (actors are
 * static children, created at boot) and stops when the last one is.
 *
 * Usage: savina                      every benchmark, both placements:
 *                                    savina_<name>_ms and
 *                                    savina_<name>_all_shards_ms, medians
 *        savina <name> one|all [R]   R runs (default 1) of one of them
 * Placement and per-run figures go to stderr.
 */
#include "bench.h"

#include <math.h>
#include <stdatomic.h>

#define TAG_START (TINA_TAG_USER + 0)
#define TAG_PING (TINA_TAG_USER + 1)
#define TAG_PONG (TINA_TAG_USER + 2)
#define TAG_STOP (TINA_TAG_USER + 3)
#define TAG_INCREMENT (TINA_TAG_USER + 4)
#define TAG_RETRIEVE (TINA_TAG_USER + 5)
#define TAG_RESULT (TINA_TAG_USER + 6)
#define TAG_WORK (TINA_TAG_USER + 7)
#define TAG_DONE (TINA_TAG_USER + 8)
#define TAG_MEET (TINA_TAG_USER + 9)
#define TAG_CHANGE (TINA_TAG_USER + 10)
#define TAG_EXIT (TINA_TAG_USER + 11)
#define TAG_COUNT (TINA_TAG_USER + 12)

#define PINGPONG_N 40000u
#define COUNTING_N 1000000u
#define FJ_ACTORS 60u
#define FJ_N 10000u
#define BIG_ACTORS 120u
#define BIG_N 20000u
#define CHAMENEOS_COUNT 100u
#define CHAMENEOS_MEETINGS 200000u

/* Across shards a drain delivers up to one ring's worth a pass and never
 * waits for room (DESIGN 6): the flooded types handle a ring's worth a
 * pass and their mailboxes hold one, so nothing is dropped on arrival. */
#define FLOOD_RING_SLOTS 1024u
#define FLOOD_BASE_BUDGET FLOOD_RING_SLOTS
#define SIZED_RING_SLOTS (1u << 20)
_Static_assert(SIZED_RING_SLOTS >= COUNTING_N + 1, "the sized channel holds every message");
#define BIG_MAILBOX 256u
_Static_assert(BIG_MAILBOX >= BIG_ACTORS + 2, "one ping from each actor, a pong, the start");
#define MALL_MAILBOX 512u
_Static_assert(MALL_MAILBOX >= 2 * CHAMENEOS_COUNT, "a meet and a count from each chameneo");

#define RUN_LIMIT_NS (30ull * 1000000000ull)

/* Set by main before each tina_create, read by handlers. */
static uint32_t g_shards;        /* shards of this run */
static uint32_t g_cpu;           /* the one-shard run's CPU */
static uint32_t g_all_shards;    /* shard_count 0 resolves to this */
static uint32_t g_sized;         /* counting: the sized variant */
/* Written by handlers, read by main after tina_run returned. */
static _Atomic int g_failed;
static uint64_t g_start_ns, g_end_ns;
static uint64_t g_result;        /* what the benchmark's check reads */
static uint64_t g_retries;       /* sends refused full and retried */

/* r: the refused call's result, or TINA_OK for a failed check. */
static void fail(tina_ctx *ctx, const char *what, tina_result r) {
    fprintf(stderr, "savina: %s%s%s\n", what, r != TINA_OK ? ": " : "",
            r != TINA_OK ? tina_result_name(r) : "");
    atomic_store(&g_failed, 1);
    tina_request_stop(ctx);
}

static void send_or_fail(tina_ctx *ctx, tina_handle to, uint16_t tag, const void *payload,
                         size_t size) {
    tina_result r = tina_send(ctx, to, tag, payload, size);
    if (r != TINA_OK) fail(ctx, "send", r);
}

/* Child k lives on shard k % shards. */
static tina_handle child(const tina_ctx *ctx, uint32_t k) {
    return tina_child_handle(ctx, k, k % g_shards);
}

static void start_self(tina_ctx *ctx) { send_or_fail(ctx, tina_self(ctx), TAG_START, NULL, 0); }

static void finish(tina_ctx *ctx) {
    g_end_ns = bench_now_ns();
    tina_request_stop(ctx);
}

/* ------------------------------------------------------------------------ */
/* PingPong                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct ping {
    tina_handle pong;
    uint32_t pings_left;
} ping;

typedef struct pong {
    uint32_t pongs;
} pong;

static uint32_t ping_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    ping *p = self;
    (void)args;
    (void)size;
    p->pong = child(ctx, 1);
    p->pings_left = PINGPONG_N;
    start_self(ctx);
    return 0;
}

static tina_effect ping_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    ping *p = self;
    if (msg->tag == TAG_START) g_start_ns = bench_now_ns();
    else if (msg->tag != TAG_PONG) return tina_receive();
    if (p->pings_left > 0) {
        p->pings_left--;
        send_or_fail(ctx, p->pong, TAG_PING, NULL, 0);
    } else {
        send_or_fail(ctx, p->pong, TAG_STOP, NULL, 0);
    }
    return tina_receive();
}

static tina_effect pong_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    pong *p = self;
    if (msg->tag == TAG_PING) {
        p->pongs++;
        send_or_fail(ctx, msg->from, TAG_PONG, NULL, 0);
    } else if (msg->tag == TAG_STOP) {
        g_result = p->pongs;
        finish(ctx);
    }
    return tina_receive();
}

static void pingpong_spec(tina_spec *spec, tina_type_spec *types, tina_child_spec *children) {
    types[0] = (tina_type_spec){.name = "ping", .struct_size = sizeof(ping), .slots_per_shard = 1,
                                .init = ping_init, .handler = ping_handler};
    types[1] = (tina_type_spec){.name = "pong", .struct_size = sizeof(pong), .slots_per_shard = 1,
                                .handler = pong_handler};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    children[1] = (tina_child_spec){.type_id = 1, .shard = 1 % g_shards};
    spec->type_count = 2;
    spec->child_count = 2;
}

static int pingpong_check(void) { return g_result == PINGPONG_N; }

/* ------------------------------------------------------------------------ */
/* Counting                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct producer {
    tina_handle counter;
    uint32_t sent; /* messages accepted: N increments, then the retrieve */
} producer;

typedef struct counter {
    uint64_t count;
} counter;

static uint32_t producer_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    producer *p = self;
    (void)args;
    (void)size;
    p->counter = child(ctx, 1);
    start_self(ctx);
    return 0;
}

static tina_effect producer_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    producer *p = self;
    if (msg->tag == TAG_RESULT) {
        memcpy(&g_result, msg->payload, sizeof g_result);
        finish(ctx);
        return tina_receive();
    }
    if (msg->tag == TAG_START) g_start_ns = bench_now_ns();
    else if (msg->tag != TINA_TAG_RESUME) return tina_receive();
    while (p->sent <= COUNTING_N) {
        uint16_t tag = p->sent < COUNTING_N ? TAG_INCREMENT : TAG_RETRIEVE;
        tina_result r = tina_send(ctx, p->counter, tag, NULL, 0);
        if (r == TINA_EMAILBOX_FULL) {
            g_retries++;
            return tina_yield(); /* the same message again on TINA_TAG_RESUME */
        }
        if (r != TINA_OK) {
            fail(ctx, "counting send", r);
            return tina_receive();
        }
        p->sent++;
    }
    return tina_receive();
}

static tina_effect counter_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    counter *c = self;
    if (msg->tag == TAG_INCREMENT) {
        c->count++;
    } else if (msg->tag == TAG_RETRIEVE) {
        send_or_fail(ctx, msg->from, TAG_RESULT, &c->count, sizeof c->count);
    }
    return tina_receive();
}

static void counting_spec(tina_spec *spec, tina_type_spec *types, tina_child_spec *children) {
    static tina_ring_override sized_ring = {.from = 0, .to = 1, .slots = SIZED_RING_SLOTS};
    types[0] = (tina_type_spec){.name = "producer", .struct_size = sizeof(producer),
                                .slots_per_shard = 1, .init = producer_init,
                                .handler = producer_handler};
    types[1] = (tina_type_spec){.name = "counter", .struct_size = sizeof(counter),
                                .slots_per_shard = 1, .mailbox_capacity = FLOOD_RING_SLOTS,
                                .handler = counter_handler};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    children[1] = (tina_child_spec){.type_id = 1, .shard = 1 % g_shards};
    spec->type_count = 2;
    spec->child_count = 2;
    spec->ring_slots = FLOOD_RING_SLOTS;
    spec->base_budget = FLOOD_BASE_BUDGET;
    if (!g_sized) return;
    types[1].mailbox_capacity = COUNTING_N + 1;
    spec->pool_user_slots = COUNTING_N + 1024;
    if (g_shards > 1) {
        spec->ring_override_count = 1;
        spec->ring_overrides = &sized_ring;
    }
}

static int counting_check(void) {
    if (g_sized && g_retries != 0) {
        fprintf(stderr, "savina: counting_sized: %llu full results\n",
                (unsigned long long)g_retries);
        return 0;
    }
    return g_result == COUNTING_N;
}

/* ------------------------------------------------------------------------ */
/* Fork-join throughput                                                      */
/* ------------------------------------------------------------------------ */

typedef struct fj_driver {
    tina_handle actors[FJ_ACTORS];
    uint32_t message; /* next message index, 0..N */
    uint32_t actor;   /* next actor for it, 0..A */
    uint32_t done;    /* actors that handled all N */
} fj_driver;

typedef struct fj_actor {
    uint32_t processed;
} fj_actor;

static volatile double g_theta = 37.2; /* volatile: sin() is computed, not folded */

/* Savina's ThroughputConfig.performComputation. */
static int fj_compute(void) {
    double sint = sin(g_theta);
    double res = sint * sint;
    return res > 0;
}

static uint32_t fj_driver_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    fj_driver *d = self;
    (void)args;
    (void)size;
    for (uint32_t a = 0; a < FJ_ACTORS; a++) d->actors[a] = child(ctx, 1 + a);
    start_self(ctx);
    return 0;
}

static tina_effect fj_driver_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    fj_driver *d = self;
    if (msg->tag == TAG_DONE) {
        if (++d->done == FJ_ACTORS) {
            g_result = d->done;
            finish(ctx);
        }
        return tina_receive();
    }
    if (msg->tag == TAG_START) g_start_ns = bench_now_ns();
    else if (msg->tag != TINA_TAG_RESUME) return tina_receive();
    for (; d->message < FJ_N; d->message++, d->actor = 0) {
        for (; d->actor < FJ_ACTORS; d->actor++) {
            tina_result r = tina_send(ctx, d->actors[d->actor], TAG_WORK, NULL, 0);
            if (r == TINA_EMAILBOX_FULL) {
                g_retries++;
                return tina_yield();
            }
            if (r != TINA_OK) {
                fail(ctx, "fjthrput send", r);
                return tina_receive();
            }
        }
    }
    return tina_receive();
}

static tina_effect fj_actor_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    fj_actor *a = self;
    if (msg->tag != TAG_WORK) return tina_receive();
    if (!fj_compute()) fail(ctx, "fjthrput: sin(37.2)^2 <= 0", TINA_OK);
    if (++a->processed == FJ_N) send_or_fail(ctx, child(ctx, 0), TAG_DONE, NULL, 0);
    return tina_receive();
}

static void fjthrput_spec(tina_spec *spec, tina_type_spec *types, tina_child_spec *children) {
    types[0] = (tina_type_spec){.name = "fj_driver", .struct_size = sizeof(fj_driver),
                                .slots_per_shard = 1, .init = fj_driver_init,
                                .handler = fj_driver_handler};
    types[1] = (tina_type_spec){.name = "fj_actor", .struct_size = sizeof(fj_actor),
                                .slots_per_shard = FJ_ACTORS, .handler = fj_actor_handler};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    for (uint32_t k = 1; k <= FJ_ACTORS; k++) {
        children[k] = (tina_child_spec){.type_id = 1, .shard = k % g_shards};
    }
    spec->type_count = 2;
    spec->child_count = 1 + FJ_ACTORS;
    spec->ring_slots = FLOOD_RING_SLOTS;
    spec->base_budget = FLOOD_BASE_BUDGET;
    /* Every mailbox full at once (256 each) still fits the pool: only
     * mailbox-full results, never pool-exhausted ones. */
    spec->pool_user_slots = FJ_ACTORS * 256u + 1024u;
}

static int fjthrput_check(void) { return g_result == FJ_ACTORS; }

/* ------------------------------------------------------------------------ */
/* Big                                                                       */
/* ------------------------------------------------------------------------ */

typedef struct big_actor {
    tina_handle neighbors[BIG_ACTORS]; /* every big actor, by id */
    tina_handle sink;
    uint32_t id;
    uint32_t pings;      /* pings sent */
    int32_t exp_pinger;  /* the id the next pong must come from */
    uint32_t random;     /* Savina's PseudoRandom state */
} big_actor;

typedef struct big_sink {
    uint32_t exits;
} big_sink;

/* Savina's PseudoRandom.nextInt(max). */
static uint32_t pseudo_random_next(uint32_t *value, uint32_t max) {
    *value = (*value * 1309u + 13849u) & 65535u;
    return *value % max;
}

static uint32_t big_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    big_actor *b = self;
    if (size != sizeof b->id) return 1;
    memcpy(&b->id, args, sizeof b->id);
    for (uint32_t j = 0; j < BIG_ACTORS; j++) {
        b->neighbors[j] = child(ctx, 1 + j);
        if (b->neighbors[j] == TINA_HANDLE_NONE) return 2;
    }
    b->sink = child(ctx, 0);
    b->exp_pinger = -1;
    b->random = b->id;
    return 0;
}

static tina_effect big_pong(big_actor *b, tina_ctx *ctx, int32_t from) {
    if (from != b->exp_pinger) {
        fail(ctx, "big: pong from an unexpected actor", TINA_OK);
        return tina_receive();
    }
    if (b->pings == BIG_N) {
        send_or_fail(ctx, b->sink, TAG_EXIT, NULL, 0);
        return tina_receive();
    }
    uint32_t target = pseudo_random_next(&b->random, BIG_ACTORS);
    b->exp_pinger = (int32_t)target;
    b->pings++;
    send_or_fail(ctx, b->neighbors[target], TAG_PING, &b->id, sizeof b->id);
    return tina_receive();
}

static tina_effect big_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    big_actor *b = self;
    int32_t from;
    memcpy(&from, msg->payload, sizeof from);
    if (msg->tag == TAG_PING) {
        if (from < 0 || from >= (int32_t)BIG_ACTORS) {
            fail(ctx, "big: ping from no actor", TINA_OK);
            return tina_receive();
        }
        send_or_fail(ctx, b->neighbors[from], TAG_PONG, &b->id, sizeof b->id);
        return tina_receive();
    }
    if (msg->tag == TAG_PONG) return big_pong(b, ctx, from);
    return tina_receive();
}

static uint32_t big_sink_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self;
    (void)args;
    (void)size;
    start_self(ctx);
    return 0;
}

static tina_effect big_sink_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    big_sink *s = self;
    if (msg->tag == TAG_START) {
        g_start_ns = bench_now_ns();
        int32_t none = -1; /* Savina starts each actor with PongMessage(-1) */
        for (uint32_t j = 0; j < BIG_ACTORS; j++) {
            send_or_fail(ctx, child(ctx, 1 + j), TAG_PONG, &none, sizeof none);
        }
    } else if (msg->tag == TAG_EXIT && ++s->exits == BIG_ACTORS) {
        g_result = s->exits;
        finish(ctx);
    }
    return tina_receive();
}

static void big_spec(tina_spec *spec, tina_type_spec *types, tina_child_spec *children) {
    static uint32_t ids[BIG_ACTORS];
    types[0] = (tina_type_spec){.name = "big_sink", .struct_size = sizeof(big_sink),
                                .slots_per_shard = 1, .init = big_sink_init,
                                .handler = big_sink_handler};
    types[1] = (tina_type_spec){.name = "big_actor", .struct_size = sizeof(big_actor),
                                .slots_per_shard = BIG_ACTORS, .mailbox_capacity = BIG_MAILBOX,
                                .init = big_init, .handler = big_handler};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    for (uint32_t j = 0; j < BIG_ACTORS; j++) {
        ids[j] = j;
        children[1 + j] = (tina_child_spec){.type_id = 1, .shard = (1 + j) % g_shards,
                                            .args_size = sizeof ids[j], .args = &ids[j]};
    }
    spec->type_count = 2;
    spec->child_count = 1 + BIG_ACTORS;
}

static int big_check(void) { return g_result == BIG_ACTORS; }

/* ------------------------------------------------------------------------ */
/* Chameneos                                                                 */
/* ------------------------------------------------------------------------ */

enum { RED = 0, YELLOW = 1, BLUE = 2, FADED = 3 };

typedef struct meet_msg {
    uint32_t color;
    uint32_t reserved;
    tina_handle chameneo; /* whose colour it is */
} meet_msg;

typedef struct mall {
    uint32_t meetings_left;
    uint32_t faded;
    uint64_t meetings_sum;
    meet_msg waiting; /* chameneo 0: none waits */
} mall;

typedef struct chameneo {
    tina_handle mall;
    uint32_t color;
    uint32_t meetings;
} chameneo;

/* Savina's ChameneosHelper.complement. */
static uint32_t complement(uint32_t mine, uint32_t other) {
    if (mine == FADED || other == FADED) return FADED;
    return mine == other ? mine : 3u - mine - other;
}

static uint32_t mall_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    mall *m = self;
    (void)args;
    (void)size;
    m->meetings_left = CHAMENEOS_MEETINGS;
    start_self(ctx);
    return 0;
}

static void mall_meet(mall *m, tina_ctx *ctx, const tina_msg *msg) {
    meet_msg meet;
    memcpy(&meet, msg->payload, sizeof meet);
    if (m->meetings_left == 0) {
        send_or_fail(ctx, meet.chameneo, TAG_EXIT, NULL, 0);
    } else if (m->waiting.chameneo == TINA_HANDLE_NONE) {
        m->waiting = meet;
    } else {
        m->meetings_left--;
        send_or_fail(ctx, m->waiting.chameneo, TAG_MEET, &meet, sizeof meet);
        m->waiting.chameneo = TINA_HANDLE_NONE;
    }
}

static tina_effect mall_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    mall *m = self;
    if (msg->tag == TAG_START) {
        g_start_ns = bench_now_ns();
        for (uint32_t j = 0; j < CHAMENEOS_COUNT; j++) {
            send_or_fail(ctx, child(ctx, 1 + j), TAG_START, NULL, 0);
        }
    } else if (msg->tag == TAG_MEET) {
        mall_meet(m, ctx, msg);
    } else if (msg->tag == TAG_COUNT) {
        uint32_t count;
        memcpy(&count, msg->payload, sizeof count);
        m->meetings_sum += count;
        if (++m->faded == CHAMENEOS_COUNT) {
            g_result = m->meetings_sum;
            finish(ctx);
        }
    }
    return tina_receive();
}

static uint32_t chameneo_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    chameneo *c = self;
    uint32_t id;
    if (size != sizeof id) return 1;
    memcpy(&id, args, sizeof id);
    c->mall = child(ctx, 0);
    c->color = id % 3u;
    return 0;
}

static void chameneo_go_to_mall(chameneo *c, tina_ctx *ctx) {
    meet_msg meet = {.color = c->color, .chameneo = tina_self(ctx)};
    send_or_fail(ctx, c->mall, TAG_MEET, &meet, sizeof meet);
}

static tina_effect chameneo_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    chameneo *c = self;
    if (msg->tag == TAG_MEET) { /* the mall paired us: the other's colour */
        meet_msg other;
        memcpy(&other, msg->payload, sizeof other);
        c->color = complement(c->color, other.color);
        c->meetings++;
        send_or_fail(ctx, other.chameneo, TAG_CHANGE, &c->color, sizeof c->color);
    } else if (msg->tag == TAG_CHANGE) {
        memcpy(&c->color, msg->payload, sizeof c->color);
        c->meetings++;
    } else if (msg->tag == TAG_EXIT) {
        c->color = FADED;
        send_or_fail(ctx, msg->from, TAG_COUNT, &c->meetings, sizeof c->meetings);
        return tina_done();
    } else if (msg->tag != TAG_START) {
        return tina_receive();
    }
    chameneo_go_to_mall(c, ctx);
    return tina_receive();
}

static void chameneos_spec(tina_spec *spec, tina_type_spec *types, tina_child_spec *children) {
    static uint32_t ids[CHAMENEOS_COUNT];
    types[0] = (tina_type_spec){.name = "mall", .struct_size = sizeof(mall), .slots_per_shard = 1,
                                .mailbox_capacity = MALL_MAILBOX, .init = mall_init,
                                .handler = mall_handler};
    types[1] = (tina_type_spec){.name = "chameneo", .struct_size = sizeof(chameneo),
                                .slots_per_shard = CHAMENEOS_COUNT, .init = chameneo_init,
                                .handler = chameneo_handler};
    children[0] = (tina_child_spec){.type_id = 0, .shard = 0};
    for (uint32_t j = 0; j < CHAMENEOS_COUNT; j++) {
        ids[j] = j;
        children[1 + j] = (tina_child_spec){.type_id = 1, .shard = (1 + j) % g_shards,
                                            .args_size = sizeof ids[j], .args = &ids[j]};
    }
    spec->type_count = 2;
    spec->child_count = 1 + CHAMENEOS_COUNT;
}

static int chameneos_check(void) { return g_result == 2ull * CHAMENEOS_MEETINGS; }

/* ------------------------------------------------------------------------ */
/* Runs                                                                      */
/* ------------------------------------------------------------------------ */

#define CHILDREN_MAX (1 + BIG_ACTORS)

typedef struct benchmark {
    const char *name;
    uint32_t run_count; /* runs whose median is printed */
    uint32_t sized;     /* counting_sized */
    void (*spec)(tina_spec *spec, tina_type_spec *types, tina_child_spec *children);
    int (*check)(void);
} benchmark;

static const benchmark g_benchmarks[] = {
    {"pingpong", 5, 0, pingpong_spec, pingpong_check},
    {"counting", 5, 0, counting_spec, counting_check},
    {"counting_sized", 3, 1, counting_spec, counting_check},
    {"fjthrput", 5, 0, fjthrput_spec, fjthrput_check},
    {"big", 3, 0, big_spec, big_check},
    {"chameneos", 5, 0, chameneos_spec, chameneos_check},
};
#define BENCHMARK_COUNT (sizeof g_benchmarks / sizeof g_benchmarks[0])

/* Messages dropped on arrival anywhere: none may be, or a count is off. */
static uint64_t dropped_on_arrival(const tina_runtime *rt) {
    uint64_t dropped = 0;
    for (uint32_t s = 0; s < tina_runtime_shard_count(rt); s++) {
        tina_shard_stats stats;
        if (tina_stats(rt, s, &stats) == TINA_OK) dropped += stats.dropped_on_arrival;
    }
    return dropped;
}

/* One run of b on one shard (all = 0) or on all shards; its time in ms. */
static double run_once(const benchmark *b, int all) {
    tina_type_spec types[2];
    tina_child_spec children[CHILDREN_MAX];
    tina_spec spec = {.types = types, .children = children, .no_signal_handlers = 1};
    g_shards = all ? g_all_shards : 1;
    if (!all) {
        spec.shard_count = 1;
        spec.core_count = 1;
        spec.cores = &g_cpu;
    }
    g_sized = b->sized;
    b->spec(&spec, types, children);
    atomic_store(&g_failed, 0);
    g_start_ns = g_end_ns = g_result = g_retries = 0;

    tina_runtime *rt = bench_create(&spec);
    if (tina_runtime_shard_count(rt) != g_shards) bench_die("savina: shard count changed");
    int timed_out = bench_run_guarded(rt, RUN_LIMIT_NS);
    uint64_t dropped = dropped_on_arrival(rt);
    if (timed_out || atomic_load(&g_failed) || dropped != 0 || !b->check()) {
        for (uint32_t s = 0; s < g_shards; s++) bench_dump_stats(rt, s);
        bench_die("savina: %s (%s): run failed: timed_out=%d result=%llu dropped=%llu", b->name,
                  all ? "all shards" : "one shard", timed_out, (unsigned long long)g_result,
                  (unsigned long long)dropped);
    }
    tina_destroy(rt);
    double ms = (double)(g_end_ns - g_start_ns) / 1e6;
    fprintf(stderr, "savina: %s%s: %.2f ms (%llu full results retried)\n", b->name,
            all ? " all shards" : "", ms, (unsigned long long)g_retries);
    return ms;
}

static double median_of(const benchmark *b, int all, uint32_t run_count) {
    double ms[8];
    if (run_count > 8) run_count = 8;
    for (uint32_t i = 0; i < run_count; i++) ms[i] = run_once(b, all);
    return bench_median(ms, run_count);
}

/* What shard_count 0 resolves to, and where it puts the shards. */
static void resolve_placement(void) {
    uint32_t cpus[2];
    bench_two_cpus(cpus);
    g_cpu = cpus[0];
    tina_type_spec type = {.name = "probe", .struct_size = 8, .slots_per_shard = 1,
                           .handler = pong_handler};
    tina_spec spec = {.types = &type, .type_count = 1};
    tina_boot_report report;
    memset(&report, 0, sizeof report);
    tina_result r = tina_validate(&spec, &report);
    if (r != TINA_OK) bench_die("tina_validate: %s: %s", tina_result_name(r), report.message);
    g_all_shards = report.shard_count;
    fprintf(stderr, "savina: placement: one shard on cpu %u; all shards: %u on cpus", g_cpu,
            g_all_shards);
    for (uint32_t s = 0; s < g_all_shards; s++) fprintf(stderr, " %u", report.cores[s]);
    fputc('\n', stderr);
}

int main(int argc, char **argv) {
    resolve_placement();
    if (argc >= 3) {
        for (size_t i = 0; i < BENCHMARK_COUNT; i++) {
            const benchmark *b = &g_benchmarks[i];
            if (strcmp(argv[1], b->name) != 0) continue;
            int all = strcmp(argv[2], "all") == 0;
            uint32_t runs = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1;
            printf("savina_%s%s_ms: %.2f ms\n", b->name, all ? "_all_shards" : "",
                   median_of(b, all, runs ? runs : 1));
            return 0;
        }
        bench_die("usage: savina [pingpong|counting|counting_sized|fjthrput|big|chameneos "
                  "one|all [runs]]");
    }
    for (size_t i = 0; i < BENCHMARK_COUNT; i++) {
        const benchmark *b = &g_benchmarks[i];
        printf("savina_%s_ms: %.2f ms\n", b->name, median_of(b, 0, b->run_count));
        printf("savina_%s_all_shards_ms: %.2f ms\n", b->name, median_of(b, 1, b->run_count));
        fflush(stdout);
    }
    return 0;
}
