/* point.c — one variant at one point, the steps common to both backends (see point.h). */
#include "run/point.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/reference.h"
#include "core/interrupt.h"
#include "core/npy.h"
#include "measure/trace.h"
#include "run/host_memory.h"

static const char *const status_names[] = {"ok", "failed", "skipped", "error"};

const char *run_point_status_name(run_point_status s) { return status_names[s]; }

/* ---------------------------------------------------------------- the shape */

static float *widen(attn_dtype t, const void *src, size_t n)
{
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; f && i < n; i++) f[i] = attn_load(t, src, i);
    return f;
}

static int shape_inputs(const run_env *env, run_shape *s)
{
    const attn_point *p = &s->p;
    const size_t es = attn_dtype_size(p->dtype), nq = attn_q_elems(p), nkv = attn_kv_elems(p);
    s->n_rows = attn_sample_rows(p, RUN_CHECK_BUDGET, &s->rows);
    s->hq = malloc(nq * es), s->hk = malloc(nkv * es), s->hv = malloc(nkv * es);
    s->out = malloc(nq * es);
    if (!s->rows || !s->hq || !s->hk || !s->hv || !s->out)
        return attn_fail("out of host memory for inputs");
    ATTN_TRY(env->backend->inputs(env, s));
    s->fq = widen(p->dtype, s->hq, nq), s->fk = widen(p->dtype, s->hk, nkv);
    s->fv = widen(p->dtype, s->hv, nkv);
    if (!s->fq || !s->fk || !s->fv) return attn_fail("out of host memory for inputs");
    s->in = (attn_host_inputs){s->fq, s->fk, s->fv};
    return ATTN_OK;
}

/* Host bytes a shape's points take at most: the inputs in the dtype and widened to float, the
 * output, the checked rows and their fp64 reference, on the CPU backend every row and its float
 * output; and per point the check's copies and an allowance for the variant's CPU scratch (a few
 * vectors of S, k or D floats per slice: 16·S·max(D, 64) floats). */
static double shape_host_bytes(const run_env *env, const attn_point *p)
{
    const double es = (double)attn_dtype_size(p->dtype), nq = (double)attn_q_elems(p);
    const double nkv = (double)attn_kv_elems(p), S = p->seq, D = p->head_dim;
    const double all = (double)p->batch * p->heads * S, per_row = 2 * S * D;
    /* attn_sample_rows: every row within the budget, else about budget / per_row of them. */
    const double rows = fmin(all, RUN_CHECK_BUDGET / per_row + 32);
    double bytes = (es + 4) * (nq + 2 * nkv) + es * nq        /* inputs, output */
                   + rows * (sizeof(attn_row) + 8 * D)         /* checked rows, reference */
                   + rows * D * 16 + 16 * S * fmax(D, 64) * 4; /* a point's check, scratch */
    if (env->backend == &run_backend_cpu) bytes += all * sizeof(attn_row) + 4 * nq;
    return bytes;
}

/* ATTN_SKIP with the reason when the shape's host memory cannot fit (with a 10 % margin). */
static int shape_fits(const run_env *env, const attn_point *p)
{
    run_host_memory m;
    run_host_memory_available(&m);
    const double need = shape_host_bytes(env, p), gib = 1024.0 * 1024 * 1024;
    if (need <= 0.9 * m.bytes) return ATTN_OK;
    return attn_skip("host memory: this shape needs about %.3g GiB, %.3g GiB available (%s)",
                     need / gib, m.bytes / gib, m.bound);
}

void run_shape_setup(const run_env *env, const attn_point *p, run_shape *s)
{
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->setup_rc = shape_fits(env, p);
    if (s->setup_rc == ATTN_OK) s->setup_rc = shape_inputs(env, s);
    if (s->setup_rc != ATTN_OK) s->setup_error = attn_last_error;
}

