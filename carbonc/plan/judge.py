"""Judges a run: evaluates the plan's checks (`Header.checks`) over the run's metrics into
outcomes (`evaluate_checks`), and gives the metrics that the plan alone determines
(`entity_metrics`); the executor adds the `deliveries.*` ones it measures.

    >>> metrics = {**entity_metrics(plan.summary), "deliveries.mismatched": 0}
    >>> [o.passed for o in evaluate_checks(plan.header.checks, metrics)]
    [True, True, True, True, True, True]

The arithmetic is the language's own (`carbonc.domain.values`), so a condition means at run time
exactly what it meant when the plan folded its parameters in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Literal, assert_never

import msgspec

from carbonc.domain import vocabulary
from carbonc.domain.operators import ATOM, PRECEDENCE, UNARY, binary_text, unary_text
from carbonc.domain.units import duration_text, exponent
from carbonc.domain.values import (
    Duration,
    EvalError,
    Money,
    Value,
    binary,
    call,
    decided_by,
    unary,
)
from carbonc.plan.records import (
    BinaryExpr,
    BoolConst,
    CallExpr,
    Check,
    CheckExpr,
    Constant,
    DecimalConst,
    DurationConst,
    IntConst,
    ListExpr,
    MapCall,
    MetricRef,
    MoneyConst,
    StrConst,
    Summary,
    UnaryExpr,
)

__all__ = ["CheckOutcome", "Unmeasured", "condition_text", "constant", "entity_metrics", "evaluate_checks",
           "evaluate_expr", "metric_names", "string_text"]


class CheckOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a check came out: `passed` (an `expect` held; a `finding` did not fire), what was
    `expected` (the condition with the parameters' values: `disputes == 150`), the `actual`
    metrics it used (`disputes = 148`) and a one-line `message` (a finding's own text)."""

    kind: Literal["expect", "finding"]
    name: str
    severity: str | None
    passed: bool
    expected: str
    actual: str
    message: str


def entity_metrics(summary: Summary) -> dict[str, int]:
    """The metrics a plan determines: every `KIND` and `KIND.STATE` count (by final state, 0 when
    none), `messages` (originals), `messages.dropped` and `messages.duplicated` (extra copies
    sent: `repeat 3` sends two more of every message that is not dropped)."""
    metrics: dict[str, int] = {}
    for kind in vocabulary.KINDS:
        states = summary.entities.get(kind, {})
        metrics[f"{kind}s"] = sum(states.values())
        for state in vocabulary.STATES[kind]:
            metrics[f"{kind}s.{state}"] = states.get(state, 0)
    originals = sum(summary.messages.values())
    dropped = summary.faults.get("dropped", 0)
    metrics["messages"] = originals
    metrics["messages.dropped"] = dropped
    metrics["messages.duplicated"] = summary.deliveries - (originals - dropped)
    return metrics


def evaluate_checks(checks: Sequence[Check], metrics: Mapping[str, int]) -> list[CheckOutcome]:
    """Judge every check against the run's `metrics`. A condition that cannot be evaluated (a
    metric the run did not measure, a division by zero) is a failed check saying why, never an
    exception."""
    return [_outcome(check, metrics) for check in checks]


def _outcome(check: Check, metrics: Mapping[str, Value]) -> CheckOutcome:
    condition = condition_text(check.expr)
    names = list(dict.fromkeys(metric_names(check.expr)))
    if names:
        actual = ", ".join(f"{n} = {metrics[n]}" if n in metrics else f"{n} not measured" for n in names)
    else:
        actual = f"{condition} with these parameters"
        condition = check.text
    error: str | None = None
    holds = False
    try:
        value = _value(check.expr, metrics)
        if not isinstance(value, bool):
            raise EvalError("the condition is neither true nor false")
        holds = value
    except Unmeasured as exc:
        error = f"the run did not measure `{exc.args[0]}`"
    except EvalError as exc:
        error = str(exc)
    except ArithmeticError:
        error = "the arithmetic has no exact result"
    except (TypeError, ValueError):
        error = "these values cannot be combined"
    match check.kind:
        case "expect":
            if error is not None:
                message = f"cannot evaluate {condition}: {error}"
            elif holds:
                message = f"holds: {actual}"
            else:
                message = f"expected {condition}, but {actual}"
            return CheckOutcome(kind="expect", name=check.name, severity=check.severity,
                                passed=error is None and holds, expected=condition, actual=actual, message=message)
        case "finding":
            text = check.message or ""
            if error is not None:
                text = f"cannot evaluate {condition}: {error} (finding: {text})"
            return CheckOutcome(kind="finding", name=check.name, severity=check.severity,
                                passed=error is None and not holds, expected=f"not ({condition})", actual=actual,
                                message=text)
        case _:
            assert_never(check.kind)


class Unmeasured(Exception):
    """A metric the condition names is not among the run's (or a field a probe's answer lacks)."""


