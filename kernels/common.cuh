/* common.cuh — the device helpers that more than one CUDA file needs, once: log2(e), grid sizes,
 * the dtype dispatch and conversions, the shared-memory address of a pointer, exp2 by the hardware
 * approximation, quad / warp / block reductions, and launches that overlap the previous kernel.
 *
 * CUDA C++ only (templates): included by the .cu files of kernels/ and harness/measure/, never
 * by the C headers. Materialises nothing; every device helper is force-inlined, so using one
 * generates the same code as writing it out in place. Element types: fp16 (__half), bf16
 * (__nv_bfloat16), fp32. */
#ifndef ATTN_KERNELS_COMMON_CUH
#define ATTN_KERNELS_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <type_traits>

#include "core/problem.h"

/* log2(e): exp(x) = exp2(x·log2(e)), so a softmax folds it into its scale and pays one FFMA and one
 * exp2 per element. */
#define ATTN_LOG2E 1.4426950408889634

/* Launch limits of a grid: x up to 2^31 − 1 blocks, y and z up to 65535. */
#define ATTN_MAX_GRID_X 0x7fffffffLL
#define ATTN_MAX_GRID_YZ 65535LL
/* Blocks of a grid-stride loop over elements: more than any GPU holds at once, so a larger grid
 * would only add block start-ups. */
#define ATTN_STRIDE_MAX_BLOCKS 65536LL

/* Blocks of per_block items each that cover n items, at least 1 and at most max_blocks (a kernel
 * launched with fewer than it covers loops grid-stride over the rest). */
static inline unsigned attn_grid_blocks(long long n, int per_block, long long max_blocks)
{
    const long long want = (n + per_block - 1) / per_block;
    return (unsigned)(want < 1 ? 1 : want < max_blocks ? want : max_blocks);
}

/* Calls f with a null pointer of the element type of dtype t, and returns what f returns; f is a
 * generic lambda that takes the type as `using T = attn_elem_t<decltype(tag)>;`. fp32 for every
 * dtype but fp16 and bf16. */
template <typename F> auto attn_by_dtype(attn_dtype t, F f)
{
    switch (t) {
    case ATTN_FP16: return f((__half *)nullptr);
    case ATTN_BF16: return f((__nv_bfloat16 *)nullptr);
    default: return f((float *)nullptr);
    }
}
template <typename TAG> using attn_elem_t = std::remove_pointer_t<TAG>;

/* x rounded to T, to nearest even (the rounding attn_round applies on the host); the identity for
 * float. */
template <typename T> __device__ __forceinline__ T attn_from_float(float x);
template <> __device__ __forceinline__ float attn_from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half attn_from_float<__half>(float x)
{
    return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 attn_from_float<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}

/* a and b rounded to T (fp16 or bf16) in one 32-bit register, a in the low half: the layout of a
 * register fragment of mma.sync and wgmma. */
template <typename T> __device__ __forceinline__ uint32_t attn_pack2(float a, float b);
template <> __device__ __forceinline__ uint32_t attn_pack2<__half>(float a, float b)
{
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t attn_pack2<__nv_bfloat16>(float a, float b)
{
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* The shared-state-space address of p (which points into shared memory): the 32-bit operand of
 * ldmatrix, cp.async, mbarrier, TMA and wgmma descriptors. */
__device__ __forceinline__ uint32_t attn_smem_u32(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 2^x by the hardware approximation alone (MUFU.EX2, about 2 ulp), results below 2^-126 flushed
 * to 0. exp2f wraps the same instruction in a range fix-up for those tiny results whose selects,
 * across a fully unrolled row, cost registers (they pushed softmax.cu's fast path over 64); and a
 * probability below 2^-126 is 0 or subnormal in every dtype after normalisation anyway. */
__device__ __forceinline__ float attn_exp2_approx(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* Programmatic dependent launch (sm_90+): a kernel enqueued by attn_launch with overlap = 1 is
 * launched while the stream's previous kernel drains (as that kernel's blocks exit: none of them
 * triggers its dependents early, so the next grid never takes SMs the previous one still needs),
 * which hides the launch gap between dependent kernels. Such a kernel calls attn_grid_wait()
 * before it touches memory the previous kernel writes or reads: it returns once that kernel has
 * completed and its writes are visible (at once when there is none; a no-op before sm_90). The
 * first kernel of a chain is launched without overlap, so nothing of the chain ever runs beside
 * work enqueued before it. */
__device__ __forceinline__ void attn_grid_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* kernel<<<grid, block, smem, stream>>>(args), overlapping the stream's previous kernel when
 * overlap is 1 and the device is sm_90 or newer (elsewhere an ordinary launch). */
static inline cudaError_t attn_launch(const void *kernel, dim3 grid, dim3 block, size_t smem,
                                      cudaStream_t stream, int overlap, void **args)
{
    int dev, major = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (e != cudaSuccess) return e;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = overlap && major >= 9 ? 1 : 0;
    return cudaLaunchKernelExC(&cfg, kernel, args);
}

/* What a reduction computes. */
enum attn_reduce_op { ATTN_REDUCE_MAX, ATTN_REDUCE_SUM };

template <attn_reduce_op OP> __device__ __forceinline__ float attn_reduce2(float a, float b)
{
    return OP == ATTN_REDUCE_MAX ? fmaxf(a, b) : a + b;
}

/* OP over the quad of lanes 4i..4i+3 (the lanes that hold one row of an mma.sync or wgmma
 * accumulator), returned to all four; the partner at xor 1 first, then at xor 2. */
template <attn_reduce_op OP> __device__ __forceinline__ float attn_quad_reduce(float v)
{
    v = attn_reduce2<OP>(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return attn_reduce2<OP>(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

/* OP over v of the THREADS threads that share it, returned to all of them: one warp (THREADS = 32,
 * red unused; a block may hold several such rows), or the whole block (THREADS = blockDim.x, a
 * multiple of 32): the warps' results go through red[THREADS / 32] behind one barrier and are
 * folded in warp order. No barrier after the read: two reductions in a row (a max, then a sum) use
 * two different red[] arrays, so that no thread can overwrite a slot that another still has to
 * read, within a row or from one row to the next. */
template <int THREADS, attn_reduce_op OP>
__device__ __forceinline__ float attn_block_reduce(float v, float *red)
{
    for (int off = 16; off; off >>= 1) {
        const float other = __shfl_xor_sync(0xffffffffu, v, off);
        v = attn_reduce2<OP>(v, other);
    }
    if constexpr (THREADS > 32) {
        if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
        __syncthreads();
        v = red[0];
#pragma unroll
        for (int w = 1; w < THREADS / 32; w++) v = attn_reduce2<OP>(v, red[w]);
    }
    return v;
}

#endif
