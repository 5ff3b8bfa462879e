/* test_check.c — the checker: metrics, tolerance, rejection of one corrupted element; the check
 * policy and a point's verdict (a tolerance of its own, bounds against exact attention); row
 * sampling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test.h"

int main(void)
{
    enum { N = 4096 };
    static double ref[N];
    static float out[N];
    for (int i = 0; i < N; i++) {
        ref[i] = sin(i * 0.37) * 0.05;
        out[i] = (float)attn_round(ATTN_BF16, (float)ref[i]);
    }
    attn_check_result r;
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_BF16), &r);
    test_cond("bf16-rounded output passes", attn_check_passed(&r));
    test_cond("rel L2 small", r.rel_l2 < 4e-3 && r.rel_l2 > 0);
    test_cond("cosine ≈ 1", r.cosine > 0.9999);

    float saved = out[1234];
    out[1234] = saved + 0.1f; /* one element off by ~3·rms */
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_BF16), &r);
    test_cond("one corrupted element rejected", !attn_check_passed(&r) && r.n_bad == 1);
    test_cond("first bad located", r.first_bad == 1234);
    out[1234] = NAN;
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_BF16), &r);
    test_cond("NaN rejected", !attn_check_passed(&r) && r.n_nonfinite == 1);
    out[1234] = saved;
    for (int i = 0; i < N; i++) out[i] *= 1.04f; /* small everywhere: each element within
                                                     tolerance, the whole not */
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_BF16), &r);
    test_cond("systematic 4 % error rejected by the L2 criterion", r.n_bad == 0 && !attn_check_passed(&r));
    for (int i = 0; i < N; i++) out[i] = (float)attn_round(ATTN_BF16, (float)ref[i]);
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_FP32), &r);
    test_cond("bf16 rounding fails the fp32 tolerance", !attn_check_passed(&r));

    /* rel L1 and RMS: every element 2 % off. */
    for (int i = 0; i < N; i++) out[i] = (float)(ref[i] * 1.02);
    attn_check(out, ref, N / 64, 64, attn_tolerance(ATTN_FP32), &r);
    double ss = 0;
    for (int i = 0; i < N; i++) ss += (0.02 * ref[i]) * (0.02 * ref[i]);
    test_cond("rel L1 of a uniform 2 % error", fabs(r.rel_l1 - 0.02) < 1e-6);
    test_cond("RMS error", fabs(r.rmse - sqrt(ss / N)) < 1e-9);

    /* The policy: the dtype's tolerance and no bounds, unless the variant says. */
    attn_row checked[N / 64];
    for (int i = 0; i < N / 64; i++) checked[i] = (attn_row){0, i / 16, i % 16};
    attn_check_policy pol;
    attn_check_policy_default(ATTN_FP32, &pol);
    test_cond("default policy: the dtype's tolerance, no bounds",
              pol.tolerance == attn_tolerance(ATTN_FP32) && isnan(pol.max_rel_l1) &&
                  isnan(pol.max_rel_l2) && isnan(pol.max_rmse) && isnan(pol.max_abs) && isnan(pol.min_cosine));
    attn_verdict v;
    attn_check_verdict(out, ref, NULL, checked, N / 64, 64, &pol, &v);
    test_cond("2 % off fails the fp32 tolerance", !v.passed && strstr(v.reason, "outside tolerance"));
    pol.tolerance = 0.2; /* a variant's own tolerance */
    attn_check_verdict(out, ref, NULL, checked, N / 64, 64, &pol, &v);
    test_cond("a variant's tolerance is used", v.passed && v.reason[0] == 0 && v.target.tol == 0.2);
    /* An approximation: within tolerance of its target (itself here), judged by bounds against
     * exact attention. */
    static double self[N];
    for (int i = 0; i < N; i++) self[i] = out[i];
    attn_check_policy_default(ATTN_FP32, &pol);
    pol.max_rel_l2 = 0.01;
    attn_check_verdict(out, ref, self, checked, N / 64, 64, &pol, &v);
    test_cond("a bound the output exceeds: failed", !v.passed && v.target.n_bad == 0 &&
                                                        fabs(v.exact.rel_l2 - 0.02) < 1e-6);
    test_cond("the reason names the metric, the value and the bound",
              strstr(v.reason, "relative L2 error 0.02") && strstr(v.reason, "bound 0.01"));
    pol.max_rel_l2 = 0.05, pol.max_rel_l1 = 0.05, pol.max_rmse = 1, pol.max_abs = 1, pol.min_cosine = 0.99;
    attn_check_verdict(out, ref, self, checked, N / 64, 64, &pol, &v);
    test_cond("within every bound: passed", v.passed);
    pol.min_cosine = 1.5;
    attn_check_verdict(out, ref, self, checked, N / 64, 64, &pol, &v);
    test_cond("a minimum bound (cosine)", !v.passed && strstr(v.reason, "cosine similarity") &&
                                              strstr(v.reason, "below"));

    /* Sampling: small shapes check every row; large ones a bounded, deterministic sample that
     * includes the first and last rows of each slice. */
    attn_point small = {.batch = 1, .heads = 2, .kv_heads = 1, .seq = 127, .head_dim = 64};
    attn_row *rows;
    size_t n = attn_sample_rows(&small, 4e8, &rows);
    test_cond("small: every row", n == 254);
    free(rows);
    attn_point big = {.batch = 4, .heads = 16, .kv_heads = 16, .seq = 16384, .head_dim = 128};
    n = attn_sample_rows(&big, 4e8, &rows);
    test_cond("big: bounded", n >= 8 && n * 16384.0 * 128 * 2 <= 4e8 * 1.01);
    int has_first = 0, has_last = 0, sorted = 1;
    for (size_t i = 0; i < n; i++) {
        has_first |= rows[i].s == 0;
        has_last |= rows[i].s == 16383;
        if (i && (rows[i].b * 16 + rows[i].h) * 16384 + rows[i].s <
                     (rows[i - 1].b * 16 + rows[i - 1].h) * 16384 + rows[i - 1].s)
            sorted = 0;
    }
    test_cond("big: first and last rows", has_first && has_last);
    test_cond("big: sorted by (b, h, s)", sorted);
    attn_row *again;
    size_t n2 = attn_sample_rows(&big, 4e8, &again);
    int same = n2 == n;
    for (size_t i = 0; same && i < n; i++)
        same = rows[i].b == again[i].b && rows[i].h == again[i].h && rows[i].s == again[i].s;
    test_cond("deterministic", same);
    free(rows);
    free(again);
    return test_report();
}
