/* report.c — `attnbench report`: a run as Markdown (for CI job summaries) or as one static HTML page
 * (no JavaScript; figures embedded as SVG data URIs when --figures DIR is given), and `attnbench
 * export`: the run's rows of the summary view as CSV or JSON for other tools. Every table is one
 * query printed by table_write; numbers are formatted in SQL. Output goes to a temporary file
 * renamed over --out at the end, so a failed report leaves nothing behind. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "commands.h"
#include "core/error.h"
#include "report/plot.h"
#include "report/table.h"

/* SQL text of x formatted with printf format f, NULL when x is NULL. */
#define FMT(f, x) "CASE WHEN " x " IS NOT NULL THEN printf('" f "', " x ") END"

/* One row per point of a shape group (?1 run, ?2 dtype, ?3 head dim, ?4 causal). The two %s are
 * optional columns: params (when the run has any) and % of the compute ceiling (when the schema and
 * the run have one). */
static const char group_sql[] =
    "SELECT variant, seq AS S, batch AS B, heads || '/' || kv_heads AS \"H/Hkv\"%s,"
    " " FMT("%%.4g", "median_ms") " AS \"median ms\","
    " " FMT("%%.4g", "p10_ms") " || '..' || " FMT("%%.4g", "p90_ms") " AS \"p10..p90 ms\","
    " " FMT("%%.3g", "tflops") " AS \"TFLOP/s\"%s,"
    " " FMT("%%.2f", "speedup_vs_baseline") " AS speedup,"
    " " FMT("%%.2e", "err_rel_l2") " AS \"err rel L2\","
    " " FMT("%%.2e", "exact_rel_l2") " AS \"exact rel L2\", status, reason"
    " FROM summary WHERE run_id = ?1 AND dtype = ?2 AND head_dim = ?3 AND causal = ?4"
    " ORDER BY min(point_id) OVER (PARTITION BY variant), seq, batch, heads, kv_heads, params";

static const char summary_doc[] =
    "median: of the accepted samples; TFLOP/s: dense-equivalent FLOP / median; speedup: the "
    "baseline's median / the variant's median at the same shape; err rel L2: relative L2 error "
    "against the check target; exact rel L2: against exact attention.";

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>attnbench run %lld</title>\n"
    "<style>\n"
    "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em; color: #222; }\n"
    "table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }\n"
    "th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }\n"
    "th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }\n"
    "figure { margin: 1em 0 2em; } figure img { max-width: 100%%; border: 1px solid #eee; }\n"
    "</style>\n</head>\n<body>\n";

typedef struct report_options {
    int64_t run;
    table_format fmt;    /* TABLE_MD or TABLE_HTML */
    const char *figures; /* HTML: render figures into this directory and embed them; may be NULL */
    const char *out;     /* output file; NULL: stdout */
} report_options;

static int column_exists(sqlite3 *db, const char *table, const char *column, int *exists)
{
    table_bind b[] = {{table, 0}, {column, 0}};
    int64_t v;
    return table_int(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", b, 2, &v, exists);
}

/* The runs row: a Markdown list or an HTML table of its non-NULL columns. */
static int provenance(sqlite3 *db, int64_t run, table_format fmt, FILE *out)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "SELECT * FROM runs WHERE id = ?1", -1, &st, NULL));
    int rc = sqlite3_bind_int64(st, 1, run);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fputs(fmt == TABLE_MD ? "## Provenance\n\n" : "<h2>Provenance</h2>\n<table>\n", out);
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            if (!v) continue;
            if (fmt == TABLE_MD) {
                fprintf(out, "- **%s**: `", sqlite3_column_name(st, c));
                for (; *v; v++) fputc(*v == '`' || *v == '\n' ? '\'' : *v, out);
                fputs("`\n", out);
            } else {
                fputs("<tr><th>", out);
                table_html_escape(out, sqlite3_column_name(st, c));
                fputs("</th><td>", out);
                table_html_escape(out, v);
                fputs("</td></tr>\n", out);
            }
        }
        fputs(fmt == TABLE_MD ? "\n" : "</table>\n", out);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* A table per shape group (dtype, head dim, causal), one row per point. */
