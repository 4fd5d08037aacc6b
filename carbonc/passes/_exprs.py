"""Type inference for expressions, and the checks every other part of `check_types` builds
on: that a value has the type a setting wants, lies in range, or is one of the allowed words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import assert_never

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.domain import vocabulary
from carbonc.domain.units import CURRENCIES, decimal_places, exponent, format_ratio
from carbonc.domain.values import Duration, EvalError, Money, NotConstant, Value
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.passes._program import Context, Type
from carbonc.source import Span

INT, NUMBER, RATIO, DURATION, STRING, BOOL, ANY, LIST = (
    Type("int"), Type("number"), Type("ratio"), Type("duration"), Type("string"), Type("bool"), Type("any"),
    Type("list"),
)
#: Money of any currency.
MONEY = Type("money")
_NUMERIC = ("int", "number", "ratio")
#: The type a kind named in data has (the probe fields of `carbonc.domain.vocabulary`).
_OF_KIND: Mapping[str, Type] = {t.kind: t for t in (INT, NUMBER, RATIO, DURATION, STRING, BOOL, ANY, LIST)}

#: What a bare word in a check or filter denotes.
_FIELD_TYPES: Mapping[str, Type] = {
    "amount": MONEY, "currency": STRING, "method": STRING, "state": STRING, "ref": STRING, "id": STRING,
    "status": INT,
}


@dataclass(frozen=True)
class Env:
    """Where a checker reports (`ctx`, the file's `path`), and what names mean there: parameter
    `types` and `values`, and the `maps` probes call like functions."""

    ctx: Context
    path: str
    types: Mapping[str, Type]
    values: Mapping[str, Value]
    maps: Mapping[str, ir.Map] = field(default_factory=dict)


class ExprChecker:
    """Infers the types of expressions and checks values against the type, range or words wanted."""

    def __init__(self, env: Env):
        self.ctx, self.path = env.ctx, env.path
        self.types, self.values, self.maps = env.types, env.values, env.maps
        #: Whether a probe's expectations are being checked (they may name the answer's fields).
        self.in_probe = False

    def report(self, code: Code, message: str, node: ir.Node, *, label: str | None = None,
               help: str | None = None) -> None:
        self.ctx.report(code, message, self.path, node.span, label=label, help=help)

    # ------------------------------------------------------------ types

    def infer(self, expr: ir.Expr) -> Type:
        match expr:
            case ir.IntLit():
                return INT
            case ir.DecimalLit():
                return NUMBER
            case ir.PercentLit():
                return RATIO
            case ir.DurationLit():
                return DURATION
            case ir.StringLit():
                return STRING
            case ir.BoolLit():
                return BOOL
            case ir.MoneyLit(currency=cur, amount=amount):
                return self._money_literal(expr, cur, amount)
            case ir.Name(parts=parts):
                key = ".".join(parts)
                if key in self.types:
                    return self.types[key]
                if key in vocabulary.METRICS:
                    return INT
                if self.in_probe and len(parts) == 2 and parts[0] in vocabulary.PROBE_FIELDS:
                    return _OF_KIND[vocabulary.PROBE_FIELDS[parts[0]].get(parts[1], "any")]
                if self.in_probe and parts[0] == "gateway":
                    return INT if len(parts) == 3 else ANY
                return _FIELD_TYPES.get(parts[-1], ANY) if len(parts) == 1 or parts[0] in vocabulary.KINDS else ANY
            case ir.ListLit(items=items):
                for item in items:
                    self.infer(item)
                return LIST
            case ir.Unary(op=op, operand=operand):
                t = self.infer(operand)
                if op == "not":
                    self.want(operand, BOOL, "`not`", got=t)
                    return BOOL
                if t.kind not in (*_NUMERIC, "money", "duration", "any"):
                    self.report(Code.TYPE_MISMATCH, f"cannot negate {article(t)}", expr, label=f"this is {article(t)}")
                return t
            case ir.Binary():
                return self._binary(expr)
            case ir.Call(func=func, args=args) if func.name in self.maps and func.name not in vocabulary.FUNCTIONS:
                for a in args:
                    self.want(a, STRING, f"map `{func.name}`")
                values = [self.infer(e.value) for e in self.maps[func.name].entries]
                return values[0] if values and all(v == values[0] for v in values) else ANY
            case ir.Call(func=func, args=args):
                types = [self.infer(a) for a in args]
                if func.name in ("round", "floor", "ceil"):
                    if types and types[0].kind not in (*_NUMERIC, "any"):
                        self.report(Code.TYPE_MISMATCH, f"`{func.name}` needs a number, not {article(types[0])}",
                                    args[0])
                    return INT
                if func.name == "rate":
                    return RATIO
                return types[0] if types else ANY
            case _:
                assert_never(expr)

    def _money_literal(self, expr: ir.MoneyLit, cur: str, amount: str) -> Type:
        if cur not in CURRENCIES:
            code = Span(expr.span.start, expr.span.start + len(cur), expr.span.line, expr.span.col,
                        expr.span.line, expr.span.col + len(cur))
            self.ctx.report(Code.UNKNOWN_CURRENCY, f"unknown currency `{cur}`", self.path, code,
                            label="not an ISO 4217 code",
                            help=_currency_help(cur))
            return MONEY
        places = decimal_places(amount)
        if places > exponent(cur):
            allowed = exponent(cur)
            places_word = f"{allowed} decimal place{'s' * (allowed != 1)}"
            self.report(Code.TOO_MANY_DECIMALS, f"`{cur}` has {places_word}, `{amount}` has {places}", expr,
                        label="too precise",
                        help=f"{cur} amounts are whole" if allowed == 0 else f"round to {places_word}")
        return Type("money", cur)

    def _binary(self, expr: ir.Binary) -> Type:
        op, left, right = expr.op, expr.left, expr.right
        a, b = self.infer(left), self.infer(right)
        unknown = a.kind == "any" or b.kind == "any"
        match op:
            case "and" | "or":
                if not unknown:
                    self.want(left, BOOL, f"`{op}`", got=a)
                    self.want(right, BOOL, f"`{op}`", got=b)
                return BOOL
            case "==" | "!=" | "<" | "<=" | ">" | ">=":
                if unknown or self._currencies_differ(expr, a, b):
                    return BOOL
                if not (a.kind == b.kind or (a.kind in _NUMERIC and b.kind in _NUMERIC)):
                    self._mismatch(expr, f"cannot compare {article(a)} with {article(b)}", a, b)
                return BOOL
            case "+" | "-" | "*" | "/":
                if unknown:
                    return b if a.kind == "any" else a
                if self._currencies_differ(expr, a, b):
                    return a
                if op == "/" and isinstance(right, (ir.IntLit, ir.DecimalLit)) and self.const(right) == 0:
                    self.report(Code.DIVISION_BY_ZERO, "division by zero", right, label="this is zero")
                    return a
                result = _arith(op, a, b)
                if result is None:
                    self._mismatch(expr, f"cannot use `{op}` on {article(a)} and {article(b)}", a, b)
                    return ANY
                return result
            case _:
                assert_never(op)

    def _currencies_differ(self, expr: ir.Binary, a: Type, b: Type) -> bool:
        """Report combining money of two known currencies; return whether it did."""
        if a.kind == "money" and b.kind == "money" and a.currency and b.currency and a.currency != b.currency:
            self.report(Code.MIXED_CURRENCIES, f"cannot combine {a.currency} and {b.currency}", expr,
                        label="different currencies", help="convert to one currency; carbonc never converts")
            return True
        return False

    def _mismatch(self, expr: ir.Binary, message: str, a: Type, b: Type) -> None:
        help = None
        if "money" in (a.kind, b.kind) and {a.kind, b.kind} & set(_NUMERIC):
            help = "give the number a currency, e.g. `INR 100`"
        elif "duration" in (a.kind, b.kind) and {a.kind, b.kind} & set(_NUMERIC):
            help = "give the number a unit, e.g. `30s`"
        self.report(Code.TYPE_MISMATCH, message, expr, label="type mismatch", help=help)

    def want(self, expr: ir.Expr, want: Type, what: str, got: Type | None = None) -> Type:
        """Check `expr` (of type `got`, if already inferred) can be used where a `want` is needed;
        return its type."""
        got = self.infer(expr) if got is None else got
        if got.kind == "any" or want.kind == "any":
            return got
        ok = got.kind == want.kind or (want.kind == "ratio" and got.kind == "number") or (
            want.kind == "number" and got.kind in _NUMERIC)
        if ok:
            if want.kind == "ratio":
                self.ratio_range(expr)
            return got
        if want.kind == "money" and got.kind in ("int", "number"):
            self.report(Code.MONEY_WITHOUT_CURRENCY, f"{what} needs money with a currency, not a bare number", expr,
                        label="no currency", help=f"write it as money, e.g. `INR {_text(expr)}`")
        elif want.kind == "duration" and got.kind in ("int", "number"):
            self.report(Code.TYPE_MISMATCH, f"{what} needs a duration, not {article(got)}", expr, label="no unit",
                        help=f"add a unit: `{_text(expr)}s`, `{_text(expr)}m`, `{_text(expr)}h` or `{_text(expr)}d`")
        elif want.kind == "ratio" and got.kind == "int":
            self.report(Code.TYPE_MISMATCH, f"{what} needs a ratio, not an integer", expr, label="an integer",
                        help=f"write a percentage such as `{_text(expr)}%`")
        else:
            self.report(Code.TYPE_MISMATCH, f"{what} needs {article(want)}, not {article(got)}", expr,
                        label=f"this is {article(got)}")
        return got

    # ------------------------------------------------------------ values

    def const(self, expr: ir.Expr) -> Value | None:
        try:
            return evaluate(expr, self.values)
        except (NotConstant, EvalError, ArithmeticError, TypeError, ValueError, KeyError):
            return None

    def ratio_range(self, expr: ir.Expr) -> None:
        value = self.const(expr)
        if isinstance(value, Decimal) and not (0 <= value <= 1):
            self.report(Code.RATIO_OUT_OF_RANGE, f"a ratio must lie within 0–100%, this is {format_ratio(value)}", expr,
                        label="out of range", help="use a share between 0% and 100%")

    def non_negative(self, expr: ir.Expr, what: str, minimum: int = 0) -> None:
        value = self.const(expr)
        number = value.ms if isinstance(value, Duration) else value.minor if isinstance(value, Money) else value
        if isinstance(number, (int, Decimal)) and not isinstance(number, bool) and number < minimum:
            self.report(Code.OUT_OF_RANGE, f"{what} must be at least {minimum}", expr, label="out of range")

    def option(self, ident: ir.Ident, allowed: Iterable[str], what: str) -> None:
        allowed = tuple(allowed)
        if ident.name not in allowed:
            self.report(Code.UNKNOWN_OPTION, f"unknown {what} `{ident.name}`", ident, label=f"not a {what}",
                        help=did_you_mean(ident.name, allowed) or f"{what}s: " + ", ".join(f"`{a}`" for a in allowed))


def _arith(op: ir.ArithOp, a: Type, b: Type) -> Type | None:
    ka, kb = a.kind, b.kind
    if ka in _NUMERIC and kb in _NUMERIC:
        if ka == kb == "int" and op != "/":
            return INT
        if ka == kb == "ratio" and op in ("+", "-", "*"):
            return RATIO
        return NUMBER
    # Quantities with a unit add to themselves, scale by numbers, and divide into a number.
    for unit in ("money", "duration"):
        if ka == kb == unit:
            return a if op in ("+", "-") else NUMBER if op == "/" else None
        if ka == unit and kb in _NUMERIC and op in ("*", "/"):
            return a
        if kb == unit and ka in _NUMERIC and op == "*":
            return b
    return None


def article(t: Type) -> str:
    """Name a type with its article for a message: `an integer`, `a ratio`, `money (INR)`."""
    return {"int": "an integer", "bool": "a condition", "any": "a value"}.get(
        t.kind, str(t) if t.kind == "money" else f"a {t}")


#: Names people write for a currency instead of its ISO 4217 code.
_CURRENCY_ALIASES = {"RMB": "CNY", "CNH": "CNY", "NTD": "TWD", "YEN": "JPY", "UKP": "GBP", "STG": "GBP"}


def _currency_help(cur: str) -> str:
    """Suggest the ISO code meant by an alias or a transposition (`IRN` -> `INR`), else the closest."""
    guess = _CURRENCY_ALIASES.get(cur) or next((c for c in sorted(CURRENCIES) if sorted(c) == sorted(cur)), None)
    if guess:
        return f"did you mean `{guess}`?"
    return did_you_mean(cur, CURRENCIES) or "use a three-letter ISO 4217 code such as `INR`"


def _text(expr: ir.Expr) -> str:
    """`expr` as written in a help line: a number or a name, else an ellipsis."""
    match expr:
        case ir.IntLit(text=t) | ir.DecimalLit(text=t):
            return t
        case ir.Name() as n:
            return n.dotted
        case (ir.PercentLit() | ir.MoneyLit() | ir.DurationLit() | ir.StringLit() | ir.BoolLit() | ir.Unary()
              | ir.Binary() | ir.Call() | ir.ListLit()):
            return "…"
        case _:
            assert_never(expr)
