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
 *  - Epilogue: 1/l, O staged in the Q buffer, 16-byte coalesced stores of rows < S. With DV < D
 *    (vprune: V compacted to its kept columns) the rows are stored D wide, each column taken from
 *    the staged compact row through v_where or written 0, so O is final when the kernel ends.
 * Materialises nothing of size S×S: reads Q once, K/V once per kept tile, writes O.
 *
 * DV = 32: P·V is wgmma m64n32k16, the V tiles have 64-byte rows, loaded by a 32-column TMA box
 * in the 64-byte swizzle that the P·V descriptors name (sm90_common.cuh).
 *
 * Limits: fp16/bf16; (D, DV) = (128, 128|64|32), (64, 64|32); tile 64 or 128; sm_90 only (the
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
    const int *v_where; /* DV < D: [B·Hkv][D], O's column d = compact column v_where[d], or 0 */
    int H, Hkv, S, causal, n_tiles, total; /* total: B·H·n_tiles rows */
    float scale_log2;
};

/* query tile = key tile = TILE; NWG = TILE / 64 consumer warpgroups; ring of 2 stages; per Q
 * buffer 3 ints: the row, its first entry in col_idx, its number of kept tiles */
template <int TILE, int D, int DV> using sparse_cfg = sm90_layout<TILE, TILE, D, DV, 2, 3>;

#ifdef ATTN_SM90_DEVICE
/* vprune's store of a warp's 16 staged rows (sm90_stage_o: the DV compact columns, 128-byte rows
 * in the 128-byte swizzle) as full rows of D columns with 16-byte coalesced writes: column d is
 * staged column where[d], or 0 (pruned). O leaves the kernel in its final layout, so no scatter
 * pass follows. A lane writes the same 8 columns of every row it stores (D / 8 divides 32), so it
 * reads its 8 entries of where once; an entry's staged offset is XOR-swizzled by the row. */
template <typename T, int D, int BM>
__device__ __forceinline__ void store_o_pruned(const unsigned char *stg, T *gO, const int *where, int m0, int S,
                                               int cw, int warp, int lane)
{
    constexpr int CH = D / 8;
    static_assert(32 % CH == 0, "a lane's columns must not change between its rows");
    const int c8 = lane % CH;
    int off[8]; /* block of 64 columns · BM rows + byte in a 128-byte row, or -1 */
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const int j = __ldg(where + c8 * 8 + e);
        off[e] = j < 0 ? -1 : (j / 64) * BM * 128 + (j % 64) * 2;
    }
#pragma unroll
    for (int k = 0; k < 16 * CH / 32; k++) {
        const int lr = cw * 64 + warp * 16 + (lane + 32 * k) / CH, gr = m0 + lr;
        uint32_t w[4];
#pragma unroll
        for (int e = 0; e < 8; e += 2) {
            const uint32_t lo = off[e] < 0 ? 0u : *reinterpret_cast<const uint16_t *>(stg + lr * 128 + (off[e] ^ ((lr & 7) << 4)));
            const uint32_t hi = off[e + 1] < 0 ? 0u : *reinterpret_cast<const uint16_t *>(stg + lr * 128 + (off[e + 1] ^ ((lr & 7) << 4)));
            w[e / 2] = lo | hi << 16;
        }
        if (gr < S) *reinterpret_cast<uint4 *>(gO + (size_t)gr * D + c8 * 8) = make_uint4(w[0], w[1], w[2], w[3]);
    }
    /* the staging reads are done: order them before the next TMA write of this buffer */
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
#endif

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
    const int wg = sm90_block_start(bar, NWG);
    const int tid = threadIdx.x & 127;
    attn_grid_wait(); /* the selection's CSR and order (when launched to overlap it) */

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
                sm90_load_q<C>(bar, sQ, qb, &tmQ, m * BM, h, b);
                for (int c = c0; c < c1; c++, kv++)
                    sm90_load_kv<C>(bar, sK, sV, kv, &tmK, &tmV, __ldg(p.col_idx + c) * BN, hk, b);
            }
        }
    } else {
        /* ---------------- consumers ---------------- */
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGS));
        const int cw = wg - 1;
        const int warp = tid >> 5, lane = tid & 31;
        const int g = lane >> 2, t = lane & 3;
        const float sl2 = p.scale_log2;
        /* N-major V: lbo the next 64 columns, sbo the next 8 keys (rows of 64 bytes at DV = 32) */
        constexpr uint32_t V_ROW = DV < 64 ? DV * 2 : 128;
        const uint32_t v_lbo = BN * V_ROW, v_sbo = 8 * V_ROW;

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
            T *gO = static_cast<T *>(p.o) + (size_t)hb * S * D;
            if constexpr (DV < D) {
                const int kvh = hb / p.H * p.Hkv + hb % p.H / (p.H / p.Hkv);
                store_o_pruned<T, D, BM>(stg, gO, p.v_where + (size_t)kvh * D, m0, S, cw, warp, lane);
            } else {
                sm90_store_o<T, DV, BM>(stg, gO, m0, S, cw, warp, lane);
            }
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
        L_TILES(__half, 128, 128) L_TILES(__half, 128, 64) L_TILES(__half, 128, 32)
        L_TILES(__half, 64, 64) L_TILES(__half, 64, 32)
    } else if (dtype == ATTN_BF16) {
        L_TILES(__nv_bfloat16, 128, 128) L_TILES(__nv_bfloat16, 128, 64) L_TILES(__nv_bfloat16, 128, 32)
        L_TILES(__nv_bfloat16, 64, 64) L_TILES(__nv_bfloat16, 64, 32)
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
        return attn_skip("sparse: no wgmma kernel for dtype %d D=%d DV=%d tile=%d (compiled: D 128 with DV 128, "
                         "64 or 32, D 64 with DV 64 or 32; tile 64 or 128; fp16, bf16)",
                         dtype, D, DV, tile);
    if (!attn_sparse_sm90_available()) return attn_skip("sparse: the wgmma kernel needs an sm_90 device");
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return ATTN_OK;
}

int attn_sparse_sm90_launch(const attn_sparse_args *a)
{
    int smem;
    sparse_fn fn = sparse_lookup(a->dtype, a->D, a->DV, a->tile, &smem);
    if (!fn)
        return attn_skip("sparse: no wgmma kernel for dtype %d D=%d DV=%d tile=%d", a->dtype, a->D, a->DV,
                         a->tile);
    if (a->S < 1 || a->n_tiles != (a->S + a->tile - 1) / a->tile || a->Hkv < 1 || a->H % a->Hkv)
        return attn_fail("sparse: bad shape (S %d, tile %d, n_tiles %d, H %d, Hkv %d)", a->S, a->tile, a->n_tiles,
                         a->H, a->Hkv);
    if (a->DV < a->D && !a->v_where) return attn_fail("sparse: DV %d < D %d without v_where", a->DV, a->D);
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
    p.v_where = a->v_where;
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
    void *args[] = {&mq, &mk, &mv, &p};
    CUDA_CHECK(attn_launch((const void *)fn, blocks, 128 * (nwg + 1), smem, a->stream, a->after_select, args));
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

} // extern "C"
