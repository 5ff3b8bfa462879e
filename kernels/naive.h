/* naive.h — launchers of kernels/naive.cu (variant `naive`): textbook attention in three kernels on
 * CUDA cores (scores, softmax, P·V), no tensor cores. Materialises the fp32 score matrix
 * [B][H][S][S] in the caller's workspace (B·H·S²·4 bytes). Limits: none on S, D, dtype (fp16, bf16,
 * fp32); GQA; causal still computes the full square. Notes: kernels/NOTES-naive.md. */
#ifndef ATTN_KERNELS_NAIVE_H
#define ATTN_KERNELS_NAIVE_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The three launches for one forward pass of point p; scores is the B·H·S²-float workspace. */
int attn_naive_forward(const attn_point *p, const void *q, const void *k, const void *v, void *o, float *scores, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
