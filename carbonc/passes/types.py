"""Checks types and units: money with ISO 4217 currencies and exponents (never a bare number),
ratios within 0–100%, durations, integer ranges, what each verb, outcome and delivery setting
accepts, and that outcome shares add up. Records every parameter's type.

Expressions and values are checked by `_exprs`, statements and outcome mixes by `_actions`,
delivery settings by `_delivery`, and checks and probes by `_probes`.

>>> # `amount 2500` -> C0304 money needs a currency; `dispute 150% of …` -> C0305
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from carbonc.codes import Code
from carbonc.domain import vocabulary
from carbonc.domain.values import EvalError, NotConstant, Value
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.passes._actions import ActionChecker
from carbonc.passes._delivery import DeliveryChecker
from carbonc.passes._exprs import Env, ExprChecker
from carbonc.passes._probes import ProbeChecker
from carbonc.passes._program import Context, Program, Type


class _Checkers:
    """The checkers for one file's declarations, or for one scenario with its parameters."""

    def __init__(self, env: Env, mixes: Mapping[str, ir.Mix]):
        self.actions = ActionChecker(env, mixes)
        self.delivery = DeliveryChecker(env)
        self.probes = ProbeChecker(env)


def _param_env(ctx: Context, path: str, scenario: ir.Scenario,
               own: set[int]) -> tuple[dict[str, Type], dict[str, Value]]:
    """Type and evaluate the parameters of (merged) `scenario`; report problems only in those
    written in this file (`own`), since inherited ones are checked where they are declared."""
    types: dict[str, Type] = {}
    values: dict[str, Value] = {}
    silent = Context(stdlib=ctx.stdlib)
    for param in scenario.params:
        report_to = ctx if id(param) in own else silent
        checker = ExprChecker(Env(report_to, path, types, values))
        t = checker.infer(param.default)
        if t.kind == "ratio":
            checker.ratio_range(param.default)
        name = param.name.name
        types[name] = t
        try:
            values[name] = evaluate(param.default, values)
        except NotConstant as err:
            if str(err) in vocabulary.METRICS:  # unknown names were reported by resolve
                report_to.report(Code.TYPE_MISMATCH, f"the default of `{name}` must be a constant", path,
                                 param.default.span,
                                 label=f"`{err}` depends on the run", help="use literals and earlier parameters only")
        except (EvalError, ArithmeticError):
            pass
    return types, values


def _check_overrides(ctx: Context, path: str, child: ir.Scenario, base: ir.Scenario,
                     types: dict[str, Type]) -> None:
    """A parameter a child scenario overrides keeps the type the base scenario uses it as."""
    base_types, _ = _param_env(Context(stdlib=ctx.stdlib), path, base, set())
    for param in child.params:
        name = param.name.name
        want, got = base_types.get(name), types.get(name)
        if want is None or got is None or "any" in (want.kind, got.kind):
            continue
        same = want.kind == got.kind or {want.kind, got.kind} == {"ratio", "number"}
        if not same or (want.kind == "money" and want.currency != got.currency):
            ctx.report(Code.TYPE_MISMATCH, f"`{name}` is a {want} in `{base.name.name}`, not a {got}", path,
                       param.default.span, label=f"a {got}",
                       help=f"override it with a {want}, as `{base.name.name}` uses it")


def check_types(program: Program, ctx: Context) -> Program:
    """Type-check every module's declarations and the root's scenarios; record parameter types."""
    param_types: dict[str, dict[str, Type]] = {}
    all_mixes: dict[str, ir.Mix] = {}
    for module in program.modules.values():
        for decl in module.decls:
            if isinstance(decl, ir.Mix):
                all_mixes.setdefault(decl.name.name, decl)
    all_maps: dict[str, ir.Map] = {}
    for module in program.modules.values():
        for decl in module.decls:
            if isinstance(decl, ir.Map):
                all_maps.setdefault(decl.name.name, decl)
    for module in program.modules.values():
        checkers = _Checkers(Env(ctx, module.path, {}, {}, all_maps), all_mixes)
        for decl in module.decls:
            match decl:
                case ir.Map(entries=entries):
                    for entry in entries:
                        checkers.probes.infer(entry.value)
                case ir.Oracle(probes=probes):
                    for probe in probes:
                        checkers.probes.check(probe)
                case ir.Mix(outcomes=outcomes):
                    checkers.actions.mix_declaration(outcomes)
                case ir.Profile(items=items):
                    checkers.delivery.deliver_items(items)
                case ir.Ladder(steps=steps):
                    checkers.delivery.ladder(steps)
                case ir.Use() | ir.Scenario():
                    pass  # scenarios are checked below, with their parameters
                case _:
                    assert_never(decl)
    merged_by_name = {m.name.name: m for pairs in program.declared.values() for _, m in pairs}
    for key, pairs in program.declared.items():
        path = program.modules[key].path
        for declared, merged in pairs:
            types, values = _param_env(ctx, path, merged, {id(p) for p in declared.params})
            if declared.extends is not None and declared.extends.name in merged_by_name:
                _check_overrides(ctx, path, declared, merged_by_name[declared.extends.name], types)
            if key == program.root:
                param_types[merged.name.name] = types
            checkers = _Checkers(Env(ctx, path, types, values, all_maps), all_mixes)
            for phase in declared.phases:
                for action in phase.actions:
                    checkers.actions.action(action)
            for deliver in declared.delivers:
                checkers.delivery.deliver(deliver)
            for check in declared.checks:
                checkers.probes.check(check)
    return Program(root=program.root, modules=program.modules, imports=program.imports,
                   scenarios=program.scenarios, declared=program.declared, param_types=param_types)
