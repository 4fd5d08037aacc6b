"""The public surface of `carbonc` is exactly `__all__`, and every name in it resolves."""

from __future__ import annotations

import subprocess
import sys

import carbonc

EXPECTED = {
    "CarbonError", "CheckResult", "CompileError", "CompiledPlan", "Diagnostic", "ExecutionError",
    "InternalError", "Source", "StoreError", "check_path", "check_source", "compile_source",
    "format_source", "read_source", "diagnostic_text", "write_plan",
    "PlanInput", "RunOptions", "RunResult", "load_plan", "run", "open_store",
}


def test_all_is_the_public_surface() -> None:
    assert set(carbonc.__all__) == EXPECTED
    for name in carbonc.__all__:
        assert getattr(carbonc, name) is not None


def test_error_tree() -> None:
    for name in ("CompileError", "ExecutionError", "StoreError", "InternalError"):
        assert issubclass(getattr(carbonc, name), carbonc.CarbonError)


def test_import_is_cheap() -> None:
    code = "import sys, carbonc; print(sorted(m for m in ('lark', 'msgspec', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
