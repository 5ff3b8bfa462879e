/* lowrank.c — variant `lowrank`: Linformer. Keys and values are projected along the sequence to k
 * rows, then every query attends to the k projected keys:
 *   K′ = E·K,  V′ = F·V        E, F ∈ ℝ^{k×S}, per (batch, KV head): K′, V′ ∈ ℝ^{k×D}
 *   O  = softmax(Q·K′ᵀ/√D)·V′
 * E and F are shared by every batch entry and head (Linformer's "layerwise sharing"), one of:
 *   proj=gaussian (default)  element i of the row-major [k][S] matrix is
 *                            round_dtype(attn_rng_value(seed, 3 for E / 4 for F, i)·(1/√k)),
 *                            generated on the device in prepare (kernels/lowrank.cu) and again on
 *                            the host by cpu_rows, bit for bit; `seed` is the point's, not the
 *                            inputs';
 *   proj=mean                segment means, E = F: row i averages segment [⌊i·S/k⌋, ⌊(i+1)·S/k⌋)
 *                            with weight round_dtype(1/len_i) (Linformer's pooling form); k ≤ S;
 *                            one pooling kernel instead of the GEMMs;
 *   proj_file=PATH           a .npy (float32 or float16, C order) of shape [2][k][S] (E then F)
 *                            or [k][S] (E = F), k the point's k and S its seq (prepare skips the
 *                            point when they differ), read by prepare through core/npy.h and
 *                            rounded to the dtype.
 *
 * GPU (run, enqueued on the stream): (1) K′ and V′ for every (batch, KV head) slice by one
 * cublasGemmBatchedEx over the 2·B·H_kv products (pointer arrays in the workspace; fp32
 * accumulation, written in the dtype) — or, for proj=mean, one segment-mean launch; (2) attention
 * of the S queries over the k keys by the path of lowrank_attention.h (fused mma/wgmma, or cuBLAS).
 * Column-major views: K_h is a column-major D×S matrix (ld D), E a column-major S×k matrix (ld S),
 * so K′ᵀ (D×k, ld D) = K_hᵀ·Eᵀ is gemm(N, N, m=D, n=k, k=S).
 * Materialises E, F (k×S each, not for proj=mean), K′, V′ (B·H_kv·k·D each), the cuBLAS path's
 * [B·H·S][k] scores, and a 32 MiB cuBLAS workspace; nothing of size S×S.
 *
 * CPU implementation (cpu_rows, from the plan): the same computation in float with the same
 * rounding points: E, F as above; K′, V′ summed in double and rounded to the dtype as the GEMM's
 * store does; then each query row through attn_lr_attend_row, the CPU twin of the path the plan
 * chose (its key tiles, P rounded to the dtype).
 *
 * Limits: non-causal only (a sequence projection mixes future keys into every K′ row); k ≤ 65536
 * (k > S is allowed: K′ then has rank ≤ S, the formula still holds). Approximate (exact = 0): the
 * harness checks the GPU against cpu_rows and stores the error against exact attention.
 * Measured results: kernels/NOTES-lowrank.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "core/rng.h"
#include "lowrank.h"
#include "lowrank_attention.h"
#include "variant.h"

#define LR_TENSOR_E 3 /* generator tensor ids of the projections (Q, K, V are 0, 1, 2) */
#define LR_TENSOR_F 4

enum { LR_PROJ_GAUSSIAN = 0, LR_PROJ_MEAN = 1, LR_PROJ_FILE = 2 };
enum { P_K, P_PROJ, P_PROJ_FILE, P_SEED, P_ATTN }; /* indices into lowrank_params */

