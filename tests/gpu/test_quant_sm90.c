/* test_quant_sm90.c (GPU) — the Hopper kernel of variant `quant` (kernels/quant_sm90.cu) on its
 * own: inputs quantized on the host exactly as kernels/quant.h documents (per-128-row INT8 scales
 * of Q and of K − mean, e4m3 Vᵀ with per-channel scales; nearest even, saturating; e4m3 by
 * cuda_fp8.h's host conversion) and uploaded; every mode (qk int8 / dtype, pv fp8 / dtype,
 * two-level / single accumulation, p on the INT8 grid, smoothing off) at S = 1, 127, 1000, 4096,
 * D = 64 and 128, causal and not, GQA and MQA, normal and outlier inputs; each output against a
 * host model of the same quantization (the kernel's tile-wise online softmax: the same running
 * maxima, so the same e4m3 rounding points) and against exact attention; a corrupted output must
 * be rejected. Every int8/fp8 mode also runs on the kernel's candidate instances (KERNELS; the
 * FOLD ones against the model with their exponent expression). --small: a few small shapes (for
 * compute-sanitizer). --bench: kernel-only dense-equivalent TOPS at S = 8k/16k/32k beside fused's
 * bf16 wgmma kernel (medians of event-timed launches, L2 flushed before each), the default
 * instance in four modes, then each candidate in int8/fp8 two-level and single.
 *
 * Tolerance against the model: rel L2 ≤ 1e-2 (bf16 output: its rounding alone gives ~2.3e-3) or
 * 4e-3 (fp16), and max abs ≤ 2^-3 · max|o|. The model rounds the same values at the same points;
 * what differs is exp2 (ex2.approx, 2 ulp, against exp2f), the fp32 summation order of the tensor
 * cores and of the row sums, and the FP8 accumulator's ~22 bits: a probability whose 448·P̃ lies
 * within an ulp of an e4m3 rounding boundary can round the other way, one e4m3 step (2^-3 of
 * itself), rarely, so single elements may move by up to that fraction of a dominant term. */
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fused_sm90.h"
#include "inputs.h"
#include "quant.h"
#include "test.h"
#include "timer.h"

#define LOG2E 1.4426950408889634

typedef struct mode {
    int qk_int8, pv_fp8, two_level, p_int8, smooth;
    const char *name;
} mode;

static const mode MODES[] = {
    {1, 1, 1, 0, 1, "int8/fp8 two-level"}, {1, 1, 0, 0, 1, "int8/fp8 single"},
    {0, 1, 1, 0, 1, "dtype/fp8"},          {1, 0, 1, 0, 1, "int8/dtype"},
    {0, 0, 1, 0, 1, "dtype/dtype"},        {1, 1, 1, 0, 0, "int8/fp8 unsmoothed"},
    {1, 1, 1, 1, 1, "int8/fp8 p=int8"},
};
enum { N_MODES = sizeof MODES / sizeof MODES[0], P_INT8_MODE = 6 };

/* The kernel's instances (attn_quant_args.sm90_kernel): plain (the only one of the other modes),
 * then those of int8/fp8 (fold its default), at one D (0: both). */
typedef struct kernel_inst {
    int bits, D;
    const char *name;
} kernel_inst;
static const kernel_inst KERNELS[] = {
    {0, 0, "plain"},
    {ATTN_QUANT_SM90_FOLD, 0, "fold"},
    {ATTN_QUANT_SM90_WG3, 64, "wg3"},
    {ATTN_QUANT_SM90_WG3 | ATTN_QUANT_SM90_FOLD, 64, "wg3+fold"},
    {ATTN_QUANT_SM90_ST3, 128, "st3"},
    {ATTN_QUANT_SM90_ST3 | ATTN_QUANT_SM90_FOLD, 128, "st3+fold"},
};
enum { N_KERNELS = sizeof KERNELS / sizeof KERNELS[0] };

static int kernel_has(const kernel_inst *k, const mode *m, int D)
{
    if (!k->bits) return 1;
    return m->qk_int8 && m->pv_fp8 && (!k->D || k->D == D);
}

