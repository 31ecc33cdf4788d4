/*
 * rte_ring_stream.c -- the floor under Tina's cross-shard stream: DPDK's
 * bare rte_ring (22.11, Debian's libdpdk-dev) carrying 128-byte elements
 * from a thread pinned to the first allowed CPU to one pinned to the
 * second, in bulk bursts of 32, no EAL (the ring in plain memory,
 * rte_ring_init with single producer and single consumer).  Each element
 * carries its sequence number, checked on the other side.
 *
 * Built only by `make bench-peers`; bench/peers/stream_vs_ring.sh runs it
 * beside bench/cross_shard in one run.  Prints rte_ring_msgs_per_s, the
 * median of 5 runs of 10,000,000 elements.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#define ELEMENT 128u
#define BURST 32u
#define SLOTS 1024u
#define COUNT 10000000ull
#define RUNS 5

static struct rte_ring *g_ring;
static _Atomic int g_go;
static uint32_t g_cpu[2];
static uint64_t g_bad;

static void pin(uint32_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        fprintf(stderr, "rte_ring_stream: cannot pin to cpu %u\n", cpu);
        exit(1);
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *producer(void *arg) {
    (void)arg;
    _Alignas(64) uint8_t burst[BURST * ELEMENT];
    memset(burst, 0xab, sizeof(burst));
    pin(g_cpu[0]);
    while (!atomic_load(&g_go)) {}
    for (uint64_t seq = 0; seq < COUNT; seq += BURST) {
        for (uint32_t k = 0; k < BURST; k++) memcpy(burst + k * ELEMENT, &(uint64_t){seq + k}, 8);
        while (rte_ring_sp_enqueue_bulk_elem(g_ring, burst, ELEMENT, BURST, NULL) == 0) {}
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    _Alignas(64) uint8_t burst[BURST * ELEMENT];
    uint64_t bad = 0;
    pin(g_cpu[1]);
    while (!atomic_load(&g_go)) {}
    for (uint64_t seq = 0; seq < COUNT; seq += BURST) {
        while (rte_ring_sc_dequeue_bulk_elem(g_ring, burst, ELEMENT, BURST, NULL) == 0) {}
        for (uint32_t k = 0; k < BURST; k++) {
            uint64_t got;
            memcpy(&got, burst + k * ELEMENT, 8);
            bad |= got != seq + k;
        }
    }
    g_bad = bad;
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    cpu_set_t allowed;
    uint32_t found = 0;
    sched_getaffinity(0, sizeof(allowed), &allowed);
    for (uint32_t c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &allowed)) g_cpu[found++] = c;
    if (found < 2) {
        fprintf(stderr, "rte_ring_stream: need two allowed CPUs\n");
        return 1;
    }
    ssize_t size = rte_ring_get_memsize_elem(ELEMENT, SLOTS);
    if (size < 0) return 1;
    g_ring = aligned_alloc(128, ((size_t)size + 127) & ~(size_t)127);
    double rates[RUNS];
    for (int run = 0; run < RUNS; run++) {
        memset(g_ring, 0, (size_t)size);
        if (rte_ring_init(g_ring, "tina-floor", SLOTS, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) return 1;
        pthread_t p, c;
        atomic_store(&g_go, 0);
        pthread_create(&p, NULL, producer, NULL);
        pthread_create(&c, NULL, consumer, NULL);
        uint64_t t0 = now_ns();
        atomic_store(&g_go, 1);
        pthread_join(p, NULL);
        pthread_join(c, NULL);
        rates[run] = (double)COUNT * 1e9 / (double)(now_ns() - t0);
        if (g_bad) {
            fprintf(stderr, "rte_ring_stream: an element came out of order\n");
            return 1;
        }
    }
    qsort(rates, RUNS, sizeof(double), cmp);
    fprintf(stderr, "rte_ring_stream: producer on cpu %u, consumer on cpu %u\n", g_cpu[0], g_cpu[1]);
    printf("rte_ring_msgs_per_s: %.0f msgs/s\n", rates[RUNS / 2]);
    free(g_ring);
    return 0;
}
