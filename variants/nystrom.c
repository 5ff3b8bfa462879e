/* nystrom.c — variant `nystrom`: Nyströmformer with m landmarks. Per (batch b, query head h; KV
 * head hk = h/(H/H_kv)), s = 1/√D:
 *   Q̃, K̃ (m×D)  segment means of Q_h's and K_hk's rows, landmark i averaging rows [⌊i·S/m⌋,
 *                ⌊(i+1)·S/m⌋) (sum·(1/len) with the float 1/len), rounded to the dtype;
 *   W  = softmax(Q̃·Kᵀ·s)·V        (m×D, the dtype)   = F3·V
 *   A  = softmax(Q̃·K̃ᵀ·s)          (m×m, fp32)
 *   Z ≈ pinv(A): Z₀ = Aᵀ/(max_i Σ_j|A_ij| · max_j Σ_i|A_ij|) — over this head's A (Nyströmformer
 *        takes both maxima over the whole batch; per head keeps heads independent) — then 6 times
 *        Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I − AZ))), in fp32;
 *   Y  = Z·W                       (m×D, fp32 sums, rounded to the dtype)
 *   O  = softmax(Q·K̃ᵀ·s)·Y         = F1·pinv(A)·F3·V.
 *
 * GPU (run, every step enqueued on the stream):
 *   1. one segment-mean launch (attn_lowrank_pool of kernels/lowrank.h, float weights): Q̃ and K̃
 *      [B][H][m][D], K̃ written once per query head, so that every later step sees H heads of keys;
 *   2. W: the attention step of lowrank_attention.h with m queries over the S keys (H_kv heads);
 *   3. A (kernels/nystrom.cu, one kernel), Z₀ (one kernel), each iteration 4
 *      cublasSgemmStridedBatched over the B·H heads (fp32, no TF32) and 3 kernels X ← cI − X;
 *      then Y = Z·W (one kernel);
 *   4. O: the same attention step with the S queries over the m keys K̃, values Y (H_kv = H).
 * Materialises Q̃, K̃, W, Y (4·B·H·m·D in the dtype), 6 fp32 B·H·m² matrices (A, Z, Z′, AZ, two
 * temporaries), a 32 MiB cuBLAS workspace and, on the cuBLAS attention path, [B·H·S][m] scores
 * (W's [B·H·m][S] are the same size); nothing of size S×S.
 *
 * CPU implementation (cpu_rows, from the plan): the same steps with the same rounding points —
 * Q̃, K̃ by segment means in double; W row by row through the CPU twin of the plan's attention path
 * over the S keys, rounded; A, the iteration (attn_nystrom_pinv) and Z·W in double, Y rounded;
 * then each row through the same twin over K̃, Y. Y is computed once per (batch, head) among the
 * rows asked for.
 *
 * Limits: non-causal only (a landmark averages a whole segment, future rows included); 1 ≤ m ≤ 256
 * and m ≤ S (the CPU twin's iteration costs 48·m³ per head); the attention path's limits
 * (lowrank_attention.h). Approximate (exact = 0). Measured results: kernels/NOTES-nystrom.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank.h"
#include "lowrank_attention.h"
#include "nystrom.h"
#include "variant.h"

#define NY_PINV_ITERS 6 /* Nyströmformer's iteration count */
#define NY_MATS 6       /* fp32 m×m matrices per head: A, Z, Z′, AZ and two temporaries */

enum { P_M, P_ATTN }; /* indices into nystrom_params */

