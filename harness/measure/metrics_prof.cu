/* metrics_prof.cu — the CUPTI range-profiler half of --metrics (see metrics.h). A .cu only because
 * CUPTI 13.0's cupti_profiler_host.h includes <string>: nvcc compiles it as C++, no device code.
 *
 * Sequence (cupti.md §4): ProfilerInitialize, DeviceGetChipName, GetCounterAvailability (size, then
 * data), HostInitialize → ConfigAddMetrics → GetConfigImage → GetNumOfPasses, once at open (which
 * also enables and disables the profiler once, a permission probe); per point: Enable →
 * GetCounterDataSize → CounterDataImageInitialize → SetConfig(UserRange, UserReplay, 1 range) →
 * {Start, PushRange, run, PopRange, Stop} until all passes are submitted → DecodeData →
 * EvaluateToGpuValues → Disable. */
#include <cuda.h>
#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "measure/metrics.h"

static struct {
    int open;
    CUcontext ctx;
    const char *const *names;  /* the set in use */
    int n_names;
    char chip[64];
    uint8_t *avail;
    uint8_t *config;
    size_t config_size;
    size_t passes;
    CUpti_Profiler_Host_Object *host;
} M;

typedef CUresult (*ctx_get_current_fn)(CUcontext *);

/* The current context without linking libcuda: the driver's own entry point through cudart. */
static int current_context(CUcontext *ctx)
{
    void *fn = NULL;
    cudaDriverEntryPointQueryResult q;
    CUDA_CHECK(cudaFree(0)); /* the primary context exists and is current */
    CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &q));
    if (!fn || q != cudaDriverEntryPointSuccess) return attn_fail("cuCtxGetCurrent not found in the driver");
    CUresult r = ((ctx_get_current_fn)fn)(ctx);
    if (r != CUDA_SUCCESS || !*ctx) return attn_fail("cuCtxGetCurrent failed (%d)", (int)r);
    return ATTN_OK;
}

