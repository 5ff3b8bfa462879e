/* compare.c — `attnbench compare`: the regression gate between two runs. Every key (variant,
 * shape, dtype, causal, params) measured in both runs gets one state from its stored samples: a
 * one-sided Mann–Whitney test of "slower by more than the threshold" (and of "faster"), with
 * Benjamini–Hochberg across the keys, and a Hodges–Lehmann ratio with a bootstrap interval for the
 * reader. Tuned for a nightly sweep: hundreds of keys, tens to thousands of samples per point; the
 * bootstrap dominates the cost (about 10 ms per key at 20 samples a side). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "store/store.h"

/* The decision rules' fixed numbers (the README's "Regression gate" section explains them). */
#define MIN_SAMPLES 5           /* fewer non-throttled samples on a side: inconclusive */
#define MAX_THROTTLED 0.10      /* a larger share of throttled samples on a side: inconclusive */
#define RESAMPLES 2000          /* bootstrap resamples for the interval of the HL ratio */
#define BOOTSTRAP_SEED 20240601 /* fixed: the same runs always print the same interval */
#define ERR_FLOOR 1e-6          /* error growth below this is rounding, never a regression */

static const char compare_usage[] =
    "usage: attnbench compare --baseline RUN|TAG --candidate RUN|TAG [options]\n"
    "Compares two runs key by key (variant, B, H, H_kv, S, D, dtype, causal, params) from their\n"
    "stored, non-throttled samples. A RUN is a run id; a TAG the newest run with that tag (for the\n"
    "baseline: other than the candidate, on the candidate's GPU model).\n"
    "Per key: ratio of medians (candidate/baseline), Hodges–Lehmann ratio with a 95% bootstrap\n"
    "interval (2000 resamples, fixed seed), and one-sided Mann–Whitney tests on log times of\n"
    "\"slower by more than the threshold\" and \"faster by more than it\", Benjamini–Hochberg\n"
    "adjusted across keys. States, worst first:\n"
    "  slower        adjusted p_slower <= alpha, or an approximate variant's error against exact\n"
    "                attention grew by more than --err-tolerance (same seed and inputs)\n"
    "  inconclusive  fewer than 5 samples, more than 10% throttled, a point not ok on either\n"
    "                side, or too noisy: neither slower nor same\n"
    "  missing       measured in one run only\n"
    "  same          a slowdown beyond the threshold ruled out (the reverse one-sided test,\n"
    "                p <= alpha), and not faster\n"
    "  faster        adjusted p_faster <= alpha\n\n"
    "  --db PATH               database (default results/attnbench.db)\n"
    "  --threshold X           smallest slowdown that matters, e.g. 2% or 0.02 (default 2%)\n"
    "  --alpha A               false-discovery rate across keys (default 0.05)\n"
    "  --err-tolerance X       allowed relative growth of an approximate variant's error (10%)\n"
    "  --format table|md       aligned table (default) or markdown for CI summaries\n"
    "  --junit FILE            JUnit XML, one test case per key, regressions as failures\n"
    "  --allow-different-gpus  compare runs from different GPU models (refused otherwise)\n"
    "  --fail-on-inconclusive  exit 3 when nothing regressed but some key is inconclusive\n"
    "  --no-baseline-ok        a baseline TAG that matches no run is not an error (exit 0): the\n"
    "                          first nightly run has nothing to compare with\n\n"
    "Exit status: 0 no regression; 1 at least one key slower; 2 bad usage or data (no such run,\n"
    "different GPU models); 3 only inconclusive keys where --fail-on-inconclusive asked for a\n"
    "decision.\n";

typedef struct cmp_opts {
    const char *db, *baseline, *candidate, *junit;
    double threshold, alpha, err_tolerance;
    int markdown, allow_different_gpus, fail_on_inconclusive, no_baseline_ok;
} cmp_opts;

/* A run as the gate needs it. */
typedef struct cmp_run {
    int64_t id;
    char gpu[128];    /* GPU model, or "cpu backend" when the run had none */
    int has_gpu;      /* 0: gpu_name was NULL */
    char tag[128];    /* "-" when untagged */
    int64_t seed;
    char init[32];    /* input distribution; with the seed, decides if error metrics compare */
} cmp_run;

