/* softmax.h — launchers of kernels/softmax.cu: the scale/mask/softmax over a materialised score
 * matrix, in place (the `cublas` variant and lowrank's cuBLAS attention path). */
#ifndef ATTN_KERNELS_SOFTMAX_H
#define ATTN_KERNELS_SOFTMAX_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In place over rows·S elements of dtype t at `scores`: row r (query position r % S) becomes
 * softmax(x·scale) over keys 0..S-1, or 0..r%S when causal, masked keys exactly 0. */
int attn_softmax_scores(attn_dtype t, void *scores, long long rows, int S, int causal, float scale, cudaStream_t stream);

/* The plan attn_cublas_softmax uses for rows of S elements of dtype t, e.g. "softmax=row128x4v8". */
void attn_softmax_describe(attn_dtype t, int S, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
