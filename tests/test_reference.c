/* test_reference.c — the fp64 oracle against hand-computed cases. */
#include <math.h>

#include "check/reference.h"
#include "test.h"

int main(void)
{
    /* B=1, H=1, S=2, D=2. q0 = (1,0), q1 = (0,1); k0 = (1,0), k1 = (0,1); v0 = (1,2), v1 = (3,4).
     * scale = 1/√2. Row 0: scores (s, 0), s = 1/√2 → weights (e^s, 1)/(e^s + 1). */
    float q[] = {1, 0, 0, 1}, k[] = {1, 0, 0, 1}, v[] = {1, 2, 3, 4};
    attn_host_inputs in = {q, k, v};
    attn_point p = {.batch = 1, .heads = 1, .kv_heads = 1, .seq = 2, .head_dim = 2, .dtype = ATTN_FP32};
    attn_row rows[] = {{0, 0, 0}, {0, 0, 1}};
    double out[4];
    attn_reference_rows(&p, &in, rows, 2, out);
    double s = 1 / sqrt(2.0), w0 = exp(s) / (exp(s) + 1), w1 = 1 - w0;
    test_cond("row 0, d 0", fabs(out[0] - (w0 * 1 + w1 * 3)) < 1e-14);
    test_cond("row 0, d 1", fabs(out[1] - (w0 * 2 + w1 * 4)) < 1e-14);
    test_cond("row 1 symmetric", fabs(out[2] - (w1 * 1 + w0 * 3)) < 1e-14);
    p.causal = 1;
    attn_reference_rows(&p, &in, rows, 2, out);
    test_cond("causal row 0 = v0", out[0] == 1 && out[1] == 2);
    test_cond("causal row 1 sees both", fabs(out[2] - (w1 * 1 + w0 * 3)) < 1e-14);

    /* S = 1: the output is the value row, whatever the scores. */
    float q1[] = {5, -3}, k1[] = {0.5f, 7}, v1[] = {-1.5f, 2.25f};
    attn_host_inputs in1 = {q1, k1, v1};
    attn_point p1 = {.batch = 1, .heads = 1, .kv_heads = 1, .seq = 1, .head_dim = 2, .dtype = ATTN_FP32};
    attn_reference_rows(&p1, &in1, rows, 1, out);
    test_cond("S=1 gives v", out[0] == -1.5 && out[1] == 2.25);

    /* Grouped query: H=2, H_kv=1: both query heads read the one KV head. */
    float q2[] = {1, 0, 0, 1, 1, 0, 0, 1};
    attn_host_inputs in2 = {q2, k, v};
    attn_point p2 = {.batch = 1, .heads = 2, .kv_heads = 1, .seq = 2, .head_dim = 2, .dtype = ATTN_FP32};
    attn_row rows2[] = {{0, 1, 0}};
    attn_reference_rows(&p2, &in2, rows2, 1, out);
    test_cond("GQA head 1 uses KV head 0", fabs(out[0] - (w0 * 1 + w1 * 3)) < 1e-14);

    /* Softmax is shift-invariant: huge scores do not overflow. */
    float q3[] = {1000, 0}, k3[] = {1000, 0, 999, 0};
    attn_host_inputs in3 = {q3, k3, v};
    attn_point p3 = {.batch = 1, .heads = 1, .kv_heads = 1, .seq = 2, .head_dim = 2, .dtype = ATTN_FP32};
    attn_reference_rows(&p3, &in3, rows, 1, out);
    test_cond("large scores finite", isfinite(out[0]) && isfinite(out[1]));
    return test_report();
}
