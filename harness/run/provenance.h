/* provenance.h — what a run stores about where and how it ran (its runs row): the command line,
 * host, build, backend, input seed and distribution, cache mode, and on the GPU backend the
 * device's identity, clocks, profiling setup and the cuDNN version it can load; the profiler it
 * ran under (profiler mode), if any. */
#ifndef ATTN_RUN_PROVENANCE_H
#define ATTN_RUN_PROVENANCE_H

#include "measure/gpu.h"
#include "run/options.h"
#include "store/store.h"

/* The text the row points to (the command line and the host name). */
typedef struct run_provenance_text {
    char command[16384];
    char host[256];
} run_provenance_text;

/* Fills r from the options, the device (gpu: NULL on the CPU backend), the command's arguments
 * (argv[0] "run") and the --metrics outcome (metrics_reason: why counters are not collected, or
 * NULL). The command stored is the program as invoked and every argument, quoted for sh: pasted
 * into a shell in the same directory it runs the same sweep again. */
void run_provenance(const run_options *o, const attn_gpu_info *gpu, int argc, char **argv,
                    const char *metrics_reason, run_provenance_text *text, store_run *r);

#endif
