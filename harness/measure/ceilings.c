/* ceilings.c — measured GEMM and copy ceilings (see ceilings.h). One timing loop serves both: an
 * operation enqueued between two events, WARMUP times untimed, then the median of REPS. */
#include "measure/ceilings.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <string.h>

#include "core/error.h"
#include "measure/gpu.h"
#include "core/stats.h"
#include "inputs.h"

enum { REPS = 10, WARMUP = 3 };

/* An 8-bit GEMM through cuBLASLt: the descriptors and the heuristic's first algorithm. */
typedef struct lt_gemm {
    cublasLtHandle_t handle;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    void *workspace;
    size_t workspace_bytes;
    int int8; /* 1: INT8 (s32 scale and out); 0: FP8 e4m3 (fp32 scale, bf16 out) */
} lt_gemm;

/* What is timed: one GEMM or one copy on the stream. */
typedef struct ceiling_op {
    cublasHandle_t handle; /* GEMM */
    attn_dtype dtype;
    int n;
    void *a, *b, *c;       /* GEMM operands, or copy source a and destination b */
    size_t copy_bytes;     /* 0: a GEMM */
    const lt_gemm *lt;     /* an 8-bit GEMM through cuBLASLt instead */
} ceiling_op;

static void op_free(ceiling_op *op);

static int enqueue_op(const ceiling_op *op, cudaStream_t s)
{
    if (op->copy_bytes) {
        CUDA_CHECK(cudaMemcpyAsync(op->b, op->a, op->copy_bytes, cudaMemcpyDeviceToDevice, s));
        return ATTN_OK;
    }
    if (op->lt) {
        const float onef = 1.0f, zerof = 0.0f;
        const int32_t onei = 1, zeroi = 0;
        const void *alpha = op->lt->int8 ? (const void *)&onei : (const void *)&onef;
        const void *beta = op->lt->int8 ? (const void *)&zeroi : (const void *)&zerof;
        CUBLAS_CHECK(cublasLtMatmul(op->lt->handle, op->lt->desc, alpha, op->a, op->lt->la, op->b,
                                    op->lt->lb, beta, op->c, op->lt->lc, op->c, op->lt->lc,
                                    &op->lt->algo, op->lt->workspace, op->lt->workspace_bytes, s));
        return ATTN_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    cudaDataType dt = op->dtype == ATTN_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    CUBLAS_CHECK(cublasGemmEx(op->handle, CUBLAS_OP_N, CUBLAS_OP_N, op->n, op->n, op->n, &one,
                              op->a, dt, op->n, op->b, dt, op->n, &zero, op->c, dt, op->n,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ATTN_OK;
}

static int time_events(const ceiling_op *op, cudaStream_t s, cudaEvent_t e0, cudaEvent_t e1,
                       double *ms_out)
{
    double ms[REPS];
    for (int i = 0; i < WARMUP + REPS; i++) {
        float f;
        CUDA_CHECK(cudaEventRecord(e0, s));
        ATTN_TRY(enqueue_op(op, s));
        CUDA_CHECK(cudaEventRecord(e1, s));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&f, e0, e1));
        if (i >= WARMUP) ms[i - WARMUP] = f;
    }
    *ms_out = stats_median(ms, REPS);
    return ATTN_OK;
}

/* Median milliseconds of the operation. */
static int time_op(const ceiling_op *op, cudaStream_t s, double *ms)
{
    cudaEvent_t e0 = NULL, e1 = NULL;
    int rc = ATTN_OK;
    CUDA_CHECK_GOTO(cudaEventCreate(&e0), rc, end);
    CUDA_CHECK_GOTO(cudaEventCreate(&e1), rc, end);
    rc = time_events(op, s, e0, e1, ms);
end:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    return rc;
}

/* n×n×n GEMMs of dtype t on seeded normal operands. */
static int time_gemm(ceiling_op *op, cudaStream_t s, double *ms)
{
    size_t elems = (size_t)op->n * op->n, bytes = elems * attn_dtype_size(op->dtype);
    CUDA_CHECK(cudaMalloc(&op->a, bytes));
    CUDA_CHECK(cudaMalloc(&op->b, bytes));
    CUDA_CHECK(cudaMalloc(&op->c, bytes));
    ATTN_TRY(attn_fill_device(op->a, op->dtype, elems, 7, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, 128, 1, s));
    ATTN_TRY(attn_fill_device(op->b, op->dtype, elems, 7, ATTN_TENSOR_K, ATTN_INIT_NORMAL, 128, 1, s));
    return time_op(op, s, ms);
}

/* Device-to-device copies of 512 MiB, halved (down to 16 MiB) until both buffers fit. */
static int time_copy(ceiling_op *op, cudaStream_t s, double *ms)
{
    for (op->copy_bytes = (size_t)512 << 20; op->copy_bytes >= ((size_t)16 << 20); op->copy_bytes /= 2) {
        if (cudaMalloc(&op->a, op->copy_bytes) == cudaSuccess &&
            cudaMalloc(&op->b, op->copy_bytes) == cudaSuccess)
            break;
        cudaFree(op->a), cudaFree(op->b);
        op->a = op->b = NULL;
        cudaGetLastError(); /* the failed allocation is not an error of the run */
    }
    if (!op->a || !op->b) return attn_fail("no device memory for the copy ceiling");
    CUDA_CHECK(cudaMemsetAsync(op->a, 1, op->copy_bytes, s));
    return time_op(op, s, ms);
}

/* The descriptors of an n×n×n 8-bit GEMM D = Aᵀ·B (A and B K-major); ATTN_SKIP when the
 * heuristic has no algorithm (no such tensor cores). */
static int lt_setup(lt_gemm *g, int n)
{
    const cudaDataType in = g->int8 ? CUDA_R_8I : CUDA_R_8F_E4M3;
    const cudaDataType out = g->int8 ? CUDA_R_32I : CUDA_R_16BF;
    const cublasOperation_t trans = CUBLAS_OP_T;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&g->desc, g->int8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                          g->int8 ? CUDA_R_32I : CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans,
                                                sizeof trans));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->la, in, n, n, n));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->lb, in, n, n, n));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->lc, out, n, n, n));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g->workspace_bytes, sizeof g->workspace_bytes);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(g->handle, g->desc, g->la, g->lb, g->lc, g->lc, pref, 1,
                                            &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
        return attn_skip("no cuBLASLt %s GEMM on this GPU", g->int8 ? "INT8" : "FP8");
    g->algo = res.algo;
    return ATTN_OK;
}

