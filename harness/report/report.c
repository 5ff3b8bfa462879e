/* report.c — `attnbench report`: a run as Markdown (for CI job summaries) or as one static HTML page
 * (no JavaScript; figures embedded as SVG data URIs when --figures DIR is given): provenance, a
 * table per shape group with one "speedup vs V" column per --baseline variant (default: the run's
 * baseline, and the vendor's cudnn when the run has it), and the run's metrics rows (one column per
 * name) when it has any. Every table is one query printed by table_write; numbers are formatted in
 * SQL; variant names are bound, reaching SQL text only as quoted column labels. Output goes to a
 * temporary file renamed over --out at the end, so a failed report leaves nothing behind. Limits:
 * REPORT_BASELINES_MAX speedup columns. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "report/metric_columns.h"
#include "report/plot.h"
#include "report/reader.h"
#include "report/table.h"
#include "store/store.h"

/* SQL text of x formatted with printf format f, NULL when x is NULL. */
#define FMT(f, x) "CASE WHEN " x " IS NOT NULL THEN printf('" f "', " x ") END"

/* The FLOP a point executes over its median, in TFLOP/s (NULL unless ok). */
#define EXECUTED                                                                                   \
    "(SELECT p.exec_flops / p.median_ns / 1e3 FROM points p WHERE p.id = summary.point_id"         \
    " AND p.status = 'ok')"

/* One row per point of a shape group (?1 run, ?2 dtype, ?3 head dim, ?4 causal). The three %s are
 * optional columns: params (when the run has any), % of the compute ceiling (when the schema and
 * the run have one) and the speedup columns (speedup_column, one per baseline variant). */
static const char group_sql[] =
    "SELECT variant, seq AS S, batch AS B, heads || '/' || kv_heads AS \"H/Hkv\"%s,"
    " " FMT("%%.4g", "median_ms") " AS \"median ms\","
    " " FMT("%%.4g", "p10_ms") " || '..' || " FMT("%%.4g", "p90_ms") " AS \"p10..p90 ms\","
    " " FMT("%%.3g", "tflops") " AS \"effective TFLOP/s\","
    " " FMT("%%.3g", EXECUTED) " AS \"executed TFLOP/s\"%s%s,"
    " " FMT("%%.2e", "err_rel_l2") " AS \"err rel L2\","
    " " FMT("%%.2e", "exact_rel_l2") " AS \"exact rel L2\", status, reason"
    " FROM summary WHERE run_id = ?1 AND dtype = ?2 AND head_dim = ?3 AND causal = ?4"
    " ORDER BY min(point_id) OVER (PARTITION BY variant), seq, batch, heads, kv_heads, params";

/* The % of ceiling column: the executed rate over the measured compute ceiling, ! above 100. */
static const char pct_column[] =
    ", " FMT("%.1f", "pct_of_compute_ceiling") " || CASE WHEN pct_of_compute_ceiling > 100 THEN"
    " ' !' ELSE '' END AS \"% of ceiling\"";

/* A speedup column: the median of variant ?N (the %d) at the row's run and shape, params aside,
 * over the row's median; NULL unless both are ok. Followed by its quoted label. */
static const char speedup_column[] =
    ", CASE WHEN status = 'ok' AND median_ms > 0 THEN (SELECT printf('%%.2f', b.median_ns / 1e6"
    " / summary.median_ms) FROM points b WHERE b.run_id = ?1 AND b.variant = ?%d"
    " AND b.status = 'ok' AND b.median_ns > 0 AND b.batch = summary.batch"
    " AND b.heads = summary.heads AND b.kv_heads = summary.kv_heads AND b.seq = summary.seq"
    " AND b.head_dim = summary.head_dim AND b.dtype = summary.dtype"
    " AND b.causal = summary.causal ORDER BY b.id LIMIT 1) END AS ";

/* The vendor's exact attention, a default speedup column when the run has ok points of it. */
static const char vendor_baseline[] = "cudnn";

static const char summary_doc[] =
    "median: of the accepted samples; effective TFLOP/s: the dense-equivalent FLOP of exact "
    "attention (4·B·H·S²·D, halved when causal) / median, the rate an exact kernel would need to "
    "match this time, on which variants doing the same job compare; executed TFLOP/s: the FLOP "
    "the variant executes / median, the machine's rate; % of ceiling: the executed rate over the "
    "measured compute ceiling, marked ! above 100 % (a wrong FLOP count or timing); speedup vs V: "
    "V's median / the variant's median at the same shape in this run (params aside; above 1: "
    "faster than V), one column per --baseline variant (default: the run's baseline, and cudnn "
    "when the run has ok cudnn points); err rel L2: relative L2 error "
    "against the check target; exact rel L2: against exact attention.";

