"""Reading a database while `carbonc run` writes it, from other processes: `runs`, `query`,
`report` and `open_store(read_only=True)` see the run as far as its committed batches go, never part of a
batch, and a read that takes too long is cut off rather than holding the run up.

The run is a real process, held mid-way by a `Gate` endpoint that answers a fixed number of
requests and holds the rest, so what it has recorded is known exactly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gate import Gate
from processes import background

from carbonc.store import open_store

CLI = [sys.executable, "-c", "from carbonc.cli import main; main()"]
WAIT_S = 60.0
WORKERS = 4
#: Far more deliveries than the gate lets through.
LONG_RUN = ("dispute-spike", "--skip-probes", "--set", "baseline_orders=3000", "--concurrency", str(WORKERS),
            "--timeout", "300")


@pytest.fixture
def started(subprocess_env: dict[str, str], tmp_path: Path):
    """`start(*args)` runs `carbonc ARGS...` in the background; every process is killed at teardown."""
    with background(subprocess_env, tmp_path) as start:
        yield lambda *args: start([*CLI, *args])


def carbonc(subprocess_env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=subprocess_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=WAIT_S)


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {WAIT_S:.0f} s waiting until {what}")
        time.sleep(0.05)


def recorded(db: Path) -> int:
    with open_store(db, read_only=True) as store:
        return store.query("select count(*) from deliveries")[1][0][0]


def test_runs_and_query_read_a_database_a_run_is_writing(started, subprocess_env, tmp_path):
    db = tmp_path / "runs.duckdb"
    answered = 1500
    with Gate(open_for=answered) as gate:
        run = started("run", *LONG_RUN, "--webhook-url", gate.url, "--db", str(db), "--output", "json")
        wait_until(lambda: len(gate.server.requests) >= answered + WORKERS, "the gate holds every worker")
        # Every answered attempt reaches the database within a flush interval or two.
        wait_until(lambda: recorded(db) == answered, "the answered deliveries are recorded")

        listed = carbonc(subprocess_env, tmp_path, "runs", "--db", str(db), "--format", "json")
        assert listed.returncode == 0, listed.stderr
        [summary] = json.loads(listed.stdout)
        assert summary["status"] == "running" and summary["verdict"] == "not judged"
        assert summary["deliveries"] == answered and summary["duration_ms"] is None
        assert summary["target"] == gate.url + "/"

        asked = carbonc(subprocess_env, tmp_path, "query", "--db", str(db), "--format", "json",
                        "select count(*) as n, count(distinct request_body) as bodies from deliveries")
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout) == [{"n": answered, "bodies": answered}]

        reported = carbonc(subprocess_env, tmp_path, "report", "latest", "--db", str(db), "--format", "json")
        assert reported.returncode == 0, reported.stderr
        report = json.loads(reported.stdout)
        assert report["run"]["status"] == "running" and report["totals"]["deliveries"] == answered

        # What a reader sees is whole batches: every delivery's message and entity came with it.
        with open_store(db, read_only=True) as store:
            orphans = store.query("select count(*) from deliveries d anti join messages m using (run_id, message_id)")
            bodies = store.query("select request_body from deliveries")[1]
        assert orphans[1] == [(0,)]
        assert sorted(body for body, in bodies) == sorted(body.decode() for body in gate.answered)

        # A second run is still refused while the first writes, naming it.
        second = carbonc(subprocess_env, tmp_path, "run", "dispute-spike", "--set", "baseline_orders=2",
                         "--db", str(db))
        assert second.returncode == 1
        assert f"is in use by another carbonc process (pid {run.pid})" in second.stderr
        assert run.poll() is None

        gate.release()
        out, err = run.communicate(timeout=WAIT_S)
    assert run.returncode == 0, err
    doc = json.loads(out)
    listed = carbonc(subprocess_env, tmp_path, "runs", "--db", str(db), "--format", "json")
    [summary] = json.loads(listed.stdout)
    assert summary["status"] == "completed" and summary["deliveries"] == doc["deliveries"]["total"] > answered
    assert not (tmp_path / "runs.duckdb.lock").exists()


def test_a_long_read_is_cut_off_so_the_run_it_holds_up_goes_on(started, subprocess_env, tmp_path):
    from carbonc.store.access import READ_DEADLINE_S

    db = tmp_path / "runs.duckdb"
    with Gate(open_for=200) as gate:
        run = started("run", *LONG_RUN, "--webhook-url", gate.url, "--db", str(db), "--output", "json")
        wait_until(lambda: db.exists() and recorded(db) > 0, "the run has recorded something")
        began = time.monotonic()
        slow = carbonc(subprocess_env, tmp_path, "query", "--db", str(db),
                       "select count(*) from range(1000000) a, range(1000000) b where a.range + b.range = -1")
        took = time.monotonic() - began
        assert slow.returncode == 2
        assert f"took more than {READ_DEADLINE_S:.0f} s, the longest a read may hold the file" in slow.stderr
        assert READ_DEADLINE_S <= took < READ_DEADLINE_S + 15
        # The run was never refused the file: it goes on, and finishes once let through.
        assert run.poll() is None
        gate.release()
        out, err = run.communicate(timeout=WAIT_S)
    assert run.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    assert recorded(db) == json.loads(out)["deliveries"]["total"]
