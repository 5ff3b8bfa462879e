#!/usr/bin/env bash
# Runs test binaries, each ending with "N passed, N failed", and sums them into one such line.
# Used by `make test` / `make test-gpu`, and directly on the GPU machine (no rebuild there).
set -u
passed=0 failed=0 status=0
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $t exited $rc without a summary line"; failed=$((failed + 1)); status=1; continue
    fi
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ]; then status=1; [ "$f" -eq 0 ] && failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
exit $status
