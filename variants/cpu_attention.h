/* cpu_attention.h — the CPU implementation of materialised attention, shared by the variants whose
 * GPU algorithm writes the score matrix S = Q·Kᵀ and the probability matrix P = softmax(S) to device
 * memory (naive, cublas). They differ only in the precision those matrices are stored in, so the
 * routine takes that as flags: a GEMM that writes its fp32 accumulator out in fp16 or bf16 rounds
 * every score, and a softmax that writes its output in the dtype rounds every probability. */
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
 * Returns ATTN_OK, or ATTN_ERR when its S-float scratch cannot be allocated. */
int attn_cpu_attention_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, unsigned rounding, float *out);

#ifdef __cplusplus
}
#endif
#endif
