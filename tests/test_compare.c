/* test_compare.c — `attnbench compare` on a fixture database made with the store API: a baseline
 * run; a candidate with one key slowed by 20 %, one by 5 %, an approximate variant whose error
 * doubled, a failed point, a point with too few samples, a throttled one (its flagged samples
 * slower), one whose flagged samples ran no slower (a clock dip after the sample: decided as
 * usual), a key dropped and one added; an A/A rerun; a run on another GPU model. Checks every exit status, the worst-first order
 * of the table, and that the JUnit file is well-formed XML with one test case per key. Without
 * history the between-run noise is unknown (the 5 % key is inconclusive, not slower); a second
 * fixture of nightly runs with run-to-run noise gives it: an A/A night passes, a +10 % key fails,
 * a key with too short a history says so. A run with cublas, fused and cudnn checks
 * --baseline-variant: within one run, each variant against cudnn at the same shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "fixture.h"
#include "core/stats.h"
#include "store/store.h"
#include "test.h"

static char db_path[64], junit_path[64], out_path[64];

static int64_t add_run(sqlite3 *db, const char *tag, const char *gpu)
{
    int64_t id;
    test_cond("fixture: run stored", fx_add_run(db, "test_compare", tag, gpu, &id) == 0);
    return id;
}

/* A point of `variant` at sequence length `seq`: n lognormal samples (CV 2 %) around
 * median_ns, the first n_throttled of them flagged throttled and `flagged_factor` times slower
 * (a capped clock slows them; a clock dip read after the sample does not: factor 1). */
static void add_point_flagged(sqlite3 *db, int64_t run, const char *variant, int exact, int seq,
                              const char *status, double median_ns, int n, int n_throttled,
                              double flagged_factor, double err, uint64_t seed)
{
    store_point p = {.variant = variant, .exact = exact, .status = status,
                     .reason = strcmp(status, "ok") ? "3 of 4096 checked elements outside tolerance" : NULL,
                     .point = {.batch = 1, .heads = 16, .kv_heads = 16, .seq = seq, .head_dim = 128,
                               .dtype = ATTN_BF16, .causal = 1},
                     .check = {NAN, NAN, NAN}, .vs_exact = {NAN, err, NAN},
                     .dense_flops = 1e9, .exec_flops = NAN, .bytes = NAN, .device_bytes = NAN,
                     .timing = {.n_samples = n, .n_used = n - n_throttled, .median = median_ns,
                                .p10 = NAN, .p90 = NAN, .ci_low = NAN, .ci_high = NAN}};
    int64_t ns[64];
    uint8_t thr[64];
    stats_rng r = {seed};
    for (int i = 0; i < n; i++) {
        thr[i] = i < n_throttled;
        ns[i] = (int64_t)(median_ns * (thr[i] ? flagged_factor : 1) * exp(0.02 * stats_rng_normal(&r)));
    }
    int64_t id;
    test_cond("fixture: point stored", store_point_add(db, run, &p, ns, thr, n, NULL, NULL, 0, &id) == ATTN_OK);
}

/* add_point_flagged with its flagged samples slowed by a capped clock (10 %). */
static void add_point(sqlite3 *db, int64_t run, const char *variant, int exact, int seq,
                      const char *status, double median_ns, int n, int n_throttled, double err,
                      uint64_t seed)
{
    add_point_flagged(db, run, variant, exact, seq, status, median_ns, n, n_throttled, 1.10, err, seed);
}

/* The baseline's keys, each at its own median, with samples from `seed`. */
static void add_common(sqlite3 *db, int64_t run, uint64_t seed, const char *s2048_status)
{
    add_point(db, run, "naive", 1, 256, "ok", 2e5, 20, 0, NAN, seed + 1);
    add_point(db, run, "naive", 1, 1024, "ok", 8e5, 20, 0, NAN, seed + 3);
    add_point(db, run, "naive", 1, 2048, s2048_status, 3e6, 20, 0, NAN, seed + 4);
    add_point(db, run, "naive", 1, 8192, "ok", 5e7, 20, 0, NAN, seed + 5);
    add_point(db, run, "naive", 1, 16384, "ok", 2e8, 20, 0, NAN, seed + 6);
}

