"""Parses `.carbon` source text into an IR module (`parse`), collecting syntax diagnostics."""

from __future__ import annotations

import re

import msgspec

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.ir import nodes as ir
from carbonc.source import Source
from carbonc.syntax import _cache

__all__ = ["ParseResult", "parse"]

#: Deepest bracket nesting accepted; real scenarios stay under 8.
MAX_NESTING = 64
#: Deepest expression accepted, counting operators, calls and lists (not parentheses): the
#: passes and the formatter walk expressions recursively.
MAX_EXPRESSION_DEPTH = 200
#: Syntax errors reported per file before giving up.
MAX_SYNTAX_ERRORS = 20

_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/|[(\[{]|[)\]}]', re.S)


class ParseResult(msgspec.Struct, frozen=True):
    """`module` (None when the text has syntax errors), its `comments`, and `diagnostics`."""

    module: ir.Module | None
    comments: tuple[ir.Comment, ...]
    diagnostics: tuple[Diagnostic, ...]


def _too_deep(source: Source) -> Diagnostic | None:
    text = source.text
    if sum(text.count(c) for c in "([{") <= MAX_NESTING:
        return None
    depth = 0
    for m in _BRACKETS.finditer(text):
        tok = m.group()
        if tok in "([{":
            depth += 1
            if depth > MAX_NESTING:
                return Diagnostic(
                    code=Code.NESTING_TOO_DEEP, message=f"brackets nested more than {MAX_NESTING} deep",
                    path=source.path, span=source.span_at(m.start()), label="too deep here",
                    help="split the expression or remove redundant parentheses",
                )
        elif tok in ")]}":
            depth = max(0, depth - 1)
    return None


def parse(source: Source) -> ParseResult:
    """Parse `source` into an IR module; syntax errors are returned, never raised.

    Syntax errors are reported one per top-level declaration (see `_parse._resync_point`); name and
    type errors, found later by the passes, are all reported. A file parsed before, unchanged,
    by the same parser, is read back from the parse cache (`carbonc.syntax._cache`) without
    loading Lark.
    """
    too_deep = _too_deep(source)
    if too_deep is not None:
        return ParseResult(None, (), (too_deep,))
    cached = _cache.load(source, ParseResult)
    if cached is not None:
        return cached
    from carbonc.syntax._parse import parse_text

    result = parse_text(source)
    if result.module is not None:
        _cache.save(source, result)
    return result
