"""Writes files whole or not at all: into a temporary file beside the target, flushed to disk,
then renamed over it, so a full disk, a crash or a Ctrl-C never leaves a half-written file under
the final name (a `carbonc fmt` cut off mid-write had truncated the source it was formatting)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write `path`'s new content into (for a library that
    wants a file name); it replaces `path` only when the block ends without an exception. An
    existing file's permission bits are kept; a new one gets the usual `0o666` less the umask.
    Raises OSError (the temporary file is removed)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    mode = _mode_for(path)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name[:200]}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself is durable only once the directory is
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content into, on the terms of `atomic_path`."""
    with atomic_path(path) as temporary, open(temporary, "wb") as out:
        yield out


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write `data` (bytes, or chunks of it) to `path` whole or not at all; see `atomic_writer`."""
    with atomic_writer(path) as out:
        if isinstance(data, (bytes, bytearray)):
            out.write(data)
        else:
            for chunk in data:
                out.write(chunk)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
