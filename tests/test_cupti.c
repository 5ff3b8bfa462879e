/* test_cupti.c — CUPTI record parsing and attribution from synthetic records (a point's records
 * arriving in one flush after its last sample), the schema-2 views (stages, summary's new
 * columns) and throttle filtering; no GPU needed. */
#include <cupti_activity.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure/clocks.h"
#include "core/error.h"
#include "measure/measure.h"
#include "store/store.h"
#include "fixture.h"
#include "test.h"
#include "measure/trace.h"

static void ext_record(attn_cupti_log *log, CUpti_ExternalCorrelationKind k, uint64_t ext, uint32_t corr)
{
    CUpti_ActivityExternalCorrelation e;
    memset(&e, 0, sizeof e);
    e.kind = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
    e.externalKind = k, e.externalId = ext, e.correlationId = corr;
    attn_cupti_log_record(log, &e);
}

static void kernel_record(attn_cupti_log *log, uint32_t corr, uint64_t start, uint64_t end, const char *name)
{
    CUpti_ActivityKernel10 k;
    memset(&k, 0, sizeof k);
    k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
    k.correlationId = corr, k.start = start, k.end = end, k.name = name;
    k.gridX = 64, k.gridY = 2, k.gridZ = 1, k.blockX = 128, k.blockY = k.blockZ = 1;
    k.registersPerThread = 96, k.staticSharedMemory = 1024, k.dynamicSharedMemory = 49152;
    k.streamId = 7;
    attn_cupti_log_record(log, &k);
}

static void parsing_and_attribution(void)
{
    attn_cupti_log log = {0};
    char name[64];
    snprintf(name, sizeof name, "_Z14softmax_kernelI13__nv_bfloat16EvPT_iif");
    /* Sample 5: a kernel whose mapping comes first, a memset, a kernel whose mapping comes later. */
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 5, 100);
    kernel_record(&log, 100, 1000, 1500, name);
    name[3] = 'X'; /* the log must have copied the name */
    CUpti_ActivityMemset4 m;
    memset(&m, 0, sizeof m);
    m.kind = CUPTI_ACTIVITY_KIND_MEMSET, m.correlationId = 101, m.start = 1500, m.end = 1600;
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 5, 101);
    attn_cupti_log_record(&log, &m);
    kernel_record(&log, 102, 1700, 2700, "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_cublas");
    /* The L2 flush: no external id. Another tool's CUSTOM1 id is ignored. */
    m.correlationId = 50, m.start = 100, m.end = 900;
    attn_cupti_log_record(&log, &m);
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1, 9, 50);
    /* Sample 6. An API record (skipped). */
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 6, 200);
    kernel_record(&log, 200, 5000, 5400, "_Z13naive_softmaxPfi");
    CUpti_ActivityAPI api;
    memset(&api, 0, sizeof api);
    api.kind = CUPTI_ACTIVITY_KIND_RUNTIME;
    attn_cupti_log_record(&log, &api);
    attn_cupti_log_resolve(&log);
    test_cond("records kept: 4 kernels/memsets + flush memset", log.n == 5);
    test_cond("API record skipped", log.n_other == 1);
    test_cond("kernel fields", log.recs[0].grid[0] == 64 && log.recs[0].block[0] == 128 &&
                                   log.recs[0].registers == 96 && log.recs[0].dynamic_smem == 49152 &&
                                   log.recs[0].stream == 7);
    test_cond("name copied", strcmp(log.recs[0].name, "_Z14softmax_kernelI13__nv_bfloat16EvPT_iif") == 0);
    test_cond("memset named", strcmp(log.recs[1].name, "[memset]") == 0 && log.recs[1].kind == ATTN_REC_MEMSET);
    test_cond("flush memset belongs to no sample", log.recs[3].ext == 0);
    test_cond("mapping before record resolves", log.recs[0].ext == 5 && log.recs[1].ext == 5);
    test_cond("unmapped yet", log.recs[2].ext == 0);
    /* The mapping of correlation 102 arrives in a later flush. */
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 5, 102);
    attn_cupti_log_resolve(&log);
    test_cond("incremental resolve leaves old records", log.recs[2].ext == 0);
    attn_cupti_log_resolve_all(&log);
    test_cond("late mapping resolves", log.recs[2].ext == 5);
    attn_cupti_log_clear(&log);
    test_cond("clear", log.n == 0 && log.map_n == 0);
    /* Many ids: the map grows. */
    for (uint32_t i = 1; i <= 5000; i++) ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 1000 + i, i);
    for (uint32_t i = 1; i <= 5000; i++) kernel_record(&log, i, i * 10, i * 10 + 5, "k");
    attn_cupti_log_resolve(&log);
    int ok = 1;
    for (size_t i = 0; i < log.n; i++) ok &= log.recs[i].ext == 1000 + log.recs[i].correlation;
    test_cond("5000 ids map exactly", ok && log.n == 5000);
    attn_cupti_log_free(&log);
}

