/* test_quant.c (GPU) — the `quant` variant through the real pipeline (make test-gpu; needs a GPU):
 * the GPU output (quantization stage + attention kernel) against its CPU implementation (the same
 * quantization, bit for bit, and the kernels' rounding points) at S = 1, 127, 1000, 4096, D = 64
 * and 128, fp16 and bf16, causal and not, H_kv < H, on the mma path and (on sm_90) the wgmma
 * path; outlier and FA3-outlier inputs at S = 1000, 4096 (fa3: rotate=hadamard and none, the
 * rotation failing fewer bounds); each ablation mode at S = 1000. A point may fail only an
 * accuracy bound against exact attention (the quantization's own error, reported), never the
 * tolerance against its CPU implementation. The stage's kernels and the attention kernel are
 * separate records. First, the stage's quantized copies against the CPU implementation's byte for
 * byte (fa3 inputs: bf16 D = 64 and 128 with rotate=hadamard and none, fp16, S = 1000 and 4100).
 *   --small        a few small shapes only (for compute-sanitizer --target-processes all)
 *   --bench        quant vs fused, both path=mma, bf16 B=2 H=16 S=8192 D=128: summary and stages
 *   --bench-stage  the byte comparison, then each stage kernel alone (CUDA events, median of 11,
 *                  L2 flushed): µs and GB/s at bf16 B=4 H=16 S=8192 D=128 and B=4 H=32 D=64 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approx.h"
#include "gpu_test.h"
#include "quant.h"
#include "quant_cpu.h"
#include "test.h"
#include "timer.h"

static const char *RUN_FAST = " --max-time 0.01 --min-samples 3 --quiet";

/* Prints a query's rows, columns separated by two spaces. */
static void print_query(const char *db_path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(st); i++)
                printf("%s%s", i ? "  " : "", (const char *)sqlite3_column_text(st, i));
            printf("\n");
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* Points that failed other than by a bound against exact attention, or errored: none. */
static void check_db(const char *db, const char *what)
{
    char msg[256];
    const long long bad = approx_points_where(
        db, "status = 'error' OR (status = 'failed' AND reason NOT LIKE '%variant''s bound%')");
    snprintf(msg, sizeof msg,
             "%s: every point within the tolerance of its CPU implementation (%lld not)", what,
             bad);
    test_cond(msg, bad == 0);
    print_query(db,
                "SELECT seq, head_dim, causal, dtype, kv_heads, params, status, reason FROM points"
                " WHERE status != 'ok' LIMIT 20");
    fx_sh("'%s' show --db %s | awk 'NR > 3 { print }' | sort -k17 -g | tail -3", fx_bin, db);
}

/* One run of init's inputs over `shape` (attnbench run flags, extra --param flags among them) on
 * the paths. */
static void pass(const char *init, const char *shape, const char *paths)
{
    char db[512];
    snprintf(db, sizeof db, "%s/quant-%s.db", fx_dir, init);
    const int rc = fx_sh("'%s' run --db %s --variants quant %s --heads 4 --batch 1 --causal 0,1 "
                         "--init %s --param path=%s%s",
                         fx_bin, db, shape, init, paths, RUN_FAST);
    char what[200];
    snprintf(what, sizeof what,
             "quant, %s inputs: the run ends (exit 0 or 1 for bound failures, got %d)", init, rc);
    test_cond(what, rc == 0 || rc == 1);
    snprintf(what, sizeof what, "quant, %s inputs", init);
    check_db(db, what);
    if (strcmp(init, "normal") == 0)
        test_cond("quant, normal inputs: every point within the bounds too",
                  approx_points_where(db, "status != 'ok'") == 0);
    test_cond("quant: the stage's kernels and the attention kernel are separate records",
              fx_query_int(db, "SELECT count(DISTINCT kernel) FROM stages") >= 4 ||
                  fx_query_int(db, "SELECT count(*) FROM stages") == 0);
}

