/* fused.cu — flash-attention-2 style forward on tensor cores (mma.sync m16n8k16), variant `fused`.
 *
 * Algorithm: one thread block per (query tile of BM = 16·warps rows, head, batch). The block loads
 * its Q tile once (cp.async), then walks the key/value tiles of BN keys in order, double buffered
 * with cp.async (tile j+1 is in flight while tile j is computed). Each warp owns 16 query rows:
 * S = Q·Kᵀ on mma.sync (ldmatrix from XOR-swizzled shared memory, fp32 accumulation), online
 * softmax in fp32 with exp2 and log2(e) folded into the scale (running max and sum per row), P
 * rounded to the input dtype in registers and fed straight back as the A operand of O += P·V
 * (ldmatrix.trans on V). O is normalised once at the end and written once, staged through shared
 * memory for 16-byte coalesced stores. Nothing of size S×S exists anywhere; the only device memory
 * touched is Q, K, V, O (and the optional log-sum-exp rows).
 * Causal: key tiles wholly above the diagonal are never loaded; the mask (and the S bound) is
 * applied only on tiles that cross the diagonal or the sequence end; query tiles are scheduled
 * heaviest first. GQA/MQA: query head h reads KV head h / (H / H_kv), nothing is copied.
 *
 * Limits: fp16 and bf16 only; head_dim 64 or 128; any S >= 1 (partial tiles are zero-filled by
 * cp.async and masked). LSE (optional): lse[b][h][s] = max·scale + ln(sum), natural log, fp32.
 *
 * Configurations (BN, warps, min blocks/SM, Q fragments in registers) are compiled from a fixed
 * table below (128x128 with 8 warps, 64x64 with 4, 128x64 with 8); attn_fused_default_tile picks
 * one from the point's shape. Shared memory per block: (BM + 4·BN)·D·2 bytes (Q, and K and V
 * double buffered): 160 KB at 128x128, D=128; attn_fused_setup skips a device that allows less.
 * Portable path (sm_80+); on sm_90 variants/fused.c takes the wgmma/TMA path of
 * kernels/fused_sm90.cu instead unless path=mma is given.
 * Registers, SASS, measured speed and the history of each version: kernels/NOTES-fused.md. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "common.cuh"
#include "core/error.h"
#include "fused.h"
#include "mma_sm80.cuh"

namespace {

struct fused_params {
    const void *q, *k, *v;
    void *o;
    float *lse;     /* NULL: not written */
    int H, Hkv, S;
    int Sk;         /* keys per head (= S except through attn_fused_launch_kv; non-causal then) */
    int causal;
    float scale;    /* 1/sqrt(D) */
    float scale_log2; /* scale · log2(e) */
};

