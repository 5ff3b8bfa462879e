/* reference.c — exact attention in fp64 (see reference.h). Plain loops, written to be obviously
 * right; the caller limits the number of rows so that large shapes stay cheap. */
#include "check/reference.h"

#include <math.h>
#include <stdlib.h>

void attn_reference_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                         size_t n_rows, double *out)
{
    const int S = p->seq, D = p->head_dim, group = p->heads / p->kv_heads;
    const double scale = attn_scale(p);
    double *score = malloc((size_t)S * sizeof *score);
    for (size_t i = 0; i < n_rows; i++) {
        const attn_row *r = &rows[i];
        const float *q = in->q + (((size_t)r->b * p->heads + r->h) * S + r->s) * D;
        size_t kv = ((size_t)r->b * p->kv_heads + r->h / group) * S * D;
        const float *k = in->k + kv, *v = in->v + kv;
        int keys = p->causal ? r->s + 1 : S;
        double max = -INFINITY, sum = 0;
        for (int j = 0; j < keys; j++) {
            double dot = 0;
            for (int d = 0; d < D; d++) dot += (double)q[d] * k[(size_t)j * D + d];
            score[j] = dot * scale;
            if (score[j] > max) max = score[j];
        }
        for (int j = 0; j < keys; j++) sum += score[j] = exp(score[j] - max);
        double *o = out + i * D;
        for (int d = 0; d < D; d++) o[d] = 0;
        for (int j = 0; j < keys; j++) {
            double w = score[j] / sum;
            for (int d = 0; d < D; d++) o[d] += w * v[(size_t)j * D + d];
        }
    }
    free(score);
}
