"""Semantic passes over a parsed program, run in order; each is `(program, ctx) -> program`
and adds what it finds to `ctx.diagnostics`.

    load_imports  -> modules reachable through `use`          (imports.py)
    resolve       -> names, duplicates, `extends` merged       (resolve.py)
    check_types   -> types, units, verbs, outcomes, delivery   (types.py)
    check_phases  -> `after` graph                             (phases.py)
    check_usage   -> unused parameters                         (usage.py)
"""

from __future__ import annotations

import sys

from carbonc.passes._program import Context, Program, Type
from carbonc.passes.imports import load_imports
from carbonc.passes.phases import check_phases, phase_order
from carbonc.passes.resolve import resolve
from carbonc.passes.types import check_types
from carbonc.passes.usage import check_usage

__all__ = ["PASSES", "Context", "Program", "Type", "phase_order", "run_passes"]

PASSES = (load_imports, resolve, check_types, check_phases, check_usage)

#: Recursion allowed while checking long expressions; as in `carbonc.syntax.parse`.
_RECURSION_LIMIT = 6000

#: Codes `load_imports` reports when a `use` could not be followed.
_USE_FAILED = frozenset({"C0203", "C0205"})


def run_passes(program: Program, ctx: Context) -> Program:
    """Run every pass in order. Checking stops after loading when a `use` failed (unknown
    module, cycle, syntax errors in a used module), since names from it would then be
    reported as unknown."""
    loaded = len(ctx.diagnostics)
    program = load_imports(program, ctx)
    if any(d.code.startswith(("C00", "C01")) or d.code in _USE_FAILED for d in ctx.diagnostics[loaded:]):
        return program
    # The passes recurse over expressions as deep as the parser accepts (see syntax.parse).
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    try:
        for run in PASSES[1:]:
            program = run(program, ctx)
    finally:
        sys.setrecursionlimit(old_limit)
    return program
