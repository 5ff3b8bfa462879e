/* cudnn_lib.c — cuDNN through dlopen (see cudnn_lib.h). */
#include "core/cudnn_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define CUDNN_LIB_DEFAULT "libcudnn.so.9"

int attn_cudnn_lib_open(const char *path, attn_cudnn_lib *lib)
{
    memset(lib, 0, sizeof *lib);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return attn_skip("cuDNN not found: %s", dlerror());
    size_t (*get_version)(void) = NULL;
    /* Object and function pointers share one representation on every platform CUDA runs on
     * (POSIX requires it of dlsym), so each entry point is stored through a void pointer. */
    const struct {
        void **field;
        const char *name;
    } entries[] = {
        {(void **)&get_version, "cudnnGetVersion"},
        {(void **)&lib->status_string, "cudnnGetErrorString"},
        {(void **)&lib->last_error, "cudnnGetLastErrorString"},
        {(void **)&lib->create, "cudnnCreate"},
        {(void **)&lib->set_stream, "cudnnSetStream"},
        {(void **)&lib->create_descriptor, "cudnnBackendCreateDescriptor"},
        {(void **)&lib->destroy_descriptor, "cudnnBackendDestroyDescriptor"},
        {(void **)&lib->set_attribute, "cudnnBackendSetAttribute"},
        {(void **)&lib->get_attribute, "cudnnBackendGetAttribute"},
        {(void **)&lib->finalize, "cudnnBackendFinalize"},
        {(void **)&lib->execute, "cudnnBackendExecute"},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        *entries[i].field = dlsym(h, entries[i].name);
        if (!*entries[i].field) {
            dlclose(h);
            memset(lib, 0, sizeof *lib);
            return attn_skip("cuDNN not found: %s has no %s", path, entries[i].name);
        }
    }
    const size_t v = get_version();
    if (v < 90000 || v >= 100000) {
        dlclose(h);
        memset(lib, 0, sizeof *lib);
        return attn_skip("cuDNN not found: %s is version %zu, not cuDNN 9", path, v);
    }
    lib->version = v;
    snprintf(lib->version_text, sizeof lib->version_text, "%zu.%zu.%zu", v / 10000, v % 10000 / 100,
             v % 100);
    return ATTN_OK;
}

/* The process's library: loaded once; a failure is kept with its reason. */
static struct {
    int tried;
    int rc;
    attn_cudnn_lib lib;
    char why[sizeof attn_last_error.msg];
} loaded;

int attn_cudnn_lib_get(const attn_cudnn_lib **lib)
{
    if (!loaded.tried) {
        const char *path = getenv("ATTNBENCH_CUDNN");
        loaded.tried = 1;
        loaded.rc = attn_cudnn_lib_open(path && path[0] ? path : CUDNN_LIB_DEFAULT, &loaded.lib);
        if (loaded.rc != ATTN_OK)
            snprintf(loaded.why, sizeof loaded.why, "%s", attn_last_error.msg);
    }
    if (loaded.rc != ATTN_OK) return attn_skip("%s", loaded.why);
    *lib = &loaded.lib;
    return ATTN_OK;
}

const char *attn_cudnn_version_text(void)
{
    const attn_error_info saved = attn_last_error;
    const attn_cudnn_lib *lib;
    const int rc = attn_cudnn_lib_get(&lib);
    attn_last_error = saved;
    return rc == ATTN_OK ? lib->version_text : NULL;
}
