/*
 * test_alloc.c -- after boot the runtime never calls the allocator.
 *
 * This program interposes malloc, calloc, realloc, free (and the aligned
 * allocators), forwarding to glibc's __libc_* entry points, and counts the
 * calls made while a global flag is on.  Under a sanitizer that owns the
 * allocator (ASan, TSan, MSan) the same counting goes through the
 * sanitizer's allocation hooks instead.
 *
 * Only shard threads are watched: each marks itself in a thread-local on its
 * first handler call.  (The test process has other threads -- Criterion's
 * own -- whose allocations are none of the runtime's business.)  The flag
 * goes on once every shard's thread has run a handler, and goes off, before
 * tina_request_stop, after millions of local and cross-shard messages,
 * calls with replies and timeouts, periodic and cancelled timers, spawns,
 * done and crash with restarts, refused sends of every kind and log lines.
 */
#include "helpers.h"

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SANITIZER_ALLOCATOR 1
#endif
#endif

/* ------------------------------------------------------------------------ */
/* Counting                                                                   */
/* ------------------------------------------------------------------------ */

static atomic_int counting;                 /* the flag */
static _Thread_local int thread_watched;    /* this thread is a shard thread */
static atomic_uint_fast64_t counted_calls;  /* allocator calls while watched and on */
static atomic_int first_kind;               /* 1 malloc 2 calloc 3 realloc 4 free 5 aligned */
static atomic_uint_fast64_t first_size;

static inline void note(int kind, size_t size) {
    if (!thread_watched || !atomic_load_explicit(&counting, memory_order_relaxed)) return;
    if (atomic_fetch_add(&counted_calls, 1) == 0) {
        atomic_store(&first_kind, kind);
        atomic_store(&first_size, size);
    }
}

static const char *kind_name(int kind) {
    static const char *const names[] = {"none", "malloc", "calloc", "realloc", "free", "aligned"};
    return kind >= 0 && kind <= 5 ? names[kind] : "?";
}

#ifdef SANITIZER_ALLOCATOR
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *ptr, size_t size) {
    (void)ptr;
    note(1, size);
}
static void on_free(const volatile void *ptr) {
    if (ptr != NULL) note(4, 0);
}
static void install_counting(void) {
    cr_assert(ne(int, __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free), 0));
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);
void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size) {
    note(1, size);
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
    note(2, n * size);
    return __libc_calloc(n, size);
}
void *realloc(void *ptr, size_t size) {
    note(3, size);
    return __libc_realloc(ptr, size);
}
void free(void *ptr) {
    if (ptr != NULL) note(4, 0);
    __libc_free(ptr);
}
void *aligned_alloc(size_t alignment, size_t size) {
    note(5, size);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
    note(5, size);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
static void install_counting(void) {}
#endif

/* Calls through a volatile pointer so the compiler cannot elide the pair. */
static void *(*volatile malloc_fn)(size_t) = malloc;
static void *(*volatile calloc_fn)(size_t, size_t) = calloc;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void (*volatile free_fn)(void *) = free;

static void *unwatched_thread(void *arg) {
    H_UNUSED(arg);
    void *p = malloc_fn(64);
    free_fn(p);
    return NULL;
}

Test(alloc, interposer_counts_watched_threads_only, .timeout = 30) {
    install_counting();
    thread_watched = 1;
    atomic_store(&counting, 1);
    void *p = malloc_fn(32);
    void *q = calloc_fn(4, 8);
    p = realloc_fn(p, 4096);
    free_fn(p);
    free_fn(q);
    uint64_t watched = atomic_load(&counted_calls);
    cr_assert(ge(u64, watched, 5), "the interposer saw %" PRIu64 " calls", watched);
    /* pthread_create allocates on the calling thread: unwatch this one first. */
    thread_watched = 0;
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, unwatched_thread, NULL), 0));
    pthread_join(th, NULL);
    atomic_store(&counting, 0);
    cr_assert(eq(u64, atomic_load(&counted_calls), watched), "an unwatched thread was counted");
}

/* ------------------------------------------------------------------------ */
/* The workload                                                               */
/* ------------------------------------------------------------------------ */

#define SHARDS 2
#define MESSAGES_PER_PRODUCER 1000000ull /* half local, half to the other shard */
#define CALLS_PER_CALLER 10000ull
#define SPAWNS_PER_SHARD 10000ull
#define CRASHES_PER_SHARD 1000ull

