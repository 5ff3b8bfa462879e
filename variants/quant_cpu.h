/* quant_cpu.h — the CPU implementation of variant `quant` (variants/quant_cpu.c): the quantization
 * of kernels/quant.h on the host (the same scales and codes as the GPU stage, bit for bit) and the
 * attention the kernels compute from it (their 128-key tiles, roundings and promotion points), in
 * fp32 with the FP8 accumulator's fp22 model; the check target of both GPU paths. */
#ifndef ATTN_QUANT_CPU_H
#define ATTN_QUANT_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "variant.h"

/* A point's configuration (variants/quant.c parses it). */
typedef struct quant_config {
    int qk_int8;   /* 1: Q·Kᵀ in INT8; 0: in the dtype */
    int pv_fp8;    /* 1: P̃ and V in e4m3; 0: in the dtype */
    int smooth;    /* 1: K's mean subtracted before its quantization */
    int rotate;    /* 1: rows of Q, K − mean × H·diag(s) before INT8 (qk_int8 only) */
    int two_level; /* 1: P·V accumulator promoted to fp32 every 128 keys; 0: one accumulator */
    int p_int8;    /* 1: P̃ on the uniform INT8 grid first (the control; pv_fp8 only) */
    int path;      /* 0 mma, 1 wgmma, -1 not given */
    int sm90;      /* the Hopper kernel's instance: an index into quant.c's sm90 choices */
} quant_config;

/* The host's quantized copies (NULL where the configuration needs none). */
typedef struct quant_host_tensors {
    int8_t *q8, *k8;          /* [B][H][S][D], [B][Hkv][S][D] */
    float *q_scale, *k_scale; /* [B][H][nblk], [B][Hkv][nblk] */
    float *k_mean;            /* [B][Hkv][D] (zeros without smoothing) */
    uint8_t *v8;              /* [B][Hkv][S][D] e4m3 codes (by key: the model reads rows) */
    float *v_scale;           /* [B][Hkv][D] */
    float e4m3[256];          /* the value of each e4m3 code */
    double err_sums[3][2]; /* Q, K (− mean), V: Σ (dequantized − x)², Σ x² over the tensor */
} quant_host_tensors;

/* Quantizes the host inputs as the GPU stage does. ATTN_OK, or ATTN_ERR (out of memory; *t freed). */
int quant_host_quantize(const attn_point *p, const quant_config *c, const attn_host_inputs *in,
                        quant_host_tensors *t);
void quant_host_free(quant_host_tensors *t);

/* The output rows (sorted by b, h, s) into out[i·D + d]; fold: the softmax of the Hopper kernel's
 * FOLD instances (its exponent expression, int8/fp8 only). ATTN_OK, or ATTN_ERR on a Ctrl-C. */
int quant_host_rows(const attn_point *p, const quant_config *c, int fold, const quant_host_tensors *t,
                    const attn_host_inputs *in, const attn_row *rows, size_t n_rows, float *out);

/* Quality values: the relative L2 error of each quantized tensor (q_int8_rel_l2, k_int8_rel_l2 of
 * K − mean, v_e4m3_rel_l2; those the mode quantizes) — what smoothing and the scales buy. The
 * output's own errors against exact attention (cosine, relative L1 and L2, RMSE, max abs) are
 * stored by the harness for every approximate variant. */
int quant_host_quality(const quant_host_tensors *t, attn_quality *q);

#endif
