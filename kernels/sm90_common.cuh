/* sm90_common.cuh — what the Hopper (sm_90a) attention kernels share: kernels/sparse_sm90.cu
 * (block-sparse) and kernels/quant_sm90.cu (quantized); written from kernels/fused_sm90.cu (dense),
 * which keeps its own measured copies until a device A/B clears the move (NOTES-fused.md). The wgmma, mbarrier, TMA and named-barrier wrappers,
 * the shared-memory layout of a block (two Q buffers, a K and a V ring, the mbarriers), the work
 * queue of a persistent grid, and the steps of a consumer warpgroup: S = Q·Kᵀ and O += P·V issued
 * as wgmma, the element-wise mask, the online softmax, P packed to the dtype, and the epilogue that
 * stages O in the Q buffer and stores it coalesced; on the host the tensor maps.
 *
 * CUDA C++ only. Every device helper is force-inlined (a kernel using one compiles to the code it
 * had with the helper written in place). The device part exists only in the sm_90a pass
 * (ATTN_SM90_DEVICE); kernels compiled for other targets are empty and never launched. */
#ifndef ATTN_KERNELS_SM90_COMMON_CUH
#define ATTN_KERNELS_SM90_COMMON_CUH

#include <cuda.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "common.cuh"
#include "core/error.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ATTN_SM90_DEVICE 1
#endif

/* Shared memory of a block: two Q buffers of BM rows (the next tile's Q loads while this one
 * computes; O is staged in its tile's buffer), ST stages of K (BN × D) and V (BN × DV), the
 * mbarriers, then SLOT ints per Q buffer (the tile it holds, and what the producer tells the
 * consumers about it). 1024 bytes of slack align the base. */
template <int BM_, int BN_, int D, int DV, int ST, int SLOT = 1> struct sm90_layout {
    static constexpr int BM = BM_, BN = BN_, STAGES = ST, HD = D, VD = DV;
    static constexpr int Q_BYTES = BM * D * 2;
    static constexpr int K_BYTES = BN * D * 2, V_BYTES = BN * DV * 2;
    static constexpr int OFF_K = 2 * Q_BYTES;
    static constexpr int OFF_V = OFF_K + ST * K_BYTES;
    static constexpr int OFF_BAR = OFF_V + ST * V_BYTES;
    static constexpr int N_BAR = 6 + 4 * ST; /* tile/q full, q empty ×2; k/v full/empty */
    static constexpr int OFF_SLOT = OFF_BAR + 8 * N_BAR;
    static constexpr int SMEM = OFF_SLOT + 8 * SLOT + 1024;
};

#ifdef ATTN_SM90_DEVICE
/* wgmma.mma_async m64nNk16 wrappers (fp32 accumulators), one per (N, dtype, A from shared memory
 * or registers); written out by a generator script (dev/hopper/gen_wgmma.py, outside the tree).
 * N = 32 exists only with A from registers: P·V of vprune's 32 kept V columns. */
