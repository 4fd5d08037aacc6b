"""Semantic passes over a parsed program, run in order; each is `(program, ctx) -> program`
and adds what it finds to `ctx.diagnostics`.

    load_imports  -> modules reachable through `use`          (imports.py)
    resolve       -> names, duplicates, `extends` merged       (resolve.py)
    check_types   -> types, units, verbs, outcomes, delivery   (types.py)
    check_phases  -> `after` graph                             (phases.py)
    check_usage   -> unused parameters                         (usage.py)
"""

from __future__ import annotations

from carbonc.passes._program import Context, Program, Type
from carbonc.passes.imports import load_imports
from carbonc.passes.phases import check_phases, phase_order
from carbonc.passes.resolve import resolve
from carbonc.passes.types import check_types
from carbonc.passes.usage import check_usage

__all__ = ["PASSES", "Context", "Program", "Type", "phase_order", "run_passes"]

PASSES = (load_imports, resolve, check_types, check_phases, check_usage)


def run_passes(program: Program, ctx: Context) -> Program:
    """Run every pass in order. Loading stops early when a used module has syntax errors,
    since names from it would then be reported as unknown."""
    program = load_imports(program, ctx)
    if ctx.has_errors and any(d.code.startswith("C01") for d in ctx.diagnostics):
        return program
    for run in PASSES[1:]:
        program = run(program, ctx)
    return program
