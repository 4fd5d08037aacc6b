"""A run split by order tree is the same run: two shards run as separate processes and merged,
and a run with `--workers 2`, record the same rows (but for what belongs to the run itself: its
id, wall-clock times, latencies, and what is signed with the time) and the same verdicts as one
unsharded run of the same plan, against the demo merchant served on 127.0.0.1 with a planted bug
so that some verdicts fail."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from demo import PREVIOUS_SECRET, REPO, carbonc, merchant, recorded

#: Duplicated captures and refunds: the not-idempotent merchant fails per-entity probes and the
#: ledger, a probe `once` for the run. What it books depends on the order events arrive in, and
#: attempts in flight together may arrive in any order: one in flight per process makes the
#: arrival order the plan's within each order tree, in a whole run and in a split one alike.
SCENARIO, BUG, PARAMS = "refund-storm", "not-idempotent", ["--set", "baseline_orders=60", "--concurrency", "1"]

#: The columns of each table that say what happened, not when or how fast.
COLUMNS = {
    "entities": "* EXCLUDE (run_id)",
    "messages": "* EXCLUDE (run_id)",
    "deliveries": "delivery_id, message_id, attempt, event_type, signature_mode, virtual_ms, status_code, error, "
                  "outcome, failed, expected_verdict, verdict_ok, request_body, request_headers",
    "checks": "kind, name, severity, passed, expected, actual, message, subject, entity_id",
}

#: A number this close to now is a timestamp the gateway wrote into a body (epoch s or ms).
_NOW = time.time()


def _timeless(value: Any) -> Any:
    """A body with its timestamps replaced: they say when the run started, not what it sent."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and (
            abs(value - _NOW) < 10 * 86_400 or abs(value - _NOW * 1000) < 10 * 86_400_000):
        return "<time>"
    return value


def _rows(db: Path, table: str, where: str = "") -> list[tuple]:
    rows = recorded(db, f"SELECT {COLUMNS[table]} FROM {table} {where} ORDER BY ALL")
    if table != "deliveries":
        return rows
    out = []
    for row in rows:
        *head, body, headers = row
        signed = {k: ("<signature>" if "signature" in k.lower() else v) for k, v in json.loads(headers).items()}
        out.append((*head, _timeless(json.loads(body)), signed))
    return sorted(out, key=repr)


def _run(db: Path, url: str, *extra: str, plan: tuple[str, ...] = (SCENARIO, *PARAMS)) -> list[str]:
    return [sys.executable, "-m", "carbonc", "run", *plan, "--webhook-url", f"{url}/webhooks/razorpay",
            "--webhook-previous-secret", PREVIOUS_SECRET, "--db", str(db), *extra]


