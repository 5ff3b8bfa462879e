/* lowrank.c — variant `lowrank`: low-rank attention by Linformer projections or by Nyströmformer
 * landmarks (method=nystrom, below) (kernels/lowrank.cu, cuBLAS, and the flash kernel of
 * kernels/fused.cu).
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
 *   1.-2. K′ = E·K and V′ = F·V for every (batch, KV head) slice, E and F shared by all slices:
 *      one cublasGemmBatchedEx over the 2·B·H_kv products (pointer arrays in the workspace), fp32
 *      accumulation on tensor cores (fp16/bf16), K′, V′ written in the dtype (streams=2 instead:
 *      two strided-batched calls, V′'s on a side stream with its own cuBLAS handle and workspace,
 *      forked from and joined back into the caller's stream by events; measured 0–7 % slower than
 *      two calls on one stream at S ≥ 16384 on an H200, and the single batched call beats both);
 *   3. attention of the S queries over the k projected keys: the flash kernel of kernels/fused.cu
 *      (attn_fused_launch_kv, seq_k = k; online softmax over key tiles of BN, P rounded to the dtype
 *      before P·V) for fp16/bf16 and head_dim 64 or 128 — or, where it cannot run (fp32, other head
 *      dims) or with attn=cublas, the cuBLAS path of variants/cublas.c on an [B·H·S][k] score
 *      buffer: scores GEMM (rounded to the dtype), kernels/softmax.cu's in-place softmax (P rounded),
 *      P·V′ GEMM.
 * Column-major views (cuBLAS): K_h is a column-major D×S matrix (ld D), E a column-major S×k matrix
 * (ld S), so K′ᵀ (D×k, ld D) = K_hᵀ·Eᵀ is gemm(N, N, m=D, n=k, k=S).
 *
 * Parameters: k (default 128; 1..65536; k > S is allowed — K′ then has rank ≤ S, the formula still
 * holds), method (linformer, the default, or nystrom: below), attn (fused|cublas;
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
 * Limits: non-causal only (a sequence projection mixes future keys into every K′ row).
 * Work: projections 2·2·B·H_kv·k·S·D FLOPs + attention 4·B·H·S·k·D.
 *
 * proj=mean: deterministic segment means, E = F, row i averaging segment i = [⌊i·S/k⌋, ⌊(i+1)·S/k⌋)
 * with weight round_dtype(1/len_i) (Linformer's pooling form; the attention stays a convex
 * combination of values); k ≤ S; computed by a pooling kernel (kernels/lowrank.cu), no GEMM.
 * path=mma|wgmma: the fused attention's kernel; default wgmma (kernels/fused_sm90.cu, key tile
 * 128) on sm_90 for k ≥ 128, mma.sync (tile 64x64) otherwise — cpu_rows walks the key tiles of the
 * path that runs.
 *
 * How it fared (H200, standard `lowrank` stage of scripts/gpu-acceptance.sh: B=1 H=16 D=128 bf16,
 * median ms of the CUPTI span, cold L2; fused = the same run's persistent wgmma flash kernel
 * 0.0192 / 0.211 / 3.621 / 14.52 / 56.91 ms at S = 1024 / 4096 / 16384 / 32768 / 65536):
 *   S        k=64 gauss  k=128 gauss  k=256 gauss  k=256 mean   speedup over fused, k=128 / 256
 *   1024     0.0147      0.0161       0.0187       0.0373       1.2 / 1.0
 *   4096     0.0362      0.0362       0.0458       0.0552       5.8 / 4.6   (ideal 16 / 8)
 *   16384    0.1116      0.1089       0.1515       0.1360       33 / 24     (64 / 32)
 *   32768    0.2072      0.2090       0.2886       0.2409       69 / 50     (128 / 64)
 *   65536    0.3987      0.4050       0.5666       0.4481       141 / 100   (256 / 128)
 * k=256: ≥ 50 % of S/2k at S ≥ 16384 (75–79 %), 58 % at 4096; k=128: 52–55 % at S ≥ 16384; the
 * slope of log time over log S from 16384 to 65536 is 0.95 (k=256, k=128), 0.92 (k=64). k=64
 * cannot reach 50 % of S/2k: that is 0.057 ms at S=16384 and 0.222 ms at 65536, at or below the
 * DRAM floor of reading Q, K, V and writing O (268 MB / 1074 MB: 0.065 / 0.26 ms at the run's
 * 4.1 TB/s copy ceiling); measured 28 % at 65536. At k=64 the wgmma path would be 3–6 % faster
 * than the default mma (0.1087 vs 0.1116 ms at 16384, 0.3721 vs 0.3966 at 65536; measured after
 * the sweep, default unchanged). Checks against cpu_rows (bf16 rel L2): ≤ 2.7e-3 (gaussian),
 * ≤ 1.3e-4 (mean). Pieces in kernels/NOTES-lowrank.md.
 *
 * method=nystrom (Nyströmformer, m landmarks; parameter m, default 64, 1..256, m ≤ S). Per
 * (batch b, query head h; KV head hk = h/(H/H_kv)), s = 1/√D:
 *   Q̃, K̃ (m×D)  segment means of Q_h's and K_hk's rows, landmark i averaging rows [⌊i·S/m⌋,
 *                ⌊(i+1)·S/m⌋) (sum·(1/len) with the float 1/len), rounded to the dtype;
 *   W  = softmax(Q̃·Kᵀ·s)·V        (m×D, the dtype)   = F3·V
 *   A  = softmax(Q̃·K̃ᵀ·s)          (m×m, fp32)
 *   Z ≈ pinv(A): Z₀ = Aᵀ/(max_i Σ_j|A_ij| · max_j Σ_i|A_ij|) — over this head's A (Nyströmformer
 *        takes both maxima over the whole batch; per head keeps heads independent) — then 6 times
 *        Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I − AZ))), in fp32;
 *   Y  = Z·W                       (m×D, fp32 sums, rounded to the dtype)
 *   O  = softmax(Q·K̃ᵀ·s)·Y         = F1·pinv(A)·F3·V.
 * GPU (run, every step enqueued on the stream, no sync; nothing of size S×m or S×S unless the cuBLAS
 * attention path is taken, which stores its [B·H·S][m] scores as above):
 *   1. one segment-mean launch (kernels/lowrank.cu, the pooling kernel of proj=mean with a float
 *      weight): Q̃ [B][H][m][D] and K̃ [B][H][m][D] — K̃ written once per query head (each reads its
 *      KV head's rows), so that every later step sees H heads of keys;
 *   2. W: the attention path above with m queries over the S keys (attn_fused_launch_kv /
 *      attn_fused_sm90_launch_kv with S_q = m, Sk = S, H_kv heads of K, V; or the cuBLAS path);
 *   3. A by one kernel (block per (head, landmark row): fp32 dot products, softmax); Z₀ by one
 *      kernel (block per head: the max row and column sums, then the scaled transpose); each
 *      iteration 4 cublasSgemmStridedBatched over the B·H heads (fp32, no TF32) and 3 small
 *      kernels X ← cI − X; then Y = Z·W by one kernel (block per (head, row));
 *   4. O: the same attention path with the S queries over the m keys K̃, values Y (H_kv = H).
 * Workspace: Q̃, K̃, W, Y (4·B·H·m·D in the dtype) and 6 fp32 B·H·m² (A, Z, Z′, AZ, two
 * temporaries), plus the cuBLAS path's scores. About 48 launches per run (6 iterations × 7).
 * CPU implementation: the same steps with the same rounding points: Q̃, K̃ by segment means
 * (double sums); W row by row through the CPU twin of the attention path on a one-query problem
 * with seq = S (as the Linformer rows, above), rounded; A, the iteration and Z·W in double, Y
 * rounded; then each row through the same twin with seq = m over K̃, Y. Y is computed once per
 * (batch, head) among the rows asked for.
 * Limits: non-causal only (a landmark averages a whole segment, future rows included); m ≤ 256
 * (the CPU twin's iteration costs 48·m³ per head); k, proj, seed and streams are Linformer's (an
 * error with nystrom), m is Nyström's (an error with linformer); the fused path's limits as above
 * (fp32 and other head dims take the cuBLAS path). Work: per head 2·S·D (landmarks) + 4·m·S·D (W)
 * + 2·m²·D (A) + 6·4·2·m³ (iteration) + 2·m²·D (Z·W) + 4·S·m·D (O).
 * How it fared (same H200 run, m = 64 / 128): 0.260 / 0.462 ms at S=1024, 0.334 / 0.513 at 4096,
 * 0.615 / 0.724 at 16384, 1.72 / 1.55 at 65536; rel. L2 against cpu_rows ≤ 7e-4, exact_rel_l2
 * 0.75–0.80 on random inputs. Slow next to Linformer: W, the m landmark queries over all S keys,
 * runs on B·H·⌈m/64⌉ (mma) or B·H (wgmma) blocks only, each walking all S keys (at S=65536,
 * m=64 the two attention launches average 0.67 ms); splitting W over the keys is the fix. */