static const attn_param_spec lowrank_params[] = {
    {"k", ATTN_PARAM_INT, "128", NULL, 1, 65536, "projected rows of K and V (k > seq allowed)"},
    {"proj", ATTN_PARAM_ENUM, "gaussian", "gaussian|mean", 0, 0,
     "E, F: seeded Gaussian/sqrt(k), or segment means (k <= seq)"},
    {"proj_file", ATTN_PARAM_FILE, NULL, NULL, 0, 0,
     "E, F from a .npy instead: float32/16, shape [2,k,seq] (E, F) or [k,seq] (E = F)"},
    {"seed", ATTN_PARAM_INT, "1", NULL, 0, 9007199254740991.0,
     "seed of the Gaussian projections (not of the inputs)"},
    ATTN_LR_ATTENTION_PARAMS,
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

/* A point's parameters, parsed once (configure). */
typedef struct lr_config {
    int k;
    int proj;                          /* LR_PROJ_GAUSSIAN, LR_PROJ_MEAN or LR_PROJ_FILE */
    uint64_t seed;                     /* proj=gaussian */
    char proj_file[ATTN_PARAMS_MAX];   /* proj_file=PATH: read by prepare */
    attn_lr_attention attn;            /* the attention path as requested */
} lr_config;

/* What prepare decided and made. */
typedef struct lr_plan {
    attn_plan head;
    attn_lr_attention attn; /* the attention path as decided */
    float *file_proj;       /* proj_file: E (then F) as read, rounded to the dtype; else NULL */
    const float *file_e, *file_f; /* into file_proj (file_f == file_e for a [k][S] file) */
    /* GPU backend: the cuBLAS handle, and the workspace's pieces (lr_layout) */
    attn_cublas blas;
    void *e, *f, *kp, *vp, *scores;
    /* The batched GEMM's A, B, C pointer arrays (2·B·H_kv each: the K′ slices, then the V′
     * slices) on the device, copied from the host array when run() sees inputs other than those
     * they were built for (the first run, in practice). */
    const void **ptrs, **ptrs_host;
    const void *ptrs_k, *ptrs_v;
} lr_plan;

static const char *lowrank_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    lr_config *c = config;
    if (p->causal)
        return "causal masking not supported by Linformer (the projection mixes all positions)";
    c->k = (int)pv->v[P_K].i;
    c->proj = (int)pv->v[P_PROJ].i;
    c->seed = (uint64_t)pv->v[P_SEED].i;
    if (pv->v[P_PROJ_FILE].set) {
        if (pv->v[P_PROJ].given) return "proj_file replaces proj: give one of them";
        c->proj = LR_PROJ_FILE;
        memcpy(c->proj_file, pv->v[P_PROJ_FILE].s, sizeof c->proj_file);
    }
    if (c->proj == LR_PROJ_MEAN && c->k > p->seq)
        return "proj=mean needs k <= seq (k nonempty segments of S)";
    return attn_lr_attention_configure(p, &pv->v[P_ATTN], &c->attn);
}

/* The workspace's pieces, in order, pointed into base (NULL: sizing only); its size. */
static size_t lr_layout(const attn_point *p, const lr_config *c, char *base, lr_plan *pl)
{
    const size_t e = attn_dtype_size(p->dtype), k = (size_t)c->k, S = (size_t)p->seq;
    const size_t slices = (size_t)p->batch * p->kv_heads, kv_proj = slices * k * p->head_dim * e;
    size_t off = 0;
    if (c->proj != LR_PROJ_MEAN) {
        pl->e = attn_lr_take(base, &off, k * S * e);
        pl->f = attn_lr_take(base, &off, k * S * e);
        pl->ptrs = attn_lr_take(base, &off, 3 * 2 * slices * sizeof(void *));
    }
    pl->kp = attn_lr_take(base, &off, kv_proj);
    pl->vp = attn_lr_take(base, &off, kv_proj);
    if (c->attn.path == ATTN_LR_CUBLAS)
        pl->scores = attn_lr_take(base, &off, attn_cublas_scores_bytes(p, p->seq, c->k));
    pl->blas.workspace = attn_lr_take(base, &off, ATTN_CUBLAS_WORKSPACE_BYTES);
    return off;
}

static size_t lowrank_workspace_bytes(const attn_point *p, const void *config)
{
    lr_plan sizing;
    return lr_layout(p, config, NULL, &sizing);
}

/* proj_file: E and F from the .npy into pl->file_proj, rounded to the dtype. ATTN_SKIP when the
 * file is not what the point needs. */
