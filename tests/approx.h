/* approx.h — helpers for the tests of the approximate variants (lowrank, nystrom). CPU tests
 * (tests/test_lowrank.c, test_nystrom.c): a point, seeded host inputs (as the harness makes them),
 * a variant's configure reason, its cpu_rows and work through a host plan (attn_variant_plan_host:
 * the CPU backend's configure and prepare), and the relative L2 of cpu_rows against a test's own
 * fp64 implementation. GPU tests (tests/gpu/test_lowrank.c, test_nystrom.c): the points of a run's
 * database that satisfy a condition, and whether the device is sm_90. */
#ifndef ATTN_TEST_APPROX_H
#define ATTN_TEST_APPROX_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "fixture.h"
#include "test.h"
#include "variant.h"

static inline attn_point approx_point(int b, int h, int kv, int s, int d, attn_dtype t,
                                      const char *params)
{
    attn_point p = {b, h, kv, s, d, t, 0, ""};
    snprintf(p.params, sizeof p.params, "%s", params);
    return p;
}

/* Seeded Q, K, V of p (seed 42, as the harness makes them) widened to float; approx_free frees. */
static inline attn_host_inputs approx_inputs(const attn_point *p, attn_init init)
{
    const attn_host_inputs in = {
        fx_inputs_at(p->dtype, attn_q_elems(p), ATTN_TENSOR_Q, init, p->head_dim, p->seq),
        fx_inputs_at(p->dtype, attn_kv_elems(p), ATTN_TENSOR_K, init, p->head_dim, p->seq),
        fx_inputs_at(p->dtype, attn_kv_elems(p), ATTN_TENSOR_V, init, p->head_dim, p->seq)};
    return in;
}

static inline void approx_free(attn_host_inputs in)
{
    free((void *)in.q), free((void *)in.k), free((void *)in.v);
}

/* Why v's configure refuses p (a parameter that does not parse included), or NULL. */
static inline const char *approx_why(const attn_variant *v, const attn_point *p)
{
    static max_align_t config[256];
    static char why[1024];
    if (v->config_size > sizeof config) return "test: config larger than approx_why's buffer";
    return attn_variant_configure(v, p, config, why, sizeof why);
}

/* One configure case at B = 1, H = 2, H_kv = 1, S = 100: want is a substring of the reason the
 * point is refused with, or NULL when it is supported. */
typedef struct approx_config_case {
    attn_dtype t;
    int d, causal;
    const char *params, *want;
} approx_config_case;

/* Checks each case against v's configure step. */
static inline void approx_configure_cases(const attn_variant *v, const approx_config_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        attn_point p = approx_point(1, 2, 1, 100, c[i].d, c[i].t, c[i].params);
        p.causal = c[i].causal;
        const char *why = approx_why(v, &p);
        char what[512];
        snprintf(what, sizeof what, "configure(%s d=%d causal=%d %s) -> %s (got %s)",
                 attn_dtype_name(c[i].t), c[i].d, c[i].causal, c[i].params,
                 c[i].want ? c[i].want : "supported", why ? why : "supported");
        test_cond(what, c[i].want ? why && strstr(why, c[i].want) : why == NULL);
    }
}

/* Why the CPU backend skips p (configure or prepare), or NULL when it makes a plan. */
static inline const char *approx_skip(const attn_variant *v, const attn_point *p)
{
    static char why[sizeof attn_last_error.msg];
    attn_plan *plan;
    if (attn_variant_plan_host(v, p, NULL, &plan) == ATTN_OK) {
        attn_variant_plan_free(v, plan);
        return NULL;
    }
    memcpy(why, attn_last_error.msg, sizeof why);
    return why;
}

/* v's cpu_rows at p through a host plan: ATTN_OK, or the plan's or cpu_rows' failure. */
static inline int approx_rows(const attn_variant *v, const attn_point *p,
                              const attn_host_inputs *in, const attn_row *rows, size_t n,
                              float *out)
{
    attn_plan *plan;
    int rc = attn_variant_plan_host(v, p, in, &plan);
    if (rc != ATTN_OK) return rc;
    rc = v->cpu_rows(plan, in, rows, n, out);
    attn_variant_plan_free(v, plan);
    return rc;
}

