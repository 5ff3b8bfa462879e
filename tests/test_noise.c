/* test_noise.c — report/noise.c: the t quantile against tables; a history's variance from
 * successive differences (a step left out, two alternating modes seen in full), its level after a
 * step (the mean of the runs since it), the unknown case; rounds; the moderation (one shared
 * variance, spread variances, a group too small); the tests' p-values, the two-stage
 * Benjamini–Hochberg (its estimate of the true nulls), the floor and the interval. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/stats.h"
#include "report/noise.h"
#include "test.h"

static int near(double x, double y, double tol) { return fabs(x - y) <= tol; }

static void test_t_quantile(void)
{
    test_cond("t(0.975, 2) = 4.303", near(noise_t_upper(0.025, 2), 4.3027, 1e-3));
    test_cond("t(0.95, 10) = 1.812", near(noise_t_upper(0.05, 10), 1.8125, 1e-3));
    test_cond("t(0.999, 5) = 5.893", near(noise_t_upper(0.001, 5), 5.8934, 1e-3));
    test_cond("t(0.95, 1e6) = z", near(noise_t_upper(0.05, 1e6), 1.6449, 1e-3));
    test_cond("t(0.5) = 0", near(noise_t_upper(0.5, 7), 0, 1e-9));
    test_cond("lower tail by symmetry", near(noise_t_upper(0.975, 2), -4.3027, 1e-3));
    test_cond("fractional df", near(stats_t_sf(noise_t_upper(0.01, 2.5), 2.5), 0.01, 1e-9));
    test_cond("bad p: NaN", isnan(noise_t_upper(0, 3)) && isnan(noise_t_upper(1, 3)));
}

/* A seeded series of n log medians: `mode` alternates two levels `gap` apart (0: one level), a
 * step of `step` from index step_at (n: none), noise sd. */
static void series(double *y, int n, double sd, int step_at, double step, double gap, uint64_t seed)
{
    stats_rng r = {seed};
    for (int i = 0; i < n; i++)
        y[i] =
            13.8 + sd * stats_rng_normal(&r) + (i >= step_at ? step : 0) + (i % 3 == 2 ? gap : 0);
}

static void test_history(void)
{
    double y[200];
    noise_key k;
    noise_history h;
    series(y, 4, 0.01, 4, 0, 0, 1);
    test_cond("4 runs: unknown",
              noise_from_history(y, 4, 0.02, &k, &h) == 0 && k.df == 0 && h.runs == 4);
    series(y, 5, 0.01, 5, 0, 0, 1);
    test_cond("5 runs: known", noise_from_history(y, 5, 0.02, &k, &h) == 0 && k.df > 0);
    test_cond("4 differences: 2.9 df", near(k.df, 32.0 / 11, 1e-9));

    /* σ = 1 % over 200 runs: the estimate is close, the level is the whole series' mean. */
    series(y, 200, 0.01, 200, 0, 0, 2);
    noise_from_history(y, 200, 0.02, &k, &h);
    test_cond("sigma 1%: estimated within 15%", near(sqrt(k.var), 0.01, 0.0015));
    test_cond("no step: the level is over all runs", h.steps == 0 && h.level_runs == 200);
    double mean = 0;
    for (int i = 0; i < 200; i++) mean += y[i] / 200;
    test_cond("the level is the mean", near(h.level, mean, 1e-12));
    test_cond("se factor: 1 + 1/n", near(k.se_factor, 1 + 1.0 / 200, 1e-12));

    /* A +10 % step after 12 of 20 runs: found, left out of the variance, the level after it. */
    series(y, 20, 0.005, 12, log(1.10), 0, 3);
    noise_from_history(y, 20, 0.02, &k, &h);
    test_cond("the step is found", h.steps == 1 && h.level_runs == 8);
    test_cond("the level is the new one", near(h.level, 13.8 + log(1.10), 0.006));
    test_cond("the step is not noise", sqrt(k.var) < 0.008);
    test_cond("8 runs after the step: se factor 1 + 1/8", near(k.se_factor, 1.125, 1e-12));

    /* Two modes 8 % apart (one run in three slow): all of their spread is noise. */
    series(y, 30, 0.002, 30, 0, log(1.08), 4);
    noise_from_history(y, 30, 0.02, &k, &h);
    double mode_sd = log(1.08) * sqrt(2.0 / 9);
    test_cond("two modes: their spread counts", sqrt(k.var) > 0.8 * mode_sd);
    /* ... and the level is between them, where a run lands on average (a median would sit in the
     * fast mode, and a run of the slow one would stand a whole gap above it). */
    test_cond("two modes: the level is their mixture's",
              near(h.level, 13.8 + log(1.08) / 3, 0.003));

    /* Medians that repeat exactly: the spread is the floor, not zero. */
    for (int i = 0; i < 8; i++) y[i] = 13.8;
    noise_from_history(y, 8, 0.02, &k, &h);
    test_cond("identical medians: NOISE_MIN_SPREAD", near(sqrt(k.var), NOISE_MIN_SPREAD, 1e-12));
}

