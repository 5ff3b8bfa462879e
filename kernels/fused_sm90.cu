/* fused_sm90.cu — the Hopper (sm_90a) path of variant `fused`: flash-attention forward on wgmma,
 * operands brought in by the tensor memory accelerator, warp-specialised, persistent
 * (kernels/fused.cu holds the portable mma.sync path; variants/fused.c picks one at prepare time).
 *
 * Algorithm: a persistent grid of one block per SM; each block takes query tiles (BM = 64·NWG rows
 * of one head) from a work queue until it is empty. Block = 1 producer warpgroup + NWG consumer
 * warpgroups (NWG = 2, or 3 at D=64), each consumer warpgroup owning 64 query rows; key tile
 * BN = 128; K/V ring of 2 stages; two Q buffers, so the next tile's Q loads while this one computes.
 *  - Queue: a device counter taken by atomicAdd; the last block to find it empty resets it, so
 *    launches need no memset (they must not overlap in time). Order: non-causal head-major (a
 *    head's tiles run together and share its K/V in L2); causal longest first within sections of
 *    (batch, head) pairs whose K/V fit ~16 MB of L2 — the light tiles end the run, no long tail.
 *  - Producer (one thread): takes a tile, publishes its index in shared memory (a "tile" mbarrier),
 *    loads its Q by TMA (cp.async.bulk.tensor.4d on CUtensorMaps passed as __grid_constant__
 *    parameters, 128-byte swizzle, boxes of 64 columns), then K_j, V_j into the ring; each load
 *    completes on a "full" mbarrier (expect_tx); a stage is reused once every consumer warp has
 *    arrived on its "empty" mbarrier, a Q buffer once every consumer thread has. Rows past S (per
 *    head: the tensor map is 4-D [B][heads][S][D]) are zero-filled by the TMA.
 *  - Consumers: S = Q·K_jᵀ by wgmma m64n128k16 (both operands from shared memory, K-major), online
 *    softmax in fp32 registers (exp2 with log2(e)·scale folded into one FFMA, ex2.approx), P rounded
 *    to the dtype in registers and used as the register A operand of O += P·V_j (wgmma m64nDk16,
 *    V N-major from shared memory). Intra-warpgroup overlap: S_j and P_{j-1}·V_{j-1} are issued
 *    together, the softmax of S_j runs while P_{j-1}·V_{j-1} is on the tensor cores. Ping-pong:
 *    named barriers pass the turn to issue wgmma round-robin among the consumer warpgroups, so one
 *    warpgroup's softmax overlaps the others' matrix products.
 *  - Epilogue: 1/l, round, stage in the warpgroup's own rows of its Q buffer (same swizzle), 16-byte
 *    coalesced stores of rows < S only; optional LSE (natural log, fp32 [B][H][S]).
 * Causal: key tiles past the query tile are never loaded; masking only on tiles that cross the
 * diagonal or the end of the keys. GQA/MQA: KV head = h / (H/H_kv), nothing copied. Any S >= 1.
 * Nothing of size S×S exists anywhere: the device memory touched is Q, K, V (K and V once per query
 * tile), O and the optional LSE rows.
 *
 * Limits: fp16/bf16, D = 64 or 128, sm_90 only (the body is compiled for sm_90a alone; the sm_80
 * pass sees an empty kernel that is never launched: attn_fused_sm90_setup skips other devices).
 * One launch at a time per device (the queue counter is a device global).
 * Shared memory per block: 193 KB at D=128, 97 KB / 113 KB at D=64 (NWG 2 / 3); setmaxnreg gives
 * the consumers 240 (NWG=2) or 160 (NWG=3) registers and the producer 24 or 32.
 * Registers, SASS, measured speed and the history of each version: kernels/NOTES-fused.md. */
#include <limits.h>

#include <algorithm>

#include "fused_sm90.h"
#include "sm90_common.cuh"

/* The work queue: one counter for the next tile and one for the blocks that found it empty; the
 * last block to leave resets both, so every launch starts from zero without a memset. Launches of
 * this file's kernels must therefore not overlap in time (one stream, as the harness runs them). */
__device__ unsigned int attn_sm90_next_tile, attn_sm90_blocks_done;

