/* run.c — `attnbench run`: the sweep. For every shape: make the seeded inputs, then for every
 * variant (and combination of its parameters): check its output against the fp64 reference (or,
 * for an approximation, against its own CPU algorithm, storing its error against exact attention
 * too), and only if it passes, time it; store the point with every sample in one transaction.
 *
 * Failure policy: an unsupported or out-of-memory point is stored `skipped` and the sweep goes on;
 * a failed check is stored `failed` (never timed); a non-sticky error is stored `error`; a sticky
 * CUDA error (the context is lost) stores the point, marks the run `aborted` and stops. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "measure/ceilings.h"
#include "check/check.h"
#include "core/cli.h"
#include "commands.h"
#include "core/error.h"
#include "measure/gpu.h"
#include "measure/measure.h"
#include "measure/metrics.h"
#include "core/npy.h"
#include "check/reference.h"
#include "store/store.h"
#include "measure/timer.h"
#include "measure/trace.h"
#include "variant.h"
#include "version.h"

#define MAX_ARGS 512
#define MAX_PARAM_KEYS 8
/* fp64 reference multiply-adds per shape: all rows of small shapes, a sample of large ones. */
#define CHECK_BUDGET 4e8

static const char usage_text[] =
    "usage: attnbench run [options]\n"
    "Checks each variant at each point against an fp64 reference, then times it; stores every\n"
    "point and sample in SQLite. Lists take \"a,b,c\" and ranges \"512:16384:x2\" or \"64:256:+64\".\n"
    "\n"
    "  --variants LIST     variants to run (default: all; `attnbench list` names them)\n"
    "  --seq LIST          sequence lengths S (default 1024)\n"
    "  --heads LIST        query heads H (default 16)\n"
    "  --kv-heads LIST     key/value heads H_kv, dividing H (default: = H)\n"
    "  --head-dim LIST     head dim D (default 128)\n"
    "  --batch LIST        batch B (default 1)\n"
    "  --tokens N          instead of --batch: B = max(1, N / S) for each S\n"
    "  --model-dim N       instead of --heads: H = N / D for each D\n"
    "  --dtype LIST        fp16, bf16, fp32 (default bf16)\n"
    "  --causal LIST       0, 1 (default 0)\n"
    "  --param KEY=LIST    a variant parameter to sweep (repeatable); applies to the variants\n"
    "                      that read KEY\n"
    "  --backend B         cuda (default) or cpu: the CPU implementations, same pipeline\n"
    "  --db PATH           database (default results/attnbench.db)\n"
    "  --tag TEXT          label stored with the run (e.g. nightly)\n"
    "  --seed N            input seed (default 1); same seed, same inputs for every variant\n"
    "  --init I            input distribution: normal (default) or outliers\n"
    "  --cache MODE        cold (default: L2 flushed before each sample) or hot\n"
    "  --min-samples N     at least N samples per point (default 10)\n"
    "  --target-ci P       stop when the 95%% CI of the median is within ±P (default 1%%)\n"
    "  --max-time T        at most T seconds of timing per point (default 2s)\n"
    "  --save-tensors DIR  write Q, K, V and each variant's O as .npy (one shape only)\n"
    "  --no-cupti          time with CUDA events only: no CUPTI per-kernel records\n"
    "  --cupti-alternate   trace every other sample only (the others untraced, as with\n"
    "                      --no-cupti) and time with events: what tracing costs, in one run\n"
    "  --no-ceilings       skip measuring the GPU's GEMM and copy ceilings at run start\n"
    "  --metrics dram      DRAM bytes per point from hardware counters (a separate pass)\n"
    "  --debug-spin V:US   add a US-microsecond busy-wait kernel to variant V's timed runs: a\n"
    "                      known slowdown, to check that `attnbench compare` catches it\n"
    "  --sweep FILE        read options from FILE (one option per line, # comments) first\n"
    "  --quiet             no progress line\n"
    "\n"
    "Exit status: 0 every point ok or skipped; 1 a point failed its check or errored, the run\n"
    "was aborted or interrupted, or no GPU; 2 bad usage or input (nothing written).\n";

/* The parsed command line. */
typedef struct run_opts {
    const attn_variant *variants[64];
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
    char param_key[MAX_PARAM_KEYS][64];
    char param_vals[MAX_PARAM_KEYS][1024];
    char *param_val[MAX_PARAM_KEYS][CLI_LIST_MAX];
    int n_param_val[MAX_PARAM_KEYS], n_params;
    int cpu;
    const char *db, *tag, *save_dir;
    uint64_t seed;
    attn_init init;
    attn_measure_opts measure;
    int quiet;
    int no_cupti, no_ceilings;
    const char *metrics;                    /* --metrics: "dram" or NULL */
    const attn_variant *spin_variant;       /* --debug-spin: the variant slowed on purpose */
    int spin_us;
} run_opts;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---------------------------------------------------------------- command line */

static int read_sweep_file(const char *path, char *buf, size_t bufsize, char **args, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("run", "cannot read --sweep file '%s': %s", path, strerror(errno));
    size_t len = fread(buf, 1, bufsize - 1, f);
    int too_big = !feof(f);
    fclose(f);
    if (too_big) return cli_error("run", "--sweep file '%s' is too large", path);
    buf[len] = 0;
    for (char *line = buf, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w;
             w = strtok_r(NULL, " \t\r", &save)) {
            if (*n == MAX_ARGS) return cli_error("run", "--sweep file '%s' has too many options", path);
            args[(*n)++] = w;
        }
    }
    return 0;
}

/* The database path must be writable before anything runs: a missing directory or a read-only
 * file is a usage error, and nothing is written. */
static int check_db_path(const char *path)
{
    if (access(path, F_OK) == 0)
        return access(path, R_OK | W_OK) == 0
                   ? 0
                   : cli_error("run", "cannot write database '%s': %s", path, strerror(errno));
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("run", "cannot create database '%s': directory '%s' does not exist", path,
                         dir);
    if (access(dir, W_OK) != 0)
        return cli_error("run", "cannot create database '%s': directory '%s' is not writable", path,
                         dir);
    return 0;
}

static int variant_reads(const attn_variant *v, const char *key)
{
    if (!v->param_keys) return 0;
    size_t n = strlen(key);
    for (const char *s = v->param_keys; (s = strstr(s, key)); s += n)
        if ((s == v->param_keys || s[-1] == ',') && (s[n] == 0 || s[n] == ',')) return 1;
    return 0;
}

