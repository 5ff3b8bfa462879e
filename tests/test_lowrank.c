/* test_lowrank.c — the `lowrank` variant on the CPU: its cpu_rows against a direct fp64
 * implementation of the same Linformer formula (the same E, F, regenerated here from the documented
 * recipe or read from the same .npy file) at small odd shapes, both attention paths (fused, cuBLAS),
 * k < S, k = S and k > S (allowed: K′ has rank ≤ S, the formula holds); supports() reasons; the
 * .npy projection path; the work formulas. (The GPU against cpu_rows: tests/gpu, through the real
 * pipeline.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "core/npy.h"
#include "core/rng.h"
#include "fixture.h"
#include "test.h"
#include "variant.h"

extern const attn_variant attn_variant_lowrank;
static const attn_variant *V = &attn_variant_lowrank;
/* variants/lowrank.c: method=nystrom's pseudo-inverse (Nyströmformer's iteration), in double. */
void attn_lowrank_nystrom_pinv(int m, const double *A, double *Z, double *work);


/* The documented default projections: round_dtype(attn_rng_value(seed, 3|4, i)·(1/√k)). */
static float *seeded_proj(attn_dtype t, int k, int S, int tensor, uint64_t seed)
{
    size_t n = (size_t)k * S;
    float *e = malloc(n * sizeof *e);
    const float scale = (float)(1.0 / sqrt((double)k));
    for (size_t i = 0; i < n; i++) e[i] = attn_round(t, attn_rng_value(seed, tensor, i, 0, 1) * scale);
    return e;
}

/* Seeded Q, K, V of p (seed 42, as the harness makes them) widened to float; free_inputs frees. */
static attn_host_inputs seeded_inputs(const attn_point *p, attn_init init)
{
    const attn_host_inputs in = {
        fx_inputs(p->dtype, attn_q_elems(p), ATTN_TENSOR_Q, init, p->head_dim),
        fx_inputs(p->dtype, attn_kv_elems(p), ATTN_TENSOR_K, init, p->head_dim),
        fx_inputs(p->dtype, attn_kv_elems(p), ATTN_TENSOR_V, init, p->head_dim)};
    return in;
}

static void free_inputs(attn_host_inputs in)
{
    free((void *)in.q), free((void *)in.k), free((void *)in.v);
}

/* What an fp64 implementation needs beyond the inputs: Linformer's projections E, F and k; or
 * Nyström's m (in k). */
typedef struct ref_args {
    const float *E, *F;
    int k;
} ref_args;
typedef void (*ref_fn)(const attn_point *p, const attn_host_inputs *in, const ref_args *a,
                       const attn_row *rows, size_t n, double *out);

/* fp64 Linformer for the given rows: K′ = E·K, V′ = F·V stored in the dtype (as the variant
 * defines them: without that rounding, S = 1 in bf16 already differs by 1.4e-2, since the output
 * is then one V row times a sum of mixed-sign terms), then softmax(q·K′ᵀ/√D)·V′ in double. */
static void linformer_fp64(const attn_point *p, const attn_host_inputs *in, const ref_args *a,
                           const attn_row *rows, size_t n, double *out)
{
    const float *E = a->E, *F = a->F;
    const int k = a->k;
    const int S = p->seq, D = p->head_dim, group = p->heads / p->kv_heads;
    double *kp = malloc((size_t)k * D * sizeof *kp), *vp = malloc((size_t)k * D * sizeof *vp);
    double *sc = malloc((size_t)k * sizeof *sc);
    size_t cached = (size_t)-1;
    for (size_t r = 0; r < n; r++) {
        const attn_row *w = &rows[r];
        const size_t slice = (size_t)w->b * p->kv_heads + w->h / group;
        const float *K = in->k + slice * S * D, *Vv = in->v + slice * S * D;
        for (int i = 0; i < k && slice != cached; i++)
            for (int d = 0; d < D; d++) {
                double a = 0, b = 0;
                for (int s = 0; s < S; s++) {
                    a += (double)E[(size_t)i * S + s] * K[(size_t)s * D + d];
                    b += (double)F[(size_t)i * S + s] * Vv[(size_t)s * D + d];
                }
                kp[(size_t)i * D + d] = attn_round(p->dtype, (float)a);
                vp[(size_t)i * D + d] = attn_round(p->dtype, (float)b);
            }
        cached = slice;
        const float *q = in->q + (((size_t)w->b * p->heads + w->h) * S + w->s) * D;
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)q[d] * kp[(size_t)i * D + d];
            sc[i] = s / sqrt((double)D);
            if (sc[i] > mx) mx = sc[i];
        }
        for (int i = 0; i < k; i++) sum += sc[i] = exp(sc[i] - mx);
        for (int d = 0; d < D; d++) {
            double o = 0;
            for (int i = 0; i < k; i++) o += sc[i] * vp[(size_t)i * D + d];
            out[r * D + d] = o / sum;
        }
    }
    free(kp), free(vp), free(sc);
}

/* Relative L2 of cpu_rows (rounded to the dtype, as the harness does) on seeded inputs against an
 * fp64 implementation `ref`; -1 when cpu_rows fails. Also returns the check result against the
 * same target (so that the elementwise bound is exercised too). */
