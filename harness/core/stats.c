/* stats.c — order statistics, the seeded generator, the rank and t tests, Benjamini–Hochberg and
 * change points (see stats.h). Sized for the gate's workload: a few hundred keys per comparison,
 * 5 to 10,000 samples per side, series of at most a few hundred runs. */
#include "core/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void stats_sort(double *x, size_t n) { qsort(x, n, sizeof *x, cmp_double); }

double stats_quantile_sorted(const double *x, size_t n, double q)
{
    if (n == 0) return NAN;
    double h = q * (double)(n - 1);
    size_t i = (size_t)floor(h);
    if (i + 1 >= n) return x[n - 1];
    return x[i] + (h - (double)i) * (x[i + 1] - x[i]);
}

double stats_median(const double *x, size_t n)
{
    if (n == 0) return NAN;
    double *c = malloc(n * sizeof *c);
    if (!c) return NAN;
    memcpy(c, x, n * sizeof *c);
    stats_sort(c, n);
    double m = stats_quantile_sorted(c, n, 0.5);
    free(c);
    return m;
}

/* Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
static double normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -normal_quantile(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double stats_z(double level) { return normal_quantile(0.5 + level / 2); }

void stats_median_ci_sorted(const double *x, size_t n, double level, double *lo, double *hi)
{
    if (n == 0) {
        *lo = *hi = NAN;
        return;
    }
    double half = stats_z(level) * sqrt((double)n) / 2;
    double l = floor((double)n / 2 - half), u = ceil((double)n / 2 + half); /* 0-based ranks */
    if (l < 0) l = 0;
    if (u > (double)n - 1) u = (double)n - 1;
    *lo = x[(size_t)l];
    *hi = x[(size_t)u];
}

double stats_normal_sf(double z) { return 0.5 * erfc(z / sqrt(2.0)); }

