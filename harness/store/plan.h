/* plan.h — the store's side of scale-out (schema 6): a run's plan (every point it is to run, one
 * row each, with its state), the worker processes that run it (one per GPU), and the run's
 * scale-out columns (run_uuid, shard, sweep_points, argv). Points are handed out by claiming
 * plan rows, each claim one short transaction, so any number of processes can share a plan; a
 * point's row and its plan row's 'done' are one transaction (store_point_add with an origin).
 * merge.c combines databases run by run (store_merge). */
#ifndef ATTN_STORE_PLAN_H
#define ATTN_STORE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* One planned point. */
typedef struct store_plan_row {
    int plan_idx; /* position in the whole sweep (before --shard) */
    int deal;     /* the order points are claimed in, from 0 */
    const char *variant;
    const char *point; /* the shape and params as text: compared on --resume */
    double dense_flops;
} store_plan_row;

/* The run's scale-out columns: run_uuid (unique in the database; NULL: a random version-4
 * UUID), shard ("i/n", NULL: the whole sweep), the whole sweep's point count, and argv (`run` and its arguments) as a JSON array. */
int store_run_scale(sqlite3 *db, int64_t run_id, const char *run_uuid, const char *shard,
                    int sweep_points, int argc, char *const *argv);
/* A run with this run_uuid: its id in *run_id, 0 when none. */
int store_run_by_uuid(sqlite3 *db, const char *run_uuid, int64_t *run_id);
/* The run's stored arguments (JSON array in runs.argv) into a malloc'd array of malloc'd strings
 * (*argc of them; free with store_argv_free). ATTN_SKIP when the run has no such row or none
 * stored (a run from before schema 6), attn_last_error.msg saying which. */
int store_run_argv(sqlite3 *db, int64_t run_id, int *argc, char ***argv);
void store_argv_free(int argc, char **argv);
/* The run is being resumed by this process: 'running' again, with its pid and heartbeat; its
 * earlier workers that never recorded an end are 'crashed'. */
int store_run_resume(sqlite3 *db, int64_t run_id);

/* The plan rows, state 'pending', in one transaction. */
int store_plan_add(sqlite3 *db, int64_t run_id, const store_plan_row *rows, int n);
/* How many of rows differ from the stored plan (plan_idx, variant and point), counting stored
 * rows that are not among them too. */
int store_plan_differs(sqlite3 *db, int64_t run_id, const store_plan_row *rows, int n, int *differ);
/* Every row not 'done' back to 'pending' (its reason cleared): what --resume runs. Their count. */
int store_plan_reopen(sqlite3 *db, int64_t run_id, int *n_open);
/* Claims the next pending row (lowest deal) for worker: state 'running'. *plan_idx = -1 when
 * none is left. */
int store_plan_claim(sqlite3 *db, int64_t run_id, int worker, int *plan_idx);
/* The worker's 'running' rows (claimed, not stored) to state ('pending' or 'lost'), with reason. */
int store_plan_release(sqlite3 *db, int64_t run_id, int worker, const char *state,
                       const char *reason);
/* Pending rows without a reason get this one (why they never ran). */
int store_plan_unrun(sqlite3 *db, int64_t run_id, const char *reason);
/* Rows of the run in state (NULL: every state but 'done'). */
int store_plan_count(sqlite3 *db, int64_t run_id, const char *state, int *n);

/* A worker's row: status 'starting', its device and pid (< 0: not known yet); idx: the next
 * free one of the run. */
int store_worker_add(sqlite3 *db, int64_t run_id, int device, int64_t pid, int *idx);
/* The worker process has its device: status 'running', the GPU's UUID and name (NULL: CPU). */
int store_worker_started(sqlite3 *db, int64_t run_id, int idx, const char *gpu_uuid,
                         const char *gpu_name);
/* The worker's end, unless it already recorded one (only_if_live: from 'starting'/'running'). */
int store_worker_end(sqlite3 *db, int64_t run_id, int idx, const char *status, const char *reason,
                     int only_if_live);
/* "worker 1 (device 1): killed by SIGKILL; ..." for every worker of the run that did not end
 * 'ok', into buf; "" when none. */
int store_worker_failures(sqlite3 *db, int64_t run_id, char *buf, size_t n);

/* The run's final status from its plan and points: 'partial' (some planned point did not run,
 * or with whole_sweep — a shard's run merged into another database, standing for the sweep —
 * the sweep's points are not all in its plan), 'failed' (a point failed its check or errored),
 * else 'ok'; the reason into buf ("" for ok). */
int store_run_outcome(sqlite3 *db, int64_t run_id, int whole_sweep, const char **status,
                      char *reason, size_t n);

/* The point's schema-6 columns and its plan row 'done' (inside store_point_add's transaction). */
int store_point_origin_write(sqlite3 *db, int64_t run_id, int64_t point_id,
                             const store_point_origin *o);

/* Merges every run of the database at in_path into db (see merge.c): runs keyed by run_uuid, the
 * points of a run already there by plan_idx, so merging twice adds nothing. The input is
 * migrated in place first when older; ATTN_SKIP (bad input, nothing written) when it is newer or
 * not an attnbench database. Counts of what was added. */
typedef struct store_merge_stats {
    int runs_new, runs_joined, points, points_present;
} store_merge_stats;
int store_merge(sqlite3 *db, const char *in_path, store_merge_stats *s);

#endif
