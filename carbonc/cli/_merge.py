"""`carbonc merge`: join the shard files of a split run (`run --shard K/N`) into one run, judge
it whole, and report it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from carbonc.cli._common import EXIT_FAILED, EXIT_OK, fail, guard


@click.command()
@click.argument("shards", nargs=-1, required=True, metavar="SHARD.duckdb...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--into", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The DuckDB file to record the merged run in (default: CARBON_DB, else ~/.carbon/carbon.duckdb).")
@click.option("--format", "fmt", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True,
              help="How to report the merged run (as `carbonc report` does).")
@click.option("--ci", is_flag=True, help="Exit 1 if any check or probe of the merged run fails.")
@guard
def merge(shards: tuple[Path, ...], into: Path | None, fmt: Literal["terminal", "json"], ci: bool) -> None:
    """Merge the files of `carbonc run --shard K/N` (one per shard, 1 to N) into one run.

    The rows are copied under a new run id, the plan's checks are judged over all the shards'
    deliveries and each probe over all their entities; the merged run is then reported.
    Exits 2 when the files are not the N shards of one run, 1 when a shard did not complete.
    """
    from carbonc.errors import ExecutionError, StoreError
    from carbonc.exec.merge import merge_shards
    from carbonc.store import default_path

    if into is not None and str(into) in ("", "."):
        fail("--into is empty", "leave the flag out to use CARBON_DB or ~/.carbon/carbon.duckdb")
    for path in shards:
        if not path.is_file():
            fail(f"no shard file at `{path}`")
    target = (into or default_path()).expanduser()
    try:
        merged = merge_shards(list(shards), target)
    except ExecutionError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc), code=EXIT_FAILED)
    click.echo(f"merged {len(merged.shards)} shards into run {merged.run_id} in {target}: {merged.status}", err=True)
    from carbonc.cli._report import show_report

    show_report(merged.run_id, fmt, None, target)
    passed = all(c.passed is not False for c in merged.checks if c.kind in ("expect", "probe") and c.entity_id is None)
    if merged.status != "completed":
        raise SystemExit(EXIT_FAILED)
    raise SystemExit(EXIT_FAILED if ci and not passed else EXIT_OK)