template <typename T, int D, int BN, int NW, int MINB, bool QREG>
__global__ void __launch_bounds__(NW * 32, MINB) fused_fwd_kernel(const fused_params p)
{
    using ops = dtype_ops<T>;
    constexpr int BM = NW * 16;
    constexpr int NT = NW * 32;
    constexpr int CH = D / 8;
    constexpr int KD = D / 16;  /* k-steps of Q·Kᵀ */
    constexpr int NB = BN / 8;  /* n-blocks of S */
    constexpr int DB = D / 8;   /* n-blocks of O */
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T *sQ = reinterpret_cast<T *>(smem_raw);
    T *sK = sQ + BM * D;
    T *sV = sK + 2 * BN * D;

    const int S = p.S, Sk = p.Sk;
    const int m_block = p.causal ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
    const int h = blockIdx.y, b = blockIdx.z;
    const int hk = h / (p.H / p.Hkv);
    const size_t q_off = ((size_t)b * p.H + h) * (size_t)S * D;
    const size_t kv_off = ((size_t)b * p.Hkv + hk) * (size_t)Sk * D;
    const T *gQ = static_cast<const T *>(p.q) + q_off;
    const T *gK = static_cast<const T *>(p.k) + kv_off;
    const T *gV = static_cast<const T *>(p.v) + kv_off;
    T *gO = static_cast<T *>(p.o) + q_off;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int m0 = m_block * BM;

    int n_tiles = (Sk + BN - 1) / BN;
    if (p.causal) n_tiles = min(n_tiles, (min(m0 + BM, S) - 1) / BN + 1);

    load_tile<T, D, BM, NT>(sQ, gQ, m0, S, tid);
    load_tile<T, D, BN, NT>(sK, gK, 0, Sk, tid);
    load_tile<T, D, BN, NT>(sV, gV, 0, Sk, tid);
    cp_async_commit();

    uint32_t qf[QREG ? KD : 1][4];
    float o[DB][4];
#pragma unroll
    for (int i = 0; i < DB; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m_i[2] = {-INFINITY, -INFINITY};
    float l_i[2] = {0.f, 0.f};
    const int wrow0 = warp * 16;               /* this warp's first row in the tile */
    const int qrow_a = m0 + wrow0 + (lane >> 2); /* the two query rows of this thread */
    const int qrow_b = qrow_a + 8;
    const float sl2 = p.scale_log2;

    for (int j = 0; j < n_tiles; j++) {
        const int buf = j & 1;
        if (j + 1 < n_tiles) {
            load_tile<T, D, BN, NT>(sK + (buf ^ 1) * BN * D, gK, (j + 1) * BN, Sk, tid);
            load_tile<T, D, BN, NT>(sV + (buf ^ 1) * BN * D, gV, (j + 1) * BN, Sk, tid);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();

        if (QREG && j == 0) {
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                int r = wrow0 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
                        attn_smem_u32(sQ + swz<D>(r, c)));
            }
        }

        /* S = Q · K_jᵀ */
        const T *ks = sK + buf * BN * D;
        float s[NB][4];
#pragma unroll
        for (int i = 0; i < NB; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KD; kk++) {
            uint32_t qa[4];
            if (QREG) {
                qa[0] = qf[QREG ? kk : 0][0]; qa[1] = qf[QREG ? kk : 0][1];
                qa[2] = qf[QREG ? kk : 0][2]; qa[3] = qf[QREG ? kk : 0][3];
            } else {
                int r = wrow0 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(qa[0], qa[1], qa[2], qa[3], attn_smem_u32(sQ + swz<D>(r, c)));
            }
#pragma unroll
            for (int pp = 0; pp < NB / 2; pp++) {
                int r = pp * 16 + (lane & 7) + ((lane >> 4) << 3);
                int c = kk * 2 + ((lane >> 3) & 1);
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, attn_smem_u32(ks + swz<D>(r, c)));
                ops::mma(s[2 * pp], qa, b0, b1);
                ops::mma(s[2 * pp + 1], qa, b2, b3);
            }
        }

        /* Mask: keys past S, and (causal) keys after the query. Only on tiles that need it. */
        const int key0 = j * BN;
        const bool need_mask = (key0 + BN > Sk) || (p.causal && key0 + BN - 1 > m0 + wrow0);
        if (need_mask) {
#pragma unroll
            for (int nb = 0; nb < NB; nb++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = key0 + nb * 8 + 2 * (lane & 3) + (e & 1);
                    int qr = (e < 2) ? qrow_a : qrow_b;
                    if (key >= Sk || (p.causal && key > qr)) s[nb][e] = -INFINITY;
                }
            }
        }

        /* Online softmax: two rows per thread, each shared by a quad of lanes. */
        float mx[2] = {m_i[0], m_i[1]};
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            mx[0] = fmaxf(mx[0], fmaxf(s[nb][0], s[nb][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[nb][2], s[nb][3]));
        }
        float ms[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = attn_quad_reduce<ATTN_REDUCE_MAX>(mx[r]);
            ms[r] = (mx[r] == -INFINITY) ? 0.f : mx[r] * sl2;
            alpha[r] = exp2f(m_i[r] * sl2 - ms[r]);
            m_i[r] = mx[r];
            l_i[r] *= alpha[r];
        }
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            s[nb][0] = exp2f(fmaf(s[nb][0], sl2, -ms[0]));
            s[nb][1] = exp2f(fmaf(s[nb][1], sl2, -ms[0]));
            s[nb][2] = exp2f(fmaf(s[nb][2], sl2, -ms[1]));
            s[nb][3] = exp2f(fmaf(s[nb][3], sl2, -ms[1]));
            l_i[0] += s[nb][0] + s[nb][1];
            l_i[1] += s[nb][2] + s[nb][3];
        }
