"""`carbonc plan`: compile a scenario and show, save or diff its plan."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from carbonc.cli._common import (
    EXIT_CHANGES,
    EXIT_INVALID,
    EXIT_OK,
    emit_diagnostics,
    fail,
    guard,
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
    from carbonc.compiler import CompiledPlan
    from carbonc.gateways import CoverageLine
    from carbonc.plan.records import Header, Summary
    from carbonc.source import Source

    #: A plan as `carbonc plan` has it: header, summary, and the compiled plan (None: a saved one).
    Loaded = tuple[Header, Summary, CompiledPlan | None]


def _safe(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")[:80]


def _git_source(ref: str, new_path: Path) -> Source:
    """The NEW file's text at git revision `ref`, as a Source."""
    from carbonc.source import Source, SourceReadError, decode_source

    # A revision, never an option: `git:--output=/tmp/x` must not reach `git show` as one.
    if not ref or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref) or ":" in ref:
        fail(f"`git:{_safe(ref)}` does not name a git revision", "e.g. git:HEAD, git:main, git:v1.2, git:HEAD~1")
    here = new_path.resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        fail(f"`git:{ref}` needs {new_path} to be inside a git repository")
    rel = new_path.resolve().relative_to(Path(top)).as_posix()
    shown = f"git:{ref}:{rel}"
    done = subprocess.run(["git", "-C", top, "show", "--end-of-options", f"{ref}:{rel}"], capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        fail(f"cannot read `{rel}` at git revision `{ref}`: {message[-1] if message else 'git failed'}")
    try:
        text = decode_source(done.stdout)
    except SourceReadError as err:
        fail(f"{shown}: {err.message}")
    return Source(path=shown, text=text, file=str(new_path.resolve()))


def load(origin: tuple[str, Path] | Source, overrides: Mapping[str, str], seed: int | None, scenario: str | None,
         delivery: DeliveryOverrides | None = None) -> Loaded:
    """Return (header, summary, compiled-or-None) for a file given as (reference, path), which
    may be a saved plan, or for a .carbon source in hand; exit 2 on errors. A compiled plan's
    header is its outline, each probe's `entities` left empty (`_whole` fills them in): a million
    orders' probes select 4.7 million entities, whose IDs took 230 MB."""
    from carbonc.api import CheckResult, compile_source, read_or_diagnose
    from carbonc.plan.saved import is_saved_plan

    if isinstance(origin, tuple):
        ref, path = origin
        if is_saved_plan(path):
            from carbonc.plan.verify import PlanError, verify_plan

            try:
                header, summary = verify_plan(path)
            except PlanError as exc:
                fail(f"`{ref}` is not a plan carbonc can use: {exc}")
            return header, summary, None
        read = read_or_diagnose(path, shown_path(path, ref))
        if isinstance(read, CheckResult):
            emit_diagnostics(read)
            sys.exit(EXIT_INVALID)
        origin = read
    result = compile_source(origin, overrides=overrides, seed=seed, scenario=scenario, delivery=delivery)
    if isinstance(result, CheckResult):
        emit_diagnostics(result)
        sys.exit(EXIT_INVALID)
    return result.header_outline(), result.summary, result


def _whole(loaded: Loaded) -> Loaded:
    """`loaded` with a compiled plan's whole header, the IDs of its probes' entities included."""
    header, summary, compiled = loaded
    return (header if compiled is None else compiled.header), summary, compiled


def _comparable(old: Loaded, new: Loaded) -> tuple[tuple[Header, Summary], tuple[Header, Summary]]:
    """Both plans' (header, summary), their `records_sha256` comparable: a compiled plan's is
    worked out, in the format of the saved plan it is compared with (a plan saved in format 1 has
    its digest over another encoding); two saved plans of different formats have theirs left out,
    as they cannot be compared."""
    import msgspec

    from carbonc.plan.records import FORMAT_VERSION

    saved = [loaded[0].format_version for loaded in (old, new) if loaded[2] is None]
    version = saved[0] if saved else FORMAT_VERSION
    (oh, os_), (nh, ns) = _with_digest(old, version), _with_digest(new, version)
    if len(set(saved)) > 1:
        os_, ns = (msgspec.structs.replace(s, records_sha256=None) for s in (os_, ns))
    return (oh, os_), (nh, ns)


def _with_digest(loaded: Loaded, version: int) -> tuple[Header, Summary]:
    """(header, summary) with the summary's `records_sha256` filled in for a compiled plan, in
    format `version`, so a diff also sees records that changed without changing a count (an
    amount, a time)."""
    header, summary, compiled = loaded
    if compiled is None or summary.records_sha256 is not None:
        return header, summary
    import msgspec

    from carbonc.plan.digest import digest_update, records_digest
    from carbonc.plan.records import Entity, Message

    digest = records_digest(version)
    for record in compiled.records():
        if isinstance(record, (Entity, Message)):
            digest_update(digest, record, version)
    return header, msgspec.structs.replace(summary, records_sha256=digest.hexdigest())


def check_provider(provider: str, header: Header, summary: Summary) -> None:
    """Exit 2 if the plan signs in a mode `provider` cannot produce; warn about events it never
    sends."""
    from carbonc.api import provider_problems

    errors, warnings = provider_problems(provider, header, summary)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID)


