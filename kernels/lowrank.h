/* lowrank.h — launchers of kernels/lowrank.cu: Linformer's seeded projections and the segment-mean
 * pooling (lowrank's proj=mean, nystrom's landmarks). */
#ifndef ATTN_KERNELS_LOWRANK_H
#define ATTN_KERNELS_LOWRANK_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = round_dtype(attn_rng_value(seed, tensor, i) · scale) for i < n (n = k·S) in dtype t. */
int attn_lowrank_fill_proj(attn_dtype t, void *dst, size_t n, uint64_t seed, int tensor, float scale, cudaStream_t stream);

/* Segment means of two tensors in one launch: y0 from x0 and y1 from x1, `slices` output slices of
 * k rows each, row i of a slice = w_i · Σ of input rows [⌊i·S/k⌋, ⌊(i+1)·S/k⌋) with w_i the float
 * 1/len_i, rounded to the dtype first when round_w; x1's slice z is read at z / group. lowrank
 * proj=mean: K → K′, V → V′ (group 1, round_w 1); nystrom: Q → Q̃, K → K̃ per query head (group
 * H/H_kv, round_w 0). Needs 1 ≤ k ≤ S. */
int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, int group, int round_w, const void *x0, const void *x1, void *y0, void *y1, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
