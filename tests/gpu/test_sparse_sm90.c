/* test_sparse_sm90.c (GPU) — the Hopper block-sparse kernel (kernels/sparse_sm90.cu) against a host
 * fp64 reference of attention over the same kept key tiles (masked element-wise on tiles crossing
 * the diagonal or the end of S; rows without a visible key are 0), at the dtype's tolerance
 * (harness/check): random (with empty rows), banded and exact-count tile lists at densities 1.0,
 * 0.5, 0.1; S = 1, 127, 1000, 4096; causal and not; GQA; D = 64, 128; vprune's compact V (DV = 64
 * or 32 < D, O written D wide through a kept-column map, pruned columns 0); tile 128 and 64; fp16,
 * bf16; the natural and heaviest-first row orders; output poisoned with NaN first; a second launch
 * bitwise equal (the work queue resets itself). The checker is shown to reject a corrupted element
 * and the output of a different tile list.
 *   --small           a few small shapes only (for compute-sanitizer memcheck / racecheck)
 *   --bench S [TILE]  S a comma list; tile 128 unless given: time the dense fused_sm90 kernel and
 *                     the sparse kernel at densities 1.0, 0.5, 0.1 (bf16, B·H = 32, D = 128 and
 *                     64, causal and not): cudaEvents, L2 flushed before every launch, runs
 *                     alternated, medians.
 * Off an sm_90 device the tests are skipped (said so); without a GPU it fails with the reason. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/rng.h"
#include "fused_sm90.h"
#include "inputs.h"
#include "sparse.h"
#include "test.h"
#include "timer.h"

enum sp_pattern { PAT_RANDOM, PAT_BAND, PAT_COUNT };

typedef struct sp_case {
    attn_dtype dt;
    int B, H, Hkv, S, D, DV, tile, causal;
    double density;
    enum sp_pattern pat;
    int ordered; /* rows heaviest first (else order = NULL) */
} sp_case;

/* The kept tiles of every row (host), as attn_sparse_args wants them. */
typedef struct sp_plan {
    int n_tiles, rows;
    int *row_ptr, *col_idx, *order;
    long long kept, candidates; /* kept tiles; tiles a dense (causal) pass computes */
} sp_plan;

/* qsort of row indices: by section of cmp_sec_rows rows (heads whose K and V fit ~16 MB of L2, so
 * the blocks at work share them), then kept count, most first, then index; cmp_row_ptr: the plan's */
static const int *cmp_row_ptr;
static long long cmp_sec_rows;
static int by_count_desc(const void *a, const void *b)
{
    const int x = *(const int *)a, y = *(const int *)b;
    const long long sx = x / cmp_sec_rows, sy = y / cmp_sec_rows;
    const int nx = cmp_row_ptr[x + 1] - cmp_row_ptr[x], ny = cmp_row_ptr[y + 1] - cmp_row_ptr[y];
    return sx != sy ? (sx > sy) - (sx < sy) : nx != ny ? ny - nx : x - y;
}

static uint64_t coin(uint64_t seed, long long r, int c)
{
    return attn_mix64(seed ^ attn_mix64((uint64_t)r * 131071u + (uint64_t)c));
}

/* Whether tile c of row r (query tile m, tiles 0..last visible) is kept under a Bernoulli or
 * banded pattern; PAT_COUNT is drawn in plan_row_count. */
static int keep_tile(const sp_case *c, uint64_t seed, long long r, int m, int t, int last)
{
    if (c->density >= 1.0) return 1;
    if (c->pat == PAT_RANDOM)
        return r % 11 != 5 && (double)(coin(seed, r, t) >> 11) * 0x1.0p-53 < c->density;
    const int w = (int)(c->density * (last + 1)) > 1 ? (int)(c->density * (last + 1)) : 1;
    return t == 0 || (c->causal ? m - t < w : abs(m - t) <= w / 2);
}

/* PAT_COUNT: exactly max(1, round(density · (last + 1))) tiles of 0..last, causal keeping the
 * diagonal; written ascending into out, returns the count. scratch: 2·(last + 1) ints, the second
 * half zero (and left zero). */
