/* store.h — the SQLite results database: schema, migrations, transactional inserts, queries.
 *
 * One file per database, WAL journal. The schema is versioned with PRAGMA user_version and migrated
 * forward on open; a database newer than this code is refused. Several processes may create,
 * migrate and write one database at once (each migration step reads the version inside its
 * exclusive transaction; every statement waits up to STORE_BUSY_MS for a lock). Each point (its
 * row, its samples) is one transaction, so a killed run keeps every completed point; its run row
 * then stays 'running' and reads as 'abandoned' once its process is seen gone (run_state.c).
 * Only bound parameters reach SQL. See README.md "Schema" for the tables and the summary view.
 * Files: schema.c (migrations, open), write.c (runs, points, samples, metrics, ceilings), query.c
 * (reads), run_state.c (liveness, abandoned runs, which run a TAG names), plan.c (a run's plan,
 * its workers, the claims: plan.h), merge.c (databases merged by run_uuid: plan.h), sql.c (the
 * bind/step helpers they share, sql.h). */
#ifndef ATTN_STORE_H
#define ATTN_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "core/problem.h"
#include "measure/measure.h"

typedef struct sqlite3 sqlite3;

/* Schema version this code writes (PRAGMA user_version). */
int store_schema_version(void);

/* How long a statement waits for another connection's lock before failing busy, in ms. */
#define STORE_BUSY_MS 30000

/* Opens (creating if absent) and migrates, with the SQL functions below registered. ATTN_ERR with
 * attn_last_error.msg on failure, including "database schema version N is newer than this
 * attnbench (M)". */
int store_open(const char *path, sqlite3 **db);
void store_close(sqlite3 *db);

/* Registers the SQL function attn_run_status(id) on a connection (store_open does; a read-only
 * open must too, for the readers' queries that use it): store_run_status as SQL, NULL for no
 * such run. */
int store_register_functions(sqlite3 *db);

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
    /* Schema 4. */
    const char *cudnn_version; /* the cuDNN the run could load ("9.19.0"), NULL none */
    /* Schema 5. */
    const char *profiler;      /* the tool the run ran under (profiler mode), NULL none */
} store_run;

/* The run's row, status 'running'. The calling process is the run's: its pid and PID namespace
 * are recorded, and heartbeat_at (then advanced by every stored point) starts at started_at; its
 * run_uuid is random (128 bits in hex) until store_run_scale (plan.h) sets it. */
int store_run_begin(sqlite3 *db, const store_run *r, int64_t *run_id);
/* A run whose row was made without a device (the coordinator of `run --devices`): the first
 * worker's device provenance (r's GPU columns), unless another worker gave it first. */
int store_run_device(sqlite3 *db, int64_t run_id, const store_run *r);
/* CUPTI turned off during the run: record it (cupti = 0, the reason). */
int store_run_cupti_off(sqlite3 *db, int64_t run_id, const char *reason);
/* A measured ceiling: name "gemm" (dtype "bf16"/"fp16", TFLOP/s) or "copy" (dtype "", GB/s). */
int store_ceiling_add(sqlite3 *db, int64_t run_id, const char *name, const char *dtype,
                      double value, const char *unit, int reps, const char *detail);
/* status: "ok", "failed" (some point failed its check or errored), "aborted" (reason says why) or
 * "interrupted" (a signal stopped it before its last point). */
int store_run_end(sqlite3 *db, int64_t run_id, const char *status, const char *reason);

/* Error metrics of one comparison; NaN where not measured. */
typedef struct store_errors {
    double max_abs, rel_l2, cosine;
} store_errors;

/* A named value of a point (table metrics, one row each): a hardware counter, a variant's
 * quality value, an error metric that is not a column. */
typedef struct store_metric {
    const char *name;  /* unique within the point */
    double value;      /* NaN is stored as NULL */
    const char *unit;  /* "" when dimensionless */
} store_metric;

