/* cpu_attention.c — materialised and blockwise attention on the CPU, one query row at a time (see
 * cpu_attention.h). Cost per row is 2·S·D multiply-adds: a row at S=16384, D=128 takes a few ms.
 * The dot products keep eight partial sums so that the adds do not wait on each other (and the
 * compiler can vectorise them); the GPU sums in yet another order, so no order is "the" right one.
 * Every row first reads the Ctrl-C flag (core/interrupt.h): a long call stops within a row. */
#include "cpu_attention.h"

#include <math.h>
#include <stdlib.h>

#include "core/interrupt.h"

static float dot(const float *a, const float *b, int n)
{
    float part[8] = {0};
    int d = 0;
    for (; d + 8 <= n; d += 8)
        for (int k = 0; k < 8; k++) part[k] += a[d + k] * b[d + k];
    float sum = 0;
    for (; d < n; d++) sum += a[d] * b[d];
    for (int k = 0; k < 8; k++) sum += part[k];
    return sum;
}

int attn_cpu_attention_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, unsigned rounding, float *out)
{
    const int S = p->seq, D = p->head_dim, group = p->heads / p->kv_heads;
    const float scale = (float)attn_scale(p);
    float *prob = malloc((size_t)S * sizeof *prob);
    if (!prob) return attn_fail("cpu attention: out of host memory for %d scores", S);
    int rc = ATTN_OK;
    for (size_t r = 0; r < n_rows && (rc = attn_interrupt_check()) == ATTN_OK; r++) {
        const attn_row row = rows[r];
        const size_t kv_head = (size_t)row.b * p->kv_heads + row.h / group;
        const float *q = in->q + (((size_t)row.b * p->heads + row.h) * S + row.s) * D;
        const float *k = in->k + kv_head * S * D;
        const float *v = in->v + kv_head * S * D;
        const int n_keys = p->causal ? row.s + 1 : S;

        float max = -INFINITY;
        for (int j = 0; j < n_keys; j++) {
            float score = dot(q, k + (size_t)j * D, D);
            if (rounding & ATTN_ROUND_SCORES) score = attn_round(p->dtype, score);
            prob[j] = score * scale;
            if (prob[j] > max) max = prob[j];
        }
        float sum = 0;
        for (int j = 0; j < n_keys; j++) {
            prob[j] = expf(prob[j] - max);
            sum += prob[j];
        }
        float *o = out + r * D;
        for (int d = 0; d < D; d++) o[d] = 0;
        for (int j = 0; j < n_keys; j++) {
            float pj = prob[j] / sum;
            if (rounding & ATTN_ROUND_PROBS) pj = attn_round(p->dtype, pj);
            const float *vj = v + (size_t)j * D;
            for (int d = 0; d < D; d++) o[d] += pj * vj[d];
        }
    }
    free(prob);
    return rc;
}

void attn_cpu_online_tile(const attn_point *p, attn_cpu_online *r, int j0, int nj)
{
    const int D = p->head_dim;
    const float sl2 = (float)(1.4426950408889634 / sqrt((double)D));
    float mx = r->m;
    for (int j = 0; j < nj; j++) {
        const float *k = r->K + (size_t)(j0 + j) * D;
        float s = 0.f;
        for (int d = 0; d < D; d++) s += r->q[d] * k[d];
        r->sc[j] = s;
        if (s > mx) mx = s;
    }
    const float ms = mx * sl2;
    const float alpha = exp2f(r->m * sl2 - ms); /* 0 on the first tile (m = -inf) */
    r->l *= alpha;
    for (int d = 0; d < r->dv; d++) r->acc[d] *= alpha;
    for (int j = 0; j < nj; j++) {
        const float pr = exp2f(fmaf(r->sc[j], sl2, -ms));
        r->l += pr;
        const float pq = attn_round(p->dtype, pr); /* P enters P·V in the dtype */
        const float *v = r->V + (size_t)(j0 + j) * D;
        if (r->v_cols)
            for (int d = 0; d < r->dv; d++) r->acc[d] += pq * v[r->v_cols[d]];
        else
            for (int d = 0; d < r->dv; d++) r->acc[d] += pq * v[d];
    }
    r->m = mx;
}

int attn_cpu_blockwise_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, int key_tile, float *out)
{
    const int D = p->head_dim, S = p->seq, BN = key_tile;
    const int group = p->heads / p->kv_heads;
    float *sc = malloc((size_t)BN * sizeof *sc);
    float *acc = malloc((size_t)D * sizeof *acc);
    if (!sc || !acc) {
        free(sc);
        free(acc);
        return attn_fail("blockwise attention: out of host memory");
    }
    int rc = ATTN_OK;
    for (size_t r = 0; r < n_rows && (rc = attn_interrupt_check()) == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const size_t kv = ((size_t)w->b * p->kv_heads + w->h / group) * S * D;
        attn_cpu_online row = {in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D,
                               in->k + kv, in->v + kv, NULL, D, -INFINITY, 0.f, acc, sc};
        const int n_keys = p->causal ? w->s + 1 : S;
        for (int d = 0; d < D; d++) acc[d] = 0.f;
        for (int j0 = 0; j0 < n_keys; j0 += BN)
            attn_cpu_online_tile(p, &row, j0, n_keys - j0 < BN ? n_keys - j0 : BN);
        const float inv = row.l > 0.f ? 1.f / row.l : 0.f;
        for (int d = 0; d < D; d++) out[r * D + d] = acc[d] * inv;
    }
    free(sc);
    free(acc);
    return rc;
}
