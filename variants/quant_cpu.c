/* quant_cpu.c — the CPU implementation of variant `quant` (quant_cpu.h): the quantization of
 * kernels/quant.h on the host and the kernels' attention over it, the check target of both GPU
 * paths.
 *
 * Quantization: K's mean per KV head and channel summed in fp64 in the stage's order (quant.h:
 * 256 row lanes, then their halving tree), then (float)(Σ / S); rotate (quant.h): each row of Q
 * and of k − mean × H·diag(s) by the stage's fp32 butterflies in its order (row_values); per
 * 128-row block max|x| of those rows → scale = max / 127 and rint(x / scale) clamped to ±127, the
 * stored Q scale × 1/D when rotated; V per channel max|v| / 448 and e4m3 of v / scale (quant.h's
 * roundings: the same code as the device's). Row attention: the keys in tiles of 128
 * (ATTN_QUANT_BLOCK, the kernels' tile), scores s = s32 · (q_scale·k_scale) (or the fp32 dot
 * product in the dtype), running max and sum, P̃ = exp2(s·scale·log2 e − m), l summing P̃
 * unquantized, P̃ to the P·V operand (e4m3 × 448 through the INT8 grid when p_int8, or the
 * dtype), and P·V accumulated per tile (two-level: a fresh accumulator, then O·α + T; single: O·α
 * continued), truncated to fp22 after every 32 keys when P·V is FP8; at the end
 * O · v_scale / 448 / l. The Hopper kernel's FOLD instances (its default at int8/fp8) have their own
 * exponent expression, modelled by fold_tile. Materialises the quantized copies (O(S·D) bytes), never S×S. */
#include "quant_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/interrupt.h"
#include "quant.h"

#define QUANT_LOG2E 1.4426950408889634

void quant_host_free(quant_host_tensors *t)
{
    free(t->q8), free(t->k8), free(t->q_scale), free(t->k_scale), free(t->k_mean);
    free(t->v8), free(t->v_scale);
    memset(t, 0, sizeof *t);
}

/* A row of x minus mu (NULL: none) as the GPU stage quantizes it: with rotate, the signs, then
 * the butterfly stages h = 1, 2, …, D/2 of quant.h, each pairing element j (bit h clear) with
 * j + h — every value the same fp32 add or subtract of the same two values as the stage's. */
static void row_values(const float *x, const float *mu, int rotate, int D, float *y)
{
    for (int d = 0; d < D; d++) {
        y[d] = x[d] - (mu ? mu[d] : 0.f);
        if (rotate && attn_quant_sign_flip(d)) y[d] = -y[d];
    }
    for (int h = 1; rotate && h < D; h *= 2)
        for (int i = 0; i < D; i += 2 * h)
            for (int j = i; j < i + h; j++) attn_quant_butterfly(&y[j], &y[j + h]);
}

/* Rows of `heads` heads of x ([heads][S][D]), minus mean[head][D] when given, rotated when
 * `rotate`, to INT8 with one scale per 128-row block; the stored scale × fold (1/D for rotated Q).
 * Two passes per block (max, codes), as the stage. sums: Σ (dequantized − y)², Σ y² over the
 * (rotated) values: the rotation / √D is orthogonal, so their ratio is x's relative error. */
static void quant_rows(const float *x, const float *mean, int rotate, float fold, size_t heads,
                       int S, int D, int8_t *x8, float *scale, double sums[2])
{
    const int nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    float y[128];
    for (size_t h = 0; h < heads; h++) {
        const float *mu = mean ? mean + h * D : NULL;
        for (int blk = 0; blk < nblk; blk++) {
            const int r0 = blk * ATTN_QUANT_BLOCK;
            const int rows = S - r0 < ATTN_QUANT_BLOCK ? S - r0 : ATTN_QUANT_BLOCK;
            const size_t base = (h * S + r0) * (size_t)D;
            float amax = 0.f;
            for (int r = 0; r < rows; r++) {
                row_values(x + base + (size_t)r * D, mu, rotate, D, y);
                for (int d = 0; d < D; d++) amax = fmaxf(amax, fabsf(y[d]));
            }
            const float sc = attn_quant_scale(amax, 127.f);
            scale[h * nblk + blk] = sc * fold;
            for (int r = 0; r < rows; r++) {
                row_values(x + base + (size_t)r * D, mu, rotate, D, y);
                for (int d = 0; d < D; d++) {
                    const size_t i = base + (size_t)r * D + d;
                    x8[i] = attn_int8_quant(y[d], sc);
                    const double e = (double)x8[i] * sc - y[d];
                    sums[0] += e * e, sums[1] += (double)y[d] * y[d];
                }
            }
        }
    }
}

