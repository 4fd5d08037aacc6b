"""Benchmark `carbonc run` end to end: a whole `dispute-spike` run delivering ~20,000 webhooks
to a fast local receiver, then one of ~200,000, beside the receiver's own ceiling (wrk) and the
older carbon-layer 0.6.1 sending the same number of webhooks to the same receiver.

    python bench/deliver.py [--messages 20000] [--runs 3] [--big-messages 200000] [--workers 2]
                            [--workers-messages 200000] [--receiver auto]

Prints deliveries/s beside the bar (3,000/s end to end, every attempt recorded), and CPU time per
delivery (user+sys of the carbonc process, all its threads, ÷ deliveries) beside its bar (120 µs)
at both sizes, as ratios. CPU per delivery is the steadier figure on a shared machine: the rate
moves with whatever else runs.
The receiver is nginx when installed (`return 200`, keep-alive), else bench/receiver.py; nginx
and wrk are installed with apt-get when missing, unless --no-install. carbon-layer lives in its
own venv (--carbon-layer-venv), made on first use; it reads bench/carbon-layer/dispute-spike.yaml
resized to --messages. Peak RSS is reported at both sizes; --big-messages 0 skips the big run.
Those runs are one process each (`--workers 1`); one more run of --workers-messages with
`--workers N` (default 2) is set beside its bar (10,000 deliveries/s end to end, every attempt
recorded), its CPU per delivery counting the workers' too; --workers 0 skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BAR_DELIVERIES_PER_S = 3_000
BAR_CPU_US_PER_DELIVERY = 120
#: With `--workers 2`: deliveries/s end to end, every attempt recorded.
BAR_WORKERS_PER_S = 10_000
CONCURRENCY = 50
CARBONC_MESSAGES_PER_ORDER = 3.3  # dispute-spike: 1000 orders → 3,300 messages
CARBON_LAYER_VERSION = "0.6.1"
CARBON_LAYER_WEBHOOKS_PER_ORDER = 1.15  # one payment.captured per order, plus 15% disputed
HERE = Path(__file__).resolve().parent
CARBON_LAYER_SCENARIO = HERE / "carbon-layer" / "dispute-spike.yaml"

_NGINX_CONF = """\
daemon off;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    location = /_stats {{ stub_status; }}
    location / {{ return 200 "ok"; }}
  }}
}}
"""


# ---- tools -------------------------------------------------------------------------------------

def ensure_apt_tools(names: list[str], install: bool) -> list[str]:
    """Install the missing programs among `names` with apt-get; return notes for the report."""
    missing = [n for n in names if not shutil.which(n)]
    if not missing:
        return []
    if not install:
        return [f"not installed: {', '.join(missing)} (--no-install)"]
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return [f"not installed: {', '.join(missing)} (apt-get needs root)"]
    cmd = ["apt-get", "install", "-y", "-qq", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    still = [n for n in missing if not shutil.which(n)]
    if still:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return [f"apt-get install {' '.join(missing)} failed, without: {', '.join(still)} ({tail[0]})"]
    return [f"installed with apt-get: {', '.join(missing)}"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"receiver not listening on {port} after {timeout} s")


# ---- receivers ---------------------------------------------------------------------------------

class Receiver:
    """A local HTTP server answering 200 to every POST; `posts()` counts the POSTs it has seen."""

    kind = "?"
    url = ""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def posts(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NginxReceiver(Receiver):
    """nginx in the foreground with a config in `tmp`; counts through stub_status."""

    kind = "nginx"

    def __init__(self, tmp: Path, workers: int) -> None:
        super().__init__()
        tmp.mkdir(parents=True, exist_ok=True)
        port = free_port()
        (tmp / "nginx.conf").write_text(_NGINX_CONF.format(tmp=tmp, port=port, workers=workers))
        self.tmp = tmp
        self.url = f"http://127.0.0.1:{port}"
        self._stats_requests = 0
        # -e: the error log before the config is read (the default is under /var/log)
        self.proc = subprocess.Popen(["nginx", "-p", str(tmp), "-e", str(tmp / "error.log"),
                                      "-c", str(tmp / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, self.proc)
        except RuntimeError as e:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            self.close()
            raise RuntimeError(f"nginx: {e}: {err.strip()}") from None

    def posts(self) -> int:
        # stub_status counts every request, these GETs included (the current one too)
        with urllib.request.urlopen(self.url + "/_stats", timeout=5) as resp:
            text = resp.read().decode()
        self._stats_requests += 1
        handled = int(text.splitlines()[2].split()[2])
        return handled - self._stats_requests


class BuiltinReceiver(Receiver):
    """bench/receiver.py in a child process; counts through its `/_stats`."""

    kind = "built-in"

    def __init__(self) -> None:
        super().__init__()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "receiver.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.close()
            raise RuntimeError(f"bench/receiver.py did not start: {line!r}")
        self.url = line.split()[1]

    def posts(self) -> int:
        with urllib.request.urlopen(self.url + "/_stats", timeout=5) as resp:
            return json.loads(resp.read())["requests"]


# ---- measuring a child process -----------------------------------------------------------------

@dataclass
class Measured:
    """One child process: wall time, CPU time and peak RSS (its own, from wait4), exit code, output."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None) -> Measured:
    """Run `cmd` to completion; wall time from spawn to exit, peak RSS of that child alone."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Measured(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())


def first_json_document(text: str) -> dict | None:
    """The JSON object in `text`, skipping lines printed before it (carbon-layer prints some)."""
    for m in re.finditer(r"^\{", text, re.MULTILINE):
        try:
            return json.loads(text[m.start():])
        except json.JSONDecodeError:
            continue
    return None


def tail(text: str, lines: int = 8) -> str:
    return "\n".join("    " + s for s in text.strip().splitlines()[-lines:])


# ---- wrk ---------------------------------------------------------------------------------------

def sample_body(size: int = 1500) -> str:
    """A Razorpay-like `payment.captured` event padded to `size` bytes of JSON."""
    event = {
        "entity": "event", "account_id": "acc_bench", "event": "payment.captured",
        "contains": ["payment"], "created_at": 1767225600,
        "payload": {"payment": {"entity": {
            "id": "pay_bench000000001", "entity": "payment", "amount": 250000, "currency": "INR",
            "status": "captured", "order_id": "order_bench00000001", "method": "card",
            "captured": True, "email": "customer@example.com", "contact": "+919999999999",
            "notes": {"pad": ""},
        }}},
    }
    short = len(json.dumps(event, separators=(",", ":")))
    event["payload"]["payment"]["entity"]["notes"]["pad"] = "x" * max(0, size - short)
    return json.dumps(event, separators=(",", ":"))


def run_wrk(url: str, seconds: int, tmp: Path) -> dict:
    """`wrk -t2 -c50` POSTing a 1.5 KB JSON body to `url`; requests/s and errors."""
    script = tmp / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = [==[{sample_body()}]==]\n")
    cmd = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if done.returncode != 0 or not rps:
        return {"error": (done.stderr or done.stdout).strip()[-300:]}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    sock = re.search(r"Socket errors: (.*)", done.stdout)
    return {"requests_per_s": float(rps.group(1)), "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sock.group(1) if sock else ""}


# ---- carbonc run -------------------------------------------------------------------------------

@dataclass
class CarboncRun:
    """One `carbonc run`: what it reported, what the DuckDB file holds, what the receiver saw."""

    messages_asked: int
    orders: int
    measured: Measured | None = None
    report: dict | None = None
    rows: int | None = None
    reported: int | None = None
    received: int | None = None
    phase_s: float | None = None
    outcomes: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float | None:
        if self.measured is None or not self.rows:
            return None
        return self.rows / self.measured.wall_s

    @property
    def cpu_us(self) -> float | None:
        """CPU time (user+sys, every thread, compiling the plan included) per delivery, in µs."""
        if self.measured is None or not self.rows:
            return None
        return self.measured.cpu_s / self.rows * 1e6


def read_deliveries(db: Path, run_id: str | None) -> tuple[int, dict, float | None]:
    """Rows in `deliveries` (for `run_id` when the table has that column), counts by outcome, and
    the seconds from the first attempt sent to the last."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'deliveries'").fetchall()}
        where, args = ("WHERE run_id = ?", [run_id]) if "run_id" in cols and run_id else ("", [])
        rows = con.execute(f"SELECT count(*) FROM deliveries {where}", args).fetchone()[0]
        outcomes = {}
        if "outcome" in cols:
            outcomes = dict(con.execute(
                f"SELECT coalesce(outcome, '?'), count(*) FROM deliveries {where} GROUP BY 1 ORDER BY 2 DESC",
                args).fetchall())
        phase = None
        if "sent_at" in cols:
            lo, hi = con.execute(f"SELECT min(sent_at), max(sent_at) FROM deliveries {where}", args).fetchone()
            if lo is not None and hi is not None:
                phase = (hi - lo).total_seconds()
        return rows, outcomes, phase
    finally:
        con.close()


