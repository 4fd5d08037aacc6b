"""`carbonc replay` (and `carbon replay`): send a past run's messages again as a new run, report
it, and exit by the contract's codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from carbonc.cli._common import EXIT_FAILED, EXIT_OK, fail
from carbonc.cli._run import Seconds

if TYPE_CHECKING:
    from carbonc.exec.replay import ReplayResult

_Command = TypeVar("_Command", bound=Callable[..., Any])


def replay_options(func: _Command) -> _Command:
    """The options `carbonc replay` and `carbon replay` share."""
    options = [
        click.option("--webhook-url", "url", default=None, metavar="URL", help="Send the messages here."),
        click.option("--app", default=None, metavar="MODULE:ATTR",
                     help="Send to an ASGI app in-process (FastAPI, Starlette) instead of a URL."),
        click.option("--app-path", default="/webhooks", show_default=True, help="The path posted to with --app."),
        click.option("--only", default=None, metavar="failed|mismatched|GLOB",
                     help="Only the messages whose last attempt failed, whose answer did not match its verdict, "
                          "or whose event type matches GLOB (`refund.*`)."),
        click.option("--exact", is_flag=True,
                     help="Send the stored bytes with their stored signature headers, unchanged (a replay attack: "
                          "a correct handler rejects a stale signed time). Default: sign each body anew, now."),
        click.option("--tolerance", type=Seconds(), default=None, metavar="S",
                     help="With --exact: how old a signed time a correct handler still accepts (default 300, "
                          "Stripe's and Standard Webhooks' verifiers' window)."),
        click.option("--webhook-secret", "secret", envvar="CARBON_WEBHOOK_SECRET", default=None,
                     help="The secret your handler verifies with, given again: it is never stored (or "
                          "CARBON_WEBHOOK_SECRET; default: the public test secret `run` uses)."),
        click.option("--webhook-previous-secret", "previous_secret", envvar="CARBON_WEBHOOK_PREVIOUS_SECRET",
                     default=None, help="The secret before a rotation, for `old_secret` and `rotation` messages "
                                        "(or CARBON_WEBHOOK_PREVIOUS_SECRET)."),
        click.option("--timeout", type=Seconds(), default=None, metavar="S",
                     help="Per-request deadline in seconds (default: the gateway's)."),
        click.option("--ci", is_flag=True, help="Exit 1 if any answer did not match its verdict."),
        click.option("--output", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def replay_run(*, run_id: str, url: str | None, app: str | None, app_path: str, only: str | None, exact: bool,
               tolerance: float | None, secret: str | None, previous_secret: str | None, timeout: float | None,
               ci: bool, output: str, db: Path | None = None) -> None:
    """The flags of `replay` checked and turned into `api.replay`'s typed inputs; its result
    rendered; exits with the contract's code."""
    from carbonc import api
    from carbonc.cli._run import _import_app
    from carbonc.errors import ExecutionError, StoreError
    from carbonc.exec.replay import DEFAULT_TOLERANCE_S, ReplayOptions
    from carbonc.store import default_path

    for flag, value in (("--webhook-url", url), ("--app", app), ("--db", db)):
        if value is not None and (not str(value).strip() or str(value) == "."):
            fail(f"{flag} is empty", "an unset variable? a replay needs --webhook-url or --app")
    if url and app:
        fail("give --webhook-url or --app, not both")
    if not (url or app):
        fail("a replay needs a target: give --webhook-url or --app")
    if tolerance is not None and not exact:
        fail("--tolerance applies to --exact only", "a re-signed message carries a fresh time")
    asgi = _import_app(app) if app else None
    options = ReplayOptions(mode="exact" if exact else "resign", only=only, url=url, app=asgi, app_path=app_path,
                            app_name=app, secret=secret, previous_secret=previous_secret, timeout_s=timeout,
                            tolerance_s=DEFAULT_TOLERANCE_S if tolerance is None else tolerance)
    path = (db or default_path()).expanduser()
    try:
        result = api.replay(run_id, options, path)
    except ExecutionError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc), code=EXIT_FAILED)
    document = replay_document(result, str(path))
    if output == "json":
        import msgspec

        click.echo(msgspec.json.encode(document).decode())
    else:
        click.echo(replay_text(result, str(path)), nl=False)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    if result.status != "completed":
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_FAILED if ci and not result.passed else EXIT_OK)


def replay_document(result: ReplayResult, db: str) -> dict[str, Any]:
    """The replay as one JSON document."""
    from carbonc.exec.tally import by_event_table, by_fault_table

    tally = result.tally
    return {
        "run_id": result.run_id, "replay_of": result.replay_of, "mode": result.mode, "status": result.status,
        "passed": result.passed, "provider": result.provider, "target": result.target, "db": db,
        "messages": {"replayed": tally.metrics["deliveries"], "left_out": result.left_out,
                     "never_sent_by_source": result.never_sent, "not_signable": result.unsignable},
        "deliveries": {"total": tally.metrics["deliveries"], "by_event": by_event_table(tally),
                       **{name.removeprefix("deliveries."): n for name, n in tally.delivery_metrics().items()
                          if name != "deliveries"}},
        "verdicts": by_fault_table(tally), "latency_ms": tally.percentiles(),
        "checks": [{"kind": c.kind, "name": c.name, "passed": c.passed, "expected": c.expected, "actual": c.actual,
                    "message": c.message, "subject": c.subject} for c in result.checks],
        "notes": result.notes, "error": result.error, "elapsed_s": round(result.elapsed_s, 3),
    }


def replay_text(result: ReplayResult, db: str) -> str:
    """The replay's terminal summary."""
    from carbonc.exec.tally import by_event_table, by_fault_table
    from carbonc.store.rows import OUTCOMES

    tally = result.tally
    lines = [f"replay {result.run_id} of {result.replay_of} ({result.provider}, "
             f"{'exact bytes and signatures' if result.mode == 'exact' else 're-signed'}) -> {result.target}: "
             f"{result.status}",
             f"  messages: {tally.metrics['deliveries']:,} sent, {result.left_out:,} left out by --only, "
             f"{result.never_sent:,} never sent by the source, {result.unsignable:,} not signable again"]
    table = by_event_table(tally)
    if table:
        width = max(len(event) for event in table)
        lines.append(f"  {'event':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES))
        lines += [f"  {event:<{width}}  " + "  ".join(f"{n:>7,}" for n in counts.values())
                  for event, counts in table.items()]
    for fault, counts in by_fault_table(tally).items():
        lines.append(f"  verdicts {fault}: {counts['ok']:,} ok, {counts['mismatched']:,} mismatched")
    for fault, (outcome, status, error, snippet, where) in tally.samples.items():
        answer = str(status) if status is not None else (error or outcome)
        lines.append(f"    first mismatch ({fault}): {where} got {answer} {snippet!r}")
    percentiles = tally.percentiles()
    if percentiles:
        lines.append("  latency ms: " + ", ".join(f"{k} {v:g}" for k, v in percentiles.items()))
    for check in result.checks:
        verdict = {True: "passed", False: "FAILED", None: "not judged"}[check.passed]
        lines.append(f"  {check.name}: {verdict} ({check.message})")
    lines.append(f"  recorded in {db}; the source's scenario checks and probes are not judged again")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@replay_options
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The DuckDB file (default: CARBON_DB, else ~/.carbon/carbon.duckdb).")
def replay(**kwargs: Any) -> None:
    """Send a past run's webhooks again, in their order, as a new run linked to it."""
    from carbonc.cli._common import guard

    guard(replay_run)(**kwargs)


__all__ = ["replay", "replay_options", "replay_run"]
