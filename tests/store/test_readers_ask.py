"""The writer keeps the DuckDB file open across batches until a reader asks for it: real
DuckDB files, the writer in this process, readers (and a writer that is killed) in others, since
DuckDB shares a file between processes only.

Timings are asserted only as bounds far from what they measure: the writer here keeps the file
for a minute unless asked (`HOLD_S`), so a reader that gets in within seconds got in by asking."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import background

import carbonc.store
from carbonc.store import Batch, DeliveryRow, RunRow, Store, open_store
from carbonc.store.access import HANDOVER_S, readers_path

#: The writer's pause between batches (a run's writer flushes every half second at most).
EVERY_S = 0.2
#: Longest any test here waits for a process.
WAIT_S = 60.0

#: A reader: how many deliveries it saw, and how long it took to open the file and read.
READER = """
import sys, time
from pathlib import Path
from carbonc.store import open_store
if sys.argv[2] == "silent":  # a reader that does not ask, as carbonc's did before they asked
    import carbonc.store.access
    carbonc.store.access._Asking.ask = lambda self: None
began = time.monotonic()
with open_store(Path(sys.argv[1]), read_only=True) as store:
    n = store.query("select count(*) from deliveries")[1][0][0]
print(n, time.monotonic() - began, flush=True)
"""

#: A reader that asks for the file, says so, and then does nothing (it is killed, or stopped).
ASKS_THEN_HANGS = """
import sys, time
from pathlib import Path
from carbonc.store.access import _Asking
asking = _Asking(Path(sys.argv[1]))
asking.ask()
assert asking._fd is not None
print("asking", flush=True)
time.sleep(600)
"""

#: A writer that keeps the file open across batches, says how many rows it committed, and waits
#: to be killed.
HOLDS_THEN_HANGS = """
import sys, time
from pathlib import Path
import carbonc.store
from carbonc.store import Batch, DeliveryRow, RunRow, open_store
carbonc.store.HOLD_S = 600.0
store = open_store(Path(sys.argv[1]))
store.begin_run(RunRow(run_id="run_1", scenario="s", source_sha256="a" * 64, plan_sha256="", seed=1,
                       provider="mock", params="{}", started_at_ms=1_764_000_000_000, version="0.1.0"))
for b in range(5):
    store.append(Batch(deliveries=[DeliveryRow("run_1", f"evt_{n}/1", f"evt_{n}", 1, "payment.captured", "valid",
                                               1_764_000_000_000 + n, n, 200, 1.25, None, "2xx", False, "accept",
                                               True, "{}", "ok") for n in range(b * 100, b * 100 + 100)]),
                 hold=True)
