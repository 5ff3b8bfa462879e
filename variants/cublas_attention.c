/* cublas_attention.c — materialised attention by cuBLAS and its handle (see cublas_attention.h). */
#include "cublas_attention.h"

#include "softmax.h"

static int set_stream(attn_cublas *b, cudaStream_t stream)
{
    CUBLAS_CHECK(cublasSetStream(b->handle, stream));
    CUBLAS_CHECK(cublasSetWorkspace(b->handle, b->workspace, ATTN_CUBLAS_WORKSPACE_BYTES));
    b->stream = stream;
    return ATTN_OK;
}

int attn_cublas_open(attn_cublas *b, void *workspace, cudaStream_t stream)
{
    cublasHandle_t h;
    b->handle = NULL;
    CUBLAS_CHECK(cublasCreate(&h));
    b->handle = h, b->workspace = workspace;
    int rc = ATTN_OK;
    CUBLAS_CHECK_GOTO(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH |
                                               CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION),
                      rc, fail);
    ATTN_TRY_GOTO(set_stream(b, stream), rc, fail);
    return ATTN_OK;
fail:
    attn_cublas_close(b);
    return rc;
}

int attn_cublas_bind(attn_cublas *b, cudaStream_t stream)
{
    return stream == b->stream ? ATTN_OK : set_stream(b, stream);
}

void attn_cublas_close(attn_cublas *b)
{
    if (b->handle) cublasDestroy(b->handle);
    b->handle = NULL;
}

cudaDataType attn_cublas_dtype(attn_dtype t)
{
    return t == ATTN_FP16 ? CUDA_R_16F : t == ATTN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

size_t attn_cublas_scores_bytes(const attn_point *p, int Sq, int Sk)
{
    return (size_t)p->batch * p->heads * Sq * Sk * attn_dtype_size(p->dtype);
}

int attn_cublas_attention(attn_cublas *b, const attn_point *p, int Hkv, int Sq, int Sk,
                          const void *q, const void *k, const void *v, void *o, void *scores)
{
    if (p->causal && Sq != Sk) return attn_fail("cuBLAS attention: causal needs Sq == Sk");
    const int D = p->head_dim, gS = p->heads / Hkv * Sq, batches = p->batch * Hkv;
    const long long q_stride = (long long)gS * D, kv_stride = (long long)Sk * D;
    const long long scores_stride = (long long)gS * Sk;
    const cudaDataType t = attn_cublas_dtype(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, Sk, gS, D, &one,
                                            k, t, D, kv_stride, q, t, D, q_stride, &zero, scores,
                                            t, Sk, scores_stride, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    ATTN_TRY(attn_softmax_scores(p->dtype, scores, (long long)p->batch * p->heads * Sq, Sk,
                                 p->causal, (float)attn_scale(p), b->stream));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(b->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, gS, Sk, &one,
                                            v, t, D, kv_stride, scores, t, Sk, scores_stride,
                                            &zero, o, t, D, q_stride, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    return ATTN_OK;
}
