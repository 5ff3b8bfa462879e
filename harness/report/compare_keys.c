/* compare_keys.c — the keys of two runs and the state of each (see compare_keys.h). */
#include "report/compare_keys.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The decision rules' fixed numbers (the README's "Regression gate" section explains them). */
#define MIN_SAMPLES 5           /* fewer non-throttled samples on a side: inconclusive */
#define MAX_THROTTLED 0.10      /* a larger share of throttled samples on a side: inconclusive */
#define RESAMPLES 2000          /* bootstrap resamples for the interval of the HL ratio */
#define BOOTSTRAP_SEED 20240601 /* fixed: the same runs always print the same interval */
#define ERR_FLOOR 1e-6          /* error growth below this is rounding, never a regression */

const char *const cmp_state_names[N_STATES] = {"slower", "inconclusive", "missing", "same",
                                               "faster"};

static void copy_text(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static int cmp_point_key(const void *a, const void *b)
{
    const cmp_point *x = a, *y = b;
    int c = strcmp(x->variant, y->variant);
    if (!c) c = strcmp(x->dtype, y->dtype);
    const int xi[] = {x->batch, x->heads, x->kv_heads, x->seq, x->head_dim, x->causal};
    const int yi[] = {y->batch, y->heads, y->kv_heads, y->seq, y->head_dim, y->causal};
    for (int i = 0; !c && i < 6; i++) c = (xi[i] > yi[i]) - (xi[i] < yi[i]);
    if (!c) c = strcmp(x->params, y->params);
    return c;
}

/* Sort by key, then by point id, so that of duplicate keys in a run the newest comes last. */
static int cmp_point_key_id(const void *a, const void *b)
{
    int c = cmp_point_key(a, b);
    if (c) return c;
    int64_t x = ((const cmp_point *)a)->id, y = ((const cmp_point *)b)->id;
    return (x > y) - (x < y);
}

/* The current row of st (load_points' query) into q. */
static void read_point(sqlite3_stmt *st, cmp_point *q)
{
    q->id = sqlite3_column_int64(st, 0);
    copy_text(q->variant, sizeof q->variant, st, 1);
    copy_text(q->dtype, sizeof q->dtype, st, 2);
    copy_text(q->params, sizeof q->params, st, 3);
    copy_text(q->status, sizeof q->status, st, 4);
    copy_text(q->reason, sizeof q->reason, st, 5);
    int *ints[] = {&q->batch, &q->heads, &q->kv_heads, &q->seq, &q->head_dim, &q->causal,
                   &q->exact};
    for (int i = 0; i < 7; i++) *ints[i] = sqlite3_column_int(st, 6 + i);
    q->err = sqlite3_column_type(st, 13) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 13);
}

/* The run's measured points (skipped ones were never measured), sorted by key, one per key (the
 * newest). *out is malloc'd (also after a failure: free it). */
static int load_points(sqlite3 *db, int64_t run, cmp_point **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0, count = 0;
    int rc = ATTN_OK, step;
    *out = NULL;
    *n = 0;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT id, variant, dtype, params, status, coalesce(reason, ''), batch, heads, kv_heads,"
        " seq, head_dim, causal, exact, exact_rel_l2 FROM points"
        " WHERE run_id = ?1 AND status <> 'skipped'", -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, run), rc, end);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            void *more = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof **out);
            if (!more) {
                rc = attn_fail("out of host memory loading points");
                goto end;
            }
            *out = more;
        }
        read_point(st, &(*out)[count++]);
    }
    SQLITE_CHECK_GOTO(db, step, rc, end);
    cmp_point *p = *out;
    if (count) qsort(p, count, sizeof *p, cmp_point_key_id);
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < count && cmp_point_key(&p[i], &p[i + 1]) == 0) continue;
        p[(*n)++] = p[i];
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* The point's samples not flagged throttled into *used (malloc'd; NULL after a failure), and the
 * share flagged. */
