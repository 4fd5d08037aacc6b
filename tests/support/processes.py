"""`carbonc` as real processes for a test: started in the test's folder, waited on by counts of
requests a server received, and every one killed at teardown (see the `carbonc` fixture of
tests/exec/conftest.py)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import servers

from carbonc.store import open_store

#: The CLI in a fresh interpreter of the same venv as the tests.
CLI = [sys.executable, "-c", "from carbonc.cli import main; main()"]
#: Longest any wait may take on a slow, shared machine; the tests normally take a fraction.
WAIT_S = 60.0
#: Workers in the long runs: every one ends up holding a request the gate keeps unanswered.
WORKERS = 4

#: 3000 orders: 6,450 entities and ~9,900 deliveries, far more than the tests let it send.
LONG_RUN = ("dispute-spike", "--set", "baseline_orders=3000", "--concurrency", str(WORKERS), "--timeout", "300")


@contextlib.contextmanager
def background(env: dict[str, str], cwd: Path | None = None) -> Iterator[Callable[[Sequence[str]], subprocess.Popen[str]]]:
    """`start(argv)` runs a process in the background, in `cwd`, with `env`, its output piped;
    every one still running at the end is killed (woken first, should a test have stopped it)."""
    procs: list[subprocess.Popen[str]] = []

    def start(argv: Sequence[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8")
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.communicate()


class Carbonc:
    """Starts `carbonc ARGS...` in tmp_path; every process started is killed at teardown."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd, self.env = cwd, env
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*CLI, *args], cwd=self.cwd, env=self.env | (env or {}), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.started.append(proc)
        return proc

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = self.start(*args, env=env)
        out, err = proc.communicate(timeout=WAIT_S)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting until {what}")
        time.sleep(0.05)


def wait_requests(server: servers.Server, count: int, proc: subprocess.Popen[str]) -> None:
    """Wait until `server` has `count` requests; fail with the process's output if it exits first."""
    deadline = time.monotonic() + WAIT_S
    while len(server.requests) < count:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"carbonc exited ({proc.returncode}) after {len(server.requests)} of {count} requests:\n"
                        f"{out}\n{err}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(server.requests)} of {count} requests arrived in {WAIT_S:.0f} s")
        time.sleep(0.02)


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of `sql`, through the store (which marks runs a dead process left `running`)."""
    with open_store(db) as store:
        return store.query(sql, params)[1]


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "internal error" not in text, text