/* CUPTI call at open: a privilege refusal or an unsupported device becomes a skip with its reason. */
static int open_check(int code, const char *call, const char *file, int line, char *why, size_t n)
{
    if (code == CUPTI_SUCCESS) return ATTN_OK;
    attn_fail_cupti(code, call, file, line);
    if (code == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES ||
        code == CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES) {
        const char *paren = strchr(call, '(');
        char name[96];
        snprintf(name, sizeof name, "%.*s", paren ? (int)(paren - call) : 95, call);
        attn_metrics_privilege_reason_here(name, why, n);
    } else {
        snprintf(why, n, "CUPTI range profiler unavailable: %s", attn_last_error.msg);
    }
    return ATTN_SKIP;
}
#define OPEN_CHECK(call)                                                                   \
    do {                                                                                   \
        int r_ = open_check((int)(call), #call, __FILE__, __LINE__, why, n);              \
        if (r_ != ATTN_OK) return r_;                                                      \
    } while (0)

static void host_free(void)
{
    if (M.host) {
        CUpti_Profiler_Host_Deinitialize_Params d = {CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE};
        d.pHostObject = M.host;
        cuptiProfilerHostDeinitialize(&d);
        M.host = NULL;
    }
    free(M.config);
    M.config = NULL, M.config_size = 0;
}

/* Host object + configuration image for `names`; CUPTI's status (not recorded) so that the caller
 * can try the chip's other names. */
static CUptiResult host_config(const char *const *names, int count)
{
    host_free();
    CUpti_Profiler_Host_Initialize_Params hi = {CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE};
    hi.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    hi.pChipName = M.chip;
    hi.pCounterAvailabilityImage = M.avail;
    CUptiResult r = cuptiProfilerHostInitialize(&hi);
    if (r != CUPTI_SUCCESS) return r;
    M.host = hi.pHostObject;
    CUpti_Profiler_Host_ConfigAddMetrics_Params am = {CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE};
    am.pHostObject = M.host;
    am.ppMetricNames = (const char **)names;
    am.numMetrics = (size_t)count;
    if ((r = cuptiProfilerHostConfigAddMetrics(&am)) != CUPTI_SUCCESS) return r;
    CUpti_Profiler_Host_GetConfigImageSize_Params cs = {CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE};
    cs.pHostObject = M.host;
    if ((r = cuptiProfilerHostGetConfigImageSize(&cs)) != CUPTI_SUCCESS) return r;
    M.config = (uint8_t *)malloc(cs.configImageSize);
    if (!M.config) return CUPTI_ERROR_OUT_OF_MEMORY;
    M.config_size = cs.configImageSize;
    CUpti_Profiler_Host_GetConfigImage_Params ci = {CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE};
    ci.pHostObject = M.host;
    ci.configImageSize = M.config_size;
    ci.pConfigImage = M.config;
    if ((r = cuptiProfilerHostGetConfigImage(&ci)) != CUPTI_SUCCESS) return r;
    CUpti_Profiler_Host_GetNumOfPasses_Params np = {CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE};
    np.configImageSize = M.config_size;
    np.pConfigImage = M.config;
    if ((r = cuptiProfilerHostGetNumOfPasses(&np)) != CUPTI_SUCCESS) return r;
    M.passes = np.numOfPasses;
    return CUPTI_SUCCESS;
}

static int count_names(const char *const *names)
{
    int k = 0;
    while (names && names[k]) k++;
    return k;
}

static int open_inner(const char *set, char *why, size_t n)
{
    const char *const *alt;
    const char *const *names = attn_metrics_set(set, &alt);
    if (!names) {
        snprintf(why, n, "unknown metrics set '%s'", set ? set : "");
        return ATTN_SKIP;
    }
    if (current_context(&M.ctx) != ATTN_OK) {
        snprintf(why, n, "no CUDA context for the range profiler: %s", attn_last_error.msg);
        return ATTN_SKIP;
    }
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUpti_Profiler_Initialize_Params ip = {CUpti_Profiler_Initialize_Params_STRUCT_SIZE};
    OPEN_CHECK(cuptiProfilerInitialize(&ip));
    M.open = 1;
    CUpti_Profiler_DeviceSupported_Params ds = {CUpti_Profiler_DeviceSupported_Params_STRUCT_SIZE};
    ds.cuDevice = dev;
    ds.api = CUPTI_PROFILER_RANGE_PROFILING;
    if (cuptiProfilerDeviceSupported(&ds) == CUPTI_SUCCESS &&
        (ds.isSupported == CUPTI_PROFILER_CONFIGURATION_UNSUPPORTED ||
         ds.isSupported == CUPTI_PROFILER_CONFIGURATION_DISABLED)) {
        snprintf(why, n, "the range profiler does not support this device (architecture %d, vGPU %d, "
                 "confidential compute %d, CMP %d, WSL %d; 3 = supported)", (int)ds.architecture,
                 (int)ds.vGpu, (int)ds.confidentialCompute, (int)ds.cmp, (int)ds.wsl);
        return ATTN_SKIP;
    }
    CUpti_Device_GetChipName_Params cn = {CUpti_Device_GetChipName_Params_STRUCT_SIZE};
    cn.deviceIndex = (size_t)dev;
    OPEN_CHECK(cuptiDeviceGetChipName(&cn));
    snprintf(M.chip, sizeof M.chip, "%s", cn.pChipName ? cn.pChipName : "");
    CUpti_Profiler_GetCounterAvailability_Params ca = {CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE};
    ca.ctx = M.ctx;
    OPEN_CHECK(cuptiProfilerGetCounterAvailability(&ca));
    M.avail = (uint8_t *)malloc(ca.counterAvailabilityImageSize);
    if (!M.avail) return attn_fail("out of host memory");
    ca.pCounterAvailabilityImage = M.avail;
    OPEN_CHECK(cuptiProfilerGetCounterAvailability(&ca));
    /* Metric names differ by chip (GB202: dram__bytes_op_read.sum): the first set CUPTI accepts. */
    CUptiResult r = host_config(names, count_names(names));
    if (r != CUPTI_SUCCESS && alt && host_config(alt, count_names(alt)) == CUPTI_SUCCESS) {
        names = alt;
        r = CUPTI_SUCCESS;
    }
    if (r != CUPTI_SUCCESS) {
        const char *s = NULL;
        cuptiGetResultString(r, &s);
        snprintf(why, n, "chip %s: CUPTI rejects the metrics %s, %s: %s", M.chip, names[0], names[1],
                 s ? s : "error");
        return ATTN_SKIP;
    }
    M.names = names, M.n_names = count_names(names);
    /* Permission probe: enable once (INSUFFICIENT_PRIVILEGES where counters are restricted; the
     * availability call above usually refuses first). */
    CUpti_RangeProfiler_Enable_Params en = {CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE};
    en.ctx = M.ctx;
    OPEN_CHECK(cuptiRangeProfilerEnable(&en));
    CUpti_RangeProfiler_Disable_Params di = {CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE};
    di.pRangeProfilerObject = en.pRangeProfilerObject;
    OPEN_CHECK(cuptiRangeProfilerDisable(&di));
    return ATTN_OK;
}

int attn_metrics_open(const char *set, char *why, size_t n)
{
    why[0] = 0;
    int rc = open_inner(set, why, n);
    if (rc != ATTN_OK) {
        if (!why[0]) snprintf(why, n, "%s", attn_last_error.msg);
        attn_metrics_close();
        cudaGetLastError();
        return ATTN_SKIP;
    }
    return ATTN_OK;
}

int attn_metrics_passes(void) { return (int)M.passes; }
const char *attn_metrics_chip(void) { return M.chip; }

/* The passes and decoding, with the profiler object enabled by the caller. */
static int collect(CUpti_RangeProfiler_Object *obj, int (*run)(void *, cudaStream_t), void *arg,
                   cudaStream_t stream, uint8_t **image, attn_metric_values *out)
{
    CUpti_RangeProfiler_GetCounterDataSize_Params gs = {CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE};
    gs.pRangeProfilerObject = obj;
    gs.pMetricNames = (const char **)M.names;
    gs.numMetrics = (size_t)M.n_names;
    gs.maxNumOfRanges = 1;
    gs.maxNumRangeTreeNodes = 1;
    CUPTI_CHECK(cuptiRangeProfilerGetCounterDataSize(&gs));
    *image = (uint8_t *)calloc(1, gs.counterDataSize);
    if (!*image) return attn_fail("out of host memory for the counter data image");
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params ii = {CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE};
    ii.pRangeProfilerObject = obj;
    ii.counterDataSize = gs.counterDataSize;
    ii.pCounterData = *image;
    CUPTI_CHECK(cuptiRangeProfilerCounterDataImageInitialize(&ii));
    CUpti_RangeProfiler_SetConfig_Params sc = {CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE};
    sc.pRangeProfilerObject = obj;
    sc.configSize = M.config_size;
    sc.pConfig = M.config;
    sc.counterDataImageSize = gs.counterDataSize;
    sc.pCounterDataImage = *image;
    sc.range = CUPTI_UserRange;
    sc.replayMode = CUPTI_UserReplay;
    sc.maxRangesPerPass = 1;
    sc.numNestingLevels = 1;
    sc.minNestingLevel = 1;
    sc.passIndex = 0;
    sc.targetNestingLevel = 1;
    CUPTI_CHECK(cuptiRangeProfilerSetConfig(&sc));
    int all = 0;
    for (size_t pass = 0; !all; pass++) {
        if (pass > M.passes + 2)
            return attn_fail("range profiler: %zu passes submitted, %zu expected, not done", pass, M.passes);
        CUDA_CHECK(cudaStreamSynchronize(stream));
        CUpti_RangeProfiler_Start_Params st = {CUpti_RangeProfiler_Start_Params_STRUCT_SIZE};
        st.pRangeProfilerObject = obj;
        CUPTI_CHECK(cuptiRangeProfilerStart(&st));
        CUpti_RangeProfiler_PushRange_Params pu = {CUpti_RangeProfiler_PushRange_Params_STRUCT_SIZE};
        pu.pRangeProfilerObject = obj;
        pu.pRangeName = "point";
        CUPTI_CHECK(cuptiRangeProfilerPushRange(&pu));
        int rc = run(arg, stream);
        if (rc == ATTN_OK) {
            cudaError_t e = cudaStreamSynchronize(stream);
            if (e != cudaSuccess) rc = attn_fail_cuda(e, "cudaStreamSynchronize(stream)", __FILE__, __LINE__);
        }
        CUpti_RangeProfiler_PopRange_Params po = {CUpti_RangeProfiler_PopRange_Params_STRUCT_SIZE};
        po.pRangeProfilerObject = obj;
        CUptiResult pr = cuptiRangeProfilerPopRange(&po);
        CUpti_RangeProfiler_Stop_Params sp = {CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE};
        sp.pRangeProfilerObject = obj;
        CUptiResult sr = cuptiRangeProfilerStop(&sp);
        if (rc != ATTN_OK) return rc;
        CUPTI_CHECK(pr);
        CUPTI_CHECK(sr);
        all = sp.isAllPassSubmitted;
    }
    CUpti_RangeProfiler_DecodeData_Params dd = {CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE};
    dd.pRangeProfilerObject = obj;
    CUPTI_CHECK(cuptiRangeProfilerDecodeData(&dd));
    if (dd.numOfRangeDropped) return attn_fail("range profiler dropped %zu range(s)", dd.numOfRangeDropped);
    CUpti_RangeProfiler_GetCounterDataInfo_Params gi = {CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE};
    gi.pCounterDataImage = *image;
    gi.counterDataImageSize = gs.counterDataSize;
    CUPTI_CHECK(cuptiRangeProfilerGetCounterDataInfo(&gi));
    if (gi.numTotalRanges < 1) return attn_fail("range profiler collected no range");
    double values[ATTN_METRICS_MAX];
    CUpti_Profiler_Host_EvaluateToGpuValues_Params ev = {CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE};
    ev.pHostObject = M.host;
    ev.pCounterDataImage = *image;
    ev.counterDataImageSize = gs.counterDataSize;
    ev.rangeIndex = 0;
    ev.ppMetricNames = (const char **)M.names;
    ev.numMetrics = (size_t)M.n_names;
    ev.pMetricValues = values;
    CUPTI_CHECK(cuptiProfilerHostEvaluateToGpuValues(&ev));
    out->n = M.n_names;
    for (int i = 0; i < M.n_names; i++) out->name[i] = M.names[i], out->value[i] = values[i];
    return ATTN_OK;
}

int attn_metrics_collect(int (*run)(void *, cudaStream_t), void *arg, cudaStream_t stream,
                         attn_metric_values *out)
{
    out->n = 0;
    if (!M.names) return attn_fail("range profiler not set up");
    CUpti_RangeProfiler_Enable_Params en = {CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE};
    en.ctx = M.ctx;
    CUPTI_CHECK(cuptiRangeProfilerEnable(&en));
    uint8_t *image = NULL;
    int rc = collect(en.pRangeProfilerObject, run, arg, stream, &image, out);
    CUpti_RangeProfiler_Disable_Params di = {CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE};
    di.pRangeProfilerObject = en.pRangeProfilerObject;
    CUptiResult dr = cuptiRangeProfilerDisable(&di);
    free(image);
    if (rc != ATTN_OK) return rc;
    CUPTI_CHECK(dr);
    return ATTN_OK;
}

void attn_metrics_close(void)
{
    host_free();
    free(M.avail);
    M.avail = NULL;
    if (M.open) {
        CUpti_Profiler_DeInitialize_Params d = {CUpti_Profiler_DeInitialize_Params_STRUCT_SIZE};
        cuptiProfilerDeInitialize(&d);
    }
    M.open = 0, M.names = NULL, M.n_names = 0, M.passes = 0;
}
