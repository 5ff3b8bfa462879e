/* fused.c — variant `fused`: flash-attention forward on tensor cores (kernels/fused.cu: mma.sync
 * path; kernels/fused_sm90.cu: Hopper wgmma path).
 *
 * Algorithm: one pass over K/V per query tile with an online softmax (running max and sum per row
 * in fp32, exp2 with log2(e) folded into the scale); Q·Kᵀ and P·V on tensor cores with fp32
 * accumulation (wgmma m64nNk16 on sm_90, mma.sync m16n8k16 elsewhere); P rounded to the dtype in
 * registers before P·V; O normalised and written once. Materialises nothing: no S×S buffer, no
 * workspace (unless lse=1). Causal: tiles above the diagonal are skipped, only diagonal tiles are
 * masked. GQA/MQA by indexing (query head h reads KV head h / (H/H_kv)).
 *
 * Limits: fp16 and bf16 (fp32 is skipped with a reason); head_dim 64 or 128; any S >= 1; needs
 * sm_80+ (prepare skips older devices). One launch. The wgmma path's work queue is one device
 * counter, so two of its launches must not run concurrently on one GPU (streams are serial here).
 *
 * Paths, chosen at prepare time: on an sm_90 device (H100/H200) the Hopper path of
 * kernels/fused_sm90.cu — persistent (one block per SM, query tiles from a work queue), wgmma from
 * shared memory, Q/K/V by TMA on mbarriers, a producer warpgroup and 2–3 ping-ponging consumer
 * warpgroups (64 query rows each), key tile 128; elsewhere the
 * portable mma.sync path of kernels/fused.cu.
 *
 * Parameters: path=mma|wgmma forces a path (wgmma is skipped off sm_90). lse=1 also writes the
 * per-row log-sum-exp (natural log, fp32 [B][H][S]) into the workspace (workspace_bytes is then
 * 4·B·H·S, else 0). tile=BMxBN forces a configuration: mma path 128x128, 64x64, 128x64; wgmma path
 * 128x128 (2 consumer warpgroups) or 192x128 (3, D=64 only); tile=192x128 alone implies
 * path=wgmma, any other tile alone implies path=mma. By default from the shape: wgmma D=128 →
 * 128x128, D=64 → 192x128 (128x128 for causal S ≤ 1024); mma D=128 → 128x128 with 8 warps (64x64
 * with 4 warps for causal S ≤ 1024), D=64 → 64x64, and 64x64 wherever 128-row tiles would give
 * fewer than 264 blocks (two per SM of a 132-SM H100/H200).
 *
 * CPU implementation (cpu_rows): the same algorithm in float — blockwise over key tiles of the
 * GPU's key-tile width (128 on the wgmma path; the mma path's BN otherwise; the path is resolved
 * as prepare resolves it, from params or from the current device), running max and sum, exp2 with
 * the folded scale, P rounded to the dtype before P·V, normalisation at the end.
 *
 * How it fared, mma path (H100 80GB HBM3, dev/fused driver, median of 21 runs, default tiles):
 * D=128 bf16 non-causal 333 / 339 / 342 TFLOP/s at S = 4096 / 8192 / 16384, causal 299 / 318 /
 * 346; D=64 bf16 non-causal 283–286 at S ≥ 4096. wgmma path, persistent (H200, harness standard
 * sweep): D=128 bf16 non-causal 666 / 634 / 653, causal 612 / 624 / 608; D=64 bf16 (192x128)
 * non-causal 536 / 532 / 544, causal 483 / 529 / 518. Every exactness check passed (bf16 rel L2
 * ≤ 2.3e-3 vs fp64). See kernels/NOTES-fused.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_attention.h"
#include "variant.h"
#include "fused.h"
#include "fused_sm90.h"

enum { FUSED_MMA = 0, FUSED_WGMMA = 1 };
#define FUSED_WGMMA_BN 128 /* key tile of every wgmma configuration */

typedef struct fused_state {
    attn_point point;
    int path;    /* FUSED_MMA or FUSED_WGMMA */
    int config;  /* mma: index into kernels/fused.cu's configuration table; wgmma: consumer
                    warpgroups (2 or 3) */
    int bm, bn;  /* query and key tile */
    int warps;   /* mma: warps per block (bm / 16); wgmma: consumer warpgroups */
    float *lse;  /* the workspace when lse=1, else NULL */
} fused_state;

