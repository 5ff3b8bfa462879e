/* quant_sm90.cu — the Hopper (sm_90a) attention kernel of variant `quant` (kernels/quant.h has the
 * interface and the quantization; kernels/quant.cu the quantization stage and the portable kernel).
 *
 * Algorithm: fused_sm90's persistent, warp-specialised flash-attention forward (kernels/sm90_common.cuh
 * holds the shared pieces: the mbarrier/TMA/wgmma wrappers, the ring, the queue, mask, online
 * softmax, epilogue), with 8-bit operands. Query tile BM = 128 rows = one Q scale block (two
 * consumer warpgroups of 64 rows), key tile BN = 128 keys = one K scale block, K/V ring of 2 stages.
 *  - Q·Kᵀ (qk_int8): wgmma m64n128k32 s8·s8→s32 from q8/k8 (TMA, 128-byte swizzle at D = 128,
 *    64-byte at D = 64); the s32 scores turned into floats exactly by two full-rate instructions
 *    (no quarter-rate I2F), dequantised inside the online softmax's one FFMA per score: exp2(s ·
 *    q_scale·k_scale·scale·log2 e − m), the running max m kept in the log2 domain (the factor
 *    changes from key tile to key tile). qk_int8 = 0: wgmma in the dtype from q, k (fused's path).
 *  - P·V (pv_fp8): 448·P̃ = exp2(x − m + log2 448) ∈ [0, 448] rounded to e4m3 (satfinite, nearest even)
 *    into the register A operand of wgmma m64nDk32 e4m3·e4m3→f32, V from v8t ([D][S_pad], keys
 *    contiguous: the K-major B operand FP8 wgmma needs). The accumulator fragment of Q·Kᵀ gives a
 *    lane keys {2t, 2t+1, 2t+8, 2t+9} of each 16 where the FP8 A fragment wants {4t .. 4t+3}, so
 *    the V tile's keys are permuted to match inside each 16-byte chunk (16-bit pairs: position
 *    2t + c holds pair t + 4c; the permutation moves no chunk, so the swizzle is untouched) by the
 *    producer warpgroup's three idle warps, between the TMA's landing and the consumers' "full".
 *    accum_two_level: each key tile's P·V goes to a fresh fp32 register tile (the tensor core's
 *    FP8 accumulation keeps ~22 bits) that is added to the fp32 O accumulator (kept one tile behind
 *    in scale, so add and rescale are one FFMA); single: one accumulator across the tiles. pv_fp8 = 0: P rounded to the dtype, V from v (fused's path).
 *  - p_int8 (the control): P̃ first rounded to the uniform grid k/127, k = rint(127·P̃) (computed
 *    on 448·P̃ as rint(448·P̃ · 127/448) · 448/127), then fed to the same P·V path.
 *  - Epilogue: O = acc · v_scale[d] / l (l: the sum of the unquantized 448·P̃), rounded to the
 *    dtype, staged in the Q buffer (sized for the dtype) and stored coalesced.
 * Causal, GQA (KV head = h / (H/H_kv)), any S >= 1 (rows and keys past S zero-filled by the TMA,
 * masked keys give P̃ = 0 exactly). Nothing of size S×S is materialised: the device memory touched
 * is the quantized Q, K, V (or the dtype copies of the ablations), their scales and O.
 *
 * Limits: fp16/bf16 output, D = 64 or 128, sm_90 only (the sm_80 pass compiles empty kernels that
 * attn_quant_sm90_setup never lets run). One launch at a time per device (the work queue's
 * counters are device globals). Shared memory per block (two dtype-sized Q buffers + the ring):
 * D = 128 128 KB (int8/fp8), 160 KB (one product 8-bit), 192 KB (neither); D = 64 64 / 80 / 96 KB.
 * setmaxnreg: producer 24, consumers 240 registers. Registers, SASS and speed:
 * kernels/NOTES-quant.md, section "sm90 kernel".
 * Instances beside the plain one (attn_quant_args.sm90_kernel, int8/fp8 only; FOLD the variant's default):
 * WG3 three consumer warpgroups, BM = 192, D = 64 (as fused_sm90 at D = 64; producer 32, consumers
 * 160 registers; with two-level accumulation each tile's P·V runs after its softmax, not beside the
 * next tile's), ST3 a 3-stage ring at D = 128 (160 KB), FOLD the s32 → float
 * subtraction folded into the softmax's FFMA (one full-rate instruction less per score). */
#include <cuda.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include <algorithm>

#include "quant.h"
#include "sm90_common.cuh"

/* The work queue of this file's kernel (sm90_queue_take). */
__device__ unsigned int attn_quant_sm90_next_tile, attn_quant_sm90_blocks_done;