static int load_samples(sqlite3 *db, int64_t point, double **used, int *n_used, double *throttled)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, n = 0, all = 0, rc = ATTN_OK, step;
    double *x = NULL;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT ns, throttled FROM samples WHERE point_id = ?1 ORDER BY idx", -1, &st, NULL),
        rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, point), rc, end);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        all++;
        if (sqlite3_column_int(st, 1)) continue;
        if (n == cap) {
            void *more = realloc(x, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *x);
            if (!more) {
                rc = attn_fail("out of host memory loading samples");
                goto end;
            }
            x = more;
        }
        x[n++] = (double)sqlite3_column_int64(st, 0);
    }
    SQLITE_CHECK_GOTO(db, step, rc, end);
    *n_used = n;
    *throttled = all ? (double)(all - n) / all : 0;
end:
    sqlite3_finalize(st);
    if (rc != ATTN_OK) {
        free(x);
        x = NULL;
    }
    *used = x;
    return rc;
}

/* Everything about one key except the adjustment across keys. */
static int evaluate(sqlite3 *db, cmp_key *k, const cmp_rule *o)
{
    if (!k->base || !k->cand) {
        k->state = MISSING;
        k->decided = 1;
        snprintf(k->note, sizeof k->note, "only in the %s", k->base ? "baseline" : "candidate");
        return ATTN_OK;
    }
    const cmp_point *side[2] = {k->base, k->cand};
    const char *names[2] = {"baseline", "candidate"};
    for (int i = 0; i < 2; i++)
        if (strcmp(side[i]->status, "ok") != 0) {
            k->state = INCONCLUSIVE;
            k->decided = 1;
            snprintf(k->note, sizeof k->note, "%s point %s: %s", names[i], side[i]->status,
                     side[i]->reason);
            return ATTN_OK;
        }
    if (!k->cand->exact && o->same_inputs &&
        k->cand->err > k->base->err * (1 + o->err_tolerance) + ERR_FLOOR) {
        k->state = SLOWER;
        k->decided = 1;
        snprintf(k->note, sizeof k->note, "accuracy: error vs exact %.3g -> %.3g (beyond %g%%)",
                 k->base->err, k->cand->err, o->err_tolerance * 100);
    }
    double *x[2] = {NULL, NULL}, throttled[2];
    int n[2], rc = ATTN_OK;
    for (int i = 0; i < 2 && rc == ATTN_OK; i++)
        rc = load_samples(db, side[i]->id, &x[i], &n[i], &throttled[i]);
    if (rc == ATTN_OK) {
        k->n_base = n[0];
        k->n_cand = n[1];
        k->base_ms = stats_median(x[0], (size_t)n[0]) / 1e6;
        k->cand_ms = stats_median(x[1], (size_t)n[1]) / 1e6;
        /* An accuracy regression (decided above) stands whatever the timings say. */
        int i = throttled[0] > MAX_THROTTLED ? 0 : throttled[1] > MAX_THROTTLED ? 1 : -1;
        if (!k->decided && i >= 0) {
            k->state = INCONCLUSIVE;
            k->decided = 1;
            snprintf(k->note, sizeof k->note, "%s: %.0f%% of samples throttled", names[i],
                     throttled[i] * 100);
        } else if (!k->decided && (n[0] < MIN_SAMPLES || n[1] < MIN_SAMPLES)) {
            k->state = INCONCLUSIVE;
            k->decided = 1;
            snprintf(k->note, sizeof k->note, "too few samples (%d, %d; need %d)", n[0], n[1],
                     MIN_SAMPLES);
        }
        if (n[0] >= MIN_SAMPLES && n[1] >= MIN_SAMPLES &&
            stats_compare_pair(x[0], (size_t)n[0], x[1], (size_t)n[1], o->threshold, &k->s) == 0) {
            k->tested = 1;
            stats_ratio_ci(x[0], (size_t)n[0], x[1], (size_t)n[1], RESAMPLES, 0.95,
                           BOOTSTRAP_SEED, &k->ci_lo, &k->ci_hi);
        }
    }
    free(x[0]);
    free(x[1]);
    return rc;
}

