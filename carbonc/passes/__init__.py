"""Semantic passes over a parsed program, run in order; each is `(program, ctx) -> program`
and adds what it finds to `ctx.diagnostics`. They run in two stages (`STAGES`): loading, then
checking, which is skipped when a `use` could not be followed.

    load_imports  -> modules reachable through `use`          (imports.py)
    resolve       -> names, duplicates, `extends` merged       (resolve.py)
    check_types   -> types, units, verbs, outcomes, delivery   (types.py)
    check_phases  -> `after` graph                             (phases.py)
    check_usage   -> unused parameters                         (usage.py)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NamedTuple

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.passes._program import Context, Program, Type
from carbonc.passes.imports import load_imports
from carbonc.passes.phases import check_phases, phase_order
from carbonc.passes.resolve import resolve
from carbonc.passes.types import check_types
from carbonc.passes.usage import check_usage

__all__ = ["PASSES", "STAGES", "Context", "Pass", "Program", "Stage", "Type", "phase_order", "run_passes"]

Pass = Callable[[Program, Context], Program]


class Stage(NamedTuple):
    """`passes` run in order; after them the run stops if any diagnostic they reported is one
    that `stops` on (None: nothing stops it)."""

    passes: tuple[Pass, ...]
    stops: Callable[[Diagnostic], bool] | None = None


def _use_failed(diag: Diagnostic) -> bool:
    """Whether `diag` says a `use` could not be followed (an unknown module, a cycle, a module
    that cannot be read or has syntax errors): names from it would then be reported unknown."""
    return diag.code.family in ("files", "syntax") or diag.code in {Code.UNKNOWN_MODULE, Code.IMPORT_CYCLE}


STAGES: tuple[Stage, ...] = (
    Stage((load_imports,), stops=_use_failed),
    Stage((resolve, check_types, check_phases, check_usage)),
)
PASSES: tuple[Pass, ...] = tuple(run for stage in STAGES for run in stage.passes)

#: Recursion allowed while checking long expressions; as in `carbonc.syntax.parse`.
_RECURSION_LIMIT = 6000


def run_passes(program: Program, ctx: Context) -> Program:
    """Run every stage's passes in order, stopping after a stage that reported a diagnostic
    it stops on."""
    # The passes recurse over expressions as deep as the parser accepts (see syntax.parse).
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    try:
        for stage in STAGES:
            reported = len(ctx.diagnostics)
            for run in stage.passes:
                program = run(program, ctx)
            if stage.stops is not None and any(stage.stops(d) for d in ctx.diagnostics[reported:]):
                break
    finally:
        sys.setrecursionlimit(old_limit)
    return program
