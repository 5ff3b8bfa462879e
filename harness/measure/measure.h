/* measure.h — timing one variant at one point: warm-up, optional L2 flush before each sample,
 * CUDA events around each sample behind a stream hold (a monotonic clock on the CPU backend),
 * CUPTI records per sample, and the adaptive stop rule. Every sample is kept; the summary is
 * computed from the ones not flagged throttled.
 *
 * With CUPTI on (trace.h), each sample's run() is tagged with its own external correlation id;
 * the records are flushed once, after the point's last sample, never between samples (a flush
 * idles the GPU, so the clocks, and with them the times, would differ from a --no-cupti run's).
 * The stop rule therefore runs on the event times; at the end each sample holds its event time,
 * the sum of its kernels' durations and their span (first start to last end), and ns = the span
 * ("cupti_span") when every sample has records; otherwise, and with CUPTI off, ns = the event
 * time ("events"). The L2 flush (a read, timer.h) is enqueued outside the tag, so it never counts.
 * cupti_alternate measures what tracing itself costs, free of the clock drift between two runs:
 * collection is turned off before every odd sample and on again before every even one, so traced
 * and untraced samples alternate in one loop (n_kernels = 0 marks the untraced); the summary then
 * times with events ("events": a median over both kinds), the traced samples keep their spans. After
 * each sample the SM clock (and temperature, power) is read (clocks.h); a sample that ended below
 * throttle_below (99.5 %) of the max SM clock is flagged throttled, and the GPU then idles for
 * `cooldown` before the next sample. Why: under a sustained tensor-core load an H200 reaches its
 * power cap within ~60 ms and steps its clock down 1-4 % (more when hot), so without this the
 * median of a point depends on how warm the GPU was when it started — the between-process
 * "modes" of issue 12 (kernels/NOTES-fused.md). The medians are those of the GPU at its max clock;
 * the flagged samples stay in the database. NVTX ranges: "warm-up", "flush", and one per sample
 * (sample_range, else "timed").
 *
 * Placement rounds: with placements = N > 1 the samples are taken in N rounds, and before each
 * round after the first the caller's move function places the inputs anew (point_gpu.c: fresh
 * buffers behind a spacer allocation), then the warm-up runs again. Each round has its own stop
 * rule: ceil(min_samples / N) samples at least, ceil(max_samples / N) at most, max_time / N
 * seconds, and the CI target on its own samples; every sample records its round
 * (attn_sample_info.placement), and the point's summary spans them. (Issue 12 suspected placement
 * behind fused's modes; measured, it was the power cap — rounds stay for checking that on other
 * GPUs and kernels.) Without a stream hold (no_hold) a sample's events also time the host's
 * enqueueing: for profiler runs only, whose times are the profiler's business. */
#ifndef ATTN_MEASURE_H
#define ATTN_MEASURE_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "measure/trace.h"

typedef struct attn_measure_opts {
    int min_samples;     /* at least this many samples (default 10) */
    int max_samples;     /* never more (default 10000) */
    double target_ci;    /* stop when the 95 % CI of the median is within ±this fraction (0.01) */
    double max_time;     /* stop when the point's timing loop has run this long, seconds (2),
                            once min_samples are taken */
    int cold;            /* 1: flush L2 before every sample (--cache cold), 0: hot */
    double warmup_time;  /* warm up for at least this long, seconds (0.02), and ≥ 2 runs */
    int max_sm_mhz;      /* the max SM clock for the throttle flag; 0: no clock readings */
    double throttle_below; /* a sample ending below this fraction of max_sm_mhz is throttled
                              (0.995: the first 15 MHz step of an H200's power cap is flagged) */
    double cooldown;     /* seconds the GPU idles after a throttled sample (0.25) */
    int max_cooldowns;   /* at most this many cool-downs a point (8) */
    int cupti_alternate; /* 1: with CUPTI on, trace even samples only; odd ones run with
                            collection off (--cupti-alternate, below) */
    int placements;      /* placement rounds the samples are split into (1: one; below) */
    int no_hold;         /* 1: no stream hold around a sample (profiler mode: profiler.h) */
    const char *sample_range; /* NVTX range of each timed sample; NULL: "timed" */
} attn_measure_opts;

void attn_measure_defaults(attn_measure_opts *o);

/* What measurement produces, in the form the store keeps it (store.h includes this header: data
 * flows from measure to store). */

/* Per sample, beside its ns. Values < 0 are not measured (stored as NULL). */
typedef struct attn_sample_info {
    int64_t event_ns;          /* CUDA event pair around run() */
    int64_t kernel_sum_ns;     /* sum of the sample's record durations (CUPTI) */
    int64_t span_ns;           /* first record start to last record end (CUPTI) */
    int n_kernels;             /* records attributed to the sample */
    int sm_clock_mhz, temp_c, power_mw;
    int64_t ext_id;            /* CUPTI external correlation id of the sample */
    int placement;             /* the placement round it was taken in (0, 1, ...: measure below) */
} attn_sample_info;

