/* softmax.cu — scale, causal mask and softmax IN PLACE over a [rows][S] score matrix in the input
 * dtype: the middle step of the `cublas` variant (variants/cublas.c), between its two GEMMs, and of
 * lowrank's cuBLAS attention path. Row r is query position r % S.
 *
 * Algorithm: bound by device memory (each row must be read and written once: 2·rows·S·sizeof(T)
 * bytes), so the fast path (rows up to 16384 elements) keeps the whole row in registers, 32
 * elements per thread, and reads nothing twice:
 *   - a row is owned by one warp (S ≤ 1024) or by one block of 64..512 threads (S ≤ 16384);
 *   - loads and stores are 16 bytes wide (8 fp16/bf16 or 4 fp32) when S is a multiple of that
 *     width, otherwise scalar (the row start is then not 16-byte aligned);
 *   - causal rows do not read the keys they mask (about a quarter of the traffic), but write them
 *     as exactly 0 since the P·V GEMM reads the full square;
 *   - max and sum are warp shuffles, plus one shared-memory exchange when a block owns the row;
 *   - p = exp2(x·c − max·c) with c = log2(e)·scale folded in (one FFMA and one MUFU.EX2 per
 *     element), fp32 throughout, normalised by one reciprocal per row, rounded to T on the store.
 * Scores are the raw Q·Kᵀ (the GEMM runs with alpha = 1, so the scale is applied in fp32 here,
 * after the dtype rounding of the scores).
 * Materialises nothing: it works in the caller's score matrix.
 *
 * Limits: any S >= 1; fp16, bf16, fp32. Rows longer than 16384 elements take a slower
 * block-per-row kernel that reads the row three times (max, sum, write).
 * Notes: kernels/NOTES-softmax.md. */
#include <stdio.h>

#include "common.cuh"
#include "core/error.h"
#include "core/problem.h"
#include "softmax.h"

#define ELEMS_PER_THREAD 32    /* fast path: elements of a row each thread holds in registers */
#define MAX_ROW_THREADS 512    /* fast path: S ≤ MAX_ROW_THREADS·ELEMS_PER_THREAD = 16384 */
#define WARP_ROWS_BLOCK 128    /* block size when a warp owns a row (4 rows per block) */
#define LONG_ROW_THREADS 512   /* block size of the three-pass kernel for longer rows */

/* W elements of T moved by one load or store (16 bytes when W·sizeof(T) = 16). */
template <typename T, int W>
struct alignas(sizeof(T) * W) packed {
    T x[W];
};

/* Fast path. Row r of the [rows][S] matrix is query position r % S. Thread t of a row holds
 * vectors t, t + ROW_THREADS, ... (N_VEC of W elements each) in registers, so each load
 * instruction of the row's threads covers a contiguous stretch. Requires S % W == 0 and
 * S ≤ ROW_THREADS·N_VEC·W. */
