/* workers.h — `attnbench run --devices all|0,1,...`: one worker process per GPU.
 *
 * Why processes, not threads: a CUDA context, CUPTI's subscriber and activity buffers, the NVML
 * clock reads, the range profiler and the interrupt flag are per process, and a sticky CUDA error
 * (an illegal address) poisons the whole context; a worker process owns all of them for one GPU,
 * pinned by CUDA_VISIBLE_DEVICES, and its crash or sticky error ends that process only. The
 * coordinator (the command itself) never touches CUDA: it stores the run and its plan, starts
 * each worker as `attnbench run --resume RUN --db DB --quiet` with ATTNBENCH_WORKER=IDX:DEVICE
 * (so the worker parses the run's own stored arguments: run/resume.h), shows one progress line
 * for all of them, and waits. The workers claim the plan's points longest first (store/plan.h),
 * each storing its points in their own transactions into the one database (WAL, busy timeout).
 * A worker killed by a signal or exiting early is recorded (workers.status 'crashed' with the
 * exit reason) and the point it was running is marked 'lost'; the others go on with the rest.
 * Points no worker ran keep state 'pending'/'lost' with the reason; the run is then 'partial',
 * and `--resume RUN` runs exactly those. */
#ifndef ATTN_RUN_WORKERS_H
#define ATTN_RUN_WORKERS_H

#include <stdint.h>

#include "run/options.h"
#include "store/store.h"

/* This process as a worker: its workers.idx and --devices index from ATTNBENCH_WORKER; 0, or -1
 * when it is no worker. */
int run_worker_identity(int *idx, int *device);

/* --devices all: every visible GPU (one label, 0, on the CPU backend). 0, or 1 with the reason
 * printed (no GPU). */
int run_devices_resolve(run_options *o);

/* The coordinator: a worker per device for run run_id of the database at o->db (open as db),
 * whose plan has n_open points to run; waits for them, records each one's end and the run's.
 * Returns the exit status (0: the run is 'ok'). */
int run_workers(const run_options *o, sqlite3 *db, int64_t run_id, int n_open);

/* The test hook: ATTNBENCH_DEBUG_KILL="K" (any process) or "DEVICE:K" (the worker of that
 * device) makes a process that runs points SIGKILL itself after claiming its (K+1)-th point —
 * a crash in the middle of a point. */
void run_debug_kill(int device, int claimed);

#endif
