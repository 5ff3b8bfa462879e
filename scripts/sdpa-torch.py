#!/usr/bin/env python3
"""sdpa-torch.py — PyTorch's cuDNN SDPA backend timed the way attnbench times a point, for the
check that attnbench's `cudnn` variant drives cuDNN right (issue 16: medians within 3 %).

Per shape: Q, K, V in attnbench's layout [B][H][S][D] (K, V with H_kv heads, enable_gqa when
H_kv < H), no gradients (cuDNN's inference graph, as attnbench's), scale 1/sqrt(D); forward passes
under torch.nn.attention.sdpa_kernel(SDPBackend.CUDNN_ATTENTION) only — a shape cuDNN refuses is
reported, never silently run by another backend. Warm-up (which also builds PyTorch's cached
cuDNN plan), then samples as attnbench's cold mode takes them: a spin kernel holds the stream
while the host enqueues (so host launch time is not timed), a fill of twice the L2 size flushes
it, then CUDA events around the forward pass alone. Prints the median (and p10, p90) in ms and the
dense-equivalent TFLOP/s (4·B·H·S²·D, halved when causal), the versions of torch and cuDNN, and
the libcudnn file the process loaded (give it to attnbench as ATTNBENCH_CUDNN=PATH so that both
call the same library).

With --db, each shape is also looked up in an attnbench database: the `cudnn` point at the same
shape and dtype (ok, in run --run N, else in the newest run that has one), its median, the ratio,
and whether it is within --tolerance (default 3 %); exit 1 when a shape is not. Run attnbench
with --no-cupti for a comparison of event times with event times (its default is the CUPTI
kernel span).

  scripts/sdpa-torch.py [--dtype bf16] [--samples 50] [--db DB [--run N]] SHAPE...
  SHAPE is B,H,H_KV,S,D,CAUSAL, e.g. 1,64,8,8192,128,0
  scripts/sdpa-torch.py --libcudnn      the libcudnn file PyTorch loads, for ATTNBENCH_CUDNN
"""
import argparse
import re
import sqlite3
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
HOLD_CYCLES = 2_000_000  # ~1 ms of spinning at H200 clocks: longer than enqueueing one sample


def parse_shape(text):
    fields = text.split(",")
    if len(fields) != 6 or not all(re.fullmatch(r"\d+", f) for f in fields):
        raise argparse.ArgumentTypeError(f"bad shape '{text}' (B,H,H_KV,S,D,CAUSAL)")
    b, h, hkv, s, d, causal = map(int, fields)
    if min(b, h, hkv, s, d) < 1 or h % hkv or causal not in (0, 1):
        raise argparse.ArgumentTypeError(f"bad shape '{text}' (H_kv must divide H, CAUSAL 0 or 1)")
    return b, h, hkv, s, d, causal