static void make_fixture(void)
{
    sqlite3 *db;
    unlink(db_path);
    test_cond("fixture: database opens", store_open(db_path, &db) == ATTN_OK);
    int64_t base = add_run(db, "base", "NVIDIA H100 80GB HBM3");            /* run 1 */
    add_common(db, base, 100, "ok");
    add_point(db, base, "naive", 1, 512, "ok", 4e5, 20, 0, NAN, 102);
    add_point(db, base, "approx", 0, 512, "ok", 1e5, 20, 0, 1e-3, 103);
    add_point(db, base, "naive", 1, 4096, "ok", 1e7, 20, 0, NAN, 104);        /* dropped later */
    add_point(db, base, "naive", 1, 65536, "ok", 3e9, 40, 0, NAN, 105);

    int64_t cand = add_run(db, "cand", "NVIDIA H100 80GB HBM3");            /* run 2 */
    add_point(db, cand, "naive", 1, 256, "ok", 2e5, 20, 0, NAN, 201);
    add_point(db, cand, "naive", 1, 512, "ok", 4.8e5, 20, 0, NAN, 202);       /* +20 %: slower */
    add_point(db, cand, "approx", 0, 512, "ok", 1e5, 20, 0, 2e-3, 203);       /* error doubled */
    add_point(db, cand, "naive", 1, 1024, "ok", 8.4e5, 20, 0, NAN, 204);      /* +5 %: unknown */
    add_point(db, cand, "naive", 1, 2048, "failed", 3e6, 20, 0, NAN, 205);    /* inconclusive */
    add_point(db, cand, "naive", 1, 8192, "ok", 5e7, 3, 0, NAN, 206);         /* too few */
    add_point(db, cand, "naive", 1, 16384, "ok", 2e8, 20, 11, NAN, 207);      /* 55 % throttled */
    add_point(db, cand, "naive", 1, 32768, "ok", 8e8, 20, 0, NAN, 208);       /* new key */
    add_point_flagged(db, cand, "naive", 1, 65536, "ok", 3e9, 40, 24, 1, NAN, 209); /* 60 % dip */

    int64_t aa = add_run(db, "aa", "NVIDIA H100 80GB HBM3");                /* run 3 */
    add_common(db, aa, 300, "failed");
    add_point(db, aa, "naive", 1, 512, "ok", 4e5, 20, 0, NAN, 302);
    add_point(db, aa, "approx", 0, 512, "ok", 1e5, 20, 0, 1e-3, 303);
    add_point(db, aa, "naive", 1, 4096, "ok", 1e7, 20, 0, NAN, 304);
    add_point(db, aa, "naive", 1, 65536, "ok", 3e9, 40, 0, NAN, 305);

    int64_t other = add_run(db, "a100", "NVIDIA A100-SXM4-80GB");            /* run 4 */
    add_common(db, other, 400, "ok");

    /* run 5: fused against cudnn +20 %, -20 %, the same and +5 % (slower within a run: no
     * between-run rule), cublas the same, and a cublas key cudnn lacks. */
    int64_t vendor = add_run(db, "vendor", "NVIDIA H100 80GB HBM3");
    static const int seqs[] = {256, 512, 1024, 2048};
    static const double fused[] = {1.2, 0.8, 1, 1.05};
    for (int i = 0; i < 4; i++) {
        double ns = 1e3 * seqs[i];
        add_point(db, vendor, "cudnn", 1, seqs[i], "ok", ns, 20, 0, NAN, 500 + (uint64_t)i);
        add_point(db, vendor, "fused", 1, seqs[i], "ok", ns * fused[i], 20, 0, NAN,
                  510 + (uint64_t)i);
        add_point(db, vendor, "cublas", 1, seqs[i] * (i == 3 ? 2 : 1), "ok", ns, 20, 0, NAN,
                  520 + (uint64_t)i);
    }
    store_close(db);
}

/* Runs `attnbench compare ARGS…` on the fixture with stdout in out_path; returns its status. */
static int compare(const char *a1, const char *a2, const char *a3, const char *a4,
                   const char *a5, const char *a6)
{
    char *argv[16] = {"compare", "--db", db_path};
    int argc = 3;
    const char *more[] = {a1, a2, a3, a4, a5, a6};
    for (int i = 0; i < 6 && more[i]; i++) argv[argc++] = (char *)more[i];
    return fx_call(cmd_compare, out_path, argc, argv);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (; (s = strstr(s, what)); s += strlen(what)) n++;
    return n;
}