namespace {

struct sm90_params {
    void *o;
    float *lse;
    int H, Hkv, S, Sk, causal; /* Sk: keys per head (= S unless through the _kv launcher) */
    int n_m, n_hb, sec, total; /* query tiles per head, B·H, heads per causal section, n_m·n_hb */
    float scale, scale_log2;
    uint32_t v_lbo, v_sbo; /* N-major V descriptor strides (bytes) */
};

#ifdef ATTN_SM90_DEVICE
/* Query tile t of the queue: non-causal, head-major (a head's tiles run together and share its K/V
 * in L2); causal, longest first within sections of p.sec (batch, head) pairs, the sections in turn
 * (a section's K/V fits in L2; the short tiles of one section fill the tail of the previous). */
struct tile_pos {
    int m_block, h, b;
};
__device__ __forceinline__ tile_pos tile_at(const sm90_params &p, int t)
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
#endif /* ATTN_SM90_DEVICE */

/* query tile 64·NWG rows, key tile 128, K/V ring of 2 stages */
template <int D, int NWG> using sm90_cfg = sm90_layout<64 * NWG, 128, D, D, 2>;

template <typename T, int D, int NWG>
__global__ void __launch_bounds__(128 * (NWG + 1), 1)
    fused_sm90_kernel(const __grid_constant__ CUtensorMap tmQ, const __grid_constant__ CUtensorMap tmK,
                      const __grid_constant__ CUtensorMap tmV, const sm90_params p)
{
#ifdef ATTN_SM90_DEVICE
    using C = sm90_cfg<D, NWG>;
    constexpr int BM = C::BM, BN = C::BN, ST = C::STAGES;
    /* register split after setmaxnreg: 128·(producer + NWG·consumer) <= 64K */
    constexpr int PRODUCER_REGS = NWG == 2 ? 24 : 32, CONSUMER_REGS = NWG == 2 ? 240 : 160;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = (attn_smem_u32(smem_raw) + 1023u) & ~1023u;
    unsigned char *gbase = smem_raw + (base - attn_smem_u32(smem_raw));
    volatile int *slot = reinterpret_cast<volatile int *>(gbase + C::OFF_SLOT); /* tile per Q buffer */
    const uint32_t sK = base + C::OFF_K, sV = base + C::OFF_V;
    const sm90_bars<ST> bar{base + C::OFF_BAR};

    const int S = p.S, Sk = p.Sk;
    /* key tiles of query tile m (causal: up to the diagonal) */
    auto key_tiles = [&](int m) {
        const int n = (Sk + BN - 1) / BN;
        return p.causal ? min(n, (min((m + 1) * BM, S) - 1) / BN + 1) : n;
    };
    /* warpgroup index, warp-uniform for the compiler (branches around wgmma stay convergent) */
    const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
    const int tid = threadIdx.x & 127;

    if (threadIdx.x == 0) bar.init(NWG);
    __syncthreads();

    if (wg == 0) {
        /* ---------------- producer: takes tiles from the queue until it is empty ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGS));
        if (tid == 0) {
            int kv = 0; /* key tiles loaded so far: ring stage kv % ST, phase (kv / ST) & 1 */
            for (int it = 0;; it++) {
                const int qb = it & 1;
                if (it >= 2) mbar_wait(bar.q_empty(qb), (uint32_t)(((it >> 1) - 1) & 1));
                const int t = sm90_queue_take(&attn_sm90_next_tile);
                if (t >= p.total) {
                    slot[qb] = -1; /* releases the consumers: no more tiles */
                    mbar_arrive(bar.tile_full(qb));
                    sm90_queue_leave(&attn_sm90_next_tile, &attn_sm90_blocks_done);
                    break;
                }
                const tile_pos tp = tile_at(p, t);
                const int hk = tp.h / (p.H / p.Hkv);
                const uint32_t sQ = base + qb * C::Q_BYTES;
                slot[qb] = t;
                mbar_arrive(bar.tile_full(qb));
                mbar_expect_tx(bar.q_full(qb), C::Q_BYTES);
#pragma unroll
                for (int db = 0; db < D / 64; db++)
                    tma_load4(sQ + db * BM * 128, &tmQ, bar.q_full(qb), db * 64, tp.m_block * BM, tp.h, tp.b);
                const int n_tiles = key_tiles(tp.m_block);
                for (int j = 0; j < n_tiles; j++, kv++) {
                    const int s = kv % ST;
                    const uint32_t ph = (uint32_t)((kv / ST) & 1);
                    mbar_wait(bar.empty_k(s), ph ^ 1);
                    mbar_expect_tx(bar.full_k(s), C::K_BYTES);
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sK + s * C::K_BYTES + db * BN * 128, &tmK, bar.full_k(s), db * 64, j * BN, hk, tp.b);
                    mbar_wait(bar.empty_v(s), ph ^ 1);
                    mbar_expect_tx(bar.full_v(s), C::V_BYTES);
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sV + s * C::V_BYTES + db * BN * 128, &tmV, bar.full_v(s), db * 64, j * BN, hk, tp.b);
                }
            }
        }
    } else {
        /* ---------------- consumers ---------------- */
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGS));
        const int cw = wg - 1;
        const int warp = tid >> 5, lane = tid & 31;
        const int g = lane >> 2, t = lane & 3;
        const float sl2 = p.scale_log2;

        float o[D / 2];
        float s[BN / 2];
        uint32_t pf[BN / 16][4];
        int kv = 0; /* key tiles consumed so far (the producer's ring position) */
        for (int it = 0;; it++) {
            const int qb = it & 1;
            mbar_wait(bar.tile_full(qb), (uint32_t)((it >> 1) & 1));
            const int tile = slot[qb];
            if (tile < 0) break;
            mbar_wait(bar.q_full(qb), (uint32_t)((it >> 1) & 1));
            const tile_pos tp = tile_at(p, tile);
            const int m0 = tp.m_block * BM;
            const int n_tiles = key_tiles(tp.m_block);
            const int wg_row0 = m0 + cw * 64;
            const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;
            /* key tiles this warpgroup's rows need: causal, up to its own last row (a 192-row
             * tile covers 1.5 key tiles, so its first warpgroups need fewer than the tile loads);
             * rows all past S need one (their output is never stored) */
            const int n_need = wg_row0 >= S ? 1
                               : p.causal ? min(n_tiles, (min(wg_row0 + 64, S) - 1) / BN + 1)
                                          : n_tiles;
            const uint32_t sQ = base + qb * C::Q_BYTES;
#pragma unroll
            for (int i = 0; i < D / 2; i++) o[i] = 0.f;
            float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};
            /* mask keys >= Sk and (causal) keys after the query, only on tiles that need it */
            auto mask = [&](int j) { sm90_mask<BN>(s, j * BN, Sk, p.causal, wg_row0, row_a, row_b, t); };
            sm90_walk_tiles<T, C, NWG>(bar, kv, n_need, n_tiles, sQ, sK, sV, p.v_lbo, p.v_sbo, cw, lane, sl2, o, s, pf,
                                       m_i, l_i, [](int) {}, mask);
            kv += n_tiles;

            /* epilogue: O staged in this warpgroup's own rows of the Q buffer, then stored */
            float inv[2];
            sm90_row_sums(l_i, inv);
            named_sync(1 + NWG + cw, 128); /* every warp of this warpgroup is done reading its Q rows */
            unsigned char *stg = gbase + qb * C::Q_BYTES;
            sm90_stage_o<T, D, BM>(o, inv, stg, cw, warp, g, t);
            T *gO = static_cast<T *>(p.o) + ((size_t)tp.b * p.H + tp.h) * (size_t)S * D;
            sm90_store_o<T, D, BM>(stg, gO, m0, S, cw, warp, lane);
            mbar_arrive(bar.q_empty(qb));
            if (p.lse && t == 0) {
                float *lse = p.lse + ((size_t)tp.b * p.H + tp.h) * (size_t)S;
                if (row_a < S) lse[row_a] = m_i[0] * p.scale + logf(l_i[0]);
                if (row_b < S) lse[row_b] = m_i[1] * p.scale + logf(l_i[1]);
            }
        }
    }
