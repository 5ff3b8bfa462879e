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
 * Paths: the Hopper path of kernels/fused_sm90.cu — persistent (one block per SM, query tiles from
 * a work queue), wgmma from shared memory, Q/K/V by TMA on mbarriers, a producer warpgroup and 2–3
 * ping-ponging consumer warpgroups (64 query rows each), key tile 128; or the portable mma.sync
 * path of kernels/fused.cu.
 *
 * Parameters: path=mma|wgmma forces a path (wgmma is skipped off sm_90). lse=1 also writes the
 * per-row log-sum-exp (natural log, fp32 [B][H][S]) into the workspace (workspace_bytes is then
 * 4·B·H·S, else 0). tile=BMxBN forces a configuration: mma path 128x128, 64x64, 128x64; wgmma path
 * 128x128 (2 consumer warpgroups) or 192x128 (3, D=64 only). By default from the shape: wgmma
 * D=128 → 128x128, D=64 → 192x128 (128x128 for causal S ≤ 1024); mma D=128 → 128x128 with 8 warps
 * (64x64 with 4 warps for causal S ≤ 1024), D=64 → 64x64, and 64x64 wherever 128-row tiles would
 * give fewer than 264 blocks (two per SM of a 132-SM H100/H200).
 *
 * The plan (prepare) resolves the path: path= if given; else tile=192x128 → wgmma, another tile=
 * → mma; else, on the GPU backend, wgmma where the device is sm_90 and mma elsewhere; on the CPU
 * backend wgmma, the path the H200 (the reference machine) takes — so the CPU backend builds the
 * same twin on every machine, and path=mma gives the other one.
 *
 * CPU implementation (cpu_rows): the same algorithm in float — blockwise over key tiles of the
 * plan's key-tile width (128 on the wgmma path, the mma tile's BN otherwise), running max and sum,
 * exp2 with the folded scale, P rounded to the dtype before P·V, normalisation at the end.
 * Measured results: kernels/NOTES-fused.md. */
#include <stdio.h>
#include <stdlib.h>

#include "cpu_attention.h"
#include "variant.h"
#include "fused.h"
#include "fused_sm90.h"

enum { FUSED_MMA = 0, FUSED_WGMMA = 1, FUSED_DEVICE = -1 /* not given: the backend decides */ };
#define FUSED_WGMMA_BN 128 /* key tile of every wgmma configuration */

/* Order of the tile choices: parse_tile reads BMxBN from the choice's text. */
static const attn_param_spec fused_params[] = {
    {"tile", ATTN_PARAM_ENUM, NULL, "128x128|64x64|128x64|192x128", 0, 0,
     "query x key tile (default: from the shape and the path)"},
    {"path", ATTN_PARAM_ENUM, NULL, "mma|wgmma", 0, 0,
     "mma.sync or Hopper wgmma (default: wgmma on sm_90 and on the CPU backend, else mma)"},
    {"lse", ATTN_PARAM_INT, "0", NULL, 0, 1, "1: also write the per-row log-sum-exp (workspace)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
enum { P_TILE, P_PATH, P_LSE };

typedef struct fused_config {
    int bm, bn; /* tile= when given, else 0 */
    int path;   /* FUSED_MMA / FUSED_WGMMA from path= or implied by tile=; FUSED_DEVICE */
    int lse;
} fused_config;

typedef struct fused_plan {
    attn_plan head;
    int path;   /* FUSED_MMA or FUSED_WGMMA */
    int config; /* mma: index into kernels/fused.cu's configuration table; wgmma: consumer
                   warpgroups (2 or 3) */
    int bm, bn; /* query and key tile */
    int warps;  /* mma: warps per block (bm / 16); wgmma: consumer warpgroups */
    float *lse; /* the workspace when lse=1 on the GPU backend, else NULL */
} fused_plan;

static const char *fused_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    fused_config *c = config;
    if (p->dtype == ATTN_FP32) return "fp32 inputs not supported (fp16/bf16 tensor-core kernel)";
    if (p->head_dim != 64 && p->head_dim != 128) return "head_dim must be 64 or 128";
    c->lse = (int)pv->v[P_LSE].i;
    c->path = pv->v[P_PATH].set ? (int)pv->v[P_PATH].i : FUSED_DEVICE;
    if (!pv->v[P_TILE].set) return NULL;
    sscanf(pv->v[P_TILE].s, "%dx%d", &c->bm, &c->bn);
    if (c->path == FUSED_DEVICE) c->path = c->bm == 192 ? FUSED_WGMMA : FUSED_MMA;
    if (c->path == FUSED_WGMMA &&
        !(c->bn == FUSED_WGMMA_BN && (c->bm == 128 || (c->bm == 192 && p->head_dim == 64))))
        return "wgmma tile must be 128x128, or 192x128 at head_dim 64";
    if (c->path == FUSED_MMA && attn_fused_config_find(c->bm, c->bn) < 0)
        return "mma tile must be one of 128x128, 64x64, 128x64";
    return NULL;
}

static size_t fused_workspace_bytes(const attn_point *p, const void *config)
{
    const fused_config *c = config;
    return c->lse ? (size_t)p->batch * p->heads * p->seq * sizeof(float) : 0;
}

/* The path and tile of the plan, from the config and (on the GPU backend) the device. */
static int fused_resolve(const attn_prepare_args *args, fused_plan *pl)
{
    const attn_point *p = args->point;
    const fused_config *c = args->config;
    pl->path = c->path;
    if (pl->path == FUSED_DEVICE)
        pl->path = !args->dev || attn_fused_sm90_available() ? FUSED_WGMMA : FUSED_MMA;
    if (pl->path == FUSED_WGMMA) {
        pl->config = c->bm ? c->bm / 64
                           : attn_fused_sm90_default_nwg(p->head_dim, p->seq, p->causal);
        pl->warps = pl->config;
        pl->bm = 64 * pl->warps;
        pl->bn = FUSED_WGMMA_BN;
        return ATTN_OK;
    }
    int bm = c->bm, bn = c->bn, minb, qreg;
    pl->config = bm ? attn_fused_config_find(bm, bn)
                    : attn_fused_default_tile(p->head_dim, p->batch, p->heads, p->seq, p->causal,
                                              &bm, &bn);
    if (pl->config < 0 || attn_fused_config_get(pl->config, &pl->bn, &pl->warps, &minb, &qreg))
        return attn_fail("fused: no mma configuration for tile %dx%d", bm, bn);
    pl->bm = 16 * pl->warps;
    return ATTN_OK;
}

/* GPU backend: the device must run the path; the kernel's shared-memory limit is raised. */
static int fused_setup_device(const attn_point *p, const fused_plan *pl)
{
    int dev, major;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) return attn_skip("fused: needs sm_80 or newer (mma.sync bf16, cp.async)");
    if (pl->path == FUSED_MMA) return attn_fused_setup((int)p->dtype, p->head_dim, pl->config);
    if (!attn_fused_sm90_available())
        return attn_skip("fused: path=wgmma needs an sm_90 device (H100/H200)");
    return attn_fused_sm90_setup((int)p->dtype, p->head_dim, pl->config);
}

