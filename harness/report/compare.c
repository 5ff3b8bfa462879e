/* compare.c — `attnbench compare`: the regression gate between two runs, as a command: its options,
 * the two runs it names (by id or tag, on one GPU model), and the printers of its verdict (an
 * aligned or Markdown table, JUnit XML; `attnbench ab` prints with them too, compare.h). Each key's
 * statistics and state are compare_keys.c's. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "report/compare.h"
#include "report/compare_keys.h"
#include "store/sql.h"
#include "report/reader.h"
#include "store/store.h"

typedef struct cmp_opts {
    const char *db, *baseline, *candidate, *junit, *format;
    const char *baseline_variant; /* --baseline-variant V: within the candidate run, against V */
    cmp_rule rule;
    int allow_different_gpus, fail_on_inconclusive, no_baseline_ok, include_incomplete;
    int markdown; /* --format md */
} cmp_opts;

/* A run as the gate needs it. */
typedef struct cmp_run {
    int64_t id;
    char gpu[128];    /* GPU model, or "cpu backend" when the run had none */
    int has_gpu;      /* 0: gpu_name was NULL */
    char tag[128];    /* "-" when untagged */
    int64_t seed;
    char init[32];    /* input distribution; with the seed, decides if error metrics compare */
    char profiler[64];/* the profiler it ran under ("": none): its times are not timings */
} cmp_run;

int cmp_set_alpha(void *field, const char *value)
{
    double *alpha = field;
    return cli_fraction(value, alpha) || !(*alpha > 0 && *alpha < 1) ? CLI_BAD_VALUE : 0;
}

static int set_noise_window(void *field, const char *value)
{
    int *window = field;
    if (cli_set_count(window, value) || *window < NOISE_MIN_RUNS || *window > NOISE_WINDOW_MAX)
        return CLI_BAD_VALUE;
    return 0;
}

_Static_assert(NOISE_MIN_RUNS == 5 && NOISE_WINDOW == 20 && NOISE_WINDOW_MAX == 200,
               "--noise-window's help states 5 to 200, default 20");

static const cli_option compare_options[] = {
    {"--baseline", "RUN|TAG", "the run compared against (required)", cli_set_text,
     offsetof(cmp_opts, baseline)},
    {"--candidate", "RUN|TAG", "the run under test (required)", cli_set_text,
     offsetof(cmp_opts, candidate)},
    {"--baseline-variant", "V", "instead of --baseline: within the candidate run, each other\n"
     "variant against V at the same shape (params aside), within-run tests only",
     cli_set_text, offsetof(cmp_opts, baseline_variant)},
    READER_OPTION_DB(cmp_opts),
    CMP_GATE_OPTIONS(cmp_opts),
    {"--noise-window", "N", "between-run noise from the baseline's newest N runs, 5 to 200\n"
     "(default 20)", set_noise_window, offsetof(cmp_opts, rule.noise_window)},
    {"--allow-different-gpus", NULL, "compare runs from different GPU models (refused otherwise)",
     cli_set_flag, offsetof(cmp_opts, allow_different_gpus)},
    {"--no-baseline-ok", NULL, "a baseline TAG that matches no run is not an error (exit 0): the\n"
     "first nightly run has nothing to compare with", cli_set_flag,
     offsetof(cmp_opts, no_baseline_ok)},
    {"--include-incomplete", NULL, "a TAG may name a run that did not finish (running, abandoned,\n"
     "interrupted, aborted); by default it names the newest complete one", cli_set_flag,
     offsetof(cmp_opts, include_incomplete)},
    {0}};

