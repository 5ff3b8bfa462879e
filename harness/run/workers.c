/* workers.c — the coordinator of `run --devices` and the worker's identity (see workers.h). */
#include "run/workers.h"

#include <cuda_runtime.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/interrupt.h"
#include "run/progress.h"
#include "store/plan.h"

#define WORKER_ENV "ATTNBENCH_WORKER"
#define POLL_US 200000

typedef struct worker_proc {
    pid_t pid;  /* 0 once reaped */
    int idx;    /* workers.idx */
    int device; /* --devices index */
} worker_proc;

int run_worker_identity(int *idx, int *device)
{
    const char *v = getenv(WORKER_ENV);
    return v && sscanf(v, "%d:%d", idx, device) == 2 && *idx >= 0 ? 0 : -1;
}

void run_debug_kill(int device, int claimed)
{
    const char *v = getenv("ATTNBENCH_DEBUG_KILL");
    int d, k;
    if (!v) return;
    if (sscanf(v, "%d:%d", &d, &k) != 2) d = device, k = atoi(v);
    if (d == device && claimed == k + 1) raise(SIGKILL);
}

int run_devices_resolve(run_options *o)
{
    if (!o->devices_all) return 0;
    int n = 1;
    cudaError_t e = o->cpu ? cudaSuccess : cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
        fprintf(stderr, "attnbench run: --devices all: no usable GPU (%s); nothing was run\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
        return 1;
    }
    o->n_devices = n < RUN_DEVICES_MAX ? n : RUN_DEVICES_MAX;
    for (int i = 0; i < o->n_devices; i++) o->devices[i] = i;
    return 0;
}

/* The CUDA_VISIBLE_DEVICES of the worker of device index d: the d-th entry of this process's own
 * list when it has one (--devices counts within it), else d. */
static void visible_device(int d, char *buf, size_t n)
{
    const char *list = getenv("CUDA_VISIBLE_DEVICES");
    snprintf(buf, n, "%d", d);
    if (!list) return;
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof copy, "%s", list);
    int i = 0;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save), i++)
        if (i == d) snprintf(buf, n, "%s", w);
}

/* Forks and execs this binary's `run --resume RUN --db DB --quiet` as worker w; its own process
 * group (a terminal's Ctrl-C reaches the coordinator, which passes one SIGTERM on), ended by
 * SIGTERM if the coordinator dies. */
static pid_t start_worker(const run_options *o, int64_t run_id, const worker_proc *w)
{
    char run[32], identity[64], visible[256];
    snprintf(run, sizeof run, "%lld", (long long)run_id);
    snprintf(identity, sizeof identity, "%d:%d", w->idx, w->device);
    visible_device(w->device, visible, sizeof visible);
    /* This binary: as invoked when that names a file (under valgrind /proc/self/exe is the tool),
     * else /proc/self/exe (found on the PATH, which may have changed). */
    const char *self =
        strchr(program_invocation_name, '/') ? program_invocation_name : "/proc/self/exe";
    fflush(NULL);
    const pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    setenv(WORKER_ENV, identity, 1);
    setenv("CUDA_VISIBLE_DEVICES", visible, 1);
    execl(self, "attnbench", "run", "--resume", run, "--db", o->db, "--quiet", (char *)NULL);
    fprintf(stderr, "attnbench run: cannot start a worker: %s\n", strerror(errno));
    _exit(127);
}

/* A worker's exit: recorded unless it recorded its own end; its claimed point 'lost'. */
static void reaped(sqlite3 *db, int64_t run_id, const worker_proc *w, int wstatus)
{
    char why[256], lost[320];
    if (WIFSIGNALED(wstatus))
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(why, sizeof why,
                 "exited with status %d before recording its end (its stderr "
                 "says why)",
                 WEXITSTATUS(wstatus));
    snprintf(lost, sizeof lost, "worker %d (device %d) %s while running it", w->idx, w->device,
             why);
    if (store_worker_end(db, run_id, w->idx, "crashed", why, 1) != ATTN_OK ||
        store_plan_release(db, run_id, w->idx, "lost", lost) != ATTN_OK)
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    if (WIFSIGNALED(wstatus) || WEXITSTATUS(wstatus) > 1)
        fprintf(stderr, "attnbench run: worker %d (device %d) %s\n", w->idx, w->device, why);
}

