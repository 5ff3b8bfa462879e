#!/usr/bin/env bash
# GPU acceptance, on a machine with a GPU and a build/ made elsewhere (it builds nothing, so it runs
# where there is no compiler or sqlite3.h). Writes logs and databases under OUT.
#
#   scripts/gpu-acceptance.sh OUT STAGE...
#
# Stages (each independent; run them in one call or several):
#   tests     make test-gpu's binaries, then compute-sanitizer memcheck (every variant) and
#             racecheck (fused) on small odd shapes. Longer than one 10-minute device call on
#             an H200 (2026-12-03: 430 s took it into the fourth of ten binaries, test_lowrank):
#             GPU_TESTS="test_quant test_sparse" runs only those binaries, so the stage can be
#             split over calls (steps.txt has each step's seconds); GPU_TESTS=none runs only
#             the sanitizer steps
#   gate      every gate-* stage below, in order (longer than one 10-minute call: run them alone)
#   gate-night     one run of the nightly sweep (tag nightly) into OUT/gate.db (GATE_NIGHTS=N: N
#             runs); six of them are issue 12's "A/A nights"
#   gate-aa   every pair of those nightly runs through the nightly's decision path (compare with
#             history, alpha 0.025): OUT/gate-aa.txt, one row per pair (target: no key slower)
#   gate-slow      a run with --debug-slow fused:5% compared as a nightly against them:
#             OUT/gate-slow.txt (target: >= 95 % of fused keys slower, no other key slower)
#   gate-ab-aa     attnbench ab, 3 rounds, the build against itself: OUT/gate-ab-aa.txt (no key
#             slower)
#   gate-ab-slow   the same with B slowed by --debug-slow fused:5%: OUT/gate-ab-slow.txt (>= 95 %
#             of fused keys slower, no other key)
#   gate-spread    10 processes of fused and cuBLAS at issue 12's two keys: the spread of the
#             per-process medians, OUT/gate-spread.txt (target <= 1 %); with GATE_RUN_FLAGS
#             (e.g. "--placements 4") OUT/gate-spread-placements_4.txt, beside the plain one
#   gate-placement one process, one point, 16 placement rounds: per-round medians,
#             OUT/gate-placement.txt (are the modes of fused within one process?)
#   gate-ncu  ncu (per-kernel gpu__time_duration.sum) over run --variants fused,cublas at three
#             shapes, each point's kernel time per sample (median over GATE_NCU_PROCS processes,
#             default 3) against the normal runs' median kernel sum (median of as many processes),
#             with ncu's cache control all and none: OUT/gate-ncu.txt (target: within 1 %)
#   gate-nsys nsys over a small run: the NVTX range of each point's timed samples, counted by
#             nsys stats against the samples stored: OUT/gate-nsys.txt
#             The gate stages read GATE_VARIANTS (run only these of the nightly sweep's variants,
#             e.g. cublas,fused: faster) and GATE_RUN_FLAGS (more run options for every gate
#             run, e.g. "--placements 4"). OUT must persist between calls for gate-aa/gate-slow
#             (e.g. OUT=results/gate, ignored by git, then copy OUT/*.txt where wanted).
#   cupti     CUPTI on vs off within one run (--cupti-alternate: traced and untraced samples
#             alternate); table in OUT/cupti.txt (target: medians within 1 %)
#   standard  the standard sweep (sweeps/standard.sweep) of naive, cublas, fused, then fused's
#             mma.sync path alone at the same shapes
#   sparse    sweeps/sparse.sweep (structured inputs, then normal: the worst case), vprune at keep
#             0.5 and 0.25, then the Hopper kernel's own bench (test_sparse_sm90 --bench) and its
#             small shapes under memcheck and racecheck
#   quant     sweeps/quant.sweep (kernel-only in `stages`, end to end beside fused), the ablations
#             with normal and fa3 inputs, then the Hopper kernel's bench and memcheck --small
#   lowrank   lowrank against fused and cublas at B=1, H=16, D=128, S = 1024 … 65536, k = 64, 128, 256;
#             then nystrom, m = 64, 128
#   scale     issue 17 on every visible GPU: a small sweep run plain and with --devices all into
#             OUT/scale.db: the two point sets must be equal and compare (plain as baseline) must
#             flag no key slower; then a --devices all run whose device-0 worker SIGKILLs itself
#             after 3 points (ATTNBENCH_DEBUG_KILL), which must end 'partial' with the point lost,
#             and --resume, which must finish it: OUT/scale.txt (issue 18 runs it on N GPUs)
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
    local t0=$SECONDS
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "   exit $rc in $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
    tail -3 "$out/$name.log"
    return $rc
}

nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm,clocks.sm,memory.total,temperature.gpu,power.draw \
    --format=csv >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

small="--seq 1,127,1000 --heads 4 --kv-heads 2 --head-dim 64,128 --dtype bf16,fp16 --causal 0,1"
small="$small --max-time 0.01 --min-samples 2 --no-ceilings --no-cupti --quiet"
# The gate stages: the nightly sweep, optionally restricted to GATE_VARIANTS, plus GATE_RUN_FLAGS.
nightly="--sweep sweeps/nightly.sweep --quiet ${GATE_VARIANTS:+--variants $GATE_VARIANTS} ${GATE_RUN_FLAGS:-}"
# Issue 12's two keys (fused's between-process modes): bf16 D=64 H=32, B=2 S=8192 causal and
# B=4 S=4096 not causal (the nightly's tokens and model dim), with the other two of that grid.
spread="--variants fused,cublas --dtype bf16 --head-dim 64 --seq 4096,8192 --causal 0,1"
spread="$spread --tokens 16384 --model-dim 2048 --min-samples 40 --max-time 3s --no-ceilings --quiet"
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

# ---------------------------------------------------------------- the gate stages' helpers

# The nightly's decision options (scripts/nightly.sh step 4).
nightly_gate=(--no-baseline-ok --alpha 0.025)

# A compare or ab table on stdin: per variant, how many keys in each state; and the exit line.
key_states() {
    awk '$1 ~ /^(slower|inconclusive|missing|same|faster)$/ { n[$2 " " $1]++; v[$2] = 1; t[$1]++ }
        END {
            printf "%-9s %7s %13s %8s %6s %7s %9s\n", "variant", "slower", "inconclusive",
                   "missing", "same", "faster", "% slower"
            for (x in v) {
                k = n[x " slower"] + n[x " inconclusive"] + n[x " missing"] + n[x " same"] + n[x " faster"]
                printf "%-9s %7d %13d %8d %6d %7d %8.1f%%\n", x, n[x " slower"], n[x " inconclusive"],
                       n[x " missing"], n[x " same"], n[x " faster"], k ? 100 * n[x " slower"] / k : 0
            }
            printf "all: %d slower, %d inconclusive, %d same, %d faster\n", t["slower"],
                   t["inconclusive"], t["same"], t["faster"]
        }'
}

# Every pair (i < j) of the nightly runs in OUT/gate.db, the later as the candidate, the earlier as
# the baseline, through the nightly's decision (history: the runs up to the baseline).
gate_aa() {
    local ids i j n=0 alarms=0
    ids=$(sql "$out/gate.db" "SELECT id FROM runs WHERE tag = 'nightly' AND status IN ('ok', 'failed') ORDER BY id")
    printf '%-9s %-9s %5s %7s %13s %6s %7s\n' baseline candidate exit slower inconclusive same faster
    for i in $ids; do
        for j in $ids; do
            [ "$j" -gt "$i" ] || continue
            $bin compare "${nightly_gate[@]}" --db "$out/gate.db" --baseline "$i" --candidate "$j" \
                >"$out/gate-aa-$i-$j.log" 2>&1
            local rc=$?
            n=$((n + 1))
            [ "$rc" = 1 ] && alarms=$((alarms + 1))
            key_states <"$out/gate-aa-$i-$j.log" | awk -v b="$i" -v c="$j" -v rc="$rc" \
                '/^all:/ { printf "%-9s %-9s %5s %7s %13s %6s %7s\n", b, c, rc, $2, $4, $6, $8 }'
        done
    done
    echo "$alarms of $n pairs flagged a key slower (target: 0)"
}

