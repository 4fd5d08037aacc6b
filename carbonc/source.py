"""Reads `.carbon` files into `Source` text, and defines `Span`, a place in that text."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import msgspec

from carbonc._data import data_dir
from carbonc.codes import Code

#: Larger files are refused before parsing (the whole 20,000-line benchmark is ~1 MB).
MAX_SOURCE_BYTES = 16 * 1024 * 1024


class Span(msgspec.Struct, frozen=True, array_like=True):
    """A half-open range of characters: offsets `start`..`end`, 1-based `line`/`col` of the start
    and `end_line`/`end_col` of the end (exclusive column)."""

    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int


class Source(msgspec.Struct, frozen=True):
    """A program's text: `path` as shown in diagnostics, `text` decoded, `file` the real path if any."""

    path: str
    text: str
    file: str | None = None

    def line_text(self, line: int) -> str:
        """Return line `line` (1-based) without its newline."""
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return ""

    def span_at(self, offset: int, length: int = 1) -> Span:
        """Return the span of `length` characters at `offset`, clamped to the text."""
        offset = max(0, min(offset, len(self.text)))
        end = max(offset, min(offset + length, len(self.text)))
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        end_line = line + self.text.count("\n", offset, end)
        end_col = end - (self.text.rfind("\n", 0, end) + 1) + 1
        return Span(offset, end, line, col, end_line, end_col)


class SourceReadError(Exception):
    """A file could not be turned into `Source`; `code` is the diagnostic code to report."""

    def __init__(self, code: Code, message: str, help: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help
        self.offset = offset
        self.text: str | None = None
        #: Where in the file (1-based line and column) when its content must not be shown.
        self.position: tuple[int, int] | None = None


def shown_path(path: Path, given: str | None = None) -> str:
    """How a file is named in diagnostics and messages: as the user `given` it when that was the
    path itself; a file shipped with carbonc by its place there (`scenarios/NAME.carbon`,
    `<stdlib>/NAME.carbon`, never the installed package's path); anything else relative to the
    working directory."""
    if given is not None and given == str(path):
        return given
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: shown as given, and refused when read
        resolved = path
    for folder, shown in (("scenarios", "scenarios/"), ("stdlib", "<stdlib>/")):
        with contextlib.suppress(ValueError):
            return shown + resolved.relative_to(data_dir(folder).resolve()).as_posix()
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return str(path)


def read_source(path: Path, shown: str | None = None) -> Source:
    """Read `path` as UTF-8 `.carbon` text, or raise `SourceReadError` saying why not; the Source
    is named `shown` (else `shown_path(path)`)."""
    shown = shown or shown_path(path)
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long for the file system, say
        raise SourceReadError(Code.UNREADABLE_FILE, f"cannot read `{shown}`: {exc.strerror or exc}") from None
    if not exists:
        raise SourceReadError(Code.UNREADABLE_FILE, f"no such file `{shown}`")
    if path.is_dir():
        raise SourceReadError(
            Code.UNREADABLE_FILE, f"`{shown}` is a directory, not a .carbon file",
            help="pass the .carbon files inside it, e.g. `carbonc check dir/*.carbon`",
        )
    refuse_unlike_source(path, shown)
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise SourceReadError(
                Code.UNREADABLE_FILE, f"`{shown}` is {size:,} bytes; the limit is {MAX_SOURCE_BYTES:,}"
            )
        # Read no more than the limit: a device or pipe (`/dev/zero`) has no size to check.
        with path.open("rb") as file:
            data = file.read(MAX_SOURCE_BYTES + 1)
        if len(data) > MAX_SOURCE_BYTES:
            raise SourceReadError(Code.UNREADABLE_FILE, f"`{shown}` is more than {MAX_SOURCE_BYTES:,} bytes, the limit")
    except OSError as exc:
        raise SourceReadError(Code.UNREADABLE_FILE, f"cannot read `{shown}`: {exc.strerror or exc}") from None
    return Source(path=shown, text=decode_source(data), file=str(path))


def refuse_unlike_source(path: Path, shown: str) -> None:
    """Refuse what cannot be a program file — a device, a pipe, `/proc` pseudo-files — and a
    symbolic link to anything but a regular `.carbon` file: its target's first line would
    otherwise be echoed in the parse error (a link to `~/.git-credentials` printed the token).
    Nothing of the file's content is shown."""
    try:
        if path.is_symlink():
            target = path.resolve(strict=True)
            if target.suffix != ".carbon" or not stat.S_ISREG(target.stat().st_mode):
                raise SourceReadError(
                    Code.UNREADABLE_FILE,
                    f"`{shown}` is a symbolic link to something that is not a .carbon file; not read",
                    help="pass the .carbon file itself")
            return
        if not stat.S_ISREG(path.stat().st_mode):
            raise SourceReadError(Code.UNREADABLE_FILE, f"`{shown}` is not a regular file (a device, a pipe or a "
                                           "pseudo-file); not read", help="pass a .carbon file")
        if str(path.resolve()).startswith(("/proc/", "/sys/")):  # regular files that are not files
            raise SourceReadError(Code.UNREADABLE_FILE, f"`{shown}` is a pseudo-file, not a .carbon file; not read")
    except OSError as exc:
        raise SourceReadError(Code.UNREADABLE_FILE, f"cannot read `{shown}`: {exc.strerror or exc}") from None


def decode_source(data: bytes) -> str:
    """Decode program bytes, refusing what cannot be `.carbon` text (non-UTF-8, NUL bytes)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Not text: only where it went wrong is shown, none of it (it may be anything, a key file).
        err = SourceReadError(
            Code.NOT_UTF8, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            help="save the file as UTF-8",
        )
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        err.position = (data.count(b"\n", 0, exc.start) + 1,
                        len(data[line_start:exc.start].decode("utf-8", "replace")) + 1)
        raise err from None
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        err = SourceReadError(Code.NUL_BYTE, "the file contains a NUL byte", help="a .carbon file is plain text")
        err.position = (text.count("\n", 0, nul) + 1, nul - (text.rfind("\n", 0, nul) + 1) + 1)
        raise err
    return text