#include <cublas_v2.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_attention.h"
#include "core/rng.h"
#include "variant.h"
#include "fused.h"
#include "fused_sm90.h"
#include "lowrank.h"
#include "softmax.h"

/* variants/fused.c: its CPU implementation is reused for the fused attention path. */
extern const attn_variant attn_variant_fused;

#define LR_TENSOR_E 3 /* generator tensor ids of the projections (Q, K, V are 0, 1, 2) */
#define LR_TENSOR_F 4
#define LR_DEFAULT_K 128
#define LR_MAX_K 65536
#define LR_DEFAULT_SEED 1
#define LR_DEFAULT_BM 64
#define LR_DEFAULT_BN 64
#define LR_DEFAULT_M 64  /* method=nystrom: landmarks */
#define LR_MAX_M 256      /* the CPU twin's pseudo-inverse costs 48·m³ per head */
#define LR_PINV_ITERS 6   /* Nyströmformer's iteration count */
#define LR_NY_MATS 6      /* fp32 m×m matrices per head: A, Z, Z′, AZ and two temporaries */
#define LR_WGMMA_MIN_K 128 /* default attention path: wgmma on sm_90 from this k, mma below
                              (H200, dev/lowrank: at k = 64 the mma 64x64 kernel is 10-16 % faster) */

