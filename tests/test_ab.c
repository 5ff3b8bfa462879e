/* test_ab.c — `attnbench ab` (run/ab.c) and its keys (report/ab_keys.c). The keys on a fixture of 3
 * rounds made with the store API, every run with its own offsets (sd 1 %): a key 10 % slower in
 * every B run, A/A keys, a key failed in one round, one throttled, one not measured in a round, one
 * only in B. The command on the CPU backend with build/attnbench as both builds: the ABBA order
 * and tags of the runs it stores, its table and exit status; its refusals (exit 2, nothing
 * written) and a build that stores no run (exit 4). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "core/stats.h"
#include "fixture.h"
#include "report/ab_keys.h"
#include "report/compare.h"
#include "store/store.h"
#include "test.h"

#define ROUNDS 3
#define SAMPLES 20

static char db_path[300];

typedef struct fix_point {
    int seq;
    const char *status;
    double factor;    /* times the key's usual median */
    int n, throttled; /* samples, of which the first `throttled` flagged */
} fix_point;

/* A point of naive at S = p->seq with SAMPLES samples (CV 0.5 %) around 1000·S·factor·offset. */
static void add_point(sqlite3 *db, int64_t run, const fix_point *p, double offset, uint64_t seed)
{
    int64_t ns[SAMPLES], id;
    uint8_t thr[SAMPLES];
    stats_rng r = {seed};
    double median = 1e3 * p->seq * p->factor * offset;
    for (int i = 0; i < p->n; i++) {
        thr[i] = i < p->throttled;
        /* a flagged sample ran at a capped clock: 10 % slower */
        ns[i] = (int64_t)(median * (thr[i] ? 1.10 : 1) * exp(0.005 * stats_rng_normal(&r)));
    }
    store_point sp = {.variant = "naive",
                      .exact = 1,
                      .status = p->status,
                      .reason = strcmp(p->status, "ok") ? "2 elements outside tolerance" : NULL,
                      .point = {.batch = 1,
                                .heads = 8,
                                .kv_heads = 8,
                                .seq = p->seq,
                                .head_dim = 64,
                                .dtype = ATTN_BF16,
                                .causal = 0},
                      .check = {NAN, NAN, NAN},
                      .vs_exact = {NAN, NAN, NAN},
                      .dense_flops = 1e9,
                      .exec_flops = NAN,
                      .bytes = NAN,
                      .device_bytes = NAN,
                      .timing = {.n_samples = p->n,
                                 .n_used = p->n - p->throttled,
                                 .median = median,
                                 .p10 = NAN,
                                 .p90 = NAN,
                                 .ci_low = NAN,
                                 .ci_high = NAN}};
    test_cond("fixture: point stored",
              store_point_add(db, run, &sp, ns, thr, p->n, NULL, NULL, 0, &id) == ATTN_OK);
}

/* Round r's run of side s (0 A, 1 B): the A/A keys, S=512 10 % slower on B, and the special ones. */
static int64_t add_round_run(sqlite3 *db, int s, int r)
{
    int64_t run;
    char tag[32];
    snprintf(tag, sizeof tag, "ab-%c-r%d", "AB"[s], r + 1);
    test_cond("fixture: run stored", fx_add_run(db, "test_ab", tag, "NVIDIA H200", &run) == 0);
    stats_rng offsets = {(uint64_t)(100 * s + r + 1)};
    const fix_point common[] = {{128, "ok", 1, SAMPLES, 0},
                                {256, "ok", 1, SAMPLES, 0},
                                {512, "ok", s ? 1.10 : 1, SAMPLES, 0},
                                {1024, "ok", 1, SAMPLES, 0},
                                {1536, "ok", 1, SAMPLES, 0},
                                {3072, "ok", 1, SAMPLES, 0}};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        add_point(db, run, &common[i], exp(0.01 * stats_rng_normal(&offsets)),
                  (uint64_t)(1000 * s + 100 * r + (int)i));
    fix_point failed = {2048, s == 1 && r == 1 ? "failed" : "ok", 1, SAMPLES, 0};
    fix_point throttled = {4096, "ok", 1, SAMPLES, s == 0 && r == 0 ? 11 : 0};
    fix_point gap = {8192, "ok", 1, SAMPLES, 0};
    fix_point only_b = {16384, "ok", 1, SAMPLES, 0};
    add_point(db, run, &failed, 1, 7);
    add_point(db, run, &throttled, 1, 8);
    if (!(s == 0 && r == 2)) add_point(db, run, &gap, 1, 9);
    if (s == 1) add_point(db, run, &only_b, 1, 10);
    return run;
}

/* The key at S = seq. */
static const cmp_key *key_at(const ab_keys *k, int seq)
{
    for (size_t i = 0; i < k->n; i++)
        if (cmp_key_point(&k->keys[i])->seq == seq) return &k->keys[i];
    return NULL;
}

