/* lowrank.c — variant `lowrank`: low-rank attention by Linformer projections (kernels/lowrank.cu,
 * cuBLAS, and the flash kernel of kernels/fused.cu).
 *
 * Algorithm (method=linformer, the default): project keys and values along the sequence to k rows,
 *   K′ = E·K,  V′ = F·V        E, F ∈ ℝ^{k×S}, per (batch, KV head): K′, V′ ∈ ℝ^{k×D}
 *   O  = softmax(Q·K′ᵀ/√D)·V′  every query attends to the k projected keys (no causal form).
 * E and F are shared by every batch entry and head (one pair per point, as Linformer's
 * "layerwise sharing"). By default they are seeded random Gaussian matrices scaled by 1/√k: element
 * i of the row-major [k][S] matrix is round_dtype(attn_rng_value(seed, 3 for E / 4 for F, i)·(1/√k)),
 * generated on the device in prepare (kernels/lowrank.cu) and regenerated bit for bit on the host by
 * cpu_rows; `seed` (default 1) is a parameter of the point, independent of the run's input seed.
 * With proj=PATH they are read from a NumPy file instead (see below).
 *
 * GPU (run, every step enqueued on the stream, nothing materialised of size S×k or S×S):
 *   1. K′ = E·K  one cublasGemmStridedBatchedEx over the B·H_kv (batch, KV head) slices, E shared
 *      (stride 0), fp32 accumulation on tensor cores (fp16/bf16), K′ written in the dtype;
 *   2. V′ = F·V  the same, after 1 (streams=2 runs it concurrently on a side stream with its own
 *      cuBLAS handle and workspace, forked from and joined back into the caller's stream by events:
 *      measured 0–7 % slower at S ≥ 16384 on H200 — one GEMM already fills the GPU — so off);
 *   3. attention of the S queries over the k projected keys: the flash kernel of kernels/fused.cu
 *      (attn_fused_launch_kv, seq_k = k; online softmax over key tiles of BN, P rounded to the dtype
 *      before P·V) for fp16/bf16 and head_dim 64 or 128 — or, where it cannot run (fp32, other head
 *      dims) or with attn=cublas, the cuBLAS path of variants/cublas.c on an [B·H·S][k] score
 *      buffer: scores GEMM (rounded to the dtype), kernels/cublas.cu's in-place softmax (P rounded),
 *      P·V′ GEMM.
 * Column-major views (cuBLAS): K_h is a column-major D×S matrix (ld D), E a column-major S×k matrix
 * (ld S), so K′ᵀ (D×k, ld D) = K_hᵀ·Eᵀ is gemm(N, N, m=D, n=k, k=S).
 *
 * Parameters: k (default 128; 1..65536; k > S is allowed — K′ then has rank ≤ S, the formula still
 * holds), method (linformer; nystrom is NOT implemented: supports() says so), attn (fused|cublas;
 * default fused where it can run), tile (fused path: BMxBN of kernels/fused.cu's table, default
 * 64x64: two blocks per SM, one key tile at k = 64), streams (1, default, or 2: step 2), seed
 * (projections' seed, default 1), proj=PATH: a
 * little-endian float32 or float16 .npy, C order, of shape [2][k][S] (E then F) or [k][S] (E = F),
 * S equal to the point's seq; k is taken from the file (a k parameter must then agree). Its values
 * are rounded to the point's dtype as the GPU stores them.
 *
 * CPU implementation (cpu_rows): the same computation in float with the same rounding points —
 * E, F as above; K′, V′ accumulated (in double, then rounded to the dtype as the GEMM's store does);
 * then per query row the CPU implementation of the attention path itself: the fused variant's own
 * cpu_rows (blockwise online softmax over key tiles of the GPU's BN, P rounded to the dtype) called
 * on a one-row problem with seq = k, or attn_cpu_attention_rows with the scores and probabilities
 * rounded (the cuBLAS path).
 *
 * Limits: non-causal only (a sequence projection mixes future keys into every K′ row); no Nyström.
 * Work: projections 2·2·B·H_kv·k·S·D FLOPs + attention 4·B·H·S·k·D.
 *
 * proj=mean: deterministic segment means, E = F, row i averaging segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋)
 * with weight round_dtype(1/len_i) (Linformer's pooling form; the attention stays a convex
 * combination of values); k ≤ S; computed by a pooling kernel (kernels/lowrank.cu), no GEMM.
 * path=mma|wgmma: the fused attention's kernel; default wgmma (kernels/fused_sm90.cu, key tile
 * 128) on sm_90 for k ≥ 128, mma.sync (tile 64x64) otherwise — cpu_rows walks the key tiles of the
 * path that runs.
 *
 * How it fared (H200, B=1 H=16 D=128 bf16, median ms, cold L2; fused = the run's wgmma flash kernel
 * 0.0188 / 0.2265 / 3.434 / 57.79 ms):
 *   S        k=64 gauss*  k=64 mean*  k=256 gauss  k=256 mean   speedup k=256 gauss (ideal S/2k)
 *   1024     0.0219       0.0159      0.0259       0.0310       0.7  (2)
 *   4096     0.0577       0.0381      0.0540       0.0547       4.2  (8)
 *   16384    0.1468       0.1198      0.1824       0.1489       18.8 (32)
 *   65536    0.4816       0.4226      0.7250       0.5210       79.7 (128)
 * (* measured with the wgmma attention, and for gauss with a projection kernel since removed; the
 * defaults now take mma at k = 64 and cuBLAS: 0.1355 ms at S=16384 with cuBLAS + wgmma; pieces in
 * kernels/NOTES-lowrank.md.)
 * k=256 meets ≥ 50 % of S/2k at S ≥ 16384 and ≥ 25 % at 4096; k=64 cannot: 50 % of S/2k is
 * 0.054 ms at S=16384 and 0.226 ms at 65536, at or below the DRAM floor of reading Q, K, V and
 * writing O (268 MB / 1074 MB: 0.056 / 0.224 ms at 4.8 TB/s). Checks against cpu_rows (bf16 rel
 * L2): ≤ 2.6e-3 (gaussian), ≤ 1.3e-4 (mean). */
