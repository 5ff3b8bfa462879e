/* naive.c — variant `naive`: materialised fp32 scores, no tensor cores (kernels/naive.cu).
 *
 * The slowest honest exact attention: scale·Q·Kᵀ into an fp32 [B][H][S][S] workspace, softmax in
 * place, then P·V, each a plain CUDA kernel with fp32 arithmetic. Causal points compute the full
 * square (the mask is applied in the softmax), so the executed FLOPs are 4·B·H·S²·D for both. The
 * workspace is 4·B·H·S² bytes: S=16384, H=16 needs 17 GB, and larger points are skipped by the
 * harness when the allocation fails. No parameters; the plan is the workspace. CPU implementation:
 * attention with fp32 scores and probabilities, no rounding of intermediates (cpu_attention.c). */
#include <stdlib.h>

#include "cpu_attention.h"
#include "variant.h"
#include "naive.h"

typedef struct naive_plan {
    attn_plan head;
    float *scores; /* the workspace: [B][H][S][S] scores, then probabilities in place; NULL on the
                      CPU backend */
} naive_plan;

static double score_elems(const attn_point *p)
{
    return (double)p->batch * p->heads * p->seq * p->seq;
}

static size_t naive_workspace_bytes(const attn_point *p, const void *config)
{
    (void)config;
    return (size_t)p->batch * p->heads * p->seq * p->seq * sizeof(float);
}

static int naive_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    naive_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    pl->scores = args->dev ? args->dev->workspace : NULL;
    *plan = &pl->head;
    return ATTN_OK;
}

static int naive_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    const naive_plan *pl = (const naive_plan *)plan;
    return attn_naive_forward(&plan->point, io->q, io->k, io->v, io->o, pl->scores, stream);
}

static void naive_release(attn_plan *plan) { free(plan); }

static int naive_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    return attn_cpu_attention_rows(&plan->point, in, rows, n_rows, 0, out);
}

/* The full square in FLOPs; Q, K, V read and O written once; the fp32 score matrix written
 * (scores), read and written (softmax), read (P·V). Three launches. */
static void naive_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const double elem = (double)attn_dtype_size(p->dtype);
    w->flops = 4.0 * score_elems(p) * p->head_dim;
    w->bytes = elem * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p)) + 4.0 * 4.0 * score_elems(p);
    w->launches = 3;
}

const attn_variant attn_variant_naive = {
    .name = "naive",
    .description = "materialised fp32 scores, no tensor cores (three plain CUDA kernels)",
    .exact = 1,
    .workspace_bytes = naive_workspace_bytes,
    .prepare = naive_prepare,
    .run = naive_run,
    .release = naive_release,
    .cpu_rows = naive_cpu_rows,
    .work = naive_work,
};
