/* test_store.c — schema creation, migration of an existing database (a schema-2 fixture made by
 * the previous release, tests/fixtures/schema2.sql, migrates forward without loss), refusal of a
 * newer one, transactional point inserts with their metrics, the summary view, the compute
 * ceiling of a point that computes in another dtype, and a run's state: running, abandoned
 * (a dead or reused pid, a stale heartbeat), complete, and which run a TAG names. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "core/error.h"
#include "fixture.h"
#include "test.h"

static store_point make_point(const char *variant, int baseline, double median)
{
    store_point p = {0};
    p.variant = variant;
    p.is_baseline = baseline;
    p.point = (attn_point){.batch = 1, .heads = 4, .kv_heads = 4, .seq = 128, .head_dim = 64,
                           .dtype = ATTN_BF16};
    p.status = "ok";
    p.exact = 1;
    p.check = p.vs_exact = (store_errors){1e-3, 2e-3, 0.9999};
    p.dense_flops = 1e9;
    p.exec_flops = 1e9;
    p.bytes = NAN;
    p.device_bytes = 1e6;
    p.timing = (attn_timing){3, 3, median, median, median, median, median};
    return p;
}

/* The schema-2 fixture loaded into a new file, then opened (and migrated) by the store. Run from
 * the repository root, as make test and scripts/run-tests.sh do. */
static void schema2_fixture(void)
{
    char path[] = "/tmp/attnbench-test-schema2-XXXXXX";
    char *sql = fx_read("tests/fixtures/schema2.sql", NULL);
    test_cond("schema-2 fixture found", sql != NULL);
    if (!sql) return;
    int fd = mkstemp(path);
    close(fd);
    sqlite3 *raw;
    int loaded = sqlite3_open(path, &raw) == SQLITE_OK &&
                 sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK;
    test_cond("fixture loads at version 2", loaded && fx_db_num(raw, "PRAGMA user_version") == 2);
    sqlite3_close(raw);
    free(sql);
    sqlite3 *db;
    test_cond("schema-2 database opens", store_open(path, &db) == ATTN_OK);
    test_cond("migrated to the current version",
              fx_db_num(db, "PRAGMA user_version") == store_schema_version() && store_schema_version() == 6);
    static const struct { const char *sql; double want; } counts[] = {
        {"SELECT count(*) FROM runs", 1}, {"SELECT count(*) FROM points", 16},
        {"SELECT count(*) FROM samples", 2066}, {"SELECT count(*) FROM kernel_names", 0},
        {"SELECT count(*) FROM kernels", 0}, {"SELECT count(*) FROM ceilings", 0},
        {"SELECT count(*) FROM metrics", 0}, {"SELECT count(*) FROM summary", 16},
        {"SELECT count(*) FROM stages", 0},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "kept: %s = %g", counts[i].sql, counts[i].want);
        test_cond(what, fx_db_num(db, counts[i].sql) == counts[i].want);
    }
    test_cond("kept: a point's error", fx_db_num(db, "SELECT err_rel_l2 FROM points WHERE id = 3") == 0.0016655466083786811537);
    test_cond("kept: a point's median", fx_db_num(db, "SELECT median_ns FROM points WHERE id = 4") == 1473005.0);
    test_cond("kept: a sample", fx_db_num(db, "SELECT count(*) FROM samples WHERE point_id = 1") == 247);
    test_cond("kept: the run's provenance",
              fx_db_num(db, "SELECT status = 'ok' AND backend = 'cpu' AND timing_method = 'cpu_clock'"
                            " AND command LIKE 'attnbench --backend cpu --variants naive,cublas%' FROM runs") == 1);
    test_cond("the new column is NULL (the point's dtype)",
              fx_db_num(db, "SELECT count(*) FROM points WHERE compute_dtype IS NULL") == 16);
    test_cond("schema 4's column is NULL (no cuDNN recorded)",
              fx_db_num(db, "SELECT count(*) FROM runs WHERE cudnn_version IS NULL") == 1);
    test_cond("the summary still computes", fx_db_num(db, "SELECT count(*) FROM summary WHERE tflops > 0"
                                                          " AND speedup_vs_baseline > 0") == 16);
    store_close(db);
    fx_unlink_db(path);
}

