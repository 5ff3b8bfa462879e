/* test_cupti.c (GPU) — CUPTI attribution is exact through the real pipeline (every kernel record
 * belongs to one sample; records per sample = the variant's known launch count, also over 10000
 * samples flushed once; the L2 flush never counts), the fallback when CUPTI cannot be had (another
 * subscriber holds it) or is refused (--no-cupti), and the ceilings are plausible (GEMM 30–110 % of
 * the H100/H200 datasheet's dense bf16 989 TFLOP/s; copy bandwidth > 0), and --metrics dram (both
 * DRAM counters stored per ok point with plausible values beside tracing, or a clean skip with its
 * reason). Needs a GPU and build/attnbench. Argument "metrics": only the --metrics part. */
#include <cupti_callbacks.h>
#include <cuda_runtime.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "measure/gpu.h"
#include "measure/measure.h"
#include "test.h"
#include "measure/trace.h"
#include "variant.h"
#include "inputs.h"

#define BIN "build/attnbench"
#define DATASHEET_BF16_TFLOPS 989.0

static double query(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    double v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
    } else {
        printf("query failed: %s: %s\n", sql, sqlite3_errmsg(h));
    }
    sqlite3_close(h);
    return v;
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs `attnbench run --db DIR/NAME.db ARGS`, the database's path left in db; its exit status. */
static int run_into(const char *dir, const char *name, const char *args, char *db, size_t n)
{
    char cmd[1024];
    snprintf(db, n, "%s/%s.db", dir, name);
    snprintf(cmd, sizeof cmd, BIN " run --db %s %s", db, args);
    return sh(cmd);
}

static void CUPTIAPI other_tool(void *u, CUpti_CallbackDomain d, CUpti_CallbackId c, const void *x)
{
    (void)u, (void)d, (void)c, (void)x;
}

static void *fill_buf;
static int two_fills(void *ctx, cudaStream_t s)
{
    (void)ctx;
    ATTN_TRY(attn_fill_device(fill_buf, ATTN_BF16, 1 << 20, 1, 0, ATTN_INIT_NORMAL, 128, 1, s));
    return attn_fill_device(fill_buf, ATTN_BF16, 1 << 20, 2, 0, ATTN_INIT_NORMAL, 128, 1, s);
}

/* In this process: another subscriber holds CUPTI → init fails with the holder's reason, and a
 * measurement goes on with events. */
static void fallback_other_subscriber(void)
{
    CUpti_SubscriberHandle sub;
    CUpti_SubscriberParams sp = {CUpti_SubscriberParams_STRUCT_SIZE, "other-tool", NULL, 0};
    int held = cuptiSubscribe_v2(&sub, (CUpti_CallbackFunc)other_tool, NULL, &sp) == CUPTI_SUCCESS;
    test_cond("a first subscriber takes CUPTI", held);
    test_cond("attnbench's init then fails", attn_cupti_init() != ATTN_OK && !attn_cupti_on());
    printf("CUPTI off reason: %s\n", attn_cupti_reason());
    test_cond("the reason says why", strstr(attn_cupti_reason(), "cuptiSubscribe_v2") != NULL);
    if (held) cuptiUnsubscribe(sub);
    attn_gpu_info g;
    test_cond("GPU opens", attn_gpu_open(&g) == ATTN_OK);
    printf("clock source %s, max SM %d MHz, driver %s, ECC %d, %s\n", g.clocks.source,
           g.clocks.max_sm_mhz, g.clocks.driver, g.clocks.ecc, g.clocks.reason);
    cudaStream_t s;
    void *flush;
    cudaStreamCreate(&s);
    cudaMalloc(&fill_buf, 2 << 20);
    cudaMalloc(&flush, 2 * (size_t)g.l2_bytes);
    attn_measure_opts o;
    attn_measure_defaults(&o);
    o.max_time = 0.05, o.max_sm_mhz = g.clocks.max_sm_mhz;
    attn_samples sm = {0};
    attn_profile pr = {0};
    int rc = attn_measure_gpu(&o, two_fills, NULL, NULL, s, flush, 2 * (size_t)g.l2_bytes, &sm, &pr);
    test_cond("events measurement goes on", rc == ATTN_OK && sm.n >= 10);
    test_cond("method events", pr.method && strcmp(pr.method, "events") == 0);
    int same = 1, clock = 1;
    for (int i = 0; i < sm.n; i++) {
        same &= sm.ns[i] == pr.info[i].event_ns && pr.info[i].span_ns < 0 && pr.info[i].n_kernels < 0;
        clock &= pr.info[i].sm_clock_mhz > 0;
    }
    test_cond("ns = event time, no kernel data", same && pr.n_kernels == 0);
    test_cond("SM clock read per sample", clock);
    if (rc != ATTN_OK || sm.n == 0 || !pr.info) /* no sample to show (no GPU): say why */
        printf("measurement failed: %s\n", attn_last_error.msg);
    else
        printf("sample 0: %lld ns, SM %d MHz, %d C, %d mW\n", (long long)sm.ns[0],
               pr.info[0].sm_clock_mhz, pr.info[0].temp_c, pr.info[0].power_mw);
    attn_samples_free(&sm);
    attn_profile_free(&pr);
    cudaFree(fill_buf), cudaFree(flush);
    cudaStreamDestroy(s);
}

