/* check.c — error metrics, the check policy and a point's verdict, row sampling (see check.h). */
#include "check/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double attn_tolerance(attn_dtype t)
{
    switch (t) {
    case ATTN_FP16: return 64.0 / 2048; /* 64 · 2^-11 */
    case ATTN_BF16: return 64.0 / 256;  /* 64 · 2^-8 */
    default: return 1e-3; /* fp32: errors come from summation order, not storage */
    }
}

void attn_check(const float *out, const double *target, size_t n, size_t row_len, double tol,
                attn_check_result *r)
{
    double ss_target = 0, ss_diff = 0, ss_out = 0, dot = 0, max_abs = 0, l1_diff = 0, l1_target = 0;
    r->n = n * row_len;
    r->tol = tol;
    r->n_bad = r->n_nonfinite = 0;
    r->first_bad = 0;
    for (size_t row = 0; row < n; row++) {
        const float *o_row = out + row * row_len;
        const double *t_row = target + row * row_len;
        double ss_row = 0;
        for (size_t d = 0; d < row_len; d++) ss_row += t_row[d] * t_row[d];
        double rms = sqrt(ss_row / (double)row_len);
        ss_target += ss_row;
        for (size_t d = 0; d < row_len; d++) {
            double o = o_row[d], t = t_row[d], diff = fabs(o - t);
            int bad = !isfinite(o);
            r->n_nonfinite += bad;
            l1_target += fabs(t);
            if (!bad) {
                l1_diff += diff;
                ss_diff += diff * diff;
                ss_out += o * o;
                dot += o * t;
                if (diff > max_abs) max_abs = diff;
                bad = diff > tol * (fabs(t) + rms);
            }
            if (bad && r->n_bad++ == 0) r->first_bad = row * row_len + d;
        }
    }
    if (r->n_nonfinite) {
        r->max_abs = r->rel_l1 = r->rel_l2 = r->rmse = INFINITY;
        r->cosine = NAN;
        return;
    }
    r->max_abs = max_abs;
    r->rel_l1 = l1_target > 0 ? l1_diff / l1_target : l1_diff;
    r->rel_l2 = ss_target > 0 ? sqrt(ss_diff / ss_target) : sqrt(ss_diff);
    r->rmse = r->n ? sqrt(ss_diff / (double)r->n) : 0;
    r->cosine = ss_target > 0 && ss_out > 0 ? dot / sqrt(ss_target * ss_out) : (ss_diff == 0);
}

void attn_check_policy_default(attn_dtype t, attn_check_policy *pol)
{
    pol->tolerance = attn_tolerance(t);
    pol->max_rel_l1 = pol->max_rel_l2 = pol->max_rmse = pol->max_abs = pol->min_cosine = NAN;
}

/* Why the output is not within the tolerance of its target ("" when it is). */
static void tolerance_reason(const attn_check_result *r, const float *out, const double *target,
                             const attn_row *rows, size_t row_len, char *buf, size_t n)
{
    buf[0] = 0;
    if (attn_check_passed(r)) return;
    if (r->n_bad == 0) {
        snprintf(buf, n, "relative L2 error %.3g over %zu checked elements exceeds %.3g", r->rel_l2,
                 r->n, r->tol / 8);
        return;
    }
    const size_t i = r->first_bad;
    const attn_row *w = &rows[i / row_len];
    snprintf(buf, n,
             "%zu of %zu checked elements outside tolerance %.3g (%zu non-finite); first at "
             "b=%d h=%d s=%d d=%zu: got %.6g, want %.6g",
             r->n_bad, r->n, r->tol, r->n_nonfinite, w->b, w->h, w->s, i % row_len, out[i],
             target[i]);
}

/* Why the errors against exact attention break a bound ("" when none does). A NaN bound is no
 * bound; a NaN value (non-finite output) breaks every bound. */
