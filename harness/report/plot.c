/* plot.c — `attnbench plot`: the figures of one run. For each figure the harness writes a small CSV
 * (DIR/NAME.csv, from one SQL query through table_write) and runs a checked-in gnuplot script
 * (plots/SCRIPT.gp, arguments with `gnuplot -c`) that renders DIR/NAME.png and DIR/NAME.svg. Made on
 * the development machine from a database returned by the GPU machine (which has no gnuplot).
 *
 * Only ok points with a median appear as speeds; a shape a variant did not measure is a NaN row in
 * the CSV, so its line has a gap rather than a zero. */
#include "report/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "core/names.h"
#include "report/reader.h"
#include "report/table.h"
#include "store/store.h"

/* Every figure query binds ?1 the run, ?2 the baseline variant, ?3 the chosen S. `keyed` is the
 * run's points with their panel (head dim, causal flag) and series label: the variant, plus the
 * dtype, heads, batch and params where those vary within the panel (so no line mixes shapes);
 * `good` marks a point that may appear as a speed; `base_ns` is the baseline's median at its shape. */
#define KEYED                                                                                      \
    "WITH pts AS (SELECT * FROM points WHERE run_id = ?1),"                                        \
    " vary AS (SELECT head_dim, causal, count(DISTINCT dtype) > 1 AS v_dtype,"                     \
    "   count(DISTINCT heads || '/' || kv_heads) > 1 AS v_heads,"                                  \
    "   count(DISTINCT params) > 1 AS v_params,"                                                   \
    "   EXISTS (SELECT 1 FROM pts q WHERE q.head_dim = g.head_dim AND q.causal = g.causal"         \
    "     GROUP BY variant, dtype, heads, kv_heads, seq, params"                                   \
    "     HAVING count(DISTINCT batch) > 1) AS v_batch"                                            \
    "   FROM pts g GROUP BY head_dim, causal),"                                                    \
    " keyed AS (SELECT p.*,"                                                                       \
    "   'D=' || p.head_dim || CASE p.causal WHEN 1 THEN ' causal' ELSE ' non-causal' END AS panel," \
    "   replace(p.variant || CASE WHEN v_dtype THEN ' ' || p.dtype ELSE '' END"                    \
    "     || CASE WHEN v_heads THEN ' H=' || p.heads || '/' || p.kv_heads ELSE '' END"             \
    "     || CASE WHEN v_batch THEN ' B=' || p.batch ELSE '' END"                                  \
    "     || CASE WHEN v_params AND p.params <> '' THEN ' ' || p.params ELSE '' END,"              \
    "     ',', ' ') AS series,"                                                                    \
    "   p.variant || ' ' || p.heads || '/' || p.kv_heads || ' ' || p.batch || ' ' || p.params"       \
    "     AS ckey,"                                                                                 \
    "   p.status = 'ok' AND p.median_ns > 0 AS good,"                                              \
    "   (SELECT b.median_ns FROM pts b WHERE b.variant = ?2 AND b.status = 'ok'"                   \
    "     AND b.median_ns > 0 AND b.batch = p.batch AND b.heads = p.heads"                         \
    "     AND b.kv_heads = p.kv_heads AND b.seq = p.seq AND b.head_dim = p.head_dim"               \
    "     AND b.dtype = p.dtype AND b.causal = p.causal LIMIT 1) AS base_ns"                       \
    "   FROM pts p JOIN vary v USING (head_dim, causal))"

/* The SERIES argument of a figure whose data is %s: "COLOUR:KIND:LABEL" for each series with a
 * value in it (see plots/common.gp). COLOUR is the rank in the run (first measured first) of the
 * series' variant with its heads, batch and params, KIND the rank of its dtype: a variant's bf16 and
 * fp16 lines share a colour and differ in dash and marker fill, and colours agree across figures. */
static const char series_sql[] =
    "SELECT c || ':' || d || ':' || series FROM (" KEYED ","
    " cr AS (SELECT ckey, row_number() OVER (ORDER BY min(id)) AS c FROM keyed GROUP BY ckey),"
    " dr AS (SELECT dtype, row_number() OVER (ORDER BY min(id)) AS d FROM keyed GROUP BY dtype)"
    " SELECT series, min(id) AS first, min(c) AS c, min(d) AS d FROM keyed"
    "   JOIN cr USING (ckey) JOIN dr USING (dtype) GROUP BY series)"
    " WHERE series IN (SELECT series FROM (%s) WHERE y IS NOT NULL) ORDER BY first";

