/* test_cpu_attention.c — the shared CPU routine of materialised attention (variants/cpu_attention.c)
 * on cases small enough to compute by hand, then on a GQA/causal shape against a plain fp64
 * transcription of the formula (which checks the b/h/KV-head indexing). */
#include <math.h>
#include <string.h>

#include "cpu_attention.h"
#include "test.h"

static attn_point point(int batch, int heads, int kv_heads, int seq, int head_dim, attn_dtype t,
                        int causal)
{
    attn_point p;
    memset(&p, 0, sizeof p);
    p.batch = batch;
    p.heads = heads;
    p.kv_heads = kv_heads;
    p.seq = seq;
    p.head_dim = head_dim;
    p.dtype = t;
    p.causal = causal;
    return p;
}

static int close_to(const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol) return 0;
    return 1;
}

/* S = 1: the only key has probability 1, so o is v's row, whatever the rounding. */
static void test_single_key(void)
{
    const float q[3] = {0.5f, -1, 2}, k[3] = {3, 1, -1}, v[3] = {1.5f, -2, 7};
    const attn_host_inputs in = {q, k, v};
    const attn_row row = {0, 0, 0};
    const double want[3] = {1.5, -2, 7};
    for (int causal = 0; causal <= 1; causal++) {
        const attn_point p = point(1, 1, 1, 1, 3, ATTN_BF16, causal);
        float out[3];
        test_cond("S=1 returns ATTN_OK",
                  attn_cpu_attention_rows(&p, &in, &row, 1, 0, out) == ATTN_OK);
        test_cond("S=1: o = v", close_to(out, want, 3, 0));
        attn_cpu_attention_rows(&p, &in, &row, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, out);
        test_cond("S=1 with rounding: o = v", close_to(out, want, 3, 0));
    }
}

/* S = 2, D = 4 (scale 1/2): q·k0 = 0 and q·k1 = 2 give scaled scores 0 and 1, so
 * p = (1, e) / (1 + e); the causal first row sees key 0 only. */
