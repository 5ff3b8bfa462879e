/* metrics.c — the plain-C half of --metrics (see metrics.h): metric sets, units, skip reasons. */
#include "measure/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const dram_names[] = {"dram__bytes_read.sum", "dram__bytes_write.sum", NULL};
static const char *const dram_names_op[] = {"dram__bytes_op_read.sum", "dram__bytes_op_write.sum",
                                            NULL};

const char *const *attn_metrics_set(const char *set, const char *const **alt)
{
    if (alt) *alt = NULL;
    if (!set || strcmp(set, "dram") != 0) return NULL;
    if (alt) *alt = dram_names_op;
    return dram_names;
}

const char *attn_metrics_unit(const char *name)
{
    return name && strncmp(name, "dram__bytes", 11) == 0 ? "bytes" : "";
}

int attn_metrics_admin_only(const char *text)
{
    for (const char *s = text; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        int v = -1;
        if (sscanf(s, "RmProfilingAdminOnly: %d", &v) == 1) return v == 1;
    }
    return 0;
}

void attn_metrics_privilege_reason(const char *call, int admin_only, int is_root, char *buf,
                                   size_t n)
{
    if (admin_only && !is_root)
        snprintf(buf, n, "performance counters are restricted to admin users (%s: insufficient "
                 "privileges; RmProfilingAdminOnly: 1, not root): run as root or with CAP_PERFMON, "
                 "or load nvidia with NVreg_RestrictProfilingToAdminUsers=0", call);
    else
        snprintf(buf, n, "performance counters not permitted (%s: insufficient privileges%s)",
                 call, is_root ? ", even as root: a container or a virtualised GPU may block them"
                               : "; run as root or with CAP_PERFMON");
}

void attn_metrics_privilege_reason_here(const char *call, char *buf, size_t n)
{
    char text[8192];
    size_t len = 0;
    FILE *f = fopen("/proc/driver/nvidia/params", "r");
    if (f) {
        len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
    }
    text[len] = 0;
    attn_metrics_privilege_reason(call, attn_metrics_admin_only(text), geteuid() == 0, buf, n);
}
