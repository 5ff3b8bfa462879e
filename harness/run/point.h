/* point.h — one variant at one point, the same steps on both backends: configure (parameters
 * parsed once), prepare (the plan), one checked run, the check (check.h, under the variant's
 * policy), the quality values, the output's .npy, the timed samples, release. What differs between
 * the GPU and the CPU is behind one interface, run_backend, whose two implementations mirror each
 * other step for step (point_gpu.c, point_cpu.c). Data moves one way: the sweep gives the point,
 * the point is checked, then measured, then stored (run_point_store). */
#ifndef ATTN_RUN_POINT_H
#define ATTN_RUN_POINT_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "core/error.h"
#include "measure/measure.h"
#include "measure/metrics.h"
#include "run/options.h"
#include "store/store.h"
#include "variant.h"

/* fp64 reference multiply-adds per shape: all rows of small shapes, a sample of large ones. */
#define RUN_CHECK_BUDGET 4e8

typedef enum run_point_status {
    RUN_POINT_OK,      /* checked and timed */
    RUN_POINT_FAILED,  /* outside its tolerance or bounds: never timed */
    RUN_POINT_SKIPPED, /* cannot run here (configure or prepare said why, or out of memory) */
    RUN_POINT_ERROR,   /* a step failed */
} run_point_status;

/* The status as stored ("ok", "failed", "skipped", "error"). */
const char *run_point_status_name(run_point_status s);

struct run_backend;

/* What every point of a run reads. */
typedef struct run_env {
    const run_options *o;
    const struct run_backend *backend;
    cudaStream_t stream;   /* GPU: the run's stream */
    void *flush;           /* GPU: the buffer whose read flushes L2 before a cold sample */
    size_t flush_bytes;
    int metrics_on;        /* GPU --metrics: the range profiler is set up and has not failed */
} run_env;

/* What every variant at one shape shares. */
typedef struct run_shape {
    attn_point p;                 /* params "" */
    int setup_rc;                 /* ATTN_OK, or the inputs failed (setup_error says why) */
    attn_error_info setup_error;
    void *hq, *hk, *hv;           /* host inputs in the dtype */
    float *fq, *fk, *fv;
    attn_host_inputs in;          /* the inputs widened to float */
    attn_row *rows;               /* the rows checked (attn_sample_rows) */
    size_t n_rows;
    double *ref;                  /* exact attention at those rows (made on first use) */
    void *out;                    /* a checked run's whole output, on the host, in the dtype */
    attn_device_io dev;           /* GPU: the device tensors; CPU: NULL */
    attn_row *all_rows;           /* CPU: every row, for cpu_rows */
    size_t n_all;
    float *all_out;               /* CPU: cpu_rows' output of every row */
} run_shape;

/* Metrics rows of a point: the variant's quality values, the errors against exact attention
 * that are not columns, the hardware counters. */
#define RUN_POINT_METRICS_MAX (ATTN_QUALITY_MAX + 2 + ATTN_METRICS_MAX)

typedef struct run_point {
    const run_env *env;
    run_shape *shape;
    const attn_variant *v;
    attn_point p;                 /* the shape with the variant's params */
    void *config;                 /* the variant's parsed config (v->config_size bytes) */
    attn_plan *plan;              /* prepare's plan; NULL before and after */
    void *workspace;              /* GPU: v->workspace_bytes() of device memory */
    size_t workspace_bytes;
    uint64_t spin_ns;             /* --debug-spin: busy-wait after each timed run */
    uint64_t slow_ns;             /* --debug-slow: the same, its share of the calibrated median */
    char nvtx_name[256];          /* each timed sample's NVTX range (run_point_nvtx_name) */
    run_point_status status;
    store_point sp;               /* the row stored */
    attn_samples samples;
    attn_profile profile;         /* GPU: per-sample details and kernel records */
    attn_metric_values counters;  /* GPU --metrics: the counters of the point's own pass */
    char counters_error[768];     /* the counter pass failed: why ("" when it did not) */
    store_metric metrics[RUN_POINT_METRICS_MAX];
    char reason[1024];
    char config_text[256];        /* describe(plan), stored as the point's config */
    int abort;                    /* a sticky device error: the run must stop */
    int interrupted;              /* a Ctrl-C cut it short (core/interrupt.h): not to be stored */
} run_point;