/* tile=BMxBN, if given: 1 with *bm, *bn set; 0 if absent; -1 if malformed. */
static int fused_tile_param(const attn_point *p, int *bm, int *bn)
{
    char v[32];
    if (!attn_param(p, "tile", v, sizeof v)) return 0;
    if (sscanf(v, "%dx%d", bm, bn) != 2) return -1;
    return 1;
}

static int fused_lse(const attn_point *p)
{
    char v[8];
    return attn_param(p, "lse", v, sizeof v) && strcmp(v, "1") == 0;
}

/* path=, if given: FUSED_MMA / FUSED_WGMMA; -2 if absent; -1 if malformed. */
static int fused_path_param(const attn_point *p)
{
    char v[16];
    if (!attn_param(p, "path", v, sizeof v)) return -2;
    if (strcmp(v, "mma") == 0) return FUSED_MMA;
    if (strcmp(v, "wgmma") == 0) return FUSED_WGMMA;
    return -1;
}

/* The path prepare takes: path= if given; else tile=192x128 → wgmma, another tile= → mma; else
 * wgmma where the current device is sm_90, mma elsewhere (also where no device answers). */
static int fused_path(const attn_point *p)
{
    int pp = fused_path_param(p), bm, bn;
    if (pp >= 0) return pp;
    if (fused_tile_param(p, &bm, &bn) == 1) return bm == 192 ? FUSED_WGMMA : FUSED_MMA;
    return attn_fused_sm90_available() ? FUSED_WGMMA : FUSED_MMA;
}

/* wgmma path: consumer warpgroups (query tile 64·nwg rows) from tile= or the shape. */
static int fused_wgmma_nwg(const attn_point *p)
{
    int bm, bn;
    if (fused_tile_param(p, &bm, &bn) == 1) return bm / 64;
    return attn_fused_sm90_default_nwg(p->head_dim, p->seq, p->causal);
}

/* The key-tile width the GPU uses for this point. */
static int fused_bn(const attn_point *p)
{
    int bm, bn;
    if (fused_path(p) == FUSED_WGMMA) return FUSED_WGMMA_BN;
    if (fused_tile_param(p, &bm, &bn) != 1)
        attn_fused_default_tile(p->head_dim, p->batch, p->heads, p->seq, p->causal, &bm, &bn);
    return bn;
}

static const char *fused_supports(const attn_point *p)
{
    if (p->dtype == ATTN_FP32) return "fp32 inputs not supported (fp16/bf16 tensor-core kernel)";
    if (p->head_dim != 64 && p->head_dim != 128) return "head_dim must be 64 or 128";
    int pp = fused_path_param(p);
    if (pp == -1) return "path must be mma or wgmma";
    int bm, bn, t = fused_tile_param(p, &bm, &bn);
    if (t < 0) return "tile must be BMxBN, e.g. tile=128x128";
    if (t == 1) {
        int wg = pp == FUSED_WGMMA || (pp == -2 && bm == 192);
        if (wg && !((bm == 128 && bn == 128) || (bm == 192 && bn == 128 && p->head_dim == 64)))
            return "wgmma tile must be 128x128, or 192x128 at head_dim 64";
        if (!wg && attn_fused_config_find(bm, bn) < 0)
            return "mma tile must be one of 128x128, 64x64, 128x64";
    }
    char v[8];
    if (attn_param(p, "lse", v, sizeof v) && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return "lse must be 0 or 1";
    return NULL;
}

static size_t fused_workspace_bytes(const attn_point *p)
{
    return fused_lse(p) ? (size_t)p->batch * p->heads * p->seq * sizeof(float) : 0;
}

static int fused_prepare(const attn_point *p, void *workspace, cudaStream_t stream, void **state)
{
    (void)stream;
    int dev, major;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) return attn_skip("fused: needs sm_80 or newer (mma.sync bf16, cp.async)");
    if (fused_path(p) == FUSED_WGMMA) {
        if (!attn_fused_sm90_available())
            return attn_skip("fused: path=wgmma needs an sm_90 device (H100/H200)");
        const int nwg = fused_wgmma_nwg(p);
        ATTN_TRY(attn_fused_sm90_setup((int)p->dtype, p->head_dim, nwg));
        fused_state *st = malloc(sizeof *st);
        if (!st) return attn_fail("fused: out of host memory");
        st->point = *p;
        st->path = FUSED_WGMMA;
        st->config = nwg;
        st->bm = 64 * nwg;
        st->bn = FUSED_WGMMA_BN;
        st->warps = nwg;
        st->lse = fused_lse(p) ? workspace : NULL;
        *state = st;
        return ATTN_OK;
    }
    int bm, bn, idx;
    if (fused_tile_param(p, &bm, &bn) == 1)
        idx = attn_fused_config_find(bm, bn);
    else
        idx = attn_fused_default_tile(p->head_dim, p->batch, p->heads, p->seq, p->causal, &bm, &bn);
    if (idx < 0) return attn_fail("fused: no configuration for this point");
    ATTN_TRY(attn_fused_setup((int)p->dtype, p->head_dim, idx));
    int minb, qreg, warps;
    if (attn_fused_config_get(idx, &bn, &warps, &minb, &qreg) != 0)
        return attn_fail("fused: bad configuration %d", idx);
    fused_state *st = malloc(sizeof *st);
    if (!st) return attn_fail("fused: out of host memory");
    st->point = *p;
    st->path = FUSED_MMA;
    st->config = idx;
    st->bn = bn;
    st->warps = warps;
    st->bm = warps * 16;
    st->lse = fused_lse(p) ? workspace : NULL;
    *state = st;
    return ATTN_OK;
}

