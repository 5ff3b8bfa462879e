/* test_store.c — schema creation, migration of an existing database, refusal of a newer one,
 * transactional point inserts and the summary view. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
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
    test_cond("point with samples", store_point_add_full(db, run, &base, ns, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
    int64_t ns2[3] = {1000000, 1000000, 1000000};
    test_cond("second point", store_point_add_full(db, run, &fast, ns2, NULL, 3, NULL, NULL, 0, &pid) == ATTN_OK);
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
    test_cond("failed point", store_point_add_full(db, run, &failed, NULL, NULL, 0, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("failed point has no speed",
              fx_db_num(db, "SELECT tflops IS NULL AND median_ms IS NULL FROM summary WHERE variant = 'naive'") == 1);
    store_point bad = make_point("x", 0, 1);
    bad.status = "bogus"; /* the CHECK constraint rejects it, and the transaction rolls back */
    test_cond("bad status rejected", store_point_add_full(db, run, &bad, ns, NULL, 3, NULL, NULL, 0, &pid) != ATTN_OK);
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
