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
#   cupti     CUPTI on vs --no-cupti, interleaved over three rounds; table in OUT/cupti.txt
#             (target: on/off medians within 1 %)
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
cupti="--variants cublas,fused --dtype bf16 --head-dim 64,128 --causal 0 --seq 1024:8192:x2"
cupti="$cupti --tokens 16384 --model-dim 2048 --min-samples 40 --max-time 1s --no-ceilings --quiet"

run_id() { # run_id LOG: the run id that `attnbench run` announced in its log ("attnbench run 7: ...")
    sed -n 's/^attnbench run \([0-9][0-9]*\): .*/\1/p' "$1" | head -1
}

sql() { # sql DB QUERY: tab-separated rows, through a sqlite3 CLI or else Python's sqlite3 module
    if command -v sqlite3 >/dev/null; then
        sqlite3 -separator "$(printf '\t')" "$1" "$2"
    else
        python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("\t".join("" if v is None else str(v) for v in r))' "$1" "$2"
    fi 2>/dev/null
}

# cupti_points DB RUN ROUND SIDE: one line per point of RUN: variant dtype D S B H causal ROUND
# SIDE median_ms event_ms sm_mhz. The median is the summary's (CUPTI span on, events off), from
# `attnbench export`. The export has neither the event-time median nor the SM clock (samples
# .sm_clock_mhz, per sample): those come from SQL where a sqlite3 CLI or Python can read the
# database, and are "-" otherwise.
cupti_points() {
    local db=$1 run=$2
    {
        sql "$db" "WITH c AS (SELECT s.point_id, s.sm_clock_mhz AS v,
                     row_number() OVER (PARTITION BY s.point_id ORDER BY s.sm_clock_mhz) AS r,
                     count(*) OVER (PARTITION BY s.point_id) AS n
                   FROM samples s JOIN points p ON p.id = s.point_id
                   WHERE p.run_id = $run AND s.throttled = 0 AND s.sm_clock_mhz > 0)
                 SELECT 'sql', p.id, p.event_median_ns / 1e6,
                   (SELECT avg(v) FROM c WHERE c.point_id = p.id AND r IN ((n + 1) / 2, (n + 2) / 2))
                 FROM points p WHERE p.run_id = $run"
        $bin export --db "$db" --run "$run" --format csv
    } | awk -v round="$3" -v side="$4" '
        function csv(line, f,    n, i, c, q) { # RFC 4180 fields of one line into f[1..n]
            n = 1; f[1] = ""; q = 0
            for (i = 1; i <= length(line); i++) {
                c = substr(line, i, 1)
                if (q && c == "\"" && substr(line, i + 1, 1) == "\"") { f[n] = f[n] c; i++ }
                else if (c == "\"") q = !q
                else if (!q && c == ",") f[++n] = ""
                else f[n] = f[n] c
            }
            return n
        }
        /^sql\t/ { split($0, t, "\t"); ev[t[2]] = t[3]; sm[t[2]] = t[4]; next }
        !head { n = csv($0, h); for (i = 1; i <= n; i++) col[h[i]] = i; head = 1; next }
        {
            csv($0, f); id = f[col["point_id"]]
            med = f[col["median_ms"]]; e = ev[id]; m = sm[id]
            print f[col["variant"]], f[col["dtype"]], f[col["head_dim"]], f[col["seq"]],
                  f[col["batch"]], f[col["heads"]], f[col["causal"]], round, side,
                  med == "" ? "-" : med, e == "" ? "-" : e, m == "" ? "-" : m
        }'
}

