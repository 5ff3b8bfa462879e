/* sparse.cu — variant `sparse` on the GPU: the tile selection (each method a few small kernels that
 * build the CSR of kept key tiles and the processing order on the device) and the portable
 * block-sparse flash-attention forward on mma.sync (sm_80+). The Hopper kernel is sparse_sm90.cu.
 *
 * Attention: one block per CSR row (batch, head, query tile of TILE rows), taken in `order` (most
 * kept tiles first) when given. The dense kernel of fused.cu restricted to the kept key tiles: Q
 * loaded once, K/V of the kept tiles double buffered with cp.async, S = Q·Kᵀ and O += P·V on
 * mma.sync m16n8k16 with fp32 accumulation, online softmax in fp32 with exp2 (log2 e folded into
 * the scale), P rounded to the dtype in registers. Only tiles that cross the causal diagonal or the
 * end of S are masked. V may be narrower than Q and K (DV < D: vprune); O is then written D wide,
 * each column from the compact product through v_where or 0. Materialises nothing of size S×S.
 * Limits: fp16/bf16; TILE 64 (4 warps) or 128 (8 warps); (D, DV) in (64, 64|32),
 * (128, 128|64|32); any S >= 1.
 *
 * Selection (sparse_rules.h has the rules; the CPU twin, variants/sparse_select.c, picks the same
 * tiles bit for bit) in two launches, after (topk/mass) one that pools Q and K tiles to fp32 means
 * at the rate Q and K stream from memory. First a block per (head, 16 query tiles) scores its rows
 * against every visible key tile (topk/mass: a blocked SIMT GEMM over the pooled means staged in
 * shared memory, into a [rows][n_tiles] scratch) and a warp per row finds the kept tiles without
 * sorting: the last rank key of the kept prefix from integer weights (1 per tile, or the mass
 * units), ties by tile index — up to 64 visible tiles from each tile's weight ranked before it,
 * past that by a 32-pass bitwise search over warp sums — and writes the kept tiles ascending over
 * the row's logits with the row's count. A last launch, a block per 64 rows, each reading every
 * count, writes row_ptr (the counts before its rows), order (rows by count, heaviest first, stable:
 * its rows' places from histograms of the counts) and col_idx. n_tiles is at most
 * ATTN_SPARSE_MAX_TILES. vprune: per (batch, KV head) the L2 norm of each V column (fp32, in
 * 256-row chunks summed in chunk order), the DV columns of largest norm kept (ties: lower column),
 * V gathered into a compact [B][Hkv][S][DV] tensor (both passes over V with 16-byte accesses, meant
 * to run at bandwidth); the attention kernels write O's pruned columns as zeros.
 * Launches: each selection kernel after the first, and on sm_90 the attention kernel after the
 * selection, is launched to overlap the drain of the kernel before (programmatic dependent launch,
 * common.cuh's attn_launch) and waits for it in attn_grid_wait before touching its output: the
 * launch gaps between the chain's kernels are hidden.
 * Measurements: kernels/NOTES-sparse.md. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <type_traits>

#include "common.cuh"
#include "core/error.h"
#include "mma_sm80.cuh"
#include "sparse.h"
#include "sparse_rules.h"

namespace {

/* ---------------------------------------------------------------- attention */

struct sparse_params {
    const void *q, *k, *v;
    void *o;
    const int *row_ptr, *col_idx, *order;
    const int *v_where; /* DV < D: [B·Hkv][D], O's column d = compact column v_where[d], or 0 */
    int H, Hkv, S, n_tiles, causal;
    float scale_log2;
};

