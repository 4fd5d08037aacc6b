"""`carbonc run` (and `carbon run`): compile or load a plan, run it against the webhook target,
record it, report it, and exit by the contract's codes."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from carbonc.cli._common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    fail,
    parse_assignments,
    resolve_refs,
)
from carbonc.domain.vocabulary import (
    MAX_REPEAT,
    OVERRIDE_ORDERS,
    PROVIDERS,
    SIGNATURE_MODES,
    DeliveryOverrides,
)
from carbonc.source import shown_path

if TYPE_CHECKING:
    from carbonc.exec import PlanInput
    from carbonc.exec.shards import Shard
    from carbonc.exec.tally import Tally

    #: A parameter type giving a number (None: not given) from the command line's text or from a
    #: default. Generic only for the type checker: click 8.1, still supported, cannot subscript it.
    _NumberParam = click.ParamType[float | None, str | float | None]
    _ShardParam = click.ParamType[Shard, str | Shard]
else:
    _NumberParam = _ShardParam = click.ParamType

_Command = TypeVar("_Command", bound=Callable[..., Any])


class _NumberOrWord(_NumberParam):
    """A number checked by `check`, or `word` (None: its meaning is the option's)."""

    word = ""
    number: Callable[[Any], float] = float

    def check(self, number: float) -> str | None:
        """What is wrong with `number` (None: nothing)."""
        return None

    def convert(self, value: str | float | None, param: click.Parameter | None,
                ctx: click.Context | None) -> float | None:
        if value is None or value == self.word:
            return None
        try:
            number = self.number(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither a number nor `{self.word}`", param, ctx)
        problem = self.check(number)
        if problem is not None:
            self.fail(problem, param, ctx)
        return number


class TimeScale(_NumberOrWord):
    """`max`, or a positive number of virtual seconds per wall second."""

    name, word = "X|max", "max"

    def check(self, number: float) -> str | None:
        return None if 0 < number < float("inf") else "must be a positive number (1 = real time), or `max`"


class WorkersParam(_NumberOrWord):
    """`auto` (None), or a number of processes, 1 to 64."""

    name, word, number = "N|auto", "auto", int

    def check(self, number: float) -> str | None:
        return None if 1 <= number <= 64 else "must be 1 to 64, or `auto`"


class ShardParam(_ShardParam):
    """`K/N`: shard K of N."""

    name = "K/N"

    def convert(self, value: str | Shard, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        from carbonc.exec.shards import Shard

        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Seconds(_NumberParam):
    """A per-request deadline: a finite number of seconds, at least a millisecond."""

    name = "S"

    def convert(self, value: str | float | None, param: click.Parameter | None,
                ctx: click.Context | None) -> float | None:
        if value is None or isinstance(value, float):
            return value
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not 0.001 <= seconds <= 86_400:  # also false for nan
            self.fail("must be between 0.001 and 86400 seconds", param, ctx)
        return seconds


def delivery_options(func: _Command) -> _Command:
    """The options `carbonc run` and `carbon run` share."""
    options = [
        click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
                     help="Override a parameter, typed like it (repeatable)."),
        click.option("--provider", type=click.Choice(list(PROVIDERS)), default="mock", show_default=True,
                     help="Whose webhooks to send: event names, payloads and signatures."),
        click.option("--webhook-url", "url", default=None, metavar="URL",
                     help="Deliver the webhooks here (none: run the gateway side only)."),
        click.option("--webhook-secret", "secret", envvar="CARBON_WEBHOOK_SECRET", default=None,
                     help="The secret your handler verifies with (or CARBON_WEBHOOK_SECRET; default: a "
                          "public test secret, `carbon` for Razorpay, Stripe and Cashfree)."),
        click.option("--webhook-previous-secret", "previous_secret", envvar="CARBON_WEBHOOK_PREVIOUS_SECRET",
                     default=None, help="The secret before a rotation, which `old_secret` and `rotation` "
                                        "messages are signed with (or CARBON_WEBHOOK_PREVIOUS_SECRET)."),
        click.option("--webhook-repeat", "repeat", type=click.IntRange(1, MAX_REPEAT), default=None, metavar="N",
                     help="Deliver every message N times, with the same event id."),
        click.option("--webhook-order", "order", type=click.Choice(list(OVERRIDE_ORDERS)),
                     default=None, help="Send in plan order, reversed, or shuffled."),
        click.option("--webhook-signature", "signature", type=click.Choice(list(SIGNATURE_MODES)), default=None,
                     help="Sign every message in this mode."),
        click.option("--probe-base", default=None, metavar="URL",
                     help="Where the merchant's state API is, for probes (default: the webhook URL's origin; "
                          "with --app, the app itself)."),
        click.option("--probe-header", "probe_headers", multiple=True, metavar="'NAME: VALUE'",
                     help="A header for every probe request, e.g. the state API's auth (repeatable; "
                          "`NAME: env:VAR` takes the value from VAR). Never stored or shown."),
        click.option("--probe-concurrency", type=click.IntRange(1, 500), default=20, show_default=True,
                     help="Probe requests in flight at once."),
        click.option("--probe-timeout", type=Seconds(), default=10.0, show_default=True, metavar="S",
                     help="Deadline of one probe request, in seconds (probes are never retried)."),
        click.option("--circuit-breaker", "circuit_breaker", type=click.IntRange(min=0), default=20,
                     show_default=True, metavar="N",
                     help="Stop sending after N attempts in a row got no answer at all (refused, timed out, "
                          "reset): the rest is recorded as not sent and --ci fails. 0 turns it off."),
        click.option("--skip-probes", is_flag=True,
                     help="Send no probe: test the webhook endpoint alone (probes are reported as not judged)."),
        click.option("--ci", is_flag=True, help="Exit 1 if any check or probe fails (a mismatched verdict "
                                                "included)."),
        click.option("--callback-url", default=None, metavar="URL", help="POST the JSON summary here when done."),
        click.option("--output", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True),
        *gateway_options(),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The click parameter each credential flag fills: `cred_<field>` (see `gateways.CREDENTIALS`).
_CREDENTIAL_PREFIX = "cred_"


def gateway_options() -> list[Callable[[_Command], _Command]]:
    """`--gateway`, each provider's credential flags (derived from `gateways.CREDENTIALS`),
    `--api-base` and `--allow-live`. The credential flags read no variable here: the variables
    supply a real run only (`gateways.choose`)."""
    from carbonc.gateways import CREDENTIALS

    options: list[Callable[[_Command], _Command]] = [
        click.option("--gateway", "gateway", type=click.Choice(["simulated", "real"]), default=None,
                     help="Who plays the gateway: `simulated` (the default, no account needed), or `real`: the "
                          "provider's test mode first creates what it can of the plan (stripe: payments and "
                          "refunds; razorpay: orders), and the webhooks carry their IDs. A credential flag implies "
                          "`real`."),
    ]
    for flags in CREDENTIALS.values():
        for c in flags:
            options.append(click.option(c.flag, _CREDENTIAL_PREFIX + c.field, default=None, metavar="TEXT",
                                        help=f"{c.label}, for --gateway real (or {c.env}). Never stored or shown."))
    options += [
        click.option("--api-base", "api_base", default=None, metavar="URL",
                     help="With --gateway real: the provider's API at this URL instead (an emulator; or "
                          "CARBON_<PROVIDER>_API_BASE). Plain http only to this machine."),
        click.option("--allow-live", is_flag=True,
                     help="With --gateway real: accept a live-mode key (refused otherwise: real money)."),
    ]
    return options


def pop_credentials(kwargs: dict[str, Any]) -> dict[str, str | None]:
    """The credential flags' values by field, taken out of a command's `kwargs`."""
    return {name[len(_CREDENTIAL_PREFIX):]: kwargs.pop(name) for name in list(kwargs)
            if name.startswith(_CREDENTIAL_PREFIX)}


def run_plan(*, ref: str, assignments: tuple[str, ...], provider: str, url: str | None, secret: str | None,
             previous_secret: str | None, repeat: int | None,
             order: Literal["sequence", "reverse", "random"] | None, signature: str | None, ci: bool,
             callback_url: str | None, output: str, seed: int | None = None, scenario: str | None = None,
             app: str | None = None, app_path: str = "/webhooks", concurrency: int = 10, timeout: float | None = None,
             time_scale: float | None = None, db: Path | None = None, junit: Path | None = None,
             notes: list[str] | None = None, legacy: bool = False, probe_base: str | None = None,
             probe_headers: tuple[str, ...] = (), probe_concurrency: int = 20, probe_timeout: float = 10.0,
             skip_probes: bool = False, circuit_breaker: int = 20, gateway: str | None = None,
             credentials: dict[str, str | None] | None = None, api_base: str | None = None,
             allow_live: bool = False, shard: Shard | None = None, workers: int | None = 1) -> None:
    """The flags of `run` checked and turned into `api.run`'s typed inputs; its result rendered;
    exits with the contract's code."""
    from carbonc import api
    from carbonc.errors import ExecutionError, StoreError
    from carbonc.gateways import choose

    _refuse_empty_flags(url=url, app=app, callback_url=callback_url, db=db, junit=junit, probe_base=probe_base)
    if url and app:
        fail("give --webhook-url or --app, not both")
    notes = list(notes or ())
    if ci and not (url or app):
        if not legacy:
            fail("--ci judges a webhook handler: give --webhook-url or --app",
                 "to check only the scenario's plan, drop --ci")
        notes.append("--ci applies only with --webhook-url; ignored")  # as carbon-layer did
        ci = False
    try:
        real, gateway_notes = choose(provider, gateway, credentials or {}, environ=os.environ, api_base=api_base,
                                     allow_live=allow_live)
    except ExecutionError as exc:
        fail(str(exc))
    notes += gateway_notes
    if shard is not None and shard.count > 1:
        notes.append(f"shard {shard}: only this shard's order trees are sent and recorded; the run's `expect`s "
                     f"are judged once the {shard.count} shards' files are merged (`carbonc merge`)")
    overrides = parse_assignments(assignments)
    delivery = DeliveryOverrides(order=order, repeat=repeat, signature=signature)
    plan = _load_plan(ref, overrides, seed, scenario, delivery)
    asgi = _import_app(app) if app else None

    from carbonc.exec import RunOptions
    from carbonc.exec.probes import ProbeOptions
    from carbonc.report import (
        document,
        junit_xml,
        legacy_fields,
        post_callback,
        progress_line,
        terminal_text,
    )
    from carbonc.store import default_path

    probe = ProbeOptions(base=probe_base, headers=_probe_headers(probe_headers), concurrency=probe_concurrency,
                         timeout_s=probe_timeout, skip=skip_probes)
    options = RunOptions(provider=provider, url=url, app=asgi, app_path=app_path, app_name=app, secret=secret,
                         previous_secret=previous_secret, concurrency=concurrency, timeout_s=timeout,
                         time_scale=time_scale, probe=probe, circuit_breaker=circuit_breaker, gateway=real,
                         shard=shard)
    try:
        # Before the database is touched: bad input changes nothing.
        ready = api.prepare_run(plan, options, workers=workers)
    except api.PlanRefused as exc:
        for error in exc.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID)
    except ExecutionError as exc:
        fail(str(exc))
    path = (db or default_path()).expanduser()
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for warning in ready.warnings:
        click.echo(f"warning: {warning}", err=True)
    progress = _Progress(progress_line) if output == "terminal" and sys.stderr.isatty() else None
    try:
        result = ready.execute(path, progress=progress)
    except (StoreError, ExecutionError) as exc:  # the store could not be opened, or the run not even recorded
        fail(str(exc), code=EXIT_FAILED)
    finally:
        if progress is not None:
            progress.clear()

    summary = document(result, str(path))
    summary["warnings"] = [*notes, *ready.warnings, *summary["warnings"]]
    if legacy:
        summary.update(legacy_fields(summary))
    if output == "json":
        import msgspec

        click.echo(msgspec.json.encode(summary).decode())
    else:
        click.echo(terminal_text(result, str(path)), nl=False)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    junit_failed = False
    if junit is not None:
        from carbonc.files import write_atomic

        try:
            write_atomic(junit, junit_xml(result))
        except OSError as exc:
            # A CI gate that reads the report must not pass on a report that was never written.
            click.echo(f"error: cannot write the JUnit report to `{junit}`: {exc.strerror or exc}", err=True)
            junit_failed = True
    if callback_url:
        problem = post_callback(callback_url, summary)
        if problem:
            click.echo(f"warning: {problem}; the run itself is recorded", err=True)
    if result.status != "completed" or junit_failed:
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_FAILED if ci and not result.passed else EXIT_OK)


def _refuse_empty_flags(*, url: str | None, app: str | None, callback_url: str | None, db: Path | None,
                        junit: Path | None, probe_base: str | None) -> None:
    """Exit 2 on a flag given an empty value (an unset variable, not a choice: refused rather than
    silently ignored) or a file name no file system takes."""
    if url is not None and not url.strip():
        fail("--webhook-url is empty", "an unset variable? without a target nothing is delivered: leave the flag out")
    for flag, path in (("--db", db), ("--junit", junit)):
        if path is not None and any(len(part.encode()) > 255 for part in Path(path).parts):
            fail(f"{flag}: a file or directory name is at most 255 bytes")
    for flag, value in (("--app", app), ("--callback-url", callback_url), ("--db", db), ("--junit", junit),
                        ("--probe-base", probe_base)):
        # (click turns an empty path into `.`)
        if value is not None and (not str(value).strip() or (isinstance(value, Path) and str(value) == ".")):
            fail(f"{flag} is empty", "an unset variable? leave the flag out to use the default")


def _probe_headers(given: tuple[str, ...]) -> dict[str, str]:
    """`('Authorization: Bearer x', 'X-Key: env:SHOP_KEY')` -> headers; exit 2 on a malformed
    one. The message never repeats a value: these are secrets."""
    import re

    headers: dict[str, str] = {}
    for item in given:
        name, colon, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            fail("--probe-header must be `NAME: VALUE` with a valid header name", "e.g. --probe-header "
                 "'Authorization: env:SHOP_API_TOKEN'")
        if value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                fail(f"--probe-header `{name}` reads the environment variable `{var}`, which is not set")
            value = os.environ[var]
        if any(ord(c) < 32 or c == "\x7f" for c in value):
            fail(f"--probe-header `{name}` has a control character in its value")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            fail(f"--probe-header `{name}` has a character an HTTP header cannot carry (its value must be Latin-1)")
        headers[name] = value
    return headers


def _load_plan(ref: str, overrides: dict[str, str], seed: int | None, scenario: str | None,
               delivery: DeliveryOverrides) -> PlanInput:
    """The plan to run, from a .carbon file, a bundled scenario's name, or a saved plan; exit 2
    with the diagnostics or the reason when there is none."""
    from carbonc import api
    from carbonc.cli._common import emit_diagnostics
    from carbonc.errors import PlanError

    (ref_, path), = resolve_refs([ref])
    try:
        plan = api.load_plan(path, shown_path(path, ref_), overrides=overrides, seed=seed, scenario=scenario,
                             delivery=delivery)
    except ValueError:
        fail(f"`{ref}` is a saved plan, which --set, --seed, --scenario and the --webhook-order/-repeat/"
             "-signature flags cannot change", "run the .carbon scenario instead, or save it again with them: "
             "`carbonc plan SCENARIO --webhook-repeat 2 --out PLAN` (plan takes the same flags)")
    except PlanError as exc:  # checked whole before anything is recorded
        fail(f"`{ref}` is not a plan carbonc can use: {exc}")
    if isinstance(plan, api.CheckResult):
        emit_diagnostics(plan)
        sys.exit(EXIT_INVALID)
    return plan


def _import_app(spec: str) -> Any:
    """Import `module:attr` (the ASGI app), from the current directory first."""
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        fail(f"--app must be `module:attribute`, not `{spec}`", "e.g. --app myshop.main:app")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module failing to import is their input error
        fail(f"cannot import `{module_name}` for --app: {type(exc).__name__}: {exc}")
    finally:
        sys.path.remove(os.getcwd())
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            fail(f"`{module_name}` has no attribute `{attr}`")
        target = getattr(target, part)
    if not callable(target):
        fail(f"`{spec}` is not an ASGI app (it is not callable)")
    return target


class _Progress:
    """Redraws one progress line on stderr, at most a few times a second."""

    def __init__(self, render: Callable[[Tally, float], str]):
        self.render, self.start, self.drawn = render, time.monotonic(), False

    def __call__(self, tally: Tally) -> None:
        line = self.render(tally, time.monotonic() - self.start)
        sys.stderr.write("\r\x1b[2K" + line)
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


@click.command()
@click.argument("ref", metavar="FILE|NAME|PLAN")
@delivery_options
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Seed for every random choice, 0 to 2^63 - 1 (default: the scenario's).")
@click.option("--scenario", "scenario", default=None, help="Which scenario of the file (default: the first).")
@click.option("--app", default=None, metavar="MODULE:ATTR",
              help="Deliver to an ASGI app in-process (FastAPI, Starlette) instead of a URL.")
@click.option("--app-path", default="/webhooks", show_default=True, help="The path posted to with --app.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Deliveries in flight at once.")
@click.option("--timeout", type=Seconds(), default=None, metavar="S",
              help="Per-request deadline in seconds (default: the plan's, else the gateway's).")
@click.option("--time-scale", type=TimeScale(), default="max", show_default=True,
              help="Virtual seconds per wall second (1 = real time), or `max`: no waiting, order kept.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The DuckDB file (default: CARBON_DB, else ~/.carbon/carbon.duckdb).")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a JUnit XML report here (one test case per check).")
@click.option("--workers", type=WorkersParam(), default="auto", show_default=True,
              help="Split the run by order tree across N processes (needs --webhook-url): still one run, "
                   "one record, checks and probes judged once. `auto`: one per core for a run of 20,000 "
                   "deliveries or more sent as fast as possible to a URL, else 1.")
@click.option("--shard", type=ShardParam(), default=None, metavar="K/N",
              help="Send only shard K of N of the plan's order trees (each shard on its own machine or "
                   "process, into its own --db); `carbonc merge` joins the files into one run.")
def run(**kwargs: Any) -> None:
    """Run a scenario (or a saved plan) against your webhook endpoint and record every attempt."""
    from carbonc.cli._common import guard

    guard(run_plan)(credentials=pop_credentials(kwargs), **kwargs)


__all__ = ["delivery_options", "gateway_options", "pop_credentials", "run", "run_plan"]
