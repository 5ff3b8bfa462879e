/* ceilings.c (run) — the run's measured ceilings into the store (see run/ceilings.h). */
#include "run/ceilings.h"

#include <stdio.h>

#include "core/error.h"
#include "measure/ceilings.h"
#include "measure/trace.h"

static int store_ceilings(sqlite3 *db, int64_t run_id, const attn_ceilings *c)
{
    char detail[128];
    snprintf(detail, sizeof detail, "cublasGemmEx %dx%dx%d fp32 accumulate, median of %d",
             c->gemm_n, c->gemm_n, c->gemm_n, c->reps);
    ATTN_TRY(store_ceiling_add(db, run_id, "gemm", "bf16", c->gemm_bf16_tflops, "TFLOP/s", c->reps,
                               detail));
    ATTN_TRY(store_ceiling_add(db, run_id, "gemm", "fp16", c->gemm_fp16_tflops, "TFLOP/s", c->reps,
                               detail));
    snprintf(detail, sizeof detail,
             "cublasLtMatmul %dx%dx%d TN e4m3, fp32 accumulate, bf16 out, median of %d", c->gemm_n,
             c->gemm_n, c->gemm_n, c->reps);
    if (c->gemm_fp8_tflops > 0)
        ATTN_TRY(store_ceiling_add(db, run_id, "gemm", "fp8", c->gemm_fp8_tflops, "TFLOP/s",
                                   c->reps, detail));
    snprintf(detail, sizeof detail,
             "cublasLtMatmul %dx%dx%d TN int8, s32 accumulate and out, median of %d", c->gemm_n,
             c->gemm_n, c->gemm_n, c->reps);
    if (c->gemm_int8_tops > 0)
        ATTN_TRY(store_ceiling_add(db, run_id, "gemm", "int8", c->gemm_int8_tops, "TOP/s", c->reps,
                                   detail));
    snprintf(detail, sizeof detail,
             "cudaMemcpyAsync DtoD of %.0f MiB, read + write bytes, median of %d",
             c->copy_bytes / (1 << 20), c->reps);
    return store_ceiling_add(db, run_id, "copy", "", c->copy_gbps, "GB/s", c->reps, detail);
}

void run_ceilings(sqlite3 *db, int64_t run_id, cudaStream_t stream)
{
    attn_ceilings c;
    attn_nvtx_push("ceilings");
    int rc = attn_ceilings_measure(stream, &c);
    attn_nvtx_pop();
    if (rc == ATTN_OK) rc = store_ceilings(db, run_id, &c);
    if (rc != ATTN_OK) {
        fprintf(stderr, "attnbench run: ceilings not measured: %s\n", attn_last_error.msg);
        cudaGetLastError();
        return;
    }
    fprintf(stderr,
            "attnbench run: ceilings: GEMM bf16 %.0f, fp16 %.0f, fp8 %.0f TFLOP/s, int8 %.0f TOP/s;"
            " copy %.0f GB/s\n",
            c.gemm_bf16_tflops, c.gemm_fp16_tflops, c.gemm_fp8_tflops, c.gemm_int8_tops,
            c.copy_gbps);
}
