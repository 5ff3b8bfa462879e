/* sparse_select.c — variant `sparse`'s selection on the host (see variants/sparse_select.h and the
 * rules in kernels/sparse_rules.h): for topk/mass the fp32 tile means of Q and K; per row the
 * visible tiles ranked with qsort by (rank key descending, tile ascending), the method's prefix
 * kept (mass: integer units summed in rank order), written ascending; then the row pointers and
 * the heaviest-first order by a stable counting sort. The GPU (kernels/sparse.cu) finds the same
 * prefix without sorting; both use sparse_rules.h's float operations, so the plans are equal.
 * vprune: column L2 norms in 256-row chunks as the GPU sums them. */
#include "sparse_select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparse.h"

#define VPRUNE_CHUNK 256 /* kernels/sparse.cu's NORM_CHUNK */

typedef struct ranked {
    unsigned key; /* attn_sparse_key of the priority */
    int tile;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->key != y->key ? (x->key < y->key) - (x->key > y->key) : x->tile - y->tile;
}

/* out[head][t][d]: mean of tile t's rows of x [heads][S][D], summed in row order in float. */
static void pool_tiles(const float *x, int heads, int S, int D, int tile, float *out)
{
    const int nt = (S + tile - 1) / tile;
    for (int hd = 0; hd < heads; hd++)
        for (int t = 0; t < nt; t++) {
            const int r0 = t * tile, len = S - r0 < tile ? S - r0 : tile;
            float *o = out + ((size_t)hd * nt + t) * D;
            for (int d = 0; d < D; d++) {
                float sum = 0.f;
                for (int r = 0; r < len; r++) sum += x[((size_t)hd * S + r0 + r) * D + d];
                o[d] = sum * (1.0f / (float)len);
            }
        }
}

/* The host's counterpart of kernels/sparse.cu's select_kernel for one row. */
typedef struct row_ctx {
    const attn_point *p;
    const attn_sparse_rule *rule;
    const float *q_pool, *k_pool; /* NULL for window, bigbird, vprune */
    ranked *rank;                 /* n_tiles entries */
    float *logit;                 /* n_tiles entries */
    unsigned char *keep;          /* n_tiles flags */
} row_ctx;

/* Kept tiles of row `row`, ascending, into cols; returns their count. */
static int select_row(const row_ctx *c, int row, int *cols)
{
    const attn_point *p = c->p;
    const int T = c->rule->tile, nt = (p->seq + T - 1) / T, qt = row % nt, bh = row / nt;
    const int hk = (bh % p->heads) / (p->heads / p->kv_heads), b = bh / p->heads, D = p->head_dim;
    const int vis = attn_sparse_visible(qt, nt, p->causal);
    const double density = c->rule->method == ATTN_SPARSE_VPRUNE ? 1.0 : c->rule->density;
    const int method = c->rule->method == ATTN_SPARSE_VPRUNE ? ATTN_SPARSE_WINDOW : c->rule->method;
    int k = attn_sparse_keep_count(density, vis);
    const float scale = (float)(1.0 / sqrt((double)D));
    float mx = -INFINITY;
    for (int t = 0; t < vis; t++) {
        float pr;
        if (c->q_pool) {
            const float *q = c->q_pool + ((size_t)bh * nt + qt) * D;
            const float *kk = c->k_pool + (((size_t)b * p->kv_heads + hk) * nt + t) * D;
            float dot = 0.f;
            for (int d = 0; d < D; d++) dot = fmaf(q[d], kk[d], dot);
            c->logit[t] = attn_sparse_logit(dot, scale, p->seq - t * T < T ? p->seq - t * T : T);
            mx = fmaxf(mx, c->logit[t]);
            pr = (t == qt || t == 0) ? INFINITY : c->logit[t];
        } else {
            pr = attn_sparse_static_priority(method, row, qt, t, k, p->causal, c->rule->seed);
        }
        c->rank[t] = (ranked){attn_sparse_key(pr), t};
    }
    qsort(c->rank, (size_t)vis, sizeof *c->rank, ranked_cmp);
    if (method == ATTN_SPARSE_MASS) {
        unsigned long long total = 0, cum = 0;
        for (int t = 0; t < vis; t++) total += attn_sparse_mass_units(c->logit[t], mx);
        const unsigned long long need = attn_sparse_mass_need(c->rule->tau, total);
        for (k = 0; k < vis && cum < need;)
            cum += attn_sparse_mass_units(c->logit[c->rank[k++].tile], mx);
    }
    const int forced = qt == 0 ? 1 : 2;
    if (k < forced) k = forced;
    memset(c->keep, 0, (size_t)nt);
    for (int i = 0; i < k; i++) c->keep[c->rank[i].tile] = 1;
    int n = 0;
    for (int t = 0; t < vis; t++)
        if (c->keep[t]) cols[n++] = t;
    return n;
}

