/* fused.h — launchers of kernels/fused.cu (variant `fused`, and lowrank's attention over its
 * projected keys): the portable flash-attention-2 forward on mma.sync tensor cores, sm_80+.
 * Materialises nothing of size S×S (Q, K, V in; O and optional fp32 LSE rows out). Limits: fp16 and
 * bf16, head_dim 64 or 128, any S >= 1, GQA, causal (then as many keys as queries); up to 160 KB of
 * shared memory per block. Design and measurements: kernels/NOTES-fused.md. */
#ifndef ATTN_KERNELS_FUSED_H
#define ATTN_KERNELS_FUSED_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of configuration idx: 0, or -1 if idx is out of range. */
int attn_fused_config_get(int idx, int *bn, int *warps, int *minb, int *qreg);

/* The configuration index with query tile bm and key tile bn, or -1. */
int attn_fused_config_find(int bm, int bn);

/* The default tile for a point, from its shape alone (so the CPU implementation in
 * variants/fused.c walks the same key tiles without a device): 128x128 (8 warps) or 64x64 (4
 * warps). Measured on H100 (NOTES-fused.md): 64x64 is faster at D=64 at every benchmark S and for
 * causal D=128 up to S=1024; 128x128 elsewhere at D=128. 64x64 also where 128-row tiles would give
 * fewer than 264 blocks (two per SM of a 132-SM H100/H200). */
int attn_fused_default_tile(int D, int B, int H, int S, int causal, int *bm, int *bn);

/* One-time setup outside timing (raises the dynamic shared-memory limit). ATTN_SKIP when the
 * device cannot hold the configuration. */
int attn_fused_setup(int dtype, int D, int idx);

/* One forward pass with S queries and Sk keys per head (K, V are [B][Hkv][Sk][D]; used by the
 * `lowrank` variant with Sk = its k); non-causal only when Sk != S. Call attn_fused_setup for the
 * same (dtype, D, idx) once before. */
int attn_fused_launch_kv(int dtype, int D, int idx, int B, int H, int Hkv, int S, int Sk, int causal, const void *q, const void *k, const void *v, void *o, float *lse, cudaStream_t stream);

/* One forward pass (S queries and S keys); call attn_fused_setup for the same (dtype, D, idx) once
 * before. */
int attn_fused_launch(int dtype, int D, int idx, int B, int H, int Hkv, int S, int causal, const void *q, const void *k, const void *v, void *o, float *lse, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
