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

from carbonc.codes import Code
from carbonc.source import Source, Span

Severity = Literal["error", "warning"]


class Diagnostic(msgspec.Struct, frozen=True, kw_only=True):
    """One finding: its `code`, `severity`, a lowercase `message`, the file `path`,
    the smallest useful `span` (None for whole-file problems), a `label` shown under the caret,
    and a `help` line with the fix."""

    code: Code
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


def diagnostic_text(diag: Diagnostic, source: Source | None) -> str:
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
