/* compare_keys.h — the statistics half of `attnbench compare` and `attnbench ab` (the commands,
 * their options and printers are compare.c and run/ab.c): the keys (variant, shape, dtype, causal,
 * params) of two runs matched, and each key's state. Two kinds of evidence, two kinds of units:
 *   within runs   the samples: a one-sided Mann–Whitney test of "slower by more than the
 *                 threshold" (and of "faster"), Benjamini–Hochberg across the keys, and a
 *                 Hodges–Lehmann ratio with a bootstrap interval for the reader;
 *   between runs  the runs: the key's history (compare) or the rounds of an interleaved A/B (ab),
 *                 tested against the key's between-run noise (noise.h). Where it is known, it
 *                 decides; where it is not, a slowdown under NOISE_UNKNOWN_BOUND is inconclusive.
 * The README's "Regression gate" section states the rule. Tuned for a nightly sweep: hundreds of
 * keys, tens to thousands of samples per point, up to NOISE_WINDOW_MAX history runs; the bootstrap
 * dominates the cost (about 10 ms per key at 20 samples a side). */
#ifndef ATTN_COMPARE_KEYS_H
#define ATTN_COMPARE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"
#include "core/stats.h"
#include "report/noise.h"

typedef struct sqlite3 sqlite3;

/* Fewer non-throttled samples on a side: inconclusive. */
#define CMP_MIN_SAMPLES 5
/* A larger share of throttled samples on a side: inconclusive — most samples could not hold the
 * clock, so the machine, not the build, was measured. Below it the throttled samples are only left
 * out of the median: the measurement flags any sample that ended under 99.5 % of the max SM clock
 * and cools down after it, and on an H200 at the nightly's heaviest keys the power controller's
 * first step flags 10-15 % of samples while the per-process medians stay within 0.2-0.4 %
 * (kernels/NOTES-fused.md), so a 10 % limit made those keys inconclusive for no reason.
 * The share counts only the flagged samples that also ran slower: by more than
 * CMP_THROTTLE_SLOWDOWN over the point's median (of the unflagged samples), the least a clock
 * under 99.5 % of the max costs a clock-bound kernel. The flag is read after the sample (a probe
 * kernel), and after some short kernels the clock dips without having slowed them: on an H200,
 * fused at bf16 B=16 S=1024 D=128 causal (0.157 ms) had 38-84 % of its samples flagged in six
 * nightly runs, at 1946-1970 MHz, their median within -0.16 … +0.04 % of the unflagged one
 * (kernels/NOTES-fused.md). */
#define CMP_MAX_THROTTLED 0.50
#define CMP_THROTTLE_SLOWDOWN 0.005

/* The decision's parameters (the README's "Regression gate" section explains them). */
typedef struct cmp_rule {
    double threshold;     /* smallest slowdown that matters (0.02 = 2 %) */
    double alpha;         /* false-discovery rate across keys */
    double err_tolerance; /* allowed relative growth of an approximate variant's error */
    int same_inputs;      /* both runs had the same seed and input distribution: errors compare */
    int noise_window;     /* compare: history runs read per key (0: none, within-run tests only) */
    int within_run;       /* both sides from one run (compare --baseline-variant): no between-run
                           * noise exists, so the rule for unknown noise does not apply */
} cmp_rule;

/* One stored point of one run, not its samples (loaded only when the key is tested). */
typedef struct cmp_point {
    int64_t id, run_id;
    char variant[64], dtype[8], params[ATTN_PARAMS_MAX], status[16], reason[200];
    int batch, heads, kv_heads, seq, head_dim, causal, exact;
    int n_samples, n_used; /* samples taken, and not flagged throttled */
    int n_slowed;          /* flagged and slower than median_ns by CMP_THROTTLE_SLOWDOWN */
    double median_ns;      /* of the used samples; NaN when none */
    double err;            /* relative L2 error against exact attention; NaN when not measured */
} cmp_point;

/* The share of p's samples that count as throttled against CMP_MAX_THROTTLED: n_slowed of all. */
double cmp_point_throttled(const cmp_point *p);

/* Worst first: the table's order and the exit status's priority. */
typedef enum cmp_state { SLOWER, INCONCLUSIVE, MISSING, SAME, FASTER, N_STATES } cmp_state;
extern const char *const cmp_state_names[N_STATES];

