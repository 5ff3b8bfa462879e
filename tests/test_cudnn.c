/* test_cudnn.c — the `cudnn` variant on the CPU (no GPU, with or without cuDNN installed): the
 * backend enum values of variants/cudnn_api.h against cudnn_graph.h where the header exists;
 * the loader (core/cudnn_lib.h): "cuDNN not found" for a missing library or one that is not cuDNN,
 * and the version of the one installed, if any; the cuDNN error message; configure's skips and
 * reasons; the plan the CPU backend makes (the form, no library call); the GPU prepare's skip when
 * cuDNN cannot be loaded; the CPU implementation against the fp64 reference at S = 1, 127, 1000
 * with grouped-query heads and causal, and that it is the blockwise algorithm with key tiles of
 * 128; the work counts; the whole pipeline on the CPU backend. (On the GPU:
 * tests/gpu/test_cudnn.c.) */
#if defined(__has_include)
#if __has_include(<cudnn_graph.h>)
#include <cudnn_graph.h>
#define CUDNN_API_LIST_ONLY /* cudnn_api.h gives its list of values, cudnn_graph.h the enums */
#if CUDNN_VERSION >= 91300 && CUDNN_VERSION < 100000 /* a header with every name of the list */
#define COMPARE_WITH_CUDNN_GRAPH_H 1
#endif
#endif
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/reference.h"
#include "core/cudnn_lib.h"
#include "cpu_attention.h"
#include "cudnn_api.h"
#include "fixture.h"
#include "test.h"

extern const attn_variant attn_variant_cudnn;
static const attn_variant *V = &attn_variant_cudnn;

static void enums_match_header(void)
{
#ifdef COMPARE_WITH_CUDNN_GRAPH_H
#define SAME_VALUE(name, value)                                                                    \
    test_cond(#name " = " #value " (cudnn_graph.h)", (long)(name) == (value));
    CUDNN_API_ENUMS(SAME_VALUE)
#undef SAME_VALUE
#else
    printf("no cudnn_graph.h of cuDNN 9.13 or later: cudnn_api.h's values not compared\n");
#endif
}

static void loader(void)
{
    attn_cudnn_lib lib;
    test_cond("missing library: skipped, 'cuDNN not found'",
              attn_cudnn_lib_open("/nonexistent/libcudnn.so.9", &lib) == ATTN_SKIP &&
                  strncmp(attn_last_error.msg, "cuDNN not found: ", 17) == 0 &&
                  strstr(attn_last_error.msg, "/nonexistent/libcudnn.so.9"));
    test_cond("a library that is not cuDNN: skipped, naming the missing entry point",
              attn_cudnn_lib_open("libm.so.6", &lib) == ATTN_SKIP &&
                  strstr(attn_last_error.msg, "cuDNN not found: libm.so.6 has no cudnnGetVersion"));
    /* This process was started with ATTNBENCH_CUDNN pointing nowhere (main): nothing loads, the
     * provenance has no version, and the failure is kept. */
    const attn_cudnn_lib *got;
    test_cond("$ATTNBENCH_CUDNN is the library loaded",
              attn_cudnn_lib_get(&got) == ATTN_SKIP &&
                  strstr(attn_last_error.msg, "cuDNN not found"));
    test_cond("no version for the provenance, and attn_last_error left as it was",
              attn_cudnn_version_text() == NULL && strstr(attn_last_error.msg, "cuDNN not found"));
    /* The library installed here, if any (make test passes without it). */
    if (attn_cudnn_lib_open("libcudnn.so.9", &lib) != ATTN_OK) {
        printf("libcudnn.so.9 not loadable here (%s): its version not checked\n",
               attn_last_error.msg);
        return;
    }
    char text[32];
    snprintf(text, sizeof text, "%zu.%zu.%zu", lib.version / 10000, lib.version % 10000 / 100,
             lib.version % 100);
    test_cond("an installed cuDNN 9: its version as text",
              lib.version >= 90000 && lib.version < 100000 && strcmp(text, lib.version_text) == 0);
    test_cond("its status strings", strcmp(lib.status_string(0), "CUDNN_STATUS_SUCCESS") == 0);
}

/* The message of a failed cuDNN call: the status's name once cuDNN is loaded, else a generic one;
 * 4004 (device allocation failed) is out of memory. */
static int fail_cudnn(int status)
{
    CUDNN_CHECK(status);
    return ATTN_OK;
}

static void error_message(void)
{
    test_cond("CUDNN_CHECK: ATTN_ERR, API cuDNN, the code",
              fail_cudnn(3000) == ATTN_ERR && attn_last_error.api == ATTN_API_CUDNN &&
                  attn_last_error.code == 3000 &&
                  strstr(attn_last_error.msg, "status at tests/test_cudnn.c"));
    test_cond("without cuDNN loaded: a generic message",
              strstr(attn_last_error.msg, "cuDNN error (3000)"));
    test_cond("device allocation failed is out of memory",
              fail_cudnn(4004) == ATTN_ERR && attn_last_error.out_of_memory == 1);
    test_cond("another failure is not",
              fail_cudnn(2000) == ATTN_ERR && !attn_last_error.out_of_memory);
}

/* The host plan of point p with params, its description into desc; ATTN_SKIP's reason there too. */
static int host_plan(const attn_point *p, const char *params, char *desc, size_t n)
{
    attn_point q = *p;
    snprintf(q.params, sizeof q.params, "%s", params);
    attn_plan *plan;
    int rc = attn_variant_plan_host(V, &q, &(attn_host_inputs){0}, &plan);
    if (rc != ATTN_OK) {
        snprintf(desc, n, "%.200s", attn_last_error.msg);
        return rc;
    }
    V->describe(plan, desc, n);
    attn_variant_plan_free(V, plan);
    return ATTN_OK;
}

static void configure_and_plan(void)
{
    const attn_point p = {2, 8, 2, 127, 128, ATTN_BF16, 0, ""};
    char d[256];
    static const struct {
        attn_dtype t;
        int head_dim, causal;
        const char *params, *why;
    } skips[] = {
        {ATTN_FP32, 128, 0, "", "fp32 not supported"},
        {ATTN_BF16, 7, 0, "", "multiple of 8"},
        {ATTN_FP16, 264, 0, "", "at most 256"},
        {ATTN_BF16, 128, 1, "graph=unified", "no causal mask before cuDNN 9.21"},
    };
    for (size_t i = 0; i < sizeof skips / sizeof skips[0]; i++) {
        attn_point q = p;
        q.dtype = skips[i].t, q.head_dim = skips[i].head_dim, q.causal = skips[i].causal;
        char what[320];
        int rc = host_plan(&q, skips[i].params, d, sizeof d);
        snprintf(what, sizeof what, "skipped with its reason: %s", d);
        test_cond(what, rc == ATTN_SKIP && strstr(d, skips[i].why));
    }
    static const struct {
        int causal;
        const char *params, *config;
    } plans[] = {
        {0, "", "graph=unified"},
        {1, "", "graph=composite"},
        {0, "graph=composite", "graph=composite"},
        {0, "graph=unified", "graph=unified"},
    };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        attn_point q = p;
        q.causal = plans[i].causal;
        char what[320];
        int rc = host_plan(&q, plans[i].params, d, sizeof d);
        snprintf(what, sizeof what, "CPU plan, causal=%d '%s': %s", q.causal, plans[i].params, d);
        test_cond(what, rc == ATTN_OK && strcmp(d, plans[i].config) == 0);
    }
    test_cond(
        "head_dim 256 and 8 configure",
        host_plan(&(attn_point){1, 1, 1, 9, 256, ATTN_FP16, 0, ""}, "", d, sizeof d) == ATTN_OK &&
            host_plan(&(attn_point){1, 1, 1, 9, 8, ATTN_FP16, 0, ""}, "", d, sizeof d) == ATTN_OK);
}