static const cli_command compare_command = {
    "compare", "(--baseline RUN|TAG | --baseline-variant V) --candidate RUN|TAG [options]",
    "Compares two runs key by key (variant, B, H, H_kv, S, D, dtype, causal, params) from their\n"
    "stored, non-throttled samples. A RUN is a run id; a TAG the newest complete run (ok or\n"
    "failed) with that tag (for the baseline: other than the candidate, on the candidate's GPU\n"
    "model). Which runs were chosen is said on stderr.\n"
    "Per key: ratio of medians (candidate/baseline), Hodges–Lehmann ratio with a 95% bootstrap\n"
    "interval (2000 resamples, fixed seed), and one-sided Mann–Whitney tests on log times of\n"
    "\"slower by more than the threshold\" and \"faster by more than it\", Benjamini–Hochberg\n"
    "adjusted across keys: the within-run tests.\n"
    "Between runs: the key's medians in the baseline's newest --noise-window runs (its tag, GPU\n"
    "model and backend; up to the baseline, without the candidate) give its between-run noise\n"
    "(run_noise: the spread of one run's median, moderated across the variant's keys, and the\n"
    "floor an effect had to pass). From 5 such runs on, the runs decide: slower needs the\n"
    "candidate's median above the history's level (the mean of its runs since its last step)\n"
    "by more than the threshold and by more than the floor (a one-sided t test, two-stage\n"
    "Benjamini–Hochberg adjusted p <= alpha). With fewer, the noise is unknown and a slowdown\n"
    "under 10% is inconclusive. States, worst first:\n"
    "  slower        as above, or an approximate variant's error against exact attention grew\n"
    "                by more than --err-tolerance (same seed and inputs)\n"
    "  inconclusive  fewer than 5 samples, more than 50% throttled (flagged and 0.5% slower\n"
    "                than the median), a point not ok on either side, or too noisy: neither\n"
    "                slower nor same\n"
    "  missing       measured in one run only\n"
    "  same          a slowdown beyond the threshold ruled out (p <= alpha), and not faster\n"
    "  faster        faster by more than the threshold (adjusted p_faster <= alpha)\n"
    "--baseline-variant V compares within the candidate run instead: each other variant's points\n"
    "against V's at the same shape (params aside), with the within-run tests alone (one process:\n"
    "no between-run noise, no history; errors of differing variants are not compared).\n",
    compare_options,
    "Exit status: 0 no regression; 1 at least one key slower; 2 bad usage or data (no such run,\n"
    "different GPU models, a run made under a profiler (run --profile, ncu, nsys,\n"
    "compute-sanitizer), an output that cannot be written: nothing was decided); 3 only\n"
    "inconclusive keys where --fail-on-inconclusive asked for a decision.\n",
    NULL};

static int is_run_id(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Finds the run `spec` names: the run with that id, or the newest complete run (any, with
 * --include-incomplete) with that tag whose id is not `exclude` and, unless any_gpu, whose GPU
 * model is gpu's (store_find_run). *found = 0 when none; *choice: the run and what was passed
 * over. */
static int find_run(sqlite3 *db, const cmp_opts *o, const char *spec, int64_t exclude,
                    int any_gpu, const cmp_run *gpu, cmp_run *out, int *found,
                    store_run_choice *choice)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK, by_id = is_run_id(spec);
    memset(choice, 0, sizeof *choice);
    if (!by_id) {
        const store_run_filter f = {spec, exclude, any_gpu, gpu && gpu->has_gpu ? gpu->gpu : NULL,
                                    o->include_incomplete};
        ATTN_TRY(store_find_run(db, &f, choice));
        if (!(*found = choice->id != 0)) return ATTN_OK;
    } else {
        choice->id = atoll(spec);
        ATTN_TRY(store_run_status(db, choice->id, choice->status, sizeof choice->status));
    }
    int64_t schema5; /* runs.profiler exists (older databases hold no profiler runs) */
    ATTN_TRY(store_query_int64(db, "SELECT count(*) FROM pragma_table_info('runs')"
                                   " WHERE name = 'profiler'", &schema5));
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db, schema5
        ? "SELECT id, coalesce(gpu_name, backend || ' backend'), gpu_name IS NOT NULL,"
          " coalesce(tag, '-'), seed, coalesce(init, ''), coalesce(profiler, '') FROM runs"
          " WHERE id = ?1"
        : "SELECT id, coalesce(gpu_name, backend || ' backend'), gpu_name IS NOT NULL,"
          " coalesce(tag, '-'), seed, coalesce(init, ''), '' FROM runs WHERE id = ?1",
        -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, choice->id), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    if ((*found = step == SQLITE_ROW)) {
        out->id = sqlite3_column_int64(st, 0);
        snprintf(out->gpu, sizeof out->gpu, "%s", (const char *)sqlite3_column_text(st, 1));
        out->has_gpu = sqlite3_column_int(st, 2);
        snprintf(out->tag, sizeof out->tag, "%s", (const char *)sqlite3_column_text(st, 3));
        out->seed = sqlite3_column_int64(st, 4);
        snprintf(out->init, sizeof out->init, "%s", (const char *)sqlite3_column_text(st, 5));
        snprintf(out->profiler, sizeof out->profiler, "%s",
                 (const char *)sqlite3_column_text(st, 6));
    }