template <typename T, int D, int DV, int TILE>
__global__ void __launch_bounds__(TILE * 2, 1) sparse_fwd_kernel(const sparse_params p)
{
    using ops = dtype_ops<T>;
    constexpr int NW = TILE / 16, BM = TILE, BN = TILE, NT = NW * 32;
    constexpr int KD = D / 16, NB = BN / 8, DB = DV / 8, CHV = DV / 8;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T *sQ = reinterpret_cast<T *>(smem_raw);
    T *sK = sQ + BM * D;
    T *sV = sK + 2 * BN * D;

    const int S = p.S;
    const int row = p.order ? p.order[blockIdx.x] : (int)blockIdx.x;
    const int qt = row % p.n_tiles, bh = row / p.n_tiles;
    const int h = bh % p.H, b = bh / p.H;
    const int hk = h / (p.H / p.Hkv);
    const T *gQ = static_cast<const T *>(p.q) + (size_t)bh * S * D;
    const T *gK = static_cast<const T *>(p.k) + ((size_t)b * p.Hkv + hk) * (size_t)S * D;
    const T *gV = static_cast<const T *>(p.v) + ((size_t)b * p.Hkv + hk) * (size_t)S * DV;
    T *gO = static_cast<T *>(p.o) + (size_t)bh * S * D;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int m0 = qt * BM;
    const int *cols = p.col_idx + p.row_ptr[row];
    const int n_kept = p.row_ptr[row + 1] - p.row_ptr[row];

    load_tile<T, D, BM, NT>(sQ, gQ, m0, S, tid);
    if (n_kept > 0) {
        load_tile<T, D, BN, NT>(sK, gK, cols[0] * BN, S, tid);
        load_tile<T, DV, BN, NT>(sV, gV, cols[0] * BN, S, tid);
    }
    cp_async_commit();

    uint32_t qf[KD][4];
    float o[DB][4];
#pragma unroll
    for (int i = 0; i < DB; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m_i[2] = {-INFINITY, -INFINITY};
    float l_i[2] = {0.f, 0.f};
    const int wrow0 = warp * 16;
    const int qrow_a = m0 + wrow0 + (lane >> 2), qrow_b = qrow_a + 8;
    const float sl2 = p.scale_log2;

    for (int j = 0; j < n_kept; j++) {
        const int buf = j & 1;
        if (j + 1 < n_kept) {
            load_tile<T, D, BN, NT>(sK + (buf ^ 1) * BN * D, gK, cols[j + 1] * BN, S, tid);
            load_tile<T, DV, BN, NT>(sV + (buf ^ 1) * BN * DV, gV, cols[j + 1] * BN, S, tid);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();

        if (j == 0) {
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                int r = wrow0 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], attn_smem_u32(sQ + swz<D>(r, c)));
            }
        }

        /* S = Q · K_jᵀ */
        const T *ks = sK + buf * BN * D;
        float s[NB][4];
#pragma unroll
        for (int i = 0; i < NB; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KD; kk++) {
#pragma unroll
            for (int pp = 0; pp < NB / 2; pp++) {
                int r = pp * 16 + (lane & 7) + ((lane >> 4) << 3);
                int c = kk * 2 + ((lane >> 3) & 1);
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, attn_smem_u32(ks + swz<D>(r, c)));
                ops::mma(s[2 * pp], qf[kk], b0, b1);
                ops::mma(s[2 * pp + 1], qf[kk], b2, b3);
            }
        }

        /* Mask only a tile that crosses the end of S or (causal) this warp's diagonal. */
        const int key0 = cols[j] * BN;
        if (key0 + BN > S || (p.causal && key0 + BN - 1 > m0 + wrow0)) {
#pragma unroll
            for (int nb = 0; nb < NB; nb++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = key0 + nb * 8 + 2 * (lane & 3) + (e & 1);
                    int qr = (e < 2) ? qrow_a : qrow_b;
                    if (key >= S || (p.causal && key > qr)) s[nb][e] = -INFINITY;
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

        /* O += P · V_j over the DV columns */
        const T *vs = sV + buf * BN * DV;
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            uint32_t pa[4];
            pa[0] = attn_pack2<T>(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = attn_pack2<T>(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = attn_pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = attn_pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int q = 0; q < DV / 16; q++) {
                int r = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
                int c = q * 2 + (lane >> 4);
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(b0, b1, b2, b3, attn_smem_u32(vs + swz<DV>(r, c)));
                ops::mma(o[2 * q], pa, b0, b1);
                ops::mma(o[2 * q + 1], pa, b2, b3);
            }
        }
        __syncthreads(); /* buffer `buf` is overwritten by the next iteration's loads */
    }
    cp_async_wait<0>();
    __syncthreads(); /* a row with no kept tile: sQ's copy has landed before it is reused */

    /* Epilogue: full row sums, normalise (0 for a row that saw no key), stage in sQ as [BM][DV]. */
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l_i[r] = attn_quad_reduce<ATTN_REDUCE_SUM>(l_i[r]);
        inv[r] = l_i[r] > 0.f ? 1.f / l_i[r] : 0.f;
    }
    const int ra = wrow0 + (lane >> 2), rb = ra + 8;
#pragma unroll
    for (int db = 0; db < DB; db++) {
        int off = 2 * (lane & 3);
        *reinterpret_cast<uint32_t *>(sQ + swz<DV>(ra, db) + off) =
            attn_pack2<T>(o[db][0] * inv[0], o[db][1] * inv[0]);
        *reinterpret_cast<uint32_t *>(sQ + swz<DV>(rb, db) + off) =
            attn_pack2<T>(o[db][2] * inv[1], o[db][3] * inv[1]);
    }
    __syncwarp();
    if constexpr (DV < D) {
        /* vprune: full rows of D columns, column d from staged column where[d] or 0, so O is final
         * here (no scatter pass); a lane stores the same 8 columns of each of its rows. */
        constexpr int CH = D / 8;
        const int c8 = lane % CH;
        const int *where = p.v_where + ((size_t)b * p.Hkv + hk) * D + c8 * 8;
        int j[8];
#pragma unroll
        for (int e = 0; e < 8; e++) j[e] = __ldg(where + e);
        const uint16_t *stg = reinterpret_cast<const uint16_t *>(sQ);
#pragma unroll
        for (int k = 0; k < 16 * CH / 32; k++) {
            const int r = wrow0 + (lane + 32 * k) / CH, gr = m0 + r;
            uint32_t w[4];
#pragma unroll
            for (int e = 0; e < 8; e += 2) {
                const uint32_t lo = j[e] < 0 ? 0u : stg[swz<DV>(r, j[e] >> 3) + (j[e] & 7)];
                const uint32_t hi = j[e + 1] < 0 ? 0u : stg[swz<DV>(r, j[e + 1] >> 3) + (j[e + 1] & 7)];
                w[e / 2] = lo | hi << 16;
            }
            if (gr < S)
                *reinterpret_cast<uint4 *>(gO + (size_t)gr * D + c8 * 8) = make_uint4(w[0], w[1], w[2], w[3]);
        }
    } else {
#pragma unroll
        for (int k = 0; k < 16 * CHV / 32; k++) {
            int i = lane + k * 32;
            int r = i / CHV, c = i % CHV;
            int gr = m0 + wrow0 + r;
            if (gr < S)
                *reinterpret_cast<uint4 *>(gO + (size_t)gr * DV + c * 8) =
                    *reinterpret_cast<const uint4 *>(sQ + swz<DV>(wrow0 + r, c));
        }
    }
}

typedef void (*sparse_fn)(const sparse_params);

template <typename T> sparse_fn pick_kernel(int D, int DV, int tile)
{
#define K(DD, DDV)                                                                              \
    if (D == DD && DV == DDV)                                                                   \
        return tile == 128 ? sparse_fwd_kernel<T, DD, DDV, 128> : sparse_fwd_kernel<T, DD, DDV, 64>;
    K(128, 128) K(128, 64) K(128, 32) K(64, 64) K(64, 32)
#undef K
    return nullptr;
}

