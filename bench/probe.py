"""Benchmark probing: how long `carbonc run` takes to ask the demo merchant's state API about
10,000 entities once the webhooks have settled, beside the bar (under 10 s), and whether probes
cost the delivery path anything (deliveries/s of the same run with and without probes).

    python bench/probe.py [--orders 10000] [--runs 3] [--concurrency 20]

The merchant is examples/merchant served by uvicorn on 127.0.0.1 (a fresh SQLite file per run,
so each run's probes see only its own webhooks). The scenario pays N orders and probes each one
with the idempotency oracle's question (status, amount paid). Prints the minimum, median and
maximum of each figure and the ratio to the bar.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

BAR_PROBE_S = 10.0
REPO = Path(__file__).resolve().parents[1]

SCENARIO = """
scenario probe-bench {
  param orders = 10000
  seed 11
  phase sale {
    create orders count orders amount INR 499 method card
    pay each order { captured 100% }
  }
  deliver { order sequence }
  expect orders == orders severity high

  probe GET "{{ base }}/orders/{{ order.id }}" for each paid order {
    expect status == 200
    expect json.status == "paid"
    expect json.amount_paid == order.amount_paid
  } severity critical
}
"""


@contextmanager
def merchant(db: Path):
    proc = subprocess.Popen([sys.executable, "-m", "examples.merchant", "--port", "0", "--db", str(db)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not found:
            raise SystemExit(f"the merchant did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_run(scenario: Path, orders: int, concurrency: int, skip: bool, tmp: Path, n: int) -> dict:
    with merchant(tmp / f"merchant-{n}-{skip}.sqlite") as url:
        cmd = [sys.executable, "-m", "carbonc", "run", str(scenario), "--set", f"orders={orders}",
               "--webhook-url", f"{url}/webhooks/razorpay", "--concurrency", "50", "--db",
               str(tmp / f"runs-{n}-{skip}.duckdb"), "--output", "json", "--ci",
               "--probe-concurrency", str(concurrency)] + (["--skip-probes"] if skip else [])
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"carbonc run failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    probes = doc["probes"]
    return {"probe_s": doc["probing"]["elapsed_s"], "requests": doc["probing"]["requests"],
            "entities": sum(p["entities"] for p in probes), "deliveries_per_s": doc["deliveries"]["per_second"],
            "elapsed_s": doc["elapsed_s"]}


def spread(values: list[float]) -> str:
    return f"min {min(values):,.2f}  median {statistics.median(values):,.2f}  max {max(values):,.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=20, help="--probe-concurrency")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="carbonc-probe-bench-") as name:
        tmp = Path(name)
        scenario = tmp / "probe-bench.carbon"
        scenario.write_text(SCENARIO, encoding="utf-8")
        probed, skipped = [], []
        for n in range(args.runs):
            probed.append(one_run(scenario, args.orders, args.concurrency, False, tmp, n))
            skipped.append(one_run(scenario, args.orders, args.concurrency, True, tmp, n))
    entities = probed[0]["entities"]
    probe_s = [r["probe_s"] for r in probed]
    print(f"probing {entities:,} entities against the demo merchant ({args.runs} runs, "
          f"--probe-concurrency {args.concurrency}):")
    print(f"  seconds           {spread(probe_s)}   bar {BAR_PROBE_S:.0f} s -> "
          f"{BAR_PROBE_S / statistics.median(probe_s):.2f}x under it")
    print(f"  entities/s        {spread([entities / s for s in probe_s])}")
    with_p = [r["deliveries_per_s"] for r in probed]
    without = [r["deliveries_per_s"] for r in skipped]
    print("delivery rate of the same runs (deliveries/s, probing excluded):")
    print(f"  with probes       {spread(with_p)}")
    print(f"  --skip-probes     {spread(without)}")
    print(f"  ratio             {statistics.median(with_p) / statistics.median(without):.2f}")


if __name__ == "__main__":
    main()
