"""The demo merchant (examples/merchant) served on 127.0.0.1 for a test, and carbonc run as a
process beside it, each run recorded in a real DuckDB file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
PREVIOUS_SECRET = "the-old-secret"


@contextmanager
def merchant(bug: str, *args: str) -> Iterator[str]:
    """The demo merchant served on 127.0.0.1 (a free port), as the README starts it; its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "examples.merchant", "--bug", bug, "--port", "0",
                             "--previous-secret", PREVIOUS_SECRET, *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert found, (line, proc.stderr.read() if proc.stderr else "")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def carbonc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonc", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def recorded(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
