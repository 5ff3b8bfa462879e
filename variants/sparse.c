/* sparse.c — variant `sparse`: block-sparse (pruned) attention. The S×S score matrix is cut into
 * tile×tile blocks; per (batch, head, query tile) a selection keeps some key tiles, and attention
 * is exact over the kept tiles only (an online softmax that never sees the others). vprune instead
 * keeps every tile and prunes V's head-dim columns (E.T.'s attention-aware pruning, from the
 * data): P·V over the kept columns only, zeros in the pruned columns of O.
 *
 * Selection (method=, rules in kernels/sparse_rules.h): window (the tiles nearest the diagonal),
 * bigbird (local window + random tiles, seeded), topk (attention-aware: fp32 means of Q and K tiles,
 * pooled logits, the top ceil(density·visible) tiles), mass (the fewest tiles whose estimated
 * softmax mass reaches tau), vprune (columns of V by L2 norm, keep=). The diagonal and first tile
 * are always kept; equal priorities go to the lower tile index. On the GPU backend the selection
 * runs inside run() (kernels/sparse.cu, timed as a stage of the variant) and fetch_plan copies the
 * CSR back; on the CPU backend variants/sparse_select.c makes the same selection on the host.
 *
 * GPU: selection kernels (CSR of kept tiles + rows ordered heaviest first, built on the device),
 * then attention over the CSR on the Hopper wgmma kernel (kernels/sparse_sm90.cu) or the portable
 * mma.sync kernel (kernels/sparse.cu). vprune's tile plan is every visible tile, a function of the
 * shape alone: prepare builds it once with the same selection kernels (window at density 1), and
 * run() is the column norms, the kept columns, a gather of V into [B][Hkv][S][DV] (none when every
 * column is kept) and attention, whose epilogue writes O in full (pruned columns 0). Materialises
 * nothing of size S×S: the CSR, pooled tiles (fp32), and for vprune the compact V (workspace).
 *
 * Operator choice from the sequence length (E.T.'s point, stored in the point's config):
 * tile= when given; else tile 64 when S <= 2048 or when 128-row tiles would give fewer than 264
 * rows of work (two per SM of a 132-SM H200), else 128 — short sequences have few tiles per row,
 * so finer tiles keep the selection meaningful and the GPU full. The path: path= when given; else
 * wgmma on an sm_90 device when it has the (dtype, D, DV, tile) kernel, else mma; the CPU backend
 * records wgmma (the reference machine's path). Both paths compute the same thing.
 *
 * CPU implementation (cpu_rows, the check target): the plan's kept tiles of each row in ascending
 * order, each as one GPU key tile of the blockwise algorithm (cpu_attention.h), P rounded to the
 * dtype before P·V. Quality: achieved density (kept / visible tiles), softmax mass retained on the
 * checked rows (exact softmax, double), V columns kept; rel L1 and cosine against exact attention
 * are the harness's exact_* errors, bounded by max_rel_l1= / min_cosine=.
 *
 * Limits: fp16/bf16; head_dim 64 or 128; any S >= 1 with at most 2048 tiles per row; vprune keeps
 * DV = 32, 64 or 128 columns (the smallest that holds ceil(keep·D)). Approximate (exact = 0).
 * Measured results: kernels/NOTES-sparse.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_attention.h"
#include "sparse.h"
#include "sparse_select.h"
#include "variant.h"

enum { SP_MMA = 0, SP_WGMMA = 1, SP_DEVICE = -1 };
enum { P_METHOD, P_DENSITY, P_TAU, P_KEEP, P_TILE, P_PATH, P_SEED, P_MAX_REL_L1, P_MIN_COSINE };

static const attn_param_spec sparse_params[] = {
    {"method", ATTN_PARAM_ENUM, "topk", "window|bigbird|topk|mass|vprune", 0, 0,
     "tile selection (vprune: every tile, V's columns pruned)"},
    {"density", ATTN_PARAM_FLOAT, "0.5", NULL, 1e-4, 1,
     "window/bigbird/topk: kept fraction of each row's visible tiles"},
    {"tau", ATTN_PARAM_FLOAT, "0.9", NULL, 1e-4, 1, "mass: estimated softmax mass to keep"},
    {"keep", ATTN_PARAM_FLOAT, "0.5", NULL, 1e-4, 1, "vprune: fraction of V's columns kept"},
    {"tile", ATTN_PARAM_ENUM, NULL, "64|128", 0, 0, "query and key tile (default: from S)"},
    {"path", ATTN_PARAM_ENUM, NULL, "mma|wgmma", 0, 0,
     "kernel (default: wgmma on sm_90, else mma)"},
    {"seed", ATTN_PARAM_INT, "1", NULL, 0, 2147483647, "bigbird: seed of the random tiles"},
    {"max_rel_l1", ATTN_PARAM_FLOAT, NULL, NULL, 0, 1e9,
     "fail a point whose rel L1 vs exact exceeds it"},
    {"min_cosine", ATTN_PARAM_FLOAT, NULL, NULL, -1, 1,
     "fail a point whose cosine vs exact is below it"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

typedef struct sparse_config {
    attn_sparse_rule rule; /* method, density, tau, seed, tile (resolved from S when not given) */
    int tile_given;        /* 1: tile= */
    int path;              /* SP_MMA, SP_WGMMA, or SP_DEVICE */
    int dv;                /* V columns computed: D, or vprune's kept count */
    double max_rel_l1, min_cosine; /* NaN: no bound */
} sparse_config;

