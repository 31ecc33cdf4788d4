/*
 * test_alloc.c -- after boot the runtime never calls the allocator.
 *
 * This program interposes malloc, calloc, realloc, free (and the aligned
 * allocators), forwarding to glibc's __libc_* entry points, and counts the
 * calls made while a global flag is on.  Under a sanitizer that owns the
 * allocator (ASan, TSan, MSan) the same counting goes through the
 * sanitizer's allocation hooks instead.
 *
 * Only the runtime's threads are watched.  (The test process has other
 * threads -- Criterion's own -- whose allocations are none of the runtime's
 * business.)  Two tests, two ways to mark them:
 *
 *   steady state   each shard thread marks itself in a thread-local on its
 *                  first handler call.  The flag goes on once every shard's
 *                  thread has run a handler, and goes off, before
 *                  tina_request_stop, after millions of local and
 *                  cross-shard messages, calls with replies and timeouts,
 *                  periodic and cancelled timers, spawns, done and crash
 *                  with restarts, refused sends of every kind and log lines.
 *
 *   tina_run whole the test's thread is watched from before tina_create, and
 *                  pthread_create is interposed too: a thread started by a
 *                  watched thread is watched from its first instruction (the
 *                  shard threads, the watchdog, whatever a library starts on
 *                  the runtime's behalf).  The flag goes on just before
 *                  tina_run is called and off just after it returns, so
 *                  thread start-up, pinning, the watchdog, the idle sleep,
 *                  the stop and the joins are all inside the window.
 */
#include "helpers.h"

#include <criterion/parameterized.h>
#include <dlfcn.h>
#include <sched.h>
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
static _Thread_local int thread_watched;    /* this thread is the runtime's */
static atomic_uint_fast64_t counted_calls;  /* allocator calls while watched and on */
static atomic_int first_kind;               /* 1 malloc 2 calloc 3 realloc 4 free 5 aligned */
static atomic_uint_fast64_t first_size;

/* The first counted calls, by caller, for the failure message. */
#define SITES_MAX 32
static void *site_caller[SITES_MAX]; /* the allocator's return address; NULL under a sanitizer */
static int site_kind[SITES_MAX];
static size_t site_size[SITES_MAX];

static inline void note(int kind, size_t size, void *caller) {
    if (!thread_watched || !atomic_load_explicit(&counting, memory_order_relaxed)) return;
    uint64_t n = atomic_fetch_add(&counted_calls, 1);
    if (n == 0) {
        atomic_store(&first_kind, kind);
        atomic_store(&first_size, size);
    }
    if (n < SITES_MAX) {
        site_caller[n] = caller;
        site_kind[n] = kind;
        site_size[n] = size;
    }
}

static const char *kind_name(int kind) {
    static const char *const names[] = {"none", "malloc", "calloc", "realloc", "free", "aligned"};
    return kind >= 0 && kind <= 5 ? names[kind] : "?";
}

/* "calloc 24 B from hwloc_bitmap_alloc+0x1c; ..." for the first counted
 * calls.  Runs after the flag is off, so dladdr is not counted.  A
 * caller in the test program itself (libtina is linked in statically, and
 * its symbols are not exported) prints as the program's name and an offset:
 * addr2line -f -e <program> <offset> names it. */
static void sites_describe(char *out, size_t size) {
    size_t used = 0;
    out[0] = 0;
    uint64_t n = atomic_load(&counted_calls);
    for (uint64_t i = 0; i < n && i < SITES_MAX && used < size; i++) {
        Dl_info info;
        memset(&info, 0, sizeof(info));
        const char *where = "?";
        uintptr_t off = (uintptr_t)site_caller[i];
        if (site_caller[i] != NULL && dladdr(site_caller[i], &info) != 0) {
            if (info.dli_sname != NULL) {
                where = info.dli_sname;
                off -= (uintptr_t)info.dli_saddr;
            } else {
                where = info.dli_fname;
                off -= (uintptr_t)info.dli_fbase;
            }
        }
        int k = snprintf(out + used, size - used, "%s%s %zu B from %s+%#zx", i ? "; " : "",
                         kind_name(site_kind[i]), site_size[i], where, (size_t)off);
        if (k > 0) used += (size_t)k;
    }
}

