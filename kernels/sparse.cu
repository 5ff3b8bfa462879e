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
 * Selection (sparse_rules.h has the rules): topk/mass first pool Q and K tiles to fp32 means;
 * then one block per row ranks its visible tiles by priority (bitonic sort in shared memory, ties
 * by lower tile index), keeps the prefix the method says and writes the kept tiles ascending into a
 * [rows][n_tiles] scratch with the row's count; one block scans the counts into row_ptr and sorts
 * the rows by count (a stable counting sort, heaviest first) into order; a last kernel packs
 * col_idx. n_tiles is at most 4096. vprune: per (batch, KV head) the L2 norm of each V column
 * (fp32, in 256-row chunks summed in chunk order), the DV columns of largest norm kept (ties: lower
 * column), V gathered into a compact [B][Hkv][S][DV] tensor (both passes over V with 16-byte
 * accesses, meant to run at bandwidth); the attention kernels write O's pruned columns as zeros.
 * Measurements: kernels/NOTES-sparse.md. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

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

/* Mean of each tile's rows (rows past S excluded) of x [heads][S][D], fp32, into out
 * [heads][n_tiles][D]; block (tile, head), thread d sums its column in row order. */
template <typename T>
__global__ void pool_kernel(const T *x, float *out, int S, int D, int tile, int n_tiles)
{
    const int t = blockIdx.x, head = blockIdx.y;
    const int r0 = t * tile, len = min(tile, S - r0);
    const T *src = x + ((size_t)head * S + r0) * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float sum = 0.f;
        for (int r = 0; r < len; r++) sum += (float)src[(size_t)r * D + d];
        out[((size_t)head * n_tiles + t) * D + d] = sum * (1.0f / (float)len);
    }
}

struct select_params {
    int method, tile, n_tiles, n_pad, causal, H, Hkv, S, D;
    double density;
    float tau, scale;
    unsigned long long seed;
    const float *q_pool, *k_pool;
    int *counts, *cols_tmp;
};

/* (priority, tile) pairs sorted in place, first = attn_sparse_before's first; n a power of 2. */
__device__ void bitonic_sort(float *key, int *idx, int n)
{
    for (int size = 2; size <= n; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < n; i += blockDim.x) {
                const int j = i ^ stride;
                if (j <= i) continue;
                const bool ascending = (i & size) == 0; /* this pair's half sorts "first first" */
                const bool swap = ascending == !attn_sparse_before(key[i], idx[i], key[j], idx[j]);
                if (swap) {
                    float kf = key[i];
                    key[i] = key[j], key[j] = kf;
                    int ki = idx[i];
                    idx[i] = idx[j], idx[j] = ki;
                }
            }
            __syncthreads();
        }
}

/* The pooled logit of key tile kt for the query tile's mean q (sparse_rules.h). */
__device__ float pooled_logit(const select_params &p, const float *q, const float *kp, int kt)
{
    const float *k = kp + (size_t)kt * p.D;
    float dot = 0.f;
    for (int d = 0; d < p.D; d++) dot = __fmaf_rn(q[d], k[d], dot);
    return dot * p.scale + logf((float)min(p.tile, p.S - kt * p.tile));
}

/* How many of the sorted entries a row keeps (thread 0 only): k for the fixed-count methods, the
 * shortest prefix with estimated mass >= tau for mass; at least the forced tiles. */
__device__ int kept_prefix(const select_params &p, const float *logit, const int *idx, int vis,
                           int qt)
{
    const int forced = qt == 0 ? 1 : 2;
    int k = attn_sparse_keep_count(p.density, vis);
    if (p.method == ATTN_SPARSE_MASS) {
        float mx = -INFINITY, sum = 0.f, cum = 0.f;
        for (int t = 0; t < vis; t++) mx = fmaxf(mx, logit[t]);
        for (int t = 0; t < vis; t++) sum += expf(logit[t] - mx);
        for (k = 0; k < vis && cum < p.tau * sum;) cum += expf(logit[idx[k++]] - mx);
    }
    return max(k, forced);
}

/* One block per row (batch·head, query tile): rank, keep a prefix, write the kept tiles ascending
 * into cols_tmp[row][..] and their count. Shared: priorities, tiles, logits (n_pad each). */