/* The launches one run() makes at point p, from the plan the host makes for it (work(plan));
 * -1 when unknown (a library decides). */
static int launches_of(const attn_variant *v, const attn_point *p)
{
    attn_plan *plan;
    attn_work w = {0, 0, -1};
    const attn_host_inputs none = {NULL, NULL, NULL};
    if (!v || !v->work || attn_variant_plan_host(v, p, &none, &plan) != ATTN_OK) return -1;
    v->work(plan, &w);
    attn_variant_plan_free(v, plan);
    return w.launches;
}

/* Samples (those matching the SQL condition `where` on samples s) whose record count differs from
 * the variant's known launch count. */
static void launch_counts_where(const char *db, const char *where)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int checked = 0, bad = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT p.id, p.variant, batch, heads, kv_heads, seq, head_dim, dtype, causal,"
             " (SELECT count(*) FROM samples s WHERE s.point_id = p.id AND %s), params"
             " FROM points p WHERE status = 'ok'", where);
    sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    sqlite3_stmt *q;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM samples s WHERE s.point_id = ?1 AND s.n_kernels = ?2"
             " AND %s", where);
    sqlite3_prepare_v2(h, sql, -1, &q, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const attn_variant *v = attn_variant_find((const char *)sqlite3_column_text(st, 1));
        attn_point p = {0};
        p.batch = sqlite3_column_int(st, 2), p.heads = sqlite3_column_int(st, 3);
        p.kv_heads = sqlite3_column_int(st, 4), p.seq = sqlite3_column_int(st, 5);
        p.head_dim = sqlite3_column_int(st, 6), p.causal = sqlite3_column_int(st, 8);
        attn_dtype_parse((const char *)sqlite3_column_text(st, 7), &p.dtype);
        snprintf(p.params, sizeof p.params, "%s", (const char *)sqlite3_column_text(st, 10));
        int want = launches_of(v, &p);
        if (want < 0) continue;
        sqlite3_bind_int64(q, 1, sqlite3_column_int64(st, 0));
        sqlite3_bind_int(q, 2, want);
        int n = sqlite3_column_int(st, 9), ok = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
        sqlite3_reset(q);
        checked++;
        if (ok != n) {
            bad++;
            printf("%s S=%d: %d of %d samples have %d records\n", v->name, p.seq, ok, n, want);
        }
    }
    sqlite3_finalize(st), sqlite3_finalize(q);
    sqlite3_close(h);
    char what[128];
    snprintf(what, sizeof what, "records per sample = launches() (%d points with a known count)", checked);
    test_cond(what, checked > 0 && bad == 0);
}

static void launch_counts(const char *db) { launch_counts_where(db, "1"); }

