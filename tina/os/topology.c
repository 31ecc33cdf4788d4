/*
 * topology.c -- where shards run and where their memory lives.
 *
 * Placement: by default one shard per physical core of the process's
 * allowed CPU set (sched_getaffinity), one PU per core, capped by the
 * cgroup v2 CPU quota (cpu.max: ceil(quota / period) cores) so that a
 * container limit is respected.  An explicit core list pins shard i to OS
 * CPU cores[i]; each must be in the allowed set.  An explicit shard_count
 * larger than the cores available is allowed (tests, CI) and reported as
 * oversubscribed: shards are then placed round-robin.
 *
 * Memory: each shard's grand arena is one anonymous mapping with a guard
 * page at either end, bound with hwloc to the NUMA node of the shard's
 * core, then pre-faulted so that RSS does not grow after boot.
 *
 * hwloc is used for cores and NUMA nodes, at create only; if it cannot load
 * a topology the runtime still runs (every allowed CPU counts as a core, no
 * binding).  Threads are pinned without it (tina__pin_thread).
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os.h"
#include "shard/shard.h"

#define PAGE_BYTES 4096u

/* cgroup v2 CPU quota of this process in whole cores, 0 if none. */
static uint32_t cgroup_quota_cores(void) {
    char line[512], path[600], *rel = NULL;
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL) return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "0::", 3) == 0) {
            rel = line + 3;
            rel[strcspn(rel, "\n")] = 0;
            break;
        }
    }
    fclose(f);
    if (rel == NULL) return 0;
    uint32_t best = 0;
    /* Walk from the process's cgroup up to the root: the tightest quota wins. */
    for (;;) {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", strcmp(rel, "/") ? rel : "");
        f = fopen(path, "r");
        if (f) {
            char quota[32] = {0};
            unsigned long long period = 0;
            if (fscanf(f, "%31s %llu", quota, &period) == 2 && strcmp(quota, "max") != 0 &&
                period > 0) {
                unsigned long long q = strtoull(quota, NULL, 10);
                uint32_t cores = (uint32_t)((q + period - 1) / period);
                if (cores == 0) cores = 1;
                if (best == 0 || cores < best) best = cores;
            }
            fclose(f);
        }
        if (strcmp(rel, "/") == 0) break;
        char *slash = strrchr(rel, '/');
        if (slash == NULL) break;
        if (slash == rel) slash[1] = 0; /* parent is the root */
        else *slash = 0;
    }
    return best;
}

static hwloc_topology_t topology_load(void) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return NULL;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return NULL;
    }
    return topo;
}

/* One OS CPU per physical core of the allowed set, in core order. */
static uint32_t allowed_cores(const cpu_set_t *allowed, uint32_t *out, uint32_t max) {
    uint32_t n = 0;
    hwloc_topology_t topo = topology_load();
    if (topo) {
        int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        for (int i = 0; i < cores && n < max; i++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)i);
            int pu;
            hwloc_bitmap_foreach_begin(pu, core->cpuset) {
                if (pu < CPU_SETSIZE && CPU_ISSET(pu, allowed)) {
                    out[n++] = (uint32_t)pu;
                    break;
                }
            }
            hwloc_bitmap_foreach_end();
        }
        hwloc_topology_destroy(topo);
    }
    if (n == 0) { /* no topology: every allowed CPU is a core */
        for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
            if (CPU_ISSET(cpu, allowed)) out[n++] = (uint32_t)cpu;
    }
    return n;
}

