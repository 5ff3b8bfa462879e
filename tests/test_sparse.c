/* test_sparse.c — the `sparse` variant (block-sparse attention) on the CPU: its cpu_rows, through a
 * host plan, against an independent masked-dense fp64 reference built from the plan's kept tiles
 * (every method, S = 1, 127, 1000, causal and not, GQA, D 64 and 128, fp16 and bf16); the plans'
 * properties (tiles ascending and visible, diagonal and first tile kept, the count each method
 * promises, topk's tiles the highest pooled logits and mass reaching tau by an fp64 estimate,
 * vprune's columns the largest norms, bigbird's seed); the check rejecting a wrong tile list;
 * configure's reasons; the work counts; the accuracy bounds failing a point; bad parameters exit 2
 * with nothing written; --init structured concentrating attention; --inputs reading back what
 * --save-tensors wrote and refusing a mismatch. (The GPU against its plan: tests/gpu/test_sparse.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approx.h"
#include "sparse.h"
#include "sparse_rules.h"
#include "test.h"

extern const attn_variant attn_variant_sparse;
static const attn_variant *V = &attn_variant_sparse;
int attn_sparse_plan_view(attn_plan *plan, int **row_ptr, int **col_idx, int **v_cols, int *dv,
                          int *tile);

typedef struct plan_view {
    int *row_ptr, *col_idx, *v_cols;
    int dv, tile, n_tiles;
} plan_view;

static plan_view view_of(attn_plan *plan)
{
    plan_view v;
    v.n_tiles = attn_sparse_plan_view(plan, &v.row_ptr, &v.col_idx, &v.v_cols, &v.dv, &v.tile);
    return v;
}

/* 1 when key tile kt is kept in CSR row r. */
static int kept(const plan_view *v, int r, int kt)
{
    for (int j = v->row_ptr[r]; j < v->row_ptr[r + 1]; j++)
        if (v->col_idx[j] == kt) return 1;
    return 0;
}

/* Masked-dense attention in fp64: row (b, h, s) attends to the keys of its kept tiles (and <= s
 * when causal) with an exact softmax; vprune: the kept columns of V only, 0 in the others. */
static void masked_dense(const attn_point *p, const attn_host_inputs *in, const plan_view *v,
                         const attn_row *rows, size_t n, double *out)
{
    const int S = p->seq, D = p->head_dim;
    double *w = malloc((size_t)S * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        const attn_row *x = &rows[i];
        const size_t kvh = (size_t)x->b * p->kv_heads + x->h / (p->heads / p->kv_heads);
        const float *q = in->q + (((size_t)x->b * p->heads + x->h) * S + x->s) * D;
        const int r = (x->b * p->heads + x->h) * v->n_tiles + x->s / v->tile;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < S; j++) {
            w[j] = -INFINITY;
            if ((p->causal && j > x->s) || !kept(v, r, j / v->tile)) continue;
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)q[d] * in->k[(kvh * S + j) * D + d];
            w[j] = s / sqrt((double)D);
            mx = fmax(mx, w[j]);
        }
        for (int j = 0; j < S; j++) sum += w[j] = w[j] == -INFINITY ? 0 : exp(w[j] - mx);
        for (int d = 0; d < D; d++) {
            int pruned = 0;
            if (v->v_cols) {
                pruned = 1;
                for (int c = 0; c < v->dv; c++) pruned &= v->v_cols[kvh * v->dv + c] != d;
            }
            double o = 0;
            for (int j = 0; j < S && !pruned; j++) o += w[j] * in->v[(kvh * S + j) * D + d];
            out[i * D + d] = pruned || sum == 0 ? 0 : o / sum;
        }
    }
    free(w);
}

