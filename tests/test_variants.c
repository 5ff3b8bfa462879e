/* test_variants.c — every exact variant's CPU implementation, of the plan the CPU backend makes
 * (attn_variant_plan_host), against the fp64 reference: odd sizes, causal, grouped-query heads,
 * every dtype. (The GPU implementations are tested against the same reference in tests/gpu/.) */
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"
#include "check/reference.h"
#include "fixture.h"
#include "test.h"
#include "variant.h"

int main(void)
{
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
