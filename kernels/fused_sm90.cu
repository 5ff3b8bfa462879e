/* fused_sm90.cu — the Hopper (sm_90a) path of variant `fused`: flash-attention forward on wgmma,
 * operands brought in by the tensor memory accelerator, warp-specialised, persistent
 * (kernels/fused.cu holds the portable mma.sync path; variants/fused.c picks one at prepare time).
 *
 * Algorithm: a persistent grid of one block per SM; each block takes query tiles (BM = 64·NWG rows
 * of one head) from a work queue until it is empty. Block = 1 producer warpgroup + NWG consumer
 * warpgroups (NWG = 2, or 3 at D=64), each consumer warpgroup owning 64 query rows; key tile
 * BN = 128; K/V ring of 2 stages; two Q buffers, so the next tile's Q loads while this one computes.
 *  - Queue: a device counter taken by atomicAdd; the last block to find it empty resets it, so
 *    launches need no memset (they must not overlap in time). Order: non-causal head-major (a
 *    head's tiles run together and share its K/V in L2); causal longest first within sections of
 *    (batch, head) pairs whose K/V fit ~16 MB of L2 — the light tiles end the run, no long tail.
 *  - Producer (one thread): takes a tile, publishes its index in shared memory (a "tile" mbarrier),
 *    loads its Q by TMA (cp.async.bulk.tensor.4d on CUtensorMaps passed as __grid_constant__
 *    parameters, 128-byte swizzle, boxes of 64 columns), then K_j, V_j into the ring; each load
 *    completes on a "full" mbarrier (expect_tx); a stage is reused once every consumer warp has
 *    arrived on its "empty" mbarrier, a Q buffer once every consumer thread has. Rows past S (per
 *    head: the tensor map is 4-D [B][heads][S][D]) are zero-filled by the TMA.
 *  - Consumers: S = Q·K_jᵀ by wgmma m64n128k16 (both operands from shared memory, K-major), online
 *    softmax in fp32 registers (exp2 with log2(e)·scale folded into one FFMA, ex2.approx), P rounded
 *    to the dtype in registers and used as the register A operand of O += P·V_j (wgmma m64nDk16,
 *    V N-major from shared memory). Intra-warpgroup overlap: S_j and P_{j-1}·V_{j-1} are issued
 *    together, the softmax of S_j runs while P_{j-1}·V_{j-1} is on the tensor cores. Ping-pong:
 *    named barriers pass the turn to issue wgmma round-robin among the consumer warpgroups, so one
 *    warpgroup's softmax overlaps the others' matrix products.
 *  - Epilogue: 1/l, round, stage in the warpgroup's own rows of its Q buffer (same swizzle), 16-byte
 *    coalesced stores of rows < S only; optional LSE (natural log, fp32 [B][H][S]).
 * Causal: key tiles past the query tile are never loaded; masking only on tiles that cross the
 * diagonal or the end of the keys. GQA/MQA: KV head = h / (H/H_kv), nothing copied. Any S >= 1.
 * Nothing of size S×S exists anywhere: the device memory touched is Q, K, V (K and V once per query
 * tile), O and the optional LSE rows.
 *
 * Limits: fp16/bf16, D = 64 or 128, sm_90 only (the body is compiled for sm_90a alone; the sm_80
 * pass sees an empty kernel that is never launched: attn_fused_sm90_setup skips other devices).
 * One launch at a time per device (the queue counter is a device global).
 * Shared memory per block: 193 KB at D=128, 97 KB / 113 KB at D=64 (NWG 2 / 3); setmaxnreg gives
 * the consumers 240 (NWG=2) or 160 (NWG=3) registers and the producer 24 or 32.
 * Registers, SASS, measured speed and the history of each version: kernels/NOTES-fused.md. */
#include <cuda.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include <algorithm>

#include "common.cuh"
#include "core/error.h"
#include "fused_sm90.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FUSED_SM90_DEVICE 1
#endif

