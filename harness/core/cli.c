/* cli.c — option parsing shared by the subcommands (see cli.h). */
#include "core/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != 0) return 0;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

int cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

static int parse_int(const char *s, char **end, long *out)
{
    errno = 0;
    long v = strtol(s, end, 10);
    if (*end == s || errno) return -1;
    *out = v;
    return 0;
}

int cli_int_list(const char *s, int min, int *out, int max)
{
    int n = 0;
    if (!s || !*s) return -1;
    while (*s) {
        char *end;
        long a, b, step;
        if (parse_int(s, &end, &a) || a < min || a > 1L << 30) return -1;
        if (*end == ':') { /* range start:stop:xF or start:stop:+F */
            const char *p = end + 1;
            if (parse_int(p, &end, &b) || b < a || b > 1L << 30 || *end != ':') return -1;
            char op = end[1];
            if ((op != 'x' && op != '+') || parse_int(end + 2, &end, &step)) return -1;
            if ((op == 'x' && step < 2) || (op == '+' && step < 1)) return -1;
            for (long v = a; v <= b; v = op == 'x' ? v * step : v + step) {
                if (n == max) return -1;
                out[n++] = (int)v;
            }
        } else {
            if (n == max) return -1;
            out[n++] = (int)a;
        }
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return n;
}

int cli_word_list(const char *s, char *buf, size_t bufsize, char **out, int max)
{
    if (!s || !*s || strlen(s) >= bufsize) return -1;
    strcpy(buf, s);
    int n = 0;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (n == max) return -1;
        out[n++] = w;
    }
    return n;
}

int cli_seconds(const char *s, double *out)
{
    char *end;
    if (!s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0)) return -1;
    if (strcmp(end, "ms") == 0) v /= 1e3;
    else if (*end && strcmp(end, "s") != 0) return -1;
    *out = v;
    return 0;
}

int cli_fraction(const char *s, double *out)
{
    char *end;
    if (!s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return -1;
    if (strcmp(end, "%") == 0) v /= 100;
    else if (*end) return -1;
    *out = v;
    return 0;
}

const char *cli_source;

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "attnbench %s: %s%s", cmd, cli_source ? cli_source : "",
            cli_source ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

const char *cli_clip(const char *s)
{
    static char buf[4][CLI_CLIP_MAX + 8];
    static int next;
    size_t n = strlen(s);
    if (n <= CLI_CLIP_MAX) return s;
    char *b = buf[next++ % 4];
    n = CLI_CLIP_MAX - 3;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* not inside a UTF-8 character */
    snprintf(b, sizeof buf[0], "%.*s…", (int)n, s);
    return b;
}

enum { HEAD_MAX = 24 }; /* widest option column of the help */

static int head_text(const cli_option *o, char *buf, size_t n)
{
    return snprintf(buf, n, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

void cli_usage(const cli_command *c, FILE *f)
{
    fprintf(f, "usage: attnbench %s %s\n", c->name, c->synopsis);
    if (c->about) fputs(c->about, f);
    fputs("\n", f);
    char head[128];
    int width = 0;
    for (const cli_option *o = c->options; o->name; o++) {
        int w = head_text(o, head, sizeof head);
        if (w > width && w <= HEAD_MAX) width = w;
    }
    for (const cli_option *o = c->options; o->name; o++) {
        if (head_text(o, head, sizeof head) > width) fprintf(f, "  %s\n  %-*s  ", head, width, "");
        else fprintf(f, "  %-*s  ", width, head);
        for (const char *h = o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n') fprintf(f, "  %-*s  ", width, "");
        }
        fputc('\n', f);
    }
    if (c->epilog) fprintf(f, "\n%s", c->epilog);
}

/* Runs the option's setter; prints the usage error for a value it rejects. */
static int set_option(const cli_command *c, const cli_option *o, void *ctx, const char *v)
{
    int rc = o->set((char *)ctx + o->offset, v);
    if (rc != CLI_BAD_VALUE) return rc;
    int first_line = (int)strcspn(o->help, "\n");
    char head[128];
    head_text(o, head, sizeof head);
    return cli_error(c->name, "bad value '%s' for %s: %.*s", cli_clip(v ? v : ""), head,
                     first_line, o->help);
}

int cli_parse(const cli_command *c, int argc, char **argv, void *ctx)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_usage(c, stdout);
            return CLI_HELP;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (!c->positional)
                return cli_error(c->name, "unexpected argument '%s' (attnbench %s --help)",
                                 cli_clip(a), c->name);
            int rc = c->positional(ctx, a);
            if (rc) return rc;
            continue;
        }
        const cli_option *o = c->options;
        for (; o->name; o++)
            if (o->arg ? cli_opt(argc, argv, &i, o->name, &v) : cli_flag(argv, i, o->name)) break;
        if (!o->name)
            return cli_error(c->name, "unknown option '%s' (attnbench %s --help)", cli_clip(a),
                             c->name);
        if (o->arg && (!v || !*v))
            return cli_error(c->name, "%s needs a value (%s)", o->name, o->arg);
        int rc = set_option(c, o, ctx, v);
        if (rc) return rc;
    }
    return 0;
}

int cli_set_text(void *field, const char *value)
{
    *(const char **)field = value;
    return 0;
}

int cli_set_flag(void *field, const char *value)
{
    (void)value;
    *(int *)field = 1;
    return 0;
}

int cli_set_count(void *field, const char *value)
{
    int x[1];
    if (cli_int_list(value, 1, x, 1) != 1) return CLI_BAD_VALUE;
    *(int *)field = x[0];
    return 0;
}

int cli_set_id(void *field, const char *value)
{
    int x[1];
    if (cli_int_list(value, 1, x, 1) != 1) return CLI_BAD_VALUE;
    *(int64_t *)field = x[0];
    return 0;
}

int cli_set_fraction(void *field, const char *value)
{
    return cli_fraction(value, field) ? CLI_BAD_VALUE : 0;
}

int cli_set_share(void *field, const char *value)
{
    double x;
    if (cli_fraction(value, &x) || x >= 1) return CLI_BAD_VALUE;
    *(double *)field = x;
    return 0;
}
