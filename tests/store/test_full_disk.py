"""A run whose disk fills up: a clear message, exit 1, the run marked failed, and what was
recorded before kept. Uses a real 8 MB tmpfs (`small_disk`, tests/conftest.py; needs root): each
batch is checkpointed into the database file, which needs room for the old and new blocks at once,
so the first batch of this run does not fit on 2 MB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import servers
from click.testing import CliRunner

from carbonc.cli import main


def test_a_full_disk_fails_the_run_cleanly(small_disk: Path):
    db = small_disk / "runs.duckdb"
    with servers.lax() as srv:
        result = CliRunner().invoke(main, ["run", "dispute-spike", "--set", "baseline_orders=3000", "--db", str(db),
                                           "--webhook-url", srv.url, "--concurrency", "20"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"error: no space left on the device holding `{db}`" in result.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select status from runs").fetchall() == [("failed",)]
        assert con.execute("select count(*) from entities").fetchone()[0] > 0  # earlier batches kept
    finally:
        con.close()
