/* merge.c — databases merged into one (store_merge, plan.h): `attnbench merge OUT IN...`.
 *
 * A run is keyed by its run_uuid, unique in every database: an input run whose uuid OUT lacks is
 * copied whole (new ids); one whose uuid OUT has — a second shard of one logical sweep run with
 * one --run-uuid, or the same database merged again — is joined: its points that OUT's run lacks
 * (by plan_idx) are added, its plan rows fill OUT's, and the run's status is recomputed over
 * the shards (partial until every point of the sweep is there). So merging twice adds nothing.
 * The input is migrated in place first when older (as any `attnbench run` on it would: its runs
 * then get their run_uuid once, for good) and refused when newer. It is attached to OUT's
 * connection, copied with set-based statements in one transaction (rolled back whole on any
 * failure), and detached. Ids: an input point's id plus OUT's largest, so every child row
 * (samples, kernels, metrics) follows without a lookup; kernel names by name. */
#include "store/plan.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "store/open_readonly.h"
#include "store/sql.h"

/* The input's schema version (0: no attnbench schema). */
static int input_version(const char *path, int64_t *version)
{
    sqlite3 *db = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_busy_timeout(db, STORE_BUSY_MS), rc, end);
    rc = store_query_int64(db, "PRAGMA user_version", version);
end:
    sqlite3_close(db);
    return rc;
}

/* The input readable, an attnbench database no newer than this code, migrated when older. */
static int prepare_input(const char *path)
{
    struct stat st;
    int64_t version = 0;
    if (access(path, R_OK) != 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return attn_skip("cannot read database '%s'", path);
    ATTN_TRY(store_check_run_target(path));
    ATTN_TRY(input_version(path, &version));
    if (version == 0) return attn_skip("'%s' is not an attnbench database (no schema)", path);
    if (version == store_schema_version()) return ATTN_OK;
    sqlite3 *db;
    if (store_open(path, &db) != ATTN_OK) return ATTN_ERR;
    store_close(db);
    return ATTN_OK;
}

/* Table's columns in OUT but those in skip, as "prefix.a, prefix.b" (prefix "" : "a, b"). */
static int columns(sqlite3 *db, const char *table, const char *skip, const char *prefix, char *buf,
                   size_t n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
                                        "SELECT name FROM pragma_table_info(?1, 'main')"
                                        " WHERE instr(?2, ' ' || name || ' ') = 0 ORDER BY cid",
                                        -1, &st, NULL));
    int rc = store_bind_text(db, st, 1, table);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 2, skip);
    size_t len = 0;
    buf[0] = 0;
    while (rc == ATTN_OK && sqlite3_step(st) == SQLITE_ROW && len < n)
        len += (size_t)snprintf(buf + len, n - len, "%s%s%s%s", len ? ", " : "", prefix,
                                prefix[0] ? "." : "", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == ATTN_OK && len >= n ? attn_fail("too many columns in %s", table) : rc;
}

/* Runs sql after substituting the column lists of table (twice: the INSERT's and the SELECT's,
 * qualified with alias) for the two %s in it. */
static int copy_rows(sqlite3 *db, const char *table, const char *skip, const char *alias,
                     const char *sql)
{
    char plain[4096], qualified[4096], text[12288];
    ATTN_TRY(columns(db, table, skip, "", plain, sizeof plain));
    ATTN_TRY(columns(db, table, skip, alias, qualified, sizeof qualified));
    snprintf(text, sizeof text, sql, plain, qualified);
    return store_exec(db, text);
}

/* The run map: every input run, the OUT run it goes to (dst), whether it is new there, the
 * offset of its workers' idx. New runs are copied here. */
static int map_runs(sqlite3 *db, store_merge_stats *s)
{
    ATTN_TRY(store_exec(
        db,
        "CREATE TEMP TABLE rmap (src INTEGER PRIMARY KEY, dst INTEGER, new INTEGER, woff INTEGER);"
        "INSERT INTO temp.rmap SELECT r.id, m.id, m.id IS NULL, coalesce((SELECT max(idx) + 1"
        "  FROM main.workers w WHERE w.run_id = m.id), 0)"
        " FROM src.runs r LEFT JOIN main.runs m ON m.run_uuid = r.run_uuid;"));
    ATTN_TRY(copy_rows(
        db, "runs", " id ", "r",
        "INSERT INTO main.runs (%s) SELECT %s FROM src.runs r JOIN temp.rmap ON rmap.src = r.id"
        " WHERE rmap.new ORDER BY r.id;"));
    ATTN_TRY(store_exec(db, "UPDATE temp.rmap SET dst = (SELECT m.id FROM main.runs m JOIN"
                            " src.runs r ON r.run_uuid = m.run_uuid WHERE r.id = rmap.src)"
                            " WHERE new;"));
    int64_t v;
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM temp.rmap WHERE new", &v));
    s->runs_new = (int)v;
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM temp.rmap WHERE NOT new", &v));
    s->runs_joined = (int)v;
    return ATTN_OK;
}

