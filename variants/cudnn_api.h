/* cudnn_api.h — cuDNN's fused scaled-dot-product attention (forward) for one attnbench point,
 * driven through the backend (graph) API of the library core/cudnn_lib.h loads: the operation
 * graph, engine heuristics, the execution plan, the variant pack. Used by variants/cudnn.c.
 *
 * Two forms of the same graph (what cudnn-frontend builds for PyTorch's cuDNN SDPA backend):
 *   unified    one CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR node (cuDNN ≥ 9.13.1): Q, K, V, O,
 *              the scale. It has no attribute for a causal mask before cuDNN 9.21 (which takes
 *              masks as a score-modifier subgraph), so it serves non-causal points only.
 *   composite  the flash-attention pattern the engines match: matmul Q·Kᵀ (K described as Kᵀ by
 *              swapping its last two dims and strides), pointwise ×scale, for causal the mask
 *              (GEN_INDEX row and column, CMP_GE, BINARY_SELECT with −inf), softmax as reduction
 *              MAX, SUB, EXP, reduction ADD, then LOG and ADD into the row statistics (which the
 *              pattern needs even when nobody reads them), DIV into P in the I/O type, matmul P·V.
 *              All but Q, K, V, O and the two scalars are virtual: nothing is materialised.
 * Tensors are attnbench's [B][H][S][D] with explicit strides (K and V with H_kv heads:
 * grouped-query attention by broadcast over the head dim); fp32 compute; the scale 1/√D and −inf
 * passed by value.
 *
 * Plans: engine heuristics mode A, and the first engine configuration whose execution plan
 * finalizes (as cudnn-frontend's default policy does). A plan is built once per shape and form and
 * kept in a process-wide cache; one cuDNN handle per process (made on the current device).
 *
 * The backend API's enum values used are declared below under cuDNN's own names (cudnn_graph.h
 * is not needed to build); tests/test_cudnn.c compares them with cudnn_graph.h where it exists. */
#ifndef ATTN_CUDNN_API_H
#define ATTN_CUDNN_API_H

#include <stddef.h>

#include "variant.h"

/* The values of cuDNN 9's cudnn_graph.h (they are ABI: fixed within a major version). */
#define CUDNN_API_ENUMS(X)                                                                         \
    /* cudnnStatus_t */                                                                            \
    X(CUDNN_STATUS_SUCCESS, 0)                                                                     \
    X(CUDNN_STATUS_NOT_SUPPORTED, 3000)                                                            \
    /* cudnnDataType_t */                                                                          \
    X(CUDNN_DATA_FLOAT, 0)                                                                         \
    X(CUDNN_DATA_HALF, 2)                                                                          \
    X(CUDNN_DATA_INT32, 4)                                                                         \
    X(CUDNN_DATA_BFLOAT16, 9)                                                                      \
    X(CUDNN_DATA_BOOLEAN, 11)                                                                      \
    /* cudnnPointwiseMode_t */                                                                     \
    X(CUDNN_POINTWISE_ADD, 0)                                                                      \
    X(CUDNN_POINTWISE_MUL, 1)                                                                      \
    X(CUDNN_POINTWISE_DIV, 6)                                                                      \
    X(CUDNN_POINTWISE_SUB, 9)                                                                      \
    X(CUDNN_POINTWISE_EXP, 13)                                                                     \
    X(CUDNN_POINTWISE_LOG, 15)                                                                     \
    X(CUDNN_POINTWISE_CMP_GE, 303)                                                                 \
    X(CUDNN_POINTWISE_GEN_INDEX, 501)                                                              \
    X(CUDNN_POINTWISE_BINARY_SELECT, 601)                                                          \
    /* cudnnReduceTensorOp_t */                                                                    \
    X(CUDNN_REDUCE_TENSOR_ADD, 0)                                                                  \
    X(CUDNN_REDUCE_TENSOR_MAX, 3)                                                                  \
    /* cudnnBackendHeurMode_t */                                                                   \
    X(CUDNN_HEUR_MODE_A, 3)                                                                        \
    /* cudnnBackendKnobType_t: the number of knob types (an upper bound on a config's knobs) */    \
    X(CUDNN_KNOB_TYPE_COUNTS, 44)                                                                  \
    /* cudnnBackendAttributeType_t */                                                              \
    X(CUDNN_TYPE_HANDLE, 0)                                                                        \
    X(CUDNN_TYPE_DATA_TYPE, 1)                                                                     \
    X(CUDNN_TYPE_BOOLEAN, 2)                                                                       \
    X(CUDNN_TYPE_INT64, 3)                                                                         \
    X(CUDNN_TYPE_FLOAT, 4)                                                                         \
    X(CUDNN_TYPE_VOID_PTR, 6)                                                                      \
    X(CUDNN_TYPE_HEUR_MODE, 8)                                                                     \
    X(CUDNN_TYPE_KNOB_TYPE, 9)                                                                     \
    X(CUDNN_TYPE_POINTWISE_MODE, 14)                                                               \
    X(CUDNN_TYPE_BACKEND_DESCRIPTOR, 15)                                                           \
    X(CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 18)                                                      \
    /* cudnnBackendDescriptorType_t */                                                             \
    X(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, 0)                                                       \
    X(CUDNN_BACKEND_ENGINE_DESCRIPTOR, 2)                                                          \
    X(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, 3)                                                       \
    X(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, 4)                                                      \
    X(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, 5)                                                  \
    X(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, 7)                                                     \
    X(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, 13)                                            \
    X(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, 15)                                                 \
    X(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, 16)                                                   \
    X(CUDNN_BACKEND_TENSOR_DESCRIPTOR, 17)                                                         \
    X(CUDNN_BACKEND_MATMUL_DESCRIPTOR, 18)                                                         \
    X(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, 19)                                               \
    X(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, 21)                                                      \
    X(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, 22)                                            \
    X(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR, 41)                                             \
    /* cudnnBackendAttributeName_t */                                                              \
    X(CUDNN_ATTR_POINTWISE_MODE, 0)                                                                \
    X(CUDNN_ATTR_POINTWISE_MATH_PREC, 1)                                                           \
    X(CUDNN_ATTR_POINTWISE_AXIS, 9)                                                                \
    X(CUDNN_ATTR_ENGINEHEUR_MODE, 200)                                                             \
    X(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, 201)                                                  \
    X(CUDNN_ATTR_ENGINEHEUR_RESULTS, 202)                                                          \
    X(CUDNN_ATTR_ENGINECFG_ENGINE, 300)                                                            \
    X(CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, 302)                                                      \
    X(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, 400)                                                       \
    X(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, 401)                                                \
    X(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, 402)                                               \
    X(CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, 600)                                                       \
    X(CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, 601)                                                      \
    X(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, 750)                                           \
    X(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, 751)                                                   \
    X(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, 752)                                                   \
    X(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, 753)                                                   \
    X(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, 754)                                                  \
    X(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, 755)                                                  \
    X(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, 758)                                                   \
    X(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, 800)                                                       \
    X(CUDNN_ATTR_OPERATIONGRAPH_OPS, 801)                                                          \
    X(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 900)                                                       \
    X(CUDNN_ATTR_TENSOR_DATA_TYPE, 901)                                                            \
    X(CUDNN_ATTR_TENSOR_DIMENSIONS, 902)                                                           \
    X(CUDNN_ATTR_TENSOR_STRIDES, 903)                                                              \
    X(CUDNN_ATTR_TENSOR_UNIQUE_ID, 906)                                                            \
    X(CUDNN_ATTR_TENSOR_IS_VIRTUAL, 907)                                                           \
    X(CUDNN_ATTR_TENSOR_IS_BY_VALUE, 908)                                                          \
    X(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, 1000)                                                    \
    X(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, 1001)                                                 \
    X(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, 1003)                                                     \
    X(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, 1301)                                                        \
    X(CUDNN_ATTR_MATMUL_COMP_TYPE, 1500)                                                           \
    X(CUDNN_ATTR_OPERATION_MATMUL_ADESC, 1520)                                                     \
    X(CUDNN_ATTR_OPERATION_MATMUL_BDESC, 1521)                                                     \
    X(CUDNN_ATTR_OPERATION_MATMUL_CDESC, 1522)                                                     \
    X(CUDNN_ATTR_OPERATION_MATMUL_DESC, 1523)                                                      \
    X(CUDNN_ATTR_REDUCTION_OPERATOR, 1600)                                                         \
    X(CUDNN_ATTR_REDUCTION_COMP_TYPE, 1601)                                                        \
    X(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, 1610)                                                  \
    X(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, 1611)                                                  \
    X(CUDNN_ATTR_OPERATION_REDUCTION_DESC, 1612)                                                   \
    X(CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, 2800)                                                   \
    X(CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, 2801)                                                   \
    X(CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, 2802)                                                   \
    X(CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, 2803)                                                   \
    X(CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, 2805)