/* The points with metrics rows (?1 run): their shape, then the metric columns (the %s). */
static const char metrics_sql[] =
    "SELECT variant, dtype, seq AS S, batch AS B, heads || '/' || kv_heads AS \"H/Hkv\","
    " head_dim AS D, causal, params%s FROM points s WHERE run_id = ?1"
    " AND EXISTS (SELECT 1 FROM metrics m WHERE m.point_id = s.id) ORDER BY id";

static const char metrics_doc[] =
    "One row per point with metrics rows, one column per name (unit in parentheses): the values "
    "variants report beside their timing (quality against exact attention and the like) and "
    "hardware counters (run --metrics).";

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>attnbench run %lld</title>\n"
    "<style>\n"
    "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em; color: #222; }\n"
    "table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }\n"
    "th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }\n"
    "th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }\n"
    "figure { margin: 1em 0 2em; } figure img { max-width: 100%%; border: 1px solid #eee; }\n"
    "</style>\n</head>\n<body>\n";

enum { REPORT_BASELINES_MAX = 4, REPORT_NAME_MAX = 64 };

typedef struct report_options {
    const char *db;
    const char *baseline; /* --baseline LIST: comma-separated variants; NULL: the default */
    char speedup_vs[REPORT_BASELINES_MAX][REPORT_NAME_MAX]; /* the variants of the speedup columns */
    int n_speedup;                                          /* 0..REPORT_BASELINES_MAX */
    int64_t run;         /* --run; then the run read */
    const char *format;  /* --format: "md" or "html" */
    table_format fmt;    /* TABLE_MD or TABLE_HTML */
    const char *figures; /* HTML: render figures into this directory and embed them; may be NULL */
    const char *out;     /* output file; NULL: stdout */
} report_options;

/* A section heading: "## text" or <h2>text</h2>. */
static void heading(FILE *out, table_format fmt, int level, const char *text)
{
    if (fmt == TABLE_MD) {
        fprintf(out, "%.*s %s\n\n", level, "######", text);
        return;
    }
    fprintf(out, "<h%d>", level);
    table_html_escape(out, text);
    fprintf(out, "</h%d>\n", level);
}

/* The runs row: a Markdown list or an HTML table of its non-NULL columns. */
static void provenance_rows(sqlite3_stmt *st, table_format fmt, FILE *out)
{
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
}

static int provenance(sqlite3 *db, int64_t run, table_format fmt, FILE *out)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    /* status_now: "abandoned" beside a status 'running' whose process is gone (store.h). */
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db, "SELECT *, nullif(attn_run_status(id), status)"
                                                 " AS status_now FROM runs WHERE id = ?1",
                                             -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, run), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    if (step == SQLITE_ROW) {
        heading(out, fmt, 2, "Provenance");
        if (fmt == TABLE_HTML) fputs("<table>\n", out);
        provenance_rows(st, fmt, out);
        fputs(fmt == TABLE_MD ? "\n" : "</table>\n", out);
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* The group table's query into *sql (free it): with params when the run has any, with % of the
 * compute ceiling when the schema and the run have one, a speedup column per o->speedup_vs (bound
 * to ?5..). */
static int group_query(sqlite3 *db, const report_options *o, char **sql)
{
    table_bind b[] = {{NULL, o->run}};
    int64_t v;
    int has_params, has_pct;
    ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND params <> ''", b, 1, &v,
                       &has_params));
    ATTN_TRY(table_has_column(db, "summary", "pct_of_compute_ceiling", &has_pct));
    if (has_pct)
        ATTN_TRY(table_int(db, "SELECT 1 FROM summary WHERE run_id = ?1 AND"
                           " pct_of_compute_ceiling IS NOT NULL", b, 1, &v, &has_pct));
    char *speedups = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&speedups, &size);
    if (!f) return attn_fail("out of host memory");
    for (int i = 0; i < o->n_speedup; i++) {
        char label[16 + REPORT_NAME_MAX];
        fprintf(f, speedup_column, 5 + i);
        snprintf(label, sizeof label, "speedup vs %s", o->speedup_vs[i]);
        table_sql_identifier(f, label);
    }
    int failed = fclose(f) != 0;
    size += sizeof group_sql + sizeof pct_column + 16;
    *sql = failed ? NULL : malloc(size);
    if (*sql) snprintf(*sql, size, group_sql, has_params ? ", params" : "",
                       has_pct ? pct_column : "", speedups);
    free(speedups);
    return *sql ? ATTN_OK : attn_fail("out of host memory");
}