static int results(sqlite3 *db, int64_t run, table_format fmt, FILE *out)
{
    table_bind b[4] = {{NULL, run}};
    int64_t v;
    int has_params, has_pct;
    ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND params <> ''", b, 1, &v,
                       &has_params));
    ATTN_TRY(column_exists(db, "summary", "pct_of_compute_ceiling", &has_pct));
    if (has_pct)
        ATTN_TRY(table_int(db, "SELECT 1 FROM summary WHERE run_id = ?1 AND"
                           " pct_of_compute_ceiling IS NOT NULL", b, 1, &v, &has_pct));
    char sql[sizeof group_sql + 256];
    snprintf(sql, sizeof sql, group_sql, has_params ? ", params" : "",
             has_pct ? ", " FMT("%.1f", "pct_of_compute_ceiling") " AS \"% of ceiling\"" : "");
    char baseline[64];
    int found;
    ATTN_TRY(table_text(db, "SELECT variant FROM points WHERE run_id = ?1 AND is_baseline LIMIT 1",
                        b, 1, baseline, sizeof baseline, &found));
    if (fmt == TABLE_MD)
        fprintf(out, "## Results\n\nBaseline: `%s`. %s\n\n", found ? baseline : "none", summary_doc);
    else {
        fputs("<h2>Results</h2>\n<p>Baseline: <code>", out);
        table_html_escape(out, found ? baseline : "none");
        fprintf(out, "</code>. %s</p>\n", summary_doc);
    }

    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT DISTINCT dtype, head_dim, causal FROM points WHERE run_id = ?1"
        " ORDER BY dtype, head_dim, causal", -1, &st, NULL));
    int rc = sqlite3_bind_int64(st, 1, run);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        const char *dtype = (const char *)sqlite3_column_text(st, 0);
        int head_dim = sqlite3_column_int(st, 1), causal = sqlite3_column_int(st, 2);
        const char *mask = causal ? "causal" : "non-causal";
        if (fmt == TABLE_MD) fprintf(out, "### %s, D=%d, %s\n\n", dtype, head_dim, mask);
        else {
            fputs("<h3>", out);
            table_html_escape(out, dtype);
            fprintf(out, ", D=%d, %s</h3>\n", head_dim, mask);
        }
        b[1] = (table_bind){dtype, 0};
        b[2] = (table_bind){NULL, head_dim};
        b[3] = (table_bind){NULL, causal};
        if (table_write(db, sql, b, 4, fmt, "–", out, NULL) != ATTN_OK) {
            sqlite3_finalize(st);
            return ATTN_ERR;
        }
        if (fmt == TABLE_MD) fputc('\n', out);
    }
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* file as an <img> with a base64 data URI (a self-contained page, no clashing SVG ids). */
static int embed_svg(const char *path, const char *alt, FILE *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    FILE *f = fopen(path, "rb");
    if (!f) return attn_fail("cannot read %s: %s", path, strerror(errno));
    fputs("<figure><img alt=\"", out);
    table_html_escape(out, alt);
    fputs("\" src=\"data:image/svg+xml;base64,", out);
    unsigned char in[3];
    size_t n;
    while ((n = fread(in, 1, 3, f)) > 0) {
        unsigned v = in[0] << 16 | (n > 1 ? in[1] << 8 : 0) | (n > 2 ? in[2] : 0);
        for (size_t i = 0; i < 4; i++) fputc(i <= n ? b64[v >> (18 - 6 * i) & 63] : '=', out);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return attn_fail("cannot read %s", path);
    fputs("\"><figcaption>", out);
    table_html_escape(out, alt);
    fputs("</figcaption></figure>\n", out);
    return ATTN_OK;
}

static int write_report(sqlite3 *db, const report_options *o, plot_request *figs, FILE *out)
{
    if (o->fmt == TABLE_MD) {
        fprintf(out, "# attnbench run %lld\n\n", (long long)o->run);
        ATTN_TRY(provenance(db, o->run, o->fmt, out));
        return results(db, o->run, o->fmt, out);
    }
    fprintf(out, html_head, (long long)o->run);
    fprintf(out, "<h1>attnbench run %lld</h1>\n", (long long)o->run);
    ATTN_TRY(provenance(db, o->run, o->fmt, out));
    ATTN_TRY(results(db, o->run, o->fmt, out));
    if (o->figures) {
        plot_figure done[PLOT_MAX_FIGURES];
        int n;
        ATTN_TRY(plot_render(db, figs, stderr, done, &n));
        fputs("<h2>Figures</h2>\n", out);
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.svg", o->figures, done[i].name);
            ATTN_TRY(embed_svg(path, done[i].title, out));
        }
    }
    fputs("</body>\n</html>\n", out);
    return ATTN_OK;
}

