/* stats.h — order statistics and the tests the harness and the gate use. All functions take
 * samples in any order and leave the input untouched unless they say otherwise. */
#ifndef ATTN_STATS_H
#define ATTN_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Sorts x[0..n) ascending in place. */
void stats_sort(double *x, size_t n);
/* Quantile q in [0,1] of sorted x (linear interpolation between order statistics, "type 7"). */
double stats_quantile_sorted(const double *x, size_t n, double q);
/* Median of x (copies; x untouched). NaN when n == 0. */
double stats_median(const double *x, size_t n);
/* Distribution-free confidence interval of the median of sorted x at the given level (e.g. 0.95):
 * the order statistics at ranks n/2 ∓ z·√n/2 (binomial, normal approximation), clamped. */
void stats_median_ci_sorted(const double *x, size_t n, double level, double *lo, double *hi);
/* Two-sided standard normal quantile z with P(|Z| < z) = level. */
double stats_z(double level);
/* Upper tail P(Z > z) of the standard normal. */
double stats_normal_sf(double z);
/* Upper tail P(T > t) of Student's t with df > 0 degrees of freedom (df need not be an integer). */
double stats_t_sf(double t, double df);

/* ---------------------------------------------------------------- seeded generator
 * splitmix64: 64-bit state, full period, no rejection bias below 2^32 outcomes. The bootstrap uses
 * it with a fixed seed so that an interval is reproducible; the tests use it to simulate timings. */
typedef struct stats_rng {
    uint64_t state; /* any value; equal states give equal streams */
} stats_rng;

uint64_t stats_rng_next(stats_rng *r);
/* Uniform index in [0, n), n in [1, 2^32) (Lemire's multiply-shift; bias < n/2^64). */
size_t stats_rng_below(stats_rng *r, size_t n);
/* Uniform in (0, 1): never 0, so its logarithm is finite. */
double stats_rng_uniform(stats_rng *r);
/* Standard normal deviate (Box–Muller). */
double stats_rng_normal(stats_rng *r);

/* ---------------------------------------------------------------- two-sample tests
 * Timings are compared in logs, where a slowdown by a factor is a shift and noise is about
 * multiplicative; the functions below take whatever values the caller passes (logs or not). */

/* One-sided Mann–Whitney U test of H1 "y − shift is stochastically greater than x", i.e. of
 * P(y − shift > x) > 1/2. Returns the p-value P(U ≥ U_observed | H0), where U counts the pairs
 * (i, j) with y_j − shift > x_i, ties counted ½. Exact null distribution when n·m ≤ 2500 and the
 * pooled values have no ties; otherwise the normal approximation with tie-corrected variance and a
 * continuity correction. NaN when n or m is 0 or memory runs out. */
double stats_mwu_greater(const double *x, size_t n, const double *y, size_t m, double shift);

/* Hodges–Lehmann shift of y against x: the median of the n·m differences y_j − x_i (O((n + m)
 * log) by bisection on counts, never forming the pairs). NaN when n or m is 0. */
double stats_hl_shift(const double *x, size_t n, const double *y, size_t m);
/* Percentile bootstrap interval at `level` (e.g. 0.95) for the HL shift: both sides resampled with
 * replacement, `resamples` times, from a generator seeded with `seed` — the same inputs and seed
 * give the same interval. Cost O(resamples·(n + m)·40). NaN bounds on bad input. */
void stats_hl_bootstrap(const double *x, size_t n, const double *y, size_t m, int resamples,
                        double level, uint64_t seed, double *lo, double *hi);

/* Welch's two-sample t-test, two-sided p-value of "mean(y) ≠ mean(x)"; needs n, m ≥ 2. Zero
 * variance on both sides gives 0 when the means differ and 1 when they are equal. */
double stats_welch_p(const double *x, size_t n, const double *y, size_t m);

/* Benjamini–Hochberg adjusted p-values (step-up): adj[i] ≤ q exactly when hypothesis i is rejected
 * at false-discovery rate q. p and adj may be the same array. Returns -1 when out of memory. */
int stats_bh_adjust(const double *p, size_t m, double *adj);

/* ---------------------------------------------------------------- the regression gate
 * One key of a comparison: baseline and candidate timings (positive, e.g. ns) and the minimum
 * effect θ that matters (0.02 = 2 %). The rank tests have θ built in — the candidate is shifted by
 * ln(1 + θ) on the log scale — so that a tiny but real shift is never called a regression however
 * many samples there are (the MWU test is dual to the HL estimate: p_slower < α corresponds to
 * the distribution-free one-sided HL interval lying above 1 + θ). */
typedef struct stats_pair {
    double ratio;        /* median(candidate) / median(baseline) */
    double hl_ratio;     /* exp(HL shift of ln candidate against ln baseline) */
    double p_slower;     /* H1: candidate / baseline > 1 + θ */
    double p_faster;     /* H1: candidate / baseline < 1 / (1 + θ) */
    double p_not_slower; /* H1: candidate / baseline < 1 + θ (a slowdown of θ ruled out) */
} stats_pair;

/* Fills *out; returns -1 when an input is empty, not positive, or memory runs out. */
int stats_compare_pair(const double *base, size_t n, const double *cand, size_t m,
                       double threshold, stats_pair *out);
/* The HL ratio's bootstrap interval (stats_hl_bootstrap on the logs, exponentiated). */
void stats_ratio_ci(const double *base, size_t n, const double *cand, size_t m, int resamples,
                    double level, uint64_t seed, double *lo, double *hi);

/* ---------------------------------------------------------------- change points
 * Binary segmentation with Welch's test (after Hunter/Otava): in a segment, every split with at
 * least min_before values before and min_after after is tested; the split with the smallest
 * p-value among those whose change of medians, |exp(median(after) − median(before)) − 1|, reaches
 * min_magnitude is accepted when p < max_p, and both halves are searched again. y holds logs of one
 * summary per run, oldest first. Requiring the median to move (not the mean) and several values
 * after the split is what keeps a one-run spike from ever being a step. */
typedef struct stats_step {
    size_t at;    /* index of the first value after the step */
    double p;     /* Welch p-value at the split */
    double ratio; /* exp(median(after) − median(before)) within the segment */
} stats_step;

/* Writes at most max steps to out, ordered by position; returns their count, or -1 when out of
 * memory. */
int stats_change_points(const double *y, size_t n, size_t min_before, size_t min_after,
                        double max_p, double min_magnitude, stats_step *out, size_t max);

#endif
