"""The `carbonc` fixture: the CLI as real processes (tests/support/processes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import Carbonc


@pytest.fixture
def carbonc(tmp_path: Path, subprocess_env: dict[str, str]):
    launcher = Carbonc(tmp_path, subprocess_env)
    try:
        yield launcher
    finally:
        launcher.kill_all()
