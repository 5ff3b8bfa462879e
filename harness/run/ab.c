/* ab.c — `attnbench ab`: the honest comparison of two builds ("is my PR slower?"). Runs the two
 * builds' `attnbench run` as separate processes, interleaved in R rounds in ABBA order (A B, B A,
 * A B, …: a drift in time weighs on both alike), a fresh process of each per round, all into one
 * database, each run tagged TAG-A-r1, TAG-B-r1, …; then decides every key on its per-round medians
 * (report/ab_keys.c) and prints compare's states, table and exit status. Each process draws its own
 * placement, clocks and queue order: the spread that two single runs hide is in the rounds.
 * Limits: one machine, one GPU model; the builds must accept the same run options. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "core/cli.h"
#include "core/error.h"
#include "report/ab_keys.h"
#include "report/compare.h"
#include "report/reader.h"
#include "store/store.h"

#define MAX_PASSED 256 /* options passed through to `attnbench run` */

/* Exit status when a round could not be run (a build crashed or stored no run): nothing decided. */
#define AB_NOT_RUN 4

typedef struct ab_opts {
    const char *a, *b, *sweep, *db, *tag, *format, *junit;
    const char *side_options[2]; /* --a-options, --b-options: one build's runs only */
    cmp_rule rule;
    int rounds, fail_on_inconclusive, markdown;
    char bin[2][PATH_MAX]; /* the binaries --a and --b name */
    char **passed;         /* after "--": options for `attnbench run` */
    int n_passed;
} ab_opts;

static int set_rounds(void *field, const char *value)
{
    int *rounds = field;
    return cli_set_count(rounds, value) || *rounds < 2 || *rounds > AB_ROUNDS_MAX ? CLI_BAD_VALUE
                                                                                  : 0;
}

_Static_assert(AB_ROUNDS_MAX == 100, "--rounds' help states 2 to 100");

static const cli_option ab_options[] = {
    {"--a", "BIN|DIR",
     "the baseline build: its attnbench, or a directory with attnbench or\n"
     "build/attnbench (required)",
     cli_set_text, offsetof(ab_opts, a)},
    {"--b", "BIN|DIR", "the candidate build, the same way (required)", cli_set_text,
     offsetof(ab_opts, b)},
    {"--rounds", "R", "rounds of one process per build, 2 to 100 (default 3)", set_rounds,
     offsetof(ab_opts, rounds)},
    {"--sweep", "FILE", "the sweep file both builds run (passed to attnbench run)", cli_set_text,
     offsetof(ab_opts, sweep)},
    {"--a-options", "TEXT", "run options for A's runs only, words split at spaces", cli_set_text,
     offsetof(ab_opts, side_options[0])},
    {"--b-options", "TEXT",
     "the same for B: e.g. '--debug-slow fused:5%', a known slowdown\n"
     "that ab must find",
     cli_set_text, offsetof(ab_opts, side_options[1])},
    READER_OPTION_DB(ab_opts),
    {"--tag", "T", "runs are tagged T-A-r1, T-B-r1, ... (default ab)", cli_set_text,
     offsetof(ab_opts, tag)},
    CMP_GATE_OPTIONS(ab_opts),
    {0}};

static const cli_command ab_command = {
    "ab",
    "--a BIN|DIR --b BIN|DIR [--rounds R] [--sweep FILE] [options] [-- RUN OPTIONS]",
    "Compares two builds as separate processes: R rounds, each a fresh `attnbench run` of A and\n"
    "one of B, in ABBA order (A B, B A, A B, ...), into one database; then every key (variant,\n"
    "shape, dtype, causal, params) on its per-round medians: the log ratio B/A of each round is\n"
    "one unit. Per key: the mean ratio, the Hodges-Lehmann ratio of the rounds, and a paired t\n"
    "test across rounds whose variance is moderated across the variant's keys (R rounds alone\n"
    "give R - 1 degrees of freedom), Benjamini-Hochberg adjusted across keys; run_noise is the\n"
    "between-process spread of one run's median and [floor] the effect a key had to pass.\n"
    "States as compare's: slower (the mean ratio beyond 1 + threshold and adjusted p <= alpha, or\n"
    "an approximate variant's error grew beyond --err-tolerance), inconclusive (a round's point\n"
    "failed, throttled or short of samples; or too noisy), missing (one build only), same (a\n"
    "slowdown beyond the threshold ruled out), faster. Options after -- go to both builds'\n"
    "attnbench run (ab sets --db, --tag and --quiet), --a-options and --b-options to one.\n",
    ab_options,
    "Exit status: 0 no regression; 1 a key slower; 2 bad usage (a build rejected the run options:\n"
    "its message is above); 3 only inconclusive keys with --fail-on-inconclusive; 4 a round could\n"
    "not be run (a build crashed or stored no run): nothing was decided.\n",
    NULL};

