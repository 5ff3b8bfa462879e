/* noise.h — between-run noise: how far a key's median moves from one process to the next, and the
 * test that an effect stands out of it. Within one run the samples of a key agree to ±0.1 %, yet
 * two processes of the same build can differ by several percent (issue 12: fused's placement modes,
 * 8.5 %); a gate that tests only samples within runs calls that a regression. Here the units are
 * runs: a key's per-run log medians (`compare`: the history of the baseline's tag) or the per-round
 * log ratios of an interleaved A/B (`ab`). Each key's own variance estimate is moderated towards
 * its variant's (empirical Bayes, as limma does for few replicates: Smyth 2004), the effect is
 * t-tested against it and adjusted across keys by the two-stage Benjamini–Hochberg procedure
 * (Benjamini, Krieger, Yekutieli 2006: the number of true nulls estimated). Pure computation, no database:
 * compare_keys.c and rounds.c feed it, tests/test_gate_sim.c simulates it. Sized for a comparison:
 * up to thousands of keys, up to NOISE_WINDOW_MAX runs or rounds per key. */
#ifndef ATTN_NOISE_H
#define ATTN_NOISE_H

#include <stddef.h>

/* A key's noise is known from this many history runs on: fewer leave too little to estimate a
 * spread from (4 successive differences already give only 2.9 degrees of freedom). */
#define NOISE_MIN_RUNS 5
/* History runs read per key by default (`compare --noise-window`), and at most. */
#define NOISE_WINDOW 20
#define NOISE_WINDOW_MAX 200
/* With unknown noise, a slowdown smaller than this is inconclusive, not slower: it is above the
 * largest difference measured between processes of one build (fused on the H200, 8.5 %). */
#define NOISE_UNKNOWN_BOUND 0.10
/* Spreads below this are taken as this: a key whose medians repeat to the nanosecond (a timer's
 * granularity, a fixture) would otherwise call any difference infinitely significant. */
#define NOISE_MIN_SPREAD 0.001

/* One key's between-run evidence (inputs) and its test (outputs of noise_test). Logs throughout:
 * an effect of ln 1.05 is 5 % slower. */
typedef struct noise_key {
    int group;        /* keys of one group (a variant) are moderated together; -1: alone */
    double var, df;   /* own estimate of the variance of one unit, its degrees of freedom; df 0:
                       * unknown (the key is left out of the test) */
    int unit_runs;    /* run-level noises in one unit: 1 (a run's median), 2 (a round's ratio) */
    double effect;    /* the shift tested; > 0 is slower */
    double se_factor; /* variance of effect = variance of one unit × se_factor */
    /* outputs */
    double var_mod, df_mod; /* moderated variance of one unit and its degrees of freedom */
    double se;              /* standard error of effect */
    double p_slower;        /* effect > 0: one-sided t test, two-stage Benjamini–Hochberg
                             * adjusted at the test's alpha (<= alpha: passed) */
    double p_faster;        /* effect < 0: the same */
    double p_not_slower;    /* effect < ln(1 + threshold): one-sided, not adjusted */
    double floor;           /* smallest effect called slower here: the t quantile at the
                             * comparison's two-stage cutoff, × se */
} noise_key;

/* What the history of a key says beside its variance. */
typedef struct noise_history {
    int runs;       /* history runs read */
    int steps;      /* change points found in them (stats_change_points, as `history` finds them) */
    int level_runs; /* runs since the newest step: the level is their mean */
    double level;   /* mean of those runs' log medians: what the candidate is compared with */
} noise_history;

/* A key's history: y[0..n) its log medians, oldest first. Splits it at its change points (steps of
 * at least `threshold` that `attnbench history` would report), estimates the variance from the
 * successive differences within the pieces (von Neumann's mean square successive difference, which
 * a step leaves alone yet which sees two alternating modes in full), takes the level as the mean
 * of the newest piece, and sets k->var, k->df, k->unit_runs and k->se_factor (1 + 1/r, the mean
 * of r runs' variance added to the candidate's); the caller sets k->effect = candidate − h->level.
 * With fewer than NOISE_MIN_RUNS runs k->df is 0 (unknown). 0, or -1 when out of memory. */
int noise_from_history(const double *y, size_t n, double threshold, noise_key *k, noise_history *h);

/* An interleaved A/B: d[0..r) the log ratios B/A of each round. Sets k->effect (their mean),
 * k->var (their variance, r − 1 degrees of freedom; 0 df when r < 2), k->unit_runs (2) and
 * k->se_factor (1/r). */
void noise_from_rounds(const double *d, size_t r, noise_key *k);

/* Moderates the known keys' variances within each group and tests every known key: the t tests,
 * two-stage Benjamini–Hochberg at alpha across the known keys for each direction, and the floor. 0, or -1
 * when out of memory. */
int noise_test(noise_key *k, size_t n, double alpha, double threshold);

/* The spread of one run's log median (the standard deviation) that a tested key was judged with. */
double noise_spread(const noise_key *k);

/* Two-sided interval of the effect at `level` (e.g. 0.95) from the t distribution of the test. */
void noise_interval(const noise_key *k, double level, double *lo, double *hi);

/* Upper quantile of Student's t: the t with P(T > t) = p, for p in (0, 1) and df > 0. */
double noise_t_upper(double p, double df);

#endif
