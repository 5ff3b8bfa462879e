/* nystrom.cu — the small per-head kernels of the `nystrom` variant (variants/nystrom.c) between its
 * two attentions, on H' = B·H heads of m landmarks (1 ≤ m ≤ 256), row-major m×m fp32 matrices one
 * after another per head:
 *   A = softmax(s·Q̃·K̃ᵀ) in fp32 (one block per (head, row));
 *   Z₀ = Aᵀ/(max row sum · max column sum of |A|) per head (one block per head), the start of the
 *   pseudo-inverse iteration whose GEMMs are cuBLAS's;
 *   X ← c·I − X between those GEMMs (grid-stride, elementwise);
 *   Y = round_dtype(Z·W) (one block per (head, row)).
 * The landmarks Q̃, K̃ come from the segment-mean kernel of kernels/lowrank.cu. Materialises only
 * what the launchers are given. Limits: m ≤ 256, D + m ≤ 12288 (shared memory of one block).
 * Measured: kernels/NOTES-nystrom.md.
 *
 * The block-wide maxima are kernels/common.cuh's attn_block_reduce (a max is the same in any
 * order); the one block-wide sum, softmax's denominator, keeps its own tree (block_sum, which says
 * why). */
#include "common.cuh"
#include "core/error.h"
#include "core/problem.h"
#include "nystrom.h"

namespace {

constexpr int NY_THREADS = 256;

/* The sum of v over the block's NY_THREADS threads; every thread gets it. A halving tree in shared
 * memory: thread t adds t + 128 first (across warps), then t + 64, ... t + 1. attn_block_reduce
 * adds within each warp first and then the warps in order, another order of the same additions:
 * A's rows would change in their last bits, so this tree stays until a change of results is meant.
 * red: NY_THREADS floats, free again on return. */
__device__ float block_sum(float v, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int n = NY_THREADS / 2; n > 0; n /= 2) {
        if (threadIdx.x < n) red[threadIdx.x] += red[threadIdx.x + n];
        __syncthreads();
    }
    const float r = red[0];
    __syncthreads();
    return r;
}

/* Block (head h, row i): A[h][i][j] = softmax_j(scale · Σ_d Q̃[h][i][d]·K̃[h][j][d]); the dot
 * products in fp32 in the order of d. Dynamic shared memory: D + m floats. */
template <typename T>
__global__ void __launch_bounds__(NY_THREADS) ny_scores_kernel(const T *qt, const T *kt, float *A,
                                                               int m, int D, float scale)
{
    extern __shared__ float sh[];
    __shared__ float red_max[NY_THREADS / 32], red_sum[NY_THREADS];
    const size_t h = blockIdx.x;
    const int i = blockIdx.y;
    float *q = sh, *row = sh + D;
    for (int d = threadIdx.x; d < D; d += NY_THREADS) q[d] = (float)qt[(h * m + i) * D + d];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < m; j += NY_THREADS) {
        const T *k = kt + (h * m + j) * D;
        float s = 0.f;
        for (int d = 0; d < D; d++) s = fmaf(q[d], (float)k[d], s);
        row[j] = s * scale;
        mx = fmaxf(mx, row[j]);
    }
    mx = attn_block_reduce<NY_THREADS, ATTN_REDUCE_MAX>(mx, red_max);
    float sum = 0.f;
    for (int j = threadIdx.x; j < m; j += NY_THREADS) sum += row[j] = expf(row[j] - mx);
    sum = block_sum(sum, red_sum);
    for (int j = threadIdx.x; j < m; j += NY_THREADS) A[(h * m + i) * m + j] = row[j] / sum;
}

/* Block h: Z₀ = Aᵀ / (max_i Σ_j |A_ij| · max_j Σ_i |A_ij|) over this head's A. */
__global__ void __launch_bounds__(NY_THREADS) ny_pinv_init_kernel(const float *A, float *Z, int m)
{
    __shared__ float red_rows[NY_THREADS / 32], red_cols[NY_THREADS / 32];
    const size_t mm = (size_t)m * m;
    const float *a = A + blockIdx.x * mm;
    float *z = Z + blockIdx.x * mm;
    float rmax = 0.f, cmax = 0.f;
    for (int i = threadIdx.x; i < m; i += NY_THREADS) {
        float r = 0.f, c = 0.f;
        for (int j = 0; j < m; j++) {
            r += fabsf(a[(size_t)i * m + j]);
            c += fabsf(a[(size_t)j * m + i]);
        }
        rmax = fmaxf(rmax, r);
        cmax = fmaxf(cmax, c);
    }
    rmax = attn_block_reduce<NY_THREADS, ATTN_REDUCE_MAX>(rmax, red_rows);
    cmax = attn_block_reduce<NY_THREADS, ATTN_REDUCE_MAX>(cmax, red_cols);
    const float norm = rmax * cmax;
    for (size_t e = threadIdx.x; e < mm; e += NY_THREADS)
        z[e] = a[(e % m) * m + e / m] / norm;
}

