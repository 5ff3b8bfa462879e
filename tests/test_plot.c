/* test_plot.c — `attnbench plot` on fixture databases (CPU-backend runs plus synthetic points): every
 * figure renders (gnuplot exit 0, non-empty PNG and SVG of plausible size), failed and throttled
 * points never reach the speed figures' data, figures that do not apply are skipped with a note
 * (history_at_seq for a single run), a figure's key lists only what it draws (no ceiling entry
 * without a ceiling), executed rates above the ceiling are marked, the accuracy figure labels the
 * approximate points with S and sizes every marker by S, and bad input exits 2 writing nothing.
 * Requires gnuplot (CI installs gnuplot-nox). */
#include "fixture.h"
#include "test.h"

static const char *const figure_names[] = {"latency_vs_seq", "tflops_vs_seq", "speedup_vs_baseline",
                                           "memory_vs_seq", "accuracy_vs_speedup", "stages_at_seq",
                                           "history_at_seq"};
enum { N_FIG = sizeof figure_names / sizeof figure_names[0] };

/* CPU runs have no kernel records: a stand-in stages view with three kernels per ok point. */
static const char fake_stages[] =
    "DROP VIEW IF EXISTS stages;"
    "CREATE VIEW stages AS SELECT p.id AS point_id, k.kernel, 1 AS launches,"
    " p.median_ns * k.share AS median_ns, k.share FROM points p,"
    " (SELECT 'gemm_qk(float const*, float*)' AS kernel, 0.45 AS share UNION ALL"
    "  SELECT 'softmax_rows', 0.2 UNION ALL SELECT 'gemm_pv', 0.35) k"
    " WHERE p.status = 'ok' AND p.median_ns > 0;";

/* Every y (column 4) of rows whose S (column 3) is `seq` in a figure's CSV is NaN; the count of such
 * rows in *rows. */
static int all_nan_at(const char *csv_path, int seq, int *rows)
{
    char *text = fx_read(csv_path, NULL), *p = text, *f[16];
    int ok = text != NULL, n;
    *rows = 0;
    while (text && (n = fx_csv_record(&p, f, 16)) > 0)
        if (n >= 4 && atoi(f[2]) == seq) {
            (*rows)++;
            ok &= strcmp(f[3], "NaN") == 0;
        }
    free(text);
    return ok;
}

/* Data rows of a CSV (header excluded) with a non-NaN y. */
static int valid_rows(const char *csv_path)
{
    char *text = fx_read(csv_path, NULL), *p = text, *f[16];
    int n, rows = 0, line = 0;
    while (text && (n = fx_csv_record(&p, f, 16)) > 0)
        if (line++ && n >= 4 && strcmp(f[3], "NaN") != 0) rows++;
    free(text);
    return rows;
}

/* stages_at_seq.csv: shares stacked to 100 % per bar (each bar's top segment ends at 100), a span in
 * ms on every row, kernel names re-shortened from the full name, commas kept out of the CSV. */
static void stage_checks(const char *csv_path)
{
    char *text = fx_read(csv_path, NULL), *p = text, *f[16];
    int n, line = 0, tops = 0, tops_ok = 1, spans_ok = 1, renamed = 0, old_name = 0;
    test_cond("stages CSV header", text && strncmp(text, "panel,kernel,x,ylow,y,colour,top,span_ms", 40) == 0);
    while (text && (n = fx_csv_record(&p, f, 16)) > 0) {
        if (!line++ || n < 8) continue;
        if (atoi(f[6]) == 1) {
            tops++;
            tops_ok &= fabs(atof(f[4]) - 100) < 1;
        }
        spans_ok &= atof(f[7]) > 0;
        renamed += strcmp(f[1], "pv_gemm<fp16;64>") == 0;
        old_name += strcmp(f[1], "gemm_pv") == 0;
    }
    free(text);
    test_cond("every bar stacks to 100 %", tops > 0 && tops_ok);
    test_cond("span (ms) on every segment", spans_ok);
    test_cond("kernel re-shortened from its full name", renamed > 0 && old_name == 0);
}

/* accuracy_vs_speedup.csv: every approximate point labelled with its S, exact ones not; marker
 * sizes from 0.7 (shortest S) to 2.1 (longest). */
