/* check.h — is an output right? Error metrics of an output against a target, the per-dtype
 * tolerance, the check policy (a variant's tolerance and its accuracy bounds against exact
 * attention) and a point's verdict under it, and the deterministic choice of rows to compare for
 * large shapes. */
#ifndef ATTN_CHECK_H
#define ATTN_CHECK_H

#include <stddef.h>

#include "core/problem.h"

typedef struct attn_check_result {
    double max_abs;     /* max |out − target| */
    double rel_l1;      /* ‖out − target‖₁ / ‖target‖₁ */
    double rel_l2;      /* ‖out − target‖₂ / ‖target‖₂ */
    double rmse;        /* ‖out − target‖₂ / √n */
    double cosine;      /* cosine similarity of out and target */
    size_t n;           /* elements compared */
    size_t n_bad;       /* elements outside tolerance (non-finite ones included) */
    size_t n_nonfinite; /* NaN or Inf in out */
    size_t first_bad;   /* index of the first bad element (valid when n_bad > 0) */
    double tol;         /* the tolerance checked against */
} attn_check_result;

/* Tolerance for an exact variant's output in dtype t. An output passes when every element has
 * |out − target| ≤ tol·(|target| + rms of its row of the target) and, over all elements,
 * ‖out − target‖₂/‖target‖₂ ≤ tol/8. The row's rms is the scale of the errors that rounding
 * scores and probabilities makes in that row (a row dominated by one key has large values, a
 * near-uniform row small ones). tol is 64 ulps of fp16/bf16 — rounding raw Q·Kᵀ scores to the
 * dtype, as cuBLAS-based attention does, was measured at up to 27 ulps on outlier inputs — and
 * 1e-3 for fp32, whose errors come from long reductions summed in different orders: a peaked
 * softmax amplifies them (lowrank's fp32 path on outlier inputs at S=4096 was measured 3.3e-4 off
 * its CPU twin on one element, 1.4× a 1e-4 bound). Wrong indexing, masking or a corrupted element
 * err by O(|target| + rms). */
double attn_tolerance(attn_dtype t);

/* out and target hold n rows of row_len elements. */
void attn_check(const float *out, const double *target, size_t n, size_t row_len, double tol,
                attn_check_result *r);
static inline int attn_check_passed(const attn_check_result *r)
{
    return r->n_bad == 0 && r->rel_l2 <= r->tol / 8;
}

/* The policy a point starts from: the dtype's tolerance, no bounds (NaN). The variant's
 * check_policy(plan) may then change it (variants/variant.h). */
void attn_check_policy_default(attn_dtype t, attn_check_policy *pol);

/* A point's verdict: its output against its check target and against exact attention. */
typedef struct attn_verdict {
    attn_check_result target; /* against the check target (exact attention, or the variant's own
                                 CPU implementation for an approximation), with pol->tolerance */
    attn_check_result exact;  /* against exact attention (the fp64 reference) */
    int passed;               /* within the tolerance of the target and within every bound */
    char reason[768];         /* why not, naming the metric, its value and the limit ("" passed) */
} attn_verdict;

/* out: the output at `rows` (n_rows rows of row_len, float, rounded to the dtype as stored);
 * exact: exact attention at those rows; target: the check target, or NULL when it is exact. */
void attn_check_verdict(const float *out, const double *exact, const double *target,
                        const attn_row *rows, size_t n_rows, size_t row_len,
                        const attn_check_policy *pol, attn_verdict *v);

/* Chooses the rows to compare: every row when the fp64 reference over all of them costs at most
 * `budget` multiply-adds, else up to 4 (batch, head) slices (first, last, middle, one hashed) with
 * evenly spaced rows including the first and the last. Returns the count; *rows is malloc'd. */
size_t attn_sample_rows(const attn_point *p, double budget, attn_row **rows);

#endif
