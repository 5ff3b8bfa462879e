/* plan.c — a run's plan, its workers and its scale-out columns (see plan.h). Each call is one
 * statement or one short transaction: claims are BEGIN IMMEDIATE, so two workers never take one
 * row, and every writer waits STORE_BUSY_MS for the others' locks. */
#include "store/plan.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "store/sql.h"

#define ISO_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
/* A random version-4 UUID ("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b") from SQLite's PRNG, for one
 * row (the subquery is evaluated once per statement). */
#define RANDOM_UUID                                                                                \
    "(SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' ||"      \
    " substr('89ab', 1 + abs(random() % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)"    \
    " FROM (SELECT lower(hex(randomblob(16))) AS h))"

/* A statement's parameter ?2, ?3, ...: an integer (< 0: NULL, as unknown), or a text (NULL). */
typedef struct plan_arg {
    const char *text;
    int64_t num;
    int is_num;
} plan_arg;
#define NUM(v) ((plan_arg){NULL, (int64_t)(v), 1})
#define TEXT(s) ((plan_arg){(s), 0, 0})

/* Prepares sql, binds ?1 = run_id and args to ?2.. (those past the statement's last parameter
 * left out), runs it. */
static int exec_run(sqlite3 *db, const char *sql, int64_t run_id, const plan_arg *args, int n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    const int n_params = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < n && i + 2 <= n_params && rc == ATTN_OK; i++)
        rc = args[i].is_num ? store_bind_int_or_null(db, st, i + 2, args[i].num)
                            : store_bind_text(db, st, i + 2, args[i].text);
    return store_finish(db, st, rc);
}

/* The first column of sql's first row (?1 = run_id, ?2 = text) as an integer; 0 without a row. */
static int query_run_int(sqlite3 *db, const char *sql, int64_t run_id, const char *text,
                         int64_t *out)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    if (rc == ATTN_OK && sqlite3_bind_parameter_count(st) >= 2)
        rc = store_bind_text(db, st, 2, text);
    int step = rc == ATTN_OK ? sqlite3_step(st) : SQLITE_DONE;
    *out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc == ATTN_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = attn_fail_sqlite(db, step, sql, __FILE__, __LINE__);
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- the run's columns */

/* s as a JSON string at the end of buf (*len); 0, or -1 when buf is full. */
static int json_string(char *buf, size_t n, size_t *len, const char *s)
{
    size_t k = *len;
    if (k + 1 >= n) return -1;
    buf[k++] = '"';
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (n - k < 8) return -1;
        if (c == '"' || c == '\\') buf[k++] = '\\', buf[k++] = (char)c;
        else if (c < 0x20)
            k += (size_t)snprintf(buf + k, n - k, "\\u%04x", c);
        else
            buf[k++] = (char)c;
    }
    if (k + 2 >= n) return -1;
    buf[k++] = '"';
    buf[k] = 0;
    *len = k;
    return 0;
}

int store_run_scale(sqlite3 *db, int64_t run_id, const char *run_uuid, const char *shard,
                    int sweep_points, int argc, char *const *argv)
{
    size_t n = 2, len = 1;
    for (int i = 0; i < argc; i++) n += 6 * strlen(argv[i]) + 3;
    char *json = malloc(n);
    if (!json) return attn_fail("out of host memory for the run's arguments");
    json[0] = '[';
    for (int i = 0; i < argc; i++) {
        if (i) json[len++] = ',';
        json_string(json, n, &len, argv[i]); /* n covers the worst case */
    }
    json[len++] = ']', json[len] = 0;
    const plan_arg args[] = {TEXT(run_uuid), TEXT(shard), NUM(sweep_points), TEXT(json)};
    int rc = exec_run(db,
                      "UPDATE runs SET run_uuid = coalesce(?2, " RANDOM_UUID "), shard = ?3,"
                      " sweep_points = ?4, argv = json(?5) WHERE id = ?1",
                      run_id, args, 4);
    free(json);
    return rc;
}

int store_run_by_uuid(sqlite3 *db, const char *run_uuid, int64_t *run_id)
{
    return query_run_int(db, "SELECT id FROM runs WHERE run_uuid = ?2", 0, run_uuid, run_id);
}