static void pipeline_on(const char *dir)
{
    char db[256], cmd[1024];
    test_cond("run with CUPTI exits 0",
              run_into(dir, "on", "--variants naive,cublas,fused --seq 1000,4096 --heads 4 --batch 2"
                       " --dtype bf16,fp16 --max-time 0.05 --min-samples 5 --quiet", db, sizeof db) == 0);
    test_cond("CUPTI on in the run", query(db, "SELECT cupti FROM runs") == 1);
    test_cond("ok points timed by CUPTI span",
              query(db, "SELECT count(*) FROM points WHERE status = 'ok' AND timing_method IS NOT 'cupti_span'") == 0);
    test_cond("every kernel record belongs to one stored sample",
              query(db, "SELECT count(*) FROM kernels k LEFT JOIN samples s ON s.point_id = k.point_id"
                        " AND s.idx = k.sample_idx WHERE s.idx IS NULL") == 0 &&
                  query(db, "SELECT count(*) FROM kernels") > 0);
    test_cond("sample record counts match the kernels table",
              query(db, "SELECT count(*) FROM samples s WHERE s.n_kernels <> (SELECT count(*) FROM kernels k"
                        " WHERE k.point_id = s.point_id AND k.sample_idx = s.idx)") == 0);
    test_cond("each sample has its own external id",
              query(db, "SELECT count(*) - count(DISTINCT ext_id) FROM samples") == 0);
    /* cuBLAS memsets its own small buffers inside run() (~1 µs each: the variant's work); the
     * flush memset of 2 × L2 (>= 100 MB, tens of µs) must not be there. */
    test_cond("the L2 flush is not among the records",
              query(db, "SELECT count(*) FROM kernels WHERE kind = 'memset' AND end_ns - start_ns > 10000") == 0);
    test_cond("no memsets for variants that make none",
              query(db, "SELECT count(*) FROM kernels k JOIN points p ON p.id = k.point_id"
                        " WHERE k.kind = 'memset' AND p.variant IN ('naive', 'fused')") == 0);
    launch_counts(db);
    test_cond("kernel sum <= span <= event time (+1 µs)",
              query(db, "SELECT count(*) FROM samples WHERE kernel_sum_ns > span_ns OR span_ns > event_ns + 1000") == 0);
    test_cond("ns = span", query(db, "SELECT count(*) FROM samples WHERE ns <> span_ns") == 0);
    test_cond("stages for cublas", query(db, "SELECT count(*) FROM stages s JOIN points p ON p.id = s.point_id"
                                             " WHERE p.variant = 'cublas'") >= 2);
    double bf16 = query(db, "SELECT value FROM ceilings WHERE name = 'gemm' AND dtype = 'bf16'");
    double fp16 = query(db, "SELECT value FROM ceilings WHERE name = 'gemm' AND dtype = 'fp16'");
    double copy = query(db, "SELECT value FROM ceilings WHERE name = 'copy'");
    printf("ceilings: GEMM bf16 %.1f, fp16 %.1f TFLOP/s; copy %.0f GB/s\n", bf16, fp16, copy);
    test_cond("GEMM bf16 ceiling 30-110 % of datasheet", bf16 > 0.3 * DATASHEET_BF16_TFLOPS && bf16 < 1.1 * DATASHEET_BF16_TFLOPS);
    test_cond("GEMM fp16 ceiling 30-110 % of datasheet", fp16 > 0.3 * DATASHEET_BF16_TFLOPS && fp16 < 1.1 * DATASHEET_BF16_TFLOPS);
    test_cond("copy ceiling plausible (0.5-10 TB/s)", copy > 500 && copy < 10000);
    test_cond("% of ceilings filled", query(db, "SELECT count(*) FROM summary WHERE status = 'ok' AND"
                                                " (pct_of_compute_ceiling IS NULL OR pct_of_bandwidth_ceiling IS NULL)") == 0);
    test_cond("provenance", query(db, "SELECT gpu_uuid LIKE 'GPU-%' AND sm_count > 0 AND l2_bytes > 0 AND"
                                      " max_sm_clock_mhz > 0 AND cupti_version IS NOT NULL FROM runs") == 1);
    snprintf(cmd, sizeof cmd, BIN " show --db %s | head -30", db);
    sh(cmd);
}