def run_carbonc(receiver: Receiver, messages: int, tmp: Path, scenario: str, carbonc: list[str],
                extra: tuple[str, ...] = ()) -> CarboncRun:
    """`carbonc run SCENARIO [EXTRA…]` for about `messages` webhooks, then check every attempt was
    recorded."""
    orders = max(1, round(messages / CARBONC_MESSAGES_PER_ORDER))
    run = CarboncRun(messages_asked=messages, orders=orders)
    db = Path(tempfile.mkdtemp(dir=tmp)) / "run.duckdb"
    cmd = [*carbonc, "run", scenario,
           "--webhook-url", receiver.url + "/hooks", "--concurrency", str(CONCURRENCY),
           "--time-scale", "max", "--db", str(db), "--output", "json",
           "--set", f"baseline_orders={orders}",
           # The delivery path alone: a `return 200` receiver has no state API to probe
           # (bench/probe.py measures probing against the demo merchant).
           "--skip-probes", *extra]
    before = receiver.posts()
    run.measured = m = run_measured(cmd)
    run.received = receiver.posts() - before
    run.report = first_json_document(m.stdout)
    if run.report is None:
        run.problems.append(f"no JSON on stdout (exit {m.returncode}):\n{tail(m.stderr or m.stdout)}")
        return run
    if m.returncode != 0:
        run.problems.append(f"note: exit code {m.returncode}")
    deliveries = run.report.get("deliveries")
    if isinstance(deliveries, dict) and isinstance(deliveries.get("total"), int):
        run.reported = deliveries["total"]
    else:
        run.problems.append("the JSON has no deliveries.total")
    if not db.exists():
        run.problems.append(f"no DuckDB file at {db}")
        return run
    try:
        run.rows, run.outcomes, run.phase_s = read_deliveries(db, run.report.get("run_id"))
    except Exception as e:  # noqa: BLE001 - a missing table or module is a finding of the benchmark, not a crash
        run.problems.append(f"reading deliveries from {db.name}: {type(e).__name__}: {e}")
    shutil.rmtree(db.parent, ignore_errors=True)
    return run