/* A point's metrics are stored in its transaction; pct_of_compute_ceiling uses the ceiling of the
 * compute dtype when a point declares one. */
static void metrics_and_compute_dtype(void)
{
    char path[] = "/tmp/attnbench-test-store2-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    sqlite3 *db;
    int64_t run, pid, ns[3] = {1000000, 1000000, 1000000};
    store_run r = {.command = "attnbench run", .backend = "cuda", .git_dirty = -1, .seed = 3,
                   .cudnn_version = "9.19.0"};
    test_cond("second database", store_open(path, &db) == ATTN_OK && store_run_begin(db, &r, &run) == ATTN_OK);
    test_cond("the cuDNN version stored", fx_db_num(db, "SELECT count(*) FROM runs WHERE cudnn_version = '9.19.0'") == 1);
    store_metric m[2] = {{"kept_fraction", 0.25, ""}, {"exact_rmse", NAN, ""}};
    store_point with = make_point("lowrank", 0, 1e6);
    with.metrics = m, with.n_metrics = 2;
    test_cond("point with metrics", store_point_add(db, run, &with, ns, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("its metrics stored with it",
              fx_db_num(db, "SELECT count(*) FROM metrics m JOIN points p ON p.id = m.point_id"
                            " WHERE p.variant = 'lowrank'") == 2 &&
                  fx_db_num(db, "SELECT value FROM metrics WHERE name = 'kept_fraction'") == 0.25);
    test_cond("NaN metric stored as NULL", fx_db_num(db, "SELECT value IS NULL FROM metrics WHERE name = 'exact_rmse'") == 1);
    store_metric dup[1] = {{"dup", 1, ""}};
    store_point bad = make_point("bad", 0, 1e6);
    bad.status = "bogus", bad.metrics = dup, bad.n_metrics = 1;
    test_cond("a point that fails stores no metrics",
              store_point_add(db, run, &bad, ns, NULL, 3, NULL, NULL, 0, &pid) != ATTN_OK &&
                  fx_db_num(db, "SELECT count(*) FROM metrics") == 2);

    store_ceiling_add(db, run, "gemm", "bf16", 800, "TFLOP/s", 3, "x");
    store_ceiling_add(db, run, "gemm", "fp8", 1600, "TFLOP/s", 3, "x");
    store_point q = make_point("quant", 0, 1e6);
    q.compute_dtype = "fp8";
    test_cond("point with a compute dtype", store_point_add(db, run, &q, ns, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("compute dtype stored", fx_db_num(db, "SELECT count(*) FROM points WHERE compute_dtype = 'fp8'") == 1);
    /* 1e9 FLOP in 1e6 ns = 1 TFLOP/s: of the fp8 ceiling for it, of bf16's for the other. */
    test_cond("its % of the compute dtype's ceiling",
              fabs(fx_db_num(db, "SELECT pct_of_compute_ceiling FROM summary WHERE variant = 'quant'") - 100.0 / 1600) < 1e-12);
    test_cond("the other's % of its dtype's ceiling",
              fabs(fx_db_num(db, "SELECT pct_of_compute_ceiling FROM summary WHERE variant = 'lowrank'") - 100.0 / 800) < 1e-12);
    store_close(db);
    fx_unlink_db(path);
}

/* The pid of a process that has exited (a child, reaped). */
static int64_t dead_pid(void)
{
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    return child;
}

/* A run's liveness: its own process alive, a dead pid, a reused pid (a process started after the
 * run), another namespace by the heartbeat's age; writers mark the dead ones; a TAG names the
 * newest complete run and says what it passed over; an older schema reads the stored status. */
static void run_state(void)
{
    char path[] = "/tmp/attnbench-test-state-XXXXXX", sql[256], status[16];
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    sqlite3 *db;
    int64_t id[6];
    store_run r = {.command = "attnbench run", .backend = "cpu", .git_dirty = -1, .tag = "t"};
    int ok = store_open(path, &db) == ATTN_OK;
    for (int i = 0; ok && i < 6; i++) ok = store_run_begin(db, &r, &id[i]) == ATTN_OK;
    test_cond("six runs begin", ok);
    if (!ok) return;
    test_cond("a run records its pid, namespace and a first heartbeat",
              fx_db_num(db, "SELECT count(*) FROM runs WHERE pid > 0 AND pid_ns LIKE '%:%'"
                            " AND heartbeat_at = started_at") == 6);
    store_run_end(db, id[0], "ok", NULL);
    store_run_end(db, id[1], "failed", "1 point(s) failed or errored");
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %lld WHERE id = 3", (long long)dead_pid());
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_exec(db, "UPDATE runs SET started_at = '2001-01-01T00:00:00.000Z' WHERE id = 4;"
                     "UPDATE runs SET pid_ns = 'another:1' WHERE id IN (5, 6);"
                     "UPDATE runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',"
                     " '-2 hours') WHERE id = 6", NULL, NULL, NULL);
    static const char *const want[] = {"ok", "failed", "abandoned", "abandoned", "running",
                                       "abandoned"};
    static const char *const what[] = {"ok stays ok", "failed stays failed",
                                       "a dead pid: abandoned", "a reused pid: abandoned",
                                       "another namespace, fresh heartbeat: running",
                                       "another namespace, old heartbeat: abandoned"};
    for (int i = 0; i < 6; i++)
        test_cond(what[i], store_run_status(db, id[i], status, sizeof status) == ATTN_OK &&
                               strcmp(status, want[i]) == 0);
    test_cond("the same in SQL", fx_db_num(db, "SELECT count(*) FROM runs"
                                               " WHERE attn_run_status(id) = 'abandoned'") == 3);
    test_cond("no such run: \"\"", store_run_status(db, 99, status, sizeof status) == ATTN_OK && !status[0]);

    store_run_choice c;
    store_run_filter f = {"t", 0, 1, NULL, 0};
    char text[256];
    test_cond("a TAG names the newest complete run", store_find_run(db, &f, &c) == ATTN_OK &&
                                                        c.id == 2 && c.passed_over == 4 &&
                                                        c.newest_passed == 6);
    store_run_choice_text(&c, text, sizeof text);
    test_cond("and says what it passed over",
              strcmp(text, "run 2 (failed); passed over 4 newer incomplete runs, the newest run 6 "
                           "(abandoned)") == 0);
    f.incomplete = 1;
    test_cond("or the newest of any status", store_find_run(db, &f, &c) == ATTN_OK && c.id == 6 &&
                                                 !c.passed_over);
    f = (store_run_filter){"t", 2, 1, NULL, 0};
    test_cond("excluding a run", store_find_run(db, &f, &c) == ATTN_OK && c.id == 1);
    f = (store_run_filter){"other", 0, 1, NULL, 0};
    test_cond("no run with that tag", store_find_run(db, &f, &c) == ATTN_OK && c.id == 0);
    f = (store_run_filter){NULL, 0, 0, "H200", 0};
    test_cond("none on that GPU", store_find_run(db, &f, &c) == ATTN_OK && c.id == 0);

    int marked = 0;
    test_cond("a writer marks the dead runs abandoned",
              store_mark_abandoned(db, &marked) == ATTN_OK && marked == 3 &&
                  fx_db_num(db, "SELECT count(*) FROM runs WHERE status = 'abandoned'"
                                " AND ended_at IS NOT NULL AND reason LIKE 'its process is gone%'") == 3);
    test_cond("the live one is left running", fx_db_num(db, "SELECT status = 'running' FROM runs WHERE id = 5") == 1);
    store_point p = make_point("naive", 0, 1e6);
    int64_t ns[3] = {1000000, 1000000, 1000000}, point;
    test_cond("a point stored by a run marked abandoned by mistake sets it running again",
              store_point_add(db, id[5], &p, ns, NULL, 3, NULL, NULL, 0, &point) == ATTN_OK &&
                  fx_db_num(db, "SELECT status = 'running' AND ended_at IS NULL AND reason IS NULL"
                                " AND heartbeat_at > started_at FROM runs WHERE id = 6") == 1);
    store_close(db);
    fx_unlink_db(path);
}

/* The schema-2 fixture read without migrating it (as a read-only reader does): the stored status. */
static void run_state_old_schema(void)
{
    char *sql = fx_read("tests/fixtures/schema2.sql", NULL), status[16] = "";
    sqlite3 *raw;
    int ok = sql && sqlite3_open(":memory:", &raw) == SQLITE_OK &&
             sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK;
    test_cond("an older schema: the stored status",
              ok && store_run_status(raw, 1, status, sizeof status) == ATTN_OK &&
                  strcmp(status, "ok") == 0);
    if (ok) sqlite3_close(raw);
    free(sql);
}

int main(void)
{
    schema2_fixture();
    metrics_and_compute_dtype();
    run_state();
    run_state_old_schema();
    char path[] = "/tmp/attnbench-test-store-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);

    sqlite3 *db;
    test_cond("fresh database opens", store_open(path, &db) == ATTN_OK);
    test_cond("fresh database at current version",
              fx_db_num(db, "PRAGMA user_version") == store_schema_version());
    test_cond("WAL journal", fx_db_num(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode") == 1);
    store_run r = {.command = "attnbench run", .backend = "cpu", .git_dirty = -1, .seed = 3};
    int64_t run;
    test_cond("run begins", store_run_begin(db, &r, &run) == ATTN_OK && run == 1);
    store_point base = make_point("cublas", 1, 2e6), fast = make_point("fused", 0, 1e6);
    int64_t ns[3] = {2000000, 2000000, 2000000}, pid;
    test_cond("point with samples", store_point_add(db, run, &base, ns, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
    int64_t ns2[3] = {1000000, 1000000, 1000000};
    test_cond("second point", store_point_add(db, run, &fast, ns2, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("samples stored", fx_db_num(db, "SELECT count(*) FROM samples") == 6);
    test_cond("speedup vs baseline",
              fabs(fx_db_num(db, "SELECT speedup_vs_baseline FROM summary WHERE variant = 'fused'") - 2) < 1e-12);
    test_cond("tflops = flops / median",
              fabs(fx_db_num(db, "SELECT tflops FROM summary WHERE variant = 'fused'") - 1e9 / 1e6 / 1e3) < 1e-12);
    test_cond("NaN stored as NULL", fx_db_num(db, "SELECT bytes IS NULL FROM points LIMIT 1") == 1);
    store_point failed = make_point("naive", 0, NAN);
    failed.status = "failed";
    failed.reason = "3 of 8192 elements outside tolerance";
    failed.timing = (attn_timing){0, 0, NAN, NAN, NAN, NAN, NAN};
    test_cond("failed point", store_point_add(db, run, &failed, NULL, NULL, 0, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("failed point has no speed",
              fx_db_num(db, "SELECT tflops IS NULL AND median_ms IS NULL FROM summary WHERE variant = 'naive'") == 1);
    store_point bad = make_point("x", 0, 1);
    bad.status = "bogus"; /* the CHECK constraint rejects it, and the transaction rolls back */
    test_cond("bad status rejected", store_point_add(db, run, &bad, ns, NULL, 3, NULL, NULL, 0, &pid) != ATTN_OK);
    test_cond("rollback left no samples", fx_db_num(db, "SELECT count(*) FROM samples") == 6);
    test_cond("run ends", store_run_end(db, run, "ok", NULL) == ATTN_OK);
    int64_t latest;
    test_cond("latest run", store_latest_run(db, &latest) == ATTN_OK && latest == run);
    FILE *devnull = fopen("/dev/null", "w");
    int rows;
    test_cond("print table", store_print_table(db, "SELECT * FROM summary WHERE run_id = ?1", 1, run, devnull, &rows) == ATTN_OK && rows == 3);
    fclose(devnull);
    store_close(db);

    test_cond("existing database reopens", store_open(path, &db) == ATTN_OK);
    test_cond("data kept", fx_db_num(db, "SELECT count(*) FROM points") == 3);
    /* An older database (version 0 with no tables) is migrated; a newer one is refused. */
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    store_close(db);
    test_cond("newer database refused", store_open(path, &db) != ATTN_OK &&
                                            strstr(attn_last_error.msg, "newer") != NULL);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path), unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path), unlink(wal);
    test_cond("missing directory fails", store_open("/nonexistent-dir/x.db", &db) != ATTN_OK);
    return test_report();
}
