/* test_profile.c — issue 12's run options on the GPU: a tiny sweep under compute-sanitizer
 * (memcheck) runs in profiler mode, detected from the tool's environment (no stream hold, no
 * CUPTI: exit 0, "0 errors", the run marked compute-sanitizer, 3 to 5 samples); --profile without
 * a tool; --placements 3 (every round's samples, the inputs moved, still ok); --debug-slow
 * fused:50% (fused's median about 1.5 times a normal run's, cuBLAS's unchanged). The sanitizer is
 * $CUDA/bin/compute-sanitizer (CUDA defaults to /usr/local/cuda), else the one on PATH. */
#include <stdlib.h>

#include "gpu_test.h"

#define TINY                                                                                       \
    "--variants cublas,fused --seq 127 --heads 2 --kv-heads 1 --head-dim 64 --causal 1"            \
    " --dtype bf16 --quiet"
#define MID                                                                                        \
    "--variants cublas,fused --seq 4096 --batch 1 --heads 16 --head-dim 64 --dtype bf16"           \
    " --causal 0 --min-samples 30 --max-time 1s --no-ceilings --quiet"

static void sanitizer(void)
{
    char tool[1024], db[512], log[512];
    const char *cuda = getenv("CUDA");
    snprintf(tool, sizeof tool, "%s/bin/compute-sanitizer", cuda ? cuda : "/usr/local/cuda");
    if (access(tool, X_OK) != 0) snprintf(tool, sizeof tool, "compute-sanitizer");
    fx_path(db, sizeof db, "sanitizer.db");
    fx_path(log, sizeof log, "sanitizer.log");
    int rc = fx_sh("'%s' --tool memcheck --error-exitcode 9 '%s' run --db %s " TINY " > %s 2>&1",
                   tool, fx_bin, db, log);
    test_cond("memcheck over a run: exit 0", rc == 0);
    test_cond("memcheck: 0 errors", fx_sh("grep -q 'ERROR SUMMARY: 0 errors' %s", log) == 0);
    test_cond("the run saw the sanitizer: profiler mode",
              fx_sh("grep -q 'profiler mode (compute-sanitizer)' %s", log) == 0);
    test_cond("runs.profiler = compute-sanitizer",
              fx_query_int(db, "SELECT count(*) FROM runs WHERE profiler = 'compute-sanitizer'") ==
                  1);
    test_cond("both variants checked and timed with 3 to 5 samples",
              fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok'"
                               " AND n_samples BETWEEN 3 AND 5") == 2);
    if (rc != 0) fx_sh("tail -20 %s", log);
}

static void forced(void)
{
    char db[512];
    fx_path(db, sizeof db, "profile.db");
    test_cond("--profile on the GPU: exit 0",
              fx_sh("'%s' run --db %s " TINY " --profile 2>/dev/null", fx_bin, db) == 0);
    test_cond("--profile: no CUPTI, events timing, 3 to 5 samples",
              fx_query_int(db,
                           "SELECT count(*) FROM points p JOIN runs r ON r.id = p.run_id"
                           " WHERE r.profiler = '--profile' AND r.cupti = 0 AND p.status = 'ok'"
                           " AND p.timing_method = 'events' AND p.n_samples BETWEEN 3 AND 5") == 2);
}

static void placements(void)
{
    char db[512];
    fx_path(db, sizeof db, "placements.db");
    test_cond("--placements 3: exit 0",
              fx_sh("'%s' run --db %s " TINY " --placements 3 --min-samples 9 --max-time 0.3"
                    " 2>/dev/null",
                    fx_bin, db) == 0);
    test_cond("--placements 3: both points ok, each round with 3 samples or more",
              fx_query_int(db, "SELECT count(*) FROM (SELECT point_id, placement, count(*) AS n"
                               " FROM samples s JOIN points p ON p.id = s.point_id"
                               " WHERE p.status = 'ok' GROUP BY 1, 2 HAVING n >= 3)") == 6);
    test_cond("--placements 3: CUPTI spans for every sample (records kept across the moves)",
              fx_query_int(db, "SELECT count(*) FROM points WHERE timing_method = 'cupti_span'") ==
                  2);
}

static void debug_slow(void)
{
    char db[512];
    fx_path(db, sizeof db, "slow.db");
    test_cond("a normal run", fx_sh("'%s' run --db %s " MID " 2>/dev/null", fx_bin, db) == 0);
    test_cond("--debug-slow fused:50%",
              fx_sh("'%s' run --db %s " MID " --debug-slow fused:50%% 2>/dev/null", fx_bin, db) ==
                  0);
    test_cond("fused's config says the share and its length",
              fx_query_int(db, "SELECT count(*) FROM points WHERE run_id = 2 AND variant = 'fused'"
                               " AND config LIKE '%debug_slow=50% debug_slow_us=%'") == 1);
    const char *ratio = "SELECT b.median_ns / a.median_ns FROM points a JOIN points b"
                        " ON b.variant = a.variant AND b.run_id = 2 WHERE a.run_id = 1"
                        " AND a.variant = '%s'";
    char sql[512];
    snprintf(sql, sizeof sql, ratio, "fused");
    const double fused = fx_num(db, sql);
    snprintf(sql, sizeof sql, ratio, "cublas");
    const double cublas = fx_num(db, sql);
    printf("--debug-slow fused:50%%: fused %.3f x, cublas %.3f x its normal median\n", fused,
           cublas);
    test_cond("fused about 1.5 times slower (1.35 to 1.65)", fused > 1.35 && fused < 1.65);
    test_cond("cublas unchanged (within 10 %)", cublas > 0.9 && cublas < 1.1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (gpu_test_init(argv[0])) return 1;
    sanitizer();
    forced();
    placements();
    debug_slow();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
