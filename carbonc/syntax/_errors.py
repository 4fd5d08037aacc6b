"""Turns Lark's parse errors into diagnostics in plain words: what was expected, where."""

from __future__ import annotations

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from carbonc.diagnostics import Diagnostic
from carbonc.source import Source, Span

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

#: When every terminal of a group is expected, it is named by the group's description instead.
_GROUPS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"_ABOUT", "_PARAM", "_PHASE", "_DELIVER", "_EXPECT", "_FINDING", "_PROBE"}),
     "a scenario item (`about`, `param`, `phase`, `deliver`, `expect`, …)"),
    (frozenset({"CREATE", "PAY", "REFUND", "DISPUTE", "SETTLE"}),
     "a statement (`create`, `pay`, `capture`, `refund`, `dispute`, `settle`, …)"),
    (frozenset({"_ORDER", "_REPEAT", "_DELAY", "_DROP", "_SIGNATURE", "_RETRY"}),
     "a delivery setting (`order`, `repeat`, `delay`, `drop`, `signature`, `retry`, …)"),
    (frozenset({"_COUNT", "_AMOUNT", "_REASON", "_AFTER", "_THEN"}),
     "a clause (`count`, `amount`, `reason`, `after`, `then`, …)"),
    (frozenset({"_USE", "_SCENARIO", "_PROFILE", "_MIX", "_LADDER"}),
     "`use`, `scenario`, `profile`, `mix` or `ladder`"),
    (frozenset({"INT", "DECIMAL", "PERCENT", "MONEY", "DURATION", "STRING", "NAME", "_LPAR"}),
     "a value"),
    (frozenset({"COMP_OP", "ADD_OP", "MUL_OP"}), "an operator"),
)

_PUNCT_WORDS = {"$END": "the end of the file"}


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
            # Keywords that only make sense alongside the group are covered by its "…".
            remaining -= {n for n in remaining if n.isupper() and n.startswith("_") and description.endswith("…)")}
    words += sorted(_terminal_word(n, parser) for n in remaining)
    words = list(dict.fromkeys(words))
    if len(words) > 6:
        words = words[:6] + ["…"]
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
    """Translate one Lark error into a C01xx diagnostic."""
    text = source.text
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            return _eof(err.expected, source, parser)
        if tok.type == "MUL_OP" and text.startswith("/*", tok.start_pos):
            return _unterminated_comment(source, tok.start_pos)
        expected = describe_expected(set(err.accepts or err.expected), parser)
        span = Span(tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)
        return Diagnostic(
            code="C0101", message=f"expected {expected}, found {_found(tok)}", path=source.path,
            span=span, label="unexpected here",
        )
    if isinstance(err, UnexpectedEOF):
        return _eof(set(err.expected), source, parser)
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = text[pos] if pos < len(text) else ""
        span = source.span_at(pos)
        if ch == '"':
            end = text.find("\n", pos)
            span = source.span_at(pos, (end if end >= 0 else len(text)) - pos)
            return Diagnostic(
                code="C0104", message="unterminated string", path=source.path, span=span,
                label="this string has no closing `\"`", help="close it with `\"` on the same line",
            )
        if text.startswith("/*", pos):
            return _unterminated_comment(source, pos)
        allowed = describe_expected(set(err.allowed or ()), parser) if err.allowed else None
        shown = repr(ch)[1:-1] if ch.isprintable() else f"U+{ord(ch):04X}"
        return Diagnostic(
            code="C0103", message=f"unexpected character `{shown}`", path=source.path, span=span,
            label="not part of the language here", help=f"expected {allowed}" if allowed else None,
        )
    raise TypeError(err)  # pragma: no cover


def _eof(expected: set[str], source: Source, parser: lark.Lark) -> Diagnostic:
    end = len(source.text.rstrip())
    return Diagnostic(
        code="C0102", message=f"unexpected end of file, expected {describe_expected(set(expected), parser)}",
        path=source.path, span=source.span_at(max(0, end - 1)), label="the file ends after this",
        help="a `{` may be missing its `}`" if "_RBRACE" in expected else None,
    )


def _unterminated_comment(source: Source, pos: int) -> Diagnostic:
    return Diagnostic(
        code="C0108", message="unterminated block comment", path=source.path, span=source.span_at(pos, 2),
        label="opened here", help="close it with `*/`",
    )
