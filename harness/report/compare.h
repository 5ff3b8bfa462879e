/* compare.h — the printers of a gate's verdict, compare.c's, shared with `attnbench ab`: the
 * counts line and the key table (aligned or Markdown), JUnit XML, and the exit status. They format
 * keys decided by compare_keys.c and print nothing else. */
#ifndef ATTN_COMPARE_H
#define ATTN_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "core/cli.h"
#include "report/compare_keys.h"

/* The options compare and ab share: rows of a cli_option table whose TYPE has the fields
 * `cmp_rule rule`, `const char *format, *junit` and `int fail_on_inconclusive`. (clang-format
 * would indent the rows after the first.) */
/* clang-format off */
#define CMP_GATE_OPTIONS(TYPE)                                                             \
    {"--threshold", "X", "smallest slowdown that matters, e.g. 2% or 0.02 (default 2%)",   \
     cli_set_share, offsetof(TYPE, rule.threshold)},                                       \
    {"--alpha", "A", "false-discovery rate across keys, between 0 and 1 (default 0.05)",  \
     cmp_set_alpha, offsetof(TYPE, rule.alpha)},                                           \
    {"--err-tolerance", "X", "allowed relative growth of an approximate variant's error "  \
     "(10%)", cli_set_fraction, offsetof(TYPE, rule.err_tolerance)},                       \
    {"--format", "table|md", "aligned table (default) or markdown for CI summaries",        \
     cli_set_text, offsetof(TYPE, format)},                                                \
    {"--junit", "FILE", "JUnit XML, one test case per key, regressions as failures",       \
     cli_set_text, offsetof(TYPE, junit)},                                                 \
    {"--fail-on-inconclusive", NULL, "exit 3 when nothing regressed but some key is "      \
     "inconclusive", cli_set_flag, offsetof(TYPE, fail_on_inconclusive)}
/* clang-format on */

/* --alpha's setter: a fraction strictly between 0 and 1. */
int cmp_set_alpha(void *field, const char *value);

/* "N slower, N inconclusive, N missing, N same, N faster", then one row per key. */
void cmp_print_verdict(FILE *out, const cmp_key *keys, size_t n, int markdown);

/* JUnit XML at path, one test suite named `suite`, one test case per key: slower is a failure,
 * inconclusive a failure when fail_on_inconclusive (else skipped), missing is skipped.
 * ATTN_OK or ATTN_ERR. */
int cmp_write_junit(const char *path, const cmp_key *keys, size_t n, const char *suite,
                    int fail_on_inconclusive);

/* 1 when a key is slower; else 3 when one is inconclusive and fail_on_inconclusive; else 0. */
int cmp_exit_status(const cmp_key *keys, size_t n, int fail_on_inconclusive);

#endif
