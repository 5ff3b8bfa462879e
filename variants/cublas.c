/* cublas.c — variant `cublas`: the baseline. Materialised attention as two cuBLAS GEMMs around one
 * fused scale/mask/softmax kernel (kernels/softmax.cu), all in place on one score buffer: the
 * routine of cublas_attention.h with Sq = Sk = S (its comment has the GEMMs, the GQA batching and
 * the precision; fp32 is a true fp32 SGEMM, so fp32 is much slower).
 *
 * Materialises B·H·S² elements of the dtype (S=16384, H=16: 8.6 GB in bf16). Causal points still
 * compute the full square in both GEMMs (the softmax skips reading the masked half, and writes it
 * as zeros). The workspace also holds a fixed 32 MiB cuBLAS workspace, so that cuBLAS allocates
 * nothing of its own. No parameters. The plan holds the cuBLAS handle bound to the run's stream
 * (on the CPU backend: no handle, no CUDA call). CPU implementation: attention with the scores and
 * the probabilities rounded to the dtype, as the GEMM and the softmax store them. */
#include <stdlib.h>

#include "cpu_attention.h"
#include "cublas_attention.h"
#include "variant.h"
#include "softmax.h"

#define ALIGN 256

typedef struct cublas_plan {
    attn_plan head;
    attn_cublas blas; /* the handle: not open on the CPU backend */
    void *scores;     /* [B][H][S][S] in the dtype: scores, then probabilities in place */
} cublas_plan;

static size_t scores_bytes(const attn_point *p)
{
    size_t n = (size_t)p->batch * p->heads * p->seq * p->seq * attn_dtype_size(p->dtype);
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static size_t cublas_workspace_bytes(const attn_point *p, const void *config)
{
    (void)config;
    return scores_bytes(p) + ATTN_CUBLAS_WORKSPACE_BYTES;
}

static void cublas_release(attn_plan *plan)
{
    cublas_plan *st = (cublas_plan *)plan;
    if (!st) return;
    attn_cublas_close(&st->blas);
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
        void *cublas_workspace = (char *)args->dev->workspace + scores_bytes(args->point);
        ATTN_TRY_GOTO(attn_cublas_open(&st->blas, cublas_workspace, args->dev->stream), rc, fail);
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
    ATTN_TRY(attn_cublas_bind(&st->blas, stream));
    return attn_cublas_attention(&st->blas, p, p->kv_heads, p->seq, p->seq, io->q, io->k, io->v,
                                 io->o, st->scores);
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