/* The work queue: one counter for the next tile and one for the blocks that found it empty; the
 * last block to leave resets both, so every launch starts from zero without a memset. Launches of
 * this file's kernels must therefore not overlap in time (one stream, as the harness runs them). */
__device__ unsigned int attn_sm90_next_tile, attn_sm90_blocks_done;

namespace {

struct sm90_params {
    void *o;
    float *lse;
    int H, Hkv, S, Sk, causal; /* Sk: keys per head (= S unless through the _kv launcher) */
    int n_m, n_hb, sec, total; /* query tiles per head, B·H, heads per causal section, n_m·n_hb */
    float scale, scale_log2;
    uint32_t v_lbo, v_sbo; /* N-major V descriptor strides (bytes) */
};

#ifdef FUSED_SM90_DEVICE
/* Query tile t of the queue: non-causal, head-major (a head's tiles run together and share its K/V
 * in L2); causal, longest first within sections of p.sec (batch, head) pairs, the sections in turn
 * (a section's K/V fits in L2; the short tiles of one section fill the tail of the previous). */
struct tile_pos {
    int m_block, h, b;
};
__device__ __forceinline__ tile_pos tile_at(const sm90_params &p, int t)
{
    int m, hb;
    if (p.causal) {
        const int s = t / (p.sec * p.n_m), u = t - s * p.sec * p.n_m;
        const int n = min(p.sec, p.n_hb - s * p.sec);
        m = p.n_m - 1 - u / n;
        hb = s * p.sec + u % n;
    } else {
        hb = t / p.n_m;
        m = t - hb * p.n_m;
    }
    return {m, hb % p.H, hb / p.H};
}

/* wgmma.mma_async m64nNk16 wrappers (fp32 accumulators), one per (N, dtype, A from shared memory
 * or registers); written out by a generator script (dev/hopper/gen_wgmma.py, outside the tree). */
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

/* Shared-memory matrix descriptor, 128-byte swizzle (atoms 1024-byte aligned). */
__device__ __forceinline__ uint64_t gdesc(uint32_t addr, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
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
template <> __device__ __forceinline__ void wg_ops<__half>::rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n64_f16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__half>::rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n128_f16(d, a, b); }
template <> struct wg_ops<__nv_bfloat16> {
    template <int N> static __device__ __forceinline__ void ss(float (&d)[N / 2], uint64_t a, uint64_t b, int sc);
    template <int N> static __device__ __forceinline__ void rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b);
};
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::ss<64>(float (&d)[32], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n64_bf16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::ss<128>(float (&d)[64], uint64_t a, uint64_t b, int sc) { wgmma_ss_m64n128_bf16(d, a, b, sc); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n64_bf16(d, a, b); }
template <> __device__ __forceinline__ void wg_ops<__nv_bfloat16>::rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n128_bf16(d, a, b); }
#endif /* FUSED_SM90_DEVICE */

template <int D, int NWG> struct sm90_cfg {
    static constexpr int BM = 64 * NWG, BN = 128, STAGES = 2;
    static constexpr int Q_BYTES = BM * D * 2;  /* one of two Q buffers (also O's staging) */
    static constexpr int KV_BYTES = BN * D * 2;
    static constexpr int OFF_K = 2 * Q_BYTES;
    static constexpr int OFF_V = OFF_K + STAGES * KV_BYTES;
    static constexpr int OFF_BAR = OFF_V + STAGES * KV_BYTES;
    static constexpr int N_BAR = 6 + 4 * STAGES; /* tile/q full, q empty ×2; k/v full/empty */
    static constexpr int OFF_SLOT = OFF_BAR + 8 * N_BAR;         /* tile index of each Q buffer */
    static constexpr int SMEM = OFF_SLOT + 8 + 1024;             /* + alignment slack */
};

