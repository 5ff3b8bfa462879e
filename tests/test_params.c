/* test_params.c — a variant's declared parameters (variants/params.c): validating a value against
 * its spec for each kind (ranges, choices, files), parsing a point's params text once with the
 * defaults applied, refusing an unknown key or a missing value, the configure step, and a plan's
 * head (attn_plan_new). The variant is defined here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "variant.h"

static const attn_param_spec specs[] = {
    {"k", ATTN_PARAM_INT, "128", NULL, 1, 65536, "rank"},
    {"alpha", ATTN_PARAM_FLOAT, "0.5", NULL, 0, 1, "a fraction"},
    {"mode", ATTN_PARAM_ENUM, NULL, "fast|exact|slow", 0, 0, "how"},
    {"label", ATTN_PARAM_STRING, NULL, NULL, 0, 0, "free text"},
    {"proj", ATTN_PARAM_FILE, NULL, NULL, 0, 0, "a file"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
enum { K, ALPHA, MODE, LABEL, PROJ };

typedef struct test_config {
    long long k;
    int mode; /* -1: not given */
} test_config;

static const char *test_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    test_config *c = config;
    c->k = pv->v[K].i;
    c->mode = pv->v[MODE].set ? (int)pv->v[MODE].i : -1;
    return c->k > p->seq ? "k must be at most seq" : NULL;
}

static const attn_variant test_variant = {
    .name = "testvar", .params = specs, .config_size = sizeof(test_config),
    .configure = test_configure,
};

static int invalid(int i, const char *value)
{
    char why[256];
    return attn_param_invalid(&specs[i], value, why, sizeof why) != NULL;
}

static void validation(void)
{
    test_cond("int: in range", !invalid(K, "1") && !invalid(K, "65536"));
    test_cond("int: out of range", invalid(K, "0") && invalid(K, "65537") && invalid(K, "-3"));
    test_cond("int: not an integer", invalid(K, "1.5") && invalid(K, "x") && invalid(K, "12x"));
    test_cond("float: in range", !invalid(ALPHA, "0") && !invalid(ALPHA, "0.25") && !invalid(ALPHA, "1e-3"));
    test_cond("float: out of range or not finite",
              invalid(ALPHA, "1.5") && invalid(ALPHA, "-0.1") && invalid(ALPHA, "nan") && invalid(ALPHA, "inf"));
    test_cond("enum: a choice", !invalid(MODE, "fast") && !invalid(MODE, "slow"));
    test_cond("enum: not a choice", invalid(MODE, "fas") && invalid(MODE, "fast|exact") && invalid(MODE, "FAST"));
    test_cond("string: any text", !invalid(LABEL, "anything_at-all.1"));
    test_cond("every kind: no ',' or '=', not empty",
              invalid(LABEL, "a,b") && invalid(LABEL, "a=b") && invalid(LABEL, "") && invalid(K, ""));
    char path[] = "/tmp/attnbench-test-params-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    test_cond("file: a readable file", !invalid(PROJ, path));
    test_cond("file: a directory or a missing file", invalid(PROJ, "/tmp") && invalid(PROJ, "/nonexistent/x.npy"));
    unlink(path);
    char why[256];
    attn_param_invalid(&specs[MODE], "bogus", why, sizeof why);
    test_cond("the reason names the key, the value and the choices",
              strstr(why, "mode") && strstr(why, "bogus") && strstr(why, "fast|exact|slow"));
    attn_param_invalid(&specs[K], "0", why, sizeof why);
    test_cond("the reason names the range", strstr(why, "k") && strstr(why, "[1, 65536]"));
}

static void parsing(void)
{
    attn_param_values pv;
    test_cond("count and index", attn_param_count(&test_variant) == 5 &&
                                     attn_param_index(&test_variant, "mode") == MODE &&
                                     attn_param_index(&test_variant, "nope") == -1);
    test_cond("empty text parses", attn_params_parse(&test_variant, "", &pv) == ATTN_OK && pv.n == 5);
    test_cond("defaults applied, not given", pv.v[K].set && !pv.v[K].given && pv.v[K].i == 128 &&
                                                 pv.v[ALPHA].set && pv.v[ALPHA].f == 0.5);
    test_cond("no default: unset", !pv.v[MODE].set && !pv.v[LABEL].set && !pv.v[PROJ].set);
    test_cond("given values typed",
              attn_params_parse(&test_variant, "k=64,mode=slow,alpha=0.125,label=x1", &pv) == ATTN_OK &&
                  pv.v[K].given && pv.v[K].i == 64 && pv.v[K].f == 64 && pv.v[MODE].i == 2 &&
                  strcmp(pv.v[MODE].s, "slow") == 0 && pv.v[ALPHA].f == 0.125 &&
                  strcmp(pv.v[LABEL].s, "x1") == 0);
    test_cond("unknown key refused, named",
              attn_params_parse(&test_variant, "k=4,bogus=1", &pv) == ATTN_ERR &&
                  strstr(attn_last_error.msg, "bogus") && strstr(attn_last_error.msg, "testvar"));
    test_cond("a key without value refused", attn_params_parse(&test_variant, "k", &pv) == ATTN_ERR);
    test_cond("a bad value refused, named",
              attn_params_parse(&test_variant, "mode=never", &pv) == ATTN_ERR &&
                  strstr(attn_last_error.msg, "never"));
    const attn_variant none = {.name = "plain"};
    test_cond("a variant without parameters: empty text only",
              attn_params_parse(&none, "", &pv) == ATTN_OK && pv.n == 0 &&
                  attn_params_parse(&none, "k=1", &pv) == ATTN_ERR);
}

static void configuring(void)
{
    attn_point p = {.batch = 1, .heads = 2, .kv_heads = 2, .seq = 100, .head_dim = 64,
                    .dtype = ATTN_BF16, .params = "k=32,mode=exact"};
    test_config c;
    char why[256];
    test_cond("configure fills the config", attn_variant_configure(&test_variant, &p, &c, why, sizeof why) == NULL &&
                                                c.k == 32 && c.mode == 1);
    snprintf(p.params, sizeof p.params, "k=200");
    const char *r = attn_variant_configure(&test_variant, &p, &c, why, sizeof why);
    test_cond("configure refuses with its reason", r && strstr(r, "k must be at most seq"));
    snprintf(p.params, sizeof p.params, "mode=never");
    r = attn_variant_configure(&test_variant, &p, &c, why, sizeof why);
    test_cond("a parse error is configure's reason", r && strstr(r, "never"));
    snprintf(p.params, sizeof p.params, "k=7");
    const attn_prepare_args args = {&p, &c, NULL, NULL};
    attn_plan *plan = attn_plan_new(sizeof(attn_plan) + 64, &args);
    test_cond("a new plan's head: point, config, host", plan && plan->point.seq == 100 &&
                                                          strcmp(plan->point.params, "k=7") == 0 &&
                                                          plan->config == &c && !plan->on_device);
    free(plan);
}

int main(void)
{
    validation();
    parsing();
    configuring();
    return test_report();
}
