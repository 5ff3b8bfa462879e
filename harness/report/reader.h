/* reader.h — what the reading commands (show, plot, report, export, compare, history) share:
 * opening an existing database read-only (store/open_readonly.h), resolving the run they read,
 * their --db / --run options, checking an output file before the work and the write errors of
 * standard output after it. Readers only read: nothing here writes to the database. */
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

/* Opens the database at path read-only for a reading command: 0; CLI_USAGE after printing
 * "attnbench CMD: ..." when it is absent, unreadable, a directory, not an attnbench database, or of
 * a schema this code does not read (store_open_readonly); 1 when SQLite failed on it. */
int reader_open(const char *cmd, const char *path, sqlite3 **db);

/* reader_open, then the run into *id: the run with id `run` (> 0), else the newest run tagged `tag`
 * (non-NULL), else the newest run. 0; CLI_USAGE (no such run: "no run 7 in 'PATH'") or 1 (the
 * database failed), each after printing the message and closing the database. */
int reader_open_run(const char *cmd, const char *path, int64_t run, const char *tag,
                    sqlite3 **db, int64_t *id);

/* Checks, before any work, that the file `path` given with `option` can be written: not a
 * directory, and either writable or absent from an existing writable directory. 0, or CLI_USAGE
 * after printing "attnbench CMD: cannot write --junit '/x/j.xml': no directory '/x'". */
int reader_check_output(const char *cmd, const char *option, const char *path);

/* Flushes standard output after the work: 0, or -1 after printing "attnbench CMD: cannot write to
 * standard output: REASON" when a write failed (a full disk, /dev/full, a closed pipe). The
 * command then exits non-zero: 1, or 2 for the gates, whose 1 means a regression. */
int reader_flush_stdout(const char *cmd);

#endif
