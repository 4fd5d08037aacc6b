"""Resolves a scenario's parameters: defaults, overridden by `--set name=value` typed like the
parameter they set (`dispute_rate=0.3` and `dispute_rate=30%` are the same ratio)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic, did_you_mean
from carbonc.domain.units import CURRENCIES, duration_text, exponent, format_ratio
from carbonc.domain.values import Duration, EvalError, Money, NotConstant, Value
from carbonc.errors import CompileError
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.ir.walk import subexpressions
from carbonc.passes import Type
from carbonc.source import Source

_WHERE = "--set"


def _error(code: Code, message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, message=message, path=_WHERE, help=help)


def _parse_value(text: str) -> ir.Expr | None:
    """Parse `text` as a .carbon value, or None if it is not one."""
    from carbonc.syntax import parse

    result = parse(Source(path=_WHERE, text=f"scenario s {{ param v = {text} }}"))
    if result.module is None or result.diagnostics:
        return None
    return result.module.scenarios[0].params[0].default


def _convert(name: str, text: str, want: Type, env: Mapping[str, Value]) -> Value:
    if want.kind == "string":
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    expr = _parse_value(text)
    for node in subexpressions(expr) if expr is not None else ():
        # As in source (C0302): a money literal more precise than its currency is an error, not
        # something to round.
        if isinstance(node, ir.MoneyLit) and node.currency in CURRENCIES:
            places = len(node.amount.replace("_", "").partition(".")[2])
            if places > exponent(node.currency):
                raise CompileError([_error(Code.TOO_MANY_DECIMALS,
                                           f"`{text}` has {places} decimal places; {node.currency} has "
                                                    f"{exponent(node.currency)}", help=_example(want))])
    value: Value | None = None
    if expr is not None and not any(isinstance(n, ir.Name) for n in subexpressions(expr)):
        try:
            value = evaluate(expr, env)
        except (NotConstant, EvalError, ArithmeticError):
            value = None
    if value is None:
        raise CompileError([_error(Code.TYPE_MISMATCH, f"`{text}` is not a value for parameter `{name}` ({want})",
                                   help=_example(want))])
    ok = _fits(value, want)
    if not ok:
        article = "an" if str(want)[0] in "aeiou" else "a"
        raise CompileError([_error(Code.TYPE_MISMATCH, f"parameter `{name}` is {article} {want}; `{text}` is not",
                                   help=_example(want))])
    if want.kind == "ratio" and isinstance(value, (int, Decimal)):  # always so: it fits a ratio
        value = Decimal(value)
        if not 0 <= value <= 1:
            raise CompileError([_error(Code.RATIO_OUT_OF_RANGE,
                                       f"parameter `{name}` must lie within 0–100%, `{text}` is "
                                               f"{format_ratio(value)}", help=_example(want))])
    if want.kind == "money" and isinstance(value, Money) and value.minor != value.minor.to_integral_value():
        raise CompileError([_error(Code.TOO_MANY_DECIMALS,
                                   f"`{text}` has more decimal places than {value.currency} allows")])
    return value


def _fits(value: Value, want: Type) -> bool:
    match want.kind:
        case "int":
            return isinstance(value, int) and not isinstance(value, bool)
        case "ratio" | "number":
            return isinstance(value, (int, Decimal)) and not isinstance(value, bool)
        case "money":
            return isinstance(value, Money) and (want.currency is None or value.currency == want.currency)
        case "duration":
            return isinstance(value, Duration)
        case "list":
            return isinstance(value, tuple)
    return True


def _example(want: Type) -> str:
    return {
        "int": "an integer, e.g. `500`",
        "ratio": "a ratio, e.g. `0.3` or `30%`",
        "number": "a number, e.g. `1.5`",
        "money": f"money, e.g. `{want.currency or 'INR'} 2500`",
        "duration": "a duration, e.g. `30s`, `15m`, `2h` or `3d`",
    }.get(want.kind, f"a {want}")


def resolve_params(scenario: ir.Scenario, types: Mapping[str, Type],
                   overrides: Mapping[str, str]) -> dict[str, Value]:
    """Return every parameter's value, in declaration order; raise CompileError naming an unknown
    or ill-typed override."""
    declared = [p.name.name for p in scenario.params]
    errors = []
    for name in overrides:
        if name not in declared:
            errors.append(_error(Code.UNKNOWN_PARAMETER,
                                 f"unknown parameter `{name}` for scenario `{scenario.name.name}`",
                                 help=did_you_mean(name, declared)
                                 or "parameters: " + ", ".join(f"`{d}`" for d in declared)))
    if errors:
        raise CompileError(errors)
    values: dict[str, Value] = {}
    for param in scenario.params:
        name = param.name.name
        if name in overrides:
            values[name] = _convert(name, overrides[name], types.get(name, Type("any")), values)
        else:
            try:
                values[name] = evaluate(param.default, values)
            except (EvalError, ArithmeticError, NotConstant) as exc:
                raise CompileError([_error(Code.DIVISION_BY_ZERO if "zero" in str(exc) else Code.TYPE_MISMATCH,
                                           f"the default of `{name}` cannot be computed with these values: {exc}",
                                           help="check the --set values it depends on")]) from None
    return values


def display_value(value: Value, declared: Type | None = None) -> int | str:
    """A parameter value as it would be written in the language (ints stay ints; a ratio as a
    percentage, a plain number as a decimal)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if declared is not None and declared.kind == "number":
            return format(value.normalize(), "f")
        return format_ratio(value)
    if isinstance(value, Money):
        places = exponent(value.currency)
        major = (value.minor / (Decimal(10) ** places)).quantize(Decimal(1).scaleb(-places))
        return f"{value.currency} {major}"
    if isinstance(value, Duration):
        return duration_text(value.ms)
    if isinstance(value, tuple):
        return "[" + ", ".join(str(display_value(v)) for v in value) + "]"
    return str(value)