/* One problem: the dtype inputs, their quantized copies (host and device), the output. */
typedef struct problem {
    attn_dtype dt;
    int B, H, Hkv, S, D, causal, s_pad, nblk, smooth;
    attn_init init;
    void *q, *k, *v;           /* host, dtype */
    float *qf, *kf, *vf;       /* the same as floats */
    int8_t *q8, *k8;           /* host */
    float *qs, *ks, *km, *vs;  /* host scales, K mean */
    uint8_t *v8t;              /* host */
    void *dq, *dk, *dv, *dout; /* device, dtype */
    attn_quant_tensors t;      /* device */
} problem;

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__,     \
                   #call);                                                                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        printf("out of host memory\n");
        exit(1);
    }
    return p;
}

static void *upload(const void *h, size_t n)
{
    void *d;
    CK(cudaMalloc(&d, n ? n : 1));
    CK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
    return d;
}

static float e4m3_value(uint8_t x)
{
    __half_raw h = __nv_cvt_fp8_to_halfraw(x, __NV_E4M3);
    uint16_t bits = h.x;
    /* fp16 → float by hand (C has no half type): sign, 5-bit exponent, 10-bit mantissa */
    int sign = bits >> 15, e = (bits >> 10) & 31, m = bits & 1023;
    float v = e ? ldexpf(1.f + m / 1024.f, e - 15) : ldexpf(m / 1024.f, -14);
    return sign ? -v : v;
}

static float e4m3_table[256]; /* e4m3 code → value */
static void e4m3_table_init(void)
{
    for (int i = 0; i < 256; i++) e4m3_table[i] = e4m3_value((uint8_t)i);
}

static uint8_t e4m3(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }

/* x (rows × D, of one head, minus mean[D] when given) to INT8 with one scale per 128 rows. */
static void quant_rows(const float *x, size_t off, const float *mean, int S, int D, int8_t *x8,
                       float *scale)
{
    for (int r0 = 0, blk = 0; r0 < S; r0 += ATTN_QUANT_BLOCK, blk++) {
        const int r1 = r0 + ATTN_QUANT_BLOCK < S ? r0 + ATTN_QUANT_BLOCK : S;
        float amax = 0.f;
        for (int r = r0; r < r1; r++)
            for (int d = 0; d < D; d++) {
                const float y = x[off + (size_t)r * D + d] - (mean ? mean[d] : 0.f);
                amax = fmaxf(amax, fabsf(y));
            }
        const float sc = amax > 0.f ? amax / 127.f : 1.f;
        scale[blk] = sc;
        for (int r = r0; r < r1; r++)
            for (int d = 0; d < D; d++) {
                const float y = x[off + (size_t)r * D + d] - (mean ? mean[d] : 0.f);
                const float qv = rintf(y / sc);
                x8[off + (size_t)r * D + d] = (int8_t)(qv > 127.f ? 127 : qv < -127.f ? -127 : qv);
            }
    }
}

static void quantize(problem *P)
{
    const int S = P->S, D = P->D;
    for (int bh = 0; bh < P->B * P->H; bh++)
        quant_rows(P->qf, (size_t)bh * S * D, NULL, S, D, P->q8, P->qs + (size_t)bh * P->nblk);
    for (int bh = 0; bh < P->B * P->Hkv; bh++) {
        const size_t off = (size_t)bh * S * D;
        float *mean = P->km + (size_t)bh * D;
        for (int d = 0; d < D; d++) {
            double sum = 0;
            for (int r = 0; r < S; r++) sum += P->kf[off + (size_t)r * D + d];
            mean[d] = P->smooth ? (float)(sum / S) : 0.f;
        }
        quant_rows(P->kf, off, mean, S, D, P->k8, P->ks + (size_t)bh * P->nblk);
        for (int d = 0; d < D; d++) {
            float amax = 0.f;
            for (int r = 0; r < S; r++) amax = fmaxf(amax, fabsf(P->vf[off + (size_t)r * D + d]));
            const float sc = amax > 0.f ? amax / ATTN_QUANT_P_SCALE : 1.f;
            P->vs[(size_t)bh * D + d] = sc;
            for (int r = 0; r < S; r++)
                P->v8t[((size_t)bh * D + d) * P->s_pad + r] =
                    e4m3(P->vf[off + (size_t)r * D + d] / sc);
        }
    }
}