sparse_fn lookup_kernel(int dtype, int D, int DV, int tile)
{
    if (tile != 64 && tile != 128) return nullptr;
    if (dtype == ATTN_FP16) return pick_kernel<__half>(D, DV, tile);
    if (dtype == ATTN_BF16) return pick_kernel<__nv_bfloat16>(D, DV, tile);
    return nullptr;
}

size_t kernel_smem(int D, int DV, int tile) { return (size_t)(3 * D + 2 * DV) * tile * 2; }

/* ---------------------------------------------------------------- selection */

/* sum[i] += value i of a 16-byte load of T (fp16 or bf16, widened exactly). */
template <typename T> __device__ __forceinline__ void add8(uint4 v, float *sum);
template <> __device__ __forceinline__ void add8<__nv_bfloat16>(uint4 v, float *sum)
{
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        sum[2 * i] += __uint_as_float(w[i] << 16);
        sum[2 * i + 1] += __uint_as_float(w[i] & 0xffff0000u);
    }
}
template <> __device__ __forceinline__ void add8<__half>(uint4 v, float *sum)
{
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w[i]));
        sum[2 * i] += f.x;
        sum[2 * i + 1] += f.y;
    }
}

/* Mean of each tile's rows (rows past S excluded), fp32, of Q [q_heads][S][D] into q_pool
 * [q_heads][n_tiles][D] and of K likewise, in one launch: a thread per (tensor, head, tile, 8
 * columns), 16-byte loads, each column summed in row order (the order the CPU twin sums in), then
 * times 1/rows. A thread issues POOL_BATCH rows' loads before it adds (106 registers, 2 blocks of
 * 256 per SM: 128 KB in flight per SM), so the kernel can run at the rate Q and K stream from
 * memory. blockDim.x = 256 (a multiple of D / 8). */
