#!/usr/bin/env bash
# nightly.sh — the nightly benchmark job on a GPU machine: build → GPU tests → the nightly sweep
# (sweeps/nightly.sweep, tagged nightly) → the regression gate against the newest earlier nightly
# run on this GPU model and the nightly history's run-to-run noise → the change-point history →
# figures and a markdown report. Every step
# says how it ended; the exit status tells a regression from a broken job:
#   0  no regression
#   1  performance regression (compare found a slower key, or history a new slower step)
#   3  only inconclusive keys, and NIGHTLY_FAIL_ON_INCONCLUSIVE=1 asked for a decision
#   4  infrastructure error: the build, the sweep or a gate command could not run (not a
#      regression: nothing was decided)
#   5  correctness: a GPU test failed or a point failed its check
# With several outcomes the most urgent wins: 1, then 5, 4, 3.
#
# Environment (all optional):
#   ATTN_DB                       database kept between nights (default results/attnbench.db)
#   ATTN_OUT                      this night's outputs (default results/nightly-<UTC time>)
#   NIGHTLY_FAIL_ON_INCONCLUSIVE  1: inconclusive keys fail the job (exit 3)
#   NIGHTLY_SKIP_BUILD            1: use the binaries already built
#   NIGHTLY_SKIP_GPU_TESTS        1: skip step 2 (a dry run of this script on a machine without GPU)
#   NIGHTLY_RUN_FLAGS             extra options for the sweep, after the sweep file's (a dry run:
#                                 "--backend cpu --seq 64,128 --tokens 128 --max-time 0.05")
#   NIGHTLY_RUN_ID                gate this run of ATTN_DB instead of sweeping: steps 1-3 are
#                                 skipped (the run was made elsewhere, e.g. merged from the shards
#                                 of a Slurm array or CI matrix: examples/)
# Writes under ATTN_OUT: compare.md, compare.junit.xml, history.txt, report.md, figures/, and
# summary.md (also appended to $GITHUB_STEP_SUMMARY when set).
set -u
cd "$(dirname "$0")/.." || exit 4

DB=${ATTN_DB:-results/attnbench.db}
OUT=${ATTN_OUT:-results/nightly-$(date -u +%Y%m%dT%H%M%SZ)}
BIN=build/attnbench
mkdir -p "$OUT" "$(dirname "$DB")" || exit 4

regression=0 correctness=0 infra=0 inconclusive=0
summary="$OUT/summary.md"
printf '# attnbench nightly %s\n\n| step | result |\n|:--|:--|\n' "$(date -u +%FT%TZ)" > "$summary"

# note STEP RESULT: one line to the log and one row to the summary.
note() {
    echo "nightly: $1: $2"
    printf '| %s | %s |\n' "$1" "$2" >> "$summary"
}

finish() {
    local status=0
    if [ "$regression" = 1 ]; then status=1
    elif [ "$correctness" = 1 ]; then status=5
    elif [ "$infra" = 1 ]; then status=4
    elif [ "$inconclusive" = 1 ]; then status=3
    fi
    note "exit status" "$status"
    [ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat "$summary" >> "$GITHUB_STEP_SUMMARY"
    exit "$status"
}

# A run made elsewhere (merged shards): only the gate, history and report below.
if [ -n "${NIGHTLY_RUN_ID:-}" ]; then
    NIGHTLY_SKIP_BUILD=1 NIGHTLY_SKIP_GPU_TESTS=1
fi

# 1. Build. Without a binary nothing can be measured: stop here.
if [ "${NIGHTLY_SKIP_BUILD:-0}" != 1 ]; then
    if make > "$OUT/build.log" 2>&1; then note build ok
    else note build "FAILED (infrastructure; see $OUT/build.log)"; infra=1; finish; fi
fi

# 2. GPU tests: builds them and runs scripts/run-tests.sh on build/tests/gpu/test_*.
if [ "${NIGHTLY_SKIP_GPU_TESTS:-0}" = 1 ]; then
    note "GPU tests" skipped
elif make test-gpu > "$OUT/test-gpu.log" 2>&1; then
    note "GPU tests" "ok ($(tail -1 "$OUT/test-gpu.log"))"
else
    note "GPU tests" "FAILED: $(tail -1 "$OUT/test-gpu.log") (see $OUT/test-gpu.log)"
    correctness=1
fi

# 3. The sweep. Exit 1 means some point failed its check or the run was cut short; what it stored
#    is still compared (failed points come out inconclusive). Exit 2: bad sweep file or database.
if [ -n "${NIGHTLY_RUN_ID:-}" ]; then
    echo "attnbench run $NIGHTLY_RUN_ID: made elsewhere (NIGHTLY_RUN_ID)" > "$OUT/run.log"
    rc=0
    "$BIN" show --db "$DB" --run "$NIGHTLY_RUN_ID" > /dev/null 2>> "$OUT/run.log" || rc=2
else
    # shellcheck disable=SC2086 # NIGHTLY_RUN_FLAGS is a list of options
    "$BIN" run --sweep sweeps/nightly.sweep --tag nightly --db "$DB" --quiet ${NIGHTLY_RUN_FLAGS:-} \
        2> "$OUT/run.log"
    rc=$?
fi
run_id=$(sed -n 's/^attnbench run \([0-9][0-9]*\):.*/\1/p' "$OUT/run.log" | head -1)
if [ -z "$run_id" ]; then
    # No run row: no GPU, an unwritable database, a bad sweep file — nothing was measured.
    note sweep "FAILED (exit $rc, infrastructure): $(tail -1 "$OUT/run.log")"
    note gate "not run: the sweep stored no run"; infra=1; finish
fi
case $rc in
    0) note sweep "ok, run $run_id" ;;
    1) note sweep "run $run_id reported failures: $(tail -1 "$OUT/run.log")"; correctness=1 ;;
    *) note sweep "FAILED (exit $rc, infrastructure): $(tail -1 "$OUT/run.log")"; infra=1 ;;
