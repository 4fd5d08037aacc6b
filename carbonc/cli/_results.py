"""`carbonc runs`, `carbonc query` and `carbonc export`: reading the results database, which
they open read-only (so they work while a run writes it) and never create."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from carbonc.cli._common import fail, guard
from carbonc.cli._tabular import FORMATS, Format, escaped, rows_text

if TYPE_CHECKING:
    from carbonc.store import Store

#: Rows `query` prints unless told otherwise: enough to read, bounded for a terminal.
DEFAULT_QUERY_ROWS = 1_000


def _db_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="The DuckDB file (default: CARBON_DB, else ~/.carbon/carbon.duckdb).")(func)


def refuse(message: str) -> NoReturn:
    """Exit 2 with `message`, its control characters escaped (it may quote the SQL given)."""
    fail(escaped(message))


@contextmanager
def _reading(db: Path | None) -> Iterator[Store]:
    """The store at `db`, open read-only; a missing or unreadable file exits 2 with a message."""
    from carbonc.errors import StoreError
    from carbonc.store import default_path, open_store

    path = (db or default_path()).expanduser()
    if str(db) == ".":  # click's reading of an empty value
        refuse("--db is empty")
    if not path.exists():
        refuse(f"no database at `{path}`; nothing has been run with it yet (give the file with --db or CARBON_DB)")
    try:
        store = open_store(path, read_only=True)
    except StoreError as exc:
        refuse(str(exc))
    try:
        yield store
    except StoreError as exc:
        refuse(str(exc))
    finally:
        store.close()


@click.command()
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True, metavar="N",
              help="Show the newest N runs.")
@click.option("--format", "fmt_", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_db_option
@guard
def runs(limit: int, fmt_: Format, db: Path | None) -> None:
    """List recent runs, newest first: scenario, provider, target, status, verdict, counts, duration."""
    from carbonc.store.reading import RUN_SUMMARY_FIELDS, recent_runs

    with _reading(db) as store:
        summaries = recent_runs(store, limit)
    if fmt_ == "json":
        import msgspec

        click.echo(msgspec.json.encode([msgspec.structs.asdict(s) for s in summaries]).decode())
        return
    columns = [name for name in RUN_SUMMARY_FIELDS if name != "duration_ms"] + ["duration"]
    rows = [[*(getattr(s, name) for name in RUN_SUMMARY_FIELDS if name != "duration_ms"), _duration(s.duration_ms)]
            for s in summaries]
    click.echo(rows_text("table", [c.upper() for c in columns], rows), nl=False)


@click.command()
@click.argument("sql")
@click.option("--param", "params", multiple=True, metavar="VALUE",
              help="A value for the next `?` in SQL, as text (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=DEFAULT_QUERY_ROWS, show_default=True,
              metavar="N", help="Print at most N rows.")
@click.option("--format", "fmt_", type=click.Choice(FORMATS), default="table", show_default=True)
@_db_option
@guard
def query(sql: str, params: tuple[str, ...], limit: int, fmt_: Format, db: Path | None) -> None:
    """Run one read-only SQL statement on the results database and print its rows.

    A statement that would change anything (INSERT, CREATE, ATTACH, COPY, SET, …) is refused before
    anything runs. Tables: runs, entities, messages, deliveries, checks (see docs/store.md).
    """
    from carbonc.errors import StoreError
    from carbonc.store.reading import answer
    from carbonc.store.statements import reading_statement

    try:
        statement = reading_statement(sql)
    except StoreError as exc:
        refuse(str(exc))
    with _reading(db) as store:
        result = answer(store, statement, params, limit)
    click.echo(rows_text(fmt_, result.columns, result.rows), nl=False)
    if result.more:
        click.echo(f"note: only the first {limit:,} rows are shown (--limit)", err=True)


@click.command()
@click.argument("run_id")
@click.option("--parquet", "directory", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Write DIR/<table>.parquet for each table, with this run's rows.")
@_db_option
@guard
def export(run_id: str, directory: Path, db: Path | None) -> None:
    """Export one run's rows as Parquet, one file per table (runs, entities, messages, deliveries,
    checks), each written whole or not at all."""
    from carbonc.store.export import export_run

    with _reading(db) as store:
        written = export_run(store, run_id, directory)
    for path in written:
        click.echo(escaped(str(path)))


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.1f} s" if ms < 60_000 else f"{ms // 60_000} min {ms % 60_000 / 1000:.0f} s"
