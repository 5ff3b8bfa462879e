/* test_shard.c — `run --shard i/n` and `attnbench merge` (issue 17), through the built binary on
 * the CPU backend: the shards of a sweep are disjoint and cover it; shards 0/3, 1/3, 2/3 run with
 * one --run-uuid and merged give one run with the unsharded sweep's point set, status ok; merging
 * again adds nothing; shards without a shared id stay runs of their own; an older database (the
 * schema-2 fixture) is migrated in place and merged once; a newer one is refused with exit 2 and
 * nothing written; bad --shard values and a --run-uuid the database has are usage errors. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "test.h"

/* Small and quick, several shapes (the shards deal points by length), random inputs. */
#define SWEEP                                                                                      \
    "--backend cpu --quiet --variants naive,fused,cublas --seq 33,64,127 --heads 4 "               \
    "--kv-heads 2 --head-dim 64 --causal 0,1 --max-time 0.01 --min-samples 3"
#define SWEEP_POINTS 18

static char db_u[512], db_s[3][512], db_m[512];

/* Points of a that b lacks plus those of b that a lacks, by variant, shape, params and status. */
static long long point_set_difference(const char *a, const char *b)
{
    static const char key[] =
        "SELECT variant, dtype, batch, heads, kv_heads, seq, head_dim, causal,"
        " params, status FROM ";
    char sql[1024];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM (%s main.points EXCEPT %s"
             " other.points)) + (SELECT count(*) FROM (%s other.points EXCEPT %s main.points))",
             key, key, key, key);
    if (sqlite3_open_v2(a, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return -1;
    char attach[600];
    snprintf(attach, sizeof attach, "ATTACH '%s' AS other", b);
    if (sqlite3_exec(db, attach, NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void shards_cover_the_sweep(void)
{
    fx_path(db_u, sizeof db_u, "whole.db");
    test_cond("the unsharded sweep runs", fx_sh("'%s' run " SWEEP " --db '%s'", fx_bin, db_u) == 0);
    test_cond("all its points", fx_query_int(db_u, "SELECT count(*) FROM points") == SWEEP_POINTS);
    long long sum = 0;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "shard%d.db", i);
        fx_path(db_s[i], sizeof db_s[i], name);
        test_cond("a shard runs", fx_sh("'%s' run " SWEEP " --db '%s' --shard %d/3 --run-uuid "
                                        "nightly-42",
                                        fx_bin, db_s[i], i) == 0);
        const long long n = fx_query_int(db_s[i], "SELECT count(*) FROM points");
        test_cond("a shard holds a third of the points", n == SWEEP_POINTS / 3);
        test_cond("the shard's run records its shard and the sweep's size",
                  fx_query_int(db_s[i], "SELECT count(*) FROM runs WHERE shard LIKE '_/3' AND"
                                        " sweep_points = 18 AND run_uuid = 'nightly-42'") == 1);
        sum += n;
    }
    test_cond("the shards add up to the sweep", sum == SWEEP_POINTS);
}

static long long merged(const char *sql) { return fx_query_int(db_m, sql); }

static void merged_equals_unsharded(void)
{
    fx_path(db_m, sizeof db_m, "merged.db");
    test_cond("merge exits 0", fx_sh("'%s' merge '%s' '%s' '%s' '%s' > /dev/null", fx_bin, db_m,
                                     db_s[0], db_s[1], db_s[2]) == 0);
    test_cond("one run", merged("SELECT count(*) FROM runs") == 1);
    test_cond("the unsharded point set", point_set_difference(db_m, db_u) == 0 &&
                                             merged("SELECT count(*) FROM points") == SWEEP_POINTS);
    test_cond("every plan row done, each plan_idx once",
              merged("SELECT count(DISTINCT plan_idx) FROM plan WHERE state = 'done'") == 18 &&
                  merged("SELECT count(DISTINCT plan_idx) FROM points") == 18);
    test_cond("the merged run is ok and lists its shards",
              merged("SELECT count(*) FROM runs WHERE status = 'ok' AND shard = '0/3 1/3 2/3'") ==
                  1);
    test_cond("samples follow their points", merged("SELECT count(*) FROM samples s LEFT JOIN"
                                                    " points p ON p.id = s.point_id WHERE"
                                                    " p.id IS NULL") == 0 &&
                                                 merged("SELECT count(*) FROM samples") > 0);
    test_cond("the three workers", merged("SELECT count(DISTINCT idx) FROM workers") == 3);
    const long long samples = merged("SELECT count(*) FROM samples");
    test_cond("merging again exits 0", fx_sh("'%s' merge '%s' '%s' '%s' '%s' > /dev/null", fx_bin,
                                             db_m, db_s[2], db_s[0], db_s[1]) == 0);
    test_cond("merging again adds nothing", merged("SELECT count(*) FROM points") == 18 &&
                                                merged("SELECT count(*) FROM runs") == 1 &&
                                                merged("SELECT count(*) FROM samples") == samples &&
                                                merged("SELECT count(*) FROM workers") == 3);
}

/* Two shards merged: partial until the third comes. Shards without one id: runs of their own. */
static void partial_and_separate(void)
{
    char db[512], db_a[512], db_b[512];
    fx_path(db, sizeof db, "two.db");
    fx_sh("'%s' merge '%s' '%s' '%s' > /dev/null", fx_bin, db, db_s[0], db_s[1]);
    test_cond("two of three shards: partial", fx_query_int(db, "SELECT count(*) FROM runs WHERE"
                                                               " status = 'partial'") == 1);
    fx_path(db, sizeof db, "one.db");
    fx_sh("'%s' merge '%s' '%s' > /dev/null", fx_bin, db, db_s[1]);
    test_cond("one shard alone: partial", fx_query_int(db, "SELECT count(*) FROM runs WHERE status"
                                                           " = 'partial' AND shard = '1/3'") == 1);
    fx_path(db_a, sizeof db_a, "own0.db");
    fx_path(db_b, sizeof db_b, "own1.db");
    fx_sh("'%s' run " SWEEP " --db '%s' --shard 0/2", fx_bin, db_a);
    fx_sh("'%s' run " SWEEP " --db '%s' --shard 1/2", fx_bin, db_b);
    fx_path(db, sizeof db, "separate.db");
    fx_sh("'%s' merge '%s' '%s' '%s' > /dev/null", fx_bin, db, db_a, db_b);
    test_cond("shards with their own ids: two runs, each partial (half of its sweep)",
              fx_query_int(db, "SELECT count(*) FROM runs WHERE status = 'partial'") == 2 &&
                  fx_query_int(db, "SELECT count(*) FROM points") == SWEEP_POINTS);
}

static void schema_versions(void)
{
    char old[512], out[512], newer[512];
    char *sql = fx_read("tests/fixtures/schema2.sql", NULL);
    fx_path(old, sizeof old, "old.db");
    fx_path(out, sizeof out, "from-old.db");
    fx_path(newer, sizeof newer, "newer.db");
    sqlite3 *raw;
    test_cond("schema-2 fixture loads", sql && sqlite3_open(old, &raw) == SQLITE_OK &&
                                            sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    free(sql);
    const long long points = fx_query_int(old, "SELECT count(*) FROM points");
    test_cond("an older shard merges",
              fx_sh("'%s' merge '%s' '%s' > /dev/null", fx_bin, out, old) == 0);
    test_cond("it was migrated in place",
              fx_query_int(old, "PRAGMA user_version") == store_schema_version());
    test_cond("its points merged",
              fx_query_int(out, "SELECT count(*) FROM points") == points && points > 0);
    fx_sh("'%s' merge '%s' '%s' > /dev/null", fx_bin, out, old);
    test_cond("merged once only", fx_query_int(out, "SELECT count(*) FROM points") == points &&
                                      fx_query_int(out, "SELECT count(*) FROM runs") == 1);

    fx_sh("cp '%s' '%s' && sqlite3 '%s' 'PRAGMA user_version = 99' 2>/dev/null", db_u, newer,
          newer);
    if (fx_query_int(newer, "PRAGMA user_version") != 99) { /* no sqlite3 shell: through the API */
        sqlite3_open(newer, &raw);
        sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL);
        sqlite3_close(raw);
    }
    test_cond("a newer shard: exit 2",
              fx_sh("'%s' merge '%s' '%s' '%s' 2> /dev/null", fx_bin, out, db_u, newer) == 2);
    test_cond("nothing written", fx_query_int(out, "SELECT count(*) FROM points") == points);
    test_cond("OUT among the inputs: exit 2",
              fx_sh("'%s' merge '%s' '%s' 2> /dev/null", fx_bin, out, out) == 2);
}

static void usage_errors(void)
{
    char db[512];
    fx_path(db, sizeof db, "usage.db");
    const char *bad[] = {"3/3", "1/0", "a/b", "-1/2", "1/2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        test_cond("a bad --shard: exit 2, nothing written",
                  fx_sh("'%s' run " SWEEP " --db '%s' --shard '%s' 2> /dev/null", fx_bin, db,
                        bad[i]) == 2 &&
                      fx_size(db) < 0);
    test_cond("a bad --run-uuid: exit 2",
              fx_sh("'%s' run " SWEEP " --db '%s' --run-uuid 'a b' 2> /dev/null", fx_bin, db) == 2);
    test_cond("a --run-uuid the database has: exit 2",
              fx_sh("'%s' run " SWEEP " --db '%s' --run-uuid nightly-42 2> /dev/null", fx_bin,
                    db_s[0]) == 2 &&
                  fx_query_int(db_s[0], "SELECT count(*) FROM runs") == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0])) return 1;
    char log_path[512];
    fx_path(log_path, sizeof log_path, "stderr.log"); /* the runs' messages, shown on failure */
    if (!freopen(log_path, "w", stderr)) return 1;
    shards_cover_the_sweep();
    merged_equals_unsharded();
    partial_and_separate();
    schema_versions();
    usage_errors();
    if (test_failed) fputs(fx_text(log_path), stdout);
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
