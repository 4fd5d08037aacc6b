"""Compiles a scenario's `expect` and `finding` lines into the plan's checks: the parameters'
values substituted and every part that does not depend on the run folded to a constant, so
`expect disputes == round(baseline_orders * dispute_rate)` is judged as `disputes == 150`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, assert_never

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.domain import vocabulary
from carbonc.domain.values import EvalError, Value
from carbonc.errors import CompileError, InternalError
from carbonc.ir import nodes as ir
from carbonc.ir.text import expr_text
from carbonc.ir.values import evaluate
from carbonc.ir.walk import subexpressions
from carbonc.passes import Program
from carbonc.plan.judge import constant
from carbonc.plan.records import (
    BinaryExpr,
    CallExpr,
    Check,
    CheckExpr,
    ListExpr,
    MapCall,
    MetricRef,
    UnaryExpr,
)


def compile_checks(program: Program, scenario: ir.Scenario, values: Mapping[str, Value]) -> tuple[Check, ...]:
    """The plan's checks for `scenario` (probes are not among them); raise CompileError when a
    constant part cannot be computed with these parameter values (a division by zero)."""
    paths = _declaring_paths(program)
    checks: list[Check] = []
    names: set[str] = set()
    errors: list[Diagnostic] = []

    def measured(n: ir.Expr | ir.Rest) -> bool:
        """What only the run gives: a name that no parameter does."""
        return isinstance(n, ir.Name) and n.dotted not in values

    for check in scenario.checks:
        kind: Literal["expect", "finding"]
        message: str | None
        match check:
            case ir.Expect(condition=condition, severity=severity):
                kind, message, written = "expect", None, "expect"
            case ir.Finding(condition=condition, message=said, severity=severity):
                kind, message, written = "finding", said.value, "finding when"
            case ir.Probe():
                continue
            case _:
                assert_never(check)
        text = expr_text(condition)
        name = base = f"{written} {text}"
        copy = 1
        while name in names:
            copy += 1
            name = f"{base} #{copy}"
        names.add(name)
        try:
            expr = fold(condition, values, measured, {})
        except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
            why = str(exc) if isinstance(exc, EvalError) else "the arithmetic has no exact result"
            errors.append(Diagnostic(
                code=Code.DIVISION_BY_ZERO if "zero" in why else Code.TYPE_MISMATCH,
                message=f"this check cannot be computed with these parameter values: {why}",
                path=paths.get(id(check), program.root_module.path), span=condition.span,
                help="check the --set values it depends on"))
            continue
        checks.append(Check(kind=kind, name=name, severity=severity.name if severity else None, text=text,
                            expr=expr, message=message))
    if errors:
        raise CompileError(errors)
    return tuple(checks)


def _declaring_paths(program: Program) -> dict[int, str]:
    """The file each check was written in (a scenario may inherit checks from another file)."""
    paths: dict[int, str] = {}
    for key, pairs in program.declared.items():
        for declared, _ in pairs:
            for check in declared.checks:
                paths[id(check)] = program.modules[key].path
    return paths


def fold(expr: ir.Expr, values: Mapping[str, Value], observed: Callable[[ir.Expr | ir.Rest], bool],
         maps: Mapping[str, dict[str, int | str | bool]]) -> CheckExpr:
    """`expr` as the plan keeps it: every part in which `observed` finds nothing folded to a
    constant with `values`; the names it finds kept as `MetricRef`s and the calls of `maps` as
    `MapCall`s, for the run to evaluate."""
    if not any(observed(n) for n in subexpressions(expr)):
        return constant(evaluate(expr, values))
    match expr:
        case ir.Name() as name:
            return MetricRef(name=name.dotted)
        case ir.Unary(op=op, operand=operand):
            return UnaryExpr(op=op, operand=fold(operand, values, observed, maps))
        case ir.Binary(op=op, left=left, right=right):
            return BinaryExpr(op=op, left=fold(left, values, observed, maps), right=fold(right, values, observed, maps))
        case ir.Call(func=func, args=args) if func.name in maps and func.name not in vocabulary.FUNCTIONS:
            return MapCall(map=func.name, table=maps[func.name], arg=fold(args[0], values, observed, maps))
        case ir.Call(func=func, args=args):
            return CallExpr(func=func.name, args=tuple(fold(a, values, observed, maps) for a in args))
        case ir.ListLit(items=items):
            return ListExpr(items=tuple(fold(i, values, observed, maps) for i in items))
    # A literal holds nothing `observed` finds, so it was folded above.
    raise InternalError(  # pragma: no cover
        f"a condition's {type(expr).__name__} has something observed in it but no place for it")
