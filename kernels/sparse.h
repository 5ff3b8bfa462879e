/* sparse.h — the block-sparse attention interface shared by kernels/sparse.cu (tile selection on
 * the GPU and the portable mma.sync kernel, sm_80+) and kernels/sparse_sm90.cu (the Hopper wgmma/TMA
 * kernel). The kernels compute exact attention restricted to the kept key tiles of each query tile:
 * a per-(batch, head, query tile) list of kept key tiles in CSR form, an online softmax over the
 * kept tiles only. Materialises nothing of size S×S. Tiles are square (tile query rows, tile keys);
 * a kept tile that crosses the causal diagonal or the end of the sequence is masked element-wise,
 * every other kept tile runs unmasked. Query rows whose kept tiles hold no visible key output 0. */
#ifndef ATTN_KERNELS_SPARSE_H
#define ATTN_KERNELS_SPARSE_H

#include <cuda_runtime.h>

#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_sparse_args {
    int dtype;           /* attn_dtype: ATTN_FP16 or ATTN_BF16 */
    int B, H, Hkv, S, D; /* D: 64 or 128 */
    int DV;              /* head dim of V and O: D, or fewer (vprune: V compacted to its kept columns) */
    int causal;          /* kept tiles never lie above the diagonal */
    const void *q, *k, *v; /* q [B][H][S][D], k [B][Hkv][S][D], v [B][Hkv][S][DV] */
    void *o;               /* [B][H][S][DV] */
    int tile;              /* query and key tile: 64 or 128 */
    int n_tiles;           /* ceil(S / tile) */
    /* CSR over rows r = (b·H + h)·n_tiles + query tile: the kept key tiles of row r are
     * col_idx[row_ptr[r] .. row_ptr[r+1]), ascending. Device pointers. */
    const int *row_ptr, *col_idx;
    const int *order; /* the B·H·n_tiles rows in processing order (most kept tiles first), or NULL */
    cudaStream_t stream;
} attn_sparse_args;

/* The portable kernel (kernels/sparse.cu, mma.sync, sm_80+). */
int attn_sparse_mma_launch(const attn_sparse_args *a);

/* The Hopper kernel (kernels/sparse_sm90.cu): available() is 1 on an sm_90 device with the sm_90a
 * build; setup() once per (dtype, D, DV, tile) outside timing (ATTN_SKIP: no such kernel). */
int attn_sparse_sm90_available(void);
int attn_sparse_sm90_setup(int dtype, int D, int DV, int tile);
int attn_sparse_sm90_launch(const attn_sparse_args *a);

#ifdef __cplusplus
}
#endif
#endif
