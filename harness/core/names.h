/* names.h — readable short names of kernels from the names CUDA tools report (Itanium-mangled C++
 * names). Pure C, no CUDA: used where records are stored (measure.c) and where figures group
 * kernels (plot.c, on databases recorded before a better short name). */
#ifndef ATTN_NAMES_H
#define ATTN_NAMES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A readable short name from a kernel name into buf (always NUL-terminated, never past n): an
 * unmangled name is kept (up to 64 characters); an Itanium-mangled one becomes its qualified name
 * without anonymous namespaces, with simple template arguments written out
 * ("fused_sm90_kernel<bf16,64,3>"), or "<#hhhh>" (a hash of the whole mangled name) where they are
 * not simple, so two instantiations stay apart. A name it cannot parse is kept as given. */
void attn_kernel_short_name(const char *name, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
