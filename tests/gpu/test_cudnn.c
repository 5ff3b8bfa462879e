/* test_cudnn.c — the `cudnn` variant on the GPU (make test-gpu; needs a GPU and cuDNN 9), through
 * the real pipeline: every point checked against the fp64 reference at S = 1, 127, 1000, 4096 with
 * D = 64, 128, causal and not, H_kv < H, fp16 and bf16 (fp32 skipped with its reason); S = 1 may
 * instead be skipped with cuDNN's reason (printed); both graph forms; a standard-sweep shape and
 * the llm sweep's smallest, with outlier inputs; its error within 2× of cublas's; the form and
 * engine stored per point and the cuDNN version per run; and a run whose cuDNN cannot be loaded
 * ($ATTNBENCH_CUDNN pointing nowhere) skips the cudnn points with "cuDNN not found" and runs the
 * rest. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu_test.h"
#include "core/cudnn_lib.h"
#include "cudnn_api.h"
#include "fixture.h"
#include "test.h"

#define RUN_FAST "--max-time 0.01 --min-samples 3 --quiet"

/* For the log: the rows of a query on the database at db_path. */
static void print_rows(const char *db_path, const char *sql)
{
    sqlite3 *db;
    int rows = 0;
    if (store_open(db_path, &db) != ATTN_OK) return;
    store_print_table(db, sql, 0, 0, stdout, &rows);
    store_close(db);
}

/* S = 1, 127, 1000, 4096 × D 64, 128 × causal × H_kv 2, 8 × fp16, bf16, fp32, beside cublas. */
static void correct_everywhere(const attn_cudnn_lib *lib)
{
    char db[512];
    fx_path(db, sizeof db, "cudnn.db");
    int rc =
        fx_sh("'%s' run --db %s --variants cudnn,cublas --seq 1,127,1000,4096 --head-dim 64,128"
              " --heads 8 --kv-heads 2,8 --batch 2 --dtype fp16,bf16,fp32 --causal 0,1 " RUN_FAST,
              fx_bin, db);
    test_cond("cudnn beside cublas, 96 shapes: exit 0", rc == 0);
    test_cond("no point failed or errored",
              fx_query_int(db, "SELECT count(*) FROM points WHERE status IN ('failed', 'error')") ==
                  0);
    test_cond("fp32 skipped with the reason",
              fx_query_int(db,
                           "SELECT count(*) FROM points WHERE variant = 'cudnn' AND dtype = 'fp32'"
                           " AND status = 'skipped' AND reason LIKE 'fp32 not supported%'") == 32);
    test_cond("every fp16/bf16 point from S = 127 ok",
              fx_query_int(db,
                           "SELECT count(*) FROM points WHERE variant = 'cudnn' AND dtype != 'fp32'"
                           " AND seq > 1 AND status = 'ok'") == 48);
    long long s1 = fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'cudnn' AND"
                                    " dtype != 'fp32' AND seq = 1 AND status = 'ok'");
    test_cond("S = 1: checked, or skipped with cuDNN's reason",
              s1 + fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'cudnn' AND"
                                    " dtype != 'fp32' AND seq = 1 AND status = 'skipped' AND"
                                    " reason LIKE '%cuDNN%'") ==
                  16);
    printf("S = 1: %lld of 16 points ok (the others skipped: cuDNN's reason below)\n", s1);
    print_rows(db, "SELECT DISTINCT reason FROM points WHERE variant = 'cudnn' AND seq = 1 AND"
                   " status = 'skipped' AND dtype != 'fp32'");
    test_cond(
        "causal points on the composite graph, with their engine",
        fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'cudnn' AND status = 'ok'"
                         " AND causal = 1 AND config NOT LIKE 'graph=composite engine=eng%'") == 0);
    if (lib->version >= ATTN_CUDNN_UNIFIED_MIN_VERSION)
        test_cond("non-causal points on the unified SDPA node (cuDNN has it)",
                  fx_query_int(db,
                               "SELECT count(*) FROM points WHERE variant = 'cudnn' AND status ="
                               " 'ok' AND causal = 0 AND seq > 1 AND config NOT LIKE"
                               " 'graph=unified engine=eng%'") == 0);
    test_cond(
        "max abs error within 2x of cublas's (+ 2^-10)",
        fx_query_int(db, "SELECT count(*) FROM points f JOIN points c ON c.variant = 'cublas'"
                         " AND c.batch = f.batch AND c.heads = f.heads AND c.kv_heads = f.kv_heads"
                         " AND c.seq = f.seq AND c.head_dim = f.head_dim AND c.dtype = f.dtype"
                         " AND c.causal = f.causal AND c.status = 'ok'"
                         " WHERE f.variant = 'cudnn' AND f.status = 'ok'"
                         " AND f.err_max_abs > 2 * c.err_max_abs + 1.0 / 1024") == 0);
    test_cond("relative L2 <= 1e-2 in bf16",
              fx_query_int(db,
                           "SELECT count(*) FROM points WHERE variant = 'cudnn' AND status = 'ok'"
                           " AND dtype = 'bf16' AND err_rel_l2 > 1e-2") == 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE cudnn_version = '%s'",
             lib->version_text);
    test_cond("the run's cuDNN version", fx_query_int(db, sql) == 1);
    print_rows(db, "SELECT causal, head_dim AS D, seq AS S, config FROM points WHERE variant ="
                   " 'cudnn' AND status = 'ok' GROUP BY causal, head_dim, seq, config");
}

