/* lowrank_attention.c — the low-rank variants' attention step and segment means (see
 * lowrank_attention.h). */
#include "lowrank_attention.h"

#include <stdio.h>

#include "cpu_attention.h"
#include "fused.h"
#include "fused_sm90.h"

/* Default path: wgmma on sm_90 from this many keys, mma below (H200: at 64 keys the mma 64x64
 * kernel is the faster; kernels/NOTES-lowrank.md). */
#define LR_WGMMA_MIN_KEYS 128
#define LR_WGMMA_BN 128       /* the wgmma kernel's key tile */

const char *attn_lr_attention_configure(const attn_point *p, const attn_param_value *v,
                                        attn_lr_attention *a)
{
    const attn_param_value *attn = &v[0], *path = &v[1], *tile = &v[2];
    const int fused_ok = p->dtype != ATTN_FP32 && (p->head_dim == 64 || p->head_dim == 128);
    a->path = fused_ok ? ATTN_LR_FUSED : ATTN_LR_CUBLAS;
    if (attn->set && attn->i == 1) a->path = ATTN_LR_CUBLAS;
    else if (attn->set && !fused_ok) return "attn=fused needs fp16/bf16 and head_dim 64 or 128";
    a->bm = a->bn = 64;
    if (tile->set) {
        if (a->path == ATTN_LR_CUBLAS) return "tile applies to attn=fused only";
        if (sscanf(tile->s, "%dx%d", &a->bm, &a->bn) != 2) return "tile must be BMxBN";
        a->path = ATTN_LR_MMA;
    }
    if (path->set) {
        if (a->path == ATTN_LR_CUBLAS) return "path applies to attn=fused only";
        if (path->i == 1 && tile->set) return "tile applies to path=mma only (wgmma: 64·nwg x 128)";
        a->path = path->i == 1 ? ATTN_LR_WGMMA : ATTN_LR_MMA;
    }
    return NULL;
}

/* On the device: sm_80 or newer (every fused kernel); wgmma needs sm_90. */
static int device_setup(const attn_point *p, attn_lr_attention *a)
{
    int dev, major;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) return attn_skip("attn=fused needs sm_80 or newer (try attn=cublas)");
    if (a->path == ATTN_LR_WGMMA) {
        if (!attn_fused_sm90_available())
            return attn_skip("path=wgmma needs an sm_90 device (H100/H200)");
        return attn_fused_sm90_setup((int)p->dtype, p->head_dim, a->config);
    }
    return attn_fused_setup((int)p->dtype, p->head_dim, a->config);
}

int attn_lr_attention_prepare(const attn_point *p, int keys, int on_device, attn_lr_attention *a)
{
    if (a->path == ATTN_LR_CUBLAS) return ATTN_OK;
    if (a->path == ATTN_LR_FUSED) /* the CPU backend takes the reference machine's (H200) path */
        a->path = keys >= LR_WGMMA_MIN_KEYS && (!on_device || attn_fused_sm90_available())
                      ? ATTN_LR_WGMMA : ATTN_LR_MMA;
    if (a->path == ATTN_LR_WGMMA) {
        a->config = attn_fused_sm90_default_nwg(p->head_dim, p->seq, 0);
        a->bm = 64 * a->config, a->bn = LR_WGMMA_BN;
    } else if ((a->config = attn_fused_config_find(a->bm, a->bn)) < 0) {
        return attn_fail("no fused configuration %dx%d", a->bm, a->bn);
    }
    return on_device ? device_setup(p, a) : ATTN_OK;
}

void attn_lr_attention_describe(const attn_lr_attention *a, char *buf, size_t n)
{
    if (a->path == ATTN_LR_CUBLAS) snprintf(buf, n, "attn=cublas");
    else snprintf(buf, n, "attn=fused path=%s tile=%dx%d",
                  a->path == ATTN_LR_WGMMA ? "wgmma" : "mma", a->bm, a->bn);
}

int attn_lr_attend(const attn_point *p, const attn_lr_attention *a, attn_cublas *blas,
                   void *scores, int Hkv, int Sq, int Sk, const void *q, const void *k,
                   const void *v, void *o, cudaStream_t stream)
{
    if (a->path == ATTN_LR_WGMMA)
        return attn_fused_sm90_launch_kv((int)p->dtype, p->head_dim, a->config, p->batch, p->heads,
                                         Hkv, Sq, Sk, 0, q, k, v, o, NULL, stream);
    if (a->path == ATTN_LR_MMA)
        return attn_fused_launch_kv((int)p->dtype, p->head_dim, a->config, p->batch, p->heads, Hkv,
                                    Sq, Sk, 0, q, k, v, o, NULL, stream);
    return attn_cublas_attention(blas, p, Hkv, Sq, Sk, q, k, v, o, scores);
}

int attn_lr_attend_row(const attn_point *p, const attn_lr_attention *a, int keys, const float *q,
                       const float *K, const float *V, float *out)
{
    /* One query of one head over `keys` keys: a problem of its own with seq = keys. */
    const attn_point one = {1, 1, 1, keys, p->head_dim, p->dtype, 0, ""};
    const attn_host_inputs in = {q, K, V};
    const attn_row row0 = {0, 0, 0};
    if (a->path == ATTN_LR_CUBLAS)
        return attn_cpu_attention_rows(&one, &in, &row0, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS,
                                       out);
    return attn_cpu_blockwise_rows(&one, &in, &row0, 1, a->bn, out);
}

void attn_lr_segment_means(const attn_point *p, const float *X, int k, int round_w, float *out,
                           double *acc)
{
    const int S = p->seq, D = p->head_dim;
    for (int i = 0; i < k; i++) {
        const long a = (long)i * S / k, e = (long)(i + 1) * S / k;
        const float inv = 1.0f / (float)(e - a);
        const double w = round_w ? attn_round(p->dtype, inv) : inv;
        for (int d = 0; d < D; d++) acc[d] = 0;
        for (long s = a; s < e; s++)
            for (int d = 0; d < D; d++) acc[d] += X[(size_t)s * D + d];
        for (int d = 0; d < D; d++)
            out[(size_t)i * D + d] = attn_round(p->dtype, (float)(acc[d] * w));
    }
}
