/* test_stats.c — the statistics of the regression gate: distributions, the rank test (exact and
 * approximate), the Hodges–Lehmann estimate and its bootstrap interval, Benjamini–Hochberg, the
 * change-point search, and the gate's validation on simulated timings (A/A false alarms, power at
 * +5 %, the detection rate at +2 % printed). Everything is seeded: the same binary prints the same
 * numbers. Runs in about a second. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/stats.h"
#include "test.h"

#define CV 0.02     /* coefficient of variation of the simulated timings */
#define N_KEYS 1000 /* keys per simulated comparison */
#define N_SAMPLES 20
#define ALPHA 0.05
#define THRESHOLD 0.02

/* n lognormal timings around `median` ns with coefficient of variation CV. */
static void lognormal(stats_rng *r, double median, double *out, size_t n)
{
    double sigma = sqrt(log1p(CV * CV));
    for (size_t i = 0; i < n; i++) out[i] = median * exp(sigma * stats_rng_normal(r));
}

static void test_distributions(void)
{
    test_cond("normal tail at 1.96", fabs(stats_normal_sf(1.959963985) - 0.025) < 1e-9);
    test_cond("z for 95%", fabs(stats_z(0.95) - 1.959963985) < 1e-6);
    /* t with 1 df is Cauchy: P(T > 1) = 1/4; with 10 df, P(T > 2.228139) = 0.025 (tables). */
    test_cond("t tail, 1 df", fabs(stats_t_sf(1, 1) - 0.25) < 1e-9);
    test_cond("t tail, 10 df", fabs(stats_t_sf(2.228139, 10) - 0.025) < 1e-6);
    test_cond("t tail, negative t", fabs(stats_t_sf(-2.228139, 10) - 0.975) < 1e-6);
    test_cond("t tail far out", stats_t_sf(40, 30) < 1e-25 && stats_t_sf(40, 30) > 0);
}

static void test_rng(void)
{
    stats_rng a = {42}, b = {42};
    int same = 1, in_range = 1;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 1000; i++) same &= stats_rng_next(&a) == stats_rng_next(&b);
    for (int i = 0; i < 100000; i++) {
        in_range &= stats_rng_below(&a, 7) < 7;
        double z = stats_rng_normal(&b);
        sum += z;
        sum2 += z * z;
    }
    test_cond("rng: same seed, same stream", same);
    test_cond("rng: below(n) < n", in_range);
    test_cond("rng: normal mean ~0, variance ~1",
              fabs(sum / 1e5) < 0.02 && fabs(sum2 / 1e5 - 1) < 0.02);
}

static void test_mwu(void)
{
    double x[] = {1, 2, 3}, y[] = {4, 5, 6};
    /* Complete separation of 3 vs 3: one arrangement of C(6,3) = 20. */
    test_cond("mwu exact, separated", fabs(stats_mwu_greater(x, 3, y, 3, 0) - 0.05) < 1e-12);
    test_cond("mwu exact, reversed", fabs(stats_mwu_greater(y, 3, x, 3, 0) - 1) < 1e-12);
    /* Shifting y down by 2.5 interleaves them as 1 1.5 2 2.5 3 3.5: U = 1 + 2 + 3 = 6, and
     * P(U ≥ 6) = 7/20 (counts of U = 0..9 for 3 vs 3: 1 1 2 3 3 3 3 2 1 1). */
    test_cond("mwu exact, shift", fabs(stats_mwu_greater(x, 3, y, 3, 2.5) - 0.35) < 1e-12);

    /* Exact tails from the textbook recursion f(n,m,u) = f(n−1,m,u−m) + f(n,m−1,u) (computed
     * independently): 30 vs 30, P(U ≥ 600) = 0.013165980151; 7 vs 12, P(U ≥ 60) = 0.071108200365.
     * x = 0, 1, …; each y just above k of them, so that U = Σ k. */
    double a[30], b[30], c7[7], d12[12];
    for (int i = 0; i < 30; i++) {
        a[i] = i;
        b[i] = 19.5 + i * 1e-3; /* above 20 of a: U = 600 */
    }
    for (int i = 0; i < 7; i++) c7[i] = i;
    for (int i = 0; i < 12; i++) d12[i] = 4.5 + i * 1e-3; /* above 5 of c7: U = 60 */
    double exact = stats_mwu_greater(a, 30, b, 30, 0);
    test_cond("mwu exact 30 vs 30", fabs(exact - 0.013165980151) < 1e-10);
    test_cond("mwu exact 7 vs 12", fabs(stats_mwu_greater(c7, 7, d12, 12, 0) - 0.071108200365) < 1e-10);
    /* A tie inside x leaves U at 600 but forces the normal approximation. */
    a[1] = a[0];
    double approx = stats_mwu_greater(a, 30, b, 30, 0);
    printf("mwu 30 vs 30, U = 600: exact p %.5f, normal approximation %.5f\n", exact, approx);
    test_cond("mwu normal approximation near exact", fabs(exact - approx) < 0.002);

    /* Tie correction: all values equal gives no evidence. */
    double c[5] = {3, 3, 3, 3, 3};
    test_cond("mwu all tied", stats_mwu_greater(c, 5, c, 5, 0) == 1);
    /* Large samples (approximation path) have the right size: p ≈ uniform under H0. */
    stats_rng r = {7};
    int small = 0;
    for (int k = 0; k < 400; k++) {
        double u[60], v[60];
        for (int i = 0; i < 60; i++) {
            u[i] = stats_rng_normal(&r);
            v[i] = stats_rng_normal(&r);
        }
        small += stats_mwu_greater(u, 60, v, 60, 0) < 0.05;
    }
    test_cond("mwu approximation: size near 5% under H0", small >= 8 && small <= 35);
}

