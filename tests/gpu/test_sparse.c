/* test_sparse.c (GPU) — the `sparse` variant on the device (make test-gpu; needs a GPU): the
 * selection kernels' plans (CSR and order) equal to the CPU twin's (attn_sparse_select_host) tile
 * for tile, on the same seeded inputs, at S = 1, 127, 1000 (and rows of 256, 313 and 2048 tiles),
 * H_kv < H, causal and not, D 64 and 128, fp16 and bf16, window/bigbird/topk/mass at several
 * densities and taus, tile 64 and 128, normal and structured inputs, each launched twice (the same
 * plan again); then the real pipeline: the GPU output against its own plan (the selection made on
 * the device, copied back, and cpu_rows over its kept tiles) at S = 1, 127, 1000, H_kv < H, causal
 * and not, D 64 and 128, fp16 and bf16, every method, tile 64 and 128, both paths (wgmma where the
 * device is sm_90, else skipped with the reason), vprune at every kept width (DV 32, 64, 128); then
 * compute-sanitizer memcheck and racecheck over small shapes of the mma path and the selection
 * kernels; the structured inputs equal on host and device.
 *   --bench-select [S,...]  time the selection kernels alone (default S = 8192,32768; bf16 B=2
 *                           H=16 D=128 tile 128; topk 0.1/0.5, mass tau 0.5/0.9, window 0.1,
 *                           causal topk 0.1): CUDA events, L2 flushed before each of 15
 *                           launches, median and minimum, one line per case. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approx.h"
#include "core/error.h"
#include "gpu_test.h"
#include "inputs.h"
#include "sparse.h"
#include "sparse_select.h"
#include "test.h"
#include "timer.h"

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

/* ---- the device selection against the CPU twin, tile for tile ---- */

typedef struct sel_case {
    attn_dtype dt;
    int B, H, Hkv, S, D, tile, causal, method;
    double density;
    float tau;
    attn_init init;
} sel_case;

/* One selection's device buffers (inputs seeded as the harness seeds them: 42). */
typedef struct sel_dev {
    void *q, *k, *scratch;
    int *row_ptr, *col_idx, *order;
    int n_tiles, rows;
} sel_dev;

static void sel_free(sel_dev *d)
{
    cudaFree(d->q), cudaFree(d->k), cudaFree(d->scratch);
    cudaFree(d->row_ptr), cudaFree(d->col_idx), cudaFree(d->order);
}

static int sel_alloc(sel_dev *d, const sel_case *c)
{
    const size_t nq = (size_t)c->B * c->H * c->S * c->D, nk = (size_t)c->B * c->Hkv * c->S * c->D;
    const size_t e = attn_dtype_size(c->dt);
    memset(d, 0, sizeof *d);
    d->n_tiles = (c->S + c->tile - 1) / c->tile;
    d->rows = c->B * c->H * d->n_tiles;
    const size_t rows = (size_t)d->rows;
    return cudaMalloc(&d->q, nq * e) == cudaSuccess && cudaMalloc(&d->k, nk * e) == cudaSuccess &&
                   cudaMalloc(&d->scratch, attn_sparse_select_scratch(c->B, c->H, c->Hkv, c->S,
                                                                      c->D, c->tile)) ==
                       cudaSuccess &&
                   cudaMalloc((void **)&d->row_ptr, (rows + 1) * sizeof(int)) == cudaSuccess &&
                   cudaMalloc((void **)&d->col_idx, rows * d->n_tiles * sizeof(int)) ==
                       cudaSuccess &&
                   cudaMalloc((void **)&d->order, rows * sizeof(int)) == cudaSuccess &&
                   attn_fill_device(d->q, c->dt, nq, 42, ATTN_TENSOR_Q, c->init, c->D, c->S, 0) ==
                       ATTN_OK &&
                   attn_fill_device(d->k, c->dt, nk, 42, ATTN_TENSOR_K, c->init, c->D, c->S, 0) ==
                       ATTN_OK
               ? 0
               : -1;
}

