/* run.c — `attnbench run`: the sweep. For every shape: make the seeded inputs, then for every
 * variant (and combination of its parameters) run the point (point.h: check its output against
 * the fp64 reference, or, for an approximation, against its own CPU algorithm under its accuracy
 * bounds; only if it passes, time it) and store it with every sample in one transaction.
 *
 * Failure policy: an unsupported or out-of-memory point is stored `skipped` and the sweep goes on
 * (on the host, a shape that cannot fit is skipped before it is allocated: point.h); a failed check
 * is stored `failed` (never timed); a non-sticky error is stored `error`; a sticky CUDA error (the
 * context is lost) stores the point, marks the run `aborted` and stops. Usage errors (options,
 * --param keys and values, paths) exit 2 before the database is created.
 *
 * Ctrl-C (SIGINT, SIGTERM: core/interrupt.h) stops the point in progress at its next sample or
 * row; that point is not stored, and the run is `interrupted` unless every point had finished. A
 * second signal ends the process at once (its run then reads as abandoned: store.h).
 *
 * The points are the run's plan (run/plan.h), stored with the run and claimed from the database
 * one at a time (store/plan.h), so that a run killed mid-sweep can be finished (--resume: the
 * run's own arguments, run/resume.h; which run and worker row, run/attach.h). With --devices
 * this process is the coordinator of one worker process per GPU (run/workers.h), and each worker
 * runs this file's loop on the same plan. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "core/interrupt.h"
#include "measure/gpu.h"
#include "measure/trace.h"
#include "run/attach.h"
#include "run/ceilings.h"
#include "run/point.h"
#include "run/plan.h"
#include "run/progress.h"
#include "run/resume.h"
#include "run/sweep.h"
#include "run/workers.h"
#include "store/open_readonly.h"
#include "store/plan.h"

/* The command's resources and tallies. */
typedef struct run_state {
    run_options *o;
    run_sweep sweep;
    run_plan plan;
    int worker;                   /* workers.idx of this process; -1: none yet */
    int worker_process;           /* 1: a worker of `--devices` (run/workers.h) */
    int device;                   /* --devices index of a worker; 0 on a GPU; -1 CPU */
    int n_open;                   /* planned points still to run */
    int claimed;                  /* points this process claimed */
    run_env env;
    attn_gpu_info gpu;
    sqlite3 *db;
    int64_t run_id;
    int cupti_started;
    const char *metrics_reason;   /* --metrics not collected: why */
    char metrics_why[768];
    run_progress progress;
    int n_ok, n_skipped, n_failed, n_counted;
    const char *status;           /* the run's: "ok", "failed", "aborted", "interrupted" */
    char reason[2048];
} run_state;

/* ---------------------------------------------------------------- setup */

/* The database path must be writable before anything runs: a missing directory or a read-only
 * file is a usage error, and nothing is written. */
