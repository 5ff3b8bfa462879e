/* compare_keys.c — the keys of two runs and the state of each (see compare_keys.h): points,
 * samples and histories read from the database, then the decision, which reads nothing. */
#include "report/compare_keys.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The decision rules' fixed numbers (the README's "Regression gate" section explains them). */
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

int cmp_point_key(const void *a, const void *b)
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

/* Sort by key, then by point id (the order points were stored in), so that of duplicate keys the
 * newest comes last and a key's points across runs come oldest first. */
static int cmp_point_key_id(const void *a, const void *b)
{
    int c = cmp_point_key(a, b);
    if (c) return c;
    int64_t x = ((const cmp_point *)a)->id, y = ((const cmp_point *)b)->id;
    return (x > y) - (x < y);
}

/* A numeric macro as SQL text (a literal: a named parameter here would take the number of the
 * queries' own ?1). */
#define SQL_NUMBER_(x) #x
#define SQL_NUMBER(x) SQL_NUMBER_(x)

/* The columns read_point reads, in its order (the last: n_slowed). */
#define POINT_COLUMNS                                                                      \
    "id, run_id, variant, dtype, params, status, coalesce(reason, ''), batch, heads, kv_heads," \
    " seq, head_dim, causal, exact, n_samples, n_used, median_ns, exact_rel_l2,"                \
    " (SELECT count(*) FROM samples s WHERE s.point_id = points.id AND s.throttled"             \
    "   AND s.ns > points.median_ns * (1 + " SQL_NUMBER(CMP_THROTTLE_SLOWDOWN) "))"

/* The current row of a POINT_COLUMNS query into q. */
static void read_point(sqlite3_stmt *st, cmp_point *q)
{
    q->id = sqlite3_column_int64(st, 0);
    q->run_id = sqlite3_column_int64(st, 1);
    copy_text(q->variant, sizeof q->variant, st, 2);
    copy_text(q->dtype, sizeof q->dtype, st, 3);
    copy_text(q->params, sizeof q->params, st, 4);
    copy_text(q->status, sizeof q->status, st, 5);
    copy_text(q->reason, sizeof q->reason, st, 6);
    int *ints[] = {&q->batch, &q->heads,  &q->kv_heads,  &q->seq,   &q->head_dim,
                   &q->causal, &q->exact, &q->n_samples, &q->n_used};
    for (int i = 0; i < 9; i++) *ints[i] = sqlite3_column_int(st, 7 + i);
    q->median_ns = sqlite3_column_type(st, 16) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 16);
    q->err = sqlite3_column_type(st, 17) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 17);
    q->n_slowed = sqlite3_column_int(st, 18);
}

double cmp_point_throttled(const cmp_point *p)
{
    return p->n_samples ? (double)p->n_slowed / p->n_samples : 0;
}

/* Every row of a prepared POINT_COLUMNS query into *out (malloc'd, also after a failure), sorted
 * by key and id. */
static int read_points(sqlite3 *db, sqlite3_stmt *st, cmp_point **out, size_t *n)
{
    size_t cap = 0;
    int step;
    *out = NULL;
    *n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            void *more = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof **out);
            if (!more) return attn_fail("out of host memory loading points");
            *out = more;
        }
        read_point(st, &(*out)[(*n)++]);
    }
    SQLITE_CHECK(db, step);
    if (*n) qsort(*out, *n, sizeof **out, cmp_point_key_id);
    return ATTN_OK;
}

int cmp_load_points(sqlite3 *db, int64_t run, cmp_point **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    size_t count = 0;
    *out = NULL;
    *n = 0;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT " POINT_COLUMNS " FROM points WHERE run_id = ?1 AND status <> 'skipped'", -1, &st,
        NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, run), rc, end);
    ATTN_TRY_GOTO(read_points(db, st, out, &count), rc, end);
    cmp_point *p = *out;
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < count && cmp_point_key(&p[i], &p[i + 1]) == 0) continue;
        p[(*n)++] = p[i];
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* The point's samples not flagged throttled into *used (malloc'd; NULL after a failure). */
static int load_samples(sqlite3 *db, int64_t point, double **used, int *n_used)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, n = 0, rc = ATTN_OK, step;
    double *x = NULL;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT ns, throttled FROM samples WHERE point_id = ?1 ORDER BY idx", -1, &st, NULL),
        rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, point), rc, end);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
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
end:
    sqlite3_finalize(st);
    if (rc != ATTN_OK) {
        free(x);
        x = NULL;
    }
    *used = x;
    return rc;
}

/* ---------------------------------------------------------------- one key's evidence */

