/* provenance.c — a run's provenance row (see provenance.h). The build's git commit and flags come
 * from build/version.h (scripts/version.sh); the command line is stored as the shell reads it back
 * (glibc's program_invocation_name is the program as invoked). */
#include "run/provenance.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cudnn_lib.h"
#include "measure/trace.h"
#include "version.h"

/* Appends word to buf (at *len, capacity n) as the shell reads it back: as is when it holds only
 * characters no shell treats specially, else in single quotes (a ' inside as '\''). */
static void append_word(char *buf, size_t n, size_t *len, const char *word)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "_-+=.,:/@%";
    const int quote = !*word || word[strspn(word, plain)] != 0;
    size_t k = *len;
    if (k && k < n) buf[k++] = ' ';
    if (quote && k < n) buf[k++] = '\'';
    for (const char *c = word; *c && k < n; c++) {
        if (*c == '\'' && n - k > 4) k += (size_t)snprintf(buf + k, n - k, "'\\''");
        else buf[k++] = *c;
    }
    if (quote && k < n) buf[k++] = '\'';
    *len = k < n ? k : n - 1;
    buf[*len] = 0;
}

void run_provenance(const run_options *o, const attn_gpu_info *gpu, int argc, char **argv,
                    const char *metrics_reason, run_provenance_text *text, store_run *r)
{
    size_t len = 0;
    text->command[0] = 0;
    append_word(text->command, sizeof text->command, &len, program_invocation_name);
    for (int i = 0; i < argc; i++) append_word(text->command, sizeof text->command, &len, argv[i]);
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
        .metrics = o->metrics, .metrics_reason = metrics_reason, .profiler = o->profiler,
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
