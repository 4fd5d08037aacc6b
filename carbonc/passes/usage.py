"""Warns about parameters a scenario declares but never uses (W0401).

A parameter counts as used when any expression of the scenario — or of a scenario extending it
in the same program — names it.
"""

from __future__ import annotations

from typing import assert_never

from carbonc.codes import Code
from carbonc.ir import nodes as ir
from carbonc.ir.walk import action_expressions, deliver_item_expressions, subexpressions
from carbonc.passes._program import Context, Program
from carbonc.templates import template_names


def _names(scenario: ir.Scenario) -> set[str]:
    exprs: list[ir.Expr] = [p.default for p in scenario.params]
    for phase in scenario.phases:
        for action in phase.actions:
            exprs += action_expressions(action)
            if isinstance(action.target, ir.Selection) and action.target.where is not None:
                exprs.append(action.target.where)
    for deliver in scenario.delivers:
        for item in deliver.items:
            exprs += deliver_item_expressions(item)
    for check in scenario.checks:
        match check:
            case ir.Expect(condition=c) | ir.Finding(condition=c):
                exprs.append(c)
            case ir.Probe(expects=expects, selection=sel, eventually=window):
                exprs += expects
                if window is not None:
                    exprs.append(window)
                if sel is not None and sel.quantity is not None:
                    exprs.append(sel.quantity)
                if sel is not None and sel.where is not None:
                    exprs.append(sel.where)
            case _:
                assert_never(check)
    names = {n.parts[0] for e in exprs for n in subexpressions(e) if isinstance(n, ir.Name)}
    return names | _template_names([c for c in scenario.checks if isinstance(c, ir.Probe)])


def _template_names(probes: list[ir.Probe]) -> set[str]:
    """Parameters named in probes' templates (`{{ orders_path }}`); a template that does not parse
    names none (check_types reports it)."""
    return {name for probe in probes for text in (probe.url, probe.body, *(h.value for h in probe.headers))
            if text is not None for name in template_names(text.value)}


def check_usage(program: Program, ctx: Context) -> Program:
    """Report each declared parameter that no expression uses (not in a program with errors,
    where a misspelt use would make its parameter look unused)."""
    if ctx.has_errors:
        return program
    merged_all = [m for pairs in program.declared.values() for _, m in pairs]
    used_anywhere: dict[str, set[str]] = {}
    for merged in merged_all:
        used_anywhere.setdefault(merged.name.name, set()).update(_names(merged))
    for key, pairs in program.declared.items():
        path = program.modules[key].path
        for declared, merged in pairs:
            used = set(used_anywhere.get(merged.name.name, set()))
            # Parameters of a base scenario may be used only by scenarios extending it.
            for other in merged_all:
                if other.extends is not None and other.extends.name == declared.name.name:
                    used |= _names(other)
            for param in declared.params:
                # A parameter is "used" by its own default only if another one refers to it.
                if param.name.name not in used or _only_self(param, merged):
                    ctx.report(Code.UNUSED_PARAMETER, f"parameter `{param.name.name}` is never used", path,
                               param.name.span,
                               label="declared here", severity="warning",
                               help="use it in the scenario, or remove it")
    return program


def _only_self(param: ir.Param, scenario: ir.Scenario) -> bool:
    name = param.name.name
    others = ir.Scenario(
        span=scenario.span, name=scenario.name, extends=scenario.extends, about=None, category=None, tags=(),
        params=tuple(p for p in scenario.params if p is not param), seed=None, phases=scenario.phases,
        delivers=scenario.delivers, checks=scenario.checks,
    )
    return name not in _names(others)
