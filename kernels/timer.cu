/* timer.cu — the harness's own kernels, each built on the GPU's %globaltimer:
 *   - the SM clock without NVML: one thread counts clock64() ticks while %globaltimer advances
 *     ~20 µs; ticks per ns × 1000 = MHz. Enqueued after a sample, outside its timing;
 *   - the stream hold (nvbench's "blocking kernel"): a one-thread kernel spinning on a
 *     host-mapped flag, enqueued before a sample's start event and released once the whole sample
 *     is enqueued, so that the events time the GPU's work and not the host's enqueueing of it
 *     (encoding tensor maps, launch calls); a timeout ends a hold that is never released;
 *   - a busy-wait of a given length (run --debug-spin): work added on purpose to one variant's
 *     timed region, so that the regression gate can be shown to catch a known slowdown;
 *   - the L2 flush of --cache cold (not timer-based, but the harness's too): a read of a buffer
 *     twice L2's size. A read, not a memset: a memset leaves L2 full of dirty lines, and the next
 *     sample's first memory-bound kernel then pays for writing them back (measured in
 *     kernels/NOTES-timer.md); after a read L2 holds only clean lines, none of them the sample's
 *     inputs, as after ncu's own cache control. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "core/error.h"
#include "timer.h"

__device__ __forceinline__ unsigned long long globaltimer_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__global__ void clock_probe_kernel(unsigned long long *out)
{
    unsigned long long g0 = globaltimer_ns(), g1, c0 = clock64(), c1;
    do {
        g1 = globaltimer_ns();
    } while (g1 - g0 < 20000);
    c1 = clock64();
    out[0] = c1 - c0;
    out[1] = g1 - g0;
}

extern "C" int attn_clock_probe(cudaStream_t stream, int *mhz)
{
    static unsigned long long *dev, *host; /* allocated once (each retried until it succeeds) */
    if (!dev) CUDA_CHECK(cudaMalloc(&dev, 2 * sizeof *dev));
    if (!host) CUDA_CHECK(cudaMallocHost(&host, 2 * sizeof *host));
    clock_probe_kernel<<<1, 1, 0, stream>>>(dev);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpyAsync(host, dev, 2 * sizeof *host, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (host[1] == 0) return attn_fail("clock probe: %%globaltimer did not advance");
    *mhz = (int)(host[0] * 1000.0 / host[1] + 0.5);
    return ATTN_OK;
}

__global__ void spin_kernel(unsigned long long ns)
{
    const unsigned long long t0 = globaltimer_ns();
    while (globaltimer_ns() - t0 < ns) {
    }
}

extern "C" int attn_spin(uint64_t ns, cudaStream_t stream)
{
    spin_kernel<<<1, 1, 0, stream>>>(ns);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

/* Spins until *release is set or timeout_ns pass; *timed_out tells which. */
__global__ void hold_kernel(const volatile int *release, volatile int *timed_out,
                            unsigned long long timeout_ns)
{
    const unsigned long long t0 = globaltimer_ns();
    while (!*release)
        if (globaltimer_ns() - t0 > timeout_ns) {
            *timed_out = 1;
            return;
        }
}

/* flags[0]: release, flags[1]: timed out; host-mapped, allocated once. hold_flags is set only
 * once both pointers are. */
static volatile int *hold_flags;
static void *hold_flags_host;
static int *hold_flags_dev;

extern "C" int attn_stream_hold(cudaStream_t stream)
{
    if (!hold_flags) {
        if (!hold_flags_host)
            CUDA_CHECK(cudaHostAlloc(&hold_flags_host, 2 * sizeof(int), cudaHostAllocMapped));
        CUDA_CHECK(cudaHostGetDevicePointer((void **)&hold_flags_dev, hold_flags_host, 0));
        hold_flags = (volatile int *)hold_flags_host;
    }
    hold_flags[0] = hold_flags[1] = 0;
    hold_kernel<<<1, 1, 0, stream>>>(hold_flags_dev, hold_flags_dev + 1, 1000000000ull);
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}

extern "C" void attn_stream_release(void)
{
    if (hold_flags) __atomic_store_n((int *)&hold_flags[0], 1, __ATOMIC_SEQ_CST);
}

extern "C" int attn_stream_hold_timed_out(void) { return hold_flags && hold_flags[1]; }

/* Reads every 16 bytes of buf once (grid-stride; the loads are volatile, so kept though unused, and
 * independent, so each thread has many in flight). */
__global__ void l2_flush_kernel(const uint4 *buf, size_t n)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += stride) {
        unsigned a, b, c, d;
        asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(a), "=r"(b), "=r"(c), "=r"(d)
                     : "l"(buf + i));
    }
}

extern "C" int attn_l2_flush(const void *buf, size_t bytes, cudaStream_t stream)
{
    static int blocks; /* 8 of 256 threads per SM: enough loads in flight to run at bandwidth */
    if (!blocks) {
        int dev, sms;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        blocks = 8 * sms;
    }
    l2_flush_kernel<<<blocks, 256, 0, stream>>>((const uint4 *)buf, bytes / sizeof(uint4));
    CUDA_CHECK_LAUNCH();
    return ATTN_OK;
}