static int plan_row_count(const sp_case *c, uint64_t seed, long long r, int last, int *out,
                          int *scratch)
{
    int *flag = scratch + last + 1;
    int k = (int)lround(c->density * (last + 1));
    k = k < 1 ? 1 : k > last + 1 ? last + 1 : k;
    for (int t = 0; t <= last; t++) scratch[t] = t;
    int n = 0;
    if (c->causal) { /* the diagonal first */
        scratch[last] = scratch[0], scratch[0] = last, n = 1;
    }
    for (; n < k; n++) {
        const int j = n + (int)(coin(seed, r, n) % (uint64_t)(last + 1 - n));
        const int tmp = scratch[n];
        scratch[n] = scratch[j], scratch[j] = tmp;
    }
    for (int i = 0; i < k; i++) flag[scratch[i]] = 1;
    int w = 0;
    for (int t = 0; t <= last; t++)
        if (flag[t]) out[w++] = t, flag[t] = 0;
    return w;
}

static void plan_free(sp_plan *pl)
{
    free(pl->row_ptr), free(pl->col_idx), free(pl->order);
    memset(pl, 0, sizeof *pl);
}

static int plan_build(sp_plan *pl, const sp_case *c, uint64_t seed)
{
    memset(pl, 0, sizeof *pl);
    pl->n_tiles = (c->S + c->tile - 1) / c->tile;
    pl->rows = c->B * c->H * pl->n_tiles;
    pl->row_ptr = malloc(sizeof(int) * (pl->rows + 1));
    pl->col_idx = malloc(sizeof(int) * (size_t)pl->rows * pl->n_tiles + sizeof(int));
    pl->order = malloc(sizeof(int) * pl->rows);
    int *scratch = calloc(2 * (size_t)pl->n_tiles, sizeof(int));
    if (!pl->row_ptr || !pl->col_idx || !pl->order || !scratch) {
        free(scratch), plan_free(pl);
        return -1;
    }
    long long w = 0;
    for (int r = 0; r < pl->rows; r++) {
        const int m = r % pl->n_tiles, last = c->causal ? m : pl->n_tiles - 1;
        pl->row_ptr[r] = (int)w;
        pl->candidates += last + 1;
        if (c->pat == PAT_COUNT && c->density < 1.0)
            w += plan_row_count(c, seed, r, last, pl->col_idx + w, scratch);
        else
            for (int t = 0; t <= last; t++)
                if (keep_tile(c, seed, r, m, t, last)) pl->col_idx[w++] = t;
        pl->order[r] = r;
    }
    pl->row_ptr[pl->rows] = (int)w;
    pl->kept = w;
    free(scratch);
    const long long kv_bytes = 2LL * c->S * (c->D + c->DV),
                    sec = (16LL << 20) / kv_bytes * (c->H / c->Hkv);
    cmp_row_ptr = pl->row_ptr;
    cmp_sec_rows = (sec > 1 ? sec : 1) * pl->n_tiles;
    qsort(pl->order, pl->rows, sizeof(int), by_count_desc);
    return 0;
}

/* Device copies of a plan and the tensors of a case (where: DV < D only). */
typedef struct sp_dev {
    int *row_ptr, *col_idx, *order, *where;
    void *q, *k, *v, *o;
} sp_dev;

static void dev_free(sp_dev *d)
{
    cudaFree(d->row_ptr), cudaFree(d->col_idx), cudaFree(d->order), cudaFree(d->where);
    cudaFree(d->q), cudaFree(d->k), cudaFree(d->v), cudaFree(d->o);
    memset(d, 0, sizeof *d);
}

static int dev_plan(sp_dev *d, const sp_plan *pl)
{
    return cudaMalloc((void **)&d->row_ptr, sizeof(int) * (pl->rows + 1)) != cudaSuccess ||
           cudaMalloc((void **)&d->col_idx, sizeof(int) * (pl->kept + 1)) != cudaSuccess ||
           cudaMalloc((void **)&d->order, sizeof(int) * pl->rows) != cudaSuccess ||
           cudaMemcpy(d->row_ptr, pl->row_ptr, sizeof(int) * (pl->rows + 1),
                      cudaMemcpyHostToDevice) != cudaSuccess ||
           cudaMemcpy(d->col_idx, pl->col_idx, sizeof(int) * pl->kept, cudaMemcpyHostToDevice) !=
               cudaSuccess ||
           cudaMemcpy(d->order, pl->order, sizeof(int) * pl->rows, cudaMemcpyHostToDevice) !=
               cudaSuccess;
}

