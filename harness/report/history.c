/* history.c — `attnbench history`: change points in each key's series of per-run medians over the
 * newest runs of one tag on one GPU model (a nightly series). A step must be significant (Welch
 * split test, p < 0.001), large (the medians on either side differ by the threshold) and lasting
 * (≥ 7 runs before it and ≥ 3 after), so a one-night spike never alerts and a new step is
 * confirmed three runs after it began. Workload: tens of runs × hundreds of keys, all in memory. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "core/stats.h"
#include "report/reader.h"
#include "store/store.h"

#define MIN_BEFORE 7   /* runs before a step: enough to know the old level */
#define MIN_AFTER 3    /* runs after it: a spike of one or two runs is not a step */
#define MAX_P 0.001    /* Welch p at the split (Otava's default) */
#define MAX_STEPS 16   /* per key; a window of 30 holds at most 3 */
#define MAX_RUNS 1000  /* --window limit */

typedef struct hist_opts {
    const char *db, *tag, *variant, *key;
    int window, alert_within, include_incomplete;
    double threshold;
} hist_opts;

_Static_assert(MIN_BEFORE + MIN_AFTER == 10 && MAX_RUNS == 1000, "--window's help states 10 to 1000");

static int set_window(void *field, const char *value)
{
    int *window = field;
    if (cli_set_count(window, value) || *window < MIN_BEFORE + MIN_AFTER || *window > MAX_RUNS)
        return CLI_BAD_VALUE;
    return 0;
}

static const cli_option history_options[] = {
    READER_OPTION_DB(hist_opts),
    {"--tag", "T", "the series' tag (default: the newest run's tag)", cli_set_text,
     offsetof(hist_opts, tag)},
    {"--window", "N", "the newest N runs, 10 to 1000 (default 30)", set_window,
     offsetof(hist_opts, window)},
    {"--variant", "NAME", "only this variant", cli_set_text, offsetof(hist_opts, variant)},
    {"--key", "TEXT", "only keys whose text (as printed) contains TEXT", cli_set_text,
     offsetof(hist_opts, key)},
    {"--threshold", "X", "smallest step that counts, e.g. 2% (default 2%)", cli_set_share,
     offsetof(hist_opts, threshold)},
    {"--alert-within", "K", "alert only on steps that started in the newest K runs (default: the\n"
     "whole window; a nightly job uses 7 so an accepted step stops alerting)", cli_set_count,
     offsetof(hist_opts, alert_within)},
    {"--include-incomplete", NULL, "count runs that did not finish (running, abandoned,\n"
     "interrupted, aborted); by default the series holds complete runs only", cli_set_flag,
     offsetof(hist_opts, include_incomplete)},
    {0}};

static const cli_command history_command = {
    "history", "[--db PATH] [--tag T] [options]",
    "For every key (variant, shape, dtype, causal, params), the series of its median time in each\n"
    "of the newest --window complete runs (ok or failed; --include-incomplete: any) with tag T on\n"
    "the GPU model of the newest such run, searched for\n"
    "steps: a split with >= 7 runs before and >= 3 after, Welch's test on the log medians with\n"
    "p < 0.001, and medians on either side differing by at least the threshold (binary\n"
    "segmentation finds several). A one-run spike never makes a step; a new step shows three runs\n"
    "after it began. Prints each step with the run where it started.\n",
    history_options,
    "Exit status: 0 no slower step to alert on; 1 a step to slower times; 2 bad usage, no runs,\n"
    "or an output that cannot be written (nothing was decided).\n",
    NULL};

/* The series' reference: the newest complete run with the tag (any tag when tag is NULL). */
typedef struct hist_ref {
    char tag[128], gpu[128];
    int tagged, has_gpu; /* 0: the column is NULL */
    int include_incomplete;
    store_run_choice choice;
} hist_ref;