/* tests/test_cudnn.c defines CUDNN_API_LIST_ONLY after including cudnn_graph.h, to compare. */
#ifndef CUDNN_API_LIST_ONLY
#define CUDNN_API_ENUM_(name, value) name = value,
enum { CUDNN_API_ENUMS(CUDNN_API_ENUM_) };
#undef CUDNN_API_ENUM_
#endif

/* The first cuDNN with the unified SDPA forward operation (cudnn-frontend requires 9.13.1). */
#define ATTN_CUDNN_UNIFIED_MIN_VERSION 91301

typedef enum attn_cudnn_graph { ATTN_CUDNN_UNIFIED, ATTN_CUDNN_COMPOSITE } attn_cudnn_graph;

/* "unified", "composite". */
const char *attn_cudnn_graph_name(attn_cudnn_graph g);

/* A finalized execution plan for one shape (params ignored) in one graph form, shared through the
 * cache. */
typedef struct attn_cudnn_sdpa attn_cudnn_sdpa;

/* The plan for point p in form g: from the cache, or built (loads cuDNN, makes the handle on the
 * current device on first use). ATTN_OK with *sdpa set (hold it until attn_cudnn_sdpa_release);
 * ATTN_SKIP when cuDNN is not found or offers no plan for the point (attn_last_error says why, with
 * cuDNN's own message); ATTN_ERR on any other failure. */
int attn_cudnn_sdpa_acquire(const attn_point *p, attn_cudnn_graph g, attn_cudnn_sdpa **sdpa);
/* Lets go of a plan (it stays in the cache). NULL is allowed. */
void attn_cudnn_sdpa_release(attn_cudnn_sdpa *sdpa);

/* Device workspace the plan's execution needs, in bytes. */
size_t attn_cudnn_sdpa_workspace(const attn_cudnn_sdpa *sdpa);
/* The chosen engine as cudnn-frontend tags a plan: "eng<global index>_k<knob>=<value>..." (or
 * "eng?" with why, when cuDNN could not describe it). */
const char *attn_cudnn_sdpa_engine(const attn_cudnn_sdpa *sdpa);

/* One forward pass: O from Q, K, V, enqueued on stream (a variant pack made and destroyed per
 * call, as cudnn-frontend's execute does). workspace: attn_cudnn_sdpa_workspace() bytes, or NULL
 * when that is 0. */
int attn_cudnn_sdpa_run(const attn_cudnn_sdpa *sdpa, const attn_device_io *io, void *workspace,
                        cudaStream_t stream);

#endif
