/* ceilings.c — measured GEMM and copy ceilings (see ceilings.h). One timing loop serves both: an
 * operation enqueued between two events, WARMUP times untimed, then the median of REPS. */
#include "measure/ceilings.h"

#include <cublas_v2.h>
#include <string.h>

#include "core/error.h"
#include "measure/gpu.h"
#include "core/stats.h"
#include "inputs.h"

enum { REPS = 10, WARMUP = 3 };

/* What is timed: one GEMM or one copy on the stream. */
typedef struct ceiling_op {
    cublasHandle_t handle; /* GEMM */
    attn_dtype dtype;
    int n;
    void *a, *b, *c;       /* GEMM operands, or copy source a and destination b */
    size_t copy_bytes;     /* 0: a GEMM */
} ceiling_op;

static int enqueue_op(const ceiling_op *op, cudaStream_t s)
{
    if (op->copy_bytes) {
        CUDA_CHECK(cudaMemcpyAsync(op->b, op->a, op->copy_bytes, cudaMemcpyDeviceToDevice, s));
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