#ifdef SANITIZER_ALLOCATOR
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *ptr, size_t size) {
    (void)ptr;
    note(1, size, NULL);
}
static void on_free(const volatile void *ptr) {
    if (ptr != NULL) note(4, 0, NULL);
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
    note(1, size, __builtin_return_address(0));
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
    note(2, n * size, __builtin_return_address(0));
    return __libc_calloc(n, size);
}
void *realloc(void *ptr, size_t size) {
    note(3, size, __builtin_return_address(0));
    return __libc_realloc(ptr, size);
}
void free(void *ptr) {
    if (ptr != NULL) note(4, 0, __builtin_return_address(0));
    __libc_free(ptr);
}
void *aligned_alloc(size_t alignment, size_t size) {
    note(5, size, __builtin_return_address(0));
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
    note(5, size, __builtin_return_address(0));
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
static void install_counting(void) {}
#endif

/* ------------------------------------------------------------------------ */
/* Thread lineage: a thread started by a watched thread is watched           */
/* ------------------------------------------------------------------------ */

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static atomic_int lineage_on; /* off: pthread_create passes straight through */

/* The next pthread_create: glibc's, or a sanitizer's interceptor in front of
 * it.  Looked up before the flag goes on (dlsym may allocate). */
static pthread_create_fn real_pthread_create(void) {
    static _Atomic(pthread_create_fn) real;
    pthread_create_fn f = atomic_load(&real);
    if (f == NULL) {
        f = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real, f);
    }
    return f;
}

/* What a watched thread's child needs to start: carried in a static cell,
 * not on the heap, since the heap is what is being watched. */
struct lineage_cell {
    atomic_int busy; /* claimed by the creator, released by the child once read */
    void *(*start)(void *);
    void *arg;
};
static struct lineage_cell lineage_cells[TINA_SHARD_COUNT_MAX + 8];

static void *lineage_start(void *arg) {
    struct lineage_cell *c = arg;
    void *(*start)(void *) = c->start;
    void *start_arg = c->arg;
    atomic_store(&c->busy, 0); /* release: pairs with the creator's claim */
    thread_watched = 1;
    return start(start_arg);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                   void *arg) {
    pthread_create_fn real = real_pthread_create();
    if (!thread_watched || !atomic_load(&lineage_on)) return real(thread, attr, start, arg);
    for (;;) { /* a cell frees as soon as its child has started */
        for (size_t i = 0; i < sizeof(lineage_cells) / sizeof(lineage_cells[0]); i++) {
            struct lineage_cell *c = &lineage_cells[i];
            int expected = 0;
            if (!atomic_compare_exchange_strong(&c->busy, &expected, 1)) continue;
            c->start = start;
            c->arg = arg;
            int r = real(thread, attr, lineage_start, c);
            if (r != 0) atomic_store(&c->busy, 0);
            return r;
        }
        sched_yield();
    }
}

/* Watch this thread and every thread it starts (the runtime's threads). */
static void watch_lineage(void) {
    (void)real_pthread_create();
    atomic_store(&lineage_on, 1);
    thread_watched = 1;
}

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

static void *grandchild_thread(void *arg) {
    H_UNUSED(arg);
    void *p = malloc_fn(64);
    free_fn(p);
    return NULL;
}

/* A child of a watched thread starts its own child: both are counted. */
static void *child_thread(void *arg) {
    H_UNUSED(arg);
    pthread_t th;
    if (pthread_create(&th, NULL, grandchild_thread, NULL) == 0) pthread_join(th, NULL);
    void *p = malloc_fn(64);
    free_fn(p);
    return NULL;
}

