/* options.c — `attnbench run`'s option table and the --sweep file reader (see options.h). */
#include "run/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "measure/profiler.h"

/* ---------------------------------------------------------------- setters
 * Each gets the field the table's offset names, or the whole run_options (offset 0) when it
 * fills more than one field (a list and its count, --param, --debug-spin). Plain counts, texts
 * and flags are cli.h's. */

#define INT_LIST_SETTER(fn, field, name)                                                       \
    static int fn(void *ctx, const char *v)                                                    \
    {                                                                                          \
        run_options *o = ctx;                                                                  \
        if ((o->n_##field = cli_int_list(v, 1, o->field, CLI_LIST_MAX)) < 0)                   \
            return cli_error("run", "bad %s value '%s'", name, cli_clip(v));                   \
        return 0;                                                                              \
    }
INT_LIST_SETTER(set_seq, seq, "--seq")
INT_LIST_SETTER(set_heads, heads, "--heads")
INT_LIST_SETTER(set_kv_heads, kv_heads, "--kv-heads")
INT_LIST_SETTER(set_head_dim, head_dim, "--head-dim")
INT_LIST_SETTER(set_batch, batch, "--batch")
#undef INT_LIST_SETTER

/* A variant named twice is an error, as a --param key given twice is: it would run twice. */
static int set_variants(void *ctx, const char *v)
{
    run_options *o = ctx;
    char *w[RUN_VARIANTS_MAX];
    int k = cli_word_list(v, o->variant_text, sizeof o->variant_text, w, RUN_VARIANTS_MAX);
    if (k < 0) return cli_error("run", "bad --variants value '%s'", cli_clip(v));
    o->n_variants = 0;
    for (int j = 0; j < k; j++) {
        const attn_variant *found = attn_variant_find(w[j]);
        if (!found)
            return cli_error("run", "unknown variant '%s' (attnbench list)", cli_clip(w[j]));
        for (int e = 0; e < o->n_variants; e++)
            if (o->variants[e] == found)
                return cli_error("run", "--variants names '%s' twice", found->name);
        o->variants[o->n_variants++] = found;
    }
    return 0;
}

static int set_dtype(void *ctx, const char *v)
{
    run_options *o = ctx;
    char buf[64], *w[3];
    int k = cli_word_list(v, buf, sizeof buf, w, 3);
    if (k < 0) return cli_error("run", "bad --dtype value '%s'", cli_clip(v));
    for (int j = 0; j < k; j++)
        if (attn_dtype_parse(w[j], &o->dtypes[j]))
            return cli_error("run", "unknown dtype '%s' (fp16, bf16, fp32)", cli_clip(w[j]));
    o->n_dtypes = k;
    return 0;
}

static int set_causal(void *ctx, const char *v)
{
    run_options *o = ctx;
    int k = cli_int_list(v, 0, o->causal, 2);
    for (int j = 0; j < k; j++)
        if (o->causal[j] > 1) k = -1;
    if (k < 0) return cli_error("run", "bad --causal value '%s' (0, 1 or 0,1)", cli_clip(v));
    o->n_causal = k;
    return 0;
}

static int is_key(const char *s)
{
    if (*s < 'a' || *s > 'z') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

/* [VARIANT.]KEY=VALUE[,VALUE...]: the syntax only; the sweep checks keys and values against the
 * selected variants' declarations. */
static int set_param(void *ctx, const char *v)
{
    run_options *o = ctx;
    const char *eq = strchr(v, '=');
    if (o->n_params == RUN_PARAMS_MAX)
        return cli_error("run", "too many --param options (at most %d)", RUN_PARAMS_MAX);
    run_param *pp = &o->params[o->n_params];
    memset(pp, 0, sizeof *pp);
    const char *dot = eq ? memchr(v, '.', (size_t)(eq - v)) : NULL;
    const char *key = dot ? dot + 1 : v;
    if (!eq || (size_t)(eq - key) >= sizeof pp->key ||
        (dot && (size_t)(dot - v) >= sizeof pp->variant))
        return cli_error("run", "bad --param '%s' ([VARIANT.]KEY=VALUE[,VALUE...])", cli_clip(v));
    if (dot) snprintf(pp->variant, sizeof pp->variant, "%.*s", (int)(dot - v), v);
    snprintf(pp->key, sizeof pp->key, "%.*s", (int)(eq - key), key);
    if (!is_key(pp->key) || (dot && !pp->variant[0]))
        return cli_error("run", "bad --param '%s' ([VARIANT.]KEY=VALUE[,VALUE...])", cli_clip(v));
    pp->n_values = cli_word_list(eq + 1, pp->text, sizeof pp->text, pp->values, CLI_LIST_MAX);
    if (pp->n_values < 0) return cli_error("run", "bad --param '%s': no value", cli_clip(v));
    for (int j = 0; j < pp->n_values; j++)
        if (strchr(pp->values[j], '=')) return cli_error("run", "bad --param '%s'", cli_clip(v));
    o->n_params++;
    return 0;
}

/* int: 1 for --backend cpu. */
static int set_backend(void *field, const char *v)
{
    if (strcmp(v, "cuda") && strcmp(v, "cpu"))
        return cli_error("run", "unknown backend '%s' (cuda or cpu)", cli_clip(v));
    *(int *)field = strcmp(v, "cpu") == 0;
    return 0;
}

/* uint64_t: a decimal seed, the whole 64-bit range. */
static int set_seed(void *field, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-') return CLI_BAD_VALUE;
    *(uint64_t *)field = s;
    return 0;
}

/* attn_init. */
static int set_init(void *field, const char *v)
{
    if (attn_init_parse(v, field))
        return cli_error("run", "unknown --init '%s' (normal, outliers, fa3 or structured)", cli_clip(v));
    return 0;
}

/* int: 1 for cold, 0 for hot. */
static int set_cache(void *field, const char *v)
{
    if (strcmp(v, "cold") && strcmp(v, "hot"))
        return cli_error("run", "unknown --cache '%s' (cold or hot)", cli_clip(v));
    *(int *)field = strcmp(v, "cold") == 0;
    return 0;
}

/* double > 0, as cli_fraction reads it. */
static int set_target_ci(void *field, const char *v)
{
    if (cli_fraction(v, field) || *(double *)field <= 0)
        return cli_error("run", "bad --target-ci value '%s' (e.g. 1%%)", cli_clip(v));
    return 0;
}

/* double: seconds, as cli_seconds reads them. */
static int set_max_time(void *field, const char *v)
{
    if (cli_seconds(v, field))
        return cli_error("run", "bad --max-time value '%s' (e.g. 2s, 500ms)", cli_clip(v));
    return 0;
}

/* double in (0, 1], as cli_fraction reads it ("99.5%" or 0.995). */
static int set_throttle_below(void *field, const char *v)
{
    double x;
    if (cli_fraction(v, &x) || x <= 0 || x > 1)
        return cli_error("run", "bad --throttle-below value '%s' (a fraction of the max clock, "
                         "e.g. 99.5%%)", cli_clip(v));
    *(double *)field = x;
    return 0;
}

/* double: seconds > 0, or 0 (no cool-down). */
static int set_cooldown(void *field, const char *v)
{
    if (strcmp(v, "0") == 0) *(double *)field = 0;
    else if (cli_seconds(v, field))
        return cli_error("run", "bad --cooldown value '%s' (e.g. 250ms, 0)", cli_clip(v));
    return 0;
}

/* const char *: the one counter set there is, "dram". */
static int set_metrics(void *field, const char *v)
{
    if (strcmp(v, "dram") != 0)
        return cli_error("run", "unknown --metrics '%s' (dram)", cli_clip(v));
    *(const char **)field = v;
    return 0;
}

/* The VARIANT of a --debug-* option's VARIANT:VALUE into *out, the VALUE's text into *value;
 * 0, or CLI_USAGE after a message (`form` says what the option takes). */
static int debug_variant(const char *option, const char *form, const char *v,
                         const attn_variant **out, const char **value)
{
    const char *colon = strchr(v, ':');
    char name[64];
    if (!colon || (size_t)(colon - v) >= sizeof name)
        return cli_error("run", "bad %s '%s' (%s)", option, cli_clip(v), form);
    snprintf(name, sizeof name, "%.*s", (int)(colon - v), v);
    if (!(*out = attn_variant_find(name)))
        return cli_error("run", "unknown variant '%s' in %s", name, option);
    *value = colon + 1;
    return 0;
}

static int set_spin(void *ctx, const char *v)
{
    run_options *o = ctx;
    const char *value;
    int us[1];
    if (debug_variant("--debug-spin", "VARIANT:MICROSECONDS", v, &o->spin_variant, &value))
        return CLI_USAGE;
    if (cli_int_list(value, 1, us, 1) != 1 || us[0] > 10000000)
        return cli_error("run", "bad --debug-spin '%s' (VARIANT:MICROSECONDS)", cli_clip(v));
    o->spin_us = us[0];
    return 0;
}

/* VARIANT:P% with 0 < P <= 1000; the % is required, so that 5 is never read as 500 %. */
static int set_slow(void *ctx, const char *v)
{
    run_options *o = ctx;
    const char *value;
    if (debug_variant("--debug-slow", "VARIANT:P%, e.g. fused:5%", v, &o->slow_variant, &value))
        return CLI_USAGE;
    const size_t len = strlen(value);
    if (len < 2 || value[len - 1] != '%' || cli_fraction(value, &o->slow_fraction) ||
        !(o->slow_fraction > 0) || o->slow_fraction > 10)
        return cli_error("run", "bad --debug-slow '%s' (VARIANT:P%%, 0 < P <= 1000, e.g. "
                         "fused:5%%)", cli_clip(v));
    return 0;
}

/* int: placement rounds, 1 to RUN_PLACEMENTS_MAX. */
static int set_placements(void *field, const char *v)
{
    if (cli_set_count(field, v) || *(int *)field > RUN_PLACEMENTS_MAX)
        return cli_error("run", "bad --placements value '%s' (1 to %d)", cli_clip(v),
                         RUN_PLACEMENTS_MAX);
    return 0;
}

/* --sweep files are parsed before the command line's other options (parse_sweep_files): here
 * nothing is left to do, but inside a file (cli_source set) --sweep is an error. */
static int set_sweep(void *ctx, const char *v)
{
    (void)ctx;
    if (!cli_source) return 0;
    return cli_error("run", "--sweep '%s' inside a --sweep file: files do not nest", cli_clip(v));
}

/* --devices all, or a list of device indices (within CUDA_VISIBLE_DEVICES when it is set). */
static int set_devices(void *ctx, const char *v)
{
    run_options *o = ctx;
    o->devices_all = strcmp(v, "all") == 0;
    if (o->devices_all) return o->n_devices = 1, 0; /* resolved when the workers start */
    if ((o->n_devices = cli_int_list(v, 0, o->devices, RUN_DEVICES_MAX)) < 0)
        return cli_error("run", "bad --devices value '%s' (all, or device indices 0,1,...)",
                         cli_clip(v));
    for (int i = 0; i < o->n_devices; i++)
        for (int j = 0; j < i; j++)
            if (o->devices[i] == o->devices[j])
                return cli_error("run", "--devices names device %d twice", o->devices[i]);
    return 0;
}

/* --shard i/n: 0 <= i < n. */
static int set_shard(void *ctx, const char *v)
{
    run_options *o = ctx;
    int i, n, end = 0;
    if (sscanf(v, "%d/%d%n", &i, &n, &end) != 2 || v[end] || i < 0 || n < 1 || i >= n ||
        n > 1000000)
        return cli_error("run", "bad --shard value '%s' (i/n with 0 <= i < n, e.g. "
                         "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)", cli_clip(v));
    o->shard = i, o->n_shards = n;
    return 0;
}

/* --run-uuid: 1 to 64 letters, digits and ._:- (a UUID, or a job id such as slurm-1234). */
static int set_run_uuid(void *field, const char *v)
{
    const size_t n = strlen(v);
    if (n > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") != n)
        return CLI_BAD_VALUE;
    *(const char **)field = v;
    return 0;
}

/* ---------------------------------------------------------------- the table */

static const cli_option run_option_table[] = {
    {"--variants", "LIST", "variants to run, each named once (default: all; `attnbench list`)",
     set_variants, 0},
    {"--seq", "LIST", "sequence lengths S (default 1024)", set_seq, 0},
    {"--heads", "LIST", "query heads H (default 16)", set_heads, 0},
    {"--kv-heads", "LIST", "key/value heads H_kv, dividing H (default: = H)", set_kv_heads, 0},
    {"--head-dim", "LIST", "head dim D (default 128)", set_head_dim, 0},
    {"--batch", "LIST", "batch B (default 1)", set_batch, 0},
    {"--tokens", "N", "instead of --batch (not with it): B = max(1, N / S) for each S",
     cli_set_count, offsetof(run_options, tokens)},
    {"--model-dim", "N", "instead of --heads (not with it): H = N / D for each D", cli_set_count,
     offsetof(run_options, model_dim)},
    {"--dtype", "LIST", "fp16, bf16, fp32 (default bf16)", set_dtype, 0},
    {"--causal", "LIST", "0, 1 (default 0)", set_causal, 0},
    {"--param", "[V.]KEY=LIST",
     "a variant parameter to sweep (repeatable): KEY applies to every selected\n"
     "variant that declares it, V.KEY to variant V only (attnbench list --params)",
     set_param, 0},
    {"--backend", "B", "cuda (default) or cpu: the CPU implementations, same pipeline",
     set_backend, offsetof(run_options, cpu)},
    {"--db", "PATH", "database (default results/attnbench.db)", cli_set_text,
     offsetof(run_options, db)},
    {"--tag", "TEXT", "label stored with the run (e.g. nightly)", cli_set_text,
     offsetof(run_options, tag)},
    {"--seed", "N", "input seed (default 1); same seed, same inputs for every variant", set_seed,
     offsetof(run_options, seed)},
    {"--init", "I", "input distribution: normal (default), outliers, fa3 (0.1 % of Q, K, V from N(0, 100)), or structured (local decay, clustered keys, sink keys: attention concentrated as in trained models)", set_init,
     offsetof(run_options, init)},
    {"--cache", "MODE", "cold (default: L2 flushed before each sample) or hot", set_cache,
     offsetof(run_options, measure.cold)},
    {"--min-samples", "N", "at least N samples per point (default 10; 3 in profiler mode)",
     cli_set_count, offsetof(run_options, measure.min_samples)},
    {"--target-ci", "P", "stop when the 95 % CI of the median is within ±P (default 1%)",
     set_target_ci, offsetof(run_options, measure.target_ci)},
    {"--max-time", "T", "at most T seconds of timing per point (default 2s)", set_max_time,
     offsetof(run_options, measure.max_time)},
    {"--throttle-below", "F",
     "a sample whose SM clock ended below F of the max is throttled: left out\n"
     "of the median, and the GPU idles --cooldown before the next (default 99.5%)",
     set_throttle_below, offsetof(run_options, measure.throttle_below)},
    {"--cooldown", "T", "idle after a throttled sample, at most 8 a point (default 250ms; 0: none)",
     set_cooldown, offsetof(run_options, measure.cooldown)},
    {"--save-tensors", "DIR", "write Q, K, V and each variant's O as .npy (one shape only)",
     cli_set_text, offsetof(run_options, save_dir)},
    {"--inputs", "DIR",
     "read Q, K, V from DIR/q.npy, k.npy, v.npy as --save-tensors writes them\n"
     "(one shape only, which they must match; '<f2' for fp16, '<f4' otherwise)",
     cli_set_text, offsetof(run_options, inputs_dir)},
    {"--no-cupti", NULL, "time with CUDA events only: no CUPTI per-kernel records", cli_set_flag,
     offsetof(run_options, no_cupti)},
    {"--cupti-alternate", NULL,
     "trace every other sample only (the others untraced, as with\n"
     "--no-cupti) and time with events: what tracing costs, in one run",
     cli_set_flag, offsetof(run_options, measure.cupti_alternate)},
    {"--no-ceilings", NULL, "skip measuring the GPU's GEMM and copy ceilings at run start",
     cli_set_flag, offsetof(run_options, no_ceilings)},
    {"--metrics", "dram", "DRAM bytes per point from hardware counters (a separate pass)",
     set_metrics, offsetof(run_options, metrics)},
    {"--placements", "N",
     "split each point's samples into N rounds, the device inputs moved to\n"
     "a fresh allocation before each round after the first (default 1)",
     set_placements, offsetof(run_options, measure.placements)},
    {"--profile", NULL,
     "profiler mode (automatic under ncu, nsys, compute-sanitizer): no\n"
     "stream hold, no CUPTI, no ceilings, 3 to 5 samples unless\n"
     "--min-samples; the run is marked a profiler run",
     cli_set_flag, offsetof(run_options, profile)},
    {"--debug-spin", "V:US",
     "add a US-microsecond busy-wait kernel to variant V's timed runs: a\n"
     "known slowdown, to check that `attnbench compare` catches it",
     set_spin, 0},
    {"--debug-slow", "V:P%",
     "add P% of variant V's own median (measured first, untimed) as a\n"
     "busy-wait to its timed runs: a known relative slowdown",
     set_slow, 0},
    {"--devices", "all|LIST",
     "one worker process per GPU (CUDA_VISIBLE_DEVICES pinned), the points\n"
     "dealt out longest first, one database and run; indices within\n"
     "CUDA_VISIBLE_DEVICES; on the CPU backend the indices are labels",
     set_devices, 0},
    {"--shard", "I/N",
     "run only shard I of N of the sweep (a deterministic slice), e.g.\n"
     "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; merge with attnbench merge",
     set_shard, 0},
    {"--run-uuid", "ID",
     "the run's global id (default: a random UUID): shards given one ID\n"
     "merge into one run (letters, digits, ._:-, at most 64)",
     set_run_uuid, offsetof(run_options, run_uuid)},
    {"--resume", "RUN",
     "finish run RUN of --db: the planned points that did not run, with\n"
     "the run's own options (only --db, --devices, --quiet may be given)",
     cli_set_id, offsetof(run_options, resume)},
    {"--sweep", "FILE", "read options from FILE (one or more per line, # comments) first",
     set_sweep, 0},
    {"--quiet", NULL, "no progress line", cli_set_flag, offsetof(run_options, quiet)},
    {0},
};

static const cli_command run_command = {
    "run", "[options]",
    "Checks each variant at each point against an fp64 reference, then times it; stores every\n"
    "point and sample in SQLite. Lists take \"a,b,c\" and ranges \"512:16384:x2\" or"
    " \"64:256:+64\".\n",
    run_option_table,
    "Exit status: 0 every point ok or skipped; 1 a point failed its check or errored, the run\n"
    "was aborted or interrupted before its last point, or no GPU; 2 bad usage or input (nothing\n"
    "written). Ctrl-C stops at the next sample or row (the point in progress is not stored); a\n"
    "second Ctrl-C quits at once.\n",
    NULL,
};

/* ---------------------------------------------------------------- parsing */

/* Parses the options of a --sweep file into o, line by line (one or more options per line, #
 * comments), a message naming FILE:LINE; the file's text goes to buf, which the values then point
 * into (*used: its bytes). */
static int parse_sweep_file(const char *path, char *buf, size_t bufsize, size_t *used,
                            run_options *o)
{
    if (bufsize < 2) return cli_error("run", "--sweep files too large");
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_error("run", "cannot read --sweep file '%s': %s", cli_clip(path),
                         strerror(errno));
    size_t len = fread(buf, 1, bufsize - 1, f);
    int too_big = !feof(f), rc = 0;
    fclose(f);
    if (too_big) return cli_error("run", "--sweep file '%s' is too large", cli_clip(path));
    buf[len] = 0;
    *used = len + 1;
    char where[CLI_CLIP_MAX + 32];
    int line_no = 1;
    for (char *line = buf, *next; line && !rc; line = next, line_no++) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *hash = strchr(line, '#'), *args[RUN_ARGS_MAX] = {"run"};
        if (hash) *hash = 0;
        int n = 1;
        snprintf(where, sizeof where, "%s:%d", cli_clip(path), line_no);
        cli_source = where;
        for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w && !rc;
             w = strtok_r(NULL, " \t\r", &save)) {
            if (n == RUN_ARGS_MAX) rc = cli_error("run", "too many options on one line");
            args[n++] = w;
        }
        if (!rc && n > 1) rc = cli_parse(&run_command, n, args, o);
        cli_source = NULL;
    }
    return rc;
}

/* The --sweep files named on the command line, in order, before its other options. */
static int parse_sweep_files(int argc, char **argv, run_options *o)
{
    size_t used = 0, file_bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!cli_opt(argc, argv, &i, "--sweep", &v)) continue;
        if (!v || !*v) return cli_error("run", "--sweep needs a value (FILE)");
        if (parse_sweep_file(v, o->sweep_text + used, sizeof o->sweep_text - used, &file_bytes, o))
            return CLI_USAGE;
        used += file_bytes;
    }
    return 0;
}