static void problem_init(problem *P, attn_dtype dt, int B, int H, int Hkv, int S, int D, int causal,
                         attn_init init, int smooth, uint64_t seed)
{
    memset(P, 0, sizeof *P);
    P->dt = dt, P->B = B, P->H = H, P->Hkv = Hkv, P->S = S, P->D = D, P->causal = causal,
    P->init = init;
    P->smooth = smooth;
    P->s_pad = (S + 15) / 16 * 16;
    P->nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    const size_t nq = (size_t)B * H * S * D, nk = (size_t)B * Hkv * S * D, es = attn_dtype_size(dt);
    P->q = xmalloc(nq * es), P->k = xmalloc(nk * es), P->v = xmalloc(nk * es);
    attn_fill_host(P->q, dt, nq, seed, ATTN_TENSOR_Q, init, D, S);
    attn_fill_host(P->k, dt, nk, seed, ATTN_TENSOR_K, init, D, S);
    attn_fill_host(P->v, dt, nk, seed, ATTN_TENSOR_V, init, D, S);
    P->qf = xmalloc(nq * 4), P->kf = xmalloc(nk * 4), P->vf = xmalloc(nk * 4);
    for (size_t i = 0; i < nq; i++) P->qf[i] = attn_load(dt, P->q, i);
    for (size_t i = 0; i < nk; i++)
        P->kf[i] = attn_load(dt, P->k, i), P->vf[i] = attn_load(dt, P->v, i);
    P->q8 = xmalloc(nq), P->k8 = xmalloc(nk);
    P->qs = xmalloc((size_t)B * H * P->nblk * 4), P->ks = xmalloc((size_t)B * Hkv * P->nblk * 4);
    P->km = xmalloc((size_t)B * Hkv * D * 4), P->vs = xmalloc((size_t)B * Hkv * D * 4);
    P->v8t = xmalloc((size_t)B * Hkv * D * P->s_pad);
    quantize(P);
    P->dq = upload(P->q, nq * es), P->dk = upload(P->k, nk * es), P->dv = upload(P->v, nk * es);
    CK(cudaMalloc(&P->dout, nq * es));
    P->t.q8 = upload(P->q8, nq), P->t.k8 = upload(P->k8, nk);
    P->t.q_scale = upload(P->qs, (size_t)B * H * P->nblk * 4);
    P->t.k_scale = upload(P->ks, (size_t)B * Hkv * P->nblk * 4);
    P->t.k_mean = upload(P->km, (size_t)B * Hkv * D * 4);
    P->t.v8t = upload(P->v8t, (size_t)B * Hkv * D * P->s_pad);
    P->t.v_scale = upload(P->vs, (size_t)B * Hkv * D * 4);
}

static void problem_free(problem *P)
{
    void *h[] = {P->q,  P->k,  P->v,  P->qf, P->kf, P->vf, P->q8,
                 P->k8, P->qs, P->ks, P->km, P->vs, P->v8t};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) free(h[i]);
    void *d[] = {P->dq,        P->dk,        P->dv,       P->dout,  P->t.q8,     P->t.k8,
                 P->t.q_scale, P->t.k_scale, P->t.k_mean, P->t.v8t, P->t.v_scale};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) CK(cudaFree(d[i]));
}

static attn_quant_args args_of(const problem *P, const mode *m, const kernel_inst *k)
{
    attn_quant_args a;
    memset(&a, 0, sizeof a);
    a.dtype = P->dt, a.B = P->B, a.H = P->H, a.Hkv = P->Hkv, a.S = P->S, a.D = P->D,
    a.causal = P->causal;
    a.q = P->dq, a.k = P->dk, a.v = P->dv, a.o = P->dout, a.t = P->t;
    a.qk_int8 = m->qk_int8, a.pv_fp8 = m->pv_fp8, a.smooth = P->smooth,
    a.accum_two_level = m->two_level;
    a.p_int8 = m->p_int8;
    a.sm90_kernel = k->bits;
    a.stream = 0;
    return a;
}

