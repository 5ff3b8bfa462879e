/* attach.h — which run a `run` process writes, once the database is open: a new run (its row,
 * its scale-out columns and its plan: store/plan.h), or with --resume the run named, checked
 * (not running, and its stored plan the one its options give now) and its points not done
 * opened again; and, for a process that runs points itself (not the coordinator of --devices),
 * its row in `workers` (a worker of --devices also gives a GPU run its device's provenance). */
#ifndef ATTN_RUN_ATTACH_H
#define ATTN_RUN_ATTACH_H

#include "measure/gpu.h"
#include "run/plan.h"
#include "run/resume.h"

typedef struct run_attach {
    /* In. */
    sqlite3 *db;
    const run_options *o;
    const run_plan *plan;
    const run_args *args;       /* the arguments the run is made from (stored with a new run) */
    const attn_gpu_info *gpu;   /* this process's device; NULL: CPU backend or coordinator */
    const char *metrics_reason; /* --metrics not collected: why (NULL: collected or none) */
    int worker_process;         /* 1: a worker of --devices, its row made by the coordinator */
    int device;                 /* --devices index, 0 for a plain GPU run; -1: none */
    /* Out. */
    int64_t run_id;
    int worker; /* workers.idx of this process (as given for a worker process) */
    int n_open; /* planned points still to run */
} run_attach;

/* 0; 1 (failed: printed); CLI_USAGE (--run-uuid the database has; a run still running or with
 * another plan: printed); -1 (--resume of a run with nothing left to run: said so). */
int run_attach_store(run_attach *a);

#endif