constexpr int POOL_BATCH = 16; /* rows whose loads a pooling thread has in flight at once */
template <typename T>
__global__ void __launch_bounds__(256, 2) pool_kernel(const T *q, const T *k, float *q_pool, float *k_pool, int q_heads,
                            int kv_heads, int S, int D, int tile, int n_tiles)
{
    const int groups = D / 8, g = threadIdx.x % groups;
    const long long unit = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / groups;
    const long long q_units = (long long)q_heads * n_tiles;
    if (unit >= q_units + (long long)kv_heads * n_tiles) return;
    const bool is_q = unit < q_units;
    const long long u = is_q ? unit : unit - q_units, head = u / n_tiles;
    const int t = (int)(u % n_tiles), len = min(tile, S - t * tile);
    const T *src = (is_q ? q : k) + ((size_t)head * S + (size_t)t * tile) * D + 8 * g;
    const uint4 *row = reinterpret_cast<const uint4 *>(src);
    const int stride = D / 8; /* uint4 per row */
    float sum[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    int r = 0;
    for (; r + POOL_BATCH <= len; r += POOL_BATCH) {
        uint4 v[POOL_BATCH]; /* all in flight: without the launch bound's room ptxas kept 2 */
#pragma unroll
        for (int i = 0; i < POOL_BATCH; i++) v[i] = __ldg(row + (size_t)(r + i) * stride);
#pragma unroll
        for (int i = 0; i < POOL_BATCH; i++) add8<T>(v[i], sum);
    }
    for (; r < len; r++) add8<T>(__ldg(row + (size_t)r * stride), sum);
    const float inv = 1.0f / (float)len;
    float4 *dst = reinterpret_cast<float4 *>((is_q ? q_pool : k_pool) + u * D + 8 * g);
    dst[0] = make_float4(sum[0] * inv, sum[1] * inv, sum[2] * inv, sum[3] * inv);
    dst[1] = make_float4(sum[4] * inv, sum[5] * inv, sum[6] * inv, sum[7] * inv);
}

struct select_params {
    int method, tile, n_tiles, causal, H, Hkv, S, D;
    double density;
    float tau, scale;
    unsigned long long seed;
    const float *q_pool, *k_pool;
    int *counts;
    int *cols_tmp; /* [rows][n_tiles]: the pooled logits (as float), then the kept tiles */
};

/* The fused score-and-select kernel: a block of SEL_THREADS takes SEL_ROWS consecutive query tiles
 * (rows) of one head, scores them (topk, mass) and selects each row's tiles, a warp per row. One
 * launch instead of a scoring and a selecting kernel, and the scoring's loads are issued a chunk
 * ahead so that a block waits for memory about once, not once per chunk. */
constexpr int SEL_ROWS = 16, SEL_THREADS = 512, SEL_WARPS = SEL_THREADS / 32;
static_assert(SEL_WARPS == SEL_ROWS, "a warp per row of the block");

/* Pooled logits of the block's rows, a blocked SIMT GEMM: per block of SC_TILES key tiles the
 * means staged in shared memory SC_DC columns at a time (transposed, so a warp reads 64 key tiles
 * of one column as a float2 each and 4 query tiles as one broadcast float4); each thread keeps
 * 4 × 2 dot products, each summed over d in order with fmaf (the CPU twin's order). A thread holds
 * the next chunk's loads (4 columns of SC_LOADS key tiles and maybe of a query tile) in registers
 * while the current chunk is multiplied. Writes the logit of every visible (row, tile) into
 * cols_tmp's row; ends with the block's barrier, after which `smem` is free and every logit is
 * visible to the block. */
constexpr int SC_TILES = 256, SC_DC = 32;
constexpr int SK_STEP = SEL_THREADS / (SC_DC / 4), SC_LOADS = SC_TILES / SK_STEP; /* 64 tiles, 4 times */
constexpr int SK_PITCH = SC_TILES + 2; /* the transposed stores 2-way conflicted (+ 4: 4-way) */
constexpr int SEL_SMEM_WORDS = SC_DC * (SEL_ROWS + SK_PITCH);
__device__ void score_rows(const select_params &p, int bh, int qt0, float *smem)
{
    float(*sq)[SEL_ROWS] = reinterpret_cast<float(*)[SEL_ROWS]>(smem);
    float(*sk)[SK_PITCH] = reinterpret_cast<float(*)[SK_PITCH]>(smem + SC_DC * SEL_ROWS);
    const int nt = p.n_tiles, D = p.D;
    const int n_keys = p.causal ? min(nt, qt0 + SEL_ROWS) : nt; /* tiles any of the rows sees */
    const int b = bh / p.H, hk = (bh % p.H) / (p.H / p.Hkv);
    const float *q = p.q_pool + (size_t)bh * nt * D;
    const float *k = p.k_pool + ((size_t)b * p.Hkv + hk) * nt * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int r0 = (warp >> 2) * 4, c0 = (warp & 3) * 64 + 2 * lane;
    /* the loads: thread i fetches columns 4·(i % 8) .. + 3 of key tiles i / 8 + 64·l (l < SC_LOADS)
     * and, i < 128, of query tile i / 8; 0 past the end */
    const int j4 = 4 * (threadIdx.x % (SC_DC / 4)), rt = threadIdx.x / (SC_DC / 4);
    const bool loads_q = rt < SEL_ROWS && qt0 + rt < nt;
    float4 vq = make_float4(0.f, 0.f, 0.f, 0.f), vk[SC_LOADS];
    auto fetch = [&](int t0, int d0) { /* offsets in 32 bits: a head's means are at most 1 MB */
        if (loads_q) vq = *reinterpret_cast<const float4 *>(q + ((qt0 + rt) * D + d0 + j4));
#pragma unroll
        for (int l = 0; l < SC_LOADS; l++)
            vk[l] = t0 + rt + l * SK_STEP < n_keys
                        ? *reinterpret_cast<const float4 *>(k + ((t0 + rt + l * SK_STEP) * D + d0 + j4))
                        : make_float4(0.f, 0.f, 0.f, 0.f);
    };
    fetch(0, 0);
    for (int t0 = 0; t0 < n_keys; t0 += SC_TILES) {
        float acc[4][2] = {{0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}};
        for (int d0 = 0; d0 < D; d0 += SC_DC) {
            if (rt < SEL_ROWS)
                sq[j4][rt] = vq.x, sq[j4 + 1][rt] = vq.y, sq[j4 + 2][rt] = vq.z, sq[j4 + 3][rt] = vq.w;
#pragma unroll
            for (int l = 0; l < SC_LOADS; l++) {
                float *to = &sk[j4][rt + l * SK_STEP];
                to[0] = vk[l].x, to[SK_PITCH] = vk[l].y, to[2 * (SK_PITCH)] = vk[l].z,
                to[3 * (SK_PITCH)] = vk[l].w;
            }
            __syncthreads();
            /* the next chunk: this key-tile block's next columns, or the next block's first */
            const bool last_dc = d0 + SC_DC == D;
            if (!last_dc || t0 + SC_TILES < n_keys) fetch(last_dc ? t0 + SC_TILES : t0, last_dc ? 0 : d0 + SC_DC);
            if (t0 + (warp & 3) * 64 < n_keys && qt0 + r0 < nt) { /* warp-uniform: any of its sums used */
#pragma unroll 4
                for (int d = 0; d < SC_DC; d++) {
                    const float4 a = *reinterpret_cast<const float4 *>(&sq[d][r0]);
                    const float2 c = *reinterpret_cast<const float2 *>(&sk[d][c0]);
                    const float qa[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        acc[i][0] = __fmaf_rn(qa[i], c.x, acc[i][0]);
                        acc[i][1] = __fmaf_rn(qa[i], c.y, acc[i][1]);
                    }
                }
            }
            __syncthreads(); /* the staging is refilled next (or becomes the selection's) */
        }
        float *logit = reinterpret_cast<float *>(p.cols_tmp);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int qt = qt0 + r0 + i;
            if (qt >= nt) break;
            const int vis = attn_sparse_visible(qt, nt, p.causal);
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const int t = t0 + c0 + j;
                if (t < vis)
                    logit[((size_t)bh * nt + qt) * nt + t] =
                        attn_sparse_logit(acc[i][j], p.scale, min(p.tile, p.S - t * p.tile));
            }
        }
    }
    __syncthreads(); /* the logits written above are read by other warps */
}

/* Sum over the warp, returned to every lane. */
__device__ __forceinline__ unsigned long long warp_sum(unsigned long long v)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* Row `row`'s kept tiles without sorting, by one warp, the row's rank keys (and mass units) in
 * key[], units[] (n_tiles words each, shared). The kept set is the shortest prefix of the ranking
 * (key descending, then tile ascending) whose weight reaches `need` (weight 1 and need = k for the
 * fixed-count methods; mass units and ceil(tau · total) for mass) — the tiles whose weight ranked
 * before them is below need — plus the forced tiles. Its last key T is the largest with
 * weight(key >= T) >= need. Up to SEL_RANK_TILES visible tiles each lane sums the weight ranked
 * before each of its tiles (vis comparisons a tile) and T is the smallest key of a kept one; past
 * that, where those comparisons grow as vis², T is found bit by bit from the top (32 passes of a
 * warp sum; weight(key >= x) only falls as x grows). Then the tiles with key > T are kept, and
 * those with key = T in tile order while the weight before them is below need − weight(key > T).
 * Integer weights make every sum exact, so both are the CPU twin's sorted prefix, tile for tile. */
