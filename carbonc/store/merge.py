"""Reads shard runs out of their DuckDB files and copies their rows into one run of another file,
for `carbonc merge` and `carbonc run --workers`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from carbonc.errors import StoreError
from carbonc.store.engine import duckdb
from carbonc.store.schema import TABLES

if TYPE_CHECKING:
    from carbonc.store import Store

ProbeSummary = tuple[str, str | None, bool | None, str | None, str | None]
#: A per-entity probe verdict: (name, passed, elapsed_ms, polls, entity_id, message).
ProbeRow = tuple[str, bool | None, float | None, int | None, str | None, str | None]

#: The tables a shard's rows are copied from, in this order (`runs` is written anew).
COPIED = ("entities", "messages", "deliveries", "gateway_calls", "checks")


class ShardRun(msgspec.Struct, frozen=True, kw_only=True):
    """A shard's `runs` row, as `carbonc merge` needs it, and the file it is in."""

    path: str
    run_id: str
    shard: str
    scenario: str
    source_sha256: str
    plan_sha256: str | None
    seed: int
    provider: str
    params: str
    started_at_ms: int
    finished_at_ms: int | None
    status: str
    version: str | None
    target: str | None
    time_scale: str | None
    concurrency: int | None
    gateway: str | None
    checks_plan: str | None
    #: Its probes' summaries: (name, severity, passed, expected, message), in its order.
    probe_summaries: list[ProbeSummary] = []


def shard_runs(path: Path) -> list[ShardRun]:
    """Every shard run the DuckDB file at `path` holds, oldest first, with its probe summaries.
    Raises StoreError when it cannot be read, or holds no `runs` table of a carbonc new enough
    to shard."""
    from carbonc.store import open_store

    with open_store(path, read_only=True) as store:
        return store.read(lambda con: _shard_runs(con, path))


def _shard_runs(con: duckdb.DuckDBPyConnection, path: Path) -> list[ShardRun]:
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'").fetchall()}
    if "shard" not in columns:
        raise StoreError(f"`{path}` holds no shard run (it was not written by `carbonc run --shard`)")
    names = [f for f in ShardRun.__struct_fields__ if f not in ("path", "probe_summaries")]
    picks = [f"epoch_ms({n[:-3]})" if n.endswith("_at_ms") else n for n in names]
    runs = []
    for row in con.execute(f"SELECT {', '.join(picks)} FROM runs WHERE shard IS NOT NULL ORDER BY started_at"
                           ).fetchall():
        fields = dict(zip(names, row, strict=True))
        summaries = con.execute(
            "SELECT name, severity, passed, expected, message FROM checks "
            "WHERE run_id = ? AND kind = 'probe' AND entity_id IS NULL ORDER BY rowid", [fields["run_id"]]).fetchall()
        runs.append(ShardRun(path=str(path), probe_summaries=summaries, **fields))
    return runs


def copy_shards(store: Store, shards: Sequence[ShardRun], run_id: str) -> None:
    """Copy the rows of every shard into run `run_id` of `store`, in one transaction."""

    def copy(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            for shard in shards:
                _copy_rows(con, shard, run_id)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    store.write(copy)


def _copy_rows(con: duckdb.DuckDBPyConnection, source: ShardRun, run_id: str) -> None:
    """Copy every row of `source`'s run into run `run_id` of the file `con` writes, except the
    shard's probe summaries (one per probe over its own entities: the merged run has its own).
    Columns the shard's file lacks are NULL."""
    con.execute("ATTACH ? AS shard (READ_ONLY)", [source.path])
    try:
        for table in COPIED:
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'shard' AND table_name = ?",
                [table]).fetchall()}
            if not have:
                continue
            names = [name for name, _ in TABLES[table]]
            picks = ["?" if n == "run_id" else n if n in have else "NULL" for n in names]
            where = "run_id = ?"
            if table == "checks":
                where += " AND NOT (kind = 'probe' AND entity_id IS NULL)"
            con.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(picks)} "
                        f"FROM shard.{table} WHERE {where}", [run_id, source.run_id])
    finally:
        con.execute("DETACH shard")


def merged_figures(store: Store, run_id: str) -> tuple[dict[str, int], list[ProbeRow]]:
    """What judging a merged run needs of its rows, read in one session: the `deliveries.*`
    metrics (counted as `Tally` counts them live) and every per-entity probe row."""

    def read(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[ProbeRow]]:
        counts = con.execute(
            "SELECT count(*), count(*) FILTER (outcome = '2xx'), count(*) FILTER (outcome = '4xx'), "
            "count(*) FILTER (failed), count(*) FILTER (NOT verdict_ok), count(*) FILTER (attempt > 1) "
            "FROM deliveries WHERE run_id = ?", [run_id]).fetchone() or ()
        names = ("deliveries", "deliveries.accepted", "deliveries.rejected", "deliveries.failed",
                 "deliveries.mismatched", "deliveries.retried")
        probes = con.execute(
            "SELECT name, passed, elapsed_ms, polls, entity_id, message FROM checks "
            "WHERE run_id = ? AND kind = 'probe' AND entity_id IS NOT NULL ORDER BY rowid", [run_id]).fetchall()
        return dict(zip(names, (int(n) for n in counts), strict=True)), probes

    return store.read(read)
