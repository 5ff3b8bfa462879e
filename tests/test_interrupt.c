/* test_interrupt.c — Ctrl-C during `attnbench run` (core/interrupt.h), through the built binary on
 * the CPU backend (issue 15, item 3): a SIGINT inside a long point stops it within a row of the
 * CPU implementation (not at the end of the point), the cut point is not stored and the run is
 * 'interrupted' after the points it finished; a second signal ends the process at once; a
 * signal that arrives once every point has finished leaves the run 'ok'. */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

/* Starts the binary: `run --backend cpu --db DB` and the given options, stderr into err_path. */
static pid_t start_run(const char *db, const char *err_path, const char *options)
{
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[8192];
        int out = open("/dev/null", O_WRONLY), err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, 1), dup2(err, 2);
        snprintf(cmd, sizeof cmd, "exec '%s' run --backend cpu --db '%s' --quiet %s", fx_bin, db, options);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until path contains text (the run's handlers are installed once it prints its header). */
static int wait_for(const char *path, const char *text, double seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        char *s = fx_text(path);
        int found = strstr(s, text) != NULL;
        free(s);
        if (found) return 1;
        usleep(10000);
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The child's exit: its status in *code (-signal when killed); seconds waited. */
static double reap(pid_t pid, int *code)
{
    double t0 = now();
    int st;
    waitpid(pid, &st, 0);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1000;
    return now() - t0;
}

/* A fast point, then one whose every forward pass takes seconds: SIGINT while it runs. */
static void sigint_in_a_long_point(void)
{
    char db[512], err[512];
    fx_path(db, sizeof db, "long.db");
    fx_path(err, sizeof err, "long.err");
    pid_t pid = start_run(db, err, "--variants naive --seq 64,4096 --heads 8 --head-dim 64"
                                   " --min-samples 1000 --max-time 0.05");
    int started = wait_for(err, "points (", 30);
    long long stored = 0;
    for (int i = 0; i < 3000 && stored < 1; i++) {
        usleep(10000);
        stored = fx_query_int(db, "SELECT count(*) FROM points");
    }
    usleep(300000); /* inside the long point's checked run or samples */
    kill(pid, SIGINT);
    int code;
    double waited = reap(pid, &code);
    char *said = fx_text(err);
    test_cond("the run started and stored its first point", started && stored == 1);
    test_cond("SIGINT inside a long point: exit 1 within a second", code == 1 && waited < 1.0);
    test_cond("the cut point is not stored", fx_query_int(db, "SELECT count(*) FROM points") == 1);
    test_cond("the run is 'interrupted' after the points it finished",
              fx_query_int(db, "SELECT status = 'interrupted' AND reason = 'interrupted by SIGINT after"
                               " 1 of 2 points' FROM runs") == 1);
    test_cond("the signal is acknowledged at once", strstr(said, "a second Ctrl-C quits at once") != NULL);
    free(said);
}

/* Two signals pending at once (the process stopped meanwhile): the first asks to stop, the second
 * ends the process by its default action. */
static void second_signal(void)
{
    char db[512], err[512];
    fx_path(db, sizeof db, "twice.db");
    fx_path(err, sizeof err, "twice.err");
    pid_t pid = start_run(db, err, "--variants naive --seq 4096 --heads 8 --head-dim 64 --max-time 10");
    int started = wait_for(err, "points (", 30);
    kill(pid, SIGSTOP);
    kill(pid, SIGINT);
    kill(pid, SIGTERM);
    kill(pid, SIGCONT);
    int code;
    double waited = reap(pid, &code);
    test_cond("a second signal ends the process at once, by that signal",
              started && (code == -SIGTERM || code == -SIGINT) && waited < 1.0);
    test_cond("... leaving its run to read as abandoned",
              fx_num(db, "SELECT attn_run_status(id) = 'abandoned' FROM runs") == 1);
}

/* Every point finished, then the signal (the point waits for the database lock, which this test
 * holds): the run is 'ok', exit 0. */
static void after_the_last_point(void)
{
    char db[512], err[512];
    fx_path(db, sizeof db, "after.db");
    fx_path(err, sizeof err, "after.err");
    /* The point samples for 1 s (a CI target it cannot reach), so the lock below is taken well
     * before it is stored, however loaded the machine. */
    pid_t pid = start_run(db, err, "--variants naive --seq 128 --heads 2 --head-dim 32 --max-time 1"
                                   " --target-ci 0.001%");
    int started = wait_for(err, "points (", 30);
    sqlite3 *lock = NULL;
    int held = sqlite3_open(db, &lock) == SQLITE_OK && sqlite3_busy_timeout(lock, 10000) == SQLITE_OK &&
               sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    usleep(2500000); /* the point (1 s of samples) is done and waits for the lock */
    int alive = waitpid(pid, NULL, WNOHANG) == 0;
    kill(pid, SIGINT);
    usleep(200000);
    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(lock);
    int code;
    reap(pid, &code);
    test_cond("the run waited for the lock with its point done", started && held && alive);
    test_cond("a signal after the last point: exit 0, the run 'ok', its point stored",
              code == 0 && fx_query_int(db, "SELECT status = 'ok' AND reason IS NULL FROM runs") == 1 &&
                  fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok'") == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    sigint_in_a_long_point();
    second_signal();
    after_the_last_point();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
