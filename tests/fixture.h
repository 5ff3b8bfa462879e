/* fixture.h — shared test helpers. For the plot and report tests: fixture databases of real
 * CPU-backend runs made by the built binary, plus special points (failed, throttled, approximate)
 * inserted through the store API. For those and the run and GPU tests: running the built binary
 * (fx_bin, fx_sh) and reading what it wrote (fx_read, fx_query_int, fx_num). For the compare and
 * history tests: runs stored through the store API (fx_add_run), calling a command function
 * in-process with stdout in a file (fx_call, fx_text), and removing the database (fx_unlink_db).
 * For the store and CUPTI tests: a number from a query on an open database (fx_db_num). For the
 * variant tests: seeded host inputs widened to float (fx_inputs). Tests that call fx_init get one
 * mkdtemp scratch directory per test binary. */
#ifndef ATTN_FIXTURE_H
#define ATTN_FIXTURE_H

#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "store/store.h"

static char fx_dir[256] = "/tmp/attnbench_test_XXXXXX"; /* this test's scratch directory */
static char fx_bin[4096];                               /* build/attnbench, by fx_init */

/* Makes the scratch directory and finds the binary `levels` directories above the test's own
 * (1 for build/tests/x, 2 for build/tests/gpu/x: build/attnbench either way). 0, or -1 with a
 * message. */