static int fused_run(void *state, const attn_device_io *io, cudaStream_t stream)
{
    const fused_state *st = state;
    const attn_point *p = &st->point;
    if (st->path == FUSED_WGMMA)
        return attn_fused_sm90_launch((int)p->dtype, p->head_dim, st->config, p->batch, p->heads,
                                      p->kv_heads, p->seq, p->causal, io->q, io->k, io->v, io->o,
                                      st->lse, stream);
    return attn_fused_launch((int)p->dtype, p->head_dim, st->config, p->batch, p->heads,
                             p->kv_heads, p->seq, p->causal, io->q, io->k, io->v, io->o, st->lse,
                             stream);
}

static void fused_release(void *state) { free(state); }

static void fused_describe(const void *state, char *buf, size_t n)
{
    const fused_state *st = state;
    if (st->path == FUSED_WGMMA)
        snprintf(buf, n, "path=wgmma tile=%dx%d warpgroups=1+%d lse=%d", st->bm, st->bn, st->warps,
                 st->lse != NULL);
    else
        snprintf(buf, n, "path=mma tile=%dx%d warps=%d lse=%d", st->bm, st->bn, st->warps,
                 st->lse != NULL);
}

static int fused_cpu_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    return attn_cpu_blockwise_rows(p, in, rows, n_rows, fused_bn(p), out);
}

/* Executed work: the attended (query, key) pairs, 4·D FLOPs each (Q·Kᵀ and P·V): 4·B·H·S²·D, and
 * for causal 4·B·H·D·S(S+1)/2 (the masked halves of diagonal tiles are not counted). */
static double fused_flops(const attn_point *p)
{
    double pairs = p->causal ? (double)p->seq * (p->seq + 1) / 2 : (double)p->seq * p->seq;
    return 4.0 * p->batch * p->heads * pairs * p->head_dim;
}

/* DRAM minimum: Q, K, V read once, O written once (K/V re-reads per query tile hit L2), plus the
 * LSE rows when asked for. */
static double fused_bytes(const attn_point *p)
{
    double e = (double)attn_dtype_size(p->dtype);
    double b = e * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p));
    if (fused_lse(p)) b += 4.0 * p->batch * p->heads * p->seq;
    return b;
}

static int fused_launches(const attn_point *p)
{
    (void)p;
    return 1;
}

const attn_variant attn_variant_fused = {
    .name = "fused",
    .param_keys = "tile,lse,path",
    .description = "flash-attention forward: online softmax, wgmma+TMA (sm_90) or mma.sync, no SxS buffer",
    .exact = 1,
    .supports = fused_supports,
    .workspace_bytes = fused_workspace_bytes,
    .prepare = fused_prepare,
    .run = fused_run,
    .release = fused_release,
    .describe = fused_describe,
    .cpu_rows = fused_cpu_rows,
    .flops = fused_flops,
    .bytes = fused_bytes,
    .launches = fused_launches,
};
