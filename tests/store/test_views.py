"""The store's report views: created with the tables, listed in docs/store.md one by one, there
on a read-only open of a file made before they existed, and made again only when a file's are
not this carbonc's."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from stored_runs import write_fixed_run

import carbonc.store
from carbonc.store import open_store
from carbonc.store.views import view_names, views_mark

DOCS = Path(__file__).resolve().parents[2] / "docs" / "store.md"
#: The fixed run's fates (`stored_runs.write_fixed_run`), as `report_fates` gives them.
FIXED_FATES = [("acknowledged", 1), ("forgery accepted", 1), ("gave up", 1), ("never sent", 1)]


def test_every_view_is_created_with_the_tables(tmp_path: Path) -> None:
    open_store(tmp_path / "db.duckdb").close()
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    try:
        made = {row[0] for row in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
    finally:
        con.close()
    assert set(view_names()) == made
    assert len(view_names()) >= 10


def test_every_view_is_documented_in_docs_store_md() -> None:
    documented = set(re.findall(r"<!-- view:(\w+) -->", DOCS.read_text(encoding="utf-8")))
    assert documented == set(view_names())


def test_a_file_made_before_the_views_gets_them_on_a_read_only_open(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    write_fixed_run(db)
    con = duckdb.connect(str(db))
    for name in view_names():
        con.execute(f"DROP VIEW {name}")
    con.close()
    store = open_store(db, read_only=True)
    try:
        _, rows = store.query("select fate, messages from report_fates where run_id = 'run_fixed_a' order by fate")
    finally:
        store.close()
    assert rows == FIXED_FATES


def _fates(db: Path) -> list[tuple[object, ...]]:
    """The fixed run's fates, as a reader (`carbonc report`) reads them."""
    with open_store(db, read_only=True) as reader:
        return reader.query("select fate, messages from report_fates where run_id = 'run_fixed_a' order by fate")[1]


def _marks(db: Path) -> dict[str, str | None]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute("select view_name, comment from duckdb_views() where not internal").fetchall())
    finally:
        con.close()


def _all_marked(db: Path) -> bool:
    return _marks(db) == dict.fromkeys(view_names(), views_mark())


def _counting_view_statements(monkeypatch) -> list[bool]:
    """Each time the store asks for the views' statements: whether for temporary views."""
    asked: list[bool] = []
    real = carbonc.store.view_statements

    def view_statements(*, temporary: bool = False) -> list[str]:
        asked.append(temporary)
        return real(temporary=temporary)

    monkeypatch.setattr(carbonc.store, "view_statements", view_statements)
    return asked


def test_a_current_file_is_opened_without_making_its_views_again(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "db.duckdb"
    asked = _counting_view_statements(monkeypatch)
    open_store(db).close()
    assert asked == [False] and _all_marked(db)
    open_store(db).close()  # a writer
    assert _fates(db) == []  # a reader
    assert asked == [False]


def test_a_file_from_an_older_carbonc_is_brought_up_to_date(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "old.duckdb"
    write_fixed_run(db)
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE runs DROP COLUMN workers")  # a column added since
    con.execute(f"CREATE OR REPLACE VIEW {view_names()[-1]} AS SELECT 1 AS older")  # an older view, unmarked
    con.close()
    asked = _counting_view_statements(monkeypatch)
    assert _fates(db) == FIXED_FATES  # the reader's own views shadow the file's
    assert asked and all(asked)  # each of the reader's sessions
    asked.clear()
    open_store(db).close()  # a writer makes the file's own views again, and marks them
    assert asked == [False] and _all_marked(db)
    with open_store(db) as store:
        assert "workers" in store.tables()["runs"]
        store.query(f"select * from {view_names()[-1]} limit 0")
    assert _fates(db) == FIXED_FATES
    assert asked == [False]


def test_a_view_replaced_or_dropped_by_hand_is_made_again(tmp_path: Path, monkeypatch) -> None:
    # Any view, not only the last: each carries its own mark, which replacing it clears.
    db = tmp_path / "db.duckdb"
    write_fixed_run(db)
    first = view_names()[0]
    con = duckdb.connect(str(db))
    con.execute(f"CREATE OR REPLACE VIEW {first} AS SELECT 1 AS mine")
    con.execute("DROP VIEW report_fates")
    con.close()
    assert not _all_marked(db)
    assert _fates(db) == FIXED_FATES  # the reader's own views shadow the file's
    with open_store(db, read_only=True) as reader:
        assert "mine" not in reader.query(f"select * from {first} limit 0")[0]
    open_store(db).close()
    assert _all_marked(db)
