/* test.h — the whole test framework (after Redis's testhelp.h): test_cond(descr, cond) records one
 * check, test_report() prints "N passed, N failed" and returns the exit status. */
#ifndef ATTN_TEST_H
#define ATTN_TEST_H

#include <stdio.h>

static int test_passed, test_failed;

#define test_cond(descr, cond)                                                             \
    do {                                                                                   \
        if (cond) {                                                                        \
            test_passed++;                                                                 \
        } else {                                                                           \
            test_failed++;                                                                 \
            printf("FAIL %s (%s:%d)\n", (descr), __FILE__, __LINE__);                      \
        }                                                                                  \
    } while (0)

static inline int test_report(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
