/* clocks.h — the GPU's clocks, temperature and power per sample, and clock/ECC/driver provenance.
 *
 * Source, in order of preference: NVML, loaded with dlopen("libnvidia-ml.so.1") (no header or
 * link-time dependency; the few prototypes used are declared in clocks.c); otherwise a probe
 * kernel (timer.h) that counts clock64() ticks against %globaltimer nanoseconds (SM clock only).
 * Which one is in use is attn_clock_info.source. */
#ifndef ATTN_CLOCKS_H
#define ATTN_CLOCKS_H

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_clock_info {
    const char *source;    /* "nvml", "probe" or "none" */
    int max_sm_mhz;        /* max SM clock (NVML, else the CUDA attribute); 0 unknown */
    int max_mem_mhz;       /* max memory clock; 0 unknown */
    int ecc;               /* 1 on, 0 off, -1 unknown */
    char driver[96];       /* NVML driver version string ("580.82.07"); "" unknown */
    char reason[256];      /* why NVML is not used; "" when it is */
} attn_clock_info;

/* Opens the clock source for `device` (after cudaSetDevice). Never fails: falls back to the probe,
 * then to "none". */
void attn_clocks_open(int device, attn_clock_info *info);

/* One reading, right after a sample: SM clock in MHz, temperature in °C, power in mW; -1 where not
 * available. `stream` is used by the probe (enqueued after the sample, outside its timing). */
void attn_clocks_read(cudaStream_t stream, int *sm_mhz, int *temp_c, int *power_mw);

/* A sample is throttled when its SM clock is known and below 75 % of the max SM clock. */
int attn_clocks_throttled(int sm_mhz, int max_sm_mhz);

#ifdef __cplusplus
}
#endif
#endif
