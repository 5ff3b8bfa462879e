/* quant.c — variant `quant`: quantized attention (SageAttention 2 / FlashAttention-3 FP8 style):
 * Q and K to INT8 with per-128-row scales (K smoothed: its per-channel mean over the sequence
 * subtracted, exact under softmax), V to FP8 e4m3 with per-channel scales, the unnormalised
 * probabilities P̃ to e4m3 with the static scale 448, normalised by 1/l at the end.
 *
 * Algorithm (kernels/quant.h documents the layout and the roundings): run() is the quantization
 * stage (kernels/quant.cu, up to three streaming kernels) and then one attention kernel — the
 * portable mma.sync kernel of kernels/quant.cu (INT8 m16n8k32 Q·Kᵀ, P·V in fp16 on e4m3
 * values), or on sm_90 the wgmma kernel of kernels/quant_sm90.cu. Both walk 128-key tiles with 128-row query
 * tiles, so the running maxima, the e4m3 rounding points and the promotion points of the P·V
 * accumulation are the same; one CPU implementation is the check target of both.
 *
 * Materialises the quantized copies of Q, K, Vᵀ and their scales in the workspace (O(S·D)),
 * nothing of size S×S.
 *
 * Parameters (the ablations): qk=int8|bf16 (bf16: Q·Kᵀ in the point's 16-bit dtype), pv=fp8|bf16,
 * smooth=1|0, accum=two-level|single (the FP8 accumulator promoted to fp32 every 128 keys, or one
 * accumulator across the row), p=fp8|int8 (P̃ on the uniform INT8 grid: the known-bad control; needs
 * pv=fp8), path=mma|wgmma (default: wgmma on an sm_90 device and on the CPU backend, else mma),
 * rotate=hadamard|none (FA3's incoherent processing, qk=int8 only: each row of Q and of K − mean
 * × H·diag(s), H the ±1 Walsh–Hadamard matrix, s fixed signs — an outlier channel spread over the
 * row, so the block's INT8 scale no longer follows it; the factor D folded into q_scale, so the
 * attention kernels are unchanged; the stage does it in its rows kernel, quant.h has the details).
 * compute_dtype: int8 when qk=int8, fp8 when only P·V is 8-bit, else the point's dtype.
 *
 * CPU implementation (quant_cpu.c): the same quantization from the host inputs (the same scales
 * and codes bit for bit: see quant.h), then per row the kernels' tile walk in fp32 with the FP8
 * accumulator's fp22 model. Bounds against exact attention: cosine ≥ 0.999 and rel L1 ≤ 0.05 on
 * every point, RMSE ≤ 9.1e-3 (FA3 FP8's outlier figure) where the inputs have outliers. Limits: fp16/bf16, D = 64 or 128, any
 * S ≥ 1, GQA, causal. Measured results: kernels/NOTES-quant.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_attention.h"
#include "quant.h"
#include "quant_cpu.h"
#include "variant.h"

enum { QUANT_MMA = 0, QUANT_WGMMA = 1, QUANT_DEVICE = -1 /* not given: the backend decides */ };

