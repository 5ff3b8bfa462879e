/* problem.c — points, dtypes and the host side of the input generator (see problem.h). */
#include "core/problem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"

static const char *const dtype_names[] = {"fp16", "bf16", "fp32"};

const char *attn_dtype_name(attn_dtype t) { return dtype_names[t]; }

int attn_dtype_parse(const char *s, attn_dtype *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (attn_dtype)i;
            return 0;
        }
    return -1;
}

size_t attn_dtype_size(attn_dtype t) { return t == ATTN_FP32 ? 4 : 2; }

size_t attn_q_elems(const attn_point *p)
{
    return (size_t)p->batch * p->heads * p->seq * p->head_dim;
}

size_t attn_kv_elems(const attn_point *p)
{
    return (size_t)p->batch * p->kv_heads * p->seq * p->head_dim;
}

double attn_dense_flops(const attn_point *p)
{
    double f = 4.0 * p->batch * p->heads * (double)p->seq * p->seq * p->head_dim;
    return p->causal ? f / 2 : f;
}

double attn_scale(const attn_point *p) { return 1.0 / sqrt((double)p->head_dim); }

char *attn_point_format(const attn_point *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s B=%d H=%d/%d S=%d D=%d%s%s%s", attn_dtype_name(p->dtype), p->batch,
             p->heads, p->kv_heads, p->seq, p->head_dim, p->causal ? " causal" : "",
             p->params[0] ? " " : "", p->params);
    return buf;
}

const char *attn_point_invalid(const attn_point *p)
{
    if (p->batch < 1) return "batch must be >= 1";
    if (p->heads < 1) return "heads must be >= 1";
    if (p->kv_heads < 1) return "kv-heads must be >= 1";
    if (p->heads % p->kv_heads) return "heads must be a multiple of kv-heads";
    if (p->seq < 1) return "seq must be >= 1";
    if (p->head_dim < 1) return "head-dim must be >= 1";
    if (p->causal != 0 && p->causal != 1) return "causal must be 0 or 1";
    if ((unsigned)p->dtype > ATTN_FP32) return "unknown dtype";
    return NULL;
}

int attn_param(const attn_point *p, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *s = p->params; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len > klen && s[klen] == '=' && strncmp(s, key, klen) == 0) {
            size_t vlen = len - klen - 1;
            if (vlen >= n) vlen = n - 1;
            memcpy(out, s + klen + 1, vlen);
            out[vlen] = 0;
            return 1;
        }
        s += len + (end != NULL);
    }
    return 0;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float attn_bf16_to_float(uint16_t b) { return u2f((uint32_t)b << 16); }

uint16_t attn_float_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);                                            /* nearest even */
    return (uint16_t)(u >> 16);
}

float attn_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man · 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t attn_float_to_half(float f)
{
    uint32_t u = f2u(f), sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: subnormal or zero */
        float v = u2f(a) * 16777216.0f;                     /* exact scaling by 2^24 */
        uint32_t m = (uint32_t)nearbyintf(v);               /* current mode: nearest even */
        return (uint16_t)(sign | m);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

float attn_load(attn_dtype t, const void *base, size_t i)
{
    switch (t) {
    case ATTN_FP16: return attn_half_to_float(((const uint16_t *)base)[i]);
    case ATTN_BF16: return attn_bf16_to_float(((const uint16_t *)base)[i]);
    default: return ((const float *)base)[i];
    }
}

void attn_store(attn_dtype t, void *base, size_t i, float x)
{
    switch (t) {
    case ATTN_FP16: ((uint16_t *)base)[i] = attn_float_to_half(x); break;
    case ATTN_BF16: ((uint16_t *)base)[i] = attn_float_to_bf16(x); break;
    default: ((float *)base)[i] = x;
    }
}

float attn_round(attn_dtype t, float x)
{
    switch (t) {
    case ATTN_FP16: return attn_half_to_float(attn_float_to_half(x));
    case ATTN_BF16: return attn_bf16_to_float(attn_float_to_bf16(x));
    default: return x;
    }
}

static const char *const init_names[] = {"normal", "outliers", "fa3", "structured"};
_Static_assert(ATTN_INIT_STRUCTURED == ATTN_RNG_INIT_STRUCTURED, "rng.h's structured init number");

const char *attn_init_name(attn_init i) { return init_names[i]; }

int attn_init_parse(const char *s, attn_init *out)
{
    for (int i = 0; i < (int)(sizeof init_names / sizeof *init_names); i++)
        if (strcmp(s, init_names[i]) == 0) {
            *out = (attn_init)i;
            return 0;
        }
    return -1;
}

void attn_fill_host(void *dst, attn_dtype t, size_t n, uint64_t seed, int tensor, attn_init init,
                    int head_dim, int seq)
{
    for (size_t i = 0; i < n; i++)
        attn_store(t, dst, i, attn_rng_input(seed, tensor, i, init, head_dim, seq));
}