template <typename T, int W, int ROW_THREADS, int N_VEC>
__global__ void __launch_bounds__(ROW_THREADS > 32 ? ROW_THREADS : WARP_ROWS_BLOCK,
                                  2048 / 2 / (ROW_THREADS > 32 ? ROW_THREADS : WARP_ROWS_BLOCK))
    softmax_rows_kernel(T *scores, long long rows, int S, int causal, float scale_log2e)
{
    constexpr int BLOCK = ROW_THREADS > 32 ? ROW_THREADS : WARP_ROWS_BLOCK;
    constexpr int ROWS_PER_BLOCK = BLOCK / ROW_THREADS;
    __shared__ float red_max[ROW_THREADS / 32], red_sum[ROW_THREADS / 32];
    const int t = threadIdx.x % ROW_THREADS;
    const int n_vec = S / W;
    for (long long r = (long long)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / ROW_THREADS;
         r < rows; r += (long long)gridDim.x * ROWS_PER_BLOCK) {
        packed<T, W> *row = reinterpret_cast<packed<T, W> *>(scores + r * S);
        const int last = causal ? (int)(r % S) : S - 1; /* last key this query attends */

        /* Key j is attended iff j <= last (which also keeps j < S). All loads are issued before
         * anything reads them, so that each thread has N_VEC loads in flight (using each as it
         * arrives would wait out the memory latency once per vector). */
        packed<T, W> in[N_VEC];
#pragma unroll
        for (int c = 0; c < N_VEC; c++) {
            const int vi = c * ROW_THREADS + t;
            in[c] = vi * W <= last ? row[vi] : packed<T, W>{};
        }
        /* Widened once, masked keys as -inf: from here on no element needs its own condition. */
        float x[N_VEC][W];
        float max = -INFINITY;
#pragma unroll
        for (int c = 0; c < N_VEC; c++) {
            const int attended = last - (c * ROW_THREADS + t) * W; /* elements e <= this */
#pragma unroll
            for (int e = 0; e < W; e++) {
                x[c][e] = e <= attended ? (float)in[c].x[e] : -INFINITY;
                max = fmaxf(max, x[c][e]);
            }
        }
        max = attn_block_reduce<ROW_THREADS, ATTN_REDUCE_MAX>(max, red_max);

        /* exp2(-inf) = 0: masked keys get probability exactly 0. */
        const float offset = max * scale_log2e;
        float sum = 0;
#pragma unroll
        for (int c = 0; c < N_VEC; c++)
#pragma unroll
            for (int e = 0; e < W; e++) {
                x[c][e] = attn_exp2_approx(fmaf(x[c][e], scale_log2e, -offset));
                sum += x[c][e];
            }
        const float inv_sum = 1.0f / attn_block_reduce<ROW_THREADS, ATTN_REDUCE_SUM>(sum, red_sum);

#pragma unroll
        for (int c = 0; c < N_VEC; c++) {
            const int vi = c * ROW_THREADS + t;
            if (vi < n_vec) {
                packed<T, W> out;
#pragma unroll
                for (int e = 0; e < W; e++) out.x[e] = T(x[c][e] * inv_sum);
                row[vi] = out;
            }
        }
    }
}

/* Rows longer than the fast path holds: one block per row, three scalar passes over it. */
template <typename T>
__global__ void __launch_bounds__(LONG_ROW_THREADS)
    softmax_long_rows_kernel(T *scores, long long rows, int S, int causal, float scale_log2e)
{
    __shared__ float red_max[LONG_ROW_THREADS / 32], red_sum[LONG_ROW_THREADS / 32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        T *x = scores + r * S;
        const int n_keys = causal ? (int)(r % S) + 1 : S;
        float max = -INFINITY;
        for (int j = threadIdx.x; j < n_keys; j += LONG_ROW_THREADS) max = fmaxf(max, (float)x[j]);
        const float offset =
            attn_block_reduce<LONG_ROW_THREADS, ATTN_REDUCE_MAX>(max, red_max) * scale_log2e;
        float sum = 0;
        for (int j = threadIdx.x; j < n_keys; j += LONG_ROW_THREADS)
            sum += attn_exp2_approx(fmaf((float)x[j], scale_log2e, -offset));
        const float inv_sum =
            1.0f / attn_block_reduce<LONG_ROW_THREADS, ATTN_REDUCE_SUM>(sum, red_sum);
        for (int j = threadIdx.x; j < S; j += LONG_ROW_THREADS) {
            const float p =
                j < n_keys ? attn_exp2_approx(fmaf((float)x[j], scale_log2e, -offset)) : 0.0f;
            x[j] = T(p * inv_sum);
        }
    }
}

/* How a row of S elements of `elem_size` bytes is split: vector width, threads per row, vectors
 * per thread (0: the three-pass kernel). */
typedef struct softmax_plan {
    int width, row_threads, vecs;
} softmax_plan;

static softmax_plan plan_for(int S, size_t elem_size)
{
    softmax_plan pl;
    pl.width = S % (int)(16 / elem_size) == 0 ? (int)(16 / elem_size) : 1;
    const int n_vec = S / pl.width, max_vecs = ELEMS_PER_THREAD / pl.width;
    if (n_vec <= 32 * max_vecs) { /* a warp per row, the fewest vectors per thread that fit */
        pl.row_threads = 32;
        for (pl.vecs = 1; 32 * pl.vecs < n_vec; pl.vecs *= 2) {}
    } else if (n_vec <= MAX_ROW_THREADS * max_vecs) { /* a block per row, full registers */
        pl.vecs = max_vecs;
        for (pl.row_threads = 64; pl.row_threads * max_vecs < n_vec; pl.row_threads *= 2) {}
    } else {
        pl.row_threads = LONG_ROW_THREADS;
        pl.vecs = 0;
    }
    return pl;
}