static int check_db_path(const char *path)
{
    if (access(path, F_OK) == 0) {
        if (access(path, R_OK | W_OK) != 0)
            return cli_error("run", "cannot write database '%s': %s", path, strerror(errno));
        const int rc = store_check_run_target(path);
        return rc == ATTN_OK ? 0 : cli_error("run", "%s", attn_last_error.msg);
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("run", "cannot create database '%s': directory '%s' does not exist", path,
                         dir);
    if (access(dir, W_OK) != 0)
        return cli_error("run", "cannot create database '%s': directory '%s' is not writable", path,
                         dir);
    return 0;
}

static int check_paths(const run_options *o, const run_sweep *sw)
{
    struct stat st;
    const int n_shapes = sw->n_shapes;
    if (o->save_dir && n_shapes != 1)
        return cli_error("run", "--save-tensors needs exactly one shape (this sweep has %d)",
                         n_shapes);
    if (o->inputs_dir && n_shapes != 1)
        return cli_error("run", "--inputs needs exactly one shape (this sweep has %d)", n_shapes);
    if (o->inputs_dir && run_inputs_check(o->inputs_dir, &sw->shapes[0]) != ATTN_OK)
        return cli_error("run", "--inputs: %s", attn_last_error.msg);
    if (o->save_dir && (stat(o->save_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
                        access(o->save_dir, W_OK) != 0))
        return cli_error("run", "--save-tensors: '%s' is not a writable directory", o->save_dir);
    return check_db_path(o->db);
}

/* The run's own stream and the buffer whose read flushes L2 between cold samples (freed by
 * cmd_run, also after a failure here). */
static int gpu_buffers(run_env *env)
{
    CUDA_CHECK(cudaStreamCreateWithFlags(&env->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc(&env->flush, env->flush_bytes));
    /* written once: the flush only reads it (compute-sanitizer's initcheck flags unwritten reads) */
    CUDA_CHECK(cudaMemset(env->flush, 0, env->flush_bytes));
    return ATTN_OK;
}

/* GPU backend: CUPTI (before the first CUDA call), the device, the run's stream and the L2 flush
 * buffer. 0, or 1 (no usable GPU: one line on stderr says so, and CUPTI's failure, which follows
 * from it, is not reported). */
static int open_device(run_state *r)
{
    const run_options *o = r->o;
    if (o->profiler) attn_cupti_disable("profiler mode: CUPTI left to the profiler");
    else if (o->no_cupti) attn_cupti_disable("disabled by --no-cupti");
    else r->cupti_started = attn_cupti_init() == ATTN_OK;
    if (attn_gpu_open(&r->gpu) != ATTN_OK) {
        fprintf(stderr, "attnbench run: no usable GPU (%s); nothing was run: --backend cpu runs "
                "the CPU implementations\n", attn_last_error.api == ATTN_API_CUDA
                ? cudaGetErrorString((cudaError_t)attn_last_error.code) : attn_last_error.msg);
        return 1;
    }
    if (!o->no_cupti && !r->cupti_started)
        fprintf(stderr, "attnbench run: CUPTI off, timing with CUDA events: %s\n",
                attn_cupti_reason());
    r->env.flush_bytes = 2 * (size_t)r->gpu.l2_bytes;
    r->o->measure.max_sm_mhz = r->gpu.clocks.max_sm_mhz;
    if (gpu_buffers(&r->env) != ATTN_OK) {
        fprintf(stderr, "attnbench run: cannot set up the GPU: %s\n", attn_last_error.msg);
        return 1;
    }
    return 0;
}

/* --metrics: the range profiler is set up now (it needs the context); a clean skip with the
 * reason where counters are not permitted or not supported. */
static void open_counters(run_state *r)
{
    const run_options *o = r->o;
    if (!o->metrics) return;
    if (o->cpu) r->metrics_reason = "no hardware counters on the CPU backend";
    else if (o->profiler) r->metrics_reason = "profiler mode: the counters are the profiler's";
    else if (attn_metrics_open(o->metrics, r->metrics_why, sizeof r->metrics_why) == ATTN_OK)
        r->env.metrics_on = 1;
    else r->metrics_reason = r->metrics_why;
    if (r->env.metrics_on)
        fprintf(stderr, "attnbench run: --metrics %s: CUPTI range profiler on %s, %d pass(es) "
                "per point, after its timed samples\n", o->metrics, attn_metrics_chip(),
                attn_metrics_passes());
    else
        fprintf(stderr, "attnbench run: --metrics %s skipped: %s\n", o->metrics, r->metrics_reason);
}

/* The database (runs whose process is gone marked abandoned) and the run's row: a new run, or
 * the one --resume names. 0, 1 (failed), 2 (a newer database: bad input; --run-uuid taken; a
 * resume that cannot be), or -1 (nothing to resume). */
static int open_store(run_state *r, const run_args *a)
{
    int abandoned = 0;
    if (store_open(r->o->db, &r->db) != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        /* A newer schema, or a path SQLite cannot open or create (/proc/x.db): bad input. */
        const int cannot_open = attn_last_error.api == ATTN_API_SQLITE && attn_last_error.code == 14;
        return strstr(attn_last_error.msg, "newer") || cannot_open ? CLI_USAGE : 1;
    }
    if (store_mark_abandoned(r->db, &abandoned) != ATTN_OK)
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    else if (abandoned)
        fprintf(stderr, "attnbench run: %d earlier run%s marked abandoned: %s process is gone\n",
                abandoned, abandoned == 1 ? "" : "s", abandoned == 1 ? "its" : "their");
    run_attach at = {r->db, r->o, &r->plan, a, r->o->cpu || r->o->n_devices ? NULL : &r->gpu,
                     r->metrics_reason, r->worker_process, r->device, 0, r->worker, 0};
    const int rc = run_attach_store(&at);
    r->run_id = at.run_id, r->worker = at.worker, r->n_open = at.n_open;
    return rc;
}

/* ---------------------------------------------------------------- the loop */

static void stop_run(run_state *r, const char *status, const char *what, const char *why)
{
    r->status = status;
    snprintf(r->reason, sizeof r->reason, "%s: %s", what, why);
}

/* Stores a point and counts it; the messages of a failed point and of the counters going off. */
static void tally(run_state *r, run_point *pt)
{
    char text[200];
    int64_t point_id;
    if (run_point_store(r->db, r->run_id, pt, &point_id) != ATTN_OK)
        stop_run(r, "aborted", "storing a point", attn_last_error.msg);
    if (pt->counters.n) r->n_counted++;
    if (pt->counters_error[0]) { /* off for the rest of the run, with the reason */
        char why[1200];
        r->env.metrics_on = 0;
        snprintf(why, sizeof why, "range-profiler pass failed at %s %s (%d point(s) collected "
                 "before): %s", pt->v->name, attn_point_format(&pt->p, text, sizeof text),
                 r->n_counted, pt->counters_error);
        run_progress_clear(&r->progress);
        fprintf(stderr, "attnbench run: --metrics off: %s\n", why);
        if (store_run_metrics_reason(r->db, r->run_id, why) != ATTN_OK)
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    }
    if (pt->status == RUN_POINT_OK) r->n_ok++;
    else if (pt->status == RUN_POINT_SKIPPED) r->n_skipped++;
    else {
        r->n_failed++;
        run_progress_clear(&r->progress);
        fprintf(stderr, "%s %s %s: %s\n", pt->sp.status, pt->v->name,
                attn_point_format(&pt->p, text, sizeof text), pt->reason);
    }
    if (pt->abort) {
        snprintf(text, sizeof text, "sticky CUDA error at %s", pt->v->name);
        stop_run(r, "aborted", text, pt->reason);
    }
    r->progress.done++;
}

static int going(const run_state *r) { return !attn_interrupted && !r->reason[0]; }

/* The inputs of sweep shape si (and with --save-tensors their .npy). */
static void shape_setup(run_state *r, int si, run_shape *shape)
{
    run_shape_setup(&r->env, &r->sweep.shapes[si], shape);
    if (shape->setup_rc == ATTN_OK && r->o->save_dir &&
        run_shape_save_inputs(&r->env, shape) != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        shape->setup_rc = ATTN_ERR, shape->setup_error = attn_last_error;
    }
}

/* Runs planned point plan_idx, with the shape's inputs in *shape (*current: the sweep shape they
 * are of, -1 none; made when another). */
static void run_planned(run_state *r, int plan_idx, run_shape *shape, int *current)
{
    static run_point pt;
    const run_plan_entry *e = &r->plan.entries[plan_idx];
    if (e->shape != *current) {
        if (*current >= 0) run_shape_free(&r->env, shape);
        shape_setup(r, e->shape, shape);
        *current = e->shape;
    }
    const attn_variant *v = r->o->variants[e->variant];
    const char *params = r->sweep.combos[e->variant][e->combo];
    attn_point p = shape->p;
    snprintf(p.params, sizeof p.params, "%s", params);
    run_progress_show(&r->progress, v->name, &p);
    run_point_run(&r->env, shape, v, params, &pt);
    const store_point_origin origin = {plan_idx, r->worker, r->device,
                                       r->o->cpu ? NULL : r->gpu.uuid};
    pt.sp.origin = &origin;
    if (!pt.interrupted) tally(r, &pt);
    run_point_free(&pt);
}

/* Claims the plan's points one at a time (store/plan.h) until none is left or the run stops;
 * consecutive points of one shape share its inputs. A point claimed and not stored (a Ctrl-C)
 * goes back to the plan. */
static void run_points(run_state *r)
{
    static run_shape shape;
    int current = -1, plan_idx;
    while (going(r)) {
        if (store_plan_claim(r->db, r->run_id, r->worker, &plan_idx) != ATTN_OK) {
            stop_run(r, "aborted", "claiming a point", attn_last_error.msg);
            break;
        }
        if (plan_idx < 0) break;
        run_debug_kill(r->device, ++r->claimed);
        run_planned(r, plan_idx, &shape, &current);
    }
    if (current >= 0) run_shape_free(&r->env, &shape);
    if (store_plan_release(r->db, r->run_id, r->worker, "pending", NULL) != ATTN_OK)
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
}

/* ---------------------------------------------------------------- the end */

/* The status of what this process ran: interrupted, aborted (stop_run), failed, or ok; a run
 * that is this process's alone then takes what its plan and points say (store_run_outcome). */
static void outcome(run_state *r)
{
    int open = 0;
    if (store_plan_count(r->db, r->run_id, NULL, &open) != ATTN_OK)
        stop_run(r, "aborted", "reading the plan", attn_last_error.msg);
    if (attn_interrupted && !r->reason[0] && open) {
        r->status = "interrupted";
        snprintf(r->reason, sizeof r->reason, "interrupted by %s after %d of %d points",
                 attn_interrupted == SIGTERM ? "SIGTERM" : "SIGINT", r->progress.done,
                 r->progress.total);
    } else if (!r->reason[0] && !r->worker_process) {
        if (store_run_outcome(r->db, r->run_id, 0, &r->status, r->reason, sizeof r->reason) != ATTN_OK)
            stop_run(r, "aborted", "reading the outcome", attn_last_error.msg);
    } else if (!r->reason[0] && r->n_failed) {
        r->status = "failed";
        snprintf(r->reason, sizeof r->reason, "%d point(s) failed or errored", r->n_failed);
    }
}

/* Records the end: this process's worker row, and unless it is a worker of --devices (whose
 * coordinator ends the run) the run's, with the reason of the points that did not run. */
static int record_end(run_state *r)
{
    const char *reason = r->reason[0] ? r->reason : NULL;
    char unrun[2100];
    snprintf(unrun, sizeof unrun, "not run: the run ended %s%s%s", r->status, reason ? ": " : "",
             reason ? reason : "");
    ATTN_TRY(store_worker_end(r->db, r->run_id, r->worker, r->status, reason, 0));
    if (r->worker_process) return ATTN_OK;
    ATTN_TRY(store_plan_unrun(r->db, r->run_id, unrun));
    return store_run_end(r->db, r->run_id, r->status, reason);
}

static int finish(run_state *r)
{
    run_progress_clear(&r->progress);
    outcome(r);
    if (r->o->metrics && !r->o->cpu) attn_metrics_close();
    if (r->cupti_started) {
        attn_cupti_shutdown();
        /* Turned off during the run (a CUPTI call failed): later points were timed with events. */
        if (strcmp(attn_cupti_reason(), "shut down") != 0 &&
            store_run_cupti_off(r->db, r->run_id, attn_cupti_reason()) != ATTN_OK)
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    }
    if (record_end(r) != ATTN_OK) fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    fprintf(stderr, "attnbench run %lld %s%s: %d ok, %d skipped, %d failed or errored%s%s\n",
            (long long)r->run_id, r->worker_process ? "worker " : "", r->status, r->n_ok,
            r->n_skipped, r->n_failed, r->reason[0] ? " — " : "", r->reason);
    return strcmp(r->status, "ok") == 0 ? 0 : 1;
}

/* Runs the points in this process: the ceilings (once per run: by its first worker), the
 * progress line, the loop, the end. */
static int run_here(run_state *r)
{
    const run_options *o = r->o;
    if (!o->cpu && !o->no_ceilings && r->worker == 0) run_ceilings(r->db, r->run_id, r->env.stream);
    if (o->profiler)
        fprintf(stderr, "attnbench run: profiler mode (%s): no stream hold, no CUPTI, no "
                "ceilings, %d to %d samples per point; the run is marked a profiler run, "
                "not a timing\n", o->profiler, o->measure.min_samples, o->measure.max_samples);
    run_progress_start(&r->progress, o->quiet, r->n_open);
    if (!r->worker_process)
        fprintf(stderr, "attnbench run %lld: %d points (%d shapes × variants) on %s into %s\n",
                (long long)r->run_id, r->n_open, r->sweep.n_shapes,
                o->cpu ? "the CPU backend" : r->gpu.name, o->db);
    run_points(r);
    return finish(r);
}

int cmd_run(int argc, char **argv)
{
    static run_options o;
    static run_state r;
    static run_args args;
    int rc = run_args_parse(argc, argv, &o, &args);
    if (rc) {
        run_args_free(&args);
        return rc == CLI_HELP ? 0 : rc;
    }
    memset(&r, 0, sizeof r);
    r.o = &o, r.status = "ok", r.worker = -1, r.device = o.cpu ? -1 : 0;
    r.worker_process = run_worker_identity(&r.worker, &r.device) == 0 && o.resume;
    if (r.worker_process) o.n_devices = o.devices_all = 0; /* a worker runs points itself */
    r.env = (run_env){.o = &o, .backend = o.cpu ? &run_backend_cpu : &run_backend_gpu};
    if (run_sweep_make(&o, &r.sweep) || run_plan_make(&o, &r.sweep, &r.plan)) rc = CLI_USAGE;
    if (!rc) rc = check_paths(&o, &r.sweep) ? CLI_USAGE : 0;
    if (!rc) rc = run_devices_resolve(&o);
    if (!rc && !o.cpu && !o.n_devices) rc = open_device(&r);
    if (!rc && !o.n_devices) open_counters(&r);
    if (!rc) rc = open_store(&r, &args);
    if (!rc) {
        attn_interrupt_install(); /* from here a Ctrl-C ends the run with its row */
        rc = o.n_devices ? run_workers(&o, r.db, r.run_id, r.n_open) : run_here(&r);
    }
    if (r.db) store_close(r.db);
    if (r.env.flush) cudaFree(r.env.flush);
    if (r.env.stream) cudaStreamDestroy(r.env.stream);
    run_plan_free(&r.plan);
    run_sweep_free(&r.sweep);
    run_args_free(&args);
    return rc < 0 ? 0 : rc;
}
