/* profiler.c — which profiler, if any, started this process (see profiler.h). */
#include "measure/profiler.h"

#include <string.h>

/* 1 when the variable is set (to anything, even ""). */
static int set(attn_env_fn env, const char *name) { return env(name) != NULL; }

/* 1 when CUDA_INJECTION64_PATH's file name is `file`: a directory or binary named after a tool
 * decides nothing. */
static int injects(attn_env_fn env, const char *file)
{
    const char *path = env("CUDA_INJECTION64_PATH");
    if (!path) return 0;
    const char *slash = strrchr(path, '/');
    return strcmp(slash ? slash + 1 : path, file) == 0;
}

const char *attn_profiler_detect(attn_env_fn env)
{
    /* compute-sanitizer first: its variables are its own, while an nsys or ncu session's
     * variables may be inherited by a process the sanitizer starts. */
    if (set(env, "NV_SANITIZER_INJECTION_PORT_BASE") ||
        set(env, "NV_SANITIZER_INJECTION_PORT_RANGE_BEGIN") ||
        injects(env, "libsanitizer-collection.so"))
        return "compute-sanitizer";
    if (set(env, "NV_COMPUTE_PROFILER_PERFWORKS_DIR") ||
        set(env, "NV_NSIGHT_INJECTION_TRANSPORT_TYPE"))
        return "ncu";
    if (set(env, "NSYS_PROFILING_SESSION_ID")) return "nsys";
    if (set(env, "CUDA_INJECTION64_PATH")) return "CUDA_INJECTION64_PATH";
    return NULL;
}
