#!/usr/bin/env bash
# deps.sh — the dependency check `make` runs before it builds anything: one ✓/✗ line per
# dependency. What a target cannot do without stops it before the build; what Debian packages can
# provide is installed when possible (root with apt-get, as on a fresh CI machine), otherwise the
# one command that installs it is printed.
#   scripts/deps.sh build   the build needs the CUDA toolkit (nvcc, cuBLAS, CUPTI) and SQLite's header
#   scripts/deps.sh test    `make test` needs gnuplot too (the plot and report tests draw figures)
# Environment: CUDA (toolkit root, default /usr/local/cuda), NVCC, CC, CLANG_FORMAT;
# DEPS_INSTALL=0 never installs (only says what to run).
set -u
mode=${1:-build}
CUDA=${CUDA:-/usr/local/cuda}
NVCC=${NVCC:-$CUDA/bin/nvcc}
CC=${CC:-cc}
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}

have_sqlite() { echo '#include <sqlite3.h>' | "$CC" -E -x c - > /dev/null 2>&1; }
have_gnuplot() { command -v gnuplot > /dev/null; }

# Debian packages this mode needs and lacks.
missing_packages() {
    have_sqlite || printf 'libsqlite3-dev '
    [ "$mode" = test ] && ! have_gnuplot && printf 'gnuplot-nox '
}

need=$(missing_packages)
if [ -n "$need" ] && [ "${DEPS_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] &&
    command -v apt-get > /dev/null; then
    echo "installing: $need(DEPS_INSTALL=0 to stop here instead)"
    # shellcheck disable=SC2086 # a list of package names
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need > /dev/null; } ||
        echo "apt-get could not install $need"
fi

ok=1
if [ -x "$NVCC" ]; then echo "✓ nvcc       $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
else echo "✗ nvcc       not found at $NVCC (install the CUDA toolkit or set CUDA=)"; ok=0; fi
if [ -e "$CUDA/lib64/libcublas.so" ] && [ -e "$CUDA/include/cublas_v2.h" ]; then echo "✓ cuBLAS"
else echo "✗ cuBLAS     not found under $CUDA (part of the CUDA toolkit)"; ok=0; fi
if [ -e "$CUDA/lib64/libcupti.so" ]; then echo "✓ CUPTI"
else echo "✗ CUPTI      not found under $CUDA/lib64 (part of the CUDA toolkit)"; ok=0; fi
if have_sqlite; then
    echo "✓ SQLite     $(printf '#include <sqlite3.h>\nSQLITE_VERSION\n' | "$CC" -E -P -x c - | tail -1)"
else echo "✗ SQLite     sqlite3.h missing (libsqlite3-dev)"; ok=0; fi
if have_gnuplot; then echo "✓ gnuplot    $(gnuplot --version)"
elif [ "$mode" = test ]; then echo "✗ gnuplot    not found (make test draws figures: gnuplot-nox)"; ok=0
else echo "✗ gnuplot    not found (needed by attnbench plot and make test: gnuplot-nox)"; fi
if command -v "$CLANG_FORMAT" > /dev/null; then
    echo "✓ clang-format $("$CLANG_FORMAT" --version | sed -n 's/.*version \([0-9.]*\).*/\1/p')"
else echo "✗ clang-format not found (needed by make format only: apt-get install clang-format)"; fi

if [ $ok = 0 ]; then
    need=$(missing_packages)
    sudo=$([ "$(id -u)" = 0 ] || echo "sudo ")
    [ -n "$need" ] && echo "missing packages; install them with: ${sudo}apt-get install -y ${need% }"
    echo "stopped before building: $([ "$mode" = test ] && echo "make test" || echo make) needs what is marked ✗ above"
    exit 1
fi
