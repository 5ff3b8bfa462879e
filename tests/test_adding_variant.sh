#!/usr/bin/env bash
# test_adding_variant.sh — follows README.md's "Adding a variant" literally: writes the files its
# code blocks name (each block follows a line "<!-- file: PATH -->"), adds the registry lines the
# README gives, builds them against the harness as built (build/harness/main.o, build/libattn.a:
# harness/ is not touched), and runs the new variant through `attnbench list` and `attnbench run
# --backend cpu`. Run by `make test` (which passes CC, CFLAGS, NVCC, GPU_ARCH and BUILD in the
# environment); ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
: "${CC:=cc}" "${NVCC:=/usr/local/cuda/bin/nvcc}" "${BUILD:=build}" "${CUDA:=/usr/local/cuda}"
: "${CFLAGS:=-O2 -g -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE}"
tmp=$(mktemp -d /tmp/attnbench-readme-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >>"$tmp/log" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL $what"; tail -20 "$tmp/log"; fi
}

# The files of the README's worked example, as the README prints them.
awk -v dir="$tmp/src" '
    /^<!-- file: .* -->$/ { path = $3; next }
    path != "" && /^```/ && !inblock { inblock = 1; file = dir "/" path; system("mkdir -p \"$(dirname " file ")\""); printf "" > file; next }
    inblock && /^```$/ { inblock = 0; close(file); path = ""; next }
    inblock { print >> file }
' README.md
n_files=$(find "$tmp/src" -type f 2>/dev/null | wc -l)
check "README has the example's files (kernels/NAME.h, kernels/NAME.cu, variants/NAME.c)" test "$n_files" -eq 3
name=$(basename "$(ls "$tmp"/src/variants/*.c 2>/dev/null | head -1)" .c)
check "the example variant has a name" test -n "$name"

# The registry, with the two lines the README says to add.
decl=$(grep -m1 "^extern const attn_variant attn_variant_$name;" README.md)
entry=$(grep -m1 "^    &attn_variant_$name,$" README.md)
check "README gives the registry lines" test -n "$decl" -a -n "$entry"
awk -v d="$decl" -v e="$entry" '
    /^extern const attn_variant/ { last_decl = NR }
    { lines[NR] = $0 }
    END { for (i = 1; i <= NR; i++) { if (lines[i] ~ /^    NULL,$/) print e; print lines[i]; if (i == last_decl) print d } }
' variants/registry.c >"$tmp/registry.c"

inc="-Iharness -Ivariants -I$tmp/src/kernels -I$tmp/src/variants -isystem $CUDA/include"
arch=${GPU_ARCH:--gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90a,code=sm_90a}
check "variants/$name.c compiles (C11, -Wall -Wextra -Werror)" \
    $CC $CFLAGS $inc -c -o "$tmp/v.o" "$tmp/src/variants/$name.c"
check "kernels/$name.cu compiles" \
    $NVCC -std=c++17 $arch -Xcompiler -Wall -Xcompiler -Werror $inc -c -o "$tmp/k.o" "$tmp/src/kernels/$name.cu"
check "registry.c compiles" $CC $CFLAGS $inc -c -o "$tmp/r.o" "$tmp/registry.c"
check "links against the harness as built" \
    $CC $CFLAGS -L"$CUDA/lib64" -Wl,--disable-new-dtags,-rpath,"$CUDA/lib64" -o "$tmp/attnbench" \
    "$BUILD/harness/main.o" "$tmp/v.o" "$tmp/k.o" "$tmp/r.o" "$BUILD/libattn.a" \
    -lcublasLt -lcublas -lcupti -lcudart -lsqlite3 -lstdc++ -lm -lpthread -ldl
check "attnbench list names $name" sh -c "'$tmp/attnbench' list | grep -q '^ *$name '"
check "attnbench run --backend cpu runs $name and every point passes its check" sh -c "
    '$tmp/attnbench' run --backend cpu --variants '$name' --seq 1,127 --heads 4 --kv-heads 2 \
        --head-dim 64 --causal 0,1 --dtype bf16,fp32 --max-time 0.02 --min-samples 2 --quiet \
        --db '$tmp/r.db' 2>&1 | grep -q ' ok: 8 ok, 0 skipped, 0 failed'"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
