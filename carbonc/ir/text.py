"""Prints IR expressions back to canonical source, with the fewest parentheses that keep the
same tree; `binary_text` and `unary_text` hold the parenthesising rule for any printer of the
language's expressions (the formatter's, and the plan's for checks)."""

from __future__ import annotations

from carbonc.ir import nodes as ir

#: Binding strength, lowest to highest (mirrors the grammar's precedence ladder).
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
              "+": 5, "-": 5, "*": 6, "/": 6}
#: Binding strength of a prefix `-`/`+`, and of an atom (a literal, a name, a call, a list).
UNARY, ATOM = 7, 8


def binary_text(op: str, left: str, left_prec: int, right: str, right_prec: int) -> str:
    """`left op right`, each side in parentheses where its binding strength needs them.
    Comparisons do not chain, and every operator is left-associative."""
    mine = PRECEDENCE[op]
    if left_prec < mine or (mine == PRECEDENCE["=="] and left_prec <= mine):
        left = f"({left})"
    if right_prec <= mine:
        right = f"({right})"
    return f"{left} {op} {right}"


def unary_text(op: str, operand: str, operand_prec: int) -> str:
    """`not operand`, `-operand` or `+operand`, with parentheses where needed."""
    mine = PRECEDENCE["not"] if op == "not" else UNARY
    if operand_prec < mine:
        operand = f"({operand})"
    return f"not {operand}" if op == "not" else f"{op}{operand}"


def precedence(expr: ir.Expr | ir.Rest) -> int:
    """How tightly `expr` binds when printed."""
    match expr:
        case ir.Binary(op=op):
            return PRECEDENCE[op]
        case ir.Unary(op="not"):
            return PRECEDENCE["not"]
        case ir.Unary():
            return UNARY
    return ATOM


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
    raise TypeError(expr)  # pragma: no cover
