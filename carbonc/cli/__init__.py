"""The `carbonc` command line. Commands import only what they need, so `check`, `fmt` and
`plan` start fast and never load the executor's or the store's libraries."""

from __future__ import annotations

import sys
from typing import Any

import click

from carbonc import __version__
from carbonc.cli._common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    EntryGroup,
    emit_diagnostics,
    guard,
    resolve_refs,
)
from carbonc.cli._merge import merge
from carbonc.cli._plan import plan
from carbonc.cli._replay import replay
from carbonc.cli._report import compare, report
from carbonc.cli._results import export, query, runs
from carbonc.cli._run import run
from carbonc.source import shown_path


class _Group(EntryGroup):
    """Usage errors (unknown flag, bad value) exit 2 with click's message, as the contract says."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("prog_name", "carbonc")
        return super().main(*args, **kwargs)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="carbonc")
def main() -> None:
    """Chaos engineering for payment integrations: check, plan and run .carbon scenarios."""


@main.command()
@click.argument("refs", metavar="FILE|NAME...", nargs=-1, required=True)
@guard
def check(refs: tuple[str, ...]) -> None:
    """Check .carbon files (or bundled scenarios by name) and report every problem.

    Exits 0 when clean (warnings allowed) and 2 on any error.
    """
    from carbonc.api import check_path

    errors = warnings = 0
    for ref, path in resolve_refs(refs):
        result = check_path(path, shown_path(path, ref))
        e, w = emit_diagnostics(result)
        errors, warnings = errors + e, warnings + w
    files = len(refs)
    summary = f"checked {files} file{'s' * (files != 1)}: {errors} error{'s' * (errors != 1)}, " \
              f"{warnings} warning{'s' * (warnings != 1)}"
    click.echo(summary, err=True)
    sys.exit(EXIT_INVALID if errors else EXIT_OK)


@main.command()
@click.argument("refs", metavar="FILE...", nargs=-1, required=True)
@click.option("--check", "check_only", is_flag=True, help="Do not write; exit 1 if a file is not formatted.")
@guard
def fmt(refs: tuple[str, ...], check_only: bool) -> None:
    """Rewrite .carbon files in canonical layout, keeping comments.

    With --check, list the files that would change and exit 1 if any would.
    """
    from carbonc.api import format_path
    from carbonc.files import write_atomic

    unformatted = 0
    invalid = False
    for ref, path in resolve_refs(refs):
        outcome = format_path(path, shown_path(path, ref))
        if outcome.errors is not None:
            emit_diagnostics(outcome.errors)
            invalid = True
            continue
        if outcome.changed:
            unformatted += 1
            if check_only:
                click.echo(f"would reformat {shown_path(path, ref)}")
            else:
                try:
                    # Never in place: a full disk mid-write must not cut the source short.
                    write_atomic(path, outcome.text.encode("utf-8"))
                except OSError as exc:
                    click.echo(f"error: cannot write `{shown_path(path, ref)}`: {exc.strerror or exc}", err=True)
                    invalid = True
                    continue
                click.echo(f"reformatted {shown_path(path, ref)}")
    if invalid:
        sys.exit(EXIT_INVALID)
    sys.exit(EXIT_FAILED if (check_only and unformatted) else EXIT_OK)


@main.command()
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True)
@guard
def scenarios(fmt_: str) -> None:
    """List the bundled scenarios: name, category and what each one does."""
    from carbonc.scenarios import list_scenarios

    infos = list_scenarios()
    if fmt_ == "json":
        import msgspec

        click.echo(msgspec.json.encode([{"name": i.name, "category": i.category, "about": i.about}
                                        for i in infos]).decode())
        return
    width = max((len(i.name) for i in infos), default=4)
    cat_width = max((len(i.category) for i in infos), default=8)
    click.echo(f"{'NAME':<{width}}  {'CATEGORY':<{cat_width}}  ABOUT")
    for i in infos:
        click.echo(f"{i.name:<{width}}  {i.category:<{cat_width}}  {i.about}")


main.add_command(plan)
main.add_command(run)
main.add_command(replay)
main.add_command(report)
main.add_command(compare)
main.add_command(runs)
main.add_command(query)
main.add_command(export)
main.add_command(merge)
