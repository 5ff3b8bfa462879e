/* test_profiler.c — profiler mode (measure/profiler.h) and the run options of issue 12 that go with
 * it: which tool each environment names (none for a name in a path alone); through the built
 * binary on the CPU backend, a run under an environment that names a tool (or with --profile) is
 * recorded as a profiler run with 3 to 5 samples per point (--min-samples still rules), and
 * compare refuses it; the NVTX name of a point has no '/'; --placements records each sample's
 * round and the point's rounds; --debug-slow and --placements reject bad values with exit 2,
 * writing nothing. */
#include <string.h>

#include "fixture.h"
#include "measure/profiler.h"
#include "run/point.h"
#include "test.h"

/* The environment a case sets: NAME=VALUE pairs, NULL-terminated. */
static const char *const *case_env;

static const char *table_env(const char *name)
{
    for (const char *const *e = case_env; *e; e++) {
        size_t n = strlen(name);
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    }
    return NULL;
}

static void detection(void)
{
    static const struct {
        const char *env[3];
        const char *tool; /* NULL: none */
    } cases[] = {
        {{NULL}, NULL},
        {{"PATH=/usr/bin", "HOME=/root", NULL}, NULL},
        {{"NSYS_PROFILING_SESSION_ID=3", NULL}, "nsys"},
        {{"NV_COMPUTE_PROFILER_PERFWORKS_DIR=/opt/ncu/target", NULL}, "ncu"},
        {{"NV_NSIGHT_INJECTION_TRANSPORT_TYPE=2", NULL}, "ncu"},
        {{"NV_SANITIZER_INJECTION_PORT_BASE=49152", NULL}, "compute-sanitizer"},
        {{"NV_SANITIZER_INJECTION_PORT_RANGE_BEGIN=49152", NULL}, "compute-sanitizer"},
        {{"CUDA_INJECTION64_PATH=/cuda/compute-sanitizer/libsanitizer-collection.so", NULL},
         "compute-sanitizer"},
        /* the sanitizer started inside an nsys session: the sanitizer's own variable wins */
        {{"NSYS_PROFILING_SESSION_ID=3", "NV_SANITIZER_INJECTION_PORT_BASE=1", NULL},
         "compute-sanitizer"},
        {{"CUDA_INJECTION64_PATH=/opt/tool/libmytool.so", NULL}, "CUDA_INJECTION64_PATH"},
        /* a directory named after a tool decides nothing: an unknown injected tool */
        {{"CUDA_INJECTION64_PATH=/libsanitizer-collection.so/x.so", NULL}, "CUDA_INJECTION64_PATH"},
        {{"NSYS_PROFILING_SESSION_ID=", NULL}, "nsys"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        case_env = cases[i].env;
        const char *got = attn_profiler_detect(table_env);
        char what[200];
        snprintf(what, sizeof what, "case %zu (%s): %s", i, cases[i].env[0] ? cases[i].env[0] : "",
                 cases[i].tool ? cases[i].tool : "none");
        test_cond(what, cases[i].tool ? got && strcmp(got, cases[i].tool) == 0 : got == NULL);
    }
}

/* The names ncu's --nvtx-include matches: no '/', its separator of nested ranges. */
static void nvtx_names(void)
{
    const attn_variant *fused = attn_variant_find("fused");
    attn_point p = {2, 32, 32, 8192, 64, ATTN_BF16, 1, ""};
    char name[256];
    run_point_nvtx_name(fused, &p, name, sizeof name);
    test_cond("NVTX name: the issue's example",
              strcmp(name, "fused bf16 B=2 H=32 S=8192 D=64 causal") == 0);
    p.kv_heads = 8, p.causal = 0;
    snprintf(p.params, sizeof p.params, "tile=64x64,path=a/b");
    run_point_nvtx_name(fused, &p, name, sizeof name);
    test_cond("NVTX name: GQA and params, '/' made ':'",
              strcmp(name, "fused bf16 B=2 H=32 Hkv=8 S=8192 D=64 tile=64x64,path=a:b") == 0);
}

#define SMALL "--backend cpu --variants naive,fused --seq 16,127 --heads 2 --head-dim 64 --quiet"

static void profiler_runs(void)
{
    char db[512];
    fx_path(db, sizeof db, "profile.db");
    test_cond("a normal run",
              fx_sh("'%s' run --db %s " SMALL " --max-time 0.05 2>/dev/null", fx_bin, db) == 0);
    char err[512];
    fx_path(err, sizeof err, "profile.err"); /* not a pipe: grep -q would end the run early */
    test_cond("under nsys's environment: exit 0, saying profiler mode",
              fx_sh("NSYS_PROFILING_SESSION_ID=1 '%s' run --db %s " SMALL " 2>%s", fx_bin, db,
                    err) == 0 &&
                  fx_sh("grep -q 'profiler mode (nsys)' %s", err) == 0);
    test_cond("--profile",
              fx_sh("'%s' run --db %s " SMALL " --profile 2>/dev/null", fx_bin, db) == 0);
    test_cond(
        "--profile --min-samples 7",
        fx_sh("'%s' run --db %s " SMALL " --profile --min-samples 7 2>/dev/null", fx_bin, db) == 0);
    test_cond("runs.profiler: NULL, nsys, --profile, --profile",
              fx_query_int(db, "SELECT group_concat(coalesce(profiler, '-'), ' ') = "
                               "'- nsys --profile --profile' FROM runs") == 1);
    test_cond("profiler runs: 3 to 5 samples per point",
              fx_query_int(db,
                           "SELECT count(*) FROM points WHERE run_id IN (2, 3) AND status = 'ok'"
                           " AND n_samples BETWEEN 3 AND 5") == 8);
    test_cond("--min-samples 7 rules in profiler mode",
              fx_query_int(db, "SELECT min(n_samples) = 7 AND max(n_samples) = 7 FROM points"
                               " WHERE run_id = 4") == 1);
    test_cond("a normal run keeps its 10 samples at least",
              fx_query_int(db, "SELECT min(n_samples) >= 10 FROM points WHERE run_id = 1") == 1);
    test_cond("compare refuses a profiler candidate (exit 2, naming the tool)",
              fx_sh("'%s' compare --db %s --baseline 1 --candidate 2 2>&1 | grep -q "
                    "'candidate run 2 ran under a profiler (nsys)'",
                    fx_bin, db) == 0 &&
                  fx_sh("'%s' compare --db %s --baseline 1 --candidate 2 >/dev/null 2>&1", fx_bin,
                        db) == 2);
    test_cond(
        "compare refuses a profiler baseline (exit 2)",
        fx_sh("'%s' compare --db %s --baseline 3 --candidate 1 >/dev/null 2>&1", fx_bin, db) == 2);
}

static void placements(void)
{
    char db[512];
    fx_path(db, sizeof db, "placements.db");
    test_cond("--placements 4 --min-samples 10: exit 0",
              fx_sh("'%s' run --db %s " SMALL " --placements 4 --min-samples 10 --max-time 0.2"
                    " 2>/dev/null",
                    fx_bin, db) == 0);
    test_cond("every sample has its round, 0 to 3",
              fx_query_int(db, "SELECT count(*) FROM samples WHERE placement BETWEEN 0 AND 3") ==
                  fx_query_int(db, "SELECT count(*) FROM samples"));
    test_cond("every point: 4 rounds of at least ceil(10 / 4) samples",
              fx_query_int(db, "SELECT count(*) FROM (SELECT point_id, placement, count(*) AS n"
                               " FROM samples GROUP BY 1, 2 HAVING n >= 3)") == 4 * 4);
    test_cond("the point's config says placements=4",
              fx_query_int(db, "SELECT count(*) FROM points WHERE config LIKE '%placements=4%'") ==
                  4);
    test_cond("the summary spans every round",
              fx_query_int(db, "SELECT count(*) FROM points p WHERE n_samples = (SELECT count(*)"
                               " FROM samples s WHERE s.point_id = p.id)") == 4);
    /* The per-round medians of one point: the query scripts/gpu-acceptance.sh documents. */
    test_cond("per-round medians by SQL",
              fx_query_int(db, "WITH r AS (SELECT point_id, placement, ns, row_number() OVER"
                               " (PARTITION BY point_id, placement ORDER BY ns) AS i, count(*) OVER"
                               " (PARTITION BY point_id, placement) AS n FROM samples)"
                               " SELECT count(*) FROM (SELECT point_id, placement, avg(ns) FROM r"
                               " WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY 1, 2)") == 16);
    static const char *const bad[] = {
        "--placements 0",
        "--placements 257",
        "--placements x",
        "--debug-slow fused:5",
        "--debug-slow fused:0%",
        "--debug-slow fused:2000%",
        "--debug-slow nope:5%",
        "--debug-slow fused",
        "--debug-slow fused:5%" /* CPU backend */,
        "--debug-slow cublas:5%" /* not among --variants */,
    };
    char bad_db[512];
    fx_path(bad_db, sizeof bad_db, "bad.db");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[200];
        int rc = fx_sh("'%s' run --db %s " SMALL " %s 2>/dev/null", fx_bin, bad_db, bad[i]);
        snprintf(what, sizeof what, "'%s' exits 2 (got %d) and writes nothing", bad[i], rc);
        test_cond(what, rc == 2 && access(bad_db, F_OK) != 0);
    }
    test_cond("--debug-slow needs the GPU backend: the message says so",
              fx_sh("'%s' run --db %s " SMALL " --debug-slow fused:5%% 2>&1 | grep -q "
                    "'debug-slow needs the GPU backend'",
                    fx_bin, bad_db) == 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    detection();
    nvtx_names();
    if (fx_init(argv[0]) != 0) return 1;
    profiler_runs();
    placements();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