enum { LR_PROJ_GAUSSIAN = 0, LR_PROJ_MEAN = 1, LR_PROJ_FILE = 2 };
enum { LR_PATH_MMA = 0, LR_PATH_WGMMA = 1 };
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
#define ALIGN 256

/* A point's parsed parameters. */
typedef struct lr_cfg {
    int nystrom;     /* method=nystrom (else linformer) */
    int k;           /* linformer: projected rows (0 for nystrom) */
    int m;           /* nystrom: landmarks (0 for linformer) */
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

/* An integer parameter value in [lo, hi] into *out: 0, or -1 when v is not one. */
static int parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

/* method=linformer's own parameters (k, streams, seed, proj) into *c. */
static const char *linformer_config(const attn_point *p, lr_cfg *c)
{
    char v[ATTN_PARAMS_MAX];
    if (p->causal) return "causal masking not supported by Linformer (the projection mixes all positions)";
    if (attn_param(p, "m", v, sizeof v)) return "m applies to method=nystrom only (linformer takes k)";
    int have_k = attn_param(p, "k", v, sizeof v);
    c->k = LR_DEFAULT_K;
    if (have_k && parse_int(v, 1, LR_MAX_K, &c->k) != 0) return "k must be an integer from 1 to 65536";
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
    /* Projections: cuBLAS GEMMs; proj=mean uses none (segment-mean kernel). */
    if (c->streams == 2 && c->kind == LR_PROJ_MEAN)
        return "streams=2 applies to gaussian and file projections (proj=mean pools)";
    return NULL;
}

/* method=nystrom's own parameter (m) into *c; Linformer's are errors here. */
static const char *nystrom_config(const attn_point *p, lr_cfg *c)
{
    char v[ATTN_PARAMS_MAX];
    if (p->causal) return "causal masking not supported by Nystromformer (a landmark averages a whole segment)";
    if (attn_param(p, "k", v, sizeof v)) return "k applies to method=linformer only: method=nystrom takes m (landmarks)";
    if (attn_param(p, "proj", v, sizeof v) || attn_param(p, "seed", v, sizeof v) ||
        attn_param(p, "streams", v, sizeof v))
        return "proj, seed and streams apply to method=linformer only";
    c->m = LR_DEFAULT_M;
    if (attn_param(p, "m", v, sizeof v) && parse_int(v, 1, LR_MAX_M, &c->m) != 0)
        return "m must be an integer from 1 to 256";
    if (c->m > p->seq) return "method=nystrom needs m <= seq (m nonempty segments of S)";
    c->streams = 1;
    return NULL;
}

/* The attention's parameters (attn, tile, path) for attention over `keys` keys into *c. */
static const char *attention_config(const attn_point *p, lr_cfg *c, int keys)
{
    char v[ATTN_PARAMS_MAX];
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
        path = have_tile || !c->fused || keys < LR_WGMMA_MIN_K || !attn_fused_sm90_available()
                   ? LR_PATH_MMA : LR_PATH_WGMMA;
    c->path = path;
    c->nwg = attn_fused_sm90_default_nwg(p->head_dim, p->seq, 0);
    if (c->fused && path == LR_PATH_WGMMA) c->bm = 64 * c->nwg, c->bn = 128;
    return NULL;
}

/* Parses p's parameters into *c (and the proj file's header). NULL, or the reason the point
 * cannot run. Shape-only: touches no device. */
static const char *lr_config(const attn_point *p, lr_cfg *c)
{
    char v[ATTN_PARAMS_MAX];
    memset(c, 0, sizeof *c);
    if (attn_param(p, "method", v, sizeof v)) {
        if (strcmp(v, "nystrom") == 0) c->nystrom = 1;
        else if (strcmp(v, "linformer") != 0) return "method must be linformer or nystrom";
    }
    const char *why = c->nystrom ? nystrom_config(p, c) : linformer_config(p, c);
    return why ? why : attention_config(p, c, c->nystrom ? c->m : c->k);
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
    /* streams=1: both projections in one pointer-array batched GEMM; its A, B, C arrays (2·B·H_kv
     * pointers each: the K′ slices, then the V′ slices) on the device, built from the host copy
     * when run() sees inputs other than those they were built for (the first run, in practice). */
    const void **proj_ptrs, **proj_ptrs_host;
    const void *ptrs_k, *ptrs_v;
    /* method=nystrom, per (batch, query head), in the dtype: landmarks Q̃, K̃ (K̃ repeated for every
     * query head of a KV group), W = F3·V and Y = Z·W, each [B][H][m][D]; in fp32: the m×m
     * matrices of the pseudo-inverse iteration ([B][H][m][m] each). */
    void *qt, *kx, *w, *y;
    float *mat[LR_NY_MATS];
} lowrank_state;

/* The next piece of `bytes` of the workspace at base (NULL when base is NULL: sizing only). */
static void *take(char *base, size_t *off, size_t bytes)
{
    void *at = base ? base + *off : NULL;
    *off += align_up(bytes);
    return at;
}

/* The workspace's pieces, in order, pointed into base (may be NULL: sizing only); its size. */
static size_t lr_layout(const attn_point *p, const lr_cfg *c, char *base, lowrank_state *st)
{
    const size_t e = attn_dtype_size(p->dtype), S = (size_t)p->seq, D = (size_t)p->head_dim;
    const size_t bh = (size_t)p->batch * p->heads, keys = (size_t)(c->nystrom ? c->m : c->k);
    size_t off = 0;
    if (c->nystrom) {
        const size_t md = bh * keys * D * e, mm = bh * keys * keys * sizeof(float);
        st->qt = take(base, &off, md), st->kx = take(base, &off, md);
        st->w = take(base, &off, md), st->y = take(base, &off, md);
        for (int i = 0; i < LR_NY_MATS; i++) st->mat[i] = take(base, &off, mm);
    } else {
        const size_t kv_proj = (size_t)p->batch * p->kv_heads * keys * D * e;
        if (c->kind != LR_PROJ_MEAN) st->e = take(base, &off, keys * S * e), st->f = take(base, &off, keys * S * e);
        st->kp = take(base, &off, kv_proj), st->vp = take(base, &off, kv_proj);
        if (c->kind != LR_PROJ_MEAN && c->streams == 1)
            st->proj_ptrs = take(base, &off, 3 * 2 * (size_t)p->batch * p->kv_heads * sizeof(void *));
    }
    /* The cuBLAS attention's [B·H·S][keys] scores (nystrom: also W's [B·H·m][S], the same size). */
    if (!c->fused) st->scores = take(base, &off, bh * S * keys * e);
    st->cublas_ws = take(base, &off, CUBLAS_WORKSPACE_BYTES);
    if (c->streams == 2) st->cublas_ws2 = take(base, &off, CUBLAS_WORKSPACE_BYTES);
    return off;
}

static const char *lowrank_supports(const attn_point *p)
{
    lr_cfg c;
    return lr_config(p, &c);
}

static size_t lowrank_workspace_bytes(const attn_point *p)
{
    lr_cfg c;
    lowrank_state sizing;
    if (lr_config(p, &c)) return 0;
    return lr_layout(p, &c, NULL, &sizing);
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
    free(st->proj_ptrs_host);
    free(st);
}

/* Projections into st->e, st->f: generated on the device, or read, rounded and copied. */
static int upload_proj(lowrank_state *st, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    const size_t n = (size_t)c->k * p->seq;
    if (c->nystrom || c->kind == LR_PROJ_MEAN) return ATTN_OK; /* none: segment means */
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
    lr_layout(p, c, workspace, st);
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
static int lr_cublas_attention(lowrank_state *st, int Hkv, int Sq, int Sk, const void *q,
                               const void *k, const void *v, void *o, cudaStream_t stream);

/* Attention of Sq queries per query head (H heads) over Sk keys per KV head (Hkv heads), without
 * mask, by the path the point chose: O [B][H][Sq][D] from Q [B][H][Sq][D], K, V [B][Hkv][Sk][D]. */
static int lr_attend(lowrank_state *st, int Hkv, int Sq, int Sk, const void *q, const void *k,
                     const void *v, void *o, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    if (c->fused && c->path == LR_PATH_WGMMA)
        return attn_fused_sm90_launch_kv((int)p->dtype, p->head_dim, st->config, p->batch, p->heads,
                                         Hkv, Sq, Sk, 0, q, k, v, o, NULL, stream);
    if (c->fused)
        return attn_fused_launch_kv((int)p->dtype, p->head_dim, st->config, p->batch, p->heads, Hkv,
                                    Sq, Sk, 0, q, k, v, o, NULL, stream);
    return lr_cublas_attention(st, Hkv, Sq, Sk, q, k, v, o, stream);
}

/* C = alpha·X·Y for every head's row-major m×m fp32 matrices (column-major: Cᵀ = Yᵀ·Xᵀ), full
 * fp32 (the handle's math mode allows no TF32). */
static int lr_matmul(lowrank_state *st, float alpha, const float *X, const float *Y, float *C)
{
    const int m = st->cfg.m, heads = st->point.batch * st->point.heads;
    const long long mm = (long long)m * m;
    const float zero = 0.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &alpha, Y,
                                           m, mm, X, m, mm, &zero, C, m, mm, heads));
    return ATTN_OK;
}

