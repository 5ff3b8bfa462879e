/* compare_keys.h — the statistics half of `attnbench compare` (the command, its options and its
 * printers are compare.c): the keys (variant, shape, dtype, causal, params) of two runs matched,
 * and each key's state from its stored samples: a one-sided Mann–Whitney test of "slower by more
 * than the threshold" (and of "faster"), with Benjamini–Hochberg across the keys, and a
 * Hodges–Lehmann ratio with a bootstrap interval for the reader. Tuned for a nightly sweep:
 * hundreds of keys, tens to thousands of samples per point; the bootstrap dominates the cost
 * (about 10 ms per key at 20 samples a side). */
#ifndef ATTN_COMPARE_KEYS_H
#define ATTN_COMPARE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"
#include "core/stats.h"

typedef struct sqlite3 sqlite3;

/* The decision's parameters (the README's "Regression gate" section explains them). */
typedef struct cmp_rule {
    double threshold;     /* smallest slowdown that matters (0.02 = 2 %) */
    double alpha;         /* false-discovery rate across keys */
    double err_tolerance; /* allowed relative growth of an approximate variant's error */
    int same_inputs;      /* both runs had the same seed and input distribution: errors compare */
} cmp_rule;

/* One stored point of one run, not its samples (loaded only when the key is tested). */
typedef struct cmp_point {
    int64_t id;
    char variant[64], dtype[8], params[ATTN_PARAMS_MAX], status[16], reason[200];
    int batch, heads, kv_heads, seq, head_dim, causal, exact;
    double err; /* relative L2 error against exact attention; NaN when not measured */
} cmp_point;

/* Worst first: the table's order and the exit status's priority. */
typedef enum cmp_state { SLOWER, INCONCLUSIVE, MISSING, SAME, FASTER, N_STATES } cmp_state;
extern const char *const cmp_state_names[N_STATES];

typedef struct cmp_key {
    const cmp_point *base, *cand; /* NULL on the side that lacks the key */
    cmp_state state;
    int decided;                  /* state fixed before the tests (missing, failed, accuracy…) */
    int tested;                   /* the rank tests ran: s, ci and the adjusted p are valid */
    int n_base, n_cand;           /* non-throttled samples */
    double base_ms, cand_ms;      /* medians */
    stats_pair s;
    double ci_lo, ci_hi;          /* 95 % bootstrap interval of s.hl_ratio */
    double p_slower, p_faster;    /* Benjamini–Hochberg adjusted */
    char note[256];
} cmp_key;

/* Every key of two runs with its state, worst first. */
typedef struct cmp_keys {
    cmp_point *base, *cand; /* each run's measured points, one per key */
    size_t n_base, n_cand;
    cmp_key *keys;
    size_t n;
} cmp_keys;

/* Loads both runs' points, matches them by key, tests each key and decides its state; sorts the
 * keys worst first. Free with cmp_keys_free (also after a failure). ATTN_OK or ATTN_ERR. */
int cmp_keys_build(sqlite3 *db, int64_t base_run, int64_t cand_run, const cmp_rule *rule,
                   cmp_keys *k);
void cmp_keys_free(cmp_keys *k);

/* The point that names the key (the baseline's, else the candidate's). */
const cmp_point *cmp_key_point(const cmp_key *k);

#endif
