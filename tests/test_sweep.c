/* test_sweep.c — the points of a run (harness/run/sweep.c) with two variants defined here that
 * both declare `k`: an unqualified --param applies to every selected variant that declares its
 * key, a qualified one to its variant only; the combinations are the cartesian product in
 * --param order; keys and values are checked against each declaring variant's spec (an unknown
 * key, a bad value, a key given twice for one variant, a qualifier naming an unselected or unknown
 * variant: a usage error). */
#include <stdio.h>
#include <string.h>

#include "run/sweep.h"
#include "test.h"

static const attn_param_spec alpha_params[] = {
    {"k", ATTN_PARAM_INT, "8", NULL, 1, 64, "rank"},
    {"mode", ATTN_PARAM_ENUM, NULL, "a|b", 0, 0, "mode"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
static const attn_param_spec beta_params[] = {
    {"k", ATTN_PARAM_INT, "4", NULL, 1, 16, "rank"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
static const attn_variant alpha = {.name = "alpha", .params = alpha_params};
static const attn_variant beta = {.name = "beta", .params = beta_params};

static run_options o;
static run_sweep sw;

/* Parses `run ARGS` (shapes and params), selects alpha and beta, makes the sweep: the parse's or
 * the sweep's status. */
static int sweep_of(const char *args)
{
    char text[512], *argv[32] = {"run"};
    int argc = 1;
    snprintf(text, sizeof text, "--backend cpu --seq 8,16 %s", args);
    for (char *save = NULL, *w = strtok_r(text, " ", &save); w && argc < 32; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    run_sweep_free(&sw);
    int rc = run_options_parse(argc, argv, &o);
    if (rc) return rc;
    o.variants[0] = &alpha, o.variants[1] = &beta, o.n_variants = 2;
    return run_sweep_make(&o, &sw);
}

static int combos_are(int j, const char *const *want, int n)
{
    if (sw.n_combos[j] != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(sw.combos[j][i], want[i]) != 0) return 0;
    return 1;
}

int main(void)
{
    test_cond("no --param: one combination each, no text",
              sweep_of("") == 0 && combos_are(0, (const char *[]){""}, 1) &&
                  combos_are(1, (const char *[]){""}, 1) && sw.n_shapes == 2 && sw.total == 4);
    test_cond("unqualified: every variant declaring the key",
              sweep_of("--param k=1,2") == 0 && combos_are(0, (const char *[]){"k=1", "k=2"}, 2) &&
                  combos_are(1, (const char *[]){"k=1", "k=2"}, 2) && sw.total == 8);
    test_cond("qualified: that variant only",
              sweep_of("--param alpha.k=3,5") == 0 && combos_are(0, (const char *[]){"k=3", "k=5"}, 2) &&
                  combos_are(1, (const char *[]){""}, 1) && sw.total == 6);
    test_cond("a key one variant declares applies to it alone",
              sweep_of("--param mode=b") == 0 && combos_are(0, (const char *[]){"mode=b"}, 1) &&
                  combos_are(1, (const char *[]){""}, 1));
    test_cond("cartesian product, the first --param varying fastest",
              sweep_of("--param k=1,2 --param mode=a,b") == 0 &&
                  combos_are(0, (const char *[]){"k=1,mode=a", "k=2,mode=a", "k=1,mode=b", "k=2,mode=b"}, 4) &&
                  combos_are(1, (const char *[]){"k=1", "k=2"}, 2));
    test_cond("a qualified and an unqualified key for different variants",
              sweep_of("--param alpha.k=3 --param beta.k=9") == 0 &&
                  combos_are(0, (const char *[]){"k=3"}, 1) && combos_are(1, (const char *[]){"k=9"}, 1));
    static const char *const bad[] = {
        "--param nope=1",           /* no selected variant declares it */
        "--param k=0",              /* below both ranges */
        "--param k=20",             /* valid for alpha, not for beta */
        "--param mode=c",           /* not a choice */
        "--param alpha.k=65",       /* outside alpha's range */
        "--param beta.mode=a",      /* beta has no mode */
        "--param fused.tile=64x64", /* a variant that is not selected */
        "--param nosuch.k=1",       /* no such variant */
        "--param k=2 --param alpha.k=3", /* k twice for alpha */
        "--param k=x",
        "--param K=1",              /* not a key */
        "--param .k=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "'%s' is a usage error", bad[i]);
        test_cond(what, sweep_of(bad[i]) == CLI_USAGE);
    }
    run_sweep_free(&sw);
    return test_report();
}