/* One stored point of one run, not its samples (loaded only when the key is tested). */
typedef struct cmp_point {
    int64_t id;
    char variant[64], dtype[8], params[ATTN_PARAMS_MAX], status[16], reason[200];
    int batch, heads, kv_heads, seq, head_dim, causal, exact;
    double err; /* relative L2 error against exact attention; NaN when not measured */
} cmp_point;

/* Worst first: the table's order and the exit status's priority. */
typedef enum cmp_state { SLOWER, INCONCLUSIVE, MISSING, SAME, FASTER, N_STATES } cmp_state;
static const char *const state_names[] = {"slower", "inconclusive", "missing", "same", "faster"};

typedef struct cmp_key {
    const cmp_point *base, *cand; /* NULL on the side that lacks the key */
    cmp_state state;
    int decided;                  /* state fixed before the tests (missing, failed, accuracy…) */
    int tested;                   /* the rank tests ran: s, ci and the adjusted p are valid */
    int n_base, n_cand;           /* non-throttled samples */
    double base_ms, cand_ms;      /* medians */
    stats_pair s;
    double ci_lo, ci_hi;          /* 95 % bootstrap interval of s.hl_ratio */
    double p_slower, p_faster;    /* Benjamini–Hochberg adjusted */
    char note[256];
} cmp_key;

static int parse_args(int argc, char **argv, cmp_opts *o)
{
    *o = (cmp_opts){.db = "results/attnbench.db", .threshold = 0.02, .alpha = 0.05,
                    .err_tolerance = 0.10};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(compare_usage, stdout);
            return -1;
        } else if (cli_opt(argc, argv, &i, "--db", &v)) {
            if (!(o->db = v)) return cli_error("compare", "--db needs a path");
        } else if (cli_opt(argc, argv, &i, "--baseline", &v)) {
            if (!(o->baseline = v)) return cli_error("compare", "--baseline needs a run id or tag");
        } else if (cli_opt(argc, argv, &i, "--candidate", &v)) {
            if (!(o->candidate = v)) return cli_error("compare", "--candidate needs a run id or tag");
        } else if (cli_opt(argc, argv, &i, "--threshold", &v)) {
            if (cli_fraction(v, &o->threshold) || o->threshold >= 1)
                return cli_error("compare", "bad --threshold '%s' (e.g. 2%% or 0.02)", v ? v : "");
        } else if (cli_opt(argc, argv, &i, "--alpha", &v)) {
            if (cli_fraction(v, &o->alpha) || !(o->alpha > 0 && o->alpha < 1))
                return cli_error("compare", "bad --alpha '%s' (between 0 and 1)", v ? v : "");
        } else if (cli_opt(argc, argv, &i, "--err-tolerance", &v)) {
            if (cli_fraction(v, &o->err_tolerance))
                return cli_error("compare", "bad --err-tolerance '%s' (e.g. 10%%)", v ? v : "");
        } else if (cli_opt(argc, argv, &i, "--format", &v)) {
            if (!v || (strcmp(v, "table") != 0 && strcmp(v, "md") != 0))
                return cli_error("compare", "--format is table or md");
            o->markdown = strcmp(v, "md") == 0;
        } else if (cli_opt(argc, argv, &i, "--junit", &v)) {
            if (!(o->junit = v)) return cli_error("compare", "--junit needs a file");
        } else if (cli_flag(argv, i, "--allow-different-gpus")) {
            o->allow_different_gpus = 1;
        } else if (cli_flag(argv, i, "--fail-on-inconclusive")) {
            o->fail_on_inconclusive = 1;
        } else if (cli_flag(argv, i, "--no-baseline-ok")) {
            o->no_baseline_ok = 1;
        } else {
            return cli_error("compare", "unknown option '%s' (attnbench compare --help)", argv[i]);
        }
    }
    if (!o->baseline || !o->candidate)
        return cli_error("compare", "--baseline and --candidate are required (attnbench compare --help)");
    return 0;
}