/* method=nystrom (see the opening comment): landmarks, W, A, Z ≈ pinv(A), Y = Z·W, then O. */
static int nystrom_run(lowrank_state *st, const attn_device_io *io, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const int S = p->seq, D = p->head_dim, m = st->cfg.m, group = p->heads / p->kv_heads;
    const long heads = (long)p->batch * p->heads;
    /* 1. Q̃ from Q, K̃ from K for every query head (its KV head's segment means) */
    ATTN_TRY(attn_lowrank_pool(p->dtype, D, S, m, (int)heads, group, 0, io->q, io->k, st->qt, st->kx,
                               stream));
    /* 2. W = softmax(Q̃·Kᵀ·s)·V: m queries over the S keys */
    ATTN_TRY(lr_attend(st, p->kv_heads, m, S, st->qt, io->k, io->v, st->w, stream));
    /* 3. A = softmax(Q̃·K̃ᵀ·s); Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I − AZ))) from Z₀; Y = Z·W */
    float *A = st->mat[0], *Z = st->mat[1], *Zn = st->mat[2], *AZ = st->mat[3], *T = st->mat[4],
          *U = st->mat[5];
    ATTN_TRY(attn_nystrom_scores(p->dtype, D, m, heads, st->qt, st->kx, A, (float)attn_scale(p),
                                    stream));
    ATTN_TRY(attn_nystrom_pinv_init(m, heads, A, Z, stream));
    for (int it = 0; it < LR_PINV_ITERS; it++) {
        ATTN_TRY(lr_matmul(st, 1.0f, A, Z, AZ));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 7.0f, AZ, T, stream));
        ATTN_TRY(lr_matmul(st, 1.0f, AZ, T, U));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 15.0f, U, U, stream));
        ATTN_TRY(lr_matmul(st, 1.0f, AZ, U, T));
        ATTN_TRY(attn_nystrom_sub_identity(m, heads, 13.0f, T, T, stream));
        ATTN_TRY(lr_matmul(st, 0.25f, Z, T, Zn));
        float *t = Z;
        Z = Zn, Zn = t;
    }
    ATTN_TRY(attn_nystrom_zw(p->dtype, D, m, heads, Z, st->w, st->y, stream));
    /* 4. O = softmax(Q·K̃ᵀ·s)·Y: S queries over m keys, K̃ and Y per query head */
    return lr_attend(st, p->heads, S, m, io->q, st->kx, st->y, io->o, stream);
}

