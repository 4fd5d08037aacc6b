"""Diagnostics: what is wrong with a program, where, and how to fix it; rendered rustc-style.

    scenarios/refund-storm.carbon:14:12: error[C0204]: unknown parameter `refund_rat`
       |
    14 |     refund refund_rat of captured payments
       |            ^^^^^^^^^^ not defined in this scenario
       = help: did you mean `refund_rate`?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Literal

import msgspec

from carbonc.source import Source, Span

Severity = Literal["error", "warning"]

#: Every diagnostic code with a one-line title; docs/diagnostics.md lists each with an example.
CODES: dict[str, str] = {
    # files
    "C0001": "file cannot be read",
    "C0002": "file is not UTF-8 text",
    "C0003": "file contains a NUL byte",
    # syntax
    "C0101": "unexpected token",
    "C0102": "unexpected end of file",
    "C0103": "unexpected character",
    "C0104": "unterminated string",
    "C0105": "nesting too deep",
    "C0106": "number too large",
    "C0107": "invalid string escape",
    "C0108": "unterminated block comment",
    # names
    "C0201": "unknown name",
    "C0202": "duplicate definition",
    "C0203": "unknown module",
    "C0204": "unknown parameter",
    "C0205": "import cycle",
    "C0206": "unknown phase",
    "C0207": "phase dependency cycle",
    "C0208": "unknown profile, mix, ladder or oracle",
    "C0209": "unknown entity kind",
    "C0210": "unknown entity state",
    "C0211": "unknown base scenario",
    "C0212": "no scenario to plan",
    "C0213": "scenario extends itself",
    "C0214": "unknown function",
    # types and units
    "C0301": "unknown currency",
    "C0302": "too many decimal places for the currency",
    "C0303": "type mismatch",
    "C0304": "money needs a currency",
    "C0305": "ratio outside 0-100%",
    "C0306": "outcome shares do not add up to 100%",
    "C0307": "mixed currencies",
    "C0308": "value out of range",
    "C0309": "unknown outcome",
    "C0310": "clause not allowed here",
    "C0311": "unknown option value",
    "C0312": "missing clause",
    "C0313": "duplicate setting",
    "C0314": "invalid probe (template, header, body or expectations)",
    "C0315": "wrong number of arguments",
    "C0316": "division by zero",
    "C0317": "action not allowed on these entities",
    "C0318": "refund exceeds what is left to refund",
    # warnings
    "W0401": "unused parameter",
    "W0402": "duplicate use of a module",
}


class Diagnostic(msgspec.Struct, frozen=True, kw_only=True):
    """One finding: `code` from CODES, `severity`, a lowercase `message`, the file `path`,
    the smallest useful `span` (None for whole-file problems), a `label` shown under the caret,
    and a `help` line with the fix."""

    code: str
    severity: Severity = "error"
    message: str
    path: str
    span: Span | None = None
    label: str | None = None
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return a `help` text naming the closest candidate to `name`, if one is close enough."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def sort_key(diag: Diagnostic) -> tuple[str, int, int, str]:
    """Order diagnostics by file, then position, then code."""
    if diag.span is None:
        return (diag.path, 0, 0, diag.code)
    return (diag.path, diag.span.line, diag.span.col, diag.code)


#: Source lines longer than this are shown as a window around the caret.
_WINDOW = 100

#: How control characters of a source line are shown: a tab as a space, others (NUL, ESC…) as
#: their one-column Unicode control pictures, so the caret still lines up and nothing reaches
#: the terminal raw.
_SHOWN: dict[int, str | int] = {**{i: 0x2400 + i for i in range(32)}, 9: " ", 127: 0x2421}

#: A name in backticks longer than this loses its middle (a 2 MB name must not make a 2 MB
#: message; a long path keeps its file name).
_NAME_WIDTH = 200
_NAMED = re.compile(rf"`([^`]{{{_NAME_WIDTH + 1},}})`")


def _words(text: str) -> str:
    """`text` (a message, label or help) with long names cut short and control characters shown."""
    half = _NAME_WIDTH // 2
    return _NAMED.sub(lambda m: f"`{m[1][:half]}…{m[1][-half:]}`", text).translate(_SHOWN)


def render(diag: Diagnostic, source: Source | None) -> str:
    """Render `diag` as text: the header, then the source line with a caret and the help."""
    where = diag.path
    if diag.span is not None:
        where = f"{diag.path}:{diag.span.line}:{diag.span.col}"
    out = [f"{where}: {diag.severity}[{diag.code}]: {_words(diag.message)}"]
    if diag.span is not None and source is not None:
        span = diag.span
        line = source.line_text(span.line).translate(_SHOWN)
        start = span.col - 1
        width = (span.end_col - span.col) if span.end_line == span.line else len(line) - start
        width = max(1, width)
        prefix = ""
        if len(line) > _WINDOW:
            # Show a window of the line so a 2 MB line stays readable.
            lo = max(0, start - _WINDOW // 2)
            hi = lo + _WINDOW
            prefix = "…" if lo > 0 else ""
            line = prefix + line[lo:hi] + ("…" if hi < len(line) else "")
            start = start - lo + len(prefix)
            width = min(width, _WINDOW - (start - len(prefix)))
        gutter = " " * len(str(span.line))
        caret = " " * start + "^" * max(1, width)
        if diag.label:
            caret += " " + _words(diag.label)
        out += [f"{gutter} |", f"{span.line} | {line}", f"{gutter} | {caret}"]
        if diag.help:
            out.append(f"{gutter} = help: {_words(diag.help)}")
    elif diag.help:
        out.append(f"  = help: {_words(diag.help)}")
    return "\n".join(out)
