/* lowrank.cu — the kernels of its own that the `lowrank` variant (variants/lowrank.c) needs: the
 * seeded random projection matrices E and F (Linformer), generated on the device in prepare,
 * outside timing. Everything timed is cuBLAS (the two projection GEMMs; the score/P·V GEMMs of the
 * fallback path), the softmax of kernels/softmax.cu (fallback path) or the flash kernel of
 * kernels/fused.cu with a separate key count (attn_fused_launch_kv).
 *
 * Generator: element i of the row-major [k][S] matrix of tensor id `tensor` is
 * round_dtype(attn_rng_value(seed, tensor, i) · scale) with scale = 1/sqrt(k) computed on the host
 * as a float: one IEEE float multiply and the round-to-nearest-even store, so the host
 * (variants/lowrank.c, cpu_rows) regenerates the very same values bit for bit, as harness/inputs.cu
 * does for Q, K, V. A few ms at k = 256, S = 65536; one launch per matrix.
 *
 * Also: the segment-mean pooling kernel (proj=mean's K′, V′; method=nystrom's landmarks Q̃, K̃),
 * described where it is defined below. H200, B=1 H=16 D=128 bf16, both projections, hot L2
 * (dev/lowrank driver): pooling 0.040 ms at S=16384 (3.4 TB/s), 0.13 ms at 65536 (4.2 TB/s).
 * And method=nystrom's small per-head kernels around its cuBLAS pseudo-inverse iteration (the
 * landmark softmax A, the iteration's start Z₀, X ← cI − X, Y = Z·W), at the end; not yet
 * measured. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "core/error.h"
#include "core/problem.h"
#include "core/rng.h"
#include "lowrank.h"

namespace {

template <typename T> __device__ T to_dtype(float x);
template <> __device__ float to_dtype<float>(float x) { return x; }
template <> __device__ __half to_dtype<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __nv_bfloat16 to_dtype<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* Calls f with a null pointer of the element type of dtype t (f's template parameter). */
template <typename F> void by_dtype(attn_dtype t, F f)
{
    switch (t) {
    case ATTN_FP16: f((__half *)nullptr); break;
    case ATTN_BF16: f((__nv_bfloat16 *)nullptr); break;
    default: f((float *)nullptr);
    }
}

/* Blocks of `threads` for a grid-stride loop over n elements (at least 1, at most 65536). */
int stride_blocks(size_t n, int threads)
{
    const size_t want = (n + threads - 1) / threads;
    return (int)(want < 65536 ? (want ? want : 1) : 65536);
}

template <typename T>
__global__ void proj_fill_kernel(T *dst, size_t n, uint64_t seed, int tensor, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = to_dtype<T>(attn_rng_value(seed, tensor, i, 0, 1) * scale);
}

} // namespace

