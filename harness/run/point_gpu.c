/* point_gpu.c — the GPU backend of a point (see point.h): inputs generated on the device and
 * copied back for the check, the workspace allocated by the harness (so that out of memory is
 * handled in one place), a checked run into a poisoned output, timed samples (measure.h), and the
 * --metrics counter pass. Mirrors point_cpu.c step for step. */
#include <stdlib.h>
#include <string.h>

#include "timer.h"
#include "core/interrupt.h"
#include "measure/gpu.h"
#include "measure/trace.h"
#include "run/point.h"
#include "inputs.h"

static void gpu_inputs_free(run_shape *s)
{
    cudaFree((void *)s->dev.q), cudaFree((void *)s->dev.k), cudaFree((void *)s->dev.v);
    cudaFree(s->dev.o);
    memset(&s->dev, 0, sizeof s->dev);
}

/* The seeded inputs made on the device and copied back to the host. */
static int gpu_inputs(const run_env *env, run_shape *s)
{
    const attn_point *p = &s->p;
    const run_options *o = env->o;
    const size_t es = attn_dtype_size(p->dtype), nq = attn_q_elems(p), nkv = attn_kv_elems(p);
    void *dq, *dk, *dv;
    CUDA_CHECK(cudaMalloc(&dq, nq * es));
    s->dev.q = dq;
    CUDA_CHECK(cudaMalloc(&dk, nkv * es));
    s->dev.k = dk;
    CUDA_CHECK(cudaMalloc(&dv, nkv * es));
    s->dev.v = dv;
    CUDA_CHECK(cudaMalloc(&s->dev.o, nq * es));
    const int D = p->head_dim;
    ATTN_TRY(attn_fill_device(dq, p->dtype, nq, o->seed, ATTN_TENSOR_Q, o->init, D, env->stream));
    ATTN_TRY(attn_fill_device(dk, p->dtype, nkv, o->seed, ATTN_TENSOR_K, o->init, D, env->stream));
    ATTN_TRY(attn_fill_device(dv, p->dtype, nkv, o->seed, ATTN_TENSOR_V, o->init, D, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hq, dq, nq * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hk, dk, nkv * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hv, dv, nkv * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaStreamSynchronize(env->stream));
    return ATTN_OK;
}

static int gpu_prepare(run_point *pt)
{
    const run_shape *s = pt->shape;
    pt->sp.device_bytes = (double)(2 * attn_q_elems(&s->p) + 2 * attn_kv_elems(&s->p)) *
                              attn_dtype_size(s->p.dtype) + (double)pt->workspace_bytes;
    if (pt->workspace_bytes) CUDA_CHECK(cudaMalloc(&pt->workspace, pt->workspace_bytes));
    const attn_prepare_device dev = {s->dev, pt->workspace, pt->env->stream};
    const attn_prepare_args args = {&pt->p, pt->config, &s->in, &dev};
    return pt->v->prepare(&args, &pt->plan);
}

/* The output poisoned (all-ones bytes are NaN in every dtype, so an unwritten element fails the
 * check), one run, what run() decided copied back into the plan, the output copied back. */
static int gpu_checked_run(run_point *pt)
{
    run_shape *s = pt->shape;
    cudaStream_t stream = pt->env->stream;
    const size_t out_bytes = attn_q_elems(&s->p) * attn_dtype_size(s->p.dtype);
    CUDA_CHECK(cudaMemsetAsync(s->dev.o, 0xff, out_bytes, stream));
    ATTN_TRY(pt->v->run(pt->plan, &s->dev, stream));
    if (pt->v->fetch_plan) ATTN_TRY(pt->v->fetch_plan(pt->plan, stream));
    CUDA_CHECK(cudaMemcpyAsync(s->out, s->dev.o, out_bytes, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    return ATTN_OK;
}

/* Waits for the device: a failure here is a sticky error (the context is lost). */
static int device_sync(void)
{
    CUDA_CHECK(cudaDeviceSynchronize());
    return ATTN_OK;
}

/* After a failure: is the context lost (a sticky error)? Then the sticky error is added to the
 * point's reason and the run aborts. Clears the non-sticky error state either way. */
static void check_sticky(run_point *pt)
{
    if (device_sync() != ATTN_OK) {
        size_t len = strlen(pt->reason);
        snprintf(pt->reason + len, sizeof pt->reason - len, "%s%s", len ? "; then " : "",
                 attn_last_error.msg);
        pt->abort = 1;
    }
    cudaGetLastError();
}

/* One timed forward pass (warm-ups and samples), with the --debug-spin busy-wait after it; none
 * once a Ctrl-C has arrived. */
static int timed_run(void *ctx, cudaStream_t stream)
{
    run_point *pt = ctx;
    ATTN_TRY(attn_interrupt_check());
    ATTN_TRY(pt->v->run(pt->plan, &pt->shape->dev, stream));
    return pt->spin_ns ? attn_spin(pt->spin_ns, stream) : ATTN_OK;
}

/* The counter pass replays the variant alone (no --debug-spin kernel). */
static int counted_run(void *ctx, cudaStream_t stream)
{
    run_point *pt = ctx;
    return pt->v->run(pt->plan, &pt->shape->dev, stream);
}

/* The hardware-counter pass of an ok point, after its timed samples. A failure is kept in
 * counters_error (the run turns the counters off; the point stays ok); a sticky CUDA error aborts
 * the run. */
static void counter_pass(run_point *pt)
{
    attn_nvtx_push("metrics");
    int rc = attn_metrics_collect(counted_run, pt, pt->env->stream, &pt->counters);
    attn_nvtx_pop();
    if (rc == ATTN_OK) return;
    pt->counters.n = 0;
    snprintf(pt->counters_error, sizeof pt->counters_error, "%s", attn_last_error.msg);
    snprintf(pt->reason, sizeof pt->reason, "%s", pt->counters_error); /* the run's, if it aborts */
    check_sticky(pt);
}

static int gpu_time(run_point *pt)
{
    const run_env *env = pt->env;
    ATTN_TRY(attn_measure_gpu(&env->o->measure, timed_run, pt, env->stream, env->flush,
                              env->flush_bytes, &pt->samples, &pt->profile));
    if (env->metrics_on) counter_pass(pt);
    return ATTN_OK;
}

/* Out of memory → skipped; a sticky error (the context is lost) → error, and the run aborts;
 * anything else → error. */
static run_point_status gpu_failed(run_point *pt)
{
    if (attn_last_error.out_of_memory) {
        cudaGetLastError();
        return RUN_POINT_SKIPPED;
    }
    check_sticky(pt);
    return RUN_POINT_ERROR;
}

static void gpu_release(run_point *pt)
{
    if (pt->plan) pt->v->release(pt->plan);
    cudaFree(pt->workspace);
    pt->plan = NULL, pt->workspace = NULL;
}

const run_backend run_backend_gpu = {
    "cuda", gpu_inputs, gpu_inputs_free, gpu_prepare, gpu_checked_run, gpu_time, gpu_failed,
    gpu_release,
};