@click.command()
@click.argument("ref", metavar="FILE|NAME")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter, typed like it (repeatable).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Seed for every random choice, 0 to 2^63 - 1 (default: the scenario's).")
@click.option("--scenario", "scenario", default=None, help="Which scenario of the file (default: the first).")
@click.option("--provider", type=click.Choice(list(PROVIDERS)),
              default=None, help="Check the plan against a provider: signature modes it cannot produce are "
                                 "errors, events it never sends are warnings.")
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the whole plan (newline-delimited JSON) for `carbonc run PLAN`.")
@click.option("--diff", "diff_ref", default=None, metavar="OLD",
              help="Compare with OLD: a .carbon file or name, a saved plan, or git:REF.")
@click.option("--detailed-exitcode", is_flag=True, help="With --diff: exit 3 when there are changes.")
@click.option("--webhook-repeat", "repeat", type=click.IntRange(1, MAX_REPEAT), default=None, metavar="N",
              help="Deliver every message N times, with the same event id (as `run` takes it).")
@click.option("--webhook-order", "order", type=click.Choice(list(OVERRIDE_ORDERS)), default=None,
              help="Send in plan order, reversed, or shuffled.")
@click.option("--webhook-signature", "signature", type=click.Choice(list(SIGNATURE_MODES)), default=None,
              help="Sign every message in this mode (a forged mode adds an attacker's copy beside each).")
@click.option("--real", is_flag=True,
              help="With --provider: which facts a real-gateway run would create in the provider's test mode and "
                   "which stay simulated, and why (nothing is called; no credentials needed).")
@guard
def plan(ref: str, assignments: tuple[str, ...], seed: int | None, scenario: str | None, provider: str | None,
         fmt_: Literal["text", "json"], out: Path | None, diff_ref: str | None, detailed_exitcode: bool,
         repeat: int | None, order: Literal["sequence", "reverse", "random"] | None, signature: str | None,
         real: bool) -> None:
    """Compile a scenario into its deterministic event plan and show what will happen."""
    import msgspec

    from carbonc.plan.describe import json_summary, text
    from carbonc.plan.saved import is_saved_plan, write_plan

    overrides = parse_assignments(assignments)
    (new_ref, new_path), = resolve_refs([ref])
    # The delivery overrides `run` takes are part of the plan: saved with it, and compared by --diff.
    delivery = DeliveryOverrides(order=order, repeat=repeat, signature=signature)
    if delivery and is_saved_plan(new_path):
        fail(f"`{ref}` is a saved plan, which the --webhook-order/-repeat/-signature flags cannot change",
             "plan the .carbon scenario with them")
    if real and provider is None:
        fail("--real needs --provider: which gateway's sandbox?", "e.g. carbonc plan NAME --provider stripe --real")
    if real and diff_ref is not None:
        fail("--real and --diff cannot be combined", "show the gateway's coverage without --diff")
    header, summary, compiled = load((new_ref, new_path), overrides, seed, scenario, delivery)
    if provider is not None:
        check_provider(provider, header, summary)
    coverage = _coverage(provider, compiled, new_path) if real and provider is not None else None

    if out is not None:
        if compiled is None:
            fail("--out needs a .carbon scenario, not a saved plan")
        try:
            write_plan(compiled, out)
        except OSError as exc:
            fail(f"cannot write the plan to `{out}`: {exc.strerror or exc}")
        click.echo(f"wrote {out}", err=True)

    if diff_ref is None:
        sizes = compiled.probe_sizes() if compiled is not None else None
        if fmt_ == "json":
            document = json_summary(header, summary, sizes)
            if coverage is not None:
                document["gateway"] = {"provider": provider, "facts": [line._asdict() for line in coverage]}
            click.echo(msgspec.json.encode(document, order="deterministic").decode())
        else:
            click.echo(text(header, summary, sizes), nl=False)
            if coverage is not None:
                click.echo(_coverage_text(str(provider), coverage), nl=False)
        sys.exit(EXIT_OK)

    from carbonc.plan.diff import diff, diff_text

    if diff_ref.startswith("git:"):
        old = load(_git_source(diff_ref[4:], new_path), overrides, seed, scenario, delivery)
    else:
        (old_ref, old_path), = resolve_refs([diff_ref])
        old = load((old_ref, old_path), overrides, seed, scenario, delivery)
    changes = diff(*_comparable(_whole(old), _whole((header, summary, compiled))))
    if fmt_ == "json":
        payload = {"changes": dict(changes.groups), "added": changes.added,
                   "changed": changes.changed, "removed": changes.removed}
        click.echo(msgspec.json.encode(payload, order="deterministic").decode())
    else:
        click.echo(diff_text(changes, ref, diff_ref), nl=False)  # both as the user gave them
    sys.exit(EXIT_CHANGES if (detailed_exitcode and changes.has_changes) else EXIT_OK)


def _coverage(provider: str, compiled: CompiledPlan | None, path: Path) -> list[CoverageLine]:
    """What a real-gateway run with `provider` would make real (exit 2 if it has no real gateway)."""
    from carbonc.errors import ExecutionError
    from carbonc.gateways import coverage
    from carbonc.plan.records import Entity

    if compiled is not None:
        records = compiled.records()
    else:
        from carbonc.plan.saved import iter_plan

        records = iter_plan(path)
    try:
        return coverage(provider, (r for r in records if isinstance(r, Entity)))
    except ExecutionError as exc:
        fail(str(exc))


def _coverage_text(provider: str, lines: list[CoverageLine]) -> str:
    """The coverage as `plan` shows it: real facts first, then the simulated ones with why."""
    from carbonc.report.escape import printable

    out = [f"\nGateway ({provider}, real): created in its test mode before any webhook is sent\n"]
    width = max((len(f"{line.total:,}") for line in lines), default=1)
    for line in sorted(lines, key=lambda x: (not x.real, x.kind, x.state)):
        what = f"{line.total:>{width},} {line.kind}s {line.state}"
        if line.real:
            out.append(f"  real       {what}\n")
        else:
            out.append(f"  simulated  {what}: {printable(line.reason or '')}\n")
    return "".join(out)