/* Schema 6: where a point of a plan ran (store/plan.h). */
typedef struct store_point_origin {
    int plan_idx;              /* its plan row, marked 'done' in the point's transaction */
    int worker;                /* workers.idx of the process that ran it */
    int device;                /* --devices index (fake on the CPU backend); < 0: none */
    const char *gpu_uuid;      /* NULL: none */
} store_point_origin;

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
    attn_timing timing;        /* n_samples == 0 when not timed */
    attn_profile_summary profile; /* schema 2 (timing_method NULL: not measured) */
    const char *compute_dtype; /* schema 3: the type the variant computes in; NULL: the dtype */
    const store_metric *metrics; /* stored with the point (table metrics); may be NULL */
    int n_metrics;
    const store_point_origin *origin; /* schema 6; NULL: not from a plan */
} store_point;

/* Inserts the point, its samples (ns[i], throttled[i] may be NULL = none; info may be NULL), the
 * samples' kernel records and the point's metrics in one transaction. */
int store_point_add(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                         const uint8_t *throttled, int n, const attn_sample_info *info,
                         const attn_sample_kernel *kernels, size_t n_kernels, int64_t *point_id);

/* Metrics rows of a stored point (INSERT OR REPLACE: a name given again replaces its row). */
int store_point_metrics_add(sqlite3 *db, int64_t point_id, const store_metric *m, int n);
/* The run's metrics_reason, set later in the run (the --metrics pass failed at some point). */
int store_run_metrics_reason(sqlite3 *db, int64_t run_id, const char *reason);

/* The newest run id (0 if none). */
int store_latest_run(sqlite3 *db, int64_t *run_id);

/* ---------------------------------------------------------------- run state (run_state.c) */

/* A run on another machine or PID namespace is abandoned when its heartbeat (its last stored
 * point) is older than this, in seconds; on the writer's own machine and namespace its pid
 * decides at once. A point that takes longer shows its live run as abandoned until it is
 * stored (the heartbeat then sets the run 'running' again). */
#define STORE_HEARTBEAT_BOUND_S 1800

/* A complete run ended having run every point: 'ok', or 'failed' (some point failed its check).
 * As SQL over runs' columns, and for a status. */
#define STORE_RUN_COMPLETE_SQL "status IN ('ok', 'failed')"
int store_status_complete(const char *status);

/* Run id's status as readers show it: the stored one, but "abandoned" for a 'running' run whose
 * process is gone; "" when there is no such run. Works on older schemas (no liveness columns:
 * the stored status). */
int store_run_status(sqlite3 *db, int64_t id, char *status, size_t n);

/* A writer's duty: marks every 'running' run whose process is gone 'abandoned' in the table
 * (ended_at: its last heartbeat; reason: whose process); their count in *n. */
int store_mark_abandoned(sqlite3 *db, int *n);

/* The runs store_find_run chooses from. */
typedef struct store_run_filter {
    const char *tag;   /* runs with this tag; NULL: any run */
    int64_t exclude;   /* never this run; 0: none */
    int any_gpu;       /* 0: only runs whose gpu_name IS gpu */
    const char *gpu;   /* NULL: runs without a GPU name (the CPU backend) */
    int incomplete;    /* 1: runs of any status; 0: complete runs only */
} store_run_filter;

/* Which run was chosen, and which newer ones were passed over as incomplete. */
typedef struct store_run_choice {
    int64_t id;              /* the newest run that qualifies; 0: none */
    char status[16];         /* its status (store_run_status) */
    int passed_over;         /* newer matching runs left out as incomplete */
    int64_t newest_passed;   /* the newest of them (0: none), and its status */
    char passed_status[16];
} store_run_choice;

/* The newest run that matches f (what a TAG names: the newest complete run with that tag). */
int store_find_run(sqlite3 *db, const store_run_filter *f, store_run_choice *c);
/* "run 12 (ok)", with "; passed over 2 newer incomplete runs, the newest run 14 (abandoned)"
 * when there were any: the sentence a reader prints about its choice. */
void store_run_choice_text(const store_run_choice *c, char *buf, size_t n);

/* Runs `sql` (with ?1 bound to `arg` when arg_bound) and prints the rows as an aligned table with a
 * header to `out`. Returns ATTN_OK; rows printed in *n_rows. */
int store_print_table(sqlite3 *db, const char *sql, int arg_bound, int64_t arg, FILE *out,
                      int *n_rows);

#endif