end:
    sqlite3_finalize(st);
    return rc;
}

/* Says on stderr which run --baseline or --candidate SPEC named, and what it passed over. */
static void say_choice(const char *option, const char *spec, const store_run_choice *c)
{
    char text[256];
    store_run_choice_text(c, text, sizeof text);
    fprintf(stderr, "attnbench compare: %s %s: %s%s\n", option, spec, text,
            store_status_complete(c->status) ? "" : ", an incomplete run");
}

/* A run made in profiler mode (run --profile, or under ncu, nsys, compute-sanitizer) is refused:
 * its kernels were serialised or instrumented, and its few samples are no timing. 0, or
 * CLI_USAGE after a message. */
static int refuse_profiler_run(const char *role, const cmp_run *r)
{
    if (!r->profiler[0]) return 0;
    return cli_error("compare", "%s run %lld ran under a profiler (%s): its times are not timings; "
                     "compare runs made without one", role, (long long)r->id, r->profiler);
}

/* Resolves the candidate run; returns 0 or CLI_USAGE after a message. */
static int resolve_candidate(sqlite3 *db, const cmp_opts *o, cmp_run *cand)
{
    int found;
    store_run_choice choice;
    if (find_run(db, o, o->candidate, 0, 1, NULL, cand, &found, &choice) != ATTN_OK)
        return cli_error("compare", "%s", attn_last_error.msg);
    if (!found)
        return cli_error("compare", "no %scandidate run '%s' in '%s'%s",
                         choice.passed_over ? "complete " : "", o->candidate, o->db,
                         choice.passed_over ? " (--include-incomplete: any)" : "");
    say_choice("--candidate", o->candidate, &choice);
    return refuse_profiler_run("candidate", cand);
}

/* Resolves both runs; returns 0, CLI_USAGE after a message, or -1 for "no baseline, and that is
 * fine" (--no-baseline-ok). */
static int resolve_runs(sqlite3 *db, const cmp_opts *o, cmp_run *base, cmp_run *cand)
{
    int found, rc;
    store_run_choice base_choice, other_choice;
    if ((rc = resolve_candidate(db, o, cand))) return rc;
    int by_tag = !is_run_id(o->baseline);
    if (find_run(db, o, o->baseline, by_tag ? cand->id : 0, !by_tag || o->allow_different_gpus,
                 cand, base, &found, &base_choice) != ATTN_OK)
        return cli_error("compare", "%s", attn_last_error.msg);
    if (found) say_choice("--baseline", o->baseline, &base_choice);
    if (found && (rc = refuse_profiler_run("baseline", base))) return rc;
    if (!found) {
        cmp_run other;
        int other_found = 0;
        if (by_tag && find_run(db, o, o->baseline, cand->id, 1, NULL, &other, &other_found,
                               &other_choice) != ATTN_OK)
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
        return cli_error("compare", "no %sbaseline run '%s' in '%s'%s%s",
                         base_choice.passed_over ? "complete " : "", o->baseline, o->db,
                         by_tag ? " other than the candidate" : "",
                         base_choice.passed_over ? " (--include-incomplete: any)" : "");
    }
    if (!o->allow_different_gpus &&
        (base->has_gpu != cand->has_gpu || strcmp(base->gpu, cand->gpu) != 0))
        return cli_error("compare", "baseline run %lld ran on %s, candidate run %lld on %s: "
                         "timings from different GPU models are not comparable "
                         "(--allow-different-gpus to compare anyway)", (long long)base->id,
                         base->gpu, (long long)cand->id, cand->gpu);
    return 0;
}

/* "bf16 B=1 H=16/4 S=4096 D=128 causal=1 k=64" (no variant: JUnit puts it in the class name). */
static void shape_text(const cmp_point *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s B=%d H=%d/%d S=%d D=%d causal=%d%s%s", p->dtype, p->batch, p->heads,
             p->kv_heads, p->seq, p->head_dim, p->causal, *p->params ? " " : "", p->params);
}

/* ---------------------------------------------------------------- output */

enum { N_COLS = 10, CELL = 300 };
static const char *const headers[N_COLS] = {"state", "variant", "shape", "base_ms", "cand_ms",
                                            "ratio", "hl_ratio [95% CI]", "p_slower",
                                            "run_noise [floor]", "note"};

