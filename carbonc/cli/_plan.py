"""`carbonc plan`: compile a scenario and show, save or diff its plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from carbonc.ir.model import MAX_REPEAT, SIGNATURE_MODES

from carbonc.cli._common import (
    EXIT_CHANGES, EXIT_INVALID, EXIT_OK, emit_diagnostics, fail, guard, resolve_refs, shown,
)


def is_saved_plan(path: Path) -> bool:
    """Whether `path` holds a saved plan (JSON, whatever its spacing) rather than `.carbon` source."""
    from carbonc.plan.verify import is_plan_text

    try:
        with path.open("rb") as f:
            return is_plan_text(f.read(256))
    except OSError:
        return False


def _safe(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")[:80]


def _git_source(ref: str, new_path: Path):
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
    shown_as = f"git:{ref}:{rel}"
    done = subprocess.run(["git", "-C", top, "show", "--end-of-options", f"{ref}:{rel}"], capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        fail(f"cannot read `{rel}` at git revision `{ref}`: {message[-1] if message else 'git failed'}")
    try:
        text = decode_source(done.stdout)
    except SourceReadError as err:
        fail(f"{shown_as}: {err.message}")
    return Source(path=shown_as, text=text, file=str(new_path.resolve()))


def load(ref_path: tuple[str, Path] | None, source, overrides, seed, scenario, delivery=None):
    """Return (header, summary, compiled-or-None) for a .carbon source or a saved plan; exit 2 on errors."""
    from carbonc.api import CheckResult, compile_source, read_or_diagnose
    from carbonc.plan import CompiledPlan

    if source is None and ref_path is not None:
        ref, path = ref_path
        if is_saved_plan(path):
            from carbonc.plan.verify import PlanError, verify_plan

            try:
                header, summary = verify_plan(path)
            except PlanError as exc:
                fail(f"`{ref}` is not a plan carbonc can use: {exc}")
            return header, summary, None
        source = read_or_diagnose(path, shown(ref, path))
    if isinstance(source, CheckResult):
        emit_diagnostics(source)
        sys.exit(EXIT_INVALID)
    result = compile_source(source, overrides=overrides, seed=seed, scenario=scenario, delivery=delivery)
    if isinstance(result, CheckResult):
        emit_diagnostics(result)
        sys.exit(EXIT_INVALID)
    assert isinstance(result, CompiledPlan)
    return result.header, result.summary, result


def _with_digest(loaded):
    """(header, summary) with the summary's `records_sha256` filled in for a compiled plan, so a
    diff also sees records that changed without changing a count (an amount, a time)."""
    header, summary, compiled = loaded
    if compiled is None or summary.records_sha256 is not None:
        return header, summary
    import msgspec

    from carbonc.plan.model import Entity, Message
    from carbonc.plan.verify import digest_update, records_digest

    digest = records_digest()
    for record in compiled.records():
        if isinstance(record, (Entity, Message)):
            digest_update(digest, record)
    return header, msgspec.structs.replace(summary, records_sha256=digest.hexdigest())


def provider_problems(provider: str, header, summary) -> tuple[list[str], list[str]]:
    """(errors, warnings) of running the plan as `provider`: signature modes it cannot produce,
    and events it never sends (those messages are not delivered)."""
    from decimal import Decimal

    from carbonc.dialects import check_modes, unsupported_events

    modes = [s.mode for p in header.policies for s in p.signatures if Decimal(s.share) > 0]
    warnings = []
    for event, why in sorted(unsupported_events(provider).items()):
        count = summary.messages.get(event, 0)
        if count:
            warnings.append(f"{why} ({count:,} message{'s' * (count != 1)})")
    return check_modes(provider, modes), warnings


def check_provider(provider: str, header, summary) -> None:
    """Exit 2 if the plan signs in a mode `provider` cannot produce; warn about events it never
    sends."""
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
@click.option("--provider", type=click.Choice(["mock", "razorpay", "stripe", "cashfree", "juspay", "standard"]),
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
@click.option("--webhook-order", "order", type=click.Choice(["sequence", "reverse", "random"]), default=None,
              help="Send in plan order, reversed, or shuffled.")
@click.option("--webhook-signature", "signature", type=click.Choice(list(SIGNATURE_MODES)), default=None,
              help="Sign every message in this mode (a forged mode adds an attacker's copy beside each).")
@guard
def plan(ref, assignments, seed, scenario, provider, fmt_, out, diff_ref, detailed_exitcode, repeat, order,
         signature) -> None:
    """Compile a scenario into its deterministic event plan and show what will happen."""
    import msgspec

    from carbonc.errors import CompileError
    from carbonc.plan import write_plan
    from carbonc.plan.params import split_assignments
    from carbonc.plan.render import json_summary, text

    try:
        overrides = split_assignments(list(assignments))
    except CompileError as err:
        fail(err.diagnostics[0].message, err.diagnostics[0].help)
    (new_ref, new_path), = resolve_refs([ref])
    # The delivery overrides `run` takes are part of the plan: saved with it, and compared by --diff.
    delivery = {k: v for k, v in {"order": order, "repeat": repeat, "signature": signature}.items() if v is not None}
    if delivery and is_saved_plan(new_path):
        fail(f"`{ref}` is a saved plan, which the --webhook-order/-repeat/-signature flags cannot change",
             "plan the .carbon scenario with them")
    header, summary, compiled = load((new_ref, new_path), None, overrides, seed, scenario, delivery or None)
    if provider is not None:
        check_provider(provider, header, summary)

    if out is not None:
        if compiled is None:
            fail("--out needs a .carbon scenario, not a saved plan")
        try:
            write_plan(compiled, out)
        except OSError as exc:
            fail(f"cannot write the plan to `{out}`: {exc.strerror or exc}")
        click.echo(f"wrote {out}", err=True)

    if diff_ref is None:
        if fmt_ == "json":
            click.echo(msgspec.json.encode(json_summary(header, summary), order="deterministic").decode())
        else:
            click.echo(text(header, summary), nl=False)
        sys.exit(EXIT_OK)

    from carbonc.plan.diff import diff, render

    if diff_ref.startswith("git:"):
        old = load(None, _git_source(diff_ref[4:], new_path), overrides, seed, scenario, delivery or None)
    else:
        (old_ref, old_path), = resolve_refs([diff_ref])
        old = load((old_ref, old_path), None, overrides, seed, scenario, delivery or None)
    changes = diff(_with_digest(old), _with_digest((header, summary, compiled)))
    if fmt_ == "json":
        payload = {"changes": {name: lines for name, lines in changes.groups}, "added": changes.added,
                   "changed": changes.changed, "removed": changes.removed}
        click.echo(msgspec.json.encode(payload, order="deterministic").decode())
    else:
        click.echo(render(changes, shown(new_ref, new_path), diff_ref), nl=False)
    sys.exit(EXIT_CHANGES if (detailed_exitcode and changes.has_changes) else EXIT_OK)