/* Both forms on the same non-causal points, and a standard-sweep and an llm-sweep shape with
 * outlier inputs (peaked attention). */
static void forms_and_sweep_shapes(void)
{
    char db[512];
    fx_path(db, sizeof db, "forms.db");
    int rc = fx_sh("'%s' run --db %s --variants cudnn --seq 127,1000 --heads 4 --kv-heads 1"
                   " --head-dim 128 --dtype bf16 --param cudnn.graph=unified,composite " RUN_FAST,
                   fx_bin, db);
    test_cond("graph=unified and graph=composite: both ok",
              rc == 0 && fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok'") == 4);
    fx_path(db, sizeof db, "shapes.db");
    rc = fx_sh("'%s' run --db %s --variants cudnn --seq 4096 --batch 4 --heads 16 --head-dim 128"
               " --dtype bf16,fp16 --causal 0,1 --init outliers " RUN_FAST,
               fx_bin, db);
    rc |= fx_sh("'%s' run --db %s --variants cudnn --seq 2048 --batch 1 --heads 64 --kv-heads 8"
                " --head-dim 128 --dtype bf16 --causal 0,1 --init outliers " RUN_FAST,
                fx_bin, db);
    test_cond("standard (B 4, H 16, S 4096) and llm (H 64/8, S 2048) shapes ok with outliers",
              rc == 0 && fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok'") == 6);
}

static void without_cudnn(void)
{
    char db[512];
    fx_path(db, sizeof db, "none.db");
    int rc = fx_sh("ATTNBENCH_CUDNN=/nonexistent/libcudnn.so.9 '%s' run --db %s --variants"
                   " cudnn,cublas --seq 128 --heads 4 " RUN_FAST,
                   fx_bin, db);
    test_cond("no cuDNN: the run goes on, exit 0", rc == 0);
    test_cond("cudnn skipped: 'cuDNN not found'",
              fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'cudnn' AND status ="
                               " 'skipped' AND reason LIKE 'cuDNN not found: %'") == 1);
    test_cond("cublas ran", fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'cublas'"
                                             " AND status = 'ok'") == 1);
    test_cond("no cuDNN version recorded",
              fx_query_int(db, "SELECT count(*) FROM runs WHERE cudnn_version IS NULL") == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (gpu_test_init(argv[0])) return 1;
    const attn_cudnn_lib *lib;
    if (attn_cudnn_lib_get(&lib) != ATTN_OK) {
        printf("%s: the cudnn GPU tests need cuDNN 9\n", attn_last_error.msg);
        fx_sh("rm -rf '%s'", fx_dir);
        return test_report(), 1;
    }
    printf("cuDNN %s\n", lib->version_text);
    correct_everywhere(lib);
    forms_and_sweep_shapes();
    without_cudnn();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
