/* test_history.c — `attnbench history` on a fixture database of 40 nightly runs on one GPU model
 * (with runs of another model and another tag interleaved, which must be ignored): one key steps
 * up 5 % at night 20, one has a one-night +30 % spike at night 30, one is flat. Checks the step is
 * reported at the right run, the spike never, and the exit statuses of the options. */
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

#define NIGHTS 40
#define STEP_NIGHT 20
#define SPIKE_NIGHT 30

static char db_path[64], out_path[64];
static int64_t step_run; /* run id of night STEP_NIGHT */

static int64_t add_run(sqlite3 *db, const char *tag, const char *gpu)
{
    int64_t id;
    test_cond("fixture: run stored", fx_add_run(db, "test_history", tag, gpu, &id) == 0);
    return id;
}

/* One point whose stored median is median_ns (history reads the per-point median). */
static void add_point(sqlite3 *db, int64_t run, int seq, double median_ns)
{
    store_point p = {.variant = "fused", .exact = 1, .status = "ok",
                     .point = {.batch = 1, .heads = 16, .kv_heads = 16, .seq = seq, .head_dim = 128,
                               .dtype = ATTN_BF16, .causal = 0},
                     .check = {NAN, NAN, NAN}, .vs_exact = {NAN, NAN, NAN},
                     .dense_flops = 1e9, .exec_flops = NAN, .bytes = NAN, .device_bytes = NAN,
                     .timing = {.n_samples = 1, .n_used = 1, .median = median_ns, .p10 = NAN,
                                .p90 = NAN, .ci_low = NAN, .ci_high = NAN}};
    int64_t ns = (int64_t)median_ns, id;
    test_cond("fixture: point stored", store_point_add(db, run, &p, &ns, NULL, 1, NULL, NULL, 0, &id) == ATTN_OK);
}

static void make_fixture(void)
{
    sqlite3 *db;
    unlink(db_path);
    test_cond("fixture: database opens", store_open(db_path, &db) == ATTN_OK);
    stats_rng r = {2024};
    for (int night = 0; night < NIGHTS; night++) {
        int64_t run = add_run(db, "nightly", "NVIDIA H100 80GB HBM3");
        if (night == STEP_NIGHT) step_run = run;
        double noise[3];
        for (int k = 0; k < 3; k++) noise[k] = exp(0.01 * stats_rng_normal(&r));
        add_point(db, run, 1024, 1e6 * (night >= STEP_NIGHT ? 1.05 : 1) * noise[0]);
        add_point(db, run, 2048, 4e6 * (night == SPIKE_NIGHT ? 1.3 : 1) * noise[1]);
        add_point(db, run, 4096, 1.6e7 * noise[2]);
        /* Another GPU model and an ad-hoc run on some nights, twice as slow: other series. The
         * newest nightly run is an H100 one, which makes the H100 series the one examined. */
        if (night % 3 == 1) add_point(db, add_run(db, "nightly", "NVIDIA A100-SXM4-80GB"), 1024, 2e6);
        if (night % 5 == 0) add_point(db, add_run(db, "adhoc", "NVIDIA H100 80GB HBM3"), 1024, 2e6);
    }
    store_close(db);
}

/* Runs `attnbench history ARGS…` with stdout in out_path; returns its status. */
static int history(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[12] = {"history", "--db", db_path};
    int argc = 3;
    const char *more[] = {a1, a2, a3, a4};
    for (int i = 0; i < 4 && more[i]; i++) argv[argc++] = (char *)more[i];
    return fx_call(cmd_history, out_path, argc, argv);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/attnbench-test-history-%d.db", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/attnbench-test-history-%d.out", (int)getpid());
    make_fixture();

    test_cond("step to slower: exit 1", history("--tag", "nightly", "--window", "40") == 1);
    char *out = fx_text(out_path), expect[64];
    snprintf(expect, sizeof expect, "SLOWER  %8lld", (long long)step_run);
    const char *line = strstr(out, expect);
    test_cond("step reported at the run of night 20", line != NULL);
    test_cond("... for the key that stepped", line && strstr(line, "S=1024 ") &&
                                                  strstr(line, "S=1024 ") < strchr(line, '\n'));
    test_cond("spike never a step", strstr(out, "S=2048 ") == NULL);
    test_cond("only the stepped key", strstr(out, "3 keys, 1 steps, 1 slower step") != NULL);
    test_cond("other GPU model and tag ignored", strstr(out, "(40 runs, window 40)") != NULL);
    free(out);

    test_cond("default window 30 still holds the step", history("--tag", "nightly", NULL, NULL) == 1);
    test_cond("--alert-within 7: an old step does not alert",
              history("--tag", "nightly", "--alert-within", "7") == 0);
    out = fx_text(out_path);
    test_cond("... but is still listed", strstr(out, "slower  ") != NULL);
    free(out);
    test_cond("window after the step: nothing", history("--tag", "nightly", "--window", "15") == 0);
    test_cond("--key filter", history("--tag", "nightly", "--key", "S=4096") == 0);
    test_cond("--variant filter", history("--tag", "nightly", "--variant", "fused") == 1);
    test_cond("--variant not in the window: exit 2", history("--tag", "nightly", "--variant", "nope") == 2);
    test_cond("unknown tag: exit 2", history("--tag", "nope", NULL, NULL) == 2);
    test_cond("window too small: exit 2", history("--window", "5", NULL, NULL) == 2);
    test_cond("unknown option: exit 2", history("--frobnicate", NULL, NULL, NULL) == 2);

    fx_unlink_db(db_path);
    unlink(out_path);
    return test_report();
}