/* The host model of one output row (b, h, r): the kernel's quantization and its tile-wise online
 * softmax (128-key tiles, the same running maxima, kept in the log2 domain, the same fp32
 * expressions for the exponents: fold, the FOLD instances' fmaf(M + s, c, −fmaf(M, c, m − bias))),
 * accumulated in double. */
static void model_row(const problem *P, const mode *m, int fold, int b, int h, int r, double *out)
{
    const int S = P->S, D = P->D, hk = h / (P->H / P->Hkv);
    const size_t qo = (((size_t)b * P->H + h) * S + r) * D, kh = ((size_t)b * P->Hkv + hk);
    const float sl2 = (float)(LOG2E / sqrt((double)D));
    const float qsc = P->qs[((size_t)b * P->H + h) * P->nblk + r / ATTN_QUANT_BLOCK];
    const float bias = m->pv_fp8 ? 8.807354922057604f : 0.f,
                top = m->pv_fp8 ? ATTN_QUANT_P_SCALE : 1.f;
    const int nk = P->causal ? r + 1 : S;
    double *o = xmalloc(D * sizeof(double)), *ot = xmalloc(D * sizeof(double));
    float s[ATTN_QUANT_BLOCK], m_run = -INFINITY;
    double l = 0;
    for (int j0 = 0; j0 < nk; j0 += ATTN_QUANT_BLOCK) {
        const int n = nk - j0 < ATTN_QUANT_BLOCK ? nk - j0 : ATTN_QUANT_BLOCK;
        const float c = m->qk_int8 ? qsc * P->ks[kh * P->nblk + j0 / ATTN_QUANT_BLOCK] * sl2 : sl2;
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            const size_t ko = (kh * S + j0 + i) * D;
            if (m->qk_int8) {
                int acc = 0;
                for (int d = 0; d < D; d++) acc += (int)P->q8[qo + d] * (int)P->k8[ko + d];
                s[i] = (float)acc;
            } else {
                double acc = 0;
                for (int d = 0; d < D; d++) acc += (double)P->qf[qo + d] * P->kf[ko + d];
                s[i] = (float)acc;
            }
            mx = fmaxf(mx, s[i]);
        }
        const float m_new = fmaxf(m_run, mx * c), ms = m_new - bias;
        const float magic = 12582912.f, off = fmaf(magic, c, ms); /* fold: s + magic is exact */
        const double alpha = m_run == -INFINITY ? 0.0 : exp2f(m_run - m_new);
        memset(ot, 0, D * sizeof(double));
        double lt = 0;
        for (int i = 0; i < n; i++) {
            float p =
                fold ? exp2f(fmaf(s[i] + magic, c, -off)) : exp2f(fmaf(s[i], c, -ms)); /* top·P̃ */
            lt += p;
            if (m->p_int8) p = rintf(p * (127.f / top)) * (top / 127.f);
            const int key = j0 + i;
            if (m->pv_fp8) {
                const float pq = e4m3_table[e4m3(p)];
                for (int d = 0; d < D; d++)
                    ot[d] += (double)pq * e4m3_table[P->v8t[(kh * D + d) * P->s_pad + key]];
            } else {
                const float pq = attn_round(P->dt, p);
                for (int d = 0; d < D; d++) ot[d] += (double)pq * P->vf[(kh * S + key) * D + d];
            }
        }
        l = l * alpha + lt;
        for (int d = 0; d < D; d++) o[d] = o[d] * alpha + ot[d];
        m_run = m_new;
    }
    for (int d = 0; d < D; d++) out[d] = o[d] * (m->pv_fp8 ? P->vs[kh * D + d] : 1.0) / l;
    free(o);
    free(ot);
}

