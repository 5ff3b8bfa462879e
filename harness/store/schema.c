/* schema.c — the results database's schema: the migrations from version 0 to this code's, applied
 * on open (each in one exclusive transaction that reads the version and bumps it, so that several
 * processes may create or migrate one database at once), and the refusal of a newer database.
 * Tuned for many small writes (one transaction per point, WAL) and small analytical reads (the
 * summary view over a few thousand points). */
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "store/sql.h"

/* The summary view of schemas 2 and 3, which differ only in the dtype whose GEMM ceiling
 * pct_of_compute_ceiling relates a point to. Released text: a changed view is a new step with its
 * own text, never an edit of this one. */
#define SUMMARY_VIEW(CEILING_DTYPE)                                                             \
    "CREATE VIEW summary AS SELECT"                                                             \
    "  p.id AS point_id, p.run_id, p.variant, p.dtype, p.batch, p.heads, p.kv_heads, p.seq,"    \
    "  p.head_dim, p.causal, p.params, p.status, p.n_used AS samples,"                          \
    "  p.median_ns / 1e6 AS median_ms, p.p10_ns / 1e6 AS p10_ms, p.p90_ns / 1e6 AS p90_ms,"     \
    "  p.ci_low_ns / 1e6 AS ci_low_ms, p.ci_high_ns / 1e6 AS ci_high_ms,"                       \
    "  CASE WHEN p.status = 'ok' THEN p.dense_flops / p.median_ns / 1e3 END AS tflops,"         \
    "  CASE WHEN p.status = 'ok' THEN (SELECT b.median_ns FROM points b"                        \
    "     WHERE b.run_id = p.run_id AND b.is_baseline AND b.status = 'ok'"                      \
    "       AND b.batch = p.batch AND b.heads = p.heads AND b.kv_heads = p.kv_heads"            \
    "       AND b.seq = p.seq AND b.head_dim = p.head_dim AND b.dtype = p.dtype"                \
    "       AND b.causal = p.causal LIMIT 1) / p.median_ns END AS speedup_vs_baseline,"         \
    "  p.err_max_abs, p.err_rel_l2, p.err_cosine, p.exact_rel_l2, p.config, p.reason,"          \
    "  p.kernel_count, p.gap_share, p.timing_method,"                                           \
    "  CASE WHEN p.status = 'ok' THEN p.exec_flops / p.median_ns / 1e3 * 100 / (SELECT c.value" \
    "     FROM ceilings c WHERE c.run_id = p.run_id AND c.name = 'gemm' AND c.dtype = "         \
    CEILING_DTYPE ")"                                                                           \
    "     END AS pct_of_compute_ceiling,"                                                       \
    "  CASE WHEN p.status = 'ok' THEN p.bytes / p.median_ns * 100 / (SELECT c.value"            \
    "     FROM ceilings c WHERE c.run_id = p.run_id AND c.name = 'copy')"                       \
    "     END AS pct_of_bandwidth_ceiling,"                                                     \
    "  p.n_samples - p.n_used AS throttled"                                                     \
    "  FROM points p;"

/* Each migration takes the schema from version i to i + 1; applied in order, each in one
 * exclusive transaction with its user_version bump. Never edit a released step: add one. */