static void lt_free(lt_gemm *g)
{
    if (g->desc) cublasLtMatmulDescDestroy(g->desc);
    if (g->la) cublasLtMatrixLayoutDestroy(g->la);
    if (g->lb) cublasLtMatrixLayoutDestroy(g->lb);
    if (g->lc) cublasLtMatrixLayoutDestroy(g->lc);
    g->desc = NULL, g->la = g->lb = g->lc = NULL;
}

/* n×n×n 8-bit GEMMs (int8: INT8, else FP8 e4m3) on seeded normal operands; *ms 0 when the GPU has
 * no such GEMM. */
static int time_gemm8(ceiling_op *op, lt_gemm *g, int int8, cudaStream_t s, double *ms)
{
    const size_t elems = (size_t)op->n * op->n;
    g->int8 = int8;
    *ms = 0;
    int rc = lt_setup(g, op->n);
    if (rc != ATTN_OK) goto end;
    CUDA_CHECK_GOTO(cudaMalloc(&op->a, elems), rc, end);
    CUDA_CHECK_GOTO(cudaMalloc(&op->b, elems), rc, end);
    CUDA_CHECK_GOTO(cudaMalloc(&op->c, elems * 4), rc, end);
    ATTN_TRY_GOTO(attn_fill_device_8bit(op->a, int8, elems, 7, ATTN_TENSOR_Q, s), rc, end);
    ATTN_TRY_GOTO(attn_fill_device_8bit(op->b, int8, elems, 7, ATTN_TENSOR_K, s), rc, end);
    op->lt = g;
    rc = time_op(op, s, ms);
    op->lt = NULL;
end:
    lt_free(g);
    return rc == ATTN_SKIP ? ATTN_OK : rc;
}

/* The FP8 and INT8 ceilings through cuBLASLt (0 where the GPU has no such GEMM). */
static int time_gemm8_both(ceiling_op *op, cudaStream_t s, attn_ceilings *c)
{
    const double n = c->gemm_n, ops = 2 * n * n * n;
    lt_gemm g = {.workspace_bytes = (size_t)32 << 20};
    double ms;
    int rc = ATTN_OK;
    CUBLAS_CHECK_GOTO(cublasLtCreate(&g.handle), rc, end);
    CUDA_CHECK_GOTO(cudaMalloc(&g.workspace, g.workspace_bytes), rc, end);
    for (int int8 = 0; int8 < 2 && rc == ATTN_OK; int8++) {
        rc = time_gemm8(op, &g, int8, s, &ms);
        op_free(op);
        double *rate = int8 ? &c->gemm_int8_tops : &c->gemm_fp8_tflops;
        *rate = ms > 0 ? ops / (ms * 1e-3) / 1e12 : 0;
    }
end:
    cudaFree(g.workspace);
    if (g.handle) cublasLtDestroy(g.handle);
    return rc;
}

static void op_free(ceiling_op *op)
{
    cudaFree(op->a), cudaFree(op->b), cudaFree(op->c);
    op->a = op->b = op->c = NULL;
}

int attn_ceilings_measure(cudaStream_t stream, attn_ceilings *c)
{
    memset(c, 0, sizeof *c);
    c->gemm_n = 8192;
    c->reps = REPS;
    const double n = c->gemm_n, flops = 2 * n * n * n;
    const attn_dtype types[2] = {ATTN_BF16, ATTN_FP16};
    double *rates[2] = {&c->gemm_bf16_tflops, &c->gemm_fp16_tflops};
    double ms = 0;
    ceiling_op op = {.n = c->gemm_n};
    int rc = ATTN_OK;
    CUBLAS_CHECK_GOTO(cublasCreate(&op.handle), rc, end);
    CUBLAS_CHECK_GOTO(cublasSetStream(op.handle, stream), rc, end);
    for (int i = 0; i < 2; i++) {
        op.dtype = types[i];
        rc = time_gemm(&op, stream, &ms);
        op_free(&op);
        if (rc != ATTN_OK) goto end;
        *rates[i] = flops / (ms * 1e-3) / 1e12;
    }
    cublasDestroy(op.handle); /* its workspace is device memory the copy buffers may need */
    op.handle = NULL;
    rc = time_gemm8_both(&op, stream, c);
    if (rc != ATTN_OK) goto end;
    rc = time_copy(&op, stream, &ms);
    if (rc == ATTN_OK) {
        c->copy_bytes = (double)op.copy_bytes;
        c->copy_gbps = 2 * c->copy_bytes / (ms * 1e-3) / 1e9;
    }
end:
    op_free(&op);
    if (op.handle) cublasDestroy(op.handle);
    return rc;
}
