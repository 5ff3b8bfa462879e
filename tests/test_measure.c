/* test_measure.c — the stop rule, placement rounds and the summary (median, quantiles, CI of the
 * median). */
#include <math.h>
#include <stdlib.h>

#include "measure/measure.h"
#include "core/stats.h"
#include "test.h"

static int calls;
static int busy(void *ctx)
{
    (void)ctx;
    calls++;
    return 0;
}

/* Records the rounds it is called before, in order. */
static int moves[8], n_moves;
static int move(void *ctx, int round)
{
    (void)ctx;
    if (n_moves < 8) moves[n_moves] = round;
    n_moves++;
    return 0;
}

/* Placement rounds on the CPU clock: the floor, cap and time split per round, each sample's
 * round recorded, the move called before each round after the first. */
static void placement_rounds(void)
{
    attn_measure_opts o;
    attn_measure_defaults(&o);
    o.placements = 4, o.min_samples = 10, o.max_samples = 1000, o.max_time = 0.2;
    const attn_measure_opts per = attn_measure_round_opts(&o);
    test_cond("a round's floor is ceil(min / N)", per.min_samples == 3);
    test_cond("a round's cap is ceil(max / N)", per.max_samples == 250);
    test_cond("a round's time is max_time / N", fabs(per.max_time - 0.05) < 1e-12);
    attn_samples cs = {0};
    attn_profile pr = {0};
    test_cond("4 rounds run", attn_measure_cpu(&o, busy, move, NULL, &cs, &pr) == 0);
    int per_round[4] = {0}, ordered = 1;
    for (int i = 0; i < cs.n; i++) {
        const int r = pr.info[i].placement;
        if (r < 0 || r > 3 || (i && r < pr.info[i - 1].placement)) ordered = 0;
        else
            per_round[r]++;
    }
    test_cond("every sample has its round, in order", ordered);
    test_cond("every round has at least ceil(10 / 4) samples",
              per_round[0] >= 3 && per_round[1] >= 3 && per_round[2] >= 3 && per_round[3] >= 3);
    test_cond("each round stops at its own cap", per_round[0] <= 250 && cs.n <= 1000);
    test_cond("moved before rounds 1, 2, 3",
              n_moves == 3 && moves[0] == 1 && moves[1] == 2 && moves[2] == 3);
    attn_samples_free(&cs);
    attn_profile_free(&pr);
    attn_measure_defaults(&o);
    test_cond("one placement by default: one round, the options as they are",
              o.placements == 1 && attn_measure_round_opts(&o).min_samples == o.min_samples &&
                  attn_measure_round_opts(&o).max_time == o.max_time);
}

int main(void)
{
    double x[] = {5, 1, 4, 2, 3};
    test_cond("median odd", stats_median(x, 5) == 3);
    test_cond("median even", stats_median(x, 4) == 3);
    double s[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    test_cond("p10 type 7", fabs(stats_quantile_sorted(s, 10, 0.1) - 1.9) < 1e-12);
    test_cond("z(0.95)", fabs(stats_z(0.95) - 1.959964) < 1e-5);
    double lo, hi;
    stats_median_ci_sorted(s, 10, 0.95, &lo, &hi);
    test_cond("CI brackets the median", lo <= 5.5 && hi >= 5.5 && lo >= 1 && hi <= 10);

    attn_measure_opts o;
    attn_measure_defaults(&o);
    attn_samples sm = {0};
    int64_t tight[40];
    for (int i = 0; i < 40; i++) tight[i] = 1000000 + (i % 5) * 100; /* ±0.02 % */
    sm.ns = tight, sm.n = 5, sm.cap = 40;
    uint8_t thr[40] = {0};
    sm.throttled = thr;
    test_cond("below min samples: go on", !attn_measure_done(&o, &sm, 0.1));
    test_cond("below min samples: go on past max time", !attn_measure_done(&o, &sm, 5));
    sm.n = 10;
    test_cond("tight CI at min samples: stop", attn_measure_done(&o, &sm, 0.1));
    int64_t noisy[40];
    for (int i = 0; i < 40; i++) noisy[i] = 1000000 + (i * 7919 % 40) * 20000; /* ±40 % */
    sm.ns = noisy;
    test_cond("noisy: go on", !attn_measure_done(&o, &sm, 0.1));
    test_cond("time budget spent: stop", attn_measure_done(&o, &sm, 2.5));
    o.max_samples = 10;
    test_cond("sample budget spent: stop", attn_measure_done(&o, &sm, 0.1));

    /* The summary ignores throttled samples. */
    int64_t v[6] = {10, 20, 30, 40, 50, 1000};
    uint8_t t[6] = {0, 0, 0, 0, 0, 1};
    attn_samples ss = {v, t, 6, 6};
    attn_timing st;
    attn_summarize(&ss, &st);
    test_cond("summary counts", st.n_samples == 6 && st.n_used == 5);
    test_cond("summary median", st.median == 30);
    test_cond("summary ignores throttled", st.p90 < 1000);

    attn_measure_defaults(&o);
    o.max_time = 0.05;
    attn_samples cs = {0};
    test_cond("cpu measure runs", attn_measure_cpu(&o, busy, NULL, NULL, &cs, NULL) == 0);
    test_cond("cpu measure ≥ min samples", cs.n >= o.min_samples && calls == cs.n);
    attn_samples_free(&cs);
    placement_rounds();
    return test_report();
}
