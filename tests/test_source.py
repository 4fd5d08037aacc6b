"""How a file is named in messages: one function, `source.shown_path`, for every command."""

from __future__ import annotations

from pathlib import Path

from carbonc._data import data_dir
from carbonc.source import shown_path


def test_a_path_is_shown_as_the_user_gave_it() -> None:
    assert shown_path(Path("../x/y.carbon"), "../x/y.carbon") == "../x/y.carbon"


def test_files_shipped_with_carbonc_are_shown_by_their_place_there() -> None:
    bundled = data_dir("scenarios") / "dispute-spike.carbon"
    assert shown_path(bundled, "dispute-spike") == "scenarios/dispute-spike.carbon"
    assert shown_path(data_dir("stdlib") / "oracles.carbon") == "<stdlib>/oracles.carbon"


def test_anything_else_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "a" / "b.carbon") == "a/b.carbon"


def test_a_symlink_loop_is_shown_not_followed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.carbon").symlink_to(tmp_path / "loop.carbon")
    assert shown_path(tmp_path / "loop.carbon") == "loop.carbon"
