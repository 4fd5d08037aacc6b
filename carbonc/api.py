"""Wires the stages together: source -> parse -> passes (check), and source -> parse -> format."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from carbonc._data import data_dir
from carbonc.diagnostics import Diagnostic, sort_key
from carbonc.passes import Context, Program, run_passes
from carbonc.source import Source, SourceReadError, Span, read_source
from carbonc.syntax import parse


class CheckResult(msgspec.Struct, frozen=True):
    """What checking found: the checked `program` (None if it could not be parsed), all
    `diagnostics` sorted by file and position, and the `sources` they point into."""

    program: Program | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, Source]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building trees.

    Parsing allocates hundreds of thousands of acyclic objects; the collector's repeated full
    scans of them cost a third of the front end's time. Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_source(source: Source) -> CheckResult:
    """Parse and check `source` and every module it uses."""
    with paused_gc():
        return _check_source(source)


def _check_source(source: Source) -> CheckResult:
    ctx = Context(stdlib=data_dir("stdlib"), sources={})
    key = str(Path(source.file).resolve()) if source.file else source.path
    ctx.sources[key] = source
    parsed = parse(source)
    ctx.diagnostics.extend(parsed.diagnostics)
    program = None
    if parsed.module is not None and not any(d.code.startswith("C01") for d in parsed.diagnostics):
        program = run_passes(Program(root=key, modules={key: parsed.module}), ctx)
    by_path = {s.path: s for s in ctx.sources.values()}
    return CheckResult(program, tuple(sorted(ctx.diagnostics, key=sort_key)), by_path)


def read_or_diagnose(path: Path, shown: str | None = None) -> Source | CheckResult:
    """Read `path`, or return a CheckResult holding the diagnostic that says why it can't be."""
    shown = shown or None
    try:
        return read_source(path, shown)
    except SourceReadError as err:
        from carbonc.source import display_path
        name = shown or display_path(path)
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


def compile_source(source: Source, *, overrides: dict[str, str] | None = None, seed: int | None = None,
                   scenario: str | None = None, delivery: dict[str, object] | None = None):
    """Check `source` and compile its scenario into a plan. Return the CompiledPlan, or the
    CheckResult whose diagnostics say why it could not be compiled."""
    from carbonc.errors import CompileError
    from carbonc.plan import compile_plan

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