constexpr int SEL_RANK_TILES = 64; /* 2 tiles a lane: 128 comparisons against 32 dependent passes */
template <bool MASS>
__device__ void select_row(const select_params &p, int row, unsigned *key, unsigned *units)
{
    const int lane = threadIdx.x & 31, nt = p.n_tiles;
    const int qt = row % nt, vis = attn_sparse_visible(qt, nt, p.causal);
    const bool pooled = p.method == ATTN_SPARSE_TOPK || p.method == ATTN_SPARSE_MASS;
    const int k = attn_sparse_keep_count(p.density, vis);
    float *logit = reinterpret_cast<float *>(p.cols_tmp) + (size_t)row * nt;
    float mx = -INFINITY;
    for (int t = lane; t < vis; t += 32) {
        float pr;
        if (pooled) {
            const float l = logit[t];
            units[t] = __float_as_uint(l);
            mx = fmaxf(mx, l);
            pr = (t == qt || t == 0) ? INFINITY : l;
        } else {
            pr = attn_sparse_static_priority(p.method, row, qt, t, k, p.causal, p.seed);
        }
        key[t] = attn_sparse_key(pr);
    }
    unsigned long long need = (unsigned long long)k;
    if (MASS) {
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        unsigned long long total = 0;
        for (int t = lane; t < vis; t += 32) {
            units[t] = attn_sparse_mass_units(__uint_as_float(units[t]), mx);
            total += units[t];
        }
        need = attn_sparse_mass_need(p.tau, warp_sum(total));
    }
    __syncwarp(); /* key[] and units[] are read across lanes from here on */
    unsigned T = 0;
    if (vis <= SEL_RANK_TILES) {
        T = ~0u; /* no kept tile (need 0): the largest key, as the search below finds */
        for (int t = lane; t < vis; t += 32) {
            const unsigned kt = key[t];
            std::conditional_t<MASS, unsigned long long, unsigned> w = 0; /* a count: 32 bits */
            for (int u = 0; u < vis; u++) {
                const unsigned ku = key[u];
                if (ku > kt || (ku == kt && u < t)) w += MASS ? units[u] : 1u;
            }
            if (w < need) T = min(T, kt);
        }
        T = __reduce_min_sync(0xffffffffu, T);
    } else {
        for (int bit = 31; bit >= 0; bit--) {
            const unsigned cand = T | (1u << bit);
            unsigned long long w = 0;
            for (int t = lane; t < vis; t += 32)
                if (key[t] >= cand) w += MASS ? units[t] : 1u;
            if (warp_sum(w) >= need) T = cand; /* warp-uniform */
        }
    }
    unsigned long long above = 0;
    for (int t = lane; t < vis; t += 32)
        if (key[t] > T) above += MASS ? units[t] : 1u;
    const unsigned long long rest = need - warp_sum(above); /* > 0: the key-T tiles hold the rest */
    /* every lane has read its logits (the warp sums synchronise it): the row now takes the tiles */
    int *out = p.cols_tmp + (size_t)row * nt, n = 0;
    const unsigned lane_lt = (1u << lane) - 1;
    unsigned long long before = 0; /* weight of the key-T tiles below this chunk */
    for (int t0 = 0; t0 < vis; t0 += 32) {
        const int t = t0 + lane;
        const unsigned kt = t < vis ? key[t] : 0;
        const unsigned long long w = t < vis && kt == T ? (MASS ? units[t] : 1u) : 0;
        unsigned long long incl = w;
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
            const unsigned long long y = __shfl_up_sync(0xffffffffu, incl, off);
            if (lane >= off) incl += y;
        }
        const bool keep = t < vis && (kt > T || (kt == T && before + incl - w < rest) || t == qt || t == 0);
        const unsigned bal = __ballot_sync(0xffffffffu, keep);
        if (keep) out[n + __popc(bal & lane_lt)] = t;
        n += __popc(bal);
        before += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) p.counts[row] = n;
    __syncwarp(); /* the warp's next row overwrites key[] and units[] */
}

/* Block (head, SEL_ROWS rows): topk/mass score the rows first (score_rows), then a warp per row
 * selects. The selection's 2·n_tiles words per warp share the scoring's staging and stay within
 * SEL_KEY_WORDS: every warp selects up to 256 tiles per row; past that fewer warps take the rows
 * in turn (2 at 2048 tiles, 8 rows each). */
constexpr int SEL_KEY_WORDS = 8192; /* 32 KB, the keys and units of 16 warps at 256 tiles */
static_assert(SEL_SMEM_WORDS >= SEL_KEY_WORDS, "the selection's words fit in the staging");
template <bool MASS>
__global__ void __launch_bounds__(SEL_THREADS, 2) select_kernel(const select_params p)
{
    __shared__ __align__(16) float smem[SEL_SMEM_WORDS];
    attn_grid_wait(); /* the pooling's means (topk, mass) */
    const int nt = p.n_tiles, groups = (nt + SEL_ROWS - 1) / SEL_ROWS;
    const int bh = blockIdx.x / groups, qt0 = (blockIdx.x % groups) * SEL_ROWS;
    if (p.method == ATTN_SPARSE_TOPK || p.method == ATTN_SPARSE_MASS) score_rows(p, bh, qt0, smem);
    const int warp = threadIdx.x >> 5, warps = min(SEL_WARPS, SEL_KEY_WORDS / (2 * nt));
    unsigned *key = reinterpret_cast<unsigned *>(smem) + (size_t)warp * 2 * nt;
    for (int qt = qt0 + warp; warp < warps && qt < min(nt, qt0 + SEL_ROWS); qt += warps)
        select_row<MASS>(p, bh * nt + qt, key, key + nt);
}

constexpr int FIN_ROWS = 64, FIN_THREADS = 1024; /* 8192 rows (S = 32k): 128 blocks, about one per SM */
static_assert(FIN_ROWS % 32 == 0, "a warp's 32 counts lie on one side of a block's first row");

/* Exclusive prefix sum over the block (blockDim.x = FIN_THREADS) of v; the block's total in
 * *total. Two barriers; warp_sums holds FIN_THREADS / 32 ints. */