static void accuracy_checks(const char *csv_path)
{
    char *text = fx_read(csv_path, NULL), *p = text, *f[16];
    int n, line = 0, labels_ok = 1, labelled = 0;
    double smallest = 9, largest = 0;
    test_cond("accuracy CSV header", text && strncmp(text, "panel,series,x,y,label,size", 27) == 0);
    while (text && (n = fx_csv_record(&p, f, 16)) > 0) {
        if (!line++ || n < 6) continue;
        int approx = strncmp(f[1], "lowrank", 7) == 0;
        labels_ok &= approx ? atoi(f[4]) >= 64 : *f[4] == 0;
        labelled += approx;
        smallest = fmin(smallest, atof(f[5]));
        largest = fmax(largest, atof(f[5]));
    }
    free(text);
    test_cond("approximate points labelled with S, exact ones not", labels_ok && labelled >= 6);
    test_cond("marker size grows with S", fabs(smallest - 0.7) < 1e-9 && fabs(largest - 2.1) < 1e-9);
}

/* The PNG's canvas is sized from its panels (DATA's distinct column 1): two per row (one panel: one
 * column, no empty second row), plus the title and key strips. */
static void canvas_check(const char *base)
{
    char path[1100];
    snprintf(path, sizeof path, "%s.csv", base);
    char *text = fx_read(path, NULL), *p = text, *f[16], panels[8][64];
    int n, line = 0, np = 0;
    while (text && (n = fx_csv_record(&p, f, 16)) > 0) {
        if (!line++ || n < 1) continue;
        int seen = 0;
        for (int i = 0; i < np; i++) seen |= strcmp(panels[i], f[0]) == 0;
        if (!seen && np < 8) snprintf(panels[np++], sizeof panels[0], "%s", f[0]);
    }
    free(text);
    snprintf(path, sizeof path, "%s.png", base);
    long len = 0;
    unsigned char *png = (unsigned char *)fx_read(path, &len);
    if (!png || len < 24 || np == 0) {
        test_cond("PNG readable", 0);
        free(png);
        return;
    }
    long h = (long)png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
    free(png);
    int rows = np > 1 ? (np + 1) / 2 : 1;
    printf("  %s: %d panels, height %ld\n", base, np, h);
    test_cond("canvas height from the panel rows", h >= 400L * rows && h <= 480L * rows + 260);
}

/* A measured compute ceiling (the summary gains pct_of_compute_ceiling) becomes a line, in the key
 * only then; executed rates above it are marked. On a copy of the database at db. */
static void ceiling_checks(const char *db)
{
    char out[512], path[1024];
    int rc;
    char ceil_db[512];
    fx_path(ceil_db, sizeof ceil_db, "ceiling.db");
    char sql[1024];
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", ceil_db);
    test_cond("copy", fx_exec(db, sql) == 0);
    test_cond("summary with a ceiling",
              fx_exec(ceil_db, "DROP VIEW summary; CREATE VIEW summary AS SELECT id AS point_id,"
                               " run_id, CASE WHEN status = 'ok' THEN 50.0 END AS"
                               " pct_of_compute_ceiling FROM points") == 0);
    fx_path(out, sizeof out, "ceiling");
    rc = fx_sh("'%s' plot --db '%s' --out '%s' > /dev/null 2>&1", fx_bin, ceil_db, out);
    test_cond("plot with a ceiling exits 0", rc == 0);
    snprintf(path, sizeof path, "%s/tflops_vs_seq.csv", out);
    char *text = fx_read(path, NULL), *p = text, *f[16];
    int n, line = 0, ceiling_rows = 0;
    while (text && (n = fx_csv_record(&p, f, 16)) > 0)
        if (line++ && n >= 5 && strcmp(f[4], "NaN") != 0 && atof(f[4]) > 0) ceiling_rows++;
    free(text);
    test_cond("ceiling column filled", ceiling_rows > 0);
    snprintf(path, sizeof path, "%s/tflops_vs_seq.svg", out);
    char *svg = fx_read(path, NULL);
    test_cond("the ceiling in the key, no mark", svg && strstr(svg, "measured compute ceiling") &&
                                                     !strstr(svg, "above the ceiling"));
    free(svg);

    /* Points at S = 128 run at 150 % of it: marked, and the key says what the mark means. */
    test_cond("summary above the ceiling",
              fx_exec(ceil_db, "DROP VIEW summary; CREATE VIEW summary AS SELECT id AS point_id,"
                               " run_id, CASE WHEN status = 'ok' THEN CASE seq WHEN 128 THEN 150.0"
                               " ELSE 50.0 END END AS pct_of_compute_ceiling FROM points") == 0);
    rc = fx_sh("'%s' plot --db '%s' --out '%s' > /dev/null 2>&1", fx_bin, ceil_db, out);
    snprintf(path, sizeof path, "%s/tflops_vs_seq.csv", out);
    text = fx_read(path, NULL), p = text, line = 0;
    int marked = 0, marks_ok = 1;
    while (text && (n = fx_csv_record(&p, f, 16)) > 0)
        if (line++ && n >= 6 && strcmp(f[5], "1") == 0) {
            marked++;
            marks_ok &= atoi(f[2]) == 128;
        }
    free(text);
    test_cond("points above the ceiling marked, only they", rc == 0 && marked > 0 && marks_ok);
    snprintf(path, sizeof path, "%s/tflops_vs_seq.svg", out);
    svg = fx_read(path, NULL);
    test_cond("... and the mark in the key", svg && strstr(svg, "above the ceiling"));
    free(svg);
}

