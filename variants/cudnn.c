/* cudnn.c — variant `cudnn`: the vendor baseline, cuDNN's fused scaled-dot-product attention
 * (its flash-attention forward engines) driven from C through cuDNN's backend API
 * (variants/cudnn_api.h: the two graph forms, heuristics, the plan cache). No kernels of its own.
 * cuDNN is loaded at run time (core/cudnn_lib.h): without it every point is skipped with
 * "cuDNN not found: ...", and everything else runs.
 *
 * Limits: fp16 and bf16 (fp32 is skipped: cuDNN's SDPA engines take fp32 I/O on sm_8x only);
 * head_dim a multiple of 8, at most 256 (cuDNN 9's SDPA forward on sm_90; an engine may still
 * refuse a shape: the point is then skipped with cuDNN's message); scale 1/√D; grouped-query
 * heads (H_kv < H); causal with the top-left diagonal (query i attends to keys 0..i).
 * Materialises nothing (S and P are virtual tensors of the graph).
 *
 * Parameters: graph=unified|composite forces a graph form. By default the form PyTorch's cuDNN
 * backend gets from cudnn-frontend: the unified SDPA operation for non-causal points where the
 * loaded cuDNN has it (9.13.1 and later), the composite graph for causal points (the unified
 * operation takes masks only from cuDNN 9.21), and the composite graph too when cuDNN offers no
 * unified plan for a point. graph=unified with causal is skipped.
 *
 * The plan (prepare): the form and, on the GPU backend, the cached cuDNN plan — the engine that
 * heuristics mode A ranked first among those whose plan finalizes, stored with the point
 * (describe: "graph=unified engine=eng<index>_k<knob>=<value>... ws=<bytes>"). Its workspace:
 * the size is known only once the plan is finalized on the device, which the shape-only
 * workspace_bytes() cannot do, so prepare allocates exactly that (cudaMalloc through CUDA_CHECK:
 * out of memory skips the point, as the harness's own allocation would) and release frees it;
 * points.device_bytes leaves it out, describe() gives it. On the CPU backend the plan is the form
 * the H200 would take (unified for non-causal, as with cuDNN 9.19), with no library call.
 *
 * CPU implementation: the blockwise flash algorithm of cpu_attention.h with key tiles of 128 —
 * cuDNN's engines are flash-attention kernels (online softmax in fp32 over key tiles, P in the I/O
 * type before P·V, as the composite graph states), not the materialised algorithm. The engines'
 * tile width is not exposed; it moves only where P is rounded. Measured results and the FP8
 * findings: kernels/NOTES-cudnn.md. */
#include <stdio.h>
#include <stdlib.h>

#include "core/cudnn_lib.h"
#include "cpu_attention.h"
#include "cudnn_api.h"
#include "variant.h"

#define CUDNN_CPU_KEY_TILE 128
enum { CUDNN_GRAPH_DEFAULT = -1 };