static void fused_release(attn_plan *plan) { free(plan); }

static int fused_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    fused_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    int rc = ATTN_OK;
    ATTN_TRY_GOTO(fused_resolve(args, pl), rc, fail);
    if (args->dev) {
        ATTN_TRY_GOTO(fused_setup_device(args->point, pl), rc, fail);
        if (((const fused_config *)args->config)->lse) pl->lse = args->dev->workspace;
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    fused_release(&pl->head);
    return rc;
}

static int fused_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    const fused_plan *pl = (const fused_plan *)plan;
    const attn_point *p = &plan->point;
    if (pl->path == FUSED_WGMMA)
        return attn_fused_sm90_launch((int)p->dtype, p->head_dim, pl->config, p->batch, p->heads,
                                      p->kv_heads, p->seq, p->causal, io->q, io->k, io->v, io->o,
                                      pl->lse, stream);
    return attn_fused_launch((int)p->dtype, p->head_dim, pl->config, p->batch, p->heads,
                             p->kv_heads, p->seq, p->causal, io->q, io->k, io->v, io->o, pl->lse,
                             stream);
}

static void fused_describe(const attn_plan *plan, char *buf, size_t n)
{
    const fused_plan *pl = (const fused_plan *)plan;
    const int lse = ((const fused_config *)plan->config)->lse;
    if (pl->path == FUSED_WGMMA)
        snprintf(buf, n, "path=wgmma tile=%dx%d warpgroups=1+%d lse=%d", pl->bm, pl->bn, pl->warps,
                 lse);
    else
        snprintf(buf, n, "path=mma tile=%dx%d warps=%d lse=%d", pl->bm, pl->bn, pl->warps, lse);
}

static int fused_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    const fused_plan *pl = (const fused_plan *)plan;
    return attn_cpu_blockwise_rows(&plan->point, in, rows, n_rows, pl->bn, out);
}

/* Executed work: the attended (query, key) pairs, 4·D FLOPs each (Q·Kᵀ and P·V): 4·B·H·S²·D, and
 * for causal 4·B·H·D·S(S+1)/2 (the masked halves of diagonal tiles are not counted). DRAM
 * minimum: Q, K, V read once, O written once (K/V re-reads per query tile hit L2), plus the LSE
 * rows when asked for. One launch. */
static void fused_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const double pairs = p->causal ? (double)p->seq * (p->seq + 1) / 2 : (double)p->seq * p->seq;
    const double e = (double)attn_dtype_size(p->dtype);
    w->flops = 4.0 * p->batch * p->heads * pairs * p->head_dim;
    w->bytes = e * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p));
    if (((const fused_config *)plan->config)->lse) w->bytes += 4.0 * p->batch * p->heads * p->seq;
    w->launches = 1;
}

const attn_variant attn_variant_fused = {
    .name = "fused",
    .description = "flash-attention forward: online softmax, wgmma+TMA (sm_90) or mma.sync, no SxS buffer",
    .exact = 1,
    .params = fused_params,
    .config_size = sizeof(fused_config),
    .configure = fused_configure,
    .workspace_bytes = fused_workspace_bytes,
    .prepare = fused_prepare,
    .run = fused_run,
    .release = fused_release,
    .describe = fused_describe,
    .cpu_rows = fused_cpu_rows,
    .work = fused_work,
};