static void test_all_figures(void)
{
    char db[512], out[512], path[1024];
    fx_path(db, sizeof db, "full.db");
    fx_path(out, sizeof out, "full");
    test_cond("CPU run 1", fx_cpu_run(db, "nightly") == 0);
    test_cond("CPU run 2", fx_cpu_run(db, "nightly") == 0);
    /* Run 2 gains: a failed and a fully throttled point at S = 512 (absent from speeds); an
     * approximate variant with errors and device memory. */
    fx_point failed = {"naive", 1, 512, 0, "failed", "max abs error 3.1 > 0.02", 1000, 1 << 20, 0.5};
    fx_point throttled = {"cublas", 1, 512, 0, "ok", NULL, 0, 1 << 20, 1e-3};
    test_cond("failed point stored", fx_add(db, 2, &failed) == 0);
    test_cond("throttled point stored", fx_add(db, 2, &throttled) == 0);
    for (int s = 64; s <= 256; s *= 2)
        for (int causal = 0; causal < 2; causal++) {
            fx_point approx = {"lowrank", 0, s, causal, "ok", NULL, 2e4 * s / 64,
                               3.0 * s * 64 * 4 * 2, 0.02 + 0.01 * s / 64};
            test_cond("approximate point stored", fx_add(db, 2, &approx) == 0);
        }
    test_cond("stages view", fx_exec(db, fake_stages) == 0);
    /* The stored short name of one kernel is an old one: the figure shortens the full name again. */
    test_cond("kernel name", fx_exec(db, "INSERT INTO kernel_names (name, short_name) VALUES"
                                         " ('_ZN12_GLOBAL__N_17pv_gemmI6__halfLi64EEEvv', 'gemm_pv')") == 0);

    fx_path(path, sizeof path, "full.out");
    int rc = fx_sh("'%s' plot --db '%s' --out '%s' > '%s' 2>&1", fx_bin, db, out, path);
    test_cond("plot exits 0", rc == 0);
    if (rc != 0) fx_sh("cat '%s'", path);
    for (int i = 0; i < N_FIG; i++) {
        char png[1024], svg[1024];
        snprintf(png, sizeof png, "%s/%s.png", out, figure_names[i]);
        snprintf(svg, sizeof svg, "%s/%s.svg", out, figure_names[i]);
        long np = fx_size(png), ns = fx_size(svg);
        printf("  %-20s png %7ld bytes, svg %7ld bytes\n", figure_names[i], np, ns);
        test_cond(figure_names[i], np > 15000 && np < 5000000 && ns > 15000 && ns < 5000000);
        char *head = fx_read(png, NULL);
        test_cond("PNG signature", head && memcmp(head, "\x89PNG", 4) == 0);
        free(head);
        head = fx_read(svg, NULL);
        test_cond("SVG root", head && strstr(head, "<svg") && strstr(head, "</svg>"));
        free(head);
    }

    /* Failed and throttled points leave gaps (NaN rows), never speeds. */
    const char *speed[] = {"latency_vs_seq", "tflops_vs_seq", "speedup_vs_baseline"};
    for (int i = 0; i < 3; i++) {
        int rows;
        snprintf(path, sizeof path, "%s/%s.csv", out, speed[i]);
        int ok = all_nan_at(path, 512, &rows);
        test_cond("failed/throttled point absent from speed data", ok && rows > 0);
        test_cond("speed data present", valid_rows(path) >= 6);
    }
    snprintf(path, sizeof path, "%s/latency_vs_seq.csv", out);
    char *csv = fx_read(path, NULL);
    test_cond("latency CSV has a header", csv && strncmp(csv, "panel,series,S,y", 16) == 0);
    test_cond("every variant is a series", csv && strstr(csv, ",naive,") && strstr(csv, ",cublas,") &&
                                               strstr(csv, ",lowrank,"));
    free(csv);
    snprintf(path, sizeof path, "%s/speedup_vs_baseline.csv", out);
    csv = fx_read(path, NULL);
    test_cond("baseline is the 1.0 line, not a series", csv && !strstr(csv, ",cublas,"));
    free(csv);
    snprintf(path, sizeof path, "%s/history_at_seq.csv", out);
    csv = fx_read(path, NULL);
    test_cond("history spans both runs", csv && strstr(csv, ",1,") && strstr(csv, ",2,"));
    free(csv);
    snprintf(path, sizeof path, "%s/stages_at_seq.csv", out);
    test_cond("stage segments", valid_rows(path) >= 6);
    stage_checks(path);
    for (int i = 0; i < N_FIG; i++) {
        snprintf(path, sizeof path, "%s/%s", out, figure_names[i]);
        canvas_check(path);
    }
    snprintf(path, sizeof path, "%s/accuracy_vs_speedup.csv", out);
    test_cond("accuracy points", valid_rows(path) >= 6);
    accuracy_checks(path);
    snprintf(path, sizeof path, "%s/tflops_vs_seq.svg", out);
    char *svg = fx_read(path, NULL);
    test_cond("no ceiling: no ceiling in the key", svg && !strstr(svg, "ceiling"));
    free(svg);

    /* --baseline picks another variant; --run an older run (no approximate variant: skipped). */
    fx_path(path, sizeof path, "naive.out");
    fx_path(out, sizeof out, "naive");
    rc = fx_sh("'%s' plot --db '%s' --run 1 --baseline naive --seq 128 --out '%s' > '%s' 2>&1",
               fx_bin, db, out, path);
    test_cond("plot --run 1 --baseline naive exits 0", rc == 0);
    char *notes = fx_read(path, NULL);
    test_cond("no approximate variant: figure skipped with a note",
              notes && strstr(notes, "skipped accuracy_vs_speedup: the run has no approximate variant"));
    free(notes);
    snprintf(path, sizeof path, "%s/accuracy_vs_speedup.png", out);
    test_cond("skipped figure not drawn", fx_size(path) < 0);
    snprintf(path, sizeof path, "%s/speedup_vs_baseline.csv", out);
    csv = fx_read(path, NULL);
    test_cond("speedup over naive", csv && strstr(csv, ",cublas,") && !strstr(csv, ",naive,"));
    free(csv);

    ceiling_checks(db);
}