typedef struct softmax_args {
    void *scores;
    long long rows;
    int S, causal;
    float scale_log2e;
    cudaStream_t stream;
} softmax_args;

template <typename T, int W, int ROW_THREADS, int N_VEC>
static int launch_rows(const softmax_args *a)
{
    constexpr int BLOCK = ROW_THREADS > 32 ? ROW_THREADS : WARP_ROWS_BLOCK;
    softmax_rows_kernel<T, W, ROW_THREADS, N_VEC>
        <<<attn_grid_blocks(a->rows, BLOCK / ROW_THREADS, ATTN_MAX_GRID_X), BLOCK, 0, a->stream>>>(
            (T *)a->scores, a->rows, a->S, a->causal, a->scale_log2e);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* Instantiates the kernel for the plan's vectors per thread (warp rows: 1, 2, 4, ...). */
template <typename T, int W, int N_VEC>
static int launch_warp_rows(const softmax_plan *pl, const softmax_args *a)
{
    if constexpr (N_VEC < ELEMS_PER_THREAD / W)
        if (pl->vecs > N_VEC) return launch_warp_rows<T, W, 2 * N_VEC>(pl, a);
    return launch_rows<T, W, 32, N_VEC>(a);
}

/* Instantiates the kernel for the plan's threads per row (block rows: 64, 128, ..., 512). */
template <typename T, int W, int ROW_THREADS>
static int launch_block_rows(const softmax_plan *pl, const softmax_args *a)
{
    if constexpr (ROW_THREADS < MAX_ROW_THREADS)
        if (pl->row_threads > ROW_THREADS) return launch_block_rows<T, W, 2 * ROW_THREADS>(pl, a);
    return launch_rows<T, W, ROW_THREADS, ELEMS_PER_THREAD / W>(a);
}

template <typename T, int W>
static int launch_plan(const softmax_plan *pl, const softmax_args *a)
{
    if (pl->row_threads == 32) return launch_warp_rows<T, W, 1>(pl, a);
    return launch_block_rows<T, W, 64>(pl, a);
}

template <typename T>
static int softmax_rows(const softmax_plan *pl, const softmax_args *a)
{
    constexpr int VEC = 16 / sizeof(T);
    if (pl->vecs == 0) {
        const unsigned blocks = attn_grid_blocks(a->rows, 1, ATTN_MAX_GRID_X);
        softmax_long_rows_kernel<T><<<blocks, LONG_ROW_THREADS, 0, a->stream>>>(
            (T *)a->scores, a->rows, a->S, a->causal, a->scale_log2e);
        CUDA_CHECK_LAUNCH();
        return ATTN_OK;
    }
    return pl->width == VEC ? launch_plan<T, VEC>(pl, a) : launch_plan<T, 1>(pl, a);
}

/* In place over rows·S elements of dtype t at `scores`: row r (query position r % S) becomes
 * softmax(x·scale) over keys 0..S-1, or 0..r%S when causal, masked keys exactly 0. */
extern "C" int attn_softmax_scores(attn_dtype t, void *scores, long long rows, int S, int causal,
                                   float scale, cudaStream_t stream)
{
    const softmax_plan pl = plan_for(S, attn_dtype_size(t));
    const softmax_args a = {scores, rows, S, causal, scale * (float)ATTN_LOG2E, stream};
    return attn_by_dtype(t, [&](auto tag) {
        return softmax_rows<attn_elem_t<decltype(tag)>>(&pl, &a);
    });
}

/* The plan attn_softmax_scores uses for rows of S elements of dtype t, e.g.
 * "softmax=row128x4v8". */
extern "C" void attn_softmax_describe(attn_dtype t, int S, char *buf, size_t n)
{
    const softmax_plan pl = plan_for(S, attn_dtype_size(t));
    if (pl.vecs == 0)
        snprintf(buf, n, "softmax=3pass%d", pl.row_threads);
    else
        snprintf(buf, n, "softmax=row%dx%dv%d", pl.row_threads, pl.vecs, pl.width);
}