/* The point map: the input points to copy (all of a new run's; of a joined run those whose
 * plan_idx OUT's run lacks), each to its id plus OUT's largest. */
static int map_points(sqlite3 *db, store_merge_stats *s)
{
    ATTN_TRY(store_exec(
        db,
        "CREATE TEMP TABLE pmap (src INTEGER PRIMARY KEY, dst INTEGER, run INTEGER, woff INTEGER);"
        "INSERT INTO temp.pmap SELECT p.id, p.id + (SELECT coalesce(max(id), 0) FROM main.points),"
        "  rmap.dst, rmap.woff FROM src.points p JOIN temp.rmap ON rmap.src = p.run_id"
        " WHERE rmap.new OR (p.plan_idx IS NOT NULL AND NOT EXISTS (SELECT 1 FROM main.points m"
        "  WHERE m.run_id = rmap.dst AND m.plan_idx = p.plan_idx));"));
    int64_t v, all;
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM temp.pmap", &v));
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM src.points", &all));
    s->points = (int)v, s->points_present = (int)(all - v);
    return ATTN_OK;
}

/* The points and everything that hangs from them. */
static int copy_points(sqlite3 *db)
{
    ATTN_TRY(copy_rows(
        db, "points", " id run_id worker ", "p",
        "INSERT INTO main.points (id, run_id, worker, %s) SELECT pmap.dst, pmap.run,"
        " p.worker + pmap.woff, %s FROM src.points p JOIN temp.pmap ON pmap.src = p.id;"));
    ATTN_TRY(
        copy_rows(db, "samples", " point_id ", "x",
                  "INSERT INTO main.samples (point_id, %s) SELECT pmap.dst, %s FROM src.samples x"
                  " JOIN temp.pmap ON pmap.src = x.point_id;"));
    ATTN_TRY(store_exec(db, "INSERT OR IGNORE INTO main.kernel_names (name, short_name)"
                            " SELECT name, short_name FROM src.kernel_names;"));
    ATTN_TRY(copy_rows(
        db, "kernels", " point_id name_id ", "k",
        "INSERT INTO main.kernels (point_id, name_id, %s) SELECT pmap.dst, (SELECT m.id FROM"
        " main.kernel_names m JOIN src.kernel_names n ON n.name = m.name WHERE n.id = k.name_id),"
        " %s FROM src.kernels k JOIN temp.pmap ON pmap.src = k.point_id;"));
    return copy_rows(
        db, "metrics", " point_id ", "x",
        "INSERT INTO main.metrics (point_id, %s) SELECT pmap.dst, %s FROM src.metrics x"
        " JOIN temp.pmap ON pmap.src = x.point_id;");
}

/* Ceilings, workers (a joined run's already there: same host, pid and start) and plan rows (a
 * joined run's row filled when OUT's did not run and the input's did). */
static int copy_run_rows(sqlite3 *db)
{
    ATTN_TRY(copy_rows(
        db, "ceilings", " run_id ", "c",
        "INSERT OR IGNORE INTO main.ceilings (run_id, %s) SELECT rmap.dst, %s FROM src.ceilings c"
        " JOIN temp.rmap ON rmap.src = c.run_id;"));
    ATTN_TRY(copy_rows(
        db, "workers", " run_id idx ", "w",
        "INSERT INTO main.workers (run_id, idx, %s) SELECT rmap.dst, w.idx + rmap.woff, %s"
        " FROM src.workers w JOIN temp.rmap ON rmap.src = w.run_id WHERE NOT EXISTS (SELECT 1"
        "  FROM main.workers m WHERE m.run_id = rmap.dst AND m.host IS w.host AND m.pid IS w.pid"
        "  AND m.started_at = w.started_at);"));
    return copy_rows(
        db, "plan", " run_id worker point_id ", "x",
        "INSERT INTO main.plan (run_id, worker, point_id, %s) SELECT rmap.dst, x.worker +"
        " rmap.woff, (SELECT pmap.dst FROM temp.pmap WHERE pmap.src = x.point_id), %s"
        " FROM src.plan x JOIN temp.rmap ON rmap.src = x.run_id WHERE true"
        " ON CONFLICT (run_id, plan_idx) DO UPDATE SET state = excluded.state,"
        "  worker = excluded.worker, point_id = excluded.point_id, reason = excluded.reason"
        " WHERE plan.state <> 'done' AND excluded.state = 'done';");
}