#pragma unroll
        for (int db = 0; db < DB; db++) {
            o[db][0] *= alpha[0];
            o[db][1] *= alpha[0];
            o[db][2] *= alpha[1];
            o[db][3] *= alpha[1];
        }

        /* O += P · V_j, P rounded to T as the A operand straight from the S accumulators. */
        const T *vs = sV + buf * BN * D;
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            uint32_t pa[4];
            pa[0] = attn_pack2<T>(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = attn_pack2<T>(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = attn_pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = attn_pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int q = 0; q < D / 16; q++) {
                int r = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
                int c = q * 2 + (lane >> 4);
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(b0, b1, b2, b3, attn_smem_u32(vs + swz<D>(r, c)));
                ops::mma(o[2 * q], pa, b0, b1);
                ops::mma(o[2 * q + 1], pa, b2, b3);
            }
        }
        __syncthreads(); /* buffer `buf` is overwritten by the next iteration's loads */
    }
    cp_async_wait<0>();

    /* Epilogue: full row sums, normalise, stage the warp's 16 rows in its own rows of sQ. */
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l_i[r] = attn_quad_reduce<ATTN_REDUCE_SUM>(l_i[r]);
        inv[r] = l_i[r] > 0.f ? 1.f / l_i[r] : 0.f;
    }
    {
        const int ra = wrow0 + (lane >> 2), rb = ra + 8;
#pragma unroll
        for (int db = 0; db < DB; db++) {
            int off = 2 * (lane & 3);
            *reinterpret_cast<uint32_t *>(sQ + swz<D>(ra, db) + off) =
                attn_pack2<T>(o[db][0] * inv[0], o[db][1] * inv[0]);
            *reinterpret_cast<uint32_t *>(sQ + swz<D>(rb, db) + off) =
                attn_pack2<T>(o[db][2] * inv[1], o[db][3] * inv[1]);
        }
    }
    __syncwarp();
#pragma unroll
    for (int k = 0; k < 16 * CH / 32; k++) {
        int i = lane + k * 32;
        int r = i / CH, c = i % CH;
        int gr = m0 + wrow0 + r;
        if (gr < S)
            *reinterpret_cast<uint4 *>(gO + (size_t)gr * D + c * 8) =
                *reinterpret_cast<const uint4 *>(sQ + swz<D>(wrow0 + r, c));
    }
    if (p.lse && (lane & 3) == 0) {
        float *lse = p.lse + ((size_t)b * p.H + h) * (size_t)S;
        if (qrow_a < S) lse[qrow_a] = m_i[0] * p.scale + logf(l_i[0]);
        if (qrow_b < S) lse[qrow_b] = m_i[1] * p.scale + logf(l_i[1]);
    }
}

typedef void (*kernel_fn)(const fused_params);

struct config {
    int bn, warps, minb, qreg;
};

/* The compiled configurations, per (dtype, D), by index: BN, warps (BM = 16·warps), min blocks per
 * SM for __launch_bounds__, Q fragments kept in registers. Measured on H100 (NOTES-fused.md): 128x128
 * is fastest at D=128; 64x64 at D=64 up to S=8192 and for short causal D=128. Configs with a
 * 2-blocks/SM cap spilled at D=128 and ran slower; 64x128 (4 warps) spilled at D=128: none of
 * these is compiled. 128x64 stays for tile=128x64 comparisons. */
#define FUSED_CONFIGS(X)      \
    X(0, 128, 8, 1, true)     \
    X(1, 64, 4, 1, true)      \
    X(2, 64, 8, 1, true)
constexpr int N_CONFIGS = 3;

template <typename T, int D> kernel_fn pick(int idx, config *cfg)
{
    switch (idx) {
#define X(i, bn, nw, mb, qr)                                     \
    case i:                                                      \
        *cfg = config{bn, nw, mb, qr ? 1 : 0};                   \
        return fused_fwd_kernel<T, D, bn, nw, mb, qr>;
        FUSED_CONFIGS(X)
#undef X
    default: return nullptr;
    }
}

kernel_fn lookup(int dtype, int D, int idx, config *cfg)
{
    if (dtype == ATTN_FP16 && D == 64) return pick<__half, 64>(idx, cfg);
    if (dtype == ATTN_FP16 && D == 128) return pick<__half, 128>(idx, cfg);
    if (dtype == ATTN_BF16 && D == 64) return pick<__nv_bfloat16, 64>(idx, cfg);
    if (dtype == ATTN_BF16 && D == 128) return pick<__nv_bfloat16, 128>(idx, cfg);
    return nullptr;
}

