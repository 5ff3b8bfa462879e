/* sparse_sm90.cu — the Hopper (sm_90a) kernel of the block-sparse attention of kernels/sparse.h:
 * the machinery of kernels/fused_sm90.cu (wgmma, TMA, warp-specialised, persistent; shared parts in
 * kernels/sm90_common.cuh) driven by a per-(batch, head, query tile) CSR list of kept key tiles.
 *
 * Algorithm: a persistent grid; each block takes CSR rows (one query tile of one head) from a work
 * queue, in the caller's order (heaviest first) or the natural one. Block = 1 producer warpgroup +
 * NWG consumer warpgroups of 64 query rows each: tile 128 → NWG = 2 (query 128 × key 128), one
 * block per SM; tile 64 → NWG = 1 (64 × 64), two blocks per SM. K/V ring of 2 stages that runs on
 * across rows (the next row's first tiles load while this row ends); two Q buffers.
 *  - Producer (one thread): publishes the row in shared memory, loads its Q tile by TMA, then K_c,
 *    V_c (V with DV columns) of every kept tile c = col_idx[row_ptr[r] ..] into the ring.
 *  - Consumers: the dense kernel's steps over the kept tiles only: S = Q·K_cᵀ (wgmma, both from
 *    shared memory), masked element-wise only when tile c crosses the causal diagonal or the end of
 *    S, online softmax in fp32, P in registers as the A operand of O += P·V_c; S of a tile issued
 *    together with P·V of the previous one; with NWG = 2 the warpgroups take turns to issue
 *    (ping-pong). A row with no kept tile (or no visible key in them) outputs 0.
 *  - Epilogue: 1/l, O staged in the Q buffer, 16-byte coalesced stores of rows < S.
 * Materialises nothing of size S×S: reads Q once, K/V once per kept tile, writes O.
 *
 * Limits: fp16/bf16; (D, DV) = (128, 128), (128, 64), (64, 64); tile 64 or 128; sm_90 only (the
 * sm_80 pass sees empty kernels, never launched: setup skips other devices); one launch at a time
 * per device (the queue counter is a device global). Shared memory per block: 193 KB at tile 128
 * and D = 128. Measurements: kernels/NOTES-sparse.md, section "sm90 kernel". */
#include <limits.h>

#include <algorithm>

#include "sm90_common.cuh"
#include "sparse.h"

/* The work queue of the sparse kernels (sm90_queue_take resets it at the end of every launch). */
__device__ unsigned int attn_sparse_sm90_next_row, attn_sparse_sm90_blocks_done;