static inline int fx_init_at(const char *argv0, int levels)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", argv0);
    int n = snprintf(fx_bin, sizeof fx_bin, "%s/", dirname(copy));
    for (int i = 0; i < levels && n > 0 && (size_t)n < sizeof fx_bin; i++)
        n += snprintf(fx_bin + n, sizeof fx_bin - (size_t)n, "../");
    if (n > 0 && (size_t)n < sizeof fx_bin) snprintf(fx_bin + n, sizeof fx_bin - (size_t)n, "attnbench");
    if (!mkdtemp(fx_dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* fx_init_at for a test in build/tests/. */
static inline int fx_init(const char *argv0) { return fx_init_at(argv0, 1); }

/* A path inside the scratch directory. */
static inline const char *fx_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", fx_dir, name);
    return buf;
}

/* Runs a shell command (printf-style); its exit status, or -1. */
static inline int fx_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int fx_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file, NUL-terminated (free it); NULL when absent. *len its size. */
static inline char *fx_read(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (buf) buf[n] = 0;
    fclose(f);
    if (len) *len = n;
    return buf;
}

/* fx_read, but "" (still to free) when the file is absent, for text that is searched at once. */
static inline char *fx_text(const char *path)
{
    char *s = fx_read(path, NULL);
    return s ? s : calloc(1, 1);
}

/* Calls a command function (cmd_compare, cmd_history…) in this process with stdout in out_path
 * (truncated first); returns the command's status. */
static inline int fx_call(int (*cmd)(int, char **), const char *out_path, int argc, char **argv)
{
    fflush(stdout);
    int saved = dup(1), fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = cmd(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    return rc;
}

static inline long fx_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A real sweep on the CPU backend: 3 S × 2 causal flags × the three exact variants (a fixed list,
 * so that a new variant leaves the fixtures alone). Exit status of the run. */
static inline int fx_cpu_run(const char *db, const char *tag)
{
    return fx_sh("'%s' run --backend cpu --db '%s' %s%s --variants naive,cublas,fused"
                 " --seq 64,128,256 --heads 4 --kv-heads 2"
                 " --head-dim 64 --dtype bf16 --causal 0,1 --max-time 0.05 --quiet",
                 fx_bin, db, tag ? "--tag " : "", tag ? tag : "");
}

/* One synthetic point at B=1 H=4/2 D=64 bf16, as the GPU backend would store it. median_ns <= 0:
 * every sample throttled (no median). */
typedef struct fx_point {
    const char *variant;
    int exact, seq, causal;
    const char *status, *reason;
    double median_ns, device_bytes, exact_rel_l2;
} fx_point;

static inline int fx_add(const char *db_path, int64_t run, const fx_point *f)
{
    sqlite3 *db;
    if (store_open(db_path, &db) != ATTN_OK) return -1;
    store_point p = {.variant = f->variant, .exact = f->exact, .status = f->status,
                     .reason = f->reason, .check_rows = 8};
    p.point = (attn_point){.batch = 1, .heads = 4, .kv_heads = 2, .seq = f->seq, .head_dim = 64,
                           .dtype = ATTN_BF16, .causal = f->causal};
    p.check = p.vs_exact = (store_errors){1e-3, f->exact_rel_l2, 0.999};
    p.dense_flops = 4.0 * f->seq * f->seq * 64 * 4;
    p.exec_flops = p.dense_flops / 4, p.bytes = 1e6, p.device_bytes = f->device_bytes;
    int64_t ns[4] = {0}, id;
    uint8_t throttled[4] = {1, 1, 1, 1};
    int timed = f->median_ns > 0;
    for (int i = 0; i < 4; i++) ns[i] = timed ? (int64_t)f->median_ns : 1000;
    p.timing = (attn_timing){4, timed ? 4 : 0, f->median_ns, f->median_ns * 0.97,
                              f->median_ns * 1.05, f->median_ns * 0.99, f->median_ns * 1.01};
    int rc = store_point_add(db, run, &p, ns, timed ? NULL : throttled, 4, NULL, NULL, 0, &id);
    store_close(db);
    return rc == ATTN_OK ? 0 : -1;
}

/* A finished run on the CUDA backend (GPU model gpu, tag may be NULL) stored through the store
 * API, for fixtures of synthetic points; its id in *id. 0, or -1 when it could not be stored. */
static inline int fx_add_run(sqlite3 *db, const char *command, const char *tag, const char *gpu,
                             int64_t *id)
{
    store_run r = {.command = command, .backend = "cuda", .gpu_name = gpu, .tag = tag,
                   .seed = 1, .init = "normal", .cache_mode = "cold", .git_dirty = -1};
    *id = 0;
    int rc = store_run_begin(db, &r, id);
    store_run_end(db, *id, "ok", NULL);
    return rc == ATTN_OK ? 0 : -1;
}

/* Removes a database file with its -wal and -shm files. */
static inline void fx_unlink_db(const char *db_path)
{
    char side[4096];
    unlink(db_path);
    snprintf(side, sizeof side, "%s-wal", db_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db_path);
    unlink(side);
}

/* Runs SQL on the database outside the store API (test set-up only). */
static inline int fx_exec(const char *db_path, const char *sql)
{
    sqlite3 *db;
    if (store_open(db_path, &db) != ATTN_OK) return -1;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    store_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* First column of the first row of a query on an open database, as a number (NaN when none). */
static inline double fx_db_num(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

/* The same on the database at db_path, opened through the store (migrated). */
static inline double fx_num(const char *db_path, const char *sql)
{
    sqlite3 *db;
    if (store_open(db_path, &db) != ATTN_OK) return NAN;
    double v = fx_db_num(db, sql);
    store_close(db);
    return v;
}

/* A host tensor of n seeded inputs (seed 42) in dtype t, widened to float (free it); seq positions
 * per head (the structured inputs depend on the position). */
static inline float *fx_inputs_at(attn_dtype t, size_t n, int tensor, attn_init init, int head_dim,
                                  int seq)
{
    void *raw = malloc(n * 4);
    float *f = malloc(n * sizeof *f);
    attn_fill_host(raw, t, n, 42, tensor, init, head_dim, seq);
    for (size_t i = 0; i < n; i++) f[i] = attn_load(t, raw, i);
    free(raw);
    return f;
}

/* fx_inputs_at for the inputs that do not depend on the position (normal, outliers). */
static inline float *fx_inputs(attn_dtype t, size_t n, int tensor, attn_init init, int head_dim)
{
    return fx_inputs_at(t, n, tensor, init, head_dim, 1);
}

/* First column of the first row of a query as an integer, read outside the store API on a
 * read-only open (safe while another process writes the database); -1 when no row or no
 * database. */
static inline long long fx_query_int(const char *db_path, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

/* Splits one CSV record (RFC 4180, no embedded newlines) starting at *p into fields[] (unquoted,
 * in place); advances *p past the line. Returns the field count, 0 at the end of the text. */
static inline int fx_csv_record(char **p, char **fields, int max)
{
    char *s = *p;
    if (!*s) return 0;
    int n = 0;
    for (;;) {
        char *out = s, *field = s;
        if (*s == '"') {
            for (s++;; s++) {
                if (*s == '"' && s[1] == '"') *out++ = '"', s++;
                else if (*s == '"') { s++; break; }
                else if (!*s) break;
                else *out++ = *s;
            }
        } else {
            while (*s && *s != ',' && *s != '\n') *out++ = *s++;
            out = s;
        }
        char end = *s;
        *out = 0;
        if (n < max) fields[n] = field;
        n++;
        if (end == ',') { s++; continue; }
        *p = end ? s + 1 : s;
        return n;
    }
}

/* Tests that draw figures (plot, report --figures) need gnuplot: each failing check of theirs
 * says so with this text, so that a machine without it knows what to install. */
#define FX_NEEDS_GNUPLOT "gnuplot not installed: apt-get install gnuplot-nox"
static inline int fx_have_gnuplot(void) { return fx_sh("gnuplot --version > /dev/null 2>&1") == 0; }

#endif
