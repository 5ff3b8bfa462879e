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

#include "check.h"
#include "npy.h"
#include "rng.h"
#include "fixture.h"
#include "test.h"
#include "variant.h"

extern const attn_variant attn_variant_lowrank;
static const attn_variant *V = &attn_variant_lowrank;


/* The documented default projections: round_dtype(attn_rng_value(seed, 3|4, i)·(1/√k)). */
static float *seeded_proj(attn_dtype t, int k, int S, int tensor, uint64_t seed)
{
    size_t n = (size_t)k * S;
    float *e = malloc(n * sizeof *e);
    const float scale = (float)(1.0 / sqrt((double)k));
    for (size_t i = 0; i < n; i++) e[i] = attn_round(t, attn_rng_value(seed, tensor, i, 0, 1) * scale);
    return e;
}

/* fp64 Linformer for the given rows: K′ = E·K, V′ = F·V stored in the dtype (as the variant
 * defines them: without that rounding, S = 1 in bf16 already differs by 1.4e-2, since the output
 * is then one V row times a sum of mixed-sign terms), then softmax(q·K′ᵀ/√D)·V′ in double. */
static void linformer_fp64(const attn_point *p, const attn_host_inputs *in, const float *E,
                           const float *F, int k, const attn_row *rows, size_t n, double *out)
{
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

/* Relative L2 of cpu_rows (rounded to the dtype, as the harness does) against the fp64 formula
 * with projections E, F; -1 when cpu_rows fails. Also returns the check result against the same
 * target (so that the elementwise bound is exercised too). */
static double against_fp64(const attn_point *p, const float *E, const float *F, int k,
                           attn_init init, attn_check_result *cr)
{
    float *q = fx_inputs(p->dtype, attn_q_elems(p), ATTN_TENSOR_Q, init, p->head_dim);
    float *kk = fx_inputs(p->dtype, attn_kv_elems(p), ATTN_TENSOR_K, init, p->head_dim);
    float *vv = fx_inputs(p->dtype, attn_kv_elems(p), ATTN_TENSOR_V, init, p->head_dim);
    attn_host_inputs in = {q, kk, vv};
    attn_row *rows;
    size_t n = attn_sample_rows(p, 1e12, &rows), m = n * p->head_dim;
    float *out = malloc(m * sizeof *out);
    double *ref = malloc(m * sizeof *ref);
    double rel = -1;
    if (V->cpu_rows(p, &in, rows, n, out) == ATTN_OK) {
        for (size_t i = 0; i < m; i++) out[i] = attn_round(p->dtype, out[i]);
        linformer_fp64(p, &in, E, F, k, rows, n, ref);
        attn_check(out, ref, n, p->head_dim, attn_tolerance(p->dtype), cr);
        rel = cr->rel_l2;
    }
    free(q), free(kk), free(vv), free(rows), free(out), free(ref);
    return rel;
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
    float *q = fx_inputs(a.dtype, attn_q_elems(&a), 0, ATTN_INIT_NORMAL, 64);
    float *kk = fx_inputs(a.dtype, attn_kv_elems(&a), 1, ATTN_INIT_NORMAL, 64);
    float *vv = fx_inputs(a.dtype, attn_kv_elems(&a), 2, ATTN_INIT_NORMAL, 64);
    attn_host_inputs in = {q, kk, vv};
    attn_row *rows;
    size_t n = attn_sample_rows(&a, 1e12, &rows);
    float *x = malloc(n * 64 * sizeof *x), *y = malloc(n * 64 * sizeof *y);
    int ok = V->cpu_rows(&a, &in, rows, n, x) == 0 && V->cpu_rows(&b, &in, rows, n, y) == 0;
    test_cond("proj=gaussian is the default projection", ok && memcmp(x, y, n * 64 * sizeof *x) == 0);
    free(q), free(kk), free(vv), free(rows), free(x), free(y);
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
        {ATTN_BF16, 128, 0, "method=nystrom", "method=nystrom not implemented"},
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
    test_cond("param_keys lists k and method",
              V->param_keys && strstr(V->param_keys, "k") && strstr(V->param_keys, "method"));
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
        float *q = fx_inputs(dt, attn_q_elems(&ps), 0, ATTN_INIT_NORMAL, 64);
        float *kk = fx_inputs(dt, attn_kv_elems(&ps), 1, ATTN_INIT_NORMAL, 64);
        float *vv = fx_inputs(dt, attn_kv_elems(&ps), 2, ATTN_INIT_NORMAL, 64);
        attn_host_inputs in = {q, kk, vv};
        attn_row *rows;
        size_t n = attn_sample_rows(&ps, 1e12, &rows);
        float *a = malloc(n * 64 * sizeof *a), *b = malloc(n * 64 * sizeof *b);
        int ok = V->cpu_rows(&ps, &in, rows, n, a) == 0 && V->cpu_rows(&pf, &in, rows, n, b) == 0;
        test_cond("proj file with the seeded values: the same rows, bit for bit",
                  ok && memcmp(a, b, n * 64 * sizeof *a) == 0);
        test_cond("k taken from the file: same flops", V->flops(&pf) == V->flops(&ps));
        free(q), free(kk), free(vv), free(rows), free(a), free(b), free(E), free(F), free(both);
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

static void misc_tests(void)
{
    /* A subset of rows across slices equals the same rows computed with all others. */
    attn_point p = point(2, 4, 2, 61, 64, ATTN_BF16, "k=20");
    float *q = fx_inputs(p.dtype, attn_q_elems(&p), 0, ATTN_INIT_OUTLIERS, 64);
    float *kk = fx_inputs(p.dtype, attn_kv_elems(&p), 1, ATTN_INIT_OUTLIERS, 64);
    float *vv = fx_inputs(p.dtype, attn_kv_elems(&p), 2, ATTN_INIT_OUTLIERS, 64);
    attn_host_inputs in = {q, kk, vv};
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows);
    float *all = malloc(n * 64 * sizeof *all), *some = malloc(3 * 64 * sizeof *some);
    attn_row pick[3] = {rows[5], rows[n / 2], rows[n - 1]};
    size_t at[3] = {5, n / 2, n - 1};
    int ok = V->cpu_rows(&p, &in, rows, n, all) == 0 && V->cpu_rows(&p, &in, pick, 3, some) == 0;
    for (int i = 0; i < 3 && ok; i++) ok = memcmp(all + at[i] * 64, some + i * 64, 64 * sizeof *all) == 0;
    test_cond("cpu_rows on a subset of rows equals the full computation", ok);
    /* Another seed gives other projections, hence other rows. */
    attn_point p2 = p;
    snprintf(p2.params, sizeof p2.params, "k=20,seed=2");
    ok = V->cpu_rows(&p2, &in, pick, 3, some) == 0 && memcmp(all + at[0] * 64, some, 64 * sizeof *all) != 0;
    test_cond("seed=2 changes the projections", ok);
    free(q), free(kk), free(vv), free(rows), free(all), free(some);

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

int main(void)
{
    formula_tests();
    mean_tests();
    supports_tests();
    npy_tests();
    misc_tests();
    return test_report();
}
