"""`carbonc report` and `carbonc compare` (and `carbon report`): read stored runs through the
store's report views and show them as text, JSON or one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from carbonc.cli._common import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, fail, guard

if TYPE_CHECKING:
    from carbonc.report.figures import RunReport
    from carbonc.store import Store

ReportFormat = Literal["terminal", "html", "json"]

_DB_OPTION = click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                          help="The DuckDB file (default: CARBON_DB, else ~/.carbon/carbon.duckdb).")


def _open(db: Path | None) -> Store:
    from carbonc.errors import StoreError
    from carbonc.store import open_store

    if db is not None and str(db) in ("", "."):  # click turns an empty path into `.`
        fail("--db is empty", "an unset variable? leave the flag out to use CARBON_DB or ~/.carbon/carbon.duckdb")
    try:
        return open_store(db, read_only=True)
    except StoreError as exc:
        fail(str(exc))


def _load(store: Store, ref: str) -> RunReport:
    from carbonc.errors import StoreError, UnknownRun
    from carbonc.report.stored import load_report, resolve_run_id

    try:
        return load_report(store, resolve_run_id(store, ref))
    except UnknownRun as exc:
        latest = ", ".join(f"`{name}`" for name in exc.latest)
        fail(str(exc), f"the latest runs: {latest} (or `latest`)" if latest else "make one with `carbonc run`")
    except StoreError as exc:
        fail(f"cannot read the run from `{store.path}`: {exc}")


def _write(out: Path, data: bytes) -> None:
    from carbonc.files import write_atomic

    try:
        write_atomic(out, data)
    except OSError as exc:
        fail(f"cannot write `{out}`: {exc.strerror or exc}", code=EXIT_FAILED)


def show_report(ref: str, fmt: ReportFormat, out: Path | None, db: Path | None) -> None:
    """Report the run `ref` (an id or `latest`) in `fmt`: to `out`, else to stdout, except HTML,
    which goes to `carbon_report_<run_id>.html` in the working directory by default."""
    from carbonc.report.figures import report_json
    from carbonc.report.html import report_html
    from carbonc.report.text import report_text

    if out is not None and str(out) in ("", "."):
        fail("--out is empty", "leave the flag out to write to the default place")
    with _open(db) as store:
        report = _load(store, ref)
    match fmt:
        case "terminal":
            data = report_text(report).encode("utf-8")
        case "json":
            data = report_json(report)
        case "html":
            data = report_html(report).encode("utf-8")
            out = out or Path(f"carbon_report_{report.run.run_id}.html")
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    _write(out, data)
    click.echo(f"wrote {out}", err=True)


@click.command()
@click.argument("ref", metavar="RUN_ID|latest")
@click.option("--format", "fmt", type=click.Choice(["terminal", "html", "json"]), default="terminal",
              show_default=True, help="Text, one self-contained HTML file, or a JSON document.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: stdout; for html, carbon_report_<run_id>.html).")
@_DB_OPTION
@guard
def report(ref: str, fmt: ReportFormat, out: Path | None, db: Path | None) -> None:
    """Report a stored run: checks, deliveries, verdicts, latency, retries, errors, timelines.

    `latest` is the most recently started run. Exits 2 on an unknown run.
    """
    show_report(ref, fmt, out, db)


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--format", "fmt", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True)
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 3 when a check that passed in RUN_A fails in RUN_B, else 0.")
@_DB_OPTION
@guard
def compare(run_a: str, run_b: str, fmt: Literal["terminal", "json"], detailed_exitcode: bool,
            db: Path | None) -> None:
    """Show what changed from RUN_A to RUN_B: checks that flipped, verdicts by fault, latency, errors.

    Either may be `latest`.
    """
    from carbonc.report.compare import compare_reports, comparison_json, comparison_text

    with _open(db) as store:
        comparison = compare_reports(_load(store, run_a), _load(store, run_b))
    if fmt == "json":
        click.echo(comparison_json(comparison).decode("utf-8"), nl=False)
    else:
        click.echo(comparison_text(comparison), nl=False)
    if detailed_exitcode and comparison.worse:
        raise SystemExit(EXIT_CHANGES)
    raise SystemExit(EXIT_OK)