void cmp_key_accuracy(cmp_key *k, const cmp_rule *o)
{
    if (k->cand->exact || !o->same_inputs ||
        !(k->cand->err > k->base->err * (1 + o->err_tolerance) + ERR_FLOOR))
        return;
    k->state = SLOWER;
    k->decided = 1;
    snprintf(k->note, sizeof k->note, "accuracy: error vs exact %.3g -> %.3g (beyond %g%%)",
             k->base->err, k->cand->err, o->err_tolerance * 100);
}

void cmp_key_measure(cmp_key *k, const double *base, int n_base, double base_throttled,
                     const double *cand, int n_cand, double cand_throttled, const cmp_rule *o)
{
    const char *names[2] = {"baseline", "candidate"};
    double throttled[2] = {base_throttled, cand_throttled};
    k->n_base = n_base;
    k->n_cand = n_cand;
    k->base_ms = stats_median(base, (size_t)n_base) / 1e6;
    k->cand_ms = stats_median(cand, (size_t)n_cand) / 1e6;
    /* An accuracy regression (decided before) stands whatever the timings say. */
    int i = throttled[0] > CMP_MAX_THROTTLED ? 0 : throttled[1] > CMP_MAX_THROTTLED ? 1 : -1;
    if (!k->decided && i >= 0) {
        k->state = INCONCLUSIVE;
        k->decided = 1;
        snprintf(k->note, sizeof k->note, "%s: %.0f%% of samples throttled", names[i],
                 throttled[i] * 100);
    } else if (!k->decided && (n_base < CMP_MIN_SAMPLES || n_cand < CMP_MIN_SAMPLES)) {
        k->state = INCONCLUSIVE;
        k->decided = 1;
        snprintf(k->note, sizeof k->note, "too few samples (%d, %d; need %d)", n_base, n_cand,
                 CMP_MIN_SAMPLES);
    }
    if (n_base >= CMP_MIN_SAMPLES && n_cand >= CMP_MIN_SAMPLES &&
        stats_compare_pair(base, (size_t)n_base, cand, (size_t)n_cand, o->threshold, &k->s) == 0)
        k->tested = 1;
}

int cmp_key_evaluate(sqlite3 *db, cmp_key *k, const cmp_rule *o)
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
    cmp_key_accuracy(k, o);
    double *x[2] = {NULL, NULL};
    int n[2], rc = ATTN_OK;
    for (int i = 0; i < 2 && rc == ATTN_OK; i++) rc = load_samples(db, side[i]->id, &x[i], &n[i]);
    if (rc == ATTN_OK) {
        cmp_key_measure(k, x[0], n[0], cmp_point_throttled(k->base), x[1], n[1],
                        cmp_point_throttled(k->cand), o);
        if (k->tested)
            stats_ratio_ci(x[0], (size_t)n[0], x[1], (size_t)n[1], RESAMPLES, 0.95,
                           BOOTSTRAP_SEED, &k->ci_lo, &k->ci_hi);
    }
    free(x[0]);
    free(x[1]);
    return rc;
}

/* Every key's history (keys in key order): the log medians of its ok points in the newest `window`
 * runs with the baseline's tag, backend and GPU model, up to the baseline, the candidate left out;
 * one point per run (the newest). */
static int load_history(sqlite3 *db, int64_t base_run, int64_t cand_run, int window, cmp_keys *k)
{
    sqlite3_stmt *st = NULL;
    cmp_point *rows = NULL;
    size_t n_rows = 0, kept = 0;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT " POINT_COLUMNS " FROM points WHERE status = 'ok' AND median_ns > 0"
        " AND run_id IN (SELECT h.id FROM runs h, runs b WHERE b.id = ?1 AND h.id <= b.id"
        "   AND h.id <> ?2 AND h.tag IS b.tag AND h.backend = b.backend"
        "   AND h.gpu_name IS b.gpu_name ORDER BY h.id DESC LIMIT ?3)", -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, base_run), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 2, cand_run), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int(st, 3, window), rc, end);
    ATTN_TRY_GOTO(read_points(db, st, &rows, &n_rows), rc, end);
    if (!(k->history = malloc((n_rows ? n_rows : 1) * sizeof *k->history))) {
        rc = attn_fail("out of host memory loading the history");
        goto end;
    }
    for (size_t i = 0; i < n_rows; i++) { /* sorted by key, then id: runs oldest first */
        if (i + 1 < n_rows && rows[i + 1].run_id == rows[i].run_id &&
            cmp_point_key(&rows[i], &rows[i + 1]) == 0)
            continue;
        rows[kept] = rows[i];
        k->history[kept++] = log(rows[i].median_ns);
    }
    for (size_t i = 0, j = 0; i < k->n; i++) {
        const cmp_point *p = cmp_key_point(&k->keys[i]);
        while (j < kept && cmp_point_key(&rows[j], p) < 0) j++;
        size_t from = j;
        while (j < kept && cmp_point_key(&rows[j], p) == 0) j++;
        k->keys[i].history = k->history + from;
        k->keys[i].n_history = (int)(j - from);
    }