static int parse_args(int argc, char **argv, run_opts *o, char *sweep_buf, size_t sweep_size)
{
    char *args[MAX_ARGS];
    int n = 0;
    /* --sweep files first, so that the command line can override their options. */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "--sweep", &v)) {
            if (!v) return cli_error("run", "--sweep needs a file");
            if (read_sweep_file(v, sweep_buf, sweep_size, args, &n)) return CLI_USAGE;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sweep") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--sweep=", 8) == 0) continue;
        if (n == MAX_ARGS) return cli_error("run", "too many options");
        args[n++] = argv[i];
    }
    memset(o, 0, sizeof *o);
    o->seq[0] = 1024, o->n_seq = 1;
    o->heads[0] = 16, o->n_heads = 1;
    o->head_dim[0] = 128, o->n_head_dim = 1;
    o->batch[0] = 1, o->n_batch = 1;
    o->dtypes[0] = ATTN_BF16, o->n_dtypes = 1;
    o->n_causal = 1;
    o->db = "results/attnbench.db";
    o->seed = 1;
    attn_measure_defaults(&o->measure);
    static char variant_buf[1024];
    const char *variants = NULL;
    for (int i = 0; i < n; i++) {
        const char *v = NULL, *a = args[i];
#define LIST(name, arr, cnt, min)                                                          \
    if (cli_opt(n, args, &i, name, &v)) {                                                  \
        if ((o->cnt = cli_int_list(v, min, o->arr, CLI_LIST_MAX)) < 0)                     \
            return cli_error("run", "bad %s value '%s'", name, v ? v : "");              \
        continue;                                                                          \
    }
        LIST("--seq", seq, n_seq, 1)
        LIST("--heads", heads, n_heads, 1)
        LIST("--kv-heads", kv_heads, n_kv_heads, 1)
        LIST("--head-dim", head_dim, n_head_dim, 1)
        LIST("--batch", batch, n_batch, 1)
#undef LIST
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--no-cupti") == 0) {
            o->no_cupti = 1;
            continue;
        }
        if (strcmp(a, "--cupti-alternate") == 0) {
            o->measure.cupti_alternate = 1;
            continue;
        }
        if (strcmp(a, "--no-ceilings") == 0) {
            o->no_ceilings = 1;
            continue;
        }
        if (cli_opt(n, args, &i, "--metrics", &v)) {
            if (!v || strcmp(v, "dram") != 0)
                return cli_error("run", "unknown --metrics '%s' (dram)", v ? v : "");
            o->metrics = v;
            continue;
        }
        if (cli_opt(n, args, &i, "--debug-spin", &v)) {
            const char *colon = v ? strchr(v, ':') : NULL;
            char name[64];
            int us[1];
            if (!colon || (size_t)(colon - v) >= sizeof name ||
                cli_int_list(colon + 1, 1, us, 1) != 1 || us[0] > 10000000)
                return cli_error("run", "bad --debug-spin '%s' (VARIANT:MICROSECONDS)", v ? v : "");
            snprintf(name, sizeof name, "%.*s", (int)(colon - v), v);
            if (!(o->spin_variant = attn_variant_find(name)))
                return cli_error("run", "unknown variant '%s' in --debug-spin", name);
            o->spin_us = us[0];
            continue;
        }
        if (cli_opt(n, args, &i, "--variants", &v)) {
            variants = v;
            if (!v) return cli_error("run", "--variants needs a list");
            continue;
        }
        if (cli_opt(n, args, &i, "--tokens", &v) || cli_opt(n, args, &i, "--model-dim", &v)) {
            int x[1];
            if (cli_int_list(v, 1, x, 1) != 1) return cli_error("run", "bad %s value '%s'", a, v ? v : "");
            *(strncmp(a, "--tokens", 8) == 0 ? &o->tokens : &o->model_dim) = x[0];
            continue;
        }
        if (cli_opt(n, args, &i, "--dtype", &v)) {
            char buf[64], *w[3];
            int k = cli_word_list(v, buf, sizeof buf, w, 3);
            if (k < 0) return cli_error("run", "bad --dtype value '%s'", v ? v : "");
            for (int j = 0; j < k; j++)
                if (attn_dtype_parse(w[j], &o->dtypes[j]))
                    return cli_error("run", "unknown dtype '%s' (fp16, bf16, fp32)", w[j]);
            o->n_dtypes = k;
            continue;
        }
        if (cli_opt(n, args, &i, "--causal", &v)) {
            int k = cli_int_list(v, 0, o->causal, 2);
            for (int j = 0; j < k; j++)
                if (o->causal[j] > 1) k = -1;
            if (k < 0) return cli_error("run", "bad --causal value '%s' (0, 1 or 0,1)", v ? v : "");
            o->n_causal = k;
            continue;
        }
        if (cli_opt(n, args, &i, "--param", &v)) {
            const char *eq = v ? strchr(v, '=') : NULL;
            if (!eq || eq == v || (size_t)(eq - v) >= sizeof o->param_key[0] ||
                o->n_params == MAX_PARAM_KEYS)
                return cli_error("run", "bad --param '%s' (KEY=VALUE[,VALUE...])", v ? v : "");
            int k = o->n_params;
            snprintf(o->param_key[k], sizeof o->param_key[k], "%.*s", (int)(eq - v), v);
            int m = cli_word_list(eq + 1, o->param_vals[k], sizeof o->param_vals[k],
                                  o->param_val[k], CLI_LIST_MAX);
            if (m < 0) return cli_error("run", "bad --param '%s'", v);
            for (int j = 0; j < m; j++)
                if (strchr(o->param_val[k][j], '='))
                    return cli_error("run", "bad --param '%s'", v);
            o->n_param_val[k] = m;
            o->n_params++;
            continue;
        }
        if (cli_opt(n, args, &i, "--backend", &v)) {
            if (!v || (strcmp(v, "cuda") && strcmp(v, "cpu")))
                return cli_error("run", "unknown backend '%s' (cuda or cpu)", v ? v : "");
            o->cpu = strcmp(v, "cpu") == 0;
            continue;
        }
        if (cli_opt(n, args, &i, "--db", &v)) {
            if (!v || !*v) return cli_error("run", "--db needs a path");
            o->db = v;
            continue;
        }
        if (cli_opt(n, args, &i, "--tag", &v)) {
            if (!v) return cli_error("run", "--tag needs a value");
            o->tag = v;
            continue;
        }
        if (cli_opt(n, args, &i, "--save-tensors", &v)) {
            if (!v || !*v) return cli_error("run", "--save-tensors needs a directory");
            o->save_dir = v;
            continue;
        }
        if (cli_opt(n, args, &i, "--seed", &v)) {
            char *end;
            errno = 0;
            unsigned long long s = v ? strtoull(v, &end, 10) : 0;
            if (!v || end == v || *end || errno) return cli_error("run", "bad --seed value '%s'", v ? v : "");
            o->seed = s;
            continue;
        }
        if (cli_opt(n, args, &i, "--init", &v)) {
            if (!v || attn_init_parse(v, &o->init))
                return cli_error("run", "unknown --init '%s' (normal or outliers)", v ? v : "");
            continue;
        }
        if (cli_opt(n, args, &i, "--cache", &v)) {
            if (!v || (strcmp(v, "cold") && strcmp(v, "hot")))
                return cli_error("run", "unknown --cache '%s' (cold or hot)", v ? v : "");
            o->measure.cold = strcmp(v, "cold") == 0;
            continue;
        }
        if (cli_opt(n, args, &i, "--min-samples", &v)) {
            int x[1];
            if (cli_int_list(v, 1, x, 1) != 1) return cli_error("run", "bad --min-samples value '%s'", v ? v : "");
            o->measure.min_samples = x[0];
            continue;
        }
        if (cli_opt(n, args, &i, "--target-ci", &v)) {
            if (cli_fraction(v, &o->measure.target_ci) || o->measure.target_ci <= 0)
                return cli_error("run", "bad --target-ci value '%s' (e.g. 1%%)", v ? v : "");
            continue;
        }
        if (cli_opt(n, args, &i, "--max-time", &v)) {
            if (cli_seconds(v, &o->measure.max_time))
                return cli_error("run", "bad --max-time value '%s' (e.g. 2s, 500ms)", v ? v : "");
            continue;
        }
        return cli_error("run", "unknown option '%s' (attnbench run --help)", a);
    }
    if (o->measure.min_samples > o->measure.max_samples) o->measure.max_samples = o->measure.min_samples;
    /* Variants. */
    if (variants) {
        char *w[64];
        int k = cli_word_list(variants, variant_buf, sizeof variant_buf, w, 64);
        if (k < 0) return cli_error("run", "bad --variants value '%s'", variants);
        for (int j = 0; j < k; j++) {
            const attn_variant *v = attn_variant_find(w[j]);
            if (!v) return cli_error("run", "unknown variant '%s' (attnbench list)", w[j]);
            o->variants[o->n_variants++] = v;
        }
    } else {
        for (const attn_variant *const *v = attn_variants; *v; v++) o->variants[o->n_variants++] = *v;
    }
    if (o->spin_variant) {
        int listed = 0;
        for (int j = 0; j < o->n_variants; j++) listed |= o->variants[j] == o->spin_variant;
        if (!listed || o->cpu)
            return cli_error("run", "--debug-spin needs the GPU backend and '%s' among --variants",
                             o->spin_variant->name);
    }
    for (int k = 0; k < o->n_params; k++) {
        int used = 0;
        for (int j = 0; j < o->n_variants; j++) used |= variant_reads(o->variants[j], o->param_key[k]);
        if (!used) return cli_error("run", "no selected variant reads --param '%s'", o->param_key[k]);
    }
    return 0;
}