typedef struct sparse_plan {
    attn_plan head;
    int path, n_tiles, rows;
    /* The plan on the host (made there, or fetched from the GPU): CSR, order, vprune's columns. */
    int *row_ptr, *col_idx, *order, *v_cols;
    /* GPU backend: pieces of the workspace (sparse_layout). */
    int *d_row_ptr, *d_col_idx, *d_order, *d_v_cols, *d_where;
    void *d_select, *d_vscratch, *d_vc;
} sparse_plan;

/* The rule behind the operator choice (see the opening comment). */
static int sparse_default_tile(const attn_point *p)
{
    const long rows128 = (long)p->batch * p->heads * ((p->seq + 127) / 128);
    return p->seq <= 2048 || rows128 < 264 ? 64 : 128;
}

/* vprune's kept columns: the smallest compiled width holding ceil(keep·D), at most D. */
static int sparse_vprune_dv(double keep, int D)
{
    const int want = (int)ceil(keep * D - 1e-9);
    return want <= 32 ? 32 : want <= 64 ? 64 : D;
}

static const char *sparse_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    sparse_config *c = config;
    if (p->dtype == ATTN_FP32) return "fp32 inputs not supported (fp16/bf16 tensor-core kernel)";
    if (p->head_dim != 64 && p->head_dim != 128) return "head_dim must be 64 or 128";
    c->rule.method = (int)pv->v[P_METHOD].i;
    c->rule.density = pv->v[P_DENSITY].f;
    c->rule.tau = (float)pv->v[P_TAU].f;
    c->rule.seed = (unsigned long long)pv->v[P_SEED].i;
    c->tile_given = pv->v[P_TILE].set;
    c->rule.tile = c->tile_given ? (int)atoi(pv->v[P_TILE].s) : sparse_default_tile(p);
    c->path = pv->v[P_PATH].set ? (int)pv->v[P_PATH].i : SP_DEVICE;
    c->dv = c->rule.method == ATTN_SPARSE_VPRUNE ? sparse_vprune_dv(pv->v[P_KEEP].f, p->head_dim)
                                                 : p->head_dim;
    c->max_rel_l1 = pv->v[P_MAX_REL_L1].set ? pv->v[P_MAX_REL_L1].f : NAN;
    c->min_cosine = pv->v[P_MIN_COSINE].set ? pv->v[P_MIN_COSINE].f : NAN;
    if ((p->seq + c->rule.tile - 1) / c->rule.tile > ATTN_SPARSE_MAX_TILES)
        return "more than 2048 tiles per row (use tile=128 or a shorter sequence)";
    return NULL;
}

/* ---------------------------------------------------------------- device workspace */

static void *take(char *base, size_t *off, size_t bytes)
{
    void *at = base ? base + *off : NULL;
    *off += (bytes + 255) & ~(size_t)255;
    return at;
}

