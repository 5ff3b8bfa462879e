/* host_memory.h — how much host memory this process can still take, so that a point too large for
 * the host is skipped with the reason instead of being killed by the OOM killer (or failing under
 * a memory limit) half-way: the smallest of the kernel's MemAvailable (/proc/meminfo), the memory
 * cgroup's limit less its usage (v2 memory.max / memory.current, v1 memory.limit_in_bytes /
 * memory.usage_in_bytes, over the process's cgroup and its ancestors), RLIMIT_AS less the address
 * space in use (VmSize) and RLIMIT_DATA less the data segment (VmData). Linux only; a source that
 * cannot be read is left out. */
#ifndef ATTN_RUN_HOST_MEMORY_H
#define ATTN_RUN_HOST_MEMORY_H

typedef struct run_host_memory {
    double bytes;      /* what the process can still take; INFINITY when no source could be read */
    const char *bound; /* the source that bounds it: "MemAvailable", "the cgroup memory limit",
                          "RLIMIT_AS", "RLIMIT_DATA"; "" when none */
} run_host_memory;

void run_host_memory_available(run_host_memory *m);

#endif