/* Writes through write(): to stdout, or to OUT.tmp renamed to OUT on success. 0, or 1 on failure. */
typedef int (*writer)(sqlite3 *db, const void *arg, FILE *out);

static int to_output(const char *cmd, const char *out_path, writer write, sqlite3 *db,
                     const void *arg)
{
    char tmp[4096];
    FILE *out = stdout;
    if (out_path) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        if (!(out = fopen(tmp, "w"))) {
            fprintf(stderr, "attnbench %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
            return 1;
        }
    }
    int rc = write(db, arg, out);
    if (out_path) {
        if (fclose(out) != 0 && rc == ATTN_OK) rc = attn_fail("cannot write %s", tmp);
        if (rc == ATTN_OK && rename(tmp, out_path) != 0)
            rc = attn_fail("cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
        if (rc != ATTN_OK) remove(tmp);
    } else if (fflush(stdout) != 0 && rc == ATTN_OK) {
        rc = attn_fail("cannot write to standard output");
    }
    if (rc != ATTN_OK) fprintf(stderr, "attnbench %s: %s\n", cmd, attn_last_error.msg);
    return rc == ATTN_OK ? 0 : 1;
}

typedef struct report_job {
    const report_options *o;
    plot_request *figs;
} report_job;

static int report_writer(sqlite3 *db, const void *arg, FILE *out)
{
    const report_job *j = arg;
    return write_report(db, j->o, j->figs, out);
}

static int export_writer(sqlite3 *db, const void *arg, FILE *out)
{
    const report_options *o = arg;
    table_bind b[] = {{NULL, o->run}};
    return table_write(db, "SELECT * FROM summary WHERE run_id = ?1 ORDER BY point_id", b, 1,
                       o->fmt, "", out, NULL);
}

/* Parses the options common to report and export into o; 0, or 2 after a usage message. */
static int parse(const char *cmd, const char *usage, int argc, char **argv, const char **db_path,
                 report_options *o, int *help)
{
    const char *format = NULL;
    static const char *const names[] = {"csv", "json", "md", "html"};
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int x[1];
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            *help = 1;
            return 0;
        } else if (cli_opt(argc, argv, &i, "--db", &v)) {
            if (!v) return cli_error(cmd, "--db needs a path");
            *db_path = v;
        } else if (cli_opt(argc, argv, &i, "--run", &v)) {
            if (cli_int_list(v, 1, x, 1) != 1) return cli_error(cmd, "bad --run value '%s'", v ? v : "");
            o->run = x[0];
        } else if (cli_opt(argc, argv, &i, "--format", &v)) {
            if (!v) return cli_error(cmd, "--format needs a value");
            format = v;
        } else if (o->fmt != TABLE_CSV && cli_opt(argc, argv, &i, "--out", &v)) {
            if (!v) return cli_error(cmd, "--out needs a file");
            o->out = v;
        } else if (o->fmt != TABLE_CSV && cli_opt(argc, argv, &i, "--figures", &v)) {
            if (!v) return cli_error(cmd, "--figures needs a directory");
            o->figures = v;
        } else {
            return cli_error(cmd, "unknown option '%s' (attnbench %s --help)", argv[i], cmd);
        }
    }
    /* o->fmt arrives as the first format this command accepts; it accepts that one and the next. */
    int first = o->fmt;
    if (!format) return first == TABLE_CSV ? cli_error(cmd, "--format csv|json is required") : 0;
    if (strcmp(format, names[first]) == 0) return 0;
    if (strcmp(format, names[first + 1]) == 0) {
        o->fmt = (table_format)(first + 1);
        return 0;
    }
    return cli_error(cmd, "unknown --format '%s' (%s or %s)", format, names[first], names[first + 1]);
}