__global__ void select_kernel(const select_params p)
{
    extern __shared__ float sel_smem[];
    float *prio = sel_smem, *logit = sel_smem + p.n_pad;
    int *idx = reinterpret_cast<int *>(logit + p.n_pad);
    __shared__ int kept;
    const int row = blockIdx.x, qt = row % p.n_tiles, bh = row / p.n_tiles;
    const int b = bh / p.H, hk = (bh % p.H) / (p.H / p.Hkv);
    const int vis = attn_sparse_visible(qt, p.n_tiles, p.causal);
    const int k = attn_sparse_keep_count(p.density, vis);
    const bool pooled = p.method == ATTN_SPARSE_TOPK || p.method == ATTN_SPARSE_MASS;
    const float *q = pooled ? p.q_pool + ((size_t)bh * p.n_tiles + qt) * p.D : nullptr;
    const float *kp = pooled ? p.k_pool + ((size_t)b * p.Hkv + hk) * p.n_tiles * p.D : nullptr;
    for (int t = threadIdx.x; t < p.n_pad; t += blockDim.x) {
        float pr = -INFINITY;
        if (t < vis && pooled) {
            logit[t] = pooled_logit(p, q, kp, t);
            pr = (t == qt || t == 0) ? INFINITY : logit[t];
        } else if (t < vis) {
            pr = attn_sparse_static_priority(p.method, row, qt, t, k, p.causal, p.seed);
        }
        prio[t] = pr;
        idx[t] = t;
    }
    __syncthreads();
    bitonic_sort(prio, idx, p.n_pad);
    if (threadIdx.x == 0) kept = kept_prefix(p, logit, idx, vis, qt);
    __syncthreads();
    /* flags by tile (prio reused), then warp 0 packs them in tile order */
    for (int i = threadIdx.x; i < p.n_pad; i += blockDim.x) prio[idx[i]] = i < kept ? 1.f : 0.f;
    __syncthreads();
    if (threadIdx.x >= 32) return;
    int *out = p.cols_tmp + (size_t)row * p.n_tiles, n = 0;
    for (int t0 = 0; t0 < vis; t0 += 32) {
        const int t = t0 + threadIdx.x;
        const unsigned bal = __ballot_sync(0xffffffffu, t < vis && prio[t] != 0.f);
        if (t < vis && prio[t] != 0.f) out[n + __popc(bal & ((1u << threadIdx.x) - 1))] = t;
        n += __popc(bal);
    }
    if (threadIdx.x == 0) p.counts[row] = n;
}

/* Exclusive prefix sum over the block (blockDim.x = SCAN_THREADS) of v; the block's total in
 * *total. Two barriers; warp_sums holds SCAN_THREADS / 32 ints. */
constexpr int SCAN_THREADS = 1024;
__device__ int block_exclusive_scan(int v, int *warp_sums, int *total)
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
    for (int w = 0; w < SCAN_THREADS / 32; w++) {
        before += w < warp ? warp_sums[w] : 0;
        all += warp_sums[w];
    }
    __syncthreads();
    *total = all;
    return before + x - v;
}

/* One block: row_ptr = exclusive scan of counts; order = rows by count descending, equal counts in
 * row order (stable counting sort; buckets[n_tiles + 1] in shared memory). */