esac

# 4. The gate: this run against the newest earlier nightly run on the same GPU model and the
#    history before it. compare reads each key's medians in the last 20 nightly runs: from 5 on, a
#    key is slower only when its median stands above its recent level by more than 2 % and by
#    more than its own run-to-run noise; before that, a slowdown under 10 % is inconclusive.
#    alpha 0.025: with no change, about 1 night in 40 raises a false alarm (tests/test_gate_sim.c),
#    leaving room under the job's target of 1 in 20 for history's alarms (step 5).
gate_flags=(--db "$DB" --baseline nightly --candidate "$run_id" --no-baseline-ok --alpha 0.025
            --format md --junit "$OUT/compare.junit.xml")
[ "${NIGHTLY_FAIL_ON_INCONCLUSIVE:-0}" = 1 ] && gate_flags+=(--fail-on-inconclusive)
"$BIN" compare "${gate_flags[@]}" > "$OUT/compare.md" 2> "$OUT/compare.err"
rc=$?
# The bold counts line ("**1 slower, …**"), or the first line when there was nothing to compare.
counts=$(sed -n 's/^\*\*\([0-9].*\)\*\*$/\1/p' "$OUT/compare.md")
[ -n "$counts" ] || counts=$(head -1 "$OUT/compare.md")
case $rc in
    0) note compare "no regression: $counts" ;;
    1) note compare "REGRESSION: $counts"; regression=1 ;;
    3) note compare "inconclusive keys only (see $OUT/compare.md)"; inconclusive=1 ;;
    *) note compare "FAILED (infrastructure): $(cat "$OUT/compare.err")"; infra=1 ;;
esac

# 5. History: new steps in the per-night series. Alert only on steps that began in the last 7
#    runs, so an accepted slowdown stops failing the job once it is a week old.
"$BIN" history --db "$DB" --tag nightly --window 30 --alert-within 7 > "$OUT/history.txt" 2>&1
case $? in
    0) note history "no new step ($(tail -1 "$OUT/history.txt"))" ;;
    1) note history "NEW STEP to slower: $(tail -1 "$OUT/history.txt")"; regression=1 ;;
    *) note history "FAILED (infrastructure): $(tail -1 "$OUT/history.txt")"; infra=1 ;;
esac

# 6. Figures and report, when this build has the commands; failures here decide nothing.
for cmd in plot report; do
    if ! "$BIN" "$cmd" --help > /dev/null 2>&1; then note "$cmd" "skipped (no attnbench $cmd)"; continue; fi
    case $cmd in
        plot) args=(--out "$OUT/figures") ;;
        report) args=(--format md --out "$OUT/report.md") ;;
    esac
    if "$BIN" "$cmd" --db "$DB" --run "$run_id" "${args[@]}" > "$OUT/$cmd.log" 2>&1; then
        note "$cmd" ok
    else
        note "$cmd" "FAILED (infrastructure; see $OUT/$cmd.log)"; infra=1
    fi
done

{ echo; cat "$OUT/compare.md"; } >> "$summary"
finish