def loaded_libcudnn():
    """The path of the libcudnn.so the process has mapped, or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if re.search(r"/libcudnn\.so(\.\d+)*$", path):
                    return path
    except OSError:
        pass
    return None


def time_shape(shape, dtype, samples, warmup, flush):
    b, h, hkv, s, d, causal = shape
    gen = torch.Generator(device="cuda").manual_seed(1)
    q = torch.randn(b, h, s, d, device="cuda", dtype=dtype, generator=gen)
    k = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype, generator=gen)
    v = torch.randn(b, hkv, s, d, device="cuda", dtype=dtype, generator=gen)

    def forward():
        return F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), enable_gqa=hkv < h)

    times = []
    with torch.no_grad(), sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        for _ in range(warmup):
            forward()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(samples):
            torch.cuda._sleep(HOLD_CYCLES)
            flush.zero_()
            start.record()
            forward()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return times


def attnbench_median_ms(db, run, shape, dtype_name):
    """(median ms, run id) of the ok cudnn point at the shape: in run `run`, or the newest."""
    b, h, hkv, s, d, causal = shape
    row = db.execute(
        "SELECT median_ns / 1e6, run_id FROM points WHERE (:run IS NULL OR run_id = :run)"
        " AND variant = 'cudnn' AND status = 'ok' AND batch = :b AND heads = :h"
        " AND kv_heads = :hkv AND seq = :s AND head_dim = :d AND causal = :causal"
        " AND dtype = :dtype ORDER BY run_id DESC, id LIMIT 1",
        {"run": run, "b": b, "h": h, "hkv": hkv, "s": s, "d": d, "causal": causal,
         "dtype": dtype_name}).fetchone()
    return row if row else (None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shapes", nargs="*", type=parse_shape, metavar="SHAPE",
                    help="B,H,H_KV,S,D,CAUSAL")
    ap.add_argument("--libcudnn", action="store_true",
                    help="print the path of the libcudnn PyTorch loads, and exit")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--samples", type=int, default=50, help="timed samples per shape (median)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed passes first")
    ap.add_argument("--db", help="an attnbench database to compare with (its cudnn points)")
    ap.add_argument("--run", type=int, help="the run in --db (default: the newest with the shape)")
    ap.add_argument("--tolerance", type=float, default=3.0, help="percent (default 3)")
    args = ap.parse_args()
    if args.libcudnn:
        torch.backends.cudnn.version()  # loads cuDNN if importing torch did not
        path = loaded_libcudnn()
        if not path:
            sys.exit("sdpa-torch.py: PyTorch has no libcudnn loaded")
        print(path)
        return
    if not args.shapes:
        ap.error("no SHAPE given")
    if not torch.cuda.is_available():
        sys.exit("sdpa-torch.py: no CUDA device")

    props = torch.cuda.get_device_properties(0)
    flush = torch.empty(2 * props.L2_cache_size, dtype=torch.uint8, device="cuda")
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True) if args.db else None

    rows, worst = [], 0.0
    for shape in args.shapes:
        try:
            times = time_shape(shape, DTYPES[args.dtype], args.samples, args.warmup, flush)
        except RuntimeError as e:  # cuDNN refused the shape: no other backend stands in
            rows.append((shape, None, str(e).splitlines()[0][:100]))
            continue
        rows.append((shape, times, None))
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}"
          f" ({loaded_libcudnn() or 'libcudnn not mapped'}), {props.name}, {args.dtype},"
          f" median of {args.samples}, L2 flushed ({2 * props.L2_cache_size >> 20} MiB)")
    head = "   B    H  Hkv      S    D c    median_ms     p10_ms     p90_ms  TFLOP/s"
    print(head + ("  attnbench_ms run   ratio  ok" if db else ""))
    failed = False
    for shape, times, error in rows:
        b, h, hkv, s, d, causal = shape
        lead = f"{b:4d} {h:4d} {hkv:4d} {s:6d} {d:4d} {causal}"
        if times is None:
            print(f"{lead}  cuDNN backend refused: {error}")
            failed |= db is not None
            continue
        med = statistics.median(times)
        q = statistics.quantiles(times, n=10) if len(times) > 1 else [med] * 9
        flops = 4.0 * b * h * s * s * d / (2 if causal else 1)
        line = f"{lead} {med:12.4f} {q[0]:10.4f} {q[-1]:10.4f} {flops / med / 1e9:8.1f}"
        if db:
            ours, run = attnbench_median_ms(db, args.run, shape, args.dtype)
            if ours is None:
                line += "   (no ok cudnn point at this shape in the database)"
                failed = True
            else:
                ratio = ours / med
                ok = abs(ratio - 1) * 100 <= args.tolerance
                worst = max(worst, abs(ratio - 1) * 100)
                failed |= not ok
                line += f" {ours:13.4f} {run:3d} {ratio:7.3f}  {'yes' if ok else 'NO'}"
        print(line)
    if db:
        print(f"attnbench vs PyTorch: worst gap {worst:.2f} % (tolerance {args.tolerance} %)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