__global__ void __launch_bounds__(SCAN_THREADS) scan_order_kernel(const int *counts, int rows,
                                                                  int n_tiles, int *row_ptr,
                                                                  int *order)
{
    extern __shared__ int bucket[]; /* n_tiles + 1 counts, then the cursors */
    __shared__ int warp_sums[SCAN_THREADS / 32];
    int carry = 0, total;
    for (int base = 0; base < rows; base += SCAN_THREADS) {
        const int i = base + threadIdx.x;
        const int v = i < rows ? counts[i] : 0;
        const int ex = block_exclusive_scan(v, warp_sums, &total);
        if (i < rows) row_ptr[i] = carry + ex;
        carry += total;
    }
    if (threadIdx.x == 0) row_ptr[rows] = carry;
    for (int c = threadIdx.x; c <= n_tiles; c += SCAN_THREADS) bucket[c] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < rows; i += SCAN_THREADS) atomicAdd(&bucket[counts[i]], 1);
    __syncthreads();
    /* cursor of count c = rows with a larger count: scan over c descending */
    carry = 0;
    for (int base = 0; base <= n_tiles; base += SCAN_THREADS) {
        const int c = n_tiles - (base + (int)threadIdx.x);
        const int v = c >= 0 ? bucket[c] : 0;
        const int ex = block_exclusive_scan(v, warp_sums, &total);
        if (c >= 0) bucket[c] = carry + ex; /* each thread rewrites only its own bucket */
        carry += total;
    }
    __syncthreads();
    if (threadIdx.x >= 32) return;
    const unsigned lane_lt = (1u << threadIdx.x) - 1;
    for (int base = 0; base < rows; base += 32) {
        const int i = base + threadIdx.x;
        const int c = i < rows ? counts[i] : -1 - (int)threadIdx.x; /* no match past the end */
        const unsigned peers = __match_any_sync(0xffffffffu, c);
        if (i < rows) order[bucket[c] + __popc(peers & lane_lt)] = i;
        __syncwarp();
        if (i < rows && (peers & lane_lt) == 0) bucket[c] += __popc(peers);
        __syncwarp();
    }
}

/* col_idx from the per-row scratch: a warp per row. */
__global__ void pack_kernel(const int *counts, const int *cols_tmp, const int *row_ptr, int rows,
                            int n_tiles, int *col_idx)
{
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const int *src = cols_tmp + (size_t)row * n_tiles;
    for (int j = threadIdx.x % 32; j < counts[row]; j += 32) col_idx[row_ptr[row] + j] = src[j];
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
    select_params p;
    p.method = a->method, p.tile = g->tile, p.n_tiles = nt, p.causal = g->causal;
    p.H = g->H, p.Hkv = g->Hkv, p.S = g->S, p.D = g->D;
    p.density = a->density, p.tau = a->tau, p.seed = a->seed;
    p.scale = (float)(1.0 / sqrt((double)g->D));
    for (p.n_pad = 1; p.n_pad < nt;) p.n_pad <<= 1;
    char *s = static_cast<char *>(a->scratch);
    float *q_pool = reinterpret_cast<float *>(s), *k_pool = q_pool + (size_t)g->B * g->H * nt * g->D;
    p.q_pool = q_pool, p.k_pool = k_pool;
    p.counts = reinterpret_cast<int *>(k_pool + (size_t)g->B * g->Hkv * nt * g->D);
    p.cols_tmp = p.counts + rows;
    if (a->method == ATTN_SPARSE_TOPK || a->method == ATTN_SPARSE_MASS) {
        const int threads = g->D;
        attn_by_dtype((attn_dtype)g->dtype, [&](auto tag) {
            using T = attn_elem_t<decltype(tag)>;
            pool_kernel<T><<<dim3(nt, g->B * g->H), threads, 0, g->stream>>>(
                (const T *)g->q, q_pool, g->S, g->D, g->tile, nt);
        });
        CUDA_CHECK_LAUNCH();
        attn_by_dtype((attn_dtype)g->dtype, [&](auto tag) {
            using T = attn_elem_t<decltype(tag)>;
            pool_kernel<T><<<dim3(nt, g->B * g->Hkv), threads, 0, g->stream>>>(
                (const T *)g->k, k_pool, g->S, g->D, g->tile, nt);
        });
        CUDA_CHECK_LAUNCH();
    }
    select_kernel<<<rows, 128, 3 * p.n_pad * sizeof(float), g->stream>>>(p);
    CUDA_CHECK_LAUNCH();
    scan_order_kernel<<<1, SCAN_THREADS, (nt + 1) * sizeof(int), g->stream>>>(
        p.counts, rows, nt, a->row_ptr, a->order);
    CUDA_CHECK_LAUNCH();
    pack_kernel<<<attn_grid_blocks(rows, 8, ATTN_MAX_GRID_X), 256, 0, g->stream>>>(
        p.counts, p.cols_tmp, a->row_ptr, rows, nt, a->col_idx);
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
