/* test_gpu.c — GPU tests (make test-gpu; needs a GPU): the GPU input generator equals the host's
 * bit for bit; every GPU variant passes the fp64 check across shapes (S = 1, 127, 1000, 4096;
 * D = 64, 128; causal; H_kv < H; fp16, bf16, fp32) through the real pipeline, fused on both of
 * its paths and within 2× of cublas's max error; an out-of-memory point is skipped with its reason
 * and the run goes on. (The approximate variants have their own GPU tests.) */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "fixture.h"
#include "measure/gpu.h"
#include "test.h"
#include "inputs.h"

static void generator_matches_host(void)
{
    const size_t n = 1 << 20;
    for (int t = 0; t < 3; t++)
        for (int init = 0; init < 3; init++) {
            size_t bytes = n * attn_dtype_size((attn_dtype)t);
            void *d, *h = malloc(bytes), *ref = malloc(bytes);
            int ok = cudaMalloc(&d, bytes) == cudaSuccess &&
                     attn_fill_device(d, (attn_dtype)t, n, 99, ATTN_TENSOR_K, (attn_init)init, 128, 1000, 0) == 0 &&
                     cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
            attn_fill_host(ref, (attn_dtype)t, n, 99, ATTN_TENSOR_K, (attn_init)init, 128, 1000);
            char what[80];
            snprintf(what, sizeof what, "GPU inputs equal host inputs (%s, %s)",
                     attn_dtype_name((attn_dtype)t), attn_init_name((attn_init)init));
            test_cond(what, ok && memcmp(h, ref, bytes) == 0);
            cudaFree(d);
            free(h), free(ref);
        }
}

static void variants_pass(const char *init)
{
    char db[512];
    snprintf(db, sizeof db, "%s/variants-%s.db", fx_dir, init);
    int rc = fx_sh("'%s' run --db %s --seq 1,127,1000,4096 --head-dim 64,128 --heads 4 --kv-heads 1,4"
                   " --batch 2 --dtype fp16,bf16,fp32 --causal 0,1 --init %s --max-time 0.01"
                   " --min-samples 3 --param fused.path=mma,wgmma --quiet", fx_bin, db, init);
    /* An approximate variant may fail its own accuracy bound against exact attention (quant's
     * RMSE bound on outlier inputs: NOTES-quant.md); that is the variant reporting its error,
     * listed here, not the harness failing — the run then exits 1, as it must. */
    const int bound_failures =
        fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'failed'"
                         " AND reason LIKE '%against exact attention%'");
    char what[200];
    snprintf(what, sizeof what, "all variants, 96 shapes, %s inputs: exit %d (got %d; %d bound"
             " failures vs exact)", init, bound_failures ? 1 : 0, rc, bound_failures);
    test_cond(what, rc == (bound_failures ? 1 : 0));
    test_cond("no point failed or errored (other than an approximate variant's bound vs exact)",
              fx_query_int(db, "SELECT count(*) FROM points WHERE status IN ('failed', 'error')"
                               " AND NOT (status = 'failed' AND reason LIKE '%against exact attention%')") == 0);
    fx_sh("'%s' show --db %s | grep -w failed | head -20", fx_bin, db);
    test_cond("every exact variant ran somewhere",
              fx_query_int(db, "SELECT count(DISTINCT variant) FROM points WHERE status = 'ok'") ==
                  fx_query_int(db, "SELECT count(DISTINCT variant) FROM points"));
    test_cond("skips say why", fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'skipped' AND (reason IS NULL OR reason = '')") == 0);
    /* fused (both paths) against cublas on the same inputs: max abs error within 2× of
     * cublas's, plus a floor of 2^-10 for shapes where both are nearly exact (S = 1); relative
     * L2 ≤ 1e-2 in bf16. */
    test_cond("fused max abs error within 2x of cublas's",
              fx_query_int(db, "SELECT count(*) FROM points f JOIN points c ON c.variant = 'cublas'"
                               " AND c.batch = f.batch AND c.heads = f.heads AND c.kv_heads = f.kv_heads"
                               " AND c.seq = f.seq AND c.head_dim = f.head_dim AND c.dtype = f.dtype"
                               " AND c.causal = f.causal AND c.status = 'ok'"
                               " WHERE f.variant = 'fused' AND f.status = 'ok'"
                               " AND f.err_max_abs > 2 * c.err_max_abs + 1.0 / 1024") == 0);
    test_cond("fused relative L2 <= 1e-2 in bf16",
              fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'fused' AND status = 'ok'"
                               " AND dtype = 'bf16' AND err_rel_l2 > 1e-2") == 0);
    test_cond("fused checked on both paths where the device has them",
              fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'fused' AND status = 'ok'"
                               " AND params = 'path=mma'") > 0);
    /* The worst errors, for the log. */
    fx_sh("'%s' show --db %s | awk 'NR > 3 { print }' | sort -k17 -g | tail -3", fx_bin, db);
}

static void out_of_memory_is_skipped(void)
{
    char db[512];
    fx_path(db, sizeof db, "oom.db");
    /* The cublas score buffer for S = 262144, H = 16 is 2 TiB: the point is skipped, the run ok. */
    int rc = fx_sh("'%s' run --db %s --variants cublas --seq 262144,128 --heads 16"
                   " --max-time 0.01 --quiet 2>/dev/null", fx_bin, db);
    test_cond("out-of-memory run exits 0", rc == 0);
    test_cond("the huge point is skipped for memory",
              fx_query_int(db, "SELECT count(*) FROM points WHERE seq = 262144 AND status = 'skipped' AND reason LIKE '%memory%'") == 1);
    test_cond("the next point still runs", fx_query_int(db, "SELECT count(*) FROM points WHERE seq = 128 AND status = 'ok'") == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (gpu_test_init(argv[0])) return 1;
    generator_matches_host();
    variants_pass("normal");
    variants_pass("outliers");
    out_of_memory_is_skipped();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