/* The GPU backend's prepare when cuDNN cannot be loaded: skipped before any CUDA call. */
static void gpu_prepare_without_cudnn(void)
{
    attn_point p = {1, 4, 2, 64, 64, ATTN_BF16, 0, ""};
    void *config = calloc(1, V->config_size);
    char why[256];
    const char *reason = attn_variant_configure(V, &p, config, why, sizeof why);
    const attn_prepare_device dev = {{NULL, NULL, NULL, NULL}, NULL, NULL};
    const attn_prepare_args args = {&p, config, &(attn_host_inputs){0}, &dev};
    attn_plan *plan = NULL;
    int rc = reason ? ATTN_ERR : V->prepare(&args, &plan);
    test_cond("GPU prepare without cuDNN: skipped, 'cuDNN not found'",
              rc == ATTN_SKIP && plan == NULL && strstr(attn_last_error.msg, "cuDNN not found"));
    free(config);
}

static void cpu_rows_exact(void)
{
    static const struct {
        int b, h, kv, s, d;
    } shapes[] = {
        {1, 2, 1, 1, 64},
        {1, 4, 1, 127, 64},
        {1, 4, 2, 1000, 128},
        {2, 2, 2, 130, 8},
    };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int causal = 0; causal < 2; causal++)
            for (int t = 0; t < 2; t++) {
                attn_point p = {shapes[si].b, shapes[si].h,  shapes[si].kv, shapes[si].s,
                                shapes[si].d, (attn_dtype)t, causal,        ""};
                float *q = fx_inputs(p.dtype, attn_q_elems(&p), ATTN_TENSOR_Q, ATTN_INIT_OUTLIERS,
                                     p.head_dim);
                float *k = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_K, ATTN_INIT_OUTLIERS,
                                     p.head_dim);
                float *v = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_V, ATTN_INIT_OUTLIERS,
                                     p.head_dim);
                attn_host_inputs in = {q, k, v};
                attn_row *rows;
                size_t n = attn_sample_rows(&p, 1e12, &rows), m = n * p.head_dim;
                float *out = malloc(m * sizeof *out), *blk = malloc(m * sizeof *blk);
                double *ref = malloc(m * sizeof *ref);
                attn_plan *plan;
                int rc = attn_variant_plan_host(V, &p, &in, &plan);
                if (rc == ATTN_OK) {
                    rc = V->cpu_rows(plan, &in, rows, n, out);
                    attn_variant_plan_free(V, plan);
                }
                attn_cpu_blockwise_rows(&p, &in, rows, n, 128, blk);
                int same = rc == ATTN_OK && memcmp(out, blk, m * sizeof *out) == 0;
                for (size_t i = 0; i < m; i++) out[i] = attn_round(p.dtype, out[i]);
                attn_reference_rows(&p, &in, rows, n, ref);
                attn_check_result r;
                attn_check(out, ref, n, p.head_dim, attn_tolerance(p.dtype), &r);
                char what[200], shape[120];
                snprintf(what, sizeof what, "cudnn CPU %s: blockwise (key tile 128), rel L2 %.2e",
                         attn_point_format(&p, shape, sizeof shape), r.rel_l2);
                test_cond(what, same && attn_check_passed(&r));
                free(q), free(k), free(v), free(rows), free(out), free(blk), free(ref);
            }
}

