"""`carbonc runs`, `query` and `export` on real runs recorded in a real DuckDB file: what they
show, what they refuse (every statement that would write, before it runs), and that they never
change or create the database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import servers
from click.testing import CliRunner

from carbonc.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A database with two runs: one whose endpoint answers every webhook 200, one 500 (so its
    checks fail); their run ids, oldest first."""
    db = tmp_path_factory.mktemp("results") / "runs.duckdb"
    ids = []
    for status in (200, 500):
        with servers.lax(status=status) as srv:
            result = invoke("run", "dispute-spike", "--set", "baseline_orders=5", "--skip-probes", "--db", str(db),
                            "--webhook-url", srv.url + "/hooks", "--timeout", "1", "--output", "json")
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["run_id"])
    return db, ids


def test_runs_lists_the_newest_first_with_verdicts_and_counts(recorded):
    db, ids = recorded
    result = invoke("runs", "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["run_id"] for r in listed] == ids[::-1]
    failing, passing = listed
    assert passing["verdict"] == "passed" and failing["verdict"] == "failed"
    with duckdb.connect(str(db), read_only=True) as con:
        for row in listed:
            expected = con.execute(
                "select (select count(*) from messages where run_id = $1), "
                "(select count(*) from deliveries where run_id = $1), "
                "(select count(*) from deliveries where run_id = $1 and not verdict_ok)", [row["run_id"]]).fetchone()
            assert (row["messages"], row["deliveries"], row["mismatched"]) == expected
    assert passing["mismatched"] == 0 < failing["mismatched"]
    assert all(r["status"] == "completed" and r["duration_ms"] >= 0 and r["target"].endswith("/hooks")
               for r in listed)

    table = invoke("runs", "--db", str(db), "--limit", "1")
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()
    assert header.split()[:3] == ["RUN_ID", "SCENARIO", "PROVIDER"] and row.startswith(ids[1])
    assert "failed" in row.split()


def test_query_prints_rows_in_every_format_and_bounds_them(recorded):
    db, ids = recorded
    sql = "select run_id, count(*) as n from deliveries group by 1 order by 1"
    as_json = json.loads(invoke("query", sql, "--db", str(db), "--format", "json").stdout)
    assert [r["run_id"] for r in as_json] == sorted(ids) and all(r["n"] > 0 for r in as_json)
    as_csv = invoke("query", sql, "--db", str(db), "--format", "csv").stdout.splitlines()
    assert as_csv == ["run_id,n", *(f"{r['run_id']},{r['n']}" for r in as_json)]
    bounded = invoke("query", "select * from range(50)", "--db", str(db), "--limit", "7", "--format", "csv")
    assert bounded.exit_code == 0 and bounded.stdout.splitlines() == ["range", *map(str, range(7))]
    assert "only the first 7 rows" in bounded.stderr
    given = invoke("query", "select count(*) as n from runs where run_id = ?", "--param", ids[0], "--db", str(db),
                   "--format", "json")
    assert json.loads(given.stdout) == [{"n": 1}]


def test_control_characters_in_cells_are_escaped(recorded):
    db, _ = recorded
    sql = "select 'a' || chr(27) || '[31m' || chr(10) || 'b' || chr(7) as s"
    table = invoke("query", sql, "--db", str(db))
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "a\\x1b[31m\\nb\\x07" in table.stdout
    csv_text = invoke("query", sql, "--db", str(db), "--format", "csv").stdout
    assert "\x1b" not in csv_text and "a\\x1b[31m\nb\\x07" in csv_text  # CSV quotes the newline
    as_json = json.loads(invoke("query", sql, "--db", str(db), "--format", "json").stdout)
    assert as_json == [{"s": "a\x1b[31m\nb\x07"}]  # JSON escapes them itself


#: Statements that would change something, in or beside the database; each refused before it runs.
HOSTILE = [
    "insert into runs (run_id) values ('x')",
    "update runs set status = 'failed'",
    "delete from deliveries",
    "truncate checks",
    "create table t (a int)",
    "create temp table t as select 1",
    "create view v as select 1",
    "create macro m() as 1",
    "drop table runs",
    "alter table runs add column x int",
    "comment on table runs is 'x'",
    "attach 'other.duckdb' as other",
    "detach other",
    "copy runs to 'out.csv'",
    "copy (select * from runs) to 'out.parquet' (format parquet)",
    "copy runs from 'in.csv'",
    "export database 'dump'",
    "import database 'dump'",
    "install httpfs",
    "load httpfs",
    "set memory_limit = '1GB'",
    "pragma memory_limit = '1GB'",
    "pragma enable_profiling",
    "reset threads",
    "use memory",
    "call checkpoint()",
    "checkpoint",
    "vacuum",
    "begin transaction",
    "prepare p as delete from runs",
    "execute p",
    "explain analyze delete from runs",
    "with doomed as (select run_id from runs) delete from runs where run_id in (select run_id from doomed)",
    "merge into runs using (select 'x' as run_id) s on runs.run_id = s.run_id when matched then delete",
    "select 1; drop table runs",
    "drop table runs; select 1",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_query_refuses_every_statement_that_writes_and_changes_nothing(sql, recorded, tmp_path, monkeypatch):
    db, _ = recorded
    monkeypatch.chdir(tmp_path)  # where a COPY or EXPORT would write
    before = (db.read_bytes(), os.stat(db).st_mtime_ns, sorted(p.name for p in db.parent.iterdir()))
    result = invoke("query", sql, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert (db.read_bytes(), os.stat(db).st_mtime_ns, sorted(p.name for p in db.parent.iterdir())) == before
    assert list(tmp_path.iterdir()) == []


def test_query_allows_what_only_reads(recorded):
    db, _ = recorded
    for sql in ("describe runs", "show tables", "pragma table_info('runs')", "explain select * from runs",
                "from runs select count(*)", "summarize select 1"):
        result = invoke("query", sql, "--db", str(db))
        assert result.exit_code == 0, (sql, result.output)


@pytest.mark.parametrize(("args", "message"), [
    (["query", "selec 1"], r"error: Parser Error: syntax error at or near \"selec\""),
    (["query", "select nope from runs"], r"error: Binder Error: Referenced column \"nope\" not found"),
    (["query", ""], r"error: give exactly one SQL statement, not 0"),
    (["query", "select 1", "--limit", "0"], r"Invalid value for '--limit'"),
    (["query", "select 1", "--format", "xml"], r"Invalid value for '--format'"),
    (["runs", "--limit", "-1"], r"Invalid value for '--limit'"),
    (["export", "run_nope", "--parquet", "out"], r"error: no run `run_nope` in .*; the latest: run_"),
])
def test_bad_input_is_one_clear_line_and_exit_2(args, message, recorded):
    import re

    db, _ = recorded
    result = invoke(*args, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_a_missing_or_foreign_database_is_refused_and_never_created(tmp_path):
    missing = tmp_path / "none.duckdb"
    for args in (["runs"], ["query", "select 1"], ["export", "r", "--parquet", str(tmp_path / "out")]):
        result = invoke(*args, "--db", str(missing))
        assert result.exit_code == 2 and f"no database at `{missing}`" in result.stderr
    junk = tmp_path / "notes.duckdb"
    junk.write_bytes(b"my notes\n" * 500)
    result = invoke("runs", "--db", str(junk))
    assert result.exit_code == 2 and f"`{junk}` is not a DuckDB database" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]


def test_export_writes_one_parquet_file_per_table_with_that_run_only(recorded, tmp_path):
    db, ids = recorded
    out = tmp_path / "export"
    result = invoke("export", ids[0], "--parquet", str(out), "--db", str(db))
    assert result.exit_code == 0, result.output
    tables = ["runs", "entities", "messages", "deliveries", "checks"]
    # gateway_calls too: empty, since this run's gateway was simulated (no temporary left).
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in [*tables, "gateway_calls"])
    with duckdb.connect(str(db), read_only=True) as con:
        for table in tables:
            exported = con.execute(f"select * from read_parquet('{out / table}.parquet') order by all").fetchall()
            stored = con.execute(f"select * from {table} where run_id = ? order by all", [ids[0]]).fetchall()
            assert exported == stored and exported, table
            assert {row[0] for row in exported} == {ids[0]}


def test_export_to_a_directory_it_cannot_write_is_a_message(recorded, tmp_path):
    db, ids = recorded
    file_in_the_way = tmp_path / "afile"
    file_in_the_way.write_text("x")
    result = invoke("export", ids[0], "--parquet", str(file_in_the_way / "sub"), "--db", str(db))
    assert result.exit_code == 2 and "error: cannot create" in result.stderr and "Traceback" not in result.output

    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "runs.parquet").write_bytes(b"an older export")
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user every directory is writable to (root)")
        result = invoke("export", ids[0], "--parquet", str(locked), "--db", str(db))
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2 and f"error: cannot write `{locked / 'runs.parquet'}`" in result.stderr
    assert (locked / "runs.parquet").read_bytes() == b"an older export"