/* Per KV head and channel: the mean of K (when smoothing: summed in quant.h's order, that of the
 * stage, over ATTN_QUANT_STATS_LANES lanes then their halving tree; lanes is LANES × D scratch) and
 * V's scale and codes. Row by row, so the tensors are read in memory order. */
static void quant_kv_channels(const quant_config *c, const attn_host_inputs *in, size_t heads,
                              int S, int D, double (*lanes)[128], quant_host_tensors *t)
{
    for (size_t h = 0; h < heads; h++) {
        const size_t base = h * S * (size_t)D;
        float amax[128] = {0};
        memset(lanes, 0, ATTN_QUANT_STATS_LANES * sizeof *lanes);
        for (int r = 0; r < S; r++)
            for (int d = 0; d < D; d++) {
                lanes[r % ATTN_QUANT_STATS_LANES][d] += in->k[base + (size_t)r * D + d];
                amax[d] = fmaxf(amax[d], fabsf(in->v[base + (size_t)r * D + d]));
            }
        for (int s = ATTN_QUANT_STATS_LANES / 2; s >= 1; s /= 2)
            for (int i = 0; i < s; i++)
                for (int d = 0; d < D; d++) lanes[i][d] += lanes[i + s][d];
        for (int d = 0; d < D; d++) {
            if (c->qk_int8) t->k_mean[h * D + d] = c->smooth ? (float)(lanes[0][d] / S) : 0.f;
            if (c->pv_fp8) t->v_scale[h * D + d] = attn_quant_scale(amax[d], ATTN_QUANT_P_SCALE);
        }
        for (int r = 0; c->pv_fp8 && r < S; r++)
            for (int d = 0; d < D; d++) {
                const size_t i = base + (size_t)r * D + d;
                const float sc = t->v_scale[h * D + d], q = attn_e4m3_round(in->v[i] / sc);
                t->v8[i] = attn_e4m3_code(q);
                const double e = (double)q * sc - in->v[i];
                t->err_sums[2][0] += e * e, t->err_sums[2][1] += (double)in->v[i] * in->v[i];
            }
    }
}

int quant_host_quantize(const attn_point *p, const quant_config *c, const attn_host_inputs *in,
                        quant_host_tensors *t)
{
    memset(t, 0, sizeof *t);
    const int S = p->seq, D = p->head_dim, nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    const size_t nq = attn_q_elems(p), nkv = attn_kv_elems(p);
    const size_t hq = (size_t)p->batch * p->heads, hkv = (size_t)p->batch * p->kv_heads;
    int ok = 1;
    if (c->qk_int8) {
        ok = (t->q8 = malloc(nq)) && (t->k8 = malloc(nkv)) &&
             (t->q_scale = malloc(hq * nblk * sizeof(float))) &&
             (t->k_scale = malloc(hkv * nblk * sizeof(float))) &&
             (t->k_mean = malloc(hkv * D * sizeof(float)));
    }
    if (ok && c->pv_fp8)
        ok = (t->v8 = malloc(nkv)) && (t->v_scale = malloc(hkv * D * sizeof(float)));
    double(*lanes)[128] = ok ? malloc(ATTN_QUANT_STATS_LANES * sizeof *lanes) : NULL;
    if (!lanes) {
        quant_host_free(t);
        return attn_fail("quant: out of host memory for the quantized inputs");
    }
    for (int i = 0; i < 256; i++) t->e4m3[i] = attn_e4m3_value((uint8_t)i);
    quant_kv_channels(c, in, hkv, S, D, lanes, t);
    free(lanes);
    if (c->qk_int8) {
        const float q_fold = c->rotate ? 1.f / (float)D : 1.f;
        quant_rows(in->q, NULL, c->rotate, q_fold, hq, S, D, t->q8, t->q_scale, t->err_sums[0]);
        quant_rows(in->k, t->k_mean, c->rotate, 1.f, hkv, S, D, t->k8, t->k_scale, t->err_sums[1]);
    }
    return ATTN_OK;
}

