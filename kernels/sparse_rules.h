/* sparse_rules.h — the tile-selection rules of variant `sparse`, shared by the GPU selection
 * kernels (kernels/sparse.cu) and the CPU selection (variants/sparse_select.c) so both pick the
 * same tiles from the same numbers. Plain C, inlined on both sides (ATTN_HD as in core/rng.h).
 *
 * Every method ranks the visible key tiles of one query tile (row) by a priority, then keeps a
 * prefix of that ranking: priority descending, equal priorities by lower tile index. The diagonal
 * tile and tile 0 are forced (priority +inf). The prefix is the first k tiles (window, bigbird,
 * topk: k = ceil(density · visible), at least the forced ones) or, for mass, the shortest prefix
 * whose estimated softmax mass reaches tau. Visible tiles: all n_tiles, or 0..row's tile (causal).
 *
 * Priorities:
 *   window  −|kt − qt| (the k tiles nearest the diagonal);
 *   bigbird 2 + 1/(1 + |kt − qt|) within a local window of about k/2 tiles, else a seeded uniform
 *           in [0, 1) per (seed, row, tile): local window first, then random tiles;
 *   topk    the pooled logit: fma(q̄·k̄ₜ, scale, ln(keys in tile t)), q̄ and k̄ₜ the fp32 means of
 *           the query tile's rows and of key tile t's rows (keys past S excluded; each column summed
 *           in row order, then times 1/rows), the dot product summed over d in order with fmaf;
 *   mass    the same logit; its softmax over the visible tiles is the estimated mass of each tile,
 *           in integer units (attn_sparse_mass_units: 2^31 for the row's largest logit), so that
 *           sums are exact in any order; the prefix is the shortest whose units reach
 *           ceil(tau · the row's total units).
 *
 * Ranking compares attn_sparse_key(priority) (unsigned, the float order with -0 = +0), then the
 * tile index. Every float the estimate is made of is rounded the same on host and device: no libm
 * function but fmaf, rintf and ldexpf (all exact or correctly rounded), ln and exp from the
 * polynomials below, and no multiply that nvcc could fuse with an add (the attn_sparse_mul/add/div
 * helpers), so the GPU and the CPU select the same tiles bit for bit (tests/gpu/test_sparse.c
 * compares the plans). */
#ifndef ATTN_KERNELS_SPARSE_RULES_H
#define ATTN_KERNELS_SPARSE_RULES_H

#include <math.h>

#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The selection methods, in the order of variant `sparse`'s method= choices. */
typedef enum attn_sparse_method {
    ATTN_SPARSE_WINDOW = 0,
    ATTN_SPARSE_BIGBIRD = 1,
    ATTN_SPARSE_TOPK = 2,
    ATTN_SPARSE_MASS = 3,
    ATTN_SPARSE_VPRUNE = 4, /* every visible tile (window at density 1), V's columns pruned */
} attn_sparse_method;

/* Visible key tiles of query tile qt. */
ATTN_HD int attn_sparse_visible(int qt, int n_tiles, int causal) { return causal ? qt + 1 : n_tiles; }

/* Tiles a fixed-count method keeps among `visible`: ceil(density · visible) in double, at least 1. */
ATTN_HD int attn_sparse_keep_count(double density, int visible)
{
    int k = (int)ceil(density * visible - 1e-9);
    return k < 1 ? 1 : k > visible ? visible : k;
}

/* The priority of key tile kt in row `row` (query tile qt) for window and bigbird; +inf for the
 * forced tiles (the diagonal and tile 0). */
ATTN_HD float attn_sparse_static_priority(int method, int row, int qt, int kt, int k, int causal,
                                          unsigned long long seed)
{
    if (kt == qt || kt == 0) return INFINITY;
    const int dist = kt > qt ? kt - qt : qt - kt;
    if (method == ATTN_SPARSE_WINDOW) return -(float)dist;
    /* bigbird: a local window holding about half of the k tiles, the rest random */
    const int local = (k + 1) / 2, reach = causal ? local - 1 : local / 2;
    if (dist <= reach) return 2.0f + 1.0f / (float)(1 + dist);
    const unsigned long long h = attn_mix64(seed ^ attn_mix64(((unsigned long long)row << 32) | (unsigned)kt));
    return (float)(h >> 40) * (1.0f / 16777216.0f);
}