/* The steps that differ between the backends. Each returns ATTN_OK, ATTN_SKIP (the point cannot
 * run here, attn_last_error says why) or ATTN_ERR. */
typedef struct run_backend {
    const char *name; /* "cuda", "cpu" */
    /* The shape's seeded inputs into s->hq, hk, hv (allocated, in the dtype): the GPU makes them
     * on the device and copies them back, the CPU on the host; and what its checked runs need. */
    int (*inputs)(const run_env *env, run_shape *s);
    void (*inputs_free)(run_shape *s);
    /* The workspace (GPU) and the variant's prepare with this backend's arguments: pt->plan. */
    int (*prepare)(run_point *pt);
    /* One run of the plan, its whole output into pt->shape->out (in the dtype); on the GPU the
     * output is poisoned first, and fetch_plan runs after. */
    int (*checked_run)(run_point *pt);
    /* The timed samples into pt->samples / pt->profile (and, GPU --metrics, the counter pass). */
    int (*time)(run_point *pt);
    /* After a failed step (attn_last_error, pt->reason): skipped when out of memory, else error;
     * on the GPU a sticky error also sets pt->abort. Clears the device's non-sticky error state. */
    run_point_status (*failed)(run_point *pt);
    /* Frees what prepare took: the plan (the variant's release) and the workspace. */
    void (*release)(run_point *pt);
} run_backend;

extern const run_backend run_backend_gpu, run_backend_cpu;

/* The shape's inputs and checked rows; a failure is kept in s->setup_rc / setup_error, and every
 * point of the shape reports it: ATTN_SKIP (the points are skipped, with the reason) when the
 * host memory the shape's points need cannot fit in what this process can still take
 * (host_memory.h), checked before anything is allocated. run_shape_free frees what setup made. */
void run_shape_setup(const run_env *env, const attn_point *p, run_shape *s);
void run_shape_free(const run_env *env, run_shape *s);
/* --save-tensors: the shape's Q, K, V as DIR/q.npy, k.npy, v.npy. */
int run_shape_save_inputs(const run_env *env, const run_shape *s);
/* --inputs: whether DIR/q.npy, k.npy, v.npy fit point p (shapes [B][H][S][D] and [B][H_kv][S][D];
 * '<f2' for fp16, '<f4' for bf16 and fp32): ATTN_OK, or ATTN_ERR naming the file and the
 * mismatch. run_shape_load_inputs reads them into s->hq, hk, hv, rounded to the dtype. */
int run_inputs_check(const char *dir, const attn_point *p);
int run_shape_load_inputs(const run_env *env, run_shape *s);

/* Appends a printf-formatted knob ("debug_spin_us=20") to the point's stored config text, a space
 * before it when the text is not empty. */
void run_point_config_add(run_point *pt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The point's NVTX name, which `ncu --nvtx-include "attnbench@NAME/"` matches: "fused bf16 B=2
 * H=32 S=8192 D=64 causal", " Hkv=8" after H where H_kv differs, then the params; free of '/',
 * ncu's separator of nested ranges (one in a params text becomes ':'). */
void run_point_nvtx_name(const attn_variant *v, const attn_point *p, char *buf, size_t n);

/* One variant with one params text at shape s: everything up to storing (pt is filled). The NVTX
 * range "point NAME" spans it; each timed sample has a range NAME of its own. */
void run_point_run(const run_env *env, run_shape *s, const attn_variant *v, const char *params,
                   run_point *pt);
/* Stores the point: its row, samples, kernel records and metrics in one transaction. */
int run_point_store(sqlite3 *db, int64_t run_id, const run_point *pt, int64_t *point_id);
void run_point_free(run_point *pt);

#endif