/* The workspace's pieces for point p (base NULL: only the size). */
static size_t sparse_layout(const attn_point *p, const sparse_config *c, char *base,
                            sparse_plan *pl)
{
    const size_t nt = (size_t)(p->seq + c->rule.tile - 1) / c->rule.tile;
    const size_t rows = (size_t)p->batch * p->heads * nt, kv = (size_t)p->batch * p->kv_heads;
    const size_t e = attn_dtype_size(p->dtype);
    size_t off = 0;
    pl->d_row_ptr = take(base, &off, (rows + 1) * sizeof(int));
    pl->d_col_idx = take(base, &off, rows * nt * sizeof(int));
    pl->d_order = take(base, &off, rows * sizeof(int));
    pl->d_select = take(base, &off,
                        attn_sparse_select_scratch(p->batch, p->heads, p->kv_heads, p->seq,
                                                   p->head_dim, c->rule.tile));
    if (c->rule.method != ATTN_SPARSE_VPRUNE) return off;
    pl->d_v_cols = take(base, &off, kv * c->dv * sizeof(int));
    pl->d_where = take(base, &off, kv * p->head_dim * sizeof(int));
    pl->d_vscratch =
        take(base, &off, attn_sparse_vprune_scratch(p->batch, p->kv_heads, p->seq, p->head_dim));
    if (c->dv < p->head_dim) pl->d_vc = take(base, &off, kv * p->seq * c->dv * e);
    return off;
}

static size_t sparse_workspace_bytes(const attn_point *p, const void *config)
{
    sparse_plan sizing;
    return sparse_layout(p, config, NULL, &sizing);
}

/* ---------------------------------------------------------------- plan */

static void sparse_release(attn_plan *plan)
{
    sparse_plan *pl = (sparse_plan *)plan;
    if (!pl) return;
    free(pl->row_ptr), free(pl->col_idx), free(pl->order), free(pl->v_cols);
    free(pl);
}

/* GPU backend: the path (given, or the best the device has) set up for (dtype, D, DV, tile). */
static int sparse_setup_device(const attn_point *p, const sparse_config *c, sparse_plan *pl)
{
    int dev, major;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) return attn_skip("sparse: needs sm_80 or newer (mma.sync bf16, cp.async)");
    const int dtype = (int)p->dtype, D = p->head_dim, tile = c->rule.tile;
    if (c->path != SP_MMA) {
        const int rc = attn_sparse_sm90_available()
                           ? attn_sparse_sm90_setup(dtype, D, c->dv, tile)
                           : attn_skip("sparse: path=wgmma needs an sm_90 device");
        pl->path = SP_WGMMA; /* run() launches what was set up: never the unset SP_DEVICE */
        if (rc == ATTN_OK || c->path == SP_WGMMA) return rc;
        if (rc != ATTN_SKIP) return rc;
    }
    pl->path = SP_MMA;
    return attn_sparse_mma_setup(dtype, D, c->dv, tile);
}

/* The kernels' arguments for plan pl on io: vprune with DV < D reads the compact V and writes O
 * through the kept columns' places. */
static attn_sparse_args sparse_args(const sparse_plan *pl, const attn_device_io *io,
                                    cudaStream_t stream)
{
    const attn_point *p = &pl->head.point;
    const sparse_config *c = pl->head.config;
    const int compact = c->dv < p->head_dim;
    const attn_sparse_args a = {.dtype = (int)p->dtype,
                                .B = p->batch,
                                .H = p->heads,
                                .Hkv = p->kv_heads,
                                .S = p->seq,
                                .D = p->head_dim,
                                .DV = c->dv,
                                .causal = p->causal,
                                .q = io->q,
                                .k = io->k,
                                .v = compact ? pl->d_vc : io->v,
                                .o = io->o,
                                .v_where = compact ? pl->d_where : NULL,
                                .tile = c->rule.tile,
                                .n_tiles = pl->n_tiles,
                                .row_ptr = pl->d_row_ptr,
                                .col_idx = pl->d_col_idx,
                                .order = pl->d_order,
                                .stream = stream};
    return a;
}

/* The tile selection on the device into the plan's CSR and order (vprune: every visible tile). */
static int sparse_select(const sparse_plan *pl, const attn_sparse_args *a)
{
    const sparse_config *c = pl->head.config;
    const int vprune = c->rule.method == ATTN_SPARSE_VPRUNE;
    const attn_sparse_select_args sel = {a,
                                         vprune ? ATTN_SPARSE_WINDOW : c->rule.method,
                                         vprune ? 1.0 : c->rule.density,
                                         c->rule.tau,
                                         c->rule.seed,
                                         pl->d_select,
                                         pl->d_row_ptr,
                                         pl->d_col_idx,
                                         pl->d_order};
    return attn_sparse_select_launch(&sel);
}

