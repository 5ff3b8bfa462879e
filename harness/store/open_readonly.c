/* open_readonly.c — the readers' read-only open (see open_readonly.h): the file checked with stat,
 * then three one-row queries on the read-only connection (user_version, attnbench's tables, their
 * columns). Nothing here can write: the connection is opened without SQLITE_OPEN_READWRITE. */
#include "store/open_readonly.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "store/store.h"

/* What every attnbench schema has: the columns the readers key on and the summary view. Another
 * application's `runs` table does not have them all. */
static const char signature_sql[] =
    "SELECT (SELECT count(*) FROM pragma_table_info('runs') WHERE name IN"
    "   ('id', 'started_at', 'status', 'backend'))"
    " + (SELECT count(*) FROM pragma_table_info('points') WHERE name IN"
    "   ('run_id', 'variant', 'dense_flops', 'median_ns'))"
    " + (SELECT count(*) FROM pragma_table_info('samples') WHERE name IN ('point_id', 'idx', 'ns'))"
    " + (SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'summary')";
enum { SIGNATURE_COUNT = 12 };

/* The first column of the one-row query sql into *v (0 when there is no row). */
static int query_int(sqlite3 *db, const char *sql, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    *v = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
end:
    sqlite3_finalize(st);
    return rc;
}

/* The file at path is attnbench's, of a schema the readers read (see store_open_readonly). */
static int check_schema(sqlite3 *db, const char *path)
{
    int version, tables, signature;
    if (query_int(db, "PRAGMA user_version", &version) != ATTN_OK) {
        if (attn_last_error.api == ATTN_API_SQLITE && attn_last_error.code == SQLITE_NOTADB)
            return attn_skip("'%s' is not an attnbench database (not an SQLite file)", path);
        return ATTN_ERR;
    }
    ATTN_TRY(query_int(db,
                       "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                       " ('runs', 'points')",
                       &tables));
    int ours = version > 0 && tables == 2;
    if (ours && version > store_schema_version())
        return attn_skip("'%s' has schema version %d, newer than this attnbench reads (%d): use a "
                         "newer build",
                         path, version, store_schema_version());
    if (ours && version < STORE_READ_MIN_SCHEMA)
        return attn_skip("'%s' has schema version %d, older than this attnbench reads (%d to %d): "
                         "run `attnbench run` once with --db '%s' to migrate it",
                         path, version, STORE_READ_MIN_SCHEMA, store_schema_version(), path);
    ATTN_TRY(query_int(db, signature_sql, &signature));
    if (!ours || signature != SIGNATURE_COUNT)
        return attn_skip("'%s' is not an attnbench database (an SQLite database without "
                         "attnbench's tables)",
                         path);
    return ATTN_OK;
}

int store_open_readonly(const char *path, sqlite3 **out)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0)
        return attn_skip("no readable database at '%s' (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return attn_skip("'%s' is a directory, not a database file", path);
    if (!S_ISREG(st.st_mode)) return attn_skip("'%s' is not a regular file", path);
    sqlite3 *db = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_busy_timeout(db, 5000), rc, end);
    rc = check_schema(db, path);
    if (rc == ATTN_OK) rc = store_register_functions(db); /* attn_run_status() for the readers */
end:
    if (rc == ATTN_OK) {
        *out = db;
        return ATTN_OK;
    }
    attn_error_info saved = attn_last_error;
    sqlite3_close(db);
    attn_last_error = saved;
    return rc;
}

int store_check_run_target(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return ATTN_OK; /* absent: store_open creates it */
    if (S_ISDIR(st.st_mode)) return attn_skip("'%s' is a directory, not a database file", path);
    if (!S_ISREG(st.st_mode)) return attn_skip("'%s' is not a regular file", path);
    if (st.st_size == 0) return ATTN_OK; /* an empty file is an empty SQLite database */
    sqlite3 *db = NULL;
    int rc = ATTN_OK, version = 0, tables = 0, objects = 0;
    SQLITE_CHECK_GOTO(db, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), rc, end);
    /* Another run may be creating or migrating it right now: wait as store_open does. */
    SQLITE_CHECK_GOTO(db, sqlite3_busy_timeout(db, STORE_BUSY_MS), rc, end);
    /* One statement, so one snapshot: a run creating the database meanwhile commits its first
     * step (tables and version together) between two statements, never inside one. */
    sqlite3_stmt *q = NULL;
    int prep = sqlite3_prepare_v2(db,
                                  "SELECT (SELECT user_version FROM pragma_user_version),"
                                  " (SELECT count(*) FROM sqlite_master),"
                                  " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                                  "  name IN ('runs', 'points'))",
                                  -1, &q, NULL);
    int step = prep == SQLITE_OK ? sqlite3_step(q) : prep;
    if (step == SQLITE_ROW) {
        version = sqlite3_column_int(q, 0);
        objects = sqlite3_column_int(q, 1);
        tables = sqlite3_column_int(q, 2);
    }
    sqlite3_finalize(q);
    if (step == SQLITE_NOTADB) {
        rc = attn_skip("'%s' is not an attnbench database (not an SQLite file)", path);
        goto end;
    }
    if (step != SQLITE_ROW) {
        rc = attn_fail_sqlite(db, step, "reading the database's schema", __FILE__, __LINE__);
        goto end;
    }
    if (version == 0 && objects == 0) goto end; /* an SQLite database with nothing in it */
    if (version == 0 || tables != 2)
        rc = attn_skip("'%s' is not an attnbench database (an SQLite database without "
                       "attnbench's tables): refusing to add them to it",
                       path);
    else if (version > store_schema_version())
        rc = attn_skip("'%s' has schema version %d, newer than this attnbench (%d): use a newer "
                       "build",
                       path, version, store_schema_version());
end:
    if (db) {
        attn_error_info saved = attn_last_error;
        sqlite3_close(db);
        attn_last_error = saved;
    }
    return rc;
}