__device__ __forceinline__ int block_exclusive_scan(int v, int *warp_sums, int *total)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int x = v;
    for (int off = 1; off < 32; off <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, off);
        if (lane >= off) x += y;
    }
    if (lane == 31) warp_sums[warp] = x;
    __syncthreads();
    int before = 0, all = 0;
    for (int w = 0; w < FIN_THREADS / 32; w++) {
        before += w < warp ? warp_sums[w] : 0;
        all += warp_sums[w];
    }
    __syncthreads();
    *total = all;
    return before + x - v;
}

/* row_ptr, order and col_idx from the rows' counts and kept tiles (cols_tmp), a block per FIN_ROWS
 * rows, no block depending on another (so one launch, spread over the SMs). Each
 * block reads every count: their sum before its first row is its row_ptr base, and its rows'
 * places in `order` (count descending, equal counts in row order: the twin's stable counting sort)
 * are the rows of a larger count, plus those of the same count before the block (both from
 * histograms of the counts, added per warp's distinct counts: integers, so the same in any order),
 * plus those of the same count earlier in the block. Then a warp per row copies its tiles. */
__global__ void __launch_bounds__(FIN_THREADS, 1) finish_kernel(const int *counts, const int *cols_tmp,
                                                                int rows, int n_tiles, int *row_ptr,
                                                                int *order, int *col_idx)
{
    __shared__ int n_of[ATTN_SPARSE_MAX_TILES + 1];     /* rows of count c, then of counts > c */
    __shared__ int n_before[ATTN_SPARSE_MAX_TILES + 1]; /* rows of count c before the block */
    __shared__ int mine[FIN_ROWS], at[FIN_ROWS];        /* the block's counts, their row_ptr */
    __shared__ int warp_sums[FIN_THREADS / 32];
    const int tid = threadIdx.x, lane = tid & 31, nb = n_tiles + 1;
    const int r0 = blockIdx.x * FIN_ROWS, n = min(FIN_ROWS, rows - r0);
    const unsigned lane_lt = (1u << lane) - 1;
    for (int c = tid; c < nb; c += FIN_THREADS) n_of[c] = 0, n_before[c] = 0;
    attn_grid_wait(); /* the select kernel's counts and tiles */
    if (tid < n) mine[tid] = counts[r0 + tid];
    __syncthreads();
    int sum = 0; /* this thread's share of the counts before r0 */
#pragma unroll 2 /* 2 loads in flight; the compiler's 4 spill at sm_80 */
    for (int i0 = 0; i0 < rows; i0 += FIN_THREADS) {
        /* a warp's 32 rows lie all before r0 or all from it on: r0 is a multiple of 32 */
        const int i = i0 + tid, c = i < rows ? counts[i] : -1 - lane; /* no match past the end */
        const unsigned peers = __match_any_sync(0xffffffffu, c);
        if (i < rows && (peers & lane_lt) == 0) {
            atomicAdd(&n_of[c], __popc(peers));
            if (i < r0) atomicAdd(&n_before[c], __popc(peers));
        }
        if (i < r0) sum += c;
    }
    int base;
    block_exclusive_scan(sum, warp_sums, &base); /* its barriers also settle the histograms */
    /* n_of[c] := rows of a count above c, bins from the top in FIN_THREADS-wide pieces */
    for (int b0 = 0, carry = 0, total; b0 < nb; b0 += FIN_THREADS) {
        const int c = n_tiles - (b0 + tid), v = c >= 0 ? n_of[c] : 0;
        const int above = carry + block_exclusive_scan(v, warp_sums, &total);
        if (c >= 0) n_of[c] = above; /* only this thread touches bin c */
        carry += total;
    }
    int all;
    const int off = block_exclusive_scan(tid < n ? mine[tid] : 0, warp_sums, &all);
    if (tid < n) {
        const int c = mine[tid];
        int same = 0;
        for (int j = 0; j < tid; j++) same += mine[j] == c;
        order[n_of[c] + n_before[c] + same] = r0 + tid;
        row_ptr[r0 + tid] = at[tid] = base + off;
    }
    if (tid == 0 && r0 + n == rows) row_ptr[rows] = base + all;
    __syncthreads();
    for (int r = tid >> 5; r < n; r += FIN_THREADS / 32) {
        const int *src = cols_tmp + (size_t)(r0 + r) * n_tiles;
        for (int j = lane; j < mine[r]; j += 32) col_idx[at[r] + j] = src[j];
    }
}

/* ---------------------------------------------------------------- vprune */

constexpr int NORM_CHUNK = 256; /* rows per partial column norm (variants/sparse_select.c's too) */
constexpr int NORM_PIECE = 64, GATHER_ROWS = 64, GATHER_THREADS = 256;

/* partial[head][chunk][d] = Σ v² over the chunk's rows (fmaf, in row order); block (chunk, head),
 * thread d sums column d. The pass reads all of V, so it must run at bandwidth: the chunk's rows
 * come in NORM_PIECE-row pieces by cp.async (8 loads of 16 bytes in flight per thread), double
 * buffered, and are summed from shared memory. */
template <typename T> __global__ void __launch_bounds__(128) colnorm_kernel(const T *v, float *partial, int S, int D)
{
    static_assert(sizeof(T) == 2, "8 elements per 16-byte copy");
    __shared__ __align__(16) T rows[2][NORM_PIECE * 128];
    const int chunk = blockIdx.x, head = blockIdx.y, n_chunks = gridDim.x, d = threadIdx.x;
    const int r0 = chunk * NORM_CHUNK, r1 = min(S, r0 + NORM_CHUNK);
    const T *src = v + (size_t)head * S * D;
    auto load = [&](int buf, int p0) { /* rows p0 .. of the chunk, D / 8 copies per row */
        const int n = min(NORM_PIECE, r1 - p0) * D / 8;
        for (int i = d; i < n; i += D) cp_async16(attn_smem_u32(&rows[buf][i * 8]), src + (size_t)p0 * D + i * 8, 16);
        cp_async_commit();
    };
    float sum = 0.f;
    load(0, r0);
    for (int p0 = r0, buf = 0; p0 < r1; p0 += NORM_PIECE, buf ^= 1) {
        if (p0 + NORM_PIECE < r1) load(buf ^ 1, p0 + NORM_PIECE);
        else cp_async_commit(); /* an empty group: wait<1> below still means "this piece landed" */
        cp_async_wait<1>();
        __syncthreads();
        const int n = min(NORM_PIECE, r1 - p0);
        for (int r = 0; r < n; r++) {
            const float x = (float)rows[buf][r * D + d];
            sum = __fmaf_rn(x, x, sum);
        }
        __syncthreads(); /* buffer `buf` is refilled by the next iteration's load */
    }
    partial[((size_t)head * n_chunks + chunk) * D + d] = sum;
}

