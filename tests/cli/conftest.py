"""Fixtures for the CLI tests: a clean environment, and carbonc run as a real process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _import_root() -> Path:
    """The sys.path entry the tests import carbonc from (the checkout, or site-packages)."""
    spec = importlib.util.find_spec("carbonc.cli")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_extra_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CARBON_SCENARIOS_DIR must not change what the bundled set looks like."""
    monkeypatch.delenv("CARBON_SCENARIOS_DIR", raising=False)


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG cache directory of our own, so the grammar cache is not the user's."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def subprocess_env(cache_home: Path) -> dict[str, str]:
    """The environment for a child process that imports the same carbonc as the tests do."""
    env = {k: v for k, v in os.environ.items() if k not in ("CARBON_SCENARIOS_DIR", "PYTHONHOME")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_import_root()), env.get("PYTHONPATH")) if p)
    env["XDG_CACHE_HOME"] = str(cache_home)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture
def run_python(subprocess_env: dict[str, str], tmp_path: Path):
    """Run `python ARGS...` in tmp_path (outside the repository), with no stdin."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env or subprocess_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    return run