namespace {

struct quant_params {
    void *o;
    const float *q_scale, *k_scale, *v_scale;
    int H, Hkv, S, causal, nblk; /* nblk: scale blocks per head, ceil(S / ATTN_QUANT_BLOCK) */
    int n_m, n_hb, sec, total;   /* query tiles per head, B·H, heads per causal section, n_m·n_hb */
    float scale_log2;
    uint32_t v_lbo, v_sbo; /* N-major V descriptor strides of the dtype P·V (bytes) */
    int two_level, p_int8;
};

/* NWG consumer warpgroups of 64 rows (BM = 64·NWG: each warpgroup's rows lie in one Q scale
 * block), a K/V ring of ST stages. */
template <int D, bool QK8, bool PV8, int NWG, int ST_> struct quant_layout {
    static constexpr int BM = 64 * NWG, BN = 128, ST = ST_;
    static_assert(ATTN_QUANT_BLOCK % 64 == 0 && BN == ATTN_QUANT_BLOCK, "one K scale per tile, one Q scale per warpgroup");
    static constexpr int Q_BYTES = BM * D * 2; /* dtype-sized: O is staged here */
    static constexpr int K_BYTES = BN * D * (QK8 ? 1 : 2), V_BYTES = BN * D * (PV8 ? 1 : 2);
    static constexpr int OFF_K = 2 * Q_BYTES;
    static constexpr int OFF_V = OFF_K + ST * K_BYTES;
    static constexpr int OFF_BAR = OFF_V + ST * V_BYTES;
    static constexpr int N_BAR = 6 + 5 * ST; /* sm90_bars', then "V landed" per stage */
    static constexpr int OFF_SLOT = OFF_BAR + 8 * N_BAR; /* tile per Q buffer, then stop per stage */
    static constexpr int SMEM = OFF_SLOT + 4 * (2 + ST) + 1024;
};

#ifdef ATTN_SM90_DEVICE
/* Query tile t of the queue, fused_sm90's order: non-causal head-major; causal longest first
 * within sections of p.sec (batch, head) pairs whose K/V fit in L2. */
struct tile_pos {
    int m_block, h, b;
};
__device__ __forceinline__ tile_pos tile_at(const quant_params &p, int t)
{
    int m, hb;
    if (p.causal) {
        const int s = t / (p.sec * p.n_m), u = t - s * p.sec * p.n_m;
        const int n = min(p.sec, p.n_hb - s * p.sec);
        m = p.n_m - 1 - u / n;
        hb = s * p.sec + u % n;
    } else {
        hb = t / p.n_m;
        m = t - hb * p.n_m;
    }
    return {m, hb % p.H, hb / p.H};
}

/* 8-bit wgmma wrappers (K-major operands only, as the hardware has them); scale_d = 0 overwrites d.
 * Written out by the generator of sm90_common.cuh's wrappers. */
__device__ __forceinline__ void wgmma_ss_m64n128k32_s8(uint32_t (&d)[64], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n128k32_e4m3(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n64k32_e4m3(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d));
}

/* Shared-memory descriptor of a K-major operand with rows of RB bytes (128: 128-byte swizzle,
 * 64: 64-byte swizzle), 8-row atoms. */
template <int RB> __device__ __forceinline__ uint64_t qdesc(uint32_t addr)
{
    static_assert(RB == 128 || RB == 64, "rows of 64 or 128 bytes");
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((uint64_t)((8 * RB) >> 4) << 32) |
           ((uint64_t)(RB == 128 ? 1 : 2) << 62);
}

template <int N> __device__ __forceinline__ void fence_u32(uint32_t (&r)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+r"(r[i])::"memory");
}

/* acc = Q8·K8ᵀ of one warpgroup: its 64 rows at sQ (rows of D bytes) against the BN = 128 keys at
 * sK; issued and committed, not waited for. */
template <int D> __device__ __forceinline__ void issue_qk8(uint32_t (&acc)[64], uint32_t sQ, uint32_t sK)
{
    wg_fence();
    fence_u32(acc);
#pragma unroll
    for (int kk = 0; kk < D / 32; kk++) wgmma_ss_m64n128k32_s8(acc, qdesc<D>(sQ + kk * 32), qdesc<D>(sK + kk * 32), kk > 0);
    wg_commit();
    fence_u32(acc);
}

/* o (+)= P̃·V in e4m3: pf the A fragments of the 4 × 32 keys, sV the permuted V tile (D rows of
 * 128 keys, 128-byte swizzle); accumulate = 0 starts o from zero. Issued and committed. */
template <int D>
__device__ __forceinline__ void issue_pv8(float (&o)[D / 2], const uint32_t (&pf)[4][4], uint32_t sV, int accumulate)
{
    wg_fence();
    fence_regs(o);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const uint64_t dv = qdesc<128>(sV + kk * 32);
        if constexpr (D == 128) wgmma_rs_m64n128k32_e4m3(o, pf[kk], dv, kk > 0 || accumulate);
        else wgmma_rs_m64n64k32_e4m3(o, pf[kk], dv, kk > 0 || accumulate);
    }
    wg_commit();
    fence_regs(o);
}

/* (a, b, c, d) in e4m3 (satfinite, nearest even), a in the low byte. */
__device__ __forceinline__ uint32_t e4m3x4(float a, float b, float c, float d)
{
    const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
    const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
    return lo | hi << 16;
}

/* 448·P̃ (the softmax's s, BN = 128 keys) into the FP8 A fragments: 32-key block kk of a lane holds
 * keys 2t, 2t+1, 2t+8, 2t+9 (+16) of rows g and g+8, in that byte order (V is permuted to match). */