namespace {

struct sparse_params {
    void *o;
    const int *row_ptr, *col_idx, *order;
    int H, Hkv, S, causal, n_tiles, total; /* total: B·H·n_tiles rows */
    float scale_log2;
};

/* query tile = key tile = TILE; NWG = TILE / 64 consumer warpgroups; ring of 2 stages; per Q
 * buffer 3 ints: the row, its first entry in col_idx, its number of kept tiles */
template <int TILE, int D, int DV> using sparse_cfg = sm90_layout<TILE, TILE, D, DV, 2, 3>;

template <typename T, int D, int DV, int TILE>
__global__ void __launch_bounds__(128 * (TILE / 64 + 1), TILE == 64 ? 2 : 1)
    sparse_sm90_kernel(const __grid_constant__ CUtensorMap tmQ, const __grid_constant__ CUtensorMap tmK,
                       const __grid_constant__ CUtensorMap tmV, const sparse_params p)
{
#ifdef ATTN_SM90_DEVICE
    using C = sparse_cfg<TILE, D, DV>;
    constexpr int NWG = TILE / 64, BM = C::BM, BN = C::BN, ST = C::STAGES;
    /* register split after setmaxnreg: 128·(producer + NWG·consumer) <= 64K / blocks per SM */
    constexpr int PRODUCER_REGS = 24, CONSUMER_REGS = NWG == 2 ? 240 : 232;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = (attn_smem_u32(smem_raw) + 1023u) & ~1023u;
    unsigned char *gbase = smem_raw + (base - attn_smem_u32(smem_raw));
    volatile int *slot = reinterpret_cast<volatile int *>(gbase + C::OFF_SLOT); /* 3 ints per Q buffer */
    const uint32_t sK = base + C::OFF_K, sV = base + C::OFF_V;
    const sm90_bars<ST> bar{base + C::OFF_BAR};
    const int S = p.S;
    /* warpgroup index, warp-uniform for the compiler (branches around wgmma stay convergent) */
    const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
    const int tid = threadIdx.x & 127;

    if (threadIdx.x == 0) bar.init(NWG);
    __syncthreads();

    if (wg == 0) {
        /* ---------------- producer: takes rows from the queue until it is empty ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGS));
        if (tid == 0) {
            int kv = 0; /* key tiles loaded so far: ring stage kv % ST, phase (kv / ST) & 1 */
            for (int it = 0;; it++) {
                const int qb = it & 1;
                if (it >= 2) mbar_wait(bar.q_empty(qb), (uint32_t)(((it >> 1) - 1) & 1));
                const int t = sm90_queue_take(&attn_sparse_sm90_next_row);
                if (t >= p.total) {
                    slot[3 * qb] = -1; /* releases the consumers: no more rows */
                    mbar_arrive(bar.tile_full(qb));
                    sm90_queue_leave(&attn_sparse_sm90_next_row, &attn_sparse_sm90_blocks_done);
                    break;
                }
                const int r = p.order ? __ldg(p.order + t) : t;
                const int hb = r / p.n_tiles, m = r - hb * p.n_tiles;
                const int h = hb % p.H, b = hb / p.H, hk = h / (p.H / p.Hkv);
                const int c0 = __ldg(p.row_ptr + r), c1 = __ldg(p.row_ptr + r + 1);
                const uint32_t sQ = base + qb * C::Q_BYTES;
                slot[3 * qb] = r;
                slot[3 * qb + 1] = c0;
                slot[3 * qb + 2] = c1 - c0;
                mbar_arrive(bar.tile_full(qb));
                mbar_expect_tx(bar.q_full(qb), C::Q_BYTES);
#pragma unroll
                for (int db = 0; db < D / 64; db++)
                    tma_load4(sQ + db * BM * 128, &tmQ, bar.q_full(qb), db * 64, m * BM, h, b);
                for (int c = c0; c < c1; c++, kv++) {
                    const int s = kv % ST, key0 = __ldg(p.col_idx + c) * BN;
                    const uint32_t ph = (uint32_t)((kv / ST) & 1);
                    mbar_wait(bar.empty_k(s), ph ^ 1);
                    mbar_expect_tx(bar.full_k(s), C::K_BYTES);
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sK + s * C::K_BYTES + db * BN * 128, &tmK, bar.full_k(s), db * 64, key0, hk, b);
                    mbar_wait(bar.empty_v(s), ph ^ 1);
                    mbar_expect_tx(bar.full_v(s), C::V_BYTES);
#pragma unroll
                    for (int db = 0; db < DV / 64; db++)
                        tma_load4(sV + s * C::V_BYTES + db * BN * 128, &tmV, bar.full_v(s), db * 64, key0, hk, b);
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
        const uint32_t v_lbo = BN * 128, v_sbo = 1024; /* N-major V: next 64 columns, next 8 keys */

        float o[DV / 2];
        float s[BN / 2];
        uint32_t pf[BN / 16][4];
        int kv = 0; /* key tiles consumed so far (the producer's ring position) */
        for (int it = 0;; it++) {
            const int qb = it & 1;
            mbar_wait(bar.tile_full(qb), (uint32_t)((it >> 1) & 1));
            const int r = slot[3 * qb];
            if (r < 0) break;
            mbar_wait(bar.q_full(qb), (uint32_t)((it >> 1) & 1));
            const int hb = r / p.n_tiles, m = r - hb * p.n_tiles;
            const int c0 = slot[3 * qb + 1], n = slot[3 * qb + 2];
            const int m0 = m * BM;
            const int wg_row0 = m0 + cw * 64;
            const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;
            const uint32_t sQ = base + qb * C::Q_BYTES;
#pragma unroll
            for (int i = 0; i < DV / 2; i++) o[i] = 0.f;
            float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};
            if (n > 0) { /* (every warpgroup of the block sees the same n: the turns stay paired) */
                int key0 = 0;
                auto next = [&](int j) { key0 = __ldg(p.col_idx + c0 + j) * BN; };
                auto mask = [&](int) { sm90_mask<BN>(s, key0, S, p.causal, wg_row0, row_a, row_b, t); };
                sm90_walk_tiles<T, C, NWG>(bar, kv, n, n, sQ, sK, sV, v_lbo, v_sbo, cw, lane, sl2, o, s, pf, m_i,
                                           l_i, next, mask);
                kv += n;
            }

            /* epilogue: O staged in this warpgroup's own rows of the Q buffer, then stored */
            float inv[2];
            sm90_row_sums(l_i, inv);
            named_sync(1 + NWG + cw, 128); /* every warp of this warpgroup is done reading its Q rows */
            unsigned char *stg = gbase + qb * C::Q_BYTES;
            sm90_stage_o<T, DV, BM>(o, inv, stg, cw, warp, g, t);
            T *gO = static_cast<T *>(p.o) + (size_t)hb * S * DV;
            sm90_store_o<T, DV, BM>(stg, gO, m0, S, cw, warp, lane);
            mbar_arrive(bar.q_empty(qb));
        }
    }
#endif /* ATTN_SM90_DEVICE */
}

typedef void (*sparse_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const sparse_params);

/* The kernel of (dtype, D, DV, tile) and its shared memory, or nullptr when none is compiled. */
sparse_fn sparse_lookup(int dtype, int D, int DV, int tile, int *smem)
{
#define L(T, DD, DDV, TT)                                               \
    if (D == DD && DV == DDV && tile == TT) {                           \
        *smem = sparse_cfg<TT, DD, DDV>::SMEM;                          \
        return sparse_sm90_kernel<T, DD, DDV, TT>;                      \
    }
#define L_TILES(T, DD, DDV) L(T, DD, DDV, 128) L(T, DD, DDV, 64)
    if (dtype == ATTN_FP16) {
        L_TILES(__half, 128, 128) L_TILES(__half, 128, 64) L_TILES(__half, 64, 64)
    } else if (dtype == ATTN_BF16) {
        L_TILES(__nv_bfloat16, 128, 128) L_TILES(__nv_bfloat16, 128, 64) L_TILES(__nv_bfloat16, 64, 64)
    }
#undef L_TILES
#undef L
    return nullptr;
}

} // namespace

