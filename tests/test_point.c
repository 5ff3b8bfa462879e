/* test_point.c — one point through the run's pipeline on the CPU backend (harness/run/point.c),
 * with variants defined here: a variant's own tolerance decides its check; an approximation
 * outside its accuracy bound against exact attention fails (never timed) with a reason naming
 * the metric, the value and the bound, and within it passes and is timed; its quality values and
 * the harness's errors against exact attention are stored as metrics rows with the point; the
 * compute dtype, the work counts and the description come from the plan. This is also the
 * smallest-variant example: a variant is a table of callbacks, and the harness needs nothing
 * else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_attention.h"
#include "commands.h"
#include "fixture.h"
#include "run/point.h"
#include "test.h"

/* ---------------------------------------------------------------- the variants */

/* `scaled`: exact attention times `scale` — an approximation whose error against exact attention
 * is |scale − 1|, with an accuracy bound on its relative L2 error. */
static const attn_param_spec scaled_params[] = {
    {"scale", ATTN_PARAM_FLOAT, "1.1", NULL, 0.5, 2, "the output's factor"},
    {"max_rel_l2", ATTN_PARAM_FLOAT, NULL, NULL, 0, 10, "bound on the relative L2 error"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

typedef struct scaled_config {
    double scale, max_rel_l2; /* NaN: no bound */
} scaled_config;

static const char *scaled_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    (void)p;
    scaled_config *c = config;
    c->scale = pv->v[0].f;
    c->max_rel_l2 = pv->v[1].set ? pv->v[1].f : NAN;
    return NULL;
}

static int plain_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    *plan = attn_plan_new(sizeof(attn_plan), args);
    return *plan ? ATTN_OK : ATTN_ERR;
}

static void plain_release(attn_plan *plan) { free(plan); }

static int scaled_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                       size_t n, float *out)
{
    const scaled_config *c = plan->config;
    ATTN_TRY(attn_cpu_attention_rows(&plan->point, in, rows, n, 0, out));
    for (size_t i = 0; i < n * plan->point.head_dim; i++) out[i] *= (float)c->scale;
    return ATTN_OK;
}

static void scaled_policy(const attn_plan *plan, attn_check_policy *pol)
{
    pol->max_rel_l2 = ((const scaled_config *)plan->config)->max_rel_l2;
}

static int scaled_quality(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n, attn_quality *q)
{
    (void)in, (void)rows;
    *q = (attn_quality){2, {"scale", "rows_seen"}, {"", "rows"},
                        {((const scaled_config *)plan->config)->scale, (double)n}};
    return ATTN_OK;
}

static void half_work(const attn_plan *plan, attn_work *w)
{
    w->flops = attn_dense_flops(&plan->point) / 2;
    w->bytes = 1234;
    w->launches = 1;
}

static void scaled_describe(const attn_plan *plan, char *buf, size_t n)
{
    snprintf(buf, n, "scale=%g", ((const scaled_config *)plan->config)->scale);
}

static const char *fp8_compute(const attn_point *p, const void *config)
{
    (void)p, (void)config;
    return "fp8";
}

static const attn_variant scaled = {
    .name = "scaled", .description = "exact attention times a factor", .exact = 0,
    .params = scaled_params, .config_size = sizeof(scaled_config), .configure = scaled_configure,
    .compute_dtype = fp8_compute, .prepare = plain_prepare, .release = plain_release,
    .cpu_rows = scaled_rows, .work = half_work, .describe = scaled_describe,
    .check_policy = scaled_policy, .quality = scaled_quality,
};

/* `loose`: claims to be exact, but is 1 % off; its own tolerance (tolerance=) can admit that. */
static const attn_param_spec loose_params[] = {
    {"tolerance", ATTN_PARAM_FLOAT, NULL, NULL, 0, 1, "the variant's tolerance"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static const char *loose_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    (void)p;
    *(double *)config = pv->v[0].set ? pv->v[0].f : NAN;
    return NULL;
}

static int loose_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                      size_t n, float *out)
{
    ATTN_TRY(attn_cpu_attention_rows(&plan->point, in, rows, n, 0, out));
    for (size_t i = 0; i < n * plan->point.head_dim; i++) out[i] *= 1.01f;
    return ATTN_OK;
}

static void loose_policy(const attn_plan *plan, attn_check_policy *pol)
{
    const double tol = *(const double *)plan->config;
    if (!isnan(tol)) pol->tolerance = tol;
}

static const attn_variant loose = {
    .name = "loose", .description = "exact attention, 1 % off", .exact = 1,
    .params = loose_params, .config_size = sizeof(double), .configure = loose_configure,
    .prepare = plain_prepare, .release = plain_release, .cpu_rows = loose_rows,
    .check_policy = loose_policy,
};

/* ---------------------------------------------------------------- the pipeline */

static run_options o;
static run_env env;
static run_shape shape;
static run_point pt;

static void point_at(const attn_variant *v, const char *params) { run_point_run(&env, &shape, v, params, &pt); }

static double metric(const char *db, const char *name, int64_t point_id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT value FROM metrics WHERE point_id = %lld AND name = '%s'",
             (long long)point_id, name);
    return fx_num(db, sql);
}

