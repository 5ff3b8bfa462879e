/* inputs.h — the launcher of kernels/inputs.cu: the seeded inputs of core/problem.h generated on the
 * device, equal to attn_fill_host's values bit for bit. */
#ifndef ATTN_KERNELS_INPUTS_H
#define ATTN_KERNELS_INPUTS_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills a device tensor of n elements of dtype t with the seeded inputs (tensor id, init, head_dim,
 * seq as for attn_fill_host), enqueued on stream. ATTN_OK or ATTN_ERR. */
int attn_fill_device(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor, attn_init init,
                     int head_dim, int seq, cudaStream_t stream);

/* Fills n bytes with the seeded normal inputs (tensor id as above) as 8-bit GEMM operands: INT8
 * rint(32·x) clamped to ±127 when int8, else FP8 e4m3 codes of x (kernels/quant.h's rounding). */
int attn_fill_device_8bit(void *dst, int int8, size_t n, uint64_t seed, int tensor,
                          cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