static void defaults(run_options *o)
{
    memset(o, 0, sizeof *o);
    o->seq[0] = 1024, o->n_seq = 1;
    o->head_dim[0] = 128, o->n_head_dim = 1;
    o->dtypes[0] = ATTN_BF16, o->n_dtypes = 1;
    o->n_causal = 1;
    o->db = "results/attnbench.db";
    o->seed = 1;
    attn_measure_defaults(&o->measure);
    o->measure.min_samples = 0; /* unset: finish_options sets the default of the run's mode */
}

static const char *env(const char *name) { return getenv(name); }

/* Profiler mode (measure/profiler.h): under a tool the environment names, or --profile. */
static void profiler_mode(run_options *o)
{
    attn_measure_opts *m = &o->measure;
    const char *tool = attn_profiler_detect(env);
    o->profiler = tool ? tool : o->profile ? "--profile" : NULL;
    if (!o->profiler) {
        if (!m->min_samples) m->min_samples = 10;
        return;
    }
    o->no_cupti = o->no_ceilings = 1;
    m->no_hold = 1;
    if (!m->min_samples) m->min_samples = 3;
    m->max_samples = m->min_samples > 5 ? m->min_samples : 5;
}

/* --debug-spin's and --debug-slow's variant must be one that runs, on the GPU. */
static int check_debug_variant(const run_options *o, const char *option, const attn_variant *v)
{
    int listed = 0;
    for (int j = 0; j < o->n_variants; j++) listed |= o->variants[j] == v;
    if (!listed || o->cpu)
        return cli_error("run", "%s needs the GPU backend and '%s' among --variants", option,
                         v->name);
    return 0;
}

