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

#include "core/cli.h"
#include "commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "store/store.h"

#define MIN_BEFORE 7   /* runs before a step: enough to know the old level */
#define MIN_AFTER 3    /* runs after it: a spike of one or two runs is not a step */
#define MAX_P 0.001    /* Welch p at the split (Otava's default) */
#define MAX_STEPS 16   /* per key; a window of 30 holds at most 3 */
#define MAX_RUNS 1000  /* --window limit */

static const char history_usage[] =
    "usage: attnbench history [--db PATH] [--tag T] [options]\n"
    "For every key (variant, shape, dtype, causal, params), the series of its median time in each\n"
    "of the newest --window runs with tag T on the GPU model of the newest such run, searched for\n"
    "steps: a split with >= 7 runs before and >= 3 after, Welch's test on the log medians with\n"
    "p < 0.001, and medians on either side differing by at least the threshold (binary\n"
    "segmentation finds several). A one-run spike never makes a step; a new step shows three runs\n"
    "after it began. Prints each step with the run where it started.\n\n"
    "  --db PATH          database (default results/attnbench.db)\n"
    "  --tag T            the series' tag (default: the newest run's tag)\n"
    "  --window N         the newest N runs (default 30)\n"
    "  --variant NAME     only this variant\n"
    "  --key TEXT         only keys whose text (as printed) contains TEXT\n"
    "  --threshold X      smallest step that counts, e.g. 2% (default 2%)\n"
    "  --alert-within K   alert only on steps that started in the newest K runs (default: the\n"
    "                     whole window; a nightly job uses 7 so an accepted step stops alerting)\n\n"
    "Exit status: 0 no slower step to alert on; 1 a step to slower times; 2 bad usage or no runs.\n";

typedef struct hist_opts {
    const char *db, *tag, *variant, *key;
    int window, alert_within;
    double threshold;
} hist_opts;

static int parse_args(int argc, char **argv, hist_opts *o)
{
    *o = (hist_opts){.db = "results/attnbench.db", .window = 30, .threshold = 0.02};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int x[1];
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(history_usage, stdout);
            return -1;
        } else if (cli_opt(argc, argv, &i, "--db", &v)) {
            if (!(o->db = v)) return cli_error("history", "--db needs a path");
        } else if (cli_opt(argc, argv, &i, "--tag", &v)) {
            if (!(o->tag = v)) return cli_error("history", "--tag needs a value");
        } else if (cli_opt(argc, argv, &i, "--variant", &v)) {
            if (!(o->variant = v)) return cli_error("history", "--variant needs a name");
        } else if (cli_opt(argc, argv, &i, "--key", &v)) {
            if (!(o->key = v)) return cli_error("history", "--key needs a text");
        } else if (cli_opt(argc, argv, &i, "--window", &v)) {
            if (cli_int_list(v, MIN_BEFORE + MIN_AFTER, x, 1) != 1 || x[0] > MAX_RUNS)
                return cli_error("history", "bad --window '%s' (%d to %d runs)", v ? v : "",
                                 MIN_BEFORE + MIN_AFTER, MAX_RUNS);
            o->window = x[0];
        } else if (cli_opt(argc, argv, &i, "--alert-within", &v)) {
            if (cli_int_list(v, 1, x, 1) != 1)
                return cli_error("history", "bad --alert-within '%s' (runs, >= 1)", v ? v : "");
            o->alert_within = x[0];
        } else if (cli_opt(argc, argv, &i, "--threshold", &v)) {
            if (cli_fraction(v, &o->threshold) || o->threshold >= 1)
                return cli_error("history", "bad --threshold '%s' (e.g. 2%%)", v ? v : "");
        } else {
            return cli_error("history", "unknown option '%s' (attnbench history --help)", argv[i]);
        }
    }
    if (!o->alert_within || o->alert_within > o->window) o->alert_within = o->window;
    return 0;
}

/* The series' reference: the newest run with the tag (any tag when tag is NULL). */
typedef struct hist_ref {
    char tag[128], gpu[128];
    int tagged, has_gpu; /* 0: the column is NULL */
} hist_ref;

static int find_reference(sqlite3 *db, const char *tag, hist_ref *r, int *found)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT tag, gpu_name, coalesce(gpu_name, backend || ' backend') FROM runs"
        " WHERE ?1 IS NULL OR tag = ?1 ORDER BY id DESC LIMIT 1", -1, &st, NULL));
    if ((tag ? sqlite3_bind_text(st, 1, tag, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1))) {
        sqlite3_finalize(st);
        return attn_fail_sqlite(db, sqlite3_errcode(db), "bind tag", __FILE__, __LINE__);
    }
    int rc = sqlite3_step(st);
    if ((*found = rc == SQLITE_ROW)) {
        const unsigned char *t = sqlite3_column_text(st, 0), *g = sqlite3_column_text(st, 2);
        r->tagged = t != NULL;
        r->has_gpu = sqlite3_column_type(st, 1) != SQLITE_NULL;
        snprintf(r->tag, sizeof r->tag, "%s", t ? (const char *)t : "");
        snprintf(r->gpu, sizeof r->gpu, "%s", g ? (const char *)g : "");
    }
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