/* order: rows by count descending, equal counts in row order. */
static int order_rows(const int *row_ptr, int rows, int nt, int *order)
{
    int *start = calloc((size_t)nt + 2, sizeof *start);
    if (!start) return attn_fail("sparse: out of host memory for the order");
    for (int r = 0; r < rows; r++) start[nt - (row_ptr[r + 1] - row_ptr[r]) + 1]++;
    for (int c = 1; c <= nt + 1; c++) start[c] += start[c - 1];
    for (int r = 0; r < rows; r++) order[start[nt - (row_ptr[r + 1] - row_ptr[r])]++] = r;
    free(start);
    return ATTN_OK;
}

int attn_sparse_select_host(const attn_point *p, const attn_sparse_rule *rule,
                            const attn_host_inputs *in, int *row_ptr, int *col_idx, int *order)
{
    const int nt = (p->seq + rule->tile - 1) / rule->tile, D = p->head_dim;
    const int rows = p->batch * p->heads * nt;
    const int pooled = rule->method == ATTN_SPARSE_TOPK || rule->method == ATTN_SPARSE_MASS;
    float *q_pool = pooled ? malloc((size_t)p->batch * p->heads * nt * D * sizeof *q_pool) : NULL;
    float *k_pool =
        pooled ? malloc((size_t)p->batch * p->kv_heads * nt * D * sizeof *k_pool) : NULL;
    ranked *rank = malloc((size_t)nt * sizeof *rank);
    float *logit = malloc((size_t)nt * sizeof *logit);
    unsigned char *keep = malloc((size_t)nt);
    int rc = ATTN_OK;
    if (!rank || !logit || !keep || (pooled && (!q_pool || !k_pool))) {
        rc = attn_fail("sparse: out of host memory for the selection");
        goto end;
    }
    if (pooled) {
        pool_tiles(in->q, p->batch * p->heads, p->seq, D, rule->tile, q_pool);
        pool_tiles(in->k, p->batch * p->kv_heads, p->seq, D, rule->tile, k_pool);
    }
    row_ctx c = {p, rule, q_pool, k_pool, rank, logit, keep};
    row_ptr[0] = 0;
    for (int r = 0; r < rows; r++)
        row_ptr[r + 1] = row_ptr[r] + select_row(&c, r, col_idx + row_ptr[r]);
    rc = order_rows(row_ptr, rows, nt, order);
end:
    free(q_pool), free(k_pool), free(rank), free(logit), free(keep);
    return rc;
}

void attn_sparse_vprune_host(const attn_point *p, const attn_host_inputs *in, int dv, int *v_cols)
{
    const int S = p->seq, D = p->head_dim;
    float norm[128];
    for (int hd = 0; hd < p->batch * p->kv_heads; hd++) {
        const float *v = in->v + (size_t)hd * S * D;
        for (int d = 0; d < D; d++) {
            norm[d] = 0.f;
            for (int r0 = 0; r0 < S; r0 += VPRUNE_CHUNK) {
                float part = 0.f;
                for (int r = r0; r < S && r < r0 + VPRUNE_CHUNK; r++)
                    part = fmaf(v[(size_t)r * D + d], v[(size_t)r * D + d], part);
                norm[d] += part;
            }
        }
        int j = 0;
        for (int d = 0; d < D; d++) {
            int rank = 0;
            for (int e = 0; e < D; e++) rank += attn_sparse_before(norm[e], e, norm[d], d);
            if (rank < dv) v_cols[(size_t)hd * dv + j++] = d;
        }
    }
}