static void test_rounds(void)
{
    noise_key k;
    const double d[3] = {0.05, 0.03, 0.04};
    noise_from_rounds(d, 3, &k);
    test_cond("rounds: mean", near(k.effect, 0.04, 1e-12));
    test_cond("rounds: variance, 2 df", near(k.var, 1e-4, 1e-12) && k.df == 2);
    test_cond("rounds: two runs per unit, se factor 1/3",
              k.unit_runs == 2 && near(k.se_factor, 1.0 / 3, 1e-12));
    noise_from_rounds(d, 1, &k);
    test_cond("one round: unknown", k.df == 0);
}

/* n keys of one group with variances var[i] on df each, and effects. */
static void keys_of(noise_key *k, int n, const double *var, double df, const double *effect)
{
    for (int i = 0; i < n; i++)
        k[i] = (noise_key){.group = 0,
                           .var = var[i],
                           .df = df,
                           .unit_runs = 1,
                           .effect = effect ? effect[i] : 0,
                           .se_factor = 1};
}

static void test_moderation(void)
{
    noise_key k[16];
    double var[16], zero[16] = {0};
    stats_rng r = {5};
    for (int i = 0; i < 16; i++) { /* σ² = 1e-4 estimated on 4 df: σ²·χ²₄/4 */
        double ss = 0;
        for (int j = 0; j < 4; j++) ss += pow(stats_rng_normal(&r), 2);
        var[i] = 1e-4 * ss / 4;
    }
    keys_of(k, 16, var, 4, zero);
    noise_test(k, 16, 0.05, 0.02);
    test_cond("one variance: found",
              near(k[3].var_mod, 1e-4, 3e-5) && near(k[3].var_mod, k[9].var_mod, 1e-5));
    test_cond("... with many more df", k[3].df_mod >= 20);

    /* Variances 100× apart: far more spread than 4 df explain; each key keeps most of its own. */
    for (int i = 0; i < 16; i++) var[i] = i < 8 ? 1e-6 : 1e-4;
    keys_of(k, 16, var, 4, zero);
    noise_test(k, 16, 0.05, 0.02);
    test_cond("spread variances: a finite prior", k[0].df_mod > 4 && k[0].df_mod < 64);
    test_cond("... each moves towards the group", k[0].var_mod > 1e-6 && k[0].var_mod < 1e-5 &&
                                                      k[15].var_mod < 1e-4 && k[15].var_mod > 1e-5);

    keys_of(k, 2, var + 8, 4, zero);
    noise_test(k, 2, 0.05, 0.02);
    test_cond("two keys: left alone", k[0].var_mod == k[0].var && k[0].df_mod == 4);

    k[0] = (noise_key){.group = 0, .var = 1e-4, .df = 4, .unit_runs = 1, .se_factor = 1};
    k[1] = (noise_key){.group = 1, .var = 1e-2, .df = 4, .unit_runs = 1, .se_factor = 1};
    k[2] = (noise_key){.group = 0, .df = 0}; /* unknown: not tested, no group member */
    noise_test(k, 3, 0.05, 0.02);
    test_cond("groups apart", k[0].var_mod == 1e-4 && k[1].var_mod == 1e-2);
}

