/* ab_keys.h — the keys of an interleaved A/B (`attnbench ab`, run/ab.c): R rounds, each a run of
 * the baseline build (A) and a run of the candidate (B), matched by key across all 2R runs. The
 * units are the rounds: a key's per-round log ratio of medians, ln(B_r / A_r), is one observation
 * of its effect, and the between-run test of noise.h, through cmp_keys_decide, decides it — so the
 * process-to-process noise that a single pair of runs hides is in the data. States and printers
 * are compare's (compare_keys.h, compare.h). */
#ifndef ATTN_AB_KEYS_H
#define ATTN_AB_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "report/compare_keys.h"

#define AB_ROUNDS_MAX 100

typedef struct ab_keys {
    int rounds;
    cmp_point *points[2][AB_ROUNDS_MAX]; /* [A, B][round]: each run's points, one per key */
    size_t n_points[2][AB_ROUNDS_MAX];
    double *ratios; /* the keys' per-round log ratios (keys[i].rounds) */
    cmp_key *keys;  /* base: A's point in round 1, cand: B's */
    size_t n;
} ab_keys;

/* Reads the runs a[r], b[r] of rounds 0..rounds-1 (2 to AB_ROUNDS_MAX), matches their keys and
 * decides each (a key missing, failed, throttled or short of samples in any round is missing or
 * inconclusive, as compare says; an approximate variant's accuracy as compare checks it, on round
 * 1's points); sorts the keys worst first. For a decided key: s.ratio = exp(mean log ratio),
 * s.hl_ratio = exp(Hodges–Lehmann of the log ratios), ci = the t interval of the mean (95 %).
 * Free with ab_keys_free (also after a failure). ATTN_OK or ATTN_ERR. */
int ab_keys_build(sqlite3 *db, const int64_t *a, const int64_t *b, int rounds, const cmp_rule *rule,
                  ab_keys *k);
void ab_keys_free(ab_keys *k);

#endif