typedef struct cmp_key {
    const cmp_point *base, *cand; /* NULL on the side that lacks the key */
    cmp_state state;
    int decided;                  /* state fixed before the tests (missing, failed, accuracy…) */
    int tested;                   /* the rank tests ran: s, ci and the adjusted p are valid */
    int n_base, n_cand;           /* non-throttled samples (ab: in the first round) */
    double base_ms, cand_ms;      /* medians (ab: medians of the per-round medians) */
    stats_pair s;
    double ci_lo, ci_hi;          /* 95 % interval of s.hl_ratio */
    double p_slower, p_faster;    /* adjusted, of the test that decided (within or between runs) */
    /* Between-run evidence, set before cmp_keys_decide; neither: the within-run tests decide. */
    const double *history;        /* compare: the key's log medians in the history runs, oldest
                                   * first (the candidate not among them) */
    int n_history;
    const double *rounds;         /* ab: the per-round log ratios candidate/baseline */
    int n_rounds;
    noise_key run;                /* the between-run test; known when run.df > 0 */
    noise_history hist;           /* compare: what the history said */
    char note[256];
} cmp_key;

/* Every key of two runs with its state, worst first. */
typedef struct cmp_keys {
    cmp_point *base, *cand; /* each run's measured points, one per key */
    size_t n_base, n_cand;
    double *history;        /* what the keys' history pointers point into */
    cmp_key *keys;
    size_t n;
} cmp_keys;

/* Loads both runs' points, matches them by key, tests each key on its samples, reads each key's
 * history (the newest rule->noise_window runs with the baseline's tag, backend and GPU model, up
 * to the baseline, the candidate left out) and decides its state; sorts the keys worst first.
 * Free with cmp_keys_free (also after a failure). ATTN_OK or ATTN_ERR. */
int cmp_keys_build(sqlite3 *db, int64_t base_run, int64_t cand_run, const cmp_rule *rule,
                   cmp_keys *k);
void cmp_keys_free(cmp_keys *k);

/* The decision over keys whose evidence is in place (cmp_key_measure, history or rounds): the
 * within-run Benjamini–Hochberg, the between-run tests, each key's state and note. What
 * cmp_keys_build and the rounds of `ab` call, and what tests/test_gate_sim.c drives. Keys keep their
 * order. ATTN_OK or ATTN_ERR (out of memory). */
int cmp_keys_decide(cmp_key *keys, size_t n, const cmp_rule *rule);

/* One key's within-run evidence from its samples (ns, positive; the throttled already left out)
 * and the shares that were throttled: its medians and, with enough samples on both sides, the rank
 * tests (not the bootstrap interval); or its state when the key cannot be tested. */
void cmp_key_measure(cmp_key *k, const double *base, int n_base, double base_throttled,
                     const double *cand, int n_cand, double cand_throttled, const cmp_rule *rule);

/* An approximate variant whose error against exact attention grew from k->base to k->cand beyond
 * the tolerance (same inputs): the key is slower whatever its timings say (state, note set). */
void cmp_key_accuracy(cmp_key *k, const cmp_rule *rule);

/* Sorts keys worst first (state, then largest ratio). */
void cmp_keys_sort(cmp_key *keys, size_t n);

/* Everything about one key that its own points and samples tell: its state when a side is missing
 * or not ok, the accuracy rule, its samples measured (cmp_key_measure) and the bootstrap interval.
 * ATTN_OK or ATTN_ERR. */
int cmp_key_evaluate(sqlite3 *db, cmp_key *k, const cmp_rule *rule);

/* The key's points with no statistics yet (intervals and adjusted p NaN). */
cmp_key cmp_key_new(const cmp_point *base, const cmp_point *cand);

/* Every other variant's point of one run against `variant`'s at the same shape (params aside, as
 * plot and report --baseline match: its oldest ok point there, else its oldest), through the
 * within-run tests only (rule->within_run set, no history; compare_within.c). ATTN_OK, ATTN_SKIP
 * when the run has no measured point of `variant` (attn_last_error says so), or ATTN_ERR. Free with
 * cmp_keys_free (also after a failure). */
int cmp_keys_within(sqlite3 *db, int64_t run, const char *variant, const cmp_rule *rule,
                    cmp_keys *k);

/* The point that names the key (the candidate's, else the baseline's: within a run the candidate
 * is the variant compared). */
const cmp_point *cmp_key_point(const cmp_key *k);

/* Key order: variant, dtype, B, H, H_kv, S, D, causal, params (strcmp / numeric). */
int cmp_point_key(const void *a, const void *b);

/* The run's measured points (skipped ones were never measured), sorted by key, one per key (the
 * newest). *out is malloc'd (also after a failure: free it). */
int cmp_load_points(sqlite3 *db, int64_t run, cmp_point **out, size_t *n);

#endif
