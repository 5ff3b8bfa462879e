/* test_run.c — `attnbench run` end to end on the CPU backend, through the built binary: bad input
 * (options, --param keys and values, qualifiers) exits 2, writes nothing and says what and where;
 * a sweep fills the summary; a qualified --param applies to its variant only and reaches the plan;
 * the stored command runs again when pasted into sh; runs creating one database at once all
 * succeed; a shape too large for host memory is skipped; a killed run keeps its completed points
 * and reads as abandoned; --save-tensors writes loadable .npy files; `show`, `list` and
 * `list --params` work. */
#include <cuda_runtime.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void bad_input(void)
{
    static const char *const bad[] = {
        "--variants nope", "--seq 0", "--seq -5", "--seq 512:64:x2", "--heads 6 --kv-heads 4",
        "--dtype fp8", "--causal 2", "--bogus", "--init weird", "--max-time 0", "--param nosuchkey=1",
        "--cache warm", "--tokens 0", "--debug-spin cublas:100", "--debug-spin nope:5",
        "--debug-spin cublas", "--model-dim 100 --head-dim 64", "--sweep /nonexistent",
        "--param tile=7x7", "--param lse=2", "--param fused.bogus=1", "--param nope.tile=64x64",
        "--param fused.tile=64x64 --variants naive,cublas", "--param fused.lse=0 --variants naive",
        "--param tile=64x64 --param fused.tile=128x128", "--param Tile=64x64", "--param tile",
        "--param fused.lse=", "--help-me", "--seed x", "--db=", "--save-tensors=",
        "--cooldown -1", "--cooldown 5x", "--throttle-below 0", "--throttle-below 101%",
        "--min-samples 0", "--seq ''", "--seq=", "--tokens 100 --batch 2",
        "--model-dim 256 --heads 4", "--variants naive,naive", "--variants naive,cublas,naive",
    };
    char db[512];
    fx_path(db, sizeof db, "bad.db");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = fx_sh("'%s' run --backend cpu --db %s %s 2>/dev/null", fx_bin, db, bad[i]);
        char what[200];
        snprintf(what, sizeof what, "'%s' exits 2 (got %d) and writes nothing", bad[i], rc);
        test_cond(what, rc == 2 && !exists(db));
    }
    test_cond("unwritable db path exits 2",
              fx_sh("'%s' run --backend cpu --db /nonexistent-dir/x.db --seq 4 2>/dev/null", fx_bin) == 2);
    test_cond("message names the bad value",
              fx_sh("'%s' run --backend cpu --db %s --variants nope 2>&1 | grep -q \"unknown variant 'nope'\"",
                    fx_bin, db) == 0);
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
    if (gpus == 0) {
        test_cond("no GPU: message suggests --backend cpu",
                  fx_sh("'%s' run --db %s --seq 4 2>&1 | grep -q 'backend cpu'", fx_bin, db) == 0);
        test_cond("no GPU: exit 1, nothing written",
                  fx_sh("'%s' run --db %s --seq 4 2>/dev/null", fx_bin, db) == 1 && !exists(db));
    }
    test_cond("a bad --param value: the message names the variant, key and value",
              fx_sh("'%s' run --backend cpu --db %s --param fused.tile=7x7 2>&1 | grep -q \"fused: tile: '7x7'\"",
                    fx_bin, db) == 0);
    test_cond("a qualifier naming an unselected variant says so",
              fx_sh("'%s' run --backend cpu --db %s --variants naive --param fused.lse=1 2>&1 |"
                    " grep -q 'not among the selected variants'", fx_bin, db) == 0);
    test_cond("run --help exits 0", fx_sh("'%s' run --help >/dev/null", fx_bin) == 0);
    test_cond("list exits 0", fx_sh("'%s' list | grep -q cublas", fx_bin) == 0);
    test_cond("list names fused's keys", fx_sh("'%s' list | grep -q 'param keys: tile, path, lse'", fx_bin) == 0);
    test_cond("list --params: key, kind, choices, default, help",
              fx_sh("'%s' list --params | grep -q 'fused.tile *enum *128x128|64x64|128x64|192x128 *default - *query'",
                    fx_bin) == 0 &&
                  fx_sh("'%s' list --params | grep -q 'fused.lse *int *0..1 *default 0 '", fx_bin) == 0);
    test_cond("list --bogus exits 2", fx_sh("'%s' list --bogus 2>/dev/null", fx_bin) == 2);
    test_cond("unknown command exits 2", fx_sh("'%s' frobnicate 2>/dev/null", fx_bin) == 2);
}

