/* export.c — `attnbench export`: a run's rows of the summary view as CSV or JSON on standard output
 * for other tools: the view's columns, its dense-equivalent `tflops` named effective_tflops and
 * followed by executed_tflops (the FLOP the variant executes over its median), then one more
 * column per metric name when the run has metrics rows (the values variants report and hardware
 * counters; NULL where a point lacks one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "report/metric_columns.h"
#include "report/reader.h"
#include "report/table.h"
#include "store/store.h"

typedef struct export_opts {
    const char *db;
    int64_t run;
    const char *format; /* "csv" or "json" */
} export_opts;

static const cli_option export_options[] = {
    READER_OPTION_DB(export_opts),
    READER_OPTION_RUN(export_opts),
    {"--format", "F", "csv (RFC 4180 quoting, NULL as an empty field) or json (an array of\n"
     "objects, NULL as null); required", cli_set_text, offsetof(export_opts, format)},
    {0}};

static const cli_command export_command = {
    "export", "[--db PATH] [--run N] --format csv|json",
    "Writes the run's rows of the summary view to standard output, one per point: the view's\n"
    "columns, its dense-equivalent rate as effective_tflops followed by executed_tflops (the FLOP\n"
    "the variant executes / median), and a column per metric name when the run has metrics rows.\n",
    export_options, NULL, NULL};

/* The select list: the summary view's columns in order (names from the view itself, quoted), with
 * `tflops` named effective_tflops and executed_tflops after it. */
static const char columns_sql[] =
    "SELECT group_concat(CASE name WHEN 'tflops' THEN 's.tflops AS effective_tflops, (SELECT"
    " p.exec_flops / p.median_ns / 1e3 FROM points p WHERE p.id = s.point_id AND p.status = ''ok'')"
    " AS executed_tflops' ELSE 's.\"' || replace(name, '\"', '\"\"') || '\"' END, ', ')"
    " FROM (SELECT name FROM pragma_table_info('summary') ORDER BY cid)";

static int write_export(sqlite3 *db, int64_t run, table_format fmt)
{
    static const char select[] = "SELECT %s%s FROM summary s WHERE s.run_id = ?1 ORDER BY s.point_id";
    metric_columns mc;
    char *sql = NULL, columns[8192];
    int found;
    int rc = metric_columns_load(db, run, "s.point_id", "m.value", 0, &mc);
    if (rc != ATTN_OK) goto end;
    ATTN_TRY_GOTO(table_text(db, columns_sql, NULL, 0, columns, sizeof columns, &found), rc, end);
    if (strlen(columns) + 1 >= sizeof columns) {
        rc = attn_fail("the summary view has more columns than fit in %zu bytes", sizeof columns);
        goto end;
    }
    size_t size = sizeof select + strlen(columns) + strlen(mc.sql);
    if (!(sql = malloc(size))) {
        rc = attn_fail("out of host memory");
        goto end;
    }
    snprintf(sql, size, select, columns, mc.sql);
    rc = table_write(db, sql, mc.binds, mc.n + 1, fmt, "", stdout, NULL);
end:
    free(sql);
    metric_columns_free(&mc);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    export_opts o = {.db = READER_DB_DEFAULT};
    int rc = cli_parse(&export_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    table_format fmt;
    if (!o.format) return cli_error("export", "--format csv|json is required");
    if (table_format_named(o.format, &fmt) != 0 || (fmt != TABLE_CSV && fmt != TABLE_JSON))
        return cli_error("export", "unknown --format '%s' (csv or json)", o.format);
    sqlite3 *db;
    int64_t run;
    if ((rc = reader_open_run("export", o.db, o.run, NULL, &db, &run))) return rc;
    rc = write_export(db, run, fmt);
    if (rc != ATTN_OK) fprintf(stderr, "attnbench export: %s\n", attn_last_error.msg);
    else if (reader_flush_stdout("export")) rc = ATTN_ERR;
    store_close(db);
    return rc == ATTN_OK ? 0 : 1;
}
