/* registry.c — the table of variants. Adding a variant: write variants/NAME.c and kernels/NAME.cu,
 * declare its struct here and list it (display order = this order). */
#include <string.h>

#include "variant.h"

extern const attn_variant attn_variant_naive;
extern const attn_variant attn_variant_cublas;
extern const attn_variant attn_variant_fused;
extern const attn_variant attn_variant_cudnn;
extern const attn_variant attn_variant_lowrank;
extern const attn_variant attn_variant_nystrom;
extern const attn_variant attn_variant_sparse;
extern const attn_variant attn_variant_quant;

const attn_variant *const attn_variants[] = {
    &attn_variant_naive,
    &attn_variant_cublas,
    &attn_variant_fused,
    &attn_variant_cudnn,
    &attn_variant_lowrank,
    &attn_variant_nystrom,
    &attn_variant_sparse,
    &attn_variant_quant,
    NULL,
};

const attn_variant *attn_variant_find(const char *name)
{
    for (const attn_variant *const *v = attn_variants; *v; v++)
        if (strcmp((*v)->name, name) == 0) return *v;
    return NULL;
}
