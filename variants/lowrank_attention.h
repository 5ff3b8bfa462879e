/* lowrank_attention.h — what the low-rank variants (lowrank, nystrom) share on the host: their
 * attention step, and the CPU twin of the segment-mean kernel both use.
 *
 * The attention step: Sq queries per query head over Sk keys per KV head (Sk ≠ Sq in general,
 * never causal), by one of three paths, chosen once per point:
 *   mma     kernels/fused.cu (attn_fused_launch_kv): online softmax over key tiles of the tile's
 *           BN, P rounded to the dtype before P·V; sm_80+;
 *   wgmma   kernels/fused_sm90.cu (attn_fused_sm90_launch_kv): the same over key tiles of 128;
 *           sm_90 only;
 *   cublas  cublas_attention.h: the [B·H·Sq][Sk] scores materialised in the dtype, softmax in
 *           place, P·V — the only path for fp32 and head dims other than 64 and 128.
 * The parameters attn, path and tile (ATTN_LR_ATTENTION_PARAMS, in each variant's table) say which;
 * what they leave open is settled in configure (fused or cuBLAS: from the dtype and head dim alone)
 * and in prepare (mma or wgmma: wgmma from 128 keys on an sm_90 device and on the CPU backend —
 * the path the reference machine, an H200, takes, so that the CPU backend builds the same twin on
 * every machine —, else mma), and kept in the plan, so that the CPU implementation
 * (attn_lr_attend_row) walks the key tiles of the path that ran. */
#ifndef ATTN_LOWRANK_ATTENTION_H
#define ATTN_LOWRANK_ATTENTION_H

#include <stddef.h>

#include "cublas_attention.h"
#include "variant.h"

/* The three parameter specs, in this order, for a variant's table (its config parses them with
 * attn_lr_attention_configure from the three values in the same order). */
#define ATTN_LR_ATTENTION_PARAMS                                                                   \
    {"attn", ATTN_PARAM_ENUM, NULL, "fused|cublas", 0, 0,                                          \
     "attention: fused (fp16/bf16, head_dim 64|128) or cublas; default fused where it runs"},    \
    {"path", ATTN_PARAM_ENUM, NULL, "mma|wgmma", 0, 0,                                             \
     "fused attention's kernel; default wgmma from 128 keys on sm_90 and the CPU backend"},       \
    {"tile", ATTN_PARAM_ENUM, NULL, "64x64|128x128|128x64", 0, 0,                                  \
     "mma path's query x key tile (implies path=mma); default 64x64"}

/* The attention path: requested after configure, decided after prepare. */
enum { ATTN_LR_CUBLAS = 0, ATTN_LR_MMA = 1, ATTN_LR_WGMMA = 2, ATTN_LR_FUSED = 3 };
typedef struct attn_lr_attention {
    int path;   /* configure: ATTN_LR_CUBLAS, _MMA, _WGMMA, or _FUSED (mma or wgmma: prepare
                   decides); prepare: one of the first three */
    int bm, bn; /* fused: query and key tile (wgmma: 64·warpgroups x 128) */
    int config; /* mma: index into kernels/fused.cu's table; wgmma: consumer warpgroups */
} attn_lr_attention;

/* Configure: from the values of attn, path and tile (v[0..2], in the order of the specs). NULL, or
 * why the point cannot run (attn=fused on fp32; path or tile with attn=cublas; tile with wgmma). */
const char *attn_lr_attention_configure(const attn_point *p, const attn_param_value *v,
                                        attn_lr_attention *a);
/* Prepare, for attention over `keys` keys: decides mma or wgmma (above) and, on the device
 * (on_device), sets the kernel up. ATTN_OK, ATTN_SKIP (no sm_80, or wgmma off sm_90) or
 * ATTN_ERR. */
int attn_lr_attention_prepare(const attn_point *p, int keys, int on_device, attn_lr_attention *a);
/* "attn=fused path=wgmma tile=128x128", or "attn=cublas". */
void attn_lr_attention_describe(const attn_lr_attention *a, char *buf, size_t n);

/* O [B][H][Sq][D] from Q [B][H][Sq][D] and K, V [B][Hkv][Sk][D] (B, H, D and the dtype from p),
 * enqueued on `stream`; the cuBLAS path uses blas (bound to stream) and `scores`
 * (attn_cublas_scores_bytes(p, Sq, Sk)). */
int attn_lr_attend(const attn_point *p, const attn_lr_attention *a, attn_cublas *blas,
                   void *scores, int Hkv, int Sq, int Sk, const void *q, const void *k,
                   const void *v, void *o, cudaStream_t stream);
/* The CPU twin, for one query row q [D] over `keys` keys K, values V ([keys][D]) into out [D], in
 * float (not rounded): blockwise over the path's key tiles (attn_cpu_blockwise_rows), or with the
 * scores and probabilities rounded to the dtype (the cuBLAS path). ATTN_OK or ATTN_ERR. */
int attn_lr_attend_row(const attn_point *p, const attn_lr_attention *a, int keys, const float *q,
                       const float *K, const float *V, float *out);

/* The CPU twin of attn_lowrank_pool (kernels/lowrank.h) for one slice: out[i] =
 * round_dtype(w_i · Σ_{s in segment i} X[s]) for i < k, segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋),
 * w_i the float 1/len_i, itself rounded to the dtype when round_w; X [S][D], out [k][D], sums in
 * double (acc: D doubles). */
void attn_lr_segment_means(const attn_point *p, const float *X, int k, int round_w, float *out,
                           double *acc);

/* The next `bytes` of a workspace at base (256-byte aligned pieces), advancing *off; NULL when base
 * is NULL (sizing only). */
static inline void *attn_lr_take(char *base, size_t *off, size_t bytes)
{
    void *at = base ? base + *off : NULL;
    *off += (bytes + 255) / 256 * 256;
    return at;
}

#endif