void run_shape_free(const run_env *env, run_shape *s)
{
    env->backend->inputs_free(s);
    free(s->hq), free(s->hk), free(s->hv), free(s->fq), free(s->fk), free(s->fv);
    free(s->rows), free(s->ref), free(s->out);
    memset(s, 0, sizeof *s);
}

/* Exact attention at the checked rows, made on first use in chunks of about 1e7 multiply-adds,
 * with a Ctrl-C honoured between them. ATTN_ERR when out of memory or interrupted. */
static int shape_reference(run_shape *s)
{
    if (s->ref) return ATTN_OK;
    const size_t D = (size_t)s->p.head_dim;
    if (!(s->ref = malloc(s->n_rows * D * sizeof *s->ref)))
        return attn_fail("out of host memory for the reference");
    const size_t chunk = (size_t)fmax(1, 1e7 / (2.0 * s->p.seq * D));
    int rc = ATTN_OK;
    for (size_t i = 0; i < s->n_rows && (rc = attn_interrupt_check()) == ATTN_OK; i += chunk)
        attn_reference_rows(&s->p, &s->in, s->rows + i,
                            s->n_rows - i < chunk ? s->n_rows - i : chunk, s->ref + i * D);
    if (rc != ATTN_OK) free(s->ref), s->ref = NULL;
    return rc;
}

/* DIR/NAME.npy of a [B][heads][S][D] tensor in the point's dtype. */
static int save_npy(const char *dir, const char *name, const attn_point *p, int heads,
                    const void *data)
{
    char path[PATH_MAX];
    size_t shape[4] = {(size_t)p->batch, (size_t)heads, (size_t)p->seq, (size_t)p->head_dim};
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    return attn_npy_write(path, p->dtype, data, 4, shape);
}

int run_shape_save_inputs(const run_env *env, const run_shape *s)
{
    const char *dir = env->o->save_dir;
    ATTN_TRY(save_npy(dir, "q", &s->p, s->p.heads, s->hq));
    ATTN_TRY(save_npy(dir, "k", &s->p, s->p.kv_heads, s->hk));
    return save_npy(dir, "v", &s->p, s->p.kv_heads, s->hv);
}

/* DIR/NAME.npy read and matched against a [B][heads][S][D] tensor of p's dtype; when dst is not
 * NULL, its elements stored there in the dtype. */
static int load_npy(const char *dir, const char *name, const attn_point *p, int heads, void *dst)
{
    char path[PATH_MAX];
    const size_t want[4] = {(size_t)p->batch, (size_t)heads, (size_t)p->seq, (size_t)p->head_dim};
    const attn_dtype file_dtype = p->dtype == ATTN_FP16 ? ATTN_FP16 : ATTN_FP32;
    attn_npy a;
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    ATTN_TRY(attn_npy_read(path, &a));
    int rc = ATTN_OK;
    if (a.dtype != file_dtype)
        rc = attn_fail("%s: dtype '%s', a %s point needs '%s'", path, attn_dtype_name(a.dtype),
                       attn_dtype_name(p->dtype), file_dtype == ATTN_FP16 ? "<f2" : "<f4");
    else if (a.ndim != 4 || memcmp(a.shape, want, sizeof want) != 0)
        rc = attn_fail("%s: shape %d-D (%zu, %zu, ...), a point needs (%zu, %zu, %zu, %zu)", path,
                       a.ndim, a.shape[0], a.shape[1], want[0], want[1], want[2], want[3]);
    for (size_t i = 0; rc == ATTN_OK && dst && i < a.count; i++) attn_store(p->dtype, dst, i, a.data[i]);
    attn_npy_free(&a);
    return rc;
}

int run_inputs_check(const char *dir, const attn_point *p)
{
    ATTN_TRY(load_npy(dir, "q", p, p->heads, NULL));
    ATTN_TRY(load_npy(dir, "k", p, p->kv_heads, NULL));
    return load_npy(dir, "v", p, p->kv_heads, NULL);
}