static void work_counts(void)
{
    static const struct {
        int causal;
        double pairs;
    } cases[] = {{0, 1000.0 * 1000}, {1, 1000.0 * 1001 / 2}};
    for (int i = 0; i < 2; i++) {
        attn_point p = {2, 8, 2, 1000, 128, ATTN_BF16, cases[i].causal, ""};
        attn_plan *plan;
        attn_work w = {0};
        int rc = attn_variant_plan_host(V, &p, &(attn_host_inputs){0}, &plan);
        if (rc == ATTN_OK) {
            V->work(plan, &w);
            attn_variant_plan_free(V, plan);
        }
        const double bytes = 2.0 * (2.0 * attn_q_elems(&p) + 2.0 * attn_kv_elems(&p));
        char what[120];
        snprintf(what, sizeof what,
                 "work, causal=%d: attended pairs × 4·D, Q K V O once, launches -1",
                 cases[i].causal);
        test_cond(what, rc == ATTN_OK && w.flops == 4.0 * 2 * 8 * cases[i].pairs * 128 &&
                            w.bytes == bytes && w.launches == -1);
    }
}

/* The whole pipeline on the CPU backend: ok where it runs, skipped with the reason elsewhere, the
 * plan's form stored as the point's config. */
static void cpu_backend_run(void)
{
    char db[512];
    fx_path(db, sizeof db, "cudnn.db");
    int rc = fx_sh("'%s' run --backend cpu --db %s --variants cudnn --seq 1,127 --heads 4"
                   " --kv-heads 1,4 --head-dim 64 --dtype bf16,fp32 --causal 0,1 --max-time 0.01"
                   " --min-samples 2 --quiet",
                   fx_bin, db);
    test_cond("CPU-backend run exits 0", rc == 0);
    test_cond("every bf16 point ok",
              fx_query_int(
                  db, "SELECT count(*) FROM points WHERE dtype = 'bf16' AND status = 'ok'") == 8);
    test_cond("fp32 skipped with the reason",
              fx_query_int(db,
                           "SELECT count(*) FROM points WHERE dtype = 'fp32' AND status = 'skipped'"
                           " AND reason LIKE 'fp32 not supported%'") == 8);
    test_cond("the form stored: unified without, composite with the causal mask",
              fx_query_int(
                  db, "SELECT count(*) FROM points WHERE status = 'ok' AND config ="
                      " CASE causal WHEN 0 THEN 'graph=unified' ELSE 'graph=composite' END") == 8);
    rc = fx_sh("'%s' run --backend cpu --db %s --variants cudnn --seq 33 --heads 2 --head-dim 64"
               " --causal 1 --param cudnn.graph=unified,composite --max-time 0.01 --min-samples 2"
               " --quiet",
               fx_bin, db);
    test_cond("graph=unified with causal: skipped, graph=composite runs",
              rc == 0 && fx_query_int(db, "SELECT count(*) FROM points WHERE seq = 33 AND ("
                                          "(params = 'graph=unified' AND status = 'skipped') OR"
                                          " (params = 'graph=composite' AND status = 'ok'))") == 2);
}

int main(int argc, char **argv)
{
    (void)argc;
    setenv("ATTNBENCH_CUDNN", "/nonexistent/libcudnn.so.9", 1); /* before anything loads it */
    if (fx_init(argv[0]) != 0) return 1;
    enums_match_header();
    loader();
    error_message();
    configure_and_plan();
    gpu_prepare_without_cudnn();
    cpu_rows_exact();
    work_counts();
    cpu_backend_run();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
