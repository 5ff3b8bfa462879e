/* cudnn_api.c — cuDNN's SDPA forward through the backend API (see cudnn_api.h): the tensors and
 * operations of both graph forms, heuristics and the first plan that finalizes, the plan cache,
 * one execution. Every cuDNN status goes through CUDNN_CHECK (core/error.h). */
#include "cudnn_api.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cudnn_lib.h"
#include "core/error.h"

#define SDPA_DESCS_MAX 64   /* descriptors of one graph and its plan (the causal composite: 51) */
#define SDPA_OPS_MAX 16     /* operations of one graph (the causal composite: 14) */
#define SDPA_CACHE_MAX 64   /* plans kept (shapes × forms) */
#define TENSOR_ALIGNMENT 16 /* bytes, as cudnn-frontend declares; cudaMalloc gives 256 */

/* UIDs of the tensors the variant pack binds; the virtual ones are numbered from UID_VIRTUAL. */
enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_SCALE, UID_NEG_INF, UID_VIRTUAL = 100 };

struct attn_cudnn_sdpa {
    attn_point shape;           /* the cache key: shape, dtype, causal (params "") */
    attn_cudnn_graph graph;     /* and the form */
    int users;                  /* holders: acquired, not yet released */
    void *desc[SDPA_DESCS_MAX]; /* every descriptor made for it, destroyed together */
    int n_desc;                 /* of them */
    void *ops[SDPA_OPS_MAX];    /* the graph's operations, in data-flow order */
    int n_ops;                  /* of them */
    int64_t next_uid;           /* of the next virtual tensor */
    void *plan;                 /* the execution plan (one of desc) */
    int64_t workspace;          /* bytes its execution needs */
    float scale, neg_inf;       /* the by-value scalars: the variant pack points at these */
    char engine[128];           /* cudnn-frontend's tag of the chosen configuration */
};

static const attn_cudnn_lib *L; /* the loaded library, set by attn_cudnn_sdpa_acquire */
static void *handle;            /* one per process, on the device current at first use */
static attn_cudnn_sdpa *cache[SDPA_CACHE_MAX];
static int n_cached;

/* One attribute of a descriptor; the error names the attribute (the call's text). */
#define SET(d, name, type, n, values)                                                              \
    CUDNN_CHECK(L->set_attribute((d), (name), (type), (n), (values)))

const char *attn_cudnn_graph_name(attn_cudnn_graph g)
{
    return g == ATTN_CUDNN_UNIFIED ? "unified" : "composite";
}

/* ---------------------------------------------------------------- descriptors */

static int new_desc(attn_cudnn_sdpa *s, int type, void **d)
{
    if (s->n_desc == SDPA_DESCS_MAX)
        return attn_fail("cudnn: a graph of more than %d descriptors", SDPA_DESCS_MAX);
    CUDNN_CHECK(L->create_descriptor(type, d));
    s->desc[s->n_desc++] = *d;
    return ATTN_OK;
}

static int add_op(attn_cudnn_sdpa *s, void *op)
{
    if (s->n_ops == SDPA_OPS_MAX)
        return attn_fail("cudnn: a graph of more than %d operations", SDPA_OPS_MAX);
    s->ops[s->n_ops++] = op;
    return ATTN_OK;
}

/* Dims and strides of a 4-d tensor. */
typedef struct sdpa_layout {
    int64_t dim[4], stride[4];
} sdpa_layout;

/* Row-major [n0][n1][n2][n3]: attnbench's layout of every tensor. */
static sdpa_layout dense(int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    return (sdpa_layout){{n0, n1, n2, n3}, {n1 * n2 * n3, n2 * n3, n3, 1}};
}

enum { T_VIRTUAL = 1, T_BY_VALUE = 2 };

