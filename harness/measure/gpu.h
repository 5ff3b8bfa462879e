/* gpu.h — the device side of the harness: which GPU, its provenance, seeded input generation on it,
 * and the buffer that flushes L2 between cold samples. */
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

/* Fills a device tensor with the seeded inputs of problem.h (the same values attn_fill_host makes). */
int attn_fill_device(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor, attn_init init,
                     int head_dim, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
