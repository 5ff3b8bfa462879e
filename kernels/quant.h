/* quant.h — the quantized-attention interface shared by kernels/quant.cu (the quantization stage
 * and the portable mma.sync kernel, sm_80+) and kernels/quant_sm90.cu (the Hopper kernel: INT8
 * wgmma Q·Kᵀ, FP8 e4m3 wgmma P·V). SageAttention-style: Q and K to INT8 with one scale per block of
 * ATTN_QUANT_BLOCK rows (K smoothed first: its mean over the sequence, per KV head and channel,
 * subtracted — exact under softmax), V to FP8 e4m3 with one scale per channel, stored transposed
 * (keys contiguous, as FP8 wgmma's B operand needs); the unnormalised probabilities P̃ in [0, 1]
 * quantized to e4m3 with the static scale 448 (p_int8: to the uniform INT8 grid, a known-bad
 * control). With rotate (FA3's incoherent processing), the rows of Q and of K − mean are multiplied by
 * one randomized Hadamard matrix before their INT8 quantization (below: attn_quant_sign_flip).
 * Materialises the quantized copies of Q, K, V (the workspace), nothing of size S×S. */
#ifndef ATTN_KERNELS_QUANT_H
#define ATTN_KERNELS_QUANT_H

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { ATTN_QUANT_BLOCK = 128 }; /* rows per Q and per K scale */
#define ATTN_QUANT_P_SCALE 448.0f /* e4m3's largest finite value: P̃ ∈ [0, 1] → [0, 448] */

/* The quantized copies (device). S_pad = S rounded up to a multiple of 16 (TMA row pitch). */
typedef struct attn_quant_tensors {
    int8_t *q8;     /* [B][H][S][D]: round(q / q_scale), clamped to ±127 (q rotated: rotate) */
    float *q_scale; /* [B][H][ceil(S/BLOCK)]: max|q| of the block / 127 (1 when the block is 0);
                       rotate: that / D (the rotation's factor D folded in) */
    int8_t *k8;     /* [B][Hkv][S][D]: of k − k_mean when smoothing, else of k; rotated: rotate */
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
    int rotate;          /* 1 (qk_int8 only): q8, k8 of the rows × H·diag(s), q_scale / D */
    int accum_two_level; /* 1: FP8 P·V partial sums promoted to an fp32 accumulator every tile */
    int p_int8;          /* 1: P̃ on the uniform INT8 grid (control) instead of e4m3 × 448 */
    int sm90_kernel;     /* the Hopper kernel's instance, ATTN_QUANT_SM90_* bits: 0 plain, the only
                            one of the other modes; int8/fp8 any (variant quant: FOLD by default) */
    cudaStream_t stream;
} attn_quant_args;

/* Instances of the Hopper kernel (attn_quant_args.sm90_kernel; variant quant's sm90=), benched in
 * kernels/NOTES-quant.md (FOLD the variant's default at int8/fp8, the fastest end to end there):
 * WG3 three consumer warpgroups (192-row query tiles; D = 64), ST3 a 3-stage K/V ring (D = 128),
 * FOLD the s32 → float conversion's subtraction folded into the softmax's FFMA. */
enum { ATTN_QUANT_SM90_WG3 = 1, ATTN_QUANT_SM90_ST3 = 2, ATTN_QUANT_SM90_FOLD = 4 };

/* The Hopper kernel (kernels/quant_sm90.cu): available() is 1 on an sm_90 device with the sm_90a
 * build; setup() once per configuration outside timing (ATTN_SKIP: no such kernel, e.g. an
 * sm90_kernel not built for the dtype/D/modes). */
int attn_quant_sm90_available(void);
int attn_quant_sm90_setup(const attn_quant_args *a);
int attn_quant_sm90_launch(const attn_quant_args *a);

/* ---- appended for kernels/quant.cu and variants/quant.c (the quantization stage, the portable
 * kernel, and the rounding both sides share) ---- */

