/* problem.h — one benchmark point: the attention problem's shape, its dtype, the variant's own
 * parameters, and what follows from them (tensor sizes, dense-equivalent FLOPs, host-side dtype
 * conversion and the seeded input generator shared with the GPU).
 *
 * Layout of every tensor, host or device, is row-major [batch][heads][seq][head_dim]: Q and O have
 * `heads` heads, K and V have `kv_heads`. Query head h reads KV head h / (heads / kv_heads), so the
 * query heads of one KV group are adjacent in memory (a group is one (group·S) × D matrix). */
#ifndef ATTN_PROBLEM_H
#define ATTN_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attn_dtype { ATTN_FP16 = 0, ATTN_BF16 = 1, ATTN_FP32 = 2 } attn_dtype;

#define ATTN_PARAMS_MAX 256

typedef struct attn_point {
    int batch;       /* B >= 1 */
    int heads;       /* H >= 1, query heads */
    int kv_heads;    /* H_kv >= 1, divides H (H_kv < H: grouped- or multi-query attention) */
    int seq;         /* S >= 1, any value (no multiple of a tile required) */
    int head_dim;    /* D >= 1; variants say which values they support */
    attn_dtype dtype;
    int causal;      /* 0 or 1: query i attends to keys 0..i */
    char params[ATTN_PARAMS_MAX]; /* variant parameters as "key=value,key=value" ("" for none) */
} attn_point;

/* One query row: batch b, query head h, position s. */
typedef struct attn_row {
    int b, h, s;
} attn_row;

/* Host inputs, full tensors widened to float (each value exactly representable in the dtype). */
typedef struct attn_host_inputs {
    const float *q, *k, *v;
} attn_host_inputs;

/* How a point's output is judged (harness/check/check.h applies it; a variant may set it, see
 * variants/variant.h). */
typedef struct attn_check_policy {
    double tolerance;  /* against the check target; the dtype's (check.h) unless the variant says */
    /* Bounds against exact attention (the fp64 reference); NaN: none. Outside them: failed. */
    double max_rel_l1, max_rel_l2, max_rmse, max_abs, min_cosine;
} attn_check_policy;

const char *attn_dtype_name(attn_dtype t);
int attn_dtype_parse(const char *s, attn_dtype *out);          /* 0 on success */
size_t attn_dtype_size(attn_dtype t);

/* Element counts of Q (= O) and of K (= V). */
size_t attn_q_elems(const attn_point *p);
size_t attn_kv_elems(const attn_point *p);

/* Dense-equivalent forward FLOPs, as the field counts them: 4·B·H·S²·D, halved when causal. */
double attn_dense_flops(const attn_point *p);

/* The softmax scale 1/sqrt(D). */
double attn_scale(const attn_point *p);

/* "bf16 B=2 H=16/16 S=8192 D=128 causal" into buf; returns buf. */
char *attn_point_format(const attn_point *p, char *buf, size_t n);

/* Validates a point; NULL if valid, else a static message naming the bad value. */
const char *attn_point_invalid(const attn_point *p);

/* Looks up `key` in p->params ("k=64,method=linformer"); copies its value into out, returns 1 if
 * found, 0 if absent. */
int attn_param(const attn_point *p, const char *key, char *out, size_t n);

/* IEEE half and bfloat16 conversions (round to nearest even), the host side of the dtypes. */
float attn_half_to_float(uint16_t h);
uint16_t attn_float_to_half(float f);
float attn_bf16_to_float(uint16_t b);
uint16_t attn_float_to_bf16(float f);
/* Element i of a tensor stored in dtype t, as float; and the store of a float rounded to t. */
float attn_load(attn_dtype t, const void *base, size_t i);
void attn_store(attn_dtype t, void *base, size_t i, float x);
/* x rounded to the nearest value representable in t. */
float attn_round(attn_dtype t, float x);

/* Input distributions. NORMAL: standard normal. OUTLIERS: standard normal, with one element in
 * 64 of K scaled by 10 and 1 in 64 of Q channels (fixed per head dim index) scaled by 4 — the
 * peaked, outlier-heavy attention that real models show. FA3: FlashAttention-3's FP8 outlier test —
 * standard normal, with one element in 1000 of Q, K and V scaled by 10 (drawn from N(0, 100)).
 * STRUCTURED: attention concentrated as in trained models — local decay, clustered keys and a few
 * heavy "sink" keys (attn_rng_structured in core/rng.h has the recipe); V standard normal. */
typedef enum attn_init {
    ATTN_INIT_NORMAL = 0,
    ATTN_INIT_OUTLIERS = 1,
    ATTN_INIT_FA3 = 2,
    ATTN_INIT_STRUCTURED = 3,
} attn_init;
const char *attn_init_name(attn_init i);
int attn_init_parse(const char *s, attn_init *out);

/* Tensor ids for the generator: the same (seed, tensor, index) gives the same value everywhere. */
enum { ATTN_TENSOR_Q = 0, ATTN_TENSOR_K = 1, ATTN_TENSOR_V = 2 };

/* Fills a host tensor of n elements (dtype t) with the seeded inputs. head_dim is needed for the
 * outlier and structured patterns, seq (positions per head) for the structured one. The GPU
 * generator (kernels/inputs.cu) produces the same values. */
void attn_fill_host(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor, attn_init init,
                    int head_dim, int seq);

#ifdef __cplusplus
}
#endif
#endif