/* ---------------------------------------------------------------- the list of points */

typedef struct shape {
    attn_point p; /* params empty */
} shape;

/* Every shape of the sweep, validated. Returns the count or -1 (usage error printed). */
static int make_shapes(const run_opts *o, shape **out)
{
    int n_b = o->tokens ? 1 : o->n_batch, n_h = o->model_dim ? 1 : o->n_heads;
    int n_kv = o->n_kv_heads ? o->n_kv_heads : 1;
    size_t cap = (size_t)o->n_dtypes * o->n_head_dim * o->n_causal * o->n_seq * n_b * n_h * n_kv;
    if (cap > 100000) return cli_error("run", "the sweep has %zu shapes; at most 100000", cap), -1;
    shape *s = calloc(cap ? cap : 1, sizeof *s);
    int n = 0;
    for (int t = 0; t < o->n_dtypes; t++)
        for (int d = 0; d < o->n_head_dim; d++)
            for (int c = 0; c < o->n_causal; c++)
                for (int h = 0; h < n_h; h++)
                    for (int kv = 0; kv < n_kv; kv++)
                        for (int b = 0; b < n_b; b++)
                            for (int q = 0; q < o->n_seq; q++) {
                                attn_point p = {0};
                                p.dtype = o->dtypes[t];
                                p.head_dim = o->head_dim[d];
                                p.causal = o->causal[c];
                                p.seq = o->seq[q];
                                p.heads = o->model_dim ? o->model_dim / p.head_dim : o->heads[h];
                                p.kv_heads = o->n_kv_heads ? o->kv_heads[kv] : p.heads;
                                p.batch = o->tokens ? (o->tokens / p.seq > 0 ? o->tokens / p.seq : 1)
                                                    : o->batch[b];
                                if (o->model_dim && o->model_dim % p.head_dim) {
                                    free(s);
                                    return cli_error("run", "--model-dim %d is not a multiple of "
                                                     "head dim %d", o->model_dim, p.head_dim), -1;
                                }
                                const char *bad = attn_point_invalid(&p);
                                if (bad) {
                                    free(s);
                                    return cli_error("run", "%s (H=%d, H_kv=%d)", bad, p.heads,
                                                     p.kv_heads), -1;
                                }
                                s[n++].p = p;
                            }
    *out = s;
    return n;
}

/* The parameter combinations variant v runs with: the cartesian product of the --param lists it
 * reads, as "key=value,..." strings into combos (each ATTN_PARAMS_MAX). Returns the count. */
static int param_combos(const run_opts *o, const attn_variant *v, char (*combos)[ATTN_PARAMS_MAX],
                        int max)
{
    int idx[MAX_PARAM_KEYS] = {0}, n = 0;
    for (;;) {
        if (n == max) return n;
        char *c = combos[n++];
        c[0] = 0;
        for (int k = 0; k < o->n_params; k++)
            if (variant_reads(v, o->param_key[k])) {
                size_t len = strlen(c);
                snprintf(c + len, ATTN_PARAMS_MAX - len, "%s%s=%s", len ? "," : "",
                         o->param_key[k], o->param_val[k][idx[k]]);
            }
        int k = 0; /* odometer over the keys v reads */
        for (; k < o->n_params; k++) {
            if (!variant_reads(v, o->param_key[k])) continue;
            if (++idx[k] < o->n_param_val[k]) break;
            idx[k] = 0;
        }
        if (k == o->n_params) return n;
    }
}

/* ---------------------------------------------------------------- progress */

typedef struct progress {
    int quiet, done, total;
    double t0;
} progress;

static void progress_show(progress *pr, const char *variant, const attn_point *p)
{
    if (pr->quiet) return;
    char shape_text[160], eta[32] = "";
    double el = attn_now() - pr->t0;
    if (pr->done > 0) {
        int s = (int)(el / pr->done * (pr->total - pr->done));
        snprintf(eta, sizeof eta, " ETA %dm%02ds", s / 60, s % 60);
    }
    fprintf(stderr, "\r\033[K[%d/%d] %s %s%s", pr->done + 1, pr->total, variant,
            attn_point_format(p, shape_text, sizeof shape_text), eta);
    fflush(stderr);
}

