/* fused_sm90.h — launchers of kernels/fused_sm90.cu (variant `fused` on sm_90, and lowrank's
 * attention over its projected keys): the Hopper flash-attention forward, wgmma + TMA, persistent,
 * warp-specialised. Materialises nothing of size S×S (Q, K, V in; O and optional fp32 LSE rows
 * out). Limits: sm_90 devices only, fp16 and bf16, head_dim 64 or 128, any S >= 1, GQA, causal
 * (then as many keys as queries); up to 193 KB of shared memory per block; one launch at a time per
 * device (the work queue is a device global). Design and measurements: kernels/NOTES-fused.md. */
#ifndef ATTN_KERNELS_FUSED_SM90_H
#define ATTN_KERNELS_FUSED_SM90_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the wgmma path can run on the current device (sm_90, compiled for sm_90a). */
int attn_fused_sm90_available(void);

/* One-time setup outside timing (raises the dynamic shared-memory limit). ATTN_SKIP when there is
 * no kernel for (dtype, D, nwg) or the device is not sm_90. */
int attn_fused_sm90_setup(int dtype, int D, int nwg);

/* Default number of consumer warpgroups (query tile 64·nwg rows): D=128 → 2 (128x128); D=64 → 3
 * (192x128), except causal S ≤ 1024 → 2. Measured on H200 (kernels/NOTES-fused.md). */
int attn_fused_sm90_default_nwg(int D, int S, int causal);

/* One forward pass with S queries and Sk keys per head (K, V are [B][Hkv][Sk][D]); causal needs
 * Sk == S. Call attn_fused_sm90_setup for the same (dtype, D, nwg) once before. */
int attn_fused_sm90_launch_kv(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int Sk, int causal, const void *q, const void *k, const void *v, void *o, float *lse, cudaStream_t stream);

/* One forward pass (S queries and S keys); call attn_fused_sm90_setup for the same (dtype, D, nwg)
 * once before. */
int attn_fused_sm90_launch(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int causal, const void *q, const void *k, const void *v, void *o, float *lse, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