/* One point at 10000 samples, records flushed once after the last: the records, and the API
 * records behind them (several of trace.c's 4 MB buffers), must all arrive, none dropped, and
 * every sample still has exactly its launches. */
static void long_point(const char *dir)
{
    char db[256];
    test_cond("10000-sample run exits 0",
              run_into(dir, "long", "--variants naive --seq 256 --heads 4 --batch 1 --cache hot"
                       " --min-samples 10000 --no-ceilings --quiet", db, sizeof db) == 0);
    test_cond("10000 samples, timed by CUPTI span",
              query(db, "SELECT count(*) FROM samples") == 10000 &&
                  query(db, "SELECT count(*) FROM points WHERE timing_method = 'cupti_span'") == 1);
    test_cond("CUPTI still on: no record dropped or lost", query(db, "SELECT cupti FROM runs") == 1);
    test_cond("10000 samples: ns = span", query(db, "SELECT count(*) FROM samples WHERE ns <> span_ns") == 0);
    launch_counts(db);
}

/* --cupti-alternate: even samples traced with exactly their launches, odd ones untraced (no
 * records, n_kernels 0), the summary timed with events, the traced spans kept; and the per-point
 * ratio of traced to untraced event-time medians, printed (the acceptance script tabulates it). */
static void alternate(const char *dir)
{
    char db[256];
    test_cond("--cupti-alternate run exits 0",
              run_into(dir, "alt", "--variants naive,fused --seq 1000 --heads 4 --batch 2 --max-time 0.05"
                       " --min-samples 20 --quiet --no-ceilings --cupti-alternate", db, sizeof db) == 0);
    test_cond("alternate: CUPTI stays on", query(db, "SELECT cupti FROM runs") == 1);
    test_cond("alternate: summary by events",
              query(db, "SELECT count(*) FROM points WHERE status = 'ok' AND timing_method <> 'events'") == 0 &&
                  query(db, "SELECT count(*) FROM samples WHERE ns <> event_ns") == 0);
    test_cond("alternate: odd samples untraced",
              query(db, "SELECT count(*) FROM samples WHERE idx % 2 = 1 AND (n_kernels <> 0 OR span_ns IS NOT NULL)") == 0 &&
                  query(db, "SELECT count(*) FROM kernels k JOIN samples s ON s.point_id = k.point_id"
                            " AND s.idx = k.sample_idx WHERE s.idx % 2 = 1") == 0);
    test_cond("alternate: even samples traced",
              query(db, "SELECT count(*) FROM samples WHERE idx % 2 = 0 AND NOT (n_kernels > 0 AND span_ns > 0)") == 0);
    launch_counts_where(db, "s.idx % 2 = 0");
    printf("traced / untraced event medians: fused %.4f, naive %.4f\n",
           query(db, "SELECT avg(CASE WHEN idx % 2 = 0 THEN event_ns END) / avg(CASE WHEN idx % 2 = 1 THEN event_ns END)"
                     " FROM samples s JOIN points p ON p.id = s.point_id WHERE p.variant = 'fused'"),
           query(db, "SELECT avg(CASE WHEN idx % 2 = 0 THEN event_ns END) / avg(CASE WHEN idx % 2 = 1 THEN event_ns END)"
                     " FROM samples s JOIN points p ON p.id = s.point_id WHERE p.variant = 'naive'"));
}

static void pipeline_off(const char *dir)
{
    char db[256];
    test_cond("--no-cupti run exits 0",
              run_into(dir, "off", "--variants naive,fused --seq 1000 --heads 4 --batch 2 --max-time 0.05"
                       " --min-samples 5 --quiet --no-cupti --no-ceilings", db, sizeof db) == 0);
    test_cond("--no-cupti: off with the reason",
              query(db, "SELECT cupti = 0 AND cupti_reason LIKE '%--no-cupti%' AND timing_method = 'events' FROM runs") == 1);
    test_cond("--no-cupti: events", query(db, "SELECT count(*) FROM points WHERE status = 'ok' AND timing_method <> 'events'") == 0);
    test_cond("--no-cupti: no records", query(db, "SELECT count(*) FROM kernels") == 0);
    test_cond("--no-cupti: ns = event time", query(db, "SELECT count(*) FROM samples WHERE ns <> event_ns") == 0);
    test_cond("--no-ceilings: none", query(db, "SELECT count(*) FROM ceilings") == 0);
}

