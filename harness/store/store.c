/* store.c — the results database (see store.h). Tuned for many small writes (one transaction per
 * point, WAL) and small analytical reads (the summary view over a few thousand points). */
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

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
    "  p.err_max_abs, p.err_rel_l2, p.err_cosine, p.exact_rel_l2, p.config, p.reason,"
    "  p.kernel_count, p.gap_share, p.timing_method,"
    "  CASE WHEN p.status = 'ok' THEN p.exec_flops / p.median_ns / 1e3 * 100 / (SELECT c.value"
    "     FROM ceilings c WHERE c.run_id = p.run_id AND c.name = 'gemm' AND c.dtype = p.dtype)"
    "     END AS pct_of_compute_ceiling,"
    "  CASE WHEN p.status = 'ok' THEN p.bytes / p.median_ns * 100 / (SELECT c.value"
    "     FROM ceilings c WHERE c.run_id = p.run_id AND c.name = 'copy')"
    "     END AS pct_of_bandwidth_ceiling,"
    "  p.n_samples - p.n_used AS throttled"
    "  FROM points p;"
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
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int store_schema_version(void) { return N_MIGRATIONS; }

static int exec(sqlite3 *db, const char *sql)
{
    SQLITE_CHECK(db, sqlite3_exec(db, sql, NULL, NULL, NULL));
    return ATTN_OK;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL));
    int rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

static int migrate(sqlite3 *db)
{
    int v;
    ATTN_TRY(user_version(db, &v));
    if (v > N_MIGRATIONS)
        return attn_fail("database schema version %d is newer than this attnbench (%d): use a "
                         "newer build",
                         v, N_MIGRATIONS);
    for (; v < N_MIGRATIONS; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        ATTN_TRY(exec(db, "BEGIN EXCLUSIVE"));
        if (exec(db, migrations[v]) != ATTN_OK || exec(db, bump) != ATTN_OK) {
            attn_error_info saved = attn_last_error;
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            attn_last_error = saved;
            return ATTN_ERR;
        }
        ATTN_TRY(exec(db, "COMMIT"));
    }
    return ATTN_OK;
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
    if (sqlite3_busy_timeout(db, 5000) != SQLITE_OK || exec(db, "PRAGMA foreign_keys = ON") ||
        exec(db, "PRAGMA journal_mode = WAL") || exec(db, "PRAGMA synchronous = NORMAL") ||
        migrate(db)) {
        attn_error_info saved = attn_last_error;
        sqlite3_close(db);
        attn_last_error = saved;
        return ATTN_ERR;
    }
    *out = db;
    return ATTN_OK;
}

void store_close(sqlite3 *db) { sqlite3_close(db); }

static int bind_text(sqlite3 *db, sqlite3_stmt *st, int i, const char *s)
{
    SQLITE_CHECK(db, s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i));
    return ATTN_OK;
}

/* NaN (not measured) is stored as NULL. */
static int bind_real(sqlite3 *db, sqlite3_stmt *st, int i, double x)
{
    SQLITE_CHECK(db, isnan(x) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, x));
    return ATTN_OK;
}

/* Runs a prepared statement to completion and finalises it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* Binds an integer, or NULL when negative (unknown). */
static int bind_int_or_null(sqlite3 *db, sqlite3_stmt *st, int i, int64_t v)
{
    SQLITE_CHECK(db, v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v));
    return ATTN_OK;
}

/* Schema-2 columns of a run, written right after its row. */
static int run_provenance(sqlite3 *db, int64_t run_id, const store_run *r)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET gpu_uuid = ?1, compute_capability = ?2, sm_count = ?3, l2_bytes = ?4,"
        " mem_bytes = ?5, max_sm_clock_mhz = ?6, max_mem_clock_mhz = ?7, ecc = ?8,"
        " driver_string = ?9, cupti_version = ?10, cupti = ?11, cupti_reason = ?12,"
        " clock_source = ?13, timing_method = ?14, metrics = ?15, metrics_reason = ?16"
        " WHERE id = ?17", -1, &st, NULL));
    int rc = ATTN_OK;
    const struct { int pos; const char *v; } texts[] = {{1, r->gpu_uuid},
        {2, r->compute_capability}, {9, r->driver_string}, {10, r->cupti_version},
        {12, r->cupti_reason}, {13, r->clock_source}, {14, r->timing_method}, {15, r->metrics},
        {16, r->metrics_reason}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && rc == ATTN_OK; i++)
        rc = bind_text(db, st, texts[i].pos, texts[i].v && texts[i].v[0] ? texts[i].v : NULL);
    const struct { int pos; int64_t v; } ints[] = {{3, r->sm_count}, {4, r->l2_bytes},
        {5, r->mem_bytes}, {6, r->max_sm_clock_mhz}, {7, r->max_mem_clock_mhz}, {8, r->ecc},
        {11, r->cupti}, {17, run_id}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == ATTN_OK; i++)
        rc = bind_int_or_null(db, st, ints[i].pos, ints[i].v);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