#endif /* ATTN_SM90_DEVICE */
}

typedef void (*sm90_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const sm90_params);

sm90_fn sm90_lookup(int dtype, int D, int nwg, int *smem)
{
#define L(T, DD, N)                                                     \
    if (D == DD && nwg == N) {                                          \
        *smem = sm90_cfg<DD, N>::SMEM;                                  \
        return fused_sm90_kernel<T, DD, N>;                             \
    }
    if (dtype == ATTN_FP16) {
        L(__half, 128, 2) L(__half, 64, 2) L(__half, 64, 3)
    } else if (dtype == ATTN_BF16) {
        L(__nv_bfloat16, 128, 2) L(__nv_bfloat16, 64, 2) L(__nv_bfloat16, 64, 3)
    }
#undef L
    return nullptr;
}


} // namespace

extern "C" {

/* 1 when the wgmma path can run on the current device (sm_90, compiled for sm_90a). */
int attn_fused_sm90_available(void)
{
    return sm90_device_ok();
}

/* One-time setup outside timing (raises the dynamic shared-memory limit). ATTN_SKIP when there is
 * no kernel for (dtype, D, nwg) or the device is not sm_90. */
int attn_fused_sm90_setup(int dtype, int D, int nwg)
{
    int smem;
    sm90_fn fn = sm90_lookup(dtype, D, nwg, &smem);
    if (!fn) return attn_skip("fused: no wgmma kernel for dtype %d D=%d nwg=%d", dtype, D, nwg);
    if (!attn_fused_sm90_available()) return attn_skip("fused: wgmma path needs an sm_90 device");
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return ATTN_OK;
}

/* Default number of consumer warpgroups (query tile 64·nwg rows): D=128 → 2 (128x128); D=64 → 3
 * (192x128), except causal S ≤ 1024 → 2. Measured on H200 (kernels/NOTES-fused.md). */
int attn_fused_sm90_default_nwg(int D, int S, int causal)
{
    if (D == 64 && !(causal && S <= 1024)) return 3;
    return 2;
}

/* One forward pass with S queries and Sk keys per head (K, V are [B][Hkv][Sk][D]); causal needs
 * Sk == S. Call attn_fused_sm90_setup for the same (dtype, D, nwg) once before. */
int attn_fused_sm90_launch_kv(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int Sk,
                              int causal, const void *q, const void *k, const void *v, void *o,
                              float *lse, cudaStream_t stream)
{
    if (Sk < 1 || (causal && Sk != S))
        return attn_fail("fused: %d keys for %d queries (causal needs as many keys as queries)", Sk, S);
    int smem;
    sm90_fn fn = sm90_lookup(dtype, D, nwg, &smem);
    if (!fn) return attn_skip("fused: no wgmma kernel for dtype %d D=%d nwg=%d", dtype, D, nwg);
    const int bm = 64 * nwg, bn = 128;
    CUtensorMap mq, mk, mv;
    ATTN_TRY(sm90_make_map(&mq, "fused", dtype, q, B, H, S, D, bm));
    ATTN_TRY(sm90_make_map(&mk, "fused", dtype, k, B, Hkv, Sk, D, bn));
    ATTN_TRY(sm90_make_map(&mv, "fused", dtype, v, B, Hkv, Sk, D, bn));
    static int n_sm;
    if (!n_sm) {
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    }
    sm90_params p;
    p.o = o;
    p.lse = lse;
    p.H = H;
    p.Hkv = Hkv;
    p.S = S;
    p.Sk = Sk;
    p.causal = causal;
    p.n_m = (S + bm - 1) / bm;
    p.n_hb = B * H;
    if ((long long)p.n_m * p.n_hb > INT_MAX) return attn_fail("fused: too many query tiles");
    p.total = p.n_m * p.n_hb;
    /* causal section: as many (batch, head) pairs as keep their K and V within ~16 MB of L2 */
    const long long kv_bytes = 4LL * Sk * D;
    p.sec = (int)std::max(1LL, std::min((long long)p.n_hb, (16LL << 20) / kv_bytes * (H / Hkv)));
    p.scale = (float)(1.0 / sqrt((double)D));
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)D));
    p.v_lbo = bn * 128; /* N-major V: next 64 columns of D are one key tile further */
    p.v_sbo = 1024;     /* next 8 keys */
    const int blocks = std::min(p.total, n_sm); /* persistent: one block per SM, tiles from the queue */
    fn<<<blocks, 128 * (nwg + 1), smem, stream>>>(mq, mk, mv, p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* One forward pass (S queries and S keys); call attn_fused_sm90_setup for the same (dtype, D, nwg)
 * once before. */
int attn_fused_sm90_launch(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int causal,
                           const void *q, const void *k, const void *v, void *o, float *lse,
                           cudaStream_t stream)
{
    return attn_fused_sm90_launch_kv(dtype, D, nwg, B, H, Hkv, S, S, causal, q, k, v, o, lse, stream);
}

} // extern "C"
