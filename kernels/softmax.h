/* softmax.h — launchers of kernels/softmax.cu: scale, causal mask and softmax in place over a
 * materialised [rows][S] score matrix in the input dtype (the `cublas` variant and lowrank's cuBLAS
 * attention path). Materialises nothing of its own. Limits: any S >= 1; fp16, bf16, fp32; rows of
 * more than 16384 elements take a slower three-pass kernel. Notes: kernels/NOTES-softmax.md. */
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

/* The plan attn_softmax_scores uses for rows of S elements of dtype t, e.g.
 * "softmax=row128x4v8". */
void attn_softmax_describe(attn_dtype t, int S, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