template <typename T, int D, int NWG>
__global__ void __launch_bounds__(128 * (NWG + 1), 1)
    fused_sm90_kernel(const __grid_constant__ CUtensorMap tmQ, const __grid_constant__ CUtensorMap tmK,
                      const __grid_constant__ CUtensorMap tmV, const sm90_params p)
{
#ifdef FUSED_SM90_DEVICE
    using C = sm90_cfg<D, NWG>;
    using ops = wg_ops<T>;
    constexpr int BM = C::BM, BN = C::BN, ST = C::STAGES;
    /* register split after setmaxnreg: 128·(producer + NWG·consumer) <= 64K */
    constexpr int PRODUCER_REGS = NWG == 2 ? 24 : 32, CONSUMER_REGS = NWG == 2 ? 240 : 160;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = (attn_smem_u32(smem_raw) + 1023u) & ~1023u;
    unsigned char *gbase = smem_raw + (base - attn_smem_u32(smem_raw));
    volatile int *slot = reinterpret_cast<volatile int *>(gbase + C::OFF_SLOT); /* tile per Q buffer */
    const uint32_t sK = base + C::OFF_K, sV = base + C::OFF_V;
    const uint32_t bars = base + C::OFF_BAR;
    auto q_full = [&](int i) { return bars + 8 * i; };
    auto q_empty = [&](int i) { return bars + 8 * (2 + i); };
    auto tile_full = [&](int i) { return bars + 8 * (4 + i); };
    auto full_k = [&](int s) { return bars + 8 * (6 + s); };
    auto full_v = [&](int s) { return bars + 8 * (6 + ST + s); };
    auto empty_k = [&](int s) { return bars + 8 * (6 + 2 * ST + s); };
    auto empty_v = [&](int s) { return bars + 8 * (6 + 3 * ST + s); };

    const int S = p.S, Sk = p.Sk;
    /* key tiles of query tile m (causal: up to the diagonal) */
    auto key_tiles = [&](int m) {
        const int n = (Sk + BN - 1) / BN;
        return p.causal ? min(n, (min((m + 1) * BM, S) - 1) / BN + 1) : n;
    };
    /* warpgroup index, warp-uniform for the compiler (branches around wgmma stay convergent) */
    const int wg = __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
    const int tid = threadIdx.x & 127;

    if (threadIdx.x == 0) {
        for (int i = 0; i < 2; i++) {
            mbar_init(q_full(i), 1);
            mbar_init(tile_full(i), 1);
            mbar_init(q_empty(i), 128 * NWG); /* every consumer thread: each releases its own reads */
        }
        for (int s = 0; s < ST; s++) {
            mbar_init(full_k(s), 1);
            mbar_init(full_v(s), 1);
            mbar_init(empty_k(s), 4 * NWG);
            mbar_init(empty_v(s), 4 * NWG);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {
        /* ---------------- producer: takes tiles from the queue until it is empty ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGS));
        if (tid == 0) {
            int kv = 0; /* key tiles loaded so far: ring stage kv % ST, phase (kv / ST) & 1 */
            for (int it = 0;; it++) {
                const int qb = it & 1;
                if (it >= 2) mbar_wait(q_empty(qb), (uint32_t)(((it >> 1) - 1) & 1));
                const int t = (int)atomicAdd(&attn_sm90_next_tile, 1u);
                if (t >= p.total) {
                    slot[qb] = -1; /* releases the consumers: no more tiles */
                    mbar_arrive(tile_full(qb));
                    if (atomicAdd(&attn_sm90_blocks_done, 1u) == gridDim.x - 1) {
                        attn_sm90_next_tile = 0;
                        attn_sm90_blocks_done = 0;
                    }
                    break;
                }
                const tile_pos tp = tile_at(p, t);
                const int hk = tp.h / (p.H / p.Hkv);
                const uint32_t sQ = base + qb * C::Q_BYTES;
                slot[qb] = t;
                mbar_arrive(tile_full(qb));
                mbar_expect_tx(q_full(qb), C::Q_BYTES);
#pragma unroll
                for (int db = 0; db < D / 64; db++)
                    tma_load4(sQ + db * BM * 128, &tmQ, q_full(qb), db * 64, tp.m_block * BM, tp.h, tp.b);
                const int n_tiles = key_tiles(tp.m_block);
                for (int j = 0; j < n_tiles; j++, kv++) {
                    const int s = kv % ST;
                    const uint32_t ph = (uint32_t)((kv / ST) & 1);
                    mbar_wait(empty_k(s), ph ^ 1);
                    mbar_expect_tx(full_k(s), C::KV_BYTES);
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sK + s * C::KV_BYTES + db * BN * 128, &tmK, full_k(s), db * 64, j * BN, hk, tp.b);
                    mbar_wait(empty_v(s), ph ^ 1);
                    mbar_expect_tx(full_v(s), C::KV_BYTES);
#pragma unroll
                    for (int db = 0; db < D / 64; db++)
                        tma_load4(sV + s * C::KV_BYTES + db * BN * 128, &tmV, full_v(s), db * 64, j * BN, hk, tp.b);
                }
            }
        }
    } else {
        /* ---------------- consumers ---------------- */
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGS));
        const int cw = wg - 1;
        const int warp = tid >> 5, lane = tid & 31;
        const int g = lane >> 2, t = lane & 3;
        const float sl2 = p.scale_log2;
        const int sched_bar = 1 + cw, next_bar = 1 + (cw + 1) % NWG;

        float o[D / 2];
        float s[BN / 2];
        uint32_t pf[BN / 16][4];
        int kv = 0; /* key tiles consumed so far (the producer's ring position) */
        for (int it = 0;; it++) {
            const int qb = it & 1;
            mbar_wait(tile_full(qb), (uint32_t)((it >> 1) & 1));
            const int tile = slot[qb];
            if (tile < 0) break;
            mbar_wait(q_full(qb), (uint32_t)((it >> 1) & 1));
            const tile_pos tp = tile_at(p, tile);
            const int m0 = tp.m_block * BM;
            const int n_tiles = key_tiles(tp.m_block);
            const int wg_row0 = m0 + cw * 64;
            const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;
            /* key tiles this warpgroup's rows need: causal, up to its own last row (a 192-row
             * tile covers 1.5 key tiles, so its first warpgroups need fewer than the tile loads);
             * rows all past S need one (their output is never stored) */
            const int n_need = wg_row0 >= S ? 1
                               : p.causal ? min(n_tiles, (min(wg_row0 + 64, S) - 1) / BN + 1)
                                          : n_tiles;
            const uint32_t sQ = base + qb * C::Q_BYTES;
            auto stage = [&](int j) { return (kv + j) % ST; };
            auto phase = [&](int j) { return (uint32_t)(((kv + j) / ST) & 1); };
#pragma unroll
            for (int i = 0; i < D / 2; i++) o[i] = 0.f;
            float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};

            if (cw == NWG - 1) named_arrive(1, 256); /* warpgroup 0 issues first */

            auto issue_s = [&](int st) {
                wg_fence();
                fence_regs(s);
#pragma unroll
                for (int kk = 0; kk < D / 16; kk++) {
                    const uint64_t da = gdesc(sQ + (kk / 4) * BM * 128 + cw * 64 * 128 + (kk % 4) * 32, 16, 1024);
                    const uint64_t dk = gdesc(sK + st * C::KV_BYTES + (kk / 4) * BN * 128 + (kk % 4) * 32, 16, 1024);
                    ops::template ss<BN>(s, da, dk, kk > 0);
                }
                wg_commit();
                fence_regs(s);
            };
            auto issue_pv = [&](int st) {
                wg_fence();
                fence_regs(o);
#pragma unroll
                for (int kk = 0; kk < BN / 16; kk++) {
                    const uint64_t dv = gdesc(sV + st * C::KV_BYTES + kk * 16 * 128, p.v_lbo, p.v_sbo);
                    ops::template rs<D>(o, pf[kk], dv);
                }
                wg_commit();
                fence_regs(o);
            };
            /* mask keys >= Sk and (causal) keys after the query, only on tiles that need it */
            auto mask = [&](int j) {
                const int key0 = j * BN;
                if (key0 + BN > Sk || (p.causal && key0 + BN - 1 > wg_row0)) {
#pragma unroll
                    for (int i = 0; i < BN / 8; i++)
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            const int key = key0 + i * 8 + 2 * t + (e & 1);
                            const int r = e < 2 ? row_a : row_b;
                            if (key >= Sk || (p.causal && key > r)) s[4 * i + e] = -INFINITY;
                        }
                }
            };
            /* online softmax of s in place; returns the rescale factors of O */
            auto softmax = [&](float (&alpha)[2]) {
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
            };
            auto pack_p = [&]() {
#pragma unroll
                for (int kk = 0; kk < BN / 16; kk++) {
                    pf[kk][0] = attn_pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
                    pf[kk][1] = attn_pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
                    pf[kk][2] = attn_pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
                    pf[kk][3] = attn_pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
                }
            };
            auto release = [&](uint32_t bar) {
                if (lane == 0) mbar_arrive(bar);
            };

            /* key tile 0 */
            {
                const int st = stage(0);
                mbar_wait(full_k(st), phase(0));
                named_sync(sched_bar, 256);
                issue_s(st);
                if (!(cw == NWG - 1 && n_tiles == 1)) named_arrive(next_bar, 256);
                wg_wait<0>();
                fence_regs(s);
                release(empty_k(st));
                mask(0);
                float alpha[2];
                softmax(alpha);
                pack_p();
            }
            for (int j = 1; j < n_need; j++) {
                const int st = stage(j), sp = stage(j - 1);
                mbar_wait(full_k(st), phase(j));
                mbar_wait(full_v(sp), phase(j - 1));
                named_sync(sched_bar, 256);
                issue_s(st);
                issue_pv(sp);
                if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
                wg_wait<1>();
                fence_regs(s);
                release(empty_k(st));
                mask(j);
                float alpha[2];
                softmax(alpha);
                wg_wait<0>();
                fence_regs(o);
                release(empty_v(sp));
#pragma unroll
                for (int i = 0; i < D / 8; i++) {
                    o[4 * i] *= alpha[0];
                    o[4 * i + 1] *= alpha[0];
                    o[4 * i + 2] *= alpha[1];
                    o[4 * i + 3] *= alpha[1];
                }
                pack_p();
            }
            {
                const int st = stage(n_need - 1);
                mbar_wait(full_v(st), phase(n_need - 1));
                issue_pv(st);
                wg_wait<0>();
                fence_regs(o);
                release(empty_v(st));
            }
            /* Key tiles the block loads but these rows do not need: no wgmma, but the turn is
             * taken and both stages released, each after its load landed (so the arrival counts
             * in that load's phase). */
            for (int j = n_need; j < n_tiles; j++) {
                const int st = stage(j);
                mbar_wait(full_k(st), phase(j));
                named_sync(sched_bar, 256);
                if (!(cw == NWG - 1 && j == n_tiles - 1)) named_arrive(next_bar, 256);
                release(empty_k(st));
                mbar_wait(full_v(st), phase(j));
                release(empty_v(st));
            }
            kv += n_tiles;

            /* epilogue: O staged in this warpgroup's own rows of the Q buffer, then stored */
            float inv[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                l_i[r] = attn_quad_reduce<ATTN_REDUCE_SUM>(l_i[r]);
                inv[r] = l_i[r] > 0.f ? 1.f / l_i[r] : 0.f;
            }
            named_sync(1 + NWG + cw, 128); /* every warp of this warpgroup is done reading its Q rows */
            unsigned char *stg = gbase + qb * C::Q_BYTES;
            {
                const int ra = cw * 64 + warp * 16 + g, rb = ra + 8;
#pragma unroll
                for (int i = 0; i < D / 8; i++) {
                    const int cb = i / 8, c = i % 8;
                    const uint32_t oa = cb * BM * 128 + ra * 128 + ((c ^ (ra & 7)) << 4) + t * 4;
                    const uint32_t ob = cb * BM * 128 + rb * 128 + ((c ^ (rb & 7)) << 4) + t * 4;
                    *reinterpret_cast<uint32_t *>(stg + oa) = attn_pack2<T>(o[4 * i] * inv[0], o[4 * i + 1] * inv[0]);
                    *reinterpret_cast<uint32_t *>(stg + ob) = attn_pack2<T>(o[4 * i + 2] * inv[1], o[4 * i + 3] * inv[1]);
                }
            }
            __syncwarp();
            T *gO = static_cast<T *>(p.o) + ((size_t)tp.b * p.H + tp.h) * (size_t)S * D;
            constexpr int CH = D / 8;
