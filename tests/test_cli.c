/* test_cli.c — the table-driven parser (every kind of setter, "--name value" and "--name=value",
 * missing and bad values, unknown options, --help), the help's layout, and integer lists with
 * ranges. Messages go to stderr: captured into a scratch file to check they are one line. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "test.h"

typedef struct opts {
    const char *name;
    int flag, count;
    int64_t id;
    double fraction, share;
} opts;

static const cli_option options[] = {
    {"--name", "TEXT", "a text", cli_set_text, offsetof(opts, name)},
    {"--flag", NULL, "a flag", cli_set_flag, offsetof(opts, flag)},
    {"--count", "N", "a count\nsecond line of help", cli_set_count, offsetof(opts, count)},
    {"--id", "N", "a run id", cli_set_id, offsetof(opts, id)},
    {"--fraction", "X", "a fraction, e.g. 10%", cli_set_fraction, offsetof(opts, fraction)},
    {"--a-very-long-option-name", "X", "a share below 1", cli_set_share, offsetof(opts, share)},
    {0}};

static const cli_command command = {"demo", "[options]", "A demonstration.\n", options,
                                    "Exit status: 0.\n", NULL};

static char err_path[64];

/* cli_parse over the words of args (at most 15), stderr into err_path. */
static int parse(const char *args, opts *o)
{
    char buf[512], *argv[16] = {"demo"};
    int argc = 1;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < 16;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    memset(o, 0, sizeof *o);
    fflush(stderr);
    int saved = dup(2), fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = cli_parse(&command, argc, argv, o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return rc;
}

/* The captured message, when it is exactly one line containing `part`. */
static int one_line_with(const char *part)
{
    char msg[512] = "";
    FILE *f = fopen(err_path, "r");
    size_t n = f ? fread(msg, 1, sizeof msg - 1, f) : 0;
    if (f) fclose(f);
    msg[n] = 0;
    return n > 0 && strstr(msg, part) && strchr(msg, '\n') == msg + n - 1;
}

static void setters(void)
{
    opts o;
    test_cond("every kind set",
              parse("--name x --flag --count 3 --id=17 --fraction 25% --a-very-long-option-name 0.5",
                    &o) == 0 &&
                  strcmp(o.name, "x") == 0 && o.flag == 1 && o.count == 3 && o.id == 17 &&
                  o.fraction == 0.25 && o.share == 0.5);
    test_cond("nothing given: nothing set", parse("", &o) == 0 && !o.name && !o.flag);
    test_cond("bad count: usage", parse("--count 0", &o) == CLI_USAGE);
    test_cond("... names the option and its help",
              one_line_with("demo: bad value '0' for --count N: a count"));
    test_cond("bad id: usage", parse("--id -4", &o) == CLI_USAGE);
    test_cond("share of 1: usage", parse("--a-very-long-option-name 100%", &o) == CLI_USAGE);
    test_cond("negative fraction: usage", parse("--fraction -1", &o) == CLI_USAGE);
    test_cond("missing value: usage", parse("--name", &o) == CLI_USAGE);
    test_cond("... says so", one_line_with("--name needs a value (TEXT)"));
    test_cond("unknown option: usage", parse("--nope", &o) == CLI_USAGE);
    test_cond("... names it", one_line_with("unknown option '--nope' (attnbench demo --help)"));
    test_cond("a flag takes no value", parse("--flag=1", &o) == CLI_USAGE);
    test_cond("positional refused", parse("stray", &o) == CLI_USAGE);
    test_cond("... says so", one_line_with("unexpected argument 'stray'"));
    test_cond("prefix of an option is not the option", parse("--nam x", &o) == CLI_USAGE);
}

static void help(void)
{
    FILE *f = tmpfile();
    cli_usage(&command, f);
    char text[2048] = "";
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = 0;
    fclose(f);
    test_cond("usage line", strncmp(text, "usage: attnbench demo [options]\nA demonstration.\n", 49) == 0);
    test_cond("options aligned to the widest short one",
              strstr(text, "\n  --name TEXT   a text\n") && strstr(text, "\n  --flag        a flag\n"));
    test_cond("continuation line indented",
              strstr(text, "  --count N     a count\n                second line of help\n"));
    test_cond("a head wider than the column: help on the next line",
              strstr(text, "\n  --a-very-long-option-name X\n                a share below 1\n"));
    test_cond("epilog after a blank line", strstr(text, "a share below 1\n\nExit status: 0.\n"));
    opts o;
    fflush(stdout);
    int saved = dup(1), fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    close(fd);
    int rc = parse("--count 2 --help --nope", &o);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    test_cond("--help: CLI_HELP, the rest not read", rc == CLI_HELP && o.count == 2);
}

static void int_lists(void)
{
    int x[16];
    test_cond("list", cli_int_list("127,1,1000", 1, x, 16) == 3 && x[0] == 127 && x[2] == 1000);
    test_cond("geometric range", cli_int_list("512:4096:x2", 1, x, 16) == 4 && x[3] == 4096);
    test_cond("arithmetic range", cli_int_list("1:7:+3", 1, x, 16) == 3 && x[2] == 7);
    test_cond("mixed", cli_int_list("3,64:128:x2", 1, x, 16) == 3 && x[2] == 128);
    test_cond("below min", cli_int_list("0", 1, x, 16) == -1);
    test_cond("too many", cli_int_list("1:100:+1", 1, x, 16) == -1);
    test_cond("malformed", cli_int_list("1:4", 1, x, 16) == -1 && cli_int_list("4:2:x2", 1, x, 16) == -1 &&
                               cli_int_list("x", 1, x, 16) == -1);
    double s;
    test_cond("seconds", cli_seconds("500ms", &s) == 0 && s == 0.5 && cli_seconds("0", &s) == -1);
}

int main(void)
{
    snprintf(err_path, sizeof err_path, "/tmp/attnbench-test-cli-%d.err", (int)getpid());
    setters();
    help();
    int_lists();
    unlink(err_path);
    return test_report();
}
