/* npy.h — NumPy .npy files (format 1.0 written; 1.0, 2.0 and 3.0 read), so that a user can load a
 * point's tensors in NumPy or PyTorch, and hand the harness matrices of their own (lowrank's
 * proj_file).
 *
 * Written: fp16 as '<f2', fp32 as '<f4', bf16 (no NumPy dtype) widened exactly to '<f4'.
 * Read: little-endian '<f2' or '<f4', C order, up to ATTN_NPY_MAX_DIMS dimensions, every element
 * widened to float in memory (the whole file is read: meant for matrices, not for datasets). */
#ifndef ATTN_NPY_H
#define ATTN_NPY_H

#include <stddef.h>

#include "core/problem.h"

#define ATTN_NPY_MAX_DIMS 8

/* A .npy file read into memory. */
typedef struct attn_npy {
    attn_dtype dtype;                /* the file's: ATTN_FP16 ('<f2') or ATTN_FP32 ('<f4') */
    int ndim;                        /* 0 (a scalar) .. ATTN_NPY_MAX_DIMS */
    size_t shape[ATTN_NPY_MAX_DIMS]; /* C order; a dimension may be 0 */
    size_t count;                    /* the product of the shape (1 for a scalar) */
    float *data;                     /* count elements, widened exactly; NULL when count is 0 */
} attn_npy;

int attn_npy_write(const char *path, attn_dtype t, const void *data, int ndim, const size_t *shape);

/* Reads path into *out (attn_npy_free releases it). ATTN_OK, or ATTN_ERR with attn_last_error
 * naming the file and what is wrong with it (no such file, not a .npy, a dtype other than
 * '<f2'/'<f4', Fortran order, a malformed shape, data shorter than the shape). */
int attn_npy_read(const char *path, attn_npy *out);
void attn_npy_free(attn_npy *a);

#endif