static void copy_text(char *dst, size_t n, sqlite3_stmt *st, int col, const char *if_null)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", t ? (const char *)t : if_null);
}

static int is_run_id(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Finds the run `spec` names: the run with that id, or the newest run with that tag whose id is
 * not `exclude` and, unless any_gpu, whose GPU model is gpu's (NULL-safe). *found = 0 when none. */
static int find_run(sqlite3 *db, const char *spec, int64_t exclude, int any_gpu,
                    const cmp_run *gpu, cmp_run *out, int *found)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT id, coalesce(gpu_name, backend || ' backend'), gpu_name IS NOT NULL,"
        " coalesce(tag, '-'), seed, init FROM runs"
        " WHERE (CASE WHEN ?1 THEN id = ?2 ELSE tag = ?3 END) AND id <> ?4"
        "   AND (?5 OR gpu_name IS ?6) ORDER BY id DESC LIMIT 1", -1, &st, NULL));
    int by_id = is_run_id(spec);
    if (sqlite3_bind_int(st, 1, by_id) || sqlite3_bind_int64(st, 2, by_id ? atoll(spec) : 0) ||
        sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC) || sqlite3_bind_int64(st, 4, exclude) ||
        sqlite3_bind_int(st, 5, any_gpu) ||
        (gpu && gpu->has_gpu ? sqlite3_bind_text(st, 6, gpu->gpu, -1, SQLITE_STATIC)
                             : sqlite3_bind_null(st, 6))) {
        int rc = attn_fail_sqlite(db, sqlite3_errcode(db), "bind run", __FILE__, __LINE__);
        sqlite3_finalize(st);
        return rc;
    }
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->gpu, sizeof out->gpu, st, 1, "-");
        out->has_gpu = sqlite3_column_int(st, 2);
        copy_text(out->tag, sizeof out->tag, st, 3, "-");
        out->seed = sqlite3_column_int64(st, 4);
        copy_text(out->init, sizeof out->init, st, 5, "");
    }
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* Resolves both runs; returns 0, CLI_USAGE after a message, or -1 for "no baseline, and that is
 * fine" (--no-baseline-ok). */
static int resolve_runs(sqlite3 *db, const cmp_opts *o, cmp_run *base, cmp_run *cand)
{
    int found;
    if (find_run(db, o->candidate, 0, 1, NULL, cand, &found) != ATTN_OK)
        return cli_error("compare", "%s", attn_last_error.msg);
    if (!found) return cli_error("compare", "no candidate run '%s' in '%s'", o->candidate, o->db);
    int by_tag = !is_run_id(o->baseline);
    if (find_run(db, o->baseline, by_tag ? cand->id : 0, !by_tag || o->allow_different_gpus, cand,
                 base, &found) != ATTN_OK)
        return cli_error("compare", "%s", attn_last_error.msg);
    if (!found) {
        cmp_run other;
        int other_found = 0;
        if (by_tag && find_run(db, o->baseline, cand->id, 1, NULL, &other, &other_found) != ATTN_OK)
            return cli_error("compare", "%s", attn_last_error.msg);
        if (other_found)
            return cli_error("compare", "no run tagged '%s' on %s besides candidate run %lld; the "
                             "newest is run %lld on %s (--allow-different-gpus to compare across "
                             "GPU models)", o->baseline, cand->gpu, (long long)cand->id,
                             (long long)other.id, other.gpu);
        if (by_tag && o->no_baseline_ok) {
            printf("attnbench compare: no baseline run tagged '%s' besides run %lld: nothing to "
                   "compare (first run of its kind)\n", o->baseline, (long long)cand->id);
            return -1;
        }
        return cli_error("compare", "no baseline run '%s' in '%s'%s", o->baseline, o->db,
                         by_tag ? " other than the candidate" : "");
    }
    if (!o->allow_different_gpus &&
        (base->has_gpu != cand->has_gpu || strcmp(base->gpu, cand->gpu) != 0))
        return cli_error("compare", "baseline run %lld ran on %s, candidate run %lld on %s: "
                         "timings from different GPU models are not comparable "
                         "(--allow-different-gpus to compare anyway)", (long long)base->id,
                         base->gpu, (long long)cand->id, cand->gpu);
    return 0;
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

/* The run's measured points (skipped ones were never measured), sorted by key, one per key (the
 * newest). *out is malloc'd. */
static int load_points(sqlite3 *db, int64_t run, cmp_point **out, size_t *n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT id, variant, dtype, params, status, coalesce(reason, ''), batch, heads, kv_heads,"
        " seq, head_dim, causal, exact, exact_rel_l2 FROM points"
        " WHERE run_id = ?1 AND status <> 'skipped'", -1, &st, NULL));
    SQLITE_CHECK(db, sqlite3_bind_int64(st, 1, run));
    size_t cap = 0, count = 0;
    cmp_point *p = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            void *more = realloc(p, (cap = cap ? 2 * cap : 64) * sizeof *p);
            if (!more) {
                free(p);
                sqlite3_finalize(st);
                return attn_fail("out of host memory loading points");
            }
            p = more;
        }
        cmp_point *q = &p[count++];
        q->id = sqlite3_column_int64(st, 0);
        copy_text(q->variant, sizeof q->variant, st, 1, "");
        copy_text(q->dtype, sizeof q->dtype, st, 2, "");
        copy_text(q->params, sizeof q->params, st, 3, "");
        copy_text(q->status, sizeof q->status, st, 4, "");
        copy_text(q->reason, sizeof q->reason, st, 5, "");
        int *ints[] = {&q->batch, &q->heads, &q->kv_heads, &q->seq, &q->head_dim, &q->causal,
                       &q->exact};
        for (int i = 0; i < 7; i++) *ints[i] = sqlite3_column_int(st, 6 + i);
        q->err = sqlite3_column_type(st, 13) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 13);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) free(p);
    SQLITE_CHECK(db, rc);
    if (count) qsort(p, count, sizeof *p, cmp_point_key_id);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < count && cmp_point_key(&p[i], &p[i + 1]) == 0) continue;
        p[kept++] = p[i];
    }
    *out = p;
    *n = kept;
    return ATTN_OK;
}

