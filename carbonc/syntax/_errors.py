"""Turns Lark's parse errors into diagnostics in plain words: what was expected, where."""

from __future__ import annotations

import lark
import msgspec
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.source import Source
from carbonc.syntax._lower import token_span

#: How regex terminals are named to a person.
_WORDS: dict[str, str] = {
    "NAME": "a name",
    "SLUG": "a scenario name",
    "INT": "an integer",
    "DECIMAL": "a number",
    "PERCENT": "a percentage",
    "MONEY": "an amount such as `INR 2500`",
    "DURATION": "a duration such as `30s`",
    "STRING": "a string",
    "STATUS_CLASS": "a status class such as `5xx`",
    "HTTP_METHOD": "an HTTP method such as `GET`",
    "COMP_OP": "a comparison such as `==`",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*` or `/`",
    "$END": "the end of the file",
}

#: When every terminal of a group is expected, the group is named by its description instead.
_GROUPS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"_ABOUT", "_CATEGORY", "_TAGS", "_PARAM", "_SEED", "_PHASE", "_DELIVER", "_EXPECT",
                "_FINDING", "_PROBE", "_USE"}),
     "a scenario item (`about`, `param`, `phase`, `deliver`, `expect`, …)"),
    (frozenset({"CREATE", "PAY", "CAPTURE", "REFUND", "DISPUTE", "SETTLE", "CANCEL", "PAUSE"}),
     "a statement (`create`, `pay`, `refund`, `dispute`, `settle`, …)"),
    (frozenset({"_ORDER", "_REPEAT", "_DELAY", "_DROP", "_SIGNATURE", "_RETRY", "_FAIL", "_VERDICT",
                "_TIMEOUT", "_USE"}),
     "a delivery setting (`order`, `repeat`, `delay`, `drop`, `signature`, `retry`, …)"),
    (frozenset({"_COUNT", "_AMOUNT", "_METHOD", "_REASON", "_CODE", "_AFTER", "_OVER", "_WITH", "_THEN"}),
     "a clause (`count`, `amount`, `reason`, `after`, `then`, …)"),
    (frozenset({"_USE", "_SCENARIO", "_PROFILE", "_MIX", "_LADDER", "_MAP", "_ORACLE"}),
     "`use`, `scenario`, `profile`, `mix`, `ladder`, `map` or `oracle`"),
    (frozenset({"_EXPECT", "_HEADER", "_BODY", "_EVENTUALLY"}),
     "a probe item (`expect`, `header`, `body`, `eventually`)"),
    (frozenset({"INT", "DECIMAL", "PERCENT", "MONEY", "DURATION", "STRING", "NAME", "_LPAR"}),
     "a value"),
    (frozenset({"COMP_OP", "ADD_OP", "MUL_OP"}), "an operator"),
)

_PUNCT_WORDS = {"$END": "the end of the file"}

#: Currency signs people write for money, and an ISO 4217 code each may stand for.
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "₹": "INR", "¥": "JPY"}


def _terminal_word(name: str, parser: lark.Lark) -> str:
    if name in _WORDS:
        return _WORDS[name]
    term = parser.get_terminal(name) if name in {t.name for t in parser.terminals} else None
    if term is not None and term.pattern.type == "str":
        return f"`{term.pattern.value}`"
    return name.lstrip("_").lower()


def describe_expected(expected: set[str], parser: lark.Lark) -> str:
    """Return "`{`, a name or a string"-style words for a set of terminal names."""
    remaining = set(expected)
    words: list[str] = []
    for group, description in _GROUPS:
        if group <= remaining:
            words.append(description)
            remaining -= group
    words += sorted(_terminal_word(n, parser) for n in remaining)
    words = list(dict.fromkeys(words))
    if len(words) > 6:
        return ", ".join(words[:6]) + ", …"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: lark.Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    text = str(token)
    if len(text) > 30:
        text = text[:30] + "…"
    return f"`{text}`"


def parse_error_diagnostic(err: UnexpectedInput, source: Source, parser: lark.Lark) -> Diagnostic:
    """Translate one Lark error into a C01xx diagnostic, with help for known mistakes."""
    diag = _diagnostic(err, source, parser)
    if diag.code in (Code.UNEXPECTED_TOKEN, Code.UNEXPECTED_CHARACTER):
        help = known_mistake_help(err, parser)
        if help is not None:
            diag = msgspec.structs.replace(diag, help=help)
    return diag


def _diagnostic(err: UnexpectedInput, source: Source, parser: lark.Lark) -> Diagnostic:
    text = source.text
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            return _eof(err.expected, source, parser)
        if tok.type == "MUL_OP" and text.startswith("/*", tok.start_pos):
            return _unterminated_comment(source, tok.start_pos)
        expected = describe_expected(set(err.accepts or err.expected), parser)
        return Diagnostic(
            code=Code.UNEXPECTED_TOKEN, message=f"expected {expected}, found {_found(tok)}", path=source.path,
            span=token_span(tok), label="unexpected here",
        )
    if isinstance(err, UnexpectedEOF):
        return _eof(set(err.expected), source, parser)
    if isinstance(err, UnexpectedCharacters):
        pos: int = err.pos_in_stream  # type: ignore[assignment]  # lark types it None; the lexer sets its offset
        ch = text[pos] if pos < len(text) else ""
        span = source.span_at(pos)
        if ch == '"':
            end = text.find("\n", pos)
            span = source.span_at(pos, (end if end >= 0 else len(text)) - pos)
            return Diagnostic(
                code=Code.UNTERMINATED_STRING, message="unterminated string", path=source.path, span=span,
                label="this string has no closing `\"`", help="close it with `\"` on the same line",
            )
        if text.startswith("/*", pos):
            return _unterminated_comment(source, pos)
        allowed = describe_expected(set(err.allowed or ()), parser) if err.allowed else None
        shown = repr(ch)[1:-1] if ch.isprintable() else f"U+{ord(ch):04X}"
        help = f"expected {allowed}" if allowed else None
        if ch in _CURRENCY_SIGNS:
            help = f"write money as an ISO 4217 code and an amount, e.g. `{_CURRENCY_SIGNS[ch]} 25`"
        return Diagnostic(
            code=Code.UNEXPECTED_CHARACTER, message=f"unexpected character `{shown}`", path=source.path, span=span,
            label="not part of the language here", help=help,
        )
    raise TypeError(err)  # pragma: no cover


def _eof(expected: set[str], source: Source, parser: lark.Lark) -> Diagnostic:
    end = len(source.text.rstrip())
    return Diagnostic(
        code=Code.UNEXPECTED_EOF,
        message=f"unexpected end of file, expected {describe_expected(set(expected), parser)}",
        path=source.path, span=source.span_at(max(0, end - 1)), label="the file ends after this",
        help="a `{` may be missing its `}`" if "_RBRACE" in expected else None,
    )


def _unterminated_comment(source: Source, pos: int) -> Diagnostic:
    return Diagnostic(
        code=Code.UNTERMINATED_COMMENT, message="unterminated block comment", path=source.path,
        span=source.span_at(pos, 2),
        label="opened here", help="close it with `*/`",
    )


#: Known mistakes, each with the help that fixes it. Lark matches a parse error against the
#: parser state each snippet fails in; the table doubles as a test list (tests/syntax).
KNOWN_MISTAKES: dict[str, list[str]] = {
    "compare with `==`; `=` only gives a parameter its default": [
        "scenario s { expect orders = 10 }",
        "scenario s { finding when disputes = 0 \"none\" }",
    ],
    "a share of entities is written `25% of captured payments`": [
        "scenario s { phase p { refund 25% captured payments } }",
        "scenario s { phase p { dispute rate captured payments } }",
    ],
    "durations are written with a unit suffix: `7d`, `2h`, `15m`, `30s`": [
        "scenario s { phase p { settle each captured payment after 3 days } }",
        "scenario s { deliver { delay 5 seconds } }",
    ],
    "money is written as a currency code and an amount: `INR 2500`": [
        "scenario s { phase p { create orders count 10 amount 2500 INR } }",
        "scenario s { param v = 2500 INR }",
    ],
    "percentages take no space before `%`: `15%`": [
        "scenario s { param r = 15 % }",
    ],
    "parameters are declared as `param NAME = VALUE \"description\"`": [
        "scenario s { param orders: 10 }",
        "scenario s { param orders 10 }",
    ],
    "an outcome mix lists outcomes with shares, e.g. `{ captured 90%, failed 10% }`": [
        "scenario s { phase p { pay each order { captured } } }",
        "scenario s { phase p { pay each order { 90% captured } } }",
    ],
    "scenario names are written bare, e.g. `scenario dispute-spike {`": [
        "scenario \"dispute-spike\" { }",
    ],
}


def known_mistake_help(err: UnexpectedInput, parser: lark.Lark) -> str | None:
    """Return the help for a known mistake the error matches, if any."""
    try:
        return err.match_examples(parser.parse, KNOWN_MISTAKES, use_accepts=True)
    except Exception:  # noqa: BLE001 - a failed match only means no extra help
        return None