/* Pooled logit of (row r, key tile t) in double: the tile means of Q and K, scale, + ln(keys). */
static double pooled_logit(const attn_point *p, const attn_host_inputs *in, int T, int r, int t)
{
    const int S = p->seq, D = p->head_dim, nt = (S + T - 1) / T, bh = r / nt, qt = r % nt;
    const size_t kvh =
        (size_t)(bh / p->heads) * p->kv_heads + (bh % p->heads) / (p->heads / p->kv_heads);
    const int qlen = S - qt * T < T ? S - qt * T : T, klen = S - t * T < T ? S - t * T : T;
    double dot = 0;
    for (int d = 0; d < D; d++) {
        double qs = 0, ks = 0;
        for (int i = 0; i < qlen; i++) qs += in->q[((size_t)bh * S + qt * T + i) * D + d];
        for (int i = 0; i < klen; i++) ks += in->k[(kvh * S + t * T + i) * D + d];
        dot += qs / qlen * (ks / klen);
    }
    return dot / sqrt((double)D) + log((double)klen);
}

/* The method's promise for one row, checked with fp64 estimates (topk: kept non-forced tiles
 * score at least every dropped tile; mass: the kept tiles' estimated mass reaches tau). */
static int row_promise(const attn_point *p, const attn_host_inputs *in, const plan_view *v,
                       int method, double density, double tau, int r)
{
    const int qt = r % v->n_tiles, vis = attn_sparse_visible(qt, v->n_tiles, p->causal);
    const int n = v->row_ptr[r + 1] - v->row_ptr[r], forced = qt == 0 ? 1 : 2;
    const int k = attn_sparse_keep_count(method == ATTN_SPARSE_VPRUNE ? 1.0 : density, vis);
    if (method != ATTN_SPARSE_MASS && n != (k > forced ? k : forced)) return 0;
    if (method != ATTN_SPARSE_TOPK && method != ATTN_SPARSE_MASS) return 1;
    double min_kept = INFINITY, max_dropped = -INFINITY, mx = -INFINITY, all = 0, in_kept = 0;
    double lg[ATTN_SPARSE_MAX_TILES];
    for (int t = 0; t < vis; t++) mx = fmax(mx, lg[t] = pooled_logit(p, in, v->tile, r, t));
    for (int t = 0; t < vis; t++) {
        const double e = exp(lg[t] - mx);
        all += e;
        if (kept(v, r, t)) in_kept += e;
        if (t == 0 || t == qt) continue;
        if (kept(v, r, t)) min_kept = fmin(min_kept, lg[t]);
        else
            max_dropped = fmax(max_dropped, lg[t]);
    }
    if (method == ATTN_SPARSE_MASS) return in_kept >= (tau - 1e-3) * all;
    return min_kept >= max_dropped - 1e-4 * (1 + fabs(max_dropped));
}

/* Every row's tiles ascending, visible, the diagonal and tile 0 among them, the method's promise. */
static int plan_ok(const attn_point *p, const attn_host_inputs *in, const plan_view *v, int method,
                   double density, double tau)
{
    const int rows = p->batch * p->heads * v->n_tiles;
    for (int r = 0; r < rows; r++) {
        const int qt = r % v->n_tiles, vis = attn_sparse_visible(qt, v->n_tiles, p->causal);
        for (int j = v->row_ptr[r]; j < v->row_ptr[r + 1]; j++)
            if (v->col_idx[j] >= vis || (j > v->row_ptr[r] && v->col_idx[j] <= v->col_idx[j - 1]))
                return 0;
        if (!kept(v, r, 0) || !kept(v, r, qt) || !row_promise(p, in, v, method, density, tau, r))
            return 0;
    }
    return 1;
}

/* vprune's columns are the dv of largest L2 norm per KV head (fp64 norms). */
static int vprune_ok(const attn_point *p, const attn_host_inputs *in, const plan_view *v)
{
    const int S = p->seq, D = p->head_dim;
    for (int hd = 0; hd < p->batch * p->kv_heads; hd++) {
        double norm[128], min_kept = INFINITY, max_pruned = -INFINITY;
        for (int d = 0; d < D; d++) {
            norm[d] = 0;
            for (int s = 0; s < S; s++)
                norm[d] += (double)in->v[((size_t)hd * S + s) * D + d] *
                           in->v[((size_t)hd * S + s) * D + d];
        }
        for (int d = 0; d < D; d++) {
            int is_kept = 0;
            for (int c = 0; c < v->dv; c++) is_kept |= v->v_cols[hd * v->dv + c] == d;
            if (is_kept) min_kept = fmin(min_kept, norm[d]);
            else
                max_pruned = fmax(max_pruned, norm[d]);
        }
        if (min_kept < max_pruned * (1 - 1e-5)) return 0;
    }
    return 1;
}