static int sparse_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    const attn_point *p = args->point;
    const sparse_config *c = args->config;
    sparse_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    pl->n_tiles = (p->seq + c->rule.tile - 1) / c->rule.tile;
    pl->rows = p->batch * p->heads * pl->n_tiles;
    pl->path = c->path == SP_DEVICE ? SP_WGMMA : c->path;
    const size_t kv = (size_t)p->batch * p->kv_heads;
    pl->row_ptr = malloc(((size_t)pl->rows + 1) * sizeof(int));
    pl->col_idx = malloc((size_t)pl->rows * pl->n_tiles * sizeof(int));
    pl->order = malloc((size_t)pl->rows * sizeof(int));
    pl->v_cols = malloc(kv * c->dv * sizeof(int));
    int rc = ATTN_OK;
    if (!pl->row_ptr || !pl->col_idx || !pl->order || !pl->v_cols) {
        rc = attn_fail("sparse: out of host memory for the plan");
        goto fail;
    }
    if (args->dev) {
        sparse_layout(p, c, args->dev->workspace, pl);
        ATTN_TRY_GOTO(sparse_setup_device(p, c, pl), rc, fail);
        /* vprune's tiles depend on the shape only: built here once, outside the timed region,
         * as the dense kernel's loop bounds are (the workspace keeps them for every run). */
        if (c->rule.method == ATTN_SPARSE_VPRUNE) {
            const attn_sparse_args a = sparse_args(pl, &args->dev->io, args->dev->stream);
            ATTN_TRY_GOTO(sparse_select(pl, &a), rc, fail);
        }
    } else {
        ATTN_TRY_GOTO(
            attn_sparse_select_host(p, &c->rule, args->host, pl->row_ptr, pl->col_idx, pl->order),
            rc, fail);
        if (c->rule.method == ATTN_SPARSE_VPRUNE)
            attn_sparse_vprune_host(p, args->host, c->dv, pl->v_cols);
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    sparse_release(&pl->head);
    return rc;
}

/* ---------------------------------------------------------------- GPU run */

static int sparse_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    sparse_plan *pl = (sparse_plan *)plan;
    const sparse_config *c = plan->config;
    attn_sparse_args a = sparse_args(pl, io, stream);
    a.after_select = c->rule.method != ATTN_SPARSE_VPRUNE;
    if (c->rule.method == ATTN_SPARSE_VPRUNE)
        ATTN_TRY(attn_sparse_vprune_columns(a.dtype, a.B, a.Hkv, a.S, a.D, a.DV, io->v,
                                            pl->d_vscratch, pl->d_v_cols, pl->d_where, pl->d_vc,
                                            stream));
    else
        ATTN_TRY(sparse_select(pl, &a));
    return pl->path == SP_WGMMA ? attn_sparse_sm90_launch(&a) : attn_sparse_mma_launch(&a);
}