static int tensor(attn_cudnn_sdpa *s, int64_t uid, int dtype, const sdpa_layout *l, unsigned flags,
                  void **t)
{
    const int64_t alignment = TENSOR_ALIGNMENT;
    const bool yes = true;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_TENSOR_DESCRIPTOR, t));
    SET(*t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dtype);
    SET(*t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, l->dim);
    SET(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, l->stride);
    SET(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    SET(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    if (flags & T_VIRTUAL) SET(*t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
    if (flags & T_BY_VALUE) SET(*t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes);
    CUDNN_CHECK(L->finalize(*t));
    return ATTN_OK;
}

/* An intermediate: never in memory, only a name for an edge of the graph. */
static int virt(attn_cudnn_sdpa *s, int dtype, const sdpa_layout *l, void **t)
{
    return tensor(s, s->next_uid++, dtype, l, T_VIRTUAL, t);
}

/* y = mode(x, b, t) computed in `math`; b and t may be NULL; axis: GEN_INDEX's dimension. */
static int pointwise(attn_cudnn_sdpa *s, int mode, int math, int64_t axis, void *x, void *b,
                     void *t, void *y)
{
    const float one = 1.0f;
    void *pw, *op;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
    SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math);
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
        SET(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    CUDNN_CHECK(L->finalize(pw));
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op));
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (b) SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    if (t) SET(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one);
    CUDNN_CHECK(L->finalize(op));
    return add_op(s, op);
}

/* c = a·b over the last two dims, batched (broadcast) over the first two; fp32 accumulation. */
static int matmul(attn_cudnn_sdpa *s, void *a, void *b, void *c)
{
    const int comp = CUDNN_DATA_FLOAT;
    void *mm, *op;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_MATMUL_DESCRIPTOR, &mm));
    SET(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    CUDNN_CHECK(L->finalize(mm));
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, &op));
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm);
    CUDNN_CHECK(L->finalize(op));
    return add_op(s, op);
}

/* y = reduction `how` (MAX, ADD) of x over the dims where y has extent 1; fp32. */
static int reduction(attn_cudnn_sdpa *s, int how, void *x, void *y)
{
    const int comp = CUDNN_DATA_FLOAT;
    void *rd, *op;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, &rd));
    SET(rd, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    SET(rd, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &how);
    CUDNN_CHECK(L->finalize(rd));
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, &op));
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rd);
    CUDNN_CHECK(L->finalize(op));
    return add_op(s, op);
}

/* ---------------------------------------------------------------- the two graph forms */

/* The unified form: one SDPA_FWD node (no stats output: inference). */
static int unified_graph(attn_cudnn_sdpa *s, void *q, void *k, void *v, void *o, void *scale)
{
    void *op;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR, &op));
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &q);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &k);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &o);
    SET(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &scale);
    CUDNN_CHECK(L->finalize(op));
    return add_op(s, op);
}

/* Top-left causal mask on the scores x: y = row >= col ? x : −inf (row: query, col: key). */
static int causal_mask(attn_cudnn_sdpa *s, const sdpa_layout *sq, void *x, void *neg_inf, void **y)
{
    void *row, *col, *keep;
    ATTN_TRY(virt(s, CUDNN_DATA_INT32, sq, &row));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, 2, x, NULL, NULL, row));
    ATTN_TRY(virt(s, CUDNN_DATA_INT32, sq, &col));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, 3, x, NULL, NULL, col));
    ATTN_TRY(virt(s, CUDNN_DATA_BOOLEAN, sq, &keep));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, keep));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, sq, y));
    return pointwise(s, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, x, neg_inf, keep, *y);
}

/* The composite form: S = Q·Kᵀ, ×scale, [mask], P = softmax(S) in the I/O type io, O = P·V. */
static int composite_graph(attn_cudnn_sdpa *s, int io, void *q, void *kt, void *v, void *o,
                           void *scale, void *neg_inf)
{
    const attn_point *p = &s->shape;
    const sdpa_layout sq = dense(p->batch, p->heads, p->seq, p->seq);
    const sdpa_layout row = dense(p->batch, p->heads, p->seq, 1);
    void *scores, *scaled, *masked, *max, *shifted, *e, *sum, *log_sum, *stats, *probs;
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &sq, &scores));
    ATTN_TRY(matmul(s, q, kt, scores));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &sq, &scaled));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, scores, scale, NULL, scaled));
    masked = scaled;
    if (p->causal) ATTN_TRY(causal_mask(s, &sq, scaled, neg_inf, &masked));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &row, &max));
    ATTN_TRY(reduction(s, CUDNN_REDUCE_TENSOR_MAX, masked, max));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &sq, &shifted));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, masked, max, NULL, shifted));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &sq, &e));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, shifted, NULL, NULL, e));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &row, &sum));
    ATTN_TRY(reduction(s, CUDNN_REDUCE_TENSOR_ADD, e, sum));
    /* The row statistics max + log(sum), virtual: the engines match the softmax only with them
     * (without, cuDNN 9.19 counts its five operations as a malformed dropout and refuses the
     * graph); cudnn-frontend adds them for inference too. */
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &row, &log_sum));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, -1, sum, NULL, NULL, log_sum));
    ATTN_TRY(virt(s, CUDNN_DATA_FLOAT, &row, &stats));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, -1, max, log_sum, NULL, stats));
    /* P in the I/O type: the engines take the second matmul's A operand in it. */
    ATTN_TRY(virt(s, io, &sq, &probs));
    ATTN_TRY(pointwise(s, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, -1, e, sum, NULL, probs));
    return matmul(s, probs, v, o);
}