static void test_two_keys(void)
{
    const float q[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    const float k[8] = {0, 0, 0, 0, 2, 0, 0, 0};
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const attn_host_inputs in = {q, k, v};
    const attn_row rows[2] = {{0, 0, 0}, {0, 0, 1}};
    const double e = exp(1.0), p0 = 1 / (1 + e), p1 = e / (1 + e);
    double mixed[4];
    for (int d = 0; d < 4; d++) mixed[d] = p0 * v[d] + p1 * v[4 + d];
    const double first_key[4] = {1, 2, 3, 4};
    float out[8];

    attn_point p = point(1, 1, 1, 2, 4, ATTN_FP32, 0);
    attn_cpu_attention_rows(&p, &in, rows, 2, 0, out);
    test_cond("S=2: row 0 mixes both keys by softmax", close_to(out, mixed, 4, 1e-6));
    test_cond("S=2: row 1 the same (same query)", close_to(out + 4, mixed, 4, 1e-6));

    p.causal = 1;
    attn_cpu_attention_rows(&p, &in, rows, 2, 0, out);
    test_cond("S=2 causal: row 0 = v row 0", close_to(out, first_key, 4, 0));
    test_cond("S=2 causal: row 1 sees both keys", close_to(out + 4, mixed, 4, 1e-6));

    /* Only the requested rows are written, in order. */
    attn_cpu_attention_rows(&p, &in, rows + 1, 1, 0, out);
    test_cond("S=2 causal: a row alone lands in out[0..D)", close_to(out, mixed, 4, 1e-6));
}

/* Rounding. D = 1 (scale 1), q = k1 = 1 + 2^-7 (exact in bf16): the score q·k1 = 1 + 2^-6 + 2^-14
 * is not a bf16 value and rounds to 1 + 2^-6. The probabilities are then rounded to 8 significant
 * bits. Each flag must change the result exactly as the by-hand model says, and fp32 ignores both. */
static void test_rounding(void)
{
    const float a = 1 + 0x1p-7f;
    const float q[1] = {a}, k[2] = {0, a}, v[2] = {1, 3};
    const attn_host_inputs in = {q, k, v};
    const attn_row row = {0, 0, 0};
    const double exact = (double)a * a, rounded = 1 + 0x1p-6;
    double want_exact[1], want_scores[1], want_both[1];
    {
        const double p1 = 1 / (1 + exp(-exact));
        want_exact[0] = (1 - p1) * v[0] + p1 * v[1];
        const double r1 = 1 / (1 + exp(-rounded));
        want_scores[0] = (1 - r1) * v[0] + r1 * v[1];
        want_both[0] = attn_round(ATTN_BF16, (float)(1 - r1)) * v[0] +
                       attn_round(ATTN_BF16, (float)r1) * v[1];
    }
    attn_point p = point(1, 1, 1, 2, 1, ATTN_BF16, 0);
    float none, scores, both, probs_only;
    attn_cpu_attention_rows(&p, &in, &row, 1, 0, &none);
    attn_cpu_attention_rows(&p, &in, &row, 1, ATTN_ROUND_SCORES, &scores);
    attn_cpu_attention_rows(&p, &in, &row, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, &both);
    attn_cpu_attention_rows(&p, &in, &row, 1, ATTN_ROUND_PROBS, &probs_only);
    test_cond("no rounding: exact scores", close_to(&none, want_exact, 1, 1e-6));
    test_cond("rounded scores: the bf16 score", close_to(&scores, want_scores, 1, 1e-6));
    test_cond("rounded scores change the output", fabs(none - scores) > 5e-6);
    test_cond("rounded probabilities: bf16 probabilities", close_to(&both, want_both, 1, 1e-6));
    test_cond("rounded probabilities change the output", fabs(both - scores) > 1e-4);
    test_cond("rounded probabilities alone change the output", fabs(probs_only - none) > 1e-4);

    p.dtype = ATTN_FP32;
    float fp32_none, fp32_both;
    attn_cpu_attention_rows(&p, &in, &row, 1, 0, &fp32_none);
    attn_cpu_attention_rows(&p, &in, &row, 1, ATTN_ROUND_SCORES | ATTN_ROUND_PROBS, &fp32_both);
    test_cond("fp32: rounding flags change nothing", fp32_none == fp32_both);
}

/* A value in [-1, 1) from a linear congruential generator. */
static float uniform(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (float)(*state >> 16) / 32768 - 1;
}

/* B=2, H=4, H_kv=2, S=7, D=5, causal and not: every row against fp64 attention, with query head h
 * reading KV head h / 2. */
static void test_gqa_against_fp64(void)
{
    enum { B = 2, H = 4, HKV = 2, S = 7, D = 5, ROWS = B * H * S };
    static float q[B * H * S * D], k[B * HKV * S * D], v[B * HKV * S * D];
    unsigned state = 12345;
    for (int i = 0; i < B * H * S * D; i++) q[i] = uniform(&state);
    for (int i = 0; i < B * HKV * S * D; i++) {
        k[i] = 2 * uniform(&state);
        v[i] = uniform(&state);
    }
    const attn_host_inputs in = {q, k, v};
    attn_row rows[ROWS];
    for (int i = 0; i < ROWS; i++) rows[i] = (attn_row){i / (H * S), i / S % H, i % S};

    for (int causal = 0; causal <= 1; causal++) {
        const attn_point p = point(B, H, HKV, S, D, ATTN_FP32, causal);
        static float out[ROWS * D];
        static double want[ROWS * D];
        attn_cpu_attention_rows(&p, &in, rows, ROWS, 0, out);
        for (int i = 0; i < ROWS; i++) {
            const attn_row r = rows[i];
            const float *qi = q + (((size_t)r.b * H + r.h) * S + r.s) * D;
            const size_t kv = ((size_t)r.b * HKV + r.h / (H / HKV)) * S * D;
            const int n = causal ? r.s + 1 : S;
            double score[S], max = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                score[j] = 0;
                for (int d = 0; d < D; d++) score[j] += (double)qi[d] * k[kv + j * D + d];
                score[j] /= sqrt((double)D);
                if (score[j] > max) max = score[j];
            }
            for (int j = 0; j < n; j++) sum += score[j] = exp(score[j] - max);
            for (int d = 0; d < D; d++) {
                want[i * D + d] = 0;
                for (int j = 0; j < n; j++) want[i * D + d] += score[j] / sum * v[kv + j * D + d];
            }
        }
        test_cond(causal ? "GQA causal rows match fp64" : "GQA rows match fp64",
                  close_to(out, want, ROWS * D, 1e-5));
    }
}

int main(void)
{
    test_single_key();
    test_two_keys();
    test_rounding();
    test_gqa_against_fp64();
    return test_report();
}
