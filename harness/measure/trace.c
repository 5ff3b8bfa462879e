/* trace.c — CUPTI activity records attributed to samples, NVTX ranges (see trace.h).
 *
 * Workload: a handful of records per sample (one per kernel launch, memset, memcpy, plus the API
 * records external correlation needs), flushed once per point; the log holds one point's worth,
 * at most max_samples (10000) × a few records. Between flushes CUPTI asks for a new buffer
 * whenever one fills and hands full ones over from its worker thread when its heuristics say;
 * at worst they wait for the point's flush: a few 4 MB buffers. */
#include "measure/trace.h"

#include <cupti.h>
#include <nvtx3/nvToolsExt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The kernel record struct changes with CUPTI releases (cupti.md): 13.0 delivers Kernel10. */
#if CUPTI_API_VERSION >= 130001 && CUPTI_API_VERSION < 130100
typedef CUpti_ActivityKernel10 attn_kernel_record;
#else
#error "CUPTI kernel record version unknown for this CUPTI_API_VERSION: check cupti_activity.h"
#endif
typedef CUpti_ActivityMemset4 attn_memset_record;
typedef CUpti_ActivityMemcpy6 attn_memcpy_record;

/* ---------------------------------------------------------------- the log (pure, tested on CPU) */

static int log_grow(attn_cupti_log *log)
{
    if (log->n < log->cap) return ATTN_OK;
    size_t cap = log->cap ? 2 * log->cap : 256;
    attn_kernel_rec *r = realloc(log->recs, cap * sizeof *r);
    if (!r) return attn_fail("out of host memory for CUPTI records");
    log->recs = r;
    log->cap = cap;
    return ATTN_OK;
}

static size_t slot(uint32_t corr, size_t cap)
{
    return (corr * 2654435761u) & (cap - 1);
}

static int map_put(attn_cupti_log *log, uint32_t corr, uint64_t ext)
{
    if (corr == 0) return ATTN_OK;
    if (2 * (log->map_n + 1) > log->map_cap) {
        size_t cap = log->map_cap ? 2 * log->map_cap : 1024;
        uint32_t *c = calloc(cap, sizeof *c);
        uint64_t *e = calloc(cap, sizeof *e);
        if (!c || !e) {
            free(c), free(e);
            return attn_fail("out of host memory for CUPTI correlation ids");
        }
        for (size_t i = 0; i < log->map_cap; i++)
            if (log->map_corr[i]) {
                size_t j = slot(log->map_corr[i], cap);
                while (c[j]) j = (j + 1) & (cap - 1);
                c[j] = log->map_corr[i], e[j] = log->map_ext[i];
            }
        free(log->map_corr), free(log->map_ext);
        log->map_corr = c, log->map_ext = e, log->map_cap = cap;
    }
    size_t j = slot(corr, log->map_cap);
    while (log->map_corr[j] && log->map_corr[j] != corr) j = (j + 1) & (log->map_cap - 1);
    if (!log->map_corr[j]) log->map_n++;
    log->map_corr[j] = corr, log->map_ext[j] = ext;
    return ATTN_OK;
}

static uint64_t map_get(const attn_cupti_log *log, uint32_t corr)
{
    if (!log->map_cap || corr == 0) return 0;
    for (size_t j = slot(corr, log->map_cap); log->map_corr[j]; j = (j + 1) & (log->map_cap - 1))
        if (log->map_corr[j] == corr) return log->map_ext[j];
    return 0;
}

static const char *copy_kind_name(int k)
{
    switch (k) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "[memcpy HtoD]";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "[memcpy DtoH]";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "[memcpy DtoD]";
    default: return "[memcpy]";
    }
}

int attn_cupti_log_record(attn_cupti_log *log, const void *record)
{
    const CUpti_Activity *r = record;
    switch (r->kind) {
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        const CUpti_ActivityExternalCorrelation *e = record;
        if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0)
            return map_put(log, e->correlationId, e->externalId);
        return ATTN_OK;
    }
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const attn_kernel_record *k = record;
        ATTN_TRY(log_grow(log));
        attn_kernel_rec *o = &log->recs[log->n];
        memset(o, 0, sizeof *o);
        o->kind = ATTN_REC_KERNEL;
        o->correlation = k->correlationId;
        o->start = k->start, o->end = k->end;
        o->stream = k->streamId;
        o->grid[0] = k->gridX, o->grid[1] = k->gridY, o->grid[2] = k->gridZ;
        o->block[0] = k->blockX, o->block[1] = k->blockY, o->block[2] = k->blockZ;
        o->registers = k->registersPerThread;
        o->static_smem = k->staticSharedMemory, o->dynamic_smem = k->dynamicSharedMemory;
        o->name = strdup(k->name ? k->name : "[unnamed kernel]");
        if (!o->name) return attn_fail("out of host memory for a kernel name");
        log->n++;
        return ATTN_OK;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET:
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
        ATTN_TRY(log_grow(log));
        attn_kernel_rec *o = &log->recs[log->n];
        memset(o, 0, sizeof *o);
        if (r->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
            const attn_memset_record *m = record;
            o->kind = ATTN_REC_MEMSET;
            o->correlation = m->correlationId, o->start = m->start, o->end = m->end;
            o->stream = m->streamId;
            o->name = strdup("[memset]");
        } else {
            const attn_memcpy_record *m = record;
            o->kind = ATTN_REC_MEMCPY;
            o->correlation = m->correlationId, o->start = m->start, o->end = m->end;
            o->stream = m->streamId;
            o->name = strdup(copy_kind_name(m->copyKind));
        }
        if (!o->name) return attn_fail("out of host memory for a record name");
        log->n++;
        return ATTN_OK;
    }
    default:
        log->n_other++;
        return ATTN_OK;
    }
}

