/* measure.c — warm-up, flush, samples, stop rule (see measure.h). */
#include "measure.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "stats.h"

void attn_measure_defaults(attn_measure_opts *o)
{
    o->min_samples = 10;
    o->max_samples = 10000;
    o->target_ci = 0.01;
    o->max_time = 2.0;
    o->cold = 1;
    o->warmup_time = 0.02;
}

double attn_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

void attn_samples_free(attn_samples *s)
{
    free(s->ns);
    free(s->throttled);
    s->ns = NULL;
    s->throttled = NULL;
    s->n = s->cap = 0;
}

static int push(attn_samples *s, int64_t ns)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        int64_t *ns2 = realloc(s->ns, (size_t)cap * sizeof *ns2);
        if (!ns2) return attn_fail("out of host memory for samples");
        s->ns = ns2;
        uint8_t *t2 = realloc(s->throttled, (size_t)cap);
        if (!t2) return attn_fail("out of host memory for samples");
        s->throttled = t2;
        s->cap = cap;
    }
    s->throttled[s->n] = 0;
    s->ns[s->n++] = ns;
    return ATTN_OK;
}

/* Sorted copy of the samples the summary uses; *n_used set. NULL when none. */
static double *used_sorted(const attn_samples *s, int *n_used)
{
    double *x = malloc((size_t)(s->n ? s->n : 1) * sizeof *x);
    int n = 0;
    for (int i = 0; x && i < s->n; i++)
        if (!s->throttled[i]) x[n++] = (double)s->ns[i];
    if (x) stats_sort(x, (size_t)n);
    *n_used = n;
    return x;
}

int attn_measure_done(const attn_measure_opts *o, const attn_samples *s, double elapsed)
{
    if (s->n >= o->max_samples) return 1;
    if (s->n < o->min_samples) return 0; /* a floor, even past max_time */
    if (elapsed >= o->max_time) return 1;
    int n;
    double *x = used_sorted(s, &n), lo, hi;
    if (!x || n < o->min_samples) {
        free(x);
        return 0;
    }
    double med = stats_quantile_sorted(x, (size_t)n, 0.5);
    stats_median_ci_sorted(x, (size_t)n, 0.95, &lo, &hi);
    free(x);
    return (hi - lo) / 2 <= o->target_ci * med;
}

void attn_summarize(const attn_samples *s, store_timing *t)
{
    int n;
    double *x = used_sorted(s, &n);
    t->n_samples = s->n;
    t->n_used = n;
    if (!x || n == 0) {
        t->median = t->p10 = t->p90 = t->ci_low = t->ci_high = NAN;
        free(x);
        return;
    }
    t->median = stats_quantile_sorted(x, (size_t)n, 0.5);
    t->p10 = stats_quantile_sorted(x, (size_t)n, 0.1);
    t->p90 = stats_quantile_sorted(x, (size_t)n, 0.9);
    stats_median_ci_sorted(x, (size_t)n, 0.95, &t->ci_low, &t->ci_high);
    free(x);
}

int attn_measure_gpu(const attn_measure_opts *o, attn_gpu_run_fn run, void *ctx,
                     cudaStream_t stream, void *flush, size_t flush_bytes, attn_samples *out)
{
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    int rc = ATTN_OK;
    /* Warm-up: module load, cuBLAS heuristics and clocks ramping stay out of the samples. */
    double t0 = attn_now();
    for (int i = 0; rc == ATTN_OK && (i < 2 || attn_now() - t0 < o->warmup_time); i++) {
        rc = run(ctx, stream);
        if (rc == ATTN_OK && cudaStreamSynchronize(stream) != cudaSuccess)
            rc = attn_fail_cuda(cudaGetLastError(), "warm-up", __FILE__, __LINE__);
    }
    t0 = attn_now();
    while (rc == ATTN_OK && !attn_measure_done(o, out, attn_now() - t0)) {
        /* The flush is enqueued before the start event: the GPU runs it, then the sample, back
         * to back, and the sample's time excludes it. */
        if (o->cold && cudaMemsetAsync(flush, out->n & 0xff, flush_bytes, stream) != cudaSuccess) {
            rc = attn_fail_cuda(cudaGetLastError(), "L2 flush", __FILE__, __LINE__);
            break;
        }
        float ms = 0;
        cudaError_t e = cudaEventRecord(start, stream);
        if (e == cudaSuccess && (rc = run(ctx, stream)) != ATTN_OK) break;
        if (e == cudaSuccess) e = cudaEventRecord(stop, stream);
        if (e == cudaSuccess) e = cudaEventSynchronize(stop);
        if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start, stop);
        if (e != cudaSuccess) {
            rc = attn_fail_cuda(e, "timing a sample", __FILE__, __LINE__);
            break;
        }
        rc = push(out, (int64_t)llround(ms * 1e6));
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return rc;
}

int attn_measure_cpu(const attn_measure_opts *o, attn_cpu_run_fn run, void *ctx,
                     attn_samples *out)
{
    double t0 = attn_now();
    while (!attn_measure_done(o, out, attn_now() - t0)) {
        double a = attn_now();
        ATTN_TRY(run(ctx));
        ATTN_TRY(push(out, (int64_t)llround((attn_now() - a) * 1e9)));
    }
    return ATTN_OK;
}