/* Binds text, or NULL when text is NULL; SQLite's status. */
static int bind_text_or_null(sqlite3_stmt *st, int i, const char *text)
{
    return text ? sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int find_reference(sqlite3 *db, const hist_opts *o, hist_ref *r, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    const store_run_filter f = {o->tag, 0, 1, NULL, o->include_incomplete};
    r->include_incomplete = o->include_incomplete;
    ATTN_TRY(store_find_run(db, &f, &r->choice));
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT tag, gpu_name, coalesce(gpu_name, backend || ' backend') FROM runs WHERE id = ?1",
        -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, r->choice.id), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    if ((*found = step == SQLITE_ROW)) {
        const unsigned char *t = sqlite3_column_text(st, 0), *g = sqlite3_column_text(st, 2);
        r->tagged = t != NULL;
        r->has_gpu = sqlite3_column_type(st, 1) != SQLITE_NULL;
        snprintf(r->tag, sizeof r->tag, "%s", t ? (const char *)t : "");
        snprintf(r->gpu, sizeof r->gpu, "%s", g ? (const char *)g : "");
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* The window's runs, oldest first: ids into runs[], count into *n. */
#define WINDOW_RUNS                                                                        \
    "SELECT id FROM runs WHERE tag IS ?1 AND gpu_name IS ?2"                              \
    " AND (?6 OR " STORE_RUN_COMPLETE_SQL ") ORDER BY id DESC LIMIT ?3"

/* Binds the reference (tag, GPU, complete runs only or not) and the window to ?1..?3 and ?6 of a
 * statement using WINDOW_RUNS. */
static int bind_window(sqlite3 *db, sqlite3_stmt *st, const hist_ref *r, int window)
{
    SQLITE_CHECK(db, bind_text_or_null(st, 1, r->tagged ? r->tag : NULL));
    SQLITE_CHECK(db, bind_text_or_null(st, 2, r->has_gpu ? r->gpu : NULL));
    SQLITE_CHECK(db, sqlite3_bind_int(st, 3, window));
    SQLITE_CHECK(db, sqlite3_bind_int(st, 6, r->include_incomplete));
    return ATTN_OK;
}

static int load_runs(sqlite3 *db, const hist_ref *r, int window, int64_t *runs, int *n)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK, step;
    *n = 0;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db, "SELECT id FROM (" WINDOW_RUNS ") ORDER BY id",
                                             -1, &st, NULL), rc, end);
    ATTN_TRY_GOTO(bind_window(db, st, r, window), rc, end);
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < window)
        runs[(*n)++] = sqlite3_column_int64(st, 0);
    SQLITE_CHECK_GOTO(db, step, rc, end);
end:
    sqlite3_finalize(st);
    return rc;
}

/* The --variant check: *found = 1 when the window's runs have points of `variant`; their variants
 * ("naive, cublas") into names. */
static int find_variant(sqlite3 *db, const hist_ref *r, int window, const char *variant,
                        char *names, size_t size, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT coalesce(group_concat(v, ', '), 'none'), coalesce(max(v = ?4), 0) FROM"
        " (SELECT DISTINCT variant AS v FROM points WHERE run_id IN (" WINDOW_RUNS ")"
        "  ORDER BY variant)", -1, &st, NULL), rc, end);
    ATTN_TRY_GOTO(bind_window(db, st, r, window), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_text(st, 4, variant, -1, SQLITE_STATIC), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    *found = step == SQLITE_ROW && sqlite3_column_int(st, 1);
    snprintf(names, size, "%s", step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
end:
    sqlite3_finalize(st);
    return rc;
}

/* One key's series: its text, the runs it was measured in and the log of each run's median. */
typedef struct hist_series {
    char key[400];
    int n;
    int64_t run[MAX_RUNS];
    double y[MAX_RUNS];
} hist_series;

typedef struct hist_tally {
    int keys, steps, alerts;
} hist_tally;

/* Searches one series and prints its steps; counts into *t. */
static int report_series(const hist_series *s, const hist_opts *o, int64_t alert_from,
                         hist_tally *t)
{
    stats_step steps[MAX_STEPS];
    int n = stats_change_points(s->y, (size_t)s->n, MIN_BEFORE, MIN_AFTER, MAX_P, o->threshold,
                                steps, MAX_STEPS);
    if (n < 0) return attn_fail("out of host memory");
    t->keys++;
    for (int i = 0; i < n; i++) {
        const stats_step *p = &steps[i];
        size_t at = p->at;
        double before = exp(stats_median(s->y, at)) / 1e6;
        double after = exp(stats_median(s->y + at, (size_t)s->n - at)) / 1e6;
        int alert = p->ratio > 1 && s->run[at] >= alert_from;
        /* The key last: its width varies, so the numbers before it stay aligned. */
        if (t->steps++ == 0)
            printf("%-6s  %8s  %10s  %10s  %7s  %8s  %s\n", "step", "from_run", "before_ms",
                   "after_ms", "change", "p", "key");
        printf("%-6s  %8lld  %10.4g  %10.4g  %+6.1f%%  %8.2g  %s\n",
               p->ratio > 1 ? (alert ? "SLOWER" : "slower") : "faster", (long long)s->run[at],
               before, after, (p->ratio - 1) * 100, p->p, s->key);
        t->alerts += alert;
    }
    return ATTN_OK;
}

/* Reads the window's points, one series per key (the rows come ordered by key, then run), and
 * reports each. */
static int scan(sqlite3 *db, const hist_ref *r, const hist_opts *o, int64_t alert_from,
                hist_tally *t)
{
    sqlite3_stmt *st = NULL;
    hist_series *s = NULL;
    int rc = ATTN_OK, step;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT variant || ' ' || dtype || ' B=' || batch || ' H=' || heads || '/' || kv_heads ||"
        " ' S=' || seq || ' D=' || head_dim || ' causal=' || causal ||"
        " CASE WHEN params = '' THEN '' ELSE ' ' || params END AS key, run_id, median_ns"
        " FROM points WHERE run_id IN (" WINDOW_RUNS ") AND status = 'ok' AND median_ns > 0"
        "   AND (?4 IS NULL OR variant = ?4) AND (?5 IS NULL OR instr(key, ?5) > 0)"
        " ORDER BY variant, dtype, batch, heads, kv_heads, seq, head_dim, causal, params,"
        "   run_id, id", -1, &st, NULL), rc, end);
    ATTN_TRY_GOTO(bind_window(db, st, r, o->window), rc, end);
    SQLITE_CHECK_GOTO(db, bind_text_or_null(st, 4, o->variant), rc, end);
    SQLITE_CHECK_GOTO(db, bind_text_or_null(st, 5, o->key), rc, end);
    if (!(s = calloc(1, sizeof *s))) {
        rc = attn_fail("out of host memory");
        goto end;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        int64_t run = sqlite3_column_int64(st, 1);
        if (s->n && strcmp(key, s->key) != 0) {
            ATTN_TRY_GOTO(report_series(s, o, alert_from, t), rc, end);
            s->n = 0;
        }
        if (!s->n) snprintf(s->key, sizeof s->key, "%s", key);
        if (s->n && s->run[s->n - 1] == run) s->n--; /* a key twice in a run: the newest point */
        s->run[s->n] = run;
        s->y[s->n++] = log(sqlite3_column_double(st, 2));
    }
    SQLITE_CHECK_GOTO(db, step, rc, end);
    if (s->n) rc = report_series(s, o, alert_from, t);
