/* test_metrics.c — --metrics without a GPU: the metric set and units, the permission reason from
 * /proc/driver/nvidia/params text, rows stored per point and the run's reason updated through the
 * store, the profiler's skip path where there is no usable GPU, and the command line (a bad set
 * exits 2 and writes nothing; the CPU backend runs and stores a clean skip with its reason). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "measure/metrics.h"
#include "test.h"

static void names(void)
{
    const char *const *alt;
    const char *const *n = attn_metrics_set("dram", &alt);
    test_cond("dram: two metrics as CUPTI names them",
              n && n[0] && n[1] && !n[2] && strcmp(n[0], "dram__bytes_read.sum") == 0 &&
                  strcmp(n[1], "dram__bytes_write.sum") == 0);
    test_cond("dram: GB202 names as the alternative",
              alt && strcmp(alt[0], "dram__bytes_op_read.sum") == 0 &&
                  strcmp(alt[1], "dram__bytes_op_write.sum") == 0 && !alt[2]);
    test_cond("unknown set", attn_metrics_set("l2", &alt) == NULL && alt == NULL &&
                                 attn_metrics_set(NULL, NULL) == NULL);
    test_cond("unit bytes", strcmp(attn_metrics_unit("dram__bytes_write.sum"), "bytes") == 0 &&
                                strcmp(attn_metrics_unit("dram__bytes_op_read.sum"), "bytes") == 0);
}

static void permission(void)
{
    test_cond("admin only: 1",
              attn_metrics_admin_only("ResmanDebugLevel: 4294967295\nRmProfilingAdminOnly: 1\nOther: 0\n"));
    test_cond("admin only: 0", !attn_metrics_admin_only("RmProfilingAdminOnly: 0\n"));
    test_cond("admin only: absent", !attn_metrics_admin_only("EnableMSI: 1\n") &&
                                        !attn_metrics_admin_only("") && !attn_metrics_admin_only(NULL));
    char why[512];
    attn_metrics_privilege_reason("cuptiProfilerGetCounterAvailability", 1, 0, why, sizeof why);
    test_cond("reason: restricted to admins, names the call and the fix",
              strstr(why, "admin") && strstr(why, "RmProfilingAdminOnly: 1") &&
                  strstr(why, "cuptiProfilerGetCounterAvailability") &&
                  strstr(why, "NVreg_RestrictProfilingToAdminUsers=0"));
    attn_metrics_privilege_reason("cuptiRangeProfilerEnable", 0, 1, why, sizeof why);
    test_cond("reason: root refused too", strstr(why, "not permitted") && strstr(why, "root") &&
                                              strstr(why, "cuptiRangeProfilerEnable"));
    attn_metrics_privilege_reason_here("x", why, sizeof why);
    test_cond("reason here: not empty", why[0] != 0);
}

static void storing(void)
{
    char path[512];
    fx_path(path, sizeof path, "store.db");
    sqlite3 *db;
    test_cond("db opens", store_open(path, &db) == ATTN_OK);
    store_run r = {.command = "attnbench run --metrics dram", .backend = "cuda", .seed = 1,
                   .init = "normal", .cache_mode = "cold", .git_dirty = -1, .sm_count = -1,
                   .l2_bytes = -1, .mem_bytes = -1, .max_sm_clock_mhz = -1, .max_mem_clock_mhz = -1,
                   .ecc = -1, .cupti = -1, .metrics = "dram"};
    int64_t run = 0, point = 0;
    test_cond("run begins", store_run_begin(db, &r, &run) == ATTN_OK);
    store_point p = {.variant = "cublas", .status = "ok", .exact = 1, .check_rows = 1};
    p.point = (attn_point){.batch = 1, .heads = 2, .kv_heads = 2, .seq = 64, .head_dim = 64,
                           .dtype = ATTN_BF16};
    p.check = p.vs_exact = (store_errors){NAN, NAN, NAN};
    p.dense_flops = p.exec_flops = 1e6, p.bytes = 1e5, p.device_bytes = 2e5;
    p.profile = (attn_profile_summary){NULL, NAN, NAN, NAN, NAN, NAN};
    int64_t ns[1] = {1000};
    p.timing = (attn_timing){1, 1, 1000, 1000, 1000, 1000, 1000};
    test_cond("point stored", store_point_add(db, run, &p, ns, NULL, 1, NULL, NULL, 0, &point) == ATTN_OK);
    attn_metric_values v = {2, {"dram__bytes_read.sum", "dram__bytes_write.sum"}, {1.5e5, 4.0e4}};
    store_metric rows[2];
    for (int i = 0; i < v.n; i++) rows[i] = (store_metric){v.name[i], v.value[i], attn_metrics_unit(v.name[i])};
    test_cond("metrics stored", store_point_metrics_add(db, point, rows, v.n) == ATTN_OK);
    test_cond("reason updated", store_run_metrics_reason(db, run, "range-profiler pass failed") == ATTN_OK);
    store_run_end(db, run, "ok", NULL);
    store_close(db);
    test_cond("one row per metric", fx_num(path, "SELECT count(*) FROM metrics") == 2);
    test_cond("read value and unit",
              fx_num(path, "SELECT value FROM metrics WHERE name = 'dram__bytes_read.sum' AND unit = 'bytes'") == 1.5e5);
    test_cond("write value", fx_num(path, "SELECT value FROM metrics WHERE name = 'dram__bytes_write.sum'") == 4.0e4);
    test_cond("rows belong to the point",
              fx_num(path, "SELECT count(*) FROM metrics m JOIN points p ON p.id = m.point_id") == 2);
    test_cond("run reason stored",
              fx_num(path, "SELECT count(*) FROM runs WHERE metrics = 'dram' AND"
                           " metrics_reason = 'range-profiler pass failed'") == 1);
}

static int never_run(void *arg, cudaStream_t s)
{
    (void)s;
    ++*(int *)arg;
    return ATTN_OK;
}

static void profiler_skip(void)
{
    int calls = 0;
    attn_metric_values v = {0};
    test_cond("collect before open fails cleanly",
              attn_metrics_collect(never_run, &calls, NULL, &v) == ATTN_ERR && v.n == 0 && calls == 0);
    char why[768];
    test_cond("unknown set: skip", attn_metrics_open("l2", why, sizeof why) == ATTN_SKIP && strstr(why, "l2"));
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
    cudaGetLastError();
    int rc = attn_metrics_open("dram", why, sizeof why);
    if (gpus == 0)
        test_cond("no GPU: a skip with its reason", rc == ATTN_SKIP && why[0]);
    else
        test_cond("GPU: set up, or a skip with its reason", rc == ATTN_OK || (rc == ATTN_SKIP && why[0]));
    printf("metrics open: %s\n", rc == ATTN_OK ? "ok" : why);
    attn_metrics_close();
    attn_metrics_close(); /* twice is harmless */
}

