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
    o->placements = 1;
    o->no_hold = 0;
    o->sample_range = NULL;
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
    p->info[n] = (attn_sample_info){-1, -1, -1, -1, -1, -1, -1, -1, -1};
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

attn_measure_opts attn_measure_round_opts(const attn_measure_opts *o)
{
    attn_measure_opts r = *o;
    const int n = o->placements > 1 ? o->placements : 1;
    r.min_samples = (o->min_samples + n - 1) / n;
    r.max_samples = (o->max_samples + n - 1) / n;
    r.max_time = o->max_time / n;
    return r;
}

/* Is the round begun at sample `first` done (per: attn_measure_round_opts)? */
static int round_done(const attn_measure_opts *per, const attn_samples *s, int first,
                      double elapsed)
{
    const attn_samples round = {s->ns ? s->ns + first : NULL,
                                s->throttled ? s->throttled + first : NULL, s->n - first, 0};
    return attn_measure_done(per, &round, elapsed);
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
static int warm_runs(const attn_measure_opts *o, attn_gpu_run_fn run, void *ctx,
                     cudaStream_t stream)
{
    double t0 = attn_now();
    for (int i = 0; i < 2 || attn_now() - t0 < o->warmup_time; i++) {
        ATTN_TRY(run(ctx, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return ATTN_OK;
}

static int warm_up(const attn_measure_opts *o, attn_gpu_run_fn run, void *ctx, cudaStream_t stream)
{
    attn_nvtx_push("warm-up");
    int rc = warm_runs(o, run, ctx, stream);
    attn_nvtx_pop();
    return rc;
}

/* One run between two events (behind the stream hold when there is one). */
static int enqueue_run(attn_gpu_run_fn run, void *ctx, cudaStream_t stream, cudaEvent_t start,
                       cudaEvent_t stop)
{
    CUDA_CHECK(cudaEventRecord(start, stream));
    ATTN_TRY(run(ctx, stream));
    CUDA_CHECK(cudaEventRecord(stop, stream));
    return ATTN_OK;
}

/* Once the hold (if held) is released: the time between the two events. */
static int event_time(cudaEvent_t start, cudaEvent_t stop, int held, int64_t *ns)
{
    float ms;
    CUDA_CHECK(cudaEventSynchronize(stop));
    if (held && attn_stream_hold_timed_out())
        return attn_fail("the stream hold timed out: run() took over 1 s to enqueue, or "
                         "synchronised (a variant's run() must only enqueue work; under a "
                         "profiler, run --profile)");
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

/* What every sample of one GPU measurement shares. */
typedef struct gpu_loop {
    const attn_measure_opts *o;
    attn_gpu_run_fn run;
    void *ctx;
    cudaStream_t stream;
    void *flush;
    size_t flush_bytes;
    cudaEvent_t start, stop;
    int cupti;          /* CUPTI still usable for this point's samples */
    uint64_t *next_ext; /* the process's next external id */
    int cooldowns;      /* cool-downs taken (cool_down) */
} gpu_loop;

/* One sample of placement round `round`, appended to out and prof. */
static int take_sample(gpu_loop *L, int round, attn_samples *out, attn_profile *prof)
{
    const attn_measure_opts *o = L->o;
    /* The flush is enqueued before the start event and outside the CUPTI tag: the GPU runs it,
     * then the sample, back to back, and the sample's time excludes it. */
    if (o->cold) {
        attn_nvtx_push("flush");
        int rc = attn_l2_flush(L->flush, L->flush_bytes, L->stream);
        attn_nvtx_pop();
        ATTN_TRY(rc);
    }
    uint64_t ext = (*L->next_ext)++;
    int64_t event_ns = 0;
    /* The hold keeps the GPU from reaching the start event until the whole sample is enqueued;
     * it and the flush stay outside the CUPTI tag. The tag is the loop's only CUPTI work: a flush
     * between samples idles the GPU, so a CUPTI run would see other clocks than a --no-cupti one
     * (on an H200, 1980 against 1620-1785 MHz for the fused kernel, 3-11 % in its medians).
     * CUPTI takes new buffers as they fill (trace.c). */
    const int traced = !o->cupti_alternate || out->n % 2 == 0;
    if (L->cupti && o->cupti_alternate) L->cupti = attn_cupti_collect(traced) == ATTN_OK;
    attn_nvtx_push(o->sample_range ? o->sample_range : "timed");
    int rc = o->no_hold ? ATTN_OK : attn_stream_hold(L->stream);
    int tagged = rc == ATTN_OK && L->cupti && traced && attn_cupti_push(ext) == ATTN_OK;
    if (rc == ATTN_OK) rc = enqueue_run(L->run, L->ctx, L->stream, L->start, L->stop);
    if (tagged) attn_cupti_pop();
    L->cupti = L->cupti && (tagged || !traced); /* a traced sample without records: events */
    if (!o->no_hold) attn_stream_release();
    if (rc == ATTN_OK) rc = event_time(L->start, L->stop, !o->no_hold, &event_ns);
    attn_nvtx_pop();
    ATTN_TRY(rc);
    ATTN_TRY(profile_push(prof, out->n));
    ATTN_TRY(push(out, event_ns));
    attn_sample_info *inf = &prof->info[out->n - 1];
    inf->event_ns = event_ns;
    inf->ext_id = (int64_t)ext;
    inf->placement = round;
    if (o->max_sm_mhz > 0) {
        attn_clocks_read(L->stream, &inf->sm_clock_mhz, &inf->temp_c, &inf->power_mw);
        out->throttled[out->n - 1] =
            (uint8_t)attn_clocks_throttled(inf->sm_clock_mhz, o->max_sm_mhz, o->throttle_below);
    }
    return ATTN_OK;
}

/* Every placement round's samples: before each round after the first the inputs move (when there
 * is a move function) and the warm-up runs again. */
static int sample_rounds(gpu_loop *L, attn_move_fn move, attn_samples *out, attn_profile *prof)
{
    const attn_measure_opts per = attn_measure_round_opts(L->o);
    const int rounds = L->o->placements > 1 ? L->o->placements : 1;
    for (int r = 0; r < rounds; r++) {
        if (r > 0 && move) {
            ATTN_TRY(move(L->ctx, r));
            ATTN_TRY(warm_up(L->o, L->run, L->ctx, L->stream));
        }
        const int first = out->n;
        double t0 = attn_now();
        while (!round_done(&per, out, first, attn_now() - t0)) {
            ATTN_TRY(take_sample(L, r, out, prof));
            if (out->throttled[out->n - 1]) t0 += cool_down(L->o, &L->cooldowns);
        }
    }
    return ATTN_OK;
}

int attn_measure_gpu(const attn_measure_opts *o, attn_gpu_run_fn run, attn_move_fn move, void *ctx,
                     cudaStream_t stream, void *flush, size_t flush_bytes, attn_samples *out,
                     attn_profile *prof)
{
    static uint64_t next_ext = 1; /* external ids: unique in the process */
    gpu_loop L = {o, run, ctx, stream, flush, flush_bytes, NULL, NULL, 0, &next_ext, 0};
    CUDA_CHECK(cudaEventCreate(&L.start));
    CUDA_CHECK(cudaEventCreate(&L.stop));
    int rc = warm_up(o, run, ctx, stream);
    /* Records of the checks and warm-ups are dropped; from here the log holds this point's. */
    if (attn_cupti_on()) attn_cupti_clear();
    L.cupti = attn_cupti_on();
    uint64_t first_ext = next_ext;
    /* Until the records are read after the last sample, ns holds the event times, and the stop
     * rule runs on them. */
    prof->method = "events";
    if (rc == ATTN_OK) rc = sample_rounds(&L, move, out, prof);
    cudaEventDestroy(L.start);
    cudaEventDestroy(L.stop);
    if (L.cupti && o->cupti_alternate) L.cupti = attn_cupti_collect(1) == ATTN_OK;
    /* The whole point's records, in one flush; CUPTI timing only when every sample has its
     * records (a failed push or pop turned CUPTI off, and then the flush fails). */
    attn_cupti_log *log = NULL;
    if (rc == ATTN_OK && L.cupti && attn_cupti_flush() == ATTN_OK) log = attn_cupti_lock();
    attn_profile_finish(out, prof, log, first_ext);
    if (log) attn_cupti_unlock();
    if (attn_cupti_on()) attn_cupti_clear();
    return rc;
}

int attn_measure_cpu(const attn_measure_opts *o, attn_cpu_run_fn run, attn_move_fn move,
                     void *ctx, attn_samples *out, attn_profile *prof)
{
    const attn_measure_opts per = attn_measure_round_opts(o);
    const int rounds = o->placements > 1 ? o->placements : 1;
    for (int r = 0; r < rounds; r++) {
        if (r > 0 && move) ATTN_TRY(move(ctx, r));
        const int first = out->n;
        const double t0 = attn_now();
        while (!round_done(&per, out, first, attn_now() - t0)) {
            double a = attn_now();
            ATTN_TRY(run(ctx));
            ATTN_TRY(push(out, (int64_t)llround((attn_now() - a) * 1e9)));
            if (prof) {
                ATTN_TRY(profile_push(prof, out->n - 1));
                prof->info[out->n - 1].placement = r;
            }
        }
    }
    return ATTN_OK;
}