/* What depends on several options: --tokens and --model-dim replace --batch and --heads (so
 * giving both is an error: one would be silently ignored), the defaults of those two, the
 * variants (all of them by default), profiler mode, the --debug-spin and --debug-slow variants. */
static int finish_options(run_options *o)
{
    if (o->tokens && o->n_batch)
        return cli_error("run", "--tokens and --batch exclude each other (--tokens sets B = "
                         "max(1, N / S) for each S)");
    if (o->model_dim && o->n_heads)
        return cli_error("run", "--model-dim and --heads exclude each other (--model-dim sets "
                         "H = N / D for each D)");
    if (!o->n_batch) o->batch[0] = 1, o->n_batch = 1;
    if (!o->n_heads) o->heads[0] = 16, o->n_heads = 1;
    profiler_mode(o);
    attn_measure_opts *m = &o->measure;
    if (m->min_samples > m->max_samples) m->max_samples = m->min_samples;
    if (!o->n_variants) /* all of them */
        for (const attn_variant *const *v = attn_variants; *v; v++)
            o->variants[o->n_variants++] = *v;
    if (o->spin_variant && check_debug_variant(o, "--debug-spin", o->spin_variant))
        return CLI_USAGE;
    if (o->slow_variant && check_debug_variant(o, "--debug-slow", o->slow_variant))
        return CLI_USAGE;
    return 0;
}

int run_options_parse(int argc, char **argv, run_options *o)
{
    defaults(o);
    int rc = parse_sweep_files(argc, argv, o);
    if (rc == 0) rc = cli_parse(&run_command, argc, argv, o);
    return rc ? rc : finish_options(o);
}