/* One kernel, memset or memcpy execution of a sample (the store's table kernels). */
typedef struct attn_sample_kernel {
    int sample;                /* index into the point's samples */
    int launch;                /* order within the sample (by start time), from 0 */
    const char *kind;          /* "kernel", "memset", "memcpy" */
    const char *name;          /* mangled */
    const char *short_name;
    int grid[3], block[3];     /* -1 for a memset or memcpy */
    int registers, static_smem, dynamic_smem; /* -1 for a memset or memcpy */
    int64_t start_ns, end_ns;  /* CUPTI timebase */
    int64_t stream, correlation;
} attn_sample_kernel;

/* Summary of the samples not flagged throttled (ns). */
typedef struct attn_timing {
    int n_samples;        /* samples taken */
    int n_used;           /* samples the summary uses (not throttled) */
    double median, p10, p90, ci_low, ci_high; /* NaN when n_used is 0 */
} attn_timing;

/* The profile part of a point: medians over the samples not throttled; NaN (NULL) where not
 * measured. */
typedef struct attn_profile_summary {
    const char *timing_method; /* what samples hold: "cupti_span", "events", "cpu_clock"; NULL */
    double kernel_count;       /* records (kernels, memsets, memcpys) per sample */
    double gap_share;          /* (span - kernel sum) / span */
    double event_median_ns, kernel_sum_median_ns, span_median_ns;
} attn_profile_summary;

typedef struct attn_samples {
    int64_t *ns;          /* per-sample time, as attn_profile.method says */
    uint8_t *throttled;   /* 1 where the sample is not used by the summary */
    int n, cap;
} attn_samples;

void attn_samples_free(attn_samples *s);

/* What a GPU measurement knows beside each sample's ns (parallel to attn_samples). */
typedef struct attn_profile {
    attn_sample_info *info;   /* per sample (info[i] for ns[i]) */
    int cap;
    attn_sample_kernel *kernels; /* CUPTI: every sample's records, by sample then start; owned */
    size_t n_kernels;
    const char *method;       /* what ns holds: "cupti_span", "events" */
} attn_profile;

void attn_profile_free(attn_profile *p);

/* One forward pass of the thing being timed. GPU: enqueue on `stream` (asynchronous). */
typedef int (*attn_gpu_run_fn)(void *ctx, cudaStream_t stream);
typedef int (*attn_cpu_run_fn)(void *ctx);
/* Before placement round `round` (1, 2, ...): places the inputs anew (whatever refers to them
 * too). Nothing it does is timed; it may allocate and synchronise. */
typedef int (*attn_move_fn)(void *ctx, int round);

/* flush/flush_bytes: a device buffer of at least twice the L2 size, used when o->cold. move may be
 * NULL (the rounds then keep one placement). */
int attn_measure_gpu(const attn_measure_opts *o, attn_gpu_run_fn run, attn_move_fn move, void *ctx,
                     cudaStream_t stream, void *flush, size_t flush_bytes, attn_samples *out,
                     attn_profile *prof);
/* The same rounds on the monotonic clock; prof (may be NULL) gets each sample's round, nothing
 * else. */
int attn_measure_cpu(const attn_measure_opts *o, attn_cpu_run_fn run, attn_move_fn move,
                     void *ctx, attn_samples *out, attn_profile *prof);

/* After a point's last sample, from the complete log (NULL: no records; sample i has external id
 * first_ext + i): moves the point's records into prof->kernels and sets each sample's record
 * count, kernel sum and span; then ns = the span ("cupti_span") when every sample has records,
 * else ns = the event time ("events"). The log is sorted in place; its names move to prof. */
void attn_profile_finish(attn_samples *s, attn_profile *prof, attn_cupti_log *log,
                         uint64_t first_ext);

/* The stop rule: at least min_samples, then a tight enough CI or the time budget spent; never
 * more than max_samples. */
int attn_measure_done(const attn_measure_opts *o, const attn_samples *s, double elapsed);
/* The stop rule of one placement round: o's, the floor, cap and time budget split over the
 * rounds (above). */
attn_measure_opts attn_measure_round_opts(const attn_measure_opts *o);

/* Median, p10, p90 and the 95 % CI of the median over the samples not flagged throttled. */
void attn_summarize(const attn_samples *s, attn_timing *t);
/* The profile part of a point: timing method, medians (over the samples not throttled) of the
 * record count, gap share, event time, kernel sum and span; NaN where not measured. */
void attn_summarize_profile(const attn_samples *s, const attn_profile *prof,
                            attn_profile_summary *out);

/* Seconds on the monotonic clock. */
double attn_now(void);

#endif