/* The fa3 pass ran rotate=hadamard and none (the quantized rows must match the CPU
 * implementation's bit for bit either way, which the tolerance of every point shows): the
 * rotation must fail fewer accuracy bounds than its absence (the CPU implementation's table:
 * RMSE 4.2e-3 against 1.09e-2 at S = 1000). */
static void rotation_compare(void)
{
    char db[512];
    snprintf(db, sizeof db, "%s/quant-fa3.db", fx_dir);
    print_query(db, "SELECT params, count(*), sum(status = 'ok'), avg(exact_rel_l2),"
                    " max(exact_rel_l2) FROM points GROUP BY params");
    const long long rot =
        approx_points_where(db, "params LIKE '%rotate=hadamard%' AND status != 'ok'");
    const long long none =
        approx_points_where(db, "params LIKE '%rotate=none%' AND status != 'ok'");
    char what[200];
    snprintf(what, sizeof what,
             "quant, fa3 inputs: rotate=hadamard fails fewer bounds than rotate=none (%lld, %lld)",
             rot, none);
    test_cond(what, rot < none);
}

/* Count of bytes of n at dev (device) that differ from host. -1 when the copy fails. */
static long long differing_bytes(const void *dev, const void *host, size_t n)
{
    unsigned char *got = malloc(n);
    long long bad = -1;
    if (got && cudaMemcpy(got, dev, n, cudaMemcpyDeviceToHost) == cudaSuccess) {
        bad = 0;
        for (size_t i = 0; i < n; i++) bad += got[i] != ((const unsigned char *)host)[i];
    }
    free(got);
    return bad;
}

/* The dtype inputs of p (seed 42, as approx_inputs widens them) on the device; NULL on failure. */
static void *device_input(const attn_point *p, size_t n, int tensor, attn_init init)
{
    const size_t bytes = n * attn_dtype_size(p->dtype);
    void *h = malloc(bytes), *d = NULL;
    attn_fill_host(h, p->dtype, n, 42, tensor, init, p->head_dim, p->seq);
    if (cudaMalloc(&d, bytes) != cudaSuccess) d = NULL;
    else if (cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess)
        cudaFree(d), d = NULL;
    free(h);
    return d;
}

/* The device inputs of p (init's, seed 42: approx_inputs' values) and a workspace, laid out in
 * a->t, with the kernels' arguments for the default modes (rotate as given). 0 on failure. */
static int stage_setup(const attn_point *p, attn_init init, int rotate, attn_quant_args *a,
                       void **ws)
{
    memset(a, 0, sizeof *a);
    a->dtype = p->dtype, a->B = p->batch, a->H = p->heads, a->Hkv = p->kv_heads, a->S = p->seq;
    a->D = p->head_dim, a->qk_int8 = 1, a->pv_fp8 = 1, a->smooth = 1, a->accum_two_level = 1;
    a->rotate = rotate;
    a->q = device_input(p, attn_q_elems(p), ATTN_TENSOR_Q, init);
    a->k = device_input(p, attn_kv_elems(p), ATTN_TENSOR_K, init);
    a->v = device_input(p, attn_kv_elems(p), ATTN_TENSOR_V, init);
    *ws = NULL;
    if (!a->q || !a->k || !a->v ||
        cudaMalloc(ws, attn_quant_workspace_bytes(p->batch, p->heads, p->kv_heads, p->seq,
                                                  p->head_dim)) != cudaSuccess)
        return 0;
    attn_quant_tensors_layout(*ws, p->batch, p->heads, p->kv_heads, p->seq, p->head_dim, &a->t);
    return 1;
}

static void stage_free(attn_quant_args *a, void *ws)
{
    cudaFree(ws), cudaFree((void *)a->q), cudaFree((void *)a->k), cudaFree((void *)a->v);
}

/* The stage's quantized copies (q8, k8, their scales, k_mean, v_scale, Vᵀ's codes) against the
 * CPU implementation's, byte for byte, on fa3 inputs, rotate=hadamard and none: the property the
 * check of every point rests on (quant.h: the same roundings, the same butterfly order, the same
 * order of K's sum). S = 1000: a partial last 128-row block and Vᵀ tile, padding keys. */