/* Y = c·I − X elementwise over every head's m×m matrix (Y may be X). */
__global__ void ny_sub_identity_kernel(const float *X, float *Y, int m, size_t n, float c)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const size_t ij = e % ((size_t)m * m);
        Y[e] = (ij / m == ij % m ? c : 0.f) - X[e];
    }
}

/* Block (head h, row i): Y[h][i][d] = round_dtype(Σ_j Z[h][i][j]·W[h][j][d]), the sum in fp32 in
 * the order of j. Dynamic shared memory: m floats (Z's row). */
template <typename T>
__global__ void __launch_bounds__(128) ny_zw_kernel(const float *Z, const T *W, T *Y, int m, int D)
{
    extern __shared__ float zr[];
    const size_t h = blockIdx.x;
    const int i = blockIdx.y;
    for (int j = threadIdx.x; j < m; j += blockDim.x) zr[j] = Z[(h * m + i) * m + j];
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float s = 0.f;
        for (int j = 0; j < m; j++) s = fmaf(zr[j], (float)W[(h * m + j) * D + d], s);
        Y[(h * m + i) * D + d] = attn_from_float<T>(s);
    }
}

/* The grid of the per-(head, landmark row) kernels: heads in x (up to 2^31 − 1), m ≤ 256 in y. */
int ny_grid(int m, long heads, int D, dim3 *grid)
{
    if (m < 1 || m > 256 || heads < 1 || heads > 2147483647L || D < 1 || D + m > 12288)
        return attn_fail("nystrom: kernels need 1 <= m <= 256 and D + m <= 12288 "
                         "(m=%d, D=%d, %ld heads)", m, D, heads);
    *grid = dim3((unsigned)heads, (unsigned)m);
    return ATTN_OK;
}

} // namespace

/* A (fp32 [heads][m][m]) = softmax(scale · Q̃·K̃ᵀ) per head; Q̃, K̃ [heads][m][D] in dtype t. */
extern "C" int attn_nystrom_scores(attn_dtype t, int D, int m, long heads, const void *qt,
                                      const void *kt, float *A, float scale, cudaStream_t stream)
{
    dim3 grid;
    ATTN_TRY(ny_grid(m, heads, D, &grid));
    const size_t smem = (size_t)(D + m) * sizeof(float);
    attn_by_dtype(t, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
        ny_scores_kernel<T><<<grid, NY_THREADS, smem, stream>>>((const T *)qt, (const T *)kt, A, m, D,
                                                                scale);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* Z (fp32 [heads][m][m]) = the iteration's start from A, per head (see above). */
extern "C" int attn_nystrom_pinv_init(int m, long heads, const float *A, float *Z,
                                         cudaStream_t stream)
{
    dim3 grid;
    ATTN_TRY(ny_grid(m, heads, 1, &grid));
    ny_pinv_init_kernel<<<(unsigned)heads, NY_THREADS, 0, stream>>>(A, Z, m);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* Y = c·I − X for every head's m×m matrix; Y may be X. */
extern "C" int attn_nystrom_sub_identity(int m, long heads, float c, const float *X, float *Y,
                                            cudaStream_t stream)
{
    const size_t n = (size_t)heads * m * m;
    const unsigned blocks = attn_grid_blocks((long long)n, 256, ATTN_STRIDE_MAX_BLOCKS);
    ny_sub_identity_kernel<<<blocks, 256, 0, stream>>>(X, Y, m, n, c);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* Y ([heads][m][D], dtype t) = round_dtype(Z·W) per head; Z fp32 [heads][m][m], W [heads][m][D]. */
extern "C" int attn_nystrom_zw(attn_dtype t, int D, int m, long heads, const float *Z,
                                  const void *W, void *Y, cudaStream_t stream)
{
    dim3 grid;
    ATTN_TRY(ny_grid(m, heads, D, &grid));
    const size_t smem = (size_t)m * sizeof(float);
    attn_by_dtype(t, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
        ny_zw_kernel<T><<<grid, 128, smem, stream>>>(Z, (const T *)W, (T *)Y, m, D);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
