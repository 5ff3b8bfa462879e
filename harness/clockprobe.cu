/* clockprobe.cu — the harness's kernels that read the GPU's %globaltimer:
 *   - the SM clock without NVML: one thread counts clock64() ticks while %globaltimer advances
 *     ~20 µs; ticks per ns × 1000 = MHz. Enqueued after a sample, outside its timing;
 *   - a busy-wait of a given length (run --debug-spin): work added on purpose to one variant's
 *     timed region, so that the regression gate can be shown to catch a known slowdown. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "clocks.h"
#include "error.h"

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
    static unsigned long long *dev, *host;
    if (!dev) {
        CUDA_CHECK(cudaMalloc(&dev, 2 * sizeof *dev));
        CUDA_CHECK(cudaMallocHost(&host, 2 * sizeof *host));
    }
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
