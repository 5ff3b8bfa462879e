/* variant.h — the one interface every attention variant implements (version 2).
 *
 * A variant is a GPU implementation plus a CPU implementation of the same algorithm. The harness
 * owns everything else: inputs, output, workspace allocation, checking, timing, storage. Variants
 * know nothing of storage or plots; the harness names no variant.
 *
 * The life of one point, the same on both backends:
 *   1. Parameters. The variant declares them (attn_param_spec: key, kind, default, help). The CLI
 *      validates every --param value against the declaration before anything runs, and parses a
 *      point's "key=value,..." text once into typed values (attn_params_parse).
 *   2. configure(point, values, config): shape-only. Fills the variant's own config struct
 *      (config_size bytes, zeroed by the harness) and says whether the point can run here: NULL, or
 *      a static reason to skip it. Opens no file, touches no device.
 *   3. prepare(args, &plan): everything outside the timed region. On the GPU backend args->dev holds
 *      the device inputs, the workspace and the stream; on the CPU backend args->dev is NULL and the
 *      plan is made on the host alone (no CUDA call). args->host holds the inputs widened to float
 *      on both backends, so a decision that depends on the data (a block mask, quantisation scales)
 *      is made from the same values everywhere. The plan records every decision: path, tile, mask,
 *      scales. A plan starts with attn_plan (below) and is the variant's own struct after that.
 *   4. run(plan, io, stream): one forward pass on the GPU, enqueued, nothing synchronous, every
 *      launch checked. fetch_plan (optional) copies back what run() decided on the device (a mask
 *      selected inside the timed region) after the checked run, before anything reads the plan.
 *   5. What the plan says, on both backends: cpu_rows (the CPU implementation: the check target of
 *      an approximation), work (executed FLOPs, bytes, launches), describe (stored with the point),
 *      check_policy (tolerance and accuracy bounds), quality (named values stored per point).
 *   6. release(plan): frees what prepare made.
 *
 * Data: Q, K, V, O as described in harness/core/problem.h ([B][H][S][D], K/V with H_kv heads), in
 * the point's dtype on the device; widened to float on the host (attn_host_inputs).
 *
 * Checking: an exact variant's output is compared with the fp64 reference; an approximate variant's
 * output with its own cpu_rows (the same approximation), and its error against exact attention is
 * stored; bounds from check_policy turn an approximation that is too wrong into a failed point. */
#ifndef ATTN_VARIANT_H
#define ATTN_VARIANT_H

#include <cuda_runtime.h>
#include <stddef.h>

#include "core/error.h"
#include "core/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- parameters */

typedef enum attn_param_kind {
    ATTN_PARAM_INT,    /* an integer in [min, max] */
    ATTN_PARAM_FLOAT,  /* a finite number in [min, max] */
    ATTN_PARAM_ENUM,   /* one word of `choices` ("mma|wgmma") */
    ATTN_PARAM_STRING, /* any text without ',' or '=' */
    ATTN_PARAM_FILE,   /* a path to a readable regular file (checked by the CLI, read by prepare) */
} attn_param_kind;

typedef struct attn_param_spec {
    const char *key;     /* [a-z][a-z0-9_]*; a NULL key ends the table */
    attn_param_kind kind;
    const char *def;     /* the default as text, valid for the kind; NULL: unset unless given */
    const char *choices; /* ENUM: "a|b|c"; other kinds: NULL */
    double min, max;     /* INT and FLOAT: the inclusive range */
    const char *help;    /* one line for `attnbench list --params` */
} attn_param_spec;

#define ATTN_PARAM_SPECS_MAX 16

/* One parameter's value at a point. */
typedef struct attn_param_value {
    int set;                 /* 1: given or defaulted; 0: unset (no default, not given) */
    int given;               /* 1: the point's params named it */
    long long i;             /* INT: the value; ENUM: the index of the choice */
    double f;                /* FLOAT: the value (INT: the value as a double) */
    char s[ATTN_PARAMS_MAX]; /* the text (every kind) */
} attn_param_value;

/* A point's parameters, v[i] for the variant's spec[i]. */
typedef struct attn_param_values {
    int n;
    attn_param_value v[ATTN_PARAM_SPECS_MAX];
} attn_param_values;

/* ---------------------------------------------------------------- data */

/* Device tensors in the point's dtype. */
typedef struct attn_device_io {
    const void *q, *k, *v;
    void *o;
} attn_device_io;

/* The head of every plan; the variant's plan struct begins with it. */
typedef struct attn_plan {
    attn_point point;   /* the point, its params text included */
    const void *config; /* the variant's parsed config (owned by the harness, outlives the plan) */
    int on_device;      /* 1: made on the GPU backend (args->dev was set) */
} attn_plan;

/* What prepare gets. */
typedef struct attn_prepare_device {
    attn_device_io io;   /* the inputs, and the output buffer (its contents undefined) */
    void *workspace;     /* workspace_bytes() bytes, or NULL when 0 */
    cudaStream_t stream; /* the stream run() will be given */
} attn_prepare_device;

typedef struct attn_prepare_args {
    const attn_point *point;
    const void *config;
    const attn_host_inputs *host;   /* both backends */
    const attn_prepare_device *dev; /* GPU backend only; NULL on the CPU backend */
} attn_prepare_args;

