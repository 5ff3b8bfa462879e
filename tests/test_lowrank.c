/* test_lowrank.c — the `lowrank` variant (Linformer) on the CPU: its cpu_rows, through a host plan,
 * against a direct fp64 implementation of the same formula (the same E, F, regenerated here from
 * the documented recipe or read from the same .npy file) at small odd shapes, every attention path
 * (fused mma and wgmma, cuBLAS), k < S, k = S and k > S (allowed: K′ has rank ≤ S, the formula
 * holds); configure's and prepare's reasons; the parameter table; the .npy projection path; the
 * work formulas. (The GPU against cpu_rows: tests/gpu/test_lowrank.c, through the real pipeline.
 * Nyströmformer: test_nystrom.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approx.h"
#include "core/npy.h"
#include "core/rng.h"
#include "test.h"

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
static void linformer_fp64(const attn_point *p, const attn_host_inputs *in, const approx_ref_args *a,
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

/* approx_against with the fp64 Linformer and projections E, F. */
static double against_fp64(const attn_point *p, const float *E, const float *F, int k,
                           attn_init init, attn_check_result *cr)
{
    const approx_ref_args a = {E, F, k};
    return approx_against(V, p, linformer_fp64, &a, init, cr);
}

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
        {1, 2, 2, 130, 128, 200, ",path=wgmma"}, /* key tiles of 128 over k = 200 */
        {1, 2, 2, 33, 7, 8, ""},           /* head_dim 7: the cuBLAS path */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int t = 0; t < 3; t++)
            for (int init = 0; init < 2; init++) {
                char params[128];
                snprintf(params, sizeof params, "k=%d%s", cases[ci].k, cases[ci].extra);
                attn_point p = approx_point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                            cases[ci].d, (attn_dtype)t, params);
                const char *why = approx_why(V, &p);
                char what[512], shape[120];
                snprintf(what, sizeof what, "lowrank %s %s %s: supported", params,
                         attn_point_format(&p, shape, sizeof shape), init ? "outliers" : "normal");
                /* Supported but for tile= and path= on the fp32 (cuBLAS) path. */
                const int want_skip = t == ATTN_FP32 && (strstr(params, "tile=") || strstr(params, "path="));
                test_cond(what, want_skip ? why != NULL : why == NULL);
                if (why) continue;
                float *E = seeded_proj(p.dtype, cases[ci].k, p.seq, 3, 1);
                float *F = seeded_proj(p.dtype, cases[ci].k, p.seq, 4, 1);
                attn_check_result cr;
                double rel = against_fp64(&p, E, F, cases[ci].k, (attn_init)init, &cr);
                snprintf(what, sizeof what, "lowrank %s %s %s: cpu_rows vs fp64 Linformer rel L2 %.2e <= %.0e",
                         params, shape, init ? "outliers" : "normal", rel, approx_bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= approx_bound(p.dtype) && cr.n_bad == 0);
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
                attn_point p = approx_point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                            cases[ci].d, (attn_dtype)t, params);
                const char *why = approx_why(V, &p);
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
                         params, shape, init ? "outliers" : "normal", rel, approx_bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= approx_bound(p.dtype) && cr.n_bad == 0);
                if (p.dtype == ATTN_BF16 && rel > worst) worst = rel;
                free(E);
            }
    printf("cpu_rows vs fp64 segment means, worst bf16 rel L2: %.2e\n", worst);
    /* proj=gaussian names the default: the same rows, bit for bit. */
    attn_point a = approx_point(1, 2, 1, 64, 64, ATTN_BF16, "k=16");
    attn_point b = approx_point(1, 2, 1, 64, 64, ATTN_BF16, "k=16,proj=gaussian");
    attn_host_inputs in = approx_inputs(&a, ATTN_INIT_NORMAL);
    attn_row *rows;
    size_t n = attn_sample_rows(&a, 1e12, &rows);
    float *x = malloc(n * 64 * sizeof *x), *y = malloc(n * 64 * sizeof *y);
    int ok = approx_rows(V, &a, &in, rows, n, x) == 0 && approx_rows(V, &b, &in, rows, n, y) == 0;
    test_cond("proj=gaussian is the default projection", ok && memcmp(x, y, n * 64 * sizeof *x) == 0);
    approx_free(in), free(rows), free(x), free(y);
    /* Work: no projection matrices are read; pooling adds, not multiplies. */
    attn_point m = approx_point(1, 16, 16, 16384, 128, ATTN_BF16, "k=64,proj=mean");
    const attn_work w = approx_work(V, &m);
    const double S = 16384, D = 128, k = 64;
    test_cond("proj=mean flops: one add per K,V element + attention",
              fabs(w.flops - (2.0 * 16 * S * D + 4.0 * 16 * S * k * D)) < 1);
    test_cond("proj=mean bytes: Q,K,V,O + K',V' written and read",
              fabs(w.bytes - 2.0 * (4.0 * 16 * S * D + 4.0 * 16 * k * D)) < 1);
    test_cond("proj=mean launches: pooling + attention", w.launches == 2);
}