static int sp_launch(const sp_case *c, const sp_plan *pl, const sp_dev *d)
{
    attn_sparse_args a = {.dtype = (int)c->dt,
                          .B = c->B,
                          .H = c->H,
                          .Hkv = c->Hkv,
                          .S = c->S,
                          .D = c->D,
                          .DV = c->DV,
                          .causal = c->causal,
                          .q = d->q,
                          .k = d->k,
                          .v = d->v,
                          .o = d->o,
                          .v_where = c->DV < c->D ? d->where : NULL,
                          .tile = c->tile,
                          .n_tiles = pl->n_tiles,
                          .row_ptr = d->row_ptr,
                          .col_idx = d->col_idx,
                          .order = c->ordered ? d->order : NULL,
                          .stream = 0};
    return attn_sparse_sm90_launch(&a);
}

/* Host tensors of a case (dtype bits) and their float copies; v has DV columns, o D. DV < D:
 * where [B·Hkv][D] maps O's columns to V's (vprune's map: DV columns of D kept, each KV head its
 * own, ascending), -1 for a pruned column. */
typedef struct sp_host {
    void *q, *k, *v, *o;
    float *qf, *kf, *vf;
    int *where;
    size_t nq, nk, nv;
} sp_host;

static void host_free(sp_host *h)
{
    free(h->q), free(h->k), free(h->v), free(h->o), free(h->qf), free(h->kf), free(h->vf);
    free(h->where);
    memset(h, 0, sizeof *h);
}

/* A kept-column map per KV head: DV of the D columns drawn by coin, numbered in column order. */
static int *make_where(const sp_case *c, uint64_t seed)
{
    int *where = malloc(sizeof(int) * (size_t)c->B * c->Hkv * c->D), perm[128];
    for (int hd = 0; where && hd < c->B * c->Hkv; hd++) {
        int *w = where + (size_t)hd * c->D;
        for (int d = 0; d < c->D; d++) perm[d] = d, w[d] = -1;
        for (int n = 0; n < c->DV; n++) { /* the first DV of a partial shuffle are kept */
            const int j = n + (int)(coin(seed ^ 0x5eed, hd, n) % (uint64_t)(c->D - n));
            const int t = perm[n];
            perm[n] = perm[j], perm[j] = t;
            w[perm[n]] = 0;
        }
        for (int d = 0, j = 0; d < c->D; d++)
            if (w[d] == 0) w[d] = j++;
    }
    return where;
}

static float *to_float(attn_dtype dt, const void *src, size_t n)
{
    float *f = malloc(sizeof(float) * n);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = attn_load(dt, src, i);
    return f;
}

static int host_inputs(sp_host *h, const sp_case *c, uint64_t seed, attn_init init)
{
    const size_t es = attn_dtype_size(c->dt);
    h->nq = (size_t)c->B * c->H * c->S * c->D;
    h->nk = (size_t)c->B * c->Hkv * c->S * c->D;
    h->nv = (size_t)c->B * c->Hkv * c->S * c->DV;
    h->q = malloc(h->nq * es), h->k = malloc(h->nk * es), h->v = malloc(h->nv * es);
    h->o = malloc((size_t)c->B * c->H * c->S * c->D * es);
    h->where = c->DV < c->D ? make_where(c, seed) : NULL;
    if (!h->q || !h->k || !h->v || !h->o || (c->DV < c->D && !h->where)) return -1;
    attn_fill_host(h->q, c->dt, h->nq, seed, ATTN_TENSOR_Q, init, c->D, c->S);
    attn_fill_host(h->k, c->dt, h->nk, seed, ATTN_TENSOR_K, init, c->D, c->S);
    attn_fill_host(h->v, c->dt, h->nv, seed, ATTN_TENSOR_V, init, c->DV, c->S);
    h->qf = to_float(c->dt, h->q, h->nq), h->kf = to_float(c->dt, h->k, h->nk),
    h->vf = to_float(c->dt, h->v, h->nv);
    return h->qf && h->kf && h->vf ? 0 : -1;
}