__device__ __forceinline__ void pack_p8(const float (&s)[64], uint32_t (&pf)[4][4])
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const float *x = s + 16 * kk;
        pf[kk][0] = e4m3x4(x[0], x[1], x[4], x[5]);
        pf[kk][1] = e4m3x4(x[2], x[3], x[6], x[7]);
        pf[kk][2] = e4m3x4(x[8], x[9], x[12], x[13]);
        pf[kk][3] = e4m3x4(x[10], x[11], x[14], x[15]);
    }
}

/* p_int8: top·P̃ (s, top = 448 or 1) on the uniform grid top·k/127 (the control). */
__device__ __forceinline__ void p_to_int8_grid(float (&s)[64], float top)
{
    const float up = 127.f / top, down = top / 127.f;
#pragma unroll
    for (int i = 0; i < 64; i++) s[i] = rintf(s[i] * up) * down;
}

/* log2(448): the exponent offset that makes exp2 give 448·P̃ (e4m3's range) directly */
#define QUANT_LOG2_P_SCALE 8.807354922057604f

/* The s32 scores as floats, exactly (|acc| < 2^22 for D <= 128: 128·127² = 2,064,512): the bits of
 * 1.5·2^23 + acc less 1.5·2^23, two full-rate instructions where I2F is a quarter-rate one. FOLD:
 * the subtraction is left to the softmax's FFMA (s holds 1.5·2^23 + acc, exact, same order). */
#define QUANT_MAGIC 12582912.f
template <bool FOLD> __device__ __forceinline__ void s32_to_float(const uint32_t (&acc)[64], float (&s)[64])
{
#pragma unroll
    for (int i = 0; i < 64; i++) {
        if constexpr (FOLD) {
            /* opaque to the compiler: seeing through the add, it kept acc live beside s (688 bytes
             * of spills at D = 128) */
            uint32_t v = acc[i] + 0x4B400000u;
            asm("" : "+r"(v));
            s[i] = __uint_as_float(v);
        } else {
            s[i] = __int_as_float((int)acc[i] + 0x4B400000) - QUANT_MAGIC;
        }
    }
}

/* Online softmax of the raw scores s of one key tile whose log2-domain factor is c (dequantisation
 * · scale · log2 e: it changes from tile to tile with k_scale, so the running max m_i is kept in
 * the log2 domain, unlike sm90_softmax's); s becomes exp2(s·c − m + bias) = 2^bias·P̃; l_i sums it
 * (per lane, over the quad at the end); alpha: O's rescale factors. A row with every score -inf so
 * far keeps m = -inf, no NaN. FOLD: s holds M + score (M = QUANT_MAGIC, s32_to_float<true>); the
 * max is M less (exact), the exponent fmaf(M + score, c, −fmaf(M, c, m − bias)): one FADD per
 * score saved, at the price of the rounding of M·c + m − bias (half an ulp of M·c: 6e-5 in the
 * exponent at c = 1.6e-4, normal inputs), one factor per row and tile. */
template <bool FOLD>
__device__ __forceinline__ void quant_softmax(float (&s)[64], float (&m_i)[2], float (&l_i)[2], float c, float bias,
                                              float (&alpha)[2])
{
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < 16; i++) {
        mx[0] = fmaxf(mx[0], fmaxf(s[4 * i], s[4 * i + 1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[4 * i + 2], s[4 * i + 3]));
    }
    float ms[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const float mq = attn_quad_reduce<ATTN_REDUCE_MAX>(mx[r]);
        const float mn = fmaxf(m_i[r], (FOLD ? mq - QUANT_MAGIC : mq) * c);
        const float m_safe = mn == -INFINITY ? 0.f : mn;
        ms[r] = FOLD ? fmaf(QUANT_MAGIC, c, m_safe - bias) : m_safe - bias;
        alpha[r] = attn_exp2_approx(m_i[r] - m_safe);
        m_i[r] = mn;
        l_i[r] *= alpha[r];
    }
#pragma unroll
    for (int i = 0; i < 16; i++) {
        s[4 * i] = attn_exp2_approx(fmaf(s[4 * i], c, -ms[0]));
        s[4 * i + 1] = attn_exp2_approx(fmaf(s[4 * i + 1], c, -ms[0]));
        s[4 * i + 2] = attn_exp2_approx(fmaf(s[4 * i + 2], c, -ms[1]));
        s[4 * i + 3] = attn_exp2_approx(fmaf(s[4 * i + 3], c, -ms[1]));
        l_i[0] += s[4 * i] + s[4 * i + 1];
        l_i[1] += s[4 * i + 2] + s[4 * i + 3];
    }
}

/* Threads of the producer warpgroup that permute V (warps 1–3; warp 0's lane 0 issues the TMA). */
constexpr int V_PERMUTERS = 96;
constexpr int PERMUTE_BAR = 7; /* named barrier of the permuting warps (consumers use 1 .. 2·NWG <= 6) */

/* The V tile's keys permuted to the FP8 A fragment's order, in place, by the nthreads threads
 * ptid of the permuting warps: in each 16-byte chunk, 16-bit pair 2t + c takes pair t + 4c. */
