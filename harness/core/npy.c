/* npy.c — .npy writer and reader (see npy.h). The reader takes the header dictionary as NumPy
 * writes it ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, keys in any order) and
 * insists that the data is exactly as long as the shape says. Assumes a little-endian host. */
#include "core/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NPY_MAX_HEADER (1 << 20) /* bytes; NumPy's own headers are well under 1 KiB */

int attn_npy_write(const char *path, attn_dtype t, const void *data, int ndim, const size_t *shape)
{
    char header[256], dims[128] = "";
    size_t n = 1, len = 0;
    for (int i = 0; i < ndim; i++) {
        len += snprintf(dims + len, sizeof dims - len, "%zu,%s", shape[i], i + 1 < ndim ? " " : "");
        n *= shape[i];
    }
    int hlen = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                        t == ATTN_FP16 ? "<f2" : "<f4", dims);
    /* Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of
     * 64 and ended by a newline. */
    int total = 10 + hlen + 1, pad = (64 - total % 64) % 64;
    memset(header + hlen, ' ', (size_t)pad);
    header[hlen + pad] = '\n';
    hlen += pad + 1;
    FILE *f = fopen(path, "wb");
    if (!f) return attn_fail("cannot write %s: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hlen, f) == (size_t)hlen;
    if (t == ATTN_BF16) {
        for (size_t i = 0; ok && i < n; i++) {
            float x = attn_load(t, data, i);
            ok = fwrite(&x, 4, 1, f) == 1;
        }
    } else {
        ok = ok && fwrite(data, attn_dtype_size(t), n, f) == n;
    }
    if (fclose(f) != 0 || !ok) return attn_fail("cannot write %s: %s", path, strerror(errno));
    return ATTN_OK;
}

/* Where the value of 'key' begins in the header dictionary h, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *at = strstr(h, quoted);
    if (!at) return NULL;
    at += strlen(quoted);
    while (*at == ' ') at++;
    if (*at++ != ':') return NULL;
    while (*at == ' ') at++;
    return at;
}

/* A shape tuple "(2, 3)", "(5,)" or "()" into a->ndim, a->shape, a->count. 0, or -1. */
static int parse_shape(const char *s, attn_npy *a)
{
    if (*s++ != '(') return -1;
    a->ndim = 0;
    a->count = 1;
    for (;;) {
        while (*s == ' ') s++;
        if (*s == ')') return 0;
        if (a->ndim == ATTN_NPY_MAX_DIMS || !isdigit((unsigned char)*s)) return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v > SIZE_MAX || (v && a->count > SIZE_MAX / 4 / v)) return -1;
        a->shape[a->ndim++] = (size_t)v;
        a->count *= (size_t)v;
        for (s = end; *s == ' '; s++) {}
        if (*s == ',') s++;
        else if (*s != ')') return -1;
    }
}

/* The header dictionary of an open .npy file (after its preamble) into a; the file positioned at
 * the data. NULL, or what is wrong. */
static const char *read_header(FILE *f, attn_npy *a)
{
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) return "not a .npy file";
    size_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) return "truncated header";
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        return "unknown .npy format version";
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) return "bad header length";
    char *h = malloc(hlen + 1);
    if (!h) return "out of host memory for the header";
    const char *why = NULL, *descr, *order, *shape;
    if (fread(h, 1, hlen, f) != hlen) {
        why = "truncated header";
    } else {
        h[hlen] = 0;
        descr = dict_value(h, "descr"), order = dict_value(h, "fortran_order");
        shape = dict_value(h, "shape");
        if (!descr || !order || !shape) why = "header without descr, fortran_order and shape";
        else if (strncmp(descr, "'<f4'", 5) == 0) a->dtype = ATTN_FP32;
        else if (strncmp(descr, "'<f2'", 5) == 0) a->dtype = ATTN_FP16;
        else why = "dtype is not little-endian float32 ('<f4') or float16 ('<f2')";
        if (!why && strncmp(order, "False", 5) != 0) why = "Fortran order (only C order is read)";
        if (!why && parse_shape(shape, a) != 0) why = "malformed shape";
    }
    free(h);
    return why;
}

/* The rest of f, exactly a->count elements of the file's dtype, widened into a->data. */
static const char *read_data(FILE *f, attn_npy *a)
{
    const size_t es = attn_dtype_size(a->dtype), bytes = a->count * es;
    long at = ftell(f);
    if (at < 0 || fseek(f, 0, SEEK_END) != 0) return "cannot seek";
    long end = ftell(f);
    if (end < at || (size_t)(end - at) != bytes || fseek(f, at, SEEK_SET) != 0)
        return "data length differs from what the shape needs";
    if (a->count == 0) return NULL;
    if (!(a->data = malloc(a->count * sizeof *a->data))) return "out of host memory";
    /* Read in place: the raw elements fill the front, then widen from the back. */
    if (fread(a->data, es, a->count, f) != a->count) return "short read";
    if (a->dtype == ATTN_FP16) {
        const uint16_t *h = (const uint16_t *)a->data;
        for (size_t i = a->count; i-- > 0;) a->data[i] = attn_half_to_float(h[i]);
    }
    return NULL;
}

int attn_npy_read(const char *path, attn_npy *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return attn_fail("cannot read %s: %s", path, strerror(errno));
    const char *why = read_header(f, out);
    if (!why) why = read_data(f, out);
    fclose(f);
    if (!why) return ATTN_OK;
    attn_npy_free(out);
    return attn_fail("%s: %s", path, why);
}

void attn_npy_free(attn_npy *a)
{
    free(a->data);
    a->data = NULL;
}