def recorded_verdict(run: CarboncRun) -> tuple[bool, str]:
    """'Every attempt recorded': DuckDB rows == reported total, and no POST the receiver saw is
    missing from the rows (fewer POSTs than rows is allowed: attempts that never connected)."""
    if run.rows is None or run.reported is None:
        return False, "rows or reported total missing"
    ok = run.rows == run.reported and run.rows > 0
    text = f"{run.rows:,} rows, {run.reported:,} reported"
    if run.received is not None:
        text += f", receiver saw {run.received:,} POSTs"
        if run.received > run.rows:
            ok = False
            text += f" ({run.received - run.rows:,} attempts not recorded)"
    return ok, text


# ---- carbon-layer 0.6.1 ------------------------------------------------------------------------

def ensure_carbon_layer(venv: Path, install: bool) -> tuple[Path | None, str]:
    """carbon-layer's `carbon` in its own venv, made with `python -m venv` + pip when missing.
    Not carbonc's own `carbon` command, which the dev venv also has."""
    exe = venv / "bin" / "carbon"
    py = venv / "bin" / "python"

    def installed() -> bool:
        if not exe.exists():
            return False
        probe = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('carbon-layer'))"],
                               capture_output=True, text=True)
        return probe.stdout.strip() == CARBON_LAYER_VERSION

    if installed():
        return exe, f"carbon-layer {CARBON_LAYER_VERSION} in {venv}"
    if not install:
        return None, f"skipped: carbon-layer {CARBON_LAYER_VERSION} is not in {venv} (--no-install)"
    if not py.exists():
        done = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"python -m venv {venv} failed: {done.stderr.strip()[-200:]}"
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", f"carbon-layer=={CARBON_LAYER_VERSION}"],
                          capture_output=True, text=True)
    if done.returncode != 0 or not installed():
        return None, f"pip install carbon-layer=={CARBON_LAYER_VERSION} failed: {done.stderr.strip()[-300:]}"
    return exe, f"carbon-layer {CARBON_LAYER_VERSION} installed into {venv}"


