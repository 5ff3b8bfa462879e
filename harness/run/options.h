/* options.h — the command line of `attnbench run`: the option table (its help is printed from it)
 * and the --sweep file reader. Everything here is syntax; what depends on the selected variants
 * (which --param keys they declare, the values' validity) is the sweep's (sweep.h). */
#ifndef ATTN_RUN_OPTIONS_H
#define ATTN_RUN_OPTIONS_H

#include <stdint.h>

#include "core/cli.h"
#include "core/problem.h"
#include "measure/measure.h"
#include "variant.h"

#define RUN_VARIANTS_MAX 64
#define RUN_PARAMS_MAX 8     /* --param options */
#define RUN_ARGS_MAX 512     /* options from --sweep files and the command line together */
#define RUN_PLACEMENTS_MAX 256 /* --placements */
#define RUN_DEVICES_MAX 64   /* --devices */

/* One --param [VARIANT.]KEY=LIST. */
typedef struct run_param {
    char variant[64];               /* the qualifier; "" when unqualified */
    char key[64];
    char text[1024];                /* the values, split in place */
    char *values[CLI_LIST_MAX];
    int n_values;
} run_param;

/* The parsed command line. */
typedef struct run_options {
    const attn_variant *variants[RUN_VARIANTS_MAX]; /* selected, in --variants order */
    int n_variants;
    int seq[CLI_LIST_MAX], n_seq;
    int heads[CLI_LIST_MAX], n_heads;
    int kv_heads[CLI_LIST_MAX], n_kv_heads; /* 0 entries: H_kv = H */
    int head_dim[CLI_LIST_MAX], n_head_dim;
    int batch[CLI_LIST_MAX], n_batch;
    int tokens, model_dim;                  /* 0: unused */
    attn_dtype dtypes[3];
    int n_dtypes;
    int causal[2], n_causal;
    run_param params[RUN_PARAMS_MAX];
    int n_params;
    int cpu;                                /* --backend cpu */
    const char *db, *tag, *save_dir;
    const char *inputs_dir;                 /* --inputs: Q, K, V from DIR/{q,k,v}.npy, or NULL */
    uint64_t seed;
    attn_init init;
    attn_measure_opts measure;
    int quiet, no_cupti, no_ceilings;
    const char *metrics;                    /* --metrics: "dram" or NULL */
    const attn_variant *spin_variant;       /* --debug-spin: the variant slowed on purpose */
    int spin_us;
    const attn_variant *slow_variant;       /* --debug-slow: the variant slowed by a share */
    double slow_fraction;                   /* of its own median (0.05 for 5%) */
    int profile;                            /* --profile: profiler mode even if none is seen */
    const char *profiler;                   /* profiler mode: the tool (measure/profiler.h), or
                                               "--profile"; NULL: a normal run */
    /* Scale-out (run/workers.h, run/plan.h). */
    int devices[RUN_DEVICES_MAX], n_devices; /* --devices: one worker process each; 0: none */
    int devices_all;                        /* --devices all: every visible GPU */
    int shard, n_shards;                    /* --shard i/n; n_shards 0: the whole sweep */
    const char *run_uuid;                   /* --run-uuid; NULL: a random UUID */
    int64_t resume;                         /* --resume RUN; 0: a new run */
    /* Storage the parsed values point into. */
    char variant_text[1024];
    char sweep_text[64 << 10];
} run_options;

/* Parses `attnbench run`'s arguments (argv[0] is "run"): --sweep files first, so that the command
 * line overrides their options. 0, CLI_USAGE (the message printed), or CLI_HELP (help printed). */
int run_options_parse(int argc, char **argv, run_options *o);

#endif