static const attn_param_spec nystrom_params[] = {
    {"m", ATTN_PARAM_INT, "64", NULL, 1, 256,
     "landmarks: segment means of Q's and K's rows (m <= seq)"},
    ATTN_LR_ATTENTION_PARAMS,
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

typedef struct ny_config {
    int m;
    attn_lr_attention attn; /* as requested */
} ny_config;

typedef struct ny_plan {
    attn_plan head;
    attn_lr_attention attn; /* as decided */
    /* GPU backend: the cuBLAS handle and the workspace's pieces (ny_layout): per (batch, query
     * head) in the dtype Q̃, K̃ (K̃ repeated for every query head of a KV group), W and Y, each
     * [B][H][m][D]; the iteration's fp32 [B][H][m][m] matrices; the cuBLAS path's scores. */
    attn_cublas blas;
    void *qt, *kt, *w, *y, *scores;
    float *mat[NY_MATS];
} ny_plan;

static const char *nystrom_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    ny_config *c = config;
    if (p->causal)
        return "causal masking not supported by Nystromformer (a landmark averages future rows)";
    c->m = (int)pv->v[P_M].i;
    if (c->m > p->seq) return "nystrom needs m <= seq (m nonempty segments of S)";
    return attn_lr_attention_configure(p, &pv->v[P_ATTN], &c->attn);
}

static size_t ny_layout(const attn_point *p, const ny_config *c, char *base, ny_plan *pl)
{
    const size_t bh = (size_t)p->batch * p->heads, m = (size_t)c->m;
    const size_t md = bh * m * p->head_dim * attn_dtype_size(p->dtype);
    const size_t mm = bh * m * m * sizeof(float);
    size_t off = 0;
    pl->qt = attn_lr_take(base, &off, md), pl->kt = attn_lr_take(base, &off, md);
    pl->w = attn_lr_take(base, &off, md), pl->y = attn_lr_take(base, &off, md);
    for (int i = 0; i < NY_MATS; i++) pl->mat[i] = attn_lr_take(base, &off, mm);
    if (c->attn.path == ATTN_LR_CUBLAS)
        pl->scores = attn_lr_take(base, &off, attn_cublas_scores_bytes(p, p->seq, c->m));
    pl->blas.workspace = attn_lr_take(base, &off, ATTN_CUBLAS_WORKSPACE_BYTES);
    return off;
}

static size_t nystrom_workspace_bytes(const attn_point *p, const void *config)
{
    ny_plan sizing;
    return ny_layout(p, config, NULL, &sizing);
}

static void nystrom_release(attn_plan *plan)
{
    ny_plan *pl = (ny_plan *)plan;
    if (!pl) return;
    attn_cublas_close(&pl->blas);
    free(pl);
}

static int nystrom_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    const attn_point *p = args->point;
    const ny_config *c = args->config;
    ny_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    pl->attn = c->attn;
    int rc = ATTN_OK;
    ATTN_TRY_GOTO(attn_lr_attention_prepare(p, c->m, args->dev != NULL, &pl->attn), rc, fail);
    if (args->dev) {
        ny_layout(p, c, args->dev->workspace, pl);
        ATTN_TRY_GOTO(attn_cublas_open(&pl->blas, pl->blas.workspace, args->dev->stream), rc, fail);
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    nystrom_release(&pl->head);
    return rc;
}

/* C = alpha·X·Y for every head's row-major m×m fp32 matrices (column-major: Cᵀ = Yᵀ·Xᵀ), full
 * fp32 (the handle's math mode allows no TF32). */
static int matmul(ny_plan *pl, int m, float alpha, const float *X, const float *Y, float *C)
{
    const int heads = pl->head.point.batch * pl->head.point.heads;
    const long long mm = (long long)m * m;
    const float zero = 0.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(pl->blas.handle, CUBLAS_OP_N, CUBLAS_OP_N, m, m, m,
                                           &alpha, Y, m, mm, X, m, mm, &zero, C, m, mm, heads));
    return ATTN_OK;
}

