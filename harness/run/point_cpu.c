/* point_cpu.c — the CPU backend of a point (see point.h): the variants' CPU implementations in the
 * GPU's pipeline. Inputs made on the host; the plan made on the host (prepare without device
 * arguments: no CUDA call); a checked run of cpu_rows over every row into a poisoned output, kept
 * in the dtype as a GPU store would; timed samples of that run on the monotonic clock. Mirrors
 * point_gpu.c step for step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/interrupt.h"
#include "run/point.h"

static void cpu_inputs_free(run_shape *s)
{
    free(s->all_rows), free(s->all_out);
    s->all_rows = NULL, s->all_out = NULL;
}

/* The seeded inputs made on the host; every row for cpu_rows and room for their output. */
static int cpu_inputs(const run_env *env, run_shape *s)
{
    const attn_point *p = &s->p;
    const run_options *o = env->o;
    const size_t nq = attn_q_elems(p), nkv = attn_kv_elems(p);
    s->n_all = (size_t)p->batch * p->heads * p->seq;
    s->all_rows = malloc(s->n_all * sizeof *s->all_rows);
    s->all_out = malloc(nq * sizeof *s->all_out);
    if (!s->all_rows || !s->all_out) return attn_fail("out of host memory for the output");
    if (o->inputs_dir) {
        ATTN_TRY(run_shape_load_inputs(env, s));
    } else {
        attn_fill_host(s->hq, p->dtype, nq, o->seed, ATTN_TENSOR_Q, o->init, p->head_dim, p->seq);
        attn_fill_host(s->hk, p->dtype, nkv, o->seed, ATTN_TENSOR_K, o->init, p->head_dim, p->seq);
        attn_fill_host(s->hv, p->dtype, nkv, o->seed, ATTN_TENSOR_V, o->init, p->head_dim, p->seq);
    }
    size_t n = 0;
    for (int b = 0; b < p->batch; b++)
        for (int h = 0; h < p->heads; h++)
            for (int q = 0; q < p->seq; q++) s->all_rows[n++] = (attn_row){b, h, q};
    return ATTN_OK;
}

static int cpu_prepare(run_point *pt)
{
    const attn_prepare_args args = {&pt->p, pt->config, &pt->shape->in, NULL};
    return pt->v->prepare(&args, &pt->plan);
}

/* One forward pass: cpu_rows over every row (none once a Ctrl-C has arrived: between samples). */
static int cpu_forward(void *ctx)
{
    run_point *pt = ctx;
    run_shape *s = pt->shape;
    ATTN_TRY(attn_interrupt_check());
    return pt->v->cpu_rows(pt->plan, &s->in, s->all_rows, s->n_all, s->all_out);
}

/* The output poisoned (NaN, so an unwritten element fails the check), one pass, the output stored
 * in the dtype as the GPU's store rounds it. */
static int cpu_checked_run(run_point *pt)
{
    run_shape *s = pt->shape;
    const size_t n = attn_q_elems(&s->p);
    for (size_t i = 0; i < n; i++) s->all_out[i] = NAN;
    ATTN_TRY(cpu_forward(pt));
    for (size_t i = 0; i < n; i++) attn_store(s->p.dtype, s->out, i, s->all_out[i]);
    return ATTN_OK;
}

static int cpu_time(run_point *pt)
{
    /* No move between placement rounds: the host inputs stay where they are (the rounds are
     * recorded all the same, so that the GPU's pipeline is tested here). */
    ATTN_TRY(attn_measure_cpu(&pt->env->o->measure, cpu_forward, NULL, pt, &pt->samples,
                              &pt->profile));
    pt->profile.method = "cpu_clock";
    return ATTN_OK;
}

/* Out of memory → skipped; anything else → error. */
static run_point_status cpu_failed(run_point *pt)
{
    (void)pt;
    return attn_last_error.out_of_memory ? RUN_POINT_SKIPPED : RUN_POINT_ERROR;
}

static void cpu_release(run_point *pt)
{
    if (pt->plan) pt->v->release(pt->plan);
    pt->plan = NULL;
}

const run_backend run_backend_cpu = {
    "cpu", cpu_inputs, cpu_inputs_free, cpu_prepare, cpu_checked_run, cpu_time, cpu_failed,
    cpu_release,
};
