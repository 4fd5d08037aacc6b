"""Text from a scenario or an endpoint made safe to show: control characters as escapes."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters shown as escapes (`\x00`, `\x1b`): what an endpoint
    answered or a scenario wrote must not drive the terminal or break an XML or HTML report."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
