/* test_show.c — `attnbench show` on a CPU-backend run: provenance and one summary row per point,
 * a hint when the run has metrics rows, --metrics listing them (one row per point and name, names
 * not known to the code), and bad input exiting 2 with one line. The table: a long reason shown
 * whole, a newline in a tag escaped (every row stays one line), the effective and executed
 * TFLOP/s side by side, an executed rate above the measured compute ceiling flagged with a note.
 * ATTN_KEEP=1 keeps the scratch directory. */
#include "fixture.h"
#include "test.h"

/* Occurrences of needle in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++) n++;
    return n;
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    char db[512], out[512], err[512];
    fx_path(db, sizeof db, "s.db");
    fx_path(out, sizeof out, "out.txt");
    fx_path(err, sizeof err, "err.txt");
    test_cond("CPU run", fx_cpu_run(db, "show") == 0);

    int rc = fx_sh("'%s' show --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    char *text = fx_text(out);
    test_cond("show exits 0", rc == 0 && fx_size(err) == 0);
    test_cond("provenance row", strstr(text, "tag") && strstr(text, " show "));
    test_cond("a summary row per point", count(text, "  bf16  ") == 18);
    test_cond("no metrics: no hint", !strstr(text, "metrics rows"));
    test_cond("commit header", strstr(text, "  commit  ") && !strstr(text, "commit_"));
    test_cond("both rates named", strstr(text, "effective TFLOP/s  executed TFLOP/s  % of ceiling"));
    test_cond("no ceiling on the CPU: no flag", !strstr(text, " !"));
    free(text);

    /* A long reason, a tag with a newline, a compute ceiling some points run above. */
    static const char long_reason[] =
        "3 of 4096 checked elements outside tolerance; first at (b=0, h=1, row=17, col=5): "
        "0.25 vs 0.5, tolerance 0.031";
    char sql[1024];
    snprintf(sql, sizeof sql, "UPDATE points SET status = 'failed', reason = '%s' WHERE id = 2;"
             "UPDATE runs SET tag = 'two' || char(10) || 'lines';"
             "INSERT INTO ceilings (run_id, name, dtype, value, unit) VALUES (1, 'gemm', 'bf16',"
             " (SELECT exec_flops / median_ns / 1e3 FROM points WHERE id = 1) * 1.1, 'TFLOP/s')",
             long_reason);
    test_cond("reason, tag and ceiling set", fx_exec(db, sql) == 0);
    rc = fx_sh("'%s' show --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    text = fx_text(out);
    test_cond("show exits 0", rc == 0);
    test_cond("the reason whole", strstr(text, long_reason) != NULL);
    test_cond("the newline in the tag escaped", strstr(text, "two\\nlines") != NULL);
    test_cond("one line per row: 2 + 1 + 19, and the note", count(text, "\n") == 2 + 1 + 19 + 2);
    test_cond("% of the ceiling", strstr(text, "91%") != NULL);
    int flagged = (int)fx_num(db, "SELECT count(*) FROM summary WHERE pct_of_compute_ceiling > 100");
    test_cond("above the ceiling: flagged", flagged > 0 && count(text, "% !") == flagged);
    char note[128];
    snprintf(note, sizeof note, "! %d points executed above the measured compute ceiling", flagged);
    test_cond("... with a note", strstr(text, note) != NULL);
    free(text);

    test_cond("metrics rows inserted", fx_exec(db,
        "INSERT INTO metrics (point_id, name, value, unit) SELECT id, 'kept_fraction', 0.75,"
        " 'fraction' FROM points WHERE run_id = 1 AND seq = 128;"
        "INSERT INTO metrics (point_id, name, value, unit) SELECT id, 'cosine to exact', 0.999,"
        " NULL FROM points WHERE run_id = 1 AND seq = 128") == 0);
    rc = fx_sh("'%s' show --db '%s' > '%s' 2> '%s'", fx_bin, db, out, err);
    text = fx_text(out);
    test_cond("hint at the metrics rows", rc == 0 && strstr(text, "12 metrics rows (attnbench show --metrics)"));
    free(text);
    rc = fx_sh("'%s' show --db '%s' --run 1 --metrics > '%s' 2> '%s'", fx_bin, db, out, err);
    text = fx_text(out);
    test_cond("show --metrics exits 0", rc == 0);
    test_cond("a row per point and name", count(text, "kept_fraction") == 6 &&
                                               count(text, "cosine to exact") == 6);
    test_cond("value and unit", strstr(text, "kept_fraction     0.75  fraction") != NULL);
    free(text);

    rc = fx_sh("'%s' show --help > '%s' 2> '%s'", fx_bin, out, err);
    text = fx_text(out);
    test_cond("--help exits 0 naming --metrics", rc == 0 && strstr(text, "--metrics"));
    free(text);
    struct { const char *what, *args, *message; } cases[] = {
        {"unknown run", "--db '%s' --run 9", "no run 9"},
        {"bad run", "--db '%s' --run x", "bad value 'x' for --run N"},
        {"unknown option", "--db '%s' --frobnicate", "unknown option '--frobnicate'"},
        {"missing database", "--db '%s.missing'", "no readable database"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, cases[i].args, db);
        rc = fx_sh("'%s' show %s > '%s' 2> '%s'", fx_bin, args, out, err);
        char *msg = fx_text(err);
        test_cond(cases[i].what, rc == 2 && strstr(msg, cases[i].message) &&
                                     strchr(msg, '\n') == msg + strlen(msg) - 1 && fx_size(out) == 0);
        free(msg);
    }
    if (!getenv("ATTN_KEEP")) fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
