"""Shared helpers for plan tests: compile a bundled scenario or a snippet."""

from __future__ import annotations

from pathlib import Path

from carbonc.api import CheckResult, compile_source, read_or_diagnose
from carbonc.compiler import CompiledPlan
from carbonc.source import Source

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.carbon"))


def compile_file(path: Path, **kw) -> CompiledPlan:
    source = read_or_diagnose(path, f"scenarios/{path.name}")
    assert not isinstance(source, CheckResult)
    result = compile_source(source, **kw)
    assert isinstance(result, CompiledPlan), [d.message for d in result.diagnostics]
    return result


def compile_text(text: str, **kw) -> CompiledPlan | CheckResult:
    return compile_source(Source(path="test.carbon", text=text), **kw)