def carbon_layer_scenario(messages: int, directory: Path) -> tuple[int, int]:
    """Write bench/carbon-layer/dispute-spike.yaml into `directory` with its counts resized so it
    sends `messages` webhooks (one per order, one per dispute); return (orders, disputes)."""
    orders = max(1, round(messages / CARBON_LAYER_WEBHOOKS_PER_ORDER))
    disputes = min(orders, max(0, messages - orders))
    text = CARBON_LAYER_SCENARIO.read_text()
    text, n1 = re.subn(r"count: \d+(\s+# orders)", rf"count: {orders}\1", text)
    text, n2 = re.subn(r"count: \d+(\s+# disputes)", rf"count: {disputes}\1", text)
    if (n1, n2) != (1, 1):
        raise SystemExit(f"{CARBON_LAYER_SCENARIO}: expected one `count: N  # orders` and one `# disputes` line")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dispute-spike.yaml").write_text(text)
    return orders, disputes


@dataclass
class CarbonLayerRun:
    """One carbon-layer run: its report's webhook counts, the receiver's count, the send phase."""

    measured: Measured | None = None
    total: int | None = None
    ok: int | None = None
    received: int | None = None
    phase_s: float | None = None
    note: str = ""

    @property
    def per_s(self) -> float | None:
        if self.measured is None or not self.total:
            return None
        return self.total / self.measured.wall_s


def run_carbon_layer(exe: Path, receiver: Receiver, messages: int, tmp: Path) -> CarbonLayerRun:
    """`carbon run dispute-spike --provider mock --webhook-url …` with a fresh SQLite file, in a
    scratch directory (it reads `.env` and `./scenarios` from its working directory)."""
    work = Path(tempfile.mkdtemp(dir=tmp))
    orders, disputes = carbon_layer_scenario(messages, work / "scenarios")
    db = work / "carbon.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CARBON_", "RAZORPAY_",
                                                                  "STRIPE_", "CASHFREE_", "JUSPAY_"))}
    env |= {"CARBON_SCENARIOS_DIR": str(work / "scenarios"), "DATABASE_URL": f"sqlite:///{db}",
            "HOME": str(work)}
    cmd = [str(exe), "run", "dispute-spike", "--provider", "mock",
           "--webhook-url", receiver.url + "/hooks", "--output", "json"]
    run = CarbonLayerRun(note=f"{orders:,} orders, {disputes:,} disputes")
    before = receiver.posts()
    run.measured = m = run_measured(cmd, env=env, cwd=work)
    run.received = receiver.posts() - before
    report = first_json_document(m.stdout)
    if m.returncode != 0 or report is None:
        run.note = f"failed (exit {m.returncode}):\n{tail(m.stderr or m.stdout)}"
        return run
    run.total, run.ok = report["webhooks"]["total"], report["webhooks"]["ok"]
    with closing(sqlite3.connect(db)) as con:  # sent_at: when each POST started, naive UTC
        lo, hi = con.execute("SELECT min(sent_at), max(sent_at) FROM webhook_deliveries").fetchone()
    if lo and hi:
        run.phase_s = (datetime.fromisoformat(hi) - datetime.fromisoformat(lo)).total_seconds()
    shutil.rmtree(work, ignore_errors=True)
    return run


# ---- report ------------------------------------------------------------------------------------

def describe(rows: int | None, m: Measured | None) -> str:
    """`20,000 rows in 5.1 s (CPU 2.2 s, 110 µs each, peak RSS 80 MB): 3,921/s`, or what is missing."""
    if m is None or not rows:
        return "no rows recorded"
    return (f"{rows:,} rows in {m.wall_s:.2f} s (CPU {m.cpu_s:.2f} s, {m.cpu_s / rows * 1e6:.0f} µs each, "
            f"peak RSS {m.peak_rss_mb:,.0f} MB): {rows / m.wall_s:,.0f}/s")


def fmt_rate(value: float | None) -> str:
    return f"{value:>14,.0f}" if value is not None else f"{'—':>14}"


