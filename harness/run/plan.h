/* plan.h — the run's plan: every point of the sweep numbered in sweep order (plan_idx: shape,
 * then variant, then parameter combination, as a single process runs them), the slice a
 * --shard i/n takes, and the order the run's points are handed out in (deal). The shard slice
 * is deterministic and balanced: the whole sweep ranked longest first (dense FLOPs, then
 * plan_idx) and dealt round-robin, so shard i takes ranks i, i + n, i + 2n, ... With --devices
 * the run's points are dealt longest first too (the longest start first, so no GPU is left with
 * a long point at the end), else in sweep order. The plan is stored (store/plan.h) so that
 * --resume and the workers find it again, and each rebuilt plan is checked against it. */
#ifndef ATTN_RUN_PLAN_H
#define ATTN_RUN_PLAN_H

#include "run/sweep.h"
#include "store/plan.h"

/* One point of the whole sweep. */
typedef struct run_plan_entry {
    int shape, variant, combo; /* indices into the sweep */
    double dense_flops;
    char point[ATTN_PARAMS_MAX + 160]; /* "bf16 B=1 H=4 S=127 D=64 path=mma" */
} run_plan_entry;

typedef struct run_plan {
    run_plan_entry *entries; /* every point of the sweep, by plan_idx */
    int n;
    store_plan_row *rows; /* the run's points (its shard's), by plan_idx, with deal order */
    int n_rows;
} run_plan;

/* 0, or CLI_USAGE (out of memory: printed). */
int run_plan_make(const run_options *o, const run_sweep *s, run_plan *p);
void run_plan_free(run_plan *p);

#endif