#include <cublas_v2.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_attention.h"
#include "rng.h"
#include "variant.h"

/* kernels/lowrank.cu */
int attn_lowrank_fill_proj(attn_dtype t, void *dst, size_t n, uint64_t seed, int tensor,
                           float scale, cudaStream_t stream);
int attn_lowrank_pool(attn_dtype t, int D, int S, int k, int slices, const void *kk, const void *vv,
                      void *kp, void *vp, cudaStream_t stream);
/* kernels/cublas.cu */
int attn_cublas_softmax(attn_dtype t, void *scores, long long rows, int S, int causal, float scale,
                        cudaStream_t stream);
/* kernels/fused.cu */
int attn_fused_config_get(int idx, int *bn, int *warps, int *minb, int *qreg);
int attn_fused_config_find(int bm, int bn);
int attn_fused_setup(int dtype, int D, int idx);
int attn_fused_launch_kv(int dtype, int D, int idx, int B, int H, int Hkv, int S, int Sk,
                         int causal, const void *q, const void *k, const void *v, void *o,
                         float *lse, cudaStream_t stream);
/* kernels/fused_sm90.cu */
int attn_fused_sm90_available(void);
int attn_fused_sm90_default_nwg(int D, int S, int causal);
int attn_fused_sm90_setup(int dtype, int D, int nwg);
int attn_fused_sm90_launch_kv(int dtype, int D, int nwg, int B, int H, int Hkv, int S, int Sk,
                              int causal, const void *q, const void *k, const void *v, void *o,
                              float *lse, cudaStream_t stream);
/* variants/fused.c: its CPU implementation is reused for the fused attention path. */
extern const attn_variant attn_variant_fused;

#define LR_TENSOR_E 3 /* generator tensor ids of the projections (Q, K, V are 0, 1, 2) */
#define LR_TENSOR_F 4
#define LR_DEFAULT_K 128
#define LR_MAX_K 65536
#define LR_DEFAULT_SEED 1
#define LR_DEFAULT_BM 64
#define LR_DEFAULT_BN 64
#define LR_WGMMA_MIN_K 128 /* default attention path: wgmma on sm_90 from this k, mma below
                              (H200, dev/lowrank: at k = 64 the mma 64x64 kernel is 10-16 % faster) */

enum { LR_PROJ_GAUSSIAN = 0, LR_PROJ_MEAN = 1, LR_PROJ_FILE = 2 };
enum { LR_PATH_MMA = 0, LR_PATH_WGMMA = 1 };
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
#define ALIGN 256

/* A point's parsed parameters. */
typedef struct lr_cfg {
    int k;
    int fused;       /* 1: attention by the fused kernel; 0: by cuBLAS + softmax */
    int path;        /* fused attention: LR_PATH_WGMMA (kernels/fused_sm90.cu) or LR_PATH_MMA */
    int bm, bn;      /* fused tile (mma path; the wgmma path's is 64·nwg x 128) */
    int nwg;         /* wgmma path: consumer warpgroups */
    int kind;        /* LR_PROJ_GAUSSIAN, LR_PROJ_MEAN or LR_PROJ_FILE */
    uint64_t seed;
    int streams;     /* 2: the K and V projections run concurrently (fork/join on a side stream) */
    int have_proj;   /* proj=PATH given (kind == LR_PROJ_FILE) */
    int proj_pairs;  /* the file holds [2][k][S] (1) or [k][S] (0) */
    int proj_fp16;   /* '<f2' (1) or '<f4' (0) */
    long proj_data;  /* byte offset of the data in the file */
    char proj[ATTN_PARAMS_MAX];
} lr_cfg;