#pragma unroll
            for (int k = 0; k < 16 * CH / 32; k++) {
                const int i = lane + 32 * k;
                const int r = i / CH, c16 = i % CH;
                const int lr = cw * 64 + warp * 16 + r;
                const int gr = m0 + lr;
                const int cb = c16 / 8, c = c16 % 8;
                if (gr < S)
                    *reinterpret_cast<uint4 *>(gO + (size_t)gr * D + c16 * 8) =
                        *reinterpret_cast<const uint4 *>(stg + cb * BM * 128 + lr * 128 + ((c ^ (lr & 7)) << 4));
            }
            /* the staging reads are done: order them before the next TMA write of this buffer */
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            mbar_arrive(q_empty(qb));
            if (p.lse && t == 0) {
                float *lse = p.lse + ((size_t)tp.b * p.H + tp.h) * (size_t)S;
                if (row_a < S) lse[row_a] = m_i[0] * p.scale + logf(l_i[0]);
                if (row_b < S) lse[row_b] = m_i[1] * p.scale + logf(l_i[1]);
            }
        }
    }
#endif /* FUSED_SM90_DEVICE */
}

typedef void (*sm90_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const sm90_params);

sm90_fn sm90_lookup(int dtype, int D, int nwg, int *smem)
{
#define L(T, DD, N)                                                     \
    if (D == DD && nwg == N) {                                          \
        *smem = sm90_cfg<DD, N>::SMEM;                                  \
        return fused_sm90_kernel<T, DD, N>;                             \
    }
    if (dtype == ATTN_FP16) {
        L(__half, 128, 2) L(__half, 64, 2) L(__half, 64, 3)
    } else if (dtype == ATTN_BF16) {
        L(__nv_bfloat16, 128, 2) L(__nv_bfloat16, 64, 2) L(__nv_bfloat16, 64, 3)
    }
#undef L
    return nullptr;
}

typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                              const cuuint64_t *, const cuuint32_t *, const cuuint32_t *,
                              CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                              CUtensorMapFloatOOBfill);

encode_fn get_encode(void)
{
    static encode_fn fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) ==
                cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (encode_fn)f;
    }
    return fn;
}

/* [B][heads][S][D] tensor as 4-D (D, S, heads, B); box (64, rows, 1, 1), 128-byte swizzle. */
int make_map(CUtensorMap *m, int dtype, const void *ptr, int B, int heads, int S, int D, int rows)
{
    encode_fn enc = get_encode();
    if (!enc) return attn_fail("fused: cuTensorMapEncodeTiled not available from the driver");
    cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)S, (cuuint64_t)heads, (cuuint64_t)B};
    cuuint64_t strides[3] = {(cuuint64_t)D * 2, (cuuint64_t)S * D * 2, (cuuint64_t)heads * S * D * 2};
    cuuint32_t box[4] = {64, (cuuint32_t)rows, 1, 1};
    cuuint32_t es[4] = {1, 1, 1, 1};
    CUresult r = enc(m, dtype == ATTN_FP16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
                     const_cast<void *>(ptr), dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                     CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return attn_fail("fused: cuTensorMapEncodeTiled failed (%d)", (int)r);
    return ATTN_OK;
}

} // namespace

