/* lowrank.cu — the kernels of its own that the `lowrank` variant (variants/lowrank.c) needs: the
 * seeded random projection matrices E and F (Linformer), generated on the device in prepare,
 * outside timing. Everything timed is cuBLAS (the two projection GEMMs; the score/P·V GEMMs of the
 * fallback path), the softmax of kernels/cublas.cu (fallback path) or the flash kernel of
 * kernels/fused.cu with a separate key count (attn_fused_launch_kv).
 *
 * Generator: element i of the row-major [k][S] matrix of tensor id `tensor` is
 * round_dtype(attn_rng_value(seed, tensor, i) · scale) with scale = 1/sqrt(k) computed on the host
 * as a float: one IEEE float multiply and the round-to-nearest-even store, so the host
 * (variants/lowrank.c, cpu_rows) regenerates the very same values bit for bit, as harness/inputs.cu
 * does for Q, K, V. A few ms at k = 256, S = 65536; one launch per matrix.
 *
 * Also: the segment-mean pooling kernel (proj=mean), described where it is defined below. H200,
 * B=1 H=16 D=128 bf16, both projections, hot L2 (dev/lowrank driver):
 * pooling 0.040 ms at S=16384 (3.4 TB/s), 0.13 ms at 65536 (4.2 TB/s). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "error.h"
#include "problem.h"
#include "rng.h"

namespace {

template <typename T> __device__ T to_dtype(float x);
template <> __device__ float to_dtype<float>(float x) { return x; }
template <> __device__ __half to_dtype<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __nv_bfloat16 to_dtype<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

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
    const int threads = 256;
    const size_t want = (n + threads - 1) / threads;
    const int blocks = (int)(want < 65536 ? (want ? want : 1) : 65536);
    switch (t) {
    case ATTN_FP16:
        proj_fill_kernel<<<blocks, threads, 0, stream>>>((__half *)dst, n, seed, tensor, scale);
        break;
    case ATTN_BF16:
        proj_fill_kernel<<<blocks, threads, 0, stream>>>((__nv_bfloat16 *)dst, n, seed, tensor, scale);
        break;
    default: proj_fill_kernel<<<blocks, threads, 0, stream>>>((float *)dst, n, seed, tensor, scale);
    }
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* ---------------------------------------------------------------- segment means (proj=mean)
 * Block (segment i, z = which·slices + slice): X′[i][d] = round(w_i · Σ_{s in segment i} X[s][d])
 * with segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋) and w_i = round_dtype(1/len_i) (the weight as the
 * dtype holds it); the sum in fp32 over row phases, then the phases in a fixed order. k ≤ S. */
namespace {

template <typename T>
__global__ void __launch_bounds__(256) pool_kernel(const T *K, const T *V, T *kp, T *vp, int S, int D,
                                                   int k, int slices)
{
    constexpr int NT = 256;
    __shared__ float red[NT];
    const int i = blockIdx.x, z = blockIdx.y, which = z / slices, slice = z % slices;
    const long a = (long)i * S / k, e = (long)(i + 1) * S / k;
    const int len = (int)(e - a);
    const T *X = (which ? V : K) + ((size_t)slice * S + a) * D;
    T *out = (which ? vp : kp) + ((size_t)slice * k + i) * D;
    const float w = (float)to_dtype<T>(1.0f / (float)len);
    /* columns in groups of up to NT; R = NT / cols row phases */
    for (int d0 = 0; d0 < D; d0 += NT) {
        const int cols = min(NT, D - d0), R = NT / cols;
        const int col = threadIdx.x % cols, ph = threadIdx.x / cols;
        float s = 0.f;
        if (ph < R)
            for (int r = ph; r < len; r += R) s += (float)X[(size_t)r * D + d0 + col];
        red[threadIdx.x] = ph < R ? s : 0.f;
        __syncthreads();
        if (threadIdx.x < cols) {
            float t = 0.f;
            for (int q = 0; q < R; q++) t += red[q * cols + threadIdx.x];
            out[d0 + threadIdx.x] = to_dtype<T>(t * w);
        }
        __syncthreads();
    }
}

/* 16-byte path: D % 8 == 0 and 16-bit types; a thread sums 8 columns. */
template <typename T>
__global__ void __launch_bounds__(256) pool16_kernel(const T *K, const T *V, T *kp, T *vp, int S, int D,
                                                     int k, int slices)
{
    constexpr int NT = 256;
    __shared__ float red[NT * 8];
    const int i = blockIdx.x, z = blockIdx.y, which = z / slices, slice = z % slices;
    const long a = (long)i * S / k, e = (long)(i + 1) * S / k;
    const int len = (int)(e - a);
    const T *X = (which ? V : K) + ((size_t)slice * S + a) * D;
    T *out = (which ? vp : kp) + ((size_t)slice * k + i) * D;
    const float w = (float)to_dtype<T>(1.0f / (float)len);
    const int C = D / 8; /* 16-byte chunks per row; D ≤ 2048 assumed by the launcher */
    const int R = NT / C, ch = threadIdx.x % C, ph = threadIdx.x / C;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (ph < R)
        for (int r = ph; r < len; r += R) {
            const uint4 u = *reinterpret_cast<const uint4 *>(X + (size_t)r * D + ch * 8);
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
        out[col] = to_dtype<T>(t * w);
    }
}

} // namespace

/* Segment-mean projections of K and V (proj=mean), one launch; needs 1 ≤ k ≤ S. */
extern "C" int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, const void *kk,
                                 const void *vv, void *kp, void *vp, cudaStream_t stream)
{
    if (k < 1 || k > S || 2L * slices > 65535)
        return attn_fail("lowrank: segment means need 1 <= k <= S (k=%d, S=%d) and <= 32767 slices", k, S);
    const dim3 grid((unsigned)k, (unsigned)(2 * slices));
    const bool v16 = t != ATTN_FP32 && D % 8 == 0 && D <= 2048;
    switch (t) {
    case ATTN_FP16:
        if (v16) pool16_kernel<<<grid, 256, 0, stream>>>((const __half *)kk, (const __half *)vv, (__half *)kp, (__half *)vp, S, D, k, slices);
        else pool_kernel<<<grid, 256, 0, stream>>>((const __half *)kk, (const __half *)vv, (__half *)kp, (__half *)vp, S, D, k, slices);
        break;
    case ATTN_BF16:
        if (v16) pool16_kernel<<<grid, 256, 0, stream>>>((const __nv_bfloat16 *)kk, (const __nv_bfloat16 *)vv, (__nv_bfloat16 *)kp, (__nv_bfloat16 *)vp, S, D, k, slices);
        else pool_kernel<<<grid, 256, 0, stream>>>((const __nv_bfloat16 *)kk, (const __nv_bfloat16 *)vv, (__nv_bfloat16 *)kp, (__nv_bfloat16 *)vp, S, D, k, slices);
        break;
    default: pool_kernel<<<grid, 256, 0, stream>>>((const float *)kk, (const float *)vv, (float *)kp, (float *)vp, S, D, k, slices);
    }
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
