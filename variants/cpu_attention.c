/* cpu_attention.c — materialised attention on the CPU, one query row at a time (see
 * cpu_attention.h). Cost per row is 2·S·D multiply-adds: a row at S=16384, D=128 takes a few ms.
 * The dot products keep eight partial sums so that the adds do not wait on each other (and the
 * compiler can vectorise them); the GPU sums in yet another order, so no order is "the" right one. */
#include "cpu_attention.h"

#include <math.h>
#include <stdlib.h>

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

    for (size_t r = 0; r < n_rows; r++) {
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
    return ATTN_OK;
}
