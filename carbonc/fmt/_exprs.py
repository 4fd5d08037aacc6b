"""Prints IR clauses, selections and delivery settings back to canonical text (expressions are
printed by `carbonc.ir.text`, which the plan shares)."""

from __future__ import annotations

from typing import assert_never

from carbonc.domain.operators import PRECEDENCE
from carbonc.ir import nodes as ir
from carbonc.ir.text import expr_text, precedence


def sum_text(expr: ir.Expr) -> str:
    """Canonical source for `expr` where the grammar takes only `+ - * /` and tighter (a
    selection's quantity, `between LO and HI`): anything looser goes in parentheses."""
    text = expr_text(expr)
    return f"({text})" if precedence(expr) < PRECEDENCE["+"] else text


def symbol_text(value: ir.Ident | ir.StringLit) -> str:
    return value.name if isinstance(value, ir.Ident) else value.text


def amount_text(amount: ir.Amount) -> str:
    match amount:
        case ir.AmountFixed(value=v):
            return expr_text(v)
        case ir.AmountRange(low=lo, high=hi):
            return f"between {sum_text(lo)} and {sum_text(hi)}"
        case ir.AmountFull():
            return "full"
        case ir.AmountPartial(value=v):
            return f"partial {expr_text(v)}"
        case _:
            assert_never(amount)


def selection_text(sel: ir.Selection) -> str:
    what = f"{sel.state.name} {sel.kind.name}" if sel.state else sel.kind.name
    match sel.mode, sel.quantity:
        case ("each" | "all"), _:
            text = f"{sel.mode} {what}"
        case "first", quantity if quantity is not None:
            text = f"first {sum_text(quantity)} of {what}"
        case "share", quantity if quantity is not None:
            text = f"{sum_text(quantity)} of {what}"
        case _:
            raise ValueError(f"a `{sel.mode}` selection without a quantity")  # the grammar never makes one
    if sel.where is not None:
        text += f" where {expr_text(sel.where)}"
    return text


#: The clauses printed on one line: all but `then`, whose block the printer lays out.
SimpleClause = (
    ir.CountClause | ir.AmountClause | ir.MethodClause | ir.ReasonClause | ir.CodeClause
    | ir.AfterClause | ir.OverClause | ir.WithClause
)


def simple_clause_text(clause: SimpleClause) -> str:
    """Text of a clause other than `then`."""
    match clause:
        case ir.CountClause(value=v):
            return f"count {expr_text(v)}"
        case ir.AmountClause(amount=a):
            return f"amount {amount_text(a)}"
        case ir.MethodClause(method=m):
            return f"method {m.name}"
        case ir.ReasonClause(value=v):
            return f"reason {symbol_text(v)}"
        case ir.CodeClause(value=v):
            return f"code {symbol_text(v)}"
        case ir.AfterClause(value=v):
            return f"after {expr_text(v)}"
        case ir.OverClause(value=v):
            return f"over {expr_text(v)}"
        case ir.WithClause(mix=m):
            return f"with {m.name}"
        case _:
            assert_never(clause)


def deliver_item_text(item: ir.DeliverItem) -> str:
    match item:
        case ir.OrderItem(mode=m, within=w):
            return f"order {m.name}" + (f" within {expr_text(w)}" if w is not None else "")
        case ir.RepeatItem(value=v):
            return f"repeat {expr_text(v)}"
        case ir.DelayItem(delay=d, jitter=j):
            return f"delay {expr_text(d)}" + (f" jitter {expr_text(j)}" if j is not None else "")
        case ir.DropItem(value=v):
            return f"drop {expr_text(v)}"
        case ir.SignatureItem(mode=m, share=s):
            return f"signature {m.name}" + (f" {expr_text(s)}" if s is not None else "")
        case ir.RetryItem(ladder=ladder):
            return "retry " + (ladder.name if isinstance(ladder, ir.Ident) else expr_text(ladder))
        case ir.FailItem(statuses=statuses):
            return "fail on " + ", ".join(s.name for s in statuses)
        case ir.VerdictItem(mode=m, verdict=v):
            return f"verdict {m.name} {v.name}"
        case ir.TimeoutItem(value=v):
            return f"timeout {expr_text(v)}"
        case ir.IncludeItem(profile=p):
            return f"use {p.name}"
        case _:
            assert_never(item)
