"""Wires the stages together: source -> parse -> passes (`check_source`), source -> format
(`format_path`), source -> plan (`compile_source`, `load_plan`), plan -> run -> store (`run`), and
store -> run again -> store (`replay`).

The command line is flags and rendering over these. Each stage is imported where it is used, so
running a saved plan never loads the compiler and checking never loads the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from carbonc._gc import paused_gc
from carbonc.diagnostics import Diagnostic, sort_key
from carbonc.domain.vocabulary import DeliveryOverrides
from carbonc.source import Source, SourceReadError, Span, read_source

if TYPE_CHECKING:
    from carbonc.compiler import CompiledPlan
    from carbonc.exec import PlanInput, PreparedRun, RunOptions, RunResult
    from carbonc.exec.replay import ReplayOptions, ReplayResult
    from carbonc.exec.tally import Tally
    from carbonc.passes import Program
    from carbonc.plan.records import Header, Summary


class CheckResult(msgspec.Struct, frozen=True):
    """What checking found: the checked `program` (None if it could not be parsed), all
    `diagnostics` sorted by file and position, and the `sources` they point into."""

    program: Program | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, Source]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check_source(source: Source) -> CheckResult:
    """Parse and check `source` and every module it uses."""
    with paused_gc():
        return _check_source(source)


def _check_source(source: Source) -> CheckResult:
    from carbonc._data import data_dir
    from carbonc.passes import Context, Program, run_passes
    from carbonc.syntax import parse

    ctx = Context(stdlib=data_dir("stdlib"), sources={})
    key = str(Path(source.file).resolve()) if source.file else source.path
    ctx.sources[key] = source
    parsed = parse(source)
    ctx.diagnostics.extend(parsed.diagnostics)
    program = None
    if parsed.module is not None and not any(d.code.family == "syntax" for d in parsed.diagnostics):
        program = run_passes(Program(root=key, modules={key: parsed.module}), ctx)
    by_path = {s.path: s for s in ctx.sources.values()}
    return CheckResult(program, tuple(sorted(ctx.diagnostics, key=sort_key)), by_path)


def read_or_diagnose(path: Path, shown: str | None = None) -> Source | CheckResult:
    """Read `path`, or return a CheckResult holding the diagnostic that says why it can't be."""
    shown = shown or None
    try:
        return read_source(path, shown)
    except SourceReadError as err:
        from carbonc.source import shown_path

        name = shown or shown_path(path)
        span = None
        sources: dict[str, Source] = {}
        if err.offset is not None and err.text is not None:
            src = Source(path=name, text=err.text)
            span = src.span_at(err.offset)
            sources[name] = src
        elif err.position is not None:
            line, col = err.position  # where, with no source to show: the file is not text
            span = Span(0, 0, line, col, line, col + 1)
        diag = Diagnostic(code=err.code, message=err.message, path=name, span=span, help=err.help)
        return CheckResult(None, (diag,), sources)


def check_path(path: Path, shown: str | None = None) -> CheckResult:
    """Read and check the file at `path`."""
    source = read_or_diagnose(path, shown)
    if isinstance(source, CheckResult):
        return source
    return check_source(source)


class FormatOutcome(msgspec.Struct, frozen=True):
    """The result of formatting one file: new `text`, whether it `changed`, or `errors`."""

    text: str = ""
    changed: bool = False
    errors: CheckResult | None = None


def format_path(path: Path, shown: str | None = None) -> FormatOutcome:
    """Format the file at `path` (without writing it)."""
    from carbonc.fmt import format_source

    source = read_or_diagnose(path, shown)
    if isinstance(source, CheckResult):
        return FormatOutcome(errors=source)
    with paused_gc():
        result = format_source(source)
    if result.text is None:
        return FormatOutcome(errors=CheckResult(None, result.diagnostics, {source.path: source}))
    return FormatOutcome(text=result.text, changed=result.text != source.text)


def compile_source(source: Source, *, overrides: Mapping[str, str] | None = None, seed: int | None = None,
                   scenario: str | None = None,
                   delivery: DeliveryOverrides | None = None) -> CompiledPlan | CheckResult:
    """Check `source` and compile its scenario into a plan. Return the CompiledPlan, or the
    CheckResult whose diagnostics say why it could not be compiled."""
    from carbonc.compiler import compile_plan
    from carbonc.errors import CompileError

    checked = check_source(source)
    if not checked.ok or checked.program is None:
        return checked
    try:
        with paused_gc():
            return compile_plan(checked.program, source.text, scenario=scenario, overrides=overrides, seed=seed,
                                delivery=delivery)
    except CompileError as err:
        diagnostics = tuple(sorted((*checked.diagnostics, *err.diagnostics), key=sort_key))
        return CheckResult(checked.program, diagnostics, checked.sources)


def load_plan(path: Path, shown: str | None = None, *, overrides: Mapping[str, str] | None = None,
              seed: int | None = None, scenario: str | None = None,
              delivery: DeliveryOverrides | None = None) -> PlanInput | CheckResult:
    """The plan to run from `path`: a saved plan, checked whole (raises `errors.PlanError`;
    nothing of the compiler is loaded), or a `.carbon` file compiled with `overrides`, `seed`,
    `scenario` and `delivery` (the CheckResult that says why it cannot be). A saved plan is what
    it is: giving it any of those raises ValueError."""
    from carbonc.exec import PlanInput
    from carbonc.plan.saved import is_saved_plan

    if is_saved_plan(path):
        if overrides or seed is not None or scenario or delivery:
            raise ValueError("a saved plan cannot be compiled again with other parameters, seed, scenario or "
                             "delivery overrides")
        return PlanInput.from_file(path)
    source = read_or_diagnose(path, shown)
    if isinstance(source, CheckResult):
        return source
    compiled = compile_source(source, overrides=overrides, seed=seed, scenario=scenario, delivery=delivery)
    return compiled if isinstance(compiled, CheckResult) else PlanInput.from_compiled(compiled)


