/* rng.h — the seeded input generator, shared by host C and CUDA so that the CPU backend and the
 * GPU produce bit-identical inputs for the same (seed, tensor, index).
 *
 * Counter-based: each element hashes its own coordinates (splitmix64 finaliser), so any element can
 * be generated independently and in parallel. The normal deviate is an Irwin–Hall sum of eight
 * 16-bit uniforms (mean 0, variance 1, support ±4.9): integer arithmetic plus one float multiply,
 * so host and device agree exactly, with no libm (logf/cosf differ between the two). */
#ifndef ATTN_RNG_H
#define ATTN_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define ATTN_HD __host__ __device__ __forceinline__
#else
#define ATTN_HD static inline
#endif

ATTN_HD uint64_t attn_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Standard-normal-like value for element i of tensor `tensor` under `seed`; `outliers` selects the
 * outlier pattern: 0 none, 1 ATTN_INIT_OUTLIERS's, 2 ATTN_INIT_FA3's (see attn_init in problem.h). */
ATTN_HD float attn_rng_value(uint64_t seed, int tensor, uint64_t i, int outliers, int head_dim)
{
    uint64_t base = attn_mix64(seed ^ ((uint64_t)(tensor + 1) << 56));
    uint64_t a = attn_mix64(base ^ (2 * i));
    uint64_t b = attn_mix64(base ^ (2 * i + 1));
    int32_t sum = 0;
    for (int k = 0; k < 4; k++) {
        sum += (int32_t)((a >> (16 * k)) & 0xffff);
        sum += (int32_t)((b >> (16 * k)) & 0xffff);
    }
    /* centred = 2·sum − 8·65535 lies in ±524280: exact in float. Var of one uniform on
     * {0..65535} is (65536²−1)/12; sum of 8 → scale 1/(2·sqrt(8·(65536²−1)/12)). */
    int32_t centred = 2 * sum - 8 * 65535;
    float x = (float)centred * 9.3440618e-06f; /* 1/(2·65536·sqrt(8/12)) */
    if (outliers == 2) { /* FA3: one element in 1000 of every tensor ×10, i.e. from N(0, 100) */
        if (attn_mix64(a ^ b) % 1000 == 0) x *= 10.0f;
    } else if (outliers) {
        if (tensor == 1 && (a >> 58) == 0)                 /* K: 1 element in 64, ×10 */
            x *= 10.0f;
        if (tensor == 0 && (int)(i % (uint64_t)head_dim) % 64 == 5) /* Q: channel 5 of each 64, ×4 */
            x *= 4.0f;
    }
    return x;
}

#endif
