/* reader.c — opening a database and resolving a run for the reading commands (see reader.h). */
#include "report/reader.h"

#include <stdio.h>
#include <unistd.h>

#include "core/error.h"
#include "report/table.h"
#include "store/store.h"

int reader_open(const char *cmd, const char *path, sqlite3 **db)
{
    if (access(path, R_OK) != 0) return cli_error(cmd, "no readable database at '%s'", path);
    if (store_open(path, db) != ATTN_OK) return cli_error(cmd, "%s", attn_last_error.msg);
    return 0;
}

/* The run reader_open_run names; ATTN_SKIP with attn_last_error.msg when there is none. */
static int run_id(sqlite3 *db, int64_t run, const char *tag, int64_t *id)
{
    table_bind b[] = {{tag, run}};
    int found;
    if (run > 0) ATTN_TRY(table_int(db, "SELECT id FROM runs WHERE id = ?1", b, 1, id, &found));
    else if (tag) ATTN_TRY(table_int(db, "SELECT max(id) FROM runs WHERE tag = ?1", b, 1, id, &found));
    else ATTN_TRY(table_int(db, "SELECT max(id) FROM runs", b, 0, id, &found));
    if (found) return ATTN_OK;
    if (run > 0) return attn_skip("no run %lld", (long long)run);
    return tag ? attn_skip("no run tagged '%s'", tag) : attn_skip("no runs");
}

int reader_open_run(const char *cmd, const char *path, int64_t run, const char *tag,
                    sqlite3 **db, int64_t *id)
{
    int rc = reader_open(cmd, path, db);
    if (rc) return rc;
    rc = run_id(*db, run, tag, id);
    if (rc == ATTN_OK) return 0;
    store_close(*db);
    if (rc == ATTN_SKIP) return cli_error(cmd, "%s in '%s'", attn_last_error.msg, path);
    fprintf(stderr, "attnbench %s: %s\n", cmd, attn_last_error.msg);
    return 1;
}
