/* test_nystrom.c (GPU) — the `nystrom` variant through the real pipeline (make test-gpu; needs a
 * GPU): the GPU output against its own CPU implementation (the same approximation, same rounding
 * points) at S = 1, 127, 1000, 4096 with m = 16 and 64 (m > S skipped with its reason), H_kv < H,
 * normal and outlier inputs; the fused attention on both paths, then the cuBLAS path (attn=cublas;
 * fp32 and D = 96 take it anyway). */
#include <cuda_runtime.h>
#include <stdio.h>

#include "gpu_test.h"
#include "approx.h"
#include "test.h"

static void nystrom_pass(const char *init)
{
    char db[512];
    snprintf(db, sizeof db, "%s/nystrom-%s.db", fx_dir, init);
    const char *common = "--variants nystrom --seq 1,127,1000,4096 --heads 4 --kv-heads 1,4 --batch 2"
                         " --max-time 0.01 --min-samples 3 --param m=16,64 --quiet";
    int rc = fx_sh("'%s' run --db %s %s --init %s --head-dim 64,128 --dtype fp16,bf16"
                   " --param path=mma,wgmma", fx_bin, db, common, init);
    int rc2 = fx_sh("'%s' run --db %s %s --init %s --head-dim 64,96 --dtype bf16,fp32"
                    " --param attn=cublas", fx_bin, db, common, init);
    char what[200];
    snprintf(what, sizeof what, "nystrom, %s inputs: both runs exit 0 (got %d, %d)", init, rc, rc2);
    test_cond(what, rc == 0 && rc2 == 0);
    test_cond("nystrom: no point failed or errored",
              approx_points_where(db, "status IN ('failed', 'error')") == 0);
    test_cond("nystrom: skips say why",
              approx_points_where(db, "status = 'skipped' AND (reason IS NULL OR reason = '')") == 0);
    test_cond("nystrom: m > S skipped with the reason",
              approx_points_where(db, "seq = 1 AND status = 'skipped' AND reason LIKE '%m <= seq%'") > 0);
    test_cond("nystrom: m = 16 and 64 ran on the mma path at S = 127, 1000, 4096",
              fx_query_int(db, "SELECT count(DISTINCT seq || config) FROM points WHERE status = 'ok'"
                               " AND seq > 1 AND variant = 'nystrom' AND config LIKE '%path=mma%'") == 6);
    test_cond("nystrom: the cuBLAS path ran, fp32 and D = 96 included",
              approx_points_where(db, "status = 'ok' AND dtype = 'fp32' AND head_dim = 96"
                                      " AND config LIKE 'm=%attn=cublas%'") > 0);
    test_cond("nystrom: the wgmma path ran where the device has it, else was skipped with the reason",
              approx_device_is_sm90()
                  ? approx_points_where(db, "status = 'ok' AND config LIKE '%path=wgmma%'") > 0
                  : approx_points_where(db, "status = 'skipped' AND reason LIKE '%sm_90%'") > 0);
    /* The worst errors against cpu_rows, for the log. */
    fx_sh("'%s' show --db %s | awk 'NR > 3 { print }' | sort -k17 -g | tail -3", fx_bin, db);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (gpu_test_init(argv[0])) return 1;
    nystrom_pass("normal");
    nystrom_pass("outliers");
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
