"""The store's report views: created with the tables, listed in docs/store.md one by one, and
there on a read-only open of a file made before they existed."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from stored_runs import write_fixed_run

from carbonc.store import open_store
from carbonc.store.views import view_names

DOCS = Path(__file__).resolve().parents[2] / "docs" / "store.md"


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
    assert rows == [("acknowledged", 1), ("forgery accepted", 1), ("gave up", 1), ("never sent", 1)]