__device__ __forceinline__ void permute_v(uint4 *v, int chunks, int ptid, int nthreads)
{
    for (int c = ptid; c < chunks; c += nthreads) {
        const uint4 x = v[c];
        v[c] = make_uint4(__byte_perm(x.x, x.z, 0x5410), __byte_perm(x.x, x.z, 0x7632),
                          __byte_perm(x.y, x.w, 0x5410), __byte_perm(x.y, x.w, 0x7632));
    }
}
#endif /* ATTN_SM90_DEVICE */


/* The instance's shape: VAR the ATTN_QUANT_SM90_* bits (quant.h). */
template <int VAR> struct quant_var {
    static constexpr int NWG = VAR & ATTN_QUANT_SM90_WG3 ? 3 : 2, ST = VAR & ATTN_QUANT_SM90_ST3 ? 3 : 2;
};

template <typename T, int D, bool QK8, bool PV8, int VAR>
__global__ void __launch_bounds__(128 * (quant_var<VAR>::NWG + 1), 1)
    quant_sm90_kernel(const __grid_constant__ CUtensorMap tmQ, const __grid_constant__ CUtensorMap tmK,
                      const __grid_constant__ CUtensorMap tmV, const quant_params p)
{
#ifdef ATTN_SM90_DEVICE
    constexpr int NWG = quant_var<VAR>::NWG;
    constexpr bool FOLD = VAR & ATTN_QUANT_SM90_FOLD;
    /* two-level accumulation. Two warpgroups overlap a tile's P·V with the next tile's Q·Kᵀ and
     * softmax. With three, the fresh P·V tile does not fit beside O, the scores and P in 160
     * registers when overlapped (192 bytes of spills at D = 64, and ptxas then serialised every
     * wgmma), so WG3 runs each tile's P·V after its softmax (SERIAL_PV: the fresh tile lives where
     * the scores were) and leaves the overlap to the other warpgroups' turns; accum=single keeps
     * the overlapped loop. */
    constexpr bool OVERLAP_TWO_LEVEL = PV8 && NWG == 2, SERIAL_PV = PV8 && NWG == 3;
    using C = quant_layout<D, QK8, PV8, NWG, quant_var<VAR>::ST>;
    constexpr int BM = C::BM, BN = C::BN, ST = C::ST;
    /* fused_sm90's splits, within the registers the block launched with (168·384 for two consumer
     * warpgroups: 128·(24 + 2·240); 128·512 for three: 128·(32 + 3·160)). Asking for more (a
     * producer of 32 beside 2·240) left the consumers' setmaxnreg.inc waiting forever on the H200. */
    constexpr int PRODUCER_REGS = NWG == 2 ? 24 : 32, CONSUMER_REGS = NWG == 2 ? 240 : 160;
    constexpr int Q_ROW_BYTES = QK8 ? D : 2 * D;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = (attn_smem_u32(smem_raw) + 1023u) & ~1023u;
    unsigned char *gbase = smem_raw + (base - attn_smem_u32(smem_raw));
    volatile int *slot = reinterpret_cast<volatile int *>(gbase + C::OFF_SLOT); /* tile per Q buffer */
    volatile int *stop = slot + 2; /* per stage: the permuters' end */
    const uint32_t sK = base + C::OFF_K, sV = base + C::OFF_V;
    const sm90_bars<ST> bar{base + C::OFF_BAR};
    auto v_landed = [&](int s) { return base + C::OFF_BAR + 8 * (6 + 4 * ST + s); };

    const int S = p.S;
    /* key tiles of query tile m (causal: up to the diagonal) */
    auto key_tiles = [&](int m) {
        const int n = (S + BN - 1) / BN;
        return p.causal ? min(n, (min((m + 1) * BM, S) - 1) / BN + 1) : n;
    };
    /* warpgroup index, warp-uniform for the compiler (branches around wgmma stay convergent) */
    const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
    const int tid = threadIdx.x & 127;

    if (threadIdx.x == 0) {
        for (int s = 0; s < ST; s++) {
            mbar_init(v_landed(s), 1);
            stop[s] = 0;
        }
        bar.init(NWG); /* (its fences cover the inits above) */
    }
    __syncthreads();

    if (wg == 0) {
        /* ---------------- producer: takes tiles from the queue until it is empty ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGS));
        if (tid == 0) {
            int kv = 0; /* key tiles loaded so far: ring stage kv % ST, phase (kv / ST) & 1 */
            for (int it = 0;; it++) {
                const int qb = it & 1;
                if (it >= 2) mbar_wait(bar.q_empty(qb), (uint32_t)(((it >> 1) - 1) & 1));
                const int t = sm90_queue_take(&attn_quant_sm90_next_tile);
                if (t >= p.total) {
                    slot[qb] = -1; /* releases the consumers: no more tiles */
                    mbar_arrive(bar.tile_full(qb));
                    if (PV8) { /* and the permuters, at the next ring position once it is free */
                        const int s = kv % ST;
                        mbar_wait(bar.empty_v(s), (uint32_t)((kv / ST) & 1) ^ 1);
                        stop[s] = 1;
                        mbar_arrive(v_landed(s));
                    }
                    sm90_queue_leave(&attn_quant_sm90_next_tile, &attn_quant_sm90_blocks_done);
                    break;
                }
                const tile_pos tp = tile_at(p, t);
                const int hk = tp.h / (p.H / p.Hkv);
                const uint32_t sQ = base + qb * C::Q_BYTES;
                slot[qb] = t;
                mbar_arrive(bar.tile_full(qb));
                mbar_expect_tx(bar.q_full(qb), BM * Q_ROW_BYTES);
                if constexpr (QK8) { /* each warpgroup's 64 rows at its own 8 KB (inside its O staging) */
#pragma unroll
                    for (int h = 0; h < NWG; h++)
                        tma_load4(sQ + h * 8192, &tmQ, bar.q_full(qb), 0, tp.m_block * BM + 64 * h, tp.h, tp.b);
                } else {
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sQ + db * BM * 128, &tmQ, bar.q_full(qb), db * 64, tp.m_block * BM, tp.h, tp.b);
                }
                const int n_tiles = key_tiles(tp.m_block);
                for (int j = 0; j < n_tiles; j++, kv++) {
                    const int s = kv % ST;
                    const uint32_t ph = (uint32_t)((kv / ST) & 1);
                    mbar_wait(bar.empty_k(s), ph ^ 1);
                    mbar_expect_tx(bar.full_k(s), C::K_BYTES);
                    if constexpr (QK8) {
                        tma_load4(sK + s * C::K_BYTES, &tmK, bar.full_k(s), 0, j * BN, hk, tp.b);
                    } else {
#pragma unroll
                        for (int db = 0; db < D / 64; db++)
                            tma_load4(sK + s * C::K_BYTES + db * BN * 128, &tmK, bar.full_k(s), db * 64, j * BN, hk, tp.b);
                    }
                    mbar_wait(bar.empty_v(s), ph ^ 1);
                    if constexpr (PV8) { /* Vᵀ tile: D rows of 128 keys; "full" after the permutation */
                        mbar_expect_tx(v_landed(s), C::V_BYTES);
                        tma_load4(sV + s * C::V_BYTES, &tmV, v_landed(s), j * BN, 0, hk, tp.b);
                    } else {
                        mbar_expect_tx(bar.full_v(s), C::V_BYTES);
#pragma unroll
                        for (int db = 0; db < D / 64; db++)
                            tma_load4(sV + s * C::V_BYTES + db * BN * 128, &tmV, bar.full_v(s), db * 64, j * BN, hk, tp.b);
                    }
                }
            }
        } else if (PV8 && tid >= 32) {
            /* V permuters: every V tile in ring order, until a stage's stop flag */
            const int ptid = tid - 32;
            for (int kv = 0;; kv++) {
                const int s = kv % ST;
                mbar_wait(v_landed(s), (uint32_t)((kv / ST) & 1));
                if (stop[s]) break;
                permute_v(reinterpret_cast<uint4 *>(gbase + C::OFF_V + s * C::V_BYTES), C::V_BYTES / 16, ptid,
                          V_PERMUTERS);
                asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* for wgmma's reads */
                named_sync(PERMUTE_BAR, V_PERMUTERS);
                if (ptid == 0) mbar_arrive(bar.full_v(s));
            }
        }
    } else {
        /* ---------------- consumers ---------------- */
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGS));
        const int cw = wg - 1;
        const int warp = tid >> 5, lane = tid & 31;
        const int g = lane >> 2, t = lane & 3;
        const float sl2 = p.scale_log2;
        const int sched_bar = 1 + cw, next_bar = 1 + (cw + 1) % NWG;

        float o[D / 2];
        float o_tile[PV8 ? D / 2 : 1]; /* two-level: one key tile's P̃·V */
        float s[BN / 2];
        uint32_t acc[QK8 ? BN / 2 : 1]; /* s32 scores of Q8·K8ᵀ */
        uint32_t pf[PV8 ? BN / 32 : BN / 16][4];
        int kv = 0; /* key tiles consumed so far (the producer's ring position) */
        for (int it = 0;; it++) {
            const int qb = it & 1;
            mbar_wait(bar.tile_full(qb), (uint32_t)((it >> 1) & 1));
            const int tile = slot[qb];
            if (tile < 0) break;
            mbar_wait(bar.q_full(qb), (uint32_t)((it >> 1) & 1));
            const tile_pos tp = tile_at(p, tile);
            const int hk = tp.h / (p.H / p.Hkv);
            const int m0 = tp.m_block * BM;
            const int n_tiles = key_tiles(tp.m_block);
            const int wg_row0 = m0 + cw * 64;
            const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;
            /* rows all past S need one key tile (their output is never stored) */
            const int n_need = wg_row0 >= S ? 1
                               : p.causal ? min(n_tiles, (min(wg_row0 + 64, S) - 1) / BN + 1)
                                          : n_tiles;
            const uint32_t sQ = base + qb * C::Q_BYTES;
            /* this warpgroup's Q scale block (BM = 192: the last one for rows all past S, never stored) */
            const int q_blk = NWG == 2 ? tp.m_block : min(wg_row0 / ATTN_QUANT_BLOCK, p.nblk - 1);
            const float q_scale = QK8 ? p.q_scale[((size_t)tp.b * p.H + tp.h) * p.nblk + q_blk] : 1.f;
            const float *k_scale = p.k_scale + ((size_t)tp.b * p.Hkv + hk) * p.nblk;
            auto stage = [&](int j) { return (kv + j) % ST; };
            auto phase = [&](int j) { return (uint32_t)(((kv + j) / ST) & 1); };
#pragma unroll
            for (int i = 0; i < D / 2; i++) o[i] = 0.f;
            float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};

            if (cw == NWG - 1) named_arrive(1, 256); /* warpgroup 0 issues first */

            auto issue_s = [&](int st) {
                if constexpr (QK8) issue_qk8<D>(acc, sQ + cw * 8192, sK + st * C::K_BYTES);
                else sm90_issue_qk<T, D, BM, BN>(s, sQ, cw, sK, st * C::K_BYTES);
            };
            /* after the wait for Q·Kᵀ: the raw scores in s; their log2-domain factor */
            auto scores = [&](float k_sc) {
                if constexpr (QK8) {
                    fence_u32(acc);
                    s32_to_float<FOLD>(acc, s);
                    return q_scale * k_sc * sl2;
                } else {
                    fence_regs(s);
                    return sl2;
                }
            };
            auto issue_pv = [&](int st) {
                if constexpr (OVERLAP_TWO_LEVEL) {
                    if (p.two_level) issue_pv8<D>(o_tile, pf, sV + st * C::V_BYTES, 0);
                    else issue_pv8<D>(o, pf, sV + st * C::V_BYTES, 1);
                } else if constexpr (PV8) {
                    issue_pv8<D>(o, pf, sV + st * C::V_BYTES, 1);
                } else {
                    sm90_issue_pv<T, D, BN>(o, pf, sV, st * C::V_BYTES, p.v_lbo, p.v_sbo);
                }
            };
            /* after the wait for P·V: two-level, O (kept one tile behind in scale) takes the
             * tile's product in one FFMA with the previous tile's alpha; single, O is rescaled */
            float alpha_prev[2] = {0.f, 0.f};
            auto pv_landed = [&](const float (&alpha)[2]) {
                fence_regs(o);
                if constexpr (OVERLAP_TWO_LEVEL) {
                    if (p.two_level) {
                        fence_regs(o_tile);
#pragma unroll
                        for (int i = 0; i < D / 2; i++) o[i] = fmaf(o[i], alpha_prev[(i >> 1) & 1], o_tile[i]);
                        alpha_prev[0] = alpha[0], alpha_prev[1] = alpha[1];
                        return;
                    }
                }
                sm90_rescale<D>(o, alpha);
            };
            auto mask = [&](int j) { sm90_mask<BN>(s, j * BN, S, p.causal, wg_row0, row_a, row_b, t); };
            constexpr float bias = PV8 ? QUANT_LOG2_P_SCALE : 0.f, top = PV8 ? ATTN_QUANT_P_SCALE : 1.f;
            auto softmax = [&](float c, float (&alpha)[2]) { quant_softmax<FOLD && QK8>(s, m_i, l_i, c, bias, alpha); };
            auto pack_p = [&]() {
                if (p.p_int8) p_to_int8_grid(s, top);
                if constexpr (PV8) pack_p8(s, pf);
                else sm90_pack_p<T, BN>(s, pf);
            };
            auto release = [&](uint32_t b) {
                if (lane == 0) mbar_arrive(b);
            };

            /* key tile j's turn with no P·V beside it: Q·Kᵀ issued and waited for, its softmax,
             * P̃ packed */
            auto qk_alone = [&](int j, float(&alpha)[2]) {
                const int st = stage(j);
                const float k_sc = QK8 ? k_scale[j] : 1.f;
                mbar_wait(bar.full_k(st), phase(j));
                named_sync(sched_bar, 256);
                issue_s(st);
                if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
                wg_wait<0>();
                const float c = scores(k_sc);
                release(bar.empty_k(st));
                mask(j);
                softmax(c, alpha);
                pack_p();
            };

            if (SERIAL_PV && p.two_level) {
                /* each tile's Q·Kᵀ, softmax, then its P·V into the fresh tile, added to O at once */
                if constexpr (SERIAL_PV) for (int j = 0; j < n_need; j++) {
                    const int st = stage(j);
                    float alpha[2];
                    qk_alone(j, alpha);
                    mbar_wait(bar.full_v(st), phase(j));
                    issue_pv8<D>(o_tile, pf, sV + st * C::V_BYTES, 0);
                    wg_wait<0>();
                    release(bar.empty_v(st));
                    fence_regs(o_tile);
#pragma unroll
                    for (int i = 0; i < D / 2; i++) o[i] = fmaf(o[i], alpha[(i >> 1) & 1], o_tile[i]);
                }
            } else {
                qk_alone(0, alpha_prev); /* key tile 0; alpha 0: O is still empty */
                for (int j = 1; j < n_need; j++) {
                    const int st = stage(j), sp = stage(j - 1);
                    const float k_sc = QK8 ? k_scale[j] : 1.f;
                    mbar_wait(bar.full_k(st), phase(j));
                    mbar_wait(bar.full_v(sp), phase(j - 1));
                    named_sync(sched_bar, 256);
                    issue_s(st);
                    issue_pv(sp);
                    if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
                    wg_wait<1>();
                    const float c = scores(k_sc);
                    release(bar.empty_k(st));
                    mask(j);
                    float alpha[2];
                    softmax(c, alpha);
                    wg_wait<0>();
                    release(bar.empty_v(sp));
                    pv_landed(alpha);
                    pack_p();
                }
                {
                    const int st = stage(n_need - 1);
                    mbar_wait(bar.full_v(st), phase(n_need - 1));
                    issue_pv(st);
                    wg_wait<0>();
                    release(bar.empty_v(st));
                    const float one[2] = {1.f, 1.f};
                    pv_landed(one);
                }
            }
            /* key tiles the block loads but these rows do not need: the turn is taken and both
             * stages released, each after its load landed */
            for (int j = n_need; j < n_tiles; j++) {
                const int st = stage(j);
                mbar_wait(bar.full_k(st), phase(j));
                named_sync(sched_bar, 256);
                if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
                release(bar.empty_k(st));
                mbar_wait(bar.full_v(st), phase(j));
                release(bar.empty_v(st));
            }
            kv += n_tiles;

            /* epilogue: O = acc · v_scale[d] / l (l sums 448·P̃), staged in the Q buffer, stored */
            if constexpr (PV8) {
                const float *vs = p.v_scale + ((size_t)tp.b * p.Hkv + hk) * D;
#pragma unroll
                for (int i = 0; i < D / 8; i++) {
                    const float2 w = *reinterpret_cast<const float2 *>(vs + 8 * i + 2 * t);
                    o[4 * i] *= w.x;
                    o[4 * i + 1] *= w.y;
                    o[4 * i + 2] *= w.x;
                    o[4 * i + 3] *= w.y;
                }
            }
            float inv[2];
            sm90_row_sums(l_i, inv);
            named_sync(1 + NWG + cw, 128); /* every warp of this warpgroup is done reading its Q rows */
            unsigned char *stg = gbase + qb * C::Q_BYTES;
            sm90_stage_o<T, D, BM>(o, inv, stg, cw, warp, g, t);
            T *gO = static_cast<T *>(p.o) + ((size_t)tp.b * p.H + tp.h) * (size_t)S * D;
            sm90_store_o<T, D, BM>(stg, gO, m0, S, cw, warp, lane);
            mbar_arrive(bar.q_empty(qb));
        }
    }
