/* ceilings.h — this GPU's measured ceilings at run start: dense GEMM rate through cuBLAS for bf16
 * and fp16 (M = N = K = 8192, fp32 accumulation, seeded normal inputs — never zeros, whose
 * switching power flatters the clock), through cuBLASLt for FP8 e4m3 (fp32 accumulation, bf16
 * out) and INT8 (s32 accumulation and out), both "TN" as the 8-bit tensor-core GEMMs need (0 where
 * the GPU has none: FP8 before sm_89), and device-to-device copy bandwidth (read + write bytes).
 * Each is the median of several timed repetitions after a warm-up. The summary view relates every
 * point to them (pct_of_compute_ceiling, pct_of_bandwidth_ceiling). */
#ifndef ATTN_CEILINGS_H
#define ATTN_CEILINGS_H

#include <cuda_runtime.h>

typedef struct attn_ceilings {
    double gemm_bf16_tflops;   /* median TFLOP/s (2·M·N·K per GEMM) */
    double gemm_fp16_tflops;
    double gemm_fp8_tflops;    /* e4m3; 0: not measured (no FP8 GEMM on this GPU) */
    double gemm_int8_tops;     /* 2·M·N·K integer operations per second, in T */
    double copy_gbps;          /* median GB/s, 2 × bytes copied (read + write) */
    int gemm_n;                /* 8192 */
    int reps;                  /* timed repetitions per ceiling */
    double copy_bytes;         /* bytes per copy */
} attn_ceilings;

/* Measures on `stream`; needs ~3·8192²·2 B + 2 × copy buffer of device memory (copy buffer: 512 MiB,
 * halved until it fits). ATTN_OK or ATTN_ERR (attn_last_error says why). */
int attn_ceilings_measure(cudaStream_t stream, attn_ceilings *c);

#endif