static void configure_tests(void)
{
    const approx_config_case c[] = {
        {ATTN_BF16, 128, 1, "", "causal"},
        {ATTN_BF16, 128, 0, "", NULL},
        {ATTN_FP32, 128, 0, "", NULL},                 /* fp32 runs on the cuBLAS path */
        {ATTN_FP16, 96, 0, "", NULL},                  /* so do odd head dims */
        {ATTN_FP32, 128, 0, "attn=fused", "attn=fused needs"},
        {ATTN_BF16, 80, 0, "attn=fused", "attn=fused needs"},
        {ATTN_BF16, 128, 0, "attn=magic", "'magic' is not one of fused|cublas"},
        /* Nyström is its own variant now (test_nystrom.c): its parameters are unknown here. */
        {ATTN_BF16, 128, 0, "method=nystrom", "lowrank has no parameter 'method'"},
        {ATTN_BF16, 128, 0, "method=linformer", "lowrank has no parameter 'method'"},
        {ATTN_BF16, 128, 0, "m=16", "lowrank has no parameter 'm'"},
        {ATTN_BF16, 128, 0, "k=0", "k: '0' is not an integer in [1, 65536]"},
        {ATTN_BF16, 128, 0, "k=-4", "is not an integer"},
        {ATTN_BF16, 128, 0, "k=12x", "is not an integer"},
        {ATTN_BF16, 128, 0, "k=65537", "is not an integer"},
        {ATTN_BF16, 128, 0, "k=65536", NULL},
        {ATTN_BF16, 128, 0, "k=4096", NULL},           /* k > S */
        {ATTN_BF16, 128, 0, "tile=128x128", NULL},
        {ATTN_BF16, 128, 0, "tile=32x32", "is not one of"},
        {ATTN_FP32, 128, 0, "tile=64x64", "tile applies"},
        {ATTN_BF16, 128, 0, "seed=abc", "seed: 'abc' is not an integer"},
        {ATTN_BF16, 128, 0, "seed=-1", "seed: '-1' is not an integer"},
        {ATTN_BF16, 128, 0, "seed=7", NULL},
        /* streams=2 (documented as slower) is gone with its code. */
        {ATTN_BF16, 128, 0, "streams=1", "lowrank has no parameter 'streams'"},
        {ATTN_BF16, 128, 0, "streams=3", "lowrank has no parameter 'streams'"},
        {ATTN_BF16, 128, 0, "proj=/nonexistent/p.npy", "is not one of gaussian|mean"},
        {ATTN_BF16, 128, 0, "proj_file=/nonexistent/p.npy", "is not a readable file"},
        {ATTN_BF16, 128, 0, "proj_file=/tmp", "is not a readable file"},
        {ATTN_BF16, 128, 0, "proj=gaussian", NULL},
        {ATTN_BF16, 128, 0, "proj=mean", "k <= seq"},        /* default k = 128 > S = 100 */
        {ATTN_BF16, 128, 0, "proj=mean,k=100", NULL},
        {ATTN_BF16, 128, 0, "path=mma", NULL},
        {ATTN_BF16, 128, 0, "path=wgmma", NULL},             /* shape-only; prepare skips off sm_90 */
        {ATTN_BF16, 128, 0, "path=tma", "is not one of mma|wgmma"},
        {ATTN_BF16, 128, 0, "path=wgmma,tile=64x64", "tile applies to path=mma"},
        {ATTN_BF16, 128, 0, "attn=cublas,path=mma", "path applies"},
        {ATTN_BF16, 128, 0, "gemm=splitk", "lowrank has no parameter 'gemm'"},
    };
    approx_configure_cases(V, c, sizeof c / sizeof c[0]);
    /* The parameter table (what the CLI validates and `list --params` prints). */
    test_cond("params declare k and proj (and proj_file, seed, attn, path, tile)",
              approx_declares(V, "k") && approx_declares(V, "proj") && approx_declares(V, "proj_file") &&
                  approx_declares(V, "seed") && approx_declares(V, "attn") &&
                  approx_declares(V, "path") && approx_declares(V, "tile"));
    test_cond("params have no gemm (the split-K option is gone: attnbench run rejects gemm=)",
              !approx_declares(V, "gemm"));
    test_cond("params have no streams (streams=2 is gone) and no method or m (nystrom is its own variant)",
              !approx_declares(V, "streams") && !approx_declares(V, "method") && !approx_declares(V, "m"));
    char why[256];
    int valid = 1;
    for (const attn_param_spec *s = V->params; s->key; s++)
        if (s->def && attn_param_invalid(s, s->def, why, sizeof why)) valid = 0;
    test_cond("every default is valid for its parameter", valid);
    test_cond("an approximation", V->exact == 0);
}

