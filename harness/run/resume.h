/* resume.h — the arguments a run is made from. A new run's are its command line (stored with
 * the run: runs.argv). `--resume RUN` takes run RUN's stored arguments from --db, followed by the
 * resuming command line's (only --db, --devices, --quiet and --resume may be given there), so
 * that the sweep, its plan and every measurement option are the run's own; the worker processes
 * of `--devices` start the same way (run/workers.h). */
#ifndef ATTN_RUN_RESUME_H
#define ATTN_RUN_RESUME_H

#include "run/options.h"

typedef struct run_args {
    int argc;
    char **argv;   /* the arguments the options were parsed from ("run" first) */
    char **stored; /* --resume: the run's stored arguments (owned) */
    int n_stored;
} run_args;

/* Parses the command line into o, or with --resume the run's stored arguments and then the
 * command line's. 0, CLI_USAGE (printed) or CLI_HELP. run_args_free after either. */
int run_args_parse(int argc, char **argv, run_options *o, run_args *a);
void run_args_free(run_args *a);

#endif