/* The attnbench that `path` names (a binary, or a directory holding attnbench or
 * build/attnbench) into out; 0, or CLI_USAGE after a message. */
static int find_binary(const char *option, const char *path, char *out)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        static const char *const inside[] = {"attnbench", "build/attnbench"};
        for (int i = 0; i < 2; i++) {
            snprintf(out, PATH_MAX, "%s/%s", path, inside[i]);
            if (access(out, X_OK) == 0) return 0;
        }
        return cli_error("ab", "%s %s: no attnbench or build/attnbench in that directory", option,
                         path);
    }
    if (access(path, X_OK) != 0)
        return cli_error("ab", "%s %s: not an executable (%s)", option, path, strerror(errno));
    snprintf(out, PATH_MAX, "%s", path);
    return 0;
}

/* The option that ab sets itself ("--db", "--tag") that `word` is, or NULL. */
static const char *ab_sets(const char *word)
{
    static const char *const own[] = {"--db", "--tag"};
    for (int j = 0; j < 2; j++) {
        size_t n = strlen(own[j]);
        if (strncmp(word, own[j], n) == 0 && (!word[n] || word[n] == '=')) return own[j];
    }
    return NULL;
}

/* The options ab sets itself may not come after "--" nor in --a-options / --b-options. */
static int check_passed(const ab_opts *o)
{
    const char *own;
    for (int i = 0; i < o->n_passed; i++)
        if ((own = ab_sets(o->passed[i])))
            return cli_error("ab", "%s after --: ab sets it (use ab's own %s)", own, own);
    for (int side = 0; side < 2; side++) {
        char words[4096];
        snprintf(words, sizeof words, "%s", o->side_options[side] ? o->side_options[side] : "");
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
            if ((own = ab_sets(w)))
                return cli_error("ab", "%s in --%c-options: ab sets it", own, "ab"[side]);
    }
    return 0;
}

/* A JUnit file must be writable before anything runs. */
static int check_junit(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (access(dir, W_OK) != 0)
        return cli_error("ab", "cannot write --junit %s: directory '%s': %s", path, dir,
                         strerror(errno));
    return 0;
}

/* The newest run tagged `tag` with an id above `after`, into *id (0: none). A database that does
 * not exist yet has none. */