/* One rounding each, never fused into an fma by nvcc (device: the _rn intrinsics; host: C11 does
 * not contract across a function call). */
ATTN_HD float attn_sparse_mul(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
ATTN_HD float attn_sparse_add(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
ATTN_HD float attn_sparse_div(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

/* ln(n) for 1 <= n < 2^24 keys, within a few ulp: n = m·2^e with m in [√½, √2], ln m by
 * 2·atanh((m − 1)/(m + 1)) to the u^9 term (error below 1e-9). */
ATTN_HD float attn_sparse_log_keys(int n)
{
    int e = 0;
    while ((n >> (e + 1)) > 0) e++;
    float m = attn_sparse_div((float)n, (float)(1 << e)); /* exact: [1, 2) */
    if (m > 1.41421356f) m = attn_sparse_mul(m, 0.5f), e++;
    const float u = attn_sparse_div(attn_sparse_add(m, -1.f), attn_sparse_add(m, 1.f));
    const float u2 = attn_sparse_mul(u, u);
    float s = fmaf(1.f / 9, u2, 1.f / 7);
    s = fmaf(s, u2, 1.f / 5);
    s = fmaf(s, u2, 1.f / 3);
    s = fmaf(s, u2, 1.f);
    return fmaf((float)e, 0.693147181f, attn_sparse_mul(attn_sparse_add(u, u), s));
}

/* The pooled logit of a key tile of `keys` keys, from the dot product of the means. */
ATTN_HD float attn_sparse_logit(float dot, float scale, int keys)
{
    return fmaf(dot, scale, attn_sparse_log_keys(keys));
}

/* A tile's estimated softmax mass in units of 2^-31 of the row's largest (logit = max): floor of
 * 2^31·e^(logit − max), 0 below e^-22. e^x = 2^i·2^f (i = rint(x·log2 e), |f| <= ½), 2^f by its
 * Taylor polynomial to f^7 (relative error about 1e-8 before rounding). */
#define ATTN_SPARSE_MASS_ONE 2147483648u
ATTN_HD unsigned attn_sparse_mass_units(float logit, float max)
{
    const float y = attn_sparse_mul(attn_sparse_add(logit, -max), 1.44269504f);
    if (!(y > -32.f)) return 0; /* below one unit (and NaN) */
    const float i = rintf(y), f = attn_sparse_add(y, -i);
    float p = 1.52527338e-5f;
    p = fmaf(p, f, 1.54035304e-4f);
    p = fmaf(p, f, 1.33335581e-3f);
    p = fmaf(p, f, 9.61812911e-3f);
    p = fmaf(p, f, 5.55041087e-2f);
    p = fmaf(p, f, 2.40226507e-1f);
    p = fmaf(p, f, 6.93147181e-1f);
    p = fmaf(p, f, 1.f);
    return (unsigned)ldexpf(p, 31 + (int)i); /* i <= 0, p <= 1 at i = 0: at most 2^31 */
}

/* Units a mass prefix must reach: ceil(tau · total) (total < 2^53: exact in double). */
ATTN_HD unsigned long long attn_sparse_mass_need(float tau, unsigned long long total)
{
    return (unsigned long long)ceil((double)tau * (double)total);
}

/* The rank key of a priority: unsigned, larger for a larger float, -0 as +0 (so that equal
 * priorities have equal keys and fall to the tile index). */
ATTN_HD unsigned attn_sparse_key(float prio)
{
    union {
        float f;
        unsigned u;
    } b = {prio};
    if (b.u == 0x80000000u) b.u = 0;
    return b.u & 0x80000000u ? ~b.u : b.u | 0x80000000u;
}

/* Sort order of two (priority, tile) entries: 1 when a comes first (higher priority, or equal
 * priority and lower tile index). */
ATTN_HD int attn_sparse_before(float pa, int ia, float pb, int ib)
{
    return pa > pb || (pa == pb && ia < ib);
}

#ifdef __cplusplus
}
#endif
#endif