static int sel_launch(const sel_case *c, const sel_dev *d)
{
    const attn_sparse_args g = {.dtype = (int)c->dt,
                                .B = c->B,
                                .H = c->H,
                                .Hkv = c->Hkv,
                                .S = c->S,
                                .D = c->D,
                                .DV = c->D,
                                .causal = c->causal,
                                .q = d->q,
                                .k = d->k,
                                .tile = c->tile,
                                .n_tiles = d->n_tiles};
    const attn_sparse_select_args a = {.geom = &g,
                                       .method = c->method,
                                       .density = c->density,
                                       .tau = c->tau,
                                       .seed = 1,
                                       .scratch = d->scratch,
                                       .row_ptr = d->row_ptr,
                                       .col_idx = d->col_idx,
                                       .order = d->order};
    return attn_sparse_select_launch(&a);
}

/* The device's CSR and order (launched twice: the second must equal the first) against
 * attn_sparse_select_host's on the same inputs; the first differing row into *bad_row. */
static int sel_compare(const sel_case *c, int *bad_row)
{
    sel_dev d;
    const attn_point p = {c->B, c->H, c->Hkv, c->S, c->D, c->dt, c->causal, ""};
    const attn_sparse_rule rule = {c->method, c->density, c->tau, 1, c->tile};
    const attn_host_inputs in = {
        fx_inputs_at(c->dt, attn_q_elems(&p), ATTN_TENSOR_Q, c->init, c->D, c->S),
        fx_inputs_at(c->dt, attn_kv_elems(&p), ATTN_TENSOR_K, c->init, c->D, c->S), NULL};
    int ok = sel_alloc(&d, c) == 0;
    const size_t rows = (size_t)d.rows, cap = rows * d.n_tiles;
    int *h[3], *g[2][3];
    h[0] = malloc((rows + 1) * sizeof(int)), h[1] = malloc(cap * sizeof(int));
    h[2] = malloc(rows * sizeof(int));
    for (int i = 0; i < 2; i++) {
        g[i][0] = calloc(rows + 1, sizeof(int)), g[i][1] = calloc(cap, sizeof(int));
        g[i][2] = calloc(rows, sizeof(int));
    }
    ok = ok && attn_sparse_select_host(&p, &rule, &in, h[0], h[1], h[2]) == ATTN_OK;
    for (int i = 0; ok && i < 2; i++)
        ok =
            sel_launch(c, &d) == ATTN_OK &&
            cudaMemcpy(g[i][0], d.row_ptr, (rows + 1) * sizeof(int), cudaMemcpyDeviceToHost) ==
                cudaSuccess &&
            g[i][0][rows] >= 0 && (size_t)g[i][0][rows] <= cap &&
            cudaMemcpy(g[i][1], d.col_idx, (size_t)g[i][0][rows] * sizeof(int),
                       cudaMemcpyDeviceToHost) == cudaSuccess &&
            cudaMemcpy(g[i][2], d.order, rows * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess;
    *bad_row = -1;
    for (size_t r = 0; ok && r < rows && *bad_row < 0; r++) {
        const int n = h[0][r + 1] - h[0][r];
        int same = g[0][0][r + 1] - g[0][0][r] == n && g[0][2][r] == h[2][r] &&
                   memcmp(g[0][1] + g[0][0][r], h[1] + h[0][r], (size_t)n * sizeof(int)) == 0;
        if (!same) *bad_row = (int)r;
    }
    ok = ok && *bad_row < 0 && g[0][0][rows] == h[0][rows];
    for (int j = 0; ok && j < 3; j++) {
        const size_t n = j == 0 ? rows + 1 : j == 1 ? (size_t)g[0][0][rows] : rows;
        ok = memcmp(g[0][j], g[1][j], n * sizeof(int)) == 0;
    }
    for (int j = 0; j < 3; j++) free(h[j]), free(g[0][j]), free(g[1][j]);
    free((void *)in.q), free((void *)in.k);
    sel_free(&d);
    return ok ? 0 : -1;
}

static void sel_case_run(const sel_case *c)
{
    static const char *const names[] = {"window", "bigbird", "topk", "mass"};
    char what[512];
    int bad_row;
    const int rc = sel_compare(c, &bad_row);
    snprintf(what, sizeof what,
             "selection %s density=%g tau=%g %s B=%d H=%d/%d S=%d D=%d tile=%d causal=%d %s: device"
             " plan = CPU plan, twice (first bad row %d%s%.200s)",
             names[c->method], c->density, c->tau, attn_dtype_name(c->dt), c->B, c->H, c->Hkv, c->S,
             c->D, c->tile, c->causal, attn_init_name(c->init), bad_row, rc ? ": " : "",
             rc ? attn_last_error.msg : "");
    test_cond(what, rc == 0);
}

/* Odd sizes (one tile, a partial last tile, 1000), GQA, causal, both tiles, every method with
 * several densities and taus, normal and structured inputs (up to 16 tiles: the select kernel's
 * rank sums); then rows of 256 tiles (its bitwise search, and causal rows of 1 to 256 visible
 * tiles: both; one full key-tile block of the scoring, every warp of a select block selecting), of
 * 313 (a partial second key-tile block, 13 warps taking a block's 16 rows) and of 2048 (the most:
 * 8 key-tile blocks, 2 warps taking 8 rows each). */
static void selection(void)
{
    static const int seqs[] = {1, 127, 1000};
    static const struct {
        int method;
        double density;
        float tau;
    } m[] = {{ATTN_SPARSE_WINDOW, 0.3, 0.9}, {ATTN_SPARSE_BIGBIRD, 0.3, 0.9},
             {ATTN_SPARSE_TOPK, 0.1, 0.9},   {ATTN_SPARSE_TOPK, 0.5, 0.9},
             {ATTN_SPARSE_MASS, 0.5, 0.5},   {ATTN_SPARSE_MASS, 0.5, 0.95}};
    for (int s = 0; s < 3; s++)
        for (int causal = 0; causal < 2; causal++)
            for (int tile = 64; tile <= 128; tile *= 2)
                for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
                    const sel_case a = {ATTN_BF16,   2,
                                        4,           2,
                                        seqs[s],     64,
                                        tile,        causal,
                                        m[i].method, m[i].density,
                                        m[i].tau,    ATTN_INIT_NORMAL};
                    const sel_case b = {ATTN_FP16,   1,
                                        4,           1,
                                        seqs[s],     128,
                                        tile,        causal,
                                        m[i].method, m[i].density,
                                        m[i].tau,    ATTN_INIT_STRUCTURED};
                    sel_case_run(&a);
                    sel_case_run(&b);
                }
    const sel_case big[] = {
        {ATTN_BF16, 1, 2, 1, 32768, 128, 128, 0, ATTN_SPARSE_TOPK, 0.1, 0.9, ATTN_INIT_STRUCTURED},
        {ATTN_BF16, 1, 2, 1, 32768, 128, 128, 1, ATTN_SPARSE_MASS, 0.5, 0.9, ATTN_INIT_STRUCTURED},
        {ATTN_BF16, 1, 2, 2, 32768, 128, 128, 0, ATTN_SPARSE_MASS, 0.5, 0.5, ATTN_INIT_NORMAL},
        {ATTN_BF16, 1, 2, 1, 40000, 128, 128, 0, ATTN_SPARSE_TOPK, 0.5, 0.9, ATTN_INIT_STRUCTURED},
        {ATTN_FP16, 1, 2, 2, 40000, 128, 128, 1, ATTN_SPARSE_MASS, 0.5, 0.9, ATTN_INIT_NORMAL},
        {ATTN_BF16, 1, 2, 1, 40000, 128, 128, 1, ATTN_SPARSE_BIGBIRD, 0.3, 0.9, ATTN_INIT_NORMAL},
        {ATTN_BF16, 1, 1, 1, 131072, 64, 64, 0, ATTN_SPARSE_TOPK, 0.1, 0.9, ATTN_INIT_NORMAL},
        {ATTN_FP16, 1, 1, 1, 131072, 64, 64, 1, ATTN_SPARSE_MASS, 0.5, 0.9, ATTN_INIT_STRUCTURED},
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) sel_case_run(&big[i]);
}