/* A measure against S for lines.gp: every series of a panel at every S of that panel, `value`
 * (over the point k, NULL where the series has no good point there), `ref` a reference line (over
 * the grid row g), `flag` 1 where the point is to be marked. */
#define LINES_SQL(series_filter, value, ref, flag)                                                 \
    KEYED ", grid AS (SELECT s.panel, s.series, s.head_dim, s.causal, q.seq"                      \
    "   FROM (SELECT DISTINCT panel, series, head_dim, causal FROM keyed WHERE " series_filter ") s" \
    "   JOIN (SELECT DISTINCT panel, seq FROM keyed) q USING (panel))"                            \
    " SELECT g.panel, g.series, g.seq AS S, " value " AS y, " ref " AS ref, " flag " AS flag,"    \
    " g.head_dim, g.causal"                                                                        \
    " FROM grid g LEFT JOIN keyed k ON k.panel = g.panel AND k.series = g.series"                 \
    "   AND k.seq = g.seq AND k.good"                                                              \
    " ORDER BY g.head_dim, g.causal, g.series, g.seq"

/* The rate the variant executes: its own FLOP count over the median (TFLOP/s). */
#define EXECUTED "k.exec_flops / k.median_ns / 1e3"

/* The measured compute ceiling of a series (TFLOP/s), from the summary's pct_of_compute_ceiling,
 * which relates each point's executed rate to the ceiling of the type it computes in; constant
 * along the series, so its line spans the panel. */
#define CEILING                                                                                    \
    "(SELECT avg(q.exec_flops / q.median_ns / 1e3 * 100 / s.pct_of_compute_ceiling)"              \
    "  FROM keyed q JOIN summary s ON s.point_id = q.id WHERE q.panel = g.panel"                   \
    "  AND q.series = g.series AND q.good AND s.pct_of_compute_ceiling > 0)"

/* An executed rate above the measured ceiling: impossible, so a wrong FLOP count or timing. */
#define ABOVE_CEILING                                                                              \
    "(SELECT s.pct_of_compute_ceiling > 100 FROM summary s WHERE s.point_id = k.id)"

/* Exact and approximate variants: speedup over the baseline against error vs exact attention;
 * `label` S for the approximate variants' points ("512", "16k"), `size` a marker size growing with
 * S's rank among the lengths drawn (0.7 to 2.1). */
#define ACCURACY_SQL                                                                               \
    KEYED ", ranks AS (SELECT seq, dense_rank() OVER (ORDER BY seq) - 1 AS r,"                    \
    "   count(*) OVER () - 1 AS n FROM (SELECT DISTINCT seq FROM keyed WHERE good AND base_ns > 0))" \
    " SELECT panel, series, base_ns / median_ns AS x, exact_rel_l2 AS y,"                         \
    " CASE WHEN exact = 0 THEN CASE WHEN seq >= 1024 AND seq % 1024 = 0 THEN seq / 1024 || 'k'"   \
    "   ELSE seq END ELSE '' END AS label,"                                                        \
    " 0.7 + 1.4 * r / max(n, 1) AS size, head_dim, causal"                                        \
    " FROM keyed JOIN ranks USING (seq) WHERE good AND base_ns > 0 AND exact_rel_l2 > 0"         \
    " ORDER BY head_dim, causal, series, seq"

/* Points that report the share of the attention they compute (a `density` quality metric: the
 * block-sparse variants), speedup and error: a series per variant, its parameters but the
 * density knobs (density=, tau=, keep=) and S, so that each series is one knob swept. */
#define DENSITY_CTE                                                                                \
    KEYED ", dens AS (SELECT k.panel, replace(k.variant || ' ' || attn_params_without(k.params,"  \
    "   'density,tau,keep') || ' S=' || k.seq, ',', ' ') AS series, m.value AS density,"           \
    "   k.base_ns / k.median_ns AS speedup, (SELECT e.value FROM metrics e WHERE"                  \
    "   e.point_id = k.id AND e.name = 'exact_rel_l1') AS rel_l1, k.head_dim, k.causal, k.id"      \
    "   FROM keyed k JOIN metrics m ON m.point_id = k.id AND m.name = 'density'"                   \
    "   WHERE k.good AND k.base_ns > 0)"
