/* lowrank.cu — the one kernel of its own that the `lowrank` variant (variants/lowrank.c) needs: the
 * seeded random projection matrices E and F (Linformer), generated on the device in prepare,
 * outside timing. Everything timed is cuBLAS (the two projection GEMMs; the score/P·V GEMMs of the
 * fallback path), the softmax of kernels/cublas.cu (fallback path) or the flash kernel of
 * kernels/fused.cu with a separate key count (attn_fused_launch_kv).
 *
 * Generator: element i of the row-major [k][S] matrix of tensor id `tensor` is
 * round_dtype(attn_rng_value(seed, tensor, i) · scale) with scale = 1/sqrt(k) computed on the host
 * as a float: one IEEE float multiply and the round-to-nearest-even store, so the host
 * (variants/lowrank.c, cpu_rows) regenerates the very same values bit for bit, as harness/inputs.cu
 * does for Q, K, V. A few ms at k = 256, S = 65536; one launch per matrix. */
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
