/* test_workers.c — `run --devices` and `--resume` (issue 17), through the built binary on the
 * CPU backend, whose device indices are labels: three worker processes share one run and one
 * database, every point recording its device and worker; a worker that SIGKILLs itself in the
 * middle of a point (the ATTNBENCH_DEBUG_KILL hook) loses none of the others' points, its point
 * is 'lost' with the reason, the run is 'partial', and --resume runs that point only; a
 * single-process run killed with SIGKILL is finished by --resume with the missing points only;
 * two runs writing one database at once lose no rows; --resume's refusals. */
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "test.h"

#define SWEEP                                                                                      \
    "--backend cpu --quiet --variants naive,fused,cublas --seq 33,64,127 --heads 4 "               \
    "--kv-heads 2 --head-dim 64 --causal 0,1 --max-time 0.02 --min-samples 5"
#define SWEEP_POINTS 18

static char log_path[512];

static long long q(const char *db, const char *sql) { return fx_query_int(db, sql); }

static void three_devices(void)
{
    char db[512];
    fx_path(db, sizeof db, "three.db");
    test_cond(
        "--devices 0,1,2 exits 0",
        fx_sh("'%s' run " SWEEP " --db '%s' --devices 0,1,2 2>> '%s'", fx_bin, db, log_path) == 0);
    test_cond("one run, ok", q(db, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    test_cond("every point once", q(db, "SELECT count(DISTINCT plan_idx) FROM points") == 18 &&
                                      q(db, "SELECT count(*) FROM points") == SWEEP_POINTS);
    test_cond("three workers, each ended ok, each its own process",
              q(db, "SELECT count(*) FROM workers WHERE status = 'ok'") == 3 &&
                  q(db, "SELECT count(DISTINCT pid) FROM workers") == 3);
    test_cond("the workers' devices are 0, 1, 2",
              q(db, "SELECT sum(device) FROM workers") == 3 &&
                  q(db, "SELECT count(DISTINCT device) FROM workers") == 3);
    test_cond("every point records its device and worker",
              q(db, "SELECT count(*) FROM points p JOIN workers w ON w.run_id = p.run_id AND"
                    " w.idx = p.worker AND w.device = p.device") == SWEEP_POINTS);
    test_cond("the workers' counts add up", q(db, "SELECT sum(n_points) FROM workers") == 18);
    test_cond("every plan row done", q(db, "SELECT count(*) FROM plan WHERE state = 'done'") == 18);
}

/* --devices all on the CPU backend: one worker, labelled device 0. */
static void all_devices(void)
{
    char db[512];
    fx_path(db, sizeof db, "all.db");
    test_cond("--devices all exits 0", fx_sh("'%s' run " SWEEP " --db '%s' --devices all 2>> '%s'",
                                             fx_bin, db, log_path) == 0);
    test_cond("one worker, device 0, every point",
              q(db, "SELECT count(*) FROM workers WHERE device = 0 AND status = 'ok' AND"
                    " n_points = 18") == 1 &&
                  q(db, "SELECT count(*) FROM workers") == 1 &&
                  q(db, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    test_cond("--devices 0,0: exit 2", fx_sh("'%s' run " SWEEP " --db '%s' --devices 0,0 2>> '%s'",
                                             fx_bin, db, log_path) == 2);
}

static void worker_killed_then_resumed(void)
{
    char db[512];
    fx_path(db, sizeof db, "killed.db");
    const int rc = fx_sh("ATTNBENCH_DEBUG_KILL=1:1 '%s' run " SWEEP " --db '%s' --devices 0,1,2"
                         " 2>> '%s'",
                         fx_bin, db, log_path);
    test_cond("a killed worker: exit 1", rc == 1);
    test_cond("the run is partial", q(db, "SELECT count(*) FROM runs WHERE status = 'partial'"
                                          " AND reason LIKE '%killed by signal 9%'") == 1);
    test_cond("the worker of device 1 crashed, after its one point",
              q(db, "SELECT count(*) FROM workers WHERE device = 1 AND status = 'crashed' AND"
                    " exit_reason LIKE 'killed by signal 9%' AND n_points = 1") == 1);
    test_cond("the others ended ok",
              q(db, "SELECT count(*) FROM workers WHERE status = 'ok'") == 2);
    test_cond("its point in flight is lost, with the reason",
              q(db,
                "SELECT count(*) FROM plan WHERE state = 'lost' AND reason LIKE 'worker % (device"
                " 1) killed by signal 9%'") == 1 &&
                  q(db, "SELECT count(*) FROM plan WHERE state <> 'done'") == 1);
    test_cond("none of the others' points lost", q(db, "SELECT count(*) FROM points") == 17);
    test_cond("--resume exits 0",
              fx_sh("'%s' run --db '%s' --resume 1 2>> '%s'", fx_bin, db, log_path) == 0);
    test_cond("the run is ok", q(db, "SELECT count(*) FROM runs WHERE status = 'ok' AND reason IS"
                                     " NULL") == 1);
    test_cond("the lost point only was run",
              q(db, "SELECT count(*) FROM points") == 18 &&
                  q(db, "SELECT count(DISTINCT plan_idx) FROM points") == 18 &&
                  q(db, "SELECT sum(n_points) FROM workers WHERE idx >= 3") == 1);
}

static void single_killed_then_resumed(void)
{
    char db[512];
    fx_path(db, sizeof db, "single.db");
    fx_sh("ATTNBENCH_DEBUG_KILL=7 '%s' run " SWEEP " --db '%s' 2>> '%s'", fx_bin, db, log_path);
    test_cond("killed after 7 points", q(db, "SELECT count(*) FROM points") == 7 &&
                                           q(db, "SELECT count(*) FROM runs WHERE status ="
                                                 " 'running'") == 1);
    test_cond("--resume of the killed run exits 0",
              fx_sh("'%s' run --db '%s' --resume 1 2>> '%s'", fx_bin, db, log_path) == 0);
    test_cond("the missing points only",
              q(db, "SELECT count(*) FROM points") == 18 &&
                  q(db, "SELECT count(DISTINCT plan_idx) FROM points") == 18 &&
                  q(db, "SELECT n_points FROM workers WHERE idx = 1") == 11);
    test_cond("the killed process's worker row: crashed",
              q(db, "SELECT count(*) FROM workers WHERE idx = 0 AND status = 'crashed'") == 1);
    test_cond("the run is ok", q(db, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    test_cond("a complete run: nothing to resume, exit 0",
              fx_sh("'%s' run --db '%s' --resume 1 2>> '%s'", fx_bin, db, log_path) == 0 &&
                  q(db, "SELECT count(*) FROM points") == 18);
    test_cond("--resume with a sweep option: exit 2",
              fx_sh("'%s' run --db '%s' --resume 1 --seq 64 2>> '%s'", fx_bin, db, log_path) == 2);
    test_cond("--resume of no such run: exit 2",
              fx_sh("'%s' run --db '%s' --resume 9 2>> '%s'", fx_bin, db, log_path) == 2);
}

static void two_writers(void)
{
    char db[512];
    fx_path(db, sizeof db, "two.db");
    test_cond("two runs at once into one database",
              fx_sh("('%s' run " SWEEP " --db '%s' --tag a & '%s' run " SWEEP " --db '%s' --tag b &"
                    " wait) 2>> '%s'",
                    fx_bin, db, fx_bin, db, log_path) == 0);
    test_cond("both ok", q(db, "SELECT count(*) FROM runs WHERE status = 'ok'") == 2);
    test_cond("no row lost", q(db, "SELECT count(*) FROM points") == 2 * SWEEP_POINTS &&
                                 q(db, "SELECT count(*) FROM plan WHERE state = 'done'") == 36 &&
                                 q(db, "SELECT count(*) FROM samples") ==
                                     q(db, "SELECT sum(n_samples) FROM points"));
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0])) return 1;
    fx_path(log_path, sizeof log_path, "stderr.log");
    three_devices();
    all_devices();
    worker_killed_then_resumed();
    single_killed_then_resumed();
    two_writers();
    if (test_failed) fputs(fx_text(log_path), stdout);
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
