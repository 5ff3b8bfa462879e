/* test_show.c — `attnbench show` on a CPU-backend run: provenance and one summary row per point,
 * a hint when the run has metrics rows, --metrics listing them (one row per point and name, names
 * not known to the code), and bad input exiting 2 with one line. ATTN_KEEP=1 keeps the scratch
 * directory. */
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
    test_cond("value and unit", strstr(text, "kept_fraction   0.75  fraction") != NULL);
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
