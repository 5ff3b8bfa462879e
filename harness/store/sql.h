/* sql.h — the SQLite helpers the store's files share (internal to harness/store/): every return
 * code through SQLITE_CHECK, NaN and negative "unknown" values bound as NULL. */
#ifndef ATTN_STORE_SQL_H
#define ATTN_STORE_SQL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Runs SQL text (no parameters). */
int store_exec(sqlite3 *db, const char *sql);
/* Binds text, NULL when s is NULL. */
int store_bind_text(sqlite3 *db, sqlite3_stmt *st, int i, const char *s);
/* Binds a real; NaN (not measured) as NULL. */
int store_bind_real(sqlite3 *db, sqlite3_stmt *st, int i, double x);
/* Binds an integer; NULL when negative (unknown). */
int store_bind_int_or_null(sqlite3 *db, sqlite3_stmt *st, int i, int64_t v);
/* The first column of the first row of SQL text (no parameters) as an integer in *out; 0 when
 * there is no row. */
int store_query_int64(sqlite3 *db, const char *sql, int64_t *out);
/* Runs a prepared statement to completion and finalises it. */
int store_step_done(sqlite3 *db, sqlite3_stmt *st);
/* Finalises st when a bind failed (rc != ATTN_OK), else steps it to completion; returns the
 * first failure. */
int store_finish(sqlite3 *db, sqlite3_stmt *st, int rc);
/* Runs fn(db, arg) in one transaction opened by `begin` ("BEGIN IMMEDIATE"...) and commits; on
 * failure rolls back, keeping the failure in attn_last_error. */
int store_transaction(sqlite3 *db, const char *begin, int (*fn)(sqlite3 *db, void *arg), void *arg);

/* This process's PID namespace as "BOOT_ID:INODE" (the boot id and the namespace's inode: a pid
 * means the same process only within one) into buf; 0 when /proc cannot say (run_state.c). */
int store_pid_namespace(char *buf, size_t n);

#endif