/* The tables, one per shape group (dtype, head dim, causal) of the statement st (bound); b[0] the
 * run, b[4..] the speedup variants, n_binds in all. */
static int group_tables(sqlite3 *db, sqlite3_stmt *st, const char *sql, table_bind *b,
                        int n_binds, table_format fmt, FILE *out)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dtype = (const char *)sqlite3_column_text(st, 0);
        int head_dim = sqlite3_column_int(st, 1), causal = sqlite3_column_int(st, 2);
        char title[128];
        snprintf(title, sizeof title, "%s, D=%d, %s", dtype, head_dim,
                 causal ? "causal" : "non-causal");
        heading(out, fmt, 3, title);
        b[1] = (table_bind){dtype, 0};
        b[2] = (table_bind){NULL, head_dim};
        b[3] = (table_bind){NULL, causal};
        ATTN_TRY(table_write(db, sql, b, n_binds, fmt, "–", out, NULL));
        if (fmt == TABLE_MD) fputc('\n', out);
    }
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* A note under the tables when points executed above the measured compute ceiling. */
static int ceiling_note(sqlite3 *db, int64_t run, table_format fmt, FILE *out)
{
    table_bind b[] = {{NULL, run}};
    int64_t over;
    int found;
    ATTN_TRY(table_int(db, "SELECT count(*) FROM summary WHERE run_id = ?1"
                       " AND pct_of_compute_ceiling > 100", b, 1, &over, &found));
    if (over)
        fprintf(out, fmt == TABLE_MD ? "**!** %lld point%s executed above the measured compute "
                                       "ceiling: the variant's executed FLOP count or the timing "
                                       "is wrong.\n\n"
                                     : "<p><strong>!</strong> %lld point%s executed above the "
                                       "measured compute ceiling: the variant's executed FLOP count "
                                       "or the timing is wrong.</p>\n",
                (long long)over, over == 1 ? "" : "s");
    return ATTN_OK;
}

/* A variant name in running text: `name` or <code>name</code>. */
static void code(FILE *out, table_format fmt, const char *name)
{
    if (fmt == TABLE_MD) {
        fprintf(out, "`%s`", name);
        return;
    }
    fputs("<code>", out);
    table_html_escape(out, name);
    fputs("</code>", out);
}

/* The results' opening paragraph: the run's baseline, the speedup columns, the columns' meaning. */
static void results_doc(const report_options *o, const char *baseline, table_format fmt,
                        FILE *out)
{
    fputs(fmt == TABLE_MD ? "Baseline: " : "<p>Baseline: ", out);
    code(out, fmt, baseline);
    fputs(". Speedup columns: ", out);
    for (int i = 0; i < o->n_speedup; i++) {
        fputs(i ? ", vs " : "vs ", out);
        code(out, fmt, o->speedup_vs[i]);
    }
    fprintf(out, fmt == TABLE_MD ? "%s. %s\n\n" : "%s. %s</p>\n", o->n_speedup ? "" : "none",
            summary_doc);
}

/* A table per shape group (dtype, head dim, causal), one row per point. */
static int results(sqlite3 *db, const report_options *o, table_format fmt, FILE *out)
{
    table_bind b[4 + REPORT_BASELINES_MAX] = {{NULL, o->run}};
    for (int i = 0; i < o->n_speedup; i++) b[4 + i] = (table_bind){o->speedup_vs[i], 0};
    char baseline[REPORT_NAME_MAX], *sql = NULL;
    int found;
    ATTN_TRY(table_text(db, "SELECT variant FROM points WHERE run_id = ?1 AND is_baseline"
                        " ORDER BY id LIMIT 1", b, 1, baseline, sizeof baseline, &found));
    ATTN_TRY(group_query(db, o, &sql));
    heading(out, fmt, 2, "Results");
    results_doc(o, found ? baseline : "none", fmt, out);
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT DISTINCT dtype, head_dim, causal FROM points WHERE run_id = ?1"
        " ORDER BY dtype, head_dim, causal", -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, o->run), rc, end);
    ATTN_TRY_GOTO(group_tables(db, st, sql, b, 4 + o->n_speedup, fmt, out), rc, end);
    rc = ceiling_note(db, o->run, fmt, out);
end:
    sqlite3_finalize(st);
    free(sql);
    return rc;
}

