/* sql.c — the bind, step, one-value query and transaction helpers of the store (see sql.h). */
#include "store/sql.h"

#include <math.h>
#include <stddef.h>

#include "core/error.h"

int store_exec(sqlite3 *db, const char *sql)
{
    SQLITE_CHECK(db, sqlite3_exec(db, sql, NULL, NULL, NULL));
    return ATTN_OK;
}

int store_bind_text(sqlite3 *db, sqlite3_stmt *st, int i, const char *s)
{
    SQLITE_CHECK(db, s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
                       : sqlite3_bind_null(st, i));
    return ATTN_OK;
}

int store_bind_real(sqlite3 *db, sqlite3_stmt *st, int i, double x)
{
    SQLITE_CHECK(db, isnan(x) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, x));
    return ATTN_OK;
}

int store_bind_int_or_null(sqlite3 *db, sqlite3_stmt *st, int i, int64_t v)
{
    SQLITE_CHECK(db, v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v));
    return ATTN_OK;
}

int store_query_int64(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

int store_step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

int store_finish(sqlite3 *db, sqlite3_stmt *st, int rc)
{
    if (rc != ATTN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    return store_step_done(db, st);
}

int store_transaction(sqlite3 *db, const char *begin, int (*fn)(sqlite3 *db, void *arg), void *arg)
{
    ATTN_TRY(store_exec(db, begin));
    if (fn(db, arg) != ATTN_OK) {
        attn_error_info saved = attn_last_error;
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        attn_last_error = saved;
        return ATTN_ERR;
    }
    return store_exec(db, "COMMIT");
}
