/* cpu_attention.h — the two CPU attention algorithms the variants' CPU implementations share.
 *
 * Materialised (attn_cpu_attention_rows): the variants whose GPU algorithm writes the score matrix
 * S = Q·Kᵀ and the probability matrix P = softmax(S) to device memory (naive, cublas, lowrank's
 * cuBLAS path). They differ only in the precision those matrices are stored in, so the routine takes
 * that as flags: a GEMM that writes its fp32 accumulator out in fp16 or bf16 rounds every score, and
 * a softmax that writes its output in the dtype rounds every probability.
 *
 * Blockwise (attn_cpu_blockwise_rows): the flash-attention algorithm of kernels/fused*.cu (fused,
 * and lowrank's fused path), walking the keys in tiles of the GPU's key-tile width. */
#ifndef ATTN_CPU_ATTENTION_H
#define ATTN_CPU_ATTENTION_H

#include <stddef.h>

#include "variant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rounding flags: which intermediates are stored in the point's dtype (no effect for fp32). */
enum {
    ATTN_ROUND_SCORES = 1, /* each raw score q·k rounded to the dtype, before the 1/sqrt(D) scale */
    ATTN_ROUND_PROBS = 2,  /* each normalised probability rounded to the dtype, before P·V */
};

/* For each row (b, h, s) of `rows` (sorted by b, h, s): scores against keys 0..S-1 (0..s when
 * causal) accumulated in float, rounded per `rounding`, scaled by 1/sqrt(D), softmax in float
 * (max subtracted), probabilities rounded per `rounding`, then o = Σ_j p_j·v_j accumulated in float,
 * into out[i·D + d]. Masked keys contribute nothing (their probability is exactly 0 on the GPU).
 * Returns ATTN_OK, or ATTN_ERR when its S-float scratch cannot be allocated or a Ctrl-C arrived
 * (core/interrupt.h). */
int attn_cpu_attention_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, unsigned rounding, float *out);

/* For each row: keys in tiles of key_tile (the GPU's key-tile width: 128 on the wgmma path, the
 * tile's BN on the mma path), a running max and sum in float, exp2 with log2(e)/sqrt(D) folded into
 * the scale, each probability rounded to the dtype before P·V (as the GPU feeds P to its tensor
 * cores), normalised at the end. Causal rows attend to keys 0..s. Returns ATTN_OK or ATTN_ERR (no
 * scratch memory, or a Ctrl-C). */
int attn_cpu_blockwise_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, int key_tile, float *out);

/* One query row of the blockwise algorithm in flight (attn_cpu_blockwise_rows' loop state, also
 * walked over a sparse plan's kept key tiles by variants/sparse.c). */
typedef struct attn_cpu_online {
    const float *q;      /* the query row [D] */
    const float *K, *V;  /* its KV head's keys and values [S][D] */
    const int *v_cols;   /* NULL: value columns 0..dv-1; else the dv columns taken, in order */
    int dv;              /* value columns accumulated */
    float m, l;          /* running max (raw score, -inf before the first tile) and sum */
    float *acc;          /* dv accumulators (zeroed before the first tile) */
    float *sc;           /* scratch for a tile's scores (key_tile floats) */
} attn_cpu_online;

/* Keys j0 .. j0+nj-1 into the row's running max, sum and accumulators, as one GPU key tile. */
void attn_cpu_online_tile(const attn_point *p, attn_cpu_online *r, int j0, int nj);

#ifdef __cplusplus
}
#endif
#endif