/* The point's samples not flagged throttled into *used (malloc'd), and the share flagged. */
static int load_samples(sqlite3 *db, int64_t point, double **used, int *n_used, double *throttled)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT ns, throttled FROM samples WHERE point_id = ?1 ORDER BY idx", -1, &st, NULL));
    SQLITE_CHECK(db, sqlite3_bind_int64(st, 1, point));
    int cap = 0, n = 0, all = 0, rc;
    double *x = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        all++;
        if (sqlite3_column_int(st, 1)) continue;
        if (n == cap) {
            void *more = realloc(x, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *x);
            if (!more) {
                free(x);
                sqlite3_finalize(st);
                return attn_fail("out of host memory loading samples");
            }
            x = more;
        }
        x[n++] = (double)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) free(x);
    SQLITE_CHECK(db, rc);
    *used = x;
    *n_used = n;
    *throttled = all ? (double)(all - n) / all : 0;
    return ATTN_OK;
}

/* Everything about one key except the adjustment across keys. */
static int evaluate(sqlite3 *db, cmp_key *k, const cmp_opts *o, int same_inputs)
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
    if (!k->cand->exact && same_inputs && k->cand->err > k->base->err * (1 + o->err_tolerance) + ERR_FLOOR) {
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
static int decide(cmp_key *keys, size_t n, const cmp_opts *o)
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

static const cmp_point *key_point(const cmp_key *k) { return k->base ? k->base : k->cand; }

/* "bf16 B=1 H=16/4 S=4096 D=128 causal=1 k=64" (no variant: JUnit puts it in the class name). */
static void shape_text(const cmp_point *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s B=%d H=%d/%d S=%d D=%d causal=%d%s%s", p->dtype, p->batch, p->heads,
             p->kv_heads, p->seq, p->head_dim, p->causal, *p->params ? " " : "", p->params);
}

/* ---------------------------------------------------------------- output */

enum { N_COLS = 9, CELL = 300 };
static const char *const headers[N_COLS] = {"state", "variant", "shape", "base_ms", "cand_ms",
                                            "ratio", "hl_ratio [95% CI]", "p_slower", "note"};