static double against_ref(const attn_point *p, ref_fn ref, const ref_args *a, attn_init init,
                          attn_check_result *cr)
{
    attn_host_inputs in = seeded_inputs(p, init);
    attn_row *rows;
    size_t n = attn_sample_rows(p, 1e12, &rows), m = n * p->head_dim;
    float *out = malloc(m * sizeof *out);
    double *ref_out = malloc(m * sizeof *ref_out);
    double rel = -1;
    if (V->cpu_rows(p, &in, rows, n, out) == ATTN_OK) {
        for (size_t i = 0; i < m; i++) out[i] = attn_round(p->dtype, out[i]);
        ref(p, &in, a, rows, n, ref_out);
        attn_check(out, ref_out, n, p->head_dim, attn_tolerance(p->dtype), cr);
        rel = cr->rel_l2;
    }
    free_inputs(in), free(rows), free(out), free(ref_out);
    return rel;
}

/* against_ref with the fp64 Linformer and projections E, F. */
static double against_fp64(const attn_point *p, const float *E, const float *F, int k,
                           attn_init init, attn_check_result *cr)
{
    const ref_args a = {E, F, k};
    return against_ref(p, linformer_fp64, &a, init, cr);
}

static attn_point point(int b, int h, int kv, int s, int d, attn_dtype t, const char *params)
{
    attn_point p = {b, h, kv, s, d, t, 0, ""};
    snprintf(p.params, sizeof p.params, "%s", params);
    return p;
}

/* Bound on rel L2 against fp64 per dtype: the 1e-2 for bf16; fp16 has 8x finer rounding;
 * fp32 only sums in another order. */
static double bound(attn_dtype t) { return t == ATTN_BF16 ? 1e-2 : t == ATTN_FP16 ? 2e-3 : 1e-5; }

static void formula_tests(void)
{
    double worst[3] = {0, 0, 0};
    static const struct {
        int b, h, kv, s, d, k;
        const char *extra;
    } cases[] = {
        {1, 1, 1, 1, 64, 16, ""},          /* S = 1, k > S */
        {1, 2, 1, 127, 64, 32, ""},        /* H_kv < H */
        {2, 4, 2, 200, 128, 64, ""},       /* two slices per batch, D = 128 */
        {1, 2, 2, 127, 128, 256, ""},      /* k > S, several key tiles */
        {1, 3, 1, 200, 64, 200, ""},       /* k = S, MQA */
        {1, 2, 1, 127, 64, 70, ",tile=128x128"},
        {1, 2, 1, 127, 64, 48, ",attn=cublas"},
        {1, 2, 2, 33, 7, 8, ""},           /* head_dim 7: the cuBLAS path */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int t = 0; t < 3; t++)
            for (int init = 0; init < 2; init++) {
                char params[128];
                snprintf(params, sizeof params, "k=%d%s", cases[ci].k, cases[ci].extra);
                attn_point p = point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                     cases[ci].d, (attn_dtype)t, params);
                const char *why = V->supports(&p);
                char what[512], shape[120];
                snprintf(what, sizeof what, "lowrank %s %s %s: supported", params,
                         attn_point_format(&p, shape, sizeof shape), init ? "outliers" : "normal");
                /* Supported but for tile=... on the fp32 (cuBLAS) path. */
                const int want_skip = t == ATTN_FP32 && strstr(params, "tile=");
                test_cond(what, want_skip ? why != NULL : why == NULL);
                if (why) continue;
                float *E = seeded_proj(p.dtype, cases[ci].k, p.seq, 3, 1);
                float *F = seeded_proj(p.dtype, cases[ci].k, p.seq, 4, 1);
                attn_check_result cr;
                double rel = against_fp64(&p, E, F, cases[ci].k, (attn_init)init, &cr);
                snprintf(what, sizeof what, "lowrank %s %s %s: cpu_rows vs fp64 Linformer rel L2 %.2e <= %.0e",
                         params, shape, init ? "outliers" : "normal", rel, bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= bound(p.dtype) && cr.n_bad == 0);
                if (rel > worst[t]) worst[t] = rel;
                free(E), free(F);
            }
    printf("cpu_rows vs fp64 Linformer, worst rel L2: fp16 %.2e, bf16 %.2e, fp32 %.2e\n", worst[0],
           worst[1], worst[2]);
}

/* The documented segment-mean matrix (proj=mean), dense: row i holds round_dtype(1/len_i) over
 * segment i = [floor(i·S/k), floor((i+1)·S/k)), zeros elsewhere. */
static float *mean_proj(attn_dtype t, int k, int S)
{
    float *e = calloc((size_t)k * S, sizeof *e);
    for (int i = 0; i < k; i++) {
        const long a = (long)i * S / k, b = (long)(i + 1) * S / k;
        for (long s = a; s < b; s++) e[(size_t)i * S + s] = attn_round(t, 1.0f / (float)(b - a));
    }
    return e;
}

