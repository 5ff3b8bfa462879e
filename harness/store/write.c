/* write.c — the store's writes (see store.h): a run's row and provenance, its ceilings, its end;
 * each point with its samples, their kernel records and the point's metrics in one transaction.
 * Every statement's status goes through SQLITE_CHECK (its goto form where a statement is open). */
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "store/plan.h"
#include "store/sql.h"

#define ISO_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/* Schema-2 and later columns of a run, written right after its row. */
static int run_provenance(sqlite3 *db, int64_t run_id, const store_run *r)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET gpu_uuid = ?1, compute_capability = ?2, sm_count = ?3, l2_bytes = ?4,"
        " mem_bytes = ?5, max_sm_clock_mhz = ?6, max_mem_clock_mhz = ?7, ecc = ?8,"
        " driver_string = ?9, cupti_version = ?10, cupti = ?11, cupti_reason = ?12,"
        " clock_source = ?13, timing_method = ?14, metrics = ?15, metrics_reason = ?16,"
        " cudnn_version = ?18, profiler = ?19 WHERE id = ?17", -1, &st, NULL));
    int rc = ATTN_OK;
    const struct { int pos; const char *v; } texts[] = {{1, r->gpu_uuid},
        {2, r->compute_capability}, {9, r->driver_string}, {10, r->cupti_version},
        {12, r->cupti_reason}, {13, r->clock_source}, {14, r->timing_method}, {15, r->metrics},
        {16, r->metrics_reason}, {18, r->cudnn_version}, {19, r->profiler}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && rc == ATTN_OK; i++)
        rc = store_bind_text(db, st, texts[i].pos, texts[i].v && texts[i].v[0] ? texts[i].v : NULL);
    const struct { int pos; int64_t v; } ints[] = {{3, r->sm_count}, {4, r->l2_bytes},
        {5, r->mem_bytes}, {6, r->max_sm_clock_mhz}, {7, r->max_mem_clock_mhz}, {8, r->ecc},
        {11, r->cupti}, {17, run_id}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == ATTN_OK; i++)
        rc = store_bind_int_or_null(db, st, ints[i].pos, ints[i].v);
    return store_finish(db, st, rc);
}

/* The seed's 64 bits as SQLite's signed integer (a seed above 2^63 reads back negative). */
static int bind_seed(sqlite3 *db, sqlite3_stmt *st, int i, uint64_t seed)
{
    SQLITE_CHECK(db, sqlite3_bind_int64(st, i, (sqlite3_int64)seed));
    return ATTN_OK;
}

int store_run_begin(sqlite3 *db, const store_run *r, int64_t *run_id)
{
    sqlite3_stmt *st;
    char pid_ns[128];
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO runs (started_at, status, command, host, git_commit, git_dirty, backend,"
        " gpu_name, driver_version, cuda_runtime, cublas_version, tag, seed, init, cache_mode,"
        " compiler, pid, pid_ns, heartbeat_at, run_uuid) VALUES (" ISO_NOW ", 'running', ?1, ?2,"
        " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, " ISO_NOW ","
        " lower(hex(randomblob(16))))", -1, &st, NULL));
    const char *texts[] = {r->command, r->host, r->git_commit};
    int rc = ATTN_OK;
    for (int i = 0; i < 3 && rc == ATTN_OK; i++) rc = store_bind_text(db, st, i + 1, texts[i]);
    if (rc == ATTN_OK) rc = store_bind_real(db, st, 4, r->git_dirty < 0 ? NAN : r->git_dirty);
    const char *more[] = {r->backend, r->gpu_name, r->driver_version, r->cuda_runtime,
                          r->cublas_version, r->tag};
    for (int i = 0; i < 6 && rc == ATTN_OK; i++) rc = store_bind_text(db, st, i + 5, more[i]);
    if (rc == ATTN_OK) rc = bind_seed(db, st, 11, r->seed);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 12, r->init);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 13, r->cache_mode);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 14, r->compiler);
    if (rc == ATTN_OK) rc = store_bind_int_or_null(db, st, 15, getpid());
    if (rc == ATTN_OK && !store_pid_namespace(pid_ns, sizeof pid_ns)) pid_ns[0] = 0;
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 16, pid_ns[0] ? pid_ns : NULL);
    ATTN_TRY(store_finish(db, st, rc));
    *run_id = sqlite3_last_insert_rowid(db);
    return run_provenance(db, *run_id, r);
}

