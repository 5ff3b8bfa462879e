/* noise.c — between-run noise: its estimate from a history or from rounds, the moderation across a
 * variant's keys, the t tests and floors (see noise.h). Carries the few special functions these
 * need (digamma, trigamma and its inverse, the t quantile), accurate to about 1e-10 over the
 * arguments they get here (half-degrees of freedom from 0.25 to 10^6). */
#include "report/noise.h"

#include <math.h>
#include <stdlib.h>

#include "core/stats.h"

/* A step in a key's history, as `attnbench history` finds one (its defaults). */
#define STEP_MIN_BEFORE 7
#define STEP_MIN_AFTER 3
#define STEP_MAX_P 0.001
#define MAX_STEPS 64 /* about as many as NOISE_WINDOW_MAX runs can hold (a piece has >= 3) */

/* ---------------------------------------------------------------- special functions */

/* ψ(x) for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 6, then the asymptotic series. */
static double digamma(double x)
{
    double r = 0;
    for (; x < 6; x++) r -= 1 / x;
    double f = 1 / (x * x);
    return r + log(x) - 0.5 / x -
           f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

/* ψ'(x) for x > 0, the same way. */
static double trigamma(double x)
{
    double r = 0;
    for (; x < 6; x++) r += 1 / (x * x);
    double f = 1 / (x * x);
    return r + 1 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f / 30)));
}

/* ψ''(x) for x > 0, the same way. */
static double tetragamma(double x)
{
    double r = 0;
    for (; x < 6; x++) r -= 2 / (x * x * x);
    double f = 1 / (x * x);
    return r - f - f / x -
           f * f * (0.5 - f * (1.0 / 6 - f * (1.0 / 6 - f * (3.0 / 10 - f * 5.0 / 6))));
}

/* The x with ψ'(x) = y > 0: Newton's method on 1/ψ'(x), as limma's trigammaInverse. */
static double trigamma_inverse(double y)
{
    if (y > 1e7) return 1 / sqrt(y);
    if (y < 1e-6) return 1 / y;
    double x = 0.5 + 1 / y;
    for (int i = 0; i < 50; i++) {
        double tri = trigamma(x), step = tri * (1 - tri / y) / tetragamma(x);
        x += step;
        if (-step / x < 1e-8) break;
    }
    return x;
}