/* ---------------------------------------------------------------- one shape */

/* What every variant at one shape shares. */
typedef struct shape_ctx {
    attn_point p;
    const run_opts *o;
    void *hq, *hk, *hv;            /* host inputs in the dtype */
    float *fq, *fk, *fv;           /* widened */
    attn_host_inputs in;
    attn_row *rows;                /* rows compared */
    size_t n_rows;
    double *ref;                   /* fp64 reference at those rows (lazily) */
    /* GPU backend */
    void *dq, *dk, *dv, *dout;
    void *hout;                    /* host copy of O in the dtype */
    /* CPU backend */
    attn_row *all_rows;
    size_t n_all;
    float *cpu_out;                /* all rows' output */
} shape_ctx;

static void shape_free(shape_ctx *c)
{
    free(c->hq), free(c->hk), free(c->hv), free(c->fq), free(c->fk), free(c->fv);
    free(c->rows), free(c->ref), free(c->hout), free(c->all_rows), free(c->cpu_out);
    if (c->dq) cudaFree(c->dq);
    if (c->dk) cudaFree(c->dk);
    if (c->dv) cudaFree(c->dv);
    if (c->dout) cudaFree(c->dout);
    memset(c, 0, sizeof *c);
}

static float *widen(attn_dtype t, const void *src, size_t n)
{
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; f && i < n; i++) f[i] = attn_load(t, src, i);
    return f;
}

