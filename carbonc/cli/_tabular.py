"""Rows from the store as text: an aligned table for a terminal, CSV, or JSON. Cells are shown
as text a terminal cannot be driven by: control characters (a newline included, in a table) are
escaped, and long cells are cut in a table."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal, assert_never

import msgspec

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")

#: A table cell's width at most; the full value is in `--format csv` or `json`.
MAX_CELL = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_KEEPING_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def rows_text(fmt: Format, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """`rows` under `columns` in `fmt`, ending with a newline (an empty table still has its header)."""
    match fmt:
        case "table":
            return _table(columns, rows)
        case "csv":
            return _csv(columns, rows)
        case "json":
            return msgspec.json.encode([dict(zip(columns, map(_plain, row), strict=True)) for row in rows],
                                       enc_hook=str).decode() + "\n"
        case _:
            assert_never(fmt)


def escaped(text: str, *, keep_lines: bool = False) -> str:
    """`text` with control characters shown as escapes (`\\n`, `\\x1b`); with `keep_lines`,
    newlines and tabs are kept (CSV quotes them)."""
    pattern = _CONTROL_KEEPING_LINES if keep_lines else _CONTROL
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    return named or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[escaped(c) for c in columns]] + [[_cut(escaped(_cell(v))) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines) + "\n"


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([escaped(c, keep_lines=True) for c in columns])
    for row in rows:
        writer.writerow([escaped(_cell(v), keep_lines=True) for v in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _plain(value: Any) -> Any:
    """A value JSON can hold: text as it is (JSON escapes control characters), times as ISO 8601,
    exact numbers as text, lists and maps inside out."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"
