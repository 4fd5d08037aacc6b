"""Benchmark `carbonc runs` on a database holding 1,000 runs: how long listing the newest takes.

    python bench/runs.py [--runs 1000] [--deliveries 50] [--repeat 5]

The runs are written through the store's own API (`begin_run`, `append`, `finish_run`), each with
`--deliveries` deliveries and as many messages, in a temporary directory. Then `carbonc runs`
runs as a fresh process (start-up included, as a person meets it) `--repeat` times; the median is
printed beside the bar (1 s) as a ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carbonc.store import Batch, CheckRow, DeliveryRow, MessageRow, RunRow, open_store

BAR_S = 1.0
_T0_MS = 1_764_000_000_000


def fill(db: Path, runs: int, deliveries: int) -> None:
    with open_store(db) as store:
        for n in range(runs):
            run_id = f"run_bench_{n:05d}"
            start = _T0_MS + n * 60_000
            store.begin_run(RunRow(run_id=run_id, scenario="dispute-spike", source_sha256="0" * 64,
                                   plan_sha256="0" * 64, seed=n, provider="razorpay", params="{}",
                                   started_at_ms=start, version="bench", target="http://127.0.0.1:8000/hooks"))
            messages = [MessageRow(run_id, f"evt_{i}", i, i, i, "payment.captured", "payment.captured", f"pay_{i}",
                                   None, "valid", None, f"evt_{i}", None) for i in range(deliveries)]
            sent = [DeliveryRow(run_id, f"evt_{i}/1", f"evt_{i}", 1, "payment.captured", "valid", start + i, i,
                                200 if i % 10 else 500, 3.5, None, "2xx" if i % 10 else "5xx", not i % 10, "accept",
                                bool(i % 10), '{"entity":"event"}', "ok") for i in range(deliveries)]
            checks = [CheckRow(run_id, "expect", "expect deliveries.mismatched == 0", "high", n % 3 != 0,
                               "0", str(n % 3), None, "handler")]
            store.append(Batch(messages=messages, deliveries=sent, checks=checks))
            store.finish_run(run_id, "completed", start + 5_000)


def time_runs(db: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "carbonc", "runs", "--db", str(db)], capture_output=True, text=True)
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"carbonc runs failed ({done.returncode}): {done.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1_000)
    ap.add_argument("--deliveries", type=int, default=50, help="deliveries (and messages) per run")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.duckdb"
        began = time.perf_counter()
        fill(db, args.runs, args.deliveries)
        print(f"wrote {args.runs:,} runs ({args.runs * args.deliveries:,} deliveries) in "
              f"{time.perf_counter() - began:.1f} s, {db.stat().st_size / 1e6:.1f} MB")
        times = [time_runs(db) for _ in range(args.repeat)]
    median = statistics.median(times)
    print(f"carbonc runs on {args.runs:,} runs: median {median:.3f} s of {args.repeat} "
          f"(min {min(times):.3f}, max {max(times):.3f}); bar {BAR_S:.1f} s, ratio {BAR_S / median:.2f}x")
    print("ratio > 1.00x means the bar is met")


if __name__ == "__main__":
    main()