/* n samples with event times 10000 + i, as attn_measure_gpu leaves them before the flush. */
static void event_samples(attn_samples *s, attn_profile *p, int n)
{
    *s = (attn_samples){calloc((size_t)n, sizeof *s->ns), calloc((size_t)n, 1), n, n};
    *p = (attn_profile){.info = malloc((size_t)n * sizeof *p->info), .cap = n, .method = "events"};
    for (int i = 0; i < n; i++) {
        s->ns[i] = 10000 + i;
        p->info[i] = (attn_sample_info){10000 + i, -1, -1, -1, 1980, 50, 400000, 101 + i, 0};
    }
}

/* The point's records all arrive in one flush after its last sample (attn_measure_gpu no longer
 * flushes between samples): attn_profile_finish attributes them to samples, rebuilds each
 * sample's count, sum and span, and switches ns from the event times to the spans only when every
 * sample has records. */
static void finish_point(void)
{
    attn_cupti_log log = {0};
    attn_samples s;
    attn_profile p;
    /* Samples 101..103 (first_ext 101), their records interleaved as buffers deliver them: sample
     * 102's before 101's, a kernel before its mapping, the L2 flush memset (no id), a warm-up
     * kernel of an earlier point's id and one of an id past the last sample. */
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 102, 20);
    kernel_record(&log, 20, 5000, 5300, "_Z1bv");
    kernel_record(&log, 11, 1400, 1900, "_Z1bv");
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 101, 10);
    kernel_record(&log, 10, 1000, 1300, "_Z1av");
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 101, 11);
    CUpti_ActivityMemset4 m;
    memset(&m, 0, sizeof m);
    m.kind = CUPTI_ACTIVITY_KIND_MEMSET, m.correlationId = 1, m.start = 100, m.end = 900;
    attn_cupti_log_record(&log, &m);
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 100, 5);
    kernel_record(&log, 5, 200, 250, "_Z1av");
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 104, 40);
    kernel_record(&log, 40, 9000, 9100, "_Z1av");
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 102, 21);
    kernel_record(&log, 21, 4900, 4950, "_Z1av");
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 103, 30);
    kernel_record(&log, 30, 7000, 7600, "_Z1av");
    attn_cupti_log_resolve(&log);
    event_samples(&s, &p, 3);
    attn_profile_finish(&s, &p, &log, 101);
    test_cond("finish: cupti_span", strcmp(p.method, "cupti_span") == 0);
    test_cond("finish: records per sample", p.info[0].n_kernels == 2 && p.info[1].n_kernels == 2 &&
                                                p.info[2].n_kernels == 1 && p.n_kernels == 5);
    test_cond("finish: spans", p.info[0].span_ns == 900 && p.info[1].span_ns == 400 && p.info[2].span_ns == 600);
    test_cond("finish: sums", p.info[0].kernel_sum_ns == 800 && p.info[1].kernel_sum_ns == 350 &&
                                  p.info[2].kernel_sum_ns == 600);
    test_cond("finish: ns = span", s.ns[0] == 900 && s.ns[1] == 400 && s.ns[2] == 600);
    test_cond("finish: event times and clocks kept", p.info[1].event_ns == 10001 && p.info[2].sm_clock_mhz == 1980);
    int order = 1;
    for (size_t i = 0; i < p.n_kernels; i++)
        order &= i == 0 || p.kernels[i - 1].sample < p.kernels[i].sample ||
                 (p.kernels[i - 1].sample == p.kernels[i].sample && p.kernels[i - 1].start_ns < p.kernels[i].start_ns &&
                  p.kernels[i].launch == p.kernels[i - 1].launch + 1);
    test_cond("finish: kernels by sample, then start, launches counted",
              order && p.kernels[0].launch == 0 && p.kernels[2].sample == 1 && p.kernels[2].launch == 0 &&
                  p.kernels[2].start_ns == 4900 && strcmp(p.kernels[3].short_name, "b") == 0);
    attn_samples_free(&s);
    attn_profile_free(&p);
    attn_cupti_log_clear(&log);

    /* A sample without records: the point keeps its event times. */
    ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 101, 10);
    kernel_record(&log, 10, 1000, 1300, "_Z1av");
    event_samples(&s, &p, 2);
    attn_profile_finish(&s, &p, &log, 101);
    test_cond("incomplete: events", strcmp(p.method, "events") == 0 && s.ns[0] == 10000 && s.ns[1] == 10001);
    test_cond("incomplete: what there is is kept", p.info[0].n_kernels == 1 && p.info[0].span_ns == 300 &&
                                                       p.info[1].n_kernels == 0 && p.info[1].span_ns == -1);
    attn_samples_free(&s);
    attn_profile_free(&p);
    attn_cupti_log_clear(&log);

    /* No log (CUPTI off, or the flush failed): events, nothing measured. */
    event_samples(&s, &p, 2);
    attn_profile_finish(&s, &p, NULL, 101);
    test_cond("no log: events", strcmp(p.method, "events") == 0 && s.ns[1] == 10001 &&
                                    p.info[1].n_kernels == -1 && p.n_kernels == 0);
    attn_samples_free(&s);
    attn_profile_free(&p);

    /* A point at max_samples: 10000 samples of 3 launches each, all in the one final flush. */
    enum { N = 10000 };
    for (uint32_t i = 0; i < 3 * N; i++) {
        ext_record(&log, CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 101 + i / 3, i + 1);
        kernel_record(&log, i + 1, 10000 + 100 * (uint64_t)i, 10000 + 100 * (uint64_t)i + 90, "_Z1av");
    }
    attn_cupti_log_resolve(&log);
    event_samples(&s, &p, N);
    attn_profile_finish(&s, &p, &log, 101);
    int all = strcmp(p.method, "cupti_span") == 0 && p.n_kernels == 3 * N;
    for (int i = 0; i < N; i++) all &= p.info[i].n_kernels == 3 && s.ns[i] == 290 && p.info[i].kernel_sum_ns == 270;
    test_cond("10000 samples in one flush: every record attributed", all);
    attn_samples_free(&s);
    attn_profile_free(&p);
    attn_cupti_log_free(&log);
}

