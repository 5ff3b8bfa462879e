/* sparse_select.h (variants/) — the CPU side of variant `sparse`'s tile and column selection: the
 * rules of kernels/sparse_rules.h applied on the host, in the GPU's float operations and order
 * (pooled means summed row by row, dot products by fmaf in d order, sparse_rules.h's logit and mass
 * units, the same ranking and ties), so the CPU backend builds the plan the GPU does, bit for bit. */
#ifndef ATTN_VARIANTS_SPARSE_SELECT_H
#define ATTN_VARIANTS_SPARSE_SELECT_H

#include "sparse_rules.h"
#include "variant.h"

/* What a selection is asked for (variant `sparse`'s resolved parameters). */
typedef struct attn_sparse_rule {
    int method;              /* attn_sparse_method; vprune selects every visible tile */
    double density;          /* window, bigbird, topk */
    float tau;               /* mass */
    unsigned long long seed; /* bigbird */
    int tile;                /* 64 or 128 */
} attn_sparse_rule;

/* The CSR of kept key tiles (rows = B·H·n_tiles; row_ptr rows+1, col_idx room for rows·n_tiles)
 * and the processing order (count descending, then row), as kernels/sparse.cu builds them.
 * ATTN_OK, or ATTN_ERR when out of host memory. */
int attn_sparse_select_host(const attn_point *p, const attn_sparse_rule *rule,
                            const attn_host_inputs *in, int *row_ptr, int *col_idx, int *order);

/* vprune: per (batch, KV head) the dv kept columns of V, ascending, into v_cols [B·Hkv][dv]. */
void attn_sparse_vprune_host(const attn_point *p, const attn_host_inputs *in, int dv, int *v_cols);

#endif