# Per key of the spread runs: processes, min / median / max of their medians (ms), the spread
# max/min - 1 and the standard deviation of the log medians, in %.
spread_sql="SELECT p.variant, p.seq, p.batch, p.causal, p.median_ns FROM points p
  JOIN runs r ON r.id = p.run_id WHERE r.tag = 'spread' AND p.status = 'ok'
  ORDER BY p.variant, p.seq, p.causal, p.median_ns"
spread_table() {
    awk -F '\t' '
        { k = $1 " S=" $2 " B=" $3 (($4 == 1) ? " causal" : ""); n[k]++; x[k, n[k]] = $5
          s[k] += log($5); ss[k] += log($5) ^ 2; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
        END {
            printf "%-28s %5s %9s %9s %9s %8s %8s\n", "key", "procs", "min_ms", "median_ms",
                   "max_ms", "spread", "sd_log"
            for (i = 1; i <= m; i++) {
                k = order[i]; c = n[k]
                med = (c % 2) ? x[k, (c + 1) / 2] : (x[k, c / 2] + x[k, c / 2 + 1]) / 2
                v = c > 1 ? (ss[k] - s[k] ^ 2 / c) / (c - 1) : 0
                printf "%-28s %5d %9.4f %9.4f %9.4f %7.2f%% %7.2f%%\n", k, c, x[k, 1] / 1e6,
                       med / 1e6, x[k, c] / 1e6, 100 * (x[k, c] / x[k, 1] - 1), 100 * sqrt(v > 0 ? v : 0)
            }
            print "target (issue 12): fused spread <= 1 % at B=2 S=8192 causal and B=4 S=4096"
        }'
}

# Per-round medians of one point of a --placements run (the experiment mode: one process, many
# rounds). For any database: replace the tag; the medians of rounds are the rows.
#   WITH r AS (SELECT s.placement, s.ns, row_number() OVER (PARTITION BY s.placement ORDER BY s.ns)
#     AS i, count(*) OVER (PARTITION BY s.placement) AS n FROM samples s JOIN points p
#     ON p.id = s.point_id JOIN runs u ON u.id = p.run_id WHERE u.tag = 'placement'
#     AND s.throttled = 0)
#   SELECT placement, max(n), avg(ns) / 1e6 FROM r WHERE i IN ((n + 1) / 2, (n + 2) / 2)
#   GROUP BY placement ORDER BY placement;
placement_sql="WITH r AS (SELECT s.placement, s.ns, row_number() OVER (PARTITION BY s.placement
    ORDER BY s.ns) AS i, count(*) OVER (PARTITION BY s.placement) AS n FROM samples s
    JOIN points p ON p.id = s.point_id JOIN runs u ON u.id = p.run_id
    WHERE u.tag = 'placement' AND s.throttled = 0 AND p.id = (SELECT max(q.id) FROM points q
    JOIN runs v ON v.id = q.run_id WHERE v.tag = 'placement'))
  SELECT placement, max(n), avg(ns) / 1e6 FROM r WHERE i IN ((n + 1) / 2, (n + 2) / 2)
  GROUP BY placement ORDER BY placement"
placement_table() {
    awk -F '\t' '
        BEGIN { printf "%6s %8s %10s\n", "round", "samples", "median_ms" }
        { printf "%6s %8s %10.4f\n", $1, $2, $3; if (NR == 1 || $3 < lo) lo = $3; if ($3 > hi) hi = $3 }
        END { if (NR) printf "rounds: %d, slowest / fastest round median - 1: %.2f %%\n", NR, 100 * (hi / lo - 1) }'
}

# ncu: the point's NVTX name (run_point_nvtx_name) for variant $1, S $2, B $3, causal $4.
nvtx_name() {
    printf '%s bf16 B=%s H=32 S=%s D=64%s' "$1" "$3" "$2" "$([ "$4" = 1 ] && echo ' causal')"
}