extern "C" {

/* 1 when the wgmma path can run on the current device (sm_90, compiled for sm_90a). */
int attn_fused_sm90_available(void)
{
    int dev, major, minor;
    if (cudaGetDevice(&dev) != cudaSuccess) return 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return 0;
    if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) return 0;
    return major == 9 && minor == 0 && get_encode() != nullptr;
}

/* One-time setup outside timing (raises the dynamic shared-memory limit). ATTN_SKIP when there is
 * no kernel for (dtype, D, nwg) or the device is not sm_90. */
int attn_fused_sm90_setup(int dtype, int D, int nwg)
{
    int smem;
    sm90_fn fn = sm90_lookup(dtype, D, nwg, &smem);
    if (!fn) return attn_skip("fused: no wgmma kernel for dtype %d D=%d nwg=%d", dtype, D, nwg);
    if (!attn_fused_sm90_available()) return attn_skip("fused: wgmma path needs an sm_90 device");
    CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return ATTN_OK;
}

/* Default number of consumer warpgroups (query tile 64·nwg rows): D=128 → 2 (128x128); D=64 → 3
 * (192x128), except causal S ≤ 1024 → 2. Measured on H200 (kernels/NOTES-fused.md). */
int attn_fused_sm90_default_nwg(int D, int S, int causal)
{
    if (D == 64 && !(causal && S <= 1024)) return 3;
    return 2;
}