/* Z ≈ pinv(A) from Z₀ by the iteration (see the opening comment); the result in *Z. */
static int pinv_iterate(ny_plan *pl, int m, float **Z, cudaStream_t stream)
{
    const long heads = (long)pl->head.point.batch * pl->head.point.heads;
    float *A = pl->mat[0], *Zn = pl->mat[2], *AZ = pl->mat[3], *T = pl->mat[4], *U = pl->mat[5];
    for (int it = 0; it < NY_PINV_ITERS; it++) {
        ATTN_TRY(matmul(pl, m, 1.0f, A, *Z, AZ));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 7.0f, AZ, T, stream));
        ATTN_TRY(matmul(pl, m, 1.0f, AZ, T, U));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 15.0f, U, U, stream));
        ATTN_TRY(matmul(pl, m, 1.0f, AZ, U, T));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 13.0f, T, T, stream));
        ATTN_TRY(matmul(pl, m, 0.25f, *Z, T, Zn));
        float *t = *Z;
        *Z = Zn, Zn = t;
    }
    return ATTN_OK;
}

static int nystrom_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    ny_plan *pl = (ny_plan *)plan;
    const attn_point *p = &plan->point;
    const int S = p->seq, D = p->head_dim, m = ((const ny_config *)plan->config)->m;
    const long heads = (long)p->batch * p->heads;
    ATTN_TRY(attn_cublas_bind(&pl->blas, stream));
    /* 1. Q̃ from Q, K̃ from K for every query head (its KV head's segment means) */
    ATTN_TRY(attn_lowrank_pool(p->dtype, D, S, m, (int)heads, p->heads / p->kv_heads, 0, io->q,
                               io->k, pl->qt, pl->kt, stream));
    /* 2. W = softmax(Q̃·Kᵀ·s)·V: m queries over the S keys */
    ATTN_TRY(attn_lr_attend(p, &pl->attn, &pl->blas, pl->scores, p->kv_heads, m, S, pl->qt, io->k,
                            io->v, pl->w, stream));
    /* 3. A = softmax(Q̃·K̃ᵀ·s), Z ≈ pinv(A), Y = Z·W */
    float *Z = pl->mat[1];
    ATTN_TRY(attn_nystrom_scores(p->dtype, D, m, heads, pl->qt, pl->kt, pl->mat[0],
                                 (float)attn_scale(p), stream));
    ATTN_TRY(attn_nystrom_pinv_init(m, heads, pl->mat[0], Z, stream));
    ATTN_TRY(pinv_iterate(pl, m, &Z, stream));
    ATTN_TRY(attn_nystrom_zw(p->dtype, D, m, heads, Z, pl->w, pl->y, stream));
    /* 4. O = softmax(Q·K̃ᵀ·s)·Y: S queries over m keys, K̃ and Y per query head */
    return attn_lr_attend(p, &pl->attn, &pl->blas, pl->scores, p->heads, S, m, io->q, pl->kt, pl->y,
                          io->o, stream);
}

static void nystrom_describe(const attn_plan *plan, char *buf, size_t n)
{
    char attn[64];
    attn_lr_attention_describe(&((const ny_plan *)plan)->attn, attn, sizeof attn);
    snprintf(buf, n, "m=%d landmarks=segment-means pinv=%d-iterations-fp32 pinv_scale=per-head %s",
             ((const ny_config *)plan->config)->m, NY_PINV_ITERS, attn);
}

/* ---------------------------------------------------------------- CPU implementation */

/* Row-major m×m: C = alpha·X·Y (C distinct from X and Y). */
static void mat_mul(int m, double alpha, const double *X, const double *Y, double *C)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int l = 0; l < m; l++) s += X[(size_t)i * m + l] * Y[(size_t)l * m + j];
            C[(size_t)i * m + j] = alpha * s;
        }
}

/* Y = c·I − X (Y may be X). */
static void sub_identity(int m, double c, const double *X, double *Y)
{
    for (size_t e = 0; e < (size_t)m * m; e++) Y[e] = (e / m == e % m ? c : 0) - X[e];
}

/* Z ≈ pinv(A) for one row-major m×m matrix by Nyströmformer's iteration, in double: Z₀ = Aᵀ/(max
 * row sum · max column sum of |A|), then NY_PINV_ITERS times Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I −
 * AZ))). work: 4·m² doubles. Not static: tests/test_nystrom.c checks A·Z·A ≈ A with it. */