# Three shapes, fused and cuBLAS, each side in several processes (a short kernel's median moves by
# up to ~1 % between processes): the normal run's median kernel sum per sample
# (points.kernel_sum_median_ns: gaps between cuBLAS's kernels aside) in GATE_NCU_PROCS processes
# (default 3), their median; against it ncu's per-sample kernel time (the sum of the sample's
# kernels' gpu__time_duration.sum; only the point's timed samples profiled, by --nvtx-include of
# its NVTX range), 21 samples in each of GATE_NCU_PROCS processes, the median over all of them —
# with ncu's default cache control and with --cache-control none.
gate_ncu() {
    local ncu=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)} shape v s b c rep
    local shapes="1024:16:0 4096:4:0 8192:2:1" procs=${GATE_NCU_PROCS:-3}
    for rep in $(seq "$procs"); do
        for shape in $shapes; do
            IFS=: read -r s b c <<<"$shape"
            $bin run --db "$out/ncu.db" --tag ncu-normal --variants fused,cublas --dtype bf16 \
                --head-dim 64 --heads 32 --batch "$b" --seq "$s" --causal "$c" --min-samples 40 \
                --no-ceilings --quiet 2>>"$out/gate-ncu.log"
        done
    done
    printf '%-8s %-30s %7s %12s %12s %12s %8s %8s\n' variant shape samples ncu_ms ncu_ms_nocc \
        attnbench_ms ratio ratio_nocc
    for shape in $shapes; do
        IFS=: read -r s b c <<<"$shape"
        for v in fused cublas; do
            local name tag="ncu-$v-$s" base cc n ms_all ms_none
            name=$(nvtx_name "$v" "$s" "$b" "$c")
            base=$(sql "$out/ncu.db" "SELECT p.kernel_sum_median_ns FROM points p JOIN runs r ON r.id = p.run_id WHERE r.tag = 'ncu-normal' AND p.variant = '$v' AND p.seq = $s AND p.causal = $c" | median)
            # ncu's default cache control flushes every cache before each kernel; "none" leaves
            # the state attnbench's own L2 flush made (--cache cold), the like-for-like reading.
            for cc in all none; do
                local times="$out/ncu-$v-$s-$cc.times"
                : >"$times"
                for rep in $(seq "$procs"); do
                    local csv="$out/ncu-$v-$s-$cc-$rep.csv"
                    "$ncu" --clock-control none --cache-control "$cc" \
                        --metrics gpu__time_duration.sum --print-units base --csv --log-file "$csv" \
                        --nvtx --nvtx-include "attnbench@$name/" \
                        $bin run --db "$out/ncu.db" --tag "$tag-$cc" --variants "$v" --dtype bf16 \
                        --head-dim 64 --heads 32 --batch "$b" --seq "$s" --causal "$c" \
                        --min-samples 21 >>"$out/gate-ncu.log" 2>&1 || echo "ncu over $name: exit $?"
                    local k
                    k=$(sql "$out/ncu.db" "SELECT p.n_samples FROM points p JOIN runs r ON r.id = p.run_id WHERE r.tag = '$tag-$cc' ORDER BY p.id DESC LIMIT 1")
                    ncu_sample_times "$csv" "${k:-0}" >>"$times"
                done
                n=$(wc -l <"$times")
                if [ "$n" = 0 ]; then # nothing profiled, or rows not a whole number of samples
                    echo "  no usable gpu__time_duration rows for '$name' (cache $cc); ncu and run said:"
                    grep -h -m 8 -E '==(PROF|ERROR|WARNING)==|attnbench' "$out"/ncu-"$v-$s-$cc"-*.csv \
                        "$out/gate-ncu.log" | sed 's/^/    /'
                fi
                [ "$cc" = all ] && ms_all=$(median <"$times") || ms_none=$(median <"$times")
            done
            awk -v v="$v" -v n="$name" -v a="${ms_all:-0}" -v z="${ms_none:-0}" -v k="$n" -v b="${base:-0}" 'BEGIN {
                printf "%-8s %-30s %7s %12.4f %12.4f %12.4f %8.4f %8.4f\n", v, substr(n, length(v) + 2),
                       k, a / 1e6, z / 1e6, b / 1e6, (b > 0 ? a / b : 0), (b > 0 ? z / b : 0) }'
        done
    done
    echo "samples: ncu's per mode, over $procs processes; attnbench_ms: median of $procs processes' medians"
    echo "target (issue 12): every ratio within 1 % of 1"
    echo "profiler mode seen by the runs under ncu (tag, runs.profiler, status):"
    sql "$out/ncu.db" "SELECT tag, coalesce(profiler, 'NONE'), status, count(*) FROM runs WHERE tag LIKE 'ncu-%' AND tag <> 'ncu-normal' GROUP BY 1, 2, 3"
}