static void mean_tests(void)
{
    static const struct {
        int b, h, kv, s, d, k;
        const char *extra;
    } cases[] = {
        {1, 1, 1, 1, 64, 1, ""},            /* one segment of one key */
        {1, 2, 1, 127, 64, 32, ""},         /* uneven segments (3 and 4 keys), GQA */
        {2, 4, 2, 200, 128, 64, ""},
        {1, 2, 2, 127, 128, 127, ""},       /* k = S: every segment one key = exact attention's keys */
        {1, 3, 1, 200, 64, 7, ",tile=128x128"},
        {1, 2, 1, 127, 64, 48, ",attn=cublas"},
        {1, 2, 1, 130, 64, 48, ",path=wgmma"},
        {1, 2, 2, 33, 7, 8, ""},            /* head_dim 7: the cuBLAS path */
    };
    double worst = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int t = 0; t < 3; t++)
            for (int init = 0; init < 2; init++) {
                char params[128];
                snprintf(params, sizeof params, "k=%d,proj=mean%s", cases[ci].k, cases[ci].extra);
                attn_point p = point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                     cases[ci].d, (attn_dtype)t, params);
                const char *why = V->supports(&p);
                char what[512], shape[120];
                attn_point_format(&p, shape, sizeof shape);
                const int want_skip = t == ATTN_FP32 && (strstr(params, "tile=") || strstr(params, "path="));
                snprintf(what, sizeof what, "lowrank %s %s: supported", params, shape);
                test_cond(what, want_skip ? why != NULL : why == NULL);
                if (why) continue;
                float *E = mean_proj(p.dtype, cases[ci].k, p.seq);
                attn_check_result cr;
                double rel = against_fp64(&p, E, E, cases[ci].k, (attn_init)init, &cr);
                snprintf(what, sizeof what, "lowrank %s %s %s: cpu_rows vs fp64 segment means rel L2 %.2e <= %.0e",
                         params, shape, init ? "outliers" : "normal", rel, bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= bound(p.dtype) && cr.n_bad == 0);
                if (p.dtype == ATTN_BF16 && rel > worst) worst = rel;
                free(E);
            }
    printf("cpu_rows vs fp64 segment means, worst bf16 rel L2: %.2e\n", worst);
    /* proj=gaussian names the default: the same rows, bit for bit. */
    attn_point a = point(1, 2, 1, 64, 64, ATTN_BF16, "k=16"), b = point(1, 2, 1, 64, 64, ATTN_BF16, "k=16,proj=gaussian");
    attn_host_inputs in = seeded_inputs(&a, ATTN_INIT_NORMAL);
    attn_row *rows;
    size_t n = attn_sample_rows(&a, 1e12, &rows);
    float *x = malloc(n * 64 * sizeof *x), *y = malloc(n * 64 * sizeof *y);
    int ok = V->cpu_rows(&a, &in, rows, n, x) == 0 && V->cpu_rows(&b, &in, rows, n, y) == 0;
    test_cond("proj=gaussian is the default projection", ok && memcmp(x, y, n * 64 * sizeof *x) == 0);
    free_inputs(in), free(rows), free(x), free(y);
    /* Work: no projection matrices are read; pooling adds, not multiplies. */
    attn_point m = point(1, 16, 16, 16384, 128, ATTN_BF16, "k=64,proj=mean");
    const double S = 16384, D = 128, k = 64;
    test_cond("proj=mean flops: one add per K,V element + attention",
              fabs(V->flops(&m) - (2.0 * 16 * S * D + 4.0 * 16 * S * k * D)) < 1);
    test_cond("proj=mean bytes: Q,K,V,O + K',V' written and read",
              fabs(V->bytes(&m) - 2.0 * (4.0 * 16 * S * D + 4.0 * 16 * k * D)) < 1);
    test_cond("proj=mean launches: pooling + attention", V->launches(&m) == 2);
}