end:
    free(rows);
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- the decision */

/* Benjamini–Hochberg over the keys tested within runs (each direction its own family). A key
 * decided earlier but with enough samples (throttled, an accuracy regression) still counts in m,
 * so setting keys aside never makes the bar laxer. */
static int within_runs(cmp_key *keys, size_t n)
{
    double *p = malloc(2 * (n ? n : 1) * sizeof *p);
    size_t *at = malloc((n ? n : 1) * sizeof *at), m = 0;
    int rc = p && at ? ATTN_OK : ATTN_ERR;
    for (size_t i = 0; rc == ATTN_OK && i < n; i++)
        if (keys[i].tested && !keys[i].n_rounds) {
            at[m] = i;
            p[m] = keys[i].s.p_slower;
            p[n + m] = keys[i].s.p_faster;
            m++;
        }
    if (rc == ATTN_OK && (stats_bh_adjust(p, m, p) || stats_bh_adjust(p + n, m, p + n)))
        rc = ATTN_ERR;
    for (size_t j = 0; rc == ATTN_OK && j < m; j++) {
        keys[at[j]].p_slower = p[j];
        keys[at[j]].p_faster = p[n + j];
    }
    free(p);
    free(at);
    return rc == ATTN_OK ? ATTN_OK : attn_fail("out of host memory");
}

/* Keys of one variant share a group: the index of the first key with its variant. */
static int group_of(const cmp_key *keys, size_t i)
{
    const char *v = cmp_key_point(&keys[i])->variant;
    size_t g = 0;
    while (strcmp(cmp_key_point(&keys[g])->variant, v) != 0) g++;
    return (int)g;
}

/* The between-run test of every key with rounds, or tested with a history. */
static int between_runs(cmp_key *keys, size_t n, const cmp_rule *o)
{
    noise_key *t = calloc(n ? n : 1, sizeof *t);
    if (!t) return attn_fail("out of host memory");
    int rc = ATTN_OK;
    for (size_t i = 0; rc == ATTN_OK && i < n; i++) {
        cmp_key *k = &keys[i];
        t[i].group = group_of(keys, i);
        if (k->n_rounds) {
            noise_from_rounds(k->rounds, (size_t)k->n_rounds, &t[i]);
        } else if (k->tested && k->history) {
            if (noise_from_history(k->history, (size_t)k->n_history, o->threshold, &t[i],
                                   &k->hist) != 0)
                rc = attn_fail("out of host memory");
            t[i].effect = log(k->cand_ms * 1e6) - k->hist.level;
        }
    }
    if (rc == ATTN_OK && noise_test(t, n, o->alpha, o->threshold) != 0)
        rc = attn_fail("out of host memory");
    for (size_t i = 0; rc == ATTN_OK && i < n; i++) keys[i].run = t[i];
    free(t);
    return rc;
}

/* "+5.2%" into buf. */
static void percent(char *buf, size_t n, double log_ratio)
{
    snprintf(buf, n, "%+.1f%%", (exp(log_ratio) - 1) * 100);
}

/* What a between-run decision rests on: the effect against the history's level, or per round. */
static void between_note(cmp_key *k, const char *prefix)
{
    int at = snprintf(k->note, sizeof k->note, "%s", prefix);
    char p[32];
    if (k->n_rounds) {
        at += snprintf(k->note + at, sizeof k->note - (size_t)at, "per round");
        for (int r = 0; r < k->n_rounds && at < (int)sizeof k->note; r++) {
            percent(p, sizeof p, k->rounds[r]);
            at += snprintf(k->note + at, sizeof k->note - (size_t)at, " %s", p);
        }
        return;
    }
    percent(p, sizeof p, k->run.effect);
    if (k->hist.steps)
        snprintf(k->note + at, sizeof k->note - (size_t)at, "%s vs its %d runs since a step", p,
                 k->hist.level_runs);
    else
        snprintf(k->note + at, sizeof k->note - (size_t)at, "%s vs its last %d runs", p,
                 k->hist.level_runs);
}