enum {
    PROD = 0,
    CONS,
    CALLER,
    CALLEE,
    TICKER,
    SPAWNER,
    WORKER,
    PHOENIX,
    COORD,
    TYPES,
};

enum {
    TAG_DATA = H_TAG_FIRST,
    TAG_REQ,
    TAG_RSP,
    TAG_TICK,
    TAG_ONCE,
    TAG_WORK,
    TAG_HELLO,
    TAG_CRASH,
};

/* Workload parts that report done; COORD waits for all of them. */
#define PARTS (SHARDS * 4) /* per shard: producer, caller, ticker, spawner */

static atomic_int shards_started;
static atomic_int parts_done;
static int counting_was_on; /* COORD saw the flag on before clearing it */
static uint64_t received[SHARDS], prod_full[SHARDS], replies[SHARDS], timeouts[SHARDS];
static uint64_t call_failures[SHARDS]; /* request refused: the ring was full */
static uint64_t ticks[SHARDS], spawned[SHARDS], crashes_sent[SHARDS], refused[SHARDS];

typedef struct plain {
    uint64_t unused;
} plain;

typedef struct prod_state {
    uint64_t next;
} prod_state;

typedef struct caller_state {
    uint64_t n;
    uint64_t out;
} caller_state;

typedef struct ticker_state {
    tina_timer_id periodic;
    uint64_t n;
} ticker_state;

/* Every handler starts here: mark the thread, and turn the flag on once
 * every shard's thread is running handlers. */
static void watch_this_thread(void) {
    if (thread_watched) return;
    thread_watched = 1;
    if (atomic_fetch_add(&shards_started, 1) + 1 == SHARDS) atomic_store(&counting, 1);
}

static void part_done(void) { atomic_fetch_add(&parts_done, 1); }

static tina_effect prod_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    prod_state *p = self;
    H_UNUSED(msg);
    watch_this_thread();
    uint32_t me = tina_shard_id(ctx);
    tina_handle local = tina_child_handle(ctx, CONS, me);
    tina_handle remote = tina_child_handle(ctx, CONS, 1 - me);
    for (int i = 0; i < 512 && p->next < MESSAGES_PER_PRODUCER; i++) {
        tina_result r = h_send_u64(ctx, (p->next & 1) ? remote : local, TAG_DATA, p->next);
        if (r != TINA_OK) {
            H_CHECK(ctx, r == TINA_EMAILBOX_FULL || r == TINA_EPOOL_EXHAUSTED);
            prod_full[me]++;
            break;
        }
        p->next++;
    }
    /* Refused sends of every kind, now and then. */
    if ((p->next & 0xfff) == 0) {
        tina_result r = tina_send(ctx, TINA_HANDLE_NONE, TAG_DATA, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_EHANDLE);
        r = tina_send(ctx, local, 0x01, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_ERESERVED_TAG);
        r = tina_send(ctx, local, TAG_DATA, &p->next, 200);
        H_CHECK_RESULT(ctx, r, TINA_ETOO_BIG);
        r = tina_send(ctx, tina_handle_make(me, WORKER, 0, TINA_GENERATION_MASK), TAG_DATA, NULL, 0);
        H_CHECK(ctx, r == TINA_ESTALE);
        refused[me] += 4;
    }
    if (p->next < MESSAGES_PER_PRODUCER) return tina_yield();
    part_done();
    return tina_receive();
}

static tina_effect cons_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    watch_this_thread();
    /* Local evens and remote odds; remote ones may be dropped on arrival. */
    received[tina_shard_id(ctx)]++;
    return tina_receive();
}

static tina_effect caller_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller_state *c = self;
    watch_this_thread();
    uint32_t me = tina_shard_id(ctx);
    if (msg->kind == TINA_MSG_REPLY) replies[me]++;
    else if (msg->tag == TINA_TAG_CALL_TIMEOUT) timeouts[me]++;
    else if (msg->tag == TINA_TAG_CALL_FAILED) call_failures[me]++;
    else if (msg->tag != H_TAG_KICK)
        h_fail(ctx, __FILE__, __LINE__, "caller got tag %#x", msg->tag);
    if (c->n == CALLS_PER_CALLER) {
        part_done();
        return tina_receive();
    }
    c->out = c->n++;
    return tina_call(tina_child_handle(ctx, CALLEE, 1 - me), TAG_REQ, &c->out, sizeof(c->out),
                     H_MS(1));
}