extern "C" {

int attn_sparse_sm90_available(void) { return sm90_device_ok(); }

int attn_sparse_sm90_setup(int dtype, int D, int DV, int tile)
{
    int smem;
    sparse_fn fn = sparse_lookup(dtype, D, DV, tile, &smem);
    if (!fn)
        return attn_skip("sparse: no wgmma kernel for dtype %d D=%d DV=%d tile=%d (compiled: D 128 with DV 128 "
                         "or 64, D 64 with DV 64; tile 64 or 128; fp16, bf16)",
                         dtype, D, DV, tile);
    if (!attn_sparse_sm90_available()) return attn_skip("sparse: the wgmma kernel needs an sm_90 device");
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return ATTN_OK;
}

int attn_sparse_sm90_launch(const attn_sparse_args *a)
{
    int smem;
    sparse_fn fn = sparse_lookup(a->dtype, a->D, a->DV, a->tile, &smem);
    if (!fn) return attn_skip("sparse: no wgmma kernel for dtype %d D=%d DV=%d tile=%d", a->dtype, a->D, a->DV, a->tile);
    if (a->S < 1 || a->n_tiles != (a->S + a->tile - 1) / a->tile || a->Hkv < 1 || a->H % a->Hkv)
        return attn_fail("sparse: bad shape (S %d, tile %d, n_tiles %d, H %d, Hkv %d)", a->S, a->tile, a->n_tiles,
                         a->H, a->Hkv);
    const long long total = (long long)a->B * a->H * a->n_tiles;
    if (total > INT_MAX) return attn_fail("sparse: too many query tiles");
    CUtensorMap mq, mk, mv;
    ATTN_TRY(sm90_make_map(&mq, "sparse", a->dtype, a->q, a->B, a->H, a->S, a->D, a->tile));
    ATTN_TRY(sm90_make_map(&mk, "sparse", a->dtype, a->k, a->B, a->Hkv, a->S, a->D, a->tile));
    ATTN_TRY(sm90_make_map(&mv, "sparse", a->dtype, a->v, a->B, a->Hkv, a->S, a->DV, a->tile));
    static int n_sm;
    if (!n_sm) {
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    }
    sparse_params p;
    p.o = a->o;
    p.row_ptr = a->row_ptr;
    p.col_idx = a->col_idx;
    p.order = a->order;
    p.H = a->H;
    p.Hkv = a->Hkv;
    p.S = a->S;
    p.causal = a->causal;
    p.n_tiles = a->n_tiles;
    p.total = (int)total;
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)a->D));
    const int per_sm = a->tile == 64 ? 2 : 1; /* persistent: every block resident at once */
    const int blocks = (int)std::min(total, (long long)n_sm * per_sm);
    const int nwg = a->tile / 64;
    fn<<<blocks, 128 * (nwg + 1), smem, a->stream>>>(mq, mk, mv, p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

} // extern "C"