def provider_problems(provider: str, header: Header, summary: Summary) -> tuple[list[str], list[str]]:
    """What `provider` makes of a plan: errors for the signature modes it cannot produce, and
    warnings for the events it never sends (those messages are not delivered)."""
    from carbonc.dialects import check_modes, unsupported_events

    modes = [s.mode for p in header.policies for s in p.signatures if Decimal(s.share) > 0]
    warnings = []
    for event, why in sorted(unsupported_events(provider).items()):
        count = summary.messages.get(event, 0)
        if count:
            warnings.append(f"{why} ({count:,} message{'s' * (count != 1)})")
    return check_modes(provider, modes), warnings


class PlanRefused(Exception):
    """The plan cannot be run as the options say; `errors` are the reasons, one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class ReadyRun:
    """A run checked and ready, nothing opened or recorded yet: the `warnings` to show before it
    starts, and `execute` to carry it out into the store at `db`."""

    def __init__(self, prepared: PreparedRun, warnings: list[str], workers: int = 1):
        self.prepared, self.warnings, self.workers = prepared, warnings, workers

    def execute(self, db: Path, *, progress: Callable[[Tally], None] | None = None) -> RunResult:
        """Open the store at `db`, run, close it. Raises StoreError when the run cannot even be
        recorded as started; a failure after that is the result's `status` and `error`."""
        from carbonc.store import open_store

        if self.workers > 1:
            from carbonc.exec.workers import WorkersRun

            return WorkersRun(self.prepared, self.workers).execute(db, progress=progress)

        store = open_store(db)
        try:
            return self.prepared.execute(store, progress=progress)
        finally:
            store.close()


def prepare_run(plan: PlanInput, options: RunOptions, *, workers: int | None = 1) -> ReadyRun:
    """Check that `plan` can run with `options` before anything is opened or recorded: the
    provider can sign in every mode the plan uses (else PlanRefused), and the provider, secret,
    target and limits are valid (else ExecutionError, whose message never holds a secret).
    With `workers` > 1 the run is split by order tree across that many processes (see
    `exec.workers`), still one run; None: as many as `exec.workers.auto_workers` finds fastest."""
    from carbonc.exec import prepare

    errors, warnings = provider_problems(options.provider, plan.header, plan.summary)
    if errors:
        raise PlanRefused(errors)
    warnings[:0] = plan.header.warnings
    rotated = sorted({s.mode for p in plan.header.policies for s in p.signatures
                      if s.mode in ("old_secret", "rotation") and Decimal(s.share) > 0})
    if rotated and (options.url or options.app) and options.previous_secret is None:
        warnings.append(f"the plan signs messages `{'`, `'.join(rotated)}` with the pre-rotation secret, and none "
                        "was given: one derived from the current secret is used, which your handler cannot know "
                        "(give --webhook-previous-secret)")
    prepared = prepare(plan, options)
    if workers is None:
        from carbonc.exec.workers import auto_workers

        workers = auto_workers(plan.summary.deliveries, options)
    if workers > 1:
        from carbonc.errors import ExecutionError
        from carbonc.exec.workers import worker_options

        if options.shard is not None:
            raise ExecutionError("give --shard or --workers, not both")
        worker_options(options, workers)  # a run that cannot be split is refused now
    return ReadyRun(prepared, warnings, workers)


def run(plan: PlanInput, options: RunOptions, db: Path, *,
        progress: Callable[[Tally], None] | None = None) -> RunResult:
    """Run `plan` with `options`, recorded in the DuckDB file `db`: `prepare_run`, then execute.

        >>> result = run(load_plan(Path("refund-storm.carbon")), RunOptions(url="http://127.0.0.1:8000/hooks"),
        ...              Path("runs.duckdb"))
        >>> result.status, result.passed
        ('completed', True)
    """
    return prepare_run(plan, options).execute(db, progress=progress)


def replay(run_id: str, options: ReplayOptions, db: Path) -> ReplayResult:
    """Send the messages run `run_id` recorded in the DuckDB file `db` again, as a new run there
    linked to it (`runs.replay_of`); see `carbonc.exec.replay`.

        >>> result = replay("run_20261126T051200_9f3ab2c1", ReplayOptions(url="http://127.0.0.1:8000/hooks"),
        ...                 Path("runs.duckdb"))
        >>> result.status, result.passed
        ('completed', True)

    Raises ExecutionError, before anything is recorded, for input that cannot be replayed (no
    database, an unknown run, nothing left by `only`, a bad secret or target), and StoreError when
    the database cannot be opened (held by another run, say).
    """
    from carbonc.errors import ExecutionError
    from carbonc.exec.replay import prepare_replay
    from carbonc.store import open_store

    if not db.expanduser().is_file():
        raise ExecutionError(f"no database at `{db}` (nothing has been run yet?)")
    with open_store(db) as store:
        return prepare_replay(store, run_id, options).execute()