static int dev_tensors(sp_dev *d, const sp_case *c, const sp_host *h)
{
    const size_t es = attn_dtype_size(c->dt), no = (size_t)c->B * c->H * c->S * c->D * es;
    const size_t nw = h->where ? sizeof(int) * (size_t)c->B * c->Hkv * c->D : 0;
    if (nw && (cudaMalloc((void **)&d->where, nw) != cudaSuccess ||
               cudaMemcpy(d->where, h->where, nw, cudaMemcpyHostToDevice) != cudaSuccess))
        return 1;
    return cudaMalloc(&d->q, h->nq * es) != cudaSuccess ||
           cudaMalloc(&d->k, h->nk * es) != cudaSuccess ||
           cudaMalloc(&d->v, h->nv * es) != cudaSuccess || cudaMalloc(&d->o, no) != cudaSuccess ||
           cudaMemcpy(d->q, h->q, h->nq * es, cudaMemcpyHostToDevice) != cudaSuccess ||
           cudaMemcpy(d->k, h->k, h->nk * es, cudaMemcpyHostToDevice) != cudaSuccess ||
           cudaMemcpy(d->v, h->v, h->nv * es, cudaMemcpyHostToDevice) != cudaSuccess ||
           cudaMemset(d->o, 0xff, no) !=
               cudaSuccess; /* NaN in fp16 and bf16: unwritten rows show */
}

/* fp64 attention of query row i of head (b, h) over the kept tiles of its row of pl; out[D] (DV < D:
 * the DV columns of the product placed by where, 0 in the others). */
static void ref_row(const sp_case *c, const sp_plan *pl, const sp_host *hs, int b, int h, int i,
                    double *out, double *p)
{
    const int hk = h / (c->H / c->Hkv), m = i / c->tile, r = (b * c->H + h) * pl->n_tiles + m;
    const float *q = hs->qf + (((size_t)b * c->H + h) * c->S + i) * c->D;
    const float *kb = hs->kf + ((size_t)b * c->Hkv + hk) * c->S * c->D;
    const float *vb = hs->vf + ((size_t)b * c->Hkv + hk) * c->S * c->DV;
    const int *where = hs->where ? hs->where + ((size_t)b * c->Hkv + hk) * c->D : NULL;
    const double scale = 1.0 / sqrt((double)c->D);
    double mx = -INFINITY, l = 0, acc[128];
    int n = 0;
    for (int e = pl->row_ptr[r]; e < pl->row_ptr[r + 1]; e++)
        for (int j = pl->col_idx[e] * c->tile; j < (pl->col_idx[e] + 1) * c->tile && j < c->S;
             j++) {
            if (c->causal && j > i) break;
            double s = 0;
            for (int d = 0; d < c->D; d++) s += (double)q[d] * kb[(size_t)j * c->D + d];
            p[n++] = s * scale;
            mx = s * scale > mx ? s * scale : mx;
        }
    for (int d = 0; d < c->DV; d++) acc[d] = 0;
    n = 0;
    for (int e = pl->row_ptr[r]; e < pl->row_ptr[r + 1]; e++)
        for (int j = pl->col_idx[e] * c->tile; j < (pl->col_idx[e] + 1) * c->tile && j < c->S;
             j++) {
            if (c->causal && j > i) break;
            const double w = exp(p[n++] - mx);
            l += w;
            for (int d = 0; d < c->DV; d++) acc[d] += w * vb[(size_t)j * c->DV + d];
        }
    for (int d = 0; d < c->D; d++) {
        const int j = where ? where[d] : d;
        out[d] = j >= 0 && l > 0 ? acc[j] / l : 0;
    }
}

/* The rows compared: all of them up to 6000, else a stride through them (the last row of each
 * head included); out and ref gathered as n_rows × D. */
typedef struct sp_cmp {
    float *out;
    double *ref;
    size_t n_rows;
} sp_cmp;

static int compare_build(sp_cmp *k, const sp_case *c, const sp_plan *pl, const sp_host *hs)
{
    const long long total = (long long)c->B * c->H * c->S;
    const long long stride = total <= 6000 ? 1 : total / 1500 + 1;
    const size_t cap = (size_t)(total / stride + c->B * c->H + 1);
    k->out = malloc(sizeof(float) * cap * c->D), k->ref = malloc(sizeof(double) * cap * c->D);
    double *p = malloc(sizeof(double) * (c->S + 1));
    if (!k->out || !k->ref || !p) return free(p), -1;
    k->n_rows = 0;
    for (long long g = 0; g < total; g++) {
        const int i = (int)(g % c->S);
        if (g % stride && i != c->S - 1) continue;
        const int hb = (int)(g / c->S);
        ref_row(c, pl, hs, hb / c->H, hb % c->H, i, k->ref + k->n_rows * c->D, p);
        for (int d = 0; d < c->D; d++)
            k->out[k->n_rows * c->D + d] = attn_load(c->dt, hs->o, (size_t)g * c->D + d);
        k->n_rows++;
    }
    free(p);
    return 0;
}

