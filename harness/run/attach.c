/* attach.c — the run a `run` process writes, and its worker row (see attach.h). */
#include "run/attach.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run/provenance.h"
#include "store/plan.h"

static int failed(void) { return fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg), 1; }

/* A new run: its row, its scale-out columns (the arguments --resume and the workers parse again)
 * and its plan. */
static int begin_run(run_attach *a)
{
    const run_options *o = a->o;
    static run_provenance_text text;
    store_run info;
    char shard[32];
    int64_t existing = 0;
    if (o->run_uuid && store_run_by_uuid(a->db, o->run_uuid, &existing) == ATTN_OK && existing)
        return cli_error("run",
                         "--run-uuid %s: run %lld of %s has it already (--resume %lld "
                         "finishes that run; shards that share an id write databases of their "
                         "own, then attnbench merge)",
                         o->run_uuid, (long long)existing, o->db, (long long)existing);
    snprintf(shard, sizeof shard, "%d/%d", o->shard, o->n_shards);
    run_provenance(o, a->gpu, a->args->argc, a->args->argv, a->metrics_reason, &text, &info);
    if (!o->cpu && !a->gpu) /* the coordinator: the first worker to start gives its GPU's */
        info.backend = "cuda", info.timing_method = NULL, info.cache_mode = NULL;
    if (store_run_begin(a->db, &info, &a->run_id) != ATTN_OK ||
        store_run_scale(a->db, a->run_id, o->run_uuid, o->n_shards ? shard : NULL, a->plan->n,
                        a->args->argc, a->args->argv) != ATTN_OK ||
        store_plan_add(a->db, a->run_id, a->plan->rows, a->plan->n_rows) != ATTN_OK)
        return failed();
    a->n_open = a->plan->n_rows;
    return 0;
}

/* --resume RUN: the run is there, not running, and its plan is the one its options give now;
 * its points not done are opened again (a worker process finds all this done). */
static int resume_run(run_attach *a)
{
    const int64_t id = a->o->resume;
    char status[32];
    int differ;
    if (store_run_status(a->db, id, status, sizeof status) != ATTN_OK ||
        store_plan_differs(a->db, id, a->plan->rows, a->plan->n_rows, &differ) != ATTN_OK)
        return failed();
    a->run_id = id;
    if (a->worker_process) return 0;
    if (strcmp(status, "running") == 0)
        return cli_error("run", "--resume %lld: the run is still running", (long long)id);
    if (differ)
        return cli_error("run",
                         "--resume %lld: %d planned points differ from what the run's "
                         "options give now (another build, or a changed --sweep file)",
                         (long long)id, differ);
    if (store_plan_reopen(a->db, id, &a->n_open) != ATTN_OK ||
        (a->n_open && store_run_resume(a->db, id) != ATTN_OK))
        return failed();
    if (a->n_open) return 0;
    fprintf(stderr, "attnbench run: run %lld (%s) ran every planned point: nothing to resume\n",
            (long long)id, status);
    return -1;
}

/* This process's worker row; a worker of a GPU run also gives the run its device's provenance
 * if no other worker has yet. */
static int worker_row(run_attach *a)
{
    const attn_gpu_info *gpu = a->gpu;
    if (!a->worker_process &&
        store_worker_add(a->db, a->run_id, a->device, getpid(), &a->worker) != ATTN_OK)
        return failed();
    if (store_worker_started(a->db, a->run_id, a->worker, gpu ? gpu->uuid : NULL,
                             gpu ? gpu->name : NULL) != ATTN_OK)
        return failed();
    if (!gpu || !a->worker_process) return 0;
    static run_provenance_text text;
    store_run info;
    run_provenance(a->o, gpu, a->args->argc, a->args->argv, a->metrics_reason, &text, &info);
    return store_run_device(a->db, a->run_id, &info) != ATTN_OK ? failed() : 0;
}

int run_attach_store(run_attach *a)
{
    const int rc = a->o->resume ? resume_run(a) : begin_run(a);
    if (rc || a->o->n_devices) return rc; /* the coordinator runs no points */
    return worker_row(a);
}
