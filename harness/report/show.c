/* show.c — `attnbench show`: a run's provenance, summary and, with --metrics, its metrics rows, as
 * aligned text tables for a terminal. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "report/reader.h"
#include "report/table.h"
#include "store/store.h"

typedef struct show_opts {
    const char *db;
    int64_t run;
    int metrics;
} show_opts;

static const cli_option show_options[] = {
    READER_OPTION_DB(show_opts),
    READER_OPTION_RUN(show_opts),
    {"--metrics", NULL, "also the run's metrics rows: one per point and name, with value and unit\n"
     "(the quality values variants report and hardware counters)", cli_set_flag,
     offsetof(show_opts, metrics)},
    {0}};

static const cli_command show_command = {
    "show", "[--db PATH] [--run N] [--metrics]",
    "Prints a run's provenance and its summary: one row per point (median and 95% CI of the\n"
    "median in ms; effective TFLOP/s, the dense-equivalent FLOP of exact attention over the median,\n"
    "which compares variants doing the same job; executed TFLOP/s, the FLOP the variant executes\n"
    "over the median, and its share of the measured compute ceiling, marked ! above 100% (a wrong\n"
    "FLOP count or timing); speedup over the baseline variant at the same shape; relative L2 error\n"
    "of the checked rows; and why a point is not ok).\n",
    show_options, NULL, NULL};

/* The runs row. */
static const char run_sql[] =
    "SELECT id AS run, started_at, attn_run_status(id) AS status, backend, gpu_name AS gpu, tag,"
    " substr(git_commit, 1, 10) || CASE git_dirty WHEN 1 THEN '+dirty' ELSE '' END AS \"commit\","
    " reason FROM runs WHERE id = ?1";

/* One row per point (see the help). */
static const char points_sql[] =
    "SELECT s.variant, s.dtype, s.batch AS B, s.heads AS H, s.kv_heads AS Hkv, s.seq AS S,"
    " s.head_dim AS D, s.causal, s.params, s.status, s.samples, s.median_ms, s.ci_low_ms,"
    " s.ci_high_ms, s.tflops AS \"effective TFLOP/s\","
    " CASE WHEN s.status = 'ok' THEN p.exec_flops / p.median_ns / 1e3 END AS \"executed TFLOP/s\","
    " CASE WHEN s.pct_of_compute_ceiling IS NOT NULL THEN printf('%.0f%%', s.pct_of_compute_ceiling)"
    "   || CASE WHEN s.pct_of_compute_ceiling > 100 THEN ' !' ELSE '' END END AS \"% of ceiling\","
    " s.speedup_vs_baseline AS speedup, s.err_rel_l2, coalesce(s.reason, '') AS reason"
    " FROM summary s JOIN points p ON p.id = s.point_id WHERE s.run_id = ?1 ORDER BY s.point_id";

/* The run's metrics rows, one per point and name; or a line saying how many there are. */
static int print_metrics(sqlite3 *db, int64_t run, int all)
{
    table_bind b[] = {{NULL, run}};
    int64_t n;
    int found;
    ATTN_TRY(table_int(db, "SELECT count(*) FROM metrics m JOIN points p ON p.id = m.point_id"
                       " WHERE p.run_id = ?1", b, 1, &n, &found));
    if (!all) {
        if (n) printf("\n%lld metrics rows (attnbench show --metrics)\n", (long long)n);
        return ATTN_OK;
    }
    if (!n) {
        printf("\nno metrics rows in run %lld\n", (long long)run);
        return ATTN_OK;
    }
    putchar('\n');
    return table_write(db,
        "SELECT m.point_id AS point, p.variant, p.dtype, p.batch AS B, p.heads AS H,"
        " p.kv_heads AS Hkv, p.seq AS S, p.head_dim AS D, p.causal, p.params, m.name AS metric,"
        " m.value, coalesce(m.unit, '') AS unit FROM metrics m JOIN points p ON p.id = m.point_id"
        " WHERE p.run_id = ?1 ORDER BY m.point_id, m.name", b, 1, TABLE_TEXT, "-", stdout, NULL);
}

static int print_run(sqlite3 *db, int64_t id, int metrics)
{
    table_bind b[] = {{NULL, id}};
    int64_t over;
    int found;
    ATTN_TRY(table_write(db, run_sql, b, 1, TABLE_TEXT, "-", stdout, NULL));
    putchar('\n');
    ATTN_TRY(table_write(db, points_sql, b, 1, TABLE_TEXT, "-", stdout, NULL));
    ATTN_TRY(table_int(db, "SELECT count(*) FROM summary WHERE run_id = ?1"
                       " AND pct_of_compute_ceiling > 100", b, 1, &over, &found));
    if (over)
        printf("\n! %lld point%s executed above the measured compute ceiling: the variant's executed "
               "FLOP count or the timing is wrong\n", (long long)over, over == 1 ? "" : "s");
    return print_metrics(db, id, metrics);
}

int cmd_show(int argc, char **argv)
{
    show_opts o = {.db = READER_DB_DEFAULT};
    int rc = cli_parse(&show_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    sqlite3 *db;
    int64_t id;
    if ((rc = reader_open_run("show", o.db, o.run, NULL, &db, &id))) return rc;
    rc = print_run(db, id, o.metrics);
    if (rc != ATTN_OK) fprintf(stderr, "attnbench show: %s\n", attn_last_error.msg);
    else if (reader_flush_stdout("show")) rc = ATTN_ERR;
    store_close(db);
    return rc == ATTN_OK ? 0 : 1;
}