@dataclass
class Results:
    """Everything one invocation measured, for the table and --json."""

    receiver: str
    notes: list[str]
    wrk: dict[str, dict]
    runs: list[CarboncRun]
    big: CarboncRun | None
    split: CarboncRun | None
    legacy: CarbonLayerRun | None
    loadavg: tuple[float, float]

    @property
    def median(self) -> float | None:
        rates = [r.per_s for r in self.runs if r.per_s]
        return statistics.median(rates) if rates else None

    @property
    def median_cpu_us(self) -> float | None:
        costs = [r.cpu_us for r in self.runs if r.cpu_us]
        return statistics.median(costs) if costs else None

    @property
    def verdicts(self) -> list[tuple[CarboncRun, bool, str]]:
        return [(r, *recorded_verdict(r)) for r in [*self.runs, self.big, self.split] if r is not None]

    @property
    def all_recorded(self) -> bool | None:
        return all(ok for _, ok, _ in self.verdicts) if self.verdicts else None


def measure(args: argparse.Namespace) -> Results:
    """Start the receiver, then run wrk, carbonc and carbon-layer against it, printing progress."""
    notes = ensure_apt_tools(["nginx", "wrk"] if args.receiver != "builtin" else ["wrk"], not args.no_install)
    if args.receiver == "nginx" and not shutil.which("nginx"):
        raise SystemExit("--receiver nginx: nginx is not installed")
    use_nginx = args.receiver == "nginx" or (args.receiver == "auto" and shutil.which("nginx"))
    carbonc = shlex.split(args.carbonc)
    load_before = os.getloadavg()[0]
    wrk: dict[str, dict] = {}
    runs: list[CarboncRun] = []
    big: CarboncRun | None = None
    split: CarboncRun | None = None
    legacy: CarbonLayerRun | None = None
    with tempfile.TemporaryDirectory(prefix="carbonc-deliver-") as tmp_name:
        tmp = Path(tmp_name)
        with NginxReceiver(tmp / "nginx", args.nginx_workers) if use_nginx else BuiltinReceiver() as receiver:
            print(f"receiver: {receiver.kind} at {receiver.url}; {os.cpu_count()} CPUs, "
                  f"load average {load_before:.2f}", flush=True)
            for note in notes:
                print(f"note: {note}")

            if shutil.which("wrk"):
                wrk[receiver.kind] = run_wrk(receiver.url + "/hooks", args.wrk_seconds, tmp)
                if receiver.kind == "nginx":  # the built-in one's ceiling, for reference
                    with BuiltinReceiver() as builtin:
                        wrk[builtin.kind] = run_wrk(builtin.url + "/hooks", args.wrk_seconds, tmp)
                for kind, result in wrk.items():
                    shown = f"{result['requests_per_s']:,.0f} req/s" if "requests_per_s" in result else result["error"]
                    print(f"wrk -t2 -c{CONCURRENCY} -d{args.wrk_seconds}s POST 1.5 KB, {kind}: {shown}", flush=True)
            else:
                print("wrk: not installed, no receiver ceiling measured")

            if not args.skip_carbonc:
                sizes = [args.messages] * args.runs + ([args.big_messages] if args.big_messages else [])
                for i, size in enumerate(sizes):
                    run = run_carbonc(receiver, size, tmp, args.scenario, carbonc, extra=("--workers", "1"))
                    label = f"{i + 1}/{args.runs}" if i < args.runs else f"at {size:,}"
                    print(f"carbonc run {label}: {describe(run.rows, run.measured)}", flush=True)
                    for problem in run.problems:
                        print(f"  {problem}")
                    if i < args.runs:
                        runs.append(run)
                    else:
                        big = run
                if args.workers:
                    split = run_carbonc(receiver, args.workers_messages, tmp, args.scenario, carbonc,
                                        extra=("--workers", str(args.workers)))
                    print(f"carbonc run --workers {args.workers} at {args.workers_messages:,}: "
                          f"{describe(split.rows, split.measured)}", flush=True)
                    for problem in split.problems:
                        print(f"  {problem}")

            if not args.skip_carbon_layer:
                exe, how = ensure_carbon_layer(args.carbon_layer_venv, install=not args.no_install)
                print(f"carbon-layer: {how}", flush=True)
                if exe is not None:
                    legacy = run_carbon_layer(exe, receiver, args.messages, tmp)
                    print(f"carbon-layer run: {describe(legacy.total, legacy.measured)} ({legacy.note})",
                          flush=True)
            kind = receiver.kind
    return Results(kind, notes, wrk, runs, big, split, legacy, (load_before, os.getloadavg()[0]))


