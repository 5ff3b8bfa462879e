/* resume.c — a run's arguments: the command line, or a resumed run's stored ones (resume.h). */
#include "run/resume.h"

#include <stdlib.h>
#include <string.h>

#include "store/open_readonly.h"
#include "store/plan.h"

/* With --resume the command line may only say where (--db), on which GPUs (--devices), which run
 * (--resume) and --quiet: everything else is the run's. */
static int check_resume_line(int argc, char **argv)
{
    static const char *const with_value[] = {"--db", "--devices", "--resume"};
    for (int i = 1; i < argc; i++) {
        int ok = cli_flag(argv, i, "--quiet");
        for (size_t k = 0; k < 3 && !ok; k++) {
            const char *v;
            ok = cli_opt(argc, argv, &i, with_value[k], &v);
        }
        if (!ok)
            return cli_error("run",
                             "--resume runs with the run's own options: '%s' cannot be "
                             "given (only --db, --devices, --quiet)",
                             cli_clip(argv[i]));
    }
    return 0;
}

/* The run's stored arguments into a->stored. */
static int load_stored(const run_options *o, run_args *a)
{
    sqlite3 *db;
    int rc = store_open_readonly(o->db, &db);
    if (rc != ATTN_OK) return cli_error("run", "--resume: %s", attn_last_error.msg);
    rc = store_run_argv(db, o->resume, &a->n_stored, &a->stored);
    store_close(db);
    if (rc != ATTN_OK)
        return cli_error("run", "--resume %lld: %s", (long long)o->resume, attn_last_error.msg);
    return 0;
}

int run_args_parse(int argc, char **argv, run_options *o, run_args *a)
{
    memset(a, 0, sizeof *a);
    a->argc = argc, a->argv = argv;
    int rc = run_options_parse(argc, argv, o);
    if (rc || !o->resume) return rc;
    if (check_resume_line(argc, argv) || load_stored(o, a)) return CLI_USAGE;
    a->argc = a->n_stored + argc - 1;
    if (!(a->argv = malloc((size_t)a->argc * sizeof *a->argv)))
        return cli_error("run", "out of host memory for the arguments");
    memcpy(a->argv, a->stored, (size_t)a->n_stored * sizeof *a->argv);
    memcpy(a->argv + a->n_stored, argv + 1, (size_t)(argc - 1) * sizeof *a->argv);
    return run_options_parse(a->argc, a->argv, o);
}

void run_args_free(run_args *a)
{
    if (a->stored) {
        free(a->argv);
        store_argv_free(a->n_stored, a->stored);
    }
    memset(a, 0, sizeof *a);
}