int store_run_cupti_off(sqlite3 *db, int64_t run_id, const char *reason)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET cupti = 0, cupti_reason = ?1 WHERE id = ?2", -1, &st, NULL));
    int rc = bind_text(db, st, 1, reason);
    if (rc == ATTN_OK) rc = bind_int_or_null(db, st, 2, run_id);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

int store_ceiling_add(sqlite3 *db, int64_t run_id, const char *name, const char *dtype,
                      double value, const char *unit, int reps, const char *detail)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT OR REPLACE INTO ceilings (run_id, name, dtype, value, unit, reps, detail)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL));
    int rc = bind_int_or_null(db, st, 1, run_id);
    if (rc == ATTN_OK) rc = bind_text(db, st, 2, name);
    if (rc == ATTN_OK) rc = bind_text(db, st, 3, dtype ? dtype : "");
    if (rc == ATTN_OK) rc = bind_real(db, st, 4, value);
    if (rc == ATTN_OK) rc = bind_text(db, st, 5, unit);
    if (rc == ATTN_OK) rc = bind_int_or_null(db, st, 6, reps);
    if (rc == ATTN_OK) rc = bind_text(db, st, 7, detail);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

int store_metric_add(sqlite3 *db, int64_t point_id, const char *name, double value,
                     const char *unit)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT OR REPLACE INTO metrics (point_id, name, value, unit) VALUES (?1, ?2, ?3, ?4)",
        -1, &st, NULL));
    int rc = bind_int_or_null(db, st, 1, point_id);
    if (rc == ATTN_OK) rc = bind_text(db, st, 2, name);
    if (rc == ATTN_OK) rc = bind_real(db, st, 3, value);
    if (rc == ATTN_OK) rc = bind_text(db, st, 4, unit);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

int store_run_begin(sqlite3 *db, const store_run *r, int64_t *run_id)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO runs (started_at, status, command, host, git_commit, git_dirty, backend,"
        " gpu_name, driver_version, cuda_runtime, cublas_version, tag, seed, init, cache_mode,"
        " compiler) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'running', ?1, ?2, ?3, ?4, ?5,"
        " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)", -1, &st, NULL));
    const char *texts[] = {r->command, r->host, r->git_commit};
    int rc = ATTN_OK;
    for (int i = 0; i < 3 && rc == ATTN_OK; i++) rc = bind_text(db, st, i + 1, texts[i]);
    if (rc == ATTN_OK)
        rc = r->git_dirty < 0 ? bind_real(db, st, 4, NAN) : bind_real(db, st, 4, r->git_dirty);
    const char *more[] = {r->backend, r->gpu_name, r->driver_version, r->cuda_runtime,
                          r->cublas_version, r->tag};
    for (int i = 0; i < 6 && rc == ATTN_OK; i++) rc = bind_text(db, st, i + 5, more[i]);
    if (rc == ATTN_OK && sqlite3_bind_int64(st, 11, (sqlite3_int64)r->seed) != SQLITE_OK)
        rc = attn_fail_sqlite(db, sqlite3_errcode(db), "bind seed", __FILE__, __LINE__);
    if (rc == ATTN_OK) rc = bind_text(db, st, 12, r->init);
    if (rc == ATTN_OK) rc = bind_text(db, st, 13, r->cache_mode);
    if (rc == ATTN_OK) rc = bind_text(db, st, 14, r->compiler);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    ATTN_TRY(step_done(db, st));
    *run_id = sqlite3_last_insert_rowid(db);
    return run_provenance(db, *run_id, r);
}

int store_run_end(sqlite3 *db, int64_t run_id, const char *status, const char *reason)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), status = ?1,"
        " reason = ?2 WHERE id = ?3", -1, &st, NULL));
    int rc = bind_text(db, st, 1, status);
    if (rc == ATTN_OK) rc = bind_text(db, st, 2, reason);
    if (rc == ATTN_OK && sqlite3_bind_int64(st, 3, run_id) != SQLITE_OK)
        rc = attn_fail_sqlite(db, sqlite3_errcode(db), "bind run", __FILE__, __LINE__);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

