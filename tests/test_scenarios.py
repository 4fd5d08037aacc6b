"""Scenario lookup and listing: a scenario that extends another inherits its category and about."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonc.scenarios import list_scenarios


def test_listing_inherits_category_and_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zz-base.carbon").write_text(
        'scenario zz-base {\n  about "the base"\n  category basics\n}\n')
    (tmp_path / "zz-child.carbon").write_text(
        'use "./zz-base.carbon"\n\nscenario zz-child extends zz-base {\n}\n')
    monkeypatch.setenv("CARBON_SCENARIOS_DIR", str(tmp_path))
    infos = {i.name: i for i in list_scenarios()}
    assert (infos["zz-child"].category, infos["zz-child"].about) == ("basics", "the base")
    assert "dispute-spike" in infos  # the bundled ones are still listed
