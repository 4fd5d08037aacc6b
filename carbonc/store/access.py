"""How processes share one database file: one writer at a time, held by a lock file that names
its pid, and DuckDB's own file lock, which the writer lets go of when a reader asks for it.

DuckDB lets one process hold a file for writing and no one else open it meanwhile, not even to
read. A run keeps the file open from one batch (one transaction) to the next while no one else
wants it, and closes it when a reader asks, when rows stop coming, or at the latest after
`store.HOLD_S`; readers (`open_store(path, read_only=True)`) open it while it is closed, for each
read, and while a run writes for at most `READ_DEADLINE_S` at a time. Both sides retry while the
other holds it.

A reader asks by holding a shared lock (flock) on `<database>.readers` while it retries: a
zero-byte file the writer creates (O_CREAT, never written) beside its lock file when it takes
the lock, and removes with it. After each batch the writer tries that file's lock exclusively
without waiting (two system calls): if it cannot have it, a reader waits, and it closes the
database. A lock dies with its process, so a reader that crashed, or gave up, asks for nothing;
several readers share the lock. Before it opens the database again the writer waits, briefly,
until the readers have it (`HANDOVER_S`): they take the shared lock back off once they are in.
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

from carbonc.errors import StoreError
from carbonc.store.engine import duckdb

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
#: Longest the writer, having closed the file for readers that asked for it, waits for them to
#: open it before it opens it again (they retry every `_RETRY_S`, so they are in within
#: milliseconds; one that is not in by then is stopped, or starved of CPU).
HANDOVER_S = 1.0

_Config = dict[str, str | bool | int | float | list[str]]
_T = TypeVar("_T")


class WriterLock:
    """`<database>.lock`, held (flock) by the one process writing the database, with its pid
    inside for the message that refuses a second writer; and `<database>.readers`, where readers
    ask the writer for the database (see the module docstring). Both removed when released."""

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".lock")
        self.readers_path = readers_path(database)
        self._fd: int | None = None
        self._readers_fd: int | None = None

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
        # Left by a writer that died, it is taken over as it is. Without it (a folder that takes
        # no new file) readers cannot ask, and get the file when the writer closes it anyway.
        with contextlib.suppress(OSError):
            self._readers_fd = os.open(self.readers_path, os.O_RDONLY | os.O_CREAT, 0o644)

    def readers_waiting(self) -> bool:
        """Whether a reader is asking for the database now (holds a shared lock on the readers'
        file): a try for an exclusive lock that does not wait, and its release."""
        fd = self._readers_fd
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def wait_for_readers(self, seconds: float) -> bool:
        """Wait, for at most `seconds`, until no reader is asking for the database any more;
        whether none is."""
        give_up = time.monotonic() + seconds
        while self.readers_waiting():
            if time.monotonic() > give_up:
                return False
            time.sleep(_RETRY_S)
        return True

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
        """Remove the lock file and let go of it (removed first, so no one locks a dead file),
        and the readers' file (a reader still holding it looks for it again, see `_Asking`)."""
        if self._readers_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.readers_path)
            os.close(self._readers_fd)
            self._readers_fd = None
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


class _Asking:
    """A reader's request for the database: a shared lock on `<database>.readers` held while it
    waits (see the module docstring). Never raises: a reader that cannot ask still gets the file
    when the writer closes it anyway (rows stop coming, or `store.HOLD_S` has passed)."""

    def __init__(self, database: Path):
        self.path = readers_path(database)
        self._fd: int | None = None

    def ask(self) -> None:
        """Hold the shared lock on the readers' file as it is now: taken, or taken again on the
        file a writer has since created in its place (a writer that ended removed the one held)."""
        with contextlib.suppress(OSError):
            if self._fd is not None and _same_file(self._fd, self.path):
                return
            self.stop()
            fd = os.open(self.path, os.O_RDONLY)  # none: no writer that listens (an older carbonc)
            try:
                # Not waiting: the writer tries the lock exclusively for an instant after a batch,
                # and the next attempt, `_RETRY_S` later, takes it.
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return
            self._fd = fd

    def stop(self) -> None:
        """No longer ask (in, or given up)."""
        if self._fd is not None:
            os.close(self._fd)  # also lets go of the lock
            self._fd = None


def readers_path(database: Path) -> Path:
    """`<database>.readers`: readers waiting for the database hold a shared lock on it."""
    return database.with_name(database.name + ".readers")


def connect(path: Path, *, read_only: bool, config: _Config) -> duckdb.DuckDBPyConnection:
    """Open `path`, retrying while another process holds it for a moment (`READER_WAIT_S` for a
    reader, `WRITER_WAIT_S` for the writer); a reader asks the writer for it meanwhile. Raises
    StoreError, saying who holds it."""
    deadline = time.monotonic() + (READER_WAIT_S if read_only else WRITER_WAIT_S)
    asking = _Asking(path) if read_only else None
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only, config=config)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                    raise StoreError(open_error(path, exc)) from None
            if asking is not None:
                asking.ask()
            time.sleep(_RETRY_S)
    finally:
        if asking is not None:
            asking.stop()


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