/* Writes a .npy of the given dtype (fp16 or fp32) from floats. */
static int write_npy(const char *path, attn_dtype t, const float *x, int ndim, const size_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    void *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++) attn_store(t, h, i, x[i]);
    int rc = attn_npy_write(path, t, h, ndim, shape);
    free(h);
    return rc;
}

static void npy_mismatches(const char *dir, const char *one_path, int k, int S)
{
    char path[100];
    attn_point p = approx_point(1, 1, 1, S + 1, 64, ATTN_BF16, "");
    snprintf(p.params, sizeof p.params, "proj_file=%s,k=%d", one_path, k);
    test_cond("proj file: configure opens no file", approx_why(V, &p) == NULL);
    const char *why = approx_skip(V, &p);
    test_cond("proj file with another S: prepare skips with the reason", why && strstr(why, "S (last dimension)"));
    p.seq = S;
    snprintf(p.params, sizeof p.params, "proj_file=%s,k=%d", one_path, k + 1);
    why = approx_skip(V, &p);
    test_cond("proj file with another k: reason", why && strstr(why, "k parameter"));
    snprintf(p.params, sizeof p.params, "proj_file=%s", one_path);
    why = approx_skip(V, &p);
    test_cond("proj file with another k than the default 128: reason", why && strstr(why, "k parameter"));
    snprintf(p.params, sizeof p.params, "proj_file=%s,proj=gaussian", one_path);
    why = approx_why(V, &p);
    test_cond("proj_file and proj together: reason", why && strstr(why, "proj_file replaces proj"));
    float *zeros = calloc((size_t)3 * k * 10, sizeof *zeros);
    size_t shape3[3] = {3, (size_t)k, 10};
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    write_npy(path, ATTN_FP16, zeros, 3, shape3);
    free(zeros);
    attn_point q = approx_point(1, 1, 1, 10, 64, ATTN_BF16, "");
    snprintf(q.params, sizeof q.params, "proj_file=%s,k=%d", path, k);
    why = approx_skip(V, &q);
    test_cond("proj file of shape [3,k,S]: reason", why && strstr(why, "shape must be"));
    FILE *f = fopen(path, "wb");
    if (f) fputs("not a numpy file at all", f), fclose(f);
    why = approx_skip(V, &q);
    test_cond("garbage proj file: reason", why && strstr(why, "cannot read") && strstr(why, "not a .npy"));
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
        attn_point pf = approx_point(1, 2, 1, S, 64, dt, "");
        snprintf(pf.params, sizeof pf.params, "proj_file=%s,k=%d", path, k);
        attn_point ps = approx_point(1, 2, 1, S, 64, dt, "k=24");
        test_cond("proj file supported", approx_why(V, &pf) == NULL && approx_skip(V, &pf) == NULL);
        attn_host_inputs in = approx_inputs(&ps, ATTN_INIT_NORMAL);
        attn_row *rows;
        size_t n = attn_sample_rows(&ps, 1e12, &rows);
        float *a = malloc(n * 64 * sizeof *a), *b = malloc(n * 64 * sizeof *b);
        int ok = approx_rows(V, &ps, &in, rows, n, a) == 0 && approx_rows(V, &pf, &in, rows, n, b) == 0;
        test_cond("proj file with the seeded values: the same rows, bit for bit",
                  ok && memcmp(a, b, n * 64 * sizeof *a) == 0);
        test_cond("proj file of the point's k: same flops", approx_work(V, &pf).flops == approx_work(V, &ps).flops);
        approx_free(in), free(rows), free(a), free(b), free(E), free(F), free(both);
    }

    /* 2. A [k,S] float16 file (E = F) with other values, against fp64 with the same matrices. */
    const size_t n = (size_t)k * S;
    float *m = malloc(n * sizeof *m);
    for (size_t i = 0; i < n; i++) m[i] = attn_round(ATTN_FP16, 0.3f * attn_rng_value(9, 7, i, 0, 1));
    snprintf(path, sizeof path, "%s/one.npy", dir);
    size_t shape[2] = {(size_t)k, (size_t)S};
    test_cond("write a [k,S] f2 .npy", write_npy(path, ATTN_FP16, m, 2, shape) == 0);
    for (int t = 0; t < 2; t++) {
        attn_dtype dt = t ? ATTN_BF16 : ATTN_FP16;
        attn_point p = approx_point(2, 2, 2, S, 64, dt, "");
        snprintf(p.params, sizeof p.params, "proj_file=%s,k=%d", path, k);
        float *r = malloc(n * sizeof *r);
        for (size_t i = 0; i < n; i++) r[i] = attn_round(dt, m[i]);
        attn_check_result cr;
        double rel = against_fp64(&p, r, r, k, ATTN_INIT_NORMAL, &cr);
        char what[512];
        snprintf(what, sizeof what, "[k,S] f2 proj file (E = F), %s: rel L2 %.2e vs fp64",
                 attn_dtype_name(dt), rel);
        test_cond(what, rel >= 0 && rel <= approx_bound(dt) && cr.n_bad == 0);
        free(r);
    }
    npy_mismatches(dir, path, k, S);
    free(m);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    test_cond("cleanup", system(cmd) == 0);
}