void store_argv_free(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

int store_run_argv(sqlite3 *db, int64_t run_id, int *argc, char ***argv)
{
    int64_t count;
    *argc = 0, *argv = NULL;
    ATTN_TRY(query_run_int(db,
                           "SELECT coalesce((SELECT coalesce(json_array_length(argv),"
                           " 0) FROM runs WHERE id = ?1), -1)",
                           run_id, NULL, &count));
    if (count <= 0) {
        attn_fail("run %lld %s", (long long)run_id,
                  count < 0 ? "does not exist" : "has no stored arguments (made before schema 6)");
        return ATTN_SKIP;
    }
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
                                        "SELECT value FROM runs, json_each(runs.argv)"
                                        " WHERE runs.id = ?1 ORDER BY key",
                                        -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id), step;
    char **v = calloc((size_t)count + 1, sizeof *v);
    if (!v) rc = attn_fail("out of host memory for the run's arguments");
    int k = 0;
    while (rc == ATTN_OK && k < count && (step = sqlite3_step(st)) == SQLITE_ROW)
        if (!(v[k++] = strdup((const char *)sqlite3_column_text(st, 0))))
            rc = attn_fail("out of host memory for the run's arguments");
    sqlite3_finalize(st);
    if (rc != ATTN_OK || k != count) {
        store_argv_free(k, v);
        return rc != ATTN_OK
                   ? rc
                   : attn_fail("run %lld: its arguments do not read back", (long long)run_id);
    }
    *argc = k, *argv = v;
    return ATTN_OK;
}

int store_run_resume(sqlite3 *db, int64_t run_id)
{
    char ns[128];
    const plan_arg args[] = {NUM(getpid()), TEXT(store_pid_namespace(ns, sizeof ns) ? ns : NULL)};
    ATTN_TRY(
        exec_run(db,
                 "UPDATE workers SET status = 'crashed', ended_at = coalesce(ended_at, " ISO_NOW
                 "), exit_reason = 'its process was gone when the run was"
                 " resumed' WHERE run_id = ?1 AND status IN ('starting', 'running')",
                 run_id, NULL, 0));
    return exec_run(db,
                    "UPDATE runs SET status = 'running', ended_at = NULL, reason = NULL,"
                    " pid = ?2, pid_ns = ?3, heartbeat_at = " ISO_NOW " WHERE id = ?1",
                    run_id, args, 2);
}

/* ---------------------------------------------------------------- the plan */

typedef struct plan_rows {
    int64_t run_id;
    const store_plan_row *rows;
    int n;
} plan_rows;