end:
    free(s);
    sqlite3_finalize(st);
    return rc;
}

int cmd_history(int argc, char **argv)
{
    hist_opts o = {.db = READER_DB_DEFAULT, .window = 30, .threshold = 0.02};
    int rc = cli_parse(&history_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!o.alert_within || o.alert_within > o.window) o.alert_within = o.window;
    sqlite3 *db;
    if ((rc = reader_open("history", o.db, &db))) return rc;
    hist_ref ref;
    int found = 0, n_runs = 0, has_variant = 1;
    static int64_t runs[MAX_RUNS];
    char variants[1024] = "";
    if (find_reference(db, &o, &ref, &found) != ATTN_OK ||
        (found && load_runs(db, &ref, o.window, runs, &n_runs) != ATTN_OK) ||
        (found && o.variant && find_variant(db, &ref, o.window, o.variant, variants,
                                            sizeof variants, &has_variant) != ATTN_OK)) {
        rc = cli_error("history", "%s", attn_last_error.msg);
    } else if (!found) {
        rc = o.tag ? cli_error("history", "no %srun tagged '%s' in '%s'%s",
                               ref.choice.passed_over ? "complete " : "", o.tag, o.db,
                               ref.choice.passed_over ? " (--include-incomplete)" : "")
                   : cli_error("history", "no %sruns in '%s'%s",
                               ref.choice.passed_over ? "complete " : "", o.db,
                               ref.choice.passed_over ? " (--include-incomplete)" : "");
    } else if (!has_variant) {
        rc = cli_error("history", "no variant '%s' in runs %lld..%lld (variants there: %s)",
                       o.variant, (long long)runs[0], (long long)runs[n_runs - 1], variants);
    } else {
        char chosen[256];
        store_run_choice_text(&ref.choice, chosen, sizeof chosen);
        printf("attnbench history: the series ends at %s%s\n", chosen,
               o.include_incomplete ? "" : "; complete runs only");
        printf("attnbench history: tag %s on %s, runs %lld..%lld (%d runs, window %d); steps need "
               ">= %d runs before, >= %d after, p < %g, >= %g%%\n\n",
               ref.tagged ? ref.tag : "(none)", ref.gpu, (long long)runs[0],
               (long long)runs[n_runs - 1], n_runs, o.window, MIN_BEFORE, MIN_AFTER, MAX_P,
               o.threshold * 100);
        int64_t alert_from = runs[n_runs > o.alert_within ? n_runs - o.alert_within : 0];
        hist_tally t = {0};
        if (scan(db, &ref, &o, alert_from, &t) != ATTN_OK) {
            rc = cli_error("history", "%s", attn_last_error.msg);
        } else {
            printf("%s%d keys, %d steps, %d slower step%s to alert on (SLOWER: started at or after "
                   "run %lld)%s\n",
                   t.steps ? "\n" : "", t.keys, t.steps, t.alerts, t.alerts == 1 ? "" : "s",
                   (long long)alert_from,
                   n_runs < MIN_BEFORE + MIN_AFTER ? "; too few runs to find any step yet" : "");
            rc = t.alerts ? 1 : 0;
        }
    }
    store_close(db);
    return reader_flush_stdout("history") ? CLI_USAGE : rc;
}