#define DENSITY_SPEEDUP_SQL                                                                        \
    DENSITY_CTE " SELECT panel, series, density AS x, speedup AS y, 1.0 / density AS ref,"        \
    " head_dim, causal FROM dens ORDER BY head_dim, causal, series, x"
#define DENSITY_ERROR_SQL                                                                          \
    DENSITY_CTE " SELECT panel, series, speedup AS x, rel_l1 AS y, NULL AS ref, head_dim, causal" \
    " FROM dens WHERE rel_l1 > 0 ORDER BY head_dim, causal, series, x"
#define DENSITY_SERIES                                                                             \
    DENSITY_CTE " SELECT row_number() OVER (ORDER BY min(id)) || ':1:' || series FROM dens"       \
    " GROUP BY series ORDER BY min(id)"
#define DENSITY_NEEDS                                                                              \
    "SELECT 1 FROM metrics m JOIN points p ON p.id = m.point_id WHERE p.run_id = ?1"              \
    " AND m.name = 'density'"

/* Kernel stages of each series' good point at S = ?3, as shares of the point's GPU span (first
 * kernel start to last kernel end, the `stages` view's `share`), stacked to 100 %: the largest at
 * the bottom, then the time the GPU ran none of the point's kernels within the span (when over 1 %).
 * Kernel names are shortened again from the full name (attn_short_name, registered by plot_render),
 * so databases recorded before a better short name gain it; segments under 0.1 % are left out.
 * `colour` numbers a panel's kernels by name without template arguments, in order of appearance
 * (so a kernel's bf16 and fp16 instantiations share a colour; 0: the idle part), `title` is that
 * colour's key entry; `top` marks a bar's last segment, where its span is written. */
#define STAGES_CTE                                                                                 \
    KEYED ", st0 AS (SELECT k.id, k.panel, k.series, k.head_dim, k.causal,"                       \
    "   coalesce((SELECT attn_short_name(n.name) FROM kernel_names n WHERE n.short_name = s.kernel" \
    "     ORDER BY n.id LIMIT 1), s.kernel) AS kernel, s.share * 100 AS pct,"                      \
    "   coalesce(k.span_median_ns, k.median_ns) / 1e6 AS span_ms"                                   \
    "   FROM keyed k JOIN stages s ON s.point_id = k.id WHERE k.good AND k.seq = ?3"               \
    "   AND s.share > 0),"                                                                         \
    " st1 AS (SELECT id, panel, series, head_dim, causal, kernel, sum(pct) AS pct,"                \
    "   max(span_ms) AS span_ms, 0 AS idle FROM st0 GROUP BY id, kernel"                          \
    "   UNION ALL SELECT id, panel, series, head_dim, causal, 'GPU idle within the span',"         \
    "   100 - sum(pct), max(span_ms), 1 FROM st0 GROUP BY id HAVING sum(pct) < 99),"               \
    " st AS (SELECT *, CASE WHEN instr(kernel, '<') > 1 THEN substr(kernel, 1, instr(kernel, '<') - 1)" \
    "   ELSE kernel END AS base FROM st1 WHERE pct >= 0.1),"                                       \
    " xs AS (SELECT series, row_number() OVER (ORDER BY min(id)) AS x FROM st GROUP BY series),"   \
    " ks AS (SELECT panel, base, CASE WHEN max(idle) THEN 0 ELSE row_number() OVER"               \
    "   (PARTITION BY panel ORDER BY max(idle), min(x), max(pct) DESC, base) END AS colour,"       \
    "   CASE WHEN count(DISTINCT kernel) > 1 THEN base || '<…> (' || count(DISTINCT kernel)"     \
    "   || ' instantiations)' ELSE min(kernel) END AS title,"                                      \
    "   min(head_dim) AS hd, min(causal) AS ca FROM st JOIN xs USING (series) GROUP BY panel, base)"