/* --metrics dram at one mid-size shape: the run stays ok either way; with counters permitted both
 * metrics are stored per ok point, DRAM bytes read + written 0.5-4x the point's modelled bytes
 * (which count reads and writes), and the activity tracing still attributes every record;
 * otherwise a skip reason and no rows. */
static void metrics_dram(const char *dir)
{
    char db[256];
    test_cond("--metrics dram run exits 0",
              run_into(dir, "metrics", "--variants cublas,fused --seq 4096 --heads 16 --head-dim 128"
                       " --batch 4 --metrics dram --no-ceilings --max-time 0.3 --quiet", db, sizeof db) == 0);
    test_cond("--metrics dram: run ok, points ok",
              query(db, "SELECT count(*) FROM runs WHERE status = 'ok' AND metrics = 'dram'") == 1 &&
                  query(db, "SELECT count(*) FROM points WHERE status = 'ok'") == 2);
    sqlite3 *h;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return;
    sqlite3_prepare_v2(h, "SELECT metrics_reason FROM runs", -1, &st, NULL);
    char reason[1024] = "";
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(reason, sizeof reason, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (reason[0]) {
        printf("--metrics dram skipped: %s\n", reason);
        test_cond("skipped: no metrics rows", query(db, "SELECT count(*) FROM metrics") == 0);
    } else {
        test_cond("both metrics on every ok point, unit bytes",
                  query(db, "SELECT count(*) FROM metrics m JOIN points p ON p.id = m.point_id WHERE"
                            " p.status = 'ok' AND m.unit = 'bytes' AND m.name IN"
                            " ('dram__bytes_read.sum', 'dram__bytes_write.sum')") == 4);
        sqlite3_prepare_v2(h, "SELECT p.variant, p.bytes, r.value, w.value, p.median_ns FROM points p"
                              " JOIN metrics r ON r.point_id = p.id AND r.name = 'dram__bytes_read.sum'"
                              " JOIN metrics w ON w.point_id = p.id AND w.name = 'dram__bytes_write.sum'",
                           -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            double bytes = sqlite3_column_double(st, 1), rd = sqlite3_column_double(st, 2);
            double wr = sqlite3_column_double(st, 3), ns = sqlite3_column_double(st, 4);
            printf("%s: points.bytes %.1f MB, DRAM read %.1f MB (%.2fx), write %.1f MB (%.2fx), "
                   "read+write %.2fx; %.0f GB/s at the median %.3f ms\n", v, bytes / 1e6, rd / 1e6,
                   rd / bytes, wr / 1e6, wr / bytes, (rd + wr) / bytes, (rd + wr) / ns, ns / 1e6);
            /* points.bytes models reads + writes (cublas: about half each, through its S x S
             * scores); measured on H200 at this shape: 1.00x (cublas) and 1.02x (fused). */
            char what[160];
            snprintf(what, sizeof what, "%s: DRAM bytes read + written 0.5-4x points.bytes", v);
            test_cond(what, rd + wr > 0.5 * bytes && rd + wr < 4 * bytes);
            snprintf(what, sizeof what, "%s: DRAM bytes read and written both > 0", v);
            test_cond(what, rd > 0 && wr > 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    test_cond("tracing on beside the metrics pass", query(db, "SELECT cupti FROM runs") == 1);
    launch_counts(db);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/attnbench-gpu-cupti-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    if (argc > 1 && strcmp(argv[1], "metrics") == 0) {
        metrics_dram(dir);
        return test_report();
    }
    fallback_other_subscriber();
    pipeline_on(dir);
    long_point(dir);
    pipeline_off(dir);
    alternate(dir);
    metrics_dram(dir);
    return test_report();
}
