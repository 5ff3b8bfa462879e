/* sweep.h — the points of a run: every shape (the cartesian product of the shape options) × every
 * selected variant × every combination of that variant's --param values. Before anything runs
 * (nothing opened, nothing written), every --param is checked against the declarations of the
 * selected variants: a key no selected variant declares, a qualifier naming a variant that is not
 * selected, a value its spec refuses (attn_param_invalid), a key given twice for one variant. */
#ifndef ATTN_RUN_SWEEP_H
#define ATTN_RUN_SWEEP_H

#include "run/options.h"

#define RUN_SHAPES_MAX 100000

typedef struct run_sweep {
    attn_point *shapes;   /* every shape, validated; params "" */
    int n_shapes;
    /* Per selected variant (o->variants[j]): its parameter combinations as the points' params
     * text, "key=value,..." with unqualified keys, in --param order ("" when none applies). */
    char (*combos[RUN_VARIANTS_MAX])[ATTN_PARAMS_MAX];
    int n_combos[RUN_VARIANTS_MAX];
    int total;            /* points: Σ over the variants of n_shapes × n_combos */
} run_sweep;

/* 0, or CLI_USAGE after printing why (then s holds nothing to free). */
int run_sweep_make(const run_options *o, run_sweep *s);
void run_sweep_free(run_sweep *s);

#endif