static const attn_param_spec quant_params[] = {
    {"qk", ATTN_PARAM_ENUM, "int8", "int8|bf16", 0, 0,
     "Q·Kᵀ in INT8 (per-128-row scales) or in the point's 16-bit dtype"},
    {"pv", ATTN_PARAM_ENUM, "fp8", "fp8|bf16", 0, 0,
     "P·V with P̃ and V in FP8 e4m3, or in the point's 16-bit dtype"},
    {"smooth", ATTN_PARAM_INT, "1", NULL, 0, 1, "1: subtract K's mean over the sequence first"},
    {"accum", ATTN_PARAM_ENUM, "two-level", "two-level|single", 0, 0,
     "FP8 P·V sums promoted to fp32 every 128 keys, or one accumulator"},
    {"p", ATTN_PARAM_ENUM, "fp8", "fp8|int8", 0, 0,
     "P̃ to e4m3 x448, or to the uniform INT8 grid (a known-bad control; needs pv=fp8)"},
    {"path", ATTN_PARAM_ENUM, NULL, "mma|wgmma", 0, 0,
     "mma.sync or Hopper wgmma (default: wgmma on sm_90 and on the CPU backend, else mma)"},
    {"rotate", ATTN_PARAM_ENUM, "hadamard", "hadamard|none", 0, 0,
     "qk=int8: rows of Q and K × one randomized Hadamard matrix before INT8 (FA3), or none"},
    {"sm90", ATTN_PARAM_ENUM, NULL, "plain|fold|st3|st3fold|wg3|wg3fold", 0, 0,
     "wgmma kernel instance, int8/fp8 (default there: wg3fold at D=64, fold at D=128; else plain; "
     "NOTES-quant.md; wg3: D=64, st3: D=128)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
enum { P_QK, P_PV, P_SMOOTH, P_ACCUM, P_P, P_PATH, P_ROTATE, P_SM90 };

/* The sm90= choices, in the spec's order: their ATTN_QUANT_SM90_* bits. */
enum { SM90_PLAIN = 0, SM90_FOLD = 1, SM90_WG3FOLD = 5 };
static const struct {
    const char *name;
    int bits;
} sm90_choices[] = {{"plain", 0},
                    {"fold", ATTN_QUANT_SM90_FOLD},
                    {"st3", ATTN_QUANT_SM90_ST3},
                    {"st3fold", ATTN_QUANT_SM90_ST3 | ATTN_QUANT_SM90_FOLD},
                    {"wg3", ATTN_QUANT_SM90_WG3},
                    {"wg3fold", ATTN_QUANT_SM90_WG3 | ATTN_QUANT_SM90_FOLD}};

static const char *quant_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    quant_config *c = config;
    if (p->dtype == ATTN_FP32) return "fp32 inputs not supported (8-bit and 16-bit tensor cores)";
    if (p->head_dim != 64 && p->head_dim != 128) return "head_dim must be 64 or 128";
    c->qk_int8 = pv->v[P_QK].i == 0;
    c->pv_fp8 = pv->v[P_PV].i == 0;
    c->smooth = (int)pv->v[P_SMOOTH].i;
    c->two_level = pv->v[P_ACCUM].i == 0;
    c->p_int8 = pv->v[P_P].i == 1;
    c->path = pv->v[P_PATH].set ? (int)pv->v[P_PATH].i : QUANT_DEVICE;
    c->rotate = c->qk_int8 && pv->v[P_ROTATE].i == 0;
    if (c->p_int8 && !c->pv_fp8) return "p=int8 needs pv=fp8 (it is a grid for the FP8 P·V)";
    /* an index into sm90_choices; not given: wg3fold at D = 64 and fold at 128 where those
       instances exist (the fastest end to end on the H200, NOTES-quant.md; the mma path ignores it) */
    const int instances = c->qk_int8 && c->pv_fp8;
    c->sm90 = pv->v[P_SM90].set ? (int)pv->v[P_SM90].i
              : instances       ? (p->head_dim == 64 ? SM90_WG3FOLD : SM90_FOLD)
                                : SM90_PLAIN;
    if (pv->v[P_SM90].set && c->sm90 != SM90_PLAIN && (c->path == QUANT_MMA || !instances))
        return "sm90= other than plain: an instance of the wgmma kernel with qk=int8 pv=fp8";
    return NULL;
}

static const char *quant_compute_dtype(const attn_point *p, const void *config)
{
    const quant_config *c = config;
    (void)p;
    return c->qk_int8 ? "int8" : c->pv_fp8 ? "fp8" : NULL;
}

static size_t quant_workspace_bytes(const attn_point *p, const void *config)
{
    (void)config;
    return attn_quant_workspace_bytes(p->batch, p->heads, p->kv_heads, p->seq, p->head_dim);
}

typedef struct quant_plan {
    attn_plan head;
    int path;                /* QUANT_MMA or QUANT_WGMMA */
    attn_quant_args a;       /* the kernels' arguments; io pointers and stream set by run() */
    quant_host_tensors host; /* the same quantization on the host: cpu_rows' inputs */
    int outliers; /* the inputs hold a value beyond QUANT_NORMAL_MAX: the RMSE bound applies */
} quant_plan;

/* Above the largest |x| the normal generator (core/rng.h: a centred Irwin–Hall sum) can give,
 * 8·65535·9.3440618e-6 ≈ 4.899, rounded to bf16 (4.906): a larger input is an outlier (--init
 * outliers, fa3, real data). */
#define QUANT_NORMAL_MAX 5.0f

static int has_outliers(const attn_point *p, const attn_host_inputs *in)
{
    const float *x[3] = {in->q, in->k, in->v};
    const size_t n[3] = {attn_q_elems(p), attn_kv_elems(p), attn_kv_elems(p)};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++)
            if (fabsf(x[t][i]) > QUANT_NORMAL_MAX) return 1;
    return 0;
}