static void fmt_num(char *buf, double x, const char *fmt)
{
    if (isnan(x)) snprintf(buf, CELL, "-");
    else snprintf(buf, CELL, fmt, x);
}

static void key_cells(const cmp_key *k, char cells[N_COLS][CELL])
{
    snprintf(cells[0], CELL, "%s", state_names[k->state]);
    snprintf(cells[1], CELL, "%s", key_point(k)->variant);
    shape_text(key_point(k), cells[2], CELL);
    int timed = k->base && k->cand && k->n_base && k->n_cand;
    fmt_num(cells[3], timed ? k->base_ms : NAN, "%.4g");
    fmt_num(cells[4], timed ? k->cand_ms : NAN, "%.4g");
    fmt_num(cells[5], k->tested ? k->s.ratio : NAN, "%.3f");
    if (k->tested)
        snprintf(cells[6], CELL, "%.3f [%.3f, %.3f]", k->s.hl_ratio, k->ci_lo, k->ci_hi);
    else
        snprintf(cells[6], CELL, "-");
    fmt_num(cells[7], k->tested ? k->p_slower : NAN, "%.2g");
    snprintf(cells[8], CELL, "%s", k->note);
}

/* Aligned columns (numbers right-aligned, text left) or a markdown table. */
static void print_keys(FILE *out, const cmp_key *keys, size_t n, int markdown)
{
    char(*cells)[N_COLS][CELL] = malloc((n ? n : 1) * sizeof *cells);
    if (!cells) {
        fputs("(out of memory printing the table)\n", out);
        return;
    }
    int width[N_COLS];
    for (int c = 0; c < N_COLS; c++) width[c] = (int)strlen(headers[c]);
    for (size_t r = 0; r < n; r++) {
        key_cells(&keys[r], cells[r]);
        for (int c = 0; c < N_COLS; c++)
            if ((int)strlen(cells[r][c]) > width[c]) width[c] = (int)strlen(cells[r][c]);
    }
    static const int left[N_COLS] = {1, 1, 1, 0, 0, 0, 0, 0, 1};
    for (size_t r = 0; r <= n; r++) {
        for (int c = 0; c < N_COLS; c++) {
            const char *s = r == 0 ? headers[c] : cells[r - 1][c];
            if (markdown) fprintf(out, "| %s ", s);
            else if (c + 1 == N_COLS) fprintf(out, "%s", s);
            else fprintf(out, left[c] ? "%-*s  " : "%*s  ", width[c], s);
        }
        fputs(markdown ? "|\n" : "\n", out);
        if (markdown && r == 0) {
            for (int c = 0; c < N_COLS; c++) fputs(left[c] ? "|:--" : "|--:", out);
            fputs("|\n", out);
        }
    }
    free(cells);
}

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 forbids most control characters, even escaped. */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

/* JUnit XML: one test case per key; slower is a failure, inconclusive a failure when a decision
 * was required (else skipped), missing is skipped. */