/* ---- --bench-select: the selection alone ---- */

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Every selection kernel of one case (pooling to finish), L2 flushed before each launch: median and
 * minimum of `runs` launches after a warm-up, in microseconds; achieved density. */
static int bench_case(const sel_case *c, const sel_dev *d, void *flush, size_t flush_bytes,
                      cudaEvent_t *ev, float *med_us, float *min_us, double *achieved)
{
    enum { RUNS = 15 };
    float t[RUNS];
    if (sel_launch(c, d) != ATTN_OK) return -1;
    for (int r = 0; r < RUNS; r++) {
        if (attn_l2_flush(flush, flush_bytes, 0) != ATTN_OK) return -1;
        cudaEventRecord(ev[0], 0);
        const int rc = sel_launch(c, d);
        cudaEventRecord(ev[1], 0);
        if (rc != ATTN_OK || cudaEventSynchronize(ev[1]) != cudaSuccess) return -1;
        cudaEventElapsedTime(&t[r], ev[0], ev[1]);
        t[r] *= 1000.f;
    }
    qsort(t, RUNS, sizeof *t, cmp_float);
    *med_us = t[RUNS / 2], *min_us = t[0];
    int kept = 0;
    if (cudaMemcpy(&kept, d->row_ptr + d->rows, sizeof kept, cudaMemcpyDeviceToHost) != cudaSuccess)
        return -1;
    double visible = 0;
    for (int qt = 0; qt < d->n_tiles; qt++)
        visible += attn_sparse_visible(qt, d->n_tiles, c->causal);
    *achieved = kept / (visible * c->B * c->H);
    return 0;
}

