"""`carbonc compare` of two fixed runs: a handler that got worse, one that got better, and the
exit codes `--detailed-exitcode` gives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from stored_runs import STARTED_MS, write_fixed_run

from carbonc.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="carbonc")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.duckdb"
    write_fixed_run(path, "run_good", handler_fixed=True)
    write_fixed_run(path, "run_bad", started_ms=STARTED_MS + 60_000)
    return path


def test_a_check_that_got_worse_exits_3_with_detailed_exitcode(db: Path, snapshot) -> None:
    result = invoke("compare", "run_good", "run_bad", "--db", str(db), "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert result.stdout == snapshot


def test_without_detailed_exitcode_a_change_exits_0(db: Path) -> None:
    assert invoke("compare", "run_good", "run_bad", "--db", str(db)).exit_code == 0


def test_a_check_that_got_better_is_not_worse(db: Path) -> None:
    result = invoke("compare", "run_bad", "latest", "--db", str(db), "--detailed-exitcode", "--format", "json")
    assert result.exit_code == 0, result.output  # latest is run_bad itself: nothing changed
    result = invoke("compare", "run_bad", "run_good", "--db", str(db), "--detailed-exitcode", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["worse"] is False
    flipped = {c["name"]: (c["before"], c["after"]) for c in doc["checks"]}
    assert flipped["expect deliveries.mismatched == 0"] == ("FAIL", "ok")
    assert {e["key"]: (e["mismatched_before"], e["mismatched_after"]) for e in doc["errors"]} == {"timeout": (2, 0)}
    assert [lat["percentile"] for lat in doc["latency"]] == ["p50", "p95", "p99"]


def test_an_unknown_run_exits_2(db: Path) -> None:
    result = invoke("compare", "run_good", "run_nope", "--db", str(db))
    assert result.exit_code == 2 and "run_nope" in result.stderr and "run_bad" in result.stderr
