/* quant.cu — variant `quant`: the quantization stage and the portable (mma.sync, sm_80+) attention
 * kernel. kernels/quant.h has the layout of the quantized copies and the roundings (shared with the
 * CPU implementation in variants/quant.c); kernels/quant_sm90.cu the Hopper kernel.
 *
 * Stage (each kernel a separate record in CUPTI's stages; all three stream at 16 bytes per load
 * and store, each element read once per kernel, the arithmetic in registers): (1) per KV head and
 * group of 16 channels, one block over the whole sequence: K's sum in fp64 in quant.h's order
 * (ATTN_QUANT_STATS_LANES row lanes, then a halving tree) and max |V|, then k_mean = (float)(Σ / S)
 * and v_scale = max / 448 — no partials and no fold launch; (2) Q and K − k_mean to INT8, one
 * scale per 128-row block (max|x| / 127, nearest even, saturating), both tensors in one launch, a
 * block per 128 rows held in registers (read once); with rotate (FA3's incoherent processing) each
 * row first × H·diag(s) (quant.h: fixed signs, then log2 D stages of fp32 butterflies, in
 * registers and by shfl_xor — the CPU implementation's stages in its order, so the same bits), the
 * stored Q scale / D so that the attention kernels' s32 · q_scale · k_scale is unchanged; (3) V to
 * e4m3 with its channel's scale, transposed through a shared tile of 128 keys into
 * [B][Hkv][D][S_pad], padding keys 0. Materialises the quantized copies only (the workspace),
 * O(S·D).
 *
 * Portable attention (quant_mma_kernel): fused.cu's flash-attention loop with 8 warps, a query tile
 * of 128 rows (one Q scale block) and key tiles of 128 keys (one K scale block, the Hopper kernel's
 * tile, so the running maxima and hence the e4m3 rounding points are the same on both paths):
 *  - qk_int8: S = Q8·K8ᵀ by mma.sync m16n8k32 s8·s8→s32, dequantised as s32 · (q_scale·k_scale);
 *    otherwise fused's m16n8k16 in the dtype.
 *  - online softmax in fp32 with exp2 (scale·log2 e in one FFMA); l sums the unquantized P̃.
 *  - pv_fp8: P̃ (on the INT8 grid first when p_int8) × 448 rounded to e4m3, V the e4m3 codes of
 *    v8t; both are exactly representable in fp16, so P·V by mma.sync m16n8k16 f16·f16→f32 computes
 *    the same products as the FP8 MMA (each key tile's Vᵀ codes widened to fp16 once per block in
 *    shared memory; P̃ by cvt e4m3x2 on sm_89+). The FP8 MMA's accumulator is modelled (quant.h) by
 *    truncating the accumulator to fp22 after every 32 keys. accum_two_level: each 128-key tile
 *    into a fresh accumulator added to the fp32 O (O·α + T); single: one accumulator, rescaled by
 *    α in fp32. Epilogue O · v_scale[d] / 448 / l. Otherwise P rounded to the dtype, V in the
 *    dtype (fused's path), with the same promotion points.
 * Causal (tiles above the diagonal skipped, diagonal tiles masked), GQA by indexing, any S >= 1.
 * Limits: fp16/bf16, D = 64 or 128; up to 160 KB of shared memory (dtype Q, K, V at D = 128). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "common.cuh"
#include "core/error.h"
#include "mma_sm80.cuh"
#include "quant.h"

namespace {

constexpr int QB = ATTN_QUANT_BLOCK;

size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* ------------------------------------------------------------------ the stage */

/* Two fp16/bf16 values packed in w (the low half first) as floats, exactly. */
template <typename T> __device__ __forceinline__ float2 unpack2(uint32_t w);
template <> __device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t w)
{
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}
template <> __device__ __forceinline__ float2 unpack2<__half>(uint32_t w)
{
    return __half22float2(*reinterpret_cast<const __half2 *>(&w));
}

/* The eight values of a 16-byte chunk of fp16/bf16 as floats. */
template <typename T> __device__ __forceinline__ void unpack8(uint4 u, float *f)
{
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 p = unpack2<T>(w[i]);
        f[2 * i] = p.x, f[2 * i + 1] = p.y;
    }
}

/* Eight consecutive elements at x (16-byte aligned). */
template <typename T> __device__ __forceinline__ uint4 load16(const T *x)
{
    return __ldg(reinterpret_cast<const uint4 *>(x));
}

constexpr int STATS_LANES = ATTN_QUANT_STATS_LANES, STATS_CH = 16;
constexpr int STATS_THREADS = 2 * STATS_LANES;

/* (1) k_mean and v_scale of 16 channels (blockIdx.x) of KV head blockIdx.y over the whole
 * sequence, in one block and one launch (no partials, no fold): two threads per row (8 channels
 * each, 16-byte loads of K and V), 256 row lanes; lane L sums K over rows L, L + 256, … in fp64
 * (SUM_K) and takes max |V| (MAX_V); then quant.h's halving tree over the lanes (lane i += lane
 * i + s for s = 128 … 1): through shared memory down to s = 16, then by shfl_xor in warp 0, which
 * holds lanes 0–15 (xor s and + s name the same partner for the lanes the tree keeps). k_mean,
 * when given: (float)(Σ / S), or 0 without SUM_K; v_scale (MAX_V): max / 448. */
