"""`ChunkWriter`: chunks written in order on a thread of its own, digested as asked, and a chunk
that cannot be written fails the caller with the thread's own exception, never leaving it waiting."""

from __future__ import annotations

import hashlib
import io
import sys
import threading

import pytest

from carbonc.plan._writer import DEPTH, ChunkWriter


def test_chunks_are_written_in_order_and_digested_as_asked() -> None:
    out, digest = io.BytesIO(), hashlib.sha256()
    chunks = [b"%d\n" % n * (n % 7 + 1) for n in range(200)]
    with ChunkWriter(out) as writer:
        for n, chunk in enumerate(chunks):
            writer.write(chunk, digest if n % 2 else None)
    assert out.getvalue() == b"".join(chunks)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks[1::2])).hexdigest()


class _FullDisk(io.BytesIO):
    """A file with room for `room` bytes: a write beyond them fails as on a full disk."""

    def __init__(self, room: int):
        super().__init__()
        self.room = room
        self.writes = 0
        self.failed = threading.Event()

    def write(self, data) -> int:  # type: ignore[override]
        self.writes += 1
        if self.tell() + len(data) > self.room:
            self.failed.set()
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_chunk_that_cannot_be_written_fails_a_later_write_with_its_exception() -> None:
    out = _FullDisk(room=10)
    with pytest.raises(OSError, match="No space left on device") as raised, ChunkWriter(out) as writer:
        for _ in range(1000):
            writer.write(b"x" * 8)
    assert raised.value.errno == 28
    assert out.getvalue() == b"x" * 8
    assert out.writes == 2  # nothing more was written once one failed


def test_a_failure_of_the_last_chunks_fails_the_end_of_the_block() -> None:
    out = _FullDisk(room=10)
    with pytest.raises(OSError, match="No space left on device"), ChunkWriter(out) as writer:
        writer.write(b"x" * 11)


@pytest.mark.parametrize("disk_full", [False, True])
def test_a_block_that_fails_stops_the_thread_and_keeps_its_own_exception(disk_full: bool) -> None:
    out = _FullDisk(room=10 if disk_full else 1 << 20)
    before = threading.active_count()
    with pytest.raises(KeyError, match="the caller's own"), ChunkWriter(out) as writer:
        for _ in range(1 if disk_full else DEPTH + 3):
            writer.write(b"x" * 11)
        if disk_full:
            assert out.failed.wait(5)  # no later `write` raises it first
        raise KeyError("the caller's own")
    assert threading.active_count() == before


def test_the_switch_interval_is_restored() -> None:
    interval = sys.getswitchinterval()
    with ChunkWriter(io.BytesIO()) as writer:
        writer.write(b"x")
        assert sys.getswitchinterval() <= 0.001
    assert sys.getswitchinterval() == interval


def test_overlapping_writers_restore_the_switch_interval_once_the_last_ends() -> None:
    # Writers in two threads: A starts, B starts, A ends (B still writes), B ends.
    interval = sys.getswitchinterval()
    a, b = ChunkWriter(io.BytesIO()), ChunkWriter(io.BytesIO())
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert sys.getswitchinterval() <= 0.001
    b.__exit__(None, None, None)
    assert sys.getswitchinterval() == interval
