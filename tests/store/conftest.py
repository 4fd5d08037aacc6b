"""The store's tests use the executor's test servers (tests/exec/servers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

for folder in ("exec", "dialects"):
    path = str(Path(__file__).parents[1] / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