static void sweep(void)
{
    char db[512];
    fx_path(db, sizeof db, "sweep.db");
    int rc = fx_sh("'%s' run --backend cpu --db %s --variants naive,cublas --seq 1,127 --heads 2 --kv-heads 1,2"
                   " --head-dim 16 --dtype bf16,fp32 --causal 0,1 --max-time 0.02 --tag t --quiet 2>/dev/null",
                   fx_bin, db);
    test_cond("cpu sweep exits 0", rc == 0);
    long long variants = fx_query_int(db, "SELECT count(DISTINCT variant) FROM points");
    test_cond("summary: one row per point", fx_query_int(db, "SELECT count(*) FROM summary") == 16 * variants);
    test_cond("every point ok", fx_query_int(db, "SELECT count(*) FROM summary WHERE status != 'ok'") == 0);
    test_cond("every point timed", fx_query_int(db, "SELECT count(*) FROM summary WHERE samples < 10 OR tflops IS NULL") == 0);
    test_cond("every sample stored", fx_query_int(db, "SELECT sum(n_samples) = (SELECT count(*) FROM samples) FROM points") == 1);
    test_cond("run ok with provenance", fx_query_int(db, "SELECT status = 'ok' AND backend = 'cpu' AND tag = 't' AND ended_at IS NOT NULL FROM runs") == 1);
    test_cond("errors stored", fx_query_int(db, "SELECT count(*) FROM points WHERE err_rel_l2 IS NULL OR check_rows < 1") == 0);
    test_cond("show prints every point",
              fx_sh("'%s' show --db %s | grep -cE '^ *(naive|cublas) .* ok ' | grep -qx %lld", fx_bin, db,
                    16 * variants) == 0);
    test_cond("show on a missing db exits 2", fx_sh("'%s' show --db /nonexistent.db 2>/dev/null", fx_bin) == 2);
}

/* --param fused.KEY applies to fused alone; its values reach the plan (the stored config). */
static void qualified_param(void)
{
    char db[512];
    fx_path(db, sizeof db, "param.db");
    int rc = fx_sh("'%s' run --backend cpu --db %s --variants naive,fused --seq 9,130 --heads 2 --head-dim 64"
                   " --param fused.lse=0,1 --param fused.path=mma --param fused.tile=64x64"
                   " --max-time 0.01 --quiet 2>/dev/null", fx_bin, db);
    test_cond("run with qualified params exits 0", rc == 0);
    test_cond("naive: one point per shape, no params",
              fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'naive' AND params = ''") == 2);
    test_cond("fused: the product of its lists",
              fx_query_int(db, "SELECT count(DISTINCT params) FROM points WHERE variant = 'fused'") == 2 &&
                  fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'fused' AND status = 'ok'"
                                   " AND params = 'lse=1,path=mma,tile=64x64'") == 2);
    test_cond("the plan's path and tile stored with each fused point",
              fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'fused'"
                               " AND config LIKE 'path=mma tile=64x64 %'") == 4);
    test_cond("the default plan on the CPU backend is the wgmma path",
              fx_sh("'%s' run --backend cpu --db %s --variants fused --seq 9 --heads 2 --head-dim 64"
                    " --max-time 0.01 --quiet 2>/dev/null", fx_bin, db) == 0 &&
                  fx_query_int(db, "SELECT count(*) FROM points WHERE variant = 'fused' AND params = ''"
                                   " AND config LIKE 'path=wgmma tile=%x128 %'") == 1);
}

