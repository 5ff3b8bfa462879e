/* quant.h — the quantized-attention interface shared by kernels/quant.cu (the quantization stage
 * and the portable mma.sync kernel, sm_80+) and kernels/quant_sm90.cu (the Hopper kernel: INT8
 * wgmma Q·Kᵀ, FP8 e4m3 wgmma P·V). SageAttention-style: Q and K to INT8 with one scale per block of
 * ATTN_QUANT_BLOCK rows (K smoothed first: its mean over the sequence, per KV head and channel,
 * subtracted — exact under softmax), V to FP8 e4m3 with one scale per channel, stored transposed
 * (keys contiguous, as FP8 wgmma's B operand needs); the unnormalised probabilities P̃ in [0, 1]
 * quantized to e4m3 with the static scale 448 (p_int8: to the uniform INT8 grid, a known-bad
 * control). Materialises the quantized copies of Q, K, V (the workspace), nothing of size S×S. */
#ifndef ATTN_KERNELS_QUANT_H
#define ATTN_KERNELS_QUANT_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { ATTN_QUANT_BLOCK = 128 }; /* rows per Q and per K scale */
#define ATTN_QUANT_P_SCALE 448.0f /* e4m3's largest finite value: P̃ ∈ [0, 1] → [0, 448] */

/* The quantized copies (device). S_pad = S rounded up to a multiple of 16 (TMA row pitch). */
typedef struct attn_quant_tensors {
    int8_t *q8;     /* [B][H][S][D]: round(q / q_scale), clamped to ±127 */
    float *q_scale; /* [B][H][ceil(S/BLOCK)]: max|q| of the block / 127 (1 when the block is 0) */
    int8_t *k8;     /* [B][Hkv][S][D]: of k − k_mean when smoothing, else of k */
    float *k_scale; /* [B][Hkv][ceil(S/BLOCK)] */
    float *k_mean;  /* [B][Hkv][D], fp32; zeros when not smoothing */
    uint8_t *v8t;   /* [B][Hkv][D][S_pad] e4m3 of v / v_scale, transposed; padding keys are 0 */
    float *v_scale; /* [B][Hkv][D]: max|v| of the channel over the sequence / 448 (1 when 0) */
} attn_quant_tensors;

typedef struct attn_quant_args {
    int dtype; /* attn_dtype of q, k, v, o: ATTN_FP16 or ATTN_BF16 */
    int B, H, Hkv, S, D, causal; /* D: 64 or 128 */
    const void *q, *k, *v; /* the point's inputs (read by the stage, and by qk=dtype / pv=dtype) */
    void *o;
    attn_quant_tensors t;
    int qk_int8;         /* 1: Q·Kᵀ from q8/k8 (INT8); 0: from q, k in the dtype */
    int pv_fp8;          /* 1: P·V from P̃ in e4m3 and v8t; 0: P in the dtype and v */
    int smooth;          /* 1: k8 holds K − mean (the stage subtracts it) */
    int accum_two_level; /* 1: FP8 P·V partial sums promoted to an fp32 accumulator every tile */
    int p_int8;          /* 1: P̃ on the uniform INT8 grid (control) instead of e4m3 × 448 */
    cudaStream_t stream;
} attn_quant_args;

/* The Hopper kernel (kernels/quant_sm90.cu): available() is 1 on an sm_90 device with the sm_90a
 * build; setup() once per configuration outside timing (ATTN_SKIP: no such kernel). */
int attn_quant_sm90_available(void);
int attn_quant_sm90_setup(const attn_quant_args *a);
int attn_quant_sm90_launch(const attn_quant_args *a);

#ifdef __cplusplus
}
#endif
#endif