/* Continued fraction of the regularised incomplete beta function (modified Lentz, as in Numerical
 * Recipes' betacf); converges fast for x < (a + 1) / (a + b + 2), which inc_beta arranges. */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double num[2] = {m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                         -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))};
        double del = 1;
        for (int k = 0; k < 2; k++) {
            d = 1 + num[k] * d;
            c = 1 + num[k] / c;
            d = 1 / (fabs(d) < tiny ? tiny : d);
            if (fabs(c) < tiny) c = tiny;
            del = d * c;
            h *= del;
        }
        if (fabs(del - 1) < 1e-15) break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double inc_beta(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double stats_t_sf(double t, double df)
{
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return t > 0 ? 0 : 1;
    double tail = 0.5 * inc_beta(df / 2, 0.5, df / (df + t * t)); /* P(T > |t|) */
    return t > 0 ? tail : 1 - tail;
}

/* ---------------------------------------------------------------- seeded generator */

uint64_t stats_rng_next(stats_rng *r)
{
    uint64_t x = attn_mix64(r->state);
    r->state += 0x9e3779b97f4a7c15ull;
    return x;
}

size_t stats_rng_below(stats_rng *r, size_t n)
{
    return (size_t)(((stats_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double stats_rng_uniform(stats_rng *r)
{
    return ((double)(stats_rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

double stats_rng_normal(stats_rng *r)
{
    double u = stats_rng_uniform(r), v = stats_rng_uniform(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---------------------------------------------------------------- two-sample tests */

/* P(U ≥ u) under H0 for group sizes n, m without ties. The counts of U over all C(n+m, n)
 * arrangements are the coefficients of the Gaussian binomial Π_{i=1..n} (1 − q^(m+i)) / (1 − q^i),
 * built one factor at a time: multiply by (1 − q^(m+i)), then divide by (1 − q^i) as a running
 * sum. Each partial product is again a Gaussian binomial of degree i·m, so truncating there is
 * exact; O(n²m) instead of the O(n²m²) of the textbook recursion. */
static double mwu_exact_upper(size_t n, size_t m, double u)
{
    size_t top = n * m;
    double *c = calloc(top + 1, sizeof *c);
    if (!c) return NAN;
    c[0] = 1;
    for (size_t i = 1; i <= n; i++) {
        size_t deg = i * m, a = m + i;
        for (size_t k = deg; k >= a; k--) c[k] -= c[k - a];
        for (size_t k = i; k <= deg; k++) c[k] += c[k - i];
    }
    size_t from = (size_t)ceil(u - 1e-9);
    double total = 0, tail = 0;
    for (size_t k = 0; k <= top; k++) {
        total += c[k];
        if (k >= from) tail += c[k];
    }
    free(c);
    double p = tail / total;
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

typedef struct tagged {
    double v;
    int from_y;
} tagged;

static int cmp_tagged(const void *a, const void *b)
{
    double x = ((const tagged *)a)->v, y = ((const tagged *)b)->v;
    return (x > y) - (x < y);
}

double stats_mwu_greater(const double *x, size_t n, const double *y, size_t m, double shift)
{
    if (n == 0 || m == 0) return NAN;
    size_t total = n + m;
    tagged *t = malloc(total * sizeof *t);
    if (!t) return NAN;
    for (size_t i = 0; i < n; i++) t[i] = (tagged){x[i], 0};
    for (size_t j = 0; j < m; j++) t[n + j] = (tagged){y[j] - shift, 1};
    qsort(t, total, sizeof *t, cmp_tagged);
    double rank_y = 0, ties = 0; /* ties: Σ (τ³ − τ) over groups of τ equal values */
    for (size_t i = 0, j; i < total; i = j) {
        for (j = i + 1; j < total && t[j].v == t[i].v; j++) {}
        double mid_rank = (double)(i + 1 + j) / 2, tau = (double)(j - i);
        for (size_t k = i; k < j; k++) rank_y += t[k].from_y ? mid_rank : 0;
        ties += tau * tau * tau - tau;
    }
    free(t);
    double nm = (double)n * (double)m, u = rank_y - (double)m * (double)(m + 1) / 2;
    if (ties == 0 && nm <= 2500) return mwu_exact_upper(n, m, u);
    double N = (double)total;
    double var = nm / 12 * ((N + 1) - ties / (N * (N - 1)));
    if (var <= 0) return 1; /* every value equal: no evidence either way */
    return stats_normal_sf((u - nm / 2 - 0.5) / sqrt(var));
}

/* Weight of pairs with y_j − x_i ≤ d; x and y sorted ascending, wx and wy their multiplicities
 * (NULL: 1 each), wx_total the sum of wx. Two pointers: as y_j grows so does y_j − d, so the
 * first x_i ≥ y_j − d only moves right. */
static double pairs_le(const double *x, const unsigned *wx, size_t n, double wx_total,
                       const double *y, const unsigned *wy, size_t m, double d)
{
    double count = 0, below = 0;
    size_t i = 0;
    for (size_t j = 0; j < m; j++) {
        for (; i < n && x[i] < y[j] - d; i++) below += wx ? wx[i] : 1;
        count += (wy ? wy[j] : 1) * (wx_total - below);
    }
    return count;
}

/* The k-th smallest (1-based, by weight) difference y_j − x_i, by bisection on its value to a
 * relative 1e-12 (about 40 steps), which is exact for any ratio the gate prints. */
static double kth_difference(const double *x, const unsigned *wx, size_t n, double wx_total,
                             const double *y, const unsigned *wy, size_t m, double k)
{
    double lo = y[0] - x[n - 1], hi = y[m - 1] - x[0];
    if (pairs_le(x, wx, n, wx_total, y, wy, m, lo) >= k) return lo;
    for (int it = 0; it < 200 && hi - lo > 1e-12 * fmax(1, fabs(hi)); it++) {
        double mid = lo + (hi - lo) / 2;
        if (pairs_le(x, wx, n, wx_total, y, wy, m, mid) >= k) hi = mid;
        else lo = mid;
    }
    return hi;
}

/* HL shift of sorted, weighted samples: the median of the pair differences, the mean of the two
 * middle ones when their number is even. */
static double hl_sorted(const double *x, const unsigned *wx, size_t n, double wx_total,
                        const double *y, const unsigned *wy, size_t m, double wy_total)
{
    double pairs = wx_total * wy_total, k = floor((pairs + 1) / 2);
    double d = kth_difference(x, wx, n, wx_total, y, wy, m, k);
    if (fmod(pairs, 2) == 1) return d;
    return (d + kth_difference(x, wx, n, wx_total, y, wy, m, k + 1)) / 2;
}

/* Sorted copy of x (NULL when out of memory). */
static double *sorted_copy(const double *x, size_t n)
{
    double *c = malloc(n * sizeof *c);
    if (!c) return NULL;
    memcpy(c, x, n * sizeof *c);
    stats_sort(c, n);
    return c;
}

double stats_hl_shift(const double *x, size_t n, const double *y, size_t m)
{
    if (n == 0 || m == 0) return NAN;
    double *xs = sorted_copy(x, n), *ys = sorted_copy(y, m), hl = NAN;
    if (xs && ys) hl = hl_sorted(xs, NULL, n, (double)n, ys, NULL, m, (double)m);
    free(xs);
    free(ys);
    return hl;
}

/* A resample of n from sorted values as multiplicities: drawing indices and counting them keeps
 * the values sorted, so no resample is ever sorted. */
static void resample_counts(stats_rng *r, unsigned *w, size_t n)
{
    memset(w, 0, n * sizeof *w);
    for (size_t i = 0; i < n; i++) w[stats_rng_below(r, n)]++;
}

void stats_hl_bootstrap(const double *x, size_t n, const double *y, size_t m, int resamples,
                        double level, uint64_t seed, double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (n == 0 || m == 0 || resamples < 1) return;
    double *xs = sorted_copy(x, n), *ys = sorted_copy(y, m);
    double *est = malloc((size_t)resamples * sizeof *est);
    unsigned *wx = malloc(n * sizeof *wx), *wy = malloc(m * sizeof *wy);
    if (xs && ys && est && wx && wy) {
        stats_rng r = {seed};
        for (int b = 0; b < resamples; b++) {
            resample_counts(&r, wx, n);
            resample_counts(&r, wy, m);
            est[b] = hl_sorted(xs, wx, n, (double)n, ys, wy, m, (double)m);
        }
        stats_sort(est, (size_t)resamples);
        *lo = stats_quantile_sorted(est, (size_t)resamples, (1 - level) / 2);
        *hi = stats_quantile_sorted(est, (size_t)resamples, (1 + level) / 2);
    }
    free(xs);
    free(ys);
    free(est);
    free(wx);
    free(wy);
}

static void mean_var(const double *x, size_t n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *var = ss / (double)(n - 1);
}

double stats_welch_p(const double *x, size_t n, const double *y, size_t m)
{
    if (n < 2 || m < 2) return NAN;
    double mx, vx, my, vy;
    mean_var(x, n, &mx, &vx);
    mean_var(y, m, &my, &vy);
    double ax = vx / (double)n, ay = vy / (double)m, se2 = ax + ay;
    if (se2 == 0) return mx == my ? 1 : 0;
    double df = se2 * se2 / (ax * ax / (double)(n - 1) + ay * ay / (double)(m - 1));
    return 2 * stats_t_sf(fabs(my - mx) / sqrt(se2), df);
}

typedef struct indexed {
    double p;
    size_t i;
} indexed;

static int cmp_indexed(const void *a, const void *b)
{
    double x = ((const indexed *)a)->p, y = ((const indexed *)b)->p;
    return (x > y) - (x < y);
}

int stats_bh_adjust(const double *p, size_t m, double *adj)
{
    indexed *o = malloc(m * sizeof *o);
    if (!o && m) return -1;
    for (size_t i = 0; i < m; i++) o[i] = (indexed){p[i], i};
    qsort(o, m, sizeof *o, cmp_indexed);
    double running = 1; /* adjusted p of rank k: min over ranks ≥ k of p_(j)·m/j */
    for (size_t k = m; k >= 1; k--) {
        double a = o[k - 1].p * (double)m / (double)k;
        if (a < running) running = a;
        adj[o[k - 1].i] = running;
    }
    free(o);
    return 0;
}

/* ---------------------------------------------------------------- the regression gate */

/* ln of each value into a new array; NULL when out of memory or a value is not positive. */
static double *logs_of(const double *x, size_t n)
{
    double *l = malloc(n * sizeof *l);
    for (size_t i = 0; l && i < n; i++) {
        if (!(x[i] > 0)) {
            free(l);
            return NULL;
        }
        l[i] = log(x[i]);
    }
    return l;
}

int stats_compare_pair(const double *base, size_t n, const double *cand, size_t m,
                       double threshold, stats_pair *out)
{
    if (n == 0 || m == 0) return -1;
    double *lb = logs_of(base, n), *lc = logs_of(cand, m);
    int rc = -1;
    if (lb && lc) {
        double margin = log1p(threshold);
        out->ratio = stats_median(cand, m) / stats_median(base, n);
        out->hl_ratio = exp(stats_hl_shift(lb, n, lc, m));
        out->p_slower = stats_mwu_greater(lb, n, lc, m, margin);
        out->p_faster = stats_mwu_greater(lc, m, lb, n, margin);
        out->p_not_slower = stats_mwu_greater(lc, m, lb, n, -margin);
        rc = isnan(out->p_slower + out->p_faster + out->p_not_slower + out->hl_ratio) ? -1 : 0;
    }
    free(lb);
    free(lc);
    return rc;
}

void stats_ratio_ci(const double *base, size_t n, const double *cand, size_t m, int resamples,
                    double level, uint64_t seed, double *lo, double *hi)
{
    double *lb = logs_of(base, n), *lc = logs_of(cand, m);
    *lo = *hi = NAN;
    if (lb && lc && n && m) {
        stats_hl_bootstrap(lb, n, lc, m, resamples, level, seed, lo, hi);
        *lo = exp(*lo);
        *hi = exp(*hi);
    }
    free(lb);
    free(lc);
}

/* ---------------------------------------------------------------- change points */

typedef struct segmenter {
    const double *y;
    size_t min_before, min_after;
    double max_p, min_magnitude;
    stats_step *out;
    size_t max, count;
    int failed; /* out of memory */
} segmenter;

static void segment(segmenter *g, size_t lo, size_t hi)
{
    if (hi - lo < g->min_before + g->min_after) return;
    stats_step best = {0, 1, 1};
    for (size_t s = lo + g->min_before; s + g->min_after <= hi; s++) {
        double before = stats_median(g->y + lo, s - lo), after = stats_median(g->y + s, hi - s);
        if (isnan(before) || isnan(after)) {
            g->failed = 1;
            return;
        }
        double ratio = exp(after - before);
        if (fabs(ratio - 1) < g->min_magnitude) continue;
        double p = stats_welch_p(g->y + lo, s - lo, g->y + s, hi - s);
        if (p < best.p) best = (stats_step){s, p, ratio};
    }
    if (!(best.p < g->max_p)) return;
    segment(g, lo, best.at);
    if (g->count < g->max) g->out[g->count++] = best;
    segment(g, best.at, hi);
}

int stats_change_points(const double *y, size_t n, size_t min_before, size_t min_after,
                        double max_p, double min_magnitude, stats_step *out, size_t max)
{
    segmenter g = {y, min_before < 2 ? 2 : min_before, min_after < 2 ? 2 : min_after, max_p,
                   min_magnitude, out, max, 0, 0};
    segment(&g, 0, n);
    return g.failed ? -1 : (int)g.count;
}
