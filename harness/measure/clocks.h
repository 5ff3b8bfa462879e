/* clocks.h — the GPU's clocks, temperature and power per sample, and clock/ECC/driver provenance.
 *
 * The SM clock of a sample comes from a probe kernel (timer.h) enqueued right after it, which
 * counts clock64() ticks against %globaltimer nanoseconds: the clock the sample ended at. NVML
 * (dlopen("libnvidia-ml.so.1"): no header or link-time dependency; the prototypes used are in
 * clocks.c) gives temperature, power and provenance, and the SM clock only when the probe fails:
 * under a power cap NVML reads the clock after the controller has raised it again. Which is in
 * use is attn_clock_info.source: "probe+nvml", "probe", "nvml" or "none". */
#ifndef ATTN_CLOCKS_H
#define ATTN_CLOCKS_H

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_clock_info {
    const char *source;    /* "probe+nvml", "probe", "nvml" or "none" */
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

/* A sample is throttled when its SM clock is known and below `below` times the max SM clock. */
int attn_clocks_throttled(int sm_mhz, int max_sm_mhz, double below);

#ifdef __cplusplus
}
#endif
#endif