/* An entity reference our writer may emit. */
static int entity_ok(const char *s)
{
    static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(s, ok[i], strlen(ok[i])) == 0) return 1;
    return 0;
}

/* Well-formedness as this writer can get it wrong: balanced and properly nested elements, quoted
 * attributes without '<', only the five predefined entities, one root element. */
static int xml_well_formed(const char *s)
{
    const char *name[64];
    size_t len[64];
    int depth = 0, roots = 0;
    if (strncmp(s, "<?xml ", 6) != 0) return 0;
    s = strstr(s, "?>") + 2;
    while (*s) {
        if (*s == '&' && !entity_ok(s)) return 0;
        if (*s == '>') return 0;
        if (*s != '<') {
            if (depth == 0 && *s != '\n' && *s != ' ') return 0; /* text outside the root */
            s++;
            continue;
        }
        if (s[1] == '/') {
            size_t n = strcspn(s + 2, ">");
            if (!depth || n != len[depth - 1] || strncmp(s + 2, name[depth - 1], n)) return 0;
            depth--;
            s += 3 + n;
            continue;
        }
        const char *tag = s + 1;
        size_t n = strcspn(tag, " />\n");
        if (n == 0) return 0;
        const char *p = tag + n;
        char quote = 0;
        for (; *p && (quote || *p != '>'); p++) {
            if (*p == '<' || (*p == '&' && !entity_ok(p))) return 0;
            if (!quote && (*p == '"' || *p == '\'')) quote = *p;
            else if (quote && *p == quote) quote = 0;
        }
        if (!*p) return 0;
        if (depth == 0) roots++;
        if (p[-1] != '/') {
            if (depth == 64) return 0;
            name[depth] = tag;
            len[depth++] = n;
        }
        s = p + 1;
    }
    return depth == 0 && roots == 1;
}

static void test_gate(void)
{
    int rc = compare("--baseline", "base", "--candidate", "cand", "--junit", junit_path);
    test_cond("slowed candidate: exit 1", rc == 1);
    char *out = fx_text(out_path);
    /* The first row: the +20 % key (its HL ratio is the largest of the slower ones). */
    char row[512] = "";
    const char *first = strstr(out, "\nslower ");
    if (first) sscanf(first + 1, "%511[^\n]", row);
    test_cond("table: the +20% key first", strstr(row, "naive") && strstr(row, "S=512 "));
    test_cond("table: worst first", strstr(out, "\nslower ") < strstr(out, "\ninconclusive ") &&
                                        strstr(out, "\ninconclusive ") < strstr(out, "\nmissing ") &&
                                        strstr(out, "\nmissing ") < strstr(out, "\nsame "));
    test_cond("summary line", strstr(out, "2 slower, 4 inconclusive, 2 missing, 2 same, 0 faster") != NULL);
    const char *unknown = strstr(out, "between-run noise unknown (1 of 5 runs): +4.");
    test_cond("+5% without history: inconclusive", unknown && strstr(out, "\ninconclusive  naive    "
                                                                          "bf16 B=1 H=16/16 S=1024 "));
    test_cond("the noise column says why", strstr(out, "unknown (1 run)  ") != NULL);
    test_cond("accuracy regression is slower", strstr(out, "accuracy: error vs exact 0.001 -> 0.002") != NULL);
    test_cond("failed point is inconclusive", strstr(out, "candidate point failed") != NULL);
    test_cond("few samples are inconclusive", strstr(out, "too few samples (20, 3; need 5)") != NULL);
    test_cond("throttled samples are inconclusive", strstr(out, "candidate: 55% of samples throttled") != NULL);
    test_cond("flagged samples that ran no slower are not throttling",
              strstr(out, "\nsame          naive    bf16 B=1 H=16/16 S=65536 ") != NULL);
    free(out);

    char *xml = fx_text(junit_path);
    test_cond("junit: well-formed", xml_well_formed(xml));
    test_cond("junit: one test case per key (10)", count(xml, "<testcase ") == 10);
    test_cond("junit: regressions are failures", count(xml, "<failure ") == 2 &&
                                                     strstr(xml, "failures=\"2\"") != NULL);
    test_cond("junit: inconclusive and missing skipped", count(xml, "<skipped ") == 6);
    free(xml);

    test_cond("run ids work like tags", compare("--baseline", "1", "--candidate", "2", NULL, NULL) == 1);
    test_cond("A/A rerun with a failed point: exit 0",
              compare("--baseline", "base", "--candidate", "aa", NULL, NULL) == 0);
    test_cond("... and 3 with --fail-on-inconclusive",
              compare("--baseline", "base", "--candidate", "aa", "--fail-on-inconclusive", NULL) == 3);
    out = fx_text(out_path);
    test_cond("A/A: no key slower", strstr(out, "0 slower, 1 inconclusive, 0 missing") != NULL);
    free(out);
    test_cond("markdown format", compare("--baseline", "base", "--candidate", "aa", "--format", "md") == 0);
    out = fx_text(out_path);
    test_cond("markdown table", strstr(out, "| state | variant |") && strstr(out, "|:--|:--|"));
    free(out);
}

