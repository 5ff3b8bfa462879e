/* progress.h — the run's progress line on stderr ("[12/96] fused bf16 B=1 ... ETA 1m02s"),
 * rewritten in place; off with --quiet or when stderr is not a terminal. */
#ifndef ATTN_RUN_PROGRESS_H
#define ATTN_RUN_PROGRESS_H

#include "core/problem.h"

typedef struct run_progress {
    int quiet;       /* 1: no line */
    int done, total; /* points */
    double t0;       /* attn_now() at the start */
} run_progress;

void run_progress_start(run_progress *pr, int quiet, int total);
/* The line for the point about to run. */
void run_progress_show(const run_progress *pr, const char *variant, const attn_point *p);
/* The line of `run --devices`: points done by all the workers, how many are running. */
void run_progress_workers(const run_progress *pr, int running);
/* Erases the line, before a message of its own line. */
void run_progress_clear(const run_progress *pr);

#endif
