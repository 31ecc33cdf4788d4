/*
 * watchdog.c -- noticing a shard stuck in one handler.
 *
 * One thread per runtime, off every shard's path.  Each shard stores its
 * pass count at the start of every pass (`beat`) and the handle of the
 * isolate it is running (`running`), both relaxed atomic stores: a plain
 * move.  Every quarter of watchdog_ns the watchdog looks: a shard that is
 * not asleep and whose beat has not moved for watchdog_ns is stuck in the
 * handler named by `running`.  It is reported once per episode (type name
 * and handle on stderr, stats.stalls), then the spec's policy applies:
 * TINA_WATCHDOG_LOG carries on, TINA_WATCHDOG_ABORT aborts the process.
 *
 * Interrupting the handler instead (crashing the isolate from outside) is
 * not offered: a handler may be stopped inside a runtime call such as
 * tina_send, half-way through a list update, and jumping out of it from an
 * asynchronous signal would corrupt the shard.
 *
 * The watchdog thread sleeps on a condition variable, so stopping the
 * runtime wakes it at once; it is the one place in the runtime with a lock,
 * and no shard ever takes it.
 *
 * Its state and its thread live from tina_create to tina_destroy (nothing
 * may allocate in between, and starting a thread does): start and stop
 * bracket the runtime's life, arm and disarm bracket tina_run, and an
 * unarmed watchdog waits on its condition variable without looking.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "shard/shard.h"

struct watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int armed; /* tina_run is running: look every quarter of watchdog_ns */
    int stop;  /* tina_destroy: return */
    struct tina_runtime *rt;
    uint64_t beat[TINA_SHARD_COUNT_MAX];
    uint64_t since_ns[TINA_SHARD_COUNT_MAX];
    uint8_t reported[TINA_SHARD_COUNT_MAX];
};

static void watch_once(struct watchdog *w) {
    struct tina_runtime *rt = w->rt;
    uint64_t now = tina__monotonic_ns();
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        struct tina__shard *s = rt->shards[id];
        uint64_t beat = atomic_load_explicit(&s->beat, memory_order_relaxed);
        int asleep = atomic_load_explicit(&s->sleeping, memory_order_relaxed) != 0;
        if (beat != w->beat[id] || asleep) {
            w->beat[id] = beat;
            w->since_ns[id] = now;
            w->reported[id] = 0;
        } else if (!w->reported[id] && now - w->since_ns[id] >= rt->spec.watchdog_ns) {
            w->reported[id] = 1;
            tina__shard_stalled(rt->shards[id], now - w->since_ns[id], 1);
        }
    }
}

static void *watchdog_main(void *arg) {
    (void)pthread_setname_np(pthread_self(), "tina/watchdog");
    struct watchdog *w = arg;
    uint64_t interval = w->rt->spec.watchdog_ns / 4;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (!w->armed) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + interval;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        if (w->armed && !w->stop) watch_once(w);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* At create: the state and a thread that waits, unarmed. */
int tina__watchdog_start(struct tina_runtime *rt) {
    struct watchdog *w = calloc(1, sizeof(*w));
    if (w == NULL) return -1;
    w->rt = rt;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -1;
    }
    rt->watchdog = w;
    return 0;
}

/* tina_run, before any shard runs: every shard's clock starts now. */
void tina__watchdog_arm(struct tina_runtime *rt) {
    struct watchdog *w = rt->watchdog;
    if (w == NULL) return;
    pthread_mutex_lock(&w->lock);
    uint64_t now = tina__monotonic_ns();
    for (uint32_t id = 0; id < rt->shard_count; id++) {
        w->beat[id] = 0;
        w->since_ns[id] = now;
        w->reported[id] = 0;
    }
    w->armed = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* tina_run, once every shard is back: no more looks. */
void tina__watchdog_disarm(struct tina_runtime *rt) {
    struct watchdog *w = rt->watchdog;
    if (w == NULL) return;
    pthread_mutex_lock(&w->lock);
    w->armed = 0;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* At destroy: the thread returns, is joined, and the state is freed. */
void tina__watchdog_stop(struct tina_runtime *rt) {
    struct watchdog *w = rt->watchdog;
    if (w == NULL) return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    rt->watchdog = NULL;
}