static void supports_tests(void)
{
    struct {
        attn_dtype t;
        int d, causal;
        const char *params, *want; /* want: a substring of the reason, NULL: supported */
    } c[] = {
        {ATTN_BF16, 128, 1, "", "causal"},
        {ATTN_BF16, 128, 0, "", NULL},
        {ATTN_FP32, 128, 0, "", NULL},                 /* fp32 runs on the cuBLAS path */
        {ATTN_FP16, 96, 0, "", NULL},                  /* so do odd head dims */
        {ATTN_FP32, 128, 0, "attn=fused", "attn=fused needs"},
        {ATTN_BF16, 80, 0, "attn=fused", "attn=fused needs"},
        {ATTN_BF16, 128, 0, "attn=magic", "attn must be"},
        {ATTN_BF16, 128, 0, "method=nystrom", NULL},          /* m = 64 <= S = 100 */
        {ATTN_BF16, 128, 0, "method=nystrom,m=100", NULL},
        {ATTN_FP32, 96, 0, "method=nystrom,m=16", NULL},      /* the cuBLAS attention path */
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,attn=cublas", NULL},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,path=wgmma", NULL},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,tile=128x128", NULL},
        {ATTN_BF16, 128, 0, "method=nystrom,m=0", "m must be an integer from 1 to 256"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=-3", "m must be"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=8x", "m must be"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=257", "m must be"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=101", "m <= seq"},
        {ATTN_BF16, 128, 0, "method=nystrom,k=16", "k applies to method=linformer only: method=nystrom takes m"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,proj=mean", "apply to method=linformer"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,seed=2", "apply to method=linformer"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,streams=2", "apply to method=linformer"},
        {ATTN_BF16, 128, 1, "method=nystrom,m=16", "causal masking not supported by Nystromformer"},
        {ATTN_BF16, 128, 0, "method=nystrom,m=16,attn=magic", "attn must be"},
        {ATTN_BF16, 128, 0, "m=16", "m applies to method=nystrom"},
        {ATTN_BF16, 128, 0, "method=linformer", NULL},
        {ATTN_BF16, 128, 0, "method=performer", "method must be"},
        {ATTN_BF16, 128, 0, "k=0", "k must be"},
        {ATTN_BF16, 128, 0, "k=-4", "k must be"},
        {ATTN_BF16, 128, 0, "k=12x", "k must be"},
        {ATTN_BF16, 128, 0, "k=65537", "k must be"},
        {ATTN_BF16, 128, 0, "k=65536", NULL},
        {ATTN_BF16, 128, 0, "k=4096", NULL},           /* k > S */
        {ATTN_BF16, 128, 0, "tile=128x128", NULL},
        {ATTN_BF16, 128, 0, "tile=32x32", "tile must be"},
        {ATTN_FP32, 128, 0, "tile=64x64", "tile applies"},
        {ATTN_BF16, 128, 0, "seed=abc", "seed must be"},
        {ATTN_BF16, 128, 0, "streams=1", NULL},
        {ATTN_BF16, 128, 0, "streams=3", "streams must be"},
        {ATTN_BF16, 128, 0, "seed=7", NULL},
        {ATTN_BF16, 128, 0, "proj=/nonexistent/p.npy", "proj: cannot read"},
        {ATTN_BF16, 128, 0, "proj=gaussian", NULL},
        {ATTN_BF16, 128, 0, "proj=mean", "k <= seq"},        /* default k = 128 > S = 100 */
        {ATTN_BF16, 128, 0, "proj=mean,k=100", NULL},
        {ATTN_BF16, 128, 0, "proj=mean,k=64,streams=2", "streams=2 applies"},
        {ATTN_BF16, 128, 0, "path=mma", NULL},
        {ATTN_BF16, 128, 0, "path=wgmma", NULL},             /* shape-only; prepare skips off sm_90 */
        {ATTN_BF16, 128, 0, "path=tma", "path must be"},
        {ATTN_BF16, 128, 0, "path=wgmma,tile=64x64", "tile applies to path=mma"},
        {ATTN_BF16, 128, 0, "attn=cublas,path=mma", "path applies"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        attn_point p = point(1, 2, 1, 100, c[i].d, c[i].t, c[i].params);
        p.causal = c[i].causal;
        const char *why = V->supports(&p);
        char what[512];
        snprintf(what, sizeof what, "supports(%s d=%d causal=%d %s) -> %s (got %s)",
                 attn_dtype_name(c[i].t), c[i].d, c[i].causal, c[i].params,
                 c[i].want ? c[i].want : "supported", why ? why : "supported");
        test_cond(what, c[i].want ? why && strstr(why, c[i].want) : why == NULL);
    }
    /* The harness skips a causal point through supports(); the sweep key list names the params. */
    test_cond("param_keys lists k, m and method",
              V->param_keys && strstr(V->param_keys, "k,") && strstr(V->param_keys, "m,") &&
                  strstr(V->param_keys, "method"));
    test_cond("param_keys has no gemm (the split-K option is gone: attnbench run rejects gemm=)",
              V->param_keys && !strstr(V->param_keys, "gemm"));
    test_cond("an approximation", V->exact == 0);
}

static void npy_tests(void)
{
    char dir[] = "/tmp/test-lowrank-XXXXXX";
    if (!mkdtemp(dir)) {
        test_cond("mkdtemp", 0);
        return;
    }
    char path[100];
    const int S = 127, k = 24;

    /* 1. A [2,k,S] float32 file holding exactly the seeded projections gives bit-identical rows. */
    for (int t = 0; t < 2; t++) {
        attn_dtype dt = t ? ATTN_BF16 : ATTN_FP16;
        float *E = seeded_proj(dt, k, S, 3, 1), *F = seeded_proj(dt, k, S, 4, 1);
        float *both = malloc(2 * (size_t)k * S * sizeof *both);
        memcpy(both, E, (size_t)k * S * sizeof *E);
        memcpy(both + (size_t)k * S, F, (size_t)k * S * sizeof *F);
        snprintf(path, sizeof path, "%s/seeded.npy", dir);
        size_t shape[3] = {2, (size_t)k, (size_t)S};
        test_cond("write a [2,k,S] f4 .npy", attn_npy_write(path, ATTN_FP32, both, 3, shape) == 0);
        attn_point pf = point(1, 2, 1, S, 64, dt, "");
        snprintf(pf.params, sizeof pf.params, "proj=%s", path);
        attn_point ps = point(1, 2, 1, S, 64, dt, "k=24");
        test_cond("proj file supported", V->supports(&pf) == NULL);
        attn_host_inputs in = seeded_inputs(&ps, ATTN_INIT_NORMAL);
        attn_row *rows;
        size_t n = attn_sample_rows(&ps, 1e12, &rows);
        float *a = malloc(n * 64 * sizeof *a), *b = malloc(n * 64 * sizeof *b);
        int ok = V->cpu_rows(&ps, &in, rows, n, a) == 0 && V->cpu_rows(&pf, &in, rows, n, b) == 0;
        test_cond("proj file with the seeded values: the same rows, bit for bit",
                  ok && memcmp(a, b, n * 64 * sizeof *a) == 0);
        test_cond("k taken from the file: same flops", V->flops(&pf) == V->flops(&ps));
        free_inputs(in), free(rows), free(a), free(b), free(E), free(F), free(both);
    }

    /* 2. A [k,S] float16 file (E = F) with other values, against fp64 with the same matrices. */
    {
        const size_t n = (size_t)k * S;
        float *m = malloc(n * sizeof *m);
        for (size_t i = 0; i < n; i++) m[i] = attn_round(ATTN_FP16, 0.3f * attn_rng_value(9, 7, i, 0, 1));
        snprintf(path, sizeof path, "%s/one.npy", dir);
        size_t shape[2] = {(size_t)k, (size_t)S};
        void *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) attn_store(ATTN_FP16, h, i, m[i]);
        test_cond("write a [k,S] f2 .npy", attn_npy_write(path, ATTN_FP16, h, 2, shape) == 0);
        for (int t = 0; t < 2; t++) {
            attn_dtype dt = t ? ATTN_BF16 : ATTN_FP16;
            attn_point p = point(2, 2, 2, S, 64, dt, "");
            snprintf(p.params, sizeof p.params, "proj=%s,k=%d", path, k);
            float *r = malloc(n * sizeof *r);
            for (size_t i = 0; i < n; i++) r[i] = attn_round(dt, m[i]);
            attn_check_result cr;
            double rel = against_fp64(&p, r, r, k, ATTN_INIT_NORMAL, &cr);
            char what[512];
            snprintf(what, sizeof what, "[k,S] f2 proj file (E = F), %s: rel L2 %.2e vs fp64",
                     attn_dtype_name(dt), rel);
            test_cond(what, rel >= 0 && rel <= bound(dt) && cr.n_bad == 0);
            free(r);
        }
        /* Mismatches. */
        attn_point p = point(1, 1, 1, S + 1, 64, ATTN_BF16, "");
        snprintf(p.params, sizeof p.params, "proj=%s", path);
        const char *why = V->supports(&p);
        test_cond("proj file with another S: reason", why && strstr(why, "S"));
        p.seq = S;
        snprintf(p.params, sizeof p.params, "proj=%s,k=%d", path, k + 1);
        why = V->supports(&p);
        test_cond("proj file with another k: reason", why && strstr(why, "k parameter differs"));
        size_t shape3[3] = {3, (size_t)k, 10};
        snprintf(path, sizeof path, "%s/bad.npy", dir);
        attn_npy_write(path, ATTN_FP16, h, 3, shape3);
        snprintf(p.params, sizeof p.params, "proj=%s", path);
        why = V->supports(&p);
        test_cond("proj file of shape [3,k,S]: reason", why && strstr(why, "shape must be"));
        FILE *f = fopen(path, "wb");
        if (f) fputs("not a numpy file at all", f), fclose(f);
        why = V->supports(&p);
        test_cond("garbage proj file: reason", why && strstr(why, "cannot read"));
        free(m), free(h);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    test_cond("cleanup", system(cmd) == 0);
}

/* cpu_rows of all n rows into all, and of three of them (rows 5, n/2, n-1: other slices) into
 * some[3·D]: 1 when those three equal their rows in all, bit for bit. */
static int subset_matches(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                          size_t n, float *all, float *some)
{
    const int D = p->head_dim;
    const attn_row pick[3] = {rows[5], rows[n / 2], rows[n - 1]};
    const size_t at[3] = {5, n / 2, n - 1};
    int ok = V->cpu_rows(p, in, rows, n, all) == 0 && V->cpu_rows(p, in, pick, 3, some) == 0;
    for (int i = 0; i < 3 && ok; i++) ok = memcmp(all + at[i] * D, some + i * D, D * sizeof *all) == 0;
    return ok;
}

static void misc_tests(void)
{
    /* A subset of rows across slices equals the same rows computed with all others. */
    attn_point p = point(2, 4, 2, 61, 64, ATTN_BF16, "k=20");
    attn_host_inputs in = seeded_inputs(&p, ATTN_INIT_OUTLIERS);
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows);
    float *all = malloc(n * 64 * sizeof *all), *some = malloc(3 * 64 * sizeof *some);
    test_cond("cpu_rows on a subset of rows equals the full computation",
              subset_matches(&p, &in, rows, n, all, some));
    /* Another seed gives other projections, hence other rows. */
    attn_point p2 = p;
    snprintf(p2.params, sizeof p2.params, "k=20,seed=2");
    int ok = V->cpu_rows(&p2, &in, &rows[5], 1, some) == 0 && memcmp(all + 5 * 64, some, 64 * sizeof *all) != 0;
    test_cond("seed=2 changes the projections", ok);
    free_inputs(in), free(rows), free(all), free(some);

    /* Work formulas at the benchmark shape. */
    attn_point b = point(1, 16, 16, 16384, 128, ATTN_BF16, "k=256");
    const double k = 256, S = 16384, D = 128;
    double want_flops = 4.0 * 16 * k * S * D + 4.0 * 16 * S * k * D;
    test_cond("flops: projections + attention", fabs(V->flops(&b) - want_flops) < 1);
    double want_bytes = 2.0 * (4.0 * 16 * S * D + 2 * k * S + 4.0 * 16 * k * D);
    test_cond("bytes: Q,K,V,O + E,F + K',V' written and read", fabs(V->bytes(&b) - want_bytes) < 1);
    test_cond("default k = 128", V->flops(&(attn_point){1, 16, 16, 16384, 128, ATTN_BF16, 0, ""}) ==
                                     4.0 * 16 * 128 * S * D + 4.0 * 16 * S * 128 * D);
    test_cond("workspace holds E, F, K', V' (+ cuBLAS's)", V->workspace_bytes(&b) >= 2 * (2 * k * S + 2 * 16 * k * D));
}