/* The points with metrics rows, one column per metric name; nothing when the run has none. */
static int metrics(sqlite3 *db, int64_t run, table_format fmt, FILE *out)
{
    metric_columns mc;
    char *sql = NULL;
    int rc = metric_columns_load(db, run, "s.id", "printf('%.4g', m.value)", 1, &mc);
    if (rc != ATTN_OK || mc.n == 0) goto end;
    size_t size = sizeof metrics_sql + strlen(mc.sql);
    if (!(sql = malloc(size))) {
        rc = attn_fail("out of host memory");
        goto end;
    }
    snprintf(sql, size, metrics_sql, mc.sql);
    heading(out, fmt, 2, "Metrics");
    fprintf(out, fmt == TABLE_MD ? "%s\n\n" : "<p>%s</p>\n", metrics_doc);
    rc = table_write(db, sql, mc.binds, mc.n + 1, fmt, "–", out, NULL);
    if (fmt == TABLE_MD) fputc('\n', out);
end:
    free(sql);
    metric_columns_free(&mc);
    return rc;
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

static int write_report(sqlite3 *db, const report_options *o, const plot_request *figs, FILE *out)
{
    if (o->fmt == TABLE_MD) {
        fprintf(out, "# attnbench run %lld\n\n", (long long)o->run);
    } else {
        fprintf(out, html_head, (long long)o->run);
        fprintf(out, "<h1>attnbench run %lld</h1>\n", (long long)o->run);
    }
    ATTN_TRY(provenance(db, o->run, o->fmt, out));
    ATTN_TRY(results(db, o, o->fmt, out));
    ATTN_TRY(metrics(db, o->run, o->fmt, out));
    if (o->fmt == TABLE_MD) return ATTN_OK;
    if (o->figures) {
        plot_figure done[PLOT_MAX_FIGURES];
        int n;
        ATTN_TRY(plot_render(db, figs, stderr, done, &n));
        heading(out, o->fmt, 2, "Figures");
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.svg", o->figures, done[i].name);
            ATTN_TRY(embed_svg(path, done[i].title, out));
        }
    }
    fputs("</body>\n</html>\n", out);
    return ATTN_OK;
}

/* Writes the report to stdout; or to OUT, through OUT.tmp renamed to OUT on success, or directly
 * when OUT exists and is not a regular file (/dev/null, a pipe: a rename would replace it). Messages
 * name OUT, never the temporary file. 0; CLI_USAGE when OUT cannot be opened (nothing written yet);
 * 1 on a later failure. */
static int to_output(sqlite3 *db, const report_options *o, const plot_request *figs)
{
    char tmp[4096];
    struct stat st;
    int direct = o->out && stat(o->out, &st) == 0 && !S_ISREG(st.st_mode);
    FILE *out = stdout;
    if (o->out) {
        snprintf(tmp, sizeof tmp, direct ? "%s" : "%s.tmp", o->out);
        if (!(out = fopen(tmp, "w")))
            return cli_error("report", "cannot write --out '%s': %s", o->out, strerror(errno));
    }
    int rc = write_report(db, o, figs, out);
    if (o->out) {
        int failed = ferror(out);
        if ((fclose(out) != 0 || failed) && rc == ATTN_OK)
            rc = attn_fail("cannot write '%s': %s", o->out, strerror(errno));
        if (!direct && rc == ATTN_OK && rename(tmp, o->out) != 0)
            rc = attn_fail("cannot write '%s': %s", o->out, strerror(errno));
        if (!direct && rc != ATTN_OK) remove(tmp);
    }
    if (rc != ATTN_OK) fprintf(stderr, "attnbench report: %s\n", attn_last_error.msg);
    else if (!o->out && reader_flush_stdout("report")) rc = ATTN_ERR;
    return rc == ATTN_OK ? 0 : 1;
}

/* One speedup variant: a variant of the run, not listed before. ATTN_OK; ATTN_SKIP for a usage
 * error (attn_last_error says which). */
static int add_speedup(sqlite3 *db, report_options *o, const char *name)
{
    table_bind b[] = {{NULL, o->run}, {name, 0}};
    int64_t v;
    int found;
    if (o->n_speedup == REPORT_BASELINES_MAX)
        return attn_skip("--baseline: at most %d variants", REPORT_BASELINES_MAX);
    if (!*name || strlen(name) >= REPORT_NAME_MAX)
        return attn_skip("--baseline: bad variant name '%.80s'", name);
    for (int i = 0; i < o->n_speedup; i++)
        if (strcmp(o->speedup_vs[i], name) == 0)
            return attn_skip("--baseline: variant '%s' named twice", name);
    ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND variant = ?2", b, 2, &v,
                       &found));
    if (!found) return attn_skip("no variant '%s' in run %lld", name, (long long)o->run);
    snprintf(o->speedup_vs[o->n_speedup++], REPORT_NAME_MAX, "%s", name);
    return ATTN_OK;
}