/* The state of a key the tests decide. */
static void set_state(cmp_key *k, const cmp_rule *o)
{
    double margin = log1p(o->threshold);
    const noise_key *r = &k->run;
    if (r->df > 0) { /* the runs decide */
        k->p_slower = r->p_slower;
        k->p_faster = r->p_faster;
        if (r->effect > margin && r->p_slower <= o->alpha) k->state = SLOWER;
        else if (r->effect < -margin && r->p_faster <= o->alpha) k->state = FASTER;
        else if (r->p_not_slower <= o->alpha) k->state = SAME;
        else k->state = INCONCLUSIVE;
        between_note(k, k->state == INCONCLUSIVE ? "noisy between runs: " : "");
        return;
    }
    if (!k->tested) { /* nothing decided it and no test could run */
        k->state = INCONCLUSIVE;
        snprintf(k->note, sizeof k->note, "%s", k->n_rounds ? "fewer than 2 rounds"
                                                            : "a sample time is not positive");
        return;
    }
    if (k->p_slower <= o->alpha) k->state = SLOWER;
    else if (k->p_faster <= o->alpha) k->state = FASTER;
    else if (k->s.p_not_slower <= o->alpha) k->state = SAME;
    else {
        k->state = INCONCLUSIVE;
        snprintf(k->note, sizeof k->note, "noisy: a %g%% slowdown is not ruled out",
                 o->threshold * 100);
    }
    if (k->state == SLOWER && !o->within_run && k->s.hl_ratio < 1 + NOISE_UNKNOWN_BOUND) {
        k->state = INCONCLUSIVE;
        snprintf(k->note, sizeof k->note, "between-run noise unknown (%d of %d runs): %+.1f%% is "
                 "under the %g%% that counts without it", k->n_history, NOISE_MIN_RUNS,
                 (k->s.hl_ratio - 1) * 100, NOISE_UNKNOWN_BOUND * 100);
    }
}

int cmp_keys_decide(cmp_key *keys, size_t n, const cmp_rule *rule)
{
    ATTN_TRY(within_runs(keys, n));
    ATTN_TRY(between_runs(keys, n, rule));
    for (size_t i = 0; i < n; i++)
        if (!keys[i].decided) set_state(&keys[i], rule);
    return ATTN_OK;
}

static int cmp_worst_first(const void *a, const void *b)
{
    const cmp_key *x = a, *y = b;
    if (x->state != y->state) return (int)x->state - (int)y->state;
    double rx = x->tested ? x->s.hl_ratio : 0, ry = y->tested ? y->s.hl_ratio : 0;
    return (rx < ry) - (rx > ry);
}

void cmp_keys_sort(cmp_key *keys, size_t n) { qsort(keys, n, sizeof *keys, cmp_worst_first); }

/* Pairs the two sorted point lists by key into *keys (malloc'd), in key order. */
static int match(const cmp_point *b, size_t nb, const cmp_point *c, size_t nc, cmp_key **keys,
                 size_t *n)
{
    cmp_key *k = calloc(nb + nc + 1, sizeof *k);
    if (!k) return attn_fail("out of host memory");
    size_t i = 0, j = 0, m = 0;
    while (i < nb || j < nc) {
        int order = i == nb ? 1 : j == nc ? -1 : cmp_point_key(&b[i], &c[j]);
        const cmp_point *base = order <= 0 ? &b[i++] : NULL;
        k[m++] = cmp_key_new(base, order >= 0 ? &c[j++] : NULL);
    }
    *keys = k;
    *n = m;
    return ATTN_OK;
}

cmp_key cmp_key_new(const cmp_point *base, const cmp_point *cand)
{
    return (cmp_key){.base = base, .cand = cand, .ci_lo = NAN, .ci_hi = NAN, .p_slower = NAN,
                     .p_faster = NAN};
}

const cmp_point *cmp_key_point(const cmp_key *k) { return k->cand ? k->cand : k->base; }

int cmp_keys_build(sqlite3 *db, int64_t base_run, int64_t cand_run, const cmp_rule *rule,
                   cmp_keys *k)
{
    memset(k, 0, sizeof *k);
    ATTN_TRY(cmp_load_points(db, base_run, &k->base, &k->n_base));
    ATTN_TRY(cmp_load_points(db, cand_run, &k->cand, &k->n_cand));
    ATTN_TRY(match(k->base, k->n_base, k->cand, k->n_cand, &k->keys, &k->n));
    for (size_t i = 0; i < k->n; i++) ATTN_TRY(cmp_key_evaluate(db, &k->keys[i], rule));
    if (rule->noise_window > 0)
        ATTN_TRY(load_history(db, base_run, cand_run, rule->noise_window, k));
    ATTN_TRY(cmp_keys_decide(k->keys, k->n, rule));
    cmp_keys_sort(k->keys, k->n);
    return ATTN_OK;
}

void cmp_keys_free(cmp_keys *k)
{
    free(k->keys);
    free(k->base);
    free(k->cand);
    free(k->history);
    memset(k, 0, sizeof *k);
}