typedef struct sparse_case {
    const char *params;
    int method, S, D, causal;
    attn_dtype t;
    double density, tau;
} sparse_case;

/* One case: cpu_rows against the masked-dense reference of its own plan, and the plan's
 * properties. With corrupt = 1, also: a wrong tile list in one row is caught by the check. */
static void run_case(const sparse_case *c, int corrupt)
{
    attn_point p = approx_point(2, 4, 2, c->S, c->D, c->t, c->params);
    p.causal = c->causal;
    attn_host_inputs in = approx_inputs(&p, ATTN_INIT_NORMAL);
    attn_plan *plan = NULL;
    char what[512];
    snprintf(what, sizeof what, "%s S=%d D=%d causal=%d %s: host plan", c->params, c->S, c->D,
             c->causal, attn_dtype_name(c->t));
    test_cond(what, attn_variant_plan_host(V, &p, &in, &plan) == ATTN_OK);
    if (!plan) return approx_free(in);
    plan_view v = view_of(plan);
    attn_row *rows;
    const size_t n = attn_sample_rows(&p, 4e7, &rows), m = n * c->D;
    float *out = malloc(m * sizeof *out);
    double *ref = malloc(m * sizeof *ref);
    attn_check_result cr;
    int rc = V->cpu_rows(plan, &in, rows, n, out);
    for (size_t i = 0; i < m; i++) out[i] = attn_round(c->t, out[i]);
    masked_dense(&p, &in, &v, rows, n, ref);
    attn_check(out, ref, n, c->D, attn_tolerance(c->t), &cr);
    snprintf(what, sizeof what,
             "%s S=%d D=%d causal=%d %s: cpu_rows = masked-dense fp64 (rel L2 %.2e)", c->params,
             c->S, c->D, c->causal, attn_dtype_name(c->t), cr.rel_l2);
    test_cond(what, rc == ATTN_OK && attn_check_passed(&cr) && cr.rel_l2 < approx_bound(c->t));
    snprintf(what, sizeof what, "%s S=%d causal=%d: the plan keeps what the method promises",
             c->params, c->S, c->causal);
    test_cond(what, plan_ok(&p, &in, &v, c->method, c->density, c->tau) &&
                        (!v.v_cols || vprune_ok(&p, &in, &v)));
    if (corrupt) {
        /* row 0 of the last query tile: swap its last non-forced kept tile for a dropped one */
        const int r = v.n_tiles - 1, qt = r;
        int drop = -1, swap = -1;
        for (int t = 1; t < qt; t++) (kept(&v, r, t) ? &swap : &drop)[0] = t;
        for (int j = v.row_ptr[r]; j < v.row_ptr[r + 1] && swap >= 0 && drop >= 0; j++)
            if (v.col_idx[j] == swap) v.col_idx[j] = drop;
        rc = V->cpu_rows(plan, &in, rows, n, out);
        for (size_t i = 0; i < m; i++) out[i] = attn_round(c->t, out[i]);
        attn_check(out, ref, n, c->D, attn_tolerance(c->t), &cr);
        test_cond("a wrong tile list (one kept tile swapped for a dropped one) fails the check",
                  swap >= 0 && drop >= 0 && rc == ATTN_OK && !attn_check_passed(&cr));
    }
    attn_variant_plan_free(V, plan);
    approx_free(in), free(rows), free(out), free(ref);
}