static int lowrank_run(void *state, const attn_device_io *io, cudaStream_t stream)
{
    lowrank_state *st = state;
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    if (stream != st->stream) ATTN_TRY(bind_stream(st, stream));
    if (c->nystrom) return nystrom_run(st, io, stream);
    const int S = p->seq, D = p->head_dim, k = c->k, batches = p->batch * p->kv_heads;

    if (c->kind == LR_PROJ_MEAN) {
        ATTN_TRY(attn_lowrank_pool(p->dtype, D, S, k, batches, 1, 1, io->k, io->v, st->kp, st->vp,
                                   stream));
    } else {
        ATTN_TRY(lr_cublas_proj(st, io, stream));
    }
    return lr_attend(st, p->kv_heads, S, k, io->q, st->kp, st->vp, io->o, stream);
}

/* The projections by cuBLAS. K′ᵀ (D×k) = Kᵀ (D×S) · Eᵀ (S×k), column-major, E shared by every
 * (batch, KV head) slice, and V′ likewise with F. streams=1 (default): all 2·B·H_kv products in one
 * pointer-array batched GEMM — on an H200 (B=1, H=16, D=128, bf16) 0.262 ms against 0.325 ms for
 * two strided-batched calls at S=65536, k=256, and faster at every S ≥ 4096, k = 128 and 256
 * (dev/proj); streams=2: two strided-batched GEMMs, the second on the side stream. */
