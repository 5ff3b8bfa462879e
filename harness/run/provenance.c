/* provenance.c — a run's provenance row (see provenance.h). The build's git commit and flags come
 * from build/version.h (scripts/version.sh). */
#include "run/provenance.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cudnn_lib.h"
#include "measure/trace.h"
#include "version.h"

void run_provenance(const run_options *o, const attn_gpu_info *gpu, int argc, char **argv,
                    const char *metrics_reason, run_provenance_text *text, store_run *r)
{
    size_t len = (size_t)snprintf(text->command, sizeof text->command, "attnbench");
    for (int i = 0; i < argc && len < sizeof text->command; i++)
        len += (size_t)snprintf(text->command + len, sizeof text->command - len, " %s", argv[i]);
    text->host[0] = 0;
    gethostname(text->host, sizeof text->host - 1);
    *r = (store_run){
        .command = text->command, .host = text->host, .git_commit = ATTN_GIT_COMMIT,
        .git_dirty = ATTN_GIT_DIRTY, .backend = gpu ? "cuda" : "cpu", .tag = o->tag,
        .seed = o->seed, .init = attn_init_name(o->init),
        .cache_mode = gpu && o->measure.cold ? "cold" : "hot", .compiler = ATTN_BUILD_FLAGS,
        .sm_count = -1, .l2_bytes = -1, .mem_bytes = -1, .max_sm_clock_mhz = -1,
        .max_mem_clock_mhz = -1, .ecc = -1, .cupti = -1,
        .timing_method = !gpu ? "cpu_clock" : attn_cupti_on() ? "cupti_span" : "events",
        .metrics = o->metrics, .metrics_reason = metrics_reason,
    };
    if (!gpu) return;
    r->gpu_name = gpu->name, r->driver_version = gpu->driver, r->cuda_runtime = gpu->runtime;
    r->cublas_version = gpu->cublas;
    r->gpu_uuid = gpu->uuid, r->compute_capability = gpu->cc, r->sm_count = gpu->sm_count;
    r->l2_bytes = gpu->l2_bytes, r->mem_bytes = (int64_t)gpu->mem_total;
    r->max_sm_clock_mhz = gpu->clocks.max_sm_mhz ? gpu->clocks.max_sm_mhz : -1;
    r->max_mem_clock_mhz = gpu->clocks.max_mem_mhz ? gpu->clocks.max_mem_mhz : -1;
    r->ecc = gpu->clocks.ecc, r->driver_string = gpu->clocks.driver;
    r->cupti_version = gpu->cupti, r->cupti = attn_cupti_on();
    r->cupti_reason = attn_cupti_on() ? NULL : attn_cupti_reason();
    r->clock_source = gpu->clocks.source;
    r->cudnn_version = attn_cudnn_version_text(); /* loadable or not, whatever the variants */
}
