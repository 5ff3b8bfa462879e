/* test_report.c — `attnbench report` and `attnbench export` on a fixture database (a CPU-backend run
 * plus a failed point whose reason needs escaping): the Markdown report has one row per point, the
 * HTML page is well-formed (balanced tags, escaped text, no script) and embeds the figures, the
 * CSV and JSON exports parse with one record per point, a run's metrics rows (inserted through
 * SQL, names needing quoting) appear as a report table and as export columns, and bad input exits 2
 * writing nothing. The dense-equivalent rate is "effective TFLOP/s" (effective_tflops in exports)
 * with the executed rate beside it; an executed rate above the measured compute ceiling is marked
 * ! with a note. Speedup columns: against the run's baseline, plus cudnn once the run has an ok
 * cudnn point (inserted through the store API), or the --baseline list; each value V's median at
 * the point's shape over the point's. ATTN_KEEP=1 keeps the scratch directory. */
#include <ctype.h>

#include "fixture.h"
#include "test.h"

/* HTML5 elements without a closing tag. */
static int is_void(const char *name, size_t n)
{
    static const char *const v[] = {"meta", "img", "br", "hr", "link", "input", "col", "wbr"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strlen(v[i]) == n && strncmp(v[i], name, n) == 0) return 1;
    return 0;
}

/* 1 when every tag is closed in order, every '<' in text starts a tag, every '&' an entity, and
 * the page is html > head + body. */
static int html_well_formed(const char *s)
{
    const char *stack[256];
    size_t len[256];
    int depth = 0, saw_body = 0;
    while (*s) {
        if (*s == '&') {
            const char *e = s + 1;
            while (isalnum((unsigned char)*e) || *e == '#') e++;
            if (*e != ';' || e == s + 1) return 0;
            s = e + 1;
        } else if (*s == '<') {
            if (s[1] == '!') {
                s = strchr(s, '>');
                if (!s) return 0;
                s++;
                continue;
            }
            int closing = s[1] == '/';
            const char *name = s + 1 + closing;
            size_t n = 0;
            while (isalnum((unsigned char)name[n])) n++;
            if (!n) return 0;
            const char *e = name + n;
            char quote = 0;
            for (; *e && (quote || *e != '>'); e++)
                if (quote && *e == quote) quote = 0;
                else if (!quote && (*e == '"' || *e == '\'')) quote = *e;
            if (!*e) return 0;
            if (closing) {
                if (depth == 0 || len[depth - 1] != n || strncmp(stack[depth - 1], name, n)) return 0;
                depth--;
            } else if (!is_void(name, n) && e[-1] != '/') {
                if (depth == 256) return 0;
                if (n == 4 && strncmp(name, "body", 4) == 0) saw_body = depth == 1;
                stack[depth] = name, len[depth++] = n;
            }
            s = e + 1;
        } else if (*s == '>') {
            return 0;
        } else {
            s++;
        }
    }
    return depth == 0 && saw_body;
}

/* A minimal JSON reader: counts the objects of a top-level array and checks each has `fields`
 * members. Returns the object count, or -1 when the text is not that shape of valid JSON. */
static const char *json_value(const char *s);
static const char *json_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    return s;
}
static const char *json_string(const char *s)
{
    if (*s++ != '"') return NULL;
    for (; *s != '"'; s++) {
        if ((unsigned char)*s < 0x20) return NULL;
        if (*s == '\\' && !*++s) return NULL;
    }
    return s + 1;
}
static const char *json_value(const char *s)
{
    s = json_ws(s);
    if (*s == '"') return json_string(s);
    if (strncmp(s, "null", 4) == 0) return s + 4;
    char *end;
    strtod(s, &end);
    return end > s && (*s == '-' || isdigit((unsigned char)*s)) ? end : NULL;
}
static int json_count(const char *s, int fields)
{
    int objects = 0;
    s = json_ws(s);
    if (*s++ != '[') return -1;
    s = json_ws(s);
    while (*s == '{') {
        int members = 0;
        s = json_ws(s + 1);
        while (*s == '"') {
            if (!(s = json_string(s)) || *(s = json_ws(s)) != ':' || !(s = json_value(s + 1))) return -1;
            members++;
            s = json_ws(s);
            if (*s == ',') s = json_ws(s + 1);
        }
        if (*s++ != '}' || members != fields) return -1;
        objects++;
        s = json_ws(s);
        if (*s == ',') s = json_ws(s + 1);
    }
    return *s == ']' && !*json_ws(s + 1) ? objects : -1;
}