/* The CSR, order and vprune's columns the checked run selected, into the host plan. */
static int sparse_fetch_plan(attn_plan *plan, cudaStream_t stream)
{
    sparse_plan *pl = (sparse_plan *)plan;
    const attn_point *p = &plan->point;
    const sparse_config *c = plan->config;
    const size_t n = (size_t)pl->rows;
    CUDA_CHECK(cudaMemcpyAsync(pl->row_ptr, pl->d_row_ptr, (n + 1) * sizeof(int),
                               cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(
        cudaMemcpyAsync(pl->order, pl->d_order, n * sizeof(int), cudaMemcpyDeviceToHost, stream));
    if (c->rule.method == ATTN_SPARSE_VPRUNE)
        CUDA_CHECK(cudaMemcpyAsync(pl->v_cols, pl->d_v_cols,
                                   (size_t)p->batch * p->kv_heads * c->dv * sizeof(int),
                                   cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (pl->row_ptr[n] < 0 || pl->row_ptr[n] > pl->rows * pl->n_tiles)
        return attn_fail("sparse: the device plan holds %d tiles", pl->row_ptr[n]);
    CUDA_CHECK(cudaMemcpyAsync(pl->col_idx, pl->d_col_idx, (size_t)pl->row_ptr[n] * sizeof(int),
                               cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    return ATTN_OK;
}

/* ---------------------------------------------------------------- what the plan says */

/* Kept and visible tiles over every row of the plan. */
static void sparse_tiles(const sparse_plan *pl, double *kept, double *visible)
{
    const int causal = pl->head.point.causal;
    *kept = pl->row_ptr[pl->rows];
    *visible = 0;
    for (int r = 0; r < pl->rows; r++)
        *visible += attn_sparse_visible(r % pl->n_tiles, pl->n_tiles, causal);
}

static int sparse_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                           size_t n_rows, float *out)
{
    const sparse_plan *pl = (const sparse_plan *)plan;
    const attn_point *p = &plan->point;
    const sparse_config *c = plan->config;
    const int S = p->seq, D = p->head_dim, T = c->rule.tile, group = p->heads / p->kv_heads;
    const int vprune = c->rule.method == ATTN_SPARSE_VPRUNE;
    float *sc = malloc((size_t)T * sizeof *sc), *acc = malloc((size_t)D * sizeof *acc);
    int rc = sc && acc ? ATTN_OK : attn_fail("sparse: out of host memory");
    for (size_t i = 0; i < n_rows && rc == ATTN_OK; i++) {
        const attn_row *w = &rows[i];
        const size_t kvh = (size_t)w->b * p->kv_heads + w->h / group;
        attn_cpu_online row = {in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D,
                               in->k + kvh * S * D,
                               in->v + kvh * S * D,
                               vprune ? pl->v_cols + kvh * c->dv : NULL,
                               c->dv,
                               -INFINITY,
                               0.f,
                               acc,
                               sc};
        const int r = (w->b * p->heads + w->h) * pl->n_tiles + w->s / T;
        const int n_keys = p->causal ? w->s + 1 : S;
        for (int d = 0; d < D; d++) acc[d] = 0.f;
        for (int j = pl->row_ptr[r]; j < pl->row_ptr[r + 1]; j++) {
            const int j0 = pl->col_idx[j] * T;
            if (j0 < n_keys) attn_cpu_online_tile(p, &row, j0, n_keys - j0 < T ? n_keys - j0 : T);
        }
        const float inv = row.l > 0.f ? 1.f / row.l : 0.f;
        float *o = out + i * D;
        for (int d = 0; d < D; d++) o[d] = vprune ? 0.f : acc[d] * inv;
        for (int d = 0; vprune && d < c->dv; d++) o[row.v_cols[d]] = acc[d] * inv;
    }
    free(sc), free(acc);
    return rc;
}

/* Executed: 2·tile²·(D + DV) FLOPs per kept tile (whole tiles, as the tensor cores run them), plus
 * the selection: topk/mass pool Q and K (one add per element) and score 2·D per (row, visible
 * tile); vprune squares V (2 per element). Bytes: Q, K, V read and O written once (K/V re-reads
 * hit L2), topk/mass read Q and K again; vprune reads V once more for the norms and, when it
 * prunes (DV < D), once more for the gather, which writes the compact V that attention reads in
 * V's place. Launches: the selection's 2 (+1: pooling) and attention; vprune (its tile
 * plan made in prepare): norms, kept columns, the gather when DV < D, attention. */
static void sparse_work(const attn_plan *plan, attn_work *w)
{
    const sparse_plan *pl = (const sparse_plan *)plan;
    const attn_point *p = &plan->point;
    const sparse_config *c = plan->config;
    const double T = c->rule.tile, D = p->head_dim, e = (double)attn_dtype_size(p->dtype);
    const double q = (double)attn_q_elems(p), kv = (double)attn_kv_elems(p);
    double kept, visible;
    sparse_tiles(pl, &kept, &visible);
    w->flops = kept * 2.0 * T * T * (D + c->dv);
    w->bytes = e * (2.0 * q + 2.0 * kv) + 4.0 * (2.0 * pl->rows + kept);
    w->launches = 3;
    if (c->rule.method == ATTN_SPARSE_TOPK || c->rule.method == ATTN_SPARSE_MASS) {
        w->flops += q + kv + 2.0 * D * visible;
        w->bytes += e * (q + kv);
        w->launches += 1;
    } else if (c->rule.method == ATTN_SPARSE_VPRUNE) {
        const int compact = c->dv < p->head_dim;
        w->flops += 2.0 * kv;
        w->bytes += e * kv * (compact ? 1.0 + 2.0 * c->dv / D : 1.0);
        w->launches = 3 + compact;
    }
}

static void sparse_describe(const attn_plan *plan, char *buf, size_t n)
{
    const sparse_plan *pl = (const sparse_plan *)plan;
    const sparse_config *c = plan->config;
    static const char *const methods[] = {"window", "bigbird", "topk", "mass", "vprune"};
    double kept, visible;
    sparse_tiles(pl, &kept, &visible);
    snprintf(
        buf, n,
        "method=%s density=%g tau=%g dv=%d seed=%llu tile=%d(%s) path=%s achieved_density=%.4f "
        "order=heaviest-first",
        methods[c->rule.method], c->rule.density, c->rule.tau, c->dv, c->rule.seed, c->rule.tile,
        c->tile_given        ? "given"
        : c->rule.tile == 64 ? "short-S rule"
                             : "long-S rule",
        pl->path == SP_WGMMA ? "wgmma" : "mma", visible > 0 ? kept / visible : 0);
}

static void sparse_check_policy(const attn_plan *plan, attn_check_policy *pol)
{
    const sparse_config *c = plan->config;
    pol->max_rel_l1 = c->max_rel_l1;
    pol->min_cosine = c->min_cosine;
}

/* Softmax mass of the kept keys of one row, exact, in double (scores over every visible key). */
static double mass_retained(const sparse_plan *pl, const attn_host_inputs *in, const attn_row *w,
                            double *score)
{
    const attn_point *p = &pl->head.point;
    const int S = p->seq, D = p->head_dim, T = ((const sparse_config *)pl->head.config)->rule.tile;
    const size_t kvh = (size_t)w->b * p->kv_heads + w->h / (p->heads / p->kv_heads);
    const float *q = in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D;
    const int n_keys = p->causal ? w->s + 1 : S,
              r = (w->b * p->heads + w->h) * pl->n_tiles + w->s / T;
    double mx = -INFINITY, all = 0, kept = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *k = in->k + (kvh * S + j) * D;
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)q[d] * k[d];
        score[j] = s;
        mx = fmax(mx, s);
    }
    const double scale = attn_scale(p);
    for (int j = 0; j < n_keys; j++) all += exp((score[j] - mx) * scale);
    for (int t = pl->row_ptr[r]; t < pl->row_ptr[r + 1]; t++)
        for (int j = pl->col_idx[t] * T; j < (pl->col_idx[t] + 1) * T && j < n_keys; j++)
            kept += exp((score[j] - mx) * scale);
    return kept / all;
}

static int sparse_quality(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, attn_quality *q)
{
    const sparse_plan *pl = (const sparse_plan *)plan;
    const sparse_config *c = plan->config;
    double *score = malloc((size_t)plan->point.seq * sizeof *score);
    if (!score) return attn_fail("sparse: out of host memory for the quality");
    double mass = 0, kept, visible;
    for (size_t i = 0; i < n_rows; i++) mass += mass_retained(pl, in, &rows[i], score);
    free(score);
    sparse_tiles(pl, &kept, &visible);
    q->n = 3;
    q->name[0] = "density", q->unit[0] = "", q->value[0] = visible > 0 ? kept / visible : 0;
    q->name[1] = "mass_retained", q->unit[1] = "", q->value[1] = n_rows ? mass / n_rows : NAN;
    q->name[2] = "v_columns_kept", q->unit[2] = "",
    q->value[2] = (double)c->dv / plan->point.head_dim;
    return ATTN_OK;
}

/* Not static: tests/test_sparse.c builds its masked-dense reference from a plan's tiles and
 * corrupts them to show the check rejects a wrong tile list. The plan's CSR (rows = B·H·n_tiles),
 * vprune's kept columns ([B·Hkv][dv], NULL for the other methods), dv and the tile; returns
 * n_tiles. */
int attn_sparse_plan_view(attn_plan *plan, int **row_ptr, int **col_idx, int **v_cols, int *dv,
                          int *tile)
{
    sparse_plan *pl = (sparse_plan *)plan;
    const sparse_config *c = plan->config;
    *row_ptr = pl->row_ptr, *col_idx = pl->col_idx;
    *v_cols = c->rule.method == ATTN_SPARSE_VPRUNE ? pl->v_cols : NULL;
    *dv = c->dv, *tile = c->rule.tile;
    return pl->n_tiles;
}

const attn_variant attn_variant_sparse = {
    .name = "sparse",
    .description =
        "block-sparse attention: kept key tiles per query tile (window, bigbird, topk, mass) or V columns pruned (vprune)",
    .exact = 0,
    .params = sparse_params,
    .config_size = sizeof(sparse_config),
    .configure = sparse_configure,
    .workspace_bytes = sparse_workspace_bytes,
    .prepare = sparse_prepare,
    .run = sparse_run,
    .fetch_plan = sparse_fetch_plan,
    .release = sparse_release,
    .cpu_rows = sparse_cpu_rows,
    .work = sparse_work,
    .describe = sparse_describe,
    .check_policy = sparse_check_policy,
    .quality = sparse_quality,
};