/* Exact attention of row (b, h, r) from the dtype inputs, in double. */
static void exact_row(const problem *P, int b, int h, int r, double *out)
{
    const int S = P->S, D = P->D, hk = h / (P->H / P->Hkv), nk = P->causal ? r + 1 : S;
    const size_t qo = (((size_t)b * P->H + h) * S + r) * D, kh = (size_t)b * P->Hkv + hk;
    double *sc = xmalloc(nk * sizeof(double)), mx = -INFINITY, l = 0;
    for (int k = 0; k < nk; k++) {
        double acc = 0;
        for (int d = 0; d < D; d++) acc += (double)P->qf[qo + d] * P->kf[(kh * S + k) * D + d];
        sc[k] = acc / sqrt((double)D);
        if (sc[k] > mx) mx = sc[k];
    }
    for (int d = 0; d < D; d++) out[d] = 0;
    for (int k = 0; k < nk; k++) {
        const double p = exp(sc[k] - mx);
        l += p;
        for (int d = 0; d < D; d++) out[d] += p * P->vf[(kh * S + k) * D + d];
    }
    for (int d = 0; d < D; d++) out[d] /= l;
    free(sc);
}

/* Rows checked: every row up to S = 256, else 32 first, 32 last and 32 spread between. */
static int checked_row(int S, int i)
{
    if (S <= 256) return i;
    if (i < 32) return i;
    if (i < 64) return S - 64 + i;
    return 32 + (int)((long long)(i - 64) * (S - 96) / 32);
}
static int checked_rows(int S) { return S <= 256 ? S : 96; }

typedef struct metrics {
    double max_abs, ref_max, l2_err, l2_ref, dot, n_got, n_ref, sq_err;
    long n, nonfinite;
} metrics;

static void metrics_add(metrics *M, float got, double want)
{
    if (!isfinite(got)) {
        M->nonfinite++;
        return;
    }
    const double e = got - want;
    M->max_abs = fmax(M->max_abs, fabs(e));
    M->ref_max = fmax(M->ref_max, fabs(want));
    M->l2_err += e * e, M->l2_ref += want * want;
    M->dot += got * want, M->n_got += (double)got * got, M->n_ref += want * want;
    M->sq_err += e * e;
    M->n++;
}
static double rel_l2(const metrics *M) { return sqrt(M->l2_err / fmax(M->l2_ref, 1e-300)); }
static double cosine(const metrics *M) { return M->dot / sqrt(fmax(M->n_got * M->n_ref, 1e-300)); }
static double rmse(const metrics *M) { return sqrt(M->sq_err / (M->n ? M->n : 1)); }

/* The check against the model: no non-finite value, rel L2 and max abs within the tolerance. */
static int model_ok(const metrics *M, attn_dtype dt)
{
    const double tol = dt == ATTN_BF16 ? 1e-2 : 4e-3;
    return M->nonfinite == 0 && rel_l2(M) <= tol && M->max_abs <= 0.125 * M->ref_max;
}

/* Runs mode m on instance k on P (output poisoned with NaN first) and returns the output as
 * floats. */
static float *run_kernel(problem *P, const mode *m, const kernel_inst *k)
{
    const size_t n = (size_t)P->B * P->H * P->S * P->D, es = attn_dtype_size(P->dt);
    attn_quant_args a = args_of(P, m, k);
    CK(cudaMemset(P->dout, 0xff, n * es));
    if (attn_quant_sm90_setup(&a) != ATTN_OK || attn_quant_sm90_launch(&a) != ATTN_OK) return NULL;
    CK(cudaDeviceSynchronize());
    void *h = xmalloc(n * es);
    CK(cudaMemcpy(h, P->dout, n * es, cudaMemcpyDeviceToHost));
    float *f = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = attn_load(P->dt, h, i);
    free(h);
    return f;
}

/* The output rows checked, against the model (vs_model) and exact attention (vs_exact). */
static void measure(const problem *P, const mode *m, int fold, const float *got, metrics *vs_model,
                    metrics *vs_exact)
{
    memset(vs_model, 0, sizeof *vs_model);
    memset(vs_exact, 0, sizeof *vs_exact);
    double *want = xmalloc(P->D * sizeof(double)), *ex = xmalloc(P->D * sizeof(double));
    for (int b = 0; b < P->B; b++)
        for (int h = 0; h < P->H; h++)
            for (int i = 0; i < checked_rows(P->S); i++) {
                const int r = checked_row(P->S, i);
                model_row(P, m, fold, b, h, r, want);
                exact_row(P, b, h, r, ex);
                const float *g = got + (((size_t)b * P->H + h) * P->S + r) * P->D;
                for (int d = 0; d < P->D; d++) {
                    metrics_add(vs_model, g[d], want[d]);
                    metrics_add(vs_exact, g[d], ex[d]);
                }
            }
    free(want);
    free(ex);
}