static void fmt_num(char *buf, double x, const char *fmt)
{
    if (isnan(x)) snprintf(buf, CELL, "-");
    else snprintf(buf, CELL, fmt, x);
}

static void key_cells(const cmp_key *k, char cells[N_COLS][CELL])
{
    snprintf(cells[0], CELL, "%s", cmp_state_names[k->state]);
    snprintf(cells[1], CELL, "%s", cmp_key_point(k)->variant);
    shape_text(cmp_key_point(k), cells[2], CELL);
    int timed = k->base && k->cand && k->n_base && k->n_cand;
    fmt_num(cells[3], timed ? k->base_ms : NAN, "%.4g");
    fmt_num(cells[4], timed ? k->cand_ms : NAN, "%.4g");
    int effect = k->tested || k->run.df > 0; /* measured within runs, or across ab's rounds */
    fmt_num(cells[5], effect ? k->s.ratio : NAN, "%.3f");
    if (effect)
        snprintf(cells[6], CELL, "%.3f [%.3f, %.3f]", k->s.hl_ratio, k->ci_lo, k->ci_hi);
    else
        snprintf(cells[6], CELL, "-");
    fmt_num(cells[7], effect ? k->p_slower : NAN, "%.2g");
    if (k->run.df > 0)
        snprintf(cells[8], CELL, "%.1f%% [%+.1f%%]", noise_spread(&k->run) * 100,
                 (exp(k->run.floor) - 1) * 100);
    else if (k->tested && !k->n_rounds && k->history) /* no history: a within-run comparison */
        snprintf(cells[8], CELL, "unknown (%d run%s)", k->n_history, k->n_history == 1 ? "" : "s");
    else
        snprintf(cells[8], CELL, "-");
    snprintf(cells[9], CELL, "%s", k->note);
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
    static const int left[N_COLS] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 1};
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

int cmp_write_junit(const char *path, const cmp_key *keys, size_t n, const char *suite,
                    int fail_on_inconclusive)
{
    FILE *f = fopen(path, "w");
    if (!f) return attn_fail("cannot write JUnit file '%s'", path);
    size_t failures = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        cmp_state s = keys[i].state;
        failures += s == SLOWER || (s == INCONCLUSIVE && fail_on_inconclusive);
        skipped += s == MISSING || (s == INCONCLUSIVE && !fail_on_inconclusive);
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"attnbench compare\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n"
               "  <testsuite name=\"",
            n, failures, skipped);
    xml_escaped(f, suite);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n", n, failures, skipped);
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
        snprintf(summary, sizeof summary,
                 "%s: ratio %s, HL %s, adjusted p_slower %s, run noise %s, %s vs %s ms%s%s",
                 cells[0], cells[5], cells[6], cells[7], cells[8], cells[3], cells[4],
                 *k->note ? "; " : "", k->note);
        const char *element = k->state == SLOWER || (k->state == INCONCLUSIVE && fail_on_inconclusive)
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
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) return attn_fail("cannot write JUnit file '%s'", path);
    return ATTN_OK;
}

/* ---------------------------------------------------------------- the command */

void cmp_print_verdict(FILE *out, const cmp_key *keys, size_t n, int markdown)
{
    size_t count[N_STATES] = {0};
    for (size_t i = 0; i < n; i++) count[keys[i].state]++;
    const char *b = markdown ? "**" : "";
    fprintf(out, "%s%zu slower, %zu inconclusive, %zu missing, %zu same, %zu faster%s\n\n", b,
            count[SLOWER], count[INCONCLUSIVE], count[MISSING], count[SAME], count[FASTER], b);
    print_keys(out, keys, n, markdown);
}