static void stage_bits(attn_dtype dtype, int S, int D, int rotate)
{
    attn_point p = approx_point(1, 4, 2, S, D, dtype, "");
    const attn_init init = ATTN_INIT_FA3;
    const quant_config c = {.qk_int8 = 1,
                            .pv_fp8 = 1,
                            .smooth = 1,
                            .two_level = 1,
                            .p_int8 = 0,
                            .path = -1,
                            .rotate = rotate};
    const size_t nq = attn_q_elems(&p), nkv = attn_kv_elems(&p), nblk = (p.seq + 127) / 128;
    const size_t hq = (size_t)p.batch * p.heads, hkv = (size_t)p.batch * p.kv_heads;
    attn_host_inputs in = approx_inputs(&p, init);
    quant_host_tensors ht;
    attn_quant_args a;
    void *ws;
    int ok = quant_host_quantize(&p, &c, &in, &ht) == ATTN_OK;
    ok = stage_setup(&p, init, rotate, &a, &ws) && ok;
    long long bad = -1;
    if (ok) ok = attn_quant_stage_launch(&a) == ATTN_OK && cudaDeviceSynchronize() == cudaSuccess;
    if (ok) {
        const int sp = attn_quant_s_pad(p.seq);
        uint8_t *v8t = calloc(hkv * D * sp, 1); /* the host's [S][D] codes transposed, padding 0 */
        for (size_t h = 0; h < hkv; h++)
            for (int r = 0; r < p.seq; r++)
                for (int d = 0; d < D; d++)
                    v8t[(h * D + d) * sp + r] = ht.v8[(h * p.seq + r) * D + d];
        const long long parts[] = {differing_bytes(a.t.q8, ht.q8, nq),
                                   differing_bytes(a.t.k8, ht.k8, nkv),
                                   differing_bytes(a.t.q_scale, ht.q_scale, hq * nblk * 4),
                                   differing_bytes(a.t.k_scale, ht.k_scale, hkv * nblk * 4),
                                   differing_bytes(a.t.k_mean, ht.k_mean, hkv * D * 4),
                                   differing_bytes(a.t.v_scale, ht.v_scale, hkv * D * 4),
                                   differing_bytes(a.t.v8t, v8t, hkv * D * sp)};
        static const char *const names[] = {"q8",     "k8",      "q_scale", "k_scale",
                                            "k_mean", "v_scale", "v8t"};
        bad = 0;
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
            if (parts[i]) printf("  %s: %lld bytes differ\n", names[i], parts[i]);
            bad = parts[i] < 0 || bad < 0 ? -1 : bad + parts[i];
        }
        free(v8t);
    }
    char what[200];
    snprintf(what, sizeof what,
             "quant stage = CPU implementation byte for byte: fa3 %s S=%d D=%d rotate=%s "
             "(%lld bytes differ)",
             attn_dtype_name(dtype), S, D, rotate ? "hadamard" : "none", bad);
    test_cond(what, ok && bad == 0);
    quant_host_free(&ht), approx_free(in);
    stage_free(&a, ws);
}

static void stage_bits_all(void)
{
    for (int d = 64; d <= 128; d += 64)
        for (int rotate = 0; rotate < 2; rotate++) stage_bits(ATTN_BF16, 1000, d, rotate);
    stage_bits(ATTN_FP16, 1000, 128, 1);
    stage_bits(ATTN_BF16, 4100, 128, 1); /* the row lanes wrap 16 times, a 4-row last block */
}

/* Median of `reps` event-timed runs of kernel (an ATTN_QUANT_STAGE_* alone, or -1: the whole
 * stage), each after a write of flush (L2 cleared); milliseconds, -1 on an error. */
