/* npy.c — .npy writer (see npy.h). */
#include "core/npy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

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