int store_run_device(sqlite3 *db, int64_t run_id, const store_run *r)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET gpu_name = ?2, driver_version = ?3, cuda_runtime = ?4,"
        " cublas_version = ?5, cache_mode = ?6 WHERE id = ?1 AND gpu_name IS NULL", -1, &st,
        NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    const char *texts[] = {r->gpu_name, r->driver_version, r->cuda_runtime, r->cublas_version,
                           r->cache_mode};
    for (int i = 0; i < 5 && rc == ATTN_OK; i++) rc = store_bind_text(db, st, i + 2, texts[i]);
    ATTN_TRY(store_finish(db, st, rc));
    return sqlite3_changes(db) ? run_provenance(db, run_id, r) : ATTN_OK;
}

int store_run_cupti_off(sqlite3 *db, int64_t run_id, const char *reason)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET cupti = 0, cupti_reason = ?1 WHERE id = ?2", -1, &st, NULL));
    int rc = store_bind_text(db, st, 1, reason);
    if (rc == ATTN_OK) rc = store_bind_int_or_null(db, st, 2, run_id);
    return store_finish(db, st, rc);
}

int store_run_metrics_reason(sqlite3 *db, int64_t run_id, const char *reason)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "UPDATE runs SET metrics_reason = ?2 WHERE id = ?1", -1,
                                        &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 2, reason);
    return store_finish(db, st, rc);
}

int store_ceiling_add(sqlite3 *db, int64_t run_id, const char *name, const char *dtype,
                      double value, const char *unit, int reps, const char *detail)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT OR REPLACE INTO ceilings (run_id, name, dtype, value, unit, reps, detail)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 2, name);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 3, dtype ? dtype : "");
    if (rc == ATTN_OK) rc = store_bind_real(db, st, 4, value);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 5, unit);
    if (rc == ATTN_OK) rc = store_bind_int_or_null(db, st, 6, reps);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 7, detail);
    return store_finish(db, st, rc);
}

int store_run_end(sqlite3 *db, int64_t run_id, const char *status, const char *reason)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET ended_at = " ISO_NOW ", status = ?1, reason = ?2 WHERE id = ?3", -1, &st,
        NULL));
    int rc = store_bind_text(db, st, 1, status);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 2, reason);
    if (rc == ATTN_OK) rc = store_bind_int_or_null(db, st, 3, run_id);
    return store_finish(db, st, rc);
}

/* ---------------------------------------------------------------- points */

static int insert_point(sqlite3 *db, int64_t run_id, const store_point *p, int64_t *point_id)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO points (run_id, variant, is_baseline, batch, heads, kv_heads, seq, head_dim,"
        " dtype, causal, params, config, status, reason, exact, err_max_abs, err_rel_l2,"
        " err_cosine, exact_max_abs, exact_rel_l2, exact_cosine, check_rows, dense_flops,"
        " exec_flops, bytes, device_bytes, n_samples, n_used, median_ns, p10_ns, p90_ns,"
        " ci_low_ns, ci_high_ns, compute_dtype, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,"
        " ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, " ISO_NOW ")", -1, &st, NULL));
    const attn_point *q = &p->point;
    const attn_timing *t = &p->timing;
    int rc = ATTN_OK;
    /* Parameter positions follow the column list above. */
    const struct { int pos; int64_t v; } ints[] = {{1, run_id}, {3, p->is_baseline}, {4, q->batch},
        {5, q->heads}, {6, q->kv_heads}, {7, q->seq}, {8, q->head_dim}};
    for (int i = 0; i < 7 && rc == ATTN_OK; i++)
        rc = store_bind_int_or_null(db, st, ints[i].pos, ints[i].v);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 2, p->variant);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 9, attn_dtype_name(q->dtype));
    if (rc == ATTN_OK) rc = store_bind_real(db, st, 10, q->causal);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 11, q->params);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 12, p->config);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 13, p->status);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 14, p->reason);
    const double reals[] = {p->exact, p->check.max_abs, p->check.rel_l2, p->check.cosine,
                            p->vs_exact.max_abs, p->vs_exact.rel_l2, p->vs_exact.cosine,
                            p->check_rows, p->dense_flops, p->exec_flops, p->bytes,
                            p->device_bytes, t->n_samples, t->n_used};
    for (int i = 0; i < 14 && rc == ATTN_OK; i++) rc = store_bind_real(db, st, 15 + i, reals[i]);
    const double stats[] = {t->median, t->p10, t->p90, t->ci_low, t->ci_high};
    for (int i = 0; i < 5 && rc == ATTN_OK; i++)
        rc = store_bind_real(db, st, 29 + i, t->n_used > 0 ? stats[i] : NAN);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 34, p->compute_dtype);
    ATTN_TRY(store_finish(db, st, rc));
    *point_id = sqlite3_last_insert_rowid(db);
    return ATTN_OK;
}