/* dst[i] for i < n (n = k·S) in dtype t, as described above. */
extern "C" int attn_lowrank_fill_proj(attn_dtype t, void *dst, size_t n, uint64_t seed, int tensor,
                                      float scale, cudaStream_t stream)
{
    by_dtype(t, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        proj_fill_kernel<T><<<stride_blocks(n, 256), 256, 0, stream>>>((T *)dst, n, seed, tensor, scale);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* ---------------------------------------------------------------- segment means
 * Block (segment i, z = which·slices + slice): Y[i][d] = round(w_i · Σ_{s in segment i} X[s][d])
 * with segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋) and w_i = round_dtype(1/len_i) (round_w: the weight as
 * a dtype projection matrix holds it, proj=mean) or the float 1/len_i (method=nystrom's landmarks);
 * the sum in fp32 over row phases, then the phases in a fixed order. which = 0 reads x0's slice z,
 * which = 1 reads x1's slice z / group (group = H/H_kv: K̃ written once per query head). k ≤ S. */
namespace {

template <typename T> struct pool_args {
    const T *x0, *x1;
    T *y0, *y1;
    int S, D, k, slices, group, round_w;
};

/* The segment of block (i, z): its first input row, its output row, its length and weight. */
template <typename T> struct pool_seg {
    const T *X;
    T *out;
    int len;
    float w;
};

template <typename T> __device__ pool_seg<T> pool_segment(const pool_args<T> &a, int i, int z)
{
    const int which = z / a.slices, slice = z % a.slices;
    const long s0 = (long)i * a.S / a.k, s1 = (long)(i + 1) * a.S / a.k;
    pool_seg<T> g;
    g.len = (int)(s1 - s0);
    g.X = (which ? a.x1 + (size_t)(slice / a.group) * a.S * a.D : a.x0 + (size_t)slice * a.S * a.D) +
          (size_t)s0 * a.D;
    g.out = (which ? a.y1 : a.y0) + ((size_t)slice * a.k + i) * a.D;
    const float inv = 1.0f / (float)g.len;
    g.w = a.round_w ? (float)to_dtype<T>(inv) : inv;
    return g;
}

template <typename T> __global__ void __launch_bounds__(256) pool_kernel(pool_args<T> a)
{
    constexpr int NT = 256;
    __shared__ float red[NT];
    const int D = a.D;
    for (int z = blockIdx.y; z < 2 * a.slices; z += gridDim.y) {
        const pool_seg<T> g = pool_segment(a, blockIdx.x, z);
        /* columns in groups of up to NT; R = NT / cols row phases */
        for (int d0 = 0; d0 < D; d0 += NT) {
            const int cols = min(NT, D - d0), R = NT / cols;
            const int col = threadIdx.x % cols, ph = threadIdx.x / cols;
            float s = 0.f;
            if (ph < R)
                for (int r = ph; r < g.len; r += R) s += (float)g.X[(size_t)r * D + d0 + col];
            red[threadIdx.x] = ph < R ? s : 0.f;
            __syncthreads();
            if (threadIdx.x < cols) {
                float t = 0.f;
                for (int q = 0; q < R; q++) t += red[q * cols + threadIdx.x];
                g.out[d0 + threadIdx.x] = to_dtype<T>(t * g.w);
            }
            __syncthreads();
        }
    }
}

/* 16-byte path: D % 8 == 0 and 16-bit types; a thread sums 8 columns. */
template <typename T> __global__ void __launch_bounds__(256) pool16_kernel(pool_args<T> a)
{
    constexpr int NT = 256;
    __shared__ float red[NT * 8];
    const int D = a.D;
    const int C = D / 8; /* 16-byte chunks per row; D ≤ 2048 assumed by the launcher */
    const int R = NT / C, ch = threadIdx.x % C, ph = threadIdx.x / C;
    for (int z = blockIdx.y; z < 2 * a.slices; z += gridDim.y) {
        const pool_seg<T> g = pool_segment(a, blockIdx.x, z);
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (ph < R)
            for (int r = ph; r < g.len; r += R) {
                const uint4 u = *reinterpret_cast<const uint4 *>(g.X + (size_t)r * D + ch * 8);
                const T *h = reinterpret_cast<const T *>(&u);
#pragma unroll
                for (int j = 0; j < 8; j++) s[j] += (float)h[j];
            }
#pragma unroll
        for (int j = 0; j < 8; j++) red[threadIdx.x * 8 + j] = ph < R ? s[j] : 0.f;
        __syncthreads();
        for (int col = threadIdx.x; col < D; col += NT) {
            const int c8 = col / 8, j = col % 8;
            float t = 0.f;
            for (int q = 0; q < R; q++) t += red[(q * C + c8) * 8 + j];
            g.out[col] = to_dtype<T>(t * g.w);
        }
        __syncthreads();
    }
}

} // namespace

/* Segment means of two tensors in one launch (see above): y0 from x0 and y1 from x1, `slices`
 * output slices of k rows each. proj=mean: K → K′, V → V′ (group 1, round_w 1); method=nystrom:
 * Q → Q̃, K → K̃ per query head (group H/H_kv, round_w 0). Needs 1 ≤ k ≤ S. */
extern "C" int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, int group,
                                 int round_w, const void *x0, const void *x1, void *y0, void *y1,
                                 cudaStream_t stream)
{
    if (k < 1 || k > S || slices < 1 || group < 1)
        return attn_fail("lowrank: segment means need 1 <= k <= S (k=%d, S=%d)", k, S);
    const long z = 2L * slices;
    const dim3 grid((unsigned)k, (unsigned)(z < 65535 ? z : 65535));
    const bool v16 = t != ATTN_FP32 && D % 8 == 0 && D <= 2048;
    by_dtype(t, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        const pool_args<T> a = {(const T *)x0, (const T *)x1, (T *)y0, (T *)y1, S, D, k, slices,
                                group, round_w};
        if constexpr (sizeof(T) == 2)
            if (v16) {
                pool16_kernel<T><<<grid, 256, 0, stream>>>(a);
                return;
            }
        pool_kernel<T><<<grid, 256, 0, stream>>>(a);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* ---------------------------------------------------------------- Nyström (method=nystrom)
 * The small per-head pieces between the two fused attentions, on H' = B·H heads of m landmarks
 * (m ≤ 256): A = softmax(s·Q̃·K̃ᵀ) in fp32; Z₀ = Aᵀ/(max row sum · max column sum of |A|) per head;
 * X ← c·I − X between the pseudo-inverse iteration's cuBLAS GEMMs; Y = round_dtype(Z·W). Row-major
 * m×m fp32 matrices, one after another per head. */
namespace {

constexpr int NY_THREADS = 256;

/* The block-wide max (is_max) or sum of v over NY_THREADS threads; every thread gets it. */
__device__ float block_reduce(float v, bool is_max, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int n = NY_THREADS / 2; n > 0; n /= 2) {
        if (threadIdx.x < n) {
            const float o = red[threadIdx.x + n];
            red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], o) : red[threadIdx.x] + o;
        }
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
    __shared__ float red[NY_THREADS];
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
    mx = block_reduce(mx, true, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < m; j += NY_THREADS) sum += row[j] = expf(row[j] - mx);
    sum = block_reduce(sum, false, red);
    for (int j = threadIdx.x; j < m; j += NY_THREADS) A[(h * m + i) * m + j] = row[j] / sum;
}

/* Block h: Z₀ = Aᵀ / (max_i Σ_j |A_ij| · max_j Σ_i |A_ij|) over this head's A. */
__global__ void __launch_bounds__(NY_THREADS) ny_pinv_init_kernel(const float *A, float *Z, int m)
{
    __shared__ float red[NY_THREADS];
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
    const float norm = block_reduce(rmax, true, red) * block_reduce(cmax, true, red);
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
        Y[(h * m + i) * D + d] = to_dtype<T>(s);
    }
}

/* The grid of the per-(head, landmark row) kernels: heads in x (up to 2^31 − 1), m ≤ 256 in y. */
int ny_grid(int m, long heads, int D, dim3 *grid)
{
    if (m < 1 || m > 256 || heads < 1 || heads > 2147483647L || D < 1 || D + m > 12288)
        return attn_fail("lowrank: Nystrom kernels need 1 <= m <= 256 and D + m <= 12288 "
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
    by_dtype(t, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
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
    ny_sub_identity_kernel<<<stride_blocks(n, 256), 256, 0, stream>>>(X, Y, m, n, c);
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
    by_dtype(t, [&](auto tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        ny_zw_kernel<T><<<grid, 128, smem, stream>>>(Z, (const T *)W, (T *)Y, m, D);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