/* One query row's scores against keys [j0, j0 + n) into s; raw (qk_int8 only): the s32 sums as
 * floats, their factor q_scale · k_scale returned (else 1, s the scores). */
static float row_scores(const attn_point *p, const quant_config *c, const quant_host_tensors *t,
                        const attn_host_inputs *in, const attn_row *w, int j0, int n, int raw, float *s)
{
    const int S = p->seq, D = p->head_dim, nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    const size_t bh = (size_t)w->b * p->heads + w->h;
    const size_t bhk = (size_t)w->b * p->kv_heads + w->h / (p->heads / p->kv_heads);
    const size_t qo = (bh * S + w->s) * D, ko = (bhk * S + j0) * D;
    if (!c->qk_int8) {
        for (int j = 0; j < n; j++) {
            float acc = 0.f;
            for (int d = 0; d < D; d++) acc += in->q[qo + d] * in->k[ko + (size_t)j * D + d];
            s[j] = acc;
        }
        return 1.f;
    }
    const float scale = t->q_scale[bh * nblk + w->s / ATTN_QUANT_BLOCK] *
                        t->k_scale[bhk * nblk + j0 / ATTN_QUANT_BLOCK];
    for (int j = 0; j < n; j++) {
        int32_t acc = 0;
        for (int d = 0; d < D; d++) acc += (int32_t)t->q8[qo + d] * t->k8[ko + (size_t)j * D + d];
        s[j] = raw ? (float)acc : (float)acc * scale;
    }
    return raw ? scale : 1.f;
}

/* acc += Σ_j pq[j]·v_j over keys [j0, j0 + n) of the row's KV head; FP8: the accumulator to fp22
 * after every 32 keys of the tile (one k32 step of the FP8 MMA). */
static void row_pv(const attn_point *p, const quant_config *c, const quant_host_tensors *t,
                   const attn_host_inputs *in, size_t bhk, int j0, int n, const float *pq,
                   float *acc)
{
    const int S = p->seq, D = p->head_dim;
    for (int j = 0; j < n; j++) {
        const size_t vo = (bhk * S + j0 + j) * D;
        if (!c->pv_fp8) {
            for (int d = 0; d < D; d++) acc[d] += pq[j] * in->v[vo + d];
            continue;
        }
        for (int d = 0; d < D; d++) acc[d] += pq[j] * t->e4m3[t->v8[vo + d]];
        if (j % 32 == 31 || j == n - 1)
            for (int d = 0; d < D; d++) acc[d] = attn_fp22(acc[d]);
    }
}

/* The FOLD instance's softmax of one tile (kernels/quant_sm90.cu, quant_softmax<true>): raw s32
 * scores s with factor f, the running max m in the log2 domain, top·P̃ =
 * exp2(fmaf(M + s, c, −fmaf(M, c, m − log2 top))), c = f·sl2, M = 1.5·2^23; pq the P·V operand
 * (e4m3 of top·P̃, through the INT8 grid when p_int8), l summing top·P̃. The running max moves to
 * *m; returns the rescale factor of the tile before. */