static void test_within_run(void)
{
    int rc = compare("--candidate", "vendor", "--baseline-variant", "cudnn", "--junit", junit_path);
    test_cond("within run: fused slower than cudnn, exit 1", rc == 1);
    char *out = fx_text(out_path);
    test_cond("within run: the header says so",
              strstr(out, "within run 5 (tag vendor)") &&
                  strstr(out, "a within-run comparison against cudnn: one process, no "
                              "between-run noise"));
    test_cond("within run: summary line",
              strstr(out, "2 slower, 0 inconclusive, 1 missing, 4 same, 1 faster") != NULL);
    char row[512] = "";
    const char *first = strstr(out, "\nslower ");
    if (first) sscanf(first + 1, "%511[^\n]", row);
    test_cond("within run: +20% first, as fused", strstr(row, " fused ") && strstr(row, "S=256 "));
    test_cond("within run: +5% slower (no between-run rule)",
              strstr(out, "S=2048 ") && !strstr(out, "between-run noise unknown"));
    test_cond("within run: no run-noise column", !strstr(out, "unknown ("));
    test_cond("within run: a key cudnn lacks is missing",
              strstr(out, "no cudnn point at this shape") != NULL);
    test_cond("within run: cudnn is no key", !strstr(out, "  cudnn "));
    free(out);
    char *xml = fx_text(junit_path);
    test_cond("within run: junit well-formed, 8 cases",
              xml_well_formed(xml) && count(xml, "<testcase ") == 8 &&
                  strstr(xml, "run 5, variants vs cudnn"));
    free(xml);
    test_cond("--baseline with --baseline-variant: exit 2",
              compare("--baseline", "base", "--candidate", "vendor", "--baseline-variant",
                      "cudnn") == 2);
    test_cond("unknown --baseline-variant: exit 2",
              compare("--candidate", "vendor", "--baseline-variant", "flash9", NULL, NULL) == 2);
}

static void test_refusals(void)
{
    test_cond("different GPU models: exit 2",
              compare("--baseline", "base", "--candidate", "a100", NULL, NULL) == 2);
    test_cond("different GPU models by run id: exit 2",
              compare("--baseline", "1", "--candidate", "4", NULL, NULL) == 2);
    test_cond("--allow-different-gpus compares",
              compare("--baseline", "1", "--candidate", "4", "--allow-different-gpus", NULL) == 0);
    test_cond("unknown tag: exit 2", compare("--baseline", "nope", "--candidate", "cand", NULL, NULL) == 2);
    test_cond("no earlier run with the tag: exit 2",
              compare("--baseline", "base", "--candidate", "base", NULL, NULL) == 2);
    test_cond("... exit 0 with --no-baseline-ok",
              compare("--baseline", "base", "--candidate", "base", "--no-baseline-ok", NULL) == 0);
    test_cond("missing --candidate: exit 2", compare("--baseline", "base", NULL, NULL, NULL, NULL) == 2);
    test_cond("bad --threshold: exit 2",
              compare("--baseline", "1", "--candidate", "2", "--threshold", "x") == 2);
    test_cond("bad --format: exit 2",
              compare("--baseline", "1", "--candidate", "2", "--format", "xml") == 2);
    char *argv[] = {"compare", "--db", "/nonexistent/x.db", "--baseline", "1", "--candidate", "2"};
    test_cond("absent database: exit 2", cmd_compare(7, argv) == 2);
}