/* ---------------------------------------------------------------- method=nystrom */

/* Segment i of S rows out of m: [floor(i·S/m), floor((i+1)·S/m)). Their mean in double, rounded to
 * the dtype (the landmarks as the variant stores them): out [m][D]. */
static void seg_means(attn_dtype t, const float *X, int S, int D, int m, double *out)
{
    for (int i = 0; i < m; i++) {
        const long a = (long)i * S / m, b = (long)(i + 1) * S / m;
        for (int d = 0; d < D; d++) {
            double sum = 0;
            for (long r = a; r < b; r++) sum += X[(size_t)r * D + d];
            out[(size_t)i * D + d] = attn_round(t, (float)(sum / (double)(b - a)));
        }
    }
}

/* w = softmax_j(q·K_j/√D) over n keys K [n][D], in double. */
static void softmax_dot(const double *q, const double *K, int n, int D, double *w)
{
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += q[d] * K[(size_t)j * D + d];
        w[j] = s / sqrt((double)D);
        if (w[j] > mx) mx = w[j];
    }
    for (int j = 0; j < n; j++) sum += w[j] = exp(w[j] - mx);
    for (int j = 0; j < n; j++) w[j] /= sum;
}

/* o = softmax(q·Kᵀ/√D)·V over n keys, in double; w: n doubles of scratch. round: o rounded to t. */
static void attend_fp64(const double *q, const double *K, const double *Vv, int n, int D,
                        double *w, int round, attn_dtype t, double *o)
{
    softmax_dot(q, K, n, D, w);
    for (int d = 0; d < D; d++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += w[j] * Vv[(size_t)j * D + d];
        o[d] = round ? attn_round(t, (float)s) : s;
    }
}