def _whole(tmp_path: Path) -> Path:
    db = tmp_path / "whole.duckdb"
    with merchant(BUG) as url:
        done = subprocess.run(_run(db, url), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return db


def _assert_same_rows(whole: Path, merged: Path, *, once: bool) -> None:
    for table in ("entities", "messages", "deliveries"):
        a, b = _rows(whole, table), _rows(merged, table)
        assert len(a) == len(b) and a == b, table
    # Every entity a probe asked about: judged the same, with the same observation and reason
    # (and, with `once`, the probes of the whole run, whose one row is for `(run)`).
    entity_verdicts = "WHERE entity_id IS NOT NULL" + ("" if once else " AND entity_id != '(run)'")
    assert _rows(whole, "checks", entity_verdicts) == _rows(merged, "checks", entity_verdicts)


def _summaries(db: Path) -> dict[str, tuple]:
    """Each check's and probe's verdict for the run: (passed, expected, actual)."""
    return {f"{kind} {name}": (passed, expected, actual) for kind, name, passed, expected, actual in recorded(
        db, "SELECT kind, name, passed, expected, actual FROM checks WHERE entity_id IS NULL")}


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _whole(tmp_path_factory.mktemp("whole"))


def test_two_shards_merged_equal_one_unsharded_run(whole: Path, tmp_path: Path) -> None:
    with merchant(BUG) as url:
        shards = [subprocess.Popen(_run(tmp_path / f"shard-{k}.duckdb", url, "--shard", f"{k}/2"), cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (1, 2)]
        outputs = [p.communicate(timeout=300) for p in shards]
    for proc, (out, err) in zip(shards, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "only this shard's order trees are sent" in err
    sizes = [recorded(tmp_path / f"shard-{k}.duckdb", "SELECT count(*) FROM messages")[0][0] for k in (1, 2)]
    assert all(sizes) and sum(sizes) == recorded(whole, "SELECT count(*) FROM messages")[0][0]

    merged = tmp_path / "merged.duckdb"
    done = carbonc("merge", str(tmp_path / "shard-2.duckdb"), str(tmp_path / "shard-1.duckdb"), "--into", str(merged))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"merged 2 shards into run run_\w+ in .*merged\.duckdb: completed", done.stderr)
    assert "FAIL oracle idempotency" in done.stdout  # the merged run reported, its failures named

    _assert_same_rows(whole, merged, once=False)
    expected, got = _summaries(whole), _summaries(merged)
    # The probe of the whole run (the ledger) needs every shard done: a shard cannot send it.
    once = [name for name in expected if "once" in name]
    assert once and expected.keys() == got.keys()
    for name in once:
        assert got.pop(name) == (None, expected.pop(name)[1], None)
    assert got == expected
    assert any(passed is False for passed, _, _ in got.values())  # the bug was caught, in both
    message = recorded(merged, "SELECT message FROM checks WHERE name LIKE '%once' AND entity_id IS NULL")
    assert message == [("not judged: a probe of the whole run is not sent by a shard (`carbonc run --workers N` "
                        "sends it once every shard is done)",)]
    run = recorded(merged, "SELECT status, shard, merged_from, plan_sha256 FROM runs")
    shard_runs = [recorded(tmp_path / f"shard-{k}.duckdb", "SELECT run_id, plan_sha256 FROM runs")[0] for k in (1, 2)]
    assert run == [("completed", None, ",".join(r[0] for r in shard_runs), shard_runs[0][1])]


def test_workers_give_one_run_equal_to_an_unsharded_one(whole: Path, tmp_path: Path) -> None:
    db = tmp_path / "workers.duckdb"
    with merchant(BUG) as url:
        done = subprocess.run(_run(db, url, "--workers", "2", "--concurrency", "2"), cwd=REPO, capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_rows(whole, db, once=True)
    assert _summaries(db) == _summaries(whole)  # the ledger too: sent once every worker was done
    assert recorded(db, "SELECT count(*), min(workers) FROM runs") == [(1, 2)]
    # The plan the workers were handed, saved in bulk, is the plan compiled for the whole run.
    assert recorded(db, "SELECT plan_sha256 FROM runs") == recorded(whole, "SELECT plan_sha256 FROM runs")
    assert not list(tmp_path.glob(".workers.duckdb.*")), "the plan saved for the workers is gone"
    assert "FAIL oracle idempotency" in done.stdout and "timeline of its order, as sent:" in done.stdout


def test_workers_running_a_saved_plan_give_one_run_equal_to_an_unsharded_one(whole: Path, tmp_path: Path) -> None:
    # A saved plan's entities are looked up in its index on disk, and its probes' selections
    # stay in the file: each worker reads its own trees', the parent all of them to join.
    saved = tmp_path / "plan.ndjson"
    done = carbonc("plan", SCENARIO, "--set", "baseline_orders=60", "--out", str(saved))
    assert done.returncode == 0, done.stdout + done.stderr
    db = tmp_path / "workers.duckdb"
    with merchant(BUG) as url:
        done = subprocess.run(_run(db, url, "--workers", "2", "--concurrency", "2", plan=(str(saved),)), cwd=REPO,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_rows(whole, db, once=True)
    assert _summaries(db) == _summaries(whole)
    assert recorded(db, "SELECT plan_sha256 FROM runs") == recorded(whole, "SELECT plan_sha256 FROM runs") == [
        (hashlib.sha256(saved.read_bytes()).hexdigest(),)]
