"""`carbonc report` of a fixed run, written through the real Store API into a real DuckDB file:
the terminal text and the JSON document as snapshots (no wall-clock time, no path in them), and
every way to ask for a run that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from stored_runs import write_fixed_run

from carbonc.cli import main
from carbonc.cli.legacy import main as legacy_main
from carbonc.store import Batch, CheckRow, open_store


def invoke(*args: str, command=main, env: dict[str, str] | None = None):
    return CliRunner().invoke(command, list(args), prog_name="carbonc", env=env)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.duckdb"
    write_fixed_run(path)
    return path


def test_terminal_report_of_a_fixed_run(db: Path, snapshot) -> None:
    result = invoke("report", "run_fixed_a", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert str(db.parent) not in result.stdout
    assert result.stdout == snapshot


def test_json_report_of_a_fixed_run(db: Path, snapshot) -> None:
    result = invoke("report", "run_fixed_a", "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format_version"] == 1
    assert doc == snapshot


def test_the_figures_add_up_to_the_tables(db: Path) -> None:
    """The views count what the tables hold: every attempt once, by event, by fault and by fate."""
    doc = json.loads(invoke("report", "run_fixed_a", "--db", str(db), "--format", "json").stdout)
    con = duckdb.connect(str(db), read_only=True)
    try:
        (attempts,) = con.execute("select count(*) from deliveries where run_id = 'run_fixed_a'").fetchone()
        (messages,) = con.execute("select count(*) from messages where run_id = 'run_fixed_a'").fetchone()
    finally:
        con.close()
    assert doc["totals"]["deliveries"] == attempts == 5
    assert sum(sum(e["outcomes"].values()) for e in doc["by_event"]) == attempts
    assert sum(v["ok"] + v["mismatched"] for v in doc["by_fault"]) == attempts
    assert sum(f["messages"] for f in doc["fates"]) == messages == 4
    assert {f["fate"] for f in doc["fates"]} == {"acknowledged", "gave up", "forgery accepted", "never sent"}
    assert doc["latency"]["p50"] == 12.5  # nearest rank of 3.25, 4, 12.5, 5000, 5000
    assert [t["entity_id"] for t in doc["timelines"]] == ["pay_B"]
    assert doc["errors"][0]["error"] == "timeout" and "--timeout" in doc["errors"][0]["hint"]


def test_latest_is_the_most_recently_started_run(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    write_fixed_run(db, "run_later", started_ms=1_800_000_000_000)
    write_fixed_run(db, "run_earlier", started_ms=1_700_000_000_000)
    result = invoke("report", "latest", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Run run_later:")


def test_an_unknown_run_names_the_latest_runs_and_exits_2(db: Path) -> None:
    result = invoke("report", "run_nope", "--db", str(db))
    assert result.exit_code == 2
    assert "no run `run_nope`" in result.stderr and "run_fixed_a" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", [None, b"not a database at all\n", b""])
def test_a_missing_or_foreign_database_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "x.duckdb"
    if content is not None:
        path.write_bytes(content)
    result = invoke("report", "latest", "--db", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_latest_in_an_empty_database_says_there_is_no_run(tmp_path: Path) -> None:
    from carbonc.store import open_store

    open_store(tmp_path / "empty.duckdb").close()
    result = invoke("report", "latest", "--db", str(tmp_path / "empty.duckdb"))
    assert result.exit_code == 2 and "no run is recorded" in result.stderr


def test_bad_flag_values_exit_2(db: Path) -> None:
    assert invoke("report", "latest", "--db", str(db), "--format", "pdf").exit_code == 2
    assert invoke("report", "latest", "--db", "").exit_code == 2


def test_an_unwritable_out_is_a_clear_error(db: Path, tmp_path: Path) -> None:
    result = invoke("report", "run_fixed_a", "--db", str(db), "--format", "json",
                    "--out", str(tmp_path / "no" / "such" / "dir" / "r.json"))
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_out_writes_the_file_whole(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = invoke("report", "run_fixed_a", "--db", str(db), "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["run"]["run_id"] == "run_fixed_a"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json")] == []


def test_html_goes_to_carbon_report_run_id_in_the_working_directory(db: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = invoke("report", "run_fixed_a", "--db", str(db), "--format", "html")
    assert result.exit_code == 0, result.output
    page = (work / "carbon_report_run_fixed_a.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    # The endpoint's `try again <later>` is text, not a tag.
    assert "try again &lt;later&gt;" in page and "<later>" not in page


def test_legacy_carbon_report_by_argument_and_by_run_id(db: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"CARBON_DB": str(db)}
    by_argument = invoke("report", "run_fixed_a", command=legacy_main, env=env)
    by_option = invoke("report", "--run-id", "run_fixed_a", command=legacy_main, env=env)
    assert by_argument.exit_code == by_option.exit_code == 0, by_argument.output + by_option.output
    assert by_argument.stdout == by_option.stdout == invoke("report", "run_fixed_a", "--db", str(db)).stdout
    html = invoke("report", "--run-id", "run_fixed_a", "--format", "html", command=legacy_main, env=env)
    assert html.exit_code == 0, html.output
    assert (tmp_path / "carbon_report_run_fixed_a.html").is_file()
    missing = invoke("report", command=legacy_main, env=env)
    assert missing.exit_code == 2 and "which run" in missing.stderr
    unknown = invoke("report", "--run-id", "run_nope", command=legacy_main, env=env)
    assert unknown.exit_code == 2 and "run_fixed_a" in unknown.stderr


def test_a_finding_that_did_not_fire_says_so_not_its_message(db: Path, tmp_path: Path) -> None:
    # Its message is what it reports when it fires; shown beside "ok" it read as if it had.
    with open_store(db) as store:
        store.append(Batch(checks=[CheckRow("run_fixed_a", "finding", "finding when refunds > 9", "low", True,
                                            "refunds > 9", "refunds = 1", "a refund storm hit the merchant",
                                            "scenario")]))
    out = tmp_path / "r.html"
    assert invoke("report", "run_fixed_a", "--db", str(db), "--format", "html", "--out", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "finding when refunds &gt; 9" in page and "a refund storm hit the merchant" not in page
    assert "did not fire" in page
