/* test_npy.c — harness/core/npy: every dtype and shape written then read back (values exact,
 * dtype and shape as written); headers of format 2.0 and as NumPy spells them read; malformed
 * files rejected with a reason naming the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/rng.h"
#include "test.h"

static char dir[] = "/tmp/test-npy-XXXXXX";

static void round_trips(void)
{
    static const struct {
        int ndim;
        size_t shape[ATTN_NPY_MAX_DIMS];
    } shapes[] = {
        {0, {0}},                        /* a scalar: one element */
        {1, {1}},
        {1, {127}},
        {2, {3, 5}},
        {3, {2, 24, 127}},               /* lowrank's [2][k][S] */
        {8, {1, 2, 1, 3, 1, 1, 2, 1}},   /* the most dimensions read */
        {2, {0, 3}},                     /* no elements */
    };
    char path[64];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int t = 0; t < 3; t++) {
            size_t n = 1;
            for (int i = 0; i < shapes[si].ndim; i++) n *= shapes[si].shape[i];
            void *raw = malloc(n * 4 + 4);
            for (size_t i = 0; i < n; i++)
                attn_store((attn_dtype)t, raw, i, 3.0f * attn_rng_value(7, 1, i, 1, 8));
            attn_npy a;
            int ok = attn_npy_write(path, (attn_dtype)t, raw, shapes[si].ndim, shapes[si].shape) == ATTN_OK &&
                     attn_npy_read(path, &a) == ATTN_OK;
            /* fp16 stays '<f2'; bf16 is widened to '<f4' on writing, exactly. */
            ok = ok && a.dtype == (t == ATTN_FP16 ? ATTN_FP16 : ATTN_FP32) && a.ndim == shapes[si].ndim &&
                 a.count == n && (n > 0) == (a.data != NULL);
            for (int i = 0; ok && i < a.ndim; i++) ok = a.shape[i] == shapes[si].shape[i];
            for (size_t i = 0; ok && i < n; i++) ok = a.data[i] == attn_load((attn_dtype)t, raw, i);
            char what[120];
            snprintf(what, sizeof what, "%s, %d dims, %zu elements: written and read back exactly",
                     attn_dtype_name((attn_dtype)t), shapes[si].ndim, n);
            test_cond(what, ok);
            if (ok) attn_npy_free(&a);
            free(raw);
        }
}

/* Writes a .npy by hand: preamble of `version` (1 or 2), the header text as given (padded with
 * spaces to 64 bytes and a newline when pad), then `bytes` bytes of data. */
static void write_raw(const char *path, const char *magic, int version, const char *header, int pad,
                      const void *data, size_t bytes)
{
    char h[512];
    int len = snprintf(h, sizeof h, "%s", header);
    const int pre = version == 1 ? 10 : 12;
    if (pad) {
        while ((pre + len + 1) % 64) h[len++] = ' ';
        h[len++] = '\n';
    }
    FILE *f = fopen(path, "wb");
    fwrite(magic, 1, 6, f);
    unsigned char v[6] = {(unsigned char)version, 0, (unsigned char)(len & 0xff), (unsigned char)(len >> 8), 0, 0};
    fwrite(v, 1, version == 1 ? 4 : 6, f);
    fwrite(h, 1, (size_t)len, f);
    if (bytes) fwrite(data, 1, bytes, f);
    fclose(f);
}

static void hand_written(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/hand.npy", dir);
    const float six[6] = {1, -2, 0.5f, 3, 1e-3f, -7};
    attn_npy a;
    /* As NumPy writes it (no trailing comma, keys in NumPy's order), and in format 2.0. */
    write_raw(path, "\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, six, sizeof six);
    int ok = attn_npy_read(path, &a) == ATTN_OK && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
             memcmp(a.data, six, sizeof six) == 0;
    test_cond("NumPy's own header, format 1.0", ok);
    if (ok) attn_npy_free(&a);
    write_raw(path, "\x93NUMPY", 2, "{'shape': (6,), 'fortran_order': False, 'descr': '<f4'}", 1, six, sizeof six);
    ok = attn_npy_read(path, &a) == ATTN_OK && a.ndim == 1 && a.count == 6 && a.data[5] == -7;
    test_cond("format 2.0, keys in another order", ok);
    if (ok) attn_npy_free(&a);

    static const struct {
        const char *magic;
        int version;
        const char *header;
        size_t bytes;
        const char *why; /* a substring of the reason */
    } bad[] = {
        {"\x93NUMPZ", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24, "not a .npy"},
        {"\x93NUMPY", 9, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24, "version"},
        {"\x93NUMPY", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, "dtype"},
        {"\x93NUMPY", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", 24, "dtype"},
        {"\x93NUMPY", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", 24, "dtype"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 24, "shape"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", 24, "shape"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6, }", 24, "shape"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", 24, "shape"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 24, "shape"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'shape': (6,), }", 24, "fortran_order"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", 24, "data length"},
        {"\x93NUMPY", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 24, "data length"},
        {"\x93NUMPY", 1, "", 0, "header length"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_raw(path, bad[i].magic, bad[i].version, bad[i].header, bad[i].header[0] != 0, six, bad[i].bytes);
        int rc = attn_npy_read(path, &a);
        char what[300];
        snprintf(what, sizeof what, "rejected (%s): %s", bad[i].why, bad[i].header);
        test_cond(what, rc == ATTN_ERR && strstr(attn_last_error.msg, bad[i].why) &&
                            strstr(attn_last_error.msg, path) && a.data == NULL);
    }
    /* A header cut short, and a file that is not one at all. */
    FILE *f = fopen(path, "wb");
    fwrite("\x93NUMPY\x01\x00\x40\x00{'descr'", 1, 18, f);
    fclose(f);
    test_cond("a truncated header is rejected",
              attn_npy_read(path, &a) == ATTN_ERR && strstr(attn_last_error.msg, "truncated"));
    f = fopen(path, "wb");
    fputs("not a numpy file at all", f);
    fclose(f);
    test_cond("text is not a .npy", attn_npy_read(path, &a) == ATTN_ERR && strstr(attn_last_error.msg, "not a .npy"));
    test_cond("a missing file is named",
              attn_npy_read("/nonexistent/p.npy", &a) == ATTN_ERR && strstr(attn_last_error.msg, "/nonexistent/p.npy"));
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trips();
    hand_written();
    char rt[64];
    snprintf(rt, sizeof rt, "%s/rt.npy", dir);
    unlink(rt);
    test_cond("scratch directory removed", rmdir(dir) == 0);
    return test_report();
}
