/* params.c — a variant's declared parameters: validating one value against its spec, parsing a
 * point's "key=value,..." text once into typed values, and the configure step built on both;
 * plus the plan helpers (a new plan's head; configure + prepare on the host). Shared by the CLI
 * (validation before anything runs), every point (parse once) and the tests. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "variant.h"

int attn_param_count(const attn_variant *v)
{
    int n = 0;
    while (v->params && v->params[n].key) n++;
    return n;
}

int attn_param_index(const attn_variant *v, const char *key)
{
    for (int i = 0; v->params && v->params[i].key; i++)
        if (strcmp(v->params[i].key, key) == 0) return i;
    return -1;
}

/* The index of `word` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t n = strlen(word);
    int i = 0;
    for (const char *c = choices; c; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, word, n) == 0) return i;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

static int parse_number(const attn_param_spec *s, const char *value, double *out)
{
    char *end;
    errno = 0;
    if (s->kind == ATTN_PARAM_INT) {
        long long x = strtoll(value, &end, 10);
        *out = (double)x;
    } else {
        *out = strtod(value, &end);
    }
    return end != value && *end == 0 && errno == 0 && isfinite(*out) ? 0 : -1;
}

const char *attn_param_invalid(const attn_param_spec *s, const char *value, char *why, size_t n)
{
    double x;
    struct stat st;
    if (!*value || strpbrk(value, ",=")) {
        snprintf(why, n, "%s: bad value '%s'", s->key, value);
        return why;
    }
    switch (s->kind) {
    case ATTN_PARAM_INT:
    case ATTN_PARAM_FLOAT:
        if (parse_number(s, value, &x) || x < s->min || x > s->max) {
            snprintf(why, n, "%s: '%s' is not %s in [%g, %g]", s->key, value,
                     s->kind == ATTN_PARAM_INT ? "an integer" : "a number", s->min, s->max);
            return why;
        }
        return NULL;
    case ATTN_PARAM_ENUM:
        if (choice_index(s->choices, value) < 0) {
            snprintf(why, n, "%s: '%s' is not one of %s", s->key, value, s->choices);
            return why;
        }
        return NULL;
    case ATTN_PARAM_FILE:
        if (stat(value, &st) != 0 || !S_ISREG(st.st_mode) || access(value, R_OK) != 0) {
            snprintf(why, n, "%s: '%s' is not a readable file", s->key, value);
            return why;
        }
        return NULL;
    case ATTN_PARAM_STRING:
        return NULL;
    }
    snprintf(why, n, "%s: unknown parameter kind", s->key);
    return why;
}

static void set_value(const attn_param_spec *s, const char *text, int given, attn_param_value *v)
{
    double x = 0;
    snprintf(v->s, sizeof v->s, "%s", text);
    v->set = 1, v->given = given;
    if (s->kind == ATTN_PARAM_INT || s->kind == ATTN_PARAM_FLOAT) parse_number(s, text, &x);
    if (s->kind == ATTN_PARAM_ENUM) x = choice_index(s->choices, text);
    v->f = x, v->i = (long long)x;
}

int attn_params_parse(const attn_variant *v, const char *text, attn_param_values *out)
{
    memset(out, 0, sizeof *out);
    out->n = attn_param_count(v);
    if (out->n > ATTN_PARAM_SPECS_MAX)
        return attn_fail("%s declares %d parameters; at most %d", v->name, out->n,
                         ATTN_PARAM_SPECS_MAX);
    char buf[ATTN_PARAMS_MAX], why[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return attn_fail("%s: parameter '%s' has no value", v->name, kv);
        *eq = 0;
        int i = attn_param_index(v, kv);
        if (i < 0) return attn_fail("%s has no parameter '%s'", v->name, kv);
        if (attn_param_invalid(&v->params[i], eq + 1, why, sizeof why))
            return attn_fail("%s: %s", v->name, why);
        set_value(&v->params[i], eq + 1, 1, &out->v[i]);
    }
    for (int i = 0; i < out->n; i++)
        if (!out->v[i].set && v->params[i].def) set_value(&v->params[i], v->params[i].def, 0, &out->v[i]);
    return ATTN_OK;
}

const char *attn_variant_configure(const attn_variant *v, const attn_point *p, void *config,
                                   char *why, size_t n)
{
    attn_param_values pv;
    if (v->config_size) memset(config, 0, v->config_size);
    if (attn_params_parse(v, p->params, &pv) != ATTN_OK) {
        snprintf(why, n, "%s", attn_last_error.msg);
        return why;
    }
    return v->configure ? v->configure(p, &pv, config) : NULL;
}

int attn_variant_plan_host(const attn_variant *v, const attn_point *p, const attn_host_inputs *in,
                           attn_plan **plan)
{
    char why[512];
    void *config = v->config_size ? calloc(1, v->config_size) : NULL;
    if (v->config_size && !config) return attn_fail("%s: out of host memory", v->name);
    const char *skip = attn_variant_configure(v, p, config, why, sizeof why);
    if (skip) {
        free(config);
        return attn_skip("%s", skip);
    }
    const attn_prepare_args args = {p, config, in, NULL};
    int rc = v->prepare(&args, plan);
    if (rc != ATTN_OK) free(config);
    return rc;
}

void attn_variant_plan_free(const attn_variant *v, attn_plan *plan)
{
    if (!plan) return;
    void *config = (void *)plan->config;
    v->release(plan);
    free(config);
}

void *attn_plan_new(size_t size, const attn_prepare_args *args)
{
    attn_plan *plan = calloc(1, size);
    if (!plan) {
        attn_fail("out of host memory for a plan");
        return NULL;
    }
    plan->point = *args->point;
    plan->config = args->config;
    plan->on_device = args->dev != NULL;
    return plan;
}