#define STAGES_SQL                                                                                 \
    STAGES_CTE " SELECT panel, replace(replace(kernel, ',', ';'), '\"', '''') AS kernel, x,"       \
    " y - pct AS ylow, y, colour, top, span_ms, head_dim, causal FROM"                            \
    " (SELECT st.*, xs.x, ks.colour, sum(pct) OVER (PARTITION BY id ORDER BY idle, pct DESC,"     \
    "   kernel ROWS UNBOUNDED PRECEDING) AS y, row_number() OVER (PARTITION BY id"                \
    "   ORDER BY idle DESC, pct, kernel DESC) = 1 AS top"                                          \
    "   FROM st JOIN xs USING (series) JOIN ks USING (panel, base))"                             \
    " ORDER BY head_dim, causal, x, ylow"
/* The KERNELS argument of stages.gp: "PANEL|COLOUR|KERNEL" for each kernel of each panel. */
#define STAGES_KERNELS                                                                             \
    STAGES_CTE " SELECT panel || '|' || colour || '|' || replace(title, '\"', '''') FROM ks"       \
    " ORDER BY hd, ca, colour = 0, colour"

/* Each series of the run at S = ?3 over the runs with the same tag on the same GPU, up to this one:
 * median with its p10..p90 band; a run without a good point there is a gap. */
#define HISTORY_SQL                                                                                \
    KEYED ", hist AS (SELECT r.id FROM runs r JOIN runs me ON me.id = ?1 WHERE r.id <= me.id"     \
    "   AND r.tag IS me.tag AND r.backend = me.backend AND r.gpu_name IS me.gpu_name)"            \
    " SELECT k.panel, k.series, h.id AS x, o.median_ns / 1e6 AS y, o.p10_ns / 1e6 AS lo,"         \
    "   o.p90_ns / 1e6 AS hi, k.head_dim, k.causal"                                                \
    " FROM keyed k CROSS JOIN hist h LEFT JOIN points o ON o.run_id = h.id"                       \
    "   AND o.variant = k.variant AND o.dtype = k.dtype AND o.batch = k.batch"                    \
    "   AND o.heads = k.heads AND o.kv_heads = k.kv_heads AND o.seq = k.seq"                      \
    "   AND o.head_dim = k.head_dim AND o.causal = k.causal AND o.params = k.params"              \
    "   AND o.status = 'ok' AND o.median_ns > 0"                                                   \
    " WHERE k.seq = ?3 ORDER BY k.head_dim, k.causal, k.series, h.id"

typedef struct figure {
    const char *name;     /* file name (no extension): what the figure shows */
    const char *script;   /* plots/SCRIPT.gp */
    const char *title;    /* before the run's description; "%d" takes S */
    const char *ylabel;
    const char *options;  /* the script's OPTIONS argument */
    const char *data;     /* columns panel, series, x, y, … , head_dim, causal */
    const char *ceiling;  /* data with a compute ceiling (option "ref") and points above it marked
                           * (option "flag"), when the run has a ceiling / points above it */
    const char *words;    /* the SERIES argument; NULL: series_sql over the data */
    const char *words2;   /* a second word list for the script, or NULL */
    const char *needs;    /* a row when the figure applies to the run; NULL: always */
    const char *why_not;  /* the note when `needs` finds none */
} figure;