static tina_effect callee_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    caller_state *c = self;
    H_UNUSED(ctx);
    watch_this_thread();
    if (h_u64(msg) % 50 == 7) return tina_receive(); /* let this one time out */
    c->out = h_u64(msg) + 1;
    return tina_reply(TAG_RSP, &c->out, sizeof(c->out));
}

static tina_effect ticker_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    ticker_state *t = self;
    watch_this_thread();
    uint32_t me = tina_shard_id(ctx);
    tina_timer_id once;
    if (msg->tag == H_TAG_KICK) {
        tina_result r = tina_timer_set(ctx, 100000, 100000, TAG_TICK, &t->periodic);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        return tina_receive();
    }
    if (msg->tag == TAG_TICK) {
        ticks[me]++;
        /* A one-shot set and cancelled, another left to fire. */
        tina_result r = tina_timer_set(ctx, H_MS(50), 0, TAG_ONCE, &once);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, once), TINA_OK);
        r = tina_timer_set(ctx, 0, 0, TAG_ONCE, &once);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        if (++t->n == 200) {
            H_CHECK_RESULT(ctx, tina_timer_cancel(ctx, t->periodic), TINA_OK);
            tina_log(ctx, TINA_LOG_WARN, "ticker on shard %u: %" PRIu64 " ticks", me, t->n);
            part_done();
        }
    }
    return tina_receive();
}

static int phoenix_back[SHARDS];

/* Spawns a worker, gives it one message (it returns done); and makes the
 * permanent phoenix crash again every time it says hello. */
static tina_effect spawner_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    watch_this_thread();
    uint32_t me = tina_shard_id(ctx);
    if (msg->tag == TAG_HELLO) {
        if (crashes_sent[me] < CRASHES_PER_SHARD) {
            tina_result r = tina_send(ctx, msg->from, TAG_CRASH, NULL, 0);
            H_CHECK_RESULT(ctx, r, TINA_OK);
            crashes_sent[me]++;
        } else {
            phoenix_back[me] = 1; /* restarted after the last crash */
        }
    } else if (spawned[me] < SPAWNS_PER_SHARD) {
        tina_handle w;
        tina_result r = tina_spawn(ctx, WORKER, &spawned[me], sizeof(spawned[me]), &w);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        r = tina_send(ctx, w, TAG_WORK, NULL, 0);
        H_CHECK_RESULT(ctx, r, TINA_OK);
        spawned[me]++;
    }
    if (spawned[me] == SPAWNS_PER_SHARD && phoenix_back[me]) {
        spawned[me]++; /* report once */
        part_done();
        return tina_receive();
    }
    return spawned[me] < SPAWNS_PER_SHARD ? tina_yield() : tina_receive();
}

static tina_effect worker_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    watch_this_thread();
    H_UNUSED(ctx);
    return tina_done();
}

static uint32_t phoenix_init(void *self, tina_ctx *ctx, const void *args, size_t args_size) {
    H_UNUSED(self);
    H_UNUSED(args);
    H_UNUSED(args_size);
    tina_result r = tina_send(ctx, tina_child_handle(ctx, SPAWNER, tina_shard_id(ctx)), TAG_HELLO,
                              NULL, 0);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return 0;
}

static tina_effect phoenix_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    watch_this_thread();
    H_CHECK_EQ(ctx, msg->tag, TAG_CRASH);
    return tina_crash(99);
}

static uint64_t coord_started_ns;

static tina_effect coord_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_UNUSED(msg);
    watch_this_thread();
    if (coord_started_ns == 0) coord_started_ns = tina_now_ns(ctx);
    if (atomic_load(&parts_done) < PARTS) {
        if (tina_now_ns(ctx) - coord_started_ns < H_MS(60000)) return tina_yield();
        /* A hard bound, not a measurement: report which parts hang. */
        h_fail(ctx, __FILE__, __LINE__,
               "workload unfinished after 60 s: %d of %d parts; received %" PRIu64 "/%" PRIu64
               " calls %" PRIu64 "+%" PRIu64 "+%" PRIu64 " spawned %" PRIu64 " crashes %" PRIu64,
               atomic_load(&parts_done), PARTS, received[0], received[1],
               replies[0], timeouts[0], call_failures[0], spawned[0], crashes_sent[0]);
    }
    counting_was_on = atomic_load(&counting);
    atomic_store(&counting, 0);
    tina_request_stop(ctx);
    return tina_receive();
}

