"""Writes chunks of bytes to a file on a thread of its own, each fed to a digest first if asked,
while the caller makes the next ones: hashing and writing release the GIL, so on a second core
they cost the caller next to nothing (a million orders' plan: 1.7 GB, ~1 s of sha256 and ~2 s of
kernel copying)."""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
from types import TracebackType
from typing import BinaryIO

#: Chunks made but not yet written, at most: each is a batch of records (~1.2 MB), held until
#: written, and the writer keeps up, so more would only cost memory.
DEPTH = 2
#: The longest the thread waits for the GIL while the caller holds it (Python's default is 5 ms).
#: It needs it three times a chunk (woken, hashed, written): at 5 ms a million orders' 1,500
#: chunks kept it waiting 9 s in all, and the caller 1.7–2.2 s for room in the queue; at 1 ms,
#: 0.03 s.
SWITCH_INTERVAL_S = 0.001

_Item = tuple[bytes, "hashlib._Hash | None"] | None


class ChunkWriter:
    """A writer of chunks to `out`, in order, on a thread of its own, used as a context manager:
    the block's end waits for every chunk to be written. A chunk that cannot be written (a full
    disk) fails the next `write`, or the block's end, with the thread's exception; a block that
    fails leaves what is not written yet unwritten."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._queue: queue.Queue[_Item] = queue.Queue(DEPTH)
        self._failure: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="carbonc chunk writer", daemon=True)

    def __enter__(self) -> ChunkWriter:
        _shorter_switches(True)
        self._thread.start()
        return self

    def write(self, chunk: bytes, digest: hashlib._Hash | None = None) -> None:
        """Write `chunk` after those before it, feeding it to `digest` first (which is not to be
        read until the block ends)."""
        if self._failure is not None:
            raise self._failure
        self._queue.put((chunk, digest))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._abandoned = exc is not None
        try:
            # The thread takes every item until this one, even after a failure: never a `put`
            # that waits for room that no one makes.
            self._queue.put(None)
            self._thread.join()
        finally:
            _shorter_switches(False)
        if self._failure is not None and exc is None:
            raise self._failure

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failure is not None or self._abandoned:
                continue
            chunk, digest = item
            try:
                if digest is not None:
                    digest.update(chunk)
                self._out.write(chunk)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                self._failure = exc


class _Switching:
    """The interpreter's switch interval is the process's: writers that overlap (in threads)
    share one change of it, made by the first to start and undone by the last to end."""

    lock = threading.Lock()
    writers = 0
    interval = sys.getswitchinterval()


def _shorter_switches(on: bool) -> None:
    with _Switching.lock:
        if on:
            if _Switching.writers == 0:
                _Switching.interval = sys.getswitchinterval()
                sys.setswitchinterval(min(_Switching.interval, SWITCH_INTERVAL_S))
            _Switching.writers += 1
        else:
            _Switching.writers -= 1
            if _Switching.writers == 0:
                sys.setswitchinterval(_Switching.interval)
