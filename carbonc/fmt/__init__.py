"""Formats `.carbon` source in canonical layout (`format_source`), keeping every comment."""

from __future__ import annotations

import msgspec

from carbonc.diagnostics import Diagnostic
from carbonc.fmt._printer import Printer
from carbonc.source import Source
from carbonc.syntax import parse

__all__ = ["FormatResult", "format_source"]


class FormatResult(msgspec.Struct, frozen=True):
    """The formatted `text` (None when the source has syntax errors, listed in `diagnostics`)."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.text is not None


def format_source(source: Source) -> FormatResult:
    """Return `source` in canonical layout. Only syntax matters: a program with name or type
    errors is still formatted."""
    parsed = parse(source)
    errors = tuple(d for d in parsed.diagnostics if d.is_error)
    if parsed.module is None or errors:
        return FormatResult(None, parsed.diagnostics)
    return FormatResult(Printer(source, parsed.comments).module(parsed.module), ())