/* Binds the values of one row to positions 1..n and runs the statement (kept for the next row). */
static int step_row(sqlite3 *db, sqlite3_stmt *st, const int64_t *v, int n)
{
    for (int j = 0; j < n; j++) ATTN_TRY(store_bind_int_or_null(db, st, j + 1, v[j]));
    SQLITE_CHECK(db, sqlite3_step(st));
    SQLITE_CHECK(db, sqlite3_reset(st));
    return ATTN_OK;
}

static int insert_samples(sqlite3 *db, int64_t point_id, const int64_t *ns,
                          const uint8_t *throttled, int n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT INTO samples (point_id, idx, ns, throttled) VALUES (?1, ?2, ?3, ?4)", -1, &st,
        NULL));
    int rc = ATTN_OK;
    for (int i = 0; i < n && rc == ATTN_OK; i++) {
        const int64_t v[] = {point_id, i, ns[i], throttled ? throttled[i] : 0};
        rc = step_row(db, st, v, 4);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Schema-2 columns of a point; all NULL when profile.timing_method is NULL (not measured). */
static int point_profile(sqlite3 *db, int64_t point_id, const attn_profile_summary *pr)
{
    if (!pr->timing_method) return ATTN_OK;
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE points SET timing_method = ?1, kernel_count = ?2, gap_share = ?3,"
        " event_median_ns = ?4, kernel_sum_median_ns = ?5, span_median_ns = ?6 WHERE id = ?7",
        -1, &st, NULL));
    int rc = store_bind_text(db, st, 1, pr->timing_method);
    const double reals[] = {pr->kernel_count, pr->gap_share, pr->event_median_ns,
                            pr->kernel_sum_median_ns, pr->span_median_ns};
    for (int i = 0; i < 5 && rc == ATTN_OK; i++) rc = store_bind_real(db, st, 2 + i, reals[i]);
    if (rc == ATTN_OK) rc = store_bind_int_or_null(db, st, 7, point_id);
    return store_finish(db, st, rc);
}

static int sample_info(sqlite3 *db, int64_t point_id, const attn_sample_info *info, int n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE samples SET event_ns = ?1, kernel_sum_ns = ?2, span_ns = ?3, n_kernels = ?4,"
        " sm_clock_mhz = ?5, temp_c = ?6, power_mw = ?7, ext_id = ?8, placement = ?11"
        " WHERE point_id = ?9 AND idx = ?10", -1, &st, NULL));
    int rc = ATTN_OK;
    for (int i = 0; i < n && rc == ATTN_OK; i++) {
        const attn_sample_info *x = &info[i];
        const int64_t v[] = {x->event_ns, x->kernel_sum_ns, x->span_ns, x->n_kernels,
                             x->sm_clock_mhz, x->temp_c, x->power_mw, x->ext_id, point_id, i,
                             x->placement};
        rc = step_row(db, st, v, 11);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The id of a kernel name, inserting it when new. */
static int kernel_name_id(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *sel,
                          const attn_sample_kernel *k, int64_t *id)
{
    ATTN_TRY(store_bind_text(db, ins, 1, k->name));
    ATTN_TRY(store_bind_text(db, ins, 2, k->short_name));
    SQLITE_CHECK(db, sqlite3_step(ins));
    SQLITE_CHECK(db, sqlite3_reset(ins));
    ATTN_TRY(store_bind_text(db, sel, 1, k->name));
    int rc = sqlite3_step(sel);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(sel, 0);
    sqlite3_reset(sel);
    if (rc != SQLITE_ROW)
        return attn_fail_sqlite(db, rc, "SELECT id FROM kernel_names", __FILE__, __LINE__);
    return ATTN_OK;
}

static int insert_kernels(sqlite3 *db, int64_t point_id, const attn_sample_kernel *k, size_t n)
{
    sqlite3_stmt *ins = NULL, *sel = NULL, *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "INSERT OR IGNORE INTO kernel_names (name, short_name) VALUES (?1, ?2)", -1, &ins, NULL),
        rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db, "SELECT id FROM kernel_names WHERE name = ?1", -1,
                                             &sel, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "INSERT INTO kernels (point_id, sample_idx, launch, kind, name_id, short_name, grid_x,"
        " grid_y, grid_z, block_x, block_y, block_z, registers, static_smem, dynamic_smem,"
        " start_ns, end_ns, stream, correlation_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
        " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)", -1, &st, NULL), rc, end);
    const char *last_name = NULL;
    int64_t name_id = 0;
    for (size_t i = 0; i < n; i++) {
        const attn_sample_kernel *x = &k[i];
        if (!last_name || strcmp(last_name, x->name) != 0) {
            ATTN_TRY_GOTO(kernel_name_id(db, ins, sel, x, &name_id), rc, end);
            last_name = x->name;
        }
        ATTN_TRY_GOTO(store_bind_text(db, st, 4, x->kind), rc, end);
        ATTN_TRY_GOTO(store_bind_text(db, st, 6, x->short_name), rc, end);
        const struct { int pos; int64_t v; } ints[] = {{1, point_id}, {2, x->sample},
            {3, x->launch}, {5, name_id}, {7, x->grid[0]}, {8, x->grid[1]}, {9, x->grid[2]},
            {10, x->block[0]}, {11, x->block[1]}, {12, x->block[2]}, {13, x->registers},
            {14, x->static_smem}, {15, x->dynamic_smem}, {16, x->start_ns}, {17, x->end_ns},
            {18, x->stream}, {19, x->correlation}};
        for (size_t j = 0; j < sizeof ints / sizeof ints[0]; j++)
            ATTN_TRY_GOTO(store_bind_int_or_null(db, st, ints[j].pos, ints[j].v), rc, end);
        SQLITE_CHECK_GOTO(db, sqlite3_step(st), rc, end);
        SQLITE_CHECK_GOTO(db, sqlite3_reset(st), rc, end);
    }