/* ---------------------------------------------------------------- between-run noise */

static char night_db[64];

/* A nightly run of 6 naive keys whose medians carry a run-level offset (sd 1 %), the key at
 * S=512 `slow` times slower; with the key at S=16384 when `with_new`. */
static int64_t add_night(sqlite3 *db, const char *tag, uint64_t seed, double slow, int with_new)
{
    int64_t run = add_run(db, tag, "NVIDIA H200");
    stats_rng r = {seed};
    static const int seqs[] = {256, 512, 1024, 2048, 4096, 8192, 16384};
    for (int i = 0; i < 7; i++) {
        double offset = exp(0.01 * stats_rng_normal(&r)) * (seqs[i] == 512 ? slow : 1);
        if (i < 6 || with_new)
            add_point(db, run, "naive", 1, seqs[i], "ok", 1e3 * seqs[i] * offset, 20, 0, NAN,
                      seed * 10 + (uint64_t)i);
    }
    return run;
}

static int compare_nights(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[16] = {"compare", "--db", night_db, "--baseline", "night"};
    int argc = 5;
    const char *more[] = {a1, a2, a3, a4};
    for (int i = 0; i < 4 && more[i]; i++) argv[argc++] = (char *)more[i];
    return fx_call(cmd_compare, out_path, argc, argv);
}

static void test_between_runs(void)
{
    sqlite3 *db;
    unlink(night_db);
    test_cond("nights: database opens", store_open(night_db, &db) == ATTN_OK);
    for (int night = 1; night <= 8; night++) add_night(db, "night", (uint64_t)night, 1, night > 5);
    int64_t aa = add_night(db, "night", 9, 1, 1);        /* run 9 */
    int64_t slow = add_night(db, "other", 10, 1.10, 1); /* run 10: S=512 10 % slower */
    store_close(db);
    char cand[32];
    snprintf(cand, sizeof cand, "%lld", (long long)aa);
    test_cond("A/A night: exit 0", compare_nights("--candidate", cand, NULL, NULL) == 0);
    char *out = fx_text(out_path);
    test_cond("A/A night: no key slower", strstr(out, "0 slower") != NULL);
    test_cond("A/A night: the history's noise is printed", strstr(out, "vs its last 8 runs") != NULL);
    test_cond("a key with 3 runs of history: unknown", strstr(out, "unknown (3 runs)") != NULL);
    free(out);
    snprintf(cand, sizeof cand, "%lld", (long long)slow);
    test_cond("+10% at 1% noise: exit 1", compare_nights("--candidate", cand, NULL, NULL) == 1);
    out = fx_text(out_path);
    const char *row = strstr(out, "\nslower ");
    test_cond("+10%: the S=512 key, against its 9 runs", row && strstr(row, "S=512 ") &&
                                                          strstr(row, "vs its last 9 runs"));
    test_cond("+10%: only that key", strstr(out, "1 slower, ") != NULL);
    free(out);
    test_cond("--noise-window 5 reads 5 runs",
              compare_nights("--candidate", cand, "--noise-window", "5") == 1);
    out = fx_text(out_path);
    test_cond("... and says so", strstr(out, "vs its last 5 runs") != NULL);
    free(out);
    test_cond("--noise-window 4: exit 2",
              compare_nights("--candidate", cand, "--noise-window", "4") == 2);
    fx_unlink_db(night_db);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/attnbench-test-compare-%d.db", (int)getpid());
    snprintf(junit_path, sizeof junit_path, "/tmp/attnbench-test-compare-%d.xml", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/attnbench-test-compare-%d.out", (int)getpid());
    snprintf(night_db, sizeof night_db, "/tmp/attnbench-test-nights-%d.db", (int)getpid());
    make_fixture();
    test_gate();
    test_within_run();
    test_refusals();
    test_between_runs();
    fx_unlink_db(db_path);
    unlink(junit_path);
    unlink(out_path);
    return test_report();
}