static void case_name(const sp_case *c, char *buf, size_t n)
{
    static const char *pats[] = {"random", "band", "count"};
    snprintf(buf, n, "%s B%d H%d/%d S%d D%d DV%d tile%d causal%d dens%.2f %s%s",
             attn_dtype_name(c->dt), c->B, c->H, c->Hkv, c->S, c->D, c->DV, c->tile, c->causal,
             c->density, pats[c->pat], c->ordered ? " ordered" : "");
}

/* The checker rejects this output with one element corrupted, and against the reference of another
 * tile list (the last kept tile of every row with two or more dropped). */
static void rejects(const sp_case *c, const sp_plan *pl, const sp_host *hs, const sp_cmp *k,
                    const char *name)
{
    char what[600];
    attn_check_result res;
    const size_t n = k->n_rows * c->D, e = n / 2;
    double big = 0;
    for (size_t i = 0; i < n; i++) big = fabs(k->ref[i]) > big ? fabs(k->ref[i]) : big;
    const float keep = k->out[e];
    k->out[e] = (float)(k->ref[e] + 4 * big + 1);
    attn_check(k->out, k->ref, k->n_rows, c->D, attn_tolerance(c->dt), &res);
    k->out[e] = keep;
    snprintf(what, sizeof what, "%s: one corrupted element rejected", name);
    test_cond(what, !attn_check_passed(&res));

    sp_plan wrong = *pl;
    wrong.row_ptr = malloc(sizeof(int) * (pl->rows + 1));
    wrong.col_idx = malloc(sizeof(int) * (pl->kept + 1));
    int w = 0;
    for (int r = 0; r < pl->rows && wrong.row_ptr && wrong.col_idx; r++) {
        const int a = pl->row_ptr[r], b = pl->row_ptr[r + 1];
        wrong.row_ptr[r] = w;
        for (int i = a; i < b - (b - a >= 2); i++) wrong.col_idx[w++] = pl->col_idx[i];
    }
    sp_cmp other = {0};
    int ok = wrong.row_ptr && wrong.col_idx;
    if (ok) wrong.row_ptr[pl->rows] = w;
    ok = ok && w < pl->kept && compare_build(&other, c, &wrong, hs) == 0;
    if (ok) attn_check(k->out, other.ref, k->n_rows, c->D, attn_tolerance(c->dt), &res);
    snprintf(what, sizeof what, "%s: rejected against the reference of another tile list", name);
    test_cond(what, ok && !attn_check_passed(&res));
    free(other.out), free(other.ref), free(wrong.row_ptr), free(wrong.col_idx);
}

/* One case: launch twice (bitwise equal), compare with the fp64 reference at the tolerance;
 * when `negatives`, also show that a corrupted element and another tile list are rejected. */
static void run_case(const sp_case *c, uint64_t seed, int negatives)
{
    char name[200], what[600];
    case_name(c, name, sizeof name);
    sp_plan pl;
    sp_host hs = {0};
    sp_dev d = {0};
    sp_cmp k = {0};
    const size_t no = (size_t)c->B * c->H * c->S * c->D * attn_dtype_size(c->dt);
    void *first = malloc(no);
    int ok = first && plan_build(&pl, c, seed) == 0;
    ok =
        ok && host_inputs(&hs, c, seed, seed % 3 == 2 ? ATTN_INIT_OUTLIERS : ATTN_INIT_NORMAL) == 0;
    ok = ok && dev_plan(&d, &pl) == 0 && dev_tensors(&d, c, &hs) == 0;
    ok = ok && attn_sparse_sm90_setup((int)c->dt, c->D, c->DV, c->tile) == ATTN_OK;
    ok = ok && sp_launch(c, &pl, &d) == ATTN_OK &&
         cudaMemcpy(first, d.o, no, cudaMemcpyDeviceToHost) == cudaSuccess;
    ok = ok && sp_launch(c, &pl, &d) == ATTN_OK &&
         cudaMemcpy(hs.o, d.o, no, cudaMemcpyDeviceToHost) == cudaSuccess;
    snprintf(what, sizeof what, "%s: runs (%.200s)", name, ok ? "ok" : attn_last_error.msg);
    test_cond(what, ok);
    if (ok) {
        snprintf(what, sizeof what, "%s: second launch bitwise equal", name);
        test_cond(what, memcmp(first, hs.o, no) == 0);
        attn_check_result res;
        ok = compare_build(&k, c, &pl, &hs) == 0;
        if (ok) attn_check(k.out, k.ref, k.n_rows, c->D, attn_tolerance(c->dt), &res);
        printf("%-72s density %.3f rows %zu max_abs %.2e rel_l2 %.2e bad %zu\n", name,
               (double)pl.kept / (double)pl.candidates, k.n_rows, ok ? res.max_abs : -1,
               ok ? res.rel_l2 : -1, ok ? res.n_bad : 0);
        snprintf(what, sizeof what, "%s: within tolerance of the fp64 reference", name);
        test_cond(what, ok && attn_check_passed(&res));
        if (ok && negatives) rejects(c, &pl, &hs, &k, name);
    }
    free(k.out), free(k.ref), free(first);
    dev_free(&d), host_free(&hs), plan_free(&pl);
    cudaGetLastError();
}