static void views(void)
{
    char path[] = "/tmp/attnbench-test-cupti-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    sqlite3 *db;
    test_cond("open", store_open(path, &db) == ATTN_OK);
    store_run r = {.command = "attnbench run", .backend = "cuda", .git_dirty = -1, .sm_count = 132,
                   .l2_bytes = 50 << 20, .mem_bytes = -1, .max_sm_clock_mhz = 1980,
                   .max_mem_clock_mhz = -1, .ecc = 1, .cupti = 1, .gpu_uuid = "GPU-x",
                   .timing_method = "cupti_span"};
    int64_t run, pid;
    test_cond("run", store_run_begin(db, &r, &run) == ATTN_OK);
    test_cond("provenance stored", fx_db_num(db, "SELECT sm_count + ecc + max_sm_clock_mhz FROM runs") == 132 + 1 + 1980);
    test_cond("unknown stays NULL", isnan(fx_db_num(db, "SELECT mem_bytes FROM runs")));
    test_cond("ceiling", store_ceiling_add(db, run, "gemm", "bf16", 800, "TFLOP/s", 10, "x") == ATTN_OK);
    test_cond("copy ceiling", store_ceiling_add(db, run, "copy", "", 4000, "GB/s", 10, "x") == ATTN_OK);
    /* A 3-kernel variant, 5 samples: GEMM 100 ns, softmax 50, GEMM 200, gaps 10 each; sample 4
     * is throttled and its kernels are 10× slower (must not move the medians). */
    store_point p = {0};
    p.variant = "cublas", p.is_baseline = 1, p.status = "ok", p.exact = 1;
    p.point = (attn_point){.batch = 1, .heads = 4, .kv_heads = 4, .seq = 128, .head_dim = 64, .dtype = ATTN_BF16};
    p.check = p.vs_exact = (store_errors){NAN, NAN, NAN};
    p.dense_flops = 1e6, p.exec_flops = 2e6, p.bytes = 1e6, p.device_bytes = NAN;
    int64_t ns[5];
    uint8_t thr[5] = {0, 0, 0, 0, 1};
    attn_sample_info info[5];
    attn_sample_kernel kern[15];
    attn_samples s = {ns, thr, 5, 5};
    attn_profile prof = {info, 5, kern, 15, "cupti_span"};
    const char *names[3] = {"gemm_a", "softmax", "gemm_a"};
    const int64_t dur[3] = {100, 50, 200};
    for (int i = 0; i < 5; i++) {
        int64_t t = 1000 * i, slow = thr[i] ? 10 : 1, sum = 0, first = t;
        for (int j = 0; j < 3; j++) {
            kern[3 * i + j] = (attn_sample_kernel){.sample = i, .launch = j, .kind = "kernel", .name = names[j],
                                             .short_name = names[j], .grid = {1, 1, 1}, .block = {128, 1, 1},
                                             .start_ns = t, .end_ns = t + dur[j] * slow + i};
            sum += dur[j] * slow + i;
            t += dur[j] * slow + i + 10;
        }
        info[i] = (attn_sample_info){.event_ns = t + 5 - first, .kernel_sum_ns = sum, .span_ns = t - 10 - first,
                                      .n_kernels = 3, .sm_clock_mhz = thr[i] ? 1000 : 1980, .temp_c = 50,
                                      .power_mw = 400000, .ext_id = i + 1};
        ns[i] = info[i].span_ns;
    }
    attn_summarize(&s, &p.timing);
    attn_summarize_profile(&s, &prof, &p.profile);
    test_cond("throttled sample excluded", p.timing.n_used == 4 && p.timing.median == 374.5);
    test_cond("profile medians", p.profile.kernel_count == 3 && p.profile.span_median_ns == 374.5 &&
                                     p.profile.kernel_sum_median_ns == 354.5 &&
                                     fabs(p.profile.gap_share - 20 / 374.5) < 1e-3);
    test_cond("point stored", store_point_add(db, run, &p, ns, thr, 5, info, kern, 15, &pid) == ATTN_OK);
    test_cond("kernels stored", fx_db_num(db, "SELECT count(*) FROM kernels") == 15);
    test_cond("names deduplicated", fx_db_num(db, "SELECT count(*) FROM kernel_names") == 2);
    test_cond("sample details", fx_db_num(db, "SELECT sum(n_kernels) FROM samples") == 15 &&
                                    fx_db_num(db, "SELECT sm_clock_mhz FROM samples WHERE idx = 4") == 1000);
    test_cond("stages: two names", fx_db_num(db, "SELECT count(*) FROM stages") == 2);
    test_cond("stages: GEMM launches 2 per sample", fx_db_num(db, "SELECT launches FROM stages WHERE kernel = 'gemm_a'") == 2);
    /* gemm_a per sample: 300 + 2i for i = 0..3 → median 303; softmax 50 + i → 51.5. */
    test_cond("stages: median over unthrottled samples", fx_db_num(db, "SELECT median_ns FROM stages WHERE kernel = 'gemm_a'") == 303);
    test_cond("stages: softmax", fx_db_num(db, "SELECT median_ns FROM stages WHERE kernel = 'softmax'") == 51.5);
    test_cond("stages: share of the span",
              fabs(fx_db_num(db, "SELECT share FROM stages WHERE kernel = 'softmax'") - 51.5 / 374.5) < 1e-12);
    test_cond("stages: typed", fx_db_num(db, "SELECT typeof(launches) = 'integer' AND typeof(median_ns) = 'real'"
                                          " AND typeof(kernel) = 'text' FROM stages LIMIT 1") == 1);
    test_cond("summary: kernel count", fx_db_num(db, "SELECT kernel_count FROM summary") == 3);
    test_cond("summary: gap share", fabs(fx_db_num(db, "SELECT gap_share FROM summary") - 20 / 374.5) < 1e-3);
    test_cond("summary: method", fx_db_num(db, "SELECT timing_method = 'cupti_span' FROM summary") == 1);
    test_cond("summary: throttled counted", fx_db_num(db, "SELECT throttled FROM summary") == 1);
    /* exec 2e6 FLOP in 374.5 ns = 5.38 TFLOP/s of 800. */
    test_cond("summary: % of compute ceiling",
              fabs(fx_db_num(db, "SELECT pct_of_compute_ceiling FROM summary") - 2e6 / 374.5 / 1e3 * 100 / 800) < 1e-9);
    test_cond("plot's ceiling derivation gives the ceiling back",
              fabs(fx_db_num(db, "SELECT c.exec_flops / c.median_ns / 1e3 * 100 / s.pct_of_compute_ceiling"
                              " FROM summary s JOIN points c ON c.id = s.point_id") - 800) < 1e-9);
    test_cond("summary: % of bandwidth ceiling",
              fabs(fx_db_num(db, "SELECT pct_of_bandwidth_ceiling FROM summary") - 1e6 / 374.5 * 100 / 4000) < 1e-9);
    test_cond("summary keeps its first columns",
              fx_db_num(db, "SELECT count(*) FROM pragma_table_info('summary') WHERE name IN ('point_id','run_id',"
                         "'variant','median_ms','tflops','speedup_vs_baseline','config','reason')") == 8);
    /* A point without CUPTI (events) and one not measured. */
    store_point e = p;
    e.profile.timing_method = "events";
    e.point.seq = 256;
    test_cond("events point", store_point_add(db, run, &e, ns, NULL, 5, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("no stages for it", fx_db_num(db, "SELECT count(*) FROM stages WHERE point_id = 2") == 0);
    store_point plain = p;
    plain.profile.timing_method = NULL;
    plain.point.seq = 512;
    test_cond("plain point", store_point_add(db, run, &plain, ns, NULL, 5, NULL, NULL, 0, &pid) == ATTN_OK);
    test_cond("unmeasured profile is NULL", isnan(fx_db_num(db, "SELECT kernel_count FROM points WHERE id = 3")));
    test_cond("CUPTI off mid-run recorded", store_run_cupti_off(db, run, "cuptiActivityFlushAll failed") == ATTN_OK &&
                                                fx_db_num(db, "SELECT cupti FROM runs") == 0);
    store_close(db);
    unlink(path);
}

static void throttling(void)
{
    test_cond("one power-cap step (1965 of 1980 MHz) throttled", attn_clocks_throttled(1965, 1980, 0.995));
    test_cond("probe jitter (1976 of 1980 MHz) not throttled", !attn_clocks_throttled(1976, 1980, 0.995));
    test_cond("full clock", !attn_clocks_throttled(1980, 1980, 0.995));
    test_cond("unknown clock not throttled", !attn_clocks_throttled(-1, 1980, 0.995));
    test_cond("unknown max not throttled", !attn_clocks_throttled(500, 0, 0.995));
}

int main(void)
{
    parsing_and_attribution();
    finish_point();
    views();
    throttling();
    return test_report();
}