/* Work one run() does, from the plan (for rates and % of the ceilings). */
typedef struct attn_work {
    double flops;  /* executed FLOPs, selection and quantisation stages included */
    double bytes;  /* device-memory bytes it must move: each input read once, each output and each
                      materialised intermediate written and read once */
    int launches;  /* kernel launches per run(), -1 when a library decides (cuBLAS split-K) */
} attn_work;

/* How a point is judged: attn_check_policy (core/problem.h, beside the other types the checker
 * shares with the variants): a tolerance against the check target, bounds against exact
 * attention. The harness sets the defaults, then calls check_policy. */

/* Named values a variant reports per point (kept-block fraction, softmax mass retained, ...). */
#define ATTN_QUALITY_MAX 8
typedef struct attn_quality {
    int n;
    const char *name[ATTN_QUALITY_MAX]; /* static, snake_case, unique within the variant */
    const char *unit[ATTN_QUALITY_MAX]; /* static; "" when dimensionless */
    double value[ATTN_QUALITY_MAX];
} attn_quality;

/* ---------------------------------------------------------------- the variant */

typedef struct attn_variant {
    const char *name;        /* lower case, no spaces: the CLI and database key */
    const char *description; /* one line for `attnbench list` */
    int exact;               /* 1: exact attention; 0: an approximation (see above) */
    int baseline;            /* 1 for the variant speedups are measured against (one variant) */
    const attn_param_spec *params; /* NULL, or a table ended by a NULL key */
    size_t config_size;      /* bytes of the variant's config struct; 0: none */

    /* Step 2. NULL: every point runs, nothing to configure. */
    const char *(*configure)(const attn_point *p, const attn_param_values *pv, void *config);
    /* The type the variant computes in when it is not the point's dtype ("fp8", "int8"), for the
     * compute ceiling; NULL (or a NULL callback): the point's dtype. */
    const char *(*compute_dtype)(const attn_point *p, const void *config);
    /* Device scratch for this point, allocated by the harness (so out-of-memory is handled in one
     * place) and given to prepare. NULL: none. */
    size_t (*workspace_bytes)(const attn_point *p, const void *config);

    /* Steps 3–6. prepare returns ATTN_OK with *plan set, ATTN_SKIP (attn_skip's reason: the point
     * cannot run on this device) or ATTN_ERR; on failure it has freed what it took. */
    int (*prepare)(const attn_prepare_args *args, attn_plan **plan);
    int (*run)(attn_plan *plan, const attn_device_io *io, cudaStream_t stream);
    int (*fetch_plan)(attn_plan *plan, cudaStream_t stream); /* optional */
    void (*release)(attn_plan *plan);

    /* CPU implementation of what the plan says: output rows (sorted by b, h, s) into
     * out[i·D + d], in float (the harness rounds to the dtype as the GPU's store would). */
    int (*cpu_rows)(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                    size_t n_rows, float *out);
    /* The harness starts w at the dense-equivalent FLOPs, bytes unknown (NaN), launches -1; NULL
     * keeps those. */
    void (*work)(const attn_plan *plan, attn_work *w);
    void (*describe)(const attn_plan *plan, char *buf, size_t n);           /* optional */
    void (*check_policy)(const attn_plan *plan, attn_check_policy *policy); /* optional */
    /* Optional: values over the checked rows (the same rows cpu_rows is given). */
    int (*quality)(const attn_plan *plan, const attn_host_inputs *in, const attn_row *rows,
                   size_t n_rows, attn_quality *q);
} attn_variant;

/* The registry (variants/registry.c): NULL-terminated, in display order. */
extern const attn_variant *const attn_variants[];
const attn_variant *attn_variant_find(const char *name);

/* ---------------------------------------------------------------- parameter helpers (params.c) */

/* Number of declared parameters; index of `key` in v->params or -1. */
int attn_param_count(const attn_variant *v);
int attn_param_index(const attn_variant *v, const char *key);
/* NULL when `value` is valid for the spec, else a message naming what is wrong (in why). */
const char *attn_param_invalid(const attn_param_spec *s, const char *value, char *why, size_t n);
/* Parses a point's params text ("k=v,k=v", keys of v only) into typed values, defaults applied.
 * ATTN_OK, or ATTN_ERR with attn_last_error naming the bad key or value. */
int attn_params_parse(const attn_variant *v, const char *text, attn_param_values *out);
/* A variant's configure step for a point, in one call: parses p->params and configures into
 * `config` (config_size bytes, zeroed here). Returns NULL, or why the point cannot run (a parse
 * error's message is copied into why). */
const char *attn_variant_configure(const attn_variant *v, const attn_point *p, void *config,
                                   char *why, size_t n);

/* Steps 2–3 as the CPU backend takes them, in one call (tests use it): configures p (the config is
 * allocated here and owned by the plan's holder) and makes the plan on the host (args->dev NULL).
 * ATTN_OK with *plan set; ATTN_SKIP with the reason in attn_last_error when configure or prepare
 * refuses the point; ATTN_ERR. attn_variant_plan_free releases the plan and frees its config. */
int attn_variant_plan_host(const attn_variant *v, const attn_point *p, const attn_host_inputs *in,
                           attn_plan **plan);
void attn_variant_plan_free(const attn_variant *v, attn_plan *plan);

/* For prepare: a zeroed plan of `size` bytes (the variant's plan struct, which begins with
 * attn_plan) whose head is filled from args (point, config, on_device). NULL, after attn_fail,
 * when out of host memory. The variant's release frees it with free(). */
void *attn_plan_new(size_t size, const attn_prepare_args *args);

#ifdef __cplusplus
}
#endif
#endif
