/* timer.h — the harness's own timing kernels (kernels/timer.cu), each built on the GPU's %globaltimer: the SM
 * clock probe (clocks.c's fallback without NVML), the stream hold that keeps a sample's enqueueing
 * out of its timing (measure.c), and a busy-wait added on purpose to a timed region (run
 * --debug-spin); and the L2 flush before a cold sample. Each returns ATTN_OK or ATTN_ERR (error.h) where it returns an int. */
#ifndef ATTN_KERNELS_TIMER_H
#define ATTN_KERNELS_TIMER_H

#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SM clock in MHz, measured on `stream` over ~20 µs (one thread counting clock64() ticks). */
int attn_clock_probe(cudaStream_t stream, int *mhz);

/* A one-thread kernel that busy-waits `ns` nanoseconds on `stream`. */
int attn_spin(uint64_t ns, cudaStream_t stream);

/* The stream hold: attn_stream_hold enqueues a kernel that keeps `stream` waiting until
 * attn_stream_release (or 1 s); attn_stream_hold_timed_out, once the stream has passed the hold,
 * says whether it was the timeout that ended it (the host enqueued too slowly or synchronised
 * while holding: the sample is not valid). One hold at a time. */
int attn_stream_hold(cudaStream_t stream);
void attn_stream_release(void);
int attn_stream_hold_timed_out(void);

/* --cache cold's flush on `stream`: every 16 bytes of buf (bytes: twice L2's size at least) read
 * once, which leaves L2 holding clean lines of buf only. */
int attn_l2_flush(const void *buf, size_t bytes, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
