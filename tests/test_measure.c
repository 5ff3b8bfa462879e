/* test_measure.c — the stop rule and the summary (median, quantiles, CI of the median). */
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
    test_cond("cpu measure runs", attn_measure_cpu(&o, busy, NULL, &cs) == 0);
    test_cond("cpu measure ≥ min samples", cs.n >= o.min_samples && calls == cs.n);
    attn_samples_free(&cs);
    return test_report();
}
