"""carbonc: chaos engineering for payment integrations, as a small declarative language.

The public API; everything else is an implementation detail. Names load on first use, so
`import carbonc` stays cheap for the command line.

    >>> from carbonc import check_path
    >>> result = check_path(Path("scenarios/dispute-spike.carbon"))
    >>> result.ok
    True
    >>> plan = load_plan(Path("scenarios/dispute-spike.carbon"), overrides={"baseline_orders": "50"})
    >>> result = run(plan, RunOptions(url="http://127.0.0.1:8000/hooks"), Path("runs.duckdb"))
    >>> result.status, result.passed
    ('completed', True)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: The package's version (the build reads it from here; a run records it).
__version__ = "0.1.0"

__all__ = [
    "CarbonError",
    "CheckResult",
    "CompileError",
    "CompiledPlan",
    "Diagnostic",
    "ExecutionError",
    "InternalError",
    "PlanInput",
    "RunOptions",
    "RunResult",
    "Source",
    "StoreError",
    "check_path",
    "check_source",
    "compile_source",
    "diagnostic_text",
    "format_source",
    "load_plan",
    "open_store",
    "read_source",
    "run",
    "write_plan",
]

_WHERE = {
    "CarbonError": "carbonc.errors",
    "CompileError": "carbonc.errors",
    "ExecutionError": "carbonc.errors",
    "InternalError": "carbonc.errors",
    "StoreError": "carbonc.errors",
    "CheckResult": "carbonc.api",
    "check_path": "carbonc.api",
    "check_source": "carbonc.api",
    "compile_source": "carbonc.api",
    "CompiledPlan": "carbonc.compiler",
    "write_plan": "carbonc.plan.saved",
    "Diagnostic": "carbonc.diagnostics",
    "diagnostic_text": "carbonc.diagnostics",
    "Source": "carbonc.source",
    "read_source": "carbonc.source",
    "format_source": "carbonc.fmt",
    "PlanInput": "carbonc.exec",
    "RunOptions": "carbonc.exec",
    "RunResult": "carbonc.exec",
    "load_plan": "carbonc.api",
    "run": "carbonc.api",
    "open_store": "carbonc.store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'carbonc' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
