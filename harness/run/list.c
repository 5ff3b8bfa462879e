/* list.c — `attnbench list`: the variants (name, exact / approximate / baseline, description, the
 * --param keys they declare) and, with --params, every parameter's declaration (kind, default,
 * choices or range, help), printed from the variants' own tables. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/cli.h"
#include "variant.h"

typedef struct list_options {
    int params;
} list_options;

static const cli_option list_option_table[] = {
    {"--params", NULL, "also each variant's parameters: kind, default, choices or range, help",
     cli_set_flag, offsetof(list_options, params)},
    {0},
};

static const cli_command list_command = {
    "list", "[--params]",
    "Prints each variant: name, exact / approximate / baseline, description, and the --param keys\n"
    "it declares (run --param KEY=LIST or VARIANT.KEY=LIST).\n",
    list_option_table, NULL, NULL,
};

static const char *const kind_names[] = {"int", "float", "enum", "string", "file"};

/* The values a parameter takes: its choices, its range, or what its kind says. */
static void values_text(const attn_param_spec *s, char *buf, size_t n)
{
    switch (s->kind) {
    case ATTN_PARAM_INT: snprintf(buf, n, "%.0f..%.0f", s->min, s->max); break;
    case ATTN_PARAM_FLOAT: snprintf(buf, n, "%g..%g", s->min, s->max); break;
    case ATTN_PARAM_ENUM: snprintf(buf, n, "%s", s->choices); break;
    case ATTN_PARAM_FILE: snprintf(buf, n, "a readable file"); break;
    default: snprintf(buf, n, "text without ',' or '='"); break;
    }
}

/* The width of the widest "variant.key", so the columns line up across variants. */
static int key_width(void)
{
    int w = 0;
    for (const attn_variant *const *v = attn_variants; *v; v++)
        for (int i = 0; i < attn_param_count(*v); i++) {
            const int n = (int)(strlen((*v)->name) + 1 + strlen((*v)->params[i].key));
            if (n > w) w = n;
        }
    return w;
}

static void print_variant(const attn_variant *v, int params)
{
    const char *kind = v->baseline ? "baseline" : v->exact ? "exact" : "approximate";
    printf("%-9s %-11s %s\n", v->name, kind, v->description);
    const int n = attn_param_count(v);
    if (!n) return;
    if (!params) {
        printf("%21s--param keys:", "");
        for (int i = 0; i < n; i++) printf("%s %s", i ? "," : "", v->params[i].key);
        putchar('\n');
        return;
    }
    for (int i = 0; i < n; i++) {
        const attn_param_spec *s = &v->params[i];
        char values[256], key[80];
        values_text(s, values, sizeof values);
        snprintf(key, sizeof key, "%s.%s", v->name, s->key);
        printf("  %-*s %-6s %-34s default %-8s %s\n", key_width(), key, kind_names[s->kind], values,
               s->def ? s->def : "-", s->help);
    }
}

int cmd_list(int argc, char **argv)
{
    list_options o = {0};
    int rc = cli_parse(&list_command, argc, argv, &o);
    if (rc) return rc == CLI_HELP ? 0 : rc;
    for (const attn_variant *const *v = attn_variants; *v; v++) print_variant(*v, o.params);
    return 0;
}
