"""Evaluates constant IR expressions to exact values, with the operators and functions of
`carbonc.domain.values`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import assert_never

from carbonc.domain.units import decimal_value, duration_ms, percent_value, to_minor
from carbonc.domain.values import (
    Duration,
    Money,
    NotConstant,
    Value,
    binary,
    call,
    decided_by,
    unary,
)
from carbonc.ir import nodes as ir

__all__ = ["evaluate"]


def evaluate(expr: ir.Expr, env: Mapping[str, Value]) -> Value:
    """Return the value of `expr` with names bound by `env`; raise NotConstant or EvalError."""
    match expr:
        case ir.IntLit(value=v):
            return v
        case ir.DecimalLit(text=t):
            return decimal_value(t)
        case ir.PercentLit(text=t):
            return percent_value(t)
        case ir.MoneyLit(currency=c, amount=a):
            return Money(c, Decimal(to_minor(a, c)))
        case ir.DurationLit(text=t):
            return Duration(duration_ms(t))
        case ir.StringLit(value=v) | ir.BoolLit(value=v):
            return v
        case ir.Name(parts=parts):
            key = ".".join(parts)
            if key not in env:
                raise NotConstant(key)
            return env[key]
        case ir.ListLit(items=items):
            return tuple(evaluate(i, env) for i in items)
        case ir.Unary(op=op, operand=operand):
            return unary(op, evaluate(operand, env))
        case ir.Binary(op=op, left=left, right=right):
            first = evaluate(left, env)
            decided = decided_by(op, first)
            return decided if decided is not None else binary(op, first, evaluate(right, env))
        case ir.Call(func=func, args=args):
            return call(func.name, [evaluate(arg, env) for arg in args])
        case _:
            assert_never(expr)