assert store.holding
print(500, flush=True)
time.sleep(600)
"""


def run_row() -> RunRow:
    return RunRow(run_id="run_1", scenario="s", source_sha256="a" * 64, plan_sha256="", seed=1, provider="mock",
                  params="{}", started_at_ms=1_764_000_000_000, version="0.1.0")


def batch(first: int, rows: int = 50) -> Batch:
    return Batch(deliveries=[
        DeliveryRow("run_1", f"evt_{n}/1", f"evt_{n}", 1, "payment.captured", "valid", 1_764_000_000_000 + n, n,
                    200, 1.25, None, "2xx", False, "accept", True, "{}", "ok") for n in range(first, first + rows)])


class Opens:
    """Counts the writer's opens of the DuckDB file (each after a close, but the first)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        real = carbonc.store.connect

        def counting(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(carbonc.store, "connect", counting)


@pytest.fixture
def writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A writer with a run begun, that keeps the file for a minute unless a reader asks."""
    monkeypatch.setattr(carbonc.store, "HOLD_S", 60.0)
    with open_store(tmp_path / "db.duckdb") as store:
        store.begin_run(run_row())
        yield store


@pytest.fixture
def spawn(subprocess_env: dict[str, str]):
    """`spawn(script, *args)` runs a Python script in a process of its own; all killed at teardown."""
    with background(subprocess_env) as start:
        yield lambda script, *args: start([sys.executable, "-c", script, *args])


def write_while(store: Store, proc: subprocess.Popen[str], first: int) -> int:
    """Append a batch every `EVERY_S`, holding the file, until `proc` exits; the next row's number."""
    deadline = time.monotonic() + WAIT_S
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the other process never finished"
        store.append(batch(first), hold=True)
        first += 50
        time.sleep(EVERY_S)
    return first


def test_with_no_reader_the_writer_keeps_the_file_open_across_batches(tmp_path, monkeypatch):
    with open_store(tmp_path / "db.duckdb") as writer:  # as a run's writer is: HOLD_S as it is
        writer.begin_run(run_row())
        assert writer.holding  # kept open for the run's first batch
        opens = Opens(monkeypatch)
        began = time.monotonic()
        first = 0
        while time.monotonic() - began < 1.5:  # past the second carbonc once closed the file after
            writer.append(batch(first), hold=True)
            first += 50
            assert writer.holding
            time.sleep(EVERY_S)
        assert opens.count == 0  # open since the run began, never closed since
        assert first >= 8 * 50
        writer.release()
        assert writer.query("select count(*) from deliveries")[1] == [(first,)]


def test_a_reader_that_asks_gets_in_after_the_next_batch_and_reads_what_was_committed(writer, spawn, monkeypatch):
    opens = Opens(monkeypatch)
    writer.append(batch(0), hold=True)
    assert writer.holding
    reader = spawn(READER, str(writer.path), "asking")
    end = write_while(writer, reader, 50)
    out, err = reader.communicate()
    assert reader.returncode == 0, err
    seen, took = out.split()
    # Whole batches, at least the one committed before the reader started.
    assert 50 <= int(seen) <= end and int(seen) % 50 == 0
    # Far sooner than the minute the writer would otherwise keep the file (a batch interval, a
    # handover, and the reader's second session: open_store and the query each open the file).
    assert float(took) < 5.0
    writer.append(batch(end), hold=True)  # the writer carries on
    # Held since the run began: closed for the reader, and opened again for the batches after it.
    assert opens.count >= 1
    writer.release()
    assert writer.query("select count(*) from deliveries")[1] == [(end + 50,)]


def test_a_reader_that_does_not_ask_still_gets_in_within_hold_s(writer, spawn, monkeypatch):
    monkeypatch.setattr(carbonc.store, "HOLD_S", 1.0)
    writer.append(batch(0), hold=True)
    reader = spawn(READER, str(writer.path), "silent")
    end = write_while(writer, reader, 50)
    out, err = reader.communicate()
    assert reader.returncode == 0, err
    seen, took = out.split()
    assert 50 <= int(seen) <= end
    assert float(took) < 10.0  # within READER_WAIT_S, with HOLD_S of 1 s per session


def test_a_reader_that_asked_and_died_asks_for_nothing(writer, spawn, monkeypatch):
    writer.append(batch(0), hold=True)
    asker = spawn(ASKS_THEN_HANGS, str(writer.path))
    assert asker.stdout is not None and asker.stdout.readline() == "asking\n"
    assert writer._lock is not None and writer._lock.readers_waiting()
    asker.kill()
    asker.wait(WAIT_S)
    # Its lock died with it: the writer keeps the file across batches again, and readers get in.
    assert not writer._lock.readers_waiting()
    opens = Opens(monkeypatch)
    for first in range(50, 300, 50):
        writer.append(batch(first), hold=True)
    assert opens.count == 0 and writer.holding
    reader = spawn(READER, str(writer.path), "asking")
    end = write_while(writer, reader, 300)
    out, err = reader.communicate()
    assert reader.returncode == 0, err
    assert 300 <= int(out.split()[0]) <= end


def test_a_reader_that_asks_and_never_comes_in_does_not_stall_every_batch(writer, spawn, monkeypatch):
    writer.append(batch(0), hold=True)
    asker = spawn(ASKS_THEN_HANGS, str(writer.path))
    assert asker.stdout is not None and asker.stdout.readline() == "asking\n"
    asker.send_signal(signal.SIGSTOP)  # alive, asking, never coming in
    opens = Opens(monkeypatch)
    writer.append(batch(50), hold=True)  # a reader asks: closed after this batch
    assert not writer.holding
    began = time.monotonic()
    writer.append(batch(100), hold=True)  # waits for the reader, at most HANDOVER_S, then opens
    assert HANDOVER_S <= time.monotonic() - began < HANDOVER_S + 5
    began = time.monotonic()
    for first in range(150, 400, 50):  # and is not held up again, nor closes for it, for HOLD_S
        writer.append(batch(first), hold=True)
        assert writer.holding
    assert time.monotonic() - began < HANDOVER_S
    assert opens.count == 1


def test_a_readers_file_left_by_a_writer_that_died_is_taken_over(tmp_path, spawn):
    db = tmp_path / "db.duckdb"
    killed = spawn(HOLDS_THEN_HANGS, str(db))
    assert killed.stdout is not None and killed.stdout.readline() == "500\n"
    assert readers_path(db).exists()
    killed.kill()  # holding the file, its last batches never checkpointed
    killed.wait(WAIT_S)
    assert readers_path(db).exists()
    # Every committed batch is kept (DuckDB replays its log), and the next writer works as ever.
    with open_store(db) as store:
        assert store.query("select count(*) from deliveries")[1] == [(500,)]
        assert store.query("select status from runs")[1] == [("interrupted",)]
        assert store._lock is not None and not store._lock.readers_waiting()
    assert not readers_path(db).exists()  # removed with the lock, by the writer that ended