/* Order of the choices: attn_cudnn_graph's. */
static const attn_param_spec cudnn_params[] = {
    {"graph", ATTN_PARAM_ENUM, NULL, "unified|composite", 0, 0,
     "cuDNN graph: one SDPA node or the matmul/softmax pattern (default: unified where it runs)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};
enum { P_GRAPH };

typedef struct cudnn_config {
    int graph; /* attn_cudnn_graph from graph=, or CUDNN_GRAPH_DEFAULT */
} cudnn_config;

typedef struct cudnn_plan {
    attn_plan head;
    attn_cudnn_graph graph; /* the form run */
    int fell_back;          /* 1: the default unified form had no plan; composite is run */
    attn_cudnn_sdpa *sdpa;  /* GPU backend: the cached cuDNN plan; NULL on the CPU backend */
    void *workspace;        /* GPU backend: its workspace (NULL when it needs none) */
} cudnn_plan;

static const char *cudnn_configure(const attn_point *p, const attn_param_values *pv, void *config)
{
    cudnn_config *c = config;
    if (p->dtype == ATTN_FP32)
        return "fp32 not supported: cuDNN's SDPA engines take fp32 I/O on sm_8x only (fp16, bf16)";
    if (p->head_dim % 8 != 0 || p->head_dim > 256)
        return "head_dim must be a multiple of 8, at most 256 (cuDNN 9's SDPA forward on sm_90)";
    c->graph = pv->v[P_GRAPH].set ? (int)pv->v[P_GRAPH].i : CUDNN_GRAPH_DEFAULT;
    if (c->graph == ATTN_CUDNN_UNIFIED && p->causal)
        return "graph=unified has no causal mask before cuDNN 9.21 (a score-modifier subgraph, not "
               "built here): causal points take graph=composite";
    return NULL;
}

static void cudnn_release(attn_plan *plan)
{
    cudnn_plan *pl = (cudnn_plan *)plan;
    if (!pl) return;
    attn_cudnn_sdpa_release(pl->sdpa);
    if (pl->workspace) cudaFree(pl->workspace);
    free(pl);
}

/* GPU backend: the cuDNN plan of the form; by default a non-causal point falls back to the
 * composite graph when the loaded cuDNN has no unified operation or no unified plan for it. */
static int cudnn_acquire(cudnn_plan *pl, int forced)
{
    const attn_point *p = &pl->head.point;
    const attn_cudnn_lib *lib;
    ATTN_TRY(attn_cudnn_lib_get(&lib)); /* not found: skipped, whatever the form */
    if (!forced && pl->graph == ATTN_CUDNN_UNIFIED && lib->version < ATTN_CUDNN_UNIFIED_MIN_VERSION)
        pl->graph = ATTN_CUDNN_COMPOSITE, pl->fell_back = 1;
    int rc = attn_cudnn_sdpa_acquire(p, pl->graph, &pl->sdpa);
    if (rc != ATTN_SKIP || forced || pl->graph != ATTN_CUDNN_UNIFIED) return rc;
    char unified[sizeof attn_last_error.msg];
    snprintf(unified, sizeof unified, "%s", attn_last_error.msg);
    pl->graph = ATTN_CUDNN_COMPOSITE, pl->fell_back = 1;
    rc = attn_cudnn_sdpa_acquire(p, pl->graph, &pl->sdpa);
    if (rc == ATTN_SKIP)
        return attn_skip("unified: %.300s; composite: %.300s", unified, attn_last_error.msg);
    return rc;
}

static int cudnn_prepare(const attn_prepare_args *args, attn_plan **plan)
{
    cudnn_plan *pl = attn_plan_new(sizeof *pl, args);
    if (!pl) return ATTN_ERR;
    const int forced = ((const cudnn_config *)args->config)->graph;
    pl->graph = forced != CUDNN_GRAPH_DEFAULT ? (attn_cudnn_graph)forced
                : args->point->causal         ? ATTN_CUDNN_COMPOSITE
                                              : ATTN_CUDNN_UNIFIED;
    int rc = ATTN_OK;
    if (args->dev) {
        ATTN_TRY_GOTO(cudnn_acquire(pl, forced != CUDNN_GRAPH_DEFAULT), rc, fail);
        const size_t ws = attn_cudnn_sdpa_workspace(pl->sdpa);
        if (ws) CUDA_CHECK_GOTO(cudaMalloc(&pl->workspace, ws), rc, fail);
    }
    *plan = &pl->head;
    return ATTN_OK;
fail:
    cudnn_release(&pl->head);
    return rc;
}

static int cudnn_run(attn_plan *plan, const attn_device_io *io, cudaStream_t stream)
{
    const cudnn_plan *pl = (const cudnn_plan *)plan;
    return attn_cudnn_sdpa_run(pl->sdpa, io, pl->workspace, stream);
}

static void cudnn_describe(const attn_plan *plan, char *buf, size_t n)
{
    const cudnn_plan *pl = (const cudnn_plan *)plan;
    const char *form = attn_cudnn_graph_name(pl->graph);
    const char *why = pl->fell_back ? " (no unified plan here)" : "";
    if (!pl->sdpa) {
        snprintf(buf, n, "graph=%s", form);
        return;
    }
    snprintf(buf, n, "graph=%s%s engine=%s ws=%zu", form, why, attn_cudnn_sdpa_engine(pl->sdpa),
             attn_cudnn_sdpa_workspace(pl->sdpa));
}

static int cudnn_cpu_rows(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                          size_t n_rows, float *out)
{
    return attn_cpu_blockwise_rows(&plan->point, in, rows, n_rows, CUDNN_CPU_KEY_TILE, out);
}

/* As fused's: the attended (query, key) pairs, 4·D FLOPs each (the engines skip the tiles above
 * the causal diagonal); Q, K, V read and O written once. cuDNN decides the launches. */
static void cudnn_work(const attn_plan *plan, attn_work *w)
{
    const attn_point *p = &plan->point;
    const double pairs = p->causal ? (double)p->seq * (p->seq + 1) / 2 : (double)p->seq * p->seq;
    w->flops = 4.0 * p->batch * p->heads * pairs * p->head_dim;
    w->bytes = (double)attn_dtype_size(p->dtype) * (2.0 * attn_q_elems(p) + 2.0 * attn_kv_elems(p));
    w->launches = -1;
}

const attn_variant attn_variant_cudnn = {
    .name = "cudnn",
    .description = "cuDNN's fused SDPA (flash-attention engines) through its backend API",
    .exact = 1,
    .params = cudnn_params,
    .config_size = sizeof(cudnn_config),
    .configure = cudnn_configure,
    .prepare = cudnn_prepare,
    .run = cudnn_run,
    .release = cudnn_release,
    .describe = cudnn_describe,
    .cpu_rows = cudnn_cpu_rows,
    .work = cudnn_work,
};
