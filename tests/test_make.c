/* test_make.c — the Makefile and its dependency check (scripts/deps.sh). The check, on a machine
 * without gnuplot (a PATH of links to every tool here but gnuplot): the build does not need it;
 * `make test` does, and either installs it (root with apt-get: here a stand-in apt-get that records
 * its arguments and "installs" a stand-in gnuplot) or stops before compiling anything with the one
 * command to run. The targets, as `make -n` prints them: CFLAGS given on the command line keep the
 * warning flags and reach the link; make sanitize builds in build-sanitize/ with ASan and UBSan;
 * make plots draws the newest database in results/ unless DB= names one. On a machine without a
 * GPU, the GPU tests (as make test-gpu runs them; make test builds them) fail cleanly: each ends
 * with its summary line, none dies of a signal (test_cupti read a sample that was never taken).
 * Runs from the repository root, as make test does. ATTN_KEEP=1 keeps the scratch directory. */
#include <dirent.h>

#include "fixture.h"
#include "test.h"

static char bin[512], out[512];

/* A make of its own (not the jobserver of the make running this test), printing what it would do. */
#define MAKE_N "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -n"

/* The line of text holding needle (free it); NULL when none. */
static char *line_with(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    if (!at) return NULL;
    const char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n') start--;
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

/* The targets' commands, as make -n prints them into out. */
static void targets(void)
{
    char build[512], root[4096];
    fx_path(build, sizeof build, "b");
    int rc = fx_sh(MAKE_N " BUILD='%s' CFLAGS+=-fsanitize=address '%s/attnbench' > '%s' 2>&1",
                   build, build, out);
    char *text = fx_text(out), needle[600];
    snprintf(needle, sizeof needle, "-o %.500s/attnbench ", build);
    char *link = line_with(text, needle);
    test_cond("make CFLAGS+=-fsanitize=address: compiles with it and the warning flags",
              rc == 0 &&
                  strstr(text, "-fsanitize=address -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE"
                               " -c"));
    test_cond("... and links with it", link && strstr(link, "-fsanitize=address"));
    free(link);
    free(text);

    rc = fx_sh(MAKE_N " sanitize > '%s' 2>&1", out);
    text = fx_text(out);
    test_cond("make sanitize: an ASan + UBSan build in build-sanitize/",
              rc == 0 && strstr(text, "BUILD=build-sanitize") &&
                  strstr(text, "-fsanitize=address,undefined") && strstr(text, "valgrind.supp"));
    free(text);

    /* make plots from a directory whose results/ holds two databases, the newer second (-o all:
     * the build is not this check's). */
    char dir[512];
    fx_path(dir, sizeof dir, "plots");
    if (!getcwd(root, sizeof root)) root[0] = 0;
    rc = fx_sh("mkdir -p '%s/results' && cd '%s' && touch -d '1 hour ago' results/old.db &&"
               " touch results/new.db && " MAKE_N " -o all -f '%s/Makefile' plots > '%s' 2>&1",
               dir, dir, root, out);
    text = fx_text(out);
    test_cond("make plots: the newest database in results/",
              rc == 0 && strstr(text, "plot --db results/new.db --out plots/out"));
    free(text);
    rc = fx_sh("cd '%s' && " MAKE_N " -o all -f '%s/Makefile' plots DB=results/old.db > '%s' 2>&1",
               dir, root, out);
    text = fx_text(out);
    test_cond("make plots DB=...", rc == 0 && strstr(text, "plot --db results/old.db"));
    free(text);
}

/* The GPU tests of this build (beside this test: BUILD/tests/gpu/) where there is no GPU, as make
 * test-gpu runs them; a machine with a GPU runs the real thing: skipped there. */
static void gpu_tests_without_gpu(const char *argv0)
{
    if (access("/dev/nvidia0", F_OK) == 0) {
        printf("  a GPU is present: the GPU tests without one not tested\n");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv0);
    /* Under make sanitize, leaks on the tests' own failure paths are not what this checks. */
    int rc = fx_sh("find '%s/gpu' -name 'test_*' ! -name '*.d' -type f | sort |"
                   " ASAN_OPTIONS=detect_leaks=0 xargs scripts/run-tests.sh > '%s' 2>&1",
                   dirname(dir), out);
    char *text = fx_text(out);
    test_cond("the GPU tests without a GPU fail", rc != 0 && strstr(text, "== "));
    test_cond("... every GPU test with its summary line, none killed by a signal",
              !strstr(text, "without a summary line") && !strstr(text, "Segmentation fault"));
    free(text);
}

/* bin/: a link to every program of the system directories but gnuplot. */
static int hide_gnuplot(void)
{
    static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"};
    int links = 0;
    mkdir(bin, 0777);
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        DIR *dir = opendir(dirs[d]);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            char from[1024], to[1024];
            if (e->d_name[0] == '.' || strncmp(e->d_name, "gnuplot", 7) == 0) continue;
            snprintf(from, sizeof from, "%s/%s", dirs[d], e->d_name);
            snprintf(to, sizeof to, "%s/%s", bin, e->d_name);
            links += symlink(from, to) == 0;
        }
        if (dir) closedir(dir);
    }
    return links;
}

