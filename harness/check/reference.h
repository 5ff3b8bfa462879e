/* reference.h — the oracle: exact attention in double precision on the CPU, for chosen rows. */
#ifndef ATTN_REFERENCE_H
#define ATTN_REFERENCE_H

#include "core/problem.h"

/* out[i·D + d] = softmax(scale · q_row · Kᵀ, masked when causal) · V for each row, all in double,
 * from the inputs as stored (already rounded to the dtype). */
void attn_reference_rows(const attn_point *p, const attn_host_inputs *in, const attn_row *rows,
                         size_t n_rows, double *out);

#endif
