"""Compiles a scenario's `expect` and `finding` lines into the plan's checks: the parameters'
values substituted and every part that does not depend on the run folded to a constant, so
`expect disputes == round(baseline_orders * dispute_rate)` is judged as `disputes == 150`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from carbonc.diagnostics import Diagnostic
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
    for check in scenario.checks:
        match check:
            case ir.Expect(condition=condition, severity=severity):
                kind, message = "expect", None
            case ir.Finding(condition=condition, message=text, severity=severity):
                kind, message = "finding", text.value
            case ir.Probe():
                continue
            case _:
                assert_never(check)
        text = expr_text(condition)
        name = base = f"expect {text}" if kind == "expect" else f"finding when {text}"
        copy = 1
        while name in names:
            copy += 1
            name = f"{base} #{copy}"
        names.add(name)
        try:
            expr = _fold(condition, values)
        except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
            why = str(exc) if isinstance(exc, EvalError) else "the arithmetic has no exact result"
            errors.append(Diagnostic(
                code="C0316" if "zero" in why else "C0303",
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


def _fold(expr: ir.Expr, values: Mapping[str, Value]) -> CheckExpr:
    if not any(isinstance(n, ir.Name) and n.dotted not in values for n in subexpressions(expr)):
        return constant(evaluate(expr, values))
    match expr:
        case ir.Name() as name:
            return MetricRef(name=name.dotted)
        case ir.Unary(op=op, operand=operand):
            return UnaryExpr(op=op, operand=_fold(operand, values))
        case ir.Binary(op=op, left=left, right=right):
            return BinaryExpr(op=op, left=_fold(left, values), right=_fold(right, values))
        case ir.Call(func=func, args=args):
            return CallExpr(func=func.name, args=tuple(_fold(a, values) for a in args))
        case ir.ListLit(items=items):
            return ListExpr(items=tuple(_fold(i, values) for i in items))
    raise InternalError(f"a check's {type(expr).__name__} has a metric in it but no place for one")  # pragma: no cover
