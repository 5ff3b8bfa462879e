/* test_readers.c — what every reading command (show, plot, report, export, compare, history) owes
 * its input and output (report/reader.c, store/open_readonly.c): the database is opened read-only
 * (an attnbench database is left byte for byte as it was); another application's SQLite file (with
 * or without a `runs` table of its own), an empty file, a text file and a directory are refused
 * with exit 2 and one line, and left untouched (bytes, table list, no file added beside them); a
 * database of a newer schema, or of one older than the readers read, is refused the same way; bad
 * output paths are usage errors named in words, found before any work; and a write error on
 * standard output (/dev/full) makes the command fail with a message. ATTN_KEEP=1 keeps the
 * scratch directory. */
#include <dirent.h>

#include "fixture.h"
#include "test.h"

/* Each reader, with the arguments it needs besides --db. */
static const char *const readers[] = {"show",
                                      "export --format csv",
                                      "report",
                                      "plot --out %s/figs",
                                      "compare --baseline 1 --candidate 1",
                                      "history"};
enum { N_READERS = sizeof readers / sizeof readers[0] };

static char out[512], err[512];

/* What a check of `command` needs besides attnbench: plot needs gnuplot, and says so when absent. */
static const char *needs(const char *command)
{
    static int gnuplot = -1;
    if (strncmp(command, "plot", 4) != 0) return "";
    if (gnuplot < 0) gnuplot = fx_have_gnuplot();
    return gnuplot ? "" : " (" FX_NEEDS_GNUPLOT ")";
}

/* Runs `attnbench READER ARGS` (READER from readers[], %s in it the scratch directory) with stdout
 * in `out` (or to_path) and stderr in `err`; its exit status. */
static int run_reader(int i, const char *args, const char *to_path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, readers[i], fx_dir);
    return fx_sh("'%s' %s %s > '%s' 2> '%s'", fx_bin, cmd, args, to_path ? to_path : out, err);
}

/* 1 when the command wrote one line containing `message` to stderr and nothing to stdout. */
static int one_line(const char *message)
{
    char *msg = fx_text(err);
    int ok =
        strstr(msg, message) && strchr(msg, '\n') == msg + strlen(msg) - 1 && fx_size(out) == 0;
    if (!ok) printf("  stderr: %s", msg);
    free(msg);
    return ok;
}

/* The names of a directory's entries, sorted, into buf (to see that nothing was added beside a
 * file). */
static void dir_listing(const char *dir, char *buf, size_t n)
{
    struct dirent **names;
    int k = scandir(dir, &names, NULL, alphasort);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < k; i++) {
        len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s ", names[i]->d_name);
        free(names[i]);
    }
    if (k >= 0) free(names);
}

/* The table list of an SQLite file (type and name of each schema object), read-only. */
static void table_list(const char *path, char *buf, size_t n)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    size_t len = 0;
    buf[0] = 0;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT type || ' ' || name FROM sqlite_master ORDER BY 1", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s; ",
                                    sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
}

/* SQL on a file outside attnbench (set-up of foreign files): 0 or -1. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *h;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Every reader refuses the file at `path` (in directory `dir`) with exit 2 and one line containing
 * `message`, and leaves it as it was: same bytes, same tables, no file added beside it. */