template <typename T, bool SUM_K, bool MAX_V>
__global__ void __launch_bounds__(STATS_THREADS)
    quant_kv_stats_kernel(const T *k, const T *v, float *k_mean, float *v_scale, int S, int D)
{
    __shared__ double ks[STATS_THREADS / 2][SUM_K ? 8 : 1];
    __shared__ float vm[STATS_THREADS / 2][MAX_V ? 8 : 1];
    const int tid = threadIdx.x, lane = tid >> 1;
    const int c0 = blockIdx.x * STATS_CH + (tid & 1) * 8;
    const size_t base = (size_t)blockIdx.y * S * D + c0;
    double sum[8] = {};
    float mx[8] = {};
#pragma unroll 4
    for (int r = lane; r < S; r += STATS_LANES) {
        float f[8];
        if constexpr (SUM_K) {
            unpack8<T>(load16(k + base + (size_t)r * D), f);
#pragma unroll
            for (int j = 0; j < 8; j++) sum[j] += (double)f[j];
        }
        if constexpr (MAX_V) {
            unpack8<T>(load16(v + base + (size_t)r * D), f);
#pragma unroll
            for (int j = 0; j < 8; j++) mx[j] = fmaxf(mx[j], fabsf(f[j]));
        }
    }
    for (int s = STATS_LANES / 2; s >= 16; s /= 2) {
        if (lane >= s && lane < 2 * s)
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if constexpr (SUM_K) ks[tid - 2 * s][j] = sum[j];
                if constexpr (MAX_V) vm[tid - 2 * s][j] = mx[j];
            }
        __syncthreads();
        if (lane < s)
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if constexpr (SUM_K) sum[j] += ks[tid][j];
                if constexpr (MAX_V) mx[j] = fmaxf(mx[j], vm[tid][j]);
            }
        __syncthreads();
    }
    if (tid >= 32) return;
    for (int s = 8; s >= 1; s /= 2) /* lane distance s: thread distance 2s */
#pragma unroll
        for (int j = 0; j < 8; j++) {
            if constexpr (SUM_K) sum[j] += __shfl_xor_sync(0xffffffffu, sum[j], 2 * s);
            if constexpr (MAX_V) mx[j] = fmaxf(mx[j], __shfl_xor_sync(0xffffffffu, mx[j], 2 * s));
        }
    if (lane != 0) return;
    const size_t o = (size_t)blockIdx.y * D + c0;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        if (k_mean) k_mean[o + j] = SUM_K ? (float)(sum[j] / S) : 0.f;
        if constexpr (MAX_V) v_scale[o + j] = attn_quant_scale(mx[j], ATTN_QUANT_P_SCALE);
    }
}

/* attn_int8_quant of y[0..3] / sc as four bytes, y[0] lowest: clamped first (clamping and
 * rounding commute at the integers ±127), then rounded by adding 1.5·2^23 — nearest even, as
 * rintf — after which the float's low byte is the code in two's complement (no F2I). */