/* The straightforward fp64 Nyströmformer of the variant's documented formula for the given rows,
 * with its rounding points (Q̃, K̃, W and Y stored in the dtype): W = softmax(Q̃·Kᵀ·s)·V,
 * A = softmax(Q̃·K̃ᵀ·s), Z₀ = Aᵀ/(max row sum · max column sum), Z ← Z(13I − AZ(15I − AZ(7I − AZ)))/4
 * six times, Y = Z·W, o = softmax(q·K̃ᵀ·s)·Y. m is a->k. */
static void nystrom_fp64(const attn_point *p, const attn_host_inputs *in, const ref_args *a,
                         const attn_row *rows, size_t n, double *out)
{
    const int m = a->k;
    const int S = p->seq, D = p->head_dim, group = p->heads / p->kv_heads;
    const size_t mm = (size_t)m * m;
    double *K = malloc((size_t)S * D * sizeof *K), *Vv = malloc((size_t)S * D * sizeof *Vv);
    double *qt = malloc((size_t)m * D * sizeof *qt), *kt = malloc((size_t)m * D * sizeof *kt);
    double *W = malloc((size_t)m * D * sizeof *W), *Y = malloc((size_t)m * D * sizeof *Y);
    double *A = malloc(5 * mm * sizeof *A), *Z = A + mm, *P = Z + mm, *R = P + mm, *N = R + mm;
    double *w = malloc((size_t)S * sizeof *w), *q = malloc((size_t)D * sizeof *q);
    long cached = -1;
    for (size_t r = 0; r < n; r++) {
        const long head = (long)rows[r].b * p->heads + rows[r].h;
        if (head != cached) {
            const size_t kv = ((size_t)rows[r].b * p->kv_heads + rows[r].h / group) * S * D;
            for (size_t e = 0; e < (size_t)S * D; e++) K[e] = in->k[kv + e], Vv[e] = in->v[kv + e];
            seg_means(p->dtype, in->q + (size_t)head * S * D, S, D, m, qt);
            seg_means(p->dtype, in->k + kv, S, D, m, kt);
            for (int i = 0; i < m; i++) {
                attend_fp64(qt + (size_t)i * D, K, Vv, S, D, w, 1, p->dtype, W + (size_t)i * D);
                softmax_dot(qt + (size_t)i * D, kt, m, D, A + (size_t)i * m);
            }
            double rs = 0, cs = 0;
            for (int i = 0; i < m; i++) {
                double a = 0, b = 0;
                for (int j = 0; j < m; j++) a += fabs(A[i * m + j]), b += fabs(A[j * m + i]);
                rs = a > rs ? a : rs, cs = b > cs ? b : cs;
            }
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) Z[i * m + j] = A[j * m + i] / (rs * cs);
            for (int it = 0; it < 6; it++) {
                /* P = AZ; then R = 7I − P, R = 15I − P·R, R = 13I − P·R (through N), Z = Z·R/4 */
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++) {
                        double s = 0;
                        for (int l = 0; l < m; l++) s += A[i * m + l] * Z[l * m + j];
                        P[i * m + j] = s;
                    }
                for (size_t e = 0; e < mm; e++) R[e] = (e / m == e % m ? 7 : 0) - P[e];
                for (int c = 15; c >= 13; c -= 2) {
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < m; j++) {
                            double s = 0;
                            for (int l = 0; l < m; l++) s += P[i * m + l] * R[l * m + j];
                            N[i * m + j] = s;
                        }
                    for (size_t e = 0; e < mm; e++) R[e] = (e / m == e % m ? c : 0) - N[e];
                }
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++) {
                        double s = 0;
                        for (int l = 0; l < m; l++) s += Z[i * m + l] * R[l * m + j];
                        N[i * m + j] = s / 4;
                    }
                memcpy(Z, N, mm * sizeof *Z);
            }
            for (int i = 0; i < m; i++)
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int j = 0; j < m; j++) s += Z[i * m + j] * W[(size_t)j * D + d];
                    Y[(size_t)i * D + d] = attn_round(p->dtype, (float)s);
                }
            cached = head;
        }
        for (int d = 0; d < D; d++) q[d] = in->q[((size_t)head * S + rows[r].s) * D + d];
        attend_fp64(q, kt, Y, m, D, w, 0, p->dtype, out + r * D);
    }
    free(K), free(Vv), free(qt), free(kt), free(W), free(Y), free(A), free(w), free(q);
}