# make test-gpu's binaries, or those GPU_TESTS names (test_quant …); exit 1 on an unknown name.
gpu_test_binaries() {
    local t
    if [ -z "${GPU_TESTS:-}" ]; then
        for t in build/tests/gpu/test_*; do [ "${t%.d}" = "$t" ] && echo "$t"; done
        return 0
    fi
    for t in $GPU_TESTS; do
        [ -x "build/tests/gpu/$t" ] || { echo "GPU_TESTS: no build/tests/gpu/$t" >&2; return 1; }
        echo "build/tests/gpu/$t"
    done
}

# The median of the numbers on stdin, one a line (empty: nothing).
median() {
    sort -g | awk '{ x[n++] = $1 } END { if (n) printf "%.0f\n", n % 2 ? x[(n - 1) / 2] : (x[n / 2 - 1] + x[n / 2]) / 2 }'
}

# ncu's CSV of one profiled run: each sample's kernel time in ns, one a line. Rows
# "...","Metric Name","Metric Unit","Metric Value": the value is the last field (thousands
# separators dropped). Only the samples' ranges are profiled, so the rows split evenly into the
# k stored samples: a sample is rows / k consecutive kernels (cuBLAS's memsets are records in
# attnbench's kernel count, not kernels to ncu). Nothing when the rows do not split evenly.
ncu_sample_times() {
    awk -F '","' -v k="$2" '/gpu__time_duration.sum/ { v = $NF; gsub(/[",]/, "", v); x[n++] = v }
        END { if (!n || !k || n % k) exit
              per = n / k
              for (i = 0; i < k; i++) { t = 0; for (j = 0; j < per; j++) t += x[i * per + j]; print t } }' "$1"
}

# Nsight Systems: on the PATH, or a full install under /opt/nvidia, or the copy that ships inside
# Nsight Compute.
find_nsys() {
    command -v nsys && return
    ls -d /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/*/bin/nsys \
        /opt/nvidia/nsight-systems*/bin/nsys /opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys \
        2>/dev/null | head -1
}