/* Per head (block, D threads, D <= 128): norms summed over chunks in order; column d kept when
 * fewer than DV columns rank before it (larger norm, or equal norm and lower index); cols[head][j]
 * = the j-th kept column ascending, where[head][d] = j or -1. */
__global__ void keep_columns_kernel(const float *partial, int n_chunks, int D, int DV, int *cols,
                                    int *where)
{
    __shared__ float norm[128];
    __shared__ int keep[128];
    const int head = blockIdx.x, d = threadIdx.x;
    float sum = 0.f;
    for (int c = 0; c < n_chunks; c++) sum += partial[((size_t)head * n_chunks + c) * D + d];
    norm[d] = sum;
    __syncthreads();
    int rank = 0;
    for (int e = 0; e < D; e++) rank += attn_sparse_before(norm[e], e, sum, d);
    keep[d] = rank < DV;
    __syncthreads();
    int j = 0;
    for (int e = 0; e < d; e++) j += keep[e];
    where[(size_t)head * D + d] = keep[d] ? j : -1;
    if (keep[d]) cols[(size_t)head * DV + j] = d;
}

/* vc[head][s][j] = v[head][s][cols[head][j]]: a block per (GATHER_ROWS rows, head) copies the rows
 * into shared memory by cp.async (16-byte copies, all in flight; rows padded by 16 bytes against
 * bank conflicts), then writes each 8 kept columns as one 16-byte store. */
template <typename T>
__global__ void __launch_bounds__(GATHER_THREADS) gather_v_kernel(const T *v, const int *cols, T *vc, int S,
                                                                  int D, int DV)
{
    static_assert(sizeof(T) == 2, "8 elements per 16-byte access");
    extern __shared__ uint4 gather_rows[]; /* GATHER_ROWS × (D / 8 + 1) */
    __shared__ int kept[128];
    const int head = blockIdx.y, r0 = blockIdx.x * GATHER_ROWS, rows = min(GATHER_ROWS, S - r0);
    const int in8 = D / 8, out8 = DV / 8, pitch = in8 + 1;
    const uint4 *src = reinterpret_cast<const uint4 *>(v + ((size_t)head * S + r0) * D);
    for (int i = threadIdx.x; i < rows * in8; i += GATHER_THREADS)
        cp_async16(attn_smem_u32(gather_rows + i / in8 * pitch + i % in8), src + i, 16);
    cp_async_commit();
    for (int i = threadIdx.x; i < DV; i += GATHER_THREADS) kept[i] = cols[(size_t)head * DV + i];
    cp_async_wait<0>();
    __syncthreads();
    const uint16_t *tile = reinterpret_cast<const uint16_t *>(gather_rows);
    uint4 *dst = reinterpret_cast<uint4 *>(vc + ((size_t)head * S + r0) * DV);
    for (int i = threadIdx.x; i < rows * out8; i += GATHER_THREADS) {
        const uint16_t *row = tile + i / out8 * pitch * 8;
        const int *k = kept + i % out8 * 8;
        dst[i] = make_uint4(row[k[0]] | (uint32_t)row[k[1]] << 16, row[k[2]] | (uint32_t)row[k[3]] << 16,
                            row[k[4]] | (uint32_t)row[k[5]] << 16, row[k[6]] | (uint32_t)row[k[7]] << 16);
    }
}

/* attn_sparse_vprune_columns for dtype T. */
template <typename T>
int vprune_columns(int B, int Hkv, int S, int D, int DV, const void *v, void *scratch, int *cols, int *where,
                   void *vc, cudaStream_t stream)
{
    const int heads = B * Hkv, n_chunks = (S + NORM_CHUNK - 1) / NORM_CHUNK;
    float *partial = static_cast<float *>(scratch);
    colnorm_kernel<T><<<dim3(n_chunks, heads), D, 0, stream>>>((const T *)v, partial, S, D);
    CUDA_CHECK_LAUNCH();
    keep_columns_kernel<<<heads, D, 0, stream>>>(partial, n_chunks, D, DV, cols, where);
    CUDA_CHECK_LAUNCH();
    if (DV == D) return ATTN_OK; /* every column kept: V is used in place */
    const size_t smem = (size_t)GATHER_ROWS * (D / 8 + 1) * 16;
    gather_v_kernel<T><<<dim3((S + GATHER_ROWS - 1) / GATHER_ROWS, heads), GATHER_THREADS, smem, stream>>>(
        (const T *)v, cols, (T *)vc, S, D, DV);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

} // namespace