static int find_run(const char *db_path, const char *tag, int64_t after, int64_t *id)
{
    *id = 0;
    if (access(db_path, F_OK) != 0) return ATTN_OK;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), rc, end);
    SQLITE_CHECK_GOTO(
        db,
        sqlite3_prepare_v2(
            db, "SELECT coalesce(max(id), 0) FROM runs WHERE id > ?1 AND (?2 IS NULL OR tag = ?2)",
            -1, &st, NULL),
        rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, after), rc, end);
    SQLITE_CHECK_GOTO(
        db, tag ? sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2), rc,
        end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    if (step == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
end:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Runs `BIN run --db DB --tag TAG --quiet [--sweep FILE] PASSED... SIDE OPTIONS...` (side 0 A, 1
 * B) in a child process with its stdout on our stderr (ours is the verdict's); its exit status, or
 * -1 after a message when it could not start or died by a signal. */
static int run_build(int side, const ab_opts *o, const char *tag)
{
    const char *bin = o->bin[side];
    char *argv[2 * MAX_PASSED + 12], words[4096] = "";
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "run";
    argv[n++] = "--db";
    argv[n++] = (char *)o->db;
    argv[n++] = "--tag";
    argv[n++] = (char *)tag;
    argv[n++] = "--quiet";
    if (o->sweep) argv[n++] = "--sweep", argv[n++] = (char *)o->sweep;
    for (int i = 0; i < o->n_passed; i++) argv[n++] = o->passed[i];
    if (o->side_options[side]) snprintf(words, sizeof words, "%s", o->side_options[side]);
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w && n < 2 * MAX_PASSED + 10;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "attnbench ab: cannot start %s: %s\n", bin, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execv(bin, argv);
        fprintf(stderr, "attnbench ab: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "attnbench ab: waiting for %s: %s\n", bin, strerror(errno));
            return -1;
        }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    fprintf(stderr, "attnbench ab: %s died (signal %d)\n", bin, WTERMSIG(status));
    return -1;
}

/* The rounds, ABBA: runs[side][round] get the run ids. 0, CLI_USAGE or AB_NOT_RUN (after a
 * message). */
static int run_rounds(const ab_opts *o, int64_t runs[2][AB_ROUNDS_MAX])
{
    for (int r = 0; r < o->rounds; r++)
        for (int turn = 0; turn < 2; turn++) {
            int side = (r % 2 == 0) == (turn == 0) ? 0 : 1; /* A B, then B A */
            char tag[256];
            int64_t before, id;
            snprintf(tag, sizeof tag, "%s-%c-r%d", o->tag, "AB"[side], r + 1);
            if (find_run(o->db, NULL, 0, &before) != ATTN_OK) {
                fprintf(stderr, "attnbench ab: %s\n", attn_last_error.msg);
                return AB_NOT_RUN;
            }
            int status = run_build(side, o, tag);
            if (status == CLI_USAGE)
                return cli_error("ab", "build %c (%s) rejected the run options (exit 2)%s",
                                 "AB"[side], o -> bin[side],
                                 r || turn ? "; the runs before it stay in the database" : "");
            if (find_run(o->db, tag, before, &id) != ATTN_OK) {
                fprintf(stderr, "attnbench ab: %s\n", attn_last_error.msg);
                return AB_NOT_RUN;
            }
            if (status < 0 || !id) {
                fprintf(stderr,
                        "attnbench ab: round %d, build %c (%s) stored no run (exit %d): "
                        "nothing decided\n",
                        r + 1, "AB"[side], o -> bin[side], status);
                return AB_NOT_RUN;
            }
            runs[side][r] = id;
            fprintf(stderr, "attnbench ab: round %d/%d: %c is run %lld%s\n", r + 1, o->rounds,
                    "AB"[side], (long long)id, status ? " (some points failed)" : "");
        }
    return 0;
}

/* "12, 15, 16" into buf. */
static void list_runs(const int64_t *runs, int n, char *buf, size_t size)
{
    size_t at = 0;
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)runs[i]);
}

/* What must agree across the runs of an A/B: the GPU model ("cpu backend" without one), and the
 * inputs (seed and distribution), which decide whether errors compare. */
typedef struct ab_run_facts {
    char gpu[128], inputs[64];
} ab_run_facts;

static int facts_of(sqlite3 *db, int64_t id, ab_run_facts *f)
{
    sqlite3_stmt *st = NULL;
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db,
                      sqlite3_prepare_v2(db,
                                         "SELECT coalesce(gpu_name, backend || ' backend'),"
                                         " seed || ' ' || coalesce(init, '')"
                                         " FROM runs WHERE id = ?1",
                                         -1, &st, NULL),
                      rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, id), rc, end);
    int step = sqlite3_step(st);
    SQLITE_CHECK_GOTO(db, step, rc, end);
    const unsigned char *gpu = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    const unsigned char *inputs = step == SQLITE_ROW ? sqlite3_column_text(st, 1) : NULL;
    snprintf(f->gpu, sizeof f->gpu, "%s", gpu ? (const char *)gpu : "?");
    snprintf(f->inputs, sizeof f->inputs, "%s", inputs ? (const char *)inputs : "?");
end:
    sqlite3_finalize(st);
    return rc;
}

/* The first run's facts into *first; every run on its GPU model (else CLI_USAGE after a message);
 * *same_inputs when every run had its inputs. */