static void test_skips_and_bad_input(void)
{
    char db[512], out[512], path[1024];
    fx_path(db, sizeof db, "plain.db");
    fx_path(out, sizeof out, "plain");
    fx_path(path, sizeof path, "plain.out");
    test_cond("CPU run", fx_cpu_run(db, NULL) == 0);
    int rc = fx_sh("'%s' plot --db '%s' --out '%s' > '%s' 2>&1", fx_bin, db, out, path);
    test_cond("plot exits 0", rc == 0);
    char *notes = fx_read(path, NULL);
    test_cond("no kernel records: one-line note", notes && strstr(notes, "skipped stages_at_seq: the run has no per-kernel records"));
    test_cond("CPU backend: no memory figure", notes && strstr(notes, "skipped memory_vs_seq"));
    test_cond("one run: no history figure",
              notes && strstr(notes, "skipped history_at_seq: no earlier run with this run's tag"));
    free(notes);

    char bad[512];
    fx_path(bad, sizeof bad, "bad-out");
    struct { const char *what, *args, *message; } cases[] = {
        {"missing database", "--db /nonexistent/x.db", "no readable database"},
        {"unknown run", "--db '%s' --run 99", "no run 99"},
        {"unknown tag", "--db '%s' --tag nope", "no run tagged 'nope'"},
        {"unknown baseline", "--db '%s' --baseline nosuch", "no variant 'nosuch'"},
        {"S not in run", "--db '%s' --seq 100", "no points at S = 100"},
        {"bad option", "--db '%s' --frobnicate", "unknown option"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, cases[i].args, db);
        rc = fx_sh("'%s' plot %s --out '%s' > '%s' 2>&1", fx_bin, args, bad, path);
        char *msg = fx_read(path, NULL);
        test_cond(cases[i].what, rc == 2 && msg && strstr(msg, cases[i].message) &&
                                     strchr(msg, '\n') == msg + strlen(msg) - 1);
        free(msg);
        test_cond("nothing written", fx_size(bad) < 0);
    }
    rc = fx_sh("PATH=/nonexistent '%s' plot --db '%s' --out '%s' > '%s' 2>&1", fx_bin, db, bad, path);
    char *msg = fx_read(path, NULL);
    test_cond("gnuplot missing: exit 2 naming gnuplot-nox", rc == 2 && msg && strstr(msg, "gnuplot-nox"));
    free(msg);
    test_cond("nothing written", fx_size(bad) < 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    /* gnuplot is a hard requirement of the tests (make test installs it or stops first). */
    int have_gnuplot = fx_have_gnuplot();
    test_cond(FX_NEEDS_GNUPLOT, have_gnuplot);
    if (have_gnuplot) {
        test_all_figures();
        test_skips_and_bad_input();
    }
    if (!getenv("ATTN_KEEP")) fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
