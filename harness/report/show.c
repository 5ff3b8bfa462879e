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
    "median in ms, dense-equivalent TFLOP/s, speedup over the baseline variant at the same shape,\n"
    "relative L2 error of the checked rows, and why a point is not ok).\n",
    show_options, NULL, NULL};

/* The run's metrics rows, one per point and name; or a line saying how many there are. */
static int print_metrics(sqlite3 *db, int64_t run, int all)
{
    table_bind b[] = {{NULL, run}};
    int64_t n;
    int found, rows;
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
    return store_print_table(db,
        "SELECT m.point_id AS point, p.variant, p.dtype, p.batch AS B, p.heads AS H,"
        " p.kv_heads AS Hkv, p.seq AS S, p.head_dim AS D, p.causal, p.params, m.name AS metric,"
        " m.value, coalesce(m.unit, '') AS unit FROM metrics m JOIN points p ON p.id = m.point_id"
        " WHERE p.run_id = ?1 ORDER BY m.point_id, m.name", 1, run, stdout, &rows);
}

static int print_run(sqlite3 *db, int64_t id, int metrics)
{
    int rows = 0;
    ATTN_TRY(store_print_table(db,
        "SELECT id AS run, started_at, attn_run_status(id) AS status, backend,"
        " coalesce(gpu_name, '-') AS gpu,"
        " coalesce(tag, '-') AS tag, coalesce(substr(git_commit, 1, 10) ||"
        " CASE git_dirty WHEN 1 THEN '+dirty' ELSE '' END, '-') AS commit_, reason"
        " FROM runs WHERE id = ?1", 1, id, stdout, &rows));
    putchar('\n');
    ATTN_TRY(store_print_table(db,
        "SELECT variant, dtype, batch AS B, heads AS H, kv_heads AS Hkv, seq AS S,"
        " head_dim AS D, causal, params, status, samples, median_ms, ci_low_ms, ci_high_ms,"
        " tflops, speedup_vs_baseline AS speedup, err_rel_l2, coalesce(reason, '') AS reason"
        " FROM summary WHERE run_id = ?1 ORDER BY point_id", 1, id, stdout, &rows));
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
    store_close(db);
    return rc == ATTN_OK ? 0 : 1;
}