Test(alloc, interposer_follows_the_threads_a_watched_thread_starts, .timeout = 30) {
    install_counting();
    watch_lineage();
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, child_thread, NULL), 0));
    pthread_join(th, NULL);
    thread_watched = 0;
    atomic_store(&counting, 1);
    cr_assert(eq(int, pthread_create(&th, NULL, child_thread, NULL), 0));
    pthread_join(th, NULL);
    atomic_store(&counting, 0);
    cr_assert(eq(u64, atomic_load(&counted_calls), 0), "an unwatched lineage was counted");
    thread_watched = 1;
    atomic_store(&counting, 1);
    cr_assert(eq(int, pthread_create(&th, NULL, child_thread, NULL), 0));
    pthread_join(th, NULL);
    atomic_store(&counting, 0);
    /* malloc and free in the child and in the grandchild, at least. */
    cr_assert(ge(u64, atomic_load(&counted_calls), 4), "the interposer saw %" PRIu64 " calls",
              (uint64_t)atomic_load(&counted_calls));
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
    /* Every 50th request goes to this shard's callee, which leaves it
     * unanswered: a local call to a live isolate is always accepted, so
     * these 200 time out whatever the producers do to the rings (a remote
     * request is refused while its ring is full, which, under a flood, can
     * be the fate of nearly every one). */
    uint32_t callee_shard = c->out % 50 == 7 ? me : 1 - me;
    return tina_call(tina_child_handle(ctx, CALLEE, callee_shard), TAG_REQ, &c->out,
                     sizeof(c->out), H_MS(1));
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
    spec.groups = h_root_unbounded; /* the phoenix crashes 1000 times, fast */
    spec.group_count = 1;
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
        cr_assert(ge(u64, timeouts[s], CALLS_PER_CALLER / 50),
                  "shard %u: every unanswered call timed out", s);
        cr_assert(ge(u64, st.restarts, CRASHES_PER_SHARD), "shard %u", s);
        cr_assert(ge(u64, st.done, SPAWNS_PER_SHARD), "shard %u", s);
        cr_assert(ge(u64, st.timers_fired, 400), "shard %u", s);
        cr_assert(ge(u64, st.stale + st.invalid, refused[s]), "shard %u", s);
        cr_assert(ge(u64, st.log_written, 1), "shard %u", s);
    }
    h_assert_channels_balance(rt);
    tina_destroy(rt);
}

/* ------------------------------------------------------------------------ */
/* The whole of tina_run                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Everything between tina_run's entry and its return, on every thread of the
 * runtime: the calling thread (signal and trap handlers, the watchdog's and
 * the shards' start, the joins), each shard thread from its first
 * instruction (pinning, trap boundary, boot of the static children, passes,
 * idle sleep, log flush, stop) and the watchdog thread.  A pinger per shard
 * plays ping-pong with the ponger on the other shard, then waits on a timer
 * long enough for both shards to sleep and the watchdog to look many times;
 * the second pinger to finish stops the run.  Once without I/O and once per
 * I/O backend (their sleep is different).
 */

#define RUN_ROUND_TRIPS 1000u
#define RUN_WAIT_NS H_MS(20)    /* both shards idle: they sleep, the watchdog looks */
#define RUN_WATCHDOG_NS H_MS(2) /* the watchdog looks every 0.5 ms */

enum { RUN_PINGER = 0, RUN_PONGER, RUN_TYPES };
enum { TAG_PING = H_TAG_FIRST, TAG_PONG, TAG_WAITED };

static uint64_t run_pongs[SHARDS];
static atomic_int run_pingers_done;

typedef struct pinger_state {
    uint64_t sent;
    tina_timer_id wait;
} pinger_state;