/* The roundings of the quantization, the same code on the host (the CPU implementation) and the
 * device (the stage and the portable kernel), so both give the same bits:
 *  - INT8: q = rint(x / scale) (round to nearest, ties to even), clamped to ±127 (saturating);
 *    scale = max|x| / 127 in fp32, 1 when the block is 0. The division is IEEE (nvcc's default
 *    -prec-div), so host and device agree exactly.
 *  - e4m3 (FP8, OCP "fn": bias 7, max 448, subnormal step 2^-9): nearest even, saturating at ±448
 *    (cvt.rn.satfinite's rounding), written out by hand so that sm_80 and the host have it too.
 *  - the FP8 tensor core's accumulator, modelled as fp22 (1 sign, 8 exponent, 13 mantissa bits,
 *    truncated), applied after every 32 keys of P·V (one k32 step of the FP8 MMA): SageAttention2
 *    and DeepSeek-V3 measured Hopper's FP8 MMA to keep about that many bits. */
#ifdef __CUDACC__
#define ATTN_QUANT_HD __host__ __device__ __forceinline__
#else
#define ATTN_QUANT_HD static inline
#endif
#define ATTN_QUANT_E4M3_MIN_NORMAL 0.015625f /* 2^-6 */

ATTN_QUANT_HD uint32_t attn_quant_f2u(float x)
{
    union {
        float f;
        uint32_t u;
    } v;
    v.f = x;
    return v.u;
}
ATTN_QUANT_HD float attn_quant_u2f(uint32_t x)
{
    union {
        float f;
        uint32_t u;
    } v;
    v.u = x;
    return v.f;
}

/* x rounded to the nearest e4m3 value (ties to even), saturating at ±448. */
ATTN_QUANT_HD float attn_e4m3_round(float x)
{
    const float a = fabsf(x);
    float r;
    if (a >= 448.0f) r = 448.0f;
    else if (a < ATTN_QUANT_E4M3_MIN_NORMAL) r = rintf(a * 512.0f) * (1.0f / 512.0f);
    else {
        uint32_t u = attn_quant_f2u(a); /* 23 mantissa bits to 3: drop 20, nearest even */
        u += 0x7ffffu + ((u >> 20) & 1u);
        r = attn_quant_u2f(u & 0xfff00000u);
    }
    return x < 0.0f ? -r : r;
}

/* The e4m3 code of a value attn_e4m3_round returned. */
ATTN_QUANT_HD uint8_t attn_e4m3_code(float r)
{
    const uint8_t sign = r < 0.0f ? 0x80 : 0;
    const float a = fabsf(r);
    if (a < ATTN_QUANT_E4M3_MIN_NORMAL) return (uint8_t)(sign | (uint8_t)(a * 512.0f));
    const uint32_t u = attn_quant_f2u(a);
    return (uint8_t)(sign | (((u >> 23) - 120u) << 3) | ((u >> 20) & 7u));
}

/* The value of an e4m3 code (no NaN code is ever written). */
ATTN_QUANT_HD float attn_e4m3_value(uint8_t c)
{
    const int e = (c >> 3) & 15, m = c & 7;
    const float a = e ? attn_quant_u2f((uint32_t)(e + 120) << 23 | (uint32_t)m << 20)
                      : (float)m * (1.0f / 512.0f);
    return c & 0x80 ? -a : a;
}

/* x to INT8 under scale: rint(x / scale), clamped to ±127. */
ATTN_QUANT_HD int8_t attn_int8_quant(float x, float scale)
{
    const float q = rintf(x / scale);
    return (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : (int)q);
}

/* The scale of a block or channel whose largest magnitude is amax, for the grid's top value. */
ATTN_QUANT_HD float attn_quant_scale(float amax, float top) { return amax > 0.0f ? amax / top : 1.0f; }

/* x truncated to fp22 (13 mantissa bits): the FP8 MMA accumulator's model. */
ATTN_QUANT_HD float attn_fp22(float x) { return attn_quant_u2f(attn_quant_f2u(x) & 0xfffffc00u); }

/* Incoherent processing (FA3): with rotate, each row x of Q and of K − mean becomes H·diag(s)·x
 * before its INT8 quantization — s the fixed signs below, H the unnormalised Walsh–Hadamard matrix
 * of order D (Sylvester's: H[i][j] = (-1)^popcount(i & j)), so one outlier channel is spread over
 * the whole row and the block's scale no longer follows it. Since (H·s·q)·(H·s·k) = D·(q·k), the
 * stored q_scale is the quantization's scale × 1/D (exact: D is a power of two), and both kernels'
 * dequantisation s32 · q_scale · k_scale is unchanged. The transform is exact sign flips and
 * log2 D stages of fp32 butterflies (a + b, a − b; no multiply, so no FMA contraction): host and
 * device give the same bits when they run the same stages, h = 1, 2, …, D/2, each pairing
 * element i (bit h clear) with i + h.
 * The signs: bit d % 64 of word d / 64 set = channel d negated; the two words are the first two
 * outputs of splitmix64 seeded with 14 (the number), fixed for all heads and points. */
