/* run_state.c — whether a run is alive, complete or abandoned, and which run a TAG names (see
 * store.h). The process writing a run is recorded with its run (pid, and the PID namespace that
 * pid means something in: the boot id and the namespace's inode), and every stored point advances
 * the run's heartbeat. A run still 'running' whose process is gone is 'abandoned': in the
 * writer's own namespace its pid decides (alive, and started before the run: a later start is a
 * reused pid); anywhere else the heartbeat's age (STORE_HEARTBEAT_BOUND_S). Readers see that
 * through attn_run_status(id); writers record it (store_mark_abandoned). Linux only (/proc). */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "store/sql.h"

/* A process that started this long after its run's started_at is another process with a reused
 * pid (the two clocks are read a few ms apart; boot time is known to the second and drifts). */
#define START_SLACK_S 30.0

int store_status_complete(const char *status)
{
    return strcmp(status, "ok") == 0 || strcmp(status, "failed") == 0;
}

int store_pid_namespace(char *buf, size_t n)
{
    struct stat st;
    char boot[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    int ok = f && fgets(boot, sizeof boot, f) && stat("/proc/self/ns/pid", &st) == 0;
    if (f) fclose(f);
    boot[strcspn(boot, "\n")] = 0;
    return ok && snprintf(buf, n, "%s:%llu", boot, (unsigned long long)st.st_ino) < (int)n;
}

/* When process pid started, in seconds since the epoch (boot time + its start in clock ticks,
 * /proc/PID/stat field 22); -1 when /proc cannot say. */
static double process_start(int64_t pid)
{
    char path[64], buf[1024];
    long long btime = -1;
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')'); /* the command name before it may hold spaces */
    for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
    unsigned long long ticks;
    if (!p || sscanf(p, " %llu", &ticks) != 1) return -1;
    if (!(f = fopen("/proc/stat", "r"))) return -1;
    while (fgets(buf, sizeof buf, f) && sscanf(buf, "btime %lld", &btime) != 1) {}
    fclose(f);
    return btime < 0 ? -1 : (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* Is pid, in this namespace, still the process that began a run at run_start (epoch seconds)? */
static int process_alive(int64_t pid, double run_start)
{
    if (pid <= 0 || pid > INT_MAX) return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return 0;
    double start = process_start(pid);
    return start < 0 || start <= run_start + START_SLACK_S;
}

/* The liveness columns of a run, or only its status on a schema older than 4. */
static const char state_sql[] =
    "SELECT status, pid, pid_ns, (julianday(started_at) - 2440587.5) * 86400.0,"
    " (julianday('now') - julianday(coalesce(heartbeat_at, started_at))) * 86400.0"
    " FROM runs WHERE id = ?1";
static const char old_state_sql[] = "SELECT status, NULL, NULL, 0, 0 FROM runs WHERE id = ?1";

/* A 'running' run whose process is gone (see the file's comment). */
static int run_gone(sqlite3_stmt *st)
{
    const char *ns = (const char *)sqlite3_column_text(st, 2);
    const int64_t pid = sqlite3_column_int64(st, 1);
    char here[128];
    if (ns && pid > 0 && store_pid_namespace(here, sizeof here) && strcmp(ns, here) == 0)
        return !process_alive(pid, sqlite3_column_double(st, 3));
    return sqlite3_column_type(st, 4) != SQLITE_NULL &&
           sqlite3_column_double(st, 4) > STORE_HEARTBEAT_BOUND_S;
}

int store_run_status(sqlite3 *db, int64_t id, char *status, size_t n)
{
    int64_t current;
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM pragma_table_info('runs')"
                                   " WHERE name = 'heartbeat_at'", &current));
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, current ? state_sql : old_state_sql, -1, &st, NULL));
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, id), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    const char *stored = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "";
    if (stored && strcmp(stored, "running") == 0 && run_gone(st)) stored = "abandoned";
    snprintf(status, n, "%s", stored ? stored : "");
end:
    sqlite3_finalize(st);
    return rc;
}

/* attn_run_status(id) in SQL. */
static void sql_run_status(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    char status[32];
    if (store_run_status(sqlite3_context_db_handle(ctx), sqlite3_value_int64(argv[0]), status,
                         sizeof status) != ATTN_OK)
        sqlite3_result_error(ctx, attn_last_error.msg, -1);
    else if (!status[0]) sqlite3_result_null(ctx);
    else sqlite3_result_text(ctx, status, -1, SQLITE_TRANSIENT);
}

int store_register_functions(sqlite3 *db)
{
    SQLITE_CHECK(db, sqlite3_create_function_v2(db, "attn_run_status", 1, SQLITE_UTF8, NULL,
                                                sql_run_status, NULL, NULL, NULL));
    return ATTN_OK;
}

int store_mark_abandoned(sqlite3 *db, int *n)
{
    ATTN_TRY(store_exec(db,
        "UPDATE runs SET status = 'abandoned', ended_at = coalesce(heartbeat_at, started_at),"
        " reason = 'its process is gone (pid ' || coalesce(pid, '?') || ' on '"
        " || coalesce(host, '?') || '): killed, or its host lost; last heartbeat '"
        " || coalesce(heartbeat_at, started_at)"
        " WHERE status = 'running' AND attn_run_status(id) = 'abandoned'"));
    *n = sqlite3_changes(db);
    return ATTN_OK;
}

int store_find_run(sqlite3 *db, const store_run_filter *f, store_run_choice *c)
{
    sqlite3_stmt *st;
    memset(c, 0, sizeof *c);
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT id FROM runs WHERE (?1 IS NULL OR tag = ?1) AND id <> ?2 AND (?3 OR gpu_name IS ?4)"
        " ORDER BY id DESC", -1, &st, NULL));
    int rc = store_bind_text(db, st, 1, f->tag), step = SQLITE_DONE;
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 2, f->exclude), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int(st, 3, f->any_gpu), rc, end);
    if (rc == ATTN_OK) rc = store_bind_text(db, st, 4, f->gpu);
    while (rc == ATTN_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const int64_t id = sqlite3_column_int64(st, 0);
        char status[16];
        ATTN_TRY_GOTO(store_run_status(db, id, status, sizeof status), rc, end);
        if (f->incomplete || store_status_complete(status)) {
            c->id = id;
            snprintf(c->status, sizeof c->status, "%s", status);
            goto end;
        }
        if (!c->passed_over++) {
            c->newest_passed = id;
            snprintf(c->passed_status, sizeof c->passed_status, "%s", status);
        }
    }
    if (rc == ATTN_OK) SQLITE_CHECK_GOTO(db, step, rc, end);
end:
    sqlite3_finalize(st);
    return rc;
}

void store_run_choice_text(const store_run_choice *c, char *buf, size_t n)
{
    int len = snprintf(buf, n, "run %lld (%s)", (long long)c->id, c->status);
    if (c->passed_over && len >= 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, "; passed over %d newer incomplete run%s, the newest "
                 "run %lld (%s)", c->passed_over, c->passed_over == 1 ? "" : "s",
                 (long long)c->newest_passed, c->passed_status);
}
