"""Benchmark plan compilation at scale: `refund-storm --set baseline_orders=1000000` compiled to
a saved plan, as a whole process. Reports wall time, CPU time, messages/s and peak RSS beside the
bars (≤ 20 s, ≤ 256 MB; issue 11), and where the time goes (cProfile, top functions) with
--profile. On a shared machine the CPU time (user + system) is the steadier figure: wall time
counts the time other processes hold the cores.

With --run, benchmarks running a saved plan instead: the plan saved at --orders and at a tenth of
them, each run with no target (`carbonc run PLAN --db …`) as a whole process. Reports each run's
peak RSS beside its bar (≤ 256 MB) and how much more the bigger run took (bar: at most 10% more,
memory flat in the number of entities), with wall and CPU times. --plans DIR keeps the saved plans there
and reuses them (a million orders take half a minute to compile).

    python bench/plan.py [--orders 1000000] [--scenario refund-storm] [--profile]
    python bench/plan.py --run [--orders 1000000] [--plans /tmp/plans]
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

BAR_SECONDS = 20.0
BAR_RSS_MB = 256.0

_CHILD = """
import resource, sys, time
from pathlib import Path
from carbonc.api import compile_source, read_or_diagnose
from carbonc.plan.saved import write_plan
from carbonc.scenarios import find
t0 = time.perf_counter()
source = read_or_diagnose(find(sys.argv[1]))
plan = compile_source(source, overrides={"baseline_orders": sys.argv[2]})
t1 = time.perf_counter()
write_plan(plan, Path(sys.argv[3]))
t2 = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF)
rss, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
print(f"{t1 - t0} {t2 - t1} {rss} {cpu} {sum(plan.summary.messages.values())} {plan.summary.deliveries}")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", default="1000000")
    ap.add_argument("--scenario", default="refund-storm")
    ap.add_argument("--profile", action="store_true", help="profile the compile in-process instead")
    ap.add_argument("--run", action="store_true", help="benchmark running saved plans instead (see above)")
    ap.add_argument("--plans", type=Path, help="with --run: keep the saved plans here, and reuse them")
    args = ap.parse_args()
    if args.run:
        bench_run(args.scenario, int(args.orders), args.plans)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.jsonl"
        if args.profile:
            import cProfile
            import pstats

            cmd = _CHILD.replace("import resource, sys, time", "import resource, time")
            sys.argv = ["x", args.scenario, args.orders, str(out)]
            cProfile.run(cmd, str(Path(tmp) / "prof"))
            pstats.Stats(str(Path(tmp) / "prof")).sort_stats("cumulative").print_stats(30)
            return
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, args.scenario, args.orders, str(out)],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        compile_s, write_s, rss, cpu, messages, deliveries = done.stdout.split()
        size = out.stat().st_size
    figures = {"orders": int(args.orders), "wall_s": wall, "cpu_s": float(cpu), "compile_s": float(compile_s),
               "write_s": float(write_s), "peak_rss_mb": float(rss), "messages": int(messages),
               "deliveries": int(deliveries), "plan_bytes": size}
    print(json.dumps(figures))
    print(f"{'measure':<28}{'value':>14}{'bar':>10}{'ratio':>9}")
    print(f"{'wall time (s)':<28}{wall:>14.1f}{BAR_SECONDS:>10.0f}{BAR_SECONDS / wall:>8.2f}x")
    print(f"{'CPU time, user+sys (s)':<28}{float(cpu):>14.1f}{BAR_SECONDS:>10.0f}{BAR_SECONDS / float(cpu):>8.2f}x")
    print(f"{'peak RSS (MB)':<28}{float(rss):>14.1f}{BAR_RSS_MB:>10.0f}{BAR_RSS_MB / float(rss):>8.2f}x")
    print(f"{'messages/s (whole run)':<28}{int(deliveries) / wall:>14,.0f}")
    print(f"compile {float(compile_s):.1f} s, write {float(write_s):.1f} s, plan file {size / 1e6:,.0f} MB")
    print("ratio > 1.00x means the bar is met")


# Running a saved plan.

RUN_BAR_RSS_MB = 256.0
#: How much more peak RSS the run of ten times the orders may take.
RUN_BAR_GROWTH = 1.10


def bench_run(scenario: str, orders: int, plans: Path | None) -> None:
    sizes = (orders // 10, orders)
    figures: dict[int, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = plans or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            plan = where / f"{scenario}-{n}.ndjson"
            if not plan.exists():
                subprocess.run([sys.executable, "-m", "carbonc", "plan", scenario, "--set", f"baseline_orders={n}",
                                "--out", str(plan)], check=True, capture_output=True)
            figures[n] = _run_child(plan, Path(tmp) / f"run-{n}.duckdb")
    growth = figures[sizes[1]][2] / figures[sizes[0]][2]
    runs = {f"{n}": {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss} for n, (wall, cpu, rss) in figures.items()}
    print(json.dumps({"scenario": scenario, **runs, "rss_growth": growth}))
    print(f"{'measure':<36}{'value':>10}{'bar':>10}{'ratio':>9}")
    for n in sizes:
        _, _, rss = figures[n]
        print(f"{f'peak RSS, {n:,} orders (MB)':<36}{rss:>10.1f}{RUN_BAR_RSS_MB:>10.0f}{RUN_BAR_RSS_MB / rss:>8.2f}x")
    print(f"{f'RSS {sizes[1]:,} / {sizes[0]:,} orders':<36}{growth:>10.2f}{RUN_BAR_GROWTH:>10.2f}"
          f"{RUN_BAR_GROWTH / growth:>8.2f}x")
    for n in sizes:
        wall, cpu, _ = figures[n]
        print(f"{f'wall time, {n:,} orders (s)':<36}{wall:>10.1f}")
        print(f"{f'CPU time, {n:,} orders (s)':<36}{cpu:>10.1f}")
    print("ratio > 1.00x means the bar is met")


def _run_child(plan: Path, db: Path) -> tuple[float, float, float]:
    """Run `plan` with no target in a process of its own: (wall seconds, its CPU seconds, its peak
    RSS in MB)."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "carbonc", "run", str(plan), "--db", str(db)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4, not RUSAGE_CHILDREN: that is the largest of every child so far, compiles included.
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    assert child.stderr is not None
    errors = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"`carbonc run {plan}` failed ({child.returncode}): {errors}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