static void test_hl(void)
{
    double x[] = {1, 2, 3}, y[] = {2, 4, 10};
    /* Differences y − x: 1 0 -1 3 2 1 9 8 7 → sorted -1 0 1 1 2 3 7 8 9, median 2. */
    test_cond("hl odd", fabs(stats_hl_shift(x, 3, y, 3) - 2) < 1e-9);
    double y2[] = {2, 4};
    /* y2 − x: 1 0 -1 3 2 1 → -1 0 1 1 2 3, median (1 + 1)/2 = 1. */
    test_cond("hl even", fabs(stats_hl_shift(x, 3, y2, 2) - 1) < 1e-9);
    double y3[] = {5, 7};
    /* y3 − x: 4 3 2 6 5 4 → 2 3 4 4 5 6, median 4. */
    test_cond("hl even, distinct", fabs(stats_hl_shift(x, 3, y3, 2) - 4) < 1e-9);

    stats_rng r = {11};
    double a[40], b[40];
    for (int i = 0; i < 40; i++) {
        a[i] = stats_rng_normal(&r);
        b[i] = stats_rng_normal(&r) + 1;
    }
    double lo, hi, lo2, hi2;
    stats_hl_bootstrap(a, 40, b, 40, 2000, 0.95, 99, &lo, &hi);
    stats_hl_bootstrap(a, 40, b, 40, 2000, 0.95, 99, &lo2, &hi2);
    double hl = stats_hl_shift(a, 40, b, 40);
    test_cond("bootstrap reproducible with a fixed seed", lo == lo2 && hi == hi2);
    test_cond("bootstrap interval holds the estimate", lo < hl && hl < hi);
    /* SE of the shift ≈ √(2/40) ≈ 0.22: the 95% interval is ≈ ±0.45 wide. */
    test_cond("bootstrap interval width plausible", hi - lo > 0.5 && hi - lo < 1.3);
}

static void test_bh(void)
{
    /* Benjamini & Hochberg's textbook case: p sorted, m = 5, q = 0.05 → thresholds 0.01 0.02 0.03
     * 0.04 0.05; the largest k with p_(k) ≤ qk/m is 3. */
    double p[] = {0.03, 0.001, 0.5, 0.025, 0.045}, adj[5];
    test_cond("bh runs", stats_bh_adjust(p, 5, adj) == 0);
    int rejected = 0;
    for (int i = 0; i < 5; i++) rejected += adj[i] <= 0.05;
    test_cond("bh rejects 0.001, 0.025, 0.03", rejected == 3 && adj[2] > 0.05 && adj[4] > 0.05);
    /* adj(0.025) = min(0.025·5/2, 0.03·5/3, 0.045·5/4, 0.5) = 0.05. */
    test_cond("bh adjusted values", fabs(adj[1] - 0.005) < 1e-12 && fabs(adj[3] - 0.05) < 1e-12);
    test_cond("bh monotone", adj[1] <= adj[3] && adj[3] <= adj[0] && adj[0] <= adj[4]);
}

/* One simulated comparison of N_KEYS keys, the candidate of the first n_scaled keys scaled by
 * `factor`: how many of those keys the rank test flags slower at ALPHA before and after
 * Benjamini–Hochberg (*false_bh: flags among the other keys). */
