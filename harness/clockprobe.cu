/* clockprobe.cu — the SM clock without NVML: one thread counts clock64() ticks while %globaltimer
 * advances ~20 µs; ticks per ns × 1000 = MHz. Enqueued after a sample, outside its timing. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "clocks.h"

__global__ void clock_probe_kernel(unsigned long long *out)
{
    unsigned long long g0, g1, c0, c1;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));
    c0 = clock64();
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));
    } while (g1 - g0 < 20000);
    c1 = clock64();
    out[0] = c1 - c0;
    out[1] = g1 - g0;
}

extern "C" int attn_clock_probe(cudaStream_t stream)
{
    static unsigned long long *dev, *host;
    if (!dev && (cudaMalloc(&dev, 2 * sizeof *dev) != cudaSuccess ||
                 cudaMallocHost(&host, 2 * sizeof *host) != cudaSuccess)) {
        dev = NULL;
        cudaGetLastError();
        return -1;
    }
    clock_probe_kernel<<<1, 1, 0, stream>>>(dev);
    if (cudaGetLastError() != cudaSuccess ||
        cudaMemcpyAsync(host, dev, 2 * sizeof *host, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
        cudaStreamSynchronize(stream) != cudaSuccess || host[1] == 0)
        return -1;
    return (int)(host[0] * 1000.0 / host[1] + 0.5);
}
