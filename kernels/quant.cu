/* quant.cu — variant `quant`: the quantization stage and the portable (mma.sync, sm_80+) attention
 * kernel. kernels/quant.h has the layout of the quantized copies and the roundings (shared with the
 * CPU implementation in variants/quant.c); kernels/quant_sm90.cu the Hopper kernel.
 *
 * Stage (each kernel a separate stage in CUPTI's records): (1) per 128-row block of each KV head,
 * the per-channel sums of K in fp64 and the per-channel maxima of |V|; (2) their fold: k_mean =
 * (float)(Σ / S) (the sums of fp16/bf16 values are exact in fp64, so the order of the fold does not
 * matter and the host's sequential sum gives the same mean), v_scale = max|v| / 448; (3) Q and
 * K − k_mean to INT8, one scale per 128-row block (max|x| / 127, nearest even, saturating), a warp
 * per row; with rotate (FA3's incoherent processing) each row first × H·diag(s) (quant.h: fixed
 * signs, then log2 D stages of fp32 butterflies, in registers and by shfl_xor — the CPU
 * implementation's order, so the same bits), the rows read twice (max, then codes) and rotated
 * both times, the stored Q scale / D so that the attention kernels' s32 · q_scale · k_scale is
 * unchanged; (4) V
 * to e4m3 with its channel's scale, written transposed [B][Hkv][D][S_pad], padding keys 0.
 * Materialises the quantized copies only (the workspace), O(S·D).
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

/* (1) Block blk of KV head bh: sums of K per channel (fp64) and max |V| per channel. D threads. */
template <typename T>
__global__ void quant_kv_stats_kernel(const T *k, const T *v, double *ksum, float *vmax, int S,
                                      int D, int nblk, int want_k, int want_v)
{
    const int blk = blockIdx.x, bh = blockIdx.y, d = threadIdx.x;
    const size_t base = (size_t)bh * S * D;
    const int r0 = blk * QB, r1 = min(S, r0 + QB);
    double sum = 0;
    float mx = 0.f;
    for (int r = r0; r < r1; r++) {
        const size_t i = base + (size_t)r * D + d;
        if (want_k) sum += (double)(float)k[i];
        if (want_v) mx = fmaxf(mx, fabsf((float)v[i]));
    }
    const size_t o = ((size_t)bh * nblk + blk) * D + d;
    if (want_k) ksum[o] = sum;
    if (want_v) vmax[o] = mx;
}

/* (2) Per KV head: k_mean (0 without smoothing) and v_scale from the blocks' partials. */
__global__ void quant_kv_fold_kernel(const double *ksum, const float *vmax, float *k_mean,
                                     float *v_scale, int S, int D, int nblk, int smooth,
                                     int want_v)
{
    const int bh = blockIdx.x, d = threadIdx.x;
    double sum = 0;
    float mx = 0.f;
    for (int b = 0; b < nblk; b++) {
        const size_t i = ((size_t)bh * nblk + b) * D + d;
        if (smooth) sum += ksum[i];
        if (want_v) mx = fmaxf(mx, vmax[i]);
    }
    k_mean[(size_t)bh * D + d] = smooth ? (float)(sum / S) : 0.f;
    if (want_v) v_scale[(size_t)bh * D + d] = attn_quant_scale(mx, ATTN_QUANT_P_SCALE);
}

constexpr int ROW_THREADS = 256;

/* One row of x (D = 32·E channels) minus mu (NULL: none) as the stage quantizes it, lane `lane`'s
 * E consecutive channels in y: with rotate, the signs and butterflies of quant.h — stages h < E
 * inside the lane's registers, stages h = E·m (m = 1 … 16) across lanes by shfl_xor of lane bit m
 * (the lane with the bit clear holds a, its partner b: a + b, b's lane a − b). Warp-uniform. */
template <typename T, int E>
__device__ __forceinline__ void row_values(const T *x, const float *mu, int rotate, int lane,
                                           float (&y)[E])
{
#pragma unroll
    for (int e = 0; e < E; e++) {
        const int d = lane * E + e;
        y[e] = (float)x[d] - (mu ? mu[d] : 0.f);
        if (rotate && attn_quant_sign_flip(d)) y[e] = -y[e];
    }
    if (!rotate) return;
#pragma unroll
    for (int h = 1; h < E; h *= 2)
#pragma unroll
        for (int e = 0; e < E; e++)
            if (!(e & h)) attn_quant_butterfly(&y[e], &y[e + h]);
#pragma unroll
    for (int m = 1; m < 32; m *= 2)
#pragma unroll
        for (int e = 0; e < E; e++) {
            const float other = __shfl_xor_sync(0xffffffffu, y[e], m);
            y[e] = lane & m ? other - y[e] : y[e] + other;
        }
}