static void bounds_reason(const attn_check_result *e, const attn_check_policy *pol, char *buf,
                          size_t n)
{
    const struct { const char *what; double value, bound; int is_min; } b[] = {
        {"relative L1 error", e->rel_l1, pol->max_rel_l1, 0},
        {"relative L2 error", e->rel_l2, pol->max_rel_l2, 0},
        {"RMS error", e->rmse, pol->max_rmse, 0},
        {"max abs error", e->max_abs, pol->max_abs, 0},
        {"cosine similarity", e->cosine, pol->min_cosine, 1},
    };
    buf[0] = 0;
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        if (isnan(b[i].bound)) continue;
        int within = b[i].is_min ? b[i].value >= b[i].bound : b[i].value <= b[i].bound;
        if (within) continue;
        snprintf(buf, n, "%s %.3g against exact attention is %s the variant's bound %.3g",
                 b[i].what, b[i].value, b[i].is_min ? "below" : "over", b[i].bound);
        return;
    }
}

void attn_check_verdict(const float *out, const double *exact, const double *target,
                        const attn_row *rows, size_t n_rows, size_t row_len,
                        const attn_check_policy *pol, attn_verdict *v)
{
    attn_check(out, exact, n_rows, row_len, pol->tolerance, &v->exact);
    if (target) attn_check(out, target, n_rows, row_len, pol->tolerance, &v->target);
    else v->target = v->exact;
    tolerance_reason(&v->target, out, target ? target : exact, rows, row_len, v->reason,
                     sizeof v->reason);
    if (!v->reason[0]) bounds_reason(&v->exact, pol, v->reason, sizeof v->reason);
    v->passed = !v->reason[0];
}

size_t attn_sample_rows(const attn_point *p, double budget, attn_row **rows)
{
    const size_t slices = (size_t)p->batch * p->heads, S = (size_t)p->seq;
    const double per_row = (double)S * p->head_dim * 2; /* scores and P·V */
    if ((double)slices * S * per_row <= budget) {
        attn_row *r = malloc(slices * S * sizeof *r);
        size_t n = 0;
        for (int b = 0; b < p->batch; b++)
            for (int h = 0; h < p->heads; h++)
                for (int s = 0; s < p->seq; s++) r[n++] = (attn_row){b, h, s};
        *rows = r;
        return n;
    }
    /* Candidate slices in (b, h) order, duplicates removed. */
    int cand[4][2] = {{0, 0},
                      {p->batch / 2, p->heads / 2},
                      {(int)((p->seq * 7919u) % (unsigned)p->batch),
                       (int)((p->seq * 104729u + 17) % (unsigned)p->heads)},
                      {p->batch - 1, p->heads - 1}};
    int picked[4][2], n_slices = 0;
    for (int c = 0; c < 4; c++) {
        int dup = 0;
        for (int j = 0; j < n_slices; j++)
            dup |= picked[j][0] == cand[c][0] && picked[j][1] == cand[c][1];
        if (!dup) {
            picked[n_slices][0] = cand[c][0];
            picked[n_slices][1] = cand[c][1];
            n_slices++;
        }
    }
    for (int i = 1; i < n_slices; i++) /* keep rows sorted by (b, h) */
        for (int j = i; j > 0 && (picked[j][0] * p->heads + picked[j][1]) <
                                     (picked[j - 1][0] * p->heads + picked[j - 1][1]); j--) {
            int t0 = picked[j][0], t1 = picked[j][1];
            picked[j][0] = picked[j - 1][0];
            picked[j][1] = picked[j - 1][1];
            picked[j - 1][0] = t0;
            picked[j - 1][1] = t1;
        }
    size_t per_slice = (size_t)(budget / per_row / n_slices);
    if (per_slice < 8) per_slice = 8;
    if (per_slice > S) per_slice = S;
    attn_row *r = malloc((size_t)n_slices * per_slice * sizeof *r);
    size_t n = 0;
    for (int c = 0; c < n_slices; c++)
        for (size_t k = 0; k < per_slice; k++) {
            int s = per_slice == 1 ? 0 : (int)(k * (S - 1) / (per_slice - 1));
            r[n++] = (attn_row){picked[c][0], picked[c][1], s};
        }
    *rows = r;
    return n;
}