static int check_runs(sqlite3 *db, int64_t runs[2][AB_ROUNDS_MAX], int rounds, ab_run_facts *first,
                      int *same_inputs)
{
    *same_inputs = 1;
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < rounds; r++) {
            ab_run_facts f;
            if (facts_of(db, runs[s][r], s || r ? &f : first) != ATTN_OK)
                return cli_error("ab", "%s", attn_last_error.msg);
            if (!s && !r) continue;
            if (strcmp(first->gpu, f.gpu) != 0)
                return cli_error("ab",
                                 "run %lld ran on %s, run %lld on %s: the rounds must share "
                                 "one GPU model",
                                 (long long)runs[0][0], first->gpu, (long long)runs[s][r], f.gpu);
            *same_inputs &= strcmp(first->inputs, f.inputs) == 0;
        }
    return 0;
}

/* Decides and prints; the exit status. */
static int verdict(const ab_opts *o, int64_t runs[2][AB_ROUNDS_MAX])
{
    sqlite3 *db;
    int rc = reader_open("ab", o->db, &db);
    if (rc) return rc;
    char list[2][1024];
    ab_run_facts first;
    cmp_rule rule = o->rule;
    if ((rc = check_runs(db, runs, o->rounds, &first, &rule.same_inputs))) {
        store_close(db);
        return rc;
    }
    ab_keys k;
    if (ab_keys_build(db, runs[0], runs[1], o->rounds, &rule, &k) != ATTN_OK) {
        rc = cli_error("ab", "%s", attn_last_error.msg);
    } else if (k.n == 0) {
        rc = cli_error("ab", "the runs have no measured points");
    } else {
        for (int s = 0; s < 2; s++) list_runs(runs[s], o->rounds, list[s], sizeof list[s]);
        const char *bold = o->markdown ? "**" : "";
        printf("%sattnbench ab%s: B %s (runs %s) vs A %s (runs %s), %d rounds ABBA on %s; "
               "threshold %g%%, alpha %g (Benjamini–Hochberg over %zu keys); units: rounds\n\n",
               bold, bold, o->bin[1], list[1], o->bin[0], list[0], o->rounds, first.gpu,
               o->rule.threshold * 100, o->rule.alpha, k.n);
        cmp_print_verdict(stdout, k.keys, k.n, o->markdown);
        char suite[128];
        snprintf(suite, sizeof suite, "ab: B vs A, %d rounds", o->rounds);
        if (o->junit &&
            cmp_write_junit(o->junit, k.keys, k.n, suite, o->fail_on_inconclusive) != ATTN_OK)
            rc = cli_error("ab", "%s", attn_last_error.msg);
        else
            rc = cmp_exit_status(k.keys, k.n, o->fail_on_inconclusive);
    }
    ab_keys_free(&k);
    store_close(db);
    return rc;
}

int cmd_ab(int argc, char **argv)
{
    ab_opts o = {.db = READER_DB_DEFAULT,
                 .tag = "ab",
                 .format = "table",
                 .rounds = 3,
                 .rule = {.threshold = 0.02, .alpha = 0.05, .err_tolerance = 0.10}};
    int own = 1;
    while (own < argc && strcmp(argv[own], "--") != 0) own++;
    o.passed = argv + (own < argc ? own + 1 : argc);
    o.n_passed = own < argc ? argc - own - 1 : 0;
    int rc = cli_parse(&ab_command, own, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    if (!o.a || !o.b) return cli_error("ab", "--a and --b are required (attnbench ab --help)");
    if (o.n_passed > MAX_PASSED) return cli_error("ab", "too many options after --");
    if (strcmp(o.format, "table") != 0 && strcmp(o.format, "md") != 0)
        return cli_error("ab", "--format is table or md");
    o.markdown = strcmp(o.format, "md") == 0;
    if ((rc = find_binary("--a", o.a, o.bin[0])) || (rc = find_binary("--b", o.b, o.bin[1])) ||
        (rc = check_passed(&o)) || (o.junit && (rc = check_junit(o.junit))))
        return rc;
    int64_t runs[2][AB_ROUNDS_MAX];
    if ((rc = run_rounds(&o, runs))) return rc;
    return verdict(&o, runs);
}