static void misc_tests(void)
{
    /* A subset of rows across slices equals the same rows computed with all others. */
    attn_point p = approx_point(2, 4, 2, 61, 64, ATTN_BF16, "k=20");
    attn_host_inputs in = approx_inputs(&p, ATTN_INIT_OUTLIERS);
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows);
    float *all = malloc(n * 64 * sizeof *all), *some = malloc(3 * 64 * sizeof *some);
    test_cond("cpu_rows on a subset of rows equals the full computation",
              approx_subset_matches(V, &p, &in, rows, n, all, some));
    /* Another seed gives other projections, hence other rows. */
    attn_point p2 = p;
    snprintf(p2.params, sizeof p2.params, "k=20,seed=2");
    int ok = approx_rows(V, &p2, &in, &rows[5], 1, some) == 0 && memcmp(all + 5 * 64, some, 64 * sizeof *all) != 0;
    test_cond("seed=2 changes the projections", ok);
    /* The plan decides the attention path: on the CPU backend the H200's, mma with its 64x64 tile
     * below 128 keys, wgmma from 128; describe says so; path=wgmma is kept (key tiles of 128). */
    attn_plan *plan;
    char desc[256] = "";
    if (attn_variant_plan_host(V, &p, &in, &plan) == ATTN_OK) {
        V->describe(plan, desc, sizeof desc);
        attn_variant_plan_free(V, plan);
    }
    test_cond("describe: k, proj, the batched GEMM and the path the plan chose",
              strcmp(desc, "k=20 proj=gaussian gemm=cublas-batched attn=fused path=mma tile=64x64") == 0);
    snprintf(p2.params, sizeof p2.params, "k=128");
    if (attn_variant_plan_host(V, &p2, &in, &plan) == ATTN_OK) {
        V->describe(plan, desc, sizeof desc);
        attn_variant_plan_free(V, plan);
    }
    test_cond("describe: from 128 keys the CPU backend takes the wgmma path, as an H200 would",
              strcmp(desc, "k=128 proj=gaussian gemm=cublas-batched attn=fused path=wgmma tile=192x128") == 0);
    snprintf(p2.params, sizeof p2.params, "k=20,path=wgmma,proj=mean");
    if (attn_variant_plan_host(V, &p2, &in, &plan) == ATTN_OK) {
        V->describe(plan, desc, sizeof desc);
        attn_variant_plan_free(V, plan);
    }
    test_cond("describe: proj=mean pools; path=wgmma's tile is 64·nwg x 128",
              strcmp(desc, "k=20 proj=mean gemm=none(segment-means) attn=fused path=wgmma tile=192x128") == 0);
    approx_free(in), free(rows), free(all), free(some);

    /* Work formulas at the benchmark shape. */
    attn_point b = approx_point(1, 16, 16, 16384, 128, ATTN_BF16, "k=256");
    const double k = 256, S = 16384, D = 128;
    const attn_work w = approx_work(V, &b);
    double want_flops = 4.0 * 16 * k * S * D + 4.0 * 16 * S * k * D;
    test_cond("flops: projections + attention", fabs(w.flops - want_flops) < 1);
    double want_bytes = 2.0 * (4.0 * 16 * S * D + 2 * k * S + 4.0 * 16 * k * D);
    test_cond("bytes: Q,K,V,O + E,F + K',V' written and read", fabs(w.bytes - want_bytes) < 1);
    test_cond("launches: cuBLAS decides", w.launches == -1);
    attn_point d = approx_point(1, 16, 16, 16384, 128, ATTN_BF16, "");
    test_cond("default k = 128", approx_work(V, &d).flops == 4.0 * 16 * 128 * S * D + 4.0 * 16 * S * 128 * D);
    test_cond("workspace holds E, F, K', V' (+ cuBLAS's)",
              approx_workspace(V, &b) >= 2 * (2 * k * S + 2 * 16 * k * D) + (32 << 20));
    attn_point cb = approx_point(1, 16, 16, 16384, 128, ATTN_BF16, "k=256,attn=cublas");
    test_cond("cuBLAS path: its scores in the workspace and in the bytes",
              approx_workspace(V, &cb) >= approx_workspace(V, &b) + 2 * 16 * S * k &&
                  fabs(approx_work(V, &cb).bytes - want_bytes - 2.0 * 4 * 16 * S * k) < 1);
}

int main(void)
{
    formula_tests();
    mean_tests();
    configure_tests();
    npy_tests();
    misc_tests();
    return test_report();
}
