"""Benchmark plan compilation at scale: `refund-storm --set baseline_orders=1000000` compiled to
a saved plan, as a whole process. Reports wall time, CPU time, messages/s and peak RSS beside the
bars (≤ 20 s, ≤ 256 MB; issue 11), and where the time goes (cProfile, top functions) with
--profile. On a shared machine the CPU time (user + system) is the steadier figure: wall time
counts the time other processes hold the cores.

    python bench/plan.py [--orders 1000000] [--scenario refund-storm] [--profile]
"""

from __future__ import annotations

import argparse
import json
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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
