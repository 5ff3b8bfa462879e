/* gpu.c — device selection and provenance (see gpu.h). */
#include "measure/gpu.h"

#include <cublas_api.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "measure/trace.h"

int attn_gpu_open(attn_gpu_info *g)
{
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count)); /* no driver, or a driver too old for the runtime */
    if (count == 0) return attn_fail("no usable CUDA GPU (no devices)");
    memset(g, 0, sizeof *g);
    CUDA_CHECK(cudaSetDevice(0));
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    snprintf(g->name, sizeof g->name, "%s", prop.name);
    g->cc_major = prop.major;
    g->cc_minor = prop.minor;
    g->sm_count = prop.multiProcessorCount;
    g->l2_bytes = prop.l2CacheSize;
    g->mem_total = prop.totalGlobalMem;
    int drv = 0, rt = 0, maj = 0, min = 0, patch = 0;
    CUDA_CHECK(cudaDriverGetVersion(&drv));
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    snprintf(g->driver, sizeof g->driver, "%d.%d", drv / 1000, drv % 1000 / 10);
    snprintf(g->runtime, sizeof g->runtime, "%d.%d", rt / 1000, rt % 1000 / 10);
    CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &maj));
    CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &min));
    CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
    snprintf(g->cublas, sizeof g->cublas, "%d.%d.%d", maj, min, patch);
    const unsigned char *u = (const unsigned char *)prop.uuid.bytes;
    snprintf(g->uuid, sizeof g->uuid,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    snprintf(g->cc, sizeof g->cc, "%d.%d", prop.major, prop.minor);
    snprintf(g->cupti, sizeof g->cupti, "%s", attn_cupti_version());
    attn_clocks_open(0, &g->clocks);
    return ATTN_OK;
}
