/* measure.c — warm-up, flush, samples, stop rule (see measure.h). */
#include "measure/measure.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "measure/clocks.h"
#include "core/error.h"
#include "core/names.h"
#include "core/stats.h"
#include "timer.h"
#include "measure/trace.h"

void attn_measure_defaults(attn_measure_opts *o)
{
    o->min_samples = 10;
    o->max_samples = 10000;
    o->target_ci = 0.01;
    o->max_time = 2.0;
    o->cold = 1;
    o->warmup_time = 0.02;
    o->throttle_below = 0.995;
    o->cooldown = 0.25;
    o->max_cooldowns = 8;
    o->max_sm_mhz = 0;
    o->cupti_alternate = 0;
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

void attn_profile_free(attn_profile *p)
{
    free(p->info);
    for (size_t i = 0; i < p->n_kernels; i++) {
        free((char *)p->kernels[i].name);
        free((char *)p->kernels[i].short_name);
    }
    free(p->kernels);
    memset(p, 0, sizeof *p);
}

/* Room for sample n's details, initialised to "not measured". */
static int profile_push(attn_profile *p, int n)
{
    if (n >= p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        attn_sample_info *i2 = realloc(p->info, (size_t)cap * sizeof *i2);
        if (!i2) return attn_fail("out of host memory for samples");
        p->info = i2;
        p->cap = cap;
    }
    p->info[n] = (attn_sample_info){-1, -1, -1, -1, -1, -1, -1, -1};
    return ATTN_OK;
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

void attn_summarize(const attn_samples *s, attn_timing *t)
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

/* Median of f(sample) over the samples not throttled whose value is >= 0; NaN when none. */
static double median_of(const attn_samples *s, const attn_profile *p,
                        double (*f)(const attn_sample_info *))
{
    double *x = malloc((size_t)(s->n ? s->n : 1) * sizeof *x), m = NAN;
    size_t n = 0;
    for (int i = 0; x && p && p->info && i < s->n; i++) {
        double v = f(&p->info[i]);
        if (!s->throttled[i] && v >= 0) x[n++] = v;
    }
    if (n) m = stats_median(x, n);
    free(x);
    return m;
}

static double f_count(const attn_sample_info *i) { return i->n_kernels; }
static double f_event(const attn_sample_info *i) { return (double)i->event_ns; }
static double f_sum(const attn_sample_info *i) { return (double)i->kernel_sum_ns; }
static double f_span(const attn_sample_info *i) { return (double)i->span_ns; }
static double f_gap(const attn_sample_info *i)
{
    return i->span_ns > 0 && i->kernel_sum_ns >= 0
               ? (double)(i->span_ns - i->kernel_sum_ns) / (double)i->span_ns : -1;
}

void attn_summarize_profile(const attn_samples *s, const attn_profile *prof,
                            attn_profile_summary *p)
{
    p->timing_method = prof ? prof->method : NULL;
    p->kernel_count = median_of(s, prof, f_count);
    p->gap_share = median_of(s, prof, f_gap);
    p->event_median_ns = median_of(s, prof, f_event);
    p->kernel_sum_median_ns = median_of(s, prof, f_sum);
    p->span_median_ns = median_of(s, prof, f_span);
}

static int cmp_rec(const void *a, const void *b)
{
    const attn_kernel_rec *x = a, *y = b;
    if (x->ext != y->ext) return x->ext < y->ext ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return (x->correlation > y->correlation) - (x->correlation < y->correlation);
}

static const char *rec_kind(attn_rec_kind k)
{
    return k == ATTN_REC_KERNEL ? "kernel" : k == ATTN_REC_MEMSET ? "memset" : "memcpy";
}

/* Every record of samples first_ext.. (sample i has id first_ext + i) goes to out->kernels,
 * ordered; each sample's count, sum and span are set from the complete log. Returns 1 when every
 * sample has at least one record (CUPTI timing is usable). */
static int take_records(const attn_samples *s, attn_profile *out, attn_cupti_log *log,
                        uint64_t first_ext)
{
    if (!out->info) return 0;
    attn_cupti_log_resolve_all(log);
    qsort(log->recs, log->n, sizeof *log->recs, cmp_rec);
    size_t keep = 0;
    for (size_t i = 0; i < log->n; i++)
        keep += log->recs[i].ext >= first_ext && log->recs[i].ext < first_ext + (uint64_t)s->n;
    out->kernels = calloc(keep ? keep : 1, sizeof *out->kernels);
    if (!out->kernels) return 0;
    for (int j = 0; j < s->n; j++) out->info[j].n_kernels = 0;
    int launch = 0;
    uint64_t prev = 0, first = 0, last = 0;
    for (size_t i = 0; i < log->n; i++) {
        attn_kernel_rec *r = &log->recs[i];
        if (r->ext < first_ext || r->ext >= first_ext + (uint64_t)s->n) continue;
        int j = (int)(r->ext - first_ext);
        attn_sample_info *inf = &out->info[j];
        if (r->ext != prev) {
            launch = 0;
            first = r->start, last = r->end;
            inf->kernel_sum_ns = 0;
            prev = r->ext;
        }
        if (r->start < first) first = r->start;
        if (r->end > last) last = r->end;
        inf->n_kernels++;
        inf->kernel_sum_ns += (int64_t)(r->end - r->start);
        inf->span_ns = (int64_t)(last - first);
        char short_name[160];
        attn_kernel_short_name(r->name, short_name, sizeof short_name);
        attn_sample_kernel *k = &out->kernels[out->n_kernels];
        *k = (attn_sample_kernel){.sample = j, .launch = launch++, .kind = rec_kind(r->kind),
                            .name = r->name, .short_name = strdup(short_name),
                            .registers = r->registers, .static_smem = r->static_smem,
                            .dynamic_smem = r->dynamic_smem, .start_ns = (int64_t)r->start,
                            .end_ns = (int64_t)r->end, .stream = r->stream,
                            .correlation = r->correlation};
        for (int d = 0; d < 3; d++) k->grid[d] = r->grid[d], k->block[d] = r->block[d];
        if (r->kind != ATTN_REC_KERNEL)
            for (int d = 0; d < 3; d++) k->grid[d] = k->block[d] = -1;
        if (r->kind != ATTN_REC_KERNEL) k->registers = k->static_smem = k->dynamic_smem = -1;
        r->name = NULL; /* ownership moves to out->kernels */
        if (!k->short_name) {
            free((char *)k->name);
            break;
        }
        out->n_kernels++;
    }
    int all = 1;
    for (int j = 0; j < s->n; j++) {
        if (out->info[j].n_kernels == 0) {
            out->info[j].kernel_sum_ns = out->info[j].span_ns = -1;
            all = 0;
        }
    }
    return all && s->n > 0;
}

void attn_profile_finish(attn_samples *s, attn_profile *prof, attn_cupti_log *log,
                         uint64_t first_ext)
{
    if (log && take_records(s, prof, log, first_ext)) {
        prof->method = "cupti_span";
        for (int i = 0; i < s->n; i++) s->ns[i] = prof->info[i].span_ns;
    } else {
        prof->method = "events";
        for (int i = 0; prof->info && i < s->n; i++) s->ns[i] = prof->info[i].event_ns;
    }
}

/* Warm-up: module load, cuBLAS heuristics and clocks ramping stay out of the samples. */
static int warm_up(const attn_measure_opts *o, attn_gpu_run_fn run, void *ctx, cudaStream_t stream)
{
    double t0 = attn_now();
    for (int i = 0; i < 2 || attn_now() - t0 < o->warmup_time; i++) {
        ATTN_TRY(run(ctx, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return ATTN_OK;
}

/* Evicts the inputs from L2: a memset of at least twice its size (a new byte each sample). */
static int flush_l2(void *flush, int byte, size_t bytes, cudaStream_t stream)
{
    CUDA_CHECK(cudaMemsetAsync(flush, byte, bytes, stream));
    return ATTN_OK;
}

/* One run between two events, enqueued behind the stream hold. */
static int enqueue_run(attn_gpu_run_fn run, void *ctx, cudaStream_t stream, cudaEvent_t start,
                       cudaEvent_t stop)
{
    CUDA_CHECK(cudaEventRecord(start, stream));
    ATTN_TRY(run(ctx, stream));
    CUDA_CHECK(cudaEventRecord(stop, stream));
    return ATTN_OK;
}

/* Once the hold is released: the time between the two events. */
static int event_time(cudaEvent_t start, cudaEvent_t stop, int64_t *ns)
{
    float ms;
    CUDA_CHECK(cudaEventSynchronize(stop));
    if (attn_stream_hold_timed_out())
        return attn_fail("the stream hold timed out: run() took over 1 s to enqueue, or "
                         "synchronised (a variant's run() must only enqueue work)");
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    *ns = (int64_t)llround(ms * 1e6);
    return ATTN_OK;
}

/* After a throttled sample: the GPU idles for o->cooldown seconds, so that the power controller
 * lets the clock back up before the next sample (at most o->max_cooldowns times a point). Returns
 * the seconds slept, which the stop rule does not count as timing. */
static double cool_down(const attn_measure_opts *o, int *cooldowns)
{
    if (o->cooldown <= 0 || *cooldowns >= o->max_cooldowns) return 0;
    ++*cooldowns;
    double t = attn_now();
    struct timespec ts = {(time_t)o->cooldown, (long)((o->cooldown - (time_t)o->cooldown) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return attn_now() - t;
}

int attn_measure_gpu(const attn_measure_opts *o, attn_gpu_run_fn run, void *ctx,
                     cudaStream_t stream, void *flush, size_t flush_bytes, attn_samples *out,
                     attn_profile *prof)
{
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    static uint64_t next_ext = 1; /* external ids: unique in the process */
    attn_nvtx_push("warm-up");
    int rc = warm_up(o, run, ctx, stream);
    attn_nvtx_pop();
    /* Records of the checks and warm-ups are dropped; from here the log holds this point's. */
    int cupti = attn_cupti_on();
    if (cupti) attn_cupti_clear();
    cupti = attn_cupti_on();
    uint64_t first_ext = next_ext;
    /* Until the records are read after the last sample, ns holds the event times, and the stop
     * rule runs on them. */
    prof->method = "events";
    double t0 = attn_now();
    int cooldowns = 0;
    while (rc == ATTN_OK && !attn_measure_done(o, out, attn_now() - t0)) {
        /* The flush is enqueued before the start event and outside the CUPTI tag: the GPU runs
         * it, then the sample, back to back, and the sample's time excludes it. */
        if (o->cold) {
            attn_nvtx_push("flush");
            rc = flush_l2(flush, out->n & 0xff, flush_bytes, stream);
            attn_nvtx_pop();
            if (rc != ATTN_OK) break;
        }
        uint64_t ext = next_ext++;
        int64_t event_ns = 0;
        /* The hold keeps the GPU from reaching the start event until the whole sample is
         * enqueued; it and the flush stay outside the CUPTI tag. The tag is the loop's only
         * CUPTI work: a flush between samples idles the GPU, so a CUPTI run would see other
         * clocks than a --no-cupti one (on an H200, 1980 against 1620-1785 MHz for the fused
         * kernel, 3-11 % in its medians). CUPTI takes new buffers as they fill (trace.c). */
        const int traced = !o->cupti_alternate || out->n % 2 == 0;
        if (cupti && o->cupti_alternate) cupti = attn_cupti_collect(traced) == ATTN_OK;
        attn_nvtx_push("timed");
        rc = attn_stream_hold(stream);
        int tagged = rc == ATTN_OK && cupti && traced && attn_cupti_push(ext) == ATTN_OK;
        if (rc == ATTN_OK) rc = enqueue_run(run, ctx, stream, start, stop);
        if (tagged) attn_cupti_pop();
        cupti = cupti && (tagged || !traced); /* a traced sample without records: events */
        attn_stream_release();
        if (rc == ATTN_OK) rc = event_time(start, stop, &event_ns);
        attn_nvtx_pop();
        if (rc != ATTN_OK) break;
        if ((rc = profile_push(prof, out->n)) != ATTN_OK || (rc = push(out, event_ns)) != ATTN_OK)
            break;
        attn_sample_info *inf = &prof->info[out->n - 1];
        inf->event_ns = event_ns;
        inf->ext_id = (int64_t)ext;
        if (o->max_sm_mhz > 0) {
            attn_clocks_read(stream, &inf->sm_clock_mhz, &inf->temp_c, &inf->power_mw);
            out->throttled[out->n - 1] =
                (uint8_t)attn_clocks_throttled(inf->sm_clock_mhz, o->max_sm_mhz, o->throttle_below);
            if (out->throttled[out->n - 1]) t0 += cool_down(o, &cooldowns);
        }
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (cupti && o->cupti_alternate) cupti = attn_cupti_collect(1) == ATTN_OK;
    /* The whole point's records, in one flush; CUPTI timing only when every sample has its
     * records (a failed push or pop turned CUPTI off, and then the flush fails). */
    attn_cupti_log *log = NULL;
    if (rc == ATTN_OK && cupti && attn_cupti_flush() == ATTN_OK) log = attn_cupti_lock();
    attn_profile_finish(out, prof, log, first_ext);
    if (log) attn_cupti_unlock();
    if (attn_cupti_on()) attn_cupti_clear();
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