#endif /* ATTN_SM90_DEVICE */
}

typedef void (*quant_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const quant_params);

/* The instance for (qk8, pv8, var), its shared memory and consumer warpgroups; nullptr when not
 * built. The candidates (var != 0) exist for int8/fp8 only: WG3 at D = 64 (at D = 128 O and the
 * scores alone take 128 of three warpgroups' 160 registers, before P, the row state and the
 * addresses), ST3 at
 * D = 128 (at D = 64 the ring is not what the two-warpgroup kernel waits on: its products are
 * half as long). */
struct quant_kernel {
    quant_fn fn;
    int smem, nwg;
};
template <typename T, int D, bool QK8, bool PV8, int VAR> quant_kernel quant_inst()
{
    return {quant_sm90_kernel<T, D, QK8, PV8, VAR>, quant_layout<D, QK8, PV8, quant_var<VAR>::NWG, quant_var<VAR>::ST>::SMEM,
            quant_var<VAR>::NWG};
}
template <typename T, int D> quant_kernel quant_pick(int qk8, int pv8, int var)
{
    constexpr int WIDE = D == 64 ? ATTN_QUANT_SM90_WG3 : ATTN_QUANT_SM90_ST3, FOLD = ATTN_QUANT_SM90_FOLD;
    if (qk8 && pv8) {
        if (var == 0) return quant_inst<T, D, 1, 1, 0>();
        if (var == WIDE) return quant_inst<T, D, 1, 1, WIDE>();
        if (var == FOLD) return quant_inst<T, D, 1, 1, FOLD>();
        if (var == (WIDE | FOLD)) return quant_inst<T, D, 1, 1, WIDE | FOLD>();
        return {nullptr, 0, 0};
    }
    if (var) return {nullptr, 0, 0};
    if (qk8) return quant_inst<T, D, 1, 0, 0>();
    if (pv8) return quant_inst<T, D, 0, 1, 0>();
    return quant_inst<T, D, 0, 0, 0>();
}

