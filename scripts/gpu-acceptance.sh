#!/usr/bin/env bash
# GPU acceptance, on a machine with a GPU and a build/ made elsewhere (it builds nothing, so it runs
# where there is no compiler or sqlite3.h). Writes logs and databases under OUT.
#
#   scripts/gpu-acceptance.sh OUT STAGE...
#
# Stages (each independent; run them in one call or several):
#   tests     make test-gpu's binaries, then compute-sanitizer memcheck (every variant) and
#             racecheck (fused) on small odd shapes
#   gate      the regression gate on this GPU: two runs of one build (A/A) compared, a run with a
#             known slowdown (--debug-spin) compared, and CUPTI on vs --no-cupti
#   standard  the standard sweep (sweeps/standard.sweep) of naive, cublas, fused, then fused's
#             mma.sync path alone at the same shapes
#   lowrank   lowrank against fused and cublas at B=1, H=16, D=128, S = 1024 … 65536, k = 64, 128, 256
set -u
out=${1:?usage: scripts/gpu-acceptance.sh OUT STAGE...}
shift
mkdir -p "$out"
bin=build/attnbench
status=0
step() { # step NAME COMMAND...: runs it, logs to OUT/NAME.log, records the exit status
    local name=$1
    shift
    echo "== $name: $*" | tee -a "$out/steps.txt"
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "   exit $rc" | tee -a "$out/steps.txt"
    tail -3 "$out/$name.log"
    return $rc
}

nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm,clocks.sm,memory.total,temperature.gpu,power.draw \
    --format=csv >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

small="--seq 1,127,1000 --heads 4 --kv-heads 2 --head-dim 64,128 --dtype bf16,fp16 --causal 0,1"
small="$small --max-time 0.01 --min-samples 2 --no-ceilings --no-cupti --quiet"
gate="--variants cublas,fused --dtype bf16 --head-dim 128 --causal 0,1 --seq 1024:8192:x2"
gate="$gate --tokens 16384 --model-dim 2048 --min-samples 40 --max-time 3s --no-ceilings --quiet"

for stage in "$@"; do
    case $stage in
    tests)
        step test-gpu scripts/run-tests.sh build/tests/gpu/test_* || status=1
        step memcheck compute-sanitizer --tool memcheck --error-exitcode 9 \
            $bin run --db "$out/memcheck.db" --variants naive,cublas,fused $small || status=1
        step memcheck-lowrank compute-sanitizer --tool memcheck --error-exitcode 9 \
            $bin run --db "$out/memcheck.db" --variants lowrank --param k=64,256 $small \
            --causal 0 || status=1
        step racecheck compute-sanitizer --tool racecheck --error-exitcode 9 \
            $bin run --db "$out/racecheck.db" --variants fused --seq 127,1000 --heads 2 \
            --kv-heads 1 --head-dim 64,128 --dtype bf16 --causal 0,1 --max-time 0.01 \
            --min-samples 1 --no-ceilings --no-cupti --quiet || status=1
        ;;
    gate)
        db="$out/gate.db"
        step gate-a $bin run --db "$db" --tag aa $gate || status=1
        step gate-b $bin run --db "$db" --tag aa $gate || status=1
        # 20 µs of added work: ~8 % at S = 1024, ~1 % at S = 8192 (under the 2 % threshold).
        step gate-slow $bin run --db "$db" --tag slow --debug-spin fused:20 $gate || status=1
        step gate-nocupti $bin run --db "$db" --tag nocupti --no-cupti $gate || status=1
        step compare-aa $bin compare --db "$db" --baseline 1 --candidate 2
        echo "   compare A/A exit $?" >>"$out/steps.txt"
        step compare-slow $bin compare --db "$db" --baseline 2 --candidate 3 --junit "$out/slow.junit.xml"
        echo "   compare slowed exit $?" >>"$out/steps.txt"
        step compare-cupti $bin compare --db "$db" --baseline 2 --candidate 4
        echo "   compare CUPTI on (2) vs off (4) exit $?" >>"$out/steps.txt"
        ;;
    standard)
        step standard $bin run --sweep sweeps/standard.sweep --variants naive,cublas,fused \
            --db "$out/attnbench.db" --tag standard --quiet || status=1
        # fused's portable path at the same shapes (on sm_90 the default is the wgmma path).
        step standard-mma $bin run --sweep sweeps/standard.sweep --variants fused \
            --param path=mma --db "$out/attnbench.db" --tag standard-mma --no-ceilings \
            --quiet || status=1
        ;;
    lowrank)
        step lowrank $bin run --db "$out/attnbench.db" --tag lowrank --variants lowrank,fused,cublas \
            --seq 1024:65536:x2 --batch 1 --heads 16 --head-dim 128 --dtype bf16 \
            --param k=64,128,256 --param proj=gaussian,mean --quiet || status=1
        step lowrank-outliers $bin run --db "$out/attnbench.db" --tag lowrank-outliers \
            --variants lowrank,fused --init outliers --seq 4096,16384 --batch 1 --heads 16 \
            --head-dim 128 --dtype bf16 --param k=64,256 --param proj=gaussian,mean --no-ceilings \
            --quiet || status=1
        ;;
    *)
        echo "unknown stage '$stage'" >&2
        exit 2
        ;;
    esac
done
exit $status
