/* plan.c — the sweep's points numbered, the --shard slice and the dealing order (see plan.h). */
#include "run/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest first (dense FLOPs), then sweep order: a total order, the same on every machine. */
static const run_plan_entry *rank_base;
static int longest_first(const void *a, const void *b)
{
    const int i = *(const int *)a, j = *(const int *)b;
    const double fi = rank_base[i].dense_flops, fj = rank_base[j].dense_flops;
    if (fi != fj) return fi > fj ? -1 : 1;
    return (i > j) - (i < j);
}

/* The plan indices of the whole sweep, longest first; NULL when out of memory. */
static int *ranked(const run_plan *p)
{
    int *order = malloc((size_t)(p->n ? p->n : 1) * sizeof *order);
    if (!order) return NULL;
    for (int i = 0; i < p->n; i++) order[i] = i;
    rank_base = p->entries;
    qsort(order, (size_t)p->n, sizeof *order, longest_first);
    return order;
}

/* Every point of the sweep, in sweep order. */
static void number_points(const run_options *o, const run_sweep *s, run_plan *p)
{
    int n = 0;
    for (int si = 0; si < s->n_shapes; si++)
        for (int j = 0; j < o->n_variants; j++)
            for (int k = 0; k < s->n_combos[j]; k++, n++) {
                run_plan_entry *e = &p->entries[n];
                attn_point pt = s->shapes[si];
                snprintf(pt.params, sizeof pt.params, "%s", s->combos[j][k]);
                e->shape = si, e->variant = j, e->combo = k;
                e->dense_flops = attn_dense_flops(&pt);
                attn_point_format(&pt, e->point, sizeof e->point);
            }
}

/* The run's rows: the shard's ranks; deal = rank order with --devices, else sweep order.
 * row_of[i]: 1 + the run's row of plan index i, 0 when another shard's. */
static void take_rows(const run_options *o, const int *order, int *row_of, run_plan *p)
{
    const int n_shards = o->n_shards ? o->n_shards : 1;
    for (int r = 0; r < p->n; r++) row_of[order[r]] = r % n_shards == o->shard;
    for (int i = 0; i < p->n; i++) /* sweep order */
        if (row_of[i]) {
            const run_plan_entry *e = &p->entries[i];
            row_of[i] = p->n_rows + 1;
            p->rows[p->n_rows] = (store_plan_row){i, p->n_rows, o->variants[e->variant]->name,
                                                  e->point, e->dense_flops};
            p->n_rows++;
        }
    if (o->n_devices) /* rank order */
        for (int r = 0, deal = 0; r < p->n; r++)
            if (row_of[order[r]]) p->rows[row_of[order[r]] - 1].deal = deal++;
}

int run_plan_make(const run_options *o, const run_sweep *s, run_plan *p)
{
    memset(p, 0, sizeof *p);
    p->n = s->total;
    p->entries = calloc((size_t)(p->n ? p->n : 1), sizeof *p->entries);
    p->rows = calloc((size_t)(p->n ? p->n : 1), sizeof *p->rows);
    int *order = NULL, *row_of = calloc((size_t)(p->n ? p->n : 1), sizeof *row_of);
    if (p->entries && p->rows && row_of) {
        number_points(o, s, p);
        order = ranked(p);
    }
    if (!order) {
        free(row_of);
        run_plan_free(p);
        return cli_error("run", "out of host memory for the plan");
    }
    take_rows(o, order, row_of, p);
    free(order);
    free(row_of);
    return 0;
}

void run_plan_free(run_plan *p)
{
    free(p->entries);
    free(p->rows);
    memset(p, 0, sizeof *p);
}
