/* cublas.c — variant `cublas`: the baseline. Materialised attention as two cuBLAS GEMMs around one
 * fused scale/mask/softmax kernel (kernels/softmax.cu), all in place on one score buffer: the
 * routine of cublas_attention.h with Sq = Sk = S (its comment has the GEMMs, the GQA batching and
 * the precision).
 *
 * Materialises B·H·S² elements of the dtype (S=16384, H=16: 8.6 GB in bf16). Causal points still
 * compute the full square in both GEMMs (the softmax skips reading the masked half, and writes it
 * as zeros). The workspace also holds a fixed 32 MiB cuBLAS workspace, so that cuBLAS allocates
 * nothing of its own. CPU implementation: attention with the scores and the probabilities rounded
 * to the dtype, as the GEMM and the softmax store them. */
#include <stdlib.h>

#include "cpu_attention.h"
#include "cublas_attention.h"
#include "variant.h"
#include "softmax.h"

#define ALIGN 256

typedef struct cublas_state {
    attn_point point;
    attn_cublas blas;
    void *scores; /* [B][H][S][S] in the dtype: scores, then probabilities in place */
} cublas_state;

static size_t scores_bytes(const attn_point *p)
{
    size_t n = (size_t)p->batch * p->heads * p->seq * p->seq * attn_dtype_size(p->dtype);
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static const char *cublas_supports(const attn_point *p)
{
    (void)p;
    return NULL;
}

static size_t cublas_workspace_bytes(const attn_point *p)
{
    return scores_bytes(p) + ATTN_CUBLAS_WORKSPACE_BYTES;
}

static void cublas_release(void *state)
{
    cublas_state *st = state;
    if (!st) return;
    attn_cublas_close(&st->blas);
    free(st);
}

static int cublas_prepare(const attn_point *p, void *workspace, cudaStream_t stream, void **state)
{
    cublas_state *st = calloc(1, sizeof *st);
    if (!st) return attn_fail("cublas: out of host memory");
    st->point = *p;
    st->scores = workspace;
    const int r = attn_cublas_open(&st->blas, (char *)workspace + scores_bytes(p), stream);
    if (r != ATTN_OK) {
        cublas_release(st);
        return r;
    }
    *state = st;
    return ATTN_OK;
}

static int cublas_run(void *state, const attn_device_io *io, cudaStream_t stream)
{
    cublas_state *st = state;
    const attn_point *p = &st->point;
    ATTN_TRY(attn_cublas_bind(&st->blas, stream));
    return attn_cublas_attention(&st->blas, p, p->kv_heads, p->seq, p->seq, io->q, io->k, io->v,
                                 io->o, st->scores);
}

static void cublas_describe(const void *state, char *buf, size_t n)
{
    const cublas_state *st = state;
    attn_softmax_describe(st->point.dtype, st->point.seq, buf, n);
}

static int cublas_cpu_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                           size_t n_rows, float *out)
{
    return attn_cpu_attention_rows(p, in, rows, n_rows, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, out);
}

static double cublas_flops(const attn_point *p)
{
    return 4.0 * p->batch * p->heads * (double)p->seq * p->seq * p->head_dim;
}

/* Q, K, V read and O written once; the score buffer written (GEMM), read (softmax: only the
 * attended keys when causal) and written (softmax), read (GEMM). */
static double cublas_bytes(const attn_point *p)
{
    const double elem = (double)attn_dtype_size(p->dtype), S = p->seq;
    const double square = (double)p->batch * p->heads * S * S;
    const double softmax_read = p->causal ? (double)p->batch * p->heads * S * (S + 1) / 2 : square;
    return elem * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p) + 3.0 * square + softmax_read);
}

static int cublas_launches(const attn_point *p)
{
    (void)p;
    return -1;
}

const attn_variant attn_variant_cublas = {
    .name = "cublas",
    .description = "materialised scores: cuBLAS GEMMs (fp32 accumulate) around an in-place softmax",
    .exact = 1,
    .baseline = 1,
    .supports = cublas_supports,
    .workspace_bytes = cublas_workspace_bytes,
    .prepare = cublas_prepare,
    .run = cublas_run,
    .release = cublas_release,
    .describe = cublas_describe,
    .cpu_rows = cublas_cpu_rows,
    .flops = cublas_flops,
    .bytes = cublas_bytes,
    .launches = cublas_launches,
};