/* A joined run: its shards listed, its span. Its status over all its shards when the input
 * added to it (points, or a shard not listed yet), and a new shard's status as the sweep's (a
 * database merged again changes nothing, an interrupted run's status included). */
static int update_joined(sqlite3 *db)
{
    ATTN_TRY(store_exec(
        db,
        "CREATE TEMP TABLE grew AS SELECT rmap.dst FROM temp.rmap JOIN src.runs s ON"
        " s.id = rmap.src JOIN main.runs m ON m.id = rmap.dst WHERE s.shard IS NOT NULL AND"
        " rmap.new OR NOT rmap.new AND (EXISTS (SELECT 1 FROM temp.pmap WHERE pmap.run ="
        " rmap.dst) OR (s.shard IS NOT NULL AND instr(' ' || coalesce(m.shard, '') || ' ',"
        " ' ' || s.shard || ' ') = 0));"
        "UPDATE main.runs SET"
        " shard = CASE WHEN r.shard IS NULL OR instr(' ' || coalesce(main.runs.shard, '') || ' ',"
        "  ' ' || r.shard || ' ') THEN main.runs.shard"
        "  ELSE ltrim(coalesce(main.runs.shard, '') || ' ' || r.shard) END,"
        " started_at = min(main.runs.started_at, r.started_at),"
        " ended_at = max(coalesce(main.runs.ended_at, r.ended_at),"
        "  coalesce(r.ended_at, main.runs.ended_at))"
        " FROM (SELECT rmap.dst, s.shard, s.started_at, s.ended_at FROM temp.rmap"
        "  JOIN src.runs s ON s.id = rmap.src WHERE NOT rmap.new) AS r"
        " WHERE main.runs.id = r.dst;"));
    sqlite3_stmt *st, *up;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "SELECT dst FROM temp.grew", -1, &st, NULL));
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db,
                      sqlite3_prepare_v2(db,
                                         "UPDATE main.runs SET status = ?2, reason = ?3"
                                         " WHERE id = ?1",
                                         -1, &up, NULL),
                      rc, end);
    while (rc == ATTN_OK && sqlite3_step(st) == SQLITE_ROW) {
        const int64_t id = sqlite3_column_int64(st, 0);
        const char *status;
        char reason[2048];
        rc = store_run_outcome(db, id, 1, &status, reason, sizeof reason);
        if (rc == ATTN_OK) rc = store_bind_int_or_null(db, up, 1, id);
        if (rc == ATTN_OK) rc = store_bind_text(db, up, 2, status);
        if (rc == ATTN_OK) rc = store_bind_text(db, up, 3, reason[0] ? reason : NULL);
        if (rc == ATTN_OK) SQLITE_CHECK_GOTO(db, sqlite3_step(up), rc, end);
        sqlite3_reset(up);
    }
end:
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

static int merge_attached(sqlite3 *db, void *arg)
{
    store_merge_stats *s = arg;
    ATTN_TRY(map_runs(db, s));
    ATTN_TRY(map_points(db, s));
    ATTN_TRY(copy_points(db));
    ATTN_TRY(copy_run_rows(db));
    ATTN_TRY(update_joined(db));
    return store_exec(db, "DROP TABLE temp.rmap; DROP TABLE temp.pmap; DROP TABLE temp.grew;");
}

int store_merge(sqlite3 *db, const char *in_path, store_merge_stats *s)
{
    memset(s, 0, sizeof *s);
    ATTN_TRY(prepare_input(in_path));
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "ATTACH ?1 AS src", -1, &st, NULL));
    ATTN_TRY(store_finish(db, st, store_bind_text(db, st, 1, in_path)));
    int rc = store_transaction(db, "BEGIN IMMEDIATE", merge_attached, s);
    attn_error_info saved = attn_last_error;
    const int detached = store_exec(db, "DETACH src");
    if (rc != ATTN_OK) attn_last_error = saved;
    return rc != ATTN_OK ? rc : detached;
}
