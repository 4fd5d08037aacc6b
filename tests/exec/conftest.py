"""Makes the dialect tests' helpers importable here: the servers verify with their official
verifiers, and the tests render requests with their world."""

from __future__ import annotations

import sys
from pathlib import Path

_DIALECT_TESTS = str(Path(__file__).resolve().parent.parent / "dialects")
if _DIALECT_TESTS not in sys.path:
    sys.path.insert(0, _DIALECT_TESTS)