__device__ __forceinline__ uint32_t int8x4(const float *y, float sc)
{
    uint32_t b[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        b[i] = __float_as_uint(fminf(fmaxf(y[i] / sc, -127.f), 127.f) + 12582912.f);
    return __byte_perm(__byte_perm(b[0], b[1], 0x0040), __byte_perm(b[2], b[3], 0x0040), 0x5410);
}

constexpr int ROW_THREADS = 256;

/* The rows kernel's operands, [0] Q and [1] K: the blocks of grid row y < heads_q are Q's. */
struct rows_params {
    const void *x[2];
    const float *mean[2]; /* [heads][D] subtracted first (K: k_mean); NULL: none (Q) */
    int8_t *x8[2];
    float *scale[2];
    float fold[2]; /* × the stored scale: 1/D for rotated Q (quant.h), else 1 */
    int heads_q, S, nblk, rotate;
};

/* (2) One 128-row block (blockIdx.x) of one head of Q or K (blockIdx.y: Q's heads, then K's) to
 * INT8, Q and K in one launch. A thread holds 16 consecutive channels of a row (two 16-byte
 * loads; D/16 threads per row, consecutive lanes) for D/32 rows: the block is read once and kept
 * in registers — rotated once, its max, then its codes, one 16-byte store per row and thread.
 * Rotation (quant.h): the signs flipped on the packed fp16/bf16 inputs and on the mean
 * (−x − (−µ) is −(x − µ) under rounding to nearest; only a difference of exactly 0 comes out +0
 * where the CPU has −0, a sign nothing downstream sees: a butterfly of ±0 and y gives ±y, ±0's code
 * is 0), then the stages h = 1, 2, 4, 8 in registers and h = 16·m across the row's lanes by
 * shfl_xor of lane bit m, the partner's value combined as fmaf(±1, own, other): one rounding,
 * the same a + b (bit clear) and a − b (bit set) as the CPU's. */
template <typename T, int D>
__global__ void __launch_bounds__(ROW_THREADS, 2) quant_rows_kernel(const rows_params p)
{
    static_assert(D == 64 || D == 128, "D = 64 or 128");
    constexpr int TPR = D / 16, RPP = ROW_THREADS / TPR, PASSES = QB / RPP;
    __shared__ float red[ROW_THREADS / 32];
    const int which = blockIdx.y >= (unsigned)p.heads_q;
    const int bh = blockIdx.y - (which ? p.heads_q : 0), blk = blockIdx.x;
    const int tid = threadIdx.x, g = tid % TPR, rr = tid / TPR;
    const int rows = min(p.S - blk * QB, QB);
    const size_t base = ((size_t)bh * p.S + (size_t)blk * QB) * D + 16 * g;
    const T *x = static_cast<const T *>(which ? p.x[1] : p.x[0]) + base;
    uint4 raw[PASSES][2];
#pragma unroll
    for (int i = 0; i < PASSES; i++) {
        const int r = rr + i * RPP;
        raw[i][0] = raw[i][1] = make_uint4(0, 0, 0, 0);
        if (r < rows) {
            raw[i][0] = load16(x + (size_t)r * D);
            raw[i][1] = load16(x + (size_t)r * D + 8);
        }
    }
    uint32_t flips = 0; /* bit e: channel 16g + e negated */
    if (p.rotate)
        for (int e = 0; e < 16; e++) flips |= (uint32_t)attn_quant_sign_flip(16 * g + e) << e;
    const float *mean = which ? p.mean[1] : p.mean[0];
    float mu[16];
    if (mean)
#pragma unroll
        for (int e = 0; e < 16; e++) {
            mu[e] = mean[(size_t)bh * D + 16 * g + e];
            if (flips >> e & 1) mu[e] = -mu[e];
        }
    float y[PASSES][16], amax = 0.f;
#pragma unroll
    for (int i = 0; i < PASSES; i++) {
        const uint32_t w[8] = {raw[i][0].x, raw[i][0].y, raw[i][0].z, raw[i][0].w,
                               raw[i][1].x, raw[i][1].y, raw[i][1].z, raw[i][1].w};
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const uint32_t sign = (flips >> 2 * j & 1u) << 15 | (flips >> (2 * j + 1) & 1u) << 31;
            const float2 f = unpack2<T>(w[j] ^ sign);
            y[i][2 * j] = f.x, y[i][2 * j + 1] = f.y;
        }
        if (mean)
#pragma unroll
            for (int e = 0; e < 16; e++) y[i][e] -= mu[e];
        if (p.rotate) {
#pragma unroll
            for (int h = 1; h < 16; h *= 2)
#pragma unroll
                for (int e = 0; e < 16; e++)
                    if (!(e & h)) attn_quant_butterfly(&y[i][e], &y[i][e + h]);
#pragma unroll
            for (int m = 1; m < TPR; m *= 2) {
                const float own = g & m ? -1.f : 1.f;
#pragma unroll
                for (int e = 0; e < 16; e++)
                    y[i][e] = fmaf(own, y[i][e], __shfl_xor_sync(0xffffffffu, y[i][e], m));
            }
        }
        if (rr + i * RPP < rows)
#pragma unroll
            for (int e = 0; e < 16; e++) amax = fmaxf(amax, fabsf(y[i][e]));
    }
    amax = attn_block_reduce<ROW_THREADS, ATTN_REDUCE_MAX>(amax, red);
    const float sc = attn_quant_scale(amax, 127.f);
    if (tid == 0)
        (which ? p.scale[1] : p.scale[0])[(size_t)bh * p.nblk + blk] =
            sc * (which ? p.fold[1] : p.fold[0]);
    int8_t *x8 = (which ? p.x8[1] : p.x8[0]) + base; /* the operand's by select: an indexed
                                                       parameter array goes to the stack */
#pragma unroll
    for (int i = 0; i < PASSES; i++) {
        const int r = rr + i * RPP;
        if (r < rows)
            *reinterpret_cast<uint4 *>(x8 + (size_t)r * D) =
                make_uint4(int8x4(y[i], sc), int8x4(y[i] + 4, sc), int8x4(y[i] + 8, sc),
                           int8x4(y[i] + 12, sc));
    }
}

/* attn_e4m3_code(attn_e4m3_round(x[i])) of x[0..3] as four bytes, x[0] lowest. On sm_89+ by
 * cvt.rn.satfinite.e4m3x2 (the same rounding), whose −0 (0x80, for a negative value that rounds
 * to 0) is made the +0 that attn_e4m3_code writes: with t = w ^ 0x80808080, a byte of
 * ((t & 0x7f…) + 0x7f…) | t has bit 7 set unless that byte of w is 0x80 (no carry crosses a
 * byte), and w keeps bit 7 where it is set. */
__device__ __forceinline__ uint32_t e4m3x4(const float *x)
{
#if __CUDA_ARCH__ >= 890
    uint16_t lo, hi;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(lo) : "f"(x[1]), "f"(x[0]));
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(hi) : "f"(x[3]), "f"(x[2]));
    const uint32_t w = lo | (uint32_t)hi << 16, t = w ^ 0x80808080u;
    return w & (((t & 0x7f7f7f7fu) + 0x7f7f7f7fu) | t | 0x7f7f7f7fu);
#else
    uint32_t w = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) w |= (uint32_t)attn_e4m3_code(attn_e4m3_round(x[i])) << 8 * i;
    return w;
#endif
}

constexpr int VT_KEYS = 128, VT_THREADS = 256;