static int lr_cublas_proj(lowrank_state *st, const attn_device_io *io, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const lr_cfg *c = &st->cfg;
    const int S = p->seq, D = p->head_dim, k = c->k;
    const int batches = p->batch * p->kv_heads;
    const cudaDataType t = cuda_type(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    const long long kv_stride = (long long)S * D, kp_stride = (long long)k * D;
    if (c->streams == 1) {
        const int n = 2 * batches;
        if (io->k != st->ptrs_k || io->v != st->ptrs_v) {
            const size_t e = attn_dtype_size(p->dtype);
            if (!st->proj_ptrs_host && !(st->proj_ptrs_host = malloc(3 * (size_t)n * sizeof(void *))))
                return attn_fail("lowrank: out of host memory");
            const void **a = st->proj_ptrs_host, **b = a + n, **cc = b + n;
            for (int i = 0; i < n; i++) {
                const int j = i % batches, second = i >= batches;
                a[i] = (const char *)(second ? io->v : io->k) + (size_t)j * kv_stride * e;
                b[i] = second ? st->f : st->e;
                cc[i] = (const char *)(second ? st->vp : st->kp) + (size_t)j * kp_stride * e;
            }
            /* The host array stays untouched until the inputs move again, so the copy may lag. */
            CUDA_CHECK(cudaMemcpyAsync(st->proj_ptrs, a, 3 * (size_t)n * sizeof(void *),
                                       cudaMemcpyHostToDevice, stream));
            st->ptrs_k = io->k, st->ptrs_v = io->v;
        }
        CUBLAS_CHECK(cublasGemmBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, k, S, &one,
                                         (const void *const *)st->proj_ptrs, t, D,
                                         (const void *const *)(st->proj_ptrs + n), t, S, &zero,
                                         (void *const *)(st->proj_ptrs + 2 * n), t, D, n,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        return ATTN_OK;
    }
    /* streams=2: V′ on the side stream, concurrently with K′ */
    CUDA_CHECK(cudaEventRecord(st->fork, stream));
    CUDA_CHECK(cudaStreamWaitEvent(st->side, st->fork, 0));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, k, S, &one,
                                            io->k, t, D, kv_stride, st->e, t, S, 0, &zero, st->kp,
                                            t, D, kp_stride, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle2, CUBLAS_OP_N, CUBLAS_OP_N, D, k, S, &one,
                                            io->v, t, D, kv_stride, st->f, t, S, 0, &zero, st->vp,
                                            t, D, kp_stride, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    CUDA_CHECK(cudaEventRecord(st->join, st->side));
    CUDA_CHECK(cudaStreamWaitEvent(stream, st->join, 0));
    return ATTN_OK;
}

/* Attention by cuBLAS (the fallback path of variants/cublas.c) of Sq queries over Sk keys: per
 * (batch, KV head) the group's queries are one (group·Sq)×D matrix; scores (group·Sq × Sk) = Q·Kᵀ
 * rounded to the dtype, softmax in place (P rounded), O = P·V. */
static int lr_cublas_attention(lowrank_state *st, int Hkv, int Sq, int Sk, const void *q,
                               const void *k, const void *v, void *o, cudaStream_t stream)
{
    const attn_point *p = &st->point;
    const int D = p->head_dim, gS = p->heads / Hkv * Sq, batches = p->batch * Hkv;
    const cudaDataType t = cuda_type(p->dtype);
    const float one = 1.0f, zero = 0.0f;
    const long long kv_stride = (long long)Sk * D, q_stride = (long long)gS * D,
                    sc_stride = (long long)gS * Sk;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_T, CUBLAS_OP_N, Sk, gS, D, &one,
                                            k, t, D, kv_stride, q, t, D, q_stride, &zero,
                                            st->scores, t, Sk, sc_stride, batches,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    ATTN_TRY(attn_softmax_scores(p->dtype, st->scores, (long long)p->batch * p->heads * Sq, Sk, 0,
                                 (float)attn_scale(p), stream));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(st->handle, CUBLAS_OP_N, CUBLAS_OP_N, D, gS, Sk, &one,
                                            v, t, D, kv_stride, st->scores, t, Sk, sc_stride,
                                            &zero, o, t, D, q_stride, batches,
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
    if (c->nystrom) {
        snprintf(buf, n, "method=nystrom m=%d landmarks=segment-means pinv=%d-iterations-fp32 "
                 "pinv_scale=per-head %s", c->m, LR_PINV_ITERS, attn);
        return;
    }
    if (c->kind != LR_PROJ_MEAN)
        snprintf(gemm, sizeof gemm, c->streams == 1 ? "gemm=cublas-batched" : "gemm=cublas streams=2");
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

/* Segment means: X′[i] = round_dtype(w_i · Σ_{s in segment i} X[s]), segment i = [⌊i·S/k⌋,
 * ⌊(i+1)·S/k⌋), w_i = the float 1/len_i, rounded to the dtype when round_w (proj=mean's matrix
 * entries; method=nystrom's landmarks keep the float); sums in double. */
static void project_mean(const attn_point *p, const float *X, int k, int round_w, float *out,
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
        for (int d = 0; d < D; d++) out[(size_t)i * D + d] = attn_round(p->dtype, (float)(acc[d] * w));
    }
}

/* The one-query, one-head problem with seq = keys on which the CPU twin of the attention path runs;
 * for the fused path its params name the path, hence the key-tile width the GPU walks: wgmma →
 * key tiles of 128; mma → the tile's BN. */
static attn_point lr_one(const attn_point *p, const lr_cfg *c, int keys)
{
    attn_point one = {1, 1, 1, keys, p->head_dim, p->dtype, 0, ""};
    if (c->fused && c->path == LR_PATH_WGMMA) snprintf(one.params, sizeof one.params, "path=wgmma");
    else if (c->fused) snprintf(one.params, sizeof one.params, "path=mma,tile=%dx%d", c->bm, c->bn);
    return one;
}

/* One query row q over one's seq keys K, values V ([seq][D]) into out[D], as the GPU path does:
 * the fused variant's own cpu_rows (blockwise online softmax, P rounded), or the cuBLAS path's
 * (scores and probabilities rounded). */
static int lr_cpu_attend(const lr_cfg *c, const attn_point *one, const float *q, const float *K,
                         const float *V, float *out)
{
    const attn_host_inputs in1 = {q, K, V};
    const attn_row row0 = {0, 0, 0};
    if (c->fused) return attn_variant_fused.cpu_rows(one, &in1, &row0, 1, out);
    return attn_cpu_attention_rows(one, &in1, &row0, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, out);
}

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
 * row sum · max column sum of |A|), then LR_PINV_ITERS times Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I −
 * AZ))). work: 4·m² doubles. Not static: tests/test_lowrank.c checks A·Z·A ≈ A with it. */