void attn_cupti_log_resolve(attn_cupti_log *log)
{
    for (size_t i = log->resolved; i < log->n; i++)
        if (!log->recs[i].ext) log->recs[i].ext = map_get(log, log->recs[i].correlation);
    log->resolved = log->n;
}

void attn_cupti_log_resolve_all(attn_cupti_log *log)
{
    log->resolved = 0;
    attn_cupti_log_resolve(log);
}

void attn_cupti_log_clear(attn_cupti_log *log)
{
    for (size_t i = 0; i < log->n; i++) free(log->recs[i].name);
    log->n = log->resolved = 0;
    if (log->map_cap) {
        memset(log->map_corr, 0, log->map_cap * sizeof *log->map_corr);
        log->map_n = 0;
    }
    log->n_other = 0;
}

void attn_cupti_log_free(attn_cupti_log *log)
{
    attn_cupti_log_clear(log);
    free(log->recs), free(log->map_corr), free(log->map_ext);
    memset(log, 0, sizeof *log);
}

/* ---------------------------------------------------------------- the session */

static struct {
    int on;                   /* collecting */
    int inited;               /* activity kinds enabled (need disabling at the end) */
    CUpti_SubscriberHandle sub;
    char reason[800];         /* why off */
    char version[48];
    attn_cupti_log log;
    pthread_mutex_t lock;
    int error;                /* a record could not be stored */
    size_t dropped;           /* records CUPTI dropped for want of buffer space */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const size_t BUF_SIZE = 4u << 20;

/* A new buffer each time CUPTI asks (it asks again whenever one fills, with or without a flush);
 * buf_completed frees it once parsed. */
static void CUPTIAPI buf_requested(uint8_t **buf, size_t *size, size_t *max)
{
    *buf = aligned_alloc(8, BUF_SIZE);
    *size = *buf ? BUF_SIZE : 0;
    *max = 0;
}

static void CUPTIAPI buf_completed(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size,
                                   size_t valid)
{
    (void)size;
    CUpti_Activity *r = NULL;
    size_t dropped = 0;
    pthread_mutex_lock(&S.lock);
    while (cuptiActivityGetNextRecord(buf, valid, &r) == CUPTI_SUCCESS)
        if (attn_cupti_log_record(&S.log, r) != ATTN_OK) S.error = 1;
    /* A dropped record would leave some sample short of records, unnoticed. */
    if (cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS)
        S.dropped += dropped;
    pthread_mutex_unlock(&S.lock);
    free(buf);
}

/* Records why CUPTI is off (the first reason wins) and stops collecting. */
static void turn_off(const char *why)
{
    if (!S.reason[0]) snprintf(S.reason, sizeof S.reason, "%.790s", why);
    S.on = 0;
}

/* Runs one CUPTI call; on failure turns CUPTI off with the call and CUPTI's message. */
#define CUPTI_OFF_ON_FAIL(call)                                                            \
    do {                                                                                   \
        if (attn_fail_cupti_check((int)(call), #call, __FILE__, __LINE__)) return ATTN_ERR; \
    } while (0)

static int attn_fail_cupti_check(int code, const char *call, const char *file, int line)
{
    if (code == CUPTI_SUCCESS) return 0;
    attn_fail_cupti(code, call, file, line);
    turn_off(attn_last_error.msg);
    return 1;
}

static void CUPTIAPI on_callback(void *user, CUpti_CallbackDomain dom, CUpti_CallbackId id,
                                 const void *data)
{
    (void)user, (void)dom, (void)id, (void)data; /* subscribed only to hold the CUPTI slot */
}

/* Every record kind the harness collects: kernels, memsets and memcopies, and the runtime/driver
 * API records that carry the external correlation ids to them. */
static const CUpti_ActivityKind kinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMSET,
    CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
    CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static int init_kinds(void)
{
    CUPTI_OFF_ON_FAIL(cuptiActivityRegisterCallbacks(buf_requested, buf_completed));
    S.inited = 1;
    for (size_t i = 0; i < N_KINDS; i++) CUPTI_OFF_ON_FAIL(cuptiActivityEnable(kinds[i]));
    return ATTN_OK;
}

int attn_cupti_init(void)
{
    uint32_t v = 0;
    if (cuptiGetVersion(&v) == CUPTI_SUCCESS)
        snprintf(S.version, sizeof S.version, "%u (built against %u)", v, CUPTI_API_VERSION);
    if (v && v != CUPTI_API_VERSION)
        fprintf(stderr, "attnbench: CUPTI API version %u differs from the %u this was built "
                        "against; record layouts may differ\n", v, CUPTI_API_VERSION);
    if (S.reason[0]) return ATTN_ERR; /* disabled before init */
    /* Subscribing first tells whether another tool holds CUPTI (Nsight, ncu, sanitizer). */
    char old[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 64] = "";
    CUpti_SubscriberParams sp = {CUpti_SubscriberParams_STRUCT_SIZE, "attnbench", old, sizeof old};
    CUptiResult r = cuptiSubscribe_v2(&S.sub, (CUpti_CallbackFunc)on_callback, NULL, &sp);
    if (r != CUPTI_SUCCESS) {
        attn_fail_cupti(r, "cuptiSubscribe_v2", __FILE__, __LINE__);
        if (old[0]) { /* the tool that holds CUPTI */
            size_t len = strlen(attn_last_error.msg);
            snprintf(attn_last_error.msg + len, sizeof attn_last_error.msg - len, "; held by %s",
                     old);
        }
        turn_off(attn_last_error.msg);
        S.sub = NULL;
        return ATTN_ERR;
    }
    S.on = 1;
    if (init_kinds() != ATTN_OK) {
        attn_cupti_shutdown();
        return ATTN_ERR;
    }
    return ATTN_OK;
}

int attn_cupti_on(void) { return S.on; }
const char *attn_cupti_reason(void) { return S.on ? "" : S.reason; }
const char *attn_cupti_version(void)
{
    if (!S.version[0]) {
        uint32_t v = 0;
        if (cuptiGetVersion(&v) == CUPTI_SUCCESS)
            snprintf(S.version, sizeof S.version, "%u (built against %u)", v, CUPTI_API_VERSION);
    }
    return S.version;
}

void attn_cupti_disable(const char *reason)
{
    int was = S.on || S.inited;
    turn_off(reason);
    if (was) attn_cupti_shutdown();
}

int attn_cupti_push(uint64_t ext)
{
    if (!S.on) return ATTN_ERR;
    CUPTI_OFF_ON_FAIL(cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, ext));
    return ATTN_OK;
}

int attn_cupti_pop(void)
{
    if (!S.on) return ATTN_ERR;
    uint64_t last = 0;
    CUPTI_OFF_ON_FAIL(cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last));
    return ATTN_OK;
}

int attn_cupti_collect(int on)
{
    if (!S.on) return ATTN_ERR;
    for (size_t i = 0; i < N_KINDS; i++)
        CUPTI_OFF_ON_FAIL(on ? cuptiActivityEnable(kinds[i]) : cuptiActivityDisable(kinds[i]));
    return ATTN_OK;
}

int attn_cupti_flush(void)
{
    if (!S.on) return ATTN_ERR;
    CUPTI_OFF_ON_FAIL(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
    pthread_mutex_lock(&S.lock);
    int err = S.error;
    size_t dropped = S.dropped;
    attn_cupti_log_resolve(&S.log);
    pthread_mutex_unlock(&S.lock);
    if (err) {
        turn_off("out of host memory for CUPTI records");
        return ATTN_ERR;
    }
    if (dropped) {
        char why[96];
        snprintf(why, sizeof why, "CUPTI dropped %zu records for want of buffer space", dropped);
        turn_off(why);
        return ATTN_ERR;
    }
    return ATTN_OK;
}

attn_cupti_log *attn_cupti_lock(void)
{
    pthread_mutex_lock(&S.lock);
    return &S.log;
}

void attn_cupti_unlock(void) { pthread_mutex_unlock(&S.lock); }

void attn_cupti_clear(void)
{
    if (S.on) attn_cupti_flush();
    pthread_mutex_lock(&S.lock);
    attn_cupti_log_clear(&S.log);
    pthread_mutex_unlock(&S.lock);
}

void attn_cupti_shutdown(void)
{
    if (S.inited) {
        cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
        for (size_t i = 0; i < N_KINDS; i++) cuptiActivityDisable(kinds[i]);
        S.inited = 0;
    }
    if (S.sub) {
        cuptiUnsubscribe(S.sub);
        S.sub = NULL;
    }
    if (S.on) turn_off("shut down");
    pthread_mutex_lock(&S.lock);
    attn_cupti_log_free(&S.log);
    pthread_mutex_unlock(&S.lock);
}

/* ---------------------------------------------------------------- NVTX */

static nvtxDomainHandle_t nvtx_domain(void)
{
    static nvtxDomainHandle_t d;
    if (!d) d = nvtxDomainCreateA("attnbench");
    return d;
}

void attn_nvtx_push(const char *name)
{
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = 0xFF76B900u;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;
    nvtxDomainRangePushEx(nvtx_domain(), &a);
}

void attn_nvtx_pop(void) { nvtxDomainRangePop(nvtx_domain()); }
