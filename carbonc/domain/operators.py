"""The language's operators as text: how tightly each binds, and where a printed expression
needs parentheses. Every printer of expressions (the formatter's, the plan's for checks) uses
`binary_text` and `unary_text`."""

from __future__ import annotations

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