void attn_nystrom_pinv(int m, const double *A, double *Z, double *work)
{
    double rmax = 0, cmax = 0, *AZ = work, *T = AZ + (size_t)m * m, *U = T + (size_t)m * m,
           *Zn = U + (size_t)m * m;
    for (int i = 0; i < m; i++) {
        double r = 0, col = 0;
        for (int j = 0; j < m; j++)
            r += fabs(A[(size_t)i * m + j]), col += fabs(A[(size_t)j * m + i]);
        rmax = fmax(rmax, r), cmax = fmax(cmax, col);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) Z[(size_t)i * m + j] = A[(size_t)j * m + i] / (rmax * cmax);
    for (int it = 0; it < NY_PINV_ITERS; it++) {
        mat_mul(m, 1, A, Z, AZ);
        sub_identity(m, 7, AZ, T);
        mat_mul(m, 1, AZ, T, U);
        sub_identity(m, 15, U, U);
        mat_mul(m, 1, AZ, U, T);
        sub_identity(m, 13, T, T);
        mat_mul(m, 0.25, Z, T, Zn);
        memcpy(Z, Zn, (size_t)m * m * sizeof *Z);
    }
}

/* One head's pieces on the host: landmarks Q̃, K̃, W and Y = round_dtype(Z·W) ([m][D] floats each),
 * and doubles for A, Z and the iteration's work (6·m²) and a D-row. */
typedef struct ny_host {
    float *qt, *kt, *w, *y;
    double *a, *z, *work, *acc;
} ny_host;

/* A = softmax(s·Q̃·K̃ᵀ) by rows, in double, into nh->a. */
static void landmark_scores(const attn_point *p, int m, ny_host *nh)
{
    const int D = p->head_dim;
    const double scale = attn_scale(p);
    for (int i = 0; i < m; i++) {
        double *row = nh->a + (size_t)i * m, mx = -INFINITY, sum = 0;
        for (int j = 0; j < m; j++) {
            double dot = 0;
            for (int d = 0; d < D; d++)
                dot += (double)nh->qt[(size_t)i * D + d] * nh->kt[(size_t)j * D + d];
            row[j] = dot * scale;
            mx = fmax(mx, row[j]);
        }
        for (int j = 0; j < m; j++) sum += row[j] = exp(row[j] - mx);
        for (int j = 0; j < m; j++) row[j] /= sum;
    }
}

/* Q̃, K̃ and Y of (batch b, query head h) into nh, with the GPU's rounding points. */
static int nystrom_head(const ny_plan *pl, const attn_host_inputs *in, int b, int h, ny_host *nh)
{
    const attn_point *p = &pl->head.point;
    const int S = p->seq, D = p->head_dim, m = ((const ny_config *)pl->head.config)->m;
    const int hk = h / (p->heads / p->kv_heads);
    const float *Q = in->q + ((size_t)b * p->heads + h) * S * D;
    const float *K = in->k + ((size_t)b * p->kv_heads + hk) * S * D;
    const float *V = in->v + ((size_t)b * p->kv_heads + hk) * S * D;
    attn_lr_segment_means(p, Q, m, 0, nh->qt, nh->acc);
    attn_lr_segment_means(p, K, m, 0, nh->kt, nh->acc);
    /* W: each landmark query over the S keys, rounded to the dtype as the attention stores it */
    for (int i = 0; i < m; i++) {
        float *wi = nh->w + (size_t)i * D;
        ATTN_TRY(attn_lr_attend_row(p, &pl->attn, S, nh->qt + (size_t)i * D, K, V, wi));
        for (int d = 0; d < D; d++) wi[d] = attn_round(p->dtype, wi[d]);
    }
    landmark_scores(p, m, nh);
    attn_nystrom_pinv(m, nh->a, nh->z, nh->work);
    for (int i = 0; i < m; i++)
        for (int d = 0; d < D; d++) {
            double y = 0;
            for (int j = 0; j < m; j++) y += nh->z[(size_t)i * m + j] * nh->w[(size_t)j * D + d];
            nh->y[(size_t)i * D + d] = attn_round(p->dtype, (float)y);
        }
    return ATTN_OK;
}