/* bf16 B=2 H=16 D=128 tile 128 at each S of the comma list: topk at 0.1 and 0.5, mass at tau 0.5
 * and 0.9 (mass takes no density), window at 0.1; non-causal, and topk 0.1 causal. One line each. */
static int bench_select(const char *list)
{
    static const struct {
        int method, causal;
        double density;
        float tau;
        const char *name;
    } m[] = {{ATTN_SPARSE_TOPK, 0, 0.1, 0.9f, "topk density=0.1"},
             {ATTN_SPARSE_TOPK, 0, 0.5, 0.9f, "topk density=0.5"},
             {ATTN_SPARSE_MASS, 0, 0.5, 0.5f, "mass tau=0.5"},
             {ATTN_SPARSE_MASS, 0, 0.5, 0.9f, "mass tau=0.9"},
             {ATTN_SPARSE_WINDOW, 0, 0.1, 0.9f, "window density=0.1"},
             {ATTN_SPARSE_TOPK, 1, 0.1, 0.9f, "topk density=0.1 causal"}};
    const size_t flush_bytes = 256u << 20;
    void *flush = NULL;
    cudaEvent_t ev[2];
    if (cudaEventCreate(&ev[0]) != cudaSuccess || cudaEventCreate(&ev[1]) != cudaSuccess ||
        cudaMalloc(&flush, flush_bytes) != cudaSuccess)
        return 1;
    printf("selection alone (pool, score+select, finish), bf16 B=2 H=16 D=128 tile 128,"
           " CUDA events, L2 flushed, 15 launches\n%6s  %-24s %8s %10s %10s %12s\n",
           "S", "method", "achieved", "median_us", "min_us", "Q+K GB/s");
    int rc = 0;
    for (const char *s = list; rc == 0 && *s; s += strcspn(s, ","), s += *s == ',') {
        const int S = atoi(s);
        for (size_t i = 0; rc == 0 && i < sizeof m / sizeof *m; i++) {
            const sel_case c = {
                ATTN_BF16, 2,           16,          16,           S,        128,
                128,       m[i].causal, m[i].method, m[i].density, m[i].tau, ATTN_INIT_NORMAL};
            sel_dev d;
            float med, mn;
            double ach;
            rc = sel_alloc(&d, &c) || bench_case(&c, &d, flush, flush_bytes, ev, &med, &mn, &ach);
            const double qk = 2.0 * c.B * c.H * (double)S * c.D * 2;
            const int pooled = c.method == ATTN_SPARSE_TOPK || c.method == ATTN_SPARSE_MASS;
            if (rc == 0 && pooled)
                printf("%6d  %-24s %8.4f %10.1f %10.1f %12.0f\n", S, m[i].name, ach, med, mn,
                       qk / (med * 1e3));
            else if (rc == 0)
                printf("%6d  %-24s %8.4f %10.1f %10.1f %12s\n", S, m[i].name, ach, med, mn, "-");
            else
                printf("S=%d %s failed: %s\n", S, m[i].name, attn_last_error.msg);
            sel_free(&d);
        }
    }
    cudaFree(flush);
    cudaEventDestroy(ev[0]), cudaEventDestroy(ev[1]);
    return rc ? 1 : 0;
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
    if (argc > 1 && strcmp(argv[1], "--bench-select") == 0) {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) return printf("no GPU\n"), 1;
        return bench_select(argc > 2 ? argv[2] : "8192,32768");
    }
    if (gpu_test_init(argv[0])) return 1;
    selection();
    structured_inputs();
    against_plan();
    sanitizer("memcheck");
    sanitizer("racecheck");
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