end:
    sqlite3_finalize(ins), sqlite3_finalize(sel), sqlite3_finalize(st);
    return rc;
}

int store_point_metrics_add(sqlite3 *db, int64_t point_id, const store_metric *m, int n)
{
    if (n <= 0) return ATTN_OK;
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "INSERT OR REPLACE INTO metrics (point_id, name, value, unit) VALUES (?1, ?2, ?3, ?4)",
        -1, &st, NULL));
    int rc = ATTN_OK;
    for (int i = 0; i < n; i++) {
        ATTN_TRY_GOTO(store_bind_int_or_null(db, st, 1, point_id), rc, end);
        ATTN_TRY_GOTO(store_bind_text(db, st, 2, m[i].name), rc, end);
        ATTN_TRY_GOTO(store_bind_real(db, st, 3, m[i].value), rc, end);
        ATTN_TRY_GOTO(store_bind_text(db, st, 4, m[i].unit), rc, end);
        SQLITE_CHECK_GOTO(db, sqlite3_step(st), rc, end);
        SQLITE_CHECK_GOTO(db, sqlite3_reset(st), rc, end);
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* Everything of one point, for the point's transaction. */
typedef struct point_rows {
    int64_t run_id;
    const store_point *p;
    const int64_t *ns;
    const uint8_t *throttled;
    int n;
    const attn_sample_info *info;
    const attn_sample_kernel *kernels;
    size_t n_kernels;
    int64_t *point_id;
} point_rows;

/* The run's heartbeat, at every stored point: its process is alive. A run another host's writer
 * marked abandoned (one point outlasted STORE_HEARTBEAT_BOUND_S) is running again. */
static int heartbeat(sqlite3 *db, int64_t run_id)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "UPDATE runs SET heartbeat_at = " ISO_NOW ", status = 'running', ended_at = NULL,"
        " reason = NULL WHERE id = ?1 AND status IN ('running', 'abandoned')", -1, &st, NULL));
    return store_finish(db, st, store_bind_int_or_null(db, st, 1, run_id));
}

static int insert_point_rows(sqlite3 *db, void *arg)
{
    const point_rows *r = arg;
    ATTN_TRY(heartbeat(db, r->run_id));
    ATTN_TRY(insert_point(db, r->run_id, r->p, r->point_id));
    ATTN_TRY(point_profile(db, *r->point_id, &r->p->profile));
    ATTN_TRY(insert_samples(db, *r->point_id, r->ns, r->throttled, r->n));
    if (r->info) ATTN_TRY(sample_info(db, *r->point_id, r->info, r->n));
    if (r->n_kernels) ATTN_TRY(insert_kernels(db, *r->point_id, r->kernels, r->n_kernels));
    if (r->p->origin) ATTN_TRY(store_point_origin_write(db, r->run_id, *r->point_id, r->p->origin));
    return store_point_metrics_add(db, *r->point_id, r->p->metrics, r->p->n_metrics);
}

int store_point_add(sqlite3 *db, int64_t run_id, const store_point *p, const int64_t *ns,
                         const uint8_t *throttled, int n, const attn_sample_info *info,
                         const attn_sample_kernel *kernels, size_t n_kernels, int64_t *point_id)
{
    point_rows r = {run_id, p, ns, throttled, n, info, kernels, n_kernels, point_id};
    return store_transaction(db, "BEGIN IMMEDIATE", insert_point_rows, &r);
}