static void quant_release(attn_plan *plan)
{
    quant_plan *pl = (quant_plan *)plan;
    quant_host_free(&pl->host);
    free(pl);
}

/* The kernels' arguments but the io pointers and the stream. */
static void quant_args(const attn_point *p, const quant_config *c, attn_quant_args *a)
{
    memset(a, 0, sizeof *a);
    a->dtype = (int)p->dtype;
    a->B = p->batch, a->H = p->heads, a->Hkv = p->kv_heads, a->S = p->seq, a->D = p->head_dim;
    a->causal = p->causal;
    a->qk_int8 = c->qk_int8, a->pv_fp8 = c->pv_fp8, a->smooth = c->smooth;
    a->accum_two_level = c->two_level, a->p_int8 = c->p_int8, a->rotate = c->rotate;
    a->sm90_kernel = sm90_choices[c->sm90].bits;
}

/* GPU backend: the device must run the path; its kernel's setup. */
static int quant_setup_device(quant_plan *pl)
{
    int dev, major;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) return attn_skip("quant: needs sm_80 or newer (mma.sync s8, cp.async)");
    if (pl->path == QUANT_MMA) return attn_quant_mma_setup(&pl->a);
    if (!attn_quant_sm90_available())
        return attn_skip("quant: path=wgmma needs an sm_90 device (H100/H200)");
    return attn_quant_sm90_setup(&pl->a);
}

static int quant_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    quant_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    const quant_config *c = args->config;
    const attn_point *p = args->point;
    int rc = ATTN_OK;
    quant_args(p, c, &pl->a);
    pl->path = c->path;
    if (pl->path == QUANT_DEVICE)
        pl->path = !args->dev || attn_quant_sm90_available() ? QUANT_WGMMA : QUANT_MMA;
    if (args->host) { /* absent only for plans that never reach cpu_rows (work, describe) */
        ATTN_TRY_GOTO(quant_host_quantize(p, c, args->host, &pl->host), rc, fail);
        pl->outliers = has_outliers(p, args->host);
    }
    if (args->dev) {
        attn_quant_tensors_layout(args->dev->workspace, p->batch, p->heads, p->kv_heads, p->seq,
                                  p->head_dim, &pl->a.t);
        ATTN_TRY_GOTO(quant_setup_device(pl), rc, fail);
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    quant_release(&pl->head);
    return rc;
}

static int quant_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    quant_plan *pl = (quant_plan *)plan;
    attn_quant_args *a = &pl->a;
    a->q = io->q, a->k = io->k, a->v = io->v, a->o = io->o;
    a->stream = stream;
    ATTN_TRY(attn_quant_stage_launch(a));
    return pl->path == QUANT_WGMMA ? attn_quant_sm90_launch(a) : attn_quant_mma_launch(a);
}

static const char *const path_names[] = {"mma", "wgmma"};

static void quant_describe(const attn_plan *plan, char *buf, size_t n)
{
    const quant_plan *pl = (const quant_plan *)plan;
    const attn_quant_args *a = &pl->a;
    snprintf(buf, n,
             "path=%s qk=%s pv=%s smooth=%d accum=%s p=%s rotate=%s sm90=%s tile=%dx%d"
             " stage_launches=%d",
             path_names[pl->path], a->qk_int8 ? "int8" : "dtype", a->pv_fp8 ? "fp8" : "dtype",
             a->smooth, a->accum_two_level ? "two-level" : "single", a->p_int8 ? "int8" : "fp8",
             a->rotate ? "hadamard" : "none",
             pl->path == QUANT_WGMMA ? sm90_choices[((const quant_config *)plan->config)->sm90].name : "-",
             ATTN_QUANT_BLOCK, ATTN_QUANT_BLOCK, attn_quant_stage_launches(a));
}