tina_result tina__topology_cores(const tina_spec *spec, int with_topology, uint32_t *shard_count,
                                 uint32_t *cores, uint32_t *oversubscribed, char *why,
                                 size_t why_size) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        snprintf(why, why_size, "sched_getaffinity: %s", strerror(errno));
        return TINA_ESYSTEM;
    }
    if (spec->shard_count > TINA_SHARD_COUNT_MAX) {
        snprintf(why, why_size, "shard_count: %u (need 0..%u)", spec->shard_count,
                 TINA_SHARD_COUNT_MAX);
        return TINA_ESPEC_SHARDS;
    }
    if (!with_topology) { /* the simulator pins nothing: no host fact may count here */
        uint32_t shards = spec->core_count ? spec->core_count
                          : spec->shard_count ? spec->shard_count : TINA_SIM_SHARD_COUNT_DEFAULT;
        if (shards > TINA_SHARD_COUNT_MAX ||
            (spec->core_count && (spec->cores == NULL ||
                                  (spec->shard_count != 0 && spec->shard_count != spec->core_count)))) {
            snprintf(why, why_size, "core_count: %u (need 1..%u, a cores array, equal to shard_count %u)",
                     spec->core_count, TINA_SHARD_COUNT_MAX, spec->shard_count);
            return TINA_ESPEC_CORES;
        }
        for (uint32_t i = 0; i < shards; i++) cores[i] = spec->core_count ? spec->cores[i] : i;
        *shard_count = shards;
        *oversubscribed = 0;
        return TINA_OK;
    }
    if (spec->core_count > 0) {
        if (spec->cores == NULL || spec->core_count > TINA_SHARD_COUNT_MAX ||
            (spec->shard_count != 0 && spec->shard_count != spec->core_count)) {
            snprintf(why, why_size, "core_count: %u (need 1..%u, a cores array, equal to shard_count %u)",
                     spec->core_count, TINA_SHARD_COUNT_MAX, spec->shard_count);
            return TINA_ESPEC_CORES;
        }
        for (uint32_t i = 0; i < spec->core_count; i++) {
            if (spec->cores[i] >= CPU_SETSIZE || !CPU_ISSET(spec->cores[i], &allowed)) {
                snprintf(why, why_size, "cores[%u]: CPU %u is not in the allowed CPU set", i,
                         spec->cores[i]);
                return TINA_ESPEC_CORES;
            }
            cores[i] = spec->cores[i];
        }
        *shard_count = spec->core_count;
        *oversubscribed = 0;
        return TINA_OK;
    }
    uint32_t avail[TINA_SHARD_COUNT_MAX];
    uint32_t n = 0;
    n = allowed_cores(&allowed, avail, TINA_SHARD_COUNT_MAX);
    uint32_t quota = cgroup_quota_cores();
    if (quota > 0 && quota < n) n = quota;
    if (n == 0) {
        snprintf(why, why_size, "shard_count: no allowed core found");
        return TINA_ESYSTEM;
    }
    uint32_t shards = spec->shard_count ? spec->shard_count : n;
    for (uint32_t i = 0; i < shards; i++) cores[i] = avail[i % n];
    *shard_count = shards;
    *oversubscribed = shards > n;
    return TINA_OK;
}

uint64_t tina__memory_limit(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t limit = (pages > 0 && page > 0) ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (f) {
        unsigned long long m;
        if (fscanf(f, "%llu", &m) == 1 && m < limit) limit = m;
        fclose(f);
    }
    return limit;
}

tina_result tina__arena_map(struct tina_runtime *rt, uint32_t shard, size_t bytes) {
    struct tina__arena *a = &rt->arenas[shard];
    size_t map_bytes = bytes + 2u * PAGE_BYTES;
    void *map = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return TINA_ENO_MEMORY;
    uint8_t *base = (uint8_t *)map + PAGE_BYTES;
    if (mprotect(map, PAGE_BYTES, PROT_NONE) != 0 ||
        mprotect(base + bytes, PAGE_BYTES, PROT_NONE) != 0) {
        munmap(map, map_bytes);
        return TINA_ESYSTEM;
    }
    (void)madvise(base, bytes, MADV_HUGEPAGE);
    if (rt->topology) {
        hwloc_topology_t topo = rt->topology;
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (set) {
            hwloc_bitmap_only(set, rt->cores[shard]);
            /* Bind to the node(s) local to the shard's core; a failure only
             * costs locality, so it is not fatal. */
            (void)hwloc_set_area_membind(topo, base, bytes, set, HWLOC_MEMBIND_BIND, 0);
            hwloc_bitmap_free(set);
        }
    }
    /* Pre-fault: RSS is paid at boot, never during overload. */
#ifdef MADV_POPULATE_WRITE
    if (madvise(base, bytes, MADV_POPULATE_WRITE) != 0)
#endif
        for (size_t off = 0; off < bytes; off += PAGE_BYTES) ((volatile uint8_t *)base)[off] = 0;
    a->map = map;
    a->map_bytes = map_bytes;
    a->base = base;
    a->bytes = bytes;
    return TINA_OK;
}

void tina__arena_unmap(struct tina__arena *a) {
    if (a->map) munmap(a->map, a->map_bytes);
    memset(a, 0, sizeof(*a));
}

/* Pin the calling thread to one OS CPU (a shard thread, as it starts).  A
 * cpu_set_t on the stack and one system call, where hwloc would take its
 * bitmaps from the heap: the same binding (hwloc's Linux backend calls
 * sched_setaffinity too), and no allocation on a runtime thread.  The CPU
 * came from an allowed cpu_set_t, so it fits one. */
int tina__pin_thread(uint32_t os_cpu) {
    TINA_ASSERT(os_cpu < CPU_SETSIZE);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(os_cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void tina__topology_close(struct tina_runtime *rt) {
    if (rt->topology) hwloc_topology_destroy((hwloc_topology_t)rt->topology);
    rt->topology = NULL;
}

void *tina__topology_open(void) { return topology_load(); }
