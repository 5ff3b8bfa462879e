/* ceilings.h (run) — the GPU's ceilings measured at run start (measure/ceilings.h) and stored
 * with the run (table ceilings), so that the summary relates every point to them. */
#ifndef ATTN_RUN_CEILINGS_H
#define ATTN_RUN_CEILINGS_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "store/store.h"

/* Measures and stores; a failure is reported on stderr and the run goes on without them. */
void run_ceilings(sqlite3 *db, int64_t run_id, cudaStream_t stream);

#endif