static int load_proj_file(const attn_point *p, const lr_config *c, lr_plan *pl)
{
    attn_npy a;
    if (attn_npy_read(c->proj_file, &a) != ATTN_OK) {
        char why[sizeof attn_last_error.msg];
        memcpy(why, attn_last_error.msg, sizeof why);
        return attn_skip("proj_file: cannot read %s", why);
    }
    const int pairs = a.ndim == 3;
    const char *why = NULL;
    if (!(a.ndim == 2 || (pairs && a.shape[0] == 2)))
        why = "the .npy shape must be [2,k,S] (E then F) or [k,S] (E = F)";
    else if (a.shape[a.ndim - 1] != (size_t)p->seq)
        why = "the .npy file's S (last dimension) differs from the point's seq";
    else if (a.shape[a.ndim - 2] != (size_t)c->k)
        why = "the .npy file's k differs from the k parameter";
    if (why) {
        attn_npy_free(&a);
        return attn_skip("proj_file %s: %s", c->proj_file, why);
    }
    for (size_t i = 0; i < a.count; i++) a.data[i] = attn_round(p->dtype, a.data[i]);
    pl->file_proj = a.data;
    pl->file_e = a.data;
    pl->file_f = pairs ? a.data + (size_t)c->k * p->seq : a.data;
    return ATTN_OK;
}