static double stage_ms(const attn_quant_args *a, int kernel, void *flush, size_t flush_bytes,
                       int reps)
{
    cudaEvent_t e0, e1;
    double t[32], ms = -1;
    if (cudaEventCreate(&e0) != cudaSuccess) return -1;
    if (cudaEventCreate(&e1) != cudaSuccess) return cudaEventDestroy(e0), -1;
    for (int i = 0; i <= reps; i++) { /* run 0: the warm-up */
        float f;
        if (attn_l2_flush(flush, flush_bytes, 0) != ATTN_OK ||
            cudaEventRecord(e0, 0) != cudaSuccess ||
            (kernel < 0 ? attn_quant_stage_launch(a) : attn_quant_stage_kernel_launch(a, kernel)) !=
                ATTN_OK ||
            cudaEventRecord(e1, 0) != cudaSuccess || cudaEventSynchronize(e1) != cudaSuccess ||
            cudaEventElapsedTime(&f, e0, e1) != cudaSuccess)
            goto end;
        if (i) t[i - 1] = f;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double x = t[j];
            t[j] = t[j - 1], t[j - 1] = x;
        }
    ms = t[reps / 2];
end:
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return ms;
}

/* --bench-stage: the stage's kernels each alone (and the whole stage), bf16, median of 11 CUDA
 * event timings with L2 flushed before each, µs and GB/s of the bytes each must move (its reads
 * of the dtype inputs, its writes of the 8-bit copies; scales and means ignored). The byte
 * comparison with the CPU implementation runs first, so a speed run proves the bits too. */
static void bench_stage(void)
{
    static const struct {
        int B, H, S, D;
    } shapes[] = {{4, 16, 8192, 128}, {4, 32, 8192, 64}};
    static const char *const names[] = {"quant_kv_stats_kernel (K mean, V channel max)",
                                        "quant_rows_kernel (Q and K to INT8)",
                                        "quant_vt_kernel (V to e4m3 Vt)"};
    const size_t flush_bytes = 256u << 20;
    void *flush = NULL;
    stage_bits_all();
    test_cond("flush buffer", cudaMalloc(&flush, flush_bytes) == cudaSuccess);
    for (size_t i = 0; flush && i < sizeof shapes / sizeof *shapes; i++) {
        attn_point p = approx_point(shapes[i].B, shapes[i].H, shapes[i].H, shapes[i].S, shapes[i].D,
                                    ATTN_BF16, "");
        attn_quant_args a;
        void *ws;
        if (!stage_setup(&p, ATTN_INIT_NORMAL, 1, &a, &ws)) {
            test_cond("bench-stage: inputs and workspace allocated", 0);
            stage_free(&a, ws);
            continue;
        }
        const double n = (double)attn_q_elems(&p); /* H = H_kv: Q, K and V alike */
        const double vt = (double)p.batch * p.kv_heads * p.head_dim * attn_quant_s_pad(p.seq);
        const double bytes[] = {4 * n, 4 * n + 2 * n, 2 * n + vt};
        printf("bench-stage: bf16 B=%d H=H_kv=%d S=%d D=%d (Q, K, V %.1f MB each), median of 11, "
               "L2 flushed\n",
               p.batch, p.heads, p.seq, p.head_dim, 2 * n / 1e6);
        double total_bytes = 0;
        for (int k = 0; k < ATTN_QUANT_STAGE_KERNELS; k++) {
            const double ms = stage_ms(&a, k, flush, flush_bytes, 11);
            printf("  %-48s %9.1f us  %7.1f GB/s  (%.1f MB)\n", names[k], ms * 1e3,
                   bytes[k] / (ms * 1e6), bytes[k] / 1e6);
            test_cond("bench-stage: the kernel ran", ms > 0);
            total_bytes += bytes[k];
        }
        a.rotate = 0;
        double ms = stage_ms(&a, ATTN_QUANT_STAGE_ROWS, flush, flush_bytes, 11);
        printf("  %-48s %9.1f us  %7.1f GB/s\n", "quant_rows_kernel, rotate=none", ms * 1e3,
               bytes[ATTN_QUANT_STAGE_ROWS] / (ms * 1e6));
        a.rotate = 1;
        ms = stage_ms(&a, -1, flush, flush_bytes, 11);
        printf("  %-48s %9.1f us  %7.1f GB/s  (%.1f MB)\n", "whole stage (3 launches)", ms * 1e3,
               total_bytes / (ms * 1e6), total_bytes / 1e6);
        test_cond("bench-stage: the whole stage ran", ms > 0);
        stage_free(&a, ws);
    }
    cudaFree(flush);
}

