/* inputs.cu — seeded input generation on the GPU: a grid-stride loop over the elements, each from
 * the counter-based generator of rng.h, so the values equal attn_fill_host's bit for bit. Writes
 * only the caller's tensor; any n, fp16 / bf16 / fp32. */
#include "common.cuh"
#include "core/error.h"
#include "core/rng.h"
#include "inputs.h"
#include "quant.h"

template <typename T>
__global__ void fill_kernel(T *dst, size_t n, uint64_t seed, int tensor, int init, int head_dim,
                            int seq)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = attn_from_float<T>(attn_rng_input(seed, tensor, i, init, head_dim, seq));
}

int attn_fill_device(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor,
                     attn_init init, int head_dim, int seq, cudaStream_t stream)
{
    const int threads = 256;
    const unsigned blocks = attn_grid_blocks((long long)n, threads, ATTN_STRIDE_MAX_BLOCKS);
    attn_by_dtype(t, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
        fill_kernel<T><<<blocks, threads, 0, stream>>>((T *)dst, n, seed, tensor, (int)init,
                                                       head_dim, seq);
    });
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

__global__ void fill_8bit_kernel(uint8_t *dst, int int8, size_t n, uint64_t seed, int tensor)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float x = attn_rng_value(seed, tensor, i, 0, 1);
        dst[i] = int8 ? (uint8_t)attn_int8_quant(x, 1.f / 32.f) : attn_e4m3_code(attn_e4m3_round(x));
    }
}

int attn_fill_device_8bit(void *dst, int int8, size_t n, uint64_t seed, int tensor,
                          cudaStream_t stream)
{
    const int threads = 256;
    const unsigned blocks = attn_grid_blocks((long long)n, threads, ATTN_STRIDE_MAX_BLOCKS);
    fill_8bit_kernel<<<blocks, threads, 0, stream>>>((uint8_t *)dst, int8, n, seed, tensor);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