quant_kernel quant_lookup(const attn_quant_args *a)
{
    const int qk8 = a->qk_int8 != 0, pv8 = a->pv_fp8 != 0, var = a->sm90_kernel;
    if (a->dtype == ATTN_FP16 && a->D == 128) return quant_pick<__half, 128>(qk8, pv8, var);
    if (a->dtype == ATTN_FP16 && a->D == 64) return quant_pick<__half, 64>(qk8, pv8, var);
    if (a->dtype == ATTN_BF16 && a->D == 128) return quant_pick<__nv_bfloat16, 128>(qk8, pv8, var);
    if (a->dtype == ATTN_BF16 && a->D == 64) return quant_pick<__nv_bfloat16, 64>(qk8, pv8, var);
    return {nullptr, 0, 0};
}

/* A [B][heads][rows][inner] byte tensor as 4-D (inner, rows, heads, B); box (box_inner, box_rows),
 * swizzled by the box's row width (128 or 64 bytes). */
int make_byte_map(CUtensorMap *m, const void *ptr, int B, int heads, int rows, int inner, int box_inner, int box_rows)
{
    sm90_encode_fn enc = sm90_get_encode();
    if (!enc) return attn_fail("quant: cuTensorMapEncodeTiled not available from the driver");
    cuuint64_t dims[4] = {(cuuint64_t)inner, (cuuint64_t)rows, (cuuint64_t)heads, (cuuint64_t)B};
    cuuint64_t strides[3] = {(cuuint64_t)inner, (cuuint64_t)rows * inner, (cuuint64_t)heads * rows * inner};
    cuuint32_t box[4] = {(cuuint32_t)box_inner, (cuuint32_t)box_rows, 1, 1};
    cuuint32_t es[4] = {1, 1, 1, 1};
    CUresult r = enc(m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, const_cast<void *>(ptr), dims, strides, box, es,
                     CU_TENSOR_MAP_INTERLEAVE_NONE,
                     box_inner == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return attn_fail("quant: cuTensorMapEncodeTiled failed (%d)", (int)r);
    return ATTN_OK;
}

} // namespace