/* The speedup variants: --baseline's list, else the run's baseline and, when the run has ok points
 * of it and it is not that baseline, the vendor's. ATTN_OK, ATTN_SKIP (usage) or ATTN_ERR. */
static int speedup_variants(sqlite3 *db, report_options *o)
{
    table_bind b[] = {{NULL, o->run}, {vendor_baseline, 0}};
    if (o->baseline) {
        char list[1024], *save = NULL;
        if (strlen(o->baseline) >= sizeof list) return attn_skip("--baseline: list too long");
        snprintf(list, sizeof list, "%s", o->baseline);
        if (!*list || list[strlen(list) - 1] == ',' || *list == ',' || strstr(list, ",,"))
            return attn_skip("--baseline: empty variant name in '%.80s'", o->baseline);
        for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save))
            ATTN_TRY(add_speedup(db, o, name));
        return ATTN_OK;
    }
    char name[REPORT_NAME_MAX];
    int64_t v;
    int found, has_vendor;
    ATTN_TRY(table_text(db, "SELECT variant FROM points WHERE run_id = ?1 AND is_baseline"
                        " ORDER BY id LIMIT 1", b, 1, name, sizeof name, &found));
    if (found) ATTN_TRY(add_speedup(db, o, name));
    ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND variant = ?2"
                       " AND status = 'ok'", b, 2, &v, &has_vendor));
    if (has_vendor && !(found && strcmp(name, vendor_baseline) == 0))
        ATTN_TRY(add_speedup(db, o, vendor_baseline));
    return ATTN_OK;
}

static const cli_option report_options_table[] = {
    READER_OPTION_DB(report_options),
    READER_OPTION_RUN(report_options),
    {"--baseline", "LIST", "comma-separated variants, a \"speedup vs V\" column each (default:\n"
     "the run's baseline, plus cudnn when the run has ok cudnn points)", cli_set_text,
     offsetof(report_options, baseline)},
    {"--format", "F", "md (default; for CI job summaries) or html (one static page, no JavaScript)",
     cli_set_text, offsetof(report_options, format)},
    {"--figures", "DIR", "html: render the figures into DIR (as `attnbench plot`) and embed them",
     cli_set_text, offsetof(report_options, figures)},
    {"--out", "FILE", "write FILE instead of standard output", cli_set_text,
     offsetof(report_options, out)},
    {0}};

static const cli_command report_command = {
    "report", "[--db PATH] [--run N] [--baseline LIST] [--format md|html] [--figures DIR]"
    " [--out FILE]",
    "A run's report: provenance (its runs row) and a table per shape group (dtype, head dim,\n"
    "causal) with one row per point: variant, S, B, H/Hkv, median and p10..p90 (ms), effective\n"
    "TFLOP/s (dense-equivalent), executed TFLOP/s and its % of the compute ceiling (when measured;\n"
    "! above 100%), speedup vs each --baseline variant (V's median at the same shape / the\n"
    "point's median), accuracy, status, reason; then, when the run has\n"
    "metrics rows, a table of them (one column per metric name).\n",
    report_options_table, NULL, NULL};

int cmd_report(int argc, char **argv)
{
    report_options o = {.db = READER_DB_DEFAULT, .format = "md"};
    int rc = cli_parse(&report_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (table_format_named(o.format, &o.fmt) != 0 || (o.fmt != TABLE_MD && o.fmt != TABLE_HTML))
        return cli_error("report", "unknown --format '%s' (md or html)", o.format);
    if (o.figures && o.fmt != TABLE_HTML) return cli_error("report", "--figures needs --format html");
    if (o.out && (rc = reader_check_output("report", "--out", o.out))) return rc;
    sqlite3 *db;
    if ((rc = reader_open_run("report", o.db, o.run, NULL, &db, &o.run))) return rc;
    plot_request figs = {.run = o.run, .out_dir = o.figures};
    rc = speedup_variants(db, &o);
    if (o.baseline && o.n_speedup) figs.baseline = o.speedup_vs[0]; /* the figures' speedup too */
    if (rc != ATTN_OK || (o.figures && (rc = plot_check(db, &figs)) != ATTN_OK)) {
        store_close(db);
        if (rc == ATTN_SKIP) return cli_error("report", "%s", attn_last_error.msg);
        fprintf(stderr, "attnbench report: %s\n", attn_last_error.msg);
        return 1;
    }
    rc = to_output(db, &o, &figs);
    store_close(db);
    return rc;
}
