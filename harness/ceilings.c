/* ceilings.c — measured GEMM and copy ceilings (see ceilings.h). */
#include "ceilings.h"

#include <cublas_v2.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gpu.h"
#include "stats.h"

enum { REPS = 10, WARMUP = 3 };

/* Median time (ms) of `reps` GEMMs of dtype t on n×n×n after a warm-up. */
static int time_gemm(cublasHandle_t h, cudaStream_t s, attn_dtype t, int n, double *ms_out)
{
    size_t elems = (size_t)n * n, bytes = elems * attn_dtype_size(t);
    void *a = NULL, *b = NULL, *c = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int rc = ATTN_ERR;
    double ms[REPS];
    cudaDataType dt = t == ATTN_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const float one = 1.0f, zero = 0.0f;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes) || cudaMalloc(&c, bytes)) {
        rc = attn_fail_cuda(cudaGetLastError(), "cudaMalloc(ceiling GEMM)", __FILE__, __LINE__);
        goto out;
    }
    if (attn_fill_device(a, t, elems, 7, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, 128, s) ||
        attn_fill_device(b, t, elems, 7, ATTN_TENSOR_K, ATTN_INIT_NORMAL, 128, s))
        goto out;
    if (cudaEventCreate(&e0) || cudaEventCreate(&e1)) {
        rc = attn_fail_cuda(cudaGetLastError(), "cudaEventCreate", __FILE__, __LINE__);
        goto out;
    }
    for (int i = 0; i < WARMUP + REPS; i++) {
        int st = cudaEventRecord(e0, s);
        int bl = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, dt, n, b, dt, n, &zero,
                              c, dt, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (bl) {
            rc = attn_fail_cublas(bl, "cublasGemmEx(ceiling)", __FILE__, __LINE__);
            goto out;
        }
        float f = 0;
        if (st || cudaEventRecord(e1, s) || cudaEventSynchronize(e1) || cudaEventElapsedTime(&f, e0, e1)) {
            rc = attn_fail_cuda(cudaGetLastError(), "timing a ceiling GEMM", __FILE__, __LINE__);
            goto out;
        }
        if (i >= WARMUP) ms[i - WARMUP] = f;
    }
    *ms_out = stats_median(ms, REPS);
    rc = ATTN_OK;
out:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b), cudaFree(c);
    return rc;
}

static int time_copy(cudaStream_t s, double *bytes_out, double *ms_out)
{
    size_t bytes = (size_t)512 << 20;
    void *a = NULL, *b = NULL;
    while (bytes >= ((size_t)16 << 20) && (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes))) {
        cudaFree(a), cudaFree(b);
        a = b = NULL;
        cudaGetLastError();
        bytes /= 2;
    }
    if (!a || !b) return attn_fail("no device memory for the copy ceiling");
    cudaEvent_t e0 = NULL, e1 = NULL;
    int rc = ATTN_ERR;
    double ms[REPS];
    if (cudaMemsetAsync(a, 1, bytes, s) || cudaEventCreate(&e0) || cudaEventCreate(&e1)) {
        rc = attn_fail_cuda(cudaGetLastError(), "copy ceiling setup", __FILE__, __LINE__);
        goto out;
    }
    for (int i = 0; i < WARMUP + REPS; i++) {
        float f = 0;
        if (cudaEventRecord(e0, s) || cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s) ||
            cudaEventRecord(e1, s) || cudaEventSynchronize(e1) || cudaEventElapsedTime(&f, e0, e1)) {
            rc = attn_fail_cuda(cudaGetLastError(), "timing the copy ceiling", __FILE__, __LINE__);
            goto out;
        }
        if (i >= WARMUP) ms[i - WARMUP] = f;
    }
    *ms_out = stats_median(ms, REPS);
    *bytes_out = (double)bytes;
    rc = ATTN_OK;
out:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b);
    return rc;
}

int attn_ceilings_measure(cudaStream_t stream, attn_ceilings *c)
{
    memset(c, 0, sizeof *c);
    c->gemm_n = 8192;
    c->reps = REPS;
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    double ms = 0, n = c->gemm_n, flops = 2 * n * n * n;
    int rc = cublasSetStream(h, stream);
    if (rc) rc = attn_fail_cublas(rc, "cublasSetStream", __FILE__, __LINE__);
    if (rc == ATTN_OK && (rc = time_gemm(h, stream, ATTN_BF16, c->gemm_n, &ms)) == ATTN_OK)
        c->gemm_bf16_tflops = flops / (ms * 1e-3) / 1e12;
    if (rc == ATTN_OK && (rc = time_gemm(h, stream, ATTN_FP16, c->gemm_n, &ms)) == ATTN_OK)
        c->gemm_fp16_tflops = flops / (ms * 1e-3) / 1e12;
    cublasDestroy(h);
    ATTN_TRY(rc);
    ATTN_TRY(time_copy(stream, &c->copy_bytes, &ms));
    c->copy_gbps = 2 * c->copy_bytes / (ms * 1e-3) / 1e9;
    return ATTN_OK;
}