/* The window's runs, oldest first: ids into runs[], count into *n. */
#define WINDOW_RUNS                                                                        \
    "SELECT id FROM runs WHERE tag IS ?1 AND gpu_name IS ?2 ORDER BY id DESC LIMIT ?3"

/* Binds the reference (tag, GPU) and the window to ?1..?3 of a statement using WINDOW_RUNS. */
static int bind_window(sqlite3 *db, sqlite3_stmt *st, const hist_ref *r, int window)
{
    if ((r->tagged ? sqlite3_bind_text(st, 1, r->tag, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1)) ||
        (r->has_gpu ? sqlite3_bind_text(st, 2, r->gpu, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2)) ||
        sqlite3_bind_int(st, 3, window))
        return attn_fail_sqlite(db, sqlite3_errcode(db), "bind window", __FILE__, __LINE__);
    return ATTN_OK;
}

static int load_runs(sqlite3 *db, const hist_ref *r, int window, int64_t *runs, int *n)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, "SELECT id FROM (" WINDOW_RUNS ") ORDER BY id", -1,
                                        &st, NULL));
    if (bind_window(db, st, r, window) != ATTN_OK) {
        sqlite3_finalize(st);
        return ATTN_ERR;
    }
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < window) runs[(*n)++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
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
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db,
        "SELECT variant || ' ' || dtype || ' B=' || batch || ' H=' || heads || '/' || kv_heads ||"
        " ' S=' || seq || ' D=' || head_dim || ' causal=' || causal ||"
        " CASE WHEN params = '' THEN '' ELSE ' ' || params END AS key, run_id, median_ns"
        " FROM points WHERE run_id IN (" WINDOW_RUNS ") AND status = 'ok' AND median_ns > 0"
        "   AND (?4 IS NULL OR variant = ?4) AND (?5 IS NULL OR instr(key, ?5) > 0)"
        " ORDER BY variant, dtype, batch, heads, kv_heads, seq, head_dim, causal, params,"
        "   run_id, id", -1, &st, NULL));
    if (bind_window(db, st, r, o->window) != ATTN_OK ||
        (o->variant ? sqlite3_bind_text(st, 4, o->variant, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 4)) ||
        (o->key ? sqlite3_bind_text(st, 5, o->key, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 5))) {
        sqlite3_finalize(st);
        return attn_fail_sqlite(db, sqlite3_errcode(db), "bind", __FILE__, __LINE__);
    }
    hist_series *s = calloc(1, sizeof *s);
    if (!s) {
        sqlite3_finalize(st);
        return attn_fail("out of host memory");
    }
    int rc, status = ATTN_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && status == ATTN_OK) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        int64_t run = sqlite3_column_int64(st, 1);
        if (s->n && strcmp(key, s->key) != 0) {
            status = report_series(s, o, alert_from, t);
            s->n = 0;
        }
        if (!s->n) snprintf(s->key, sizeof s->key, "%s", key);
        if (s->n && s->run[s->n - 1] == run) s->n--; /* a key twice in a run: the newest point */
        s->run[s->n] = run;
        s->y[s->n++] = log(sqlite3_column_double(st, 2));
    }
    if (status == ATTN_OK && rc == SQLITE_DONE && s->n) status = report_series(s, o, alert_from, t);
    free(s);
    sqlite3_finalize(st);
    if (status != ATTN_OK) return status;
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

int cmd_history(int argc, char **argv)
{
    hist_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    sqlite3 *db;
    if ((rc = cmd_open_db("history", o.db, &db))) return rc;
    hist_ref ref;
    int found = 0, n_runs = 0;
    static int64_t runs[MAX_RUNS];
    if (find_reference(db, o.tag, &ref, &found) != ATTN_OK ||
        (found && load_runs(db, &ref, o.window, runs, &n_runs) != ATTN_OK)) {
        rc = cli_error("history", "%s", attn_last_error.msg);
    } else if (!found) {
        rc = o.tag ? cli_error("history", "no run tagged '%s' in '%s'", o.tag, o.db)
                   : cli_error("history", "no runs in '%s'", o.db);
    } else {
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
    return rc;
}
