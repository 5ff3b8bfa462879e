/* test_nystrom.c — the `nystrom` variant (Nyströmformer) on the CPU: its cpu_rows, through a host
 * plan, against a straightforward fp64 implementation of the documented formula at small odd shapes
 * and every attention path; the pseudo-inverse iteration on its own; exact attention at m = S;
 * configure's reasons and the parameter table; the checker on its rows; the work formulas. (The GPU
 * against cpu_rows: tests/gpu/test_nystrom.c, through the real pipeline.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approx.h"
#include "core/rng.h"
#include "test.h"

extern const attn_variant attn_variant_nystrom;
static const attn_variant *V = &attn_variant_nystrom;
/* variants/nystrom.c: the pseudo-inverse (Nyströmformer's iteration), in double. */
void attn_nystrom_pinv(int m, const double *A, double *Z, double *work);

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
static void nystrom_fp64(const attn_point *p, const attn_host_inputs *in, const approx_ref_args *a,
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
                snprintf(params, sizeof params, "m=%d%s", cases[ci].m, cases[ci].extra);
                attn_point p = approx_point(cases[ci].b, cases[ci].h, cases[ci].kv, cases[ci].s,
                                     cases[ci].d, (attn_dtype)t, params);
                attn_point_format(&p, shape, sizeof shape);
                const char *why = approx_why(V, &p);
                const int want_skip = t == ATTN_FP32 && (strstr(params, "tile=") || strstr(params, "path="));
                snprintf(what, sizeof what, "nystrom %s %s: supported", params, shape);
                test_cond(what, want_skip ? why != NULL : why == NULL);
                if (why) continue;
                attn_check_result cr;
                const approx_ref_args a = {NULL, NULL, cases[ci].m};
                double rel = approx_against(V, &p, nystrom_fp64, &a, (attn_init)init, &cr);
                snprintf(what, sizeof what, "nystrom %s %s %s: cpu_rows vs fp64 Nystromformer rel L2 %.2e <= %.0e",
                         params, shape, init ? "outliers" : "normal", rel, approx_bound(p.dtype));
                test_cond(what, rel >= 0 && rel <= approx_bound(p.dtype) && cr.n_bad == 0);
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
    attn_nystrom_pinv(M, A, Z, work);
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
    attn_nystrom_pinv(M, A, Z, work);
    test_cond("pinv of the rank-1 uniform matrix J/m is J/m", frob_diff(M, Z, A) <= 1e-12);
}

/* With m = S every landmark is one row, so Q̃ = Q, K̃ = K and the output is P·pinv(P)·P·V = P·V:
 * exact attention wherever the iteration converges, i.e. for a well-conditioned P. Q = K = 4·one-hot
 * rows give P = softmax(2I) (eigenvalues 1 and 0.29). fp32, so no rounding in between. */