int run_shape_load_inputs(const run_env *env, run_shape *s)
{
    const char *dir = env->o->inputs_dir;
    ATTN_TRY(load_npy(dir, "q", &s->p, s->p.heads, s->hq));
    ATTN_TRY(load_npy(dir, "k", &s->p, s->p.kv_heads, s->hk));
    return load_npy(dir, "v", &s->p, s->p.kv_heads, s->hv);
}

/* ---------------------------------------------------------------- the check */

static void add_metric(run_point *pt, const char *name, double value, const char *unit)
{
    if (pt->sp.n_metrics < RUN_POINT_METRICS_MAX)
        pt->metrics[pt->sp.n_metrics++] = (store_metric){name, value, unit};
}

static void fill_errors(store_errors *e, const attn_check_result *r)
{
    e->max_abs = r->max_abs, e->rel_l2 = r->rel_l2, e->cosine = r->cosine;
}

/* The checked rows of the output, as stored (in the dtype), widened. */
static void output_rows(const run_shape *s, float *out)
{
    const attn_point *p = &s->p;
    for (size_t i = 0; i < s->n_rows; i++) {
        const attn_row *r = &s->rows[i];
        size_t base = (((size_t)r->b * p->heads + r->h) * p->seq + r->s) * p->head_dim;
        for (int d = 0; d < p->head_dim; d++)
            out[i * p->head_dim + d] = attn_load(p->dtype, s->out, base + d);
    }
}

/* An approximation's check target: its CPU implementation of the plan at the checked rows,
 * rounded to the dtype as the GPU's store rounds. */
static int approximate_target(const run_point *pt, double *target)
{
    const run_shape *s = pt->shape;
    size_t n = s->n_rows * s->p.head_dim;
    float *cpu = malloc(n * sizeof *cpu);
    int rc = cpu ? pt->v->cpu_rows(pt->plan, &s->in, s->rows, s->n_rows, cpu)
                 : attn_fail("out of host memory for the check target");
    for (size_t i = 0; rc == ATTN_OK && i < n; i++) target[i] = attn_round(s->p.dtype, cpu[i]);
    free(cpu);
    return rc;
}

/* The variant's quality values over the checked rows, as metrics rows. */
static int quality_metrics(run_point *pt)
{
    attn_quality q = {0};
    const run_shape *s = pt->shape;
    ATTN_TRY(pt->v->quality(pt->plan, &s->in, s->rows, s->n_rows, &q));
    for (int i = 0; i < q.n && i < ATTN_QUALITY_MAX; i++)
        add_metric(pt, q.name[i], q.value[i], q.unit[i]);
    return ATTN_OK;
}

/* The checked run's output against its target and exact attention, under the variant's policy:
 * sets the errors, the status (failed, with the reason) and the metrics rows. */
static int check_point(run_point *pt)
{
    run_shape *s = pt->shape;
    const size_t n = s->n_rows * s->p.head_dim;
    float *out = malloc(n * sizeof *out);
    double *target = pt->v->exact ? NULL : malloc(n * sizeof *target);
    int rc = ATTN_OK;
    if (!out || (!pt->v->exact && !target)) {
        rc = attn_fail("out of host memory for the check");
        goto end;
    }
    ATTN_TRY_GOTO(shape_reference(s), rc, end);
    const double *exact = s->ref;
    output_rows(s, out);
    if (target) ATTN_TRY_GOTO(approximate_target(pt, target), rc, end);
    attn_check_policy pol;
    attn_check_policy_default(s->p.dtype, &pol);
    if (pt->v->check_policy) pt->v->check_policy(pt->plan, &pol);
    attn_verdict verdict;
    attn_check_verdict(out, exact, target, s->rows, s->n_rows, s->p.head_dim, &pol, &verdict);
    fill_errors(&pt->sp.check, &verdict.target);
    fill_errors(&pt->sp.vs_exact, &verdict.exact);
    pt->sp.check_rows = (int)s->n_rows;
    if (!verdict.passed) {
        pt->status = RUN_POINT_FAILED;
        snprintf(pt->reason, sizeof pt->reason, "%s", verdict.reason);
    }
    if (!pt->v->exact) {
        add_metric(pt, "exact_rel_l1", verdict.exact.rel_l1, "");
        add_metric(pt, "exact_rmse", verdict.exact.rmse, "");
    }
    if (pt->v->quality) ATTN_TRY_GOTO(quality_metrics(pt), rc, end);
end:
    free(out);
    free(target);
    return rc;
}

