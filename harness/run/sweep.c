/* sweep.c — shapes × variants × parameter combinations, and the --param checks (see sweep.h). */
#include "run/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The selected variant of that name, or NULL. */
static const attn_variant *selected(const run_options *o, const char *name)
{
    for (int j = 0; j < o->n_variants; j++)
        if (strcmp(o->variants[j]->name, name) == 0) return o->variants[j];
    return NULL;
}

/* Does --param pp apply to v? (A qualified one to its variant, an unqualified one to every
 * variant that declares its key.) */
static int applies(const run_param *pp, const attn_variant *v)
{
    if (pp->variant[0] && strcmp(pp->variant, v->name) != 0) return 0;
    return attn_param_index(v, pp->key) >= 0;
}

/* Every value of pp against v's declaration of its key. */
static int check_values(const run_param *pp, const attn_variant *v)
{
    const attn_param_spec *spec = &v->params[attn_param_index(v, pp->key)];
    char why[256];
    for (int i = 0; i < pp->n_values; i++)
        if (attn_param_invalid(spec, pp->values[i], why, sizeof why))
            return cli_error("run", "--param for %s: %s", v->name, why);
    return 0;
}

static int check_param(const run_options *o, int k)
{
    const run_param *pp = &o->params[k];
    if (pp->variant[0]) {
        const attn_variant *v = selected(o, pp->variant);
        if (!v && !attn_variant_find(pp->variant))
            return cli_error("run", "--param %s.%s: unknown variant '%s' (attnbench list)",
                             pp->variant, pp->key, pp->variant);
        if (!v)
            return cli_error("run", "--param %s.%s: variant '%s' is not among the selected "
                             "variants", pp->variant, pp->key, pp->variant);
        if (attn_param_index(v, pp->key) < 0)
            return cli_error("run", "--param %s.%s: %s has no parameter '%s' (attnbench list "
                             "--params)", pp->variant, pp->key, v->name, pp->key);
    }
    int declaring = 0;
    for (int j = 0; j < o->n_variants; j++) {
        const attn_variant *v = o->variants[j];
        if (!applies(pp, v)) continue;
        declaring++;
        if (check_values(pp, v)) return CLI_USAGE;
        for (int e = 0; e < k; e++)
            if (applies(&o->params[e], v) && strcmp(o->params[e].key, pp->key) == 0)
                return cli_error("run", "--param: '%s' given twice for %s", pp->key, v->name);
    }
    if (!declaring)
        return cli_error("run", "--param %s: no selected variant has a parameter '%s' (attnbench "
                         "list --params)", pp->key, pp->key);
    return 0;
}

/* Variant v's combinations: the cartesian product of the lists of the --params that apply to it,
 * the first --param varying fastest. Returns the count, or -1 (usage error printed). */
static int make_combos(const run_options *o, const attn_variant *v, char (**out)[ATTN_PARAMS_MAX])
{
    int use[RUN_PARAMS_MAX], n_use = 0, idx[RUN_PARAMS_MAX] = {0};
    long count = 1;
    for (int k = 0; k < o->n_params; k++)
        if (applies(&o->params[k], v)) {
            use[n_use++] = k;
            count *= o->params[k].n_values;
            if (count > CLI_LIST_MAX)
                return cli_error("run", "the --param lists give %s more than %d combinations",
                                 v->name, CLI_LIST_MAX), -1;
        }
    char(*c)[ATTN_PARAMS_MAX] = calloc((size_t)count, sizeof *c);
    if (!c) return cli_error("run", "out of host memory for the sweep"), -1;
    for (long n = 0; n < count; n++) {
        size_t len = 0;
        for (int u = 0; u < n_use; u++) {
            const run_param *pp = &o->params[use[u]];
            len += (size_t)snprintf(c[n] + len, len < ATTN_PARAMS_MAX ? ATTN_PARAMS_MAX - len : 0,
                                    "%s%s=%s", len ? "," : "", pp->key, pp->values[idx[u]]);
        }
        if (len >= ATTN_PARAMS_MAX) {
            free(c);
            return cli_error("run", "the parameters of %s are longer than %d characters", v->name,
                             ATTN_PARAMS_MAX - 1), -1;
        }
        for (int u = 0; u < n_use; u++) { /* odometer: the first --param varies fastest */
            if (++idx[u] < o->params[use[u]].n_values) break;
            idx[u] = 0;
        }
    }
    *out = c;
    return (int)count;
}

/* The shape of one index tuple, validated; NULL, or the usage error. */
static const char *make_shape(const run_options *o, int t, int d, int c, int h, int kv, int b,
                              int q, attn_point *p)
{
    memset(p, 0, sizeof *p);
    p->dtype = o->dtypes[t];
    p->head_dim = o->head_dim[d];
    p->causal = o->causal[c];
    p->seq = o->seq[q];
    p->heads = o->model_dim ? o->model_dim / p->head_dim : o->heads[h];
    p->kv_heads = o->n_kv_heads ? o->kv_heads[kv] : p->heads;
    p->batch = o->tokens ? (o->tokens / p->seq > 0 ? o->tokens / p->seq : 1) : o->batch[b];
    if (o->model_dim && o->model_dim % p->head_dim)
        return "--model-dim is not a multiple of the head dim";
    return attn_point_invalid(p);
}

/* Every shape of the sweep. Returns the count or -1 (usage error printed). */
static int make_shapes(const run_options *o, attn_point **out)
{
    int n_b = o->tokens ? 1 : o->n_batch, n_h = o->model_dim ? 1 : o->n_heads;
    int n_kv = o->n_kv_heads ? o->n_kv_heads : 1;
    size_t cap = (size_t)o->n_dtypes * o->n_head_dim * o->n_causal * o->n_seq * n_b * n_h * n_kv;
    if (cap > RUN_SHAPES_MAX)
        return cli_error("run", "the sweep has %zu shapes; at most %d", cap, RUN_SHAPES_MAX), -1;
    attn_point *s = calloc(cap ? cap : 1, sizeof *s);
    if (!s) return cli_error("run", "out of host memory for the sweep"), -1;
    int n = 0;
    for (int t = 0; t < o->n_dtypes; t++)
        for (int d = 0; d < o->n_head_dim; d++)
            for (int c = 0; c < o->n_causal; c++)
                for (int h = 0; h < n_h; h++)
                    for (int kv = 0; kv < n_kv; kv++)
                        for (int b = 0; b < n_b; b++)
                            for (int q = 0; q < o->n_seq; q++) {
                                const char *bad = make_shape(o, t, d, c, h, kv, b, q, &s[n]);
                                if (bad) {
                                    cli_error("run", "%s (H=%d, H_kv=%d, D=%d)", bad, s[n].heads,
                                              s[n].kv_heads, s[n].head_dim);
                                    free(s);
                                    return -1;
                                }
                                n++;
                            }
    *out = s;
    return n;
}

int run_sweep_make(const run_options *o, run_sweep *s)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < o->n_params; k++)
        if (check_param(o, k)) return CLI_USAGE;
    if ((s->n_shapes = make_shapes(o, &s->shapes)) < 0) return CLI_USAGE;
    for (int j = 0; j < o->n_variants; j++) {
        if ((s->n_combos[j] = make_combos(o, o->variants[j], &s->combos[j])) < 0) {
            run_sweep_free(s);
            return CLI_USAGE;
        }
        s->total += s->n_shapes * s->n_combos[j];
    }
    return 0;
}

void run_sweep_free(run_sweep *s)
{
    free(s->shapes);
    for (int j = 0; j < RUN_VARIANTS_MAX; j++) free(s->combos[j]);
    memset(s, 0, sizeof *s);
}