/* ---------------------------------------------------------------- .npy projections */

/* Reads the header of a .npy file: little-endian float32/float16, C order, 2 or 3 dimensions.
 * Returns 0 with the fields of *c set, or -1. */
static int npy_header(const char *path, lr_cfg *c, long shape[3], int *ndim)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char pre[12];
    int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0;
    long hlen = 0, off = 10;
    if (ok && pre[6] == 1) {
        hlen = pre[8] | (long)pre[9] << 8;
    } else if (ok && (pre[6] == 2 || pre[6] == 3)) {
        ok = fread(pre + 10, 1, 2, f) == 2;
        hlen = pre[8] | (long)pre[9] << 8 | (long)pre[10] << 16 | (long)pre[11] << 24;
        off = 12;
    } else {
        ok = 0;
    }
    char *h = ok && hlen > 0 && hlen < 65536 ? malloc((size_t)hlen + 1) : NULL;
    ok = h && fread(h, 1, (size_t)hlen, f) == (size_t)hlen;
    fclose(f);
    if (!ok) {
        free(h);
        return -1;
    }
    h[hlen] = 0;
    const char *d = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"), *s = strstr(h, "'shape'");
    if (d) d = strchr(d + 7, '\'');
    if (!d || !fo || !s || strncmp(fo + 15, ": False", 7) != 0) ok = 0;
    if (ok && strncmp(d, "'<f4'", 5) == 0) c->proj_fp16 = 0;
    else if (ok && strncmp(d, "'<f2'", 5) == 0) c->proj_fp16 = 1;
    else ok = 0;
    *ndim = 0;
    if (ok && (s = strchr(s, '('))) {
        s++;
        while (*ndim < 3) {
            char *end;
            errno = 0;
            long v = strtol(s, &end, 10);
            if (end == s || errno || v <= 0) break;
            shape[(*ndim)++] = v;
            s = end;
            while (*s == ' ' || *s == ',') s++;
        }
        if (*s != ')') ok = 0;
    } else {
        ok = 0;
    }
    free(h);
    c->proj_data = off + hlen;
    return ok ? 0 : -1;
}

/* Parses p's parameters into *c (and the proj file's header). NULL, or the reason the point
 * cannot run. Shape-only: touches no device. */
