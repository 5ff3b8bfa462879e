/* naive.h — launchers of kernels/naive.cu (variant `naive`): materialised fp32 scores, plain CUDA cores. */
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