void attn_lowrank_nystrom_pinv(int m, const double *A, double *Z, double *work)
{
    double rmax = 0, cmax = 0, *AZ = work, *T = AZ + (size_t)m * m, *U = T + (size_t)m * m,
           *Zn = U + (size_t)m * m;
    for (int i = 0; i < m; i++) {
        double r = 0, col = 0;
        for (int j = 0; j < m; j++) r += fabs(A[(size_t)i * m + j]), col += fabs(A[(size_t)j * m + i]);
        rmax = fmax(rmax, r), cmax = fmax(cmax, col);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) Z[(size_t)i * m + j] = A[(size_t)j * m + i] / (rmax * cmax);
    for (int it = 0; it < LR_PINV_ITERS; it++) {
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

/* method=nystrom's per-head pieces on the host: landmarks Q̃, K̃ and Y = round_dtype(Z·W) ([m][D]
 * floats each), W ([m][D]), and doubles for A, Z and the iteration's work (6·m²) and a D-row. */
typedef struct ny_host {
    float *qt, *kt, *w, *y;
    double *a, *z, *work, *acc;
} ny_host;

/* Q̃, K̃ and Y of (batch b, query head h) into nh, with the GPU's rounding points. */
static int nystrom_head(const attn_point *p, const lr_cfg *c, const attn_host_inputs *in, int b,
                        int h, ny_host *nh)
{
    const int S = p->seq, D = p->head_dim, m = c->m, hk = h / (p->heads / p->kv_heads);
    const float *Q = in->q + ((size_t)b * p->heads + h) * S * D;
    const float *K = in->k + ((size_t)b * p->kv_heads + hk) * S * D;
    const float *V = in->v + ((size_t)b * p->kv_heads + hk) * S * D;
    project_mean(p, Q, m, 0, nh->qt, nh->acc);
    project_mean(p, K, m, 0, nh->kt, nh->acc);
    /* W: each landmark query over the S keys, rounded to the dtype as the attention stores it */
    const attn_point over_s = lr_one(p, c, S);
    for (int i = 0; i < m; i++) {
        float *wi = nh->w + (size_t)i * D;
        ATTN_TRY(lr_cpu_attend(c, &over_s, nh->qt + (size_t)i * D, K, V, wi));
        for (int d = 0; d < D; d++) wi[d] = attn_round(p->dtype, wi[d]);
    }
    /* A = softmax(s·Q̃·K̃ᵀ) by rows, Z ≈ pinv(A), Y = round_dtype(Z·W) */
    const double scale = attn_scale(p);
    for (int i = 0; i < m; i++) {
        double *row = nh->a + (size_t)i * m, mx = -INFINITY, sum = 0;
        for (int j = 0; j < m; j++) {
            double dot = 0;
            for (int d = 0; d < D; d++) dot += (double)nh->qt[(size_t)i * D + d] * nh->kt[(size_t)j * D + d];
            row[j] = dot * scale;
            mx = fmax(mx, row[j]);
        }
        for (int j = 0; j < m; j++) sum += row[j] = exp(row[j] - mx);
        for (int j = 0; j < m; j++) row[j] /= sum;
    }
    attn_lowrank_nystrom_pinv(m, nh->a, nh->z, nh->work);
    for (int i = 0; i < m; i++)
        for (int d = 0; d < D; d++) {
            double y = 0;
            for (int j = 0; j < m; j++) y += nh->z[(size_t)i * m + j] * nh->w[(size_t)j * D + d];
            nh->y[(size_t)i * D + d] = attn_round(p->dtype, (float)y);
        }
    return ATTN_OK;
}

/* method=nystrom: per (batch, query head) of the rows, its Y once; then each row attends over the
 * m keys K̃ with values Y. */
static int nystrom_cpu_rows(const attn_point *p, const lr_cfg *c, const attn_host_inputs *in,
                            const attn_row *rows, size_t n_rows, float *out)
{
    const int S = p->seq, D = p->head_dim, m = c->m;
    const size_t md = (size_t)m * D, mm = (size_t)m * m;
    float *f = malloc(4 * md * sizeof *f);
    double *dbl = malloc((6 * mm + (size_t)D) * sizeof *dbl);
    if (!f || !dbl) {
        free(f), free(dbl);
        return attn_fail("lowrank: out of host memory");
    }
    ny_host nh = {f, f + md, f + 2 * md, f + 3 * md, dbl, dbl + mm, dbl + 2 * mm, dbl + 6 * mm};
    const attn_point over_m = lr_one(p, c, m);
    int rc = ATTN_OK;
    long cached = -1; /* b·H + h of the head in nh (rows are sorted by b, h, s) */
    for (size_t r = 0; r < n_rows && rc == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const long head = (long)w->b * p->heads + w->h;
        if (head != cached) {
            rc = nystrom_head(p, c, in, w->b, w->h, &nh);
            cached = head;
        }
        if (rc == ATTN_OK)
            rc = lr_cpu_attend(c, &over_m, in->q + ((size_t)head * S + w->s) * D, nh.kt, nh.y,
                               out + r * D);
    }
    free(f), free(dbl);
    return rc;
}

static int lowrank_cpu_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                            size_t n_rows, float *out)
{
    lr_cfg c;
    const char *why = lr_config(p, &c);
    if (why) return attn_fail("lowrank: %s", why);
    if (c.nystrom) return nystrom_cpu_rows(p, &c, in, rows, n_rows, out);
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
    const attn_point one = lr_one(p, &c, k);
    int rc = ATTN_OK;
    long cached = -1; /* b·H_kv + hk of the slice in kp, vp (rows are sorted by b, h, s) */
    for (size_t r = 0; r < n_rows && rc == ATTN_OK; r++) {
        const attn_row *w = &rows[r];
        const long slice = (long)w->b * p->kv_heads + w->h / group;
        if (slice != cached) {
            if (c.kind == LR_PROJ_MEAN) {
                project_mean(p, in->k + (size_t)slice * S * D, k, 1, kp, acc);
                project_mean(p, in->v + (size_t)slice * S * D, k, 1, vp, acc);
            } else {
                project(p, E, in->k + (size_t)slice * S * D, k, kp, acc);
                project(p, F, in->v + (size_t)slice * S * D, k, vp, acc);
            }
            cached = slice;
        }
        rc = lr_cpu_attend(&c, &one, in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D,
                           kp, vp, out + r * D);
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
    if (c.nystrom) { /* per (batch, query head): landmarks (one add per Q and K element), W, A, the
                        iteration's 4 GEMMs of 2·m³, Z·W, then O */
        const double m = c.m;
        return (double)p->batch * p->heads *
               (2.0 * S * D + 4.0 * m * S * D + 2.0 * m * m * D + LR_PINV_ITERS * 4 * 2.0 * m * m * m +
                2.0 * m * m * D + 4.0 * S * m * D);
    }
    if (c.kind == LR_PROJ_MEAN) /* one add per key element and projection, then the attention */
        return 2.0 * p->batch * p->kv_heads * S * D + 4.0 * p->batch * p->heads * S * k * D;
    return 2.0 * 2.0 * p->batch * p->kv_heads * k * S * D + 4.0 * p->batch * p->heads * S * k * D;
}

/* Linformer: Q, K, V read, E and F read once (shared by the slices, L2-resident), K′ and V′
 * written and read, O written; the fallback path also writes, reads, writes and reads its
 * [B·H·S][k] scores. Nyström: Q and K read twice (landmarks, then the attentions), V once, O
 * written; Q̃, K̃, W, Y ([B][H][m][D]) and every m×m fp32 matrix (A, Z₀ and 7 per iteration)
 * written and read once; the fallback path's scores as Linformer's, for each of its two
 * attentions. */
static double lowrank_bytes(const attn_point *p)
{
    lr_cfg c;
    if (lr_config(p, &c)) return 0;
    if (c.nystrom) {
        const double e = (double)attn_dtype_size(p->dtype), m = c.m, bh = (double)p->batch * p->heads;
        double b = e * (3.0 * attn_q_elems(p) + 3.0 * attn_kv_elems(p) + 8.0 * bh * m * p->head_dim) +
                   4.0 * 2.0 * (2 + 7 * LR_PINV_ITERS) * bh * m * m;
        if (!c.fused) b += 2 * e * 4.0 * bh * (double)p->seq * m;
        return b;
    }
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
    /* cuBLAS may add split-K reductions to its GEMMs (nystrom: always some); otherwise pooling
     * (1), then the fused attention (1). */
    if (c.nystrom || !c.fused || c.kind != LR_PROJ_MEAN) return -1;
    return 2;
}

const attn_variant attn_variant_lowrank = {
    .name = "lowrank",
    .description = "low-rank attention: Linformer (K,V projected to k rows) or Nystromformer (m landmarks), fused attention over them",
    .exact = 0,
    .param_keys = "k,m,method,attn,path,tile,seed,proj,streams",
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
