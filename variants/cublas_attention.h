/* cublas_attention.h — materialised attention by cuBLAS, shared by the `cublas` variant (S queries
 * over S keys, causal or not) and by the cuBLAS attention path of `lowrank` and `nystrom` (Sq
 * queries over Sk keys, non-causal):
 *   1. scores = Q·Kᵀ   cublasGemmStridedBatchedEx, raw (alpha = 1), written in the dtype;
 *   2. P = softmax(scale·scores), the causal mask applied, in place (kernels/softmax.h);
 *   3. O = P·V         cublasGemmStridedBatchedEx, written in the dtype.
 * Both GEMMs accumulate in fp32 (CUBLAS_COMPUTE_32F) and the handle forbids reductions in the
 * output type (split-K partial sums stay fp32); fp16/bf16 run on tensor cores, fp32 is a true
 * SGEMM (no TF32).
 *
 * GQA without copying K/V: one batch entry per (b, KV head), batchCount = B·H_kv. The g = H/H_kv
 * query heads of a group are adjacent, so the group's queries are one (g·Sq)×D row-major matrix and
 * its scores one (g·Sq)×Sk matrix. cuBLAS is column-major and a row-major X is a column-major Xᵀ:
 *   scores(gSq×Sk) = Q·Kᵀ  is  gemm(T, N, m=Sk, n=gSq, k=D, A=K lda=D, B=Q ldb=D, C ldc=Sk)
 *   O(gSq×D)       = P·V   is  gemm(N, N, m=D, n=gSq, k=Sk, A=V lda=D, B=P ldb=Sk, C ldc=D)
 * with batch strides Q, O: g·Sq·D; K, V: Sk·D; scores: g·Sq·Sk (64-bit).
 *
 * Materialises B·H·Sq·Sk elements of the dtype (the caller's buffer). The handle uses a fixed
 * cuBLAS workspace the caller owns (ATTN_CUBLAS_WORKSPACE_BYTES of its variant workspace), so that
 * cuBLAS allocates nothing of its own. */
#ifndef ATTN_CUBLAS_ATTENTION_H
#define ATTN_CUBLAS_ATTENTION_H

#include <cublas_v2.h>
#include <stddef.h>

#include "variant.h"

#define ATTN_CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20) /* what NVIDIA recommends for Hopper */

/* A cuBLAS handle bound to a stream and to a fixed workspace. */
typedef struct attn_cublas {
    cublasHandle_t handle; /* NULL when not open */
    cudaStream_t stream;   /* the stream the handle is bound to */
    void *workspace;       /* ATTN_CUBLAS_WORKSPACE_BYTES of device memory, the caller's */
} attn_cublas;

/* Creates the handle (fp32 reductions only), bound to `stream` and `workspace`. On failure
 * nothing is left open. */
int attn_cublas_open(attn_cublas *b, void *workspace, cudaStream_t stream);
/* Rebinds the handle when `stream` is not the one it is bound to (cublasSetStream resets the
 * workspace, so both are set). */
int attn_cublas_bind(attn_cublas *b, cudaStream_t stream);
/* Destroys the handle; harmless on one that is not open. */
void attn_cublas_close(attn_cublas *b);

/* The cuBLAS type of a dtype. */
cudaDataType attn_cublas_dtype(attn_dtype t);

/* Bytes of the score buffer for Sq queries over Sk keys: B·H·Sq·Sk elements of p's dtype. */
size_t attn_cublas_scores_bytes(const attn_point *p, int Sq, int Sk);

/* O [B][H][Sq][D] = softmax(Q·Kᵀ/√D)·V from Q [B][H][Sq][D] and K, V [B][Hkv][Sk][D] (B, H, D,
 * the dtype and causal from p; causal needs Sq == Sk), through `scores`
 * (attn_cublas_scores_bytes), enqueued on the handle's stream. */
int attn_cublas_attention(attn_cublas *b, const attn_point *p, int Hkv, int Sq, int Sk,
                          const void *q, const void *k, const void *v, void *o, void *scores);

#endif
