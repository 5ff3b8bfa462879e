/* nystrom.h — launchers of kernels/nystrom.cu: the `nystrom` variant's per-head landmark kernels
 * (its landmarks themselves: attn_lowrank_pool in kernels/lowrank.h). */
#ifndef ATTN_KERNELS_NYSTROM_H
#define ATTN_KERNELS_NYSTROM_H

#include <cuda_runtime.h>
#include <stddef.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A (fp32 [heads][m][m]) = softmax(scale · Q̃·K̃ᵀ) per head; Q̃, K̃ [heads][m][D] in dtype t. */
int attn_nystrom_scores(attn_dtype t, int D, int m, long heads, const void *qt, const void *kt, float *A, float scale, cudaStream_t stream);

/* Z (fp32 [heads][m][m]) = Aᵀ/(max row sum · max column sum of |A|) per head: the start of the
 * pseudo-inverse iteration. */
int attn_nystrom_pinv_init(int m, long heads, const float *A, float *Z, cudaStream_t stream);

/* Y = c·I − X for every head's m×m matrix; Y may be X. */
int attn_nystrom_sub_identity(int m, long heads, float c, const float *X, float *Y, cudaStream_t stream);

/* Y ([heads][m][D], dtype t) = round_dtype(Z·W) per head; Z fp32 [heads][m][m], W [heads][m][D]. */
int attn_nystrom_zw(attn_dtype t, int D, int m, long heads, const float *Z, const void *W, void *Y, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
