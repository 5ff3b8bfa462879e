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
#   cupti     CUPTI on vs off within one run (--cupti-alternate: traced and untraced samples
#             alternate); table in OUT/cupti.txt (target: medians within 1 %)
#   standard  the standard sweep (sweeps/standard.sweep) of naive, cublas, fused, then fused's
#             mma.sync path alone at the same shapes
#   lowrank   lowrank against fused and cublas at B=1, H=16, D=128, S = 1024 … 65536, k = 64, 128, 256;
#             then nystrom, m = 64, 128
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
cupti="$cupti --tokens 16384 --model-dim 2048 --min-samples 100 --max-time 2s --no-ceilings --quiet"
cupti="$cupti --cupti-alternate"

sql() { # sql DB QUERY: tab-separated rows, through a sqlite3 CLI or else Python's sqlite3 module
    if command -v sqlite3 >/dev/null; then
        sqlite3 -separator "$(printf '\t')" "$1" "$2"
    else
        python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("\t".join("" if v is None else str(v) for v in r))' "$1" "$2"
    fi 2>/dev/null
}

# Per point of a --cupti-alternate run: traced and untraced sample counts, their event-time
# medians, the traced spans' median, and the mean SM clock of each kind.
cupti_sql="WITH x AS (SELECT s.point_id AS pid, s.n_kernels > 0 AS tr, s.event_ns AS ev,
                 s.span_ns AS sp, s.sm_clock_mhz AS mhz
               FROM samples s JOIN points p ON p.id = s.point_id
               WHERE p.status = 'ok' AND s.throttled = 0),
  r AS (SELECT pid, tr, ev, row_number() OVER (PARTITION BY pid, tr ORDER BY ev) AS i,
          count(*) OVER (PARTITION BY pid, tr) AS n FROM x),
  med AS (SELECT pid, tr, avg(ev) AS ev, max(n) AS n FROM r
          WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY pid, tr),
  rs AS (SELECT pid, sp, row_number() OVER (PARTITION BY pid ORDER BY sp) AS i,
           count(*) OVER (PARTITION BY pid) AS n FROM x WHERE tr),
  msp AS (SELECT pid, avg(sp) AS sp FROM rs WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY pid),
  clk AS (SELECT pid, avg(CASE WHEN tr THEN mhz END) AS c1, avg(CASE WHEN NOT tr THEN mhz END) AS c0
          FROM x GROUP BY pid)
SELECT p.variant, p.dtype, p.head_dim, p.seq, p.batch, a.n, b.n, a.ev / 1e6, b.ev / 1e6, m.sp / 1e6,
       c.c1, c.c0
FROM points p JOIN med a ON a.pid = p.id AND a.tr JOIN med b ON b.pid = p.id AND NOT b.tr
  JOIN msp m ON m.pid = p.id JOIN clk c ON c.pid = p.id
ORDER BY p.variant, p.head_dim, p.seq"

# The cupti_sql rows as a table: traced/untraced event medians (what tracing costs the timed run)
# and traced span / untraced events (the summary's median with CUPTI on, the default, against
# --no-cupti's); how many of each lie beyond 1 %.
cupti_table() {
    awk -F '\t' '
        function dev(r) { return r > 1 ? r - 1 : 1 - r }
        BEGIN { printf "%-7s %-5s %4s %6s %3s %5s %5s %10s %10s %10s %8s %8s %6s %6s\n", "variant",
                "dtype", "D", "S", "B", "n_on", "n_off", "events on", "events off", "span on",
                "ev on/off", "span/off", "MHz on", "off" }
        {
            re = $8 / $9; rs = $10 / $9; n++
            if (dev(re) > 0.01) be++
            if (dev(rs) > 0.01) bs++
            if (dev(re) > we) we = dev(re)
            if (dev(rs) > ws) ws = dev(rs)
            printf "%-7s %-5s %4s %6s %3s %5s %5s %10.4f %10.4f %10.4f %8.4f %8.4f %6.0f %6.0f\n",
                   $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, re, rs, $11, $12
        }
        END {
            printf "traced vs untraced event medians: %d of %d points beyond 1 %%, worst %.2f %%\n", be, n, 100 * we
            printf "traced span vs untraced events:   %d of %d points beyond 1 %%, worst %.2f %%\n", bs, n, 100 * ws
        }'
}

for stage in "$@"; do
    case $stage in
    tests)
        step test-gpu scripts/run-tests.sh $(ls build/tests/gpu/test_* | grep -v "\.d$") || status=1
        step memcheck compute-sanitizer --tool memcheck --error-exitcode 9 \
            $bin run --db "$out/memcheck.db" --variants naive,cublas,fused $small || status=1
        step memcheck-lowrank compute-sanitizer --tool memcheck --error-exitcode 9 \
            $bin run --db "$out/memcheck.db" --variants lowrank,nystrom --param k=64,256 \
            --param m=16 $small --causal 0 || status=1
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
        # What tracing costs, free of the clock drift between two runs (same-mode runs of the
        # fused kernel differ by 4-6 % on an H200): one run traces every other sample only.
        db="$out/cupti.db"
        step cupti $bin run --db "$db" --tag cupti-alternate $cupti || status=1
        sql "$db" "$cupti_sql" | cupti_table | tee "$out/cupti.txt"
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
        step nystrom $bin run --db "$out/attnbench.db" --tag nystrom --variants nystrom \
            --seq 1024:65536:x4 --batch 1 --heads 16 --head-dim 128 --dtype bf16 \
            --param m=64,128 --no-ceilings --quiet || status=1
        ;;
    *)
        echo "unknown stage '$stage'" >&2
        exit 2
        ;;
    esac
done
exit $status
