"""The language's values and what its operators and functions do to them: int, Decimal (ratios
and numbers), `Money`, `Duration`, str, bool, tuples. No float anywhere.

Every evaluator of the language — `ir.values.evaluate` over the IR, and the plan's judge over a
run's metrics — calls `unary`, `binary`, `call` and `decided_by` (for `and`/`or`), so an
expression means the same at compile time and at run time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Final, TypeAlias

import msgspec


class Money(msgspec.Struct, frozen=True):
    """An amount of `currency` in minor units; `minor` may carry a fraction mid-computation."""

    currency: str
    minor: Decimal


class Duration(msgspec.Struct, frozen=True):
    """A span of virtual time in milliseconds."""

    ms: int


Value: TypeAlias = int | Decimal | Money | Duration | str | bool | tuple["Value", ...]


class NotConstant(Exception):
    """The expression depends on something only known at run time (a metric, an entity field)."""


class EvalError(Exception):
    """The expression cannot be evaluated (division by zero, mismatched currencies)."""


def _num(v: Value) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        raise EvalError(f"expected a number, got {v!r}")
    return Decimal(v)


def unary(op: str, v: Value) -> Value:
    """`-v`, `+v` or `not v`."""
    if op == "not":
        return not v
    if isinstance(v, Money):
        return Money(v.currency, -v.minor if op == "-" else v.minor)
    if isinstance(v, Duration):
        return Duration(-v.ms if op == "-" else v.ms)
    if op == "-":
        return -v if isinstance(v, Decimal) else -_int(v)
    return v


def _int(v: Value) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise EvalError(f"expected a number, got {v!r}")
    return v


def decided_by(op: str, left: Value) -> bool | None:
    """The value of `left and …` / `left or …` when `left` alone decides it, else None: the
    right side of `disputes > 0 and lost / disputes > 0.5` is not evaluated without disputes."""
    if op == "and" and not left:
        return False
    if op == "or" and left:
        return True
    return None


def binary(op: str, a: Value, b: Value) -> Value:
    """`a op b` for every binary operator of the language; raise EvalError when it has no value
    (division by zero, mixed currencies, money times money)."""
    if op == "and":
        return bool(a) and bool(b)
    if op == "or":
        return bool(a) or bool(b)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        x, y = _comparable(a, b)
        if op in ("==", "!="):
            return (x == y) == (op == "==")
        if isinstance(x, (dict, list, tuple)) or isinstance(y, (dict, list, tuple)):
            raise EvalError(f"`{op}` cannot order {type(x).__name__} values")
        return _ORDERINGS[op](x, y)
    if isinstance(a, Money) or isinstance(b, Money):
        return _money_arith(op, a, b)
    if isinstance(a, Duration) or isinstance(b, Duration):
        return _duration_arith(op, a, b)
    if op == "/":
        if _num(b) == 0:
            raise EvalError("division by zero")
        return _num(a) / _num(b)
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    x, y = _num(a), _num(b)
    return {"+": x + y, "-": x - y, "*": x * y}[op]


#: The ordering operators. Their operands are the pair `_comparable` leaves: of one type, but of
#: any type a run gives (a JSON answer's object, null), so no narrower type holds; a pair that
#: cannot be ordered raises TypeError, which every evaluator's caller reports.
_ORDERINGS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _comparable(a: Value, b: Value) -> tuple[Value, Value]:
    """`a` and `b` as a pair of one type to compare: numbers (and amounts, of one currency) as
    Decimals, durations as milliseconds; raise EvalError for values of different types."""
    if isinstance(a, Money) and isinstance(b, Money):
        if a.currency != b.currency:
            raise EvalError("mixed currencies")
        return a.minor, b.minor
    if isinstance(a, Duration) and isinstance(b, Duration):
        return a.ms, b.ms
    if isinstance(a, bool) != isinstance(b, bool) and isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        raise EvalError(f"cannot compare {a!r} with {b!r}")  # true is not 1 (a JSON answer's, say)
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return Decimal(a), Decimal(b)
    if type(a) is type(b):
        return a, b
    raise EvalError(f"cannot compare {a!r} with {b!r}")


def _money_arith(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, Money) and isinstance(b, Money):
        if a.currency != b.currency:
            raise EvalError("mixed currencies")
        if op == "+":
            return Money(a.currency, a.minor + b.minor)
        if op == "-":
            return Money(a.currency, a.minor - b.minor)
        if op == "/":
            if b.minor == 0:
                raise EvalError("division by zero")
            return a.minor / b.minor
        raise EvalError("money times money")
    if isinstance(a, Money):
        if op == "*":
            return Money(a.currency, a.minor * _num(b))
        if op == "/":
            if _num(b) == 0:
                raise EvalError("division by zero")
            return Money(a.currency, a.minor / _num(b))
    if isinstance(b, Money) and op == "*":
        return _money_arith(op, b, a)
    raise EvalError("money and a number")


def _duration_arith(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, Duration) and isinstance(b, Duration):
        if op == "+":
            return Duration(a.ms + b.ms)
        if op == "-":
            return Duration(a.ms - b.ms)
        if op == "/":
            if b.ms == 0:
                raise EvalError("division by zero")
            return Decimal(a.ms) / Decimal(b.ms)
        raise EvalError("duration times duration")
    if isinstance(a, Duration) and op in ("*", "/"):
        if op == "/" and _num(b) == 0:
            raise EvalError("division by zero")
        ms = Decimal(a.ms) * _num(b) if op == "*" else Decimal(a.ms) / _num(b)
        return Duration(int(ms.to_integral_value(ROUND_HALF_EVEN)))
    if isinstance(b, Duration) and op == "*":
        return _duration_arith(op, b, a)
    raise EvalError("duration and a number")


def call(name: str, args: list[Value]) -> Value:
    """The built-in function `name` applied to `args` (see `model.FUNCTIONS`)."""
    if name in ("round", "floor", "ceil"):
        mode = {"round": ROUND_HALF_EVEN, "floor": ROUND_FLOOR, "ceil": ROUND_CEILING}[name]
        return int(_num(args[0]).to_integral_value(mode))
    if name == "abs":
        v = args[0]
        if isinstance(v, Money):
            return Money(v.currency, abs(v.minor))
        if isinstance(v, Duration):
            return Duration(abs(v.ms))
        return abs(v) if isinstance(v, Decimal) else abs(_int(v))
    if name in ("min", "max"):
        keyed = [(_comparable(v, args[0])[0], i) for i, v in enumerate(args)]
        pick = min(keyed) if name == "min" else max(keyed)
        return args[pick[1]]
    if name == "rate":
        if _num(args[1]) == 0:
            return Decimal(0)
        return _num(args[0]) / _num(args[1])
    raise EvalError(f"unknown function {name}")
