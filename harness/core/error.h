/* error.h — one way to fail. Every CUDA, cuBLAS, cuDNN, CUPTI and SQLite return code goes through
 * one macro per API; a failure is recorded in attn_last_error (API, code, call, file:line) and the
 * enclosing function returns ATTN_ERR. Callers that must classify a failure (out of memory → the
 * point is skipped; a sticky device error → the run is aborted) read attn_last_error.
 *
 * Functions that use these macros return int: ATTN_OK, ATTN_ERR, or ATTN_SKIP (the point cannot
 * run here; attn_last_error.msg says why). */
#ifndef ATTN_ERROR_H
#define ATTN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum { ATTN_OK = 0, ATTN_ERR = -1, ATTN_SKIP = 1 };

typedef enum attn_api { ATTN_API_NONE, ATTN_API_CUDA, ATTN_API_CUBLAS, ATTN_API_CUPTI,
                        ATTN_API_SQLITE, ATTN_API_HOST, ATTN_API_CUDNN } attn_api;

typedef struct attn_error_info {
    attn_api api;         /* which library failed */
    int code;             /* its status code */
    int out_of_memory;    /* 1 when the failure was an allocation (the point is skipped, not fatal) */
    char msg[768];        /* "cudaMalloc(...) at harness/x.c:12: out of memory" */
} attn_error_info;

extern attn_error_info attn_last_error;

/* Record a failure; each returns ATTN_ERR. */
int attn_fail_cuda(int code, const char *call, const char *file, int line);
int attn_fail_cublas(int code, const char *call, const char *file, int line);
int attn_fail_cupti(int code, const char *call, const char *file, int line);
/* cuDNN (loaded at run time, core/cudnn_lib.h): its status string and its last error message. */
int attn_fail_cudnn(int code, const char *call, const char *file, int line);
int attn_fail_sqlite(void *db, int code, const char *call, const char *file, int line);
/* A host-side failure or a skip with a printf-style reason; return ATTN_ERR / ATTN_SKIP. */
int attn_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int attn_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0) return attn_fail_cuda(e_, #call, __FILE__, __LINE__);                 \
    } while (0)
/* After every kernel launch. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
#define CUBLAS_CHECK(call)                                                                 \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0) return attn_fail_cublas(e_, #call, __FILE__, __LINE__);               \
    } while (0)
#define CUDNN_CHECK(call)                                                                  \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0) return attn_fail_cudnn(e_, #call, __FILE__, __LINE__);               \
    } while (0)
#define CUPTI_CHECK(call)                                                                  \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0) return attn_fail_cupti(e_, #call, __FILE__, __LINE__);                \
    } while (0)
/* SQLITE_OK, SQLITE_ROW and SQLITE_DONE are successes. */
#define SQLITE_CHECK(db, call)                                                             \
    do {                                                                                   \
        int e_ = (call);                                                                   \
        if (e_ != 0 && e_ != 100 && e_ != 101)                                             \
            return attn_fail_sqlite((db), e_, #call, __FILE__, __LINE__);                  \
    } while (0)
/* Propagate a failure already recorded by a callee. */
#define ATTN_TRY(call)                                                                     \
    do {                                                                                   \
        int r_ = (call);                                                                   \
        if (r_ != ATTN_OK) return r_;                                                      \
    } while (0)

/* The goto forms, for functions that must free what they took (SQLite's "rc = ...; if (rc) goto
 * end;" idiom): the failure is recorded in `rc` and control jumps to `label`, where the function
 * releases everything and returns rc. */
#define ATTN_FAIL_GOTO_(fail, rc, label)                                                   \
    do {                                                                                   \
        (rc) = (fail);                                                                     \
        goto label;                                                                        \
    } while (0)
#define CUDA_CHECK_GOTO(call, rc, label)                                                   \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0) ATTN_FAIL_GOTO_(attn_fail_cuda(e_, #call, __FILE__, __LINE__), rc, label); \
    } while (0)
#define CUBLAS_CHECK_GOTO(call, rc, label)                                                 \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0)                                                                       \
            ATTN_FAIL_GOTO_(attn_fail_cublas(e_, #call, __FILE__, __LINE__), rc, label);   \
    } while (0)
#define CUDNN_CHECK_GOTO(call, rc, label)                                                  \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0)                                                                       \
            ATTN_FAIL_GOTO_(attn_fail_cudnn(e_, #call, __FILE__, __LINE__), rc, label);    \
    } while (0)
#define CUPTI_CHECK_GOTO(call, rc, label)                                                  \
    do {                                                                                   \
        int e_ = (int)(call);                                                              \
        if (e_ != 0)                                                                       \
            ATTN_FAIL_GOTO_(attn_fail_cupti(e_, #call, __FILE__, __LINE__), rc, label);    \
    } while (0)
#define SQLITE_CHECK_GOTO(db, call, rc, label)                                             \
    do {                                                                                   \
        int e_ = (call);                                                                   \
        if (e_ != 0 && e_ != 100 && e_ != 101)                                             \
            ATTN_FAIL_GOTO_(attn_fail_sqlite((db), e_, #call, __FILE__, __LINE__), rc, label); \
    } while (0)
#define ATTN_TRY_GOTO(call, rc, label)                                                     \
    do {                                                                                   \
        int r_ = (call);                                                                   \
        if (r_ != ATTN_OK) ATTN_FAIL_GOTO_(r_, rc, label);                                 \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