static void nystrom_formula_tests(void)
{
    static const struct {
        int b, h, kv, s, d, m;
        const char *extra;
    } cases[] = {
        {1, 1, 1, 1, 64, 1, ""},              /* S = 1: one landmark of one row */
        {1, 2, 1, 127, 64, 8, ""},            /* uneven segments (15 and 16 rows), GQA */
        {2, 4, 2, 127, 128, 16, ""},          /* two KV heads per batch, D = 128 */
        {1, 3, 1, 200, 64, 16, ""},           /* MQA */
        {1, 2, 2, 200, 128, 1, ""},           /* one landmark: O = W of the whole head */
        {1, 2, 2, 200, 128, 16, ",tile=128x128"},
        {1, 2, 1, 130, 64, 16, ",path=wgmma"}, /* key tiles of 128 over S = 130 */
        {1, 2, 1, 127, 64, 8, ",attn=cublas"},
        {1, 2, 2, 33, 7, 8, ""},              /* head_dim 7: the cuBLAS path */
    };
    double worst[3] = {0, 0, 0};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int t = 0; t < 3; t++)
            for (int init = 0; init < 2; init++) {
                char params[128], what[512], shape[120];
                snprintf(params, sizeof params, "method=nystrom,m=%d%s", cases[ci].m, cases[ci].extra);
                attn_point p = point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                     cases[ci].d, (attn_dtype)t, params);
                attn_point_format(&p, shape, sizeof shape);
                const char *why = V->supports(&p);
                const int want_skip = t == ATTN_FP32 && (strstr(params, "tile=") || strstr(params, "path="));
                snprintf(what, sizeof what, "lowrank %s %s: supported", params, shape);
                test_cond(what, want_skip ? why != NULL : why == NULL);
                if (why) continue;
                attn_check_result cr;
                const ref_args a = {NULL, NULL, cases[ci].m};
                double rel = against_ref(&p, nystrom_fp64, &a, (attn_init)init, &cr);
                snprintf(what, sizeof what, "lowrank %s %s %s: cpu_rows vs fp64 Nystromformer rel L2 %.2e <= %.0e",
                         params, shape, init ? "outliers" : "normal", rel, bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= bound(p.dtype) && cr.n_bad == 0);
                if (rel > worst[t]) worst[t] = rel;
            }
    printf("cpu_rows vs fp64 Nystromformer, worst rel L2: fp16 %.2e, bf16 %.2e, fp32 %.2e\n",
           worst[0], worst[1], worst[2]);
}

/* ‖X‖_F of an m×m matrix minus another (NULL: zero). */
static double frob_diff(int m, const double *X, const double *Y)
{
    double s = 0;
    for (int e = 0; e < m * m; e++) s += (X[e] - (Y ? Y[e] : 0)) * (X[e] - (Y ? Y[e] : 0));
    return sqrt(s);
}

static void nystrom_pinv_tests(void)
{
    enum { M = 16 };
    static double A[M * M], Z[M * M], work[4 * M * M], AZ[M * M], AZA[M * M];
    /* Well-conditioned: a softmax over rows with a strong diagonal (3) and noise (0.5·normal). */
    for (int i = 0; i < M; i++) {
        double sum = 0;
        for (int j = 0; j < M; j++)
            sum += A[i * M + j] = exp((i == j ? 3.0 : 0.0) + 0.5 * attn_rng_value(5, 9, (uint64_t)(i * M + j), 0, 1));
        for (int j = 0; j < M; j++) A[i * M + j] /= sum;
    }
    attn_lowrank_nystrom_pinv(M, A, Z, work);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            double s = 0, u = 0;
            for (int l = 0; l < M; l++) s += A[i * M + l] * Z[l * M + j];
            AZ[i * M + j] = s;
            (void)u;
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            double s = 0;
            for (int l = 0; l < M; l++) s += AZ[i * M + l] * A[l * M + j];
            AZA[i * M + j] = s;
        }
    double rel = frob_diff(M, AZA, A) / frob_diff(M, A, NULL);
    char what[200];
    snprintf(what, sizeof what, "pinv of a well-conditioned softmax matrix: |AZA - A|/|A| = %.1e <= 1e-9", rel);
    test_cond(what, rel <= 1e-9);
    for (int e = 0; e < M * M; e++) AZ[e] -= e / M == e % M;
    snprintf(what, sizeof what, "... and Z is its inverse: |AZ - I| = %.1e <= 1e-8", frob_diff(M, AZ, NULL));
    test_cond(what, frob_diff(M, AZ, NULL) <= 1e-8);
    /* Rank 1: the uniform softmax J/m is its own pseudo-inverse, which the iteration reaches exactly. */
    for (int e = 0; e < M * M; e++) A[e] = 1.0 / M;
    attn_lowrank_nystrom_pinv(M, A, Z, work);
    test_cond("pinv of the rank-1 uniform matrix J/m is J/m", frob_diff(M, Z, A) <= 1e-12);
}

/* With m = S every landmark is one row, so Q̃ = Q, K̃ = K and the output is P·pinv(P)·P·V = P·V:
 * exact attention wherever the iteration converges, i.e. for a well-conditioned P. Q = K = 4·one-hot
 * rows give P = softmax(2I) (eigenvalues 1 and 0.29). fp32, so no rounding in between. */