# cupti_table FILE: the cupti_points lines as one row per point and round: on and off medians, on/off
# (summary medians, then event-time medians), the SM clock medians; after a point's rounds, a row
# "all" with the median over its rounds of each side's median. Last, how many ratios lie beyond
# 1 % and the worst, per round and over rounds.
cupti_table() {
    sort -k1,1 -k2,2 -k3,3n -k4,4n -k5,5n -k6,6n -k7,7n -k8,8n -k9,9r "$1" | awk '
        function ratio(a, b) { return a == "-" || b == "-" || b == 0 ? "-" : sprintf("%.4f", a / b) }
        function median(x, n,    i, j, t) { # of x[1..n], sorted in place
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
            return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        }
        function row(key, round, on, off, eon, eoff, smon, smoff,    r, d) {
            r = ratio(on, off)
            printf "%-34s %5s %10s %10s %8s %8s %7s %7s\n", key, round, on, off, r, ratio(eon, eoff),
                   smon == "-" ? "-" : sprintf("%.0f", smon), smoff == "-" ? "-" : sprintf("%.0f", smoff)
            if (r == "-") return
            d = r > 1 ? r - 1 : 1 - r; g = round == "all"
            rows[g]++
            if (d > 0.01) over[g]++
            if (d > worst[g]) { worst[g] = d; at[g] = key (g ? "" : " round " round) }
        }
        function pooled(    m1, m2) { # the "all" row of the point just ended
            if (n) {
                m1 = median(pon, n); m2 = median(poff, n)
                row(last, "all", sprintf("%.6g", m1), sprintf("%.6g", m2), "-", "-", "-", "-")
            }
            n = 0
        }
        function summary(g, what) {
            printf "on/off %s: %d of %d beyond 1 %%; worst %.2f %% (%s)\n", what, over[g], rows[g],
                   100 * worst[g], at[g] == "" ? "none" : at[g]
        }
        BEGIN {
            printf "%-34s %5s %10s %10s %8s %8s %7s %7s\n", "point (on: CUPTI span, off: events)",
                   "round", "on ms", "off ms", "on/off", "events", "SM on", "SM off"
        }
        {
            key = sprintf("%s %s D=%s S=%s B=%s H=%s%s", $1, $2, $3, $4, $5, $6, $7 == 1 ? " causal" : "")
            if (key != last) pooled()
            last = key
            if ($9 == "on") { on = $10; eon = $11; smon = $12; onkey = key SUBSEP $8; next }
            if (onkey != key SUBSEP $8) next # an off run without its on run
            row(key, $8, on, $10, eon, $11, smon, $12)
            if (on != "-" && $10 != "-") { n++; pon[n] = on; poff[n] = $10 }
        }
        END {
            pooled()
            summary(0, "per round (point-rounds)")
            summary(1, "over rounds (points)")
        }'
}

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
        # Right after its CUPTI-on baseline (run 2), so that less clock drift lies between them;
        # the cupti stage interleaves on and off over three rounds.
        step gate-nocupti $bin run --db "$db" --tag nocupti --no-cupti $gate || status=1
        # 20 µs of added work: ~8 % at S = 1024, ~1 % at S = 8192 (under the 2 % threshold).
        step gate-slow $bin run --db "$db" --tag slow --debug-spin fused:20 $gate || status=1
        step compare-aa $bin compare --db "$db" --baseline 1 --candidate 2
        echo "   compare A/A exit $?" >>"$out/steps.txt"
        step compare-slow $bin compare --db "$db" --baseline 2 --candidate 4 --junit "$out/slow.junit.xml"
        echo "   compare slowed exit $?" >>"$out/steps.txt"
        step compare-cupti $bin compare --db "$db" --baseline 2 --candidate 3
        echo "   compare CUPTI on (2) vs off (3) exit $?" >>"$out/steps.txt"
        ;;
    cupti)
        # Both sides in every round, the one that goes first alternating, all in one database:
        # clock drift over the stage falls on on and off alike. Each round's pair is also put
        # through the gate at a 1 % threshold (slower or faster beyond it).
        db="$out/cupti.db"
        : >"$out/cupti-points.txt"
        for round in 1 2 3; do
            order="on off" id_on= id_off=
            [ $((round % 2)) = 0 ] && order="off on"
            for side in $order; do
                flag=
                [ "$side" = off ] && flag=--no-cupti
                step "cupti-$round-$side" $bin run --db "$db" --tag "cupti-$side" $flag $cupti || status=1
                id=$(run_id "$out/cupti-$round-$side.log")
                if [ "$side" = on ]; then id_on=$id; else id_off=$id; fi
            done
            if [ -n "$id_on" ] && [ -n "$id_off" ]; then
                cupti_points "$db" "$id_on" "$round" on >>"$out/cupti-points.txt"
                cupti_points "$db" "$id_off" "$round" off >>"$out/cupti-points.txt"
                step "compare-cupti-$round" $bin compare --db "$db" --baseline "$id_off" \
                    --candidate "$id_on" --threshold 1%
                echo "   compare CUPTI on ($id_on) vs off ($id_off) exit $?" >>"$out/steps.txt"
            fi
        done
        cupti_table "$out/cupti-points.txt" | tee "$out/cupti.txt"
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
