/* gpu_test.h — the start the GPU tests that drive build/attnbench share: without a GPU, say so
 * and end with the summary line (exit 1, no test run); else the scratch directory and the tool. */
#ifndef ATTN_GPU_TEST_H
#define ATTN_GPU_TEST_H

#include <cuda_runtime.h>
#include <stdio.h>

#include "fixture.h"
#include "test.h"

/* 0 when the test can run; else non-zero after printing why (and the summary line). */
static inline int gpu_test_init(const char *argv0)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("no GPU: the GPU tests need one\n");
        test_report();
        return 1;
    }
    /* The binary is build/tests/gpu/NAME: the tool is two directories up. */
    return fx_init_at(argv0, 2) != 0;
}

#endif
