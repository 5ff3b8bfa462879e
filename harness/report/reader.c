/* reader.c — opening a database and resolving a run for the reading commands, and their output
 * checks (see reader.h). */
#include "report/reader.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "report/table.h"
#include "store/open_readonly.h"
#include "store/store.h"

int reader_open(const char *cmd, const char *path, sqlite3 **db)
{
    int rc = store_open_readonly(path, db);
    if (rc == ATTN_SKIP) return cli_error(cmd, "%s", attn_last_error.msg);
    if (rc == ATTN_OK) return 0;
    fprintf(stderr, "attnbench %s: %s\n", cmd, attn_last_error.msg);
    return 1;
}

int reader_check_output(const char *cmd, const char *option, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cli_error(cmd, "cannot write %s '%s': it is a directory", option, path);
        if (access(path, W_OK) != 0)
            return cli_error(cmd, "cannot write %s '%s': %s", option, path, strerror(errno));
        return 0;
    }
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error(cmd, "cannot write %s '%s': no directory '%s'", option, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_error(cmd, "cannot write %s '%s': directory '%s' is not writable (%s)", option,
                         path, dir, strerror(errno));
    return 0;
}

int reader_flush_stdout(const char *cmd)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    fprintf(stderr, "attnbench %s: cannot write to standard output: %s\n", cmd,
            errno ? strerror(errno) : "a write failed");
    return -1;
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
