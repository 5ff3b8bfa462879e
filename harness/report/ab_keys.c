/* ab_keys.c — the keys of an interleaved A/B and their states (see ab_keys.h). */
#include "report/ab_keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/stats.h"

static const char side_name[2] = {'A', 'B'};

static int cmp_point_key_ptr(const void *a, const void *b)
{
    return cmp_point_key(*(const cmp_point *const *)a, *(const cmp_point *const *)b);
}

/* Every distinct key of all runs (pointers into their points, sorted by key) into *out. */
static int union_of_keys(const ab_keys *k, const cmp_point ***out, size_t *n)
{
    size_t total = 0;
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < k->rounds; r++) total += k->n_points[s][r];
    const cmp_point **all = malloc((total ? total : 1) * sizeof *all);
    if (!all) return attn_fail("out of host memory");
    size_t m = 0;
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < k->rounds; r++)
            for (size_t i = 0; i < k->n_points[s][r]; i++) all[m++] = &k->points[s][r][i];
    qsort(all, m, sizeof *all, cmp_point_key_ptr);
    size_t kept = 0;
    for (size_t i = 0; i < m; i++)
        if (!kept || cmp_point_key(all[kept - 1], all[i]) != 0) all[kept++] = all[i];
    *out = all;
    *n = kept;
    return ATTN_OK;
}

/* The point of `key` in one run's sorted points, or NULL. */
static const cmp_point *find(const cmp_point *points, size_t n, const cmp_point *key)
{
    return bsearch(key, points, n, sizeof *points, cmp_point_key);
}

/* Why a present, ok point cannot be a unit: too many throttled, too few samples, no median. */
static int unusable(const cmp_point *p, char *why, size_t n)
{
    double throttled = cmp_point_throttled(p);
    if (throttled > CMP_MAX_THROTTLED)
        snprintf(why, n, "%.0f%% of samples throttled", throttled * 100);
    else if (p->n_used < CMP_MIN_SAMPLES)
        snprintf(why, n, "too few samples (%d; need %d)", p->n_used, CMP_MIN_SAMPLES);
    else if (!(p->median_ns > 0))
        snprintf(why, n, "no median");
    else
        return 0;
    return 1;
}

/* One key across the rounds: missing, or inconclusive for the first round that cannot count, or
 * its per-round log ratios into d[] (k->rounds). at[s][r] are its points. */
static void evaluate(cmp_key *k, const cmp_point *at[2][AB_ROUNDS_MAX], int rounds, double *d,
                     const cmp_rule *o)
{
    int present[2] = {0, 0};
    const cmp_point *first[2] = {NULL, NULL}; /* names the key on each side */
    for (int s = 0; s < 2; s++)
        for (int r = rounds - 1; r >= 0; r--)
            if (at[s][r]) present[s]++, first[s] = at[s][r];
    k->base = first[0];
    k->cand = first[1];
    k->decided = 1;
    if (!present[0] || !present[1]) {
        k->state = MISSING;
        snprintf(k->note, sizeof k->note, "only in %c", present[0] ? 'A' : 'B');
        return;
    }
    k->state = INCONCLUSIVE;
    char why[240]; /* a status and its reason */
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < 2; s++) {
            const cmp_point *p = at[s][r];
            if (!p) snprintf(why, sizeof why, "not measured");
            else if (strcmp(p->status, "ok") != 0)
                snprintf(why, sizeof why, "%s: %s", p->status, p->reason);
            else if (!unusable(p, why, sizeof why))
                continue;
            snprintf(k->note, sizeof k->note, "round %d %c: %.200s", r + 1, side_name[s], why);
            return;
        }
    k->decided = 0;
    cmp_key_accuracy(k, o);
    double med[2][AB_ROUNDS_MAX];
    for (int r = 0; r < rounds; r++) {
        med[0][r] = at[0][r]->median_ns;
        med[1][r] = at[1][r]->median_ns;
        d[r] = log(med[1][r]) - log(med[0][r]);
    }
    k->rounds = d;
    k->n_rounds = rounds;
    k->n_base = k->base->n_used;
    k->n_cand = k->cand->n_used;
    k->base_ms = stats_median(med[0], (size_t)rounds) / 1e6;
    k->cand_ms = stats_median(med[1], (size_t)rounds) / 1e6;
}

/* One-sample Hodges–Lehmann estimate: the median of the Walsh averages (d_i + d_j)/2, i <= j. */
static double walsh_median(const double *d, int n)
{
    double *w = malloc((size_t)n * (size_t)(n + 1) / 2 * sizeof *w);
    if (!w) return NAN;
    size_t m = 0;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) w[m++] = (d[i] + d[j]) / 2;
    double hl = stats_median(w, m);
    free(w);
    return hl;
}

/* The columns a decided key prints: ratio, HL ratio, the t interval. */
static void effects(cmp_key *k)
{
    if (!(k->run.df > 0)) return;
    double lo, hi;
    noise_interval(&k->run, 0.95, &lo, &hi);
    k->s.ratio = exp(k->run.effect);
    k->s.hl_ratio = exp(walsh_median(k->rounds, k->n_rounds));
    k->ci_lo = exp(lo);
    k->ci_hi = exp(hi);
}

int ab_keys_build(sqlite3 *db, const int64_t *a, const int64_t *b, int rounds, const cmp_rule *rule,
                  ab_keys *k)
{
    memset(k, 0, sizeof *k);
    if (rounds < 2 || rounds > AB_ROUNDS_MAX)
        return attn_fail("an A/B needs 2 to %d rounds, not %d", AB_ROUNDS_MAX, rounds);
    k->rounds = rounds;
    for (int r = 0; r < rounds; r++) {
        ATTN_TRY(cmp_load_points(db, a[r], &k->points[0][r], &k->n_points[0][r]));
        ATTN_TRY(cmp_load_points(db, b[r], &k->points[1][r], &k->n_points[1][r]));
    }
    const cmp_point **names = NULL;
    ATTN_TRY(union_of_keys(k, &names, &k->n));
    k->keys = calloc(k->n ? k->n : 1, sizeof *k->keys);
    k->ratios = malloc((k->n ? k->n : 1) * (size_t)rounds * sizeof *k->ratios);
    if (!k->keys || !k->ratios) {
        free(names);
        return attn_fail("out of host memory");
    }
    for (size_t i = 0; i < k->n; i++) {
        const cmp_point *at[2][AB_ROUNDS_MAX];
        for (int s = 0; s < 2; s++)
            for (int r = 0; r < rounds; r++)
                at[s][r] = find(k->points[s][r], k->n_points[s][r], names[i]);
        cmp_key *key = &k->keys[i];
        key->ci_lo = key->ci_hi = key->p_slower = key->p_faster = NAN;
        evaluate(key, at, rounds, k->ratios + i * (size_t)rounds, rule);
    }
    free(names);
    ATTN_TRY(cmp_keys_decide(k->keys, k->n, rule));
    for (size_t i = 0; i < k->n; i++) effects(&k->keys[i]);
    cmp_keys_sort(k->keys, k->n);
    return ATTN_OK;
}

void ab_keys_free(ab_keys *k)
{
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < k->rounds; r++) free(k->points[s][r]);
    free(k->ratios);
    free(k->keys);
    memset(k, 0, sizeof *k);
}
