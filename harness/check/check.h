/* check.h — is an output right? Error metrics of an output against a target, the per-dtype
 * tolerance, and the deterministic choice of rows to compare for large shapes. */
#ifndef ATTN_CHECK_H
#define ATTN_CHECK_H

#include <stddef.h>

#include "core/problem.h"

typedef struct attn_check_result {
    double max_abs;     /* max |out − target| */
    double rel_l2;      /* ‖out − target‖₂ / ‖target‖₂ */
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

/* Chooses the rows to compare: every row when the fp64 reference over all of them costs at most
 * `budget` multiply-adds, else up to 4 (batch, head) slices (first, last, middle, one hashed) with
 * evenly spaced rows including the first and the last. Returns the count; *rows is malloc'd. */
size_t attn_sample_rows(const attn_point *p, double budget, attn_row **rows);

#endif