/* The bound tensors, the form's operations, the operation graph. */
static int build_graph(attn_cudnn_sdpa *s, void **graph)
{
    const attn_point *p = &s->shape;
    const int io = p->dtype == ATTN_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    const sdpa_layout ql = dense(p->batch, p->heads, p->seq, p->head_dim);
    const sdpa_layout kvl = dense(p->batch, p->kv_heads, p->seq, p->head_dim);
    const sdpa_layout one = dense(1, 1, 1, 1);
    sdpa_layout kl = kvl;
    if (s->graph == ATTN_CUDNN_COMPOSITE) { /* Kᵀ: the same memory read as [B][H_kv][D][S] */
        kl.dim[2] = kvl.dim[3], kl.dim[3] = kvl.dim[2];
        kl.stride[2] = kvl.stride[3], kl.stride[3] = kvl.stride[2];
    }
    void *q, *k, *v, *o, *scale, *neg_inf = NULL;
    ATTN_TRY(tensor(s, UID_Q, io, &ql, 0, &q));
    ATTN_TRY(tensor(s, UID_K, io, &kl, 0, &k));
    ATTN_TRY(tensor(s, UID_V, io, &kvl, 0, &v));
    ATTN_TRY(tensor(s, UID_O, io, &ql, 0, &o));
    ATTN_TRY(tensor(s, UID_SCALE, CUDNN_DATA_FLOAT, &one, T_BY_VALUE, &scale));
    if (s->graph == ATTN_CUDNN_UNIFIED) {
        ATTN_TRY(unified_graph(s, q, k, v, o, scale));
    } else {
        if (p->causal)
            ATTN_TRY(tensor(s, UID_NEG_INF, CUDNN_DATA_FLOAT, &one, T_BY_VALUE, &neg_inf));
        ATTN_TRY(composite_graph(s, io, q, k, v, o, scale, neg_inf));
    }
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, graph));
    SET(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, s->n_ops, s->ops);
    SET(*graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    CUDNN_CHECK(L->finalize(*graph));
    return ATTN_OK;
}

/* ---------------------------------------------------------------- the plan */

/* cudnn-frontend's tag of a configuration, "eng<global index>_k<knob type>=<value>...". */
static int engine_tag(void *cfg, char *tag, size_t n)
{
    void *engine = NULL, *knobs[CUDNN_KNOB_TYPE_COUNTS] = {0};
    int64_t count = 0, index = -1;
    int rc = ATTN_OK;
    CUDNN_CHECK(L->create_descriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
    CUDNN_CHECK_GOTO(L->get_attribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine),
                     rc, end);
    CUDNN_CHECK_GOTO(L->get_attribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                      &count, &index),
                     rc, end);
    size_t len = (size_t)snprintf(tag, n, "eng%lld", (long long)index);
    for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; i++)
        CUDNN_CHECK_GOTO(L->create_descriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &knobs[i]), rc,
                         end);
    CUDNN_CHECK_GOTO(L->get_attribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, CUDNN_KNOB_TYPE_COUNTS, &count,
                                      knobs),
                     rc, end);
    for (int64_t i = 0; i < count && i < CUDNN_KNOB_TYPE_COUNTS && len < n; i++) {
        int type = -1;
        int64_t value = 0, got;
        CUDNN_CHECK_GOTO(L->get_attribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                          CUDNN_TYPE_KNOB_TYPE, 1, &got, &type),
                         rc, end);
        CUDNN_CHECK_GOTO(L->get_attribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                          CUDNN_TYPE_INT64, 1, &got, &value),
                         rc, end);
        len += (size_t)snprintf(tag + len, n - len, "_k%d=%lld", type, (long long)value);
    }