/* Waits for every worker, the progress line over all of them; a signal to the coordinator is
 * passed on once as SIGTERM. */
static void wait_workers(sqlite3 *db, int64_t run_id, worker_proc *w, int n, int done_before,
                         run_progress *pr)
{
    int live = n, forwarded = 0, done;
    while (live) {
        int wstatus;
        const pid_t pid = waitpid(-1, &wstatus, WNOHANG);
        for (int i = 0; i < n && pid > 0; i++)
            if (w[i].pid == pid) {
                w[i].pid = 0, live--;
                reaped(db, run_id, &w[i], wstatus);
            }
        if (pid > 0) continue;
        if (attn_interrupted && !forwarded++)
            for (int i = 0; i < n; i++)
                if (w[i].pid) kill(w[i].pid, SIGTERM);
        if (store_plan_count(db, run_id, "done", &done) == ATTN_OK) {
            pr->done = done - done_before;
            run_progress_workers(pr, live);
        }
        usleep(POLL_US);
    }
    run_progress_clear(pr);
    if (store_plan_count(db, run_id, "done", &done) == ATTN_OK) pr->done = done - done_before;
}

/* The run's end: interrupted, or what its plan and points say (store_run_outcome). */
static int end_run(sqlite3 *db, int64_t run_id, const run_progress *pr)
{
    const char *status = "interrupted";
    char reason[2048];
    int open = 0, rc = store_plan_count(db, run_id, NULL, &open);
    if (rc == ATTN_OK && attn_interrupted && open)
        snprintf(reason, sizeof reason, "interrupted by %s after %d of %d points",
                 attn_interrupted == SIGTERM ? "SIGTERM" : "SIGINT", pr->done, pr->total);
    else if (rc == ATTN_OK)
        rc = store_run_outcome(db, run_id, 0, &status, reason, sizeof reason);
    if (rc == ATTN_OK) rc = store_plan_unrun(db, run_id, "not run: no worker was left to run it");
    if (rc == ATTN_OK) rc = store_run_end(db, run_id, status, reason[0] ? reason : NULL);
    if (rc != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        return 1;
    }
    fprintf(stderr, "attnbench run %lld %s: the workers ran %d of %d points%s%s\n",
            (long long)run_id, status, pr->done, pr->total, reason[0] ? " — " : "", reason);
    return strcmp(status, "ok") == 0 ? 0 : 1;
}

int run_workers(const run_options *o, sqlite3 *db, int64_t run_id, int n_open)
{
    static worker_proc w[RUN_DEVICES_MAX];
    int n = 0, done_before = 0;
    run_progress pr;
    if (store_plan_count(db, run_id, "done", &done_before) != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        return 1;
    }
    run_progress_start(&pr, o->quiet, n_open);
    for (int i = 0; i < o->n_devices && i < n_open; i++) { /* no idle workers */
        w[n] = (worker_proc){0, 0, o->devices[i]};
        if (store_worker_add(db, run_id, w[n].device, -1, &w[n].idx) != ATTN_OK) {
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
            break;
        }
        if ((w[n].pid = start_worker(o, run_id, &w[n])) < 0) {
            store_worker_end(db, run_id, w[n].idx, "crashed", strerror(errno), 0);
            continue;
        }
        n++;
    }
    fprintf(stderr, "attnbench run %lld: %d points on %d worker process(es) (devices",
            (long long)run_id, n_open, n);
    for (int i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? "," : " ", w[i].device);
    fprintf(stderr, ") into %s\n", o->db);
    wait_workers(db, run_id, w, n, done_before, &pr);
    return end_run(db, run_id, &pr);
}