static void refused_untouched(const char *what, const char *dir, const char *path,
                              const char *message)
{
    char before[2048], after[2048], tables_before[2048], tables_after[2048];
    long len_before = 0, len_after = 0;
    struct stat st;
    int regular = stat(path, &st) == 0 && S_ISREG(st.st_mode); /* else no bytes to compare */
    char *bytes_before = regular ? fx_read(path, &len_before) : NULL;
    dir_listing(dir, before, sizeof before);
    table_list(path, tables_before, sizeof tables_before);
    for (int i = 0; i < N_READERS; i++) {
        char args[1024], descr[256];
        snprintf(args, sizeof args, "--db '%s'", path);
        int rc = run_reader(i, args, NULL);
        snprintf(descr, sizeof descr, "%s: %.40s exits 2 saying '%s'", what, readers[i], message);
        test_cond(descr, rc == 2 && one_line(message));
    }
    char *bytes_after = regular ? fx_read(path, &len_after) : NULL;
    dir_listing(dir, after, sizeof after);
    table_list(path, tables_after, sizeof tables_after);
    char descr[256];
    snprintf(descr, sizeof descr, "%s: bytes unchanged", what);
    test_cond(descr,
              len_before == len_after && (!bytes_before) == (!bytes_after) &&
                  (!bytes_before || memcmp(bytes_before, bytes_after, (size_t)len_before) == 0));
    snprintf(descr, sizeof descr, "%s: table list unchanged", what);
    test_cond(descr, strcmp(tables_before, tables_after) == 0);
    snprintf(descr, sizeof descr, "%s: no file added beside it", what);
    test_cond(descr, strcmp(before, after) == 0);
    if (strcmp(before, after) != 0) printf("  before: %s\n  after:  %s\n", before, after);
    free(bytes_before);
    free(bytes_after);
}