static int corrupted_checked; /* the rejection check runs once */

/* K quantized again with smoothing on or off, and uploaded. */
static void requantize(problem *P, int smooth)
{
    P->smooth = smooth;
    quantize(P);
    const size_t nk = (size_t)P->B * P->Hkv * P->S * P->D, nkb = (size_t)P->B * P->Hkv * P->nblk;
    CK(cudaMemcpy(P->t.k8, P->k8, nk, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(P->t.k_scale, P->ks, nkb * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(P->t.k_mean, P->km, (size_t)P->B * P->Hkv * P->D * 4, cudaMemcpyHostToDevice));
}

/* Mode mi on instance k on P: against the model (and, on normal inputs, cosine against exact
 * attention). */
static void check_mode(problem *P, int mi, const kernel_inst *k)
{
    const mode *m = &MODES[mi];
    const int S = P->S, D = P->D, fold = (k->bits & ATTN_QUANT_SM90_FOLD) != 0;
    printf("launch %s [%s] S=%d D=%d causal=%d\n", m->name, k->name, S, D,
           P->causal); /* names a launch that hangs */
    float *got = run_kernel(P, m, k);
    char what[256];
    snprintf(what, sizeof what, "%s [%s] %s %s S=%d D=%d causal=%d B=%d H=%d Hkv=%d", m->name,
             k->name, attn_dtype_name(P->dt), P->init == ATTN_INIT_OUTLIERS ? "outliers" : "normal",
             S, D, P->causal, P->B, P->H, P->Hkv);
    test_cond(what, got != NULL);
    if (!got) return;
    metrics M, E;
    measure(P, m, fold, got, &M, &E);
    printf(
        "%-22s %-8s %s %-8s S=%-5d D=%-3d c=%d | model: rel L2 %.2e max %.2e (ref %.2e) nonfinite %ld | "
        "exact: cos %.6f rel L2 %.2e rmse %.2e\n",
        m->name, k->name, attn_dtype_name(P->dt),
        P->init == ATTN_INIT_OUTLIERS ? "outliers" : "normal", S, D, P->causal, rel_l2(&M),
        M.max_abs, M.ref_max, M.nonfinite, cosine(&E), rel_l2(&E), rmse(&E));
    fflush(stdout);
    test_cond(what, model_ok(&M, P->dt));
    if (P->init == ATTN_INIT_NORMAL && mi != P_INT8_MODE) test_cond(what, cosine(&E) >= 0.999);
    if (!corrupted_checked && S >= 127) {
        /* one element off by a quarter of the largest output: the checker must reject it */
        got[(size_t)checked_row(S, 5) * D + 3] += 0.25f * (float)M.ref_max;
        measure(P, m, fold, got, &M, &E);
        test_cond("a corrupted output is rejected", !model_ok(&M, P->dt));
        corrupted_checked = 1;
    }
    free(got);
}

/* The modes listed (smoothed K) on every instance that has them, then the unsmoothed mode (the
 * default instance) when asked. */
static void check_shape(attn_dtype dt, int B, int H, int Hkv, int S, int D, int causal,
                        attn_init init, const int *modes, int n, int unsmoothed)
{
    problem P;
    problem_init(&P, dt, B, H, Hkv, S, D, causal, init, 1, 1234 + S + D + causal);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < N_KERNELS; k++)
            if (kernel_has(&KERNELS[k], &MODES[modes[i]], D)) check_mode(&P, modes[i], &KERNELS[k]);
    if (unsmoothed) {
        requantize(&P, 0);
        check_mode(&P, 5, &KERNELS[0]);
    }
    problem_free(&P);
}

static void correctness(int small)
{
    static const int seqs[] = {1, 127, 1000, 4096}, small_seqs[] = {127, 130}, dims[] = {64, 128};
    static const int smoothed[] = {0, 1, 2, 3, 4, 6}, fp16[] = {0, 2}, outl[] = {0, 1};
    for (int si = 0; si < (small ? 2 : 4); si++)
        for (int di = 0; di < 2; di++)
            for (int causal = 0; causal < 2; causal++) {
                const int S = small ? small_seqs[si] : seqs[si], D = dims[di];
                const int B = S >= 4096 ? 1 : 2, H = S >= 4096 ? 2 : 4, Hkv = S >= 4096 ? 1 : 2;
                check_shape(ATTN_BF16, B, H, Hkv, S, D, causal, ATTN_INIT_NORMAL, smoothed,
                            small ? 4 : 6, !small);
                if (small) continue;
                check_shape(ATTN_FP16, B, H, Hkv, S, D, causal, ATTN_INIT_NORMAL, fp16, 2, 0);
                check_shape(ATTN_BF16, B, H, Hkv, S, D, causal, ATTN_INIT_OUTLIERS, outl, 2, 1);
            }
}

/* Median of reps event-timed launches of f, each after attnbench's L2 flush (timer.h). */
typedef int (*launch_fn)(void *ctx);
static double time_ms(launch_fn f, void *ctx, void *flush, size_t flush_bytes, int reps)
{
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double t[64];
    if (f(ctx) != ATTN_OK) return -1; /* warm-up */
    for (int i = 0; i < reps; i++) {
        if (attn_l2_flush(flush, flush_bytes, 0) != ATTN_OK) return -1;
        CK(cudaEventRecord(e0, 0));
        if (f(ctx) != ATTN_OK) return -1;
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t[i] = ms;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double x = t[j];
            t[j] = t[j - 1], t[j - 1] = x;
        }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return t[reps / 2];
}

static int launch_quant(void *ctx) { return attn_quant_sm90_launch((const attn_quant_args *)ctx); }

typedef struct fused_ctx {
    const problem *P;
    int nwg;
} fused_ctx;
static int launch_fused(void *ctx)
{
    const fused_ctx *c = ctx;
    const problem *P = c->P;
    return attn_fused_sm90_launch(P->dt, P->D, c->nwg, P->B, P->H, P->Hkv, P->S, P->causal, P->dq,
                                  P->dk, P->dv, P->dout, NULL, 0);
}

/* A problem for timing only, built fast at S up to 32k: the dtype inputs by the GPU generator,
 * the quantized copies random codes (INT8 in ±127, finite e4m3) with plausible scales; no host
 * copies (nothing is checked). */
static void bench_problem_init(problem *P, int B, int H, int S, int D, int causal)
{
    memset(P, 0, sizeof *P);
    P->dt = ATTN_BF16, P->B = B, P->H = P->Hkv = H, P->S = S, P->D = D, P->causal = causal,
    P->smooth = 1;
    P->s_pad = (S + 15) / 16 * 16;
    P->nblk = (S + ATTN_QUANT_BLOCK - 1) / ATTN_QUANT_BLOCK;
    const size_t n = (size_t)B * H * S * D, nv = (size_t)B * H * D * P->s_pad,
                 nb = (size_t)B * H * P->nblk;
    void **d[] = {&P->dq, &P->dk, &P->dv, &P->dout};
    for (int i = 0; i < 4; i++) CK(cudaMalloc(d[i], n * 2));
    if (attn_fill_device(P->dq, ATTN_BF16, n, 5, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, D, S, 0) !=
            ATTN_OK ||
        attn_fill_device(P->dk, ATTN_BF16, n, 5, ATTN_TENSOR_K, ATTN_INIT_NORMAL, D, S, 0) !=
            ATTN_OK ||
        attn_fill_device(P->dv, ATTN_BF16, n, 5, ATTN_TENSOR_V, ATTN_INIT_NORMAL, D, S, 0) !=
            ATTN_OK)
        exit(1);
    uint8_t *h = xmalloc(nv > n ? nv : n);
    uint64_t x = 88172645463325252ull;
    int8_t **q8k8[] = {&P->t.q8, &P->t.k8};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            h[i] = (uint8_t)(int8_t)((int)(x % 255) - 127);
        }
        *q8k8[t] = upload(h, n);
    }
    for (size_t i = 0; i < nv; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = (uint8_t)(x % 0x7f) | (uint8_t)((x >> 32) & 0x80); /* finite e4m3, either sign */
    }
    P->t.v8t = upload(h, nv);
    free(h);
    float *f = xmalloc((nb > (size_t)B * H * D ? nb : (size_t)B * H * D) * 4);
    for (size_t i = 0; i < nb; i++) f[i] = 3.f / 127.f;
    P->t.q_scale = upload(f, nb * 4), P->t.k_scale = upload(f, nb * 4);
    for (size_t i = 0; i < (size_t)B * H * D; i++) f[i] = 4.f / ATTN_QUANT_P_SCALE;
    P->t.v_scale = upload(f, (size_t)B * H * D * 4), P->t.k_mean = upload(f, (size_t)B * H * D * 4);
    free(f);
}

