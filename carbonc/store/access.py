"""How processes share one database file: one writer at a time, held by a lock file that names
its pid, and DuckDB's own file lock taken only for a moment, so readers get in between batches.

DuckDB lets one process hold a file for writing and no one else open it meanwhile, not even to
read. A run therefore does not keep the file open: it opens it for a batch (one transaction), or
the batches of at most a second (`store.HOLD_S`), and closes it, and readers
(`open_store(path, read_only=True)`) open it while it is closed, for each read, and while a run
writes for at most `READ_DEADLINE_S` at a time. Both sides retry while the other holds it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import duckdb

from carbonc.errors import StoreError

#: Longest one read may hold the file while a run writes it; then it is interrupted, so the run
#: waits at most this long.
READ_DEADLINE_S = 10.0
#: How long a reader waits for the writer to finish a batch (a batch takes milliseconds; a run's
#: end, judging checks, a little longer).
READER_WAIT_S = 20.0
#: How long the writer waits for readers: longer than any read may last.
WRITER_WAIT_S = 3 * READ_DEADLINE_S
#: Pause between attempts to open a file someone else holds.
_RETRY_S = 0.01

_Config = dict[str, str | bool | int | float | list[str]]
_T = TypeVar("_T")


class WriterLock:
    """`<database>.lock`, held (flock) by the one process writing the database, with its pid
    inside for the message that refuses a second writer. Removed when released."""

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise StoreError naming the process that has it."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot lock `{self.path}`: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"cannot lock `{self.path}`: {exc.strerror or exc}") from None
                raise StoreError(in_use_message(self.path.with_name(self.path.name.removesuffix(".lock")),
                                                holder)) from None
            # The holder before us may have removed the file between our open and our flock: then
            # we locked a file no one else will see, and must lock the one at the path instead.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def is_held(self) -> bool:
        """Whether a live process holds the lock (a writer that died let go of it with its life)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False  # no lock file: no run is writing
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # also lets go of the shared lock, if it was taken
        return False

    def release(self) -> None:
        """Remove the lock file and let go of it (removed first, so no one locks a dead file)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def is_held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (a run is writing)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False


def connect(path: Path, *, read_only: bool, config: _Config) -> duckdb.DuckDBPyConnection:
    """Open `path`, retrying while another process holds it for a moment (`READER_WAIT_S` for a
    reader, `WRITER_WAIT_S` for the writer). Raises StoreError, saying who holds it."""
    deadline = time.monotonic() + (READER_WAIT_S if read_only else WRITER_WAIT_S)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                raise StoreError(open_error(path, exc)) from None
        time.sleep(_RETRY_S)


@contextlib.contextmanager
def deadline(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[None]:
    """Interrupt whatever `con` runs once `seconds` have passed (a reader must not hold the file
    a run waits for)."""
    timer = threading.Timer(seconds, con.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def bounded_read(path: Path, con: duckdb.DuckDBPyConnection, read: Callable[[], _T]) -> _T:
    """`read()` under the reader's deadline; an interrupted read is a StoreError that says why."""
    try:
        with deadline(con, READ_DEADLINE_S):
            return read()
    except duckdb.InterruptException:
        raise StoreError(f"reading `{path}` took more than {READ_DEADLINE_S:.0f} s, the longest a read may "
                         "hold the file while a run writes it; try again when the run has ended") from None


def in_use_message(path: Path, pid: int | None) -> str:
    who = f" (pid {pid})" if pid else ""
    return (f"the database `{path}` is in use by another carbonc process{who}; wait for it to finish, "
            f"or choose another file with --db or CARBON_DB")


def open_error(path: Path, exc: duckdb.Error) -> str:
    """A one-line message for a DuckDB error opening `path`."""
    text = str(exc)
    if _is_lock_conflict(exc):
        lock = re.search(r"\(PID (\d+)\)", text)
        return in_use_message(path, int(lock.group(1)) if lock else None)
    if "No space left" in text:
        return f"no space left on the device holding `{path}`"
    if "not a valid DuckDB database" in text or "Not a valid DuckDB" in text or "file is not a" in text.lower():
        return f"`{path}` is not a DuckDB database"
    if "Extension" in text and ("not found" in text or "autoload" in text.lower()):
        # Another database's file (SQLite, say): DuckDB would need an extension, never loaded here.
        return f"`{path}` is not a DuckDB database (another format); choose another file with --db"
    return f"cannot open `{path}`: {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock is held" in text


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