end:
    for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; i++)
        if (knobs[i]) L->destroy_descriptor(knobs[i]);
    L->destroy_descriptor(engine);
    return rc;
}

/* The execution plan of configuration cfg, if it finalizes: then it and cfg join s's
 * descriptors, and s->plan, workspace and engine are set. */
static int try_config(attn_cudnn_sdpa *s, void *cfg)
{
    if (s->n_desc + 2 > SDPA_DESCS_MAX)
        return attn_fail("cudnn: a graph of more than %d descriptors", SDPA_DESCS_MAX);
    void *plan;
    int64_t count;
    int rc = ATTN_OK;
    CUDNN_CHECK(L->create_descriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
    CUDNN_CHECK_GOTO(
        L->set_attribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle), rc,
        fail);
    CUDNN_CHECK_GOTO(L->set_attribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg),
                     rc, fail);
    CUDNN_CHECK_GOTO(L->finalize(plan), rc, fail);
    CUDNN_CHECK_GOTO(L->get_attribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                      CUDNN_TYPE_INT64, 1, &count, &s->workspace),
                     rc, fail);
    s->desc[s->n_desc++] = cfg;
    s->desc[s->n_desc++] = plan;
    s->plan = plan;
    /* The tag only describes the plan: a failure to read it is kept in the tag, not fatal. */
    if (engine_tag(cfg, s->engine, sizeof s->engine) != ATTN_OK)
        snprintf(s->engine, sizeof s->engine, "eng? (%.100s)", attn_last_error.msg);
    return ATTN_OK;
fail:
    L->destroy_descriptor(plan);
    return rc;
}

/* Heuristics mode A on the graph, then the first configuration whose plan finalizes (each
 * failure is cuDNN refusing that configuration; the last one's message is kept for the skip). */
static int first_plan(attn_cudnn_sdpa *s, void *graph)
{
    const int mode = CUDNN_HEUR_MODE_A;
    const char *form = attn_cudnn_graph_name(s->graph);
    void *heur;
    int64_t n = 0;
    ATTN_TRY(new_desc(s, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    CUDNN_CHECK(L->finalize(heur));
    CUDNN_CHECK(L->get_attribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 0, &n, NULL));
    if (n <= 0)
        return attn_skip("cuDNN %s: heuristics offer no engine for the %s graph", L->version_text,
                         form);
    void **cfg = calloc((size_t)n, sizeof *cfg);
    if (!cfg) return attn_fail("cudnn: out of host memory");
    int64_t made = 0, got = 0;
    int rc = ATTN_OK;
    for (; made < n; made++)
        CUDNN_CHECK_GOTO(L->create_descriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[made]), rc,
                         end);
    CUDNN_CHECK_GOTO(L->get_attribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, n, &got, cfg),
                     rc, end);
    char last[sizeof attn_last_error.msg] = "";
    for (int64_t i = 0; i < got && i < n && !s->plan; i++) {
        if (try_config(s, cfg[i]) == ATTN_OK) cfg[i] = NULL; /* s owns it now */
        else
            snprintf(last, sizeof last, "%s", attn_last_error.msg);
    }
    if (!s->plan)
        rc = attn_skip("cuDNN %s: none of the %lld engine configurations for the %s graph "
                       "finalizes (last: %.400s)",
                       L->version_text, (long long)got, form, last);
end:
    for (int64_t i = 0; i < made; i++)
        if (cfg[i]) L->destroy_descriptor(cfg[i]);
    free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- the cache */

static void sdpa_destroy(attn_cudnn_sdpa *s)
{
    for (int i = s->n_desc - 1; i >= 0; i--) L->destroy_descriptor(s->desc[i]);
    free(s);
}

static int same_key(const attn_cudnn_sdpa *s, const attn_point *p, attn_cudnn_graph g)
{
    const attn_point *k = &s->shape;
    return s->graph == g && k->batch == p->batch && k->heads == p->heads &&
           k->kv_heads == p->kv_heads && k->seq == p->seq && k->head_dim == p->head_dim &&
           k->dtype == p->dtype && k->causal == p->causal;
}