/* Per (batch, query head) of the rows, its Y once; then each row attends over the m keys K̃ with
 * values Y. */
static int nystrom_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, float *out)
{
    const ny_plan *pl = (const ny_plan *)plan;
    const attn_point *p = &plan->point;
    const int S = p->seq, D = p->head_dim, m = ((const ny_config *)plan->config)->m;
    const size_t md = (size_t)m * D, mm = (size_t)m * m;
    float *f = malloc(4 * md * sizeof *f);
    double *dbl = malloc((6 * mm + (size_t)D) * sizeof *dbl);
    int rc = f && dbl ? ATTN_OK : attn_fail("nystrom: out of host memory");
    ny_host nh = {f, f + md, f + 2 * md, f + 3 * md, dbl, dbl + mm, dbl + 2 * mm, dbl + 6 * mm};
    long cached = -1; /* b·H + h of the head in nh (rows are sorted by b, h, s) */
    for (size_t r = 0; r < n_rows && rc == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const long head = (long)w->b * p->heads + w->h;
        if (head != cached) {
            rc = nystrom_head(pl, in, w->b, w->h, &nh);
            cached = head;
        }
        if (rc == ATTN_OK)
            rc = attn_lr_attend_row(p, &pl->attn, m, in->q + ((size_t)head * S + w->s) * D, nh.kt,
                                    nh.y, out + r * D);
    }
    free(f), free(dbl);
    return rc;
}

/* ---------------------------------------------------------------- work */

/* Per (batch, query head): landmarks 2·S·D (one add per Q and K element), W 4·m·S·D, A 2·m²·D, the
 * iteration's 4 GEMMs of 2·m³ each, Z·W 2·m²·D, O 4·S·m·D. Bytes: Q and K read twice
 * (landmarks, then the attentions), V once, O written; Q̃, K̃, W, Y written and read once; every
 * m×m fp32 matrix (A, Z₀ and 7 per iteration) written and read once; the cuBLAS path's scores
 * written, read, written and read in each of its two attentions. Launches: cuBLAS decides. */
static void nystrom_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const double m = ((const ny_config *)plan->config)->m, S = p->seq, D = p->head_dim;
    const double bh = (double)p->batch * p->heads, e = (double)attn_dtype_size(p->dtype);
    w->flops = bh * (2.0 * S * D + 4.0 * m * S * D + 2.0 * m * m * D +
                     NY_PINV_ITERS * 4 * 2.0 * m * m * m + 2.0 * m * m * D + 4.0 * S * m * D);
    w->bytes = e * (3.0 * attn_q_elems(p) + 3.0 * attn_kv_elems(p) + 8.0 * bh * m * D) +
               4.0 * 2.0 * (2 + 7 * NY_PINV_ITERS) * bh * m * m;
    if (((const ny_plan *)plan)->attn.path == ATTN_LR_CUBLAS) w->bytes += 2 * e * 4.0 * bh * S * m;
    w->launches = -1;
}

const attn_variant attn_variant_nystrom = {
    .name = "nystrom",
    .description = "Nystromformer: m segment-mean landmarks, an iterative pseudo-inverse",
    .exact = 0,
    .params = nystrom_params,
    .config_size = sizeof(ny_config),
    .configure = nystrom_configure,
    .workspace_bytes = nystrom_workspace_bytes,
    .prepare = nystrom_prepare,
    .run = nystrom_run,
    .release = nystrom_release,
    .cpu_rows = nystrom_cpu_rows,
    .work = nystrom_work,
    .describe = nystrom_describe,
};
