/* naive.cu — textbook attention with the score matrix materialised in fp32 and no tensor cores
 * (variant `naive`).
 *
 * Algorithm: three kernels, each a direct transcription of one line of the formula:
 *   1. scores = scale·Q·Kᵀ   32×32 shared-memory tiles, one output per thread, fp32 FMA;
 *   2. softmax in place       one block per row, three passes over the row (max, sum, write), the
 *                             causal mask applied here (masked entries become exactly 0);
 *   3. O = P·V                32×32 shared-memory tiles, fp32 accumulation, stored in the dtype.
 * Materialises the fp32 score/probability matrix [B][H][S][S] (the workspace: B·H·S²·4 bytes).
 *
 * Limits: causal points still compute the full square in kernels 1 and 3: nothing is skipped, so
 * executed FLOPs are 4·B·H·S²·D either way. Any S, D >= 1; fp16, bf16, fp32; GQA reads KV head
 * bh / group (query head index bh = b·H + h over all batches, since H = H_kv·group). The batch·head
 * count runs over gridDim.z in a grid-stride loop because gridDim.z is limited to 65535.
 * Notes: kernels/NOTES-naive.md. */
#include "common.cuh"
#include "core/error.h"
#include "core/problem.h"
#include "naive.h"

#define TILE 32
#define SOFTMAX_THREADS 256

/* scores[bh][i][j] = scale · Σ_d q[bh][i][d]·k[bh/group][j][d]. Block (TILE, TILE) computes the
 * TILE×TILE tile (query rows blockIdx.y, key columns blockIdx.x), stepping through D a tile at a
 * time. */
template <typename T>
__global__ void __launch_bounds__(TILE *TILE)
    naive_scores_kernel(const T *q, const T *k, float *scores, int S, int D, int group,
                        long long n_bh, float scale)
{
    __shared__ float q_tile[TILE][TILE];
    /* read by column across a warp: padded off bank conflicts */
    __shared__ float k_tile[TILE][TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * TILE + ty;       /* query row of this thread's output */
    const int j = blockIdx.x * TILE + tx;       /* key column of this thread's output */
    const int key_row = blockIdx.x * TILE + ty; /* key row this thread loads */
    for (long long bh = blockIdx.z; bh < n_bh; bh += gridDim.z) {
        const T *qh = q + bh * S * D;
        const T *kh = k + bh / group * S * D;
        float acc = 0;
        for (int d0 = 0; d0 < D; d0 += TILE) {
            const int d = d0 + tx;
            q_tile[ty][tx] = i < S && d < D ? (float)qh[(long long)i * D + d] : 0.0f;
            k_tile[ty][tx] = key_row < S && d < D ? (float)kh[(long long)key_row * D + d] : 0.0f;
            __syncthreads();
            for (int e = 0; e < TILE; e++) acc += q_tile[ty][e] * k_tile[tx][e];
            __syncthreads();
        }
        if (i < S && j < S) scores[(bh * S + i) * S + j] = acc * scale;
    }
}

/* Row r of the [rows][S] matrix (query position r % S) becomes softmax over its keys 0..S-1, or
 * 0..r%S when causal; masked entries are written as 0. */
__global__ void __launch_bounds__(SOFTMAX_THREADS)
    naive_softmax_kernel(float *scores, long long rows, int S, int causal)
{
    __shared__ float red_max[SOFTMAX_THREADS / 32], red_sum[SOFTMAX_THREADS / 32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        float *x = scores + r * S;
        const int n_keys = causal ? (int)(r % S) + 1 : S;
        float max = -INFINITY;
        for (int j = threadIdx.x; j < n_keys; j += SOFTMAX_THREADS) max = fmaxf(max, x[j]);
        max = attn_block_reduce<SOFTMAX_THREADS, ATTN_REDUCE_MAX>(max, red_max);
        float sum = 0;
        for (int j = threadIdx.x; j < n_keys; j += SOFTMAX_THREADS) sum += expf(x[j] - max);
        sum = attn_block_reduce<SOFTMAX_THREADS, ATTN_REDUCE_SUM>(sum, red_sum);
        for (int j = threadIdx.x; j < S; j += SOFTMAX_THREADS)
            x[j] = j < n_keys ? expf(x[j] - max) / sum : 0.0f;
    }
}

/* o[bh][i][d] = Σ_j p[bh][i][j]·v[bh/group][j][d]. Block (TILE, TILE) computes the TILE×TILE tile
 * (query rows blockIdx.y, head-dim columns blockIdx.x), stepping through the S keys a tile at a
 * time. */
template <typename T>
__global__ void __launch_bounds__(TILE *TILE)
    naive_pv_kernel(const float *probs, const T *v, T *o, int S, int D, int group, long long n_bh)
{
    __shared__ float p_tile[TILE][TILE];
    __shared__ float v_tile[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * TILE + ty; /* query row of this thread's output */
    const int d = blockIdx.x * TILE + tx; /* head-dim column of this thread's output */
    for (long long bh = blockIdx.z; bh < n_bh; bh += gridDim.z) {
        const float *ph = probs + bh * S * S;
        const T *vh = v + bh / group * S * D;
        float acc = 0;
        for (int j0 = 0; j0 < S; j0 += TILE) {
            p_tile[ty][tx] = i < S && j0 + tx < S ? ph[(long long)i * S + j0 + tx] : 0.0f;
            v_tile[ty][tx] = j0 + ty < S && d < D ? (float)vh[(long long)(j0 + ty) * D + d] : 0.0f;
            __syncthreads();
            for (int e = 0; e < TILE; e++) acc += p_tile[ty][e] * v_tile[e][tx];
            __syncthreads();
        }
        if (i < S && d < D) o[(bh * S + i) * D + d] = T(acc);
    }
}

template <typename T>
static int naive_forward(const attn_point *p, const T *q, const T *k, const T *v, T *o,
                         float *scores, cudaStream_t stream)
{
    const int S = p->seq, D = p->head_dim, group = p->heads / p->kv_heads;
    const long long n_bh = (long long)p->batch * p->heads;
    const unsigned grid_z = attn_grid_blocks(n_bh, 1, ATTN_MAX_GRID_YZ);
    const unsigned s_tiles = (unsigned)((S + TILE - 1) / TILE);
    const dim3 block(TILE, TILE);

    naive_scores_kernel<T><<<dim3(s_tiles, s_tiles, grid_z), block, 0, stream>>>(
        q, k, scores, S, D, group, n_bh, (float)attn_scale(p));
    CUDA_CHECK_LAUNCH();

    const long long rows = n_bh * S;
    const unsigned softmax_blocks = attn_grid_blocks(rows, 1, ATTN_MAX_GRID_X);
    naive_softmax_kernel<<<softmax_blocks, SOFTMAX_THREADS, 0, stream>>>(scores, rows, S,
                                                                         p->causal);
    CUDA_CHECK_LAUNCH();

    const unsigned d_tiles = (unsigned)((D + TILE - 1) / TILE);
    naive_pv_kernel<T><<<dim3(d_tiles, s_tiles, grid_z), block, 0, stream>>>(scores, v, o, S, D,
                                                                             group, n_bh);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* The three launches for one forward pass of point p; scores is the B·H·S²-float workspace. */
extern "C" int attn_naive_forward(const attn_point *p, const void *q, const void *k, const void *v,
                                  void *o, float *scores, cudaStream_t stream)
{
    return attn_by_dtype(p->dtype, [&](auto tag) {
        using T = attn_elem_t<decltype(tag)>;
        return naive_forward(p, (const T *)q, (const T *)k, (const T *)v, (T *)o, scores, stream);
    });
}