/* Keeps s, making room by dropping the oldest plan nobody holds. */
static int cache_add(attn_cudnn_sdpa *s)
{
    if (n_cached == SDPA_CACHE_MAX) {
        int i = 0;
        while (i < n_cached && cache[i]->users) i++;
        if (i == n_cached) return attn_fail("cudnn: all %d cached plans are in use", n_cached);
        sdpa_destroy(cache[i]);
        memmove(cache + i, cache + i + 1, (size_t)(n_cached - i - 1) * sizeof *cache);
        n_cached--;
    }
    cache[n_cached++] = s;
    return ATTN_OK;
}

/* A new plan for p in form g. cuDNN refusing the graph (a NOT_SUPPORTED status) is a skip. */
static int sdpa_build(const attn_point *p, attn_cudnn_graph g, attn_cudnn_sdpa **out)
{
    attn_cudnn_sdpa *s = calloc(1, sizeof *s);
    if (!s) return attn_fail("cudnn: out of host memory");
    s->shape = *p;
    s->shape.params[0] = 0;
    s->graph = g;
    s->next_uid = UID_VIRTUAL;
    s->scale = (float)attn_scale(p);
    /* cuDNN before 9.10 wants the lowest float for a masked score, later ones −inf (as
     * cudnn-frontend chooses). */
    s->neg_inf = L->version < 91000 ? -FLT_MAX : -INFINITY;
    void *graph;
    int rc = build_graph(s, &graph);
    if (rc == ATTN_OK) rc = first_plan(s, graph);
    if (rc == ATTN_ERR && attn_last_error.api == ATTN_API_CUDNN &&
        attn_last_error.code / 1000 * 1000 == CUDNN_STATUS_NOT_SUPPORTED)
        rc = ATTN_SKIP;
    if (rc == ATTN_OK) rc = cache_add(s);
    if (rc != ATTN_OK) {
        sdpa_destroy(s);
        return rc;
    }
    *out = s;
    return ATTN_OK;
}

int attn_cudnn_sdpa_acquire(const attn_point *p, attn_cudnn_graph g, attn_cudnn_sdpa **sdpa)
{
    ATTN_TRY(attn_cudnn_lib_get(&L));
    if (g == ATTN_CUDNN_UNIFIED && L->version < ATTN_CUDNN_UNIFIED_MIN_VERSION)
        return attn_skip("cuDNN %s has no unified SDPA operation (cuDNN 9.13.1 added it)",
                         L->version_text);
    attn_cudnn_sdpa *s = NULL;
    for (int i = 0; i < n_cached && !s; i++)
        if (same_key(cache[i], p, g)) s = cache[i];
    if (!s) {
        if (!handle) CUDNN_CHECK(L->create(&handle));
        ATTN_TRY(sdpa_build(p, g, &s));
    }
    s->users++;
    *sdpa = s;
    return ATTN_OK;
}

void attn_cudnn_sdpa_release(attn_cudnn_sdpa *sdpa)
{
    if (sdpa) sdpa->users--;
}

size_t attn_cudnn_sdpa_workspace(const attn_cudnn_sdpa *sdpa) { return (size_t)sdpa->workspace; }

const char *attn_cudnn_sdpa_engine(const attn_cudnn_sdpa *sdpa) { return sdpa->engine; }

/* ---------------------------------------------------------------- execution */

int attn_cudnn_sdpa_run(const attn_cudnn_sdpa *sdpa, const attn_device_io *io, void *workspace,
                        cudaStream_t stream)
{
    const int64_t uids[] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_NEG_INF};
    void *data[] = {(void *)io->q, (void *)io->k,        (void *)io->v,
                    io->o,         (void *)&sdpa->scale, (void *)&sdpa->neg_inf};
    /* −inf is bound only where the graph has it: the composite form's causal mask. */
    const int64_t n = sdpa->graph == ATTN_CUDNN_COMPOSITE && sdpa->shape.causal ? 6 : 5;
    void *pack;
    int rc = ATTN_OK;
    CUDNN_CHECK(L->set_stream(handle, stream));
    CUDNN_CHECK(L->create_descriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
    CUDNN_CHECK_GOTO(L->set_attribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR,
                                      1, &workspace),
                     rc, end);
    CUDNN_CHECK_GOTO(
        L->set_attribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, data),
        rc, end);
    CUDNN_CHECK_GOTO(
        L->set_attribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids), rc,
        end);
    CUDNN_CHECK_GOTO(L->finalize(pack), rc, end);
    CUDNN_CHECK_GOTO(L->execute(handle, sdpa->plan, pack), rc, end);
end:
    L->destroy_descriptor(pack);
    return rc;
}