/* (3) Keys [key0, key0 + 128) (blockIdx.x) of KV head blockIdx.y: e4m3 codes of v / v_scale into
 * v8t[bh][D][S_pad] (keys S … S_pad − 1: 0). A thread takes 4 consecutive keys × 8 channels per
 * job (D/64 jobs): four 16-byte loads along V's rows, then each channel's 4 codes one 32-bit word
 * of a [D][128-key] shared tile; then each 16-byte chunk of a channel's keys out whole. The tile's
 * word index is XORed with 4·(channel/8 mod 8): a warp's 32 word stores (8 channel groups × 4 key
 * groups) and each 8 lanes' chunk loads fall on distinct banks. */
template <typename T, int D>
__global__ void __launch_bounds__(VT_THREADS)
    quant_vt_kernel(const T *v, const float *v_scale, uint8_t *v8t, int S, int S_pad)
{
    constexpr int JOBS = D / 64;
    __shared__ __align__(16) uint32_t tile[D][VT_KEYS / 4];
    const int bh = blockIdx.y, key0 = blockIdx.x * VT_KEYS, tid = threadIdx.x;
    const int cl = tid & 7, kg = tid >> 3;
    const T *src = v + ((size_t)bh * S + key0 + 4 * kg) * D;
    uint4 raw[JOBS][4];
#pragma unroll
    for (int jb = 0; jb < JOBS; jb++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            raw[jb][i] = make_uint4(0, 0, 0, 0);
            if (key0 + 4 * kg + i < S) raw[jb][i] = load16(src + i * D + 8 * (cl + 8 * jb));
        }
#pragma unroll
    for (int jb = 0; jb < JOBS; jb++) {
        const int c0 = 8 * (cl + 8 * jb);
        const float4 s0 = __ldg(reinterpret_cast<const float4 *>(v_scale + (size_t)bh * D + c0));
        const float4 s1 = __ldg(reinterpret_cast<const float4 *>(v_scale + (size_t)bh * D + c0) + 1);
        const float vs[8] = {s0.x, s0.y, s0.z, s0.w, s1.x, s1.y, s1.z, s1.w};
        float f[4][8];
#pragma unroll
        for (int i = 0; i < 4; i++) unpack8<T>(raw[jb][i], f[i]);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const float q[4] = {f[0][j] / vs[j], f[1][j] / vs[j], f[2][j] / vs[j], f[3][j] / vs[j]};
            tile[c0 + j][kg ^ 4 * cl] = e4m3x4(q);
        }
    }
    __syncthreads();
    uint8_t *dst = v8t + (size_t)bh * D * S_pad + key0;
#pragma unroll
    for (int it = 0; it < D / 32; it++) {
        const int c = (tid >> 3) + 32 * it, x = tid & 7; /* chunk x: keys 16x … 16x + 15 */
        if (key0 + 16 * x < S_pad)
            *reinterpret_cast<uint4 *>(dst + (size_t)c * S_pad + 16 * x) =
                *reinterpret_cast<const uint4 *>(&tile[c][4 * (x ^ (c >> 3 & 7))]);
    }
}

size_t layout(uint8_t *base, int B, int H, int Hkv, int S, int D, attn_quant_tensors *t)
{
    const size_t nblk = (size_t)(S + QB - 1) / QB, sp = (size_t)attn_quant_s_pad(S);
    size_t off = 0;
    auto take = [&](size_t bytes) -> void * {
        void *p = base ? base + off : nullptr;
        off += align256(bytes);
        return p;
    };
    t->q8 = (int8_t *)take((size_t)B * H * S * D);
    t->q_scale = (float *)take((size_t)B * H * nblk * 4);
    t->k8 = (int8_t *)take((size_t)B * Hkv * S * D);
    t->k_scale = (float *)take((size_t)B * Hkv * nblk * 4);
    t->k_mean = (float *)take((size_t)B * Hkv * D * 4);
    t->v8t = (uint8_t *)take((size_t)B * Hkv * D * sp);
    t->v_scale = (float *)take((size_t)B * Hkv * D * 4);
    return off;
}