/* One forward pass with S queries and Sk keys per head (K, V are [B][Hkv][Sk][D]); causal needs
 * Sk == S. Call attn_fused_sm90_setup for the same (dtype, D, nwg) once before. */
int attn_fused_sm90_launch_kv(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int Sk,
                              int causal, const void *q, const void *k, const void *v, void *o,
                              float *lse, cudaStream_t stream)
{
    if (Sk < 1 || (causal && Sk != S))
        return attn_fail("fused: %d keys for %d queries (causal needs as many keys as queries)", Sk, S);
    int smem;
    sm90_fn fn = sm90_lookup(dtype, D, nwg, &smem);
    if (!fn) return attn_skip("fused: no wgmma kernel for dtype %d D=%d nwg=%d", dtype, D, nwg);
    const int bm = 64 * nwg, bn = 128;
    CUtensorMap mq, mk, mv;
    ATTN_TRY(make_map(&mq, dtype, q, B, H, S, D, bm));
    ATTN_TRY(make_map(&mk, dtype, k, B, Hkv, Sk, D, bn));
    ATTN_TRY(make_map(&mv, dtype, v, B, Hkv, Sk, D, bn));
    static int n_sm;
    if (!n_sm) {
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    }
    sm90_params p;
    p.o = o;
    p.lse = lse;
    p.H = H;
    p.Hkv = Hkv;
    p.S = S;
    p.Sk = Sk;
    p.causal = causal;
    p.n_m = (S + bm - 1) / bm;
    p.n_hb = B * H;
    if ((long long)p.n_m * p.n_hb > INT_MAX) return attn_fail("fused: too many query tiles");
    p.total = p.n_m * p.n_hb;
    /* causal section: as many (batch, head) pairs as keep their K and V within ~16 MB of L2 */
    const long long kv_bytes = 4LL * Sk * D;
    p.sec = (int)std::max(1LL, std::min((long long)p.n_hb, (16LL << 20) / kv_bytes * (H / Hkv)));
    p.scale = (float)(1.0 / sqrt((double)D));
    p.scale_log2 = (float)(ATTN_LOG2E / sqrt((double)D));
    p.v_lbo = bn * 128; /* N-major V: next 64 columns of D are one key tile further */
    p.v_sbo = 1024;     /* next 8 keys */
    const int blocks = std::min(p.total, n_sm); /* persistent: one block per SM, tiles from the queue */
    fn<<<blocks, 128 * (nwg + 1), smem, stream>>>(mq, mk, mv, p);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* One forward pass (S queries and S keys); call attn_fused_sm90_setup for the same (dtype, D, nwg)
 * once before. */
int attn_fused_sm90_launch(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int causal,
                           const void *q, const void *k, const void *v, void *o, float *lse,
                           cudaStream_t stream)
{
    return attn_fused_sm90_launch_kv(dtype, D, nwg, B, H, Hkv, S, S, causal, q, k, v, o, lse, stream);
}

} // extern "C"