static const char *lr_config(const attn_point *p, lr_cfg *c)
{
    char v[ATTN_PARAMS_MAX];
    memset(c, 0, sizeof *c);
    if (attn_param(p, "method", v, sizeof v) && strcmp(v, "linformer") != 0)
        return strcmp(v, "nystrom") == 0 ? "method=nystrom not implemented"
                                         : "method must be linformer (nystrom is not implemented)";
    if (p->causal) return "causal masking not supported by Linformer (the projection mixes all positions)";
    int have_k = attn_param(p, "k", v, sizeof v);
    c->k = LR_DEFAULT_K;
    if (have_k) {
        char *end;
        errno = 0;
        long k = strtol(v, &end, 10);
        if (end == v || *end || errno || k < 1 || k > LR_MAX_K) return "k must be an integer from 1 to 65536";
        c->k = (int)k;
    }
    c->streams = 1;
    if (attn_param(p, "streams", v, sizeof v)) {
        if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0) return "streams must be 1 or 2";
        c->streams = v[0] - '0';
    }
    c->seed = LR_DEFAULT_SEED;
    if (attn_param(p, "seed", v, sizeof v)) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 0);
        if (end == v || *end || errno || v[0] == '-') return "seed must be a non-negative integer";
        c->seed = s;
    }
    c->kind = LR_PROJ_GAUSSIAN;
    if (attn_param(p, "proj", c->proj, sizeof c->proj) && strcmp(c->proj, "gaussian") == 0) {
        c->kind = LR_PROJ_GAUSSIAN;
    } else if (strcmp(c->proj, "mean") == 0) {
        c->kind = LR_PROJ_MEAN;
        if (c->k > p->seq) return "proj=mean needs k <= seq (k nonempty segments of S)";
    } else if (c->proj[0]) {
        long shape[3];
        c->kind = LR_PROJ_FILE;
        int ndim;
        c->have_proj = 1;
        if (npy_header(c->proj, c, shape, &ndim) != 0 || ndim < 2)
            return "proj: cannot read the .npy file (float32 or float16, C order, shape [2,k,S] or [k,S])";
        if (!(ndim == 2 || (ndim == 3 && shape[0] == 2)))
            return "proj: the .npy shape must be [2,k,S] (E then F) or [k,S] (E = F)";
        c->proj_pairs = ndim == 3;
        const long k = shape[ndim - 2], S = shape[ndim - 1];
        if (S != p->seq) return "proj: the .npy file's S (last dimension) differs from the point's seq";
        if (k > LR_MAX_K) return "k must be an integer from 1 to 65536";
        if (have_k && k != c->k) return "proj: the k parameter differs from the .npy file's k";
        c->k = (int)k;
    }
    const int fused_ok = p->dtype != ATTN_FP32 && (p->head_dim == 64 || p->head_dim == 128);
    c->fused = fused_ok;
    if (attn_param(p, "attn", v, sizeof v)) {
        if (strcmp(v, "cublas") == 0) c->fused = 0;
        else if (strcmp(v, "fused") != 0) return "attn must be fused or cublas";
        else if (!fused_ok) return "attn=fused needs fp16/bf16 and head_dim 64 or 128";
    }
    /* The fused attention's path, resolved as variants/fused.c resolves it: path= if given; else
     * tile= (an mma.sync tile) → mma; else wgmma where the current device is sm_90, mma elsewhere
     * (also where no device answers, e.g. the CPU tests). */
    int path = -1, have_tile = attn_param(p, "tile", v, sizeof v);
    c->bm = LR_DEFAULT_BM, c->bn = LR_DEFAULT_BN;
    if (have_tile) {
        if (sscanf(v, "%dx%d", &c->bm, &c->bn) != 2 || attn_fused_config_find(c->bm, c->bn) < 0)
            return "tile must be one of 128x128, 64x64, 128x64";
        if (!c->fused) return "tile applies to attn=fused only";
    }
    if (attn_param(p, "path", v, sizeof v)) {
        if (strcmp(v, "mma") == 0) path = LR_PATH_MMA;
        else if (strcmp(v, "wgmma") == 0) path = LR_PATH_WGMMA;
        else return "path must be mma or wgmma";
        if (!c->fused) return "path applies to attn=fused only";
        if (path == LR_PATH_WGMMA && have_tile) return "tile applies to path=mma only (wgmma: 64·nwg x 128)";
    }
    if (path < 0)
        path = have_tile || !c->fused || c->k < LR_WGMMA_MIN_K || !attn_fused_sm90_available()
                   ? LR_PATH_MMA : LR_PATH_WGMMA;
    c->path = path;
    c->nwg = attn_fused_sm90_default_nwg(p->head_dim, p->seq, 0);
    if (c->fused && path == LR_PATH_WGMMA) c->bm = 64 * c->nwg, c->bn = 128;
    /* Projections: cuBLAS GEMMs; proj=mean uses none (segment-mean kernel). */
    if (c->streams == 2 && c->kind == LR_PROJ_MEAN)
        return "streams=2 applies to gaussian and file projections (proj=mean pools)";
    return NULL;
}

/* E and F as floats exactly representable in the dtype ([k][S] each; *F may equal *E when the file
 * holds one matrix). ATTN_OK or ATTN_ERR. */
static int lr_host_proj(const attn_point *p, const lr_cfg *c, float **E, float **F)
{
    const size_t n = (size_t)c->k * p->seq;
    *E = *F = NULL;
    if (!c->have_proj) {
        float *e = malloc(2 * n * sizeof *e), *f = e ? e + n : NULL;
        if (!e) return attn_fail("lowrank: out of host memory for the projections");
        const float scale = (float)(1.0 / sqrt((double)c->k));
        for (size_t i = 0; i < n; i++) {
            e[i] = attn_round(p->dtype, attn_rng_value(c->seed, LR_TENSOR_E, i, 0, 1) * scale);
            f[i] = attn_round(p->dtype, attn_rng_value(c->seed, LR_TENSOR_F, i, 0, 1) * scale);
        }
        *E = e, *F = f;
        return ATTN_OK;
    }
    const size_t count = n * (c->proj_pairs ? 2 : 1), es = c->proj_fp16 ? 2 : 4;
    float *m = malloc(count * sizeof *m);
    FILE *fp = fopen(c->proj, "rb");
    int ok = m && fp && fseek(fp, c->proj_data, SEEK_SET) == 0;
    /* Read in place: the raw elements fill the front of m, then widen from the back. */
    ok = ok && fread(m, es, count, fp) == count;
    if (fp) fclose(fp);
    if (!ok) {
        free(m);
        return attn_fail("lowrank: cannot read %zu projection values from %s", count, c->proj);
    }
    if (c->proj_fp16) {
        const uint16_t *h = (const uint16_t *)m;
        for (size_t i = count; i-- > 0;) m[i] = attn_half_to_float(h[i]);
    }
    for (size_t i = 0; i < count; i++) m[i] = attn_round(p->dtype, m[i]);
    *E = m;
    *F = c->proj_pairs ? m + n : m;
    return ATTN_OK;
}