template <typename T, int D> int stage_kernel(const attn_quant_args *a, int kernel)
{
    const attn_quant_tensors &t = a->t;
    const int S = a->S, nblk = (S + QB - 1) / QB, bhk = a->B * a->Hkv;
    const T *k = (const T *)a->k, *v = (const T *)a->v;
    cudaStream_t st = a->stream;
    if (kernel == ATTN_QUANT_STAGE_STATS && (a->qk_int8 || a->pv_fp8)) {
        const dim3 grid(D / STATS_CH, bhk);
        float *km = a->qk_int8 ? t.k_mean : nullptr;
        if (a->qk_int8 && a->smooth && a->pv_fp8)
            quant_kv_stats_kernel<T, 1, 1><<<grid, STATS_THREADS, 0, st>>>(k, v, km, t.v_scale, S, D);
        else if (a->qk_int8 && a->smooth)
            quant_kv_stats_kernel<T, 1, 0><<<grid, STATS_THREADS, 0, st>>>(k, v, km, nullptr, S, D);
        else if (a->pv_fp8)
            quant_kv_stats_kernel<T, 0, 1><<<grid, STATS_THREADS, 0, st>>>(k, v, km, t.v_scale, S, D);
        else
            quant_kv_stats_kernel<T, 0, 0><<<grid, STATS_THREADS, 0, st>>>(k, v, km, nullptr, S, D);
        CUDA_CHECK_LAUNCH();
    } else if (kernel == ATTN_QUANT_STAGE_ROWS && a->qk_int8) {
        rows_params p;
        p.x[0] = a->q, p.x[1] = a->k;
        p.mean[0] = nullptr, p.mean[1] = t.k_mean;
        p.x8[0] = t.q8, p.x8[1] = t.k8;
        p.scale[0] = t.q_scale, p.scale[1] = t.k_scale;
        p.fold[0] = a->rotate ? 1.f / (float)D : 1.f, p.fold[1] = 1.f;
        p.heads_q = a->B * a->H, p.S = S, p.nblk = nblk, p.rotate = a->rotate;
        quant_rows_kernel<T, D><<<dim3(nblk, p.heads_q + bhk), ROW_THREADS, 0, st>>>(p);
        CUDA_CHECK_LAUNCH();
    } else if (kernel == ATTN_QUANT_STAGE_VT && a->pv_fp8) {
        const int sp = attn_quant_s_pad(S);
        quant_vt_kernel<T, D><<<dim3((sp + VT_KEYS - 1) / VT_KEYS, bhk), VT_THREADS, 0, st>>>(
            v, t.v_scale, t.v8t, S, sp);
        CUDA_CHECK_LAUNCH();
    }
    return ATTN_OK;
}

/* ------------------------------------------------------------------ the portable kernel */

struct quant_params {
    const void *q, *k, *v;
    void *o;
    attn_quant_tensors t;
    int H, Hkv, S, S_pad, nblk, causal, two_level, p_int8;
    float scale_log2;
};

constexpr int NW = 8, BM = 16 * NW, BN = QB, NT = 32 * NW;
static_assert(BM == QB, "one Q scale per query tile");

/* Two e4m3 codes (low byte first) as an f16x2 register, exactly: a code's bits moved into an
 * fp16's exponent and mantissa give the value / 2^8 (e4m3's subnormals land on fp16 subnormals),
 * then one multiply by 2^8. */
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t pair)
{
    const uint32_t y = (pair & 0xffu) | (pair & 0xff00u) << 8;
    const uint32_t h = (y & 0x007f007fu) << 7 | (y & 0x00800080u) << 8;
    __half2 v = *reinterpret_cast<const __half2 *>(&h);
    v = __hmul2(v, __float2half2_rn(256.f));
    return *reinterpret_cast<uint32_t *>(&v);
}

/* P̃ of two keys (a in the low half) as the fp16 P·V operand: × 448 to e4m3 (through the INT8
 * grid when p_int8), exactly as attn_quant_p; by the cvt instructions where the GPU has them
 * (sm_89+: the same nearest-even, saturating rounding), else by attn_quant_p's arithmetic. */
__device__ __forceinline__ uint32_t p_pair_f16x2(float a, float b, int p_int8)
{
#if __CUDA_ARCH__ >= 890
    if (p_int8) {
        a = rintf(a * 127.f) * (1.f / 127.f);
        b = rintf(b * 127.f) * (1.f / 127.f);
    }
    uint16_t e;
    uint32_t h;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(e) : "f"(b * ATTN_QUANT_P_SCALE),
        "f"(a * ATTN_QUANT_P_SCALE));
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(h) : "h"(e));
    return h;
#else
    return attn_pack2<__half>(attn_quant_p(a, p_int8), attn_quant_p(b, p_int8));
#endif
}

template <bool QK8, bool PV8, typename T, int D> struct mma_layout {
    static constexpr int Q_BYTES = BM * D * 2; /* dtype-sized: O is staged here */
    static constexpr int K_BYTES = QK8 ? BN * (D + 16) : BN * D * 2;
    static constexpr int V_BYTES = PV8 ? D * (BN + 16) : BN * D * 2;
    static constexpr int VH_BYTES = PV8 ? D * BN * 2 : 0; /* the tile's Vᵀ codes as fp16 */
    static constexpr int SMEM = Q_BYTES + 2 * K_BYTES + 2 * V_BYTES + VH_BYTES;
};

/* The block's e4m3 Vᵀ tile ([D][BN + 16 pad] codes) as fp16 [D][BN], swizzled: each code once per
 * block instead of once per warp. */
template <int D>
__device__ __forceinline__ void vt_to_f16(__half *dst, const uint8_t *src, int tid)
{
    constexpr int CH = BN / 8; /* 8-code chunks per row */
#pragma unroll
    for (int k = 0; k < D * CH / NT; k++) {
        const int i = tid + k * NT, r = i / CH, c = i % CH;
        const uint2 codes = *reinterpret_cast<const uint2 *>(src + r * (BN + 16) + c * 8);
        uint4 h;
        h.x = e4m3x2_to_f16x2(codes.x & 0xffffu);
        h.y = e4m3x2_to_f16x2(codes.x >> 16);
        h.z = e4m3x2_to_f16x2(codes.y & 0xffffu);
        h.w = e4m3x2_to_f16x2(codes.y >> 16);
        *reinterpret_cast<uint4 *>(dst + swz<BN>(r, c)) = h;
    }
}