static float fold_tile(const quant_config *c, const float *s, int n, float f, float sl2, float *m,
                       float *l, float *pq)
{
    const float magic = 12582912.f, top = ATTN_QUANT_P_SCALE, bias = 8.807354922057604f; /* log2 448 */
    const float cf = f * sl2;
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = fmaxf(mx, s[j]);
    const float m_new = fmaxf(*m, mx * cf), off = fmaf(magic, cf, m_new - bias);
    const float alpha = *m == -INFINITY ? 0.f : exp2f(*m - m_new);
    *l *= alpha;
    for (int j = 0; j < n; j++) {
        float pt = exp2f(fmaf(s[j] + magic, cf, -off));
        *l += pt;
        if (c->p_int8) pt = rintf(pt * (127.f / top)) * (top / 127.f);
        pq[j] = attn_e4m3_round(pt);
    }
    *m = m_new;
    return alpha;
}

int quant_host_rows(const attn_point *p, const quant_config *c, int fold, const quant_host_tensors *t,
                    const attn_host_inputs *in, const attn_row *rows, size_t n_rows, float *out)
{
    enum { BN = ATTN_QUANT_BLOCK };
    const int S = p->seq, D = p->head_dim;
    const float sl2 = (float)(QUANT_LOG2E / sqrt((double)D));
    fold = fold && c->qk_int8 && c->pv_fp8;
    float s[BN], pq[BN], o[128], acc[128];
    int rc = ATTN_OK;
    for (size_t r = 0; r < n_rows && (rc = attn_interrupt_check()) == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const size_t bhk = (size_t)w->b * p->kv_heads + w->h / (p->heads / p->kv_heads);
        const int n_keys = p->causal ? w->s + 1 : S;
        float m = -INFINITY, l = 0.f;
        for (int d = 0; d < D; d++) o[d] = 0.f;
        for (int j0 = 0; j0 < n_keys; j0 += BN) {
            const int n = n_keys - j0 < BN ? n_keys - j0 : BN;
            const float f = row_scores(p, c, t, in, w, j0, n, fold, s);
            float alpha;
            if (fold) {
                alpha = fold_tile(c, s, n, f, sl2, &m, &l, pq); /* m in the log2 domain */
            } else {
                float mx = m;
                for (int j = 0; j < n; j++) mx = fmaxf(mx, s[j]);
                const float ms = mx * sl2;
                alpha = exp2f(fmaf(m, sl2, -ms)); /* 0 on the first tile (m = -inf) */
                l *= alpha;
                for (int j = 0; j < n; j++) {
                    const float pr = exp2f(fmaf(s[j], sl2, -ms));
                    l += pr;
                    pq[j] = c->pv_fp8 ? attn_quant_p(pr, c->p_int8) : attn_round(p->dtype, pr);
                }
                m = mx;
            }
            for (int d = 0; d < D; d++) acc[d] = c->two_level ? 0.f : o[d] * alpha;
            row_pv(p, c, t, in, bhk, j0, n, pq, acc);
            for (int d = 0; d < D; d++) o[d] = c->two_level ? fmaf(o[d], alpha, acc[d]) : acc[d];
        }
        const float inv = l > 0.f ? 1.f / l : 0.f;
        for (int d = 0; d < D; d++) {
            /* l sums P̃, or top·P̃ when folding (the operands' top already divided out) */
            const float top = fold ? 1.f : ATTN_QUANT_P_SCALE;
            const float wv = c->pv_fp8 ? t->v_scale[bhk * D + d] * (1.f / top) : 1.f;
            out[r * D + d] = o[d] * wv * inv;
        }
    }
    return rc;
}

int quant_host_quality(const quant_host_tensors *t, attn_quality *q)
{
    static const char *const names[3] = {"q_int8_rel_l2", "k_int8_rel_l2", "v_e4m3_rel_l2"};
    q->n = 0;
    for (int i = 0; i < 3; i++) {
        if (t->err_sums[i][1] <= 0) continue; /* not quantized in this mode (or all zero) */
        q->name[q->n] = names[i], q->unit[q->n] = "";
        q->value[q->n++] = sqrt(t->err_sums[i][0] / t->err_sums[i][1]);
    }
    return ATTN_OK;
}