static void modes_pass(const char *paths)
{
    static const char *modes[] = {"qk=bf16",      "pv=bf16", "qk=bf16,pv=bf16", "smooth=0",
                                  "accum=single", "p=int8",  "rotate=none"};
    char db[512];
    snprintf(db, sizeof db, "%s/quant-modes.db", fx_dir);
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char params[128], *c;
        snprintf(params, sizeof params, "%s", modes[i]);
        /* "a=x,b=y" as repeated --param flags */
        char flags[256] = "";
        for (char *tok = strtok_r(params, ",", &c); tok; tok = strtok_r(NULL, ",", &c))
            snprintf(flags + strlen(flags), sizeof flags - strlen(flags), " --param %s", tok);
        fx_sh("'%s' run --db %s --variants quant --seq 1000 --heads 4 --kv-heads 2 --batch 1"
              " --head-dim 64,128 --dtype bf16 --causal 0,1 --param path=%s%s%s",
              fx_bin, db, paths, flags, RUN_FAST);
    }
    check_db(db, "quant, every ablation mode");
    test_cond("quant modes: all ran", approx_points_where(db, "1") >= 7 * 4);
}

static void bench(void)
{
    char db[512];
    snprintf(db, sizeof db, "%s/bench.db", fx_dir);
    fx_sh("'%s' run --db %s --variants quant,fused --param path=mma --seq 8192 --heads 16 --batch 2"
          " --head-dim 128 --dtype bf16 --max-time 2 --quiet",
          fx_bin, db);
    fx_sh("'%s' show --db %s", fx_bin, db);
    printf("stages (median ns per sample):\n");
    print_query(
        db, "SELECT p.variant, p.params, s.kernel, s.launches, s.median_ns, round(s.share, 3)"
            " FROM stages s JOIN points p ON p.id = s.point_id ORDER BY p.id, s.median_ns DESC");
}

int main(int argc, char **argv)
{
    if (gpu_test_init(argv[0])) return 1;
    const char *arg = argc > 1 ? argv[1] : "";
    const char *paths = approx_device_is_sm90() ? "mma,wgmma" : "mma";
    if (strcmp(arg, "--bench") == 0) {
        bench();
    } else if (strcmp(arg, "--bench-stage") == 0) {
        bench_stage();
    } else if (strcmp(arg, "--small") == 0) {
        char db[512];
        snprintf(db, sizeof db, "%s/small.db", fx_dir);
        const int rc = fx_sh(
            "'%s' run --db %s --variants quant --seq 1,127 --heads 2 --kv-heads 1 "
            "--head-dim 64,128 --dtype bf16 --causal 0,1 --param path=%s "
            "--param pv=fp8,bf16%s",
            fx_bin, db, getenv("QUANT_TEST_PATHS") ? getenv("QUANT_TEST_PATHS") : paths, RUN_FAST);
        test_cond("small shapes run", rc == 0);
        check_db(db, "quant, small shapes");
    } else {
        const char *p = getenv("QUANT_TEST_PATHS") ? getenv("QUANT_TEST_PATHS") : paths;
        stage_bits_all();
        pass("normal", "--seq 1,127,1000,4096 --kv-heads 1 --head-dim 64,128 --dtype fp16,bf16", p);
        pass("outliers", "--seq 1000,4096 --kv-heads 2 --head-dim 128 --dtype bf16", p);
        pass("fa3",
             "--seq 1000,4096 --kv-heads 2 --head-dim 128 --dtype bf16"
             " --param rotate=hadamard,none",
             p);
        rotation_compare();
        modes_pass(p);
    }
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
