/* test_names.c — kernel short names from mangled names: plain and nested names, anonymous
 * namespaces, template arguments spelled out or hashed, and the bound on the output buffer. */
#include <string.h>

#include "core/names.h"
#include "test.h"

static void short_names(void)
{
    char a[160], b[160];
    attn_kernel_short_name("_Z13naive_softmaxPfi", a, sizeof a);
    test_cond("plain function", strcmp(a, "naive_softmax") == 0);
    attn_kernel_short_name("_ZN5flash10fwd_kernelEv", a, sizeof a);
    test_cond("nested name", strcmp(a, "flash::fwd_kernel") == 0);
    attn_kernel_short_name("_ZN5flash10fwd_kernelILi128EEEvv", a, sizeof a);
    attn_kernel_short_name("_ZN5flash10fwd_kernelILi64EEEvv", b, sizeof b);
    test_cond("template arguments spelled out", strcmp(a, "flash::fwd_kernel<128>") == 0);
    test_cond("instantiations apart", strcmp(a, b) != 0);
    /* Anonymous namespaces are dropped; bf16/fp16, integer and bool arguments spelled out. */
    attn_kernel_short_name("_ZN46_GLOBAL__N__6a2634d7_13_fused_sm90_cu_fe57d25317fused_sm90_kernelI"
                           "13__nv_bfloat16Li64ELi3EEEv14CUtensorMap_stS2_S2_NS_11sm90_paramsE", a, sizeof a);
    test_cond("anonymous namespace dropped", strcmp(a, "fused_sm90_kernel<bf16,64,3>") == 0);
    attn_kernel_short_name("_ZN40_GLOBAL__N__c41b8dc9_8_fused_cu_4e76af0716fused_fwd_kernelI6__half"
                           "Li128ELi64ELi4ELi1ELb1EEEvNS_12fused_paramsE", a, sizeof a);
    test_cond("fp16, bool", strcmp(a, "fused_fwd_kernel<fp16,128,64,4,1,true>") == 0);
    attn_kernel_short_name("_Z19softmax_rows_kernelI13__nv_bfloat16Li8ELi32ELi2EEvPT_xiif", a, sizeof a);
    test_cond("plain template function", strcmp(a, "softmax_rows_kernel<bf16,8,32,2>") == 0);
    attn_kernel_short_name("_Z15naive_pv_kernelI6__halfEvPKfPKT_PS3_iiix", a, sizeof a);
    test_cond("type argument", strcmp(a, "naive_pv_kernel<fp16>") == 0);
    attn_kernel_short_name("_Z1kIfLin3ELb0EEvv", a, sizeof a);
    test_cond("builtin, negative, false", strcmp(a, "k<float,-3,false>") == 0);
    attn_kernel_short_name("_ZN5flash3fwdI5TraitILi1EEEEvv", a, sizeof a);
    test_cond("complex argument: hashed", strncmp(a, "flash::fwd<#", 12) == 0 && strlen(a) == 17);
    attn_kernel_short_name("_ZN5flash3fwdI5TraitILi2EEEEvv", b, sizeof b);
    test_cond("hashed instantiations apart", strcmp(a, b) != 0);
    attn_kernel_short_name("_ZN12_GLOBAL__N_13fooEv", a, sizeof a);
    test_cond("anonymous namespace, plain name", strcmp(a, "foo") == 0);
    attn_kernel_short_name("_ZN12_GLOBAL__N_1E", a, sizeof a);
    test_cond("only a namespace: kept", strcmp(a, "_GLOBAL__N_1") == 0);
    /* Bounded by n: always NUL-terminated, never past n. */
    char small[12];
    memset(small, 'x', sizeof small);
    attn_kernel_short_name("_ZN46_GLOBAL__N__6a2634d7_13_fused_sm90_cu_fe57d25317fused_sm90_kernelI"
                           "13__nv_bfloat16Li64ELi3EEEvv", small, 8);
    test_cond("truncated to n", strlen(small) == 7 && small[8] == 'x');
    memset(small, 'x', sizeof small);
    attn_kernel_short_name("_Z1kILi1EEvv", small, 3);
    test_cond("template suffix truncated to n", strlen(small) == 2 && small[3] == 'x');
    attn_kernel_short_name("_Z1kILi1E", a, sizeof a);
    test_cond("truncated mangled name: hashed, not read past", strncmp(a, "k<#", 3) == 0);
    attn_kernel_short_name("sm90_xmma_gemm_bf16bf16_cublas", a, sizeof a);
    test_cond("unmangled kept", strcmp(a, "sm90_xmma_gemm_bf16bf16_cublas") == 0);
    attn_kernel_short_name("_Zgarbage", a, sizeof a);
    test_cond("unparsable kept", strcmp(a, "_Zgarbage") == 0);
}

int main(void)
{
    short_names();
    return test_report();
}
