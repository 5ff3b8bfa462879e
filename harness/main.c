/* main.c — build/attnbench: dispatch to the subcommands (commands.h). */
#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "commands.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "check and time variants over a sweep of shapes; store in SQLite"},
    {"list", cmd_list, "list the variants"},
    {"show", cmd_show, "print a run's summary as a table"},
    {"plot", cmd_plot, "render a run's figures (PNG and SVG) with gnuplot"},
    {"report", cmd_report, "a run's report as Markdown or a static HTML page"},
    {"export", cmd_export, "a run's summary as CSV or JSON"},
    {"compare", cmd_compare, "regression gate: two runs key by key (exit 1 on a regression)"},
    {"history", cmd_history, "change points in the per-run series of each key (exit 1 on a step)"},
    {"merge", cmd_merge, "merge databases (shards of one sweep) into one, runs keyed by run_uuid"},
    {"ab", cmd_ab, "two builds as interleaved processes, key by key (exit 1 on a regression)"},
};

static void usage(FILE *f)
{
    fprintf(f, "attnbench — benchmark and profile GPU self-attention forward\n\n"
               "usage: attnbench COMMAND [options]   (attnbench COMMAND --help for its options)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "attnbench: unknown command '%s' (attnbench --help lists them)\n", argv[1]);
    return CLI_USAGE;
}