# nsys over a small run: nsys stats' NVTX summary, each point's range (its NVTX name) counted
# against the samples the run stored.
gate_nsys() {
    local nsys=${NSYS:-$(find_nsys)} report="$out/nsys"
    echo "nsys: ${nsys:-not found}"
    [ -n "$nsys" ] || return 1
    "$nsys" profile -t cuda,nvtx -o "$report" --force-overwrite true \
        $bin run --db "$out/nsys.db" --tag nsys --variants fused,cublas --dtype bf16 --head-dim 64 \
        --heads 32 --batch 4 --seq 4096 --causal 0,1 >"$out/gate-nsys.log" 2>&1 ||
        echo "nsys profile: exit $?"
    if [ ! -f "$report.nsys-rep" ] && [ -f "$report.qdstrm" ]; then
        # The target-only nsys leaves the raw stream: its importer makes the report.
        local importer
        importer=$(ls -d "$(dirname "$nsys")"/QdstrmImporter /opt/nvidia/*/*/host/*/QdstrmImporter \
            2>/dev/null | head -1)
        echo "importer: ${importer:-not found}"
        [ -n "$importer" ] && "$importer" -i "$report.qdstrm" >>"$out/gate-nsys.log" 2>&1
        # Nsight Compute's importer needs elfutils' libdw.so.1, which not every image has (the
        # H200's Ubuntu 24.04 lacks it; Debian 12's libdw1 0.188 and its libelf1 work when put
        # on LD_LIBRARY_PATH): say which library is missing.
        [ -n "$importer" ] &&
            ldd "$importer" | grep 'not found' | sed 's/^[[:space:]]*/importer lacks: /'
    fi
    "$nsys" stats --report nvtx_sum --format csv --output - "$report.nsys-rep" \
        >"$out/nsys-nvtx.csv" 2>>"$out/gate-nsys.log" || echo "nsys stats: exit $?"
    if ! grep -q Instances "$out/nsys-nvtx.csv" 2>/dev/null && [ -f "$report.nsys-rep" ]; then
        # No stats reports: count the ranges in the report's SQLite export instead.
        "$nsys" export --type sqlite --force-overwrite true -o "$report.sqlite" "$report.nsys-rep" \
            >>"$out/gate-nsys.log" 2>&1 || echo "nsys export: exit $?"
        sql "$report.sqlite" "SELECT 'Instances', 'Range' UNION ALL SELECT count(*),
            coalesce(e.text, s.value) FROM NVTX_EVENTS e LEFT JOIN StringIds s ON s.id = e.textId
            WHERE e.end IS NOT NULL GROUP BY 2" | tr '\t' ',' >"$out/nsys-nvtx.csv"
    fi
    printf '%-8s %-34s %8s %8s\n' variant range samples ranges
    sql "$out/nsys.db" "SELECT variant, seq, batch, causal, n_samples FROM points WHERE status = 'ok'" |
        while IFS=$'\t' read -r v s b c k; do
            local name count
            name=$(nvtx_name "$v" "$s" "$b" "$c")
            # The range's row: its name as the last field (nsys may prefix the domain), its
            # instances in the column named Instances.
            count=$(awk -F ',' -v n="$name" '
                !col && /Instances/ { for (i = 1; i <= NF; i++) if ($i ~ /Instances/) col = i; next }
                col { r = $NF; gsub(/"/, "", r); sub(/^.*:/, "", r); c = $col; gsub(/"/, "", c)
                      if (r == n) print c }' "$out/nsys-nvtx.csv")
            printf '%-8s %-34s %8s %8s\n' "$v" "${name#"$v" }" "$k" "${count:-none}"
        done
    echo "target: every point's range counted once per stored sample"
    echo "runs.profiler of the run under nsys: $(sql "$out/nsys.db" "SELECT coalesce(profiler, 'NONE') FROM runs")"
}

# The scale stage's sweep: 24 points of a few seconds' work each.
scale="--variants cublas,fused --dtype bf16 --head-dim 64,128 --seq 1024,4096,8192 --causal 0,1"
scale="$scale --batch 2 --heads 16 --max-time 0.5 --quiet"

# Points of run $2 that run $3 lacks, and the reverse, in database $1 (0: the same point set).
point_set_difference() {
    local k="variant, dtype, batch, heads, kv_heads, seq, head_dim, causal, params, status"
    sql "$1" "SELECT (SELECT count(*) FROM (SELECT $k FROM points WHERE run_id = $2 EXCEPT
        SELECT $k FROM points WHERE run_id = $3)) + (SELECT count(*) FROM (SELECT $k FROM points
        WHERE run_id = $3 EXCEPT SELECT $k FROM points WHERE run_id = $2))"
}