extern "C" {

int attn_sparse_mma_setup(int dtype, int D, int DV, int tile)
{
    sparse_fn fn = lookup_kernel(dtype, D, DV, tile);
    if (!fn) return attn_skip("sparse: no mma kernel for dtype %d D=%d DV=%d tile=%d", dtype, D, DV, tile);
    int dev, optin;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    const size_t smem = kernel_smem(D, DV, tile);
    if (smem > (size_t)optin)
        return attn_skip("sparse: tile %d needs %zu B of shared memory, device allows %d", tile, smem, optin);
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    return ATTN_OK;
}

int attn_sparse_mma_launch(const attn_sparse_args *a)
{
    sparse_fn fn = lookup_kernel(a->dtype, a->D, a->DV, a->tile);
    if (!fn) return attn_skip("sparse: no mma kernel for dtype %d D=%d DV=%d tile=%d", a->dtype, a->D, a->DV, a->tile);
    if (a->DV < a->D && !a->v_where) return attn_fail("sparse: DV %d < D %d without v_where", a->DV, a->D);
    sparse_params p;
    p.q = a->q, p.k = a->k, p.v = a->v, p.o = a->o;
    p.row_ptr = a->row_ptr, p.col_idx = a->col_idx, p.order = a->order;
    p.v_where = a->v_where;
    p.H = a->H, p.Hkv = a->Hkv, p.S = a->S, p.n_tiles = a->n_tiles, p.causal = a->causal;
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)a->D));
    const long long rows = (long long)a->B * a->H * a->n_tiles;
    fn<<<(unsigned)rows, a->tile * 2, kernel_smem(a->D, a->DV, a->tile), a->stream>>>(p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

size_t attn_sparse_select_scratch(int B, int H, int Hkv, int S, int D, int tile)
{
    const size_t nt = (size_t)(S + tile - 1) / tile, rows = (size_t)B * H * nt;
    return (size_t)(B * H + B * Hkv) * nt * D * sizeof(float) + (rows + rows * nt) * sizeof(int);
}

int attn_sparse_select_launch(const attn_sparse_select_args *a)
{
    const attn_sparse_args *g = a->geom;
    const int nt = g->n_tiles, rows = g->B * g->H * nt;
    if (nt > ATTN_SPARSE_MAX_TILES) return attn_fail("sparse: %d tiles per row, at most %d", nt, ATTN_SPARSE_MAX_TILES);
    if (g->D != 64 && g->D != 128) return attn_fail("sparse: selection for D 64 or 128, got %d", g->D);
    select_params p;
    p.method = a->method, p.tile = g->tile, p.n_tiles = nt, p.causal = g->causal;
    p.H = g->H, p.Hkv = g->Hkv, p.S = g->S, p.D = g->D;
    p.density = a->density, p.tau = a->tau, p.seed = a->seed;
    p.scale = (float)(1.0 / sqrt((double)g->D));
    char *s = static_cast<char *>(a->scratch);
    float *q_pool = reinterpret_cast<float *>(s), *k_pool = q_pool + (size_t)g->B * g->H * nt * g->D;
    p.q_pool = q_pool, p.k_pool = k_pool;
    p.counts = reinterpret_cast<int *>(k_pool + (size_t)g->B * g->Hkv * nt * g->D);
    p.cols_tmp = p.counts + rows;
    const bool mass = a->method == ATTN_SPARSE_MASS;
    if (a->method == ATTN_SPARSE_TOPK || mass) {
        const long long units = (long long)g->B * (g->H + g->Hkv) * nt * (g->D / 8);
        const unsigned blocks = attn_grid_blocks(units, 256, ATTN_MAX_GRID_X);
        const int qh = g->B * g->H, kh = g->B * g->Hkv;
        if (g->dtype == ATTN_BF16)
            pool_kernel<<<blocks, 256, 0, g->stream>>>((const __nv_bfloat16 *)g->q,
                                                       (const __nv_bfloat16 *)g->k, q_pool, k_pool,
                                                       qh, kh, g->S, g->D, g->tile, nt);
        else if (g->dtype == ATTN_FP16)
            pool_kernel<<<blocks, 256, 0, g->stream>>>((const __half *)g->q, (const __half *)g->k,
                                                       q_pool, k_pool, qh, kh, g->S, g->D, g->tile, nt);
        else
            return attn_fail("sparse: selection for fp16 or bf16, got dtype %d", g->dtype);
        CUDA_CHECK_LAUNCH();
    }
    /* Each kernel after the first overlaps the end of the one before (attn_launch). */
    const unsigned blocks = (unsigned)(g->B * g->H * ((nt + SEL_ROWS - 1) / SEL_ROWS));
    const int pooled = a->method == ATTN_SPARSE_TOPK || mass;
    void *select_args[] = {&p};
    CUDA_CHECK(attn_launch(mass ? (const void *)select_kernel<true> : (const void *)select_kernel<false>,
                           blocks, SEL_THREADS, 0, g->stream, pooled, select_args));
    CUDA_CHECK_LAUNCH();
    const int *counts = p.counts, *cols_tmp = p.cols_tmp;
    int rows_arg = rows, nt_arg = nt;
    int *row_ptr = a->row_ptr, *order = a->order, *col_idx = a->col_idx;
    void *finish_args[] = {&counts, &cols_tmp, &rows_arg, &nt_arg, &row_ptr, &order, &col_idx};
    CUDA_CHECK(attn_launch((const void *)finish_kernel, (unsigned)((rows + FIN_ROWS - 1) / FIN_ROWS),
                           FIN_THREADS, 0, g->stream, 1, finish_args));
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

size_t attn_sparse_vprune_scratch(int B, int Hkv, int S, int D)
{
    const size_t heads = (size_t)B * Hkv, n_chunks = (size_t)(S + NORM_CHUNK - 1) / NORM_CHUNK;
    return heads * n_chunks * D * sizeof(float) + heads * 2 * D * sizeof(int);
}

int attn_sparse_vprune_columns(int dtype, int B, int Hkv, int S, int D, int DV, const void *v,
                               void *scratch, int *cols, int *where, void *vc, cudaStream_t stream)
{
    if (dtype == ATTN_FP16) return vprune_columns<__half>(B, Hkv, S, D, DV, v, scratch, cols, where, vc, stream);
    if (dtype == ATTN_BF16)
        return vprune_columns<__nv_bfloat16>(B, Hkv, S, D, DV, v, scratch, cols, where, vc, stream);
    return attn_fail("sparse: vprune needs fp16 or bf16 (dtype %d)", dtype);
}

} // extern "C"
