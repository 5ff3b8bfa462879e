/* reader.h — what the reading commands (show, plot, report, export, compare, history) share:
 * opening an existing database without creating one, resolving the run they read, and their
 * --db / --run options. Readers only read: nothing here writes a row. */
#ifndef ATTN_READER_H
#define ATTN_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/cli.h"

typedef struct sqlite3 sqlite3;

#define READER_DB_DEFAULT "results/attnbench.db"

/* The --db and --run rows of a command's option table; TYPE is its options struct, with fields
 * `const char *db` and (for --run) `int64_t run` (0: the newest run). */
#define READER_OPTION_DB(TYPE)                                                             \
    {"--db", "PATH", "database (default " READER_DB_DEFAULT ")", cli_set_text, offsetof(TYPE, db)}
#define READER_OPTION_RUN(TYPE)                                                            \
    {"--run", "N", "run id (default: the newest)", cli_set_id, offsetof(TYPE, run)}

/* Opens the database at path for a reading command: 0, or CLI_USAGE after printing
 * "attnbench CMD: ..." when it is absent, unreadable or newer than this code. */
int reader_open(const char *cmd, const char *path, sqlite3 **db);

/* reader_open, then the run into *id: the run with id `run` (> 0), else the newest run tagged `tag`
 * (non-NULL), else the newest run. 0; CLI_USAGE (no such run: "no run 7 in 'PATH'") or 1 (the
 * database failed), each after printing the message and closing the database. */
int reader_open_run(const char *cmd, const char *path, int64_t run, const char *tag,
                    sqlite3 **db, int64_t *id);

#endif