static void simulate(uint64_t seed, double factor, int n_scaled, int *raw, int *after_bh,
                     int *false_bh)
{
    static double p[N_KEYS];
    stats_rng r = {seed};
    *raw = *after_bh = *false_bh = 0;
    for (int k = 0; k < N_KEYS; k++) {
        double base[N_SAMPLES], cand[N_SAMPLES];
        double median = 1e4 * exp(3 * stats_rng_uniform(&r)); /* 10 µs .. 200 µs keys */
        lognormal(&r, median, base, N_SAMPLES);
        lognormal(&r, median * (k < n_scaled ? factor : 1), cand, N_SAMPLES);
        stats_pair s;
        if (stats_compare_pair(base, N_SAMPLES, cand, N_SAMPLES, THRESHOLD, &s) != 0) s.p_slower = 1;
        p[k] = s.p_slower;
        *raw += p[k] <= ALPHA;
    }
    stats_bh_adjust(p, N_KEYS, p);
    for (int k = 0; k < N_KEYS; k++) {
        if (k < n_scaled) *after_bh += p[k] <= ALPHA;
        else *false_bh += p[k] <= ALPHA;
    }
}

static void test_validation(void)
{
    int worst_raw = 0, worst_bh = 0, unused;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        int raw, bh;
        simulate(seed, 1.0, N_KEYS, &raw, &bh, &unused);
        if (raw > worst_raw) worst_raw = raw;
        if (bh > worst_bh) worst_bh = bh;
    }
    printf("A/A, %d keys × 5 seeds, CV %.0f%%, %d samples/side: at most %d flagged slower before "
           "BH (%.2f%%), at most %d after\n",
           N_KEYS, CV * 100, N_SAMPLES, worst_raw, 100.0 * worst_raw / N_KEYS, worst_bh);
    test_cond("A/A: <= 1% flagged before correction", worst_raw <= N_KEYS / 100);
    test_cond("A/A: <= 1 flag after BH", worst_bh <= 1);

    int min_bh = N_KEYS;
    for (uint64_t seed = 11; seed <= 13; seed++) {
        int raw, bh;
        simulate(seed, 1.05, N_KEYS, &raw, &bh, &unused);
        if (bh < min_bh) min_bh = bh;
    }
    printf("power at x1.05: at least %.1f%% of keys flagged slower after BH\n", 100.0 * min_bh / N_KEYS);
    test_cond("power: >= 95% flagged at x1.05", min_bh >= N_KEYS * 95 / 100);

    int raw, bh, false_bh;
    simulate(21, 1.02, N_KEYS, &raw, &bh, &unused);
    printf("rate at x1.02 (= the threshold, so about alpha by design): %.1f%% before BH, %.1f%% "
           "after\n", 100.0 * raw / N_KEYS, 100.0 * bh / N_KEYS);
    /* The realistic night: few keys regress, so BH's bar is near α·k/m and power is lower. */
    simulate(31, 1.05, 50, &raw, &bh, &false_bh);
    printf("50 of %d keys at x1.05: %d flagged before BH, %d after; %d other keys flagged\n",
           N_KEYS, raw, bh, false_bh);
}

static void test_change_points(void)
{
    stats_rng r = {5};
    double y[40];
    stats_step steps[8];
    /* +5 % from night 20 of 40, 1 % night-to-night noise. */
    for (int t = 0; t < 40; t++) y[t] = log(1e5 * (t >= 20 ? 1.05 : 1)) + 0.01 * stats_rng_normal(&r);
    int n = stats_change_points(y, 40, 7, 3, 0.001, 0.02, steps, 8);
    test_cond("step found once", n == 1);
    test_cond("step found at night 20", n >= 1 && steps[0].at == 20);
    test_cond("step magnitude ~5%", n >= 1 && fabs(steps[0].ratio - 1.05) < 0.015);

    /* The same step as the newest 3 nights: the earliest it can be confirmed. */
    n = stats_change_points(y, 23, 7, 3, 0.001, 0.02, steps, 8);
    test_cond("step confirmed after 3 nights", n == 1 && steps[0].at == 20);
    n = stats_change_points(y, 22, 7, 3, 0.001, 0.02, steps, 8);
    test_cond("step not called after 2 nights", n == 0);

    /* One-night spikes (+30 %) anywhere, the newest night included, are never steps. */
    int spikes = 0;
    for (int at = 0; at < 40; at++) {
        double z[40];
        for (int t = 0; t < 40; t++) z[t] = log(1e5) + 0.01 * stats_rng_normal(&r);
        z[at] += log(1.3);
        spikes += stats_change_points(z, 40, 7, 3, 0.001, 0.02, steps, 8);
    }
    test_cond("no spike is a step", spikes == 0);

    /* A step below the minimum magnitude (+1 %, significant) is not reported. */
    for (int t = 0; t < 40; t++) y[t] = log(1e5 * (t >= 20 ? 1.01 : 1)) + 0.001 * stats_rng_normal(&r);
    test_cond("small step ignored", stats_change_points(y, 40, 7, 3, 0.001, 0.02, steps, 8) == 0);
}

int main(void)
{
    test_distributions();
    test_rng();
    test_mwu();
    test_hl();
    test_bh();
    test_validation();
    test_change_points();
    return test_report();
}
