"""Makes `examples` importable when carbonc is installed rather than run from the checkout."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # appended: an installed carbonc still wins over the checkout's
