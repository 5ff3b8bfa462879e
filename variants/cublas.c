/* cublas.c — variant `cublas`: the baseline. Materialised attention as two cuBLAS GEMMs around one
 * fused scale/mask/softmax kernel (kernels/softmax.cu), all in place on one score buffer:
 *   1. scores = Q·Kᵀ   cublasGemmStridedBatchedEx, raw (alpha = 1), written in the dtype;
 *   2. P = softmax(scale·scores) with the causal mask, in place, written in the dtype;
 *   3. O = P·V         cublasGemmStridedBatchedEx, written in the dtype.
 * Both GEMMs use CUBLAS_COMPUTE_32F (fp32 accumulation) and forbid reductions in the output type
 * (split-K partial sums stay fp32). fp16/bf16 run on tensor cores; fp32 is a true fp32 SGEMM
 * (COMPUTE_32F with the default math mode never uses TF32), so fp32 is much slower.
 *
 * GQA without copying K/V: one batch entry per (b, kv head), batchCount = B·H_kv. The g = H/H_kv
 * query heads of a group are adjacent, so the group's queries are one (g·S)×D row-major matrix and
 * its scores one (g·S)×S matrix. cuBLAS is column-major and a row-major X is a column-major Xᵀ:
 *   scores(gS×S) = Q·Kᵀ  is  gemm(T, N, m=S, n=gS, k=D, A=K lda=D, B=Q ldb=D, C ldc=S)
 *   O(gS×D)      = P·V   is  gemm(N, N, m=D, n=gS, k=S, A=V lda=D, B=P ldb=S, C ldc=D)
 * with batch strides Q, O: g·S·D; K, V: S·D; scores: g·S·S (64-bit).
 *
 * Materialises B·H·S² elements of the dtype (S=16384, H=16: 8.6 GB in bf16). Causal points still
 * compute the full square in both GEMMs (the softmax skips reading the masked half, and writes it
 * as zeros). The workspace also holds a fixed 32 MiB cuBLAS workspace, so that cuBLAS allocates
 * nothing of its own. No parameters. The plan holds the cuBLAS handle bound to the run's stream
 * (on the CPU backend: no handle, no CUDA call). CPU implementation: attention with the scores and
 * the probabilities rounded to the dtype, as the GEMM and the softmax store them. */
#include <cublas_v2.h>
#include <stdlib.h>

#include "cpu_attention.h"
#include "variant.h"
#include "softmax.h"

#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20) /* what NVIDIA recommends for Hopper */
#define ALIGN 256

typedef struct cublas_plan {
    attn_plan head;
    cublasHandle_t handle; /* NULL on the CPU backend */
    cudaStream_t stream;   /* the stream the handle is bound to */
    void *scores;          /* [B][H][S][S] in the dtype: scores, then probabilities in place */
    void *cublas_workspace;
} cublas_plan;

static size_t scores_bytes(const attn_point *p)
{
    size_t n = (size_t)p->batch * p->heads * p->seq * p->seq * attn_dtype_size(p->dtype);
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static cudaDataType cuda_type(attn_dtype t)
{
    return t == ATTN_FP16 ? CUDA_R_16F : t == ATTN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static size_t cublas_workspace_bytes(const attn_point *p, const void *config)
{
    (void)config;
    return scores_bytes(p) + CUBLAS_WORKSPACE_BYTES;
}

/* Binds the handle and its fixed workspace to `stream` (cublasSetStream resets the workspace). */
static int bind_stream(cublas_plan *st, cudaStream_t stream)
{
    CUBLAS_CHECK(cublasSetStream(st->handle, stream));
    CUBLAS_CHECK(cublasSetWorkspace(st->handle, st->cublas_workspace, CUBLAS_WORKSPACE_BYTES));
    st->stream = stream;
    return ATTN_OK;
}

static void cublas_release(attn_plan *plan)
{
    cublas_plan *st = (cublas_plan *)plan;
    if (!st) return;
    if (st->handle) cublasDestroy(st->handle);
    free(st);
}

/* GPU: a handle with fp32 reductions, bound to the run's stream, over the workspace's tail. */
static int cublas_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    cublas_plan *st = attn_plan_new(sizeof *st, args);
    if (!st) return ATTN_ERR;
    int rc = ATTN_OK;
    if (args->dev) {
        st->scores = args->dev->workspace;
        st->cublas_workspace = (char *)args->dev->workspace + scores_bytes(args->point);
        CUBLAS_CHECK_GOTO(cublasCreate(&st->handle), rc, fail);
        const cublasMath_t math =
            CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
        CUBLAS_CHECK_GOTO(cublasSetMathMode(st->handle, math), rc, fail);
        ATTN_TRY_GOTO(bind_stream(st, args->dev->stream), rc, fail);
    }
    *plan = &st->head;
    return ATTN_OK;
fail:
    cublas_release(&st->head);
    return rc;
}

static int cublas_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    cublas_plan *st = (cublas_plan *)plan;
    const attn_point *p = &plan->point;
    if (stream != st->stream) ATTN_TRY(bind_stream(st, stream));
    const int S = p->seq, D = p->head_dim, gS = p->heads / p->kv_heads * p->seq;
    const int batches = p->batch * p->kv_heads;
    const long long q_stride = (long long)gS * D, kv_stride = (long long)S * D;
    const long long scores_stride = (long long)gS * S;
    const cudaDataType t = cuda_type(p->dtype);
    const float one = 1.0f, zero = 0.0f;

    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_T, CUBLAS_OP_N, S, gS, D, &one,
                                            io->k, t, D, kv_stride, io->q, t, D, q_stride, &zero,
                                            st->scores, t, S, scores_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    ATTN_TRY(attn_softmax_scores(p->dtype, st->scores, (long long)p->batch * p->heads * S, S,
                                 p->causal, (float)attn_scale(p), stream));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, gS, S, &one,
                                            io->v, t, D, kv_stride, st->scores, t, S,
                                            scores_stride, &zero, io->o, t, D, q_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ATTN_OK;
}

static void cublas_describe(const attn_plan *plan, char *buf, size_t n)
{
    attn_softmax_describe(plan->point.dtype, plan->point.seq, buf, n);
}

static int cublas_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                           size_t n_rows, float *out)
{
    return attn_cpu_attention_rows(&plan->point, in, rows, n_rows,
                                   ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, out);
}

/* The full square in both GEMMs. Q, K, V read and O written once; the score buffer written
 * (GEMM), read (softmax: only the attended keys when causal) and written (softmax), read (GEMM).
 * cuBLAS decides the GEMMs' launches (split-K). */
static void cublas_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const double elem = (double)attn_dtype_size(p->dtype), S = p->seq;
    const double square = (double)p->batch * p->heads * S * S;
    const double softmax_read = p->causal ? (double)p->batch * p->heads * S * (S + 1) / 2 : square;
    w->flops = 4.0 * p->batch * p->heads * (double)p->seq * p->seq * p->head_dim;
    w->bytes =
        elem * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p) + 3.0 * square + softmax_read);
    w->launches = -1;
}

const attn_variant attn_variant_cublas = {
    .name = "cublas",
    .description = "materialised scores: cuBLAS GEMMs (fp32 accumulate) around an in-place softmax",
    .exact = 1,
    .baseline = 1,
    .workspace_bytes = cublas_workspace_bytes,
    .prepare = cublas_prepare,
    .run = cublas_run,
    .release = cublas_release,
    .describe = cublas_describe,
    .cpu_rows = cublas_cpu_rows,
    .work = cublas_work,
};