template <typename T, int D, bool QK8, bool PV8>
__global__ void __launch_bounds__(NT, 1) quant_mma_kernel(const quant_params p)
{
    using L = mma_layout<QK8, PV8, T, D>;
    using ops = dtype_ops<T>;
    using pv_ops = dtype_ops<typename std::conditional<PV8, __half, T>::type>;
    constexpr int CH = D / 8, KD = QK8 ? D / 32 : D / 16, NB = BN / 8, DB = D / 8;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    uint8_t *sQ = smem_raw, *sK = sQ + L::Q_BYTES, *sV = sK + 2 * L::K_BYTES;
    __half *sVh = reinterpret_cast<__half *>(sV + 2 * L::V_BYTES);

    const int S = p.S;
    const int m_block = p.causal ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
    const int h = blockIdx.y, b = blockIdx.z, hk = h / (p.H / p.Hkv);
    const size_t bh = (size_t)b * p.H + h, bhk = (size_t)b * p.Hkv + hk;
    const size_t q_off = bh * (size_t)S * D, kv_off = bhk * (size_t)S * D;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int m0 = m_block * BM;
    int n_tiles = (S + BN - 1) / BN;
    if (p.causal) n_tiles = min(n_tiles, (min(m0 + BM, S) - 1) / BN + 1);

    auto load_kv = [&](int j, int buf) {
        if (QK8)
            load_tile_padded<BN, D, NT>(sK + buf * L::K_BYTES,
                                        (const uint8_t *)(p.t.k8 + kv_off + (size_t)j * BN * D), D,
                                        S - j * BN, D, tid);
        else
            load_tile<T, D, BN, NT>((T *)(sK + buf * L::K_BYTES), (const T *)p.k + kv_off, j * BN,
                                    S, tid);
        if (PV8)
            load_tile_padded<D, BN, NT>(sV + buf * L::V_BYTES,
                                        p.t.v8t + bhk * D * p.S_pad + (size_t)j * BN, p.S_pad, D,
                                        p.S_pad - j * BN, tid);
        else
            load_tile<T, D, BN, NT>((T *)(sV + buf * L::V_BYTES), (const T *)p.v + kv_off, j * BN,
                                    S, tid);
    };
    if (QK8)
        load_tile_padded<BM, D, NT>(sQ, (const uint8_t *)(p.t.q8 + q_off + (size_t)m0 * D), D,
                                    S - m0, D, tid);
    else
        load_tile<T, D, BM, NT>((T *)sQ, (const T *)p.q + q_off, m0, S, tid);
    load_kv(0, 0);
    cp_async_commit();

    uint32_t qf[QK8 ? KD : 1][4]; /* INT8 Q in registers; the dtype's from shared memory per tile
                                     (in registers too it spilled at D = 128) */
    float o[DB][4];
#pragma unroll
    for (int i = 0; i < DB; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};
    const int wrow0 = warp * 16;
    const int qrow_a = m0 + wrow0 + (lane >> 2), qrow_b = qrow_a + 8;
    const float sl2 = p.scale_log2;
    const float q_scale = QK8 ? p.t.q_scale[bh * p.nblk + m_block] : 1.f;

    for (int j = 0; j < n_tiles; j++) {
        const int buf = j & 1;
        if (j + 1 < n_tiles) load_kv(j + 1, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        if constexpr (PV8) {
            vt_to_f16<D>(sVh, sV + buf * L::V_BYTES, tid);
            __syncthreads();
        }

        if (QK8 && j == 0) {
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                const int r = wrow0 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(qf[QK8 ? kk : 0][0], qf[QK8 ? kk : 0][1], qf[QK8 ? kk : 0][2],
                        qf[QK8 ? kk : 0][3], attn_smem_u32(sQ + r * (D + 16) + c * 16));
            }
        }

        /* S = Q · K_jᵀ, dequantised */
        float s[NB][4];
        if constexpr (QK8) {
            const uint8_t *ks = sK + buf * L::K_BYTES;
            int acc[NB][4];
#pragma unroll
            for (int i = 0; i < NB; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0;
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
#pragma unroll
                for (int pp = 0; pp < NB / 2; pp++) {
                    const int r = pp * 16 + (lane & 7) + ((lane >> 4) << 3);
                    const int c = kk * 2 + ((lane >> 3) & 1);
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4(b0, b1, b2, b3, attn_smem_u32(ks + r * (D + 16) + c * 16));
                    mma_s8(acc[2 * pp], qf[QK8 ? kk : 0], b0, b1);
                    mma_s8(acc[2 * pp + 1], qf[QK8 ? kk : 0], b2, b3);
                }
            }
            const float c = q_scale * p.t.k_scale[bhk * p.nblk + j];
#pragma unroll
            for (int i = 0; i < NB; i++)
#pragma unroll
                for (int e = 0; e < 4; e++) s[i][e] = (float)acc[i][e] * c;
        } else {
            const T *ks = (const T *)(sK + buf * L::K_BYTES);
#pragma unroll
            for (int i = 0; i < NB; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                uint32_t qa[4];
                ldsm_x4(qa[0], qa[1], qa[2], qa[3],
                        attn_smem_u32((const T *)sQ + swz<D>(wrow0 + (lane & 15), kk * 2 + (lane >> 4))));
#pragma unroll
                for (int pp = 0; pp < NB / 2; pp++) {
                    const int r = pp * 16 + (lane & 7) + ((lane >> 4) << 3);
                    const int c = kk * 2 + ((lane >> 3) & 1);
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4(b0, b1, b2, b3, attn_smem_u32(ks + swz<D>(r, c)));
                    ops::mma(s[2 * pp], qa, b0, b1);
                    ops::mma(s[2 * pp + 1], qa, b2, b3);
                }
            }
        }

        const int key0 = j * BN;
        if ((key0 + BN > S) || (p.causal && key0 + BN - 1 > m0 + wrow0)) {
#pragma unroll
            for (int nb = 0; nb < NB; nb++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int key = key0 + nb * 8 + 2 * (lane & 3) + (e & 1);
                    const int qr = e < 2 ? qrow_a : qrow_b;
                    if (key >= S || (p.causal && key > qr)) s[nb][e] = -INFINITY;
                }
        }

        /* online softmax */
        float mx[2] = {m_i[0], m_i[1]}, ms[2], alpha[2];
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            mx[0] = fmaxf(mx[0], fmaxf(s[nb][0], s[nb][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[nb][2], s[nb][3]));
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = attn_quad_reduce<ATTN_REDUCE_MAX>(mx[r]);
            ms[r] = mx[r] == -INFINITY ? 0.f : mx[r] * sl2;
            alpha[r] = exp2f(m_i[r] * sl2 - ms[r]);
            m_i[r] = mx[r];
            l_i[r] *= alpha[r];
        }
        uint32_t pa[BN / 16][4];
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nb][e] = exp2f(fmaf(s[nb][e], sl2, -ms[e >> 1]));
                l_i[e >> 1] += s[nb][e];
            }
        }
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
#pragma unroll
            for (int h2 = 0; h2 < 2; h2++) {
                const float *x0 = s[2 * kk + h2];
                pa[kk][2 * h2] = PV8 ? p_pair_f16x2(x0[0], x0[1], p.p_int8) : attn_pack2<T>(x0[0], x0[1]);
                pa[kk][2 * h2 + 1] = PV8 ? p_pair_f16x2(x0[2], x0[3], p.p_int8) : attn_pack2<T>(x0[2], x0[3]);
            }
        }

        /* T = (two-level: 0; single: O·α) + P · V_j; O = two-level ? O·α + T : T */
        float acc[DB][4];