static void command_line(void)
{
    char db[512];
    fx_path(db, sizeof db, "bad.db");
    static const char *const bad[] = {"--metrics l2", "--metrics", "--metrics DRAM", "--metrics dram,l2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[200];
        int rc = fx_sh("'%s' run --backend cpu --db %s --seq 4 %s 2>/dev/null", fx_bin, db, bad[i]);
        snprintf(what, sizeof what, "'%s' exits 2 (got %d) and writes nothing", bad[i], rc);
        test_cond(what, rc == 2 && access(db, F_OK) != 0);
    }
    fx_path(db, sizeof db, "cpu.db");
    int rc = fx_sh("'%s' run --backend cpu --db %s --variants naive,fused --seq 16 --heads 2"
                   " --head-dim 64 --max-time 0.02 --metrics dram --quiet 2>/dev/null", fx_bin, db);
    test_cond("cpu backend with --metrics dram exits 0", rc == 0);
    test_cond("run ok, metrics asked for, skipped with the reason",
              fx_num(db, "SELECT count(*) FROM runs WHERE status = 'ok' AND metrics = 'dram' AND"
                         " metrics_reason LIKE '%CPU backend%'") == 1);
    test_cond("points ok, no metrics rows",
              fx_num(db, "SELECT count(*) FROM points WHERE status = 'ok'") == 2 &&
                  fx_num(db, "SELECT count(*) FROM metrics") == 0);
    test_cond("skip said on stderr",
              fx_sh("'%s' run --backend cpu --db %s --variants naive --seq 16 --heads 2 --head-dim 16"
                    " --max-time 0.02 --metrics dram --quiet 2>&1 | grep -q 'metrics dram skipped'",
                    fx_bin, db) == 0);
    fx_path(db, sizeof db, "none.db");
    fx_sh("'%s' run --backend cpu --db %s --variants naive --seq 16 --heads 2 --head-dim 16"
          " --max-time 0.02 --quiet 2>/dev/null", fx_bin, db);
    test_cond("without --metrics: none asked, no reason",
              fx_num(db, "SELECT count(*) FROM runs WHERE metrics IS NULL AND metrics_reason IS NULL") == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0])) return 1;
    names();
    permission();
    storing();
    profiler_skip();
    command_line();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