static void cases(void)
{
    static const char *const names[] = {"window", "bigbird", "topk", "mass", "vprune"};
    static const int seqs[] = {1, 127, 1000};
    char params[5][64];
    for (int m = 0; m < 5; m++) {
        snprintf(params[m], sizeof params[m], "method=%s,density=0.3,tau=0.6,keep=0.5", names[m]);
        for (int s = 0; s < 3; s++)
            for (int causal = 0; causal < 2; causal++) {
                const sparse_case c = {params[m], m, seqs[s], 64, causal, ATTN_BF16, 0.3, 0.6};
                run_case(&c, 0);
            }
    }
    const sparse_case more[] = {
        {"method=topk,density=0.25,tile=128", ATTN_SPARSE_TOPK, 1000, 128, 1, ATTN_FP16, 0.25, 0.9},
        {"method=mass,tau=0.9,tile=64", ATTN_SPARSE_MASS, 1000, 128, 0, ATTN_BF16, 0.5, 0.9},
        {"method=vprune,keep=0.25", ATTN_SPARSE_VPRUNE, 127, 128, 1, ATTN_FP16, 1, 0.9},
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) run_case(&more[i], 0);
    const sparse_case wrong = {
        "method=topk,density=0.3", ATTN_SPARSE_TOPK, 1000, 64, 0, ATTN_BF16, 0.3, 0.9};
    run_case(&wrong, 1);
}

/* bigbird's random tiles follow the seed: the same seed the same plan, another seed another. */
static void bigbird_seed(void)
{
    attn_point p[3];
    const char *params[3] = {"method=bigbird,density=0.4,seed=7",
                             "method=bigbird,density=0.4,seed=7",
                             "method=bigbird,density=0.4,seed=8"};
    attn_plan *plan[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        p[i] = approx_point(1, 4, 2, 2000, 64, ATTN_BF16, params[i]);
        attn_variant_plan_host(V, &p[i], NULL, &plan[i]);
    }
    if (plan[0] && plan[1] && plan[2]) {
        plan_view v[3] = {view_of(plan[0]), view_of(plan[1]), view_of(plan[2])};
        const int total = v[0].row_ptr[4 * v[0].n_tiles];
        test_cond("bigbird: the same seed gives the same tiles",
                  memcmp(v[0].col_idx, v[1].col_idx, (size_t)total * sizeof(int)) == 0);
        test_cond("bigbird: another seed gives other tiles",
                  total != v[2].row_ptr[4 * v[2].n_tiles] ||
                      memcmp(v[0].col_idx, v[2].col_idx, (size_t)total * sizeof(int)) != 0);
    } else {
        test_cond("bigbird plans without inputs", 0);
    }
    for (int i = 0; i < 3; i++)
        if (plan[i]) attn_variant_plan_free(V, plan[i]);
}

static void configure_and_work(void)
{
    const approx_config_case cfg[] = {
        {ATTN_FP32, 64, 0, "", "fp32"},
        {ATTN_BF16, 96, 0, "", "head_dim"},
        {ATTN_BF16, 64, 1, "method=mass,tile=128", NULL},
        {ATTN_FP16, 128, 0, "method=vprune,keep=0.3", NULL},
    };
    approx_configure_cases(V, cfg, sizeof cfg / sizeof *cfg);
    /* window at density 1: every tile, 2·T²·(D + D) each; at 0.5 about half */
    attn_point p = approx_point(2, 4, 2, 1000, 64, ATTN_BF16, "method=window,density=1,tile=64");
    attn_work w = approx_work(V, &p);
    const double full = 2.0 * 4 * 16 * 16 * 2.0 * 64 * 64 * 128;
    test_cond("work: window density 1 executes every tile", fabs(w.flops - full) < 1);
    snprintf(p.params, sizeof p.params, "method=window,density=0.5,tile=64");
    w = approx_work(V, &p);
    test_cond("work: density 0.5 executes half the tiles", fabs(w.flops - full / 2) < 1);
    snprintf(p.params, sizeof p.params, "method=vprune,keep=0.5,tile=64");
    attn_host_inputs in = approx_inputs(&p, ATTN_INIT_NORMAL); /* vprune's plan reads V */
    attn_plan *plan;
    w.flops = -1;
    if (attn_variant_plan_host(V, &p, &in, &plan) == ATTN_OK) {
        V->work(plan, &w);
        attn_variant_plan_free(V, plan);
    }
    approx_free(in);
    test_cond("work: vprune keep 0.5 executes 3/4 of the dense tile FLOPs (+ the norms)",
              w.flops > full * 0.75 && w.flops < full * 0.76);
}

