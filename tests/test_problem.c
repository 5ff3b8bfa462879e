/* test_problem.c — points, dtype conversions, FLOP counts, the seeded generator. */
#include <math.h>
#include <string.h>

#include "core/problem.h"
#include "test.h"

int main(void)
{
    attn_point p = {.batch = 2, .heads = 8, .kv_heads = 2, .seq = 1000, .head_dim = 64,
                    .dtype = ATTN_BF16, .causal = 0};
    test_cond("valid point", attn_point_invalid(&p) == NULL);
    test_cond("dense flops 4·B·H·S²·D", attn_dense_flops(&p) == 4.0 * 2 * 8 * 1000.0 * 1000 * 64);
    p.causal = 1;
    test_cond("causal halves flops", attn_dense_flops(&p) == 2.0 * 2 * 8 * 1000.0 * 1000 * 64);
    p.kv_heads = 3;
    test_cond("H not a multiple of H_kv rejected", attn_point_invalid(&p) != NULL);
    p.kv_heads = 2, p.seq = 0;
    test_cond("S = 0 rejected", attn_point_invalid(&p) != NULL);
    p.seq = 1;

    strcpy(p.params, "k=64,method=linformer");
    char v[32];
    test_cond("param found", attn_param(&p, "method", v, sizeof v) && strcmp(v, "linformer") == 0);
    test_cond("param first", attn_param(&p, "k", v, sizeof v) && strcmp(v, "64") == 0);
    test_cond("param absent", !attn_param(&p, "m", v, sizeof v));

    attn_dtype t;
    test_cond("dtype parse", attn_dtype_parse("fp16", &t) == 0 && t == ATTN_FP16);
    test_cond("dtype reject", attn_dtype_parse("fp8", &t) != 0);

    /* Conversions: exact values round-trip; rounding is to nearest even. */
    test_cond("half 1.0", attn_float_to_half(1.0f) == 0x3c00);
    test_cond("half -2.5", attn_half_to_float(attn_float_to_half(-2.5f)) == -2.5f);
    test_cond("half max", attn_half_to_float(attn_float_to_half(65504.0f)) == 65504.0f);
    test_cond("half overflow → inf", isinf(attn_half_to_float(attn_float_to_half(70000.0f))));
    test_cond("half subnormal", attn_half_to_float(attn_float_to_half(5.9604645e-8f)) == 5.9604645e-8f);
    test_cond("half tie to even", attn_float_to_half(1.0f + 1.0f / 2048) == 0x3c00);
    test_cond("half NaN", isnan(attn_half_to_float(attn_float_to_half(NAN))));
    test_cond("bf16 1.0", attn_float_to_bf16(1.0f) == 0x3f80);
    test_cond("bf16 tie to even", attn_float_to_bf16(1.0f + 1.0f / 256) == 0x3f80);
    test_cond("bf16 rounds up", attn_bf16_to_float(attn_float_to_bf16(1.0f + 3.0f / 512)) == 1.0f + 1.0f / 64 * 0.5f);
    test_cond("bf16 NaN", isnan(attn_bf16_to_float(attn_float_to_bf16(NAN))));
    int all_ok = 1;
    for (int i = 0; i < 65536; i += 7) { /* every finite half round-trips through float */
        uint16_t h = (uint16_t)i;
        float f = attn_half_to_float(h);
        if (isfinite(f) && attn_float_to_half(f) != h && !(f == 0 && (h & 0x7fff) == 0)) all_ok = 0;
    }
    test_cond("half round trip", all_ok);

    /* Generator: deterministic, seed-dependent, roughly standard normal, never all zeros. */
    enum { N = 1 << 16 };
    static float a[N], b[N], c[N];
    attn_fill_host(a, ATTN_FP32, N, 7, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, 64, 1);
    attn_fill_host(b, ATTN_FP32, N, 7, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, 64, 1);
    attn_fill_host(c, ATTN_FP32, N, 8, ATTN_TENSOR_Q, ATTN_INIT_NORMAL, 64, 1);
    test_cond("same seed, same values", memcmp(a, b, sizeof a) == 0);
    test_cond("other seed, other values", memcmp(a, c, sizeof a) != 0);
    double mean = 0, var = 0;
    int zeros = 0;
    for (int i = 0; i < N; i++) mean += a[i], zeros += a[i] == 0;
    mean /= N;
    for (int i = 0; i < N; i++) var += (a[i] - mean) * (a[i] - mean);
    var /= N;
    test_cond("mean ≈ 0", fabs(mean) < 0.02);
    test_cond("variance ≈ 1", fabs(var - 1) < 0.03);
    test_cond("not zeros", zeros < 10);
    attn_fill_host(b, ATTN_FP32, N, 7, ATTN_TENSOR_K, ATTN_INIT_OUTLIERS, 64, 1);
    float maxk = 0;
    for (int i = 0; i < N; i++) maxk = fmaxf(maxk, fabsf(b[i]));
    test_cond("outliers present in K", maxk > 8);
    return test_report();
}
