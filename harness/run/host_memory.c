/* host_memory.c — the host memory this process can still take (see host_memory.h). */
#include "run/host_memory.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* The number after "key" on a line of a /proc file (kB there), in bytes; -1 when absent. */
static double proc_kb(const char *path, const char *key)
{
    char line[256];
    double kb = -1;
    size_t n = strlen(key);
    FILE *f = fopen(path, "r");
    while (f && kb < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && sscanf(line + n, " %lf", &kb) != 1) kb = -1;
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* A file holding one number ("max" or absent: -1). */
static double file_number(const char *path)
{
    double v = -1;
    FILE *f = fopen(path, "r");
    if (f && fscanf(f, "%lf", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

/* The smallest limit - usage over the cgroup directory root/path and its ancestors up to root. */
static double cgroup_room(const char *root, const char *path, const char *limit_file,
                          const char *usage_file)
{
    char dir[PATH_MAX], file[PATH_MAX + 64];
    double room = INFINITY;
    snprintf(dir, sizeof dir, "%s%s", root, strcmp(path, "/") == 0 ? "" : path);
    for (;;) {
        snprintf(file, sizeof file, "%s/%s", dir, limit_file);
        double limit = file_number(file);
        snprintf(file, sizeof file, "%s/%s", dir, usage_file);
        double usage = file_number(file);
        if (limit >= 0 && usage >= 0 && limit - usage < room) room = limit - usage;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= strlen(root) || !slash) return room;
        *slash = 0;
    }
}

/* The memory cgroup's room: v2 ("0::PATH" in /proc/self/cgroup), else v1 ("N:memory:PATH"). */
static double cgroup_memory(void)
{
    char line[PATH_MAX], *path;
    double room = INFINITY;
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "0::", 3) == 0)
            room = fmin(room, cgroup_room("/sys/fs/cgroup", line + 3, "memory.max",
                                          "memory.current"));
        else if ((path = strstr(line, ":memory:")))
            room = fmin(room, cgroup_room("/sys/fs/cgroup/memory", path + 8,
                                          "memory.limit_in_bytes", "memory.usage_in_bytes"));
    }
    if (f) fclose(f);
    return room;
}

/* An rlimit less what the process already uses of it (a /proc/self/status line). */
static double rlimit_room(int resource, const char *used_key)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return INFINITY;
    double used = proc_kb("/proc/self/status", used_key);
    return (double)rl.rlim_cur - (used > 0 ? used : 0);
}

void run_host_memory_available(run_host_memory *m)
{
    const double avail = proc_kb("/proc/meminfo", "MemAvailable:");
    const struct { double bytes; const char *bound; } source[] = {
        {avail >= 0 ? avail : INFINITY, "MemAvailable"},
        {cgroup_memory(), "the cgroup memory limit"},
        {rlimit_room(RLIMIT_AS, "VmSize:"), "RLIMIT_AS"},
        {rlimit_room(RLIMIT_DATA, "VmData:"), "RLIMIT_DATA"},
    };
    *m = (run_host_memory){INFINITY, ""};
    for (size_t i = 0; i < sizeof source / sizeof source[0]; i++)
        if (source[i].bytes < m->bytes) *m = (run_host_memory){source[i].bytes, source[i].bound};
}