static tina_effect run_pinger_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    pinger_state *p = self;
    uint32_t me = tina_shard_id(ctx);
    if (msg->tag == TAG_WAITED) {
        tina_log(ctx, TINA_LOG_WARN, "pinger on shard %u: %" PRIu64 " pongs", me, run_pongs[me]);
        if (atomic_fetch_add(&run_pingers_done, 1) + 1 == SHARDS) tina_request_stop(ctx);
        return tina_receive();
    }
    if (msg->tag == TAG_PONG) run_pongs[me]++;
    else H_CHECK_EQ(ctx, msg->tag, H_TAG_KICK);
    if (p->sent == RUN_ROUND_TRIPS) {
        H_CHECK_RESULT(ctx, tina_timer_set(ctx, RUN_WAIT_NS, 0, TAG_WAITED, &p->wait), TINA_OK);
        return tina_receive();
    }
    p->sent++;
    tina_result r = h_send_u64(ctx, tina_child_handle(ctx, RUN_PONGER, 1 - me), TAG_PING, p->sent);
    H_CHECK_RESULT(ctx, r, TINA_OK);
    return tina_receive();
}

static tina_effect run_ponger_handler(void *self, tina_ctx *ctx, const tina_msg *msg) {
    H_UNUSED(self);
    H_CHECK_EQ(ctx, msg->tag, TAG_PING);
    H_CHECK_RESULT(ctx, h_send_u64(ctx, msg->from, TAG_PONG, h_u64(msg)), TINA_OK);
    return tina_receive();
}

/* fd_slots and io_backend per run: no I/O, then each backend. */
static const uint32_t run_io[][2] = {{0, 0}, {16, TINA_IO_AUTO}, {16, TINA_IO_EPOLL}};
static uint32_t run_io_index[H_COUNT(run_io)];

ParameterizedTestParameters(alloc, no_allocator_call_inside_tina_run) {
    for (uint32_t i = 0; i < H_COUNT(run_io); i++) run_io_index[i] = i;
    return cr_make_param_array(uint32_t, run_io_index, H_COUNT(run_io));
}

ParameterizedTest(uint32_t *io, alloc, no_allocator_call_inside_tina_run, .timeout = 30) {
    cr_assert(lt(u32, *io, H_COUNT(run_io)));
    install_counting();
    const tina_type_spec types[RUN_TYPES] = {
        [RUN_PINGER] = H_TYPE("pinger", pinger_state, 1, 0, 1, h_kick_init, run_pinger_handler),
        [RUN_PONGER] = H_TYPE("ponger", plain, 1, 0, 1, NULL, run_ponger_handler),
    };
    const tina_child_spec children[RUN_TYPES] = {
        [RUN_PINGER] = H_CHILD(RUN_PINGER, TINA_SHARD_EVERY),
        [RUN_PONGER] = H_CHILD(RUN_PONGER, TINA_SHARD_EVERY),
    };
    tina_spec spec = h_spec(types, RUN_TYPES, children, RUN_TYPES, SHARDS);
    spec.no_signal_handlers = 0;              /* the defaults: SIGINT/SIGTERM/SIGUSR2, */
    spec.no_trap_handlers = 0;                /* the trap boundary */
    spec.watchdog_policy = TINA_WATCHDOG_LOG; /* and the watchdog */
    spec.watchdog_ns = RUN_WATCHDOG_NS;
    spec.fd_slots = run_io[*io][0];
    spec.io_backend = run_io[*io][1];
    watch_lineage(); /* threads tina_create starts are the runtime's too */
    tina_runtime *rt = h_create(&spec);
    atomic_store(&counting, 1);
    tina_result r = tina_run(rt);
    atomic_store(&counting, 0);
    thread_watched = 0;
    H_ASSERT_RESULT(r, TINA_OK);
    uint64_t calls = atomic_load(&counted_calls);
    char sites[4096];
    sites_describe(sites, sizeof(sites));
    cr_assert(eq(u64, calls, 0), "%" PRIu64 " allocator calls inside tina_run (fd_slots %u): %s",
              calls, spec.fd_slots, sites);
    h_assert_no_failures();
    cr_assert(eq(int, atomic_load(&run_pingers_done), SHARDS));
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(u64, run_pongs[s], RUN_ROUND_TRIPS), "shard %u", s);
        cr_assert(ge(u64, h_stats(rt, s).log_written, 1), "shard %u", s);
    }
    tina_destroy(rt);
}