static int insert_point(sqlite3 *db, int64_t run_id, const store_point *p, int64_t *point_id)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO points (run_id, variant, is_baseline, batch, heads, kv_heads, seq, head_dim,"
        " dtype, causal, params, config, status, reason, exact, err_max_abs, err_rel_l2,"
        " err_cosine, exact_max_abs, exact_rel_l2, exact_cosine, check_rows, dense_flops,"
        " exec_flops, bytes, device_bytes, n_samples, n_used, median_ns, p10_ns, p90_ns,"
        " ci_low_ns, ci_high_ns, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
        " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27,"
        " ?28, ?29, ?30, ?31, ?32, ?33, strftime('%Y-%m-%dT%H:%M:%fZ','now'))", -1, &st, NULL));
    const attn_point *q = &p->point;
    const store_timing *t = &p->timing;
    int rc = ATTN_OK;
    /* Parameter positions follow the column list above. */
    const struct { int pos; int64_t v; } ints[] = {{1, run_id}, {3, p->is_baseline}, {4, q->batch},
        {5, q->heads}, {6, q->kv_heads}, {7, q->seq}, {8, q->head_dim}};
    for (int i = 0; i < 7 && rc == ATTN_OK; i++)
        if (sqlite3_bind_int64(st, ints[i].pos, ints[i].v) != SQLITE_OK)
            rc = attn_fail_sqlite(db, sqlite3_errcode(db), "bind", __FILE__, __LINE__);
    if (rc == ATTN_OK) rc = bind_text(db, st, 2, p->variant);
    if (rc == ATTN_OK) rc = bind_text(db, st, 9, attn_dtype_name(q->dtype));
    if (rc == ATTN_OK) rc = bind_real(db, st, 10, q->causal);
    if (rc == ATTN_OK) rc = bind_text(db, st, 11, q->params);
    if (rc == ATTN_OK) rc = bind_text(db, st, 12, p->config);
    if (rc == ATTN_OK) rc = bind_text(db, st, 13, p->status);
    if (rc == ATTN_OK) rc = bind_text(db, st, 14, p->reason);
    const double reals[] = {p->exact, p->check.max_abs, p->check.rel_l2, p->check.cosine,
                            p->vs_exact.max_abs, p->vs_exact.rel_l2, p->vs_exact.cosine,
                            p->check_rows, p->dense_flops, p->exec_flops, p->bytes,
                            p->device_bytes, t->n_samples, t->n_used};
    for (int i = 0; i < 14 && rc == ATTN_OK; i++) rc = bind_real(db, st, 15 + i, reals[i]);
    const double stats[] = {t->median, t->p10, t->p90, t->ci_low, t->ci_high};
    for (int i = 0; i < 5 && rc == ATTN_OK; i++)
        rc = bind_real(db, st, 29 + i, t->n_used > 0 ? stats[i] : NAN);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    ATTN_TRY(step_done(db, st));
    *point_id = sqlite3_last_insert_rowid(db);
    return ATTN_OK;
}

static int insert_samples(sqlite3 *db, int64_t point_id, const int64_t *ns,
                          const uint8_t *throttled, int n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO samples (point_id, idx, ns, throttled) VALUES (?1, ?2, ?3, ?4)", -1, &st,
        NULL));
    for (int i = 0; i < n; i++) {
        if (sqlite3_bind_int64(st, 1, point_id) || sqlite3_bind_int(st, 2, i) ||
            sqlite3_bind_int64(st, 3, ns[i]) ||
            sqlite3_bind_int(st, 4, throttled ? throttled[i] : 0)) {
            int rc = attn_fail_sqlite(db, sqlite3_errcode(db), "bind sample", __FILE__, __LINE__);
            sqlite3_finalize(st);
            return rc;
        }
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            rc = attn_fail_sqlite(db, rc, "insert sample", __FILE__, __LINE__);
            sqlite3_finalize(st);
            return rc;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return ATTN_OK;
}

