"""Benchmark `carbonc check`: front-end throughput on a generated 20,000-line file, peak memory,
and the wall time of `carbonc check` on one bundled scenario as a whole process.

    python bench/check.py [--lines 20000] [--runs 10]

Prints each figure beside its bar (10,000 lines/s; 0.5 s per process) as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_LINES_PER_S = 10_000
BAR_PROCESS_S = 0.5

_TEMPLATE = """\
// Generated scenario {i}: disputes, refunds and UPI failures on one day of traffic.
scenario bench-{i} {{
  about "generated scenario {i}"
  category bench
  tags bench, generated

  param baseline_orders       = {orders}    "Orders placed"
  param dispute_rate          = {rate}%       "Share of captured payments disputed"
  param refund_rate           = 10%       "Share refunded"
  param avg_order_value_paise = 250000  "Average order value, in paise"
  param upi_share             = 0.4       "Share of UPI payments"
  seed {i}

  phase baseline {{
    create orders count baseline_orders amount INR 0.01 * avg_order_value_paise method card over 2h
    pay each order {{ captured 90%, failed 5% code BAD_REQUEST_ERROR reason payment_declined, pending rest then {{ captured 50% after 20m, stuck rest }} }}
  }}

  phase refunds after baseline {{
    refund refund_rate of captured payments where amount > INR 1000 and amount <= INR 100000 {{
      processed 80% amount full after 2h
      processed 15% amount partial 40% after 3h
      failed rest amount full code BAD_REQUEST_ERROR reason insufficient_merchant_balance
    }}
  }}

  phase disputes after baseline, refunds {{
    dispute dispute_rate of captured payments reason fraudulent then {{ lost 60% after 7d, won rest after 10d }}
    settle each captured payment after 3d
  }}

  deliver {{
    order shuffle within 5m
    repeat 2
    delay 5s jitter 30s
    drop 1%
    signature valid 90%
    signature corrupted 10%
    retry [5m, 30m, 2h]
    fail on 3xx, 4xx, 5xx, timeout
    timeout 5s
  }}

  expect orders == baseline_orders severity high
  expect disputes == round(baseline_orders * (1 - 0.05 - 0) * dispute_rate) or disputes >= 0 severity high
  expect refunds.processed + refunds.failed == refunds and deliveries.mismatched == 0 severity critical
  finding when disputes < 10 "too few disputes" severity medium
}}

"""


def generate(lines: int) -> str:
    """Return a program of at least `lines` lines made of distinct scenarios."""
    parts: list[str] = []
    count = i = 0
    while count < lines:
        block = _TEMPLATE.format(i=i, orders=1000 + i, rate=1 + i % 30)
        parts.append(block)
        count += block.count("\n")
        i += 1
    return "".join(parts)


def measure_in_process(text: str, path: Path) -> dict:
    """Parse and check `text` in this process; return timings (best of 3) and the result size."""
    from carbonc.api import check_source, paused_gc
    from carbonc.source import Source
    from carbonc.syntax import parse

    source = Source(path=str(path), text=text, file=str(path))
    check_source(source)  # warm up: grammar cache, imports
    parse_times, check_times = [], []
    result = None
    for _ in range(3):
        t0 = time.perf_counter()
        with paused_gc():
            parse(source)
        parse_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = check_source(source)
        check_times.append(time.perf_counter() - t0)
    assert result is not None
    errors = [d for d in result.diagnostics if d.is_error]
    if errors:
        raise SystemExit(f"generated program has {len(errors)} errors, first: {errors[0].message}")
    return {"parse_s": min(parse_times), "check_s": min(check_times)}


def peak_rss_mb(path: Path) -> float:
    """Peak RSS of a separate process that checks `path` (the CLI's own footprint included)."""
    code = (
        "import resource, sys; from carbonc.api import check_path; from pathlib import Path;"
        f"check_path(Path({str(path)!r}));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def process_wall_s(runs: int, scenario: str) -> list[float]:
    """Wall times of `carbonc check SCENARIO` as whole processes (after one warm-up run)."""
    cmd = [sys.executable, "-m", "carbonc", "check", scenario]
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--scenario", default="dispute-spike")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    text = generate(args.lines)
    n_lines = text.count("\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.carbon"
        path.write_text(text, encoding="utf-8")
        timings = measure_in_process(text, path)
        rss = peak_rss_mb(path)
    walls = process_wall_s(args.runs, args.scenario)

    figures = {
        "lines": n_lines,
        "bytes": len(text.encode()),
        "parse_lines_per_s": n_lines / timings["parse_s"],
        "check_lines_per_s": n_lines / timings["check_s"],
        "peak_rss_mb": rss,
        "process_wall_s_median": statistics.median(walls),
        "process_wall_s_min": min(walls),
        "cpu": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"generated: {n_lines:,} lines, {figures['bytes']:,} bytes")
    print(f"{'measure':<38}{'value':>14}{'bar':>12}{'ratio':>9}")
    rows = [
        ("parse only (lines/s)", figures["parse_lines_per_s"], BAR_LINES_PER_S, True),
        ("parse + all passes (lines/s)", figures["check_lines_per_s"], BAR_LINES_PER_S, True),
        (f"carbonc check {args.scenario} (s, median)", figures["process_wall_s_median"], BAR_PROCESS_S, False),
    ]
    for name, value, bar, higher_better in rows:
        ratio = value / bar if higher_better else bar / value
        print(f"{name:<38}{value:>14,.3f}{bar:>12,}{ratio:>8.2f}x")
    print(f"{'peak RSS checking the file (MB)':<38}{rss:>14,.1f}")
    print("ratio > 1.00x means the bar is met")


if __name__ == "__main__":
    main()