/* The correctness cases: every (dtype, D, tile, causal) at S = 1, 127, 1000 (GQA), 4096, the
 * densities and patterns rotating; DV = 64 < D = 128; the checker's negatives on two cases. */
static void correctness(void)
{
    static const double dens[] = {1.0, 0.5, 0.1};
    static const int dims[][2] = {{128, 128}, {64, 64}};
    int n = 0;
    for (int dt = 0; dt < 2; dt++)
        for (int di = 0; di < 2; di++)
            for (int tile = 128; tile >= 64; tile -= 64)
                for (int causal = 0; causal < 2; causal++, n++) {
                    const attn_dtype t = dt ? ATTN_FP16 : ATTN_BF16;
                    const int D = dims[di][0], DV = dims[di][1];
                    sp_case c1 = {t, 1, 3, 1, 1, D, DV, tile, causal, 1.0, PAT_RANDOM, 0};
                    sp_case c2 = {t, 1, 4, 2, 127, D, DV, tile, causal, 0.5, PAT_RANDOM, 1};
                    sp_case c3 = {t,
                                  2,
                                  4,
                                  2,
                                  1000,
                                  D,
                                  DV,
                                  tile,
                                  causal,
                                  dens[n % 3],
                                  (enum sp_pattern)(n % 3),
                                  n & 1};
                    sp_case c4 = {t,
                                  1,
                                  2,
                                  1,
                                  4096,
                                  D,
                                  DV,
                                  tile,
                                  causal,
                                  dens[(n + 1) % 3],
                                  (enum sp_pattern)((n + 2) % 3),
                                  1};
                    run_case(&c1, 11 + n, 0);
                    run_case(&c2, 12 + n, 0);
                    run_case(&c3, 13 + n, n < 2 || n == 9);
                    run_case(&c4, 14 + n, 0);
                }
    /* vprune: V with DV < D columns, O D wide through the kept-column map; every compiled DV, each
     * at S = 1000 and 127 with the two tiles, GQA; the negatives on a DV = 32 case */
    static const int vdims[][2] = {{128, 64}, {128, 32}, {64, 32}};
    for (int vi = 0, m = 0; vi < 3; vi++)
        for (int dt = 0; dt < 2; dt++)
            for (int causal = 0; causal < 2; causal++, m++) {
                const attn_dtype t = dt ? ATTN_FP16 : ATTN_BF16;
                const int D = vdims[vi][0], DV = vdims[vi][1], tile = dt ? 64 : 128;
                sp_case a = {t, 1, 4, 2, 1000, D, DV, tile, causal, 0.5, PAT_COUNT, 1};
                sp_case b = {t, 2, 2, 1, 127, D, DV, 192 - tile, causal, 1.0, PAT_RANDOM, 0};
                run_case(&a, 77 + m, m == 4);
                run_case(&b, 101 + m, 0);
            }
    char what[200];
    snprintf(what, sizeof what, "DV = 96 skipped with the reason (%d)",
             attn_sparse_sm90_setup(ATTN_BF16, 128, 96, 128));
    test_cond(what, attn_sparse_sm90_setup(ATTN_BF16, 128, 96, 128) == ATTN_SKIP &&
                        strstr(attn_last_error.msg, "DV=96"));
    test_cond("tile 32 skipped", attn_sparse_sm90_setup(ATTN_BF16, 128, 128, 32) == ATTN_SKIP);
}

/* Small shapes for compute-sanitizer: every (D, tile, causal) at S = 1 and 257, bf16; each
 * compiled DV < D at S = 257. */
