/* trace.h — per-kernel records through CUPTI's activity API, and the harness's NVTX ranges.
 *
 * CUPTI: CONCURRENT_KERNEL, MEMSET and MEMCPY records plus EXTERNAL_CORRELATION (with the RUNTIME
 * and DRIVER API kinds it needs). Each timed sample pushes its own CUSTOM0 external id around the
 * variant's run(), so every kernel (memset, memcpy) record the variant causes carries that sample's
 * id; anything enqueued outside the push (the L2 flush, warm-ups, checks) maps to no sample
 * and is dropped. Records are flushed once per point, after its last sample has completed: never
 * inside a timed region, nor between samples (a flush idles the GPU, which changes its clocks).
 * Meanwhile CUPTI takes a new buffer whenever one fills (any number of them).
 *
 * Fallback: any CUPTI failure (init or later) turns CUPTI off for the rest of the process with the
 * reason kept in attn_cupti_reason(); measurement continues with CUDA events.
 *
 * The record log (attn_cupti_log) is plain data so that parsing and attribution are tested on the
 * CPU from synthetic records (tests/test_cupti.c). (Named trace.h: a harness/cupti.h would shadow
 * CUPTI's own <cupti.h> on the -Iharness include path.) */
#ifndef ATTN_TRACE_H
#define ATTN_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attn_rec_kind { ATTN_REC_KERNEL, ATTN_REC_MEMSET, ATTN_REC_MEMCPY } attn_rec_kind;

/* One kernel, memset or memcpy execution. */
typedef struct attn_kernel_rec {
    attn_rec_kind kind;
    uint32_t correlation;     /* CUPTI correlation id: links the record to the API call */
    uint64_t ext;             /* external (sample) id once resolved; 0 = belongs to no sample */
    uint64_t start, end;      /* ns on CUPTI's timebase; both 0 = no timestamp collected */
    uint32_t stream;
    int32_t grid[3], block[3];
    int registers;            /* per thread */
    int static_smem, dynamic_smem; /* bytes per block */
    char *name;               /* owned: mangled kernel name, or "[memset]" / "[memcpy DtoD]" ... */
} attn_kernel_rec;

/* Records collected since the last clear, plus the correlation → external id map. */
typedef struct attn_cupti_log {
    attn_kernel_rec *recs;
    size_t n, cap;
    uint32_t *map_corr;       /* open addressing; 0 = empty slot (CUPTI ids start at 1) */
    uint64_t *map_ext;
    size_t map_n, map_cap;    /* map_cap a power of two */
    uint64_t n_other;         /* records of other kinds (API records...), skipped */
    size_t resolved;          /* recs[0..resolved) were resolved by attn_cupti_log_resolve */
} attn_cupti_log;

/* Parses one activity record (a CUpti_Activity *) into the log; copies what it keeps. ATTN_OK, or
 * ATTN_ERR when out of host memory. Unknown kinds are counted and skipped. */
int attn_cupti_log_record(attn_cupti_log *log, const void *record);
/* Sets the ext of the records added since the last call from the correlation map; _all: of every
 * record still without one (for ids whose mapping came in a later flush). */
void attn_cupti_log_resolve(attn_cupti_log *log);
void attn_cupti_log_resolve_all(attn_cupti_log *log);
void attn_cupti_log_clear(attn_cupti_log *log);
void attn_cupti_log_free(attn_cupti_log *log);

/* ---------------------------------------------------------------- the process's CUPTI session */

/* Call before the first CUDA call. ATTN_OK: CUPTI is on. ATTN_ERR: off, attn_cupti_reason() says
 * why (another subscriber such as Nsight, no permission, virtualised GPU, ...). */
int attn_cupti_init(void);
int attn_cupti_on(void);
/* Why CUPTI is off ("" while on). */
const char *attn_cupti_reason(void);
/* Turns CUPTI off for the rest of the process (e.g. --no-cupti), keeping the first reason. */
void attn_cupti_disable(const char *reason);
/* "13.0 (API 130001)"; "" when unknown. */
const char *attn_cupti_version(void);

/* Around one sample's run(): push/pop its external id. On failure CUPTI is turned off (with the
 * reason) and ATTN_ERR returned; the caller goes on with events. */
int attn_cupti_push(uint64_t ext);
int attn_cupti_pop(void);
/* Turns the collection of every record kind off (on = 0) or back on (1), CUPTI staying subscribed:
 * samples run between the two are untraced, as under --no-cupti (measure.c's --cupti-alternate). */
int attn_cupti_collect(int on);
/* Forces delivery of every completed record into the process log (the GPU work must be complete:
 * FlushAll does not synchronise) and resolves external ids. ATTN_ERR (and CUPTI off) when a
 * record could not be stored or CUPTI dropped records for want of buffer space. */
int attn_cupti_flush(void);
/* The process log (valid until the next clear), locked: CUPTI may deliver a full buffer from its
 * own thread at any time. Unlock when done reading or reordering it. */
attn_cupti_log *attn_cupti_lock(void);
void attn_cupti_unlock(void);
/* Flush, then drop everything collected so far (before a point's timed samples). */
void attn_cupti_clear(void);
/* Flush and stop collecting; call before exit while CUDA is still alive. */
void attn_cupti_shutdown(void);

/* ---------------------------------------------------------------- NVTX (one harness domain) */

/* Push a range named `name` (copied by NVTX) in the "attnbench" domain; pop the innermost one.
 * Near no-ops without a tool attached. */
void attn_nvtx_push(const char *name);
void attn_nvtx_pop(void);

#ifdef __cplusplus
}
#endif
#endif
