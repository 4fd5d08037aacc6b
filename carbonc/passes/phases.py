"""Checks each scenario's phase graph: `after` names a phase of the scenario (C0206) and the
dependencies have no cycle (C0207).

>>> # phase a after b { … }  phase b after a { … }  -> C0207 phase dependency cycle: a -> b -> a
"""

from __future__ import annotations

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.ir import nodes as ir
from carbonc.passes._program import Context, Program


def phase_order(scenario: ir.Scenario) -> tuple[ir.Phase, ...]:
    """Return the phases so that each comes after those it names in `after`; ties keep source
    order (a stable, deterministic topological sort). Unknown names and cycles are ignored."""
    phases = {p.name.name: p for p in scenario.phases}
    done: dict[str, ir.Phase] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting or name not in phases:
            return
        visiting.add(name)
        for dep in phases[name].after:
            visit(dep.name)
        visiting.discard(name)
        done[name] = phases[name]

    for name in phases:
        visit(name)
    return tuple(done.values())


def _cycles(scenario: ir.Scenario, ctx: Context, path: str, own: set[str]) -> None:
    phases = {p.name.name: p for p in scenario.phases}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        trail.append(name)
        for dep in phases[name].after:
            if dep.name not in phases or dep.name == name:
                continue  # unknown phases and self-dependencies are reported by check_phases
            if state.get(dep.name) == 1:
                cycle = [*trail[trail.index(dep.name):], dep.name]
                key = frozenset(cycle)
                if key not in reported and name in own:
                    reported.add(key)
                    ctx.report(Code.PHASE_CYCLE, "phase dependency cycle: " + " -> ".join(cycle), path, dep.span,
                               label="closes the cycle", help="remove one of the `after` dependencies")
            elif dep.name not in state:
                visit(dep.name, trail)
        trail.pop()
        state[name] = 2

    for name in phases:
        if name not in state:
            visit(name, [])


def check_phases(program: Program, ctx: Context) -> Program:
    """Report unknown and cyclic phase dependencies in every scenario."""
    for key, pairs in program.declared.items():
        path = program.modules[key].path
        for declared, merged in pairs:
            names = [p.name.name for p in merged.phases]
            own = {p.name.name for p in declared.phases}
            for phase in declared.phases:
                for dep in phase.after:
                    if dep.name == phase.name.name:
                        ctx.report(Code.PHASE_CYCLE, f"phase `{dep.name}` comes after itself", path, dep.span,
                                   label="depends on itself", help="remove it from `after`")
                    elif dep.name not in names:
                        ctx.report(Code.UNKNOWN_PHASE, f"unknown phase `{dep.name}`", path, dep.span,
                                   label="no phase of this name",
                                   help=did_you_mean(dep.name, names)
                                   or "phases here: " + ", ".join(f"`{n}`" for n in names))
            _cycles(merged, ctx, path, own)
    return program
