"""The run's one writer: rows accumulate in memory and are appended to the store in batches, in
a worker thread (DuckDB calls block), so recording never holds up delivery. A crash loses at most
the rows not yet flushed: one batch, or half a second's worth (each batch is committed, whether
or not the store keeps its file open after it). The store keeps its file open from one batch to
the next until a reader asks for it (it then closes it after the batch, so a reader waits about a
flush interval) or for at most `store.HOLD_S`, and closes it when rows stop coming for a while;
at the end of the run it leaves it open for the run to finish its record and close it.

At most `MAX_PENDING` rows are ever in memory, the batch being written out included: a batch's
rows are let go of once it is staged on disk, before DuckDB takes it in (and checkpoints), and
producers wait for room. So the run's memory does not depend on how far the writer falls behind."""

from __future__ import annotations

from functools import partial
from typing import assert_never

import trio

from carbonc.store import Batch, Store
from carbonc.store.rows import CheckRow, DeliveryRow, EntityRow, GatewayCallRow, MessageRow

#: Rows that trigger a flush. DuckDB appends bigger batches for less a row (delivery rows: ~20 µs
#: of CPU a row 5,000 at a time, ~14 µs 20,000 at a time), but a batch counts against
#: `MAX_PENDING` until it is staged: at half of it the run keeps adding rows while one is staged.
BATCH_ROWS = 5_000
#: Rows in memory (pending, or in the batch being staged) at which producers wait for the writer.
#: Counting the batch being staged bounds them whatever the timing: counting only the pending
#: ones, up to twice as many were held while DuckDB checkpointed, more often the slower the
#: writer (a saved plan of a million orders run with no target: peak RSS 1.03 to 1.21 times a
#: tenth of it on shared cores).
MAX_PENDING = 10_000
#: Longest a row waits before it is flushed.
FLUSH_INTERVAL_S = 0.5


class Writer:
    """Collects rows (`add`) and flushes them from `run`, a task of the run's nursery."""

    def __init__(self, store: Store):
        self.store = store
        self.rows_written = 0
        self._pending = Batch()
        self._count = 0  # len(self._pending), kept: asked two or three times per delivery
        self._staging = 0  # rows of the batch being staged, still in memory
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._closed = False

    def add(self, row: EntityRow | MessageRow | DeliveryRow | CheckRow | GatewayCallRow) -> None:
        pending = self._pending
        match row:
            case DeliveryRow():
                pending.deliveries.append(row)
            case MessageRow():
                pending.messages.append(row)
            case EntityRow():
                pending.entities.append(row)
            case CheckRow():
                pending.checks.append(row)
            case GatewayCallRow():
                pending.gateway_calls.append(row)
            case _:
                assert_never(row)
        self._count += 1
        if self._count >= BATCH_ROWS:
            self._wake.set()

    def has_room(self) -> bool:
        """Whether rows may be added without waiting."""
        return self._count + self._staging < MAX_PENDING

    async def wait_for_room(self) -> None:
        """Wait while too many rows are in memory."""
        while not self.has_room():
            self._wake.set()
            await self._drained.wait()

    def close(self) -> None:
        """No more rows will be added: flush what is left and let `run` return."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            with trio.move_on_after(FLUSH_INTERVAL_S):
                await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()
            if self._closed and not self._count:
                # Nothing left. The file stays open: the run writes its checks and how it ended
                # next, then closes it (reopening it for them cost ~15 ms of CPU).
                return

    async def flush(self) -> None:
        batch, self._pending = self._pending, Batch()
        self._staging, self._count = self._count, 0
        if self._staging:
            # Shielded: once a batch is handed to the database it is written whole, even if
            # the run is being cancelled.
            with trio.CancelScope(shield=True):
                staged = await trio.to_thread.run_sync(self.store.stage, batch)
                del batch  # its rows are on disk: room for as many more while DuckDB takes them in
                self._staging = 0
                self._made_room()
                await trio.to_thread.run_sync(partial(self.store.ingest, staged, hold=True))
            self.rows_written += staged.rows
        elif self.store.holding:
            # Nothing to write for a while (or ever again): let readers in.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.store.release)
        self._made_room()

    def _made_room(self) -> None:
        self._drained.set()
        self._drained = trio.Event()