ATTN_QUANT_HD int attn_quant_sign_flip(int d)
{
    const uint64_t word = d < 64 ? 0x6aa9d61435dbe63eull : 0x124119f8f5acc27aull;
    return (int)(word >> (d & 63)) & 1;
}

/* The fp32 butterfly of stage h on a pair (a: element i with bit h clear, b: element i + h). */
ATTN_QUANT_HD void attn_quant_butterfly(float *a, float *b)
{
    const float x = *a, y = *b;
    *a = x + y;
    *b = x - y;
}

/* P̃ ∈ [0, 1] as the P·V operand: on the INT8 grid first when p_int8 (the control), then × 448
 * to e4m3 — the value the FP8 MMA multiplies (448 too large: O is divided by 448 at the end). */
ATTN_QUANT_HD float attn_quant_p(float p, int p_int8)
{
    if (p_int8) p = rintf(p * 127.0f) * (1.0f / 127.0f);
    return attn_e4m3_round(p * ATTN_QUANT_P_SCALE);
}

/* The workspace of the stage and the kernels: the quantized copies (attn_quant_tensors),
 * 256-byte aligned pieces. */
size_t attn_quant_workspace_bytes(int B, int H, int Hkv, int S, int D);
/* The pieces of a workspace of attn_quant_workspace_bytes bytes at base. */
void attn_quant_tensors_layout(void *base, int B, int H, int Hkv, int S, int D,
                               attn_quant_tensors *t);
/* S_pad of attn_quant_tensors (S rounded up to 16). */
int attn_quant_s_pad(int S);

/* The order of K's sum over the sequence (k_mean = (float)(Σ / S)), the same on the device (the
 * stage's statistics kernel) and the host (the CPU implementation), per KV head and channel, in
 * fp64: lane L of ATTN_QUANT_STATS_LANES sums rows L, L + LANES, L + 2·LANES, … in row order
 * from 0; then the halving tree, lane i += lane i + s for i < s, s = LANES/2, …, 2, 1; lane 0 is
 * Σ. (A sum of fp16/bf16 values in fp64 is exact unless their magnitudes span more than about
 * 2^40, so other orders would usually agree; a fixed one makes the bits independent of the data.) */
enum { ATTN_QUANT_STATS_LANES = 256 };

/* The quantization stage (kernels/quant.cu): from a->q, a->k, a->v into a->t what the modes
 * need, enqueued on a->stream. Its kernels, in this order (each a record of its own in CUPTI's
 * stages): STATS, K's mean per channel (zeros when not smoothing) and V's channel scales, over
 * the whole sequence (when qk_int8 or pv_fp8); ROWS, Q and K − mean to INT8, rotated when
 * rotate, both in one launch (qk_int8); VT, V to e4m3 Vᵀ (pv_fp8). */
enum { ATTN_QUANT_STAGE_STATS, ATTN_QUANT_STAGE_ROWS, ATTN_QUANT_STAGE_VT, ATTN_QUANT_STAGE_KERNELS };
int attn_quant_stage_launch(const attn_quant_args *a);
/* One kernel of the stage alone (ATTN_QUANT_STAGE_*; nothing when the modes do not need it), for
 * timing each: it reads what the kernels before it wrote. */
int attn_quant_stage_kernel_launch(const attn_quant_args *a, int kernel);
int attn_quant_stage_launches(const attn_quant_args *a); /* how many kernels it launches */

/* The portable attention kernel (kernels/quant.cu, mma.sync, sm_80+): setup once outside timing
 * (ATTN_SKIP: no kernel for the dtype/D, or too little shared memory), then launch. */
int attn_quant_mma_setup(const attn_quant_args *a);
int attn_quant_mma_launch(const attn_quant_args *a);

#ifdef __cplusplus
}
#endif
#endif