static int quant_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    const quant_plan *pl = (const quant_plan *)plan;
    if (!pl->host.q8 && !pl->host.v8 && (pl->a.qk_int8 || pl->a.pv_fp8))
        return attn_fail("quant: the plan was made without host inputs");
    const int fold = pl->path == QUANT_WGMMA && (pl->a.sm90_kernel & ATTN_QUANT_SM90_FOLD);
    return quant_host_rows(&plan->point, plan->config, fold, &pl->host, in, rows, n_rows, out);
}

/* Executed work: the attended pairs at 4·D operations each (INT8 or FP8 ones where quantized),
 * plus the stage's few per element (counted as 2: a subtract or divide and a round) and, rotating,
 * the Hadamard's log2 D adds per element of Q and K (D·log2 D per row). Bytes: the
 * stage reads Q once and K, V twice (statistics, then quantization) and writes the 8-bit copies;
 * the kernel reads those (or the dtype's) once and writes O. */
static void quant_work(const attn_plan *plan, attn_work *w)
{
    const quant_plan *pl = (const quant_plan *)plan;
    const attn_point *p = &plan->point;
    const attn_quant_args *a = &pl->a;
    const double pairs = p->causal ? (double)p->seq * (p->seq + 1) / 2 : (double)p->seq * p->seq;
    const double e = (double)attn_dtype_size(p->dtype), nq = (double)attn_q_elems(p);
    const double nkv = (double)attn_kv_elems(p);
    w->flops = 4.0 * p->batch * p->heads * pairs * p->head_dim;
    w->bytes = e * nq; /* O */
    if (a->qk_int8) {
        w->flops += (2.0 + (a->rotate ? log2((double)p->head_dim) : 0)) * (nq + nkv);
        w->bytes += e * (nq + (a->smooth ? 2 : 1) * nkv) + 2 * (nq + nkv);
    } else {
        w->bytes += e * (nq + nkv);
    }
    if (a->pv_fp8) {
        w->flops += 2.0 * nkv;
        w->bytes += 2 * e * nkv + 2 * nkv;
    } else {
        w->bytes += e * nkv;
    }
    w->launches = attn_quant_stage_launches(a) + 1;
}

/* The bounds: SageAttention's cosine and relative L1 on every point; FA3 FP8's RMSE (its
 * figure under 0.1 % outliers from N(0, 100)) where the inputs have outliers — an absolute RMSE
 * grows with the output's magnitude, which a few dominant keys raise on any input. The tolerance
 * against the CPU implementation stays the dtype's. */
static void quant_check_policy(const attn_plan *plan, attn_check_policy *pol)
{
    pol->min_cosine = 0.999;
    pol->max_rel_l1 = 0.05;
    if (((const quant_plan *)plan)->outliers) pol->max_rmse = 9.1e-3;
}

static int quant_quality(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                         size_t n_rows, attn_quality *q)
{
    (void)in, (void)rows, (void)n_rows;
    return quant_host_quality(&((const quant_plan *)plan)->host, q);
}

const attn_variant attn_variant_quant = {
    .name = "quant",
    .description =
        "quantized attention: INT8 Q·Kᵀ (smoothed K), FP8 P̃ and V, fp32 softmax (SageAttention2 / FA3-FP8)",
    .exact = 0,
    .params = quant_params,
    .config_size = sizeof(quant_config),
    .configure = quant_configure,
    .compute_dtype = quant_compute_dtype,
    .workspace_bytes = quant_workspace_bytes,
    .prepare = quant_prepare,
    .run = quant_run,
    .release = quant_release,
    .describe = quant_describe,
    .cpu_rows = quant_cpu_rows,
    .work = quant_work,
    .check_policy = quant_check_policy,
    .quality = quant_quality,
};
