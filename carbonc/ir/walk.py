"""Generic traversal of IR expressions and clauses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from carbonc.ir import nodes as ir


def subexpressions(expr: ir.Expr | ir.Rest) -> Iterator[ir.Expr | ir.Rest]:
    """Yield `expr` and every expression inside it, parents first."""
    stack: list[ir.Expr | ir.Rest] = [expr]
    while stack:
        node = stack.pop()
        yield node
        match node:
            case ir.Unary(operand=operand):
                stack.append(operand)
            case ir.Binary(left=left, right=right):
                stack += [right, left]
            case ir.Call(args=args):
                stack += reversed(args)
            case ir.ListLit(items=items):
                stack += reversed(items)
            case (ir.IntLit() | ir.DecimalLit() | ir.PercentLit() | ir.MoneyLit() | ir.DurationLit()
                  | ir.StringLit() | ir.BoolLit() | ir.Name() | ir.Rest()):
                pass
            case _:
                assert_never(node)


def clause_expressions(clause: ir.Clause) -> Iterator[ir.Expr]:
    """Yield the expressions written directly in `clause` (not in nested outcome mixes)."""
    match clause:
        case ir.CountClause(value=v) | ir.AfterClause(value=v) | ir.OverClause(value=v):
            yield v
        case ir.AmountClause(amount=amount):
            match amount:
                case ir.AmountFixed(value=v) | ir.AmountPartial(value=v):
                    yield v
                case ir.AmountRange(low=lo, high=hi):
                    yield lo
                    yield hi
                case ir.AmountFull():
                    pass
                case _:
                    assert_never(amount)
        case ir.MethodClause() | ir.ReasonClause() | ir.CodeClause() | ir.WithClause() | ir.ThenClause():
            pass  # names only; a `then` mix's expressions are nested
        case _:
            assert_never(clause)


def outcome_expressions(outcomes: ir.Outcomes) -> Iterator[ir.Expr]:
    """Yield every expression in an outcome mix, nested `then` mixes included."""
    for outcome in outcomes.items:
        if not isinstance(outcome.share, ir.Rest):
            yield outcome.share
        for clause in outcome.clauses:
            yield from clause_expressions(clause)
            if isinstance(clause, ir.ThenClause):
                yield from outcome_expressions(clause.outcomes)


def action_expressions(action: ir.Action) -> Iterator[ir.Expr]:
    """Yield the expressions of an action outside its `where` filter."""
    if isinstance(action.target, ir.Selection) and action.target.quantity is not None:
        yield action.target.quantity
    for clause in action.clauses:
        yield from clause_expressions(clause)
        if isinstance(clause, ir.ThenClause):
            yield from outcome_expressions(clause.outcomes)
    if action.outcomes is not None:
        yield from outcome_expressions(action.outcomes)


def deliver_item_expressions(item: ir.DeliverItem) -> Iterator[ir.Expr]:
    """Yield the expressions of one delivery setting."""
    match item:
        case ir.OrderItem(within=w):
            if w is not None:
                yield w
        case ir.RepeatItem(value=v) | ir.DropItem(value=v) | ir.TimeoutItem(value=v):
            yield v
        case ir.DelayItem(delay=d, jitter=j):
            yield d
            if j is not None:
                yield j
        case ir.SignatureItem(share=s):
            if s is not None:
                yield s
        case ir.RetryItem(ladder=ladder):
            if isinstance(ladder, ir.ListLit):
                yield ladder
        case ir.FailItem() | ir.VerdictItem() | ir.IncludeItem():
            pass
        case _:
            assert_never(item)


def without_spans(node: object) -> object:
    """`node` as plain builtins with every `span` dropped: what two programs that differ only
    in layout have in common (the formatter's contract is that this does not change)."""
    import msgspec

    def strip(value: object) -> object:
        match value:
            case dict():
                return {k: strip(v) for k, v in value.items() if k != "span"}
            case list() | tuple():
                return [strip(v) for v in value]
        return value

    return strip(msgspec.to_builtins(node))
