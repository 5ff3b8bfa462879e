/* lowrank.h — launchers of kernels/lowrank.cu: Linformer's seeded projections, segment-mean pooling,
 * and the Nyström landmark kernels. */
#ifndef ATTN_KERNELS_LOWRANK_H
#define ATTN_KERNELS_LOWRANK_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] for i < n (n = k·S) in dtype t, as described above. */
int attn_lowrank_fill_proj(attn_dtype t, void *dst, size_t n, uint64_t seed, int tensor, float scale, cudaStream_t stream);

/* Segment means of two tensors in one launch (see above): y0 from x0 and y1 from x1, `slices`
 * output slices of k rows each. proj=mean: K → K′, V → V′ (group 1, round_w 1); method=nystrom:
 * Q → Q̃, K → K̃ per query head (group H/H_kv, round_w 0). Needs 1 ≤ k ≤ S. */
int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, int group, int round_w, const void *x0, const void *x1, void *y0, void *y1, cudaStream_t stream);

/* A (fp32 [heads][m][m]) = softmax(scale · Q̃·K̃ᵀ) per head; Q̃, K̃ [heads][m][D] in dtype t. */
int attn_nystrom_scores(attn_dtype t, int D, int m, long heads, const void *qt, const void *kt, float *A, float scale, cudaStream_t stream);

/* Z (fp32 [heads][m][m]) = the iteration's start from A, per head (see above). */
int attn_nystrom_pinv_init(int m, long heads, const float *A, float *Z, cudaStream_t stream);

/* Y = c·I − X for every head's m×m matrix; Y may be X. */
int attn_nystrom_sub_identity(int m, long heads, float c, const float *X, float *Y, cudaStream_t stream);

/* Y ([heads][m][D], dtype t) = round_dtype(Z·W) per head; Z fp32 [heads][m][m], W [heads][m][D]. */
int attn_nystrom_zw(attn_dtype t, int D, int m, long heads, const float *Z, const void *W, void *Y, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