/* Files that are not attnbench databases, each in a directory of its own. */
static void foreign_files(void)
{
    char dir[512], path[1024];
    struct {
        const char *name, *sql, *text, *message;
    } files[] = {
        {"other.db",
         "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, started TEXT);"
         "INSERT INTO runs (name, started) VALUES ('a', 'today'), ('b', 'yesterday');",
         NULL, "is not an attnbench database"},
        {"notes.db",
         "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep me');"
         "PRAGMA user_version = 7;",
         NULL, "is not an attnbench database"},
        {"empty.db", NULL, "", "is not an attnbench database"},
        {"notes.txt", NULL, "a text file, not a database\n", "is not an attnbench database"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(dir, sizeof dir, "%s/foreign%zu", fx_dir, i);
        mkdir(dir, 0777);
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (files[i].sql) {
            test_cond("foreign SQLite file made", raw_exec(path, files[i].sql) == 0);
        } else {
            FILE *f = fopen(path, "w");
            if (f) fputs(files[i].text, f), fclose(f);
        }
        refused_untouched(files[i].name, dir, path, files[i].message);
    }
    snprintf(dir, sizeof dir, "%s/foreign0", fx_dir);
    refused_untouched("a directory", fx_dir, dir, "is a directory, not a database file");
    snprintf(path, sizeof path, "%s/absent.db", fx_dir);
    refused_untouched("an absent file", fx_dir, path, "no readable database");
}

/* A copy of the database at `db` (VACUUM INTO: one file) with user_version set. */
static void schema_copy(const char *db, const char *copy, int version)
{
    char sql[1200];
    fx_unlink_db(copy);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", copy);
    int ok = raw_exec(db, sql) == 0;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    test_cond("schema copy made", ok && raw_exec(copy, sql) == 0);
}

static void schemas(const char *db)
{
    char dir[512], copy[1024];
    snprintf(dir, sizeof dir, "%s/schemas", fx_dir);
    mkdir(dir, 0777);
    snprintf(copy, sizeof copy, "%s/newer.db", dir);
    schema_copy(db, copy, 99);
    refused_untouched("a newer schema", dir, copy,
                      "has schema version 99, newer than this attnbench");
    snprintf(copy, sizeof copy, "%s/older.db", dir);
    schema_copy(db, copy, 1);
    refused_untouched("schema 1", dir, copy, "run `attnbench run` once with --db");
}

/* An attnbench database: every reader reads it and leaves it byte for byte as it was. */
static void read_only(const char *db)
{
    long len_before = 0, len_after = 0;
    char *before = fx_read(db, &len_before);
    for (int i = 0; i < N_READERS; i++) {
        char args[1024];
        snprintf(args, sizeof args, "--db '%s'", db);
        int rc = run_reader(i, args, NULL);
        char descr[256];
        snprintf(descr, sizeof descr, "%.40s reads an attnbench database (exit 0)%s", readers[i],
                 needs(readers[i]));
        test_cond(descr, rc == 0 && fx_size(out) > 0);
    }
    char *after = fx_read(db, &len_after);
    test_cond("the database's bytes unchanged by the readers",
              before && after && len_before == len_after &&
                  memcmp(before, after, (size_t)len_before) == 0);
    free(before);
    free(after);
}

/* Bad output paths: exit 2, a sentence naming the path the user gave, nothing printed or written;
 * checked before the work. */
static void bad_outputs(const char *db)
{
    char a_dir[512];
    fx_path(a_dir, sizeof a_dir, "foreign0");
    struct {
        const char *what, *cmd, *message;
    } cases[] = {
        {"plot --out /proc/x", "plot --db '%1$s' --out /proc/x",
         "cannot create the output directory '/proc/x'"},
        {"plot --out a file", "plot --db '%1$s' --out '%1$s'", "exists and is not a directory"},
        {"report --out /missing/r.md", "report --db '%1$s' --out /missing/r.md",
         "cannot write --out '/missing/r.md': no directory '/missing'"},
        {"report --out a directory", "report --db '%1$s' --out '%2$s'", "it is a directory"},
        {"report --out /proc/r.md", "report --db '%1$s' --out /proc/r.md",
         "cannot write --out '/proc/r.md'"},
        {"compare --junit /missing/j.xml",
         "compare --db '%1$s' --baseline 1 --candidate 1 --junit"
         " /missing/j.xml",
         "cannot write --junit '/missing/j.xml': no directory '/missing'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, cases[i].cmd, db, a_dir);
        int rc = fx_sh("'%s' %s > '%s' 2> '%s'", fx_bin, cmd, out, err);
        char descr[256];
        snprintf(descr, sizeof descr, "%s%s", cases[i].what, needs(cases[i].cmd));
        test_cond(descr, rc == 2 && one_line(cases[i].message));
        char *msg = fx_text(err);
        test_cond("no temporary file named", !strstr(msg, ".tmp"));
        free(msg);
    }
    test_cond("/proc/x not created", fx_size("/proc/x") < 0);
}

/* Standard output on a full device: each reader fails with a message (the gates with 2: their 1
 * means a regression). */
static void full_device(const char *db)
{
    if (fx_size("/dev/full") < 0) {
        printf("  no /dev/full here: write errors not tested\n");
        return;
    }
    for (int i = 0; i < N_READERS; i++) {
        char args[1024], descr[256];
        snprintf(args, sizeof args, "--db '%s'", db);
        int rc = run_reader(i, args, "/dev/full");
        int gate = strncmp(readers[i], "compare", 7) == 0 || strncmp(readers[i], "history", 7) == 0;
        char *msg = fx_text(err);
        snprintf(descr, sizeof descr, "%.40s > /dev/full exits %d with a message%s", readers[i],
                 gate ? 2 : 1, needs(readers[i]));
        test_cond(descr,
                  rc == (gate ? 2 : 1) &&
                      strstr(msg, "cannot write to standard output: No space left on device"));
        free(msg);
    }
    /* Through a link in the scratch directory, so that a build which renames over its --out
     * replaces the link, never the device. */
    char link[512];
    fx_path(link, sizeof link, "full");
    test_cond("link to /dev/full", symlink("/dev/full", link) == 0);
    int rc = fx_sh("'%s' report --db '%s' --out '%s' > '%s' 2> '%s'", fx_bin, db, link, out, err);
    char *msg = fx_text(err);
    test_cond("report --out a device: written in place, exit 1 naming it",
              rc == 1 && strstr(msg, "cannot write '") && strstr(msg, "No space left on device"));
    free(msg);
    struct stat st;
    test_cond("the device is kept (never renamed over)",
              lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    char db[512];
    fx_path(db, sizeof db, "r.db");
    fx_path(out, sizeof out, "out.txt");
    fx_path(err, sizeof err, "err.txt");
    test_cond("CPU run", fx_sh("'%s' run --backend cpu --db '%s' --variants naive --seq 64,127"
                               " --heads 2 --head-dim 64 --max-time 0.02 --quiet",
                               fx_bin, db) == 0);
    read_only(db);
    foreign_files();
    schemas(db);
    bad_outputs(db);
    full_device(db);
    if (!getenv("ATTN_KEEP")) fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