static void nystrom_exact_at_m_equals_s(void)
{
    enum { S = 16, D = 64 };
    attn_point p = point(1, 1, 1, S, D, ATTN_FP32, "method=nystrom,m=16");
    static float q[S * D], vv[S * D], out[S * D];
    static double ref[S * D], Kd[S * D], Vd[S * D], qd[D], w[S];
    for (int s = 0; s < S; s++)
        for (int d = 0; d < D; d++) {
            q[s * D + d] = d == s ? 4.0f : 0.0f;
            vv[s * D + d] = attn_rng_value(3, 2, (uint64_t)(s * D + d), 0, 1);
            Kd[s * D + d] = q[s * D + d], Vd[s * D + d] = vv[s * D + d];
        }
    attn_host_inputs in = {q, q, vv};
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows);
    int ok = n == S && V->cpu_rows(&p, &in, rows, n, out) == ATTN_OK;
    for (size_t r = 0; r < n && ok; r++) {
        for (int d = 0; d < D; d++) qd[d] = q[(size_t)rows[r].s * D + d];
        attend_fp64(qd, Kd, Vd, S, D, w, 0, ATTN_FP32, ref + r * D);
    }
    attn_check_result cr;
    if (ok) attn_check(out, ref, n, D, 1e-3, &cr);
    char what[200];
    snprintf(what, sizeof what, "m = S, well-conditioned P: Nystrom = exact attention (rel L2 %.1e <= 1e-5)",
             ok ? cr.rel_l2 : -1.0);
    test_cond(what, ok && cr.rel_l2 <= 1e-5);
    free(rows);
}

static void nystrom_misc_tests(void)
{
    attn_point p = point(2, 4, 2, 61, 64, ATTN_BF16, "method=nystrom,m=12");
    attn_host_inputs in = seeded_inputs(&p, ATTN_INIT_OUTLIERS);
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows), len = n * 64;
    float *all = malloc(len * sizeof *all), *some = malloc(3 * 64 * sizeof *some);
    double *target = malloc(len * sizeof *target);
    /* A subset of rows (another head each: Y is cached per head) equals the full computation. */
    test_cond("nystrom: cpu_rows on a subset of rows equals the full computation",
              subset_matches(&p, &in, rows, n, all, some));

    /* The checker rejects a corrupted output: the rows themselves pass, one element moved by 4
     * tolerances fails, so does a NaN. */
    for (size_t i = 0; i < len; i++) all[i] = attn_round(p.dtype, all[i]), target[i] = all[i];
    attn_check_result cr;
    attn_check(all, target, n, 64, attn_tolerance(p.dtype), &cr);
    test_cond("nystrom: its own rows pass the check", attn_check_passed(&cr));
    const size_t bad = len / 3;
    double rms = 0;
    for (int d = 0; d < 64; d++) rms += target[bad / 64 * 64 + d] * target[bad / 64 * 64 + d];
    rms = sqrt(rms / 64);
    all[bad] += (float)(4 * attn_tolerance(p.dtype) * (fabs(target[bad]) + rms));
    attn_check(all, target, n, 64, attn_tolerance(p.dtype), &cr);
    test_cond("nystrom: one corrupted element rejected", !attn_check_passed(&cr) && cr.n_bad == 1 && cr.first_bad == bad);
    all[bad] = NAN;
    attn_check(all, target, n, 64, attn_tolerance(p.dtype), &cr);
    test_cond("nystrom: a NaN rejected", !attn_check_passed(&cr) && cr.n_nonfinite == 1);

    /* Bad parameters: cpu_rows refuses them with the reason, as supports() does. */
    attn_point big_m = point(1, 2, 1, 10, 64, ATTN_BF16, "method=nystrom,m=11");
    test_cond("nystrom: cpu_rows with m > S fails", V->cpu_rows(&big_m, &in, rows, 1, some) == ATTN_ERR &&
                                                        strstr(attn_last_error.msg, "m <= seq"));
    free_inputs(in), free(rows), free(all), free(some), free(target);

    /* Work at the benchmark shape. */
    attn_point b = point(1, 16, 16, 16384, 128, ATTN_BF16, "method=nystrom,m=64");
    const double S = 16384, D = 128, m = 64, bh = 16;
    double want = bh * (2 * S * D + 4 * m * S * D + 2 * m * m * D + 6 * 4 * 2 * m * m * m +
                        2 * m * m * D + 4 * S * m * D);
    test_cond("nystrom flops: landmarks, W, A, pinv, Z·W, O", fabs(V->flops(&b) - want) < 1);
    want = 2 * (3 * bh * S * D + 3 * bh * S * D + 8 * bh * m * D) + 4 * 2 * 44 * bh * m * m;
    test_cond("nystrom bytes: Q, K twice, V once, O; Q~, K~, W, Y and 44 fp32 m x m per head",
              fabs(V->bytes(&b) - want) < 1);
    test_cond("nystrom launches: cuBLAS decides", V->launches(&b) == -1);
    test_cond("nystrom workspace: Q~, K~, W, Y and 6 fp32 m x m per head (+ cuBLAS's)",
              V->workspace_bytes(&b) >= 4 * bh * m * D * 2 + 6 * bh * m * m * 4 + (32 << 20));
    test_cond("nystrom default m = 64",
              V->flops(&(attn_point){1, 16, 16, 16384, 128, ATTN_BF16, 0, "method=nystrom"}) == V->flops(&b));
}

int main(void)
{
    formula_tests();
    mean_tests();
    supports_tests();
    npy_tests();
    misc_tests();
    nystrom_formula_tests();
    nystrom_pinv_tests();
    nystrom_exact_at_m_equals_s();
    nystrom_misc_tests();
    return test_report();
}