static void nystrom_exact_at_m_equals_s(void)
{
    enum { S = 16, D = 64 };
    attn_point p = approx_point(1, 1, 1, S, D, ATTN_FP32, "m=16");
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
    int ok = n == S && approx_rows(V, &p, &in, rows, n, out) == ATTN_OK;
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

static void configure_tests(void)
{
    const approx_config_case c[] = {
        {ATTN_BF16, 128, 0, "", NULL},                  /* m = 64 <= S = 100 */
        {ATTN_BF16, 128, 0, "m=100", NULL},
        {ATTN_FP32, 96, 0, "m=16", NULL},               /* the cuBLAS attention path */
        {ATTN_BF16, 128, 0, "m=16,attn=cublas", NULL},
        {ATTN_BF16, 128, 0, "m=16,path=wgmma", NULL},
        {ATTN_BF16, 128, 0, "m=16,tile=128x128", NULL},
        {ATTN_BF16, 128, 0, "m=0", "m: '0' is not an integer in [1, 256]"},
        {ATTN_BF16, 128, 0, "m=-3", "is not an integer"},
        {ATTN_BF16, 128, 0, "m=8x", "is not an integer"},
        {ATTN_BF16, 128, 0, "m=257", "is not an integer"},
        {ATTN_BF16, 128, 0, "m=101", "m <= seq"},
        /* Linformer's parameters are lowrank's alone now. */
        {ATTN_BF16, 128, 0, "k=16", "nystrom has no parameter 'k'"},
        {ATTN_BF16, 128, 0, "m=16,proj=mean", "nystrom has no parameter 'proj'"},
        {ATTN_BF16, 128, 0, "m=16,seed=2", "nystrom has no parameter 'seed'"},
        {ATTN_BF16, 128, 0, "m=16,streams=2", "nystrom has no parameter 'streams'"},
        {ATTN_BF16, 128, 0, "method=nystrom", "nystrom has no parameter 'method'"},
        {ATTN_BF16, 128, 1, "m=16", "causal masking not supported by Nystromformer"},
        {ATTN_BF16, 128, 0, "m=16,attn=magic", "'magic' is not one of fused|cublas"},
        {ATTN_FP32, 128, 0, "m=16,attn=fused", "attn=fused needs"},
        {ATTN_FP32, 128, 0, "m=16,path=mma", "path applies"},
        {ATTN_BF16, 128, 0, "m=16,path=wgmma,tile=64x64", "tile applies to path=mma"},
    };
    approx_configure_cases(V, c, sizeof c / sizeof c[0]);
    test_cond("params declare m, attn, path, tile",
              approx_declares(V, "m") && approx_declares(V, "attn") && approx_declares(V, "path") &&
                  approx_declares(V, "tile"));
    test_cond("params have no k, proj, seed, streams or method",
              !approx_declares(V, "k") && !approx_declares(V, "proj") && !approx_declares(V, "seed") &&
                  !approx_declares(V, "streams") && !approx_declares(V, "method"));
    test_cond("an approximation", V->exact == 0);
    /* The registry lists it after lowrank. */
    const attn_variant *const *r = attn_variants;
    while (*r && *r != attn_variant_find("lowrank")) r++;
    test_cond("registered right after lowrank", *r && r[1] == V && attn_variant_find("nystrom") == V);
}

static void nystrom_misc_tests(void)
{
    attn_point p = approx_point(2, 4, 2, 61, 64, ATTN_BF16, "m=12");
    attn_host_inputs in = approx_inputs(&p, ATTN_INIT_OUTLIERS);
    attn_row *rows;
    size_t n = attn_sample_rows(&p, 1e12, &rows), len = n * 64;
    float *all = malloc(len * sizeof *all), *some = malloc(3 * 64 * sizeof *some);
    double *target = malloc(len * sizeof *target);
    /* A subset of rows (another head each: Y is cached per head) equals the full computation. */
    test_cond("nystrom: cpu_rows on a subset of rows equals the full computation",
              approx_subset_matches(V, &p, &in, rows, n, all, some));

    /* The checker rejects a corrupted output: the rows themselves pass, one element moved by 4
     * tolerances fails, so does a NaN. */
    for (size_t i = 0; i < len; i++) all[i] = attn_round(p.dtype, all[i]), target[i] = all[i];
    attn_check_result cr;
    attn_check(all, target, n, 64, attn_tolerance(p.dtype), &cr);
    test_cond("nystrom: its own rows pass the check", attn_check_passed(&cr));
    /* The plan decides the attention path: mma with its 64x64 tile on the CPU backend. */
    attn_plan *plan;
    char desc[256] = "";
    if (attn_variant_plan_host(V, &p, &in, &plan) == ATTN_OK) {
        V->describe(plan, desc, sizeof desc);
        attn_variant_plan_free(V, plan);
    }
    test_cond("nystrom describe: m, landmarks, the iteration and the path the plan chose",
              strcmp(desc, "m=12 landmarks=segment-means pinv=6-iterations-fp32 pinv_scale=per-head"
                           " attn=fused path=mma tile=64x64") == 0);
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

    /* Bad parameters: no plan is made for them (so no cpu_rows), with the reason. */
    attn_point big_m = approx_point(1, 2, 1, 10, 64, ATTN_BF16, "m=11");
    test_cond("nystrom: no plan (hence no cpu_rows) with m > S",
              approx_rows(V, &big_m, &in, rows, 1, some) == ATTN_SKIP && strstr(attn_last_error.msg, "m <= seq"));
    approx_free(in), free(rows), free(all), free(some), free(target);

    /* Work at the benchmark shape. */
    attn_point b = approx_point(1, 16, 16, 16384, 128, ATTN_BF16, "m=64");
    const attn_work w = approx_work(V, &b);
    const double S = 16384, D = 128, m = 64, bh = 16;
    double want = bh * (2 * S * D + 4 * m * S * D + 2 * m * m * D + 6 * 4 * 2 * m * m * m +
                        2 * m * m * D + 4 * S * m * D);
    test_cond("nystrom flops: landmarks, W, A, pinv, Z·W, O", fabs(w.flops - want) < 1);
    want = 2 * (3 * bh * S * D + 3 * bh * S * D + 8 * bh * m * D) + 4 * 2 * 44 * bh * m * m;
    test_cond("nystrom bytes: Q, K twice, V once, O; Q~, K~, W, Y and 44 fp32 m x m per head",
              fabs(w.bytes - want) < 1);
    test_cond("nystrom launches: cuBLAS decides", w.launches == -1);
    test_cond("nystrom workspace: Q~, K~, W, Y and 6 fp32 m x m per head (+ cuBLAS's)",
              approx_workspace(V, &b) >= 4 * bh * m * D * 2 + 6 * bh * m * m * 4 + (32 << 20));
    test_cond("nystrom default m = 64",
              approx_work(V, &(attn_point){1, 16, 16, 16384, 128, ATTN_BF16, 0, ""}).flops == w.flops);
}

int main(void)
{
    configure_tests();
    nystrom_formula_tests();
    nystrom_pinv_tests();
    nystrom_exact_at_m_equals_s();
    nystrom_misc_tests();
    return test_report();
}