extern "C" {

int attn_quant_sm90_available(void) { return sm90_device_ok(); }

int attn_quant_sm90_setup(const attn_quant_args *a)
{
    const quant_kernel k = quant_lookup(a);
    if (!k.fn)
        return attn_skip("quant: no sm90 kernel for dtype %d D=%d instance %d%s", a->dtype, a->D, a->sm90_kernel,
                         a->accum_two_level ? " with two-level accumulation" : "");
    if (!attn_quant_sm90_available()) return attn_skip("quant: the wgmma kernel needs an sm_90 device");
    CUDA_CHECK(cudaFuncSetAttribute(k.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, k.smem));
    return ATTN_OK;
}

int attn_quant_sm90_launch(const attn_quant_args *a)
{
    const quant_kernel k = quant_lookup(a);
    if (!k.fn)
        return attn_skip("quant: no sm90 kernel for dtype %d D=%d instance %d%s", a->dtype, a->D, a->sm90_kernel,
                         a->accum_two_level ? " with two-level accumulation" : "");
    if (a->S < 1 || a->Hkv < 1 || a->H % a->Hkv != 0) return attn_fail("quant: bad shape S=%d H=%d Hkv=%d", a->S, a->H, a->Hkv);
    const int B = a->B, H = a->H, Hkv = a->Hkv, S = a->S, D = a->D;
    const int bm = 64 * k.nwg, bn = 128, s_pad = (S + 15) / 16 * 16;
    CUtensorMap mq, mk, mv;
    if (a->qk_int8) {
        ATTN_TRY(make_byte_map(&mq, a->t.q8, B, H, S, D, D, 64));
        ATTN_TRY(make_byte_map(&mk, a->t.k8, B, Hkv, S, D, D, bn));
    } else {
        ATTN_TRY(sm90_make_map(&mq, "quant", a->dtype, a->q, B, H, S, D, bm));
        ATTN_TRY(sm90_make_map(&mk, "quant", a->dtype, a->k, B, Hkv, S, D, bn));
    }
    if (a->pv_fp8) ATTN_TRY(make_byte_map(&mv, a->t.v8t, B, Hkv, D, s_pad, bn, D));
    else ATTN_TRY(sm90_make_map(&mv, "quant", a->dtype, a->v, B, Hkv, S, D, bn));
    static int n_sm;
    if (!n_sm) {
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    }
    quant_params p;
    p.o = a->o;
    p.q_scale = a->t.q_scale;
    p.k_scale = a->t.k_scale;
    p.v_scale = a->t.v_scale;
    p.H = H;
    p.Hkv = Hkv;
    p.S = S;
    p.causal = a->causal;
    p.nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    p.n_m = (S + bm - 1) / bm;
    p.n_hb = B * H;
    if ((long long)p.n_m * p.n_hb > INT_MAX) return attn_fail("quant: too many query tiles");
    p.total = p.n_m * p.n_hb;
    /* causal section: as many (batch, head) pairs as keep their K and V within ~16 MB of L2 */
    const long long kv_bytes = (long long)S * D * ((a->qk_int8 ? 1 : 2) + (a->pv_fp8 ? 1 : 2));
    p.sec = (int)std::max(1LL, std::min((long long)p.n_hb, (16LL << 20) / kv_bytes * (H / Hkv)));
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)D));
    p.v_lbo = bn * 128; /* N-major V: next 64 columns of D are one key tile further */
    p.v_sbo = 1024;     /* next 8 keys */
    p.two_level = a->accum_two_level != 0;
    p.p_int8 = a->p_int8 != 0;
    const int blocks = std::min(p.total, n_sm); /* persistent: one block per SM */
    k.fn<<<blocks, 128 * (k.nwg + 1), k.smem, a->stream>>>(mq, mk, mv, p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

} // extern "C"