/* Schema-2 columns of a point; all NULL when p->timing_method is NULL (not measured). */
static int point_profile(sqlite3 *db, int64_t point_id, const store_point *p)
{
    if (!p->timing_method) return ATTN_OK;
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE points SET timing_method = ?1, kernel_count = ?2, gap_share = ?3,"
        " event_median_ns = ?4, kernel_sum_median_ns = ?5, span_median_ns = ?6 WHERE id = ?7",
        -1, &st, NULL));
    int rc = bind_text(db, st, 1, p->timing_method);
    const double reals[] = {p->kernel_count, p->gap_share, p->event_median_ns,
                            p->kernel_sum_median_ns, p->span_median_ns};
    for (int i = 0; i < 5 && rc == ATTN_OK; i++) rc = bind_real(db, st, 2 + i, reals[i]);
    if (rc == ATTN_OK) rc = bind_int_or_null(db, st, 7, point_id);
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return step_done(db, st);
}

static int sample_info(sqlite3 *db, int64_t point_id, const store_sample_info *info, int n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE samples SET event_ns = ?1, kernel_sum_ns = ?2, span_ns = ?3, n_kernels = ?4,"
        " sm_clock_mhz = ?5, temp_c = ?6, power_mw = ?7, ext_id = ?8"
        " WHERE point_id = ?9 AND idx = ?10", -1, &st, NULL));
    int rc = ATTN_OK;
    for (int i = 0; i < n && rc == ATTN_OK; i++) {
        const store_sample_info *x = &info[i];
        const int64_t v[] = {x->event_ns, x->kernel_sum_ns, x->span_ns, x->n_kernels,
                             x->sm_clock_mhz, x->temp_c, x->power_mw, x->ext_id, point_id, i};
        for (int j = 0; j < 10 && rc == ATTN_OK; j++) rc = bind_int_or_null(db, st, j + 1, v[j]);
        if (rc == ATTN_OK && sqlite3_step(st) != SQLITE_DONE)
            rc = attn_fail_sqlite(db, sqlite3_errcode(db), "update sample", __FILE__, __LINE__);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The id of a kernel name, inserting it when new. */
static int kernel_name_id(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *sel, const store_kernel *k,
                          int64_t *id)
{
    int rc = bind_text(db, ins, 1, k->name);
    if (rc == ATTN_OK) rc = bind_text(db, ins, 2, k->short_name);
    if (rc == ATTN_OK && sqlite3_step(ins) != SQLITE_DONE)
        rc = attn_fail_sqlite(db, sqlite3_errcode(db), "insert kernel name", __FILE__, __LINE__);
    sqlite3_reset(ins);
    if (rc == ATTN_OK) rc = bind_text(db, sel, 1, k->name);
    if (rc == ATTN_OK) {
        if (sqlite3_step(sel) == SQLITE_ROW) *id = sqlite3_column_int64(sel, 0);
        else rc = attn_fail_sqlite(db, sqlite3_errcode(db), "kernel name id", __FILE__, __LINE__);
    }
    sqlite3_reset(sel);
    return rc;
}

static int insert_kernels(sqlite3 *db, int64_t point_id, const store_kernel *k, size_t n)
{
    sqlite3_stmt *ins = NULL, *sel = NULL, *st = NULL;
    int rc = ATTN_OK;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO kernel_names (name, short_name) VALUES (?1, ?2)",
                           -1, &ins, NULL) ||
        sqlite3_prepare_v2(db, "SELECT id FROM kernel_names WHERE name = ?1", -1, &sel, NULL) ||
        sqlite3_prepare_v2(db,
            "INSERT INTO kernels (point_id, sample_idx, launch, kind, name_id, short_name, grid_x,"
            " grid_y, grid_z, block_x, block_y, block_z, registers, static_smem, dynamic_smem,"
            " start_ns, end_ns, stream, correlation_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
            " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)", -1, &st, NULL))
        rc = attn_fail_sqlite(db, sqlite3_errcode(db), "prepare kernels", __FILE__, __LINE__);
    const char *last_name = NULL;
    int64_t name_id = 0;
    for (size_t i = 0; i < n && rc == ATTN_OK; i++) {
        const store_kernel *x = &k[i];
        if (!last_name || strcmp(last_name, x->name) != 0) {
            rc = kernel_name_id(db, ins, sel, x, &name_id);
            last_name = x->name;
        }
        if (rc == ATTN_OK) rc = bind_text(db, st, 4, x->kind);
        if (rc == ATTN_OK) rc = bind_text(db, st, 6, x->short_name);
        const struct { int pos; int64_t v; } ints[] = {{1, point_id}, {2, x->sample},
            {3, x->launch}, {5, name_id}, {7, x->grid[0]}, {8, x->grid[1]}, {9, x->grid[2]},
            {10, x->block[0]}, {11, x->block[1]}, {12, x->block[2]}, {13, x->registers},
            {14, x->static_smem}, {15, x->dynamic_smem}, {16, x->start_ns}, {17, x->end_ns},
            {18, x->stream}, {19, x->correlation}};
        for (size_t j = 0; j < sizeof ints / sizeof ints[0] && rc == ATTN_OK; j++)
            rc = bind_int_or_null(db, st, ints[j].pos, ints[j].v);
        if (rc == ATTN_OK && sqlite3_step(st) != SQLITE_DONE)
            rc = attn_fail_sqlite(db, sqlite3_errcode(db), "insert kernel", __FILE__, __LINE__);
        sqlite3_reset(st);
    }
    sqlite3_finalize(ins), sqlite3_finalize(sel), sqlite3_finalize(st);
    return rc;
}