static const figure figures[] = {
    {"latency_vs_seq", "lines", "Latency vs sequence length", "median latency (ms)", "logy",
     LINES_SQL("1", "k.median_ns / 1e6", "NULL", "NULL"), NULL, NULL, NULL, NULL, NULL},
    {"tflops_vs_seq", "lines", "Executed throughput vs sequence length",
     "executed TFLOP/s (FLOP the variant executes / median time)", "autolog",
     LINES_SQL("1", EXECUTED, "NULL", "NULL"), LINES_SQL("1", EXECUTED, CEILING, ABOVE_CEILING),
     NULL, NULL, NULL, NULL},
    {"speedup_vs_baseline", "lines", "Speedup over the baseline",
     "speedup (baseline median / variant median)", "logy one keybr",
     LINES_SQL("variant <> ?2", "k.base_ns / k.median_ns", "NULL", "NULL"), NULL, NULL, NULL,
     "SELECT 1 FROM points WHERE run_id = ?1 AND variant = ?2 AND status = 'ok'",
     "no ok baseline point in the run"},
    {"memory_vs_seq", "lines", "Peak device memory vs sequence length",
     "device memory: inputs + output + workspace (MiB)", "logy",
     LINES_SQL("1", "k.device_bytes / 1048576.0", "NULL", "NULL"), NULL, NULL, NULL,
     "SELECT 1 FROM points WHERE run_id = ?1 AND device_bytes > 0",
     "no device memory recorded (the CPU backend records none)"},
    {"accuracy_vs_speedup", "accuracy", "Accuracy vs speedup over the baseline",
     "relative L2 error vs exact attention (log scale)", "", ACCURACY_SQL, NULL, NULL, NULL,
     "SELECT 1 FROM points WHERE run_id = ?1 AND exact = 0",
     "the run has no approximate variant"},
    {"speedup_vs_density", "tradeoff", "Speedup over the baseline vs kept-tile density",
     "speedup (baseline median / variant median, log scale)", "xdensity logy ref",
     DENSITY_SPEEDUP_SQL, NULL, DENSITY_SERIES, NULL, DENSITY_NEEDS,
     "no point of the run reports a density (block-sparse variants do)"},
    {"error_vs_speedup_by_density", "tradeoff", "Error vs speedup over the baseline, a line per density sweep",
     "relative L1 error vs exact attention (log scale)", "xspeedup logx logy", DENSITY_ERROR_SQL,
     NULL, DENSITY_SERIES, NULL, DENSITY_NEEDS,
     "no point of the run reports a density (block-sparse variants do)"},
    {"stages_at_seq", "stages", "Where the GPU time goes at S = %d",
     "share of the forward pass's GPU span (%)", "", STAGES_SQL, NULL,
     STAGES_CTE " SELECT series FROM xs ORDER BY x", STAGES_KERNELS,
     "SELECT 1 FROM stages s JOIN points p ON p.id = s.point_id WHERE p.run_id = ?1",
     "the run has no per-kernel records (CUPTI off or the CPU backend)"},
    {"history_at_seq", "history", "History at S = %d (runs with this tag on this device)",
     "median latency, band p10..p90 (ms)", "", HISTORY_SQL, NULL, NULL, NULL,
     "SELECT 1 FROM runs r JOIN runs me ON me.id = ?1 WHERE r.id < me.id AND r.tag IS me.tag"
     " AND r.backend = me.backend AND r.gpu_name IS me.gpu_name",
     "no earlier run with this run's tag on this device (a history needs two)"},
};

#define N_FIGURES ((int)(sizeof figures / sizeof figures[0]))
_Static_assert(N_FIGURES <= PLOT_MAX_FIGURES, "plot_figure arrays hold PLOT_MAX_FIGURES");

/* printf into a path (or query) buffer; ATTN_ERR when it does not fit. */
static int path_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int path_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len >= 0 && (size_t)len < n ? ATTN_OK : attn_fail("path too long: %.200s", buf);
}

