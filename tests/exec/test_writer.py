"""The run's writer holds at most `MAX_PENDING` rows in memory, the batch being written included,
and none of a batch once it is staged: checked by counting the rows still alive, not by timing."""

from __future__ import annotations

import time
import weakref

import trio

from carbonc.exec.writer import MAX_PENDING, Writer
from carbonc.store import Batch, Staged
from carbonc.store.rows import CheckRow


class TrackedRow(CheckRow, weakref=True):
    """A row that counts itself in `Alive` for as long as it is alive."""


class Alive:
    """How many `TrackedRow`s are alive."""

    def __init__(self) -> None:
        self.count = 0

    def row(self, n: int) -> TrackedRow:
        row = TrackedRow("run", "expect", f"check {n}", None, True, None, None, None)
        self.count += 1
        weakref.finalize(row, self._gone)
        return row

    def _gone(self) -> None:
        self.count -= 1


class SlowStore:
    """Stands in for a `Store`: staging keeps only the count, and DuckDB taking in the first batch
    is held back until the run has run out of room (a writer slower than the run)."""

    def __init__(self, alive: Alive):
        self.alive = alive
        self.writer: Writer | None = None
        self.staged: list[int] = []
        #: Rows alive as each staged batch is taken in.
        self.alive_while_ingesting: list[int] = []
        self.holding = False

    def stage(self, batch: Batch) -> Staged:
        self.staged.append(len(batch))
        return Staged(rows=len(batch), files=())

    def ingest(self, staged: Staged, *, hold: bool = False) -> None:
        if len(self.staged) == 1:
            # Until the run has filled the room the staged batch left (it then waits): asked of
            # the writer, as the run may already have found no room while the batch was staged.
            assert self.writer is not None
            deadline = time.monotonic() + 30
            while self.writer.has_room():
                assert time.monotonic() < deadline, "the run never ran out of room"
                time.sleep(0.001)
        self.alive_while_ingesting.append(self.alive.count)

    def release(self) -> None:
        self.holding = False


def test_rows_in_memory_stay_bounded_while_the_writer_falls_behind() -> None:
    alive = Alive()
    store = SlowStore(alive)
    total = 3 * MAX_PENDING + 17
    most = 0

    async def main() -> None:
        nonlocal most
        writer = store.writer = Writer(store)  # type: ignore[arg-type]  # the stand-in has what the writer uses
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            for n in range(total):
                await writer.wait_for_room()
                writer.add(alive.row(n))
                most = max(most, alive.count)
            writer.close()
        assert writer.rows_written == total

    trio.run(main)
    assert sum(store.staged) == total
    assert most <= MAX_PENDING
    assert max(store.staged) <= MAX_PENDING
    # While DuckDB takes in the first batch, its rows are gone from memory: the run has filled
    # the room they left, and no more.
    assert store.alive_while_ingesting[0] == MAX_PENDING