/* ---------------------------------------------------------------- one point */

/* The failure recorded in attn_last_error as the point's reason. */
static void point_reason(run_point *pt, const char *prefix)
{
    snprintf(pt->reason, sizeof pt->reason, "%s%s", prefix, attn_last_error.msg);
}

static void init_point(const run_env *env, run_shape *s, const attn_variant *v, const char *params,
                       run_point *pt)
{
    memset(pt, 0, sizeof *pt);
    pt->env = env, pt->shape = s, pt->v = v;
    pt->p = s->p;
    snprintf(pt->p.params, sizeof pt->p.params, "%s", params);
    if (env->o->spin_variant == v) pt->spin_ns = (uint64_t)env->o->spin_us * 1000;
    store_point *sp = &pt->sp;
    sp->variant = v->name, sp->is_baseline = v->baseline, sp->point = pt->p, sp->exact = v->exact;
    sp->check = sp->vs_exact = (store_errors){NAN, NAN, NAN};
    sp->dense_flops = attn_dense_flops(&pt->p);
    sp->exec_flops = sp->bytes = NAN;
    sp->profile = (attn_profile_summary){NULL, NAN, NAN, NAN, NAN, NAN};
    sp->device_bytes = NAN;
    sp->metrics = pt->metrics;
}

/* What the plan says: the work counts and the configuration text stored with the point. */
static void describe_plan(run_point *pt)
{
    attn_work w = {pt->sp.dense_flops, NAN, -1};
    if (pt->v->work) pt->v->work(pt->plan, &w);
    pt->sp.exec_flops = w.flops, pt->sp.bytes = w.bytes;
    if (pt->v->describe) pt->v->describe(pt->plan, pt->config_text, sizeof pt->config_text);
    /* The point carries the knobs: no one mistakes a slowed point for the variant's speed, and
     * the rounds its samples span are read with it. */
    const run_options *o = pt->env->o;
    if (pt->spin_ns) run_point_config_add(pt, "debug_spin_us=%d", o->spin_us);
    if (o->slow_variant == pt->v)
        run_point_config_add(pt, "debug_slow=%g%%", o->slow_fraction * 100);
    if (o->measure.placements > 1) run_point_config_add(pt, "placements=%d", o->measure.placements);
    if (pt->config_text[0]) pt->sp.config = pt->config_text;
}

