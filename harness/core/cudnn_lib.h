/* cudnn_lib.h — cuDNN, loaded at run time rather than linked: dlopen of $ATTNBENCH_CUDNN (a path
 * to a libcudnn.so.9, e.g. the one a PyTorch wheel ships) or else of "libcudnn.so.9" (the loader's
 * search: the binary's rpath, LD_LIBRARY_PATH, the system's), then dlsym of the entry points
 * attnbench calls — the version, the status strings, the handle and the backend (graph) API. So no
 * cuDNN header or library is needed to build, link or run attnbench: a machine without cuDNN runs
 * everything else, and the variant that needs it skips its points with "cuDNN not found: ...".
 *
 * The types are the C ABI's, not cuDNN's (no cuDNN header is included): a status or an enum is an
 * int, a handle or a backend descriptor a void pointer. The backend API's enum values that the
 * variant uses are in variants/cudnn_api.h.
 *
 * Limits: cuDNN 9 only (its soname and its backend enum values); one library per process, loaded
 * on first use and kept until exit. Not thread-safe (attnbench runs one point at a time). */
#ifndef ATTN_CUDNN_LIB_H
#define ATTN_CUDNN_LIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_cudnn_lib {
    size_t version;        /* cudnnGetVersion(): major·10000 + minor·100 + patch (91900) */
    char version_text[16]; /* "9.19.0" */
    const char *(*status_string)(int status);           /* cudnnGetErrorString */
    void (*last_error)(char *message, size_t max_size); /* cudnnGetLastErrorString */
    int (*create)(void **handle);                       /* cudnnCreate */
    int (*set_stream)(void *handle, void *stream);      /* cudnnSetStream (a cudaStream_t) */
    int (*create_descriptor)(int type, void **desc);    /* cudnnBackendCreateDescriptor */
    int (*destroy_descriptor)(void *desc);              /* cudnnBackendDestroyDescriptor */
    int (*set_attribute)(void *desc, int name, int type, int64_t count, const void *values);
    int (*get_attribute)(void *desc, int name, int type, int64_t requested, int64_t *count,
                         void *values);                           /* cudnnBackendGetAttribute */
    int (*finalize)(void *desc);                                  /* cudnnBackendFinalize */
    int (*execute)(void *handle, void *plan, void *variant_pack); /* cudnnBackendExecute */
} attn_cudnn_lib;

/* The library of this process, loaded on first call and kept (a failure too is kept). ATTN_OK
 * with *lib set; or ATTN_SKIP with attn_last_error saying "cuDNN not found: ..." (not loadable,
 * an entry point missing, or not cuDNN 9). */
int attn_cudnn_lib_get(const attn_cudnn_lib **lib);

/* What attn_cudnn_lib_get does once, from `path`, into *lib (nothing kept; tests use it). */
int attn_cudnn_lib_open(const char *path, attn_cudnn_lib *lib);

/* The loaded library's version ("9.19.0"), or NULL when cuDNN cannot be loaded; leaves
 * attn_last_error as it was. For the run's provenance. */
const char *attn_cudnn_version_text(void);

#ifdef __cplusplus
}
#endif
#endif
