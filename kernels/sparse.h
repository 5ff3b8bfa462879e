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
    int DV;              /* head dim of V: D, or fewer (vprune: V compacted to its kept columns) */
    int causal;          /* kept tiles never lie above the diagonal */
    const void *q, *k, *v; /* q [B][H][S][D], k [B][Hkv][S][D], v [B][Hkv][S][DV] */
    void *o;               /* [B][H][S][D] */
    /* DV < D: [B·Hkv][D], the compact column that column d of O takes, or -1 (O's column d is 0);
     * the kernels write every column of O. NULL when DV = D. Device pointer. */
    const int *v_where;
    int tile;              /* query and key tile: 64 or 128 */
    int n_tiles;           /* ceil(S / tile) */
    /* CSR over rows r = (b·H + h)·n_tiles + query tile: the kept key tiles of row r are
     * col_idx[row_ptr[r] .. row_ptr[r+1]), ascending. Device pointers. */
    const int *row_ptr, *col_idx;
    const int *order; /* the B·H·n_tiles rows in processing order (most kept tiles first), or NULL */
    cudaStream_t stream;
    /* 1: the selection that wrote the CSR was the last work enqueued on `stream`, so the Hopper
     * kernel may begin while its last kernel finishes (common.cuh, attn_launch) */
    int after_select;
} attn_sparse_args;

/* The portable kernel (kernels/sparse.cu, mma.sync, sm_80+). */
int attn_sparse_mma_launch(const attn_sparse_args *a);

/* The Hopper kernel (kernels/sparse_sm90.cu): available() is 1 on an sm_90 device with the sm_90a
 * build; setup() once per (dtype, D, DV, tile) outside timing (ATTN_SKIP: no such kernel). */
int attn_sparse_sm90_available(void);
int attn_sparse_sm90_setup(int dtype, int D, int DV, int tile);
int attn_sparse_sm90_launch(const attn_sparse_args *a);

/* ---------------------------------------------------------------- kernels/sparse.cu's selection
 * and the mma path's setup (variant `sparse`; rules in sparse_rules.h). */

#define ATTN_SPARSE_MAX_TILES 2048 /* tiles per row: the selection's per-warp shared memory */

/* One-time setup of the mma kernel for (dtype, D, DV, tile) outside timing; ATTN_SKIP when none is
 * compiled (DV: D, 64 or 32, at most D) or the device lacks the shared memory. */
int attn_sparse_mma_setup(int dtype, int D, int DV, int tile);

/* What a selection writes: the CSR and order of attn_sparse_args (rows = B·H·n_tiles; col_idx
 * room for rows·n_tiles), from geom's shape, q and k. scratch: attn_sparse_select_scratch bytes. */
typedef struct attn_sparse_select_args {
    const attn_sparse_args *geom;
    int method;         /* attn_sparse_method (sparse_rules.h); vprune selects like window */
    double density;     /* window, bigbird, topk: kept fraction of each row's visible tiles */
    float tau;          /* mass: the estimated softmax mass to reach */
    unsigned long long seed; /* bigbird's random tiles */
    void *scratch;
    int *row_ptr, *col_idx, *order;
} attn_sparse_select_args;

size_t attn_sparse_select_scratch(int B, int H, int Hkv, int S, int D, int tile);
int attn_sparse_select_launch(const attn_sparse_select_args *a);

/* vprune: per (batch, KV head) the DV columns of V with the largest L2 norm (ties: lower column),
 * cols [B·Hkv][DV] ascending and where [B·Hkv][D] (a column's place among them, or -1), and, when
 * DV < D, V gathered into vc [B][Hkv][S][DV] (DV = D keeps every column: vc unused, may be NULL).
 * The attention kernels then write O in full through where (attn_sparse_args.v_where). scratch:
 * attn_sparse_vprune_scratch bytes. D <= 128, a multiple of 8 (as DV). */
size_t attn_sparse_vprune_scratch(int B, int Hkv, int S, int D);
int attn_sparse_vprune_columns(int dtype, int B, int Hkv, int S, int D, int DV, const void *v,
                               void *scratch, int *cols, int *where, void *vc,
                               cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
