"""Benchmark `carbonc report` on a big run: a `dispute-spike` run of ~200,000 deliveries to the
fast local receiver (bench/receiver.py), then `carbonc report` of it as HTML, terminal text and
JSON, each a fresh process, as a user would run it.

    python bench/report.py [--deliveries 200000] [--rounds 3] [--db PATH]

Prints each format's best wall time beside the bar (5 s) and the HTML file's size beside its bar
(2 MB). With --db pointing at an existing file, its latest run is reported and nothing is run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_S = 5.0
BAR_HTML_BYTES = 2_000_000
DELIVERIES_PER_ORDER = 3.3  # dispute-spike: 1000 orders → 3,300 messages, every one answered 200 once
HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def make_run(db: Path, deliveries: int) -> tuple[int, float]:
    """Run dispute-spike against the receiver until about `deliveries` were made; return the
    deliveries and the run's seconds."""
    receiver = subprocess.Popen([sys.executable, str(HERE / "receiver.py"), "--port", "0"], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert receiver.stdout is not None
        url = receiver.stdout.readline().split()[-1]
        orders = round(deliveries / DELIVERIES_PER_ORDER)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "carbonc", "run", "dispute-spike", "--set",
                               f"baseline_orders={orders}", "--webhook-url", url + "/hooks", "--db", str(db),
                               "--concurrency", "50", "--skip-probes", "--output", "json"],
                              env=ENV, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)["deliveries"]["total"], time.perf_counter() - started
    finally:
        receiver.terminate()
        receiver.wait()


def time_report(db: Path, fmt: str, out: Path | None, rounds: int) -> float:
    """The best of `rounds` wall times of `carbonc report latest --format fmt`, process start included."""
    best = float("inf")
    for _ in range(rounds):
        command = [sys.executable, "-m", "carbonc", "report", "latest", "--db", str(db), "--format", fmt]
        command += ["--out", str(out)] if out else []
        started = time.perf_counter()
        subprocess.run(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", type=Path, default=None, help="report this file's latest run instead of making one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carbonc-bench-report-") as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        if args.db is None:
            deliveries, run_s = make_run(db, args.deliveries)
            print(f"run: {deliveries:,} deliveries in {run_s:.1f} s")
        html = Path(tmp) / "report.html"
        for fmt, out in (("html", html), ("terminal", None), ("json", Path(tmp) / "report.json")):
            seconds = time_report(db, fmt, out, args.rounds)
            print(f"report --format {fmt:<8} {seconds:6.2f} s   bar {BAR_S:.0f} s   ratio {seconds / BAR_S:.2f}")
        size = html.stat().st_size
        print(f"html size {size / 1e6:8.2f} MB  bar {BAR_HTML_BYTES / 1e6:.0f} MB  ratio {size / BAR_HTML_BYTES:.2f}")


if __name__ == "__main__":
    main()