static int insert_plan(sqlite3 *db, void *arg)
{
    const plan_rows *p = arg;
    sqlite3_stmt *st;
    SQLITE_CHECK(db,
                 sqlite3_prepare_v2(
                     db,
                     "INSERT INTO plan (run_id, plan_idx, deal, variant, point, dense_flops, state)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                     -1, &st, NULL));
    int rc = ATTN_OK;
    for (int i = 0; i < p->n && rc == ATTN_OK; i++) {
        const store_plan_row *r = &p->rows[i];
        const int64_t v[] = {p->run_id, r->plan_idx, r->deal};
        for (int j = 0; j < 3 && rc == ATTN_OK; j++)
            rc = store_bind_int_or_null(db, st, j + 1, v[j]);
        if (rc == ATTN_OK) rc = store_bind_text(db, st, 4, r->variant);
        if (rc == ATTN_OK) rc = store_bind_text(db, st, 5, r->point);
        if (rc == ATTN_OK) rc = store_bind_real(db, st, 6, r->dense_flops);
        if (rc == ATTN_OK) SQLITE_CHECK_GOTO(db, sqlite3_step(st), rc, end);
        if (rc == ATTN_OK) SQLITE_CHECK_GOTO(db, sqlite3_reset(st), rc, end);
    }
end:
    sqlite3_finalize(st);
    return rc;
}

int store_plan_add(sqlite3 *db, int64_t run_id, const store_plan_row *rows, int n)
{
    plan_rows p = {run_id, rows, n};
    return store_transaction(db, "BEGIN IMMEDIATE", insert_plan, &p);
}

int store_plan_differs(sqlite3 *db, int64_t run_id, const store_plan_row *rows, int n, int *differ)
{
    sqlite3_stmt *st;
    int64_t stored;
    ATTN_TRY(
        query_run_int(db, "SELECT count(*) FROM plan WHERE run_id = ?1", run_id, NULL, &stored));
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM plan WHERE run_id = ?1 AND"
                                        " plan_idx = ?2 AND variant = ?3 AND point = ?4",
                                        -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id), same = 0;
    for (int i = 0; i < n && rc == ATTN_OK; i++) {
        rc = store_bind_int_or_null(db, st, 2, rows[i].plan_idx);
        if (rc == ATTN_OK) rc = store_bind_text(db, st, 3, rows[i].variant);
        if (rc == ATTN_OK) rc = store_bind_text(db, st, 4, rows[i].point);
        if (rc == ATTN_OK && sqlite3_step(st) == SQLITE_ROW) same += sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    *differ = (n - same) + (int)(stored - same);
    return rc;
}

int store_plan_reopen(sqlite3 *db, int64_t run_id, int *n_open)
{
    ATTN_TRY(exec_run(db,
                      "UPDATE plan SET state = 'pending', worker = NULL, reason = NULL"
                      " WHERE run_id = ?1 AND state <> 'done'",
                      run_id, NULL, 0));
    *n_open = sqlite3_changes(db);
    return ATTN_OK;
}

typedef struct claim {
    int64_t run_id;
    int worker, plan_idx;
} claim;

static int claim_next(sqlite3 *db, void *arg)
{
    claim *c = arg;
    int64_t idx;
    ATTN_TRY(query_run_int(db,
                           "SELECT coalesce((SELECT plan_idx FROM plan WHERE run_id = ?1 AND"
                           " state = 'pending' ORDER BY deal LIMIT 1), -1)",
                           c->run_id, NULL, &idx));
    c->plan_idx = (int)idx;
    if (idx < 0) return ATTN_OK;
    const plan_arg args[] = {NUM(c->worker), NUM(idx)};
    return exec_run(db,
                    "UPDATE plan SET state = 'running', worker = ?2 WHERE run_id = ?1 AND"
                    " plan_idx = ?3",
                    c->run_id, args, 2);
}

int store_plan_claim(sqlite3 *db, int64_t run_id, int worker, int *plan_idx)
{
    claim c = {run_id, worker, -1};
    ATTN_TRY(store_transaction(db, "BEGIN IMMEDIATE", claim_next, &c));
    *plan_idx = c.plan_idx;
    return ATTN_OK;
}

int store_plan_release(sqlite3 *db, int64_t run_id, int worker, const char *state,
                       const char *reason)
{
    const plan_arg args[] = {NUM(worker), TEXT(state), TEXT(reason)};
    return exec_run(db,
                    "UPDATE plan SET state = ?3, reason = ?4 WHERE run_id = ?1 AND worker = ?2"
                    " AND state = 'running'",
                    run_id, args, 3);
}

int store_plan_unrun(sqlite3 *db, int64_t run_id, const char *reason)
{
    const plan_arg args[] = {TEXT(reason)};
    return exec_run(db,
                    "UPDATE plan SET reason = ?2 WHERE run_id = ?1 AND state = 'pending'"
                    " AND reason IS NULL",
                    run_id, args, 1);
}

int store_plan_count(sqlite3 *db, int64_t run_id, const char *state, int *n)
{
    int64_t v;
    ATTN_TRY(query_run_int(db,
                           "SELECT count(*) FROM plan WHERE run_id = ?1 AND"
                           " (?2 IS NULL AND state <> 'done' OR state = ?2)",
                           run_id, state, &v));
    *n = (int)v;
    return ATTN_OK;
}

int store_point_origin_write(sqlite3 *db, int64_t run_id, int64_t point_id,
                             const store_point_origin *o)
{
    const plan_arg args[] = {NUM(point_id), NUM(o->plan_idx), NUM(o->worker), NUM(o->device),
                             TEXT(o->gpu_uuid)};
    ATTN_TRY(exec_run(db,
                      "UPDATE points SET plan_idx = ?3, worker = ?4, device = ?5, gpu_uuid = ?6"
                      " WHERE id = ?2 AND run_id = ?1",
                      run_id, args, 5));
    ATTN_TRY(exec_run(db,
                      "UPDATE plan SET state = 'done', point_id = ?2, worker = ?4, reason = NULL"
                      " WHERE run_id = ?1 AND plan_idx = ?3",
                      run_id, args, 3));
    return exec_run(db, "UPDATE workers SET n_points = n_points + 1 WHERE run_id = ?1 AND idx = ?4",
                    run_id, args, 3);
}

/* ---------------------------------------------------------------- workers */

int store_worker_add(sqlite3 *db, int64_t run_id, int device, int64_t pid, int *idx)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const plan_arg args[] = {NUM(device), NUM(pid), TEXT(host)};
    ATTN_TRY(exec_run(db,
                      "INSERT INTO workers (run_id, idx, device, pid, host, status, started_at)"
                      " VALUES (?1, (SELECT coalesce(max(idx) + 1, 0) FROM workers WHERE"
                      " run_id = ?1), ?2, ?3, ?4, 'starting', " ISO_NOW ")",
                      run_id, args, 3));
    int64_t v;
    ATTN_TRY(query_run_int(db,
                           "SELECT idx FROM workers WHERE rowid = last_insert_rowid() AND"
                           " run_id = ?1",
                           run_id, NULL, &v));
    *idx = (int)v;
    return ATTN_OK;
}

int store_worker_started(sqlite3 *db, int64_t run_id, int idx, const char *gpu_uuid,
                         const char *gpu_name)
{
    const plan_arg args[] = {NUM(idx), TEXT(gpu_uuid), TEXT(gpu_name), NUM(getpid())};
    return exec_run(db,
                    "UPDATE workers SET status = 'running', gpu_uuid = ?3, gpu_name = ?4,"
                    " pid = ?5 WHERE run_id = ?1 AND idx = ?2",
                    run_id, args, 4);
}

int store_worker_end(sqlite3 *db, int64_t run_id, int idx, const char *status, const char *reason,
                     int only_if_live)
{
    const plan_arg args[] = {NUM(idx), TEXT(status), TEXT(reason), NUM(only_if_live)};
    return exec_run(db,
                    "UPDATE workers SET status = ?3, exit_reason = ?4, ended_at = " ISO_NOW
                    " WHERE run_id = ?1 AND idx = ?2 AND (NOT ?5 OR status IN ('starting',"
                    " 'running'))",
                    run_id, args, 4);
}

int store_worker_failures(sqlite3 *db, int64_t run_id, char *buf, size_t n)
{
    sqlite3_stmt *st;
    buf[0] = 0;
    SQLITE_CHECK(
        db,
        sqlite3_prepare_v2(
            db,
            "SELECT 'worker ' || idx || coalesce(' (device ' || device || ')', '') || ': ' || status"
            " || coalesce(', ' || exit_reason, '') FROM workers WHERE run_id = ?1 AND status <> 'ok'"
            " ORDER BY idx",
            -1, &st, NULL));
    int rc = store_bind_int_or_null(db, st, 1, run_id);
    size_t len = 0;
    while (rc == ATTN_OK && sqlite3_step(st) == SQLITE_ROW && len < n)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "; " : "",
                                (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- the outcome */

int store_run_outcome(sqlite3 *db, int64_t run_id, int whole_sweep, const char **status,
                      char *reason, size_t n)
{
    int64_t planned, open, bad, sweep;
    ATTN_TRY(
        query_run_int(db, "SELECT count(*) FROM plan WHERE run_id = ?1", run_id, NULL, &planned));
    ATTN_TRY(query_run_int(db, "SELECT count(*) FROM plan WHERE run_id = ?1 AND state <> 'done'",
                           run_id, NULL, &open));
    ATTN_TRY(query_run_int(db,
                           "SELECT count(*) FROM points WHERE run_id = ?1 AND status IN"
                           " ('failed', 'error')",
                           run_id, NULL, &bad));
    ATTN_TRY(query_run_int(db, "SELECT coalesce(sweep_points, 0) FROM runs WHERE id = ?1", run_id,
                           NULL, &sweep));
    char failures[1024];
    ATTN_TRY(store_worker_failures(db, run_id, failures, sizeof failures));
    *status = "ok", reason[0] = 0;
    if (open) {
        *status = "partial";
        snprintf(reason, n, "%lld of %lld planned points did not run (plan.reason says why)%s%s",
                 (long long)open, (long long)planned, failures[0] ? ": " : "", failures);
    } else if (whole_sweep && sweep > planned) {
        *status = "partial";
        snprintf(reason, n, "merged shards hold %lld of the sweep's %lld points",
                 (long long)planned, (long long)sweep);
    } else if (bad) {
        *status = "failed";
        snprintf(reason, n, "%lld point(s) failed or errored", (long long)bad);
    }
    return ATTN_OK;
}