static void small(void)
{
    int n = 0;
    for (int D = 128; D >= 64; D -= 64)
        for (int tile = 128; tile >= 64; tile -= 64)
            for (int causal = 0; causal < 2; causal++, n++) {
                sp_case a = {ATTN_BF16, 1, 2, 1, 1, D, D, tile, causal, 1.0, PAT_RANDOM, 0};
                sp_case b = {ATTN_BF16, 1, 2, 1, 257, D, D, tile, causal, 0.5, PAT_RANDOM, n & 1};
                run_case(&a, 5 + n, 0);
                run_case(&b, 6 + n, 0);
            }
    static const int vdims[][2] = {{128, 64}, {128, 32}, {64, 32}}; /* vprune's compact V */
    for (int vi = 0; vi < 3; vi++, n++) {
        const int D = vdims[vi][0], DV = vdims[vi][1], tile = vi == 1 ? 64 : 128;
        sp_case v = {ATTN_BF16, 1, 2, 1, 257, D, DV, tile, vi == 2, 0.5, PAT_COUNT, 1};
        run_case(&v, 6 + n, 0);
    }
}

/* ---- benchmark ---- */

typedef struct bench_set {
    cudaEvent_t ev[2];
    void *flush;
    size_t flush_bytes;
} bench_set;