/* Bad parameter values: exit 2 and no database. */
static void bad_params(void)
{
    static const char *const bad[] = {"density=0", "density=1.5", "method=dense", "tile=96",
                                      "tau=0",     "keep=2",      "path=tma"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char db[512], what[128];
        fx_path(db, sizeof db, "bad.db");
        const int rc = fx_sh("'%s' run --backend cpu --db %s --variants sparse --seq 64 --heads 2"
                             " --head-dim 64 --param %s --quiet 2>/dev/null",
                             fx_bin, db, bad[i]);
        snprintf(what, sizeof what, "--param %s: exit 2, nothing written", bad[i]);
        test_cond(what, rc == 2 && access(db, F_OK) != 0);
    }
}

/* max_rel_l1= and min_cosine= fail a point outside them, with the metric in the reason. */
static void bounds(void)
{
    char db[512];
    fx_path(db, sizeof db, "bounds.db");
    const int rc = fx_sh("'%s' run --backend cpu --db %s --variants sparse --seq 300 --heads 2"
                         " --head-dim 64 --param method=window --param density=0.2"
                         " --param max_rel_l1=0.001,1000 --max-time 0.01 --min-samples 1 --quiet"
                         " 2>/dev/null",
                         fx_bin, db);
    test_cond("max_rel_l1: the run exits 1", rc == 1);
    test_cond("max_rel_l1=0.001 fails its point, naming the metric",
              fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'failed' AND params"
                               " LIKE '%max_rel_l1=0.001%' AND reason LIKE '%relative L1%'") == 1);
    test_cond("max_rel_l1=1000 passes",
              fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok' AND params"
                               " LIKE '%max_rel_l1=1000%'") == 1);
}

/* --init structured concentrates attention (topk at 25 % keeps most of the softmax mass; on normal
 * inputs about 25 %); --inputs reads back what --save-tensors wrote (the same errors), and refuses
 * files of another shape or dtype with exit 2, writing nothing. */
static void structured_and_inputs(void)
{
    char db[512], db2[512], bad[512], dir[512];
    fx_path(db, sizeof db, "structured.db");
    fx_path(db2, sizeof db2, "inputs.db");
    fx_path(bad, sizeof bad, "bad-inputs.db");
    fx_path(dir, sizeof dir, "");
    const char *shape = "--variants sparse --seq 1024 --heads 2 --kv-heads 1 --head-dim 64"
                        " --param method=topk --param density=0.25 --max-time 0.01 --min-samples 1"
                        " --quiet";
    int rc = fx_sh("'%s' run --backend cpu --db %s %s --init structured --save-tensors %s"
                   " 2>/dev/null",
                   fx_bin, db, shape, dir);
    int rc2 =
        fx_sh("'%s' run --backend cpu --db %s %s --inputs %s 2>/dev/null", fx_bin, db2, shape, dir);
    test_cond("structured run, then the same shape from its saved tensors: exit 0",
              rc == 0 && rc2 == 0);
    const char *mass = "SELECT value * 1000 FROM metrics WHERE name = 'mass_retained'";
    test_cond("structured inputs: topk at 25 % keeps over 70 % of the softmax mass",
              fx_query_int(db, mass) > 700);
    test_cond("--inputs: the saved tensors give the same mass and error",
              fx_query_int(db, mass) == fx_query_int(db2, mass) &&
                  fx_num(db, "SELECT exact_rel_l2 FROM points") ==
                      fx_num(db2, "SELECT exact_rel_l2 FROM points"));
    rc = fx_sh("'%s' run --backend cpu --db %s --variants sparse --seq 1000 --heads 2 --kv-heads 1"
               " --head-dim 64 --inputs %s --quiet 2>/dev/null",
               fx_bin, bad, dir);
    test_cond("--inputs of another shape: exit 2, nothing written",
              rc == 2 && access(bad, F_OK) != 0);
    rc = fx_sh("'%s' run --backend cpu --db %s %s --dtype fp16 --inputs %s 2>/dev/null", fx_bin,
               bad, shape, dir);
    test_cond("--inputs of another dtype: exit 2, nothing written",
              rc == 2 && access(bad, F_OK) != 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0])) return 1;
    cases();
    bigbird_seed();
    configure_and_work();
    bad_params();
    bounds();
    structured_and_inputs();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