double noise_t_upper(double p, double df)
{
    if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
    if (p > 0.5) return -noise_t_upper(1 - p, df);
    double lo = 0, hi = 1;
    for (int i = 0; i < 1000 && stats_t_sf(hi, df) > p; i++) lo = hi, hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = lo + (hi - lo) / 2;
        if (stats_t_sf(mid, df) > p) lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* ---------------------------------------------------------------- estimates */

/* The variance floor of a unit of k (NOISE_MIN_SPREAD per run in it). */
static double min_var(const noise_key *k)
{
    return k->unit_runs * NOISE_MIN_SPREAD * NOISE_MIN_SPREAD;
}

int noise_from_history(const double *y, size_t n, double threshold, noise_key *k, noise_history *h)
{
    *h = (noise_history){(int)n, 0, 0, NAN};
    k->unit_runs = 1;
    k->var = NAN;
    k->df = 0;
    k->se_factor = NAN;
    if (n < NOISE_MIN_RUNS) return 0;
    stats_step steps[MAX_STEPS];
    int n_steps = stats_change_points(y, n, STEP_MIN_BEFORE, STEP_MIN_AFTER, STEP_MAX_P, threshold,
                                      steps, MAX_STEPS);
    if (n_steps < 0) return -1;
    h->steps = n_steps;
    size_t from = n_steps ? steps[n_steps - 1].at : 0, diffs = 0;
    double sum = 0;
    for (size_t i = 0, s = 0; i + 1 < n; i++) {
        if (s < (size_t)n_steps && steps[s].at == i + 1) {
            s++; /* the difference across a step is the step, not noise */
            continue;
        }
        sum += (y[i + 1] - y[i]) * (y[i + 1] - y[i]);
        diffs++;
    }
    /* The level is the mean of the newest piece, not its median: the candidate is one more run of
     * the same process, so E[candidate − mean] = 0 and Var = σ²(1 + 1/r) whatever the shape of a
     * run's distribution, where the median's π/(2r) holds only for normal runs — with two modes
     * (fused: 3 runs fast, 2 slow) the median sits in one mode and is far less precise than that,
     * and the test's A/A rate rises. Among unbiased levels the mean is also the most precise for
     * normal runs (1/r against π/(2r): at 20 runs the floor is 1.3 % lower). A one-night outlier
     * in the piece moves the mean by 1/r of it and raises the variance, so it costs power, never
     * a false alarm. */
    h->level_runs = (int)(n - from);
    double level = 0;
    for (size_t i = from; i < n; i++) level += y[i];
    h->level = level / (double)h->level_runs;
    /* Successive differences overlap, so c of them carry 2c²/(3c − 1) degrees of freedom (the
     * variance of their mean square is (3c − 1)σ⁴/c², a scaled χ²'s is 2σ⁴/ν). */
    double c = (double)diffs;
    k->var = fmax(sum / (2 * c), min_var(k));
    k->df = 2 * c * c / (3 * c - 1);
    k->se_factor = 1 + 1.0 / h->level_runs;
    return 0;
}

void noise_from_rounds(const double *d, size_t r, noise_key *k)
{
    double sum = 0, ss = 0;
    for (size_t i = 0; i < r; i++) sum += d[i];
    k->effect = r ? sum / (double)r : NAN;
    for (size_t i = 0; i < r; i++) ss += (d[i] - k->effect) * (d[i] - k->effect);
    k->unit_runs = 2;
    k->df = r >= 2 ? (double)(r - 1) : 0;
    k->var = r >= 2 ? fmax(ss / (double)(r - 1), min_var(k)) : NAN;
    k->se_factor = r ? 1 / (double)r : NAN;
}

/* ---------------------------------------------------------------- moderation and tests */

/* Moderates the variances of the known keys at[0..g) of one group: each log variance, corrected
 * for its χ² bias, is a draw around the group's; their excess spread over what sampling explains
 * gives the prior's degrees of freedom d0 (none: d0 = ∞, one shared variance), and each key's
 * variance becomes (d0·s0² + d·s²)/(d0 + d) with d0 + d degrees of freedom, capped at the group's
 * total. Fewer than 3 keys: left as they are. */
static void moderate(noise_key *k, const size_t *at, size_t g)
{
    double mean = 0, spread = 0, sampling = 0, total_df = 0;
    for (size_t i = 0; i < g; i++) {
        const noise_key *x = &k[at[i]];
        mean += log(x->var) - digamma(x->df / 2) + log(x->df / 2);
        sampling += trigamma(x->df / 2);
        total_df += x->df;
    }
    for (size_t i = 0; i < g; i++) k[at[i]].var_mod = k[at[i]].var, k[at[i]].df_mod = k[at[i]].df;
    if (g < 3) return;
    mean /= (double)g;
    sampling /= (double)g;
    for (size_t i = 0; i < g; i++) {
        const noise_key *x = &k[at[i]];
        double e = log(x->var) - digamma(x->df / 2) + log(x->df / 2) - mean;
        spread += e * e / (double)(g - 1);
    }
    double excess = spread - sampling, d0 = INFINITY, s0 = exp(mean);
    if (excess > 0) {
        d0 = 2 * trigamma_inverse(excess);
        s0 = exp(mean + digamma(d0 / 2) - log(d0 / 2));
    }
    for (size_t i = 0; i < g; i++) {
        noise_key *x = &k[at[i]];
        x->var_mod = isinf(d0) ? s0 : (d0 * s0 + x->df * x->var) / (d0 + x->df);
        x->df_mod = fmin(d0 + x->df, total_df);
    }
}

/* Moderates every group of known keys; at[] is scratch for n indices. */
static void moderate_groups(noise_key *k, size_t n, size_t *at, char *done)
{
    for (size_t i = 0; i < n; i++) done[i] = !(k[i].df > 0);
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        size_t g = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && (j == i || (k[i].group >= 0 && k[j].group == k[i].group))) {
                at[g++] = j;
                done[j] = 1;
            }
        moderate(k, at, g);
    }
}