static void test_keys(void)
{
    sqlite3 *db;
    test_cond("fixture: database opens", store_open(db_path, &db) == ATTN_OK);
    int64_t runs[2][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int turn = 0; turn < 2; turn++) {
            int s = (r % 2 == 0) == (turn == 0) ? 0 : 1;
            runs[s][r] = add_round_run(db, s, r);
        }
    cmp_rule rule = {.threshold = 0.02, .alpha = 0.05, .err_tolerance = 0.1, .same_inputs = 1};
    ab_keys k;
    test_cond("keys: decided", ab_keys_build(db, runs[0], runs[1], ROUNDS, &rule, &k) == ATTN_OK);
    test_cond("keys: 10 of them", k.n == 10);
    const cmp_key *slow = key_at(&k, 512);
    test_cond("+10% every round: slower", slow && slow->state == SLOWER && k.keys == slow);
    test_cond("... its ratio and interval", slow && fabs(slow->s.ratio - 1.10) < 0.02 &&
                                                slow->ci_lo < 1.10 && slow->ci_hi > 1.10 &&
                                                slow->ci_lo > 1.02);
    test_cond("... the rounds in its note", slow && strncmp(slow->note, "per round +", 11) == 0);
    int aa_slower = 0;
    static const int aa[] = {128, 256, 1024, 1536, 3072};
    for (int i = 0; i < 5; i++) aa_slower += key_at(&k, aa[i])->state == SLOWER;
    test_cond("A/A keys: none slower", aa_slower == 0);
    test_cond("A/A keys: a between-run spread near 1%",
              fabs(noise_spread(&key_at(&k, 128)->run) - 0.01) < 0.006);
    const cmp_key *x = key_at(&k, 2048);
    test_cond("failed in round 2: inconclusive",
              x->state == INCONCLUSIVE && strstr(x->note, "round 2 B: failed: 2 elements"));
    x = key_at(&k, 4096);
    test_cond("throttled in round 1: inconclusive",
              x->state == INCONCLUSIVE && strstr(x->note, "round 1 A: 55% of samples throttled"));
    x = key_at(&k, 8192);
    test_cond("not measured in round 3: inconclusive",
              x->state == INCONCLUSIVE && strstr(x->note, "round 3 A: not measured"));
    x = key_at(&k, 16384);
    test_cond("only in B: missing", x->state == MISSING && strcmp(x->note, "only in B") == 0);
    test_cond("exit status 1", cmp_exit_status(k.keys, k.n, 0) == 1);
    ab_keys_free(&k);
    test_cond("one round: refused", ab_keys_build(db, runs[0], runs[1], 1, &rule, &k) != ATTN_OK);
    ab_keys_free(&k);
    store_close(db);
    fx_unlink_db(db_path);
}

#define CPU_RUN                                                                                    \
    "--backend cpu --variants naive --seq 64 --heads 4 --kv-heads 2 --head-dim 64 "                \
    "--max-time 0.05"

static void test_command(void)
{
    char out[300];
    fx_path(out, sizeof out, "ab.out");
    int rc = fx_sh("'%s' ab --a '%s' --b build --rounds 2 --db '%s' --b-options '--seed 2 --quiet' "
                   "-- " CPU_RUN " > '%s' 2>/dev/null",
                   fx_bin, fx_bin, db_path, out);
    /* CPU timings on a shared machine are no performance target (a busy neighbour can make a
     * key 2 % slower in one round): what is asserted is that ab ran both builds and decided. */
    test_cond("A/A on the CPU backend: a decision (exit 0 or 1), not an error", rc == 0 || rc == 1);
    char *text = fx_text(out);
    test_cond("the verdict on stdout", strstr(text, "attnbench ab: B build/attnbench") &&
                                           strstr(text, "2 rounds ABBA on cpu backend") &&
                                           strstr(text, " slower, "));
    free(text);
    unlink(out);
    static const char *const order[] = {"ab-A-r1", "ab-B-r1", "ab-B-r2", "ab-A-r2"};
    int abba = fx_query_int(db_path, "SELECT count(*) FROM runs") == 4;
    for (int i = 0; i < 4; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT id FROM runs WHERE tag = '%s'", order[i]);
        abba &= fx_query_int(db_path, sql) == i + 1;
    }
    test_cond("ABBA, one tagged run per process", abba);
    test_cond("--b-options reach B's runs only",
              fx_query_int(db_path, "SELECT count(*) FROM runs WHERE seed = 2") == 2 &&
                  fx_query_int(db_path, "SELECT count(*) FROM runs WHERE seed = 2 AND tag "
                                        "LIKE 'ab-B-%'") == 2);
    fx_unlink_db(db_path);

    static const char *const bad[] = {
        "--a build",                                 /* no --b */
        "--a /nonexistent --b build",                /* not an executable */
        "--a tests --b build",                       /* a directory without attnbench */
        "--a build --b build --rounds 1",            /* too few rounds */
        "--a build --b build -- --db x.db",          /* ab's own option after -- */
        "--a build --b build --a-options '--tag=x'", /* ... or in one side's options */
        "--a build --b build --format xml",
        "--a build --b build --junit /nonexistent/j.xml",
        "--a build --b build -- --backend cpu --bogus", /* the build rejects it */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = fx_sh("'%s' ab --db '%s' %s >/dev/null 2>&1", fx_bin, db_path, bad[i]);
        char what[200];
        snprintf(what, sizeof what, "ab %s: exit 2, nothing written", bad[i]);
        test_cond(what, rc == 2 && access(db_path, F_OK) != 0);
    }
    test_cond("--help: exit 0", fx_sh("'%s' ab --help >/dev/null", fx_bin) == 0);
    /* Without --backend cpu on a machine without GPU the build stores no run. */
    rc = fx_sh("'%s' ab --a build --b build --db '%s' -- --seq 4 >/dev/null 2>&1", fx_bin, db_path);
    test_cond("a build that stores no run: exit 4", rc == 4);
    fx_unlink_db(db_path);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0])) return 1;
    fx_path(db_path, sizeof db_path, "ab.db");
    test_keys();
    test_command();
    rmdir(fx_dir);
    return test_report();
}
