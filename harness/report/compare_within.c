/* compare_within.c — `attnbench compare --baseline-variant V`: the keys of ONE run, each other
 * variant's point against V's at the same shape (dtype, B, H, H_kv, S, D, causal; params aside, as
 * plot and report --baseline match), decided by compare_keys.c's statistics with the within-run
 * tests alone: no history is read and the rule for unknown between-run noise does not apply
 * (cmp_rule.within_run), since both sides share one process. Limits: V's point at a shape is its
 * oldest ok one there (else its oldest), as report's speedup columns take; the variants differ by
 * design, so the caller leaves same_inputs unset and errors are not compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "report/compare_keys.h"

static int same_shape(const cmp_point *a, const cmp_point *b)
{
    return strcmp(a->dtype, b->dtype) == 0 && a->batch == b->batch && a->heads == b->heads &&
           a->kv_heads == b->kv_heads && a->seq == b->seq && a->head_dim == b->head_dim &&
           a->causal == b->causal;
}

/* V's point at p's shape among its n points, or NULL. */
static const cmp_point *reference_at(const cmp_point *v, size_t n, const cmp_point *p)
{
    const cmp_point *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!same_shape(&v[i], p)) continue;
        int ok = strcmp(v[i].status, "ok") == 0, best_ok = best && strcmp(best->status, "ok") == 0;
        if (!best || ok > best_ok || (ok == best_ok && v[i].id < best->id)) best = &v[i];
    }
    return best;
}

int cmp_keys_within(sqlite3 *db, int64_t run, const char *variant, const cmp_rule *rule,
                    cmp_keys *k)
{
    memset(k, 0, sizeof *k);
    ATTN_TRY(cmp_load_points(db, run, &k->cand, &k->n_cand));
    k->base = malloc((k->n_cand ? k->n_cand : 1) * sizeof *k->base);
    k->keys = calloc(k->n_cand ? k->n_cand : 1, sizeof *k->keys);
    if (!k->base || !k->keys) return attn_fail("out of host memory");
    for (size_t i = 0; i < k->n_cand; i++)
        if (strcmp(k->cand[i].variant, variant) == 0) k->base[k->n_base++] = k->cand[i];
    if (!k->n_base)
        return attn_skip("run %lld has no measured point of variant '%s'", (long long)run, variant);
    for (size_t i = 0; i < k->n_cand; i++) {
        const cmp_point *p = &k->cand[i];
        if (strcmp(p->variant, variant) == 0) continue;
        cmp_key *key = &k->keys[k->n++];
        *key = cmp_key_new(reference_at(k->base, k->n_base, p), p);
        if (key->base) {
            ATTN_TRY(cmp_key_evaluate(db, key, rule));
            continue;
        }
        key->state = MISSING;
        key->decided = 1;
        snprintf(key->note, sizeof key->note, "no %s point at this shape", variant);
    }
    ATTN_TRY(cmp_keys_decide(k->keys, k->n, rule));
    cmp_keys_sort(k->keys, k->n);
    return ATTN_OK;
}
