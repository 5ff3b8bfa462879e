/* cli.h — option parsing shared by the subcommands: each command's options in one table that the
 * parser reads and the help is printed from; long options "--name value" or "--name=value";
 * integer lists with ranges; the one-line usage error (exit 2). No short options but -h. */
#ifndef ATTN_CLI_H
#define ATTN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_LIST_MAX 256

/* Exit status for bad usage or bad input. */
#define CLI_USAGE 2

/* Matches argv[*i] against "--name": returns 1 and sets *value (the next argument, or the text after
 * '=') when it matches; advances *i past a separate value. A missing value is a usage error:
 * *value is NULL and the caller reports it with cli_error (cli_parse also reports an empty one). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Matches a flag without value ("--no-cupti"). */
int cli_flag(char **argv, int i, const char *name);

/* "512,1024" or "512:16384:x2" (start:stop:xfactor or start:stop:+step) or a mix, into out[];
 * returns the count, or -1 when malformed or a value is < min. */
int cli_int_list(const char *s, int min, int *out, int max);
/* Comma-separated words into out[] (pointers into a copy owned by the caller's buffer). */
int cli_word_list(const char *s, char *buf, size_t bufsize, char **out, int max);
/* A positive number, optionally with a suffix: "2s", "500ms" → seconds; "1%" → 0.01 (with pct). */
int cli_seconds(const char *s, double *out);
int cli_fraction(const char *s, double *out);

/* Prints "attnbench CMD: message" to stderr, with "SOURCE: " before the message while cli_source
 * is set; returns CLI_USAGE. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where the arguments being parsed come from when not the command line ("FILE:LINE" of an
 * options file); NULL: the command line. */
extern const char *cli_source;
/* s for quoting in a message: itself up to CLI_CLIP_MAX bytes, else its first bytes (whole UTF-8
 * characters) and "…", in one of four static buffers (a message may clip up to four values). */
#define CLI_CLIP_MAX 80
const char *cli_clip(const char *s);

/* ---------------------------------------------------------------- table-driven commands
 * Every command declares its options in one table; cli_parse reads argv against it and prints the
 * help from it, so the help always lists what the parser accepts. */

/* Returned by cli_parse after printing the help for --help or -h: the command exits 0. */
#define CLI_HELP 3
/* Returned by a setter for a value it rejects: cli_parse prints the one-line usage error, naming
 * the option and quoting its help ("bad value 'x' for --window N: the newest N runs, 10 to ..."). */
#define CLI_BAD_VALUE (-1)

typedef struct cli_option {
    const char *name; /* "--seq"; a NULL name ends the table */
    const char *arg;  /* the value's placeholder ("LIST"); NULL for a flag that takes no value */
    const char *help; /* the description; '\n' starts an indented continuation line */
    /* Called with the option's field, (char *)ctx + offset, and the value (NULL for a flag).
     * Returns 0; CLI_BAD_VALUE (cli_parse prints the message); or CLI_USAGE after its own
     * cli_error. */
    int (*set)(void *field, const char *value);
    size_t offset;    /* offsetof the option's field in the parser's ctx; 0 (left out): ctx itself */
} cli_option;

typedef struct cli_command {
    const char *name;          /* "run" */
    const char *synopsis;      /* after "usage: attnbench NAME ": "[options]" */
    const char *about;         /* lines printed before the options */
    const cli_option *options;
    const char *epilog;        /* lines printed after the options (exit status); may be NULL */
    /* Called for each argument that is not an option; NULL: such an argument is a usage error. */
    int (*positional)(void *ctx, const char *arg);
} cli_command;

/* Parses argv[1..argc-1]: 0, CLI_USAGE (a message was printed: an unknown option, a missing or
 * empty value — "--seq needs a value (LIST)" —, a value its setter rejects), or CLI_HELP (help
 * printed). Values are echoed through cli_clip. */
int cli_parse(const cli_command *c, int argc, char **argv, void *ctx);
/* The help: usage line, about, one line per option (name and placeholder in a column as wide as
 * the longest up to 24 characters; a longer one gets the description on the next line), epilog. */
void cli_usage(const cli_command *c, FILE *f);

/* Setters for the common kinds of field; each rejects a bad value with CLI_BAD_VALUE.
 *   cli_set_text   const char *: the value itself (argv outlives the parse)
 *   cli_set_flag   int: 1
 *   cli_set_count  int: a positive integer (up to 2^30)
 *   cli_set_id     int64_t: a positive integer (up to 2^30): a run id
 *   cli_set_fraction  double >= 0 as cli_fraction reads it ("2%" or 0.02)
 *   cli_set_share  double in [0, 1), read the same way */
int cli_set_text(void *field, const char *value);
int cli_set_flag(void *field, const char *value);
int cli_set_count(void *field, const char *value);
int cli_set_id(void *field, const char *value);
int cli_set_fraction(void *field, const char *value);
int cli_set_share(void *field, const char *value);

#endif
