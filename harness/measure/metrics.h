/* metrics.h — `--metrics dram`: hardware counters per point through the CUPTI range profiler, in a
 * pass of its own after the point's timed samples (never mixed into them).
 *
 * The pass: user range + user replay. Each pass is Start → PushRange → the variant's run() →
 * PopRange → Stop, repeated until CUPTI says every pass of the configuration was submitted (one
 * pass for the two DRAM metrics on GH100), then DecodeData and EvaluateToGpuValues. run() is
 * idempotent, so replaying it once per pass is fine. L2 is not flushed before the pass: it follows
 * the point's own timed runs, so the lines the previous run left dirty in L2 stand in for the ones
 * this run leaves there (steady-state traffic per run).
 *
 * Coexistence with trace.c's activity tracing: the range profiler does not subscribe (CUPTI's one
 * subscriber stays trace.c's), so both run in one process. The pass runs outside any sample's
 * external correlation id, so the kernel records it causes map to no sample and are dropped at the
 * next point's clear.
 *
 * Split in two: metrics.c is plain C (names, units, reasons, tested on the CPU); metrics_prof.cu
 * holds the CUPTI calls, compiled by nvcc because CUPTI 13.0's cupti_profiler_host.h includes
 * <string>, which gcc in C mode rejects. */
#ifndef ATTN_METRICS_H
#define ATTN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_METRICS_MAX 4

/* The metric names of a --metrics set ("dram"), NULL-terminated, in the order values are returned;
 * alt: the names on chips that reject the first ones (GB202: dram__bytes_op_read/op_write.sum), or
 * NULL. Returns NULL for an unknown set. */
const char *const *attn_metrics_set(const char *set, const char *const **alt);
/* The unit stored with a metric ("bytes" for dram__bytes*). The run stores the values through
 * store_point_metrics_add (store.h), one row each. */
const char *attn_metrics_unit(const char *name);

/* Values of one point, in the order of the names in use. */
typedef struct attn_metric_values {
    int n;
    const char *name[ATTN_METRICS_MAX];
    double value[ATTN_METRICS_MAX];
} attn_metric_values;

/* 1 when /proc/driver/nvidia/params text says counters are for admins only. */
int attn_metrics_admin_only(const char *params_text);
/* The reason for a run where counters were refused by the driver (CUPTI said insufficient
 * privileges at `call`), with what would permit them. */
void attn_metrics_privilege_reason(const char *call, int admin_only, int is_root, char *buf,
                                   size_t n);
/* The same, reading /proc/driver/nvidia/params and the effective uid. */
void attn_metrics_privilege_reason_here(const char *call, char *buf, size_t n);

/* ---------------------------------------------------------------- the range profiler (GPU) */

/* Sets the profiler up for `set` on the current device (a CUDA context must exist): chip, counter
 * availability, configuration (validating the names), pass count; enabling the profiler once
 * checks the permission. ATTN_OK, or ATTN_SKIP with why (no permission, unsupported device or
 * metric, ...). */
int attn_metrics_open(const char *set, char *why, size_t n);
/* Passes the configuration needs; the chip ("GH100"). Valid after a successful open. */
int attn_metrics_passes(void);
const char *attn_metrics_chip(void);
/* One profiled range around run(arg, stream), replayed per pass; the values into out. ATTN_OK, or
 * ATTN_ERR with attn_last_error (the profiler is disabled again either way). */
int attn_metrics_collect(int (*run)(void *arg, cudaStream_t stream), void *arg,
                         cudaStream_t stream, attn_metric_values *out);
void attn_metrics_close(void);

#ifdef __cplusplus
}
#endif
#endif
