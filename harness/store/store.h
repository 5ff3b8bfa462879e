/* store.h — the SQLite results database: schema, migrations, transactional inserts, queries.
 *
 * One file per database, WAL journal. The schema is versioned with PRAGMA user_version and migrated
 * forward on open; a database newer than this code is refused. Each point (its row, its samples) is
 * one transaction, so a killed run keeps every completed point; its run row then stays 'running'.
 * Only bound parameters reach SQL. See README.md "Schema" for the tables and the summary view. */
#ifndef ATTN_STORE_H
#define ATTN_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "core/problem.h"

typedef struct sqlite3 sqlite3;

/* Schema version this code writes (PRAGMA user_version). */
int store_schema_version(void);

/* Opens (creating if absent) and migrates. ATTN_ERR with attn_last_error.msg on failure, including
 * "database schema version N is newer than this attnbench (M)". */
int store_open(const char *path, sqlite3 **db);
void store_close(sqlite3 *db);

/* Provenance of a run. Strings may be NULL (stored as NULL). */
typedef struct store_run {
    const char *command;       /* full command line */
    const char *host;
    const char *git_commit;
    int git_dirty;             /* 1 dirty, 0 clean, -1 unknown */
    const char *backend;       /* "cuda" or "cpu" */
    const char *gpu_name;
    const char *driver_version;
    const char *cuda_runtime;
    const char *cublas_version;
    const char *tag;
    uint64_t seed;
    const char *init;          /* input distribution */
    const char *cache_mode;    /* "cold" or "hot" */
    const char *compiler;      /* compiler and flags that built the binary */
    /* Schema 2: device provenance and profiling setup. Strings may be NULL; integers < 0 unknown. */
    const char *gpu_uuid;      /* "GPU-xxxxxxxx-..." */
    const char *compute_capability; /* "9.0" */
    int sm_count;
    int64_t l2_bytes, mem_bytes;
    int max_sm_clock_mhz, max_mem_clock_mhz;
    int ecc;                   /* 1 on, 0 off, -1 unknown */
    const char *driver_string; /* NVML driver version ("580.82.07") */
    const char *cupti_version;
    int cupti;                 /* 1 CUPTI records collected, 0 off (cupti_reason says why), -1 n/a */
    const char *cupti_reason;
    const char *clock_source;  /* "nvml", "probe", "none" */
    const char *timing_method; /* the run's default: "cupti_span" or "events" (or "cpu_clock") */
    const char *metrics;       /* --metrics request ("dram"), NULL none */
    const char *metrics_reason;/* why metrics were not collected, NULL when they were */
} store_run;

int store_run_begin(sqlite3 *db, const store_run *r, int64_t *run_id);
/* CUPTI turned off during the run: record it (cupti = 0, the reason). */
int store_run_cupti_off(sqlite3 *db, int64_t run_id, const char *reason);
/* A measured ceiling: name "gemm" (dtype "bf16"/"fp16", TFLOP/s) or "copy" (dtype "", GB/s). */
int store_ceiling_add(sqlite3 *db, int64_t run_id, const char *name, const char *dtype,
                      double value, const char *unit, int reps, const char *detail);
/* status: "ok", "aborted" (reason says why), or "failed" (some point failed its check). */
int store_run_end(sqlite3 *db, int64_t run_id, const char *status, const char *reason);

/* Error metrics of one comparison; NaN where not measured. */
typedef struct store_errors {
    double max_abs, rel_l2, cosine;
} store_errors;

/* Summary of the accepted samples (in ns). */
typedef struct store_timing {
    int n_samples;        /* samples stored */
    int n_used;           /* samples the summary uses (not throttled) */
    double median, p10, p90, ci_low, ci_high;
} store_timing;

typedef struct store_point {
    const char *variant;
    int is_baseline;           /* 1 for the baseline variant speedups are measured against */
    attn_point point;
    const char *config;        /* variant's chosen configuration, may be NULL */
    const char *status;        /* "ok", "failed", "skipped", "error" */
    const char *reason;        /* why not ok; NULL when ok */
    int exact;                 /* variant computes exact attention */
    store_errors check;        /* against the check target (fp64 reference or the variant's CPU algorithm) */
    store_errors vs_exact;     /* against exact attention (== check for exact variants) */
    int check_rows;            /* query rows compared */
    double dense_flops, exec_flops, bytes;
    double device_bytes;       /* inputs + output + workspace on the device */
    store_timing timing;       /* n_samples == 0 when not timed */
    /* Schema 2 (NaN / NULL when not measured). Medians over the samples the summary uses. */
    const char *timing_method; /* what samples.ns holds: "cupti_span", "events", "cpu_clock" */
    double kernel_count;       /* records (kernels, memsets, memcpys) per sample */
    double gap_share;          /* (span - kernel sum) / span */
    double event_median_ns, kernel_sum_median_ns, span_median_ns;
} store_point;

/* Per sample, beside its ns (schema 2). Values < 0 are stored as NULL (not measured). */
typedef struct store_sample_info {
    int64_t event_ns;          /* CUDA event pair around run() */
    int64_t kernel_sum_ns;     /* sum of the sample's record durations (CUPTI) */
    int64_t span_ns;           /* first record start to last record end (CUPTI) */
    int n_kernels;             /* records attributed to the sample */
    int sm_clock_mhz, temp_c, power_mw;
    int64_t ext_id;            /* CUPTI external correlation id of the sample */
} store_sample_info;

/* One kernel/memset/memcpy record of a sample (schema 2, table kernels). */
typedef struct store_kernel {
    int sample;                /* index into the point's samples */
    int launch;                /* order within the sample (by start time), from 0 */
    const char *kind;          /* "kernel", "memset", "memcpy" */
    const char *name;          /* mangled */
    const char *short_name;
    int grid[3], block[3];
    int registers, static_smem, dynamic_smem;
    int64_t start_ns, end_ns;
    int64_t stream, correlation;
} store_kernel;

/* Inserts the point and its samples (ns[i], throttled[i] may be NULL = none) in one transaction. */
int store_point_add(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                    const uint8_t *throttled, int n, int64_t *point_id);

/* The same with schema-2 sample details (info may be NULL) and the samples' kernel records. */
int store_point_add_full(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                         const uint8_t *throttled, int n, const store_sample_info *info,
                         const store_kernel *kernels, size_t n_kernels, int64_t *point_id);

/* A hardware-counter value of a point (table metrics). */
int store_metric_add(sqlite3 *db, int64_t point_id, const char *name, double value,
                     const char *unit);

/* The newest run id (0 if none). */
int store_latest_run(sqlite3 *db, int64_t *run_id);

/* Runs `sql` (with ?1 bound to `arg` when arg_bound) and prints the rows as an aligned table with a
 * header to `out`. Returns ATTN_OK; rows printed in *n_rows. */
int store_print_table(sqlite3 *db, const char *sql, int arg_bound, int64_t arg, FILE *out,
                      int *n_rows);

#endif
