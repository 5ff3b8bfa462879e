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

#include "problem.h"

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
} store_run;

int store_run_begin(sqlite3 *db, const store_run *r, int64_t *run_id);
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
} store_point;

/* Inserts the point and its samples (ns[i], throttled[i] may be NULL = none) in one transaction. */
int store_point_add(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                    const uint8_t *throttled, int n, int64_t *point_id);

/* The newest run id (0 if none). */
int store_latest_run(sqlite3 *db, int64_t *run_id);

/* Runs `sql` (with ?1 bound to `arg` when arg_bound) and prints the rows as an aligned table with a
 * header to `out`. Returns ATTN_OK; rows printed in *n_rows. */
int store_print_table(sqlite3 *db, const char *sql, int arg_bound, int64_t arg, FILE *out,
                      int *n_rows);

#endif