int main(void)
{
    char *argv[] = {"run", "--backend", "cpu", "--max-time", "0.01", "--min-samples", "3"};
    if (run_options_parse(7, argv, &o)) return 1;
    env = (run_env){.o = &o, .backend = &run_backend_cpu};
    const attn_point p = {1, 4, 2, 127, 16, ATTN_FP32, 1, ""};
    run_shape_setup(&env, &p, &shape);
    test_cond("shape set up", shape.setup_rc == ATTN_OK && shape.n_rows == 4 * 127);

    char db_path[] = "/tmp/attnbench-test-point-XXXXXX";
    close(mkstemp(db_path));
    unlink(db_path);
    sqlite3 *db;
    store_run r = {.command = "test_point", .backend = "cpu", .git_dirty = -1, .sm_count = -1,
                   .l2_bytes = -1, .mem_bytes = -1, .max_sm_clock_mhz = -1,
                   .max_mem_clock_mhz = -1, .ecc = -1, .cupti = -1};
    int64_t run = 0, failed_id = 0, ok_id = 0, id;
    test_cond("database", store_open(db_path, &db) == ATTN_OK && store_run_begin(db, &r, &run) == ATTN_OK);

    /* Bounds. */
    point_at(&scaled, "max_rel_l2=0.05");
    test_cond("outside its bound: failed, not timed", pt.status == RUN_POINT_FAILED && pt.samples.n == 0 &&
                                                          strcmp(pt.sp.status, "failed") == 0);
    test_cond("the reason names the metric, the value and the bound",
              strstr(pt.reason, "relative L2 error 0.1") && strstr(pt.reason, "bound 0.05"));
    test_cond("within tolerance of its own CPU twin", pt.sp.check.rel_l2 < 1e-6);
    test_cond("its error against exact attention measured", fabs(pt.sp.vs_exact.rel_l2 - 0.1) < 1e-3);
    test_cond("failed point stored", run_point_store(db, run, &pt, &failed_id) == ATTN_OK);
    run_point_free(&pt);
    point_at(&scaled, "max_rel_l2=0.2");
    test_cond("within its bound: ok and timed", pt.status == RUN_POINT_OK && pt.samples.n >= 3 && !pt.sp.reason);
    test_cond("the plan's work and description", pt.sp.exec_flops == attn_dense_flops(&p) / 2 &&
                                                     pt.sp.bytes == 1234 && strcmp(pt.sp.config, "scale=1.1") == 0);
    test_cond("the variant's compute dtype", pt.sp.compute_dtype && strcmp(pt.sp.compute_dtype, "fp8") == 0);
    test_cond("ok point stored", run_point_store(db, run, &pt, &ok_id) == ATTN_OK);
    run_point_free(&pt);
    point_at(&scaled, "scale=1.0");
    test_cond("no bound: ok", pt.status == RUN_POINT_OK);
    run_point_free(&pt);

    /* A variant's tolerance. */
    point_at(&loose, "");
    test_cond("1 % off fails fp32's default tolerance", pt.status == RUN_POINT_FAILED &&
                                                            strstr(pt.reason, "outside tolerance 0.001"));
    run_point_free(&pt);
    point_at(&loose, "tolerance=0.2");
    test_cond("the variant's tolerance admits it", pt.status == RUN_POINT_OK);
    test_cond("an exact variant's check is against exact attention",
              pt.sp.check.rel_l2 == pt.sp.vs_exact.rel_l2 && pt.sp.n_metrics == 0);
    test_cond("exact variant stored", run_point_store(db, run, &pt, &id) == ATTN_OK);
    run_point_free(&pt);
    point_at(&loose, "tolerance=7");
    test_cond("a bad parameter value at a point (past the CLI): skipped with the reason",
              pt.status == RUN_POINT_SKIPPED && strstr(pt.reason, "tolerance"));
    run_point_free(&pt);
    store_run_end(db, run, "ok", NULL);
    store_close(db);

    /* Quality metrics and the errors against exact attention, stored with the points. */
    test_cond("metrics rows of the ok approximation: 2 quality + 2 errors",
              fx_num(db_path, "SELECT count(*) FROM metrics WHERE point_id = (SELECT max(id) FROM points"
                              " WHERE variant = 'scaled' AND status = 'ok')") == 4);
    test_cond("quality values and units", metric(db_path, "scale", ok_id) == 1.1 &&
                                              metric(db_path, "rows_seen", ok_id) == 4 * 127 &&
                                              fx_num(db_path, "SELECT count(*) FROM metrics WHERE name = 'rows_seen' AND unit = 'rows'") == 2);
    test_cond("exact_rel_l1 and exact_rmse stored", fabs(metric(db_path, "exact_rel_l1", ok_id) - 0.1) < 1e-3 &&
                                                        metric(db_path, "exact_rmse", ok_id) > 0);
    test_cond("a failed point keeps its metrics", metric(db_path, "scale", failed_id) == 1.1 &&
                                                      !isnan(metric(db_path, "exact_rel_l1", failed_id)));
    test_cond("an exact variant stores no metrics rows",
              fx_num(db_path, "SELECT count(*) FROM metrics m JOIN points p ON p.id = m.point_id WHERE p.variant = 'loose'") == 0);
    test_cond("compute dtype stored", fx_num(db_path, "SELECT count(*) FROM points WHERE compute_dtype = 'fp8'") == 2);
    /* ... and exported beside the summary's columns (CSV: one column per metric name). */
    char csv[] = "/tmp/attnbench-test-point-csv-XXXXXX";
    close(mkstemp(csv));
    char *export_argv[] = {"export", "--db", db_path, "--format", "csv"};
    test_cond("export csv exits 0", fx_call(cmd_export, csv, 5, export_argv) == 0);
    char *text = fx_text(csv);
    test_cond("the export carries the quality values and the errors against exact attention",
              text && strstr(text, ",scale,") && strstr(text, "rows_seen") && strstr(text, "exact_rel_l1") &&
                  strstr(text, "exact_rmse"));
    free(text);
    unlink(csv);
    run_shape_free(&env, &shape);
    fx_unlink_db(db_path);
    return test_report();
}