/* E and F on the device: generated there (gaussian), or the file's values stored in the dtype. */
static int upload_proj(const attn_point *p, const lr_config *c, lr_plan *pl, cudaStream_t stream)
{
    const size_t n = (size_t)c->k * p->seq, es = attn_dtype_size(p->dtype);
    if (c->proj == LR_PROJ_GAUSSIAN) {
        const float scale = (float)(1.0 / sqrt((double)c->k));
        ATTN_TRY(attn_lowrank_fill_proj(p->dtype, pl->e, n, c->seed, LR_TENSOR_E, scale, stream));
        ATTN_TRY(attn_lowrank_fill_proj(p->dtype, pl->f, n, c->seed, LR_TENSOR_F, scale, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
        return ATTN_OK;
    }
    void *h = malloc(2 * n * es);
    if (!h) return attn_fail("lowrank: out of host memory for the projections");
    for (size_t i = 0; i < n; i++) {
        attn_store(p->dtype, h, i, pl->file_e[i]);
        attn_store(p->dtype, h, n + i, pl->file_f[i]);
    }
    int rc = ATTN_OK;
    CUDA_CHECK_GOTO(cudaMemcpy(pl->e, h, n * es, cudaMemcpyHostToDevice), rc, end);
    CUDA_CHECK_GOTO(cudaMemcpy(pl->f, (char *)h + n * es, n * es, cudaMemcpyHostToDevice), rc, end);
end:
    free(h);
    return rc;
}

static void lowrank_release(attn_plan *plan)
{
    lr_plan *pl = (lr_plan *)plan;
    if (!pl) return;
    attn_cublas_close(&pl->blas);
    free(pl->ptrs_host);
    free(pl->file_proj);
    free(pl);
}

static int lowrank_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    const attn_point *p = args->point;
    const lr_config *c = args->config;
    lr_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    pl->attn = c->attn;
    int rc = ATTN_OK;
    if (c->proj == LR_PROJ_FILE) ATTN_TRY_GOTO(load_proj_file(p, c, pl), rc, fail);
    ATTN_TRY_GOTO(attn_lr_attention_prepare(p, c->k, args->dev != NULL, &pl->attn), rc, fail);
    if (args->dev) {
        lr_layout(p, c, args->dev->workspace, pl);
        ATTN_TRY_GOTO(attn_cublas_open(&pl->blas, pl->blas.workspace, args->dev->stream), rc, fail);
        if (c->proj != LR_PROJ_MEAN)
            ATTN_TRY_GOTO(upload_proj(p, c, pl, args->dev->stream), rc, fail);
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    lowrank_release(&pl->head);
    return rc;
}

/* K′ and V′ by one pointer-array batched GEMM: K′ᵀ (D×k) = Kᵀ (D×S) · Eᵀ (S×k), column-major, E
 * shared by every (batch, KV head) slice, and V′ likewise with F (NOTES-lowrank: faster than two
 * strided-batched calls at every S ≥ 4096). */
static int project(lr_plan *pl, const attn_device_io *io, cudaStream_t stream)
{
    const attn_point *p = &pl->head.point;
    const int S = p->seq, D = p->head_dim, k = ((const lr_config *)pl->head.config)->k;
    const int slices = p->batch * p->kv_heads, n = 2 * slices;
    const size_t e = attn_dtype_size(p->dtype);
    if (io->k != pl->ptrs_k || io->v != pl->ptrs_v) {
        if (!pl->ptrs_host && !(pl->ptrs_host = malloc(3 * (size_t)n * sizeof(void *))))
            return attn_fail("lowrank: out of host memory");
        const void **a = pl->ptrs_host, **b = a + n, **cc = b + n;
        for (int i = 0; i < n; i++) {
            const int j = i % slices, second = i >= slices;
            a[i] = (const char *)(second ? io->v : io->k) + (size_t)j * S * D * e;
            b[i] = second ? pl->f : pl->e;
            cc[i] = (const char *)(second ? pl->vp : pl->kp) + (size_t)j * k * D * e;
        }
        /* The host array stays untouched until the inputs move again, so the copy may lag. */
        CUDA_CHECK(cudaMemcpyAsync(pl->ptrs, a, 3 * (size_t)n * sizeof(void *),
                                   cudaMemcpyHostToDevice, stream));
        pl->ptrs_k = io->k, pl->ptrs_v = io->v;
    }
    const cudaDataType t = attn_cublas_dtype(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmBatchedEx(pl->blas.handle, CUBLAS_OP_N, CUBLAS_OP_N, D, k, S, &one,
                                     (const void *const *)pl->ptrs, t, D,
                                     (const void *const *)(pl->ptrs + n), t, S, &zero,
                                     (void *const *)(pl->ptrs + 2 * n), t, D, n,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ATTN_OK;
}

static int lowrank_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    lr_plan *pl = (lr_plan *)plan;
    const attn_point *p = &plan->point;
    const lr_config *c = plan->config;
    ATTN_TRY(attn_cublas_bind(&pl->blas, stream));
    if (c->proj == LR_PROJ_MEAN)
        ATTN_TRY(attn_lowrank_pool(p->dtype, p->head_dim, p->seq, c->k, p->batch * p->kv_heads, 1,
                                   1, io->k, io->v, pl->kp, pl->vp, stream));
    else
        ATTN_TRY(project(pl, io, stream));
    return attn_lr_attend(p, &pl->attn, &pl->blas, pl->scores, p->kv_heads, p->seq, c->k, io->q,
                          pl->kp, pl->vp, io->o, stream);
}

static void lowrank_describe(const attn_plan *plan, char *buf, size_t n)
{
    const lr_config *c = plan->config;
    static const char *const proj[] = {"gaussian", "mean", "file"};
    char attn[64];
    attn_lr_attention_describe(&((const lr_plan *)plan)->attn, attn, sizeof attn);
    snprintf(buf, n, "k=%d proj=%s gemm=%s %s", c->k, proj[c->proj],
             c->proj == LR_PROJ_MEAN ? "none(segment-means)" : "cublas-batched", attn);
}

/* ---------------------------------------------------------------- CPU implementation */

/* X′ = round_dtype(P·X) for one slice: P [k][S], X [S][D], out [k][D]; the sums in double (the
 * GPU's fp32 accumulation order is its own; double keeps the CPU side the closer one). */
static void project_host(const attn_point *p, const float *P, const float *X, int k, float *out,
                         double *acc)
{
    const int S = p->seq, D = p->head_dim;
    for (int r = 0; r < k; r++) {
        for (int d = 0; d < D; d++) acc[d] = 0;
        const float *pr = P + (size_t)r * S;
        for (int s = 0; s < S; s++) {
            const double e = pr[s];
            const float *x = X + (size_t)s * D;
            for (int d = 0; d < D; d++) acc[d] += e * x[d];
        }
        for (int d = 0; d < D; d++) out[(size_t)r * D + d] = attn_round(p->dtype, (float)acc[d]);
    }
}

/* The seeded Gaussian E and F ([k][S] each, one allocation at *E; free(*E)). */
static int gaussian_proj(const attn_point *p, const lr_config *c, float **E, float **F)
{
    const size_t n = (size_t)c->k * p->seq;
    float *e = malloc(2 * n * sizeof *e);
    if (!e) return attn_fail("lowrank: out of host memory for the projections");
    const float scale = (float)(1.0 / sqrt((double)c->k));
    for (size_t i = 0; i < n; i++) {
        e[i] = attn_round(p->dtype, attn_rng_value(c->seed, LR_TENSOR_E, i, 0, 1) * scale);
        e[n + i] = attn_round(p->dtype, attn_rng_value(c->seed, LR_TENSOR_F, i, 0, 1) * scale);
    }
    *E = e, *F = e + n;
    return ATTN_OK;
}

static int lowrank_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, float *out)
{
    const lr_plan *pl = (const lr_plan *)plan;
    const attn_point *p = &plan->point;
    const lr_config *c = plan->config;
    const int S = p->seq, D = p->head_dim, k = c->k, group = p->heads / p->kv_heads;
    float *gauss = NULL, *F = NULL;
    const float *E = pl->file_e, *Fm = pl->file_f;
    if (c->proj == LR_PROJ_GAUSSIAN) {
        ATTN_TRY(gaussian_proj(p, c, &gauss, &F));
        E = gauss, Fm = F;
    }
    float *kp = malloc((size_t)k * D * sizeof *kp), *vp = malloc((size_t)k * D * sizeof *vp);
    double *acc = malloc((size_t)D * sizeof *acc);
    int rc = kp && vp && acc ? ATTN_OK : attn_fail("lowrank: out of host memory");
    long cached = -1; /* b·H_kv + hk of the slice in kp, vp (rows are sorted by b, h, s) */
    for (size_t r = 0; r < n_rows && rc == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const long slice = (long)w->b * p->kv_heads + w->h / group;
        if (slice != cached) {
            const float *K = in->k + (size_t)slice * S * D, *V = in->v + (size_t)slice * S * D;
            if (c->proj == LR_PROJ_MEAN) {
                attn_lr_segment_means(p, K, k, 1, kp, acc);
                attn_lr_segment_means(p, V, k, 1, vp, acc);
            } else {
                project_host(p, E, K, k, kp, acc);
                project_host(p, Fm, V, k, vp, acc);
            }
            cached = slice;
        }
        rc = attn_lr_attend_row(p, &pl->attn, k,
                                in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D, kp, vp,
                                out + r * D);
    }
    free(kp), free(vp), free(acc), free(gauss);
    return rc;
}

/* ---------------------------------------------------------------- work */

/* FLOPs: projections 2·2·B·H_kv·k·S·D (proj=mean: one add per K and V element) + attention
 * 4·B·H·S·k·D. Bytes: Q, K, V read, O written; E and F read once (shared by the slices,
 * L2-resident); K′ and V′ written and read; the cuBLAS path also writes, reads, writes and reads
 * its [B·H·S][k] scores. Launches: pooling + the fused attention; -1 where cuBLAS decides. */
static void lowrank_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const lr_config *c = plan->config;
    const int cublas = ((const lr_plan *)plan)->attn.path == ATTN_LR_CUBLAS;
    const double k = c->k, S = p->seq, D = p->head_dim, e = (double)attn_dtype_size(p->dtype);
    const double slices = (double)p->batch * p->kv_heads, kv_proj = slices * k * D;
    const double attention = 4.0 * p->batch * p->heads * S * k * D;
    w->flops = c->proj == LR_PROJ_MEAN ? 2.0 * slices * S * D + attention
                                       : 2.0 * 2.0 * slices * k * S * D + attention;
    w->bytes = e * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p) + 4.0 * kv_proj);
    if (c->proj != LR_PROJ_MEAN) w->bytes += e * 2.0 * k * S;
    if (cublas) w->bytes += e * 4.0 * p->batch * p->heads * S * k;
    w->launches = c->proj == LR_PROJ_MEAN && !cublas ? 2 : -1;
}

const attn_variant attn_variant_lowrank = {
    .name = "lowrank",
    .description = "Linformer: K, V projected along the sequence to k rows, attention over those",
    .exact = 0,
    .params = lowrank_params,
    .config_size = sizeof(lr_config),
    .configure = lowrank_configure,
    .workspace_bytes = lowrank_workspace_bytes,
    .prepare = lowrank_prepare,
    .run = lowrank_run,
    .release = lowrank_release,
    .cpu_rows = lowrank_cpu_rows,
    .work = lowrank_work,
    .describe = lowrank_describe,
};
