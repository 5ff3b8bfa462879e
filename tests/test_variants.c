/* test_variants.c — every exact variant's CPU implementation, of the plan the CPU backend makes
 * (attn_variant_plan_host), against the fp64 reference: odd sizes, causal, grouped-query heads,
 * every dtype. (The GPU implementations are tested against the same reference in tests/gpu/.)
 * Then what the CPU twin reads from the plan: fused's key tile follows its plan's path and tile,
 * never the current device; its configure refuses the tiles a path cannot run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/reference.h"
#include "fixture.h"
#include "test.h"
#include "variant.h"

/* fused at one point with params: the plan's description and cpu_rows' output of every row. */
static int fused_plan(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                      size_t n, char *desc, size_t dn, float *out)
{
    const attn_variant *v = attn_variant_find("fused");
    attn_plan *plan;
    int rc = attn_variant_plan_host(v, p, in, &plan);
    if (rc != ATTN_OK) {
        snprintf(desc, dn, "%.120s", attn_last_error.msg);
        return rc;
    }
    v->describe(plan, desc, dn);
    rc = v->cpu_rows(plan, in, rows, n, out);
    attn_variant_plan_free(v, plan);
    return rc;
}

static void fused_plan_visible(void)
{
    attn_point p = {1, 2, 1, 300, 64, ATTN_BF16, 0, ""};
    float *q = fx_inputs(p.dtype, attn_q_elems(&p), ATTN_TENSOR_Q, ATTN_INIT_OUTLIERS, p.head_dim);
    float *k = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_K, ATTN_INIT_OUTLIERS, p.head_dim);
    float *vv = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_V, ATTN_INIT_OUTLIERS, p.head_dim);
    attn_host_inputs in = {q, k, vv};
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows), m = n * p.head_dim;
    float *a = malloc(m * sizeof *a), *b = malloc(m * sizeof *b);
    char da[128], db[128];
    int ra = fused_plan(&p, &in, rows, n, da, sizeof da, a);
    snprintf(p.params, sizeof p.params, "path=mma,tile=64x64");
    int rb = fused_plan(&p, &in, rows, n, db, sizeof db, b);
    test_cond("fused on the CPU backend: wgmma by default, key tile 128",
              ra == ATTN_OK && strstr(da, "path=wgmma") && strstr(da, "x128 "));
    test_cond("fused path=mma,tile=64x64: the plan says so", rb == ATTN_OK && strstr(db, "path=mma tile=64x64"));
    test_cond("the CPU twin walks the plan's key tiles (outputs differ)", memcmp(a, b, m * sizeof *a) != 0);
    static const struct { const char *params; int head_dim; const char *why; } refused[] = {
        {"path=wgmma,tile=64x64", 64, "wgmma tile"},
        {"tile=192x128", 128, "wgmma tile"},
        {"path=mma,tile=192x128", 64, "mma tile"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        p.head_dim = refused[i].head_dim;
        snprintf(p.params, sizeof p.params, "%s", refused[i].params);
        int rc = fused_plan(&p, &in, rows, 1, da, sizeof da, a);
        char what[160];
        snprintf(what, sizeof what, "fused %s at D=%d skipped: %s", refused[i].params, p.head_dim, da);
        test_cond(what, rc == ATTN_SKIP && strstr(da, refused[i].why));
    }
    free(q), free(k), free(vv), free(rows), free(a), free(b);
}

int main(void)
{
    fused_plan_visible();
    static const struct { int b, h, kv, s, d; } shapes[] = {
        {1, 1, 1, 1, 64}, {1, 2, 1, 127, 64}, {2, 4, 2, 33, 128}, {1, 4, 1, 1000, 64}, {1, 2, 2, 5, 7},
    };
    for (const attn_variant *const *vp = attn_variants; *vp; vp++) {
        const attn_variant *v = *vp;
        if (!v->exact) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int t = 0; t < 3; t++)
                for (int causal = 0; causal < 2; causal++)
                    for (int init = 0; init < 2; init++) {
                        attn_point p = {shapes[si].b, shapes[si].h, shapes[si].kv, shapes[si].s,
                                        shapes[si].d, (attn_dtype)t, causal, ""};
                        float *q = fx_inputs(p.dtype, attn_q_elems(&p), ATTN_TENSOR_Q, init, p.head_dim);
                        float *k = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_K, init, p.head_dim);
                        float *vv = fx_inputs(p.dtype, attn_kv_elems(&p), ATTN_TENSOR_V, init, p.head_dim);
                        attn_host_inputs in = {q, k, vv};
                        attn_plan *plan;
                        if (attn_variant_plan_host(v, &p, &in, &plan) == ATTN_SKIP) {
                            free(q), free(k), free(vv);
                            continue;
                        }
                        attn_row *rows;
                        size_t n = attn_sample_rows(&p, 1e12, &rows), m = n * p.head_dim;
                        float *out = malloc(m * sizeof *out);
                        double *ref = malloc(m * sizeof *ref);
                        int rc = v->cpu_rows(plan, &in, rows, n, out);
                        attn_variant_plan_free(v, plan);
                        for (size_t i = 0; i < m; i++) out[i] = attn_round(p.dtype, out[i]);
                        attn_reference_rows(&p, &in, rows, n, ref);
                        attn_check_result r;
                        attn_check(out, ref, n, p.head_dim, attn_tolerance(p.dtype), &r);
                        char what[160], shape[120];
                        snprintf(what, sizeof what, "%s %s %s: rel L2 %.2e", v->name,
                                 attn_point_format(&p, shape, sizeof shape),
                                 init ? "outliers" : "normal", r.rel_l2);
                        test_cond(what, rc == 0 && attn_check_passed(&r));
                        free(q), free(k), free(vv), free(rows), free(out), free(ref);
                    }
    }
    return test_report();
}