def evaluate_expr(expr: CheckExpr, values: Mapping[str, Value]) -> Value:
    """The value of `expr`, its `MetricRef`s looked up in `values`; raises Unmeasured for a name
    `values` lacks, EvalError, ArithmeticError, TypeError or ValueError for one that has no value."""
    return _value(expr, values)


def _value(expr: CheckExpr, metrics: Mapping[str, Value]) -> Value:
    match expr:
        case MetricRef(name=name):
            if name not in metrics:
                raise Unmeasured(name)
            return metrics[name]
        case MapCall(map=name, table=table, arg=arg):
            key = _value(arg, metrics)
            if not isinstance(key, str) or key not in table:
                raise EvalError(f"map `{name}` has no entry for {key!r}")
            return table[key]
        case UnaryExpr(op=op, operand=operand):
            return unary(op, _value(operand, metrics))
        case BinaryExpr(op=op, left=left, right=right):
            a = _value(left, metrics)
            decided = decided_by(op, a)
            return decided if decided is not None else binary(op, a, _value(right, metrics))
        case CallExpr(func=func, args=args):
            return call(func, [_value(a, metrics) for a in args])
        case ListExpr(items=items):
            return tuple(_value(i, metrics) for i in items)
        case IntConst(value=v) | DecimalConst(value=v) | StrConst(value=v) | BoolConst(value=v):
            return v
        case MoneyConst(currency=c, minor=m):
            return Money(c, m)
        case DurationConst(ms=ms):
            return Duration(ms)
        case _:
            assert_never(expr)


def metric_names(expr: CheckExpr) -> Iterator[str]:
    """Every metric `expr` names, in the order written (repeats included)."""
    stack: list[CheckExpr] = [expr]
    while stack:
        node = stack.pop()
        match node:
            case MetricRef(name=name):
                yield name
            case UnaryExpr(operand=operand):
                stack.append(operand)
            case BinaryExpr(left=left, right=right):
                stack += [right, left]
            case CallExpr(args=items) | ListExpr(items=items):
                stack += reversed(items)
            case MapCall(arg=arg):
                stack.append(arg)
            case _:
                pass


def constant(value: Value) -> Constant | ListExpr:
    """The plan form of a value of the language (`Money("INR", 250000)` -> `MoneyConst`)."""
    if isinstance(value, bool):
        return BoolConst(value=value)
    if isinstance(value, int):
        return IntConst(value=value)
    if isinstance(value, Decimal):
        return DecimalConst(value=_canonical(value))
    if isinstance(value, Money):
        return MoneyConst(currency=value.currency, minor=_canonical(value.minor))
    if isinstance(value, Duration):
        return DurationConst(ms=value.ms)
    if isinstance(value, str):
        return StrConst(value=value)
    return ListExpr(items=tuple(constant(v) for v in value))


def _canonical(d: Decimal) -> Decimal:
    """One spelling per value, so equal plans encode to equal bytes: `150.00` -> `150`."""
    n = d.normalize()
    if n == 0:
        return Decimal(0)
    exponent = n.as_tuple().exponent  # an int: the language has no NaN or infinity
    return n.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else n


def condition_text(expr: CheckExpr) -> str:
    """`expr` as the language writes it: `disputes == 150`, `rate(disputes, payments) < 0.2`."""
    return _text(expr)[0]


def _text(expr: CheckExpr) -> tuple[str, int]:
    """The text of `expr` and how tightly it binds."""
    match expr:
        case MetricRef(name=name):
            return name, ATOM
        case UnaryExpr(op=op, operand=operand):
            inner, prec = _text(operand)
            return unary_text(op, inner, prec), PRECEDENCE["not"] if op == "not" else UNARY
        case BinaryExpr(op=op, left=left, right=right):
            (lt, lp), (rt, rp) = _text(left), _text(right)
            return binary_text(op, lt, lp, rt, rp), PRECEDENCE[op]
        case CallExpr(func=func, args=args):
            return f"{func}(" + ", ".join(_text(a)[0] for a in args) + ")", ATOM
        case MapCall(map=name, arg=arg):
            return f"{name}({_text(arg)[0]})", ATOM
        case ListExpr(items=items):
            return "[" + ", ".join(_text(i)[0] for i in items) + "]", ATOM
        case IntConst(value=v):
            return str(v), UNARY if v < 0 else ATOM
        case DecimalConst(value=v):
            return format(v, "f"), UNARY if v < 0 else ATOM
        case MoneyConst(currency=c, minor=m):
            places = exponent(c)
            major = abs(m).scaleb(-places)
            if m == m.to_integral_value():
                major = major.quantize(Decimal(1).scaleb(-places))
            return f"{'-' if m < 0 else ''}{c} {format(major, 'f')}", UNARY if m < 0 else ATOM
        case DurationConst(ms=ms):
            return f"{'-' if ms < 0 else ''}{duration_text(abs(ms))}", UNARY if ms < 0 else ATOM
        case StrConst(value=v):
            return string_text(v), ATOM
        case BoolConst(value=v):
            return ("true" if v else "false"), ATOM
        case _:
            assert_never(expr)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def string_text(value: str) -> str:
    """`value` as a string literal of the language, quoted and escaped."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
