"""Prints IR expressions back to canonical source, with the fewest parentheses that keep the
same tree (the rule is `carbonc.domain.operators`)."""

from __future__ import annotations

from typing import assert_never

from carbonc.domain.operators import ATOM, PRECEDENCE, UNARY, binary_text, unary_text
from carbonc.ir import nodes as ir


def precedence(expr: ir.Expr | ir.Rest) -> int:
    """How tightly `expr` binds when printed."""
    match expr:
        case ir.Binary(op=op):
            return PRECEDENCE[op]
        case ir.Unary(op="not"):
            return PRECEDENCE["not"]
        case ir.Unary():
            return UNARY
        case (ir.IntLit() | ir.DecimalLit() | ir.PercentLit() | ir.MoneyLit() | ir.DurationLit() | ir.StringLit()
              | ir.BoolLit() | ir.Name() | ir.Call() | ir.ListLit() | ir.Rest()):
            return ATOM
        case _:
            assert_never(expr)


def expr_text(expr: ir.Expr | ir.Rest) -> str:
    """Return canonical source for `expr`."""
    match expr:
        case ir.IntLit(text=t) | ir.DecimalLit(text=t) | ir.PercentLit(text=t) | ir.DurationLit(text=t):
            return t
        case ir.StringLit(text=t):
            return t
        case ir.BoolLit(value=v):
            return "true" if v else "false"
        case ir.MoneyLit(currency=c, amount=a):
            return f"{c} {a}"
        case ir.Name() as n:
            return n.dotted
        case ir.Rest():
            return "rest"
        case ir.ListLit(items=items):
            return "[" + ", ".join(expr_text(i) for i in items) + "]"
        case ir.Call(func=f, args=args):
            return f"{f.name}(" + ", ".join(expr_text(a) for a in args) + ")"
        case ir.Unary(op=op, operand=operand):
            return unary_text(op, expr_text(operand), precedence(operand))
        case ir.Binary(op=op, left=left, right=right):
            return binary_text(op, expr_text(left), precedence(left), expr_text(right), precedence(right))
        case _:
            assert_never(expr)