static void print_report(FILE *out, const cmp_key *keys, size_t n, const cmp_run *base,
                         const cmp_run *cand, const cmp_opts *o)
{
    const char *b = o->markdown ? "**" : "";
    if (o->baseline_variant)
        fprintf(out, "%sattnbench compare%s: within run %lld (tag %s) on %s, each variant against "
                     "%s at the same shape (params aside); threshold %g%%, alpha %g "
                     "(Benjamini–Hochberg over %zu keys); a within-run comparison against %s: "
                     "one process, no between-run noise\n\n",
                b, b, (long long)cand->id, cand->tag, cand->gpu, o->baseline_variant,
                o->rule.threshold * 100, o->rule.alpha, n, o->baseline_variant);
    else
        fprintf(out, "%sattnbench compare%s: candidate run %lld (tag %s) vs baseline run %lld (tag "
                     "%s) on %s; threshold %g%%, alpha %g (Benjamini–Hochberg over %zu keys); "
                     "between-run noise from the baseline's newest %d runs (known from %d)\n\n",
                b, b, (long long)cand->id, cand->tag, (long long)base->id, base->tag, cand->gpu,
                o->rule.threshold * 100, o->rule.alpha, n, o->rule.noise_window, NOISE_MIN_RUNS);
    cmp_print_verdict(out, keys, n, o->markdown);
}

int cmp_exit_status(const cmp_key *keys, size_t n, int fail_on_inconclusive)
{
    int slower = 0, inconclusive = 0;
    for (size_t i = 0; i < n; i++) {
        slower |= keys[i].state == SLOWER;
        inconclusive |= keys[i].state == INCONCLUSIVE;
    }
    return slower ? 1 : inconclusive && fail_on_inconclusive ? 3 : 0;
}

int cmd_compare(int argc, char **argv)
{
    cmp_opts o = {.db = READER_DB_DEFAULT, .format = "table",
                  .rule = {.threshold = 0.02, .alpha = 0.05, .err_tolerance = 0.10,
                           .noise_window = NOISE_WINDOW}};
    int rc = cli_parse(&compare_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (o.baseline && o.baseline_variant)
        return cli_error("compare", "--baseline (a run) and --baseline-variant (a variant within "
                         "the candidate run) exclude each other");
    if (!(o.baseline || o.baseline_variant) || !o.candidate)
        return cli_error("compare", "--candidate and --baseline or --baseline-variant are required "
                         "(attnbench compare --help)");
    if (strcmp(o.format, "table") != 0 && strcmp(o.format, "md") != 0)
        return cli_error("compare", "--format is table or md");
    o.markdown = strcmp(o.format, "md") == 0;
    if (o.junit && (rc = reader_check_output("compare", "--junit", o.junit))) return rc;
    sqlite3 *db;
    if ((rc = reader_open("compare", o.db, &db))) return rc;
    cmp_run base, cand;
    rc = o.baseline_variant ? resolve_candidate(db, &o, &cand) : resolve_runs(db, &o, &base, &cand);
    if (rc) {
        store_close(db);
        if (rc > 0) return rc;
        return reader_flush_stdout("compare") ? CLI_USAGE : 0;
    }
    cmp_keys k;
    int ok;
    char suite[128];
    if (o.baseline_variant) { /* one run: no history; the variants' errors differ by design */
        base = cand;
        o.rule.noise_window = 0;
        o.rule.within_run = 1;
        ok = cmp_keys_within(db, cand.id, o.baseline_variant, &o.rule, &k) == ATTN_OK;
        snprintf(suite, sizeof suite, "run %lld, variants vs %.60s", (long long)cand.id,
                 o.baseline_variant);
    } else {
        o.rule.same_inputs = base.seed == cand.seed && strcmp(base.init, cand.init) == 0;
        ok = cmp_keys_build(db, base.id, cand.id, &o.rule, &k) == ATTN_OK;
        snprintf(suite, sizeof suite, "run %lld vs baseline run %lld", (long long)cand.id,
                 (long long)base.id);
    }
    if (ok) {
        print_report(stdout, k.keys, k.n, &base, &cand, &o);
        if (o.junit)
            ok = cmp_write_junit(o.junit, k.keys, k.n, suite, o.fail_on_inconclusive) == ATTN_OK;
    }
    if (!ok)
        rc = cli_error("compare", "%s", attn_last_error.msg);
    else if (k.n == 0 && o.baseline_variant)
        rc = cli_error("compare", "run %lld has no measured variant besides %s", (long long)cand.id,
                       o.baseline_variant);
    else if (k.n == 0)
        rc = cli_error("compare", "runs %lld and %lld have no measured points", (long long)base.id,
                       (long long)cand.id);
    else
        rc = cmp_exit_status(k.keys, k.n, o.fail_on_inconclusive);
    cmp_keys_free(&k);
    store_close(db);
    return reader_flush_stdout("compare") ? CLI_USAGE : rc;
}
