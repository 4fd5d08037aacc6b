"""The `carbon` command: the older carbon-layer interface, kept working on top of carbonc."""

from __future__ import annotations

import click

from carbonc.cli._common import guard


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carbonc", prog_name="carbon")
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