size_t smem_bytes(const config &c, int D) { return (size_t)(c.warps * 16 + 4 * c.bn) * D * 2; }

} // namespace

extern "C" {

/* The shape of configuration idx: 0, or -1 if idx is out of range. */
int attn_fused_config_get(int idx, int *bn, int *warps, int *minb, int *qreg)
{
    config c;
    if (!lookup(ATTN_BF16, 128, idx, &c)) return -1;
    *bn = c.bn;
    *warps = c.warps;
    *minb = c.minb;
    *qreg = c.qreg;
    return 0;
}

/* The configuration index with query tile bm and key tile bn, or -1. */
int attn_fused_config_find(int bm, int bn)
{
    for (int i = 0; i < N_CONFIGS; i++) {
        config c;
        lookup(ATTN_BF16, 128, i, &c);
        if (c.warps * 16 == bm && c.bn == bn) return i;
    }
    return -1;
}

/* The default tile for a point, from its shape alone (so the CPU implementation in
 * variants/fused.c walks the same key tiles without a device): 128x128 (8 warps) or 64x64 (4
 * warps). Measured on H100 (NOTES-fused.md): 64x64 is faster at D=64 at every benchmark S and for
 * causal D=128 up to S=1024; 128x128 elsewhere at D=128. 64x64 also where 128-row tiles would give
 * fewer than 264 blocks (two per SM of a 132-SM H100/H200). */
int attn_fused_default_tile(int D, int B, int H, int S, int causal, int *bm, int *bn)
{
    long blocks128 = (long)B * H * ((S + 127) / 128);
    int big = D == 128 && !(causal && S <= 1024) && blocks128 >= 264;
    *bm = *bn = big ? 128 : 64;
    return attn_fused_config_find(*bm, *bn);
}

/* One-time setup outside timing (raises the dynamic shared-memory limit). ATTN_SKIP when the
 * device cannot hold the configuration. */
int attn_fused_setup(int dtype, int D, int idx)
{
    config c;
    kernel_fn fn = lookup(dtype, D, idx, &c);
    if (!fn) return attn_skip("fused: no kernel for dtype %d D=%d config %d", dtype, D, idx);
    int dev, optin;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    size_t smem = smem_bytes(c, D);
    if (smem > (size_t)optin)
        return attn_skip("fused: config needs %zu B of shared memory, device allows %d", smem, optin);
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    return ATTN_OK;
}

/* One forward pass with S queries and Sk keys per head (K, V are [B][Hkv][Sk][D]; used by the
 * `lowrank` variant with Sk = its k); non-causal only when Sk != S. Call attn_fused_setup for the
 * same (dtype, D, idx) once before. */
int attn_fused_launch_kv(int dtype, int D, int idx, int B, int H, int Hkv, int S, int Sk,
                         int causal, const void *q, const void *k, const void *v, void *o,
                         float *lse, cudaStream_t stream)
{
    if (Sk < 1 || (causal && Sk != S))
        return attn_fail("fused: %d keys for %d queries (causal needs as many keys as queries)", Sk, S);
    config c;
    kernel_fn fn = lookup(dtype, D, idx, &c);
    if (!fn) return attn_skip("fused: no kernel for dtype %d D=%d config %d", dtype, D, idx);
    fused_params p;
    p.q = q;
    p.k = k;
    p.v = v;
    p.o = o;
    p.lse = lse;
    p.H = H;
    p.Hkv = Hkv;
    p.S = S;
    p.Sk = Sk;
    p.causal = causal;
    p.scale = (float)(1.0 / sqrt((double)D));
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)D));
    int bm = c.warps * 16;
    dim3 grid((unsigned)((S + bm - 1) / bm), (unsigned)H, (unsigned)B);
    fn<<<grid, c.warps * 32, smem_bytes(c, D), stream>>>(p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* One forward pass (S queries and S keys); call attn_fused_setup for the same (dtype, D, idx) once
 * before. */
int attn_fused_launch(int dtype, int D, int idx, int B, int H, int Hkv, int S, int causal,
                      const void *q, const void *k, const void *v, void *o, float *lse,
                      cudaStream_t stream)
{
    return attn_fused_launch_kv(dtype, D, idx, B, H, Hkv, S, S, causal, q, k, v, o, lse, stream);
}

} // extern "C"
