/* mma_sm80.cuh — the mma.sync building blocks of the portable (sm_80+) tensor-core kernels
 * (kernels/fused.cu, kernels/sparse.cu): cp.async copies with zero fill, ldmatrix (plain and
 * transposed), the m16n8k16 product per dtype with fp32 accumulators, the XOR swizzle of a
 * [rows][D] shared-memory tile and the cp.async tile load that writes it.
 *
 * CUDA C++ only, force-inlined device code (no state, nothing materialised); in an anonymous
 * namespace so every .cu file gets its own copy. fp16 and bf16; D a multiple of 64. */
#ifndef ATTN_KERNELS_MMA_SM80_CUH
#define ATTN_KERNELS_MMA_SM80_CUH

#include <stdint.h>

#include "common.cuh"

namespace {

__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldsm_x4(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3,
                                        uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3,
                                          uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

/* The m16n8k16 tensor-core product of dtype T: c += a·b, fp32 accumulators. */
template <typename T> struct dtype_ops;
template <> struct dtype_ops<__half> {
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0,
                                               uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};
template <> struct dtype_ops<__nv_bfloat16> {
    static __device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0,
                                               uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

/* Element offset of 16-byte chunk c of row r in a [rows][W] tile with the XOR swizzle: chunk c of
 * row r lives at chunk c ^ (r & 7), so the 8 rows an ldmatrix reads hit 8 distinct bank groups.
 * Narrower rows (W = 32: 4 chunks, two rows per 128 bytes) swizzle by row pair, c ^ ((r / 2) & 3),
 * which keeps the 8 rows conflict-free too. W: 32, or a multiple of 64. */
template <int W> __device__ __forceinline__ int swz(int r, int c)
{
    constexpr int CH = W / 8;
    static_assert(CH == 4 || CH % 8 == 0, "swizzle needs rows of 32 or a multiple of 64 elements");
    constexpr int G = CH >= 8 ? 1 : 8 / CH; /* rows per 128 bytes */
    constexpr int M = CH >= 8 ? 7 : CH - 1;
    return r * W + ((c ^ ((r / G) & M)) << 3);
}

/* cp.async of rows [row0, row0+R) of a [S][D] matrix into a swizzled tile; rows >= S zero-fill.
 * Thread t copies chunk t % CH of rows t / CH + k·(NT/CH): a multiple of 8 rows apart, so the
 * swizzle term is the same for all k and every address is affine in k (no hoisted tables). */
template <typename T, int D, int R, int NT>
__device__ __forceinline__ void load_tile(T *dst, const T *src, int row0, int S, int tid)
{
    constexpr int CH = D / 8;
    constexpr int STEP = NT / CH;
    static_assert((R * CH) % NT == 0 && STEP % 8 == 0, "tile does not divide among threads");
    const int r0 = tid / CH, c = tid % CH;
    const uint32_t d0 = attn_smem_u32(dst + swz<D>(r0, c));
    const T *s0 = src + (size_t)(row0 + r0) * D + c * 8;
#pragma unroll
    for (int k = 0; k < R / STEP; k++) {
        const bool ok = row0 + r0 + k * STEP < S;
        /* A row past S copies 0 bytes (zero fill) and reads nothing at its address, as in
         * CUTLASS's cp_async_zfill; no select keeps the address [base + immediate]. */
        cp_async16(d0 + k * STEP * D * (int)sizeof(T), s0 + k * STEP * D, ok ? 16 : 0);
    }
}

/* The 8-bit additions (kernels/quant.cu). The m16n8k32 INT8 product, c += a·b in s32: a 16×32 row
 * fragment (4 registers of 4 bytes), b a 32×8 column fragment (2 registers), the fragments that
 * ldsm_x4 gives from row-major byte tiles read as b16 (a row of 16 bytes is 8 b16 columns). */
__device__ __forceinline__ void mma_s8(int c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* cp.async of an R × W-byte tile into shared memory rows of W + 16 bytes (the 16-byte pad puts
 * the 8 rows an ldmatrix reads on 8 distinct 16-byte bank groups, for W = 64 and 128 alike):
 * row r from src + r·pitch. Chunks of rows >= rows_ok or at byte columns >= cols_ok zero-fill. */
template <int R, int W, int NT>
__device__ __forceinline__ void load_tile_padded(uint8_t *dst, const uint8_t *src, size_t pitch,
                                                 int rows_ok, int cols_ok, int tid)
{
    constexpr int CH = W / 16;
    constexpr int STEP = NT / CH;
    static_assert((R * CH) % NT == 0, "tile does not divide among threads");
    const int r0 = tid / CH, c = tid % CH;
#pragma unroll
    for (int k = 0; k < R / STEP; k++) {
        const int r = r0 + k * STEP;
        const bool ok = r < rows_ok && c * 16 < cols_ok;
        cp_async16(attn_smem_u32(dst + r * (W + 16) + c * 16), ok ? src + r * pitch + c * 16 : src,
                   ok ? 16 : 0);
    }
}

} // namespace

#endif
