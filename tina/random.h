/*
 * random.h -- the generator behind every random choice Tina makes.
 *
 * xoshiro256** (Blackman and Vigna, 2018) seeded by splitmix64, specified
 * bit for bit so that a seed means the same stream on every compiler and
 * optimisation level.  Integer arithmetic only.  Each shard's isolate
 * random source is the stream seeded with splitmix64 steps from
 * (seed ^ shard-domain constant); the simulator splits its domains the same
 * way.
 */
#ifndef TINA_RANDOM_H
#define TINA_RANDOM_H

#include <stdint.h>

static inline uint64_t tina__splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void tina__rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) s[i] = tina__splitmix64(&sm);
}

static inline uint64_t tina__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t tina__rng_next(uint64_t s[4]) {
    uint64_t result = tina__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = tina__rotl(s[3], 45);
    return result;
}

#endif /* TINA_RANDOM_H */