Test(alloc, no_allocator_call_after_boot, .timeout = 120) {
    install_counting();
    const tina_type_spec types[TYPES] = {
        [PROD] = H_TYPE("producer", prod_state, 1, 0, 1, h_kick_init, prod_handler),
        [CONS] = H_TYPE("consumer", plain, 1, 4096, 16, NULL, cons_handler),
        [CALLER] = H_TYPE("caller", caller_state, 1, 0, 1, h_kick_init, caller_handler),
        [CALLEE] = H_TYPE("callee", caller_state, 1, 0, 1, NULL, callee_handler),
        [TICKER] = H_TYPE("ticker", ticker_state, 1, 0, 1, h_kick_init, ticker_handler),
        [SPAWNER] = H_TYPE("spawner", plain, 1, 0, 1, h_kick_init, spawner_handler),
        [WORKER] = H_TYPE("worker", plain, 4, 0, 1, NULL, worker_handler),
        [PHOENIX] = H_TYPE("phoenix", plain, 1, 0, 1, phoenix_init, phoenix_handler),
        [COORD] = H_TYPE("coord", plain, 1, 0, 1, h_kick_init, coord_handler),
    };
    /* Child i has type i; so tina_child_handle(ctx, TYPE, shard) finds it. */
    tina_child_spec children[TYPES];
    for (uint32_t i = 0; i < TYPES; i++)
        children[i] = (tina_child_spec){.type_id = i, .shard = TINA_SHARD_EVERY,
                                        .restart = TINA_RESTART_TEMPORARY};
    children[PHOENIX].restart = TINA_RESTART_PERMANENT;
    children[WORKER].shard = 0; /* a placeholder child: keeps indexes equal to types */
    children[COORD].shard = 0;
    tina_spec spec = h_spec(types, TYPES, children, TYPES, SHARDS);
    spec.ring_slots = 1024;
    spec.pool_user_slots = 8192;
    spec.log_level = TINA_LOG_WARN;
    tina_runtime *rt = h_create(&spec);
    h_run_watched(rt, 10000);
    uint64_t calls = atomic_load(&counted_calls);
    cr_assert(eq(u64, calls, 0), "%" PRIu64 " allocator calls after boot; the first: %s of %" PRIu64
              " bytes", calls, kind_name(atomic_load(&first_kind)), (uint64_t)atomic_load(&first_size));
    h_assert_no_failures();
    cr_assert(eq(int, counting_was_on, 1), "the flag was on while the workload ran");
    cr_assert(eq(int, atomic_load(&parts_done), PARTS));
    for (uint32_t s = 0; s < SHARDS; s++) {
        tina_shard_stats st = h_stats(rt, s);
        tina_channel_stats in = h_channel(rt, 1 - s, s);
        /* Every local message arrives; remote ones arrive or are dropped. */
        cr_assert(ge(u64, received[s], MESSAGES_PER_PRODUCER / 2), "shard %u", s);
        cr_assert(le(u64, received[s], MESSAGES_PER_PRODUCER), "shard %u", s);
        cr_assert(ge(u64, in.accepted, MESSAGES_PER_PRODUCER / 2), "shard %u", s); /* + calls */
        cr_assert(eq(u64, replies[s] + timeouts[s] + call_failures[s], CALLS_PER_CALLER), "shard %u", s);
        cr_assert(ge(u64, timeouts[s], 1), "shard %u: some calls timed out", s);
        cr_assert(ge(u64, st.restarts, CRASHES_PER_SHARD), "shard %u", s);
        cr_assert(ge(u64, st.done, SPAWNS_PER_SHARD), "shard %u", s);
        cr_assert(ge(u64, st.timers_fired, 400), "shard %u", s);
        cr_assert(ge(u64, st.stale + st.invalid, refused[s]), "shard %u", s);
        cr_assert(ge(u64, st.log_written, 1), "shard %u", s);
    }
    h_assert_channels_balance(rt);
    tina_destroy(rt);
}
