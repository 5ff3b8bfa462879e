/* error.c — records the last failure of any API in one place (see error.h). */
#include "core/error.h"

#include <cublas_api.h>
#include <cuda_runtime.h>
#include <cupti.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/cudnn_lib.h"

attn_error_info attn_last_error;

static int record(attn_api api, int code, int oom, const char *what, const char *call,
                  const char *file, int line)
{
    attn_last_error.api = api;
    attn_last_error.code = code;
    attn_last_error.out_of_memory = oom;
    snprintf(attn_last_error.msg, sizeof attn_last_error.msg, "%s at %s:%d: %s (%d)", call, file,
             line, what, code);
    return ATTN_ERR;
}

int attn_fail_cuda(int code, const char *call, const char *file, int line)
{
    return record(ATTN_API_CUDA, code, code == cudaErrorMemoryAllocation,
                  cudaGetErrorString((cudaError_t)code), call, file, line);
}

int attn_fail_cublas(int code, const char *call, const char *file, int line)
{
    return record(ATTN_API_CUBLAS, code, code == CUBLAS_STATUS_ALLOC_FAILED,
                  cublasGetStatusString((cublasStatus_t)code), call, file, line);
}

int attn_fail_cupti(int code, const char *call, const char *file, int line)
{
    const char *s = NULL;
    if (cuptiGetResultString((CUptiResult)code, &s) != CUPTI_SUCCESS || !s) s = "CUPTI error";
    return record(ATTN_API_CUPTI, code, 0, s, call, file, line);
}

/* cuDNN's status as its name, then the library's own account of the failure (which attribute,
 * which engine refused), on one line. CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED (4004)
 * is out of memory. */
int attn_fail_cudnn(int code, const char *call, const char *file, int line)
{
    char what[512] = "cuDNN error";
    const attn_cudnn_lib *lib;
    if (attn_cudnn_lib_get(&lib) == ATTN_OK) {
        int n = snprintf(what, sizeof what, "%s", lib->status_string(code));
        if (n > 0 && (size_t)n + 3 < sizeof what) {
            lib->last_error(what + n + 2, sizeof what - (size_t)n - 2);
            if (what[n + 2]) memcpy(what + n, ": ", 2);
            for (char *c = what; *c; c++)
                if (*c == '\n' || *c == '\r') *c = ' ';
        }
    }
    return record(ATTN_API_CUDNN, code, code == 4004, what, call, file, line);
}

int attn_fail_sqlite(void *db, int code, const char *call, const char *file, int line)
{
    const char *s = db ? sqlite3_errmsg((sqlite3 *)db) : sqlite3_errstr(code);
    return record(ATTN_API_SQLITE, code, code == SQLITE_NOMEM, s, call, file, line);
}

static int vrecord(int ret, const char *fmt, va_list ap)
{
    attn_last_error.api = ATTN_API_HOST;
    attn_last_error.code = ret;
    attn_last_error.out_of_memory = 0;
    vsnprintf(attn_last_error.msg, sizeof attn_last_error.msg, fmt, ap);
    return ret;
}

int attn_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vrecord(ATTN_ERR, fmt, ap);
    va_end(ap);
    return r;
}

int attn_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vrecord(ATTN_SKIP, fmt, ap);
    va_end(ap);
    return r;
}