/* Adjusts p[0..m) (raw, one direction) in place for the two-stage step-up of Benjamini, Krieger
 * and Yekutieli (2006) at level q, and sets *m0, the number of true nulls it estimated. Stage 1 is Benjamini–Hochberg
 * at q' = q/(1 + q); its r1 discoveries give m0 = m − r1 true nulls (at least 1), and stage 2 is
 * Benjamini–Hochberg at q'·m/m0. Plain BH controls the false-discovery rate at q·m0/m, so when a
 * variant really is slower it spends alpha on keys that are not nulls; estimating m0 gives that
 * back (when a variant's 16 keys of 112 are slower: a cutoff up to 14 % laxer). On an A/A night stage 2 can only
 * pass keys when stage 1 found one, so the chance of a false-alarm night stays at most q' < q
 * (under independence and positive dependence between keys, as for BH). The adjusted p,
 * min(1, p_BH·(1 + q)·m0/m), is at most q exactly when the key passes stage 2. 0, or -1 when
 * out of memory. */
static int adaptive_bh(double *p, size_t m, double q, size_t *m0)
{
    if (stats_bh_adjust(p, m, p)) return -1;
    size_t r1 = 0;
    for (size_t j = 0; j < m; j++) r1 += p[j] <= q / (1 + q);
    *m0 = r1 < m ? m - r1 : 1;
    for (size_t j = 0; j < m; j++) p[j] = fmin(1, p[j] * (1 + q) * (double)*m0 / (double)m);
    return 0;
}

int noise_test(noise_key *k, size_t n, double alpha, double threshold)
{
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    char *done = malloc(n ? n : 1);
    double *p = malloc(2 * (n ? n : 1) * sizeof *p);
    int rc = -1;
    if (!at || !done || !p) goto end;
    moderate_groups(k, n, at, done);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        noise_key *x = &k[i];
        if (!(x->df > 0)) continue;
        x->se = sqrt(x->var_mod * x->se_factor);
        p[m] = stats_t_sf(x->effect / x->se, x->df_mod);
        p[n + m] = stats_t_sf(-x->effect / x->se, x->df_mod);
        x->p_not_slower = stats_t_sf((log1p(threshold) - x->effect) / x->se, x->df_mod);
        at[m++] = i;
    }
    size_t m0, m0_faster;
    if (adaptive_bh(p, m, alpha, &m0) || adaptive_bh(p + n, m, alpha, &m0_faster)) goto end;
    size_t passed = 0;
    for (size_t j = 0; j < m; j++) {
        k[at[j]].p_slower = p[j];
        k[at[j]].p_faster = p[n + j];
        passed += p[j] <= alpha;
    }
    /* The second stage passes exactly the keys whose raw p is at most alpha/(1 + alpha)·passed/m0;
     * with none passed, the first would have needed alpha/(1 + alpha)/m. */
    double cutoff = alpha / (1 + alpha) * (double)(passed ? passed : 1) / (double)m0, df = NAN,
           t = NAN;
    for (size_t j = 0; j < m; j++) { /* a group's keys mostly share their df: one quantile */
        if (k[at[j]].df_mod != df) t = noise_t_upper(cutoff, df = k[at[j]].df_mod);
        k[at[j]].floor = t * k[at[j]].se;
    }
    rc = 0;
end:
    free(at);
    free(done);
    free(p);
    return rc;
}

double noise_spread(const noise_key *k) { return sqrt(k->var_mod / k->unit_runs); }

void noise_interval(const noise_key *k, double level, double *lo, double *hi)
{
    double half = noise_t_upper((1 - level) / 2, k->df_mod) * k->se;
    *lo = k->effect - half;
    *hi = k->effect + half;
}