static const char *const migrations[] = {
    /* 1: runs, points, samples, summary. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  started_at TEXT NOT NULL,"      /* ISO 8601 UTC */
    "  ended_at TEXT,"
    "  status TEXT NOT NULL,"          /* running (or killed while running) | ok | failed | aborted */
    "  reason TEXT,"
    "  command TEXT NOT NULL,"
    "  host TEXT, git_commit TEXT, git_dirty INTEGER,"
    "  backend TEXT NOT NULL,"         /* cuda | cpu */
    "  gpu_name TEXT, driver_version TEXT, cuda_runtime TEXT, cublas_version TEXT,"
    "  tag TEXT, seed INTEGER, init TEXT, cache_mode TEXT, compiler TEXT);"
    "CREATE TABLE points ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  variant TEXT NOT NULL, is_baseline INTEGER NOT NULL,"
    "  batch INTEGER NOT NULL, heads INTEGER NOT NULL, kv_heads INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL, head_dim INTEGER NOT NULL, dtype TEXT NOT NULL,"
    "  causal INTEGER NOT NULL, params TEXT NOT NULL, config TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('ok','failed','skipped','error')),"
    "  reason TEXT, exact INTEGER NOT NULL,"
    "  err_max_abs REAL, err_rel_l2 REAL, err_cosine REAL,"        /* vs the check target */
    "  exact_max_abs REAL, exact_rel_l2 REAL, exact_cosine REAL,"  /* vs exact attention */
    "  check_rows INTEGER,"
    "  dense_flops REAL NOT NULL, exec_flops REAL, bytes REAL, device_bytes REAL,"
    "  n_samples INTEGER NOT NULL, n_used INTEGER NOT NULL,"
    "  median_ns REAL, p10_ns REAL, p90_ns REAL, ci_low_ns REAL, ci_high_ns REAL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX points_run ON points(run_id);"
    "CREATE TABLE samples ("
    "  point_id INTEGER NOT NULL REFERENCES points(id),"
    "  idx INTEGER NOT NULL,"
    "  ns INTEGER NOT NULL,"
    "  throttled INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (point_id, idx)) WITHOUT ROWID;"
    "CREATE VIEW summary AS SELECT"
    "  p.id AS point_id, p.run_id, p.variant, p.dtype, p.batch, p.heads, p.kv_heads, p.seq,"
    "  p.head_dim, p.causal, p.params, p.status, p.n_used AS samples,"
    "  p.median_ns / 1e6 AS median_ms, p.p10_ns / 1e6 AS p10_ms, p.p90_ns / 1e6 AS p90_ms,"
    "  p.ci_low_ns / 1e6 AS ci_low_ms, p.ci_high_ns / 1e6 AS ci_high_ms,"
    "  CASE WHEN p.status = 'ok' THEN p.dense_flops / p.median_ns / 1e3 END AS tflops,"
    "  CASE WHEN p.status = 'ok' THEN (SELECT b.median_ns FROM points b"
    "     WHERE b.run_id = p.run_id AND b.is_baseline AND b.status = 'ok'"
    "       AND b.batch = p.batch AND b.heads = p.heads AND b.kv_heads = p.kv_heads"
    "       AND b.seq = p.seq AND b.head_dim = p.head_dim AND b.dtype = p.dtype"
    "       AND b.causal = p.causal LIMIT 1) / p.median_ns END AS speedup_vs_baseline,"
    "  p.err_max_abs, p.err_rel_l2, p.err_cosine, p.exact_rel_l2, p.config, p.reason"
    "  FROM points p;",

    /* 2: profiling depth — CUPTI per-kernel records, clocks, ceilings, provenance, metrics. */
    "ALTER TABLE runs ADD COLUMN gpu_uuid TEXT;"
    "ALTER TABLE runs ADD COLUMN compute_capability TEXT;"
    "ALTER TABLE runs ADD COLUMN sm_count INTEGER;"
    "ALTER TABLE runs ADD COLUMN l2_bytes INTEGER;"
    "ALTER TABLE runs ADD COLUMN mem_bytes INTEGER;"
    "ALTER TABLE runs ADD COLUMN max_sm_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN max_mem_clock_mhz INTEGER;"
    "ALTER TABLE runs ADD COLUMN ecc INTEGER;"
    "ALTER TABLE runs ADD COLUMN driver_string TEXT;"    /* NVML: "580.82.07" */
    "ALTER TABLE runs ADD COLUMN cupti_version TEXT;"
    "ALTER TABLE runs ADD COLUMN cupti INTEGER;"         /* 1 on, 0 off (cupti_reason), NULL n/a */
    "ALTER TABLE runs ADD COLUMN cupti_reason TEXT;"
    "ALTER TABLE runs ADD COLUMN clock_source TEXT;"     /* nvml | probe | none */
    "ALTER TABLE runs ADD COLUMN timing_method TEXT;"    /* cupti_span | events | cpu_clock */
    "ALTER TABLE runs ADD COLUMN metrics TEXT;"          /* --metrics request */
    "ALTER TABLE runs ADD COLUMN metrics_reason TEXT;"   /* why not collected */
    "ALTER TABLE points ADD COLUMN timing_method TEXT;"  /* what samples.ns holds */
    "ALTER TABLE points ADD COLUMN kernel_count REAL;"   /* median records per sample */
    "ALTER TABLE points ADD COLUMN gap_share REAL;"      /* median (span - kernel sum) / span */
    "ALTER TABLE points ADD COLUMN event_median_ns REAL;"
    "ALTER TABLE points ADD COLUMN kernel_sum_median_ns REAL;"
    "ALTER TABLE points ADD COLUMN span_median_ns REAL;"
    "ALTER TABLE samples ADD COLUMN event_ns INTEGER;"   /* CUDA events around run() */
    "ALTER TABLE samples ADD COLUMN kernel_sum_ns INTEGER;" /* sum of its records' durations */
    "ALTER TABLE samples ADD COLUMN span_ns INTEGER;"    /* first start to last end */
    "ALTER TABLE samples ADD COLUMN n_kernels INTEGER;"
    "ALTER TABLE samples ADD COLUMN sm_clock_mhz INTEGER;"
    "ALTER TABLE samples ADD COLUMN temp_c INTEGER;"
    "ALTER TABLE samples ADD COLUMN power_mw INTEGER;"
    "ALTER TABLE samples ADD COLUMN ext_id INTEGER;"     /* CUPTI external correlation id */
    "CREATE TABLE kernel_names ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"                      /* as CUPTI reports it (mangled) */
    "  short_name TEXT NOT NULL);"
    "CREATE TABLE kernels ("
    "  point_id INTEGER NOT NULL,"
    "  sample_idx INTEGER NOT NULL,"
    "  launch INTEGER NOT NULL,"                        /* order in the sample, from 0 */
    "  kind TEXT NOT NULL CHECK (kind IN ('kernel','memset','memcpy')),"
    "  name_id INTEGER NOT NULL REFERENCES kernel_names(id),"
    "  short_name TEXT NOT NULL,"
    "  grid_x INTEGER, grid_y INTEGER, grid_z INTEGER,"
    "  block_x INTEGER, block_y INTEGER, block_z INTEGER,"
    "  registers INTEGER, static_smem INTEGER, dynamic_smem INTEGER,"
    "  start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"  /* CUPTI timebase */
    "  stream INTEGER, correlation_id INTEGER,"
    "  PRIMARY KEY (point_id, sample_idx, launch),"
    "  FOREIGN KEY (point_id, sample_idx) REFERENCES samples(point_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE ceilings ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  name TEXT NOT NULL,"                             /* gemm | copy */
    "  dtype TEXT NOT NULL DEFAULT '',"                 /* bf16 | fp16 for gemm, '' for copy */
    "  value REAL NOT NULL, unit TEXT NOT NULL,"        /* TFLOP/s | GB/s */
    "  reps INTEGER, detail TEXT,"
    "  PRIMARY KEY (run_id, name, dtype));"
    "CREATE TABLE metrics ("
    "  point_id INTEGER NOT NULL REFERENCES points(id),"
    "  name TEXT NOT NULL, value REAL, unit TEXT,"
    "  PRIMARY KEY (point_id, name));"
    "DROP VIEW summary;"
    SUMMARY_VIEW("p.dtype")
    /* Per point and kernel (short name): launches per sample and the median over the summary's
     * samples of that kernel's total time per sample; share of the point's median span. */
    "CREATE VIEW stages AS"
    "  WITH per AS (SELECT k.point_id, k.sample_idx, k.short_name AS kernel,"
    "      count(*) AS launches, sum(k.end_ns - k.start_ns) AS ns"
    "    FROM kernels k JOIN samples s ON s.point_id = k.point_id AND s.idx = k.sample_idx"
    "    WHERE s.throttled = 0 GROUP BY k.point_id, k.sample_idx, k.short_name),"
    "  ranked AS (SELECT *, row_number() OVER (PARTITION BY point_id, kernel ORDER BY ns) AS r,"
    "      count(*) OVER (PARTITION BY point_id, kernel) AS c FROM per)"
    "  SELECT point_id, kernel, CAST(round(avg(launches)) AS INTEGER) AS launches,"
    "    avg(ns) AS median_ns,"
    "    avg(ns) / (SELECT p.span_median_ns FROM points p WHERE p.id = ranked.point_id) AS share"
    "  FROM ranked WHERE r IN ((c + 1) / 2, (c + 2) / 2) GROUP BY point_id, kernel;",

    /* 3: compute dtype — a variant that computes in another type than its I/O dtype (fp8, int8)
     * is related to that type's compute ceiling. */
    "ALTER TABLE points ADD COLUMN compute_dtype TEXT;"  /* NULL: the point's dtype */
    "DROP VIEW summary;"
    SUMMARY_VIEW("coalesce(p.compute_dtype, p.dtype)"),

    /* 4: the cuDNN a GPU run could load (run time, not link time: core/cudnn_lib.h); liveness —
     * the writing process (its pid, and the pid namespace that pid is valid in) and a heartbeat per
     * stored point, so that a run whose process is gone shows as 'abandoned'. */
    "ALTER TABLE runs ADD COLUMN cudnn_version TEXT;"   /* "9.19.0"; NULL: none or CPU backend */
    "ALTER TABLE runs ADD COLUMN pid INTEGER;"
    "ALTER TABLE runs ADD COLUMN pid_ns TEXT;"           /* boot id + PID namespace inode */
    "ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;",    /* ISO 8601 UTC: the last stored point */

    /* 5: placement rounds and profiler runs (issue 12) — a point's samples taken in rounds, its
     * device inputs moved to a fresh allocation before each round after the first (the round of
     * each sample); a run under ncu, nsys or compute-sanitizer (whose times are not timings). */
    "ALTER TABLE samples ADD COLUMN placement INTEGER;"  /* round 0, 1, ...; NULL: not recorded */
    "ALTER TABLE runs ADD COLUMN profiler TEXT;",        /* ncu | nsys | compute-sanitizer | ... */

    /* 6: scale-out (issue 17) — a run's globally unique id (merge keys runs by it; older runs get
     * a random one here, once, in place), its shard and the size of the whole sweep, its arguments
     * (--resume and the workers parse them again); the plan (every point the run is to run, its
     * state and why it did not run); the worker processes (one per GPU) and the GPU of each point. */
    "ALTER TABLE runs ADD COLUMN run_uuid TEXT;"         /* random UUID, or --run-uuid's */
    "UPDATE runs SET run_uuid = lower(hex(randomblob(16)));"
    "CREATE UNIQUE INDEX runs_uuid ON runs(run_uuid);"
    "ALTER TABLE runs ADD COLUMN shard TEXT;"            /* "i/n"; merged: "0/3 1/3"; NULL: whole */
    "ALTER TABLE runs ADD COLUMN sweep_points INTEGER;"  /* points of the whole sweep (all shards) */
    "ALTER TABLE runs ADD COLUMN argv TEXT;"             /* JSON array: `run` and its arguments */
    "ALTER TABLE points ADD COLUMN plan_idx INTEGER;"    /* its plan row; NULL: made before 6 */
    "ALTER TABLE points ADD COLUMN device INTEGER;"      /* --devices index; NULL: CPU, or before 6 */
    "ALTER TABLE points ADD COLUMN gpu_uuid TEXT;"
    "ALTER TABLE points ADD COLUMN worker INTEGER;"      /* workers.idx of the process that ran it */
    "CREATE TABLE workers ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  idx INTEGER NOT NULL,"                            /* 0, 1, ...: across resumes and merges */
    "  device INTEGER,"                                  /* --devices index (fake on the CPU) */
    "  gpu_uuid TEXT, gpu_name TEXT, host TEXT, pid INTEGER,"
    "  status TEXT NOT NULL,"          /* starting | running | ok | failed | aborted | interrupted
                                          | crashed */
    "  exit_reason TEXT,"              /* "killed by SIGKILL", the sticky error ... */
    "  n_points INTEGER NOT NULL DEFAULT 0,"
    "  started_at TEXT NOT NULL, ended_at TEXT,"
    "  PRIMARY KEY (run_id, idx));"
    "CREATE TABLE plan ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  plan_idx INTEGER NOT NULL,"                       /* position in the whole sweep */
    "  deal INTEGER NOT NULL,"                           /* the order points are handed out in */
    "  variant TEXT NOT NULL, point TEXT NOT NULL,"      /* "bf16 B=1 H=4 S=127 D=64 path=mma" */
    "  dense_flops REAL NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','running','done','lost')),"
    "  worker INTEGER,"                                  /* who claimed or ran it */
    "  point_id INTEGER REFERENCES points(id),"          /* state 'done' */
    "  reason TEXT,"                                     /* why it did not run */
    "  PRIMARY KEY (run_id, plan_idx));",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int store_schema_version(void) { return N_MIGRATIONS; }

/* The next migration step, if any, with its user_version bump, inside the step's exclusive
 * transaction: the version is read there, so that processes opening one new database at once
 * apply each step once (a version read before the lock would let two of them create `runs`).
 * *done = 1 when the database is at this code's version. */
static int migrate_step(sqlite3 *db, void *arg)
{
    int *done = arg;
    int64_t version; /* PRAGMA user_version: a 32-bit integer */
    ATTN_TRY(store_query_int64(db, "PRAGMA user_version", &version));
    if (version > N_MIGRATIONS)
        return attn_fail("database schema version %d is newer than this attnbench (%d): use a "
                         "newer build", (int)version, N_MIGRATIONS);
    if ((*done = version == N_MIGRATIONS)) return ATTN_OK;
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", (int)version + 1);
    ATTN_TRY(store_exec(db, migrations[version]));
    return store_exec(db, bump);
}

static int migrate(sqlite3 *db)
{
    int64_t version;
    ATTN_TRY(store_query_int64(db, "PRAGMA user_version", &version));
    int done = version == N_MIGRATIONS; /* the common case takes no write lock */
    while (!done) ATTN_TRY(store_transaction(db, "BEGIN EXCLUSIVE", migrate_step, &done));
    return ATTN_OK;
}

/* Runs a journal_mode pragma: the mode it reports ("wal", "delete"...) in mode, or *busy = 1 when
 * another connection's lock kept it from running. */
static int journal_mode(sqlite3 *db, const char *sql, char *mode, size_t n, int *busy)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    int rc = sqlite3_step(st);
    snprintf(mode, n, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    if ((*busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED)) return ATTN_OK;
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* WAL journal. Switching a new file to WAL needs the only lock on it: a process creating the same
 * database at the same moment can make the switch fail busy at once, so it is retried until the
 * file is in WAL mode (switched by either process) or STORE_BUSY_MS have passed. */
static int use_wal(sqlite3 *db)
{
    char mode[16];
    for (int waited = 0;; waited += 10) {
        int busy;
        ATTN_TRY(journal_mode(db, "PRAGMA journal_mode = WAL", mode, sizeof mode, &busy));
        if (!busy && strcmp(mode, "wal") == 0) return ATTN_OK;
        if (waited >= STORE_BUSY_MS)
            return attn_fail("cannot switch the database to WAL journal mode (%s): another "
                             "process holds it", busy ? "busy" : mode);
        sqlite3_sleep(10);
    }
}

int store_open(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        attn_fail_sqlite(db, rc, "sqlite3_open_v2", __FILE__, __LINE__);
        snprintf(attn_last_error.msg, sizeof attn_last_error.msg, "cannot open database %s: %s",
                 path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return ATTN_ERR;
    }
    SQLITE_CHECK_GOTO(db, sqlite3_busy_timeout(db, STORE_BUSY_MS), rc, fail);
    ATTN_TRY_GOTO(store_register_functions(db), rc, fail);
    ATTN_TRY_GOTO(store_exec(db, "PRAGMA foreign_keys = ON"), rc, fail);
    ATTN_TRY_GOTO(use_wal(db), rc, fail);
    ATTN_TRY_GOTO(store_exec(db, "PRAGMA synchronous = NORMAL"), rc, fail);
    ATTN_TRY_GOTO(migrate(db), rc, fail);
    *out = db;
    return ATTN_OK;
fail:;
    attn_error_info saved = attn_last_error;
    sqlite3_close(db);
    attn_last_error = saved;
    return rc;
}

void store_close(sqlite3 *db) { sqlite3_close(db); }