__device__ __forceinline__ void wgmma_rs_m64n32_f16(float (&d)[16], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, {%16, %17, %18, %19}, %20, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ void wgmma_rs_m64n32_bf16(float (&d)[16], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, {%16, %17, %18, %19}, %20, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ void wgmma_ss_m64n64_f16(float (&d)[32], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n64_f16(float (&d)[32], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ void wgmma_ss_m64n64_bf16(float (&d)[32], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n64_bf16(float (&d)[32], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ void wgmma_ss_m64n128_f16(float (&d)[64], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n128_f16(float (&d)[64], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ void wgmma_ss_m64n128_bf16(float (&d)[64], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_m64n128_bf16(float (&d)[64], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\n"
                 "setp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity)
{
    uint32_t ok;
    do {
        asm volatile("{\n.reg .pred p;\n"
                     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(ok)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!ok);
}
__device__ __forceinline__ void tma_load4(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0,
                                          int c1, int c2, int c3)
{
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(dst),
                 "l"((uint64_t)map), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
                 : "memory");
}
__device__ __forceinline__ void named_sync(int id, int n)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int n)
{
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int N> __device__ __forceinline__ void fence_regs(float (&r)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}

/* Shared-memory matrix descriptor; swizzle: 1 = 128 bytes (atoms 1024-byte aligned), 2 = 64 bytes
 * (512-byte atoms: the 32-column V tiles of vprune, whose rows are 64 bytes). */
__device__ __forceinline__ uint64_t gdesc(uint32_t addr, uint32_t lbo, uint32_t sbo, uint64_t swizzle = 1)
{
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | (swizzle << 62);
}

/* The wgmma products of dtype T: ss<N> both operands from shared memory (descriptors a, b; sc = 0
 * overwrites d), rs<N> A from registers; m64nNk16, fp32 accumulators. */
template <typename T> struct wg_ops;
template <> struct wg_ops<__half> {
    template <int N> static __device__ __forceinline__ void ss(float (&d)[N / 2], uint64_t a, uint64_t b, int sc);
    template <int N> static __device__ __forceinline__ void rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b);
};
template <> __device__ __forceinline__ void wg_ops<__half>::ss<64>(float (&d)[32], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n64_f16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__half>::ss<128>(float (&d)[64], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n128_f16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__half>::rs<32>(float (&d)[16], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n32_f16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__half>::rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n64_f16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__half>::rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n128_f16(d, a, b); }
template <> struct wg_ops<__nv_bfloat16> {
    template <int N> static __device__ __forceinline__ void ss(float (&d)[N / 2], uint64_t a, uint64_t b, int sc);
    template <int N> static __device__ __forceinline__ void rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b);
};
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::ss<64>(float (&d)[32], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n64_bf16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::ss<128>(float (&d)[64], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n128_bf16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::rs<32>(float (&d)[16], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n32_bf16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n64_bf16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n128_bf16(d, a, b); }

/* The mbarriers of a block (sm90_layout's OFF_BAR): per Q buffer i "tile full" (the producer
 * published the tile index), "q full" (its Q landed), "q empty" (every consumer thread is done
 * with it); per ring stage s "full" and "empty" of K and V. */
template <int ST> struct sm90_bars {
    uint32_t b;
    __device__ __forceinline__ uint32_t q_full(int i) const { return b + 8 * i; }
    __device__ __forceinline__ uint32_t q_empty(int i) const { return b + 8 * (2 + i); }
    __device__ __forceinline__ uint32_t tile_full(int i) const { return b + 8 * (4 + i); }
    __device__ __forceinline__ uint32_t full_k(int s) const { return b + 8 * (6 + s); }
    __device__ __forceinline__ uint32_t full_v(int s) const { return b + 8 * (6 + ST + s); }
    __device__ __forceinline__ uint32_t empty_k(int s) const { return b + 8 * (6 + 2 * ST + s); }
    __device__ __forceinline__ uint32_t empty_v(int s) const { return b + 8 * (6 + 3 * ST + s); }
    /* by one thread, before the block's first barrier */
    __device__ __forceinline__ void init(int nwg) const
    {
        for (int i = 0; i < 2; i++) {
            mbar_init(q_full(i), 1);
            mbar_init(tile_full(i), 1);
            mbar_init(q_empty(i), 128 * nwg); /* every consumer thread: each releases its own reads */
        }
        for (int s = 0; s < ST; s++) {
            mbar_init(full_k(s), 1);
            mbar_init(full_v(s), 1);
            mbar_init(empty_k(s), 4 * nwg);
            mbar_init(empty_v(s), 4 * nwg);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
};

/* A persistent grid's work queue: a counter of the next item (next) and one of the blocks that
 * found it empty (done). sm90_queue_take: the next item, >= total when none is left; a block that
 * gets none calls sm90_queue_leave once, and the last to leave resets both counters, so every
 * launch starts from zero without a memset (launches using one pair must not overlap in time). */
__device__ __forceinline__ int sm90_queue_take(unsigned int *next) { return (int)atomicAdd(next, 1u); }
__device__ __forceinline__ void sm90_queue_leave(unsigned int *next, unsigned int *done)
{
    if (atomicAdd(done, 1u) == gridDim.x - 1) {
        *next = 0;
        *done = 0;
    }
}

/* The start of a block: the mbarriers initialised, then this thread's warpgroup index, made
 * warp-uniform for the compiler (so that branches around wgmma stay convergent). */
template <int ST> __device__ __forceinline__ int sm90_block_start(const sm90_bars<ST> &bar, int nwg)
{
    const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
    if (threadIdx.x == 0) bar.init(nwg);
    __syncthreads();
    return wg;
}

/* The producer's loads (one thread): sm90_load_q brings the BM-row Q tile starting at row m0 of
 * head (h, b) into the buffer sQ, completing on bar.q_full(qb); sm90_load_kv brings the key tile
 * starting at key0 of KV head (hk, b) into ring position kv (stage kv % ST), K then V, each once
 * the consumers released that stage's previous contents. */
template <typename C>
__device__ __forceinline__ void sm90_load_q(const sm90_bars<C::STAGES> &bar, uint32_t sQ, int qb, const CUtensorMap *tmQ,
                                            int m0, int h, int b)
{
    mbar_expect_tx(bar.q_full(qb), C::Q_BYTES);
#pragma unroll
    for (int db = 0; db < C::HD / 64; db++) tma_load4(sQ + db * C::BM * 128, tmQ, bar.q_full(qb), db * 64, m0, h, b);
}
template <typename C>
__device__ __forceinline__ void sm90_load_kv(const sm90_bars<C::STAGES> &bar, uint32_t sK, uint32_t sV, int kv,
                                             const CUtensorMap *tmK, const CUtensorMap *tmV, int key0, int hk, int b)
{
    constexpr int ST = C::STAGES, BN = C::BN;
    const int s = kv % ST;
    const uint32_t ph = (uint32_t)((kv / ST) & 1);
    mbar_wait(bar.empty_k(s), ph ^ 1);
    mbar_expect_tx(bar.full_k(s), C::K_BYTES);
#pragma unroll
    for (int db = 0; db < C::HD / 64; db++)
        tma_load4(sK + s * C::K_BYTES + db * BN * 128, tmK, bar.full_k(s), db * 64, key0, hk, b);
    mbar_wait(bar.empty_v(s), ph ^ 1);
    mbar_expect_tx(bar.full_v(s), C::V_BYTES);
#pragma unroll
    for (int db = 0; db < (C::VD + 63) / 64; db++) /* VD = 32: one box of 64-byte rows */
        tma_load4(sV + s * C::V_BYTES + db * BN * 128, tmV, bar.full_v(s), db * 64, key0, hk, b);
}

/* s = Q·Kᵀ of one warpgroup: its 64 rows of the Q buffer sQ (BM rows) against the K stage at sK +
 * st_off (BN keys), both K-major in 64-column swizzled blocks; issued and committed, not waited for.
 * (Base and stage offset apart: the address sum in this order is the code the dense kernel had.) */
template <typename T, int D, int BM, int BN>
__device__ __forceinline__ void sm90_issue_qk(float (&s)[BN / 2], uint32_t sQ, int cw, uint32_t sK, uint32_t st_off)
{
    wg_fence();
    fence_regs(s);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        const uint64_t da = gdesc(sQ + (kk / 4) * BM * 128 + cw * 64 * 128 + (kk % 4) * 32, 16, 1024);
        const uint64_t dk = gdesc(sK + st_off + (kk / 4) * BN * 128 + (kk % 4) * 32, 16, 1024);
        wg_ops<T>::template ss<BN>(s, da, dk, kk > 0);
    }
    wg_commit();
    fence_regs(s);
}

/* o += P·V: P from registers (pf, packed by sm90_pack_p), the V stage at sV + st_off N-major (lbo:
 * the next 64 columns, sbo: the next 8 keys); issued and committed, not waited for. DV = 32: rows
 * of 64 bytes in the 64-byte swizzle (sm90_make_map's box for 32 columns). */
template <typename T, int DV, int BN>
__device__ __forceinline__ void sm90_issue_pv(float (&o)[DV / 2], const uint32_t (&pf)[BN / 16][4],
                                              uint32_t sV, uint32_t st_off, uint32_t lbo, uint32_t sbo)
{
    constexpr uint32_t ROW = DV < 64 ? DV * 2 : 128;
    wg_fence();
    fence_regs(o);
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
        const uint64_t dv = gdesc(sV + st_off + kk * 16 * ROW, lbo, sbo, ROW == 128 ? 1 : 2);
        wg_ops<T>::template rs<DV>(o, pf[kk], dv);
    }
    wg_commit();
    fence_regs(o);
}

/* Keys >= Sk and (causal) keys after the query set to -inf in s, the scores of keys key0 .. key0 +
 * BN − 1 for rows row_a, row_b of a warpgroup whose first row is wg_row0; only on a tile that
 * crosses the end of the keys or the diagonal (t: the lane's index in its quad; causal by reference,
 * read where used: by value, the dense kernel compiled to other code). */
template <int BN>
__device__ __forceinline__ void sm90_mask(float (&s)[BN / 2], int key0, int Sk, const int &causal, int wg_row0,
                                          int row_a, int row_b, int t)
{
    if (key0 + BN > Sk || (causal && key0 + BN - 1 > wg_row0)) {
#pragma unroll
        for (int i = 0; i < BN / 8; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = key0 + i * 8 + 2 * t + (e & 1);
                const int r = e < 2 ? row_a : row_b;
                if (key >= Sk || (causal && key > r)) s[4 * i + e] = -INFINITY;
            }
    }
}

/* Online softmax of s in place (exp2 of the scores times sl2 = scale·log2 e, less the running
 * max); m_i, l_i the running max and the lane's partial row sums of its two rows; alpha: the
 * factors O must be rescaled by. A row with every score -inf so far keeps m = -inf, no NaN. */
template <int BN>
__device__ __forceinline__ void sm90_softmax(float (&s)[BN / 2], float (&m_i)[2], float (&l_i)[2], float sl2,
                                             float (&alpha)[2])
{
    float mx[2] = {m_i[0], m_i[1]};
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
        mx[0] = fmaxf(mx[0], fmaxf(s[4 * i], s[4 * i + 1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[4 * i + 2], s[4 * i + 3]));
    }
    float ms[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = attn_quad_reduce<ATTN_REDUCE_MAX>(mx[r]);
        ms[r] = (mx[r] == -INFINITY) ? 0.f : mx[r] * sl2;
        alpha[r] = attn_exp2_approx(m_i[r] * sl2 - ms[r]);
        m_i[r] = mx[r];
        l_i[r] *= alpha[r];
    }
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
        s[4 * i] = attn_exp2_approx(fmaf(s[4 * i], sl2, -ms[0]));
        s[4 * i + 1] = attn_exp2_approx(fmaf(s[4 * i + 1], sl2, -ms[0]));
        s[4 * i + 2] = attn_exp2_approx(fmaf(s[4 * i + 2], sl2, -ms[1]));
        s[4 * i + 3] = attn_exp2_approx(fmaf(s[4 * i + 3], sl2, -ms[1]));
        l_i[0] += s[4 * i] + s[4 * i + 1];
        l_i[1] += s[4 * i + 2] + s[4 * i + 3];
    }
}

/* P (the softmax's s) rounded to T into the register A fragments of sm90_issue_pv. */
template <typename T, int BN>
__device__ __forceinline__ void sm90_pack_p(const float (&s)[BN / 2], uint32_t (&pf)[BN / 16][4])
{
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
        pf[kk][0] = attn_pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
        pf[kk][1] = attn_pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
        pf[kk][2] = attn_pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
        pf[kk][3] = attn_pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

/* O's two rows of this lane times the softmax's alpha. */
template <int DV> __device__ __forceinline__ void sm90_rescale(float (&o)[DV / 2], const float (&alpha)[2])
{
#pragma unroll
    for (int i = 0; i < DV / 8; i++) {
        o[4 * i] *= alpha[0];
        o[4 * i + 1] *= alpha[0];
        o[4 * i + 2] *= alpha[1];
        o[4 * i + 3] *= alpha[1];
    }
}

/* One consumer warpgroup's walk over the key tiles of one query tile (Q in the buffer at sQ), the
 * ring position kv at its start: S_j = Q·K_jᵀ issued together with P_{j-1}·V_{j-1}, the softmax of
 * S_j while that product runs; with NWG > 1 the warpgroups take turns to issue (named barriers
 * 1 .. NWG, warpgroup 0 first). Tiles j < n_need are computed; tiles n_need .. n_tiles − 1 (loaded
 * for the block, not needed by these rows) only take the turn and release their stages, each after
 * its load landed (so the arrival counts in that load's phase). next(j) runs first in iteration j
 * (to start loads the step needs), mask(j) on the scores of tile j. o, m_i, l_i: the running
 * output, max and partial sums, set by the caller; s, pf: scratch. n_need >= 1. */
template <typename T, typename C, int NWG, typename Next, typename Mask>
__device__ __forceinline__ void sm90_walk_tiles(const sm90_bars<C::STAGES> &bar, int kv, int n_need, int n_tiles,
                                                uint32_t sQ, uint32_t sK, uint32_t sV, const uint32_t &v_lbo,
                                                const uint32_t &v_sbo, int cw, int lane, float sl2,
                                                float (&o)[C::VD / 2], float (&s)[C::BN / 2],
                                                uint32_t (&pf)[C::BN / 16][4], float (&m_i)[2], float (&l_i)[2],
                                                Next next, Mask mask)
{
    constexpr int D = C::HD, DV = C::VD, BM = C::BM, BN = C::BN, ST = C::STAGES;
    const int sched_bar = 1 + cw, next_bar = 1 + (cw + 1) % NWG;
    auto stage = [&](int j) { return (kv + j) % ST; };
    auto phase = [&](int j) { return (uint32_t)(((kv + j) / ST) & 1); };
    auto issue_s = [&](int st) { sm90_issue_qk<T, D, BM, BN>(s, sQ, cw, sK, st * C::K_BYTES); };
    auto issue_pv = [&](int st) { sm90_issue_pv<T, DV, BN>(o, pf, sV, st * C::V_BYTES, v_lbo, v_sbo); };
    auto release = [&](uint32_t b) {
        if (lane == 0) mbar_arrive(b);
    };
    /* the turn to issue: wait for it; pass it on, unless this is the last tile of the last one */
    auto take_turn = [&]() {
        if constexpr (NWG > 1) named_sync(sched_bar, 256);
    };
    auto pass_turn = [&](int j) {
        if constexpr (NWG > 1)
            if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
    };

    if constexpr (NWG > 1)
        if (cw == NWG - 1) named_arrive(1, 256); /* warpgroup 0 issues first */
    {
        next(0);
        const int st = stage(0);
        mbar_wait(bar.full_k(st), phase(0));
        take_turn();
        issue_s(st);
        pass_turn(0);
        wg_wait<0>();
        fence_regs(s);
        release(bar.empty_k(st));
        mask(0);
        float alpha[2];
        sm90_softmax<BN>(s, m_i, l_i, sl2, alpha);
        sm90_pack_p<T, BN>(s, pf);
    }
    for (int j = 1; j < n_need; j++) {
        next(j);
        const int st = stage(j), sp = stage(j - 1);
        mbar_wait(bar.full_k(st), phase(j));
        mbar_wait(bar.full_v(sp), phase(j - 1));
        take_turn();
        issue_s(st);
        issue_pv(sp);
        pass_turn(j);
        wg_wait<1>();
        fence_regs(s);
        release(bar.empty_k(st));
        mask(j);
        float alpha[2];
        sm90_softmax<BN>(s, m_i, l_i, sl2, alpha);
        wg_wait<0>();
        fence_regs(o);
        release(bar.empty_v(sp));
        sm90_rescale<DV>(o, alpha);
        sm90_pack_p<T, BN>(s, pf);
    }
    {
        const int st = stage(n_need - 1);
        mbar_wait(bar.full_v(st), phase(n_need - 1));
        issue_pv(st);
        wg_wait<0>();
        fence_regs(o);
        release(bar.empty_v(st));
    }
    for (int j = n_need; j < n_tiles; j++) {
        const int st = stage(j);
        mbar_wait(bar.full_k(st), phase(j));
        take_turn();
        pass_turn(j);
        release(bar.empty_k(st));
        mbar_wait(bar.full_v(st), phase(j));
        release(bar.empty_v(st));
    }
}

/* The row sums l_i reduced over the quad, and their inverses (0 for a row without a visible key). */
__device__ __forceinline__ void sm90_row_sums(float (&l_i)[2], float (&inv)[2])
{
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l_i[r] = attn_quad_reduce<ATTN_REDUCE_SUM>(l_i[r]);
        inv[r] = l_i[r] > 0.f ? 1.f / l_i[r] : 0.f;
    }
}

/* The epilogue of a warp: sm90_stage_o writes O·inv rounded to T into this warp's 16 rows of stg
 * (a BM-row Q buffer, same swizzle; g, t: the lane's quad and its index in it; the caller makes
 * sure no warp of the warpgroup still reads them), sm90_store_o then stores those rows < S with 16-byte coalesced writes to gO (row m0 + row,
 * stride DV) and orders the reads before the next TMA write of the buffer. */
template <typename T, int DV, int BM>
__device__ __forceinline__ void sm90_stage_o(const float (&o)[DV / 2], const float (&inv)[2], unsigned char *stg,
                                             int cw, int warp, int g, int t)
{
    {
        const int ra = cw * 64 + warp * 16 + g, rb = ra + 8;
#pragma unroll
        for (int i = 0; i < DV / 8; i++) {
            const int cb = i / 8, c = i % 8;
            const uint32_t oa = cb * BM * 128 + ra * 128 + ((c ^ (ra & 7)) << 4) + t * 4;
            const uint32_t ob = cb * BM * 128 + rb * 128 + ((c ^ (rb & 7)) << 4) + t * 4;
            *reinterpret_cast<uint32_t *>(stg + oa) = attn_pack2<T>(o[4 * i] * inv[0], o[4 * i + 1] * inv[0]);
            *reinterpret_cast<uint32_t *>(stg + ob) = attn_pack2<T>(o[4 * i + 2] * inv[1], o[4 * i + 3] * inv[1]);
        }
    }
    __syncwarp();
}
template <typename T, int DV, int BM>
__device__ __forceinline__ void sm90_store_o(unsigned char *stg, T *gO, int m0, int S, int cw, int warp, int lane)
{
    constexpr int CH = DV / 8;
#pragma unroll
    for (int k = 0; k < 16 * CH / 32; k++) {
        const int i = lane + 32 * k;
        const int r = i / CH, c16 = i % CH;
        const int lr = cw * 64 + warp * 16 + r;
        const int gr = m0 + lr;
        const int cb = c16 / 8, c = c16 % 8;
        if (gr < S)
            *reinterpret_cast<uint4 *>(gO + (size_t)gr * DV + c16 * 8) =
                *reinterpret_cast<const uint4 *>(stg + cb * BM * 128 + lr * 128 + ((c ^ (lr & 7)) << 4));
    }
    /* the staging reads are done: order them before the next TMA write of this buffer */
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
#endif /* ATTN_SM90_DEVICE */

typedef CUresult (*sm90_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                              const cuuint64_t *, const cuuint32_t *, const cuuint32_t *,
                              CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                              CUtensorMapFloatOOBfill);

static inline sm90_encode_fn sm90_get_encode(void)
{
    static sm90_encode_fn fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) ==
                cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (sm90_encode_fn)f;
    }
    return fn;
}

/* [B][heads][S][D] tensor as 4-D (D, S, heads, B); box (64, rows, 1, 1), 128-byte swizzle, or for
 * D = 32 (vprune's compact V) box (32, rows, 1, 1), 64-byte swizzle; who names the caller in the
 * failure messages. */
static inline int sm90_make_map(CUtensorMap *m, const char *who, int dtype, const void *ptr, int B, int heads, int S, int D, int rows)
{
    sm90_encode_fn enc = sm90_get_encode();
    if (!enc) return attn_fail("%s: cuTensorMapEncodeTiled not available from the driver", who);
    cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)S, (cuuint64_t)heads, (cuuint64_t)B};
    cuuint64_t strides[3] = {(cuuint64_t)D * 2, (cuuint64_t)S * D * 2, (cuuint64_t)heads * S * D * 2};
    const cuuint32_t inner = D == 32 ? 32 : 64;
    cuuint32_t box[4] = {inner, (cuuint32_t)rows, 1, 1};
    cuuint32_t es[4] = {1, 1, 1, 1};
    CUresult r = enc(m, dtype == ATTN_FP16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
                     const_cast<void *>(ptr), dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                     inner == 32 ? CU_TENSOR_MAP_SWIZZLE_64B : CU_TENSOR_MAP_SWIZZLE_128B,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return attn_fail("%s: cuTensorMapEncodeTiled failed (%d)", who, (int)r);
    return ATTN_OK;
}

/* 1 when the current device is an sm_90 and the driver encodes tensor maps. */
static inline int sm90_device_ok(void)
{
    int dev, major, minor;
    if (cudaGetDevice(&dev) != cudaSuccess) return 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return 0;
    if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) return 0;
    return major == 9 && minor == 0 && sm90_get_encode() != nullptr;
}

#endif
