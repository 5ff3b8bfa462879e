/* test_sparse.c (GPU) — the `sparse` variant through the real pipeline (make test-gpu; needs a
 * GPU): the GPU output against its own plan (the selection made on the device, copied back, and
 * cpu_rows over its kept tiles) at S = 1, 127, 1000, H_kv < H, causal and not, D 64 and 128, fp16
 * and bf16, every method, tile 64 and 128, both paths (wgmma where the device is sm_90, else
 * skipped with the reason), vprune at every kept width (DV 32, 64, 128); then compute-sanitizer memcheck and racecheck over small shapes of the
 * mma path and the selection kernels; the structured inputs equal on host and device. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approx.h"
#include "gpu_test.h"
#include "inputs.h"
#include "test.h"

#define METHODS "--param method=window,bigbird,topk,mass,vprune --param density=0.3 --param tau=0.8"

static void against_plan(void)
{
    char db[512];
    fx_path(db, sizeof db, "sparse.db");
    int rc = fx_sh("'%s' run --db %s --variants sparse --seq 1,127,1000 --heads 4 --kv-heads 2"
                   " --batch 2 --head-dim 64,128 --dtype bf16 --causal 0,1 --param tile=64,128"
                   " --param path=mma,wgmma " METHODS " --max-time 0.01 --min-samples 3"
                   " --no-ceilings --quiet",
                   fx_bin, db);
    int rc2 = fx_sh("'%s' run --db %s --variants sparse --seq 1000 --heads 4 --kv-heads 1"
                    " --head-dim 128 --dtype fp16 --causal 1 --param keep=0.25,0.5 " METHODS
                    " --max-time 0.01 --min-samples 3 --no-ceilings --quiet",
                    fx_bin, db);
    /* vprune at every kept width (D 64: DV 32, 64; D 128: 32, 64, 128 = V in place) on both
     * paths: the compact V, and O written D wide by the attention kernels' epilogues */
    int rc3 = fx_sh("'%s' run --db %s --variants sparse --seq 1,127,1000 --heads 4 --kv-heads 2"
                    " --batch 2 --head-dim 64,128 --dtype bf16 --causal 0,1 --param tile=64,128"
                    " --param path=mma,wgmma --param method=vprune --param keep=0.25,0.5,1"
                    " --max-time 0.01 --min-samples 3 --no-ceilings --quiet",
                    fx_bin, db);
    char what[128];
    snprintf(what, sizeof what, "sparse: the runs exit 0 (got %d, %d, %d)", rc, rc2, rc3);
    test_cond(what, rc == 0 && rc2 == 0 && rc3 == 0);
    test_cond("sparse: no point failed or errored",
              approx_points_where(db, "status IN ('failed', 'error')") == 0);
    test_cond("sparse: skips say why",
              approx_points_where(db, "status = 'skipped' AND (reason IS NULL OR reason = '')") ==
                  0);
    test_cond("sparse: every method ran ok on the mma path",
              fx_query_int(db, "SELECT count(DISTINCT substr(config, 1, 12)) FROM points WHERE"
                               " status = 'ok' AND config LIKE '%path=mma%'") == 5);
    test_cond(
        "sparse: the wgmma path ran where the device has it, else was skipped with the reason",
        approx_device_is_sm90()
            ? approx_points_where(db, "status = 'ok' AND config LIKE '%path=wgmma%'") > 0
            : approx_points_where(db, "status = 'skipped' AND reason LIKE '%sm_90%'") > 0);
    for (int dv = 32; dv <= 128; dv *= 2) {
        char where[160];
        snprintf(where, sizeof where,
                 "status = 'ok' AND config LIKE '%%method=vprune%%dv=%d %%path=%s%%'", dv,
                 approx_device_is_sm90() ? "wgmma" : "mma");
        snprintf(what, sizeof what, "sparse: vprune dv=%d ran ok on the device's best path", dv);
        test_cond(what, approx_points_where(db, where) > 0);
    }
    /* The worst errors against the plan, for the log. */
    fx_sh("'%s' show --db %s | awk 'NR > 3 { print }' | sort -k17 -g | tail -3", fx_bin, db);
}

/* --init structured: the device generator gives the host's values, bit for bit, for Q and K. */
static void structured_inputs(void)
{
    const size_t n = 3 * 1000 * 128;
    for (int tensor = ATTN_TENSOR_Q; tensor <= ATTN_TENSOR_K; tensor++) {
        uint16_t *h = malloc(n * 2), *ref = malloc(n * 2);
        void *d = NULL;
        const int ok =
            cudaMalloc(&d, n * 2) == cudaSuccess &&
            attn_fill_device(d, ATTN_BF16, n, 5, tensor, ATTN_INIT_STRUCTURED, 128, 1000, 0) == 0 &&
            cudaMemcpy(h, d, n * 2, cudaMemcpyDeviceToHost) == cudaSuccess;
        attn_fill_host(ref, ATTN_BF16, n, 5, tensor, ATTN_INIT_STRUCTURED, 128, 1000);
        test_cond("structured inputs: device = host, bit for bit",
                  ok && memcmp(h, ref, n * 2) == 0);
        cudaFree(d);
        free(h), free(ref);
    }
}

/* compute-sanitizer TOOL over small shapes of the mma path: exit 0 and its summary clean (memcheck
 * ends "ERROR SUMMARY: 0 errors", racecheck "RACECHECK SUMMARY: 0 hazards displayed"). */
static void sanitizer(const char *tool_name)
{
    char tool[1024], db[512], log[600], what[128];
    const char *cuda = getenv("CUDA");
    snprintf(tool, sizeof tool, "%s/bin/compute-sanitizer", cuda ? cuda : "/usr/local/cuda");
    if (access(tool, X_OK) != 0) snprintf(tool, sizeof tool, "compute-sanitizer");
    fx_path(db, sizeof db, tool_name);
    snprintf(log, sizeof log, "%s.log", db);
    const int rc = fx_sh("'%s' --tool %s --error-exitcode 9 '%s' run --db %s.db --variants sparse"
                         " --seq 1,200 --heads 2 --kv-heads 1 --head-dim 64 --causal 0,1"
                         " --param path=mma --param method=bigbird,topk,mass,vprune --param tile=64"
                         " --param density=0.5 --quiet > %s 2>&1",
                         tool, tool_name, fx_bin, db, log);
    snprintf(what, sizeof what, "%s over small sparse points: exit 0, 0 errors", tool_name);
    test_cond(what, rc == 0 && fx_sh("grep -Eq '(ERROR SUMMARY: 0 errors|RACECHECK SUMMARY: 0 hazards)'"
                                     " %s", log) == 0);
    printf("%s: exit %d\n", tool_name, rc); /* progress, for a log cut short */
    if (rc != 0) fx_sh("tail -30 %s", log);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (gpu_test_init(argv[0])) return 1;
    structured_inputs();
    against_plan();
    sanitizer("memcheck");
    sanitizer("racecheck");
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