def print_table(res: Results, args: argparse.Namespace) -> None:
    """The side-by-side table, then one line per check, as the other bench scripts print."""
    median, legacy = res.median, res.legacy
    legacy_rate = legacy.per_s if legacy else None
    print()
    print(f"{'measure':<44}{'value':>14}{'bar':>10}{'ratio':>9}")
    for kind, result in res.wrk.items():
        print(f"{'wrk POST 1.5 KB, ' + kind + ' (req/s)':<44}{fmt_rate(result.get('requests_per_s'))}")
    if res.runs:
        ratio = f"{median / BAR_DELIVERIES_PER_S:>8.2f}x" if median else ""
        print(f"{'carbonc run, median (deliveries/s)':<44}{fmt_rate(median)}{BAR_DELIVERIES_PER_S:>10,}{ratio}")
    if res.split is not None:
        rate = res.split.per_s
        ratio = f"{rate / BAR_WORKERS_PER_S:>8.2f}x" if rate else ""
        label = f"carbonc run --workers {args.workers} (deliveries/s)"
        print(f"{label:<44}{fmt_rate(rate)}{BAR_WORKERS_PER_S:>10,}{ratio}")
    for label, cost in cpu_lines(res, args):
        ratio = f"{BAR_CPU_US_PER_DELIVERY / cost:>8.2f}x" if cost else ""
        value = f"{cost:>14,.0f}" if cost else f"{'—':>14}"
        print(f"{'carbonc CPU per delivery, ' + label + ' (µs)':<44}{value}{BAR_CPU_US_PER_DELIVERY:>10,}{ratio}")
    if legacy is not None:
        print(f"{'carbon-layer ' + CARBON_LAYER_VERSION + ' (deliveries/s)':<44}{fmt_rate(legacy_rate)}")
        if legacy.phase_s and legacy.total:
            print(f"{'  its webhook phase alone (deliveries/s)':<44}{fmt_rate(legacy.total / legacy.phase_s)}")
    if median and legacy_rate:
        print(f"{'carbonc / carbon-layer':<44}{median / legacy_rate:>13.2f}x")
    ceiling = res.wrk.get(res.receiver, {}).get("requests_per_s")
    if median and ceiling:
        print(f"{'carbonc, share of wrk on the same receiver':<44}{median / ceiling:>14.1%}")
    for size, group in ((args.messages, res.runs), (args.big_messages, [res.big] if res.big else [])):
        rss = [r.measured.peak_rss_mb for r in group if r.measured]
        if rss:
            print(f"{f'peak RSS carbonc, {size:,} messages (MB)':<44}{max(rss):>14,.1f}")
    if legacy and legacy.measured:
        print(f"{'peak RSS carbon-layer (MB)':<44}{legacy.measured.peak_rss_mb:>14,.1f}")
    print("ratio > 1.00x means the bar is met (for CPU per delivery: the bar ÷ the cost)")

    for run, ok, text in res.verdicts:
        extra = f"; send phase {run.phase_s:.2f} s" if run.phase_s else ""
        extra += f"; outcomes {run.outcomes}" if run.outcomes else ""
        print(f"{'PASS' if ok else 'FAIL'} every attempt recorded ({run.messages_asked:,} asked, "
              f"{run.orders:,} orders): {text}{extra}")
    if legacy is not None and legacy.total is not None:
        print(f"carbon-layer: {legacy.total:,} recorded, {legacy.ok:,} ok, receiver saw {legacy.received:,} POSTs "
              f"({legacy.note})")
    elif legacy is not None:
        print(f"carbon-layer: {legacy.note}")
    if res.runs:
        met = median is not None and median >= BAR_DELIVERIES_PER_S and bool(res.all_recorded)
        n = len(res.runs)
        rate = f"median {median:,.0f}/s of {n} run{'s' * (n > 1)}" if median else "no run recorded deliveries"
        print(f"{'PASS' if met else 'FAIL'} bar: ≥ {BAR_DELIVERIES_PER_S:,} deliveries/s end to end ({rate}), "
              f"every attempt recorded: {'yes' if res.all_recorded else 'no'}")
        costs = cpu_lines(res, args)
        met = all(cost is not None and cost <= BAR_CPU_US_PER_DELIVERY for _, cost in costs)
        shown = ", ".join(f"{label}: {f'{cost:,.0f} µs' if cost else 'none'}" for label, cost in costs)
        print(f"{'PASS' if met else 'FAIL'} bar: ≤ {BAR_CPU_US_PER_DELIVERY} µs of CPU per delivery at every size "
              f"({shown})")
    if res.split is not None:
        rate = res.split.per_s
        met = rate is not None and rate >= BAR_WORKERS_PER_S and recorded_verdict(res.split)[0]
        print(f"{'PASS' if met else 'FAIL'} bar: ≥ {BAR_WORKERS_PER_S:,} deliveries/s with --workers {args.workers} "
              f"at {args.workers_messages:,} messages ({f'{rate:,.0f}/s' if rate else 'nothing recorded'}), every "
              f"attempt recorded: {'yes' if recorded_verdict(res.split)[0] else 'no'}")
    print(f"load average {res.loadavg[0]:.2f} before, {res.loadavg[1]:.2f} after "
          f"({os.cpu_count()} shared CPUs: compare runs made close together)")


