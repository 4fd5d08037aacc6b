"""`carbonc run --workers N`, `--shard K/N` and `carbonc merge` as real processes against real
servers on 127.0.0.1, each with its own DuckDB files: a workers run whose worker is killed, the
shards' split, and every input that must be refused without a traceback. (That merged shards
equal one run is tests/examples/test_scale.py; a workers run interrupted, test_run_process.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from gate import Gate
from processes import WAIT_S, WORKERS, no_traceback, query, wait_requests, wait_until

from carbonc.exec.shards import Shard, shard_of

SMALL = ("dispute-spike", "--set", "baseline_orders=40")


def test_every_order_tree_falls_to_exactly_one_shard() -> None:
    roots = [f"order_{n:06d}" for n in range(3000)]
    for count in (1, 2, 3, 7):
        owners = [[k for k in range(1, count + 1) if Shard(k, count).owns(root)] for root in roots]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [k] for o in owners) for k in range(1, count + 1)]
        assert min(sizes) > 0.85 * len(roots) / count  # spread evenly enough to share the work
    assert shard_of("order_000001", 5) == shard_of("order_000001", 5)  # a pure function of the id


@pytest.mark.parametrize(("text", "message"), [
    ("0/2", "shard 0 of 2 does not exist"), ("3/2", "shard 3 of 2 does not exist"),
    ("1/0", "the number of shards must be 1 to 1024"), ("a/b", "is not K/N"), ("1/2/3", "is not K/N"),
])
def test_a_bad_shard_is_refused(text: str, message: str, carbonc, tmp_path: Path) -> None:
    done = carbonc.run("run", *SMALL, "--shard", text, "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    no_traceback(done.stdout, done.stderr)
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--app", "tests.nothing:app"], "--workers needs --webhook-url: an --app runs inside one process"),
    ([], "--workers needs --webhook-url: without a target there is nothing to share out"),
    (["--webhook-url", "http://127.0.0.1:9/h", "--shard", "1/2"], "give --shard or --workers, not both"),
])
def test_a_run_that_cannot_be_split_is_refused(args: list[str], message: str, carbonc, tmp_path: Path) -> None:
    if "--app" in args:
        (tmp_path / "shop.py").write_text("async def app(scope, receive, send):\n    pass\n")
        args = ["--app", "shop:app"]
    done = carbonc.run("run", *SMALL, "--workers", "2", *args, "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    no_traceback(done.stdout, done.stderr)
    assert not (tmp_path / "x.duckdb").exists()


def _shards(carbonc, tmp_path: Path, count: int, *extra: str) -> list[Path]:
    files = []
    for k in range(1, count + 1):
        db = tmp_path / f"shard-{k}.duckdb"
        done = carbonc.run("run", *SMALL, "--shard", f"{k}/{count}", "--db", str(db), *extra)
        assert done.returncode == 0, done.stderr
        files.append(db)
    return files


def test_shards_without_a_target_merge_into_the_whole_gateway_side(carbonc, tmp_path: Path) -> None:
    files = _shards(carbonc, tmp_path, 3)
    whole = tmp_path / "whole.duckdb"
    assert carbonc.run("run", *SMALL, "--db", str(whole)).returncode == 0
    merged = tmp_path / "merged.duckdb"
    done = carbonc.run("merge", *map(str, files), "--into", str(merged), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["run"]["status"] == "completed"
    for table in ("entities", "messages"):
        assert query(merged, f"select * exclude (run_id) from {table} order by all") == query(
            whole, f"select * exclude (run_id) from {table} order by all")
    # The scenario's facts judged over the whole plan, the handler's not judged (no target), as
    # in the unsharded run.
    verdicts = "select kind, name, passed, actual, message from checks order by all"
    assert query(merged, verdicts) == query(whole, verdicts)
    assert query(merged, "select count(*) from checks where kind = 'expect' and passed") != [(0,)]


def test_merge_refuses_files_that_are_not_the_shards_of_one_run(carbonc, tmp_path: Path) -> None:
    one, two = _shards(carbonc, tmp_path, 2)
    other = tmp_path / "other"
    other.mkdir()
    (different,) = [p for p in _shards(carbonc, other, 2, "--seed", "9") if p.name == "shard-2.duckdb"]
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_text("not a database\n")
    plain = tmp_path / "plain.duckdb"
    assert carbonc.run("run", *SMALL, "--db", str(plain)).returncode == 0
    into = tmp_path / "into.duckdb"
    cases = [
        ([one], "the files are not the 2 shards of one run: missing shard 2/2"),
        ([one, one], "shard 1/2 given twice"),
        ([one, different], "ran different plans or runs: their seed differ"),
        ([one, plain], "holds no shard run"),
        ([one, garbage], "is not a DuckDB database"),
        ([one, tmp_path / "nowhere.duckdb"], "no shard file at"),
    ]
    for files, message in cases:
        done = carbonc.run("merge", *map(str, files), "--into", str(into))
        assert done.returncode == 2 and message in done.stderr, (files, done.stderr)
        no_traceback(done.stdout, done.stderr)
    done = carbonc.run("merge", str(one), str(two), "--into", str(one))
    assert done.returncode == 2 and "is one of the shards" in done.stderr
    assert not into.exists()
    # A file with two shard runs is ambiguous.
    assert carbonc.run("run", *SMALL, "--shard", "1/2", "--db", str(one)).returncode == 0
    done = carbonc.run("merge", str(one), str(two), "--into", str(into))
    assert done.returncode == 2 and "holds 2 shard runs" in done.stderr


def _workers_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def test_a_killed_worker_fails_the_run_and_keeps_what_the_others_recorded(carbonc, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    answered = 40
    with Gate(open_for=answered) as gate:
        proc = carbonc.start("run", "dispute-spike", "--set", "baseline_orders=200", "--concurrency", str(WORKERS),
                             "--timeout", "300", "--workers", "2", "--webhook-url", gate.url, "--db", str(db),
                             "--output", "json")
        wait_requests(gate.server, answered + WORKERS, proc)
        wait_until(lambda: len(_workers_of(proc.pid)) == 2, "both workers are seen")
        victim = _workers_of(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        gate.release()
        out, err = proc.communicate(timeout=WAIT_S)
        received = gate.server.requests
    assert proc.returncode == 1, err
    no_traceback(out, err)
    doc = json.loads(out)
    assert doc["status"] == "failed"
    assert re.search(r"worker [12]/2 exited with code -9 before reporting", doc["error"] or ""), doc
    assert query(db, "select status from runs") == [("failed",)]
    # The surviving worker finished its trees; whatever the killed one flushed is kept. Nothing
    # recorded was not sent.
    bodies = {r.body.decode() for r in received}
    recorded = [body for body, in query(db, "select request_body from deliveries")]
    assert recorded and set(recorded) <= bodies
    # The run is incomplete: nothing is judged of it as a whole. What the surviving worker's
    # probes found of its own entities is recorded, and kept.
    assert query(db, "select count(*) from checks where entity_id is null") == [(0,)]


def test_auto_splits_only_a_large_run_sent_as_fast_as_possible_to_a_url() -> None:
    from carbonc.exec import RunOptions
    from carbonc.exec.workers import AUTO_MIN_DELIVERIES, auto_workers

    url = "http://127.0.0.1:9/hooks"
    cores = len(os.sched_getaffinity(0))
    big = AUTO_MIN_DELIVERIES
    assert auto_workers(big, RunOptions(url=url, concurrency=50)) == min(cores, 4)
    assert auto_workers(big - 1, RunOptions(url=url, concurrency=50)) == 1
    assert auto_workers(big, RunOptions(concurrency=50)) == 1  # nothing to send
    assert auto_workers(big, RunOptions(url=url, concurrency=50, time_scale=1.0)) == 1  # paced, not CPU-bound
    assert auto_workers(big, RunOptions(url=url, concurrency=50, shard=Shard(1, 2))) == 1
    assert auto_workers(big, RunOptions(url=url, concurrency=1)) == 1


def test_the_concurrency_is_shared_out_and_each_worker_keeps_one_request_in_flight() -> None:
    from carbonc.errors import ExecutionError
    from carbonc.exec import RunOptions
    from carbonc.exec.workers import worker_options

    url = "http://127.0.0.1:9/hooks"
    assert [o.concurrency for o in worker_options(RunOptions(url=url, concurrency=10), 3)] == [4, 3, 3]
    assert [o.concurrency for o in worker_options(RunOptions(url=url, concurrency=2), 2)] == [1, 1]
    with pytest.raises(ExecutionError, match="--workers 3 needs --concurrency 3 or more"):
        worker_options(RunOptions(url=url, concurrency=2), 3)


@pytest.mark.parametrize(("failure", "says"), [
    (OSError(28, "No space left on device"), "cannot write the plan for the workers"),
    (ValueError("a bug"), "internal error: writing the plan for the workers: ValueError: a bug"),
])
def test_a_plan_that_cannot_be_written_for_the_workers_fails_the_run_and_stops_them(
        failure: Exception, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The workers start while the run writes their plan and read it as it grows; a plan that
    # cannot be written (a full disk) fails the run, saying why, and stops them.
    import servers

    from carbonc import api
    from carbonc.exec import RunOptions
    from carbonc.exec import workers as workers_module
    from carbonc.plan import saved

    def full_disk(plan, path: Path) -> None:
        raise failure

    started: list = []
    spawn = workers_module._Worker.__init__

    def spawned(self, spec) -> None:
        spawn(self, spec)
        started.append(self.proc)

    monkeypatch.setattr(saved, "write_growing", full_disk)
    monkeypatch.setattr(workers_module._Worker, "__init__", spawned)
    plan = api.load_plan(Path(__file__).resolve().parents[2] / "scenarios" / "dispute-spike.carbon",
                         overrides={"baseline_orders": "50"})
    assert not isinstance(plan, api.CheckResult)
    with servers.lax() as srv:
        prepared = api.prepare_run(plan, RunOptions(url=srv.url, concurrency=4)).prepared
        result = workers_module.WorkersRun(prepared, 2).execute(tmp_path / "runs.duckdb")
        assert not srv.requests
    assert result.status == "failed"
    assert says in (result.error or ""), result.error
    assert len(started) == 2 and all(proc.poll() is not None for proc in started)