/* The first column of the first row of a query as text into buf ("" when none). */
static const char *query_text(const char *db_path, const char *sql, char *buf, size_t n)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    buf[0] = 0;
    if (sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return buf;
}

/* Runs the binary with argv (argv[0] is the binary), stdout to /dev/null, stderr into err_path;
 * its exit status, or -1. */
static int run_bin(char *const argv[], const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int out = open("/dev/null", O_WRONLY), err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, 1), dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Usage errors say what is wrong, where (a --sweep file's line), and quote at most ~80 characters of
 * a bad value; the helps print no "%%"; without a GPU one line says so (issue 15, items 6, 10). */
static void messages(void)
{
    char db[512], sweep[512], err[512];
    fx_path(db, sizeof db, "msg.db");
    fx_path(sweep, sizeof sweep, "bad.sweep");
    fx_path(err, sizeof err, "msg.err");
    static const struct { const char *args, *says; } cases[] = {
        {"--seq ''", "attnbench run: --seq needs a value (LIST)"},
        {"--seq", "attnbench run: --seq needs a value (LIST)"},
        {"--tokens 100 --batch 2", "attnbench run: --tokens and --batch exclude each other"},
        {"--variants naive,cublas,naive", "attnbench run: --variants names 'naive' twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[200];
        snprintf(what, sizeof what, "'%s' says \"%s\"", cases[i].args, cases[i].says);
        test_cond(what, fx_sh("'%s' run --backend cpu --db %s %s 2>&1 | grep -qF \"%s\"", fx_bin, db,
                              cases[i].args, cases[i].says) == 0);
    }
    FILE *f = fopen(sweep, "w");
    if (f) fputs("# a sweep\n--seq 64\n--head-dim abc\n", f), fclose(f);
    test_cond("a bad line of a --sweep file is located (FILE:LINE)",
              fx_sh("'%s' run --backend cpu --db %s --sweep %s 2>&1 |"
                    " grep -qF \"attnbench run: %s:3: bad --head-dim value 'abc'\"", fx_bin, db, sweep,
                    sweep) == 0 && !exists(db));
    static char huge[100001];
    memset(huge, 'x', sizeof huge - 1);
    char *argv[] = {fx_bin, "run", "--backend", "cpu", "--db", db, "--seq", huge, NULL};
    long len = 0;
    int rc = run_bin(argv, err);
    char *text = fx_read(err, &len);
    test_cond("100 KB of bad input: exit 2, the value cut at 80 characters with …",
              rc == 2 && text && len < 200 && strstr(text, "xxx…'") != NULL);
    free(text);
    argv[6] = huge, argv[7] = NULL; /* an unknown option of 100 KB */
    rc = run_bin(argv, err);
    test_cond("100 KB unknown option: exit 2, short message", rc == 2 && fx_size(err) < 200);
    static const char *const commands[] = {"run", "list", "show", "plot", "report", "export",
                                           "compare", "history"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s --help prints no %%%%", commands[i]);
        test_cond(what, fx_sh("'%s' %s --help | grep -q '%%%%'", fx_bin, commands[i]) == 1);
    }
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
    if (gpus == 0) {
        char *no_gpu[] = {fx_bin, "run", "--db", db, "--seq", "4", NULL};
        rc = run_bin(no_gpu, err);
        text = fx_read(err, NULL);
        test_cond("no GPU: one line, exit 1, nothing written, no CUPTI noise",
                  rc == 1 && text && strstr(text, "attnbench run: no usable GPU (") == text &&
                      strchr(text, '\n') == text + strlen(text) - 1 && strstr(text, "--backend cpu") &&
                      !strstr(text, "CUPTI") && !exists(db));
        free(text);
    }
}

/* The stored command is the whole command line, quoted for sh: pasted back, it runs again. */
static void pasted_back(void)
{
    char db[512], command[16384], want[4700], err[512];
    fx_path(db, sizeof db, "paste.db");
    fx_path(err, sizeof err, "paste.err");
    int rc = fx_sh("'%s' run --backend cpu --db %s --tag \"it's a 'tag'\" --variants naive --seq 9"
                   " --heads 2 --head-dim 8 --max-time 0.01 --quiet 2>/dev/null", fx_bin, db);
    query_text(db, "SELECT command FROM runs", command, sizeof command);
    snprintf(want, sizeof want, "%s run --backend cpu --db %s --tag ", fx_bin, db);
    test_cond("the stored command starts with the program and `run`",
              rc == 0 && strncmp(command, want, strlen(want)) == 0);
    char *argv[] = {"/bin/sh", "-c", command, NULL};
    test_cond("pasted back through sh: exit 0, the same run again",
              run_bin(argv, err) == 0 && fx_query_int(db, "SELECT count(*) FROM runs") == 2 &&
                  fx_query_int(db, "SELECT count(DISTINCT tag) = 1 AND min(tag) = 'it' || char(39)"
                                   " || 's a ' || char(39) || 'tag' || char(39) FROM runs") == 1);
}

/* Several runs creating one new database at the same moment (issue 15, item 1): every one exits
 * 0, and no run or point is lost; repeated, since the race is a matter of timing. */
static void racing_creators(void)
{
    char db[512], failures[512];
    fx_path(db, sizeof db, "race.db");
    fx_path(failures, sizeof failures, "race.failures");
    enum { TRIALS = 4, PROCESSES = 6 };
    int all_exit_0 = 1, none_lost = 1;
    for (int t = 0; t < TRIALS; t++) {
        fx_unlink_db(db);
        unlink(failures);
        fx_sh("for i in 1 2 3 4 5 6; do ('%s' run --backend cpu --variants naive --seq 64 --heads 4"
              " --head-dim 64 --max-time 0.05 --db %s --quiet 2>>%s.err || echo $? >> %s) & done; wait",
              fx_bin, db, failures, failures);
        all_exit_0 &= fx_size(failures) <= 0;
        none_lost &= fx_query_int(db, "SELECT count(*) FROM runs WHERE status = 'ok'") == PROCESSES &&
                     fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'ok'") == PROCESSES;
    }
    if (!all_exit_0) fx_sh("cat %s.err", failures);
    test_cond("6 runs creating one database at once, 4 times: every one exits 0", all_exit_0);
    test_cond("... and every run and point is stored", none_lost);
}

/* A point that cannot fit in host memory is skipped with the reason, exit 0 (issue 15, item 4):
 * against MemAvailable (a shape of terabytes) and against RLIMIT_AS (ulimit -v). */
static void host_memory(void)
{
    char db[512], reason[512];
    fx_path(db, sizeof db, "memory.db");
    int rc = fx_sh("'%s' run --backend cpu --db %s --variants naive --seq 65536 --heads 64"
                   " --head-dim 128 --batch 4096 --quiet 2>/dev/null", fx_bin, db);
    query_text(db, "SELECT reason FROM points WHERE status = 'skipped'", reason, sizeof reason);
    test_cond("a shape of terabytes: skipped with the reason, exit 0",
              rc == 0 && strncmp(reason, "host memory: this shape needs about ", 36) == 0 &&
                  fx_query_int(db, "SELECT status = 'ok' FROM runs") == 1);
    fx_unlink_db(db);
#ifdef __SANITIZE_ADDRESS__
    /* AddressSanitizer reserves terabytes of address space at start: under ulimit -v the binary
     * cannot start at all, so the RLIMIT_AS case is checked by the plain build only. */
    return;
#endif
    rc = fx_sh("ulimit -v 2500000 && '%s' run --backend cpu --db %s --variants naive,fused --seq 8192"
               " --heads 16 --head-dim 128 --batch 8 --quiet 2>/dev/null", fx_bin, db);
    query_text(db, "SELECT reason FROM points WHERE status = 'skipped'", reason, sizeof reason);
    test_cond("under ulimit -v: every variant skipped, naming RLIMIT_AS, exit 0",
              rc == 0 && fx_query_int(db, "SELECT count(*) FROM points WHERE status = 'skipped'") == 2 &&
                  strstr(reason, "available (RLIMIT_AS)") != NULL);
}

/* A killed run keeps its points; readers show it abandoned, a TAG passes it over for the newest
 * complete run and says so, and the next writer marks it (issue 15, item 2). */
static void killed(void)
{
    char db[512], text[1024], out[512];
    fx_path(db, sizeof db, "killed.db");
    fx_path(out, sizeof out, "killed.out");
    const char *small = "--backend cpu --variants naive --seq 8,16 --heads 2 --head-dim 32 --max-time 0.01 --quiet";
    test_cond("a complete run tagged k", fx_sh("'%s' run --db %s --tag k %s 2>/dev/null", fx_bin, db, small) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        execl(fx_bin, fx_bin, "run", "--backend", "cpu", "--db", db, "--seq", "8:2048:x2", "--heads", "2",
              "--head-dim", "32", "--max-time", "0.3", "--min-samples", "1000", "--quiet", "--tag", "k",
              (char *)NULL);
        _exit(127);
    }
    long long done = 0;
    for (int i = 0; i < 200 && done < 2; i++) {
        usleep(50000);
        done = fx_query_int(db, "SELECT count(*) FROM points WHERE run_id = 2");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    test_cond("killed run had completed points", done >= 2);
    test_cond("its points survive", fx_query_int(db, "SELECT count(*) FROM points WHERE run_id = 2") >= 2);
    test_cond("its samples survive", fx_query_int(db, "SELECT count(*) FROM samples") > 0);
    test_cond("its row is left 'running'", fx_query_int(db, "SELECT status = 'running' FROM runs WHERE id = 2") == 1);
    test_cond("show says abandoned", fx_sh("'%s' show --db %s | grep -q '^ *2  .* abandoned '", fx_bin, db) == 0);
    test_cond("report says abandoned",
              fx_sh("'%s' report --db %s | grep -qF -- '- **status_now**: `abandoned`'", fx_bin, db) == 0);
    test_cond("a complete run tagged new", fx_sh("'%s' run --db %s --tag new %s 2>/dev/null", fx_bin, db, small) == 0);
    int rc = fx_sh("'%s' compare --db %s --baseline k --candidate new --threshold 99%% >%s 2>&1", fx_bin, db, out);
    char *said = fx_text(out);
    test_cond("compare --baseline TAG: the newest complete run, saying so",
              (rc == 0 || rc == 1) && strstr(said, "vs baseline run 1 (tag k)") &&
                  strstr(said, "--baseline k: run 1 (ok); passed over 1 newer incomplete run, the newest "
                               "run 2 (abandoned)"));
    free(said);
    fx_sh("'%s' compare --db %s --baseline k --candidate new --include-incomplete >%s 2>&1", fx_bin, db, out);
    said = fx_text(out);
    test_cond("--include-incomplete: the killed run", strstr(said, "vs baseline run 2 (tag k)") != NULL);
    free(said);
    rc = fx_sh("'%s' history --db %s --tag k >%s 2>&1", fx_bin, db, out);
    said = fx_text(out);
    test_cond("history: complete runs only, saying which",
              rc == 0 && strstr(said, "the series ends at run 1 (ok); passed over 1 newer incomplete run") &&
                  strstr(said, "runs 1..1 (1 runs"));
    free(said);
    test_cond("the next writer marked it abandoned, with the reason",
              fx_query_int(db, "SELECT status = 'abandoned' AND ended_at IS NOT NULL FROM runs WHERE id = 2") == 1 &&
                  strncmp(query_text(db, "SELECT reason FROM runs WHERE id = 2", text, sizeof text),
                          "its process is gone (pid ", 25) == 0);
    test_cond("the database is usable", fx_sh("'%s' show --db %s >/dev/null", fx_bin, db) == 0);
}

static void save_tensors(void)
{
    char db[512], out[512], path[1024];
    fx_path(db, sizeof db, "save.db");
    fx_path(out, sizeof out, "tensors");
    mkdir(out, 0755);
    int rc = fx_sh("'%s' run --backend cpu --db %s --seq 9 --heads 2 --head-dim 8 --dtype fp16"
                   " --variants cublas --save-tensors %s --max-time 0.01 --quiet 2>/dev/null", fx_bin, db, out);
    test_cond("save-tensors run", rc == 0);
    const char *names[] = {"q", "k", "v", "o_cublas"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", out, names[i]);
        FILE *f = fopen(path, "rb");
        unsigned char head[10] = {0};
        struct stat st;
        int ok = f && fread(head, 1, 10, f) == 10 && stat(path, &st) == 0;
        if (f) fclose(f);
        size_t hlen = head[8] | head[9] << 8;
        test_cond(names[i], ok && head[0] == 0x93 && head[1] == 'N' &&
                                (size_t)st.st_size == 10 + hlen + 2 * 2 * 9 * 8);
    }
    test_cond("save-tensors with two shapes exits 2",
              fx_sh("'%s' run --backend cpu --db %s --seq 9,10 --save-tensors %s 2>/dev/null", fx_bin, db, out) == 2);
}

/* `run --db` on what is not an attnbench database (issue 15, items 5 and 6): a text file, another
 * application's SQLite file (with a `runs` table of its own or not), a directory, a path SQLite
 * cannot create: exit 2 with a sentence, and the files are left byte for byte as they were. */
static void foreign_db(void)
{
    char text[512], other[512], other_runs[512], dir[512], empty[512];
    fx_path(text, sizeof text, "notes.txt");
    fx_path(other, sizeof other, "other.db");
    fx_path(other_runs, sizeof other_runs, "other-runs.db");
    fx_path(dir, sizeof dir, "a-directory");
    fx_path(empty, sizeof empty, "empty.db");
    fx_sh("echo 'not a database' > '%s'; mkdir -p '%s'; : > '%s'", text, dir, empty);
    sqlite3 *db;
    if (sqlite3_open(other, &db) == SQLITE_OK) sqlite3_exec(db, "CREATE TABLE stuff(a); INSERT INTO stuff VALUES (1)", NULL, NULL, NULL);
    sqlite3_close(db);
    if (sqlite3_open(other_runs, &db) == SQLITE_OK) sqlite3_exec(db, "CREATE TABLE runs(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    char *before[3] = {fx_text(text), fx_text(other), fx_text(other_runs)};
    const long size[3] = {fx_size(text), fx_size(other), fx_size(other_runs)};
    const char *bad[][2] = {{text, "not an attnbench database (not an SQLite file)"},
                            {other, "not an attnbench database (an SQLite database without"},
                            {other_runs, "not an attnbench database (an SQLite database without"},
                            {dir, "is a directory"},
                            {"/proc/attnbench-test.db", "unable to open"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512], what[700];
        fx_path(err, sizeof err, "foreign.err");
        int rc = fx_sh("'%s' run --backend cpu --variants naive --seq 16 --heads 1 --head-dim 16"
                       " --max-time 0.01 --quiet --db '%s' 2>'%s'", fx_bin, bad[i][0], err);
        char *msg = fx_text(err);
        snprintf(what, sizeof what, "run --db %s: exit 2 saying '%s'", bad[i][0], bad[i][1]);
        test_cond(what, rc == 2 && msg && strstr(msg, bad[i][1]));
        free(msg);
    }
    const char *paths[3] = {text, other, other_runs};
    for (int i = 0; i < 3; i++) {
        char *after = fx_text(paths[i]);
        char what[600];
        snprintf(what, sizeof what, "%s left byte for byte as it was", paths[i]);
        test_cond(what, before[i] && after && fx_size(paths[i]) == size[i] &&
                            memcmp(before[i], after, (size_t)size[i]) == 0);
        free(before[i]), free(after);
    }
    test_cond("an empty file is an empty database: run writes into it, exit 0",
              fx_sh("'%s' run --backend cpu --variants naive --seq 16 --heads 1 --head-dim 16"
                    " --max-time 0.01 --quiet --db '%s' 2>/dev/null", fx_bin, empty) == 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    bad_input();
    foreign_db();
    messages();
    sweep();
    qualified_param();
    pasted_back();
    racing_creators();
    host_memory();
    killed();
    save_tensors();
    fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
