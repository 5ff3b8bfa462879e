/* merge.c — `attnbench merge OUT.db IN.db...`: shard databases (or any attnbench databases) into
 * one (store_merge, store/plan.h). Every input is checked before anything is written: a newer
 * schema, a file that is not an attnbench database or OUT itself among the inputs is bad input
 * (exit 2, nothing written). Then each is attached to OUT in turn and merged in one transaction;
 * a failure leaves OUT with the inputs before it merged whole. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "store/open_readonly.h"
#include "store/plan.h"

typedef struct merge_options {
    const char *paths[CLI_LIST_MAX]; /* OUT, then the inputs */
    int n_paths;
} merge_options;

static int add_path(void *ctx, const char *arg)
{
    merge_options *m = ctx;
    if (m->n_paths == CLI_LIST_MAX) return cli_error("merge", "too many databases");
    m->paths[m->n_paths++] = arg;
    return 0;
}

static const cli_option merge_option_table[] = {{0}};

static const cli_command merge_command = {
    "merge",
    "OUT.db IN.db...",
    "Merges the runs of each IN into OUT (created when absent). Runs are keyed by their run_uuid:\n"
    "a run OUT has already is joined (the points it lacks are added: shards run with one\n"
    "--run-uuid become one run), so merging twice adds nothing. An older IN is migrated in\n"
    "place first; a newer one is refused.\n",
    merge_option_table,
    "Exit status: 0 merged; 1 SQLite failed (OUT keeps the inputs merged before); 2 bad usage or\n"
    "input (a newer schema, not an attnbench database, OUT among the inputs): nothing written.\n",
    add_path,
};

/* Every input readable as an attnbench database OUT can take, and none of them OUT. */
static int check_inputs(const merge_options *m)
{
    char out[PATH_MAX], in[PATH_MAX];
    const int out_exists = realpath(m->paths[0], out) != NULL;
    for (int i = 1; i < m->n_paths; i++) {
        if (access(m->paths[i], R_OK) != 0)
            return cli_error("merge", "cannot read database '%s'", cli_clip(m->paths[i]));
        if (out_exists && realpath(m->paths[i], in) && strcmp(in, out) == 0)
            return cli_error("merge", "'%s' is OUT itself", cli_clip(m->paths[i]));
        if (store_check_run_target(m->paths[i]) != ATTN_OK)
            return cli_error("merge", "%s", attn_last_error.msg);
    }
    return store_check_run_target(m->paths[0]) == ATTN_OK
               ? 0
               : cli_error("merge", "%s", attn_last_error.msg);
}

int cmd_merge(int argc, char **argv)
{
    static merge_options m;
    memset(&m, 0, sizeof m);
    int rc = cli_parse(&merge_command, argc, argv, &m);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (m.n_paths < 2) return cli_error("merge", "needs OUT.db and at least one IN.db");
    if (check_inputs(&m)) return CLI_USAGE;
    sqlite3 *db;
    if (store_open(m.paths[0], &db) != ATTN_OK) {
        fprintf(stderr, "attnbench merge: %s\n", attn_last_error.msg);
        return strstr(attn_last_error.msg, "newer") ? CLI_USAGE : 1;
    }
    for (int i = 1; i < m.n_paths && !rc; i++) {
        store_merge_stats s;
        const int merged = store_merge(db, m.paths[i], &s);
        if (merged != ATTN_OK) {
            fprintf(stderr, "attnbench merge: %s: %s\n", m.paths[i], attn_last_error.msg);
            rc = merged == ATTN_SKIP ? CLI_USAGE : 1;
        } else
            printf("%s: %d new run(s), %d joined; %d point(s) added, %d already there\n",
                   m.paths[i], s.runs_new, s.runs_joined, s.points, s.points_present);
    }
    store_close(db);
    return rc;
}
