/* clocks.c — NVML through dlopen, or the probe kernel (see clocks.h). */
#include "measure/clocks.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "timer.h"

/* The NVML subset used, declared here (nvml.h is not packaged). Return 0 = NVML_SUCCESS. */
typedef struct nvml_device *nvml_device;
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2, NVML_TEMPERATURE_GPU = 0 };

static struct {
    int (*init)(void);
    int (*by_uuid)(const char *, nvml_device *);
    int (*by_pci)(const char *, nvml_device *);
    int (*clock)(nvml_device, int, unsigned *);
    int (*max_clock)(nvml_device, int, unsigned *);
    int (*temp)(nvml_device, int, unsigned *);
    int (*power)(nvml_device, unsigned *);
    int (*ecc)(nvml_device, int *, int *);
    int (*driver)(char *, unsigned);
    const char *(*error)(int);
    nvml_device dev;
    const char *source;
} N = {.source = "none"};

int attn_clocks_throttled(int sm_mhz, int max_sm_mhz, double below)
{
    return sm_mhz > 0 && max_sm_mhz > 0 && sm_mhz < below * max_sm_mhz;
}

/* Loads NVML and finds the CUDA device by UUID (else PCI bus id). 0 on success, else reason set. */
static int nvml_open(int device, char *reason, size_t rn)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(reason, rn, "NVML not loadable: %s", dlerror());
        return -1;
    }
#define SYM(field, name) *(void **)&N.field = dlsym(h, name)
    SYM(init, "nvmlInit_v2");
    SYM(by_uuid, "nvmlDeviceGetHandleByUUID");
    SYM(by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    SYM(clock, "nvmlDeviceGetClockInfo");
    SYM(max_clock, "nvmlDeviceGetMaxClockInfo");
    SYM(temp, "nvmlDeviceGetTemperature");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(ecc, "nvmlDeviceGetEccMode");
    SYM(driver, "nvmlSystemGetDriverVersion");
    SYM(error, "nvmlErrorString");
#undef SYM
    if (!N.init || !N.clock || (!N.by_uuid && !N.by_pci)) {
        snprintf(reason, rn, "NVML lacks nvmlInit_v2/nvmlDeviceGetClockInfo/handle lookup");
        return -1;
    }
    int rc = N.init();
    if (rc) {
        snprintf(reason, rn, "nvmlInit_v2: %s (%d)", N.error ? N.error(rc) : "error", rc);
        return -1;
    }
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        snprintf(reason, rn, "cudaGetDeviceProperties failed");
        return -1;
    }
    char uuid[64];
    const unsigned char *u = (const unsigned char *)p.uuid.bytes;
    snprintf(uuid, sizeof uuid,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    rc = N.by_uuid ? N.by_uuid(uuid, &N.dev) : -1;
    if (rc && N.by_pci) {
        char pci[64];
        if (cudaDeviceGetPCIBusId(pci, sizeof pci, device) == cudaSuccess) rc = N.by_pci(pci, &N.dev);
    }
    if (rc) {
        snprintf(reason, rn, "NVML does not know CUDA device %d (%s)", device, uuid);
        return -1;
    }
    unsigned mhz;
    if ((rc = N.clock(N.dev, NVML_CLOCK_SM, &mhz)) != 0) {
        snprintf(reason, rn, "nvmlDeviceGetClockInfo: %s (%d)", N.error ? N.error(rc) : "error", rc);
        return -1;
    }
    return 0;
}

void attn_clocks_open(int device, attn_clock_info *info)
{
    memset(info, 0, sizeof *info);
    info->ecc = -1;
    int probe_mhz;
    const int probe = attn_clock_probe(0, &probe_mhz) == ATTN_OK;
    cudaGetLastError();
    if (nvml_open(device, info->reason, sizeof info->reason) == 0) {
        N.source = probe ? "probe+nvml" : "nvml";
        unsigned v;
        int cur, pending;
        if (N.max_clock && N.max_clock(N.dev, NVML_CLOCK_SM, &v) == 0) info->max_sm_mhz = (int)v;
        if (N.max_clock && N.max_clock(N.dev, NVML_CLOCK_MEM, &v) == 0) info->max_mem_mhz = (int)v;
        if (N.ecc && N.ecc(N.dev, &cur, &pending) == 0) info->ecc = cur != 0;
        if (N.driver && N.driver(info->driver, sizeof info->driver) != 0) info->driver[0] = 0;
    } else {
        N.dev = NULL;
        N.source = probe ? "probe" : "none";
        int ecc = 0;
        if (cudaDeviceGetAttribute(&ecc, cudaDevAttrEccEnabled, device) == cudaSuccess) info->ecc = ecc;
    }
    int khz = 0;
    if (!info->max_sm_mhz && cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) == cudaSuccess)
        info->max_sm_mhz = khz / 1000;
    if (!info->max_mem_mhz &&
        cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess)
        info->max_mem_mhz = khz / 1000;
    info->source = N.source;
    cudaGetLastError();
}

void attn_clocks_read(cudaStream_t stream, int *sm_mhz, int *temp_c, int *power_mw)
{
    *sm_mhz = *temp_c = *power_mw = -1;
    unsigned v;
    /* The SM clock from the probe first: NVML reports the clock of the moment it is asked, and
     * between a sample's end and that moment the power controller has already let the clock rise
     * again (on an H200 under fused's load: NVML 1980 MHz, the probe 1920-1935 MHz, and the
     * sample's time in proportion to the probe's clock; kernels/NOTES-fused.md). */
    if (attn_clock_probe(stream, sm_mhz) != ATTN_OK) {
        *sm_mhz = -1;
        cudaGetLastError();
        if (N.dev && N.clock(N.dev, NVML_CLOCK_SM, &v) == 0) *sm_mhz = (int)v;
    }
    if (N.dev) {
        if (N.temp && N.temp(N.dev, NVML_TEMPERATURE_GPU, &v) == 0) *temp_c = (int)v;
        if (N.power && N.power(N.dev, &v) == 0) *power_mw = (int)v;
    }
}
