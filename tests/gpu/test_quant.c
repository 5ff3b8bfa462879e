/* test_quant.c (GPU) — the `quant` variant through the real pipeline (make test-gpu; needs a GPU):
 * the GPU output (quantization stage + attention kernel) against its CPU implementation (the same
 * quantization, bit for bit, and the kernels' rounding points) at S = 1, 127, 1000, 4096, D = 64
 * and 128, fp16 and bf16, causal and not, H_kv < H, on the mma path and (on sm_90) the wgmma
 * path; outlier and FA3-outlier inputs at S = 1000, 4096 (fa3: rotate=hadamard and none, the
 * rotation failing fewer bounds); each ablation mode at S = 1000. A point may fail only an
 * accuracy bound against exact attention (the quantization's own error, reported), never the
 * tolerance against its CPU implementation. The stage's kernels are separate records. First, the
 * stage's quantized copies against the CPU implementation's byte for byte (fa3 inputs, D = 64 and
 * 128, rotate=hadamard and none).
 *   --small  a few small shapes only (for compute-sanitizer --target-processes all)
 *   --bench  quant vs fused, both path=mma, bf16 B=2 H=16 S=8192 D=128: summary and stages */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approx.h"
#include "gpu_test.h"
#include "quant.h"
#include "quant_cpu.h"
#include "test.h"

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

/* The stage's quantized copies (q8, k8, their scales, k_mean, v_scale, Vᵀ's codes) against the
 * CPU implementation's, byte for byte, on fa3 inputs, rotate=hadamard and none: the property the
 * check of every point rests on (quant.h: the same roundings, the same butterfly order). */
static void stage_bits(int D, int rotate)
{
    attn_point p = approx_point(1, 4, 2, 1000, D, ATTN_BF16, "");
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
    attn_quant_args a = {.dtype = p.dtype,
                         .B = p.batch,
                         .H = p.heads,
                         .Hkv = p.kv_heads,
                         .S = p.seq,
                         .D = D,
                         .qk_int8 = 1,
                         .pv_fp8 = 1,
                         .smooth = 1,
                         .accum_two_level = 1,
                         .rotate = rotate};
    a.q = device_input(&p, nq, ATTN_TENSOR_Q, init);
    a.k = device_input(&p, nkv, ATTN_TENSOR_K, init);
    a.v = device_input(&p, nkv, ATTN_TENSOR_V, init);
    void *ws = NULL;
    const size_t ws_bytes = attn_quant_workspace_bytes(p.batch, p.heads, p.kv_heads, p.seq, D);
    int ok = quant_host_quantize(&p, &c, &in, &ht) == ATTN_OK && a.q && a.k && a.v &&
             cudaMalloc(&ws, ws_bytes) == cudaSuccess;
    long long bad = -1;
    if (ok) {
        attn_quant_tensors_layout(ws, p.batch, p.heads, p.kv_heads, p.seq, D, &a.t);
        ok = attn_quant_stage_launch(&a) == ATTN_OK && cudaDeviceSynchronize() == cudaSuccess;
    }
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
        bad = 0;
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
            bad = parts[i] < 0 || bad < 0 ? -1 : bad + parts[i];
        free(v8t);
    }
    char what[200];
    snprintf(what, sizeof what,
             "quant stage = CPU implementation byte for byte: fa3 bf16 S=1000 D=%d rotate=%s "
             "(%lld bytes differ)",
             D, rotate ? "hadamard" : "none", bad);
    test_cond(what, ok && bad == 0);
    quant_host_free(&ht), approx_free(in);
    cudaFree(ws), cudaFree((void *)a.q), cudaFree((void *)a.k), cudaFree((void *)a.v);
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
        for (int d = 64; d <= 128; d += 64)
            for (int rotate = 0; rotate < 2; rotate++) stage_bits(d, rotate);
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
