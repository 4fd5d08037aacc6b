"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_extra_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CARBON_SCENARIOS_DIR must not change what the bundled set looks like."""
    monkeypatch.delenv("CARBON_SCENARIOS_DIR", raising=False)