static const char report_usage[] =
    "usage: attnbench report [--db PATH] [--run N] [--format md|html] [--figures DIR] [--out FILE]\n"
    "A run's report: provenance (its runs row) and a table per shape group (dtype, head dim,\n"
    "causal) with one row per point: variant, S, B, H/Hkv, median and p10..p90 (ms), TFLOP/s,\n"
    "% of the compute ceiling (when measured), speedup vs the baseline, accuracy, status, reason.\n"
    "  --db PATH       database (default results/attnbench.db)\n"
    "  --run N         run id (default: the newest)\n"
    "  --format F      md (default; for CI job summaries) or html (one static page, no JavaScript)\n"
    "  --figures DIR   html: render the figures into DIR (as `attnbench plot`) and embed them\n"
    "  --out FILE      write FILE instead of standard output\n";

static const char export_usage[] =
    "usage: attnbench export [--db PATH] [--run N] --format csv|json\n"
    "Writes the run's rows of the summary view to standard output: CSV with a header row (RFC\n"
    "4180 quoting, NULL as an empty field) or a JSON array of objects (NULL as null).\n"
    "  --db PATH   database (default results/attnbench.db)\n"
    "  --run N     run id (default: the newest)\n";

/* Opens the database and resolves the run; 0, or 2 after a message. */
static int open_run(const char *cmd, const char *path, report_options *o, sqlite3 **db)
{
    int rc = cmd_open_db(cmd, path, db);
    if (rc) return rc;
    rc = plot_run_id(*db, o->run, NULL, &o->run);
    if (rc == ATTN_OK) return 0;
    store_close(*db);
    if (rc == ATTN_SKIP) return cli_error(cmd, "%s in '%s'", attn_last_error.msg, path);
    fprintf(stderr, "attnbench %s: %s\n", cmd, attn_last_error.msg);
    return 1;
}

int cmd_report(int argc, char **argv)
{
    const char *path = "results/attnbench.db";
    report_options o = {.fmt = TABLE_MD};
    int help, rc = parse("report", report_usage, argc, argv, &path, &o, &help);
    if (rc || help) return rc;
    if (o.figures && o.fmt != TABLE_HTML) return cli_error("report", "--figures needs --format html");
    sqlite3 *db;
    if ((rc = open_run("report", path, &o, &db))) return rc;
    plot_request figs = {.run = o.run, .out_dir = o.figures};
    if (o.figures && (rc = plot_check(db, &figs)) != ATTN_OK) {
        store_close(db);
        if (rc == ATTN_SKIP) return cli_error("report", "%s", attn_last_error.msg);
        fprintf(stderr, "attnbench report: %s\n", attn_last_error.msg);
        return 1;
    }
    report_job job = {&o, &figs};
    rc = to_output("report", o.out, report_writer, db, &job);
    store_close(db);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    const char *path = "results/attnbench.db";
    report_options o = {.fmt = TABLE_CSV};
    int help, rc = parse("export", export_usage, argc, argv, &path, &o, &help);
    if (rc || help) return rc;
    sqlite3 *db;
    if ((rc = open_run("export", path, &o, &db))) return rc;
    rc = to_output("export", NULL, export_writer, db, &o);
    store_close(db);
    return rc;
}