void run_point_config_add(run_point *pt, const char *fmt, ...)
{
    size_t len = strlen(pt->config_text);
    va_list ap;
    if (len && len + 1 < sizeof pt->config_text) pt->config_text[len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(pt->config_text + len, sizeof pt->config_text - len, fmt, ap);
    va_end(ap);
    if (pt->config_text[0]) pt->sp.config = pt->config_text;
}

void run_point_nvtx_name(const attn_variant *v, const attn_point *p, char *buf, size_t n)
{
    char kv[32] = "";
    if (p->kv_heads != p->heads) snprintf(kv, sizeof kv, " Hkv=%d", p->kv_heads);
    snprintf(buf, n, "%s %s B=%d H=%d%s S=%d D=%d%s%s%s", v->name, attn_dtype_name(p->dtype),
             p->batch, p->heads, kv, p->seq, p->head_dim, p->causal ? " causal" : "",
             p->params[0] ? " " : "", p->params);
    for (char *c = buf; *c; c++)
        if (*c == '/') *c = ':';
}

/* --save-tensors: the checked output, written once, whichever backend made it. */
static void save_output(const run_point *pt)
{
    char name[128];
    snprintf(name, sizeof name, "o_%s", pt->v->name);
    if (save_npy(pt->env->o->save_dir, name, &pt->p, pt->p.heads, pt->shape->out) != ATTN_OK)
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
}

/* Configure → prepare → checked run → check → (time). Returns ATTN_OK with pt->status set, or
 * the failing step's code with attn_last_error set. */
static int point_steps(run_point *pt)
{
    const run_backend *be = pt->env->backend;
    const attn_variant *v = pt->v;
    char why[512];
    if (v->config_size && !(pt->config = calloc(1, v->config_size)))
        return attn_fail("out of host memory for %s's config", v->name);
    const char *skip = attn_variant_configure(v, &pt->p, pt->config, why, sizeof why);
    if (skip) return attn_skip("%s", skip);
    const char *compute = v->compute_dtype ? v->compute_dtype(&pt->p, pt->config) : NULL;
    pt->sp.compute_dtype = compute;
    pt->workspace_bytes = v->workspace_bytes ? v->workspace_bytes(&pt->p, pt->config) : 0;
    ATTN_TRY(be->prepare(pt));
    ATTN_TRY(be->checked_run(pt));
    describe_plan(pt);
    ATTN_TRY(check_point(pt));
    if (pt->status != RUN_POINT_OK) return ATTN_OK;
    if (pt->env->o->save_dir) save_output(pt);
    ATTN_TRY(be->time(pt));
    attn_summarize(&pt->samples, &pt->sp.timing);
    attn_summarize_profile(&pt->samples, &pt->profile, &pt->sp.profile);
    if (pt->sp.timing.n_samples > 0 && pt->sp.timing.n_used == 0) /* ok, but no median: say why */
        snprintf(pt->reason, sizeof pt->reason,
                 "all %d samples throttled: the GPU could not hold its max clock through this"
                 " point (run --throttle-below 75%% --cooldown 0 for its sustained speed)",
                 pt->sp.timing.n_samples);
    for (int i = 0; i < pt->counters.n; i++)
        add_metric(pt, pt->counters.name[i], pt->counters.value[i],
                   attn_metrics_unit(pt->counters.name[i]));
    return ATTN_OK;
}

void run_point_run(const run_env *env, run_shape *s, const attn_variant *v, const char *params,
                   run_point *pt)
{
    init_point(env, s, v, params, pt);
    char range[sizeof pt->nvtx_name + 8];
    run_point_nvtx_name(v, &pt->p, pt->nvtx_name, sizeof pt->nvtx_name);
    snprintf(range, sizeof range, "point %s", pt->nvtx_name);
    attn_nvtx_push(range);
    int rc;
    if (s->setup_rc != ATTN_OK) {
        attn_last_error = s->setup_error;
        rc = s->setup_rc;
        point_reason(pt, rc == ATTN_SKIP ? "" : "inputs: ");
    } else {
        rc = point_steps(pt);
        if (rc != ATTN_OK) point_reason(pt, "");
    }
    pt->interrupted = rc == ATTN_ERR && attn_interrupted;
    if (rc == ATTN_SKIP) pt->status = RUN_POINT_SKIPPED;
    else if (rc != ATTN_OK) pt->status = env->backend->failed(pt);
    if (pt->plan || pt->workspace) env->backend->release(pt);
    attn_nvtx_pop();
    free(pt->config);
    pt->config = NULL;
    pt->sp.status = run_point_status_name(pt->status);
    pt->sp.reason = pt->status == RUN_POINT_OK ? NULL : pt->reason;
}

int run_point_store(sqlite3 *db, int64_t run_id, const run_point *pt, int64_t *point_id)
{
    return store_point_add(db, run_id, &pt->sp, pt->samples.ns, pt->samples.throttled,
                                pt->samples.n, pt->profile.info, pt->profile.kernels,
                                pt->profile.n_kernels, point_id);
}

void run_point_free(run_point *pt)
{
    attn_samples_free(&pt->samples);
    attn_profile_free(&pt->profile);
}
