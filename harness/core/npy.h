/* npy.h — writes NumPy .npy files (format 1.0), so that a user can load a point's tensors in
 * NumPy or PyTorch. fp16 is stored as '<f2', fp32 as '<f4', bf16 (no NumPy dtype) widened exactly
 * to '<f4'. */
#ifndef ATTN_NPY_H
#define ATTN_NPY_H

#include <stddef.h>

#include "core/problem.h"

int attn_npy_write(const char *path, attn_dtype t, const void *data, int ndim, const size_t *shape);

#endif