/* The first executable `name` on PATH into path. */
static int find_on_path(const char *name, char *path, size_t n)
{
    const char *p = getenv("PATH");
    while (p && *p) {
        size_t len = strcspn(p, ":");
        if (len && path_fmt(path, n, "%.*s/%s", (int)len, p, name) == ATTN_OK &&
            access(path, X_OK) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* The scripts: ../plots next to the binary (build/attnbench → plots/), else ./plots. */
static int find_scripts(char *dir, size_t n)
{
    char exe[PATH_MAX], probe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (path_fmt(dir, n, "%s/../plots/", exe) == ATTN_OK &&
            path_fmt(probe, sizeof probe, "%scommon.gp", dir) == ATTN_OK &&
            access(probe, R_OK) == 0)
            return 1;
    }
    snprintf(dir, n, "plots/");
    return access("plots/common.gp", R_OK) == 0;
}

/* mkdir -p the output directory, then check it can be written: ATTN_SKIP with a sentence when not
 * (--out /proc/x, a file, a read-only directory). */
static int make_out_dir(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return attn_skip("output directory path too long: %.200s...", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return attn_skip("cannot create the output directory '%s': %s", path, strerror(errno));
        if (!c) break;
        *p = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return attn_skip("the output '%s' exists and is not a directory", path);
    if (access(path, W_OK | X_OK) != 0)
        return attn_skip("cannot write into the output directory '%s': %s", path, strerror(errno));
    return ATTN_OK;
}

int plot_check(sqlite3 *db, plot_request *r)
{
    if (!find_on_path("gnuplot", r->gnuplot, sizeof r->gnuplot))
        return attn_skip("gnuplot not found on PATH: install it (Debian/Ubuntu: apt-get install "
                         "gnuplot-nox)");
    if (!find_scripts(r->scripts, sizeof r->scripts))
        return attn_skip("figure scripts (plots/common.gp and the rest) not found next to the binary or in ./plots");
    table_bind b[] = {{NULL, r->run}, {r->baseline, 0}, {NULL, r->seq}};
    int64_t v;
    int found;
    if (r->baseline) {
        ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND variant = ?2", b, 2, &v,
                           &found));
        if (!found)
            return attn_skip("no variant '%s' in run %lld", r->baseline, (long long)r->run);
        snprintf(r->baseline_name, sizeof r->baseline_name, "%s", r->baseline);
    } else {
        ATTN_TRY(table_text(db, "SELECT variant FROM points WHERE run_id = ?1 AND is_baseline"
                            " ORDER BY id LIMIT 1", b, 1, r->baseline_name,
                            sizeof r->baseline_name, &found));
    }
    if (r->seq) {
        ATTN_TRY(table_int(db, "SELECT 1 FROM points WHERE run_id = ?1 AND seq = ?3", b, 3, &v,
                           &found));
        if (!found) return attn_skip("no points at S = %d in run %lld", r->seq, (long long)r->run);
    } else {
        ATTN_TRY(table_int(db, "SELECT coalesce(max(CASE WHEN status = 'ok' AND median_ns > 0"
                           " THEN seq END), max(seq)) FROM points WHERE run_id = ?1", b, 1, &v,
                           &found));
        if (!found) return attn_skip("run %lld has no points", (long long)r->run);
        r->seq = (int)v;
    }
    return make_out_dir(r->out_dir);
}


/* Runs gnuplot with argv, stdout and stderr into `log`; its exit status, or -1. */
static int run_gnuplot(const char *gnuplot, char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(gnuplot, argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The run in a few words for figure titles: "run 3 · NVIDIA H200 · bf16 · tag nightly". */
static int run_caption(sqlite3 *db, int64_t run, char *buf, size_t n)
{
    table_bind b[] = {{NULL, run}};
    int found;
    return table_text(db,
        "SELECT replace('run ' || id || ' · ' || coalesce(gpu_name, backend || ' backend') || ' · '"
        " || (SELECT group_concat(dtype, '/') FROM (SELECT DISTINCT dtype FROM points"
        "     WHERE run_id = ?1)) || coalesce(' · tag ' || tag, ''), '''', '') FROM runs"
        " WHERE id = ?1", b, 1, buf, n, &found);
}

/* One figure: CSV, panel and series lists, gnuplot. *written 1 when the PNG and SVG were made, 0
 * when the figure does not apply (a note says why). */
static int render(sqlite3 *db, const plot_request *r, const figure *f, const char *caption,
                  FILE *notes, plot_figure *out, int *written)
{
    table_bind b[] = {{NULL, r->run}, {r->baseline_name, 0}, {NULL, r->seq}};
    int64_t v;
    int found = 1, has_ceiling = 0, above = 0;
    *written = 0;
    if (f->needs) ATTN_TRY(table_int(db, f->needs, b, 3, &v, &found));
    if (!found) {
        fprintf(notes, "skipped %s: %s\n", f->name, f->why_not);
        return ATTN_OK;
    }
    if (strstr(f->title, "baseline") && !r->baseline_name[0]) {
        fprintf(notes, "skipped %s: the run has no baseline variant; --baseline V names one (e.g."
                " fused, the dense kernel beside sparse and quant)\n", f->name);
        return ATTN_OK;
    }
    if (f->ceiling) {
        ATTN_TRY(table_int(db, "SELECT 1 FROM summary WHERE run_id = ?1 AND"
                           " pct_of_compute_ceiling IS NOT NULL", b, 1, &v, &has_ceiling));
        ATTN_TRY(table_int(db, "SELECT 1 FROM summary WHERE run_id = ?1 AND"
                           " pct_of_compute_ceiling > 100", b, 1, &v, &above));
    }
    const char *data = has_ceiling ? f->ceiling : f->data;

    char sql[sizeof series_sql + 8192], panels[2048], series[4096], words2[4096] = "";
    int n_panels, n_series, n2;
    ATTN_TRY(path_fmt(sql, sizeof sql, "SELECT panel FROM (%s) WHERE y IS NOT NULL GROUP BY panel"
                      " ORDER BY min(head_dim), min(causal)", data));
    ATTN_TRY(table_words(db, sql, b, 3, panels, sizeof panels, &n_panels));
    if (n_panels == 0) {
        fprintf(notes, "skipped %s: no ok point of run %lld has this measure\n", f->name,
                (long long)r->run);
        return ATTN_OK;
    }
    ATTN_TRY(path_fmt(sql, sizeof sql, series_sql, data));
    ATTN_TRY(table_words(db, f->words ? f->words : sql, b, 3, series, sizeof series, &n_series));
    if (f->words2) ATTN_TRY(table_words(db, f->words2, b, 3, words2, sizeof words2, &n2));

    char csv[PATH_MAX], base[PATH_MAX], log[PATH_MAX], script[PATH_MAX];
    ATTN_TRY(path_fmt(base, sizeof base, "%s/%s", r->out_dir, f->name));
    ATTN_TRY(path_fmt(csv, sizeof csv, "%s.csv", base));
    ATTN_TRY(path_fmt(log, sizeof log, "%s.log", base));
    ATTN_TRY(path_fmt(script, sizeof script, "%s%s.gp", r->scripts, f->script));
    FILE *fp = fopen(csv, "w");
    if (!fp) return attn_fail("cannot write %s: %s", csv, strerror(errno));
    int rc = table_write(db, data, b, 3, TABLE_CSV, "NaN", fp, NULL);
    if (fclose(fp) != 0 && rc == ATTN_OK) rc = attn_fail("cannot write %s", csv);
    ATTN_TRY(rc);

    char title[256], options[64];
    snprintf(out->title, sizeof out->title, f->title, r->seq);
    if (strstr(f->title, "baseline") && r->baseline_name[0]) { /* name it */
        size_t l = strlen(out->title);
        snprintf(out->title + l, sizeof out->title - l, " (%s)", r->baseline_name);
    }
    snprintf(title, sizeof title, "%s — %s", out->title, caption);
    snprintf(options, sizeof options, "%s%s%s", f->options, has_ceiling ? " ref" : "",
             above ? " flag" : "");
    char *argv[] = {"gnuplot", "-c", script, csv, base, title, (char *)f->ylabel, options,
                    panels, series, words2, NULL};
    int status = run_gnuplot(r->gnuplot, argv, log);
    if (status != 0)
        return attn_fail("gnuplot failed on %s (exit %d): see %s", script, status, log);
    unlink(log);
    snprintf(out->name, sizeof out->name, "%s", f->name);
    fprintf(notes, "wrote %s.png and %s.svg\n", base, base);
    *written = 1;
    return ATTN_OK;
}

/* SQL attn_short_name(name): attn_kernel_short_name of a full kernel name. */
static void sql_short_name(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    if (!name) {
        sqlite3_result_null(ctx);
        return;
    }
    char buf[160];
    attn_kernel_short_name(name, buf, sizeof buf);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* SQL attn_params_without(params, keys): a point's "k=v,k=v" params without the entries whose key
 * is in the comma list keys (the knob a figure sweeps along a line). */
static void sql_params_without(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *params = (const char *)sqlite3_value_text(argv[0]);
    const char *keys = (const char *)sqlite3_value_text(argv[1]);
    char out[ATTN_PARAMS_MAX] = "", list[128];
    snprintf(list, sizeof list, ",%s,", keys ? keys : "");
    for (const char *p = params ? params : ""; *p;) {
        const size_t len = strcspn(p, ","), key = strcspn(p, "=");
        char probe[ATTN_PARAMS_MAX + 2];
        snprintf(probe, sizeof probe, ",%.*s,", (int)(key < len ? key : len), p);
        if (!strstr(list, probe))
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%.*s", out[0] ? "," : "",
                     (int)len, p);
        p += len + (p[len] == ',');
    }
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

int plot_render(sqlite3 *db, const plot_request *r, FILE *notes, plot_figure *figs, int *n_figs)
{
    char caption[256];
    SQLITE_CHECK(db, sqlite3_create_function(db, "attn_short_name", 1,
                                             SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                             sql_short_name, NULL, NULL));
    SQLITE_CHECK(db, sqlite3_create_function(db, "attn_params_without", 2,
                                             SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                             sql_params_without, NULL, NULL));
    ATTN_TRY(run_caption(db, r->run, caption, sizeof caption));
    *n_figs = 0;
    for (int i = 0; i < N_FIGURES; i++) {
        int written;
        ATTN_TRY(render(db, r, &figures[i], caption, notes, &figs[*n_figs], &written));
        *n_figs += written;
    }
    return ATTN_OK;
}

typedef struct plot_opts {
    const char *db, *tag;
    int64_t run;
    plot_request r;
} plot_opts;

static const cli_option plot_options[] = {
    READER_OPTION_DB(plot_opts),
    {"--run", "N", "run id (default: the newest; --tag T: the newest tagged T)", cli_set_id,
     offsetof(plot_opts, run)},
    {"--tag", "T", "the newest run tagged T", cli_set_text, offsetof(plot_opts, tag)},
    {"--baseline", "V", "variant speedups are measured against (default: the run's baseline)",
     cli_set_text, offsetof(plot_opts, r.baseline)},
    {"--seq", "S", "S of the stage and history figures (default: the largest measured)",
     cli_set_count, offsetof(plot_opts, r.seq)},
    {"--out", "DIR", "output directory (created when absent)", cli_set_text,
     offsetof(plot_opts, r.out_dir)},
    {0}};

static const cli_command plot_command = {
    "plot", "[--db PATH] [--run N | --tag T] [--baseline V] [--seq S] --out DIR",
    "Renders a run's figures with gnuplot (plots/*.gp) as DIR/NAME.png and DIR/NAME.svg, next to\n"
    "the CSV each was drawn from. Panels: one per head dim and causal flag; lines: one per variant;\n"
    "only ok points appear as speeds; a shape not measured is a gap.\n"
    "  latency_vs_seq       median latency vs S (log-log)\n"
    "  tflops_vs_seq        executed TFLOP/s vs S, with the measured ceiling when stored (! above)\n"
    "  speedup_vs_baseline  baseline median / variant median at the same shape\n"
    "  memory_vs_seq        device memory (inputs + output + workspace) vs S\n"
    "  accuracy_vs_speedup  error vs exact attention against speedup (runs with approximate variants)\n"
    "  stages_at_seq        kernel shares of each variant's GPU span at S, span in ms (CUPTI runs)\n"
    "  history_at_seq       median and p10..p90 at S over the runs with this run's tag on this GPU\n"
    "                       (two runs or more)\n",
    plot_options, "Needs gnuplot (Debian: apt-get install gnuplot-nox).\n", NULL};

int cmd_plot(int argc, char **argv)
{
    plot_opts o = {.db = READER_DB_DEFAULT};
    int rc = cli_parse(&plot_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!o.r.out_dir) return cli_error("plot", "--out DIR is required");
    if (o.run && o.tag) return cli_error("plot", "give --run or --tag, not both");
    sqlite3 *db;
    if ((rc = reader_open_run("plot", o.db, o.run, o.tag, &db, &o.r.run))) return rc;
    rc = plot_check(db, &o.r);
    if (rc == ATTN_SKIP) {
        store_close(db);
        return cli_error("plot", "%s", attn_last_error.msg);
    }
    plot_figure figs[PLOT_MAX_FIGURES];
    int n = 0;
    if (rc == ATTN_OK) rc = plot_render(db, &o.r, stdout, figs, &n);
    if (rc != ATTN_OK) fprintf(stderr, "attnbench plot: %s\n", attn_last_error.msg);
    else if (reader_flush_stdout("plot")) rc = ATTN_ERR;
    store_close(db);
    return rc == ATTN_OK ? 0 : 1;
}
