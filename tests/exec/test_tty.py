"""The progress line appears on a terminal, and only there."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import servers


def test_progress_is_drawn_on_a_terminal_and_cleared(tmp_path):
    leader, follower = pty.openpty()
    with servers.slow(0.005) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from carbonc.cli import main; main()", "run", "dispute-spike",
             "--set", "baseline_orders=100", "--webhook-url", srv.url, "--db", str(tmp_path / "db.duckdb"),
             "--concurrency", "2", "--skip-probes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, cwd=tmp_path)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    assert b"messages" in seen and b"deliveries" in seen and b"/s  ETA" in seen
    assert b"\r\x1b[2K" in seen  # redrawn in place, and cleared at the end
    assert b"messages" not in out.split(b"Deliveries by event")[0]  # stdout has the summary only