def cpu_lines(res: Results, args: argparse.Namespace) -> list[tuple[str, float | None]]:
    """(what ran, CPU µs per delivery) for the table: the median of the runs at --messages, then
    the big run. Another configuration (more workers, say) is one more line here."""
    lines: list[tuple[str, float | None]] = []
    if res.runs:
        lines.append((f"{args.messages:,} messages", res.median_cpu_us))
    if res.big is not None:
        lines.append((f"{args.big_messages:,} messages", res.big.cpu_us))
    if res.split is not None:
        lines.append((f"--workers {args.workers}, {args.workers_messages:,}", res.split.cpu_us))
    return lines


def as_json(res: Results, args: argparse.Namespace) -> dict:
    def carbonc_run(r: CarboncRun) -> dict:
        m = r.measured
        return {"messages_asked": r.messages_asked, "orders": r.orders, "rows": r.rows, "reported": r.reported,
                "received": r.received, "wall_s": m and m.wall_s, "cpu_s": m and m.cpu_s,
                "peak_rss_mb": m and m.peak_rss_mb, "deliveries_per_s": r.per_s, "cpu_us_per_delivery": r.cpu_us,
                "send_phase_s": r.phase_s,
                "outcomes": r.outcomes, "problems": r.problems}

    legacy = res.legacy
    return {
        "cpu": os.cpu_count(), "loadavg": res.loadavg, "receiver": res.receiver, "notes": res.notes,
        "messages": args.messages, "wrk": res.wrk,
        "carbonc": [carbonc_run(r) for r in res.runs], "carbonc_median_per_s": res.median,
        "carbonc_median_cpu_us_per_delivery": res.median_cpu_us,
        "carbonc_big": carbonc_run(res.big) if res.big else None,
        "carbonc_workers": carbonc_run(res.split) if res.split else None,
        "every_attempt_recorded": res.all_recorded,
        "carbon_layer": None if legacy is None else {
            "total": legacy.total, "ok": legacy.ok, "received": legacy.received, "note": legacy.note,
            "wall_s": legacy.measured and legacy.measured.wall_s, "cpu_s": legacy.measured and legacy.measured.cpu_s,
            "peak_rss_mb": legacy.measured and legacy.measured.peak_rss_mb,
            "deliveries_per_s": legacy.per_s, "webhook_phase_s": legacy.phase_s},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000, help="webhooks per run (default 20,000)")
    ap.add_argument("--runs", type=int, default=3, help="carbonc runs; the median is reported")
    ap.add_argument("--big-messages", type=int, default=200_000,
                    help="one more carbonc run of this size (default 200,000; 0: none)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the split run (default 2; 0: none)")
    ap.add_argument("--workers-messages", type=int, default=200_000,
                    help="webhooks of the split run (default 200,000)")
    ap.add_argument("--receiver", choices=["auto", "nginx", "builtin"], default="auto")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--scenario", default="dispute-spike")
    ap.add_argument("--carbonc", default=f"{sys.executable} -m carbonc",
                    help="the command that runs carbonc (default: this Python's -m carbonc)")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get nginx/wrk or pip carbon-layer")
    ap.add_argument("--skip-carbonc", action="store_true")
    ap.add_argument("--skip-carbon-layer", action="store_true")
    ap.add_argument("--carbon-layer-venv", type=Path, default=Path("/tmp/carbon-layer-venv"))
    ap.add_argument("--json", action="store_true", help="print one JSON object after the table")
    args = ap.parse_args()
    results = measure(args)
    print_table(results, args)
    if args.json:
        print(json.dumps(as_json(results, args), indent=2))


if __name__ == "__main__":
    main()
