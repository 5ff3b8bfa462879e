/* lowrank.cu — the kernels of the `lowrank` variant (variants/lowrank.c) that are its own:
 *   - the seeded random projection matrices E and F (Linformer), generated on the device in
 *     prepare, outside timing;
 *   - the segment-mean pooling of two tensors in one launch: lowrank's proj=mean (K′, V′) and
 *     nystrom's landmarks (Q̃, K̃; kernels/nystrom.cu has nystrom's other kernels).
 * Everything else a run times is cuBLAS (the projection GEMMs; the cuBLAS attention path), the
 * softmax of kernels/softmax.cu or the flash kernels of kernels/fused*.cu with a separate key count.
 * Materialises only what the launchers are given. Measured: kernels/NOTES-lowrank.md.
 *
 * Generator: element i of the row-major [k][S] matrix of tensor id `tensor` is
 * round_dtype(attn_rng_value(seed, tensor, i) · scale) with scale = 1/sqrt(k) computed on the host
 * as a float: one IEEE float multiply and the round-to-nearest-even store, so the host
 * (variants/lowrank.c, cpu_rows) regenerates the very same values bit for bit, as
 * kernels/inputs.cu does for Q, K, V. One launch per matrix. */
#include "common.cuh"
#include "core/error.h"
#include "core/problem.h"
#include "core/rng.h"
#include "lowrank.h"

namespace {

template <typename T>
__global__ void proj_fill_kernel(T *dst, size_t n, uint64_t seed, int tensor, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = attn_from_float<T>(attn_rng_value(seed, tensor, i, 0, 1) * scale);
}

} // namespace

/* dst[i] for i < n (n = k·S) in dtype t, as described above. */
extern "C" int attn_lowrank_fill_proj(attn_dtype t, void *dst, size_t n, uint64_t seed, int tensor,
                                      float scale, cudaStream_t stream)
{
    const unsigned blocks = attn_grid_blocks((long long)n, 256, ATTN_STRIDE_MAX_BLOCKS);
    attn_by_dtype(t, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
        proj_fill_kernel<T><<<blocks, 256, 0, stream>>>((T *)dst, n, seed, tensor, scale);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* ---------------------------------------------------------------- segment means
 * Block (segment i, z = which·slices + slice): Y[i][d] = round(w_i · Σ_{s in segment i} X[s][d])
 * with segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋) and w_i = round_dtype(1/len_i) (round_w: the weight as
 * a dtype projection matrix holds it, proj=mean) or the float 1/len_i (nystrom's landmarks);
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
    g.w = a.round_w ? (float)attn_from_float<T>(inv) : inv;
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
                g.out[d0 + threadIdx.x] = attn_from_float<T>(t * g.w);
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
            g.out[col] = attn_from_float<T>(t * g.w);
        }
        __syncthreads();
    }
}

} // namespace

/* Segment means of two tensors in one launch (see above): y0 from x0 and y1 from x1, `slices`
 * output slices of k rows each. lowrank proj=mean: K → K′, V → V′ (group 1, round_w 1); nystrom:
 * Q → Q̃, K → K̃ per query head (group H/H_kv, round_w 0). Needs 1 ≤ k ≤ S. */
extern "C" int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, int group,
                                 int round_w, const void *x0, const void *x1, void *y0, void *y1,
                                 cudaStream_t stream)
{
    if (k < 1 || k > S || slices < 1 || group < 1)
        return attn_fail("lowrank: segment means need 1 <= k <= S (k=%d, S=%d)", k, S);
    const dim3 grid((unsigned)k, attn_grid_blocks(2LL * slices, 1, ATTN_MAX_GRID_YZ));
    const bool v16 = t != ATTN_FP32 && D % 8 == 0 && D <= 2048;
    attn_by_dtype(t, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
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
