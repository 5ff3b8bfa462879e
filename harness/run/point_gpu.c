/* point_gpu.c — the GPU backend of a point (see point.h): inputs generated on the device and
 * copied back for the check, the workspace allocated by the harness (so that out of memory is
 * handled in one place), a checked run into a poisoned output, timed samples (measure.h), and the
 * --metrics counter pass. Mirrors point_cpu.c step for step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "timer.h"
#include "core/interrupt.h"
#include "core/stats.h"
#include "measure/gpu.h"
#include "measure/trace.h"
#include "run/point.h"
#include "inputs.h"

static void free_io(attn_device_io *io)
{
    cudaFree((void *)io->q), cudaFree((void *)io->k), cudaFree((void *)io->v), cudaFree(io->o);
    memset(io, 0, sizeof *io);
}

static void gpu_inputs_free(run_shape *s) { free_io(&s->dev); }

/* The seeded inputs made on the device and copied back to the host; or (--inputs) the files'
 * read on the host and copied to the device. */
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
    const int D = p->head_dim, S = p->seq;
    if (o->inputs_dir) {
        ATTN_TRY(run_shape_load_inputs(env, s));
        CUDA_CHECK(cudaMemcpy(dq, s->hq, nq * es, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(dk, s->hk, nkv * es, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(dv, s->hv, nkv * es, cudaMemcpyHostToDevice));
        return ATTN_OK;
    }
    ATTN_TRY(attn_fill_device(dq, p->dtype, nq, o->seed, ATTN_TENSOR_Q, o->init, D, S, env->stream));
    ATTN_TRY(attn_fill_device(dk, p->dtype, nkv, o->seed, ATTN_TENSOR_K, o->init, D, S, env->stream));
    ATTN_TRY(attn_fill_device(dv, p->dtype, nkv, o->seed, ATTN_TENSOR_V, o->init, D, S, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hq, dq, nq * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hk, dk, nkv * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->hv, dv, nkv * es, cudaMemcpyDeviceToHost, env->stream));
    CUDA_CHECK(cudaStreamSynchronize(env->stream));
    return ATTN_OK;
}

/* The variant's prepare on the shape's device buffers and the point's workspace. */
static int prepare_plan(run_point *pt)
{
    const run_shape *s = pt->shape;
    const attn_prepare_device dev = {s->dev, pt->workspace, pt->env->stream};
    const attn_prepare_args args = {&pt->p, pt->config, &s->in, &dev};
    return pt->v->prepare(&args, &pt->plan);
}

static int gpu_prepare(run_point *pt)
{
    const run_shape *s = pt->shape;
    pt->sp.device_bytes = (double)(2 * attn_q_elems(&s->p) + 2 * attn_kv_elems(&s->p)) *
                              attn_dtype_size(s->p.dtype) + (double)pt->workspace_bytes;
    if (pt->workspace_bytes) CUDA_CHECK(cudaMalloc(&pt->workspace, pt->workspace_bytes));
    return prepare_plan(pt);
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

/* One timed forward pass (warm-ups and samples), with the --debug-spin and --debug-slow
 * busy-wait after it; none once a Ctrl-C has arrived. */
static int timed_run(void *ctx, cudaStream_t stream)
{
    run_point *pt = ctx;
    const uint64_t spin_ns = pt->spin_ns + pt->slow_ns;
    ATTN_TRY(attn_interrupt_check());
    ATTN_TRY(pt->v->run(pt->plan, &pt->shape->dev, stream));
    return spin_ns ? attn_spin(spin_ns, stream) : ATTN_OK;
}

/* ---------------------------------------------------------------- placement rounds */

/* The spacer taken before a round's buffers: 4 to 504 MiB in 2 MiB pages, another size each round,
 * so that the buffers allocated behind it land elsewhere in physical memory than the last round's
 * (freeing and allocating alone hands the same pages back). */
static size_t spacer_bytes(int round) { return (size_t)(round * 37 % 251 + 2) << 21; }

static int device_alloc(void **p, size_t bytes)
{
    CUDA_CHECK(cudaMalloc(p, bytes));
    return ATTN_OK;
}

/* Fresh Q, K, V (copies of the current ones: the same bytes, so the check stays valid) and O. */
static int fresh_io(const run_shape *s, cudaStream_t stream, attn_device_io *io)
{
    const attn_point *p = &s->p;
    const size_t es = attn_dtype_size(p->dtype), q = attn_q_elems(p) * es;
    const size_t kv = attn_kv_elems(p) * es;
    void *dq, *dk, *dv;
    ATTN_TRY(device_alloc(&dq, q));
    io->q = dq;
    ATTN_TRY(device_alloc(&dk, kv));
    io->k = dk;
    ATTN_TRY(device_alloc(&dv, kv));
    io->v = dv;
    ATTN_TRY(device_alloc(&io->o, q));
    CUDA_CHECK(cudaMemcpyAsync(dq, s->dev.q, q, cudaMemcpyDeviceToDevice, stream));
    CUDA_CHECK(cudaMemcpyAsync(dk, s->dev.k, kv, cudaMemcpyDeviceToDevice, stream));
    CUDA_CHECK(cudaMemcpyAsync(dv, s->dev.v, kv, cudaMemcpyDeviceToDevice, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    return ATTN_OK;
}

/* Placement round `round` (measure.h): a spacer, then fresh input and output buffers and a fresh
 * workspace behind it; the old ones freed, the plan released and prepared again on the new ones (a
 * plan may hold device pointers or TMA descriptors), the spacer freed. The shape's later variants
 * start from this placement. Without room for the spacer the round goes without it; without room
 * for the buffers the point fails as out of memory (skipped), the old placement intact. */
static int gpu_move(void *ctx, int round)
{
    run_point *pt = ctx;
    run_shape *s = pt->shape;
    void *spacer = NULL, *workspace = NULL;
    attn_device_io io = {0};
    if (device_alloc(&spacer, spacer_bytes(round)) != ATTN_OK) spacer = NULL, cudaGetLastError();
    int rc = fresh_io(s, pt->env->stream, &io);
    if (rc == ATTN_OK && pt->workspace_bytes) rc = device_alloc(&workspace, pt->workspace_bytes);
    if (rc != ATTN_OK) {
        free_io(&io);
        cudaFree(spacer);
        return rc;
    }
    pt->v->release(pt->plan);
    pt->plan = NULL;
    free_io(&s->dev);
    cudaFree(pt->workspace);
    s->dev = io, pt->workspace = workspace;
    rc = prepare_plan(pt);
    cudaFree(spacer);
    return rc;
}

/* ---------------------------------------------------------------- --debug-slow */

#define SLOW_CALIBRATION_RUNS 10

static int record(cudaEvent_t e, cudaStream_t stream)
{
    CUDA_CHECK(cudaEventRecord(e, stream));
    return ATTN_OK;
}

/* One untimed run of the variant alone between two events (behind a stream hold but in profiler
 * mode; L2 flushed first when cold): its time in ms. */
static int calibration_run(run_point *pt, cudaEvent_t a, cudaEvent_t b, float *ms)
{
    const run_env *env = pt->env;
    const attn_measure_opts *m = &env->o->measure;
    if (m->cold) ATTN_TRY(attn_l2_flush(env->flush, env->flush_bytes, env->stream));
    int rc = m->no_hold ? ATTN_OK : attn_stream_hold(env->stream);
    if (rc == ATTN_OK) rc = record(a, env->stream);
    if (rc == ATTN_OK) rc = pt->v->run(pt->plan, &pt->shape->dev, env->stream);
    if (rc == ATTN_OK) rc = record(b, env->stream);
    if (!m->no_hold) attn_stream_release();
    ATTN_TRY(rc);
    CUDA_CHECK(cudaEventSynchronize(b));
    if (!m->no_hold && attn_stream_hold_timed_out())
        return attn_fail("--debug-slow's calibration: the stream hold timed out");
    CUDA_CHECK(cudaEventElapsedTime(ms, a, b));
    return ATTN_OK;
}

/* --debug-slow: the variant's own median over SLOW_CALIBRATION_RUNS untimed runs (two more before
 * them, discarded) sets the busy-wait: slow_fraction of it; the point's config says how long. */
static int calibrate_slow(run_point *pt)
{
    cudaEvent_t a = NULL, b = NULL;
    double ms[SLOW_CALIBRATION_RUNS];
    int rc = ATTN_OK;
    CUDA_CHECK_GOTO(cudaEventCreate(&a), rc, end);
    CUDA_CHECK_GOTO(cudaEventCreate(&b), rc, end);
    for (int i = -2; i < SLOW_CALIBRATION_RUNS; i++) {
        float t;
        ATTN_TRY_GOTO(calibration_run(pt, a, b, &t), rc, end);
        if (i >= 0) ms[i] = t;
    }
    const double median_ns = stats_median(ms, SLOW_CALIBRATION_RUNS) * 1e6;
    pt->slow_ns = (uint64_t)llround(median_ns * pt->env->o->slow_fraction);
    run_point_config_add(pt, "debug_slow_us=%.3f", pt->slow_ns / 1e3);
end:
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
    return rc;
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
    attn_measure_opts m = env->o->measure;
    m.sample_range = pt->nvtx_name;
    if (env->o->slow_variant == pt->v) ATTN_TRY(calibrate_slow(pt));
    ATTN_TRY(attn_measure_gpu(&m, timed_run, gpu_move, pt, env->stream, env->flush,
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