int store_point_add(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                    const uint8_t *throttled, int n, int64_t *point_id)
{
    return store_point_add_full(db, run_id, p, ns, throttled, n, NULL, NULL, 0, point_id);
}

int store_point_add_full(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                         const uint8_t *throttled, int n, const store_sample_info *info,
                         const store_kernel *kernels, size_t n_kernels, int64_t *point_id)
{
    ATTN_TRY(exec(db, "BEGIN IMMEDIATE"));
    if (insert_point(db, run_id, p, point_id) != ATTN_OK ||
        point_profile(db, *point_id, p) != ATTN_OK ||
        insert_samples(db, *point_id, ns, throttled, n) != ATTN_OK ||
        (info && sample_info(db, *point_id, info, n) != ATTN_OK) ||
        (n_kernels && insert_kernels(db, *point_id, kernels, n_kernels) != ATTN_OK)) {
        attn_error_info saved = attn_last_error;
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        attn_last_error = saved;
        return ATTN_ERR;
    }
    return exec(db, "COMMIT");
}

int store_latest_run(sqlite3 *db, int64_t *run_id)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM runs", -1, &st, NULL));
    int rc = sqlite3_step(st);
    *run_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* Text of a cell as shown in a table: reals with 4 significant digits, NULL as "-". */
static void cell_text(sqlite3_stmt *st, int c, char *buf, size_t n)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: snprintf(buf, n, "-"); break;
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(st, c);
        if (x != 0 && (fabs(x) < 1e-3 || fabs(x) >= 1e7)) snprintf(buf, n, "%.3e", x);
        else snprintf(buf, n, "%.4g", x);
        break;
    }
    default: snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, c));
    }
}

int store_print_table(sqlite3 *db, const char *sql, int arg_bound, int64_t arg, FILE *out,
                      int *n_rows)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    if (arg_bound && sqlite3_bind_int64(st, 1, arg) != SQLITE_OK) {
        sqlite3_finalize(st);
        return attn_fail_sqlite(db, sqlite3_errcode(db), "bind", __FILE__, __LINE__);
    }
    int nc = sqlite3_column_count(st), rows = 0, cap = 64, rc;
    enum { CELL = 48 };
    char(*cells)[CELL] = malloc((size_t)cap * nc * CELL);
    int *width = calloc((size_t)nc, sizeof *width);
    if (!cells || !width) {
        free(cells);
        free(width);
        sqlite3_finalize(st);
        return attn_fail("out of host memory");
    }
    for (int c = 0; c < nc; c++) width[c] = (int)strlen(sqlite3_column_name(st, c));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows == cap) {
            void *more = realloc(cells, (size_t)(cap *= 2) * nc * CELL);
            if (!more) break;
            cells = more;
        }
        for (int c = 0; c < nc; c++) {
            char *cell = cells[(size_t)rows * nc + c];
            cell_text(st, c, cell, CELL);
            int w = (int)strlen(cell);
            if (w > width[c]) width[c] = w;
        }
        rows++;
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        for (int c = 0; c < nc; c++)
            fprintf(out, "%-*s%s", width[c], sqlite3_column_name(st, c), c + 1 < nc ? "  " : "\n");
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < nc; c++) {
                fprintf(out, "%*s%s", width[c], cells[(size_t)r * nc + c], c + 1 < nc ? "  " : "\n");
            }
    }
    free(cells);
    free(width);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return attn_fail("out of host memory printing a table");
    SQLITE_CHECK(db, rc);
    if (n_rows) *n_rows = rows;
    return ATTN_OK;
}
