"""The `carbon` command: the older carbon-layer interface, kept working on top of carbonc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carbonc import __version__
from carbonc.cli._common import EntryGroup, fail, guard
from carbonc.cli._replay import replay_options, replay_run
from carbonc.cli._report import ReportFormat, show_report
from carbonc.cli._run import delivery_options, pop_credentials, run_plan


@click.group(cls=EntryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="carbon")
def main() -> None:
    """Chaos engineering for payment flows (the carbon-layer interface; see `carbonc`)."""


@main.command("scenarios-list")
@guard
def scenarios_list() -> None:
    """List available scenarios."""
    from carbonc.scenarios import list_scenarios

    infos = list_scenarios()
    width = max((len(i.name) for i in infos), default=4)
    for i in infos:
        click.echo(f"{i.name:<{width}}  {i.about}")


@main.command("run")
@click.argument("name", metavar="SCENARIO")
@delivery_options
def run(name: str, provider: str, **kwargs: Any) -> None:
    """Run a scenario against the gateway (simulated, or the provider's test mode) and your webhook endpoint."""
    credentials = pop_credentials(kwargs)
    notes = []
    if kwargs.get("probe_base") is None and not kwargs.get("skip_probes") and (kwargs.get("url") or kwargs.get("app")):
        # The older tool judged answers only: its users' handlers need not serve a state API at the
        # webhook URL's host. Probes run once they say where it is.
        kwargs["skip_probes"] = True
        notes.append("probes of your merchant's state API are not sent by `carbon run` unless --probe-base is "
                     "given (they are reported as not judged); `carbonc run` sends them")
    guard(run_plan)(ref=name, provider=provider, notes=notes, legacy=True, credentials=credentials, **kwargs)


@main.command("replay")
@click.argument("run_id", metavar="RUN_ID")
@replay_options
def replay(**kwargs: Any) -> None:
    """Send a past run's stored webhooks again (the database from CARBON_DB)."""
    guard(replay_run)(**kwargs)


@main.command("report")
@click.argument("run_id", metavar="RUN_ID", required=False)
@click.option("--run-id", "run_id_option", default=None, metavar="RUN_ID", help="The run to report (or `latest`).")
@click.option("--format", "fmt", type=click.Choice(["terminal", "html", "json"]), default="terminal",
              show_default=True, help="html writes carbon_report_<run_id>.html in the current directory.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead.")
@guard
def report(run_id: str | None, run_id_option: str | None, fmt: ReportFormat, out: Path | None) -> None:
    """Report a finished run, by its run id (the database: CARBON_DB)."""
    if run_id and run_id_option and run_id != run_id_option:
        fail(f"two run ids given: `{run_id}` and --run-id `{run_id_option}`", "give one")
    ref = run_id or run_id_option
    if not ref:
        fail("which run? give its id: `carbon report RUN_ID` or `carbon report --run-id RUN_ID`",
             "`carbon report latest` reports the most recent run")
    show_report(ref, fmt, out, None)