#pragma unroll
        for (int db = 0; db < DB; db++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[db][e] = p.two_level ? 0.f : o[db][e] * alpha[e >> 1];
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            if constexpr (PV8) {
                /* Vᵀ rows are channels (n), keys contiguous (k): the column-major B operand, by
                 * ldmatrix without .trans, as K's rows in Q·Kᵀ */
#pragma unroll
                for (int pp = 0; pp < DB / 2; pp++) {
                    const int r = pp * 16 + (lane & 7) + ((lane >> 4) << 3);
                    const int c = kk * 2 + ((lane >> 3) & 1);
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4(b0, b1, b2, b3, attn_smem_u32(sVh + swz<BN>(r, c)));
                    pv_ops::mma(acc[2 * pp], pa[kk], b0, b1);
                    pv_ops::mma(acc[2 * pp + 1], pa[kk], b2, b3);
                }
                if (kk & 1) {
#pragma unroll
                    for (int db = 0; db < DB; db++)
#pragma unroll
                        for (int e = 0; e < 4; e++) acc[db][e] = attn_fp22(acc[db][e]);
                }
            } else {
                const T *vs = (const T *)(sV + buf * L::V_BYTES);
#pragma unroll
                for (int q = 0; q < D / 16; q++) {
                    const int r = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
                    const int c = q * 2 + (lane >> 4);
                    uint32_t b0, b1, b2, b3;
                    ldsm_x4_t(b0, b1, b2, b3, attn_smem_u32(vs + swz<D>(r, c)));
                    pv_ops::mma(acc[2 * q], pa[kk], b0, b1);
                    pv_ops::mma(acc[2 * q + 1], pa[kk], b2, b3);
                }
            }
        }
#pragma unroll
        for (int db = 0; db < DB; db++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                o[db][e] = p.two_level ? fmaf(o[db][e], alpha[e >> 1], acc[db][e]) : acc[db][e];
        __syncthreads(); /* buffer `buf` is overwritten by the next iteration's loads */
    }
    cp_async_wait<0>();

    /* Epilogue: O · v_scale / 448 (pv_fp8), / l, staged in the warp's rows of sQ (as the dtype). */
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l_i[r] = attn_quad_reduce<ATTN_REDUCE_SUM>(l_i[r]);
        inv[r] = l_i[r] > 0.f ? 1.f / l_i[r] : 0.f;
    }
    T *sO = (T *)sQ;
    __syncthreads(); /* every warp is done reading sQ (int8 rows are laid out differently) */
    {
        const int ra = wrow0 + (lane >> 2), rb = ra + 8, off = 2 * (lane & 3);
        const float *vsc = p.t.v_scale + bhk * D;
#pragma unroll
        for (int db = 0; db < DB; db++) {
            float w0 = 1.f, w1 = 1.f;
            if (PV8) {
                w0 = vsc[db * 8 + off] * (1.f / ATTN_QUANT_P_SCALE);
                w1 = vsc[db * 8 + off + 1] * (1.f / ATTN_QUANT_P_SCALE);
            }
            *reinterpret_cast<uint32_t *>(sO + swz<D>(ra, db) + off) =
                attn_pack2<T>(o[db][0] * w0 * inv[0], o[db][1] * w1 * inv[0]);
            *reinterpret_cast<uint32_t *>(sO + swz<D>(rb, db) + off) =
                attn_pack2<T>(o[db][2] * w0 * inv[1], o[db][3] * w1 * inv[1]);
        }
    }
    __syncwarp();
    T *gO = static_cast<T *>(p.o) + q_off;