/* Runs `CMD` with PATH=bin (and the CUDA toolkit's bin) and DEPS_INSTALL as given, output in out;
 * its exit status. */
static int without_gnuplot(const char *install, const char *cmd)
{
    return fx_sh("PATH='%s':/usr/local/cuda/bin DEPS_INSTALL=%s %s > '%s' 2>&1", bin, install, cmd,
                 out);
}

/* An apt-get that records its arguments in apt.log and, asked for gnuplot-nox, puts a gnuplot in
 * bin/ (as the real one would put it on PATH). */
static void fake_apt_get(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/apt-get", bin);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f,
            "#!/bin/sh\necho \"$*\" >> '%s/apt.log'\n"
            "case \"$*\" in *install*gnuplot-nox*)\n"
            "  printf '#!/bin/sh\\necho gnuplot 0.0 stand-in\\n' > '%s/gnuplot'\n"
            "  chmod +x '%s/gnuplot';; esac\n",
            fx_dir, bin, bin);
    fclose(f);
    chmod(path, 0755);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (fx_init(argv[0]) != 0) return 1;
    fx_path(bin, sizeof bin, "bin");
    fx_path(out, sizeof out, "out.txt");
    test_cond("links to the tools but gnuplot", hide_gnuplot() > 10);
    test_cond("gnuplot hidden", without_gnuplot("0", "command -v gnuplot") != 0);

    int rc = without_gnuplot("0", "scripts/deps.sh build");
    char *text = fx_text(out);
    test_cond("the build does not need gnuplot", rc == 0 && strstr(text, "✗ gnuplot"));
    free(text);

    rc = without_gnuplot("0", "scripts/deps.sh test");
    text = fx_text(out);
    test_cond("make test's check fails without gnuplot", rc == 1 && strstr(text, "✗ gnuplot"));
    test_cond("... naming the one command",
              strstr(text, "apt-get install -y gnuplot-nox\n") != NULL);
    test_cond("... and stopping before the build",
              strstr(text, "stopped before building: make test"));
    free(text);

    char build[512], make[1200];
    fx_path(build, sizeof build, "build");
    /* A make of its own (not the jobserver of the make running this test). */
    snprintf(make, sizeof make,
             "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory"
             " -j2 BUILD='%s' test",
             build);
    rc = without_gnuplot("0", make);
    text = fx_text(out);
    test_cond("make test stops before compiling anything",
              rc != 0 && strstr(text, "stopped before building") && fx_size(build) < 0 &&
                  !strstr(text, "  CC  ") && !strstr(text, "  NVCC  "));
    free(text);

    if (geteuid() == 0) {
        fake_apt_get();
        rc = without_gnuplot("1", "scripts/deps.sh test");
        text = fx_text(out);
        char log[512];
        char *apt = fx_text(fx_path(log, sizeof log, "apt.log"));
        test_cond("as root with apt-get: installs gnuplot-nox",
                  strstr(apt, "install -y -qq gnuplot-nox"));
        test_cond("... then passes", rc == 0 && strstr(text, "installing: gnuplot-nox") &&
                                         strstr(text, "✓ gnuplot    gnuplot 0.0 stand-in"));
        free(apt);
        free(text);
    } else {
        printf("  not root: the install path is not tested\n");
    }
    targets();
    gpu_tests_without_gpu(argv[0]);
    if (!getenv("ATTN_KEEP")) fx_sh("rm -rf '%s'", fx_dir);
    return test_report();
}