/* ms of one launch of kernel k (0 dense, 1.. sparse plans), L2 flushed before. */
static float time_one(bench_set *bs, const sp_case *c, sp_plan *pl, sp_dev *d, int k, int nwg)
{
    float ms = -1;
    if (attn_l2_flush(bs->flush, bs->flush_bytes, 0) != ATTN_OK) return -1;
    cudaEventRecord(bs->ev[0], 0);
    int rc = k == 0 ? attn_fused_sm90_launch((int)c->dt, c->D, nwg, c->B, c->H, c->Hkv, c->S,
                                             c->causal, d[0].q, d[0].k, d[0].v, d[0].o, NULL, 0)
                    : sp_launch(c, &pl[k - 1], &d[k - 1]);
    cudaEventRecord(bs->ev[1], 0);
    if (rc != ATTN_OK || cudaEventSynchronize(bs->ev[1]) != cudaSuccess) return -1;
    cudaEventElapsedTime(&ms, bs->ev[0], bs->ev[1]);
    return ms;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

#define BENCH_DENS 3
/* dense and the three densities of one shape, alternated for `rounds`; medians into med[0..3] */
static int bench_shape(bench_set *bs, sp_case *c, double *achieved, float *med)
{
    static const double dens[BENCH_DENS] = {1.0, 0.5, 0.1};
    sp_plan pl[BENCH_DENS];
    sp_dev d[BENCH_DENS] = {{0}};
    const size_t nq = (size_t)c->B * c->H * c->S * c->D, es = 2;
    int ok = 1;
    for (int i = 0; i < BENCH_DENS; i++) {
        c->density = dens[i];
        ok = ok && plan_build(&pl[i], c, 1234 + i) == 0 && dev_plan(&d[i], &pl[i]) == 0;
        achieved[i] = ok ? (double)pl[i].kept / (double)pl[i].candidates : 0;
        if (ok && i) d[i].q = d[0].q, d[i].k = d[0].k, d[i].v = d[0].v, d[i].o = d[0].o;
        if (ok && !i)
            ok = cudaMalloc(&d[0].q, nq * es) == cudaSuccess &&
                 cudaMalloc(&d[0].k, nq * es) == cudaSuccess &&
                 cudaMalloc(&d[0].v, nq * es) == cudaSuccess &&
                 cudaMalloc(&d[0].o, nq * es) == cudaSuccess &&
                 attn_fill_device(d[0].q, c->dt, nq, 7, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, c->D, c->S, 0) ==
                     ATTN_OK &&
                 attn_fill_device(d[0].k, c->dt, nq, 7, ATTN_TENSOR_K, ATTN_INIT_NORMAL, c->D, c->S, 0) ==
                     ATTN_OK &&
                 attn_fill_device(d[0].v, c->dt, nq, 7, ATTN_TENSOR_V, ATTN_INIT_NORMAL, c->D, c->S, 0) ==
                     ATTN_OK;
    }
    const int nwg = attn_fused_sm90_default_nwg(c->D, c->S, c->causal);
    ok = ok && attn_fused_sm90_setup((int)c->dt, c->D, nwg) == ATTN_OK &&
         attn_sparse_sm90_setup((int)c->dt, c->D, c->DV, c->tile) == ATTN_OK;
    const int rounds = c->S <= 8192 ? 15 : c->S <= 32768 ? 7 : 5;
    float t[1 + BENCH_DENS][15];
    for (int k = 0; ok && k <= BENCH_DENS; k++)
        ok = time_one(bs, c, pl, d, k, nwg) >= 0; /* warm-up */
    for (int r = 0; ok && r < rounds; r++)
        for (int k = 0; ok && k <= BENCH_DENS; k++)
            ok = (t[k][r] = time_one(bs, c, pl, d, k, nwg)) >= 0;
    for (int k = 0; ok && k <= BENCH_DENS; k++) {
        qsort(t[k], rounds, sizeof(float), cmp_float);
        med[k] = t[k][rounds / 2];
    }
    for (int i = BENCH_DENS - 1; i >= 0; i--) {
        if (i) d[i].q = d[i].k = d[i].v = d[i].o = NULL;
        dev_free(&d[i]), plan_free(&pl[i]);
    }
    if (!ok)
        printf("bench S=%d D=%d causal=%d failed: %s\n", c->S, c->D, c->causal,
               attn_last_error.msg);
    return ok ? 0 : -1;
}

static int bench(const char *list, int tile)
{
    bench_set bs = {.flush_bytes = 256u << 20};
    if (cudaEventCreate(&bs.ev[0]) != cudaSuccess || cudaEventCreate(&bs.ev[1]) != cudaSuccess ||
        cudaMalloc(&bs.flush, bs.flush_bytes) != cudaSuccess)
        return 1;
    printf("%6s %4s %3s %7s %8s %9s %9s %8s %6s %8s\n", "S", "D", "cau", "density", "achieved",
           "dense_ms", "sparse_ms", "speedup", "eta", "TFLOP/s");
    int rc = 0;
    for (const char *p = list; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
        for (int D = 128; D >= 64; D -= 64) {
            double eta[2][BENCH_DENS] = {{0}};
            for (int causal = 0; causal < 2; causal++) {
                sp_case c = {ATTN_BF16, 1, 32, 32, atoi(p), D, D, tile, causal, 1.0, PAT_COUNT, 1};
                double ach[BENCH_DENS];
                float med[1 + BENCH_DENS];
                if (bench_shape(&bs, &c, ach, med)) {
                    rc = 1;
                    continue;
                }
                for (int i = 0; i < BENCH_DENS; i++) {
                    const double flops = 4.0 * c.D * (double)c.tile * c.tile * ach[i] * c.B * c.H *
                                         ((double)(c.S + c.tile - 1) / c.tile) *
                                         (causal ? ((c.S + c.tile - 1) / c.tile + 1) / 2.0
                                                 : (c.S + c.tile - 1) / c.tile);
                    eta[causal][i] = med[0] / med[1 + i] * ach[i];
                    printf("%6d %4d %3d %7.2f %8.3f %9.3f %9.3f %8.2f %6.3f %8.1f\n", c.S, D,
                           causal,
                           i == 0   ? 1.0
                           : i == 1 ? 0.5
                                    : 0.1,
                           ach[i], med[0], med[1 + i], med[0] / med[1 + i], eta[causal][i],
                           flops / (med[1 + i] * 1e9));
                }
            }
            for (int i = 0; i < BENCH_DENS; i++)
                printf("  S=%s D=%d density %d: causal eta / non-causal eta = %.3f\n", p, D, i,
                       eta[1][i] / eta[0][i]);
        }
    cudaFree(bs.flush);
    return rc;
}

int main(int argc, char **argv)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("no GPU: the GPU tests need one\n");
        test_report();
        return 1;
    }
    if (!attn_sparse_sm90_available()) {
        printf("not an sm_90 device: the Hopper sparse kernel's tests are skipped\n");
        test_cond("setup skips off sm_90",
                  attn_sparse_sm90_setup(ATTN_BF16, 128, 128, 128) == ATTN_SKIP);
        return test_report();
    }
    if (argc > 2 && strcmp(argv[1], "--bench") == 0)
        return bench(argv[2], argc > 3 ? atoi(argv[3]) : 128);
    if (argc > 1 && strcmp(argv[1], "--small") == 0) small();
    else
        correctness();
    return test_report();
}
