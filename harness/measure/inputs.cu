/* inputs.cu — seeded input generation on the GPU: one thread per element, the counter-based
 * generator of rng.h, so the values equal attn_fill_host's bit for bit. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "measure/gpu.h"
#include "core/rng.h"

template <typename T> __device__ T from_float(float x);
template <> __device__ float from_float<float>(float x) { return x; }
template <> __device__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <typename T>
__global__ void fill_kernel(T *dst, size_t n, uint64_t seed, int tensor, int outliers, int head_dim)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_float<T>(attn_rng_value(seed, tensor, i, outliers, head_dim));
}

extern "C" int attn_fill_device(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor,
                                attn_init init, int head_dim, cudaStream_t stream)
{
    const int threads = 256;
    size_t want = (n + threads - 1) / threads;
    int blocks = (int)(want < 65536 ? (want ? want : 1) : 65536);
    int outliers = init == ATTN_INIT_OUTLIERS;
    switch (t) {
    case ATTN_FP16:
        fill_kernel<<<blocks, threads, 0, stream>>>((__half *)dst, n, seed, tensor, outliers, head_dim);
        break;
    case ATTN_BF16:
        fill_kernel<<<blocks, threads, 0, stream>>>((__nv_bfloat16 *)dst, n, seed, tensor, outliers,
                                                    head_dim);
        break;
    default:
        fill_kernel<<<blocks, threads, 0, stream>>>((float *)dst, n, seed, tensor, outliers, head_dim);
    }
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
