/* naive.c — variant `naive`: materialised fp32 scores, no tensor cores (kernels/naive.cu).
 *
 * The slowest honest exact attention: scale·Q·Kᵀ into an fp32 [B][H][S][S] workspace, softmax in
 * place, then P·V, each a plain CUDA kernel with fp32 arithmetic. Causal points compute the full
 * square (the mask is applied in the softmax), so flops() is 4·B·H·S²·D for both. The workspace is
 * 4·B·H·S² bytes: S=16384, H=16 needs 17 GB, and larger points are skipped by the harness when the
 * allocation fails. CPU implementation: attention with fp32 scores and probabilities, no rounding
 * of intermediates (cpu_attention.c). */
#include <stdlib.h>

#include "cpu_attention.h"
#include "variant.h"
#include "naive.h"

typedef struct naive_state {
    attn_point point;
    float *scores; /* the workspace: [B][H][S][S] scores, then probabilities in place */
} naive_state;

static double score_elems(const attn_point *p)
{
    return (double)p->batch * p->heads * p->seq * p->seq;
}

static const char *naive_supports(const attn_point *p)
{
    (void)p;
    return NULL;
}

static size_t naive_workspace_bytes(const attn_point *p)
{
    return (size_t)p->batch * p->heads * p->seq * p->seq * sizeof(float);
}

static int naive_prepare(const attn_point *p, void *workspace, cudaStream_t stream, void **state)
{
    (void)stream;
    naive_state *st = malloc(sizeof *st);
    if (!st) return attn_fail("naive: out of host memory");
    st->point = *p;
    st->scores = workspace;
    *state = st;
    return ATTN_OK;
}

static int naive_run(void *state, const attn_device_io *io, cudaStream_t stream)
{
    naive_state *st = state;
    return attn_naive_forward(&st->point, io->q, io->k, io->v, io->o, st->scores, stream);
}

static void naive_release(void *state) { free(state); }

static int naive_cpu_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    return attn_cpu_attention_rows(p, in, rows, n_rows, 0, out);
}

static double naive_flops(const attn_point *p)
{
    return 4.0 * score_elems(p) * p->head_dim;
}

/* Q, K, V read and O written once; the fp32 score matrix written (scores), read and written
 * (softmax), read (P·V). */
static double naive_bytes(const attn_point *p)
{
    const double elem = (double)attn_dtype_size(p->dtype);
    return elem * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p)) + 4.0 * 4.0 * score_elems(p);
}

static int naive_launches(const attn_point *p)
{
    (void)p;
    return 3;
}

const attn_variant attn_variant_naive = {
    .name = "naive",
    .description = "materialised fp32 scores, no tensor cores (three plain CUDA kernels)",
    .exact = 1,
    .supports = naive_supports,
    .workspace_bytes = naive_workspace_bytes,
    .prepare = naive_prepare,
    .run = naive_run,
    .release = naive_release,
    .describe = NULL,
    .cpu_rows = naive_cpu_rows,
    .flops = naive_flops,
    .bytes = naive_bytes,
    .launches = naive_launches,
};
