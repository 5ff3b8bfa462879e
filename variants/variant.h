/* variant.h — the one interface every attention variant implements.
 *
 * A variant is a GPU implementation (prepare / run / release) plus a CPU implementation of the same
 * algorithm (cpu_rows). The harness owns everything else: inputs, output, workspace allocation,
 * checking, timing, storage. Variants know nothing of storage or plots; the harness names no variant.
 *
 * Data: Q, K, V, O as described in harness/problem.h ([B][H][S][D], K/V with H_kv heads), in the
 * point's dtype on the device; widened to float on the host.
 *
 * Checking: an exact variant's output is compared with the fp64 reference; an approximate
 * variant's GPU output is compared with its own cpu_rows (the same approximation), and its error
 * against exact attention is stored as a measurement, not a failure. */
#ifndef ATTN_VARIANT_H
#define ATTN_VARIANT_H

#include <cuda_runtime.h>
#include <stddef.h>

#include "core/error.h"
#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One query row: batch b, query head h, position s. */
typedef struct attn_row {
    int b, h, s;
} attn_row;

/* Host inputs, full tensors widened to float (each value exactly representable in the dtype). */
typedef struct attn_host_inputs {
    const float *q, *k, *v;
} attn_host_inputs;

/* Device tensors in the point's dtype. */
typedef struct attn_device_io {
    const void *q, *k, *v;
    void *o;
} attn_device_io;

typedef struct attn_variant {
    const char *name;        /* lower case, no spaces: the CLI and database key */
    const char *description; /* one line for `attnbench list` */
    int exact;               /* 1: exact attention; 0: an approximation (see above) */
    int baseline;            /* 1 for the variant speedups are measured against (one variant) */
    const char *param_keys;  /* comma-separated keys this variant reads from params; NULL: none */

    /* NULL if the point can run, else a static reason ("causal masking not supported"). Shape-only:
     * device limits are reported by prepare returning ATTN_SKIP. */
    const char *(*supports)(const attn_point *p);

    /* Device scratch for this point; the harness allocates it (so out-of-memory is handled in one
     * place) and passes it to prepare. May be 0. */
    size_t (*workspace_bytes)(const attn_point *p);

    /* GPU. prepare: one-time setup outside timing (handles, projections, configuration choice);
     * returns ATTN_OK, ATTN_ERR or ATTN_SKIP. run: one forward pass enqueued on `stream`, nothing
     * synchronous, every launch checked. release: frees what prepare made (state may be NULL). */
    int (*prepare)(const attn_point *p, void *workspace, cudaStream_t stream, void **state);
    int (*run)(void *state, const attn_device_io *io, cudaStream_t stream);
    void (*release)(void *state);

    /* Optional: the configuration prepare chose ("tile=128x64 path=wgmma"), stored with the point. */
    void (*describe)(const void *state, char *buf, size_t n);

    /* CPU implementation of the same algorithm: output rows (sorted by b, h, s) into
     * out[i·D + d], in float (the harness rounds to the dtype as the GPU's store would). */
    int (*cpu_rows)(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                    size_t n_rows, float *out);

    /* Work actually executed and the device-memory bytes it must move (each input read once, each
     * output and each materialised intermediate written and read once) — for % of ceilings. */
    double (*flops)(const attn_point *p);
    double (*bytes)(const attn_point *p);

    /* Kernel launches one run() makes, or -1 when a library decides (cuBLAS may pick split-K). */
    int (*launches)(const attn_point *p);
} attn_variant;

/* The registry (variants/registry.c): NULL-terminated, in display order. */
extern const attn_variant *const attn_variants[];
const attn_variant *attn_variant_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