static void test_tests(void)
{
    noise_key k[16];
    double var[16], effect[16];
    for (int i = 0; i < 16; i++) var[i] = 1e-4, effect[i] = 0.001 * (i - 8);
    effect[15] = log(1.10); /* 10 σ */
    keys_of(k, 16, var, 19, effect);
    noise_test(k, 16, 0.05, 0.02);
    test_cond("+10% at sigma 1%: slower", k[15].p_slower < 1e-6);
    test_cond("small effects are not", k[3].p_slower > 0.5);
    test_cond("p_faster mirrors", k[0].p_faster > 0.05 && k[15].p_faster > 0.9);
    test_cond("p_not_slower: 2% ruled out for 0", k[8].p_not_slower < 0.05);
    /* One key passed stage 1 (so 15 true nulls are estimated) and stage 2: its floor is the t
     * quantile at alpha/(1 + alpha)·1/15. */
    double t = noise_t_upper(0.05 / 1.05 / 15, k[15].df_mod);
    test_cond("floor at the two-stage cutoff",
              near(k[15].floor, t * k[15].se, 1e-12) && near(k[0].floor, k[15].floor, 1e-12));
    test_cond("spread: sqrt of the moderated variance", near(noise_spread(&k[0]), 0.01, 0.002));
    double lo, hi;
    noise_interval(&k[15], 0.95, &lo, &hi);
    test_cond("interval around the effect",
              lo < log(1.10) && hi > log(1.10) && near(hi - log(1.10), log(1.10) - lo, 1e-12));
    k[1].df = 0;
    noise_test(k, 16, 0.05, 0.02);
    test_cond("an unknown key is left out", k[15].p_slower < 1e-6);
}

/* The two-stage step-up against Benjamini–Hochberg computed here from the raw p-values. */
static void test_two_stage(void)
{
    noise_key k[16];
    double var[16], effect[16], raw[16], bh[16];
    for (int i = 0; i < 16; i++) var[i] = 1e-4, effect[i] = i < 6 ? 0.045 : 0.001 * (i - 10);
    effect[6] = 0.02; /* 2 se: BH at 0.05 misses it; with 6 of 16 slower, the two stages pass it */
    keys_of(k, 16, var, 200, effect);
    noise_test(k, 16, 0.05, 0.02);
    for (int i = 0; i < 16; i++) raw[i] = stats_t_sf(effect[i] / k[i].se, k[i].df_mod);
    stats_bh_adjust(raw, 16, bh);
    int r1 = 0, ok = 1;
    for (int i = 0; i < 16; i++) r1 += bh[i] <= 0.05 / 1.05;
    for (int i = 0; i < 16; i++)
        ok &= near(k[i].p_slower, fmin(1, bh[i] * 1.05 * (16 - r1) / 16), 1e-12);
    test_cond("stage 1 finds the 6 slower keys", r1 == 6);
    test_cond("adjusted p: BH's × (1 + alpha)·m0/m", ok);
    test_cond("a key BH misses passes stage 2", bh[6] > 0.05 && k[6].p_slower <= 0.05);
    test_cond("the null keys do not", k[7].p_slower > 0.05 && k[15].p_slower > 0.05);

    /* No effect anywhere: stage 1 finds nothing, so stage 2 is BH at alpha/(1 + alpha). */
    for (int i = 0; i < 16; i++) effect[i] = 0.01 * (i - 8) / 8;
    keys_of(k, 16, var, 200, effect);
    noise_test(k, 16, 0.05, 0.02);
    for (int i = 0; i < 16; i++) raw[i] = stats_t_sf(effect[i] / k[i].se, k[i].df_mod);
    stats_bh_adjust(raw, 16, bh);
    test_cond("A/A: BH at alpha/(1 + alpha)", near(k[15].p_slower, fmin(1, bh[15] * 1.05), 1e-12));
}

int main(void)
{
    test_t_quantile();
    test_history();
    test_rounds();
    test_moderation();
    test_tests();
    test_two_stage();
    return test_report();
}
