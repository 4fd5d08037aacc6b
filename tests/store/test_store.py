"""The store on a real DuckDB file: the contract's tables and columns, batches kept whole,
stale runs marked, and errors as messages."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import msgspec
import pytest

from carbonc.errors import StoreError
from carbonc.store import Batch, CheckRow, DeliveryRow, RunRow, default_path, open_store
from carbonc.store.schema import TABLES

DOCS = Path(__file__).parents[2] / "docs" / "store.md"

#: The contract (DESIGN.md): these columns, in these tables, under these names.
CONTRACT = {
    "runs": "run_id scenario source_sha256 plan_sha256 seed provider params started_at finished_at status version",
    "entities": "run_id entity_id kind parent_id state amount_minor currency attrs",
    "messages": "run_id message_id seq virtual_ms neutral_event provider_event entity_id fault signature_mode "
                "duplicate_of",
    "deliveries": "run_id delivery_id message_id attempt event_type signature_mode sent_at status_code latency_ms "
                  "error expected_verdict verdict_ok request_body response_snippet",
    "checks": "run_id kind name severity passed expected actual message",
}


def run_row(run_id: str = "run_1") -> RunRow:
    return RunRow(run_id=run_id, scenario="s", source_sha256="a" * 64, plan_sha256="", seed=1, provider="mock",
                  params='{"n":1}', started_at_ms=1_764_000_000_000, version="0.1.0")


def delivery(n: int, run_id: str = "run_1") -> DeliveryRow:
    return DeliveryRow(run_id, f"evt_{n}/1", f"evt_{n}", 1, "payment.captured", "valid", 1_764_000_000_000 + n, n,
                       200, 1.25, None, "2xx", False, "accept", True, f'{{"n":{n}}}', "ok")


def test_every_contract_column_exists(tmp_path):
    with open_store(tmp_path / "db.duckdb") as store:
        tables = store.tables()
    for table, columns in CONTRACT.items():
        assert set(columns.split()) <= set(tables[table]), table


def test_the_docs_list_every_column_in_order():
    text = DOCS.read_text(encoding="utf-8")
    for table, columns in TABLES.items():
        section = text.split(f"<!-- table:{table} -->", 1)[1].split("<!-- table:", 1)[0]
        documented = re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.M)
        assert documented == [(name, kind.split()[0]) for name, kind in columns], table


def test_rows_round_trip_and_runs_finish(tmp_path):
    path = tmp_path / "db.duckdb"
    with open_store(path) as store:
        store.begin_run(run_row())
        store.append(Batch(deliveries=[delivery(n) for n in range(3)],
                           checks=[CheckRow("run_1", "expect", "expect n == 1", "high", True, "n == 1", "n = 1", "ok")]))
        store.finish_run("run_1", "completed", 1_764_000_001_000, "b" * 64)
        _, rows = store.query("select status, plan_sha256, finished_at - started_at from runs")
        assert rows == [("completed", "b" * 64, __import__("datetime").timedelta(seconds=1))]
        _, rows = store.query("select delivery_id, sent_at, latency_ms, request_body from deliveries order by 1")
        assert [r[0] for r in rows] == ["evt_0/1", "evt_1/1", "evt_2/1"]
        assert rows[1][2] == 1.25 and rows[1][3] == '{"n":1}'


def test_request_bodies_are_stored_zstd_compressed(tmp_path):
    # ~1 KB JSON bodies: zstd takes them in for less CPU than DuckDB's default, in a third of the space.
    path = tmp_path / "db.duckdb"
    body = '{"entity":"event","payload":{"payment":{"entity":{"id":"pay_%06d","amount":250000}}}}'
    with open_store(path) as store:
        store.begin_run(run_row())
        store.append(Batch(deliveries=[msgspec.structs.replace(delivery(n), request_body=body % n)
                                       for n in range(2_000)]))
    with duckdb.connect(str(path), read_only=True) as con:
        kinds = con.execute("SELECT DISTINCT compression FROM pragma_storage_info('deliveries') "
                            "WHERE column_name = 'request_body' AND segment_type = 'VARCHAR'").fetchall()
        assert kinds == [("ZSTD",)]
        assert con.execute("SELECT request_body FROM deliveries WHERE delivery_id = 'evt_7/1'").fetchone() == (body % 7,)


def test_a_writer_with_no_room_to_set_data_aside_says_the_disk_is_full(tmp_path):
    # DuckDB spills what exceeds the writer's memory cap beside the file, up to 90% of the free
    # space there: on a nearly full disk that cap is what runs out first. Set here to nothing.
    with open_store(tmp_path / "db.duckdb") as store:
        store.release()
        store._config["max_temp_directory_size"] = "0KiB"
        store.begin_run(run_row())
        body = "x" * 1_500
        with pytest.raises(StoreError, match=r"no space left on the device holding .*what was recorded before"):
            for first in range(0, 100_000, 5_000):
                store.append(Batch(deliveries=[msgspec.structs.replace(delivery(first + n), request_body=body)
                                               for n in range(5_000)]), hold=True)
        assert first > 0  # batches before went in, and are kept: the failed one left nothing
        assert store.query("select count(*) from deliveries")[1] == [(first,)]


def test_a_run_left_running_is_marked_interrupted_on_open(tmp_path):
    path = tmp_path / "db.duckdb"
    with open_store(path) as store:
        store.begin_run(run_row())
        store.append(Batch(deliveries=[delivery(1)]))
    with open_store(path) as store:
        _, rows = store.query("select status, finished_at is not null from runs")
    assert rows == [("interrupted", True)]


def test_a_failing_batch_is_kept_out_whole(tmp_path):
    with open_store(tmp_path / "db.duckdb") as store:
        store.begin_run(run_row())
        bad = delivery(2)
        bad.sent_at_ms = "not a number"  # type: ignore[assignment]
        with pytest.raises(StoreError):
            store.append(Batch(deliveries=[delivery(1), bad]))
        _, rows = store.query("select count(*) from deliveries")
        assert rows == [(0,)]
        store.append(Batch(deliveries=[delivery(3)]))
        _, rows = store.query("select count(*) from deliveries")
        assert rows == [(1,)]


def test_a_writer_keeps_the_file_open_across_batches_until_released_or_for_hold_s(tmp_path, monkeypatch):
    import carbonc.store

    path = tmp_path / "db.duckdb"
    with open_store(path) as store:
        store.begin_run(run_row())
        store.append(Batch(deliveries=[delivery(1)]), hold=True)
        store.append(Batch(deliveries=[delivery(2)]), hold=True)
        assert store.holding
        store.release()  # what the writer does when rows stop coming: readers get in
        assert not store.holding
        with open_store(path, read_only=True) as reader:
            assert reader.query("select count(*) from deliveries")[1] == [(2,)]
        monkeypatch.setattr(carbonc.store, "HOLD_S", 0.0)
        store.append(Batch(deliveries=[delivery(3)]), hold=True)  # held past HOLD_S: closed after it
        assert not store.holding
        with open_store(path, read_only=True) as reader:
            assert reader.query("select count(*) from deliveries")[1] == [(3,)]
        monkeypatch.undo()
        bad = delivery(4)
        bad.sent_at_ms = "not a number"  # type: ignore[assignment]
        with pytest.raises(StoreError):
            store.append(Batch(deliveries=[bad]), hold=True)
        assert not store.holding  # a failed batch closes the file: nothing half-done stays open
        store.append(Batch(deliveries=[delivery(5)]), hold=True)
        store.finish_run("run_1", "completed", 1_764_000_001_000)
        assert store.holding  # kept open until the store is closed (or a reader asks)
        assert store.query("select count(*), max(delivery_id) from deliveries")[1] == [(4, "evt_5/1")]


def test_a_writer_lets_go_of_the_file_after_reading_it(tmp_path):
    # A replay reads between its sends, which may take long: readers must not be kept out.
    with open_store(tmp_path / "db.duckdb") as store:
        assert store.holding  # kept open for the run's start
        store.begin_run(run_row())
        assert store.query("select count(*) from runs")[1] == [(1,)]
        assert not store.holding


def test_bad_files_are_errors_not_crashes(tmp_path):
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"not a DuckDB database|cannot open"):
        open_store(garbage)
    assert garbage.read_bytes() == b"this is not a database" * 100
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)
    with pytest.raises(StoreError, match="no database"):
        open_store(tmp_path / "missing.duckdb", read_only=True)


def test_carbon_db_chooses_the_default_file(monkeypatch, tmp_path):
    monkeypatch.setenv("CARBON_DB", str(tmp_path / "x.duckdb"))
    assert default_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv("CARBON_DB")
    assert default_path() == Path.home() / ".carbon" / "carbon.duckdb"


def test_the_file_is_plain_duckdb(tmp_path):
    path = tmp_path / "db.duckdb"
    with open_store(path) as store:
        store.begin_run(run_row())
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("select scenario from runs").fetchall() == [("s",)]
    con.close()


def test_the_documented_queries_run_on_a_real_run(tmp_path):
    import servers
    from click.testing import CliRunner

    from carbonc.cli import main

    db = tmp_path / "db.duckdb"
    with servers.lax(status=503) as srv:  # every genuine message fails: the third query finds them all
        result = CliRunner().invoke(main, ["run", "dispute-spike", "--set", "baseline_orders=10", "--db", str(db),
                                           "--webhook-url", srv.url, "--timeout", "1"])
    assert result.exit_code == 0, result.output
    block = DOCS.read_text(encoding="utf-8").split("```sql", 1)[1].split("```", 1)[0]
    queries = [q for q in re.split(r";\s*\n", block) if q.strip()]
    assert len(queries) == 7
    con = duckdb.connect(str(db), read_only=True)
    try:
        run_id = con.execute("select run_id from runs").fetchone()[0]
        found = [con.execute(q, [run_id] * q.count("?")).fetchall() for q in queries]
        messages = con.execute("select count(*) from messages").fetchone()[0]
    finally:
        con.close()
    assert sum(n for *_, n in found[0]) > 0 and {outcome for _, outcome, _ in found[0]} == {"5xx"}
    assert found[1] == []  # nothing forged in dispute-spike
    assert len(found[2]) == messages == 34
    assert len(found[3]) == 1
    # The probes asked a state API that answers 503: every entity they selected is listed, with
    # what was observed, and each probe's polls over its `eventually` window are measured.
    assert found[4] and all(entity and "status = 503" in actual for _, entity, actual, _ in found[4])
    assert {name for name, *_ in found[4]} <= {name for name, *_ in found[5]}
    # One window for all probes, from when the deliveries settled: the first probe polls its
    # failing entities until it ends, those after it ask once.
    assert any(polls > 1 for *_, polls in found[5])
    # Through the report views: every message was a genuine one the gateway gave up on.
    assert [(fate, n) for fate, n, *_ in found[6]] == [("gave up", messages)]


def test_staging_lives_beside_the_database_and_stale_staging_is_cleared(tmp_path):
    path = tmp_path / "db.duckdb"
    stale = tmp_path / ".db.duckdb.stage-killed"  # what a run killed outright leaves behind
    stale.mkdir()
    (stale / "rows.ndjson").write_text("{}", encoding="utf-8")
    other = tmp_path / ".other.duckdb.stage-live"  # another database's: not ours to touch
    other.mkdir()
    with open_store(path) as store:
        assert not stale.exists() and other.exists()
        store.begin_run(run_row())
        store.append(Batch(checks=[CheckRow("r1", "expect", "x", None, True, "", "", "")]))
        assert str(store._stage_dir.name).startswith(str(tmp_path / ".db.duckdb.stage-"))


def test_a_workers_spool_is_recorded_by_the_runs_writer_a_whole_batch_at_a_time(tmp_path):
    from carbonc.store import open_spool

    db, spool = tmp_path / "runs.duckdb", tmp_path / "spool"
    spool.mkdir()
    with open_store(db) as store:
        store.begin_run(run_row())
        worker = open_spool(spool)
        worker.append(Batch(deliveries=[delivery(n) for n in range(3)]))
        worker.append(Batch(deliveries=[delivery(n) for n in range(3, 5)]))
        # A batch a worker was still writing when it died: never renamed, never recorded.
        (spool / ".staging-dead").mkdir()
        (spool / ".staging-dead" / "deliveries.1.ndjson").write_text("{\"half a row")
        with pytest.raises(StoreError, match="stages its rows"):
            worker.finish_run("run_1", "completed", 1)  # a worker never writes the database
        assert store.ingest_spool(spool) == 5
        assert store.ingest_spool(spool) == 0  # each batch once
        store.release()
        _, rows = store.query("SELECT delivery_id FROM deliveries ORDER BY delivery_id")
    assert rows == [(f"evt_{n}/1",) for n in range(5)]
    assert [p.name for p in spool.iterdir()] == [".staging-dead"]


@pytest.mark.parametrize("name", ["runs.1.ndjson", "deliveries.many.ndjson", "deliveries.ndjson", "notes.txt"])
def test_a_spool_batch_holding_anything_but_staged_rows_is_refused_and_nothing_of_it_recorded(name, tmp_path):
    db, spool = tmp_path / "runs.duckdb", tmp_path / "spool"
    (spool / "batch-1").mkdir(parents=True)
    (spool / "batch-1" / name).write_text("{}\n")
    with open_store(db) as store:
        store.begin_run(run_row())
        with pytest.raises(StoreError, match="holds something other than a worker's staged rows"):
            store.ingest_spool(spool)
        store.release()
        _, rows = store.query("SELECT count(*) FROM deliveries")
    assert rows == [(0,)]