scale_stage() {
    local db="$out/scale.db" plain multi killed rc
    rm -f "$db"*
    # shellcheck disable=SC2086 # $scale is a list of options
    step scale-plain $bin run --db "$db" --tag scale-plain $scale || status=1
    # shellcheck disable=SC2086
    step scale-devices $bin run --db "$db" --tag scale-devices --devices all $scale || status=1
    plain=$(sql "$db" "SELECT max(id) FROM runs WHERE tag = 'scale-plain'")
    multi=$(sql "$db" "SELECT max(id) FROM runs WHERE tag = 'scale-devices'")
    echo "plain run $plain, --devices all run $multi on $(sql "$db" "SELECT count(*) FROM workers
        WHERE run_id = $multi") worker(s): $(point_set_difference "$db" "$plain" "$multi") points differ (target 0)"
    $bin compare --db "$db" --baseline "$plain" --candidate "$multi" >"$out/scale-compare.log" 2>&1
    rc=$?
    echo "compare plain -> --devices all: exit $rc (target 0: no key slower)"
    [ "$rc" = 0 ] || status=1
    key_states <"$out/scale-compare.log"
    sql "$db" "SELECT a.variant, a.seq, a.head_dim, a.causal, round(b.median_ns / a.median_ns, 4),
        b.device FROM points a JOIN points b ON b.run_id = $multi AND b.variant = a.variant AND
        b.seq = a.seq AND b.head_dim = a.head_dim AND b.causal = a.causal AND b.params = a.params
        WHERE a.run_id = $plain ORDER BY 1, 2, 3, 4" |
        awk 'BEGIN { print "variant S D causal median(devices)/median(plain) device" } { print }'
    # shellcheck disable=SC2086
    ATTNBENCH_DEBUG_KILL=0:3 step scale-kill $bin run --db "$db" --tag scale-kill --devices all \
        $scale
    killed=$(sql "$db" "SELECT max(id) FROM runs WHERE tag = 'scale-kill'")
    echo "killed run $killed: $(sql "$db" "SELECT status || ': ' || coalesce(reason, '') FROM runs
        WHERE id = $killed") (target: partial)"
    step scale-resume $bin run --db "$db" --resume "$killed" || status=1
    local counts
    counts=$(sql "$db" "SELECT count(*) || ' points, ' || count(DISTINCT plan_idx)
        || ' plan indices, ' || (SELECT count(*) FROM plan WHERE run_id = $killed)
        || ' planned' FROM points WHERE run_id = $killed")
    echo "resumed: $(sql "$db" "SELECT status FROM runs WHERE id = $killed"), $counts" \
        "(target: ok, all three equal)"
    [ "$(sql "$db" "SELECT status FROM runs WHERE id = $killed")" = ok ] || status=1
}

for stage in "$@"; do
    case $stage in
    tests)
        if [ "${GPU_TESTS:-}" != none ]; then
            # shellcheck disable=SC2086 # $bins is a list of paths
            if bins=$(gpu_test_binaries); then step test-gpu scripts/run-tests.sh $bins || status=1
            else status=1; fi
        fi
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
        "$0" "$out" gate-night gate-night gate-night gate-night gate-night gate-night gate-aa \
            gate-slow gate-ab-aa gate-ab-slow gate-spread gate-placement gate-ncu gate-nsys ||
            status=1
        ;;
    gate-night)
        for _ in $(seq "${GATE_NIGHTS:-1}"); do
            # shellcheck disable=SC2086 # $nightly is a list of options
            step gate-night $bin run --db "$out/gate.db" --tag nightly $nightly || status=1
        done
        ;;
    gate-aa)
        gate_aa | tee "$out/gate-aa.txt"
        ;;
    gate-slow)
        # shellcheck disable=SC2086
        step gate-slow $bin run --db "$out/gate.db" --tag slow --debug-slow fused:5% $nightly ||
            status=1
        id=$(sql "$out/gate.db" "SELECT max(id) FROM runs WHERE tag = 'slow'")
        $bin compare "${nightly_gate[@]}" --db "$out/gate.db" --baseline nightly --candidate "$id" \
            >"$out/gate-slow.log" 2>&1
        echo "compare (nightly path) of slowed run $id: exit $?" | tee "$out/gate-slow.txt"
        key_states <"$out/gate-slow.log" | tee -a "$out/gate-slow.txt"
        ;;
    gate-ab-aa | gate-ab-slow)
        side=()
        [ "$stage" = gate-ab-slow ] && side=(--b-options "--debug-slow fused:5%")
        # shellcheck disable=SC2086 # the run options after -- are a list
        $bin ab --a $bin --b $bin --rounds 3 --db "$out/ab.db" --tag "$stage" "${side[@]}" \
            --sweep sweeps/nightly.sweep -- ${GATE_VARIANTS:+--variants $GATE_VARIANTS} \
            ${GATE_RUN_FLAGS:-} >"$out/$stage.log" 2>&1
        echo "ab ($stage, 3 rounds): exit $?" | tee "$out/$stage.txt"
        key_states <"$out/$stage.log" | tee -a "$out/$stage.txt"
        ;;
    gate-spread)
        # One database and table per GATE_RUN_FLAGS (with and without --placements N side by
        # side): gate-spread.txt, gate-spread-placements_4.txt, ...
        suffix=$(printf '%s' "${GATE_RUN_FLAGS:-}" | sed 's/^-*//; s/[^A-Za-z0-9]\{1,\}/_/g')
        suffix=${suffix:+-$suffix}
        rm -f "$out/spread$suffix.db"*
        for i in $(seq 10); do
            # shellcheck disable=SC2086
            step "gate-spread$suffix-$i" $bin run --db "$out/spread$suffix.db" --tag spread \
                $spread ${GATE_RUN_FLAGS:-} || status=1
        done
        { echo "10 processes, run options: $spread ${GATE_RUN_FLAGS:-}"
          sql "$out/spread$suffix.db" "$spread_sql" | spread_table; } | tee "$out/gate-spread$suffix.txt"
        ;;
    gate-placement)
        # One process, fused at the causal key, 16 rounds of at least 20 samples.
        step gate-placement $bin run --db "$out/placement.db" --tag placement --variants fused \
            --dtype bf16 --head-dim 64 --heads 32 --batch 2 --seq 8192 --causal 1 \
            --placements 16 --min-samples 320 --max-time 16s --no-ceilings --quiet || status=1
        sql "$out/placement.db" "$placement_sql" | placement_table | tee "$out/gate-placement.txt"
        ;;
    gate-ncu)
        gate_ncu | tee "$out/gate-ncu.txt"
        ;;
    gate-nsys)
        gate_nsys | tee "$out/gate-nsys.txt"
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
    sparse)
        step sparse $bin run --sweep sweeps/sparse.sweep --db "$out/attnbench.db" --tag sparse \
            --quiet || status=1
        step sparse-normal $bin run --sweep sweeps/sparse.sweep --init normal --causal 0 \
            --seq 8192 --db "$out/attnbench.db" --tag sparse-normal --no-ceilings --quiet || status=1
        step sparse-vprune $bin run --variants sparse,fused --param sparse.method=vprune \
            --param sparse.keep=0.5,0.25 --dtype bf16 --batch 2 --heads 16 --head-dim 128 \
            --seq 8192,32768 --causal 0 --db "$out/attnbench.db" --tag sparse-vprune \
            --no-ceilings --quiet || status=1
        step sparse-sm90-bench build/tests/gpu/test_sparse_sm90 --bench 8192,32768 || status=1
        step sparse-sm90-memcheck compute-sanitizer --tool memcheck --error-exitcode 9 \
            build/tests/gpu/test_sparse_sm90 --small || status=1
        step sparse-sm90-racecheck compute-sanitizer --tool racecheck --error-exitcode 9 \
            build/tests/gpu/test_sparse_sm90 --small || status=1
        ;;
    quant)
        step quant $bin run --sweep sweeps/quant.sweep --db "$out/attnbench.db" --tag quant \
            --quiet || status=1
        step quant-ablation $bin run --sweep sweeps/quant-ablation.sweep --db "$out/attnbench.db" \
            --tag ablation --no-ceilings --quiet || status=1
        step quant-ablation-fa3 $bin run --sweep sweeps/quant-ablation.sweep --init fa3 \
            --db "$out/attnbench.db" --tag ablation-fa3 --no-ceilings --quiet || status=1
        step quant-sm90-bench build/tests/gpu/test_quant_sm90 --bench || status=1
        step quant-sm90-memcheck compute-sanitizer --tool memcheck --error-exitcode 9 \
            build/tests/gpu/test_quant_sm90 --small || status=1
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
    scale)
        scale_stage >"$out/scale.txt" # not through a pipe: it sets status
        cat "$out/scale.txt"
        ;;
    *)
        echo "unknown stage '$stage'" >&2
        exit 2
        ;;
    esac
done
exit $status