/* (3) One 128-row block of head bh of x ([..][S][D], D = 32·E) minus mean[bh][D] (NULL: none),
 * rotated when `rotate`, to INT8; the stored scale is the quantization's × fold (1/D for rotated
 * Q: quant.h). A warp per row; two passes (the block's max, then the codes), the row's values
 * computed the same way in both. */
template <typename T, int E>
__global__ void __launch_bounds__(ROW_THREADS)
    quant_rows_kernel(const T *x, const float *mean, int rotate, float fold, int8_t *x8,
                      float *scale, int S, int nblk)
{
    static_assert(E == 2 || E == 4, "D = 64 or 128");
    constexpr int D = 32 * E, WARPS = ROW_THREADS / 32;
    __shared__ float red[WARPS];
    const int blk = blockIdx.x, bh = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int rows = min(S - blk * QB, QB);
    const size_t base = ((size_t)bh * S + (size_t)blk * QB) * D;
    const float *mu = mean ? mean + (size_t)bh * D : nullptr;
    float amax = 0.f, y[E];
    for (int r = warp; r < rows; r += WARPS) {
        row_values<T, E>(x + base + (size_t)r * D, mu, rotate, lane, y);
#pragma unroll
        for (int e = 0; e < E; e++) amax = fmaxf(amax, fabsf(y[e]));
    }
    amax = attn_block_reduce<ROW_THREADS, ATTN_REDUCE_MAX>(amax, red);
    const float sc = attn_quant_scale(amax, 127.f);
    if (threadIdx.x == 0) scale[(size_t)bh * nblk + blk] = sc * fold;
    for (int r = warp; r < rows; r += WARPS) {
        row_values<T, E>(x + base + (size_t)r * D, mu, rotate, lane, y);
        uint32_t codes = 0; /* the lane's E codes, one E-byte store */
#pragma unroll
        for (int e = 0; e < E; e++) codes |= (uint32_t)(uint8_t)attn_int8_quant(y[e], sc) << 8 * e;
        int8_t *dst = x8 + base + (size_t)r * D + lane * E;
        if constexpr (E == 4) *reinterpret_cast<uint32_t *>(dst) = codes;
        else *reinterpret_cast<uint16_t *>(dst) = (uint16_t)codes;
    }
}

/* Rows of x to INT8 (kernel 3) for D = 64 or 128. */
template <typename T>
int rows_launch(const T *x, const float *mean, int rotate, float fold, int8_t *x8, float *scale,
                int S, int D, int nblk, int heads, cudaStream_t st)
{
    const dim3 grid(nblk, heads);
    if (D == 64)
        quant_rows_kernel<T, 2><<<grid, ROW_THREADS, 0, st>>>(x, mean, rotate, fold, x8, scale, S,
                                                              nblk);
    else if (D == 128)
        quant_rows_kernel<T, 4><<<grid, ROW_THREADS, 0, st>>>(x, mean, rotate, fold, x8, scale, S,
                                                              nblk);
    else
        return attn_fail("quant: the stage takes D = 64 or 128, not %d", D);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

constexpr int VT_KEYS = 64; /* keys per block of the transpose */

/* (4) Keys [key0, key0 + 64) of KV head bh: e4m3 codes of v / v_scale into v8t[bh][D][S_pad]. */
template <typename T>
__global__ void __launch_bounds__(ROW_THREADS)
    quant_vt_kernel(const T *v, const float *v_scale, uint8_t *v8t, int S, int S_pad, int D)
{
    __shared__ uint8_t tile[128][VT_KEYS + 4];
    const int bh = blockIdx.y, key0 = blockIdx.x * VT_KEYS;
    const float *vs = v_scale + (size_t)bh * D;
    for (int i = threadIdx.x; i < VT_KEYS * D; i += ROW_THREADS) {
        const int r = i / D, d = i % D, key = key0 + r;
        const float x = key < S ? (float)v[((size_t)bh * S + key) * D + d] : 0.f;
        tile[d][r] = attn_e4m3_code(attn_e4m3_round(x / vs[d]));
    }
    __syncthreads();
    for (int i = threadIdx.x; i < D * (VT_KEYS / 4); i += ROW_THREADS) {
        const int d = i / (VT_KEYS / 4), w = i % (VT_KEYS / 4), key = key0 + 4 * w;
        if (key < S_pad) {
            const uint32_t word = tile[d][4 * w] | (uint32_t)tile[d][4 * w + 1] << 8 |
                                  (uint32_t)tile[d][4 * w + 2] << 16 |
                                  (uint32_t)tile[d][4 * w + 3] << 24;
            *reinterpret_cast<uint32_t *>(v8t + ((size_t)bh * D + d) * S_pad + key) = word;
        }
    }
}

/* Workspace pieces after the tensors: the stage's partials. */
struct stage_scratch {
    double *ksum;
    float *vmax;
};

size_t layout(uint8_t *base, int B, int H, int Hkv, int S, int D, attn_quant_tensors *t,
              stage_scratch *sc)
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
    sc->ksum = (double *)take((size_t)B * Hkv * nblk * D * 8);
    sc->vmax = (float *)take((size_t)B * Hkv * nblk * D * 4);
    return off;
}

