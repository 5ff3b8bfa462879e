/* gpu.h — which GPU the harness runs on: its properties and provenance (the seeded inputs are
 * generated on it by kernels/inputs.cu). */
#ifndef ATTN_GPU_H
#define ATTN_GPU_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "measure/clocks.h"
#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_gpu_info {
    int device;
    char name[256];
    int cc_major, cc_minor;
    int sm_count;
    int l2_bytes;
    size_t mem_total;
    char driver[32];   /* CUDA driver API version, "13.0" */
    char runtime[32];  /* CUDA runtime version */
    char cublas[32];   /* cuBLAS version */
    char uuid[48];     /* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
    char cc[16];       /* compute capability, "9.0" */
    char cupti[48];    /* CUPTI version at run time (and the one built against) */
    attn_clock_info clocks; /* max clocks, ECC, NVML driver string, clock source */
} attn_gpu_info;

/* Selects device 0 and reads its properties and provenance (opening the clock source, clocks.h).
 * ATTN_ERR when no usable GPU (attn_last_error says why). */
int attn_gpu_open(attn_gpu_info *info);

#ifdef __cplusplus
}
#endif
#endif