/* v's work at p from a host plan (flops -1 when there is none). The low-rank variants' prepare
 * reads no input, so none are made (the benchmark shapes would take seconds to fill). */
static inline attn_work approx_work(const attn_variant *v, const attn_point *p)
{
    attn_work w = {-1, -1, -1};
    attn_plan *plan;
    if (attn_variant_plan_host(v, p, NULL, &plan) != ATTN_OK) return w;
    v->work(plan, &w);
    attn_variant_plan_free(v, plan);
    return w;
}

/* v's workspace bytes at p (0 when configure refuses it). */
static inline size_t approx_workspace(const attn_variant *v, const attn_point *p)
{
    static max_align_t config[256];
    char why[512];
    if (attn_variant_configure(v, p, config, why, sizeof why)) return 0;
    return v->workspace_bytes(p, config);
}

/* Bound on rel L2 against fp64 per dtype: the 1e-2 for bf16; fp16 has 8x finer rounding;
 * fp32 only sums in another order. */
static inline double approx_bound(attn_dtype t)
{
    return t == ATTN_BF16 ? 1e-2 : t == ATTN_FP16 ? 2e-3 : 1e-5;
}

/* What a test's fp64 implementation needs beyond the inputs: Linformer's projections E, F and k;
 * or Nyström's m (in k). */
typedef struct approx_ref_args {
    const float *E, *F;
    int k;
} approx_ref_args;
typedef void (*approx_ref_fn)(const attn_point *p, const attn_host_inputs *in,
                              const approx_ref_args *a, const attn_row *rows, size_t n,
                              double *out);

/* Relative L2 of v's cpu_rows (rounded to the dtype, as the harness does) on seeded inputs against
 * an fp64 implementation `ref`; -1 when cpu_rows fails. Also the check result against the same
 * target (so that the elementwise bound is exercised too). */
static inline double approx_against(const attn_variant *v, const attn_point *p,
                                    approx_ref_fn ref, const approx_ref_args *a, attn_init init,
                                    attn_check_result *cr)
{
    attn_host_inputs in = approx_inputs(p, init);
    attn_row *rows;
    size_t n = attn_sample_rows(p, 1e12, &rows), m = n * p->head_dim;
    float *out = malloc(m * sizeof *out);
    double *ref_out = malloc(m * sizeof *ref_out);
    double rel = -1;
    if (approx_rows(v, p, &in, rows, n, out) == ATTN_OK) {
        for (size_t i = 0; i < m; i++) out[i] = attn_round(p->dtype, out[i]);
        ref(p, &in, a, rows, n, ref_out);
        attn_check(out, ref_out, n, p->head_dim, attn_tolerance(p->dtype), cr);
        rel = cr->rel_l2;
    }
    approx_free(in), free(rows), free(out), free(ref_out);
    return rel;
}

/* cpu_rows of all n rows into all, and of three of them (rows 5, n/2, n-1: other slices) into
 * some[3·D]: 1 when those three equal their rows in all, bit for bit. */
static inline int approx_subset_matches(const attn_variant *v, const attn_point *p,
                                        const attn_host_inputs *in, const attn_row *rows,
                                        size_t n, float *all, float *some)
{
    const int D = p->head_dim;
    const attn_row pick[3] = {rows[5], rows[n / 2], rows[n - 1]};
    const size_t at[3] = {5, n / 2, n - 1};
    int ok = approx_rows(v, p, in, rows, n, all) == 0 && approx_rows(v, p, in, pick, 3, some) == 0;
    for (int i = 0; i < 3 && ok; i++)
        ok = memcmp(all + at[i] * D, some + i * D, D * sizeof *all) == 0;
    return ok;
}

/* 1 when v's parameter table declares `key`. */
static inline int approx_declares(const attn_variant *v, const char *key)
{
    return attn_param_index(v, key) >= 0;
}

/* The number of points in the database at db that satisfy the SQL condition `where`. */
static inline long long approx_points_where(const char *db, const char *where)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM points WHERE %s", where);
    return fx_query_int(db, sql);
}

/* 1 when the current device is sm_90 (where the wgmma attention path runs). */
static inline int approx_device_is_sm90(void)
{
    int dev, major = 0, minor = 0;
    return cudaGetDevice(&dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
           major == 9 && minor == 0;
}

#endif