static int write_junit(const char *path, const cmp_key *keys, size_t n, const cmp_run *base,
                       const cmp_run *cand, const cmp_opts *o)
{
    FILE *f = fopen(path, "w");
    if (!f) return attn_fail("cannot write JUnit file '%s'", path);
    size_t failures = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        cmp_state s = keys[i].state;
        failures += s == SLOWER || (s == INCONCLUSIVE && o->fail_on_inconclusive);
        skipped += s == MISSING || (s == INCONCLUSIVE && !o->fail_on_inconclusive);
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"attnbench compare\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n"
               "  <testsuite name=\"run %lld vs baseline run %lld\" tests=\"%zu\" failures=\"%zu\""
               " skipped=\"%zu\">\n",
            n, failures, skipped, (long long)cand->id, (long long)base->id, n, failures, skipped);
    for (size_t i = 0; i < n; i++) {
        const cmp_key *k = &keys[i];
        char cells[N_COLS][CELL];
        key_cells(k, cells);
        fputs("    <testcase classname=\"attnbench.", f);
        xml_escaped(f, cells[1]);
        fputs("\" name=\"", f);
        xml_escaped(f, cells[2]);
        fputs("\">\n", f);
        char summary[8 * CELL]; /* the cells it quotes fit whatever their length */
        snprintf(summary, sizeof summary, "%s: ratio %s, HL %s, adjusted p_slower %s, %s vs %s ms%s%s",
                 cells[0], cells[5], cells[6], cells[7], cells[3], cells[4], *k->note ? "; " : "",
                 k->note);
        const char *element = k->state == SLOWER || (k->state == INCONCLUSIVE && o->fail_on_inconclusive)
                                  ? "failure"
                              : k->state == MISSING || k->state == INCONCLUSIVE ? "skipped"
                                                                                  : NULL;
        if (element) {
            fprintf(f, "      <%s message=\"", element);
            xml_escaped(f, summary);
            fprintf(f, "\"/>\n");
        } else {
            fputs("      <system-out>", f);
            xml_escaped(f, summary);
            fputs("</system-out>\n", f);
        }
        fputs("    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) return attn_fail("cannot write JUnit file '%s'", path);
    return ATTN_OK;
}

/* ---------------------------------------------------------------- the command */

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

static void print_report(FILE *out, const cmp_key *keys, size_t n, const cmp_run *base,
                         const cmp_run *cand, const cmp_opts *o)
{
    size_t count[N_STATES] = {0};
    for (size_t i = 0; i < n; i++) count[keys[i].state]++;
    const char *b = o->markdown ? "**" : "";
    fprintf(out, "%sattnbench compare%s: candidate run %lld (tag %s) vs baseline run %lld (tag %s) "
                 "on %s; threshold %g%%, alpha %g (Benjamini–Hochberg over %zu keys)\n\n",
            b, b, (long long)cand->id, cand->tag, (long long)base->id, base->tag, cand->gpu,
            o->threshold * 100, o->alpha, n);
    fprintf(out, "%s%zu slower, %zu inconclusive, %zu missing, %zu same, %zu faster%s\n\n", b,
            count[SLOWER], count[INCONCLUSIVE], count[MISSING], count[SAME], count[FASTER], b);
    print_keys(out, keys, n, o->markdown);
}

int cmd_compare(int argc, char **argv)
{
    cmp_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    sqlite3 *db;
    if ((rc = cmd_open_db("compare", o.db, &db))) return rc;
    cmp_run base, cand;
    rc = resolve_runs(db, &o, &base, &cand);
    if (rc) {
        store_close(db);
        return rc < 0 ? 0 : rc;
    }
    cmp_point *pb = NULL, *pc = NULL;
    cmp_key *keys = NULL;
    size_t nb = 0, nc = 0, n = 0;
    int ok = load_points(db, base.id, &pb, &nb) == ATTN_OK &&
             load_points(db, cand.id, &pc, &nc) == ATTN_OK &&
             match(pb, nb, pc, nc, &keys, &n) == ATTN_OK;
    int same_inputs = base.seed == cand.seed && strcmp(base.init, cand.init) == 0;
    for (size_t i = 0; ok && i < n; i++) ok = evaluate(db, &keys[i], &o, same_inputs) == ATTN_OK;
    ok = ok && decide(keys, n, &o) == ATTN_OK;
    if (ok) {
        qsort(keys, n, sizeof *keys, cmp_worst_first);
        print_report(stdout, keys, n, &base, &cand, &o);
        if (o.junit) ok = write_junit(o.junit, keys, n, &base, &cand, &o) == ATTN_OK;
    }
    if (!ok) {
        rc = cli_error("compare", "%s", attn_last_error.msg);
    } else if (n == 0) {
        rc = cli_error("compare", "runs %lld and %lld have no measured points", (long long)base.id,
                       (long long)cand.id);
    } else {
        int slower = 0, inconclusive = 0;
        for (size_t i = 0; i < n; i++) {
            slower |= keys[i].state == SLOWER;
            inconclusive |= keys[i].state == INCONCLUSIVE;
        }
        rc = slower ? 1 : inconclusive && o.fail_on_inconclusive ? 3 : 0;
    }
    free(keys);
    free(pb);
    free(pc);
    store_close(db);
    return rc;
}