static void lr_free_proj(float *E, float *F)
{
    (void)F; /* F lies in E's allocation (or is E) */
    free(E);
}

/* ---------------------------------------------------------------- device layout */

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }
static size_t proj_bytes(const attn_point *p, int k)
{
    return align_up((size_t)k * p->seq * attn_dtype_size(p->dtype));
}
static size_t kv_proj_bytes(const attn_point *p, int k)
{
    return align_up((size_t)p->batch * p->kv_heads * k * p->head_dim * attn_dtype_size(p->dtype));
}
static size_t scores_bytes(const attn_point *p, int k)
{
    return align_up((size_t)p->batch * p->heads * p->seq * k * attn_dtype_size(p->dtype));
}

typedef struct lowrank_state {
    attn_point point;
    lr_cfg cfg;
    int config; /* fused configuration index */
    cublasHandle_t handle;
    cudaStream_t stream;
    void *e, *f, *kp, *vp, *scores, *cublas_ws;
    /* streams=2: the V projection's own handle, stream and cuBLAS workspace, and the fork/join
     * events (run records `fork` on the caller's stream, the side stream waits on it, and the
     * caller's stream waits on `join`: everything stays ordered on the caller's stream). */
    cublasHandle_t handle2;
    cudaStream_t side;
    cudaEvent_t fork, join;
    void *cublas_ws2;
} lowrank_state;

static const char *lowrank_supports(const attn_point *p)
{
    lr_cfg c;
    return lr_config(p, &c);
}

static size_t lowrank_workspace_bytes(const attn_point *p)
{
    lr_cfg c;
    if (lr_config(p, &c)) return 0;
    return (c.kind == LR_PROJ_MEAN ? 0 : 2 * proj_bytes(p, c.k)) + 2 * kv_proj_bytes(p, c.k) +
           (c.fused ? 0 : scores_bytes(p, c.k)) +
           (size_t)c.streams * CUBLAS_WORKSPACE_BYTES;
}

