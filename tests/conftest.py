"""Fixtures every test directory may use."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 2 MB tmpfs, to fill up (mounting one needs root: skipped elsewhere)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount)], capture_output=True)
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