#pragma unroll
    for (int k = 0; k < 16 * CH / 32; k++) {
        const int i = lane + k * 32, r = i / CH, c = i % CH, gr = m0 + wrow0 + r;
        if (gr < S)
            *reinterpret_cast<uint4 *>(gO + (size_t)gr * D + c * 8) =
                *reinterpret_cast<const uint4 *>(sO + swz<D>(wrow0 + r, c));
    }
}

typedef void (*kernel_fn)(const quant_params);

template <typename T, int D> kernel_fn pick(int qk8, int pv8, int *smem)
{
#define PICK(A, B)                                                                                 \
    if (qk8 == A && pv8 == B) {                                                                    \
        *smem = mma_layout<A, B, T, D>::SMEM;                                                      \
        return quant_mma_kernel<T, D, A, B>;                                                       \
    }
    PICK(1, 1) PICK(1, 0) PICK(0, 1) PICK(0, 0)
#undef PICK
    return nullptr;
}

kernel_fn lookup(const attn_quant_args *a, int *smem)
{
    const int qk8 = a->qk_int8 != 0, pv8 = a->pv_fp8 != 0;
    if (a->dtype == ATTN_FP16 && a->D == 64) return pick<__half, 64>(qk8, pv8, smem);
    if (a->dtype == ATTN_FP16 && a->D == 128) return pick<__half, 128>(qk8, pv8, smem);
    if (a->dtype == ATTN_BF16 && a->D == 64) return pick<__nv_bfloat16, 64>(qk8, pv8, smem);
    if (a->dtype == ATTN_BF16 && a->D == 128) return pick<__nv_bfloat16, 128>(qk8, pv8, smem);
    return nullptr;
}

} // namespace

extern "C" {

int attn_quant_s_pad(int S) { return (S + 15) / 16 * 16; }

size_t attn_quant_workspace_bytes(int B, int H, int Hkv, int S, int D)
{
    attn_quant_tensors t;
    return layout(nullptr, B, H, Hkv, S, D, &t);
}

void attn_quant_tensors_layout(void *base, int B, int H, int Hkv, int S, int D,
                               attn_quant_tensors *t)
{
    layout((uint8_t *)base, B, H, Hkv, S, D, t);
}

int attn_quant_stage_launches(const attn_quant_args *a)
{
    if (!a->qk_int8 && !a->pv_fp8) return 0;
    return 1 + (a->qk_int8 != 0) + (a->pv_fp8 != 0);
}

int attn_quant_stage_kernel_launch(const attn_quant_args *a, int kernel)
{
    const int bf = a->dtype == ATTN_BF16;
    if (a->dtype != ATTN_FP16 && !bf) return attn_fail("quant: the stage takes fp16 or bf16 inputs");
    if (a->D == 64)
        return bf ? stage_kernel<__nv_bfloat16, 64>(a, kernel) : stage_kernel<__half, 64>(a, kernel);
    if (a->D == 128)
        return bf ? stage_kernel<__nv_bfloat16, 128>(a, kernel) : stage_kernel<__half, 128>(a, kernel);
    return attn_fail("quant: the stage takes D = 64 or 128, not %d", a->D);
}

int attn_quant_stage_launch(const attn_quant_args *a)
{
    for (int kernel = 0; kernel < ATTN_QUANT_STAGE_KERNELS; kernel++)
        ATTN_TRY(attn_quant_stage_kernel_launch(a, kernel));
    return ATTN_OK;
}

int attn_quant_mma_setup(const attn_quant_args *a)
{
    int smem = 0;
    kernel_fn fn = lookup(a, &smem);
    if (!fn) return attn_skip("quant: no mma kernel for dtype %d D=%d", a->dtype, a->D);
    int dev, optin;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > optin)
        return attn_skip("quant: the mma kernel needs %d B of shared memory, device allows %d",
                         smem, optin);
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return ATTN_OK;
}

int attn_quant_mma_launch(const attn_quant_args *a)
{
    int smem = 0;
    kernel_fn fn = lookup(a, &smem);
    if (!fn) return attn_skip("quant: no mma kernel for dtype %d D=%d", a->dtype, a->D);
    quant_params p;
    p.q = a->q;
    p.k = a->k;
    p.v = a->v;
    p.o = a->o;
    p.t = a->t;
    p.H = a->H;
    p.Hkv = a->Hkv;
    p.S = a->S;
    p.S_pad = attn_quant_s_pad(a->S);
    p.nblk = (a->S + QB - 1) / QB;
    p.causal = a->causal;
    p.two_level = a->accum_two_level != 0;
    p.p_int8 = a->p_int8 != 0;
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)a->D));
    dim3 grid((unsigned)((a->S + BM - 1) / BM), (unsigned)a->H, (unsigned)a->B);
    fn<<<grid, NT, smem, a->stream>>>(p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

} // extern "C"
