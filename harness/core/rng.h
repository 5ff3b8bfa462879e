/* rng.h — the seeded input generator, shared by host C and CUDA so that the CPU backend and the
 * GPU produce bit-identical inputs for the same (seed, tensor, index).
 *
 * Counter-based: each element hashes its own coordinates (splitmix64 finaliser), so any element can
 * be generated independently and in parallel. The normal deviate is an Irwin–Hall sum of eight
 * 16-bit uniforms (mean 0, variance 1, support ±4.9): integer arithmetic plus one float multiply,
 * so host and device agree exactly, with no libm (logf/cosf differ between the two). */
#ifndef ATTN_RNG_H
#define ATTN_RNG_H

#include <math.h>
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

/* Float product and sum rounded once each, never fused into an FMA (nvcc contracts a·b + c by
 * default; host C11 does not): the structured inputs below are bit-identical on both sides. */
#ifdef __CUDA_ARCH__
#define ATTN_RNG_MUL(a, b) __fmul_rn((a), (b))
#define ATTN_RNG_ADD(a, b) __fadd_rn((a), (b))
#else
#define ATTN_RNG_MUL(a, b) ((a) * (b))
#define ATTN_RNG_ADD(a, b) ((a) + (b))
#endif

#define ATTN_STRUCT_SEGMENT 256 /* positions per cluster segment */
#define ATTN_STRUCT_CLUSTERS 8
#define ATTN_STRUCT_SINKS 4 /* the first positions of every sequence are sink keys */

/* The structured inputs (attn_init ATTN_INIT_STRUCTURED, problem.h) for element i of a
 * [..][seq][head_dim] tensor: position s = (i / head_dim) % seq, channel d = i % head_dim.
 * Q and K: 0.5·noise plus
 *   d < D/2        local decay: 1.75·tri(s) with a triangle wave of period 2^(3 + (d/2) % 8)
 *                  (channel pairs in quadrature), so q·k is largest near s = s' and falls off;
 *   D/2 <= d < D-1 clusters: 0.875·centroid[c][d], c a seeded hash of the 256-position segment
 *                  s / 256 (8 centroids): a query favours the keys of its segment's cluster;
 *   d = D-1        sinks: Q 2, K 3·sqrt(D) at s < 4 (else 0): every query sends weight to them.
 * V: the normal deviates. Integer arithmetic plus single-rounded float operations only. */
ATTN_HD float attn_rng_structured(uint64_t seed, int tensor, uint64_t i, int head_dim, int seq)
{
    const float noise = attn_rng_value(seed, tensor, i, 0, head_dim);
    if (tensor == 2) return noise;
    const int D = head_dim, d = (int)(i % (uint64_t)D);
    const int s = (int)((i / (uint64_t)D) % (uint64_t)seq);
    float x;
    if (d < D / 2) {
        const int period = 1 << (3 + (d / 2) % 8), phase = d & 1 ? period / 4 : 0;
        const int t = (s + phase) % period, tri = 4 * t - 2 * period;
        x = ATTN_RNG_MUL(1.75f, ATTN_RNG_MUL((float)((tri < 0 ? -tri : tri) - period), 1.0f / (float)period));
    } else if (d < D - 1) {
        const uint64_t c = attn_mix64(seed ^ 0x5eedc1u ^ (uint64_t)(s / ATTN_STRUCT_SEGMENT)) % ATTN_STRUCT_CLUSTERS;
        x = ATTN_RNG_MUL(0.875f, attn_rng_value(seed, 7, c * (uint64_t)D + (uint64_t)d, 0, D));
    } else {
        x = tensor == 0 ? 2.0f : s < ATTN_STRUCT_SINKS ? 3.0f * (float)sqrt((double)D) : 0.0f;
    }
    return ATTN_RNG_ADD(ATTN_RNG_MUL(0.5f, noise), x);
}

/* attn_init's ATTN_INIT_STRUCTURED (problem.h), which this header cannot include. */
#define ATTN_RNG_INIT_STRUCTURED 3

/* Element i of the seeded inputs under init (attn_init: 0 normal, 1 outliers, 2 fa3 — the
 * outlier patterns of attn_rng_value —, 3 structured). */
ATTN_HD float attn_rng_input(uint64_t seed, int tensor, uint64_t i, int init, int head_dim, int seq)
{
    return init == ATTN_RNG_INIT_STRUCTURED ? attn_rng_structured(seed, tensor, i, head_dim, seq)
                                            : attn_rng_value(seed, tensor, i, init, head_dim);
}

#endif
