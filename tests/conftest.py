"""Fixtures every test directory may use: hostile environments (a tiny disk, a deadline) and
child processes that import the same carbonc as the tests."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 2 MB tmpfs, to fill up (mounting one needs root: skipped elsewhere)."""
    yield from _tmpfs(tmp_path / "tiny", "2M")


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 8 MB tmpfs: room for a run's first batches, not for the whole run."""
    yield from _tmpfs(tmp_path / "small", "8M")


def _tmpfs(mount: Path, size: str):
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def deadline():
    """Fail the test if it runs for more than 60 s: a hostile input must never hang carbonc."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise TimeoutError("the test ran past its 60 s deadline: something hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _import_root() -> Path:
    """The sys.path entry the tests import carbonc from (the checkout, or site-packages)."""
    spec = importlib.util.find_spec("carbonc.cli")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[2]


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG cache directory of our own, so the grammar cache is not the user's."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def subprocess_env(cache_home: Path) -> dict[str, str]:
    """The environment for a child process: the same carbonc as the tests import, none of the
    developer's CARBON_* settings, our own grammar cache, UTF-8 output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_") and k != "PYTHONHOME"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_import_root()), env.get("PYTHONPATH")) if p)
    env["XDG_CACHE_HOME"] = str(cache_home)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture
def run_python(subprocess_env: dict[str, str], tmp_path: Path):
    """Run `python ARGS...` in tmp_path (outside the repository), with no stdin."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env or subprocess_env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8",
                              timeout=120)

    return run