/* Host inputs (made on the GPU and copied back, or made on the host), widened; the rows to check. */
static int shape_setup(shape_ctx *c, cudaStream_t stream)
{
    const attn_point *p = &c->p;
    size_t es = attn_dtype_size(p->dtype), nq = attn_q_elems(p), nkv = attn_kv_elems(p);
    c->hq = malloc(nq * es), c->hk = malloc(nkv * es), c->hv = malloc(nkv * es);
    if (!c->hq || !c->hk || !c->hv) return attn_fail("out of host memory for inputs");
    if (c->o->cpu) {
        attn_fill_host(c->hq, p->dtype, nq, c->o->seed, ATTN_TENSOR_Q, c->o->init, p->head_dim);
        attn_fill_host(c->hk, p->dtype, nkv, c->o->seed, ATTN_TENSOR_K, c->o->init, p->head_dim);
        attn_fill_host(c->hv, p->dtype, nkv, c->o->seed, ATTN_TENSOR_V, c->o->init, p->head_dim);
    } else {
        CUDA_CHECK(cudaMalloc(&c->dq, nq * es));
        CUDA_CHECK(cudaMalloc(&c->dk, nkv * es));
        CUDA_CHECK(cudaMalloc(&c->dv, nkv * es));
        CUDA_CHECK(cudaMalloc(&c->dout, nq * es));
        ATTN_TRY(attn_fill_device(c->dq, p->dtype, nq, c->o->seed, ATTN_TENSOR_Q, c->o->init, p->head_dim, stream));
        ATTN_TRY(attn_fill_device(c->dk, p->dtype, nkv, c->o->seed, ATTN_TENSOR_K, c->o->init, p->head_dim, stream));
        ATTN_TRY(attn_fill_device(c->dv, p->dtype, nkv, c->o->seed, ATTN_TENSOR_V, c->o->init, p->head_dim, stream));
        CUDA_CHECK(cudaMemcpyAsync(c->hq, c->dq, nq * es, cudaMemcpyDeviceToHost, stream));
        CUDA_CHECK(cudaMemcpyAsync(c->hk, c->dk, nkv * es, cudaMemcpyDeviceToHost, stream));
        CUDA_CHECK(cudaMemcpyAsync(c->hv, c->dv, nkv * es, cudaMemcpyDeviceToHost, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
        c->hout = malloc(nq * es);
        if (!c->hout) return attn_fail("out of host memory for the output");
    }
    c->fq = widen(p->dtype, c->hq, nq), c->fk = widen(p->dtype, c->hk, nkv);
    c->fv = widen(p->dtype, c->hv, nkv);
    if (!c->fq || !c->fk || !c->fv) return attn_fail("out of host memory for inputs");
    c->in = (attn_host_inputs){c->fq, c->fk, c->fv};
    c->n_rows = attn_sample_rows(p, CHECK_BUDGET, &c->rows);
    if (c->o->cpu) {
        c->n_all = (size_t)p->batch * p->heads * p->seq;
        c->all_rows = malloc(c->n_all * sizeof *c->all_rows);
        c->cpu_out = malloc(c->n_all * p->head_dim * sizeof *c->cpu_out);
        if (!c->all_rows || !c->cpu_out) return attn_fail("out of host memory for the output");
        size_t n = 0;
        for (int b = 0; b < p->batch; b++)
            for (int h = 0; h < p->heads; h++)
                for (int s = 0; s < p->seq; s++) c->all_rows[n++] = (attn_row){b, h, s};
    }
    return ATTN_OK;
}

static const double *shape_reference(shape_ctx *c)
{
    if (!c->ref) {
        c->ref = malloc(c->n_rows * c->p.head_dim * sizeof *c->ref);
        if (c->ref) attn_reference_rows(&c->p, &c->in, c->rows, c->n_rows, c->ref);
    }
    return c->ref;
}

static size_t row_offset(const attn_point *p, const attn_row *r)
{
    return (((size_t)r->b * p->heads + r->h) * p->seq + r->s) * p->head_dim;
}

/* ---------------------------------------------------------------- one variant at one point */

typedef struct gpu_run_ctx {
    const attn_variant *v;
    void *state;
    attn_device_io io;
    uint64_t spin_ns; /* --debug-spin: busy-wait added after each timed run */
} gpu_run_ctx;

/* One timed forward pass (warm-ups and samples; the check runs the variant alone). */
static int gpu_run(void *ctx, cudaStream_t stream)
{
    gpu_run_ctx *g = ctx;
    ATTN_TRY(g->v->run(g->state, &g->io, stream));
    return g->spin_ns ? attn_spin(g->spin_ns, stream) : ATTN_OK;
}

/* The checked run: workspace, prepare, output poisoned (all-ones bytes are NaN in every dtype,
 * so an unwritten element fails the check), one run, the output copied to c->hout. ATTN_SKIP
 * when prepare says the point cannot run here. */
static int gpu_check_run(shape_ctx *c, const attn_point *p, cudaStream_t stream, size_t ws_bytes,
                         void **ws, gpu_run_ctx *g)
{
    size_t out_bytes = attn_q_elems(p) * attn_dtype_size(p->dtype);
    if (ws_bytes) CUDA_CHECK(cudaMalloc(ws, ws_bytes));
    ATTN_TRY(g->v->prepare(p, *ws, stream, &g->state));
    CUDA_CHECK(cudaMemsetAsync(c->dout, 0xff, out_bytes, stream));
    ATTN_TRY(g->v->run(g->state, &g->io, stream));
    CUDA_CHECK(cudaMemcpyAsync(c->hout, c->dout, out_bytes, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    return ATTN_OK;
}

typedef struct cpu_run_ctx {
    const attn_variant *v;
    shape_ctx *c;
    const attn_point *p;
} cpu_run_ctx;

static int cpu_run(void *ctx)
{
    cpu_run_ctx *k = ctx;
    return k->v->cpu_rows(k->p, &k->c->in, k->c->all_rows, k->c->n_all, k->c->cpu_out);
}

static void fill_errors(store_errors *e, const attn_check_result *r)
{
    e->max_abs = r->max_abs, e->rel_l2 = r->rel_l2, e->cosine = r->cosine;
}

/* Checks the output rows `out` (float, already rounded to the dtype); sets status, reason and
 * metrics in sp. Returns 1 when the point passed. */
static int check_output(shape_ctx *c, const attn_variant *v, const attn_point *p,
                        const float *out, store_point *sp, char *reason, size_t rn)
{
    size_t n = c->n_rows * p->head_dim;
    const double *ref = shape_reference(c);
    double *target = NULL;
    if (!ref) return attn_fail("out of host memory for the reference"), -1;
    attn_check_result exact, r;
    attn_check(out, ref, c->n_rows, p->head_dim, attn_tolerance(p->dtype), &exact);
    if (v->exact) {
        r = exact;
    } else { /* an approximation: checked against its own CPU algorithm on the same rows */
        float *cpu = malloc(n * sizeof *cpu);
        target = malloc(n * sizeof *target);
        if (!cpu || !target || v->cpu_rows(p, &c->in, c->rows, c->n_rows, cpu) != ATTN_OK) {
            free(cpu), free(target);
            return attn_fail("CPU implementation of %s failed: %s", v->name, attn_last_error.msg), -1;
        }
        for (size_t i = 0; i < n; i++) target[i] = attn_round(p->dtype, cpu[i]);
        free(cpu);
        attn_check(out, target, c->n_rows, p->head_dim, attn_tolerance(p->dtype), &r);
    }
    fill_errors(&sp->check, &r);
    fill_errors(&sp->vs_exact, &exact);
    sp->check_rows = (int)c->n_rows;
    int ok = attn_check_passed(&r);
    if (!ok && r.n_bad == 0) {
        snprintf(reason, rn, "relative L2 error %.3g over %zu checked elements exceeds %.3g",
                 r.rel_l2, r.n, r.tol / 8);
    } else if (!ok) {
        size_t i = r.first_bad, row = i / p->head_dim;
        const attn_row *w = &c->rows[row];
        snprintf(reason, rn,
                 "%zu of %zu checked elements outside tolerance %.3g (%zu non-finite); first at "
                 "b=%d h=%d s=%d d=%zu: got %.6g, want %.6g",
                 r.n_bad, r.n, r.tol, r.n_nonfinite, w->b, w->h, w->s, i % p->head_dim, out[i],
                 v->exact ? ref[i] : target[i]);
    }
    if (!ok) {
        sp->status = "failed";
        sp->reason = reason;
    }
    free(target);
    return ok;
}

/* After a failed CUDA step: out of memory → skipped; a sticky error (the context is lost) →
 * returns 1 (abort the run); anything else → error. Clears the non-sticky error state. */
static int classify_gpu_failure(store_point *sp, char *reason, size_t rn)
{
    snprintf(reason, rn, "%s", attn_last_error.msg);
    sp->reason = reason;
    if (attn_last_error.out_of_memory) {
        sp->status = "skipped";
        cudaGetLastError();
        return 0;
    }
    sp->status = "error";
    cudaError_t sticky = cudaDeviceSynchronize();
    cudaGetLastError();
    return sticky != cudaSuccess;
}

typedef struct point_result {
    store_point sp;
    attn_samples samples;
    attn_profile profile;           /* GPU: per-sample details and kernel records */
    char reason[1024];
    char config[256];
    int abort;
    attn_metric_values metrics;     /* --metrics: the counters of the point's own pass */
    char metrics_err[768];          /* the pass failed: why ("" when it did not) */
} point_result;

/* --metrics: 1 while the range profiler is set up and has not failed in this run. */
static int metrics_on;

/* The metrics pass replays the variant alone (no --debug-spin kernel). */
static int metrics_run(void *ctx, cudaStream_t stream)
{
    gpu_run_ctx *g = ctx;
    return g->v->run(g->state, &g->io, stream);
}

/* The hardware-counter pass of an ok point, after its timed samples. A failure turns the metrics
 * off for the rest of the run (the point stays ok); a sticky CUDA error aborts the run. */
static void metrics_pass(gpu_run_ctx *g, cudaStream_t stream, point_result *res)
{
    attn_nvtx_push("metrics");
    int rc = attn_metrics_collect(metrics_run, g, stream, &res->metrics);
    attn_nvtx_pop();
    if (rc == ATTN_OK) return;
    res->metrics.n = 0;
    snprintf(res->metrics_err, sizeof res->metrics_err, "%s", attn_last_error.msg);
    res->abort = cudaDeviceSynchronize() != cudaSuccess;
    cudaGetLastError();
}

static void run_point_gpu(shape_ctx *c, const attn_variant *v, const attn_point *p,
                          cudaStream_t stream, void *flush, size_t flush_bytes, point_result *res)
{
    store_point *sp = &res->sp;
    const char *why = v->supports(p);
    if (why) {
        sp->status = "skipped", sp->reason = why;
        return;
    }
    size_t ws_bytes = v->workspace_bytes ? v->workspace_bytes(p) : 0;
    sp->device_bytes += (double)ws_bytes;
    void *ws = NULL;
    gpu_run_ctx g = {v, NULL, {c->dq, c->dk, c->dv, c->dout}, 0};
    if (c->o->spin_variant == v) g.spin_ns = (uint64_t)c->o->spin_us * 1000;
    int rc = gpu_check_run(c, p, stream, ws_bytes, &ws, &g);
    if (rc == ATTN_SKIP) {
        snprintf(res->reason, sizeof res->reason, "%s", attn_last_error.msg);
        sp->status = "skipped", sp->reason = res->reason;
        goto out;
    }
    if (rc != ATTN_OK) {
        res->abort = classify_gpu_failure(sp, res->reason, sizeof res->reason);
        goto out;
    }
    if (v->describe) v->describe(g.state, res->config, sizeof res->config);
    if (g.spin_ns) { /* the point carries the knob, so no one mistakes it for the variant's speed */
        size_t len = strlen(res->config);
        snprintf(res->config + len, sizeof res->config - len, "%sdebug_spin_us=%d", len ? " " : "",
                 c->o->spin_us);
    }
    if (res->config[0]) sp->config = res->config;
    size_t n = c->n_rows * p->head_dim;
    float *out = malloc(n * sizeof *out);
    if (!out) {
        attn_fail("out of host memory");
        sp->status = "error", sp->reason = attn_last_error.msg;
        goto out;
    }
    for (size_t i = 0; i < c->n_rows; i++)
        for (int d = 0; d < p->head_dim; d++)
            out[i * p->head_dim + d] = attn_load(p->dtype, c->hout, row_offset(p, &c->rows[i]) + d);
    int ok = check_output(c, v, p, out, sp, res->reason, sizeof res->reason);
    free(out);
    if (ok < 0) {
        snprintf(res->reason, sizeof res->reason, "%s", attn_last_error.msg);
        sp->status = "error", sp->reason = res->reason;
        goto out;
    }
    if (ok && c->o->save_dir) {
        char path[PATH_MAX];
        size_t shape4[4] = {(size_t)p->batch, (size_t)p->heads, (size_t)p->seq, (size_t)p->head_dim};
        snprintf(path, sizeof path, "%s/o_%s.npy", c->o->save_dir, v->name);
        if (attn_npy_write(path, p->dtype, c->hout, 4, shape4) != ATTN_OK)
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    }
    if (ok) {
        rc = attn_measure_gpu(&c->o->measure, gpu_run, &g, stream, flush, flush_bytes, &res->samples,
                              &res->profile);
        if (rc != ATTN_OK) {
            res->abort = classify_gpu_failure(sp, res->reason, sizeof res->reason);
            goto out;
        }
        attn_summarize(&res->samples, &sp->timing);
        attn_summarize_profile(&res->samples, &res->profile, sp);
        if (metrics_on) metrics_pass(&g, stream, res);
    }
out:
    if (v->release && g.state) v->release(g.state);
    if (ws) cudaFree(ws);
}

static void run_point_cpu(shape_ctx *c, const attn_variant *v, const attn_point *p, point_result *res)
{
    store_point *sp = &res->sp;
    const char *why = v->supports(p);
    if (why) {
        sp->status = "skipped", sp->reason = why;
        return;
    }
    cpu_run_ctx k = {v, c, p};
    size_t n_out = c->n_all * p->head_dim;
    for (size_t i = 0; i < n_out; i++) c->cpu_out[i] = NAN; /* poison */
    int rc = cpu_run(&k);
    if (rc != ATTN_OK) {
        snprintf(res->reason, sizeof res->reason, "%s", attn_last_error.msg);
        sp->status = rc == ATTN_SKIP ? "skipped" : "error", sp->reason = res->reason;
        return;
    }
    /* Round to the dtype as a GPU store would, then compare the sampled rows. */
    size_t n = c->n_rows * p->head_dim;
    float *out = malloc(n * sizeof *out);
    void *full = c->o->save_dir ? malloc(n_out * attn_dtype_size(p->dtype)) : NULL;
    if (!out) {
        free(full);
        sp->status = "error", sp->reason = "out of host memory";
        return;
    }
    for (size_t i = 0; i < c->n_rows; i++) {
        const attn_row *r = &c->rows[i];
        size_t all = ((size_t)r->b * p->heads + r->h) * p->seq + r->s; /* index in all_rows */
        for (int d = 0; d < p->head_dim; d++)
            out[i * p->head_dim + d] = attn_round(p->dtype, c->cpu_out[all * p->head_dim + d]);
    }
    int ok = check_output(c, v, p, out, sp, res->reason, sizeof res->reason);
    free(out);
    if (ok < 0) {
        free(full);
        snprintf(res->reason, sizeof res->reason, "%s", attn_last_error.msg);
        sp->status = "error", sp->reason = res->reason;
        return;
    }
    if (ok && full) {
        char path[PATH_MAX];
        size_t shape4[4] = {(size_t)p->batch, (size_t)p->heads, (size_t)p->seq, (size_t)p->head_dim};
        for (size_t i = 0; i < n_out; i++) attn_store(p->dtype, full, i, c->cpu_out[i]);
        snprintf(path, sizeof path, "%s/o_%s.npy", c->o->save_dir, v->name);
        if (attn_npy_write(path, p->dtype, full, 4, shape4) != ATTN_OK)
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    }
    free(full);
    if (ok) {
        if (attn_measure_cpu(&c->o->measure, cpu_run, &k, &res->samples) != ATTN_OK) {
            snprintf(res->reason, sizeof res->reason, "%s", attn_last_error.msg);
            sp->status = "error", sp->reason = res->reason;
            return;
        }
        attn_summarize(&res->samples, &sp->timing);
        res->profile.method = "cpu_clock";
        attn_summarize_profile(&res->samples, &res->profile, sp);
    }
}

static int save_inputs(const shape_ctx *c)
{
    const attn_point *p = &c->p;
    size_t sq[4] = {(size_t)p->batch, (size_t)p->heads, (size_t)p->seq, (size_t)p->head_dim};
    size_t skv[4] = {(size_t)p->batch, (size_t)p->kv_heads, (size_t)p->seq, (size_t)p->head_dim};
    const char *names[3] = {"q", "k", "v"};
    const void *data[3] = {c->hq, c->hk, c->hv};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.npy", c->o->save_dir, names[i]);
        ATTN_TRY(attn_npy_write(path, p->dtype, data[i], 4, i ? skv : sq));
    }
    return ATTN_OK;
}

/* ---------------------------------------------------------------- the command */

/* The GPU's ceilings, stored with the run; a failure is reported and the run goes on. */
static void measure_ceilings(sqlite3 *db, int64_t run_id, cudaStream_t stream)
{
    attn_ceilings c;
    attn_nvtx_push("ceilings");
    int rc = attn_ceilings_measure(stream, &c);
    attn_nvtx_pop();
    char detail[128];
    snprintf(detail, sizeof detail, "cublasGemmEx %dx%dx%d fp32 accumulate, median of %d",
             c.gemm_n, c.gemm_n, c.gemm_n, c.reps);
    if (rc == ATTN_OK) rc = store_ceiling_add(db, run_id, "gemm", "bf16", c.gemm_bf16_tflops, "TFLOP/s", c.reps, detail);
    if (rc == ATTN_OK) rc = store_ceiling_add(db, run_id, "gemm", "fp16", c.gemm_fp16_tflops, "TFLOP/s", c.reps, detail);
    snprintf(detail, sizeof detail, "cudaMemcpyAsync DtoD of %.0f MiB, read + write bytes, median of %d",
             c.copy_bytes / (1 << 20), c.reps);
    if (rc == ATTN_OK) rc = store_ceiling_add(db, run_id, "copy", "", c.copy_gbps, "GB/s", c.reps, detail);
    if (rc != ATTN_OK) {
        fprintf(stderr, "attnbench run: ceilings not measured: %s\n", attn_last_error.msg);
        cudaGetLastError();
    } else {
        fprintf(stderr, "attnbench run: ceilings: GEMM bf16 %.0f, fp16 %.0f TFLOP/s; copy %.0f GB/s\n",
                c.gemm_bf16_tflops, c.gemm_fp16_tflops, c.copy_gbps);
    }
}

/* The run's own stream and the buffer whose memset flushes L2 between cold samples. */
static int gpu_setup(cudaStream_t *stream, void **flush, size_t flush_bytes)
{
    CUDA_CHECK(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc(flush, flush_bytes));
    return ATTN_OK;
}

static void join_args(int argc, char **argv, char *buf, size_t n)
{
    size_t len = snprintf(buf, n, "attnbench");
    for (int i = 0; i < argc && len < n; i++) len += snprintf(buf + len, n - len, " %s", argv[i]);
}

int cmd_run(int argc, char **argv)
{
    static run_opts o;
    static char sweep_buf[64 << 10];
    int rc = parse_args(argc, argv, &o, sweep_buf, sizeof sweep_buf);
    if (rc) return rc;
    shape *shapes;
    int n_shapes = make_shapes(&o, &shapes);
    if (n_shapes < 0) return CLI_USAGE;
    static char combos[64][CLI_LIST_MAX][ATTN_PARAMS_MAX];
    int n_combos[64], total = 0;
    for (int j = 0; j < o.n_variants; j++) {
        n_combos[j] = param_combos(&o, o.variants[j], combos[j], CLI_LIST_MAX);
        total += n_shapes * n_combos[j];
    }
    if (o.save_dir) {
        struct stat st;
        if (n_shapes != 1 || stat(o.save_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
            access(o.save_dir, W_OK) != 0) {
            free(shapes);
            if (n_shapes != 1)
                return cli_error("run", "--save-tensors needs exactly one shape (this sweep has %d)", n_shapes);
            return cli_error("run", "--save-tensors: '%s' is not a writable directory", o.save_dir);
        }
    }
    if (check_db_path(o.db)) {
        free(shapes);
        return CLI_USAGE;
    }

    attn_gpu_info gpu = {0};
    cudaStream_t stream = NULL;
    void *flush = NULL;
    size_t flush_bytes = 0;
    /* CUPTI must be set up before the first CUDA call. */
    int cupti_started = 0;
    if (!o.cpu && o.no_cupti) attn_cupti_disable("disabled by --no-cupti");
    else if (!o.cpu && !(cupti_started = attn_cupti_init() == ATTN_OK))
        fprintf(stderr, "attnbench run: CUPTI off, timing with CUDA events: %s\n", attn_cupti_reason());
    if (!o.cpu) {
        if (attn_gpu_open(&gpu) != ATTN_OK) {
            fprintf(stderr, "attnbench run: %s; nothing was run. Use --backend cpu to run the CPU "
                            "implementations instead.\n", attn_last_error.msg);
            free(shapes);
            return 1;
        }
        flush_bytes = 2 * (size_t)gpu.l2_bytes;
        o.measure.max_sm_mhz = gpu.clocks.max_sm_mhz;
        if (gpu_setup(&stream, &flush, flush_bytes) != ATTN_OK) {
            fprintf(stderr, "attnbench run: cannot set up the GPU: %s\n", attn_last_error.msg);
            free(shapes);
            return 1;
        }
    }

    /* --metrics: the range profiler is set up now (it needs the context); a clean skip with the
     * reason where counters are not permitted or not supported. */
    static char metrics_why[768];
    const char *metrics_reason = NULL;
    if (o.metrics) {
        if (o.cpu) metrics_reason = "no hardware counters on the CPU backend";
        else if (attn_metrics_open(o.metrics, metrics_why, sizeof metrics_why) == ATTN_OK) metrics_on = 1;
        else metrics_reason = metrics_why;
        if (metrics_on)
            fprintf(stderr, "attnbench run: --metrics %s: CUPTI range profiler on %s, %d pass(es) "
                    "per point, after its timed samples\n", o.metrics, attn_metrics_chip(),
                    attn_metrics_passes());
        else
            fprintf(stderr, "attnbench run: --metrics %s skipped: %s\n", o.metrics, metrics_reason);
    }

    sqlite3 *db;
    if (store_open(o.db, &db) != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        free(shapes);
        return strstr(attn_last_error.msg, "newer") ? CLI_USAGE : 1;
    }
    char command[4096], host[256] = "";
    join_args(argc - 1, argv + 1, command, sizeof command);
    gethostname(host, sizeof host - 1);
    store_run info = {
        .command = command, .host = host, .git_commit = ATTN_GIT_COMMIT, .git_dirty = ATTN_GIT_DIRTY,
        .backend = o.cpu ? "cpu" : "cuda", .gpu_name = o.cpu ? NULL : gpu.name,
        .driver_version = o.cpu ? NULL : gpu.driver, .cuda_runtime = o.cpu ? NULL : gpu.runtime,
        .cublas_version = o.cpu ? NULL : gpu.cublas, .tag = o.tag, .seed = o.seed,
        .init = attn_init_name(o.init), .cache_mode = o.cpu ? "hot" : o.measure.cold ? "cold" : "hot",
        .compiler = ATTN_BUILD_FLAGS,
        .sm_count = -1, .l2_bytes = -1, .mem_bytes = -1, .max_sm_clock_mhz = -1,
        .max_mem_clock_mhz = -1, .ecc = -1, .cupti = -1,
        .timing_method = o.cpu ? "cpu_clock" : attn_cupti_on() ? "cupti_span" : "events",
        .metrics = o.metrics, .metrics_reason = metrics_reason,
    };
    if (!o.cpu) {
        info.gpu_uuid = gpu.uuid, info.compute_capability = gpu.cc, info.sm_count = gpu.sm_count;
        info.l2_bytes = gpu.l2_bytes, info.mem_bytes = (int64_t)gpu.mem_total;
        info.max_sm_clock_mhz = gpu.clocks.max_sm_mhz ? gpu.clocks.max_sm_mhz : -1;
        info.max_mem_clock_mhz = gpu.clocks.max_mem_mhz ? gpu.clocks.max_mem_mhz : -1;
        info.ecc = gpu.clocks.ecc, info.driver_string = gpu.clocks.driver;
        info.cupti_version = gpu.cupti, info.cupti = attn_cupti_on();
        info.cupti_reason = attn_cupti_on() ? NULL : attn_cupti_reason();
        info.clock_source = gpu.clocks.source;
    }
    int64_t run_id;
    if (store_run_begin(db, &info, &run_id) != ATTN_OK) {
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
        store_close(db);
        free(shapes);
        return 1;
    }
    if (!o.cpu && !o.no_ceilings) measure_ceilings(db, run_id, stream);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!o.quiet) o.quiet = !isatty(STDERR_FILENO);
    fprintf(stderr, "attnbench run %lld: %d points (%d shapes × variants) on %s into %s\n",
            (long long)run_id, total, n_shapes, o.cpu ? "the CPU backend" : gpu.name, o.db);

    progress pr = {o.quiet, 0, total, attn_now()};
    int n_failed = 0, n_ok = 0, n_skipped = 0, n_metrics = 0;
    const char *run_status = "ok";
    char run_reason[1024] = "";
    for (int si = 0; si < n_shapes && !interrupted && !run_reason[0]; si++) {
        shape_ctx c = {.p = shapes[si].p, .o = &o};
        int setup = shape_setup(&c, stream);
        if (setup == ATTN_OK && o.save_dir && save_inputs(&c) != ATTN_OK) {
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
            setup = ATTN_ERR;
        }
        double input_bytes = (double)(2 * attn_q_elems(&c.p) + 2 * attn_kv_elems(&c.p)) * attn_dtype_size(c.p.dtype);
        for (int j = 0; j < o.n_variants && !interrupted && !run_reason[0]; j++) {
            const attn_variant *v = o.variants[j];
            for (int k = 0; k < n_combos[j] && !interrupted && !run_reason[0]; k++) {
                attn_point p = c.p;
                snprintf(p.params, sizeof p.params, "%s", combos[j][k]);
                progress_show(&pr, v->name, &p);
                point_result res = {0};
                store_point *sp = &res.sp;
                sp->variant = v->name, sp->is_baseline = v->baseline, sp->point = p;
                sp->status = "ok", sp->exact = v->exact;
                sp->kernel_count = sp->gap_share = NAN;
                sp->event_median_ns = sp->kernel_sum_median_ns = sp->span_median_ns = NAN;
                sp->check = sp->vs_exact = (store_errors){NAN, NAN, NAN};
                sp->dense_flops = attn_dense_flops(&p);
                sp->exec_flops = v->flops ? v->flops(&p) : sp->dense_flops;
                sp->bytes = v->bytes ? v->bytes(&p) : NAN;
                sp->device_bytes = o.cpu ? NAN : input_bytes;
                if (setup != ATTN_OK) {
                    snprintf(res.reason, sizeof res.reason, "inputs: %s", attn_last_error.msg);
                    sp->reason = res.reason;
                    sp->status = attn_last_error.out_of_memory ? "skipped" : "error";
                    if (!o.cpu && !attn_last_error.out_of_memory) res.abort = cudaDeviceSynchronize() != cudaSuccess;
                    cudaGetLastError();
                } else if (o.cpu) {
                    run_point_cpu(&c, v, &p, &res);
                } else {
                    char range[256], text[200];
                    snprintf(range, sizeof range, "%s %s", v->name, attn_point_format(&p, text, sizeof text));
                    attn_nvtx_push(range);
                    run_point_gpu(&c, v, &p, stream, flush, flush_bytes, &res);
                    attn_nvtx_pop();
                }
                int64_t point_id;
                if (store_point_add_full(db, run_id, sp, res.samples.ns, res.samples.throttled,
                                         res.samples.n, res.profile.info, res.profile.kernels,
                                         res.profile.n_kernels, &point_id) != ATTN_OK) {
                    snprintf(run_reason, sizeof run_reason, "storing a point: %s", attn_last_error.msg);
                    run_status = "aborted";
                } else if (res.metrics.n && attn_metrics_store(db, point_id, &res.metrics) != ATTN_OK) {
                    snprintf(run_reason, sizeof run_reason, "storing metrics: %s", attn_last_error.msg);
                    run_status = "aborted";
                }
                if (res.metrics.n) n_metrics++;
                if (res.metrics_err[0]) { /* off for the rest of the run, with the reason */
                    char text[200], why[1200];
                    metrics_on = 0;
                    snprintf(why, sizeof why, "range-profiler pass failed at %s %s (%d point(s) "
                             "collected before): %s", v->name, attn_point_format(&p, text, sizeof text),
                             n_metrics, res.metrics_err);
                    if (!o.quiet) fputs("\r\033[K", stderr);
                    fprintf(stderr, "attnbench run: --metrics off: %s\n", why);
                    if (attn_metrics_set_run_reason(db, run_id, why) != ATTN_OK)
                        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
                }
                attn_samples_free(&res.samples);
                attn_profile_free(&res.profile);
                if (strcmp(sp->status, "ok") == 0) n_ok++;
                else if (strcmp(sp->status, "skipped") == 0) n_skipped++;
                else {
                    n_failed++;
                    char text[200];
                    if (!o.quiet) fputs("\r\033[K", stderr);
                    fprintf(stderr, "%s %s %s: %s\n", sp->status, v->name,
                            attn_point_format(&p, text, sizeof text), sp->reason);
                }
                if (res.abort) {
                    snprintf(run_reason, sizeof run_reason, "sticky CUDA error at %s: %s", v->name,
                             sp->reason ? sp->reason : res.metrics_err);
                    run_status = "aborted";
                }
                pr.done++;
            }
        }
        shape_free(&c);
    }
    if (!o.quiet) fputs("\r\033[K", stderr);
    if (interrupted && !run_reason[0]) {
        run_status = "interrupted";
        snprintf(run_reason, sizeof run_reason, "interrupted after %d of %d points", pr.done, total);
    } else if (!run_reason[0] && n_failed) {
        run_status = "failed";
        snprintf(run_reason, sizeof run_reason, "%d point(s) failed or errored", n_failed);
    }
    if (o.metrics && !o.cpu) attn_metrics_close();
    if (cupti_started) {
        attn_cupti_shutdown();
        /* Turned off during the run (a CUPTI call failed): later points were timed with events. */
        if (strcmp(attn_cupti_reason(), "shut down") != 0 &&
            store_run_cupti_off(db, run_id, attn_cupti_reason()) != ATTN_OK)
            fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    }
    if (store_run_end(db, run_id, run_status, run_reason[0] ? run_reason : NULL) != ATTN_OK)
        fprintf(stderr, "attnbench run: %s\n", attn_last_error.msg);
    store_close(db);
    fprintf(stderr, "attnbench run %lld %s: %d ok, %d skipped, %d failed or errored%s%s\n",
            (long long)run_id, run_status, n_ok, n_skipped, n_failed, run_reason[0] ? " — " : "",
            run_reason);
    if (flush) cudaFree(flush);
    if (stream) cudaStreamDestroy(stream);
    free(shapes);
    return strcmp(run_status, "ok") == 0 ? 0 : 1;
}
