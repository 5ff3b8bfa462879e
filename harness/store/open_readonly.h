/* open_readonly.h — looking at a results database without writing it: opening it for reading only, as the reading commands (show,
 * plot, report, export, compare, history) do: an SQLite read-only connection, so the file is never
 * created, migrated or written (in WAL mode SQLite may still create the -wal and -shm files beside
 * it, as every reader of a WAL database does), and a check that the file is an attnbench database
 * of a schema the readers can read. */
#ifndef ATTN_OPEN_READONLY_H
#define ATTN_OPEN_READONLY_H

typedef struct sqlite3 sqlite3;

/* The oldest schema the readers' queries work on: schema 2 added the tables and columns they read
 * beside schema 1's (metrics, kernels, stages, ceilings). An older database is migrated by the
 * next `attnbench run` on it, which is the only command that writes. */
#define STORE_READ_MIN_SCHEMA 2

/* Opens the database at path read-only into *db (close with store_close). Returns
 *   ATTN_OK
 *   ATTN_SKIP  bad input; attn_last_error.msg is a sentence naming the path: absent or unreadable,
 *              a directory, not an SQLite file, "not an attnbench database" (another application's
 *              SQLite file, even with a `runs` table of its own), a schema newer than this code, or
 *              one older than STORE_READ_MIN_SCHEMA (saying that `attnbench run` migrates it)
 *   ATTN_ERR   SQLite failed on a database that passed those checks (attn_last_error). */
int store_open_readonly(const char *path, sqlite3 **db);

/* Before `run` opens path for writing (nothing is written here): ATTN_OK when path is absent, an
 * empty file, an empty SQLite database or an attnbench database of this schema or older (store_open
 * migrates it); ATTN_SKIP with a sentence naming the path for a directory, a file that is not an
 * SQLite database, another application's SQLite database (left as it is), or a newer schema;
 * ATTN_ERR when SQLite fails otherwise. */
int store_check_run_target(const char *path);

#endif