static void bench(void)
{
    static const int seqs[] = {8192, 16384, 32768}, dims[] = {128, 64};
    static const int bench_modes[] = {0, 1, 2, 3};
    const size_t flush_bytes = 256u << 20;
    void *flush;
    CK(cudaMalloc(&flush, flush_bytes));
    printf(
        "bench: kernel only, bf16, H·D = 2048, B·S = 32768, dense-equivalent TOPS (÷2 causal), median of 9\n");
    for (int di = 0; di < 2; di++)
        for (int si = 0; si < 3; si++)
            for (int causal = 0; causal < 2; causal++) {
                const int S = seqs[si], D = dims[di], H = 2048 / D, B = 32768 / S;
                problem P;
                bench_problem_init(&P, B, H, S, D, causal);
                const double flops = 4.0 * B * H * (double)S * S * D / (causal ? 2 : 1);
                fused_ctx fc = {&P, attn_fused_sm90_default_nwg(D, S, causal)};
                double tf = -1;
                if (attn_fused_sm90_setup(ATTN_BF16, D, fc.nwg) == ATTN_OK)
                    tf = time_ms(launch_fused, &fc, flush, flush_bytes, 9);
                printf("S=%-5d D=%-3d causal=%d B=%d H=%d | fused bf16 %.3f ms %.1f TFLOP/s", S, D,
                       causal, B, H, tf, flops / tf * 1e-9);
                /* the default instance in each mode, then each candidate in the int8/fp8 modes
                 * it has (compare with the default's column of the same mode) */
                for (int k = 0; k < N_KERNELS; k++)
                    for (size_t i = 0; i < sizeof bench_modes / sizeof bench_modes[0]; i++) {
                        const mode *m = &MODES[bench_modes[i]];
                        if ((k > 0 && bench_modes[i] > 1) || !kernel_has(&KERNELS[k], m, D))
                            continue;
                        attn_quant_args a = args_of(&P, m, &KERNELS[k]);
                        double tq = -1;
                        if (attn_quant_sm90_setup(&a) == ATTN_OK)
                            tq = time_ms(launch_quant, &a, flush, flush_bytes, 9);
                        printf(" | %s%s%s %.3f ms %.1f", m->name, k ? " " : "",
                               k ? KERNELS[k].name : "", tq, flops / tq * 1e-9);
                    }
                printf("\n");
                fflush(stdout);
                problem_free(&P);
            }
    CK(cudaFree(flush));
}

int main(int argc, char **argv)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("no GPU: the GPU tests need one\n");
        test_report();
        return 1;
    }
    if (!attn_quant_sm90_available()) {
        printf("not an sm_90 device: the quant sm90 kernel needs one\n");
        test_report();
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per case, even when a launch never returns */
    e4m3_table_init();
    const int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench();
        return 0;
    }
    correctness(small);
    test_cond("the corrupted-output check ran", corrupted_checked);
    return test_report();
}