/* Result rows of the Markdown report: table lines minus each table's header and rule. */
static int md_result_rows(const char *md)
{
    int rows = 0;
    for (const char *l = md; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (*l == '|') rows++;
        else if (strncmp(l, "### ", 4) == 0) rows -= 2;
    return rows;
}

/* Lines of the Markdown table under "## Metrics" (header and rule included). */
static int md_metrics_lines(const char *md)
{
    const char *l = md ? strstr(md, "## Metrics") : NULL;
    int lines = 0;
    for (; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (*l == '|') lines++;
        else if (strncmp(l, "## ", 3) == 0 && strncmp(l, "## Metrics", 10) != 0) break;
    return lines;
}

/* Metrics rows of the fused points: two names (one needing quoting, one with a unit), one that is
 * also a summary column, and a NULL value. Report and export show them, no name hard-coded. */
static void metrics_rows(const char *db, const char *out, const char *err, int points, int columns)
{
    test_cond("metrics rows inserted", fx_exec(db,
        "INSERT INTO metrics (point_id, name, value, unit) SELECT id, 'exact_rel_l1', seq / 1000.0,"
        " NULL FROM points WHERE run_id = 1 AND variant = 'fused';"
        "INSERT INTO metrics (point_id, name, value, unit) SELECT id, 'mass \"kept\" <b>', 0.5,"
        " '%' FROM points WHERE run_id = 1 AND variant = 'fused';"
        "INSERT INTO metrics (point_id, name, value, unit) SELECT id, 'tflops', NULL, 'TFLOP/s'"
        " FROM points WHERE run_id = 1 AND variant = 'fused'") == 0);
    int fused = (int)fx_num(db, "SELECT count(*) FROM points WHERE run_id = 1 AND variant = 'fused'");

    int rc = fx_sh("'%s' report --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    char *md = fx_read(out, NULL);
    test_cond("report md with metrics exits 0", rc == 0 && md);
    test_cond("metrics table: a row per point with metrics", md_metrics_lines(md) == fused + 2);
    test_cond("metrics columns: names, units, a clash prefixed",
              md && strstr(md, "| exact_rel_l1 | mass \"kept\" <b> (%) | metric:tflops (TFLOP/s) |"));
    test_cond("metrics values formatted", md && strstr(md, "| 0.064 | 0.5 | – |"));
    test_cond("results table unchanged", md_result_rows(md) - md_metrics_lines(md) == points);
    free(md);
    rc = fx_sh("'%s' report --db '%s' --format html > '%s' 2> '%s'", fx_bin, db, out, err);
    char *html = fx_read(out, NULL);
    test_cond("html with metrics well-formed", rc == 0 && html && html_well_formed(html) &&
                                                   strstr(html, "<th>mass &quot;kept&quot; &lt;b&gt; (%)</th>"));
    free(html);

    rc = fx_sh("'%s' export --db '%s' --format csv > '%s' 2> '%s'", fx_bin, db, out, err);
    char *csv = fx_read(out, NULL), *p = csv, *f[64];
    int n, records = 0, widths_ok = 1, valued = 0;
    while (csv && (n = fx_csv_record(&p, f, 64)) > 0) {
        widths_ok &= n == columns + 3;
        if (records++ == 0)
            widths_ok &= strcmp(f[columns], "exact_rel_l1") == 0 &&
                         strcmp(f[columns + 1], "mass \"kept\" <b>") == 0 &&
                         strcmp(f[columns + 2], "metric:tflops") == 0;
        else if (n == columns + 3)
            valued += *f[columns] != 0;
    }
    test_cond("export csv: a column per metric name", rc == 0 && records == points + 1 && widths_ok);
    test_cond("export csv: values where the point has them", valued == fused);
    free(csv);
    rc = fx_sh("'%s' export --db '%s' --format json > '%s' 2> '%s'", fx_bin, db, out, err);
    char *json = fx_read(out, NULL);
    test_cond("export json: a member per metric name",
              rc == 0 && json && json_count(json, columns + 3) == points);
    test_cond("export json: numbers and null", json && strstr(json, "\"exact_rel_l1\": 0.064") &&
                                                   strstr(json, "\"metric:tflops\": null"));
    free(json);
}

/* A measured compute ceiling some points run above: their % of ceiling marked !, and a note. */
static void above_ceiling(const char *db, const char *out, const char *err)
{
    test_cond("ceiling stored", fx_exec(db,
        "INSERT INTO ceilings (run_id, name, dtype, value, unit) VALUES (1, 'gemm', 'bf16',"
        " (SELECT exec_flops / median_ns / 1e3 FROM points WHERE id = 1) * 1.1, 'TFLOP/s')") == 0);
    int over = (int)fx_num(db, "SELECT count(*) FROM summary WHERE pct_of_compute_ceiling > 100");
    int rc = fx_sh("'%s' report --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    char *md = fx_text(out), note[128];
    int marked = 0;
    for (const char *p = md; (p = strstr(p, " ! |")); p++) marked++;
    test_cond("report with a ceiling exits 0", rc == 0 && strstr(md, "| % of ceiling |"));
    test_cond("% of ceiling: 91 % for the point at 1/1.1 of it", strstr(md, "| 90.9 |") != NULL);
    test_cond("above the ceiling: marked !", over > 0 && marked == over);
    snprintf(note, sizeof note, "**!** %d points executed above the measured compute ceiling", over);
    test_cond("... with a note", strstr(md, note) != NULL);
    free(md);
}

/* The row of `variant` at S = seq in the first (non-causal) table of a Markdown report (a copy to
 * free; "" when absent). */
static char *md_row(const char *md, const char *variant, int seq)
{
    char start[64];
    snprintf(start, sizeof start, "\n| %s | %d | 1 | 4/2 |", variant, seq);
    const char *row = strstr(md, start), *end = row ? strchr(row + 1, '\n') : NULL;
    return end ? strndup(row + 1, (size_t)(end - row - 1)) : calloc(1, 1);
}

/* A cudnn point at S=128 non-causal, 1.5 × fused's median there: the default report gains a
 * "speedup vs cudnn" column after cublas's; --baseline picks and orders the columns. */
static void vendor_speedups(const char *db, const char *out, const char *err)
{
    const char *at = "FROM points WHERE run_id = 1 AND seq = 128 AND causal = 0 AND variant = ";
    char sql[256], want[64];
    snprintf(sql, sizeof sql, "SELECT median_ns %s'fused'", at);
    double fused = fx_num(db, sql);
    snprintf(sql, sizeof sql, "SELECT median_ns %s'cublas'", at);
    double cublas = fx_num(db, sql);
    fx_point vendor = {"cudnn", 1, 128, 0, "ok", NULL, 1.5 * fused, 1 << 20, 1e-3};
    test_cond("cudnn point stored", fused > 0 && cublas > 0 && fx_add(db, 1, &vendor) == 0);

    int rc = fx_sh("'%s' report --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    char *md = fx_text(out), *row = md_row(md, "fused", 128);
    test_cond("default: vs the baseline, then vs cudnn",
              rc == 0 && strstr(md, "| speedup vs cublas | speedup vs cudnn | err rel L2 |") &&
                  strstr(md, "Speedup columns: vs `cublas`, vs `cudnn`."));
    snprintf(want, sizeof want, "| %.2f | 1.50 |", cublas / fused);
    test_cond("fused at S=128: cublas's median / fused's, cudnn's / fused's", strstr(row, want));
    free(row);
    row = md_row(md, "fused", 64);
    test_cond("no cudnn point at S=64: no value", strstr(row, " | – | ") != NULL);
    free(row);
    row = md_row(md, "cudnn", 128);
    test_cond("cudnn against itself: 1.00", strstr(row, "| 1.00 | ") != NULL);
    free(row);
    free(md);

    rc = fx_sh("'%s' report --db '%s' --baseline cudnn,fused --format html > '%s' 2> '%s'",
               fx_bin, db, out, err);
    md = fx_text(out);
    test_cond("--baseline cudnn,fused: those columns, in that order",
              rc == 0 && html_well_formed(md) && !strstr(md, "speedup vs cublas") &&
                  strstr(md, "<th>speedup vs cudnn</th><th>speedup vs fused</th>") &&
                  strstr(md, "Speedup columns: vs <code>cudnn</code>, vs <code>fused</code>."));
    free(md);
}

/* The HTML page to --out, with figures rendered into --figures and embedded (needs gnuplot). */
static void html_with_figures(const char *db, const char *out, const char *err)
{
    char html_path[512], figs[512], path[1024];
    fx_path(html_path, sizeof html_path, "report.html");
    fx_path(figs, sizeof figs, "figs");
    int rc = fx_sh("'%s' report --db '%s' --format html --figures '%s' --out '%s' > '%s' 2> '%s'",
                   fx_bin, db, figs, html_path, out, err);
    char *html = fx_read(html_path, NULL);
    test_cond("report html exits 0, nothing on stdout", rc == 0 && fx_size(out) == 0);
    test_cond("html well-formed", html && html_well_formed(html));
    test_cond("no JavaScript", html && !strstr(html, "<script"));
    test_cond("reason escaped", html && strstr(html, "err &lt;b&gt;&amp;|&quot;quoted&quot;"));
    int images = 0;
    for (const char *p = html; p && (p = strstr(p, "data:image/svg+xml;base64,")); p++) images++;
    /* latency, executed throughput, speedup: a single CPU run has no memory, stages or history */
    test_cond("figures embedded", images == 3);
    free(html);
    snprintf(path, sizeof path, "%s/latency_vs_seq.svg", figs);
    test_cond("figures rendered into --figures", fx_size(path) > 10000);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    char db[512], out[512], err[512];
    fx_path(db, sizeof db, "r.db");
    fx_path(out, sizeof out, "out.txt");
    fx_path(err, sizeof err, "err.txt");
    test_cond("CPU run", fx_cpu_run(db, "pr-42") == 0);
    fx_point failed = {"naive", 1, 512, 1, "failed", "err <b>&|\"quoted\" 3e-1 > 2e-2", 1e5,
                       1 << 20, 0.3};
    test_cond("failed point stored", fx_add(db, 1, &failed) == 0);
    int points = (int)fx_num(db, "SELECT count(*) FROM points WHERE run_id = 1");
    /* export's columns: the summary view's, and executed_tflops after its effective_tflops */
    int columns = (int)fx_num(db, "SELECT count(*) FROM pragma_table_info('summary')") + 1;
    test_cond("fixture has points", points == 19 && columns > 10);

    /* Markdown: provenance, one table row per point. */
    int rc = fx_sh("'%s' report --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    char *md = fx_read(out, NULL);
    test_cond("report md exits 0", rc == 0 && md);
    test_cond("provenance", md && strstr(md, "## Provenance") && strstr(md, "- **tag**: `pr-42`"));
    test_cond("one row per point", md && md_result_rows(md) == points);
    test_cond("pipe in a reason escaped", md && strstr(md, "err <b>&\\|\"quoted\""));
    test_cond("shape groups", md && strstr(md, "### bf16, D=64, causal") &&
                                  strstr(md, "### bf16, D=64, non-causal"));
    test_cond("effective and executed TFLOP/s",
              md && strstr(md, "| effective TFLOP/s | executed TFLOP/s | speedup vs cublas |"));
    test_cond("no cudnn point: no cudnn column", md && !strstr(md, "vs cudnn"));
    test_cond("no ceiling on the CPU: no column, no note", md && !strstr(md, "| % of ceiling |") &&
                                                             !strstr(md, "**!**"));
    free(md);

    if (fx_have_gnuplot()) html_with_figures(db, out, err);
    else test_cond("report --format html --figures: " FX_NEEDS_GNUPLOT, 0);

    /* Exports parse: one record per point, one field per summary column. */
    rc = fx_sh("'%s' export --db '%s' --format csv > '%s' 2> '%s'", fx_bin, db, out, err);
    char *csv = fx_read(out, NULL), *p = csv, *f[64];
    int n, records = 0, widths_ok = 1;
    test_cond("export names the rates", csv && strstr(csv, ",effective_tflops,executed_tflops,") &&
                                            !strstr(csv, ",tflops,"));
    while (csv && (n = fx_csv_record(&p, f, 64)) > 0) {
        records++;
        widths_ok &= n == columns;
    }
    test_cond("export csv", rc == 0 && records == points + 1 && widths_ok);
    free(csv);
    rc = fx_sh("'%s' export --db '%s' --run 1 --format json > '%s' 2> '%s'", fx_bin, db, out, err);
    char *json = fx_read(out, NULL);
    test_cond("export json", rc == 0 && json && json_count(json, columns) == points);
    test_cond("json null for NULL", json && strstr(json, "\"reason\": null"));
    free(json);

    metrics_rows(db, out, err, points, columns);
    above_ceiling(db, out, err);
    vendor_speedups(db, out, err);

    /* Bad input: one line on stderr, exit 2, nothing written. */
    char never[512];
    fx_path(never, sizeof never, "never.md");
    struct { const char *what, *cmd, *message; } cases[] = {
        {"missing database", "report --db '%1$s.missing' --out '%2$s'", "no readable database"},
        {"unknown run", "report --db '%1$s' --run 7 --out '%2$s'", "no run 7"},
        {"bad report format", "report --db '%1$s' --format pdf --out '%2$s'", "unknown --format 'pdf'"},
        {"unknown --baseline variant", "report --db '%1$s' --baseline cudnn,nosuch --out '%2$s'",
         "no variant 'nosuch' in run 1"},
        {"empty --baseline name", "report --db '%1$s' --baseline cudnn, --out '%2$s'",
         "empty variant name"},
        {"--baseline variant twice", "report --db '%1$s' --baseline fused,fused --out '%2$s'",
         "named twice"},
        {"figures need html", "report --db '%1$s' --figures x --out '%2$s'", "--figures needs --format html"},
        {"export needs a format", "export --db '%1$s'", "--format csv|json is required"},
        {"bad export format", "export --db '%1$s' --format md", "unknown --format 'md'"},
        {"export unknown run", "export --db '%1$s' --run 9 --format csv", "no run 9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, cases[i].cmd, db, never);
        rc = fx_sh("'%s' %s > '%s' 2> '%s'", fx_bin, cmd, out, err);
        char *msg = fx_read(err, NULL);
        test_cond(cases[i].what, rc == 2 && msg && strstr(msg, cases[i].message) &&
                                     strchr(msg, '\n') == msg + strlen(msg) - 1);
        test_cond("nothing written", fx_size(out) == 0 && fx_size(never) < 0);
        free(msg);
    }
    if (!getenv("ATTN_KEEP")) fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
