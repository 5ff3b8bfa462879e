/* show.c — `attnbench show` (a run's summary as a table). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "commands.h"
#include "core/error.h"
#include "store/store.h"

int cmd_open_db(const char *cmd, const char *path, sqlite3 **db)
{
    if (access(path, R_OK) != 0) return cli_error(cmd, "no readable database at '%s'", path);
    if (store_open(path, db) != ATTN_OK) return cli_error(cmd, "%s", attn_last_error.msg);
    return 0;
}

static const char show_usage[] =
    "usage: attnbench show [--db PATH] [--run N]\n"
    "Prints a run's provenance and its summary: one row per point (median and 95% CI of the\n"
    "median in ms, dense-equivalent TFLOP/s, speedup over the baseline variant at the same shape,\n"
    "relative L2 error of the checked rows, and why a point is not ok).\n"
    "  --db PATH   database (default results/attnbench.db)\n"
    "  --run N     run id (default: the newest)\n";

int cmd_show(int argc, char **argv)
{
    const char *path = "results/attnbench.db";
    long long run = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(show_usage, stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "--db", &v)) {
            if (!v) return cli_error("show", "--db needs a path");
            path = v;
        } else if (cli_opt(argc, argv, &i, "--run", &v)) {
            int x[1];
            if (cli_int_list(v, 1, x, 1) != 1) return cli_error("show", "bad --run value '%s'", v ? v : "");
            run = x[0];
        } else {
            return cli_error("show", "unknown option '%s' (attnbench show --help)", argv[i]);
        }
    }
    sqlite3 *db;
    int rc = cmd_open_db("show", path, &db);
    if (rc) return rc;
    int64_t id = run;
    if (!id && store_latest_run(db, &id) != ATTN_OK) {
        fprintf(stderr, "attnbench show: %s\n", attn_last_error.msg);
        store_close(db);
        return 1;
    }
    int rows = 0;
    rc = store_print_table(db,
        "SELECT id AS run, started_at, status, backend, coalesce(gpu_name, '-') AS gpu,"
        " coalesce(tag, '-') AS tag, coalesce(substr(git_commit, 1, 10) ||"
        " CASE git_dirty WHEN 1 THEN '+dirty' ELSE '' END, '-') AS commit_, reason"
        " FROM runs WHERE id = ?1", 1, id, stdout, &rows);
    if (rc == ATTN_OK && rows == 0) {
        store_close(db);
        return id ? cli_error("show", "no run %lld in '%s'", (long long)id, path)
                  : cli_error("show", "no runs in '%s'", path);
    }
    if (rc == ATTN_OK) {
        putchar('\n');
        rc = store_print_table(db,
            "SELECT variant, dtype, batch AS B, heads AS H, kv_heads AS Hkv, seq AS S,"
            " head_dim AS D, causal, params, status, samples, median_ms, ci_low_ms, ci_high_ms,"
            " tflops, speedup_vs_baseline AS speedup, err_rel_l2, coalesce(reason, '') AS reason"
            " FROM summary WHERE run_id = ?1 ORDER BY point_id", 1, id, stdout, &rows);
    }
    if (rc != ATTN_OK) fprintf(stderr, "attnbench show: %s\n", attn_last_error.msg);
    store_close(db);
    return rc == ATTN_OK ? 0 : 1;
}