/* Benjamini–Hochberg over the tested keys (each direction its own family), then the states of
 * the keys the tests decide. A key decided earlier but with enough samples (throttled, an
 * accuracy regression) still counts in m, so setting keys aside never makes the bar laxer. */
static int decide(cmp_key *keys, size_t n, const cmp_rule *o)
{
    double *p = malloc(2 * (n ? n : 1) * sizeof *p);
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    if (!p || !at) {
        free(p);
        free(at);
        return attn_fail("out of host memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keys[i].tested) {
            at[m] = i;
            p[m] = keys[i].s.p_slower;
            p[n + m] = keys[i].s.p_faster;
            m++;
        }
    int rc = stats_bh_adjust(p, m, p) || stats_bh_adjust(p + n, m, p + n) ? ATTN_ERR : ATTN_OK;
    for (size_t j = 0; rc == ATTN_OK && j < m; j++) {
        cmp_key *k = &keys[at[j]];
        k->p_slower = p[j];
        k->p_faster = p[n + j];
        if (k->decided) continue;
        if (k->p_slower <= o->alpha) k->state = SLOWER;
        else if (k->p_faster <= o->alpha) k->state = FASTER;
        else if (k->s.p_not_slower <= o->alpha) k->state = SAME;
        else {
            k->state = INCONCLUSIVE;
            snprintf(k->note, sizeof k->note, "noisy: a %g%% slowdown is not ruled out",
                     o->threshold * 100);
        }
    }
    free(p);
    free(at);
    return rc == ATTN_OK ? ATTN_OK : attn_fail("out of host memory");
}

static int cmp_worst_first(const void *a, const void *b)
{
    const cmp_key *x = a, *y = b;
    if (x->state != y->state) return (int)x->state - (int)y->state;
    double rx = x->tested ? x->s.hl_ratio : 0, ry = y->tested ? y->s.hl_ratio : 0;
    return (rx < ry) - (rx > ry);
}

/* Pairs the two sorted point lists by key into *keys (malloc'd). */
static int match(const cmp_point *b, size_t nb, const cmp_point *c, size_t nc, cmp_key **keys,
                 size_t *n)
{
    cmp_key *k = calloc(nb + nc + 1, sizeof *k);
    if (!k) return attn_fail("out of host memory");
    size_t i = 0, j = 0, m = 0;
    while (i < nb || j < nc) {
        int order = i == nb ? 1 : j == nc ? -1 : cmp_point_key(&b[i], &c[j]);
        k[m].base = order <= 0 ? &b[i++] : NULL;
        k[m].cand = order >= 0 ? &c[j++] : NULL;
        k[m].ci_lo = k[m].ci_hi = k[m].p_slower = k[m].p_faster = NAN;
        m++;
    }
    *keys = k;
    *n = m;
    return ATTN_OK;
}

const cmp_point *cmp_key_point(const cmp_key *k) { return k->base ? k->base : k->cand; }

int cmp_keys_build(sqlite3 *db, int64_t base_run, int64_t cand_run, const cmp_rule *rule,
                   cmp_keys *k)
{
    memset(k, 0, sizeof *k);
    ATTN_TRY(load_points(db, base_run, &k->base, &k->n_base));
    ATTN_TRY(load_points(db, cand_run, &k->cand, &k->n_cand));
    ATTN_TRY(match(k->base, k->n_base, k->cand, k->n_cand, &k->keys, &k->n));
    for (size_t i = 0; i < k->n; i++) ATTN_TRY(evaluate(db, &k->keys[i], rule));
    ATTN_TRY(decide(k->keys, k->n, rule));
    qsort(k->keys, k->n, sizeof *k->keys, cmp_worst_first);
    return ATTN_OK;
}

void cmp_keys_free(cmp_keys *k)
{
    free(k->keys);
    free(k->base);
    free(k->cand);
    memset(k, 0, sizeof *k);
}
