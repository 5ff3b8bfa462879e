/* names.c — kernel short names from mangled names (see names.h). Reads only the subset of the
 * Itanium grammar that CUDA kernels use: <nested-name> of source names, and template arguments
 * that are integer literals, builtin types or plain class names; anything else is hashed. */
#include "core/names.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Itanium <source-name>: decimal length then that many characters. */
static const char *source_name(const char *s, const char **id, int *len)
{
    int n = 0;
    if (*s < '0' || *s > '9') return NULL;
    while (*s >= '0' && *s <= '9') n = n * 10 + (*s++ - '0');
    if ((int)strnlen(s, (size_t)n) < n) return NULL;
    *id = s, *len = n;
    return s + n;
}

/* The qualified name at s (after "_Z") into buf, anonymous namespaces dropped. Returns where the
 * name ends: at its template arguments ('I') when *templ is set. */
static const char *qualified_name(const char *s, char *buf, size_t n, int *templ)
{
    const char *id;
    int len, nested = *s == 'N';
    size_t used = 0;
    *templ = 0;
    if (nested) s++;
    while (*s == 'K' || *s == 'V' || *s == 'r') s++; /* cv-qualifiers of a nested name */
    if (*s == 'L') s++;                                /* internal linkage */
    for (;;) {
        const char *next = source_name(s, &id, &len);
        if (!next) break;
        /* An anonymous namespace (_GLOBAL__N_...) says nothing a reader needs: dropped. */
        if (!(nested && *next != 'I' && *next != 'E' && len >= 11 &&
              strncmp(id, "_GLOBAL__N_", 11) == 0)) {
            int w = snprintf(buf + used, used < n ? n - used : 0, "%s%.*s", used ? "::" : "", len,
                             id);
            used += w > 0 ? (size_t)w : 0;
            if (used >= n) break;
        }
        s = next;
        if (*s == 'I') { /* template arguments: spelled out by template_args when simple */
            *templ = 1;
            break;
        }
        if (!nested || *s == 'E') break;
    }
    return s;
}

/* One template argument at a into one (size 48): an integer literal (Li64E, Lb1E), a builtin type
 * or a plain class name (13__nv_bfloat16 → bf16, 6__half → fp16). Returns the text after it, or
 * NULL when the argument is not that simple. */
static const char *template_arg(const char *a, char *one, size_t size)
{
    static const char *const builtin[26] = {
        ['a' - 'a'] = "signed char", ['b' - 'a'] = "bool", ['c' - 'a'] = "char",
        ['d' - 'a'] = "double", ['f' - 'a'] = "float", ['h' - 'a'] = "unsigned char",
        ['i' - 'a'] = "int", ['j' - 'a'] = "unsigned", ['l' - 'a'] = "long",
        ['m' - 'a'] = "unsigned long", ['s' - 'a'] = "short", ['t' - 'a'] = "unsigned short",
        ['x' - 'a'] = "long long", ['y' - 'a'] = "unsigned long long"};
    if (*a == 'L' && a[1] && strchr("bcahsilxjtmy", a[1])) { /* literal: L type value E */
        char type = a[1];
        a += 2;
        int neg = *a == 'n';
        a += neg;
        const char *digits = a;
        while (*a >= '0' && *a <= '9') a++;
        if (a == digits || *a != 'E' || a - digits > 20) return NULL;
        if (type == 'b')
            snprintf(one, size, "%s", *digits == '0' && a - digits == 1 ? "false" : "true");
        else
            snprintf(one, size, "%s%.*s", neg ? "-" : "", (int)(a - digits), digits);
        return a + 1; /* E */
    }
    if (*a >= 'a' && *a <= 'z' && builtin[*a - 'a']) {
        snprintf(one, size, "%s", builtin[*a - 'a']);
        return a + 1;
    }
    if (*a >= '1' && *a <= '9') {
        const char *tid;
        int tlen;
        const char *after = source_name(a, &tid, &tlen);
        if (!after || *after == 'I' || tlen > 40) return NULL;
        if (tlen == 13 && strncmp(tid, "__nv_bfloat16", 13) == 0) snprintf(one, size, "bf16");
        else if (tlen == 6 && strncmp(tid, "__half", 6) == 0) snprintf(one, size, "fp16");
        else snprintf(one, size, "%.*s", tlen, tid);
        return after;
    }
    return NULL;
}

/* The template arguments at s ('I' ... 'E') as "<bf16,64,3>" into args; 0 when one is not simple
 * (or they do not fit). */
static int template_args(const char *s, char *args, size_t size)
{
    size_t used = 0;
    int count = 0;
    const char *a = s + 1;
    args[used++] = '<';
    while (*a && *a != 'E') {
        char one[48];
        if (!(a = template_arg(a, one, sizeof one))) return 0;
        int w = snprintf(args + used, size - used, "%s%s", count++ ? "," : "", one);
        if (w < 0 || (size_t)w >= size - used) return 0;
        used += (size_t)w;
    }
    if (*a != 'E' || count == 0 || used + 2 > size) return 0;
    memcpy(args + used, ">", 2);
    return 1;
}

void attn_kernel_short_name(const char *name, char *buf, size_t n)
{
    if (!n) return;
    buf[0] = 0;
    if (!name) return;
    if (strncmp(name, "_Z", 2) != 0) {
        snprintf(buf, n, "%.64s", name);
        return;
    }
    int templ;
    const char *s = qualified_name(name + 2, buf, n, &templ);
    if (!buf[0]) {
        snprintf(buf, n, "%.64s", name);
        return;
    }
    if (!templ) return;
    char args[98];
    if (!template_args(s, args, sizeof args)) {
        /* Not simple (nested names, substitutions, template parameters): a hash of the whole
         * mangled name keeps two instantiations apart. */
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
        snprintf(args, sizeof args, "<#%04x>", (h ^ (h >> 16)) & 0xffff);
    }
    size_t l = strlen(buf);
    if (l < n) snprintf(buf + l, n - l, "%s", args);
}