template <typename T> int stage_launch(const attn_quant_args *a, void *workspace)
{
    attn_quant_tensors t;
    stage_scratch sc;
    layout((uint8_t *)workspace, a->B, a->H, a->Hkv, a->S, a->D, &t, &sc);
    const int S = a->S, D = a->D, nblk = (S + QB - 1) / QB, bhk = a->B * a->Hkv;
    const int want_k = a->qk_int8 && a->smooth, want_v = a->pv_fp8;
    const T *k = (const T *)a->k, *v = (const T *)a->v;
    cudaStream_t st = a->stream;
    if (a->qk_int8 || a->pv_fp8) {
        if (want_k || want_v) {
            quant_kv_stats_kernel<T><<<dim3(nblk, bhk), D, 0, st>>>(k, v, sc.ksum, sc.vmax, S, D,
                                                                    nblk, want_k, want_v);
            CUDA_CHECK_LAUNCH();
        }
        quant_kv_fold_kernel<<<bhk, D, 0, st>>>(sc.ksum, sc.vmax, t.k_mean, t.v_scale, S, D, nblk,
                                                want_k, want_v);
        CUDA_CHECK_LAUNCH();
    }
    if (a->qk_int8) {
        const float q_fold = a->rotate ? 1.f / (float)D : 1.f;
        ATTN_TRY(rows_launch<T>((const T *)a->q, nullptr, a->rotate, q_fold, t.q8, t.q_scale, S, D,
                                nblk, a->B * a->H, st));
        ATTN_TRY(rows_launch<T>(k, t.k_mean, a->rotate, 1.f, t.k8, t.k_scale, S, D, nblk, bhk, st));
    }
    if (a->pv_fp8) {
        const int sp = attn_quant_s_pad(S);
        quant_vt_kernel<T><<<dim3((sp + VT_KEYS - 1) / VT_KEYS, bhk), ROW_THREADS, 0, st>>>(
            v, t.v_scale, t.v8t, S, sp, D);
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
    stage_scratch sc;
    return layout(nullptr, B, H, Hkv, S, D, &t, &sc);
}

void attn_quant_tensors_layout(void *base, int B, int H, int Hkv, int S, int D,
                               attn_quant_tensors *t)
{
    stage_scratch sc;
    layout((uint8_t *)base, B, H, Hkv, S, D, t, &sc);
}

int attn_quant_stage_launches(const attn_quant_args *a)
{
    if (!a->qk_int8 && !a->pv_fp8) return 0;
    const int stats = (a->qk_int8 && a->smooth) || a->pv_fp8;
    return stats + 1 + 2 * (a->qk_int8 != 0) + (a->pv_fp8 != 0);
}

int attn_quant_stage_launch(const attn_quant_args *a, void *workspace)
{
    if (a->dtype == ATTN_FP16) return stage_launch<__half>(a, workspace);
    if (a->dtype == ATTN_BF16) return stage_launch<__nv_bfloat16>(a, workspace);
    return attn_fail("quant: the stage takes fp16 or bf16 inputs");
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