static cudaDataType cuda_type(attn_dtype t)
{
    return t == ATTN_FP16 ? CUDA_R_16F : t == ATTN_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static int bind_stream(lowrank_state *st, cudaStream_t stream)
{
    CUBLAS_CHECK(cublasSetStream(st->handle, stream));
    CUBLAS_CHECK(cublasSetWorkspace(st->handle, st->cublas_ws, CUBLAS_WORKSPACE_BYTES));
    st->stream = stream;
    return ATTN_OK;
}

static void lowrank_release(void *state)
{
    lowrank_state *st = state;
    if (!st) return;
    if (st->handle) cublasDestroy(st->handle);
    if (st->handle2) cublasDestroy(st->handle2);
    if (st->side) cudaStreamDestroy(st->side);
    if (st->fork) cudaEventDestroy(st->fork);
    if (st->join) cudaEventDestroy(st->join);
    free(st);
}

/* Projections into st->e, st->f: generated on the device, or read, rounded and copied. */
static int upload_proj(lowrank_state *st, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    const size_t n = (size_t)c->k * p->seq;
    if (c->kind == LR_PROJ_MEAN) return ATTN_OK; /* none: the segment-mean kernel */
    if (!c->have_proj) {
        const float scale = (float)(1.0 / sqrt((double)c->k));
        ATTN_TRY(attn_lowrank_fill_proj(p->dtype, st->e, n, c->seed, LR_TENSOR_E, scale, stream));
        ATTN_TRY(attn_lowrank_fill_proj(p->dtype, st->f, n, c->seed, LR_TENSOR_F, scale, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
        return ATTN_OK;
    }
    float *E, *F;
    ATTN_TRY(lr_host_proj(p, c, &E, &F));
    const size_t es = attn_dtype_size(p->dtype);
    void *h = malloc(2 * n * es);
    if (!h) {
        lr_free_proj(E, F);
        return attn_fail("lowrank: out of host memory for the projections");
    }
    for (size_t i = 0; i < n; i++) {
        attn_store(p->dtype, h, i, E[i]);
        attn_store(p->dtype, h, n + i, F[i]);
    }
    lr_free_proj(E, F);
    int rc = ATTN_OK;
    if (cudaMemcpy(st->e, h, n * es, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(st->f, (char *)h + n * es, n * es, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = attn_fail_cuda(cudaGetLastError(), "cudaMemcpy(projections)", __FILE__, __LINE__);
    free(h);
    return rc;
}

static int lowrank_prepare(const attn_point *p, void *workspace, cudaStream_t stream, void **state)
{
    lowrank_state *st = calloc(1, sizeof *st);
    if (!st) return attn_fail("lowrank: out of host memory");
    st->point = *p;
    const char *why = lr_config(p, &st->cfg);
    if (why) {
        free(st);
        return attn_skip("lowrank: %s", why);
    }
    const lr_cfg *c = &st->cfg;
    char *w = workspace;
    if (c->kind != LR_PROJ_MEAN) {
        st->e = w, w += proj_bytes(p, c->k);
        st->f = w, w += proj_bytes(p, c->k);
    }
    st->kp = w, w += kv_proj_bytes(p, c->k);
    st->vp = w, w += kv_proj_bytes(p, c->k);
    if (!c->fused) st->scores = w, w += scores_bytes(p, c->k);
    st->cublas_ws = w, w += CUBLAS_WORKSPACE_BYTES;
    st->cublas_ws2 = w;
    int rc = ATTN_OK;
    if (c->fused) {
        int dev, major;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        if (major < 8) {
            rc = attn_skip("lowrank: attn=fused needs sm_80 or newer (try attn=cublas)");
        } else if (c->path == LR_PATH_WGMMA) {
            st->config = c->nwg;
            rc = attn_fused_sm90_available()
                     ? attn_fused_sm90_setup((int)p->dtype, p->head_dim, c->nwg)
                     : attn_skip("lowrank: path=wgmma needs an sm_90 device (H100/H200)");
        } else {
            st->config = attn_fused_config_find(c->bm, c->bn);
            if (st->config < 0) rc = attn_fail("lowrank: no fused configuration %dx%d", c->bm, c->bn);
            else rc = attn_fused_setup((int)p->dtype, p->head_dim, st->config);
        }
    }
    if (rc == ATTN_OK) {
        if (cublasCreate(&st->handle) != CUBLAS_STATUS_SUCCESS) {
            st->handle = NULL;
            rc = attn_fail("lowrank: cublasCreate failed");
        } else if (cublasSetMathMode(st->handle, CUBLAS_DEFAULT_MATH |
                                     CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) != 0) {
            rc = attn_fail("lowrank: cublasSetMathMode failed");
        }
    }
    if (rc == ATTN_OK) rc = bind_stream(st, stream);
    if (rc == ATTN_OK && c->streams == 2) {
        if (cudaStreamCreateWithFlags(&st->side, cudaStreamNonBlocking) != cudaSuccess ||
            cudaEventCreateWithFlags(&st->fork, cudaEventDisableTiming) != cudaSuccess ||
            cudaEventCreateWithFlags(&st->join, cudaEventDisableTiming) != cudaSuccess)
            rc = attn_fail_cuda(cudaGetLastError(), "lowrank: side stream and events", __FILE__, __LINE__);
        else if (cublasCreate(&st->handle2) != CUBLAS_STATUS_SUCCESS)
            st->handle2 = NULL, rc = attn_fail("lowrank: cublasCreate failed");
        else if (cublasSetMathMode(st->handle2, CUBLAS_DEFAULT_MATH |
                                   CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) != 0 ||
                 cublasSetStream(st->handle2, st->side) != 0 ||
                 cublasSetWorkspace(st->handle2, st->cublas_ws2, CUBLAS_WORKSPACE_BYTES) != 0)
            rc = attn_fail("lowrank: cannot set up the second cuBLAS handle");
    }
    if (rc == ATTN_OK) rc = upload_proj(st, stream);
    if (rc != ATTN_OK) {
        lowrank_release(st);
        return rc;
    }
    *state = st;
    return ATTN_OK;
}

static int lr_cublas_proj(lowrank_state *st, const attn_device_io *io, cudaStream_t stream);
static int lr_cublas_attention(lowrank_state *st, const attn_device_io *io, cudaStream_t stream);

static int lowrank_run(void *state, const attn_device_io *io, cudaStream_t stream)
{
    lowrank_state *st = state;
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    if (stream != st->stream) ATTN_TRY(bind_stream(st, stream));
    const int S = p->seq, D = p->head_dim, k = c->k, batches = p->batch * p->kv_heads;

    if (c->kind == LR_PROJ_MEAN) {
        ATTN_TRY(attn_lowrank_pool(p->dtype, D, S, k, batches, io->k, io->v, st->kp, st->vp, stream));
    } else {
        ATTN_TRY(lr_cublas_proj(st, io, stream));
    }
    if (c->fused && c->path == LR_PATH_WGMMA)
        return attn_fused_sm90_launch_kv((int)p->dtype, D, st->config, p->batch, p->heads,
                                         p->kv_heads, S, k, 0, io->q, st->kp, st->vp, io->o, NULL,
                                         stream);
    if (c->fused)
        return attn_fused_launch_kv((int)p->dtype, D, st->config, p->batch, p->heads, p->kv_heads,
                                    S, k, 0, io->q, st->kp, st->vp, io->o, NULL, stream);
    return lr_cublas_attention(st, io, stream);
}

/* The projections by cuBLAS: two strided-batched GEMMs (streams=2: the second on the side stream). */
static int lr_cublas_proj(lowrank_state *st, const attn_device_io *io, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    const int S = p->seq, D = p->head_dim, k = c->k;
    const int batches = p->batch * p->kv_heads;
    const cudaDataType t = cuda_type(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    const long long kv_stride = (long long)S * D, kp_stride = (long long)k * D;
    if (c->streams == 2) { /* V′ on the side stream, concurrently with K′ */
        CUDA_CHECK(cudaEventRecord(st->fork, stream));
        CUDA_CHECK(cudaStreamWaitEvent(st->side, st->fork, 0));
    }
    /* K′ᵀ (D×k) = Kᵀ (D×S) · Eᵀ (S×k), column-major; E shared by every slice (stride 0). */
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, k, S, &one,
                                            io->k, t, D, kv_stride, st->e, t, S, 0, &zero, st->kp,
                                            t, D, kp_stride, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(c->streams == 2 ? st->handle2 : st->handle, CUBLAS_OP_N,
                                            CUBLAS_OP_N, D, k, S, &one, io->v, t, D, kv_stride,
                                            st->f, t, S, 0, &zero, st->vp, t, D, kp_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (c->streams == 2) {
        CUDA_CHECK(cudaEventRecord(st->join, st->side));
        CUDA_CHECK(cudaStreamWaitEvent(stream, st->join, 0));
    }
    return ATTN_OK;
}

/* Attention over the k keys by cuBLAS (the fallback path of variants/cublas.c). */
static int lr_cublas_attention(lowrank_state *st, const attn_device_io *io, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    const int S = p->seq, D = p->head_dim, k = c->k, gS = p->heads / p->kv_heads * p->seq;
    const int batches = p->batch * p->kv_heads;
    const cudaDataType t = cuda_type(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    const long long kp_stride = (long long)k * D;

    /* Fallback: as variants/cublas.c with k keys — scores (gS×k) = Q·K′ᵀ, softmax, O = P·V′. */
    const long long q_stride = (long long)gS * D, sc_stride = (long long)gS * k;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_T, CUBLAS_OP_N, k, gS, D, &one,
                                            st->kp, t, D, kp_stride, io->q, t, D, q_stride, &zero,
                                            st->scores, t, k, sc_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    ATTN_TRY(attn_cublas_softmax(p->dtype, st->scores, (long long)p->batch * p->heads * S, k, 0,
                                 (float)attn_scale(p), stream));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, gS, k, &one,
                                            st->vp, t, D, kp_stride, st->scores, t, k, sc_stride,
                                            &zero, io->o, t, D, q_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ATTN_OK;
}

static void lowrank_describe(const void *state, char *buf, size_t n)
{
    const lowrank_state *st = state;
    const lr_cfg *c = &st->cfg;
    char attn[64] = "attn=cublas", gemm[48] = "gemm=none (segment means)";
    if (c->fused)
        snprintf(attn, sizeof attn, "attn=fused path=%s tile=%dx%d",
                 c->path == LR_PATH_WGMMA ? "wgmma" : "mma", c->bm, c->bn);
    if (c->kind != LR_PROJ_MEAN)
        snprintf(gemm, sizeof gemm, "gemm=cublas streams=%d", c->streams);
    snprintf(buf, n, "method=linformer k=%d proj=%s %s %s", c->k,
             c->kind == LR_PROJ_MEAN ? "mean" : c->kind == LR_PROJ_FILE ? "file" : "gaussian", gemm, attn);
}

/* ---------------------------------------------------------------- CPU implementation */

/* X′ = round_dtype(P·X) for one (batch, KV head) slice: P [k][S], X [S][D], out [k][D]; the sums in
 * double (the GPU's fp32 accumulation order is its own; double keeps the CPU side the closer one). */
static void project(const attn_point *p, const float *P, const float *X, int k, float *out,
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

/* proj=mean: X′[i] = round_dtype(w_i · Σ_{s in segment i} X[s]), segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋),
 * w_i = round_dtype(1/len_i) (a float division, then the dtype); sums in double. */
static void project_mean(const attn_point *p, const float *X, int k, float *out, double *acc)
{
    const int S = p->seq, D = p->head_dim;
    for (int i = 0; i < k; i++) {
        const long a = (long)i * S / k, e = (long)(i + 1) * S / k;
        const double w = attn_round(p->dtype, 1.0f / (float)(e - a));
        for (int d = 0; d < D; d++) acc[d] = 0;
        for (long s = a; s < e; s++)
            for (int d = 0; d < D; d++) acc[d] += X[(size_t)s * D + d];
        for (int d = 0; d < D; d++) out[(size_t)i * D + d] = attn_round(p->dtype, (float)(acc[d] * w));
    }
}

static int lowrank_cpu_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, float *out)
{
    lr_cfg c;
    const char *why = lr_config(p, &c);
    if (why) return attn_fail("lowrank: %s", why);
    const int S = p->seq, D = p->head_dim, k = c.k, group = p->heads / p->kv_heads;
    float *E = NULL, *F = NULL;
    if (c.kind != LR_PROJ_MEAN) ATTN_TRY(lr_host_proj(p, &c, &E, &F));
    float *kp = malloc((size_t)k * D * sizeof *kp), *vp = malloc((size_t)k * D * sizeof *vp);
    double *acc = malloc((size_t)D * sizeof *acc);
    if (!kp || !vp || !acc) {
        free(kp), free(vp), free(acc), lr_free_proj(E, F);
        return attn_fail("lowrank: out of host memory");
    }
    /* The attention over k keys, as a one-query, one-head problem with seq = k. */
    attn_point one = {1, 1, 1, k, D, p->dtype, 0, ""};
    /* The fused variant's CPU implementation with the path (hence key-tile width) that runs:
     * wgmma → key tiles of 128; mma → the tile's BN. */
    if (c.fused && c.path == LR_PATH_WGMMA) snprintf(one.params, sizeof one.params, "path=wgmma");
    else if (c.fused) snprintf(one.params, sizeof one.params, "path=mma,tile=%dx%d", c.bm, c.bn);
    const attn_row row0 = {0, 0, 0};
    int rc = ATTN_OK;
    long cached = -1; /* b·H_kv + hk of the slice in kp, vp (rows are sorted by b, h, s) */
    for (size_t r = 0; r < n_rows && rc == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const long slice = (long)w->b * p->kv_heads + w->h / group;
        if (slice != cached) {
            if (c.kind == LR_PROJ_MEAN) {
                project_mean(p, in->k + (size_t)slice * S * D, k, kp, acc);
                project_mean(p, in->v + (size_t)slice * S * D, k, vp, acc);
            } else {
                project(p, E, in->k + (size_t)slice * S * D, k, kp, acc);
                project(p, F, in->v + (size_t)slice * S * D, k, vp, acc);
            }
            cached = slice;
        }
        const attn_host_inputs in1 = {in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D, kp, vp};
        if (c.fused)
            rc = attn_variant_fused.cpu_rows(&one, &in1, &row0, 1, out + r * D);
        else
            rc = attn_cpu_attention_rows(&one, &in1, &row0, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS,
                                         out + r * D);
    }
    free(kp), free(vp), free(acc), lr_free_proj(E, F);
    return rc;
}

/* ---------------------------------------------------------------- work */

static double lowrank_flops(const attn_point *p)
{
    lr_cfg c;
    if (lr_config(p, &c)) return 0;
    const double k = c.k, S = p->seq, D = p->head_dim;
    if (c.kind == LR_PROJ_MEAN) /* one add per key element and projection, then the attention */
        return 2.0 * p->batch * p->kv_heads * S * D + 4.0 * p->batch * p->heads * S * k * D;
    return 2.0 * 2.0 * p->batch * p->kv_heads * k * S * D + 4.0 * p->batch * p->heads * S * k * D;
}

/* Q, K, V read, E and F read once (shared by the slices, L2-resident), K′ and V′ written and read,
 * O written; the fallback path also writes, reads, writes and reads its [B·H·S][k] scores. */
static double lowrank_bytes(const attn_point *p)
{
    lr_cfg c;
    if (lr_config(p, &c)) return 0;
    const double e = (double)attn_dtype_size(p->dtype), k = c.k;
    const double kv_proj = (double)p->batch * p->kv_heads * k * p->head_dim;
    double b = e * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p) + 4.0 * kv_proj);
    if (c.kind != LR_PROJ_MEAN) b += e * 2.0 * k * p->seq;
    if (!c.fused) b += e * 4.0 * p->batch * p->heads * (double)p->seq * k;
    return b;
}

static int lowrank_launches(const attn_point *p)
{
    lr_cfg c;
    if (lr_config(p, &c)) return -1;
    /* cuBLAS may add split-K reductions to its GEMMs; otherwise pooling (1), then the fused
     * attention (1). */
    if (!c.fused || c.kind != LR_PROJ_MEAN) return -1;
    return 2;
}

const attn_variant attn_variant_lowrank = {
    .name = "lowrank",
    .description = "Linformer low-rank attention: K,V projected to k rows (cuBLAS), fused attention over k keys",
    .exact = 0,
    .param_keys = "k,method,attn,path,tile,seed,proj,streams",
    .supports = lowrank_supports,
    .workspace_bytes = lowrank_workspace_bytes,
    .prepare = lowrank_prepare,
    .run = lowrank_run,
    .release = lowrank_release,
    .describe = lowrank_describe,
    .cpu_rows = lowrank_cpu_rows,
    .flops = lowrank_flops,
    .bytes = lowrank_bytes,
    .launches = lowrank_launches,
};
