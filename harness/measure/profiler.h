/* profiler.h — profiler mode: is this process running under a tool that injects itself into CUDA
 * (Nsight Compute `ncu`, Nsight Systems `nsys`, `compute-sanitizer`)? Such a tool serialises or
 * instruments every kernel, so the run changes how it measures (run/options.c): no stream hold (a
 * hold kernel would spin its full timeout while ncu replays the kernel behind it), CUPTI left to
 * the tool (one activity subscriber per process), a few samples only, and the run recorded as a
 * profiler run, whose times `compare` refuses to judge.
 *
 * Detection reads the environment the tools give the process they start (none can attach to a
 * running one): NSYS_PROFILING_SESSION_ID (nsys), NV_COMPUTE_PROFILER_PERFWORKS_DIR or
 * NV_NSIGHT_INJECTION_TRANSPORT_TYPE (ncu), NV_SANITIZER_INJECTION_PORT_BASE or
 * NV_SANITIZER_INJECTION_PORT_RANGE_BEGIN, or a CUDA_INJECTION64_PATH naming
 * libsanitizer-collection.so (compute-sanitizer); any other CUDA_INJECTION64_PATH is an unknown
 * injected tool, treated alike. Limits: a tool that sets none of these goes unseen (`run
 * --profile` forces the mode). */
#ifndef ATTN_PROFILER_H
#define ATTN_PROFILER_H

/* Reads one environment variable (getenv, or a test's table): its value or NULL. */
typedef const char *(*attn_env_fn)(const char *name);

/* The tool the environment names: "compute-sanitizer", "ncu", "nsys", "CUDA_INJECTION64_PATH" (an
 * injected tool of unknown kind), or NULL when none. */
const char *attn_profiler_detect(attn_env_fn env);

#endif
