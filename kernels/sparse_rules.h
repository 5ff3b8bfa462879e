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
 *   topk    the pooled logit: q̄·k̄ₜ·scale + ln(keys in tile t), q̄ and k̄ₜ the fp32 means of the
 *           query tile's rows and of key tile t's rows (keys past S excluded), the dot product
 *           summed over d in order with fmaf (the same float result on host and device);
 *   mass    the same logit; its softmax over the visible tiles (max subtracted, exp in float) is
 *           the estimated mass of each tile. */
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
