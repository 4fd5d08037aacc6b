"""Parses of `.carbon` files kept on disk, as `.pyc` files keep Python's: a file parsed before,
unchanged, by the same parser, is read back rather than parsed again. Parsing a scenario and the
stdlib modules it uses meant importing Lark, loading its tables and building a lexer per parser
state: ~60 ms of CPU on every `check`, `plan` and `run` of a bundled scenario, about a sixth of
a small run; reading the parse back takes ~1 ms.

An entry is keyed by the file's path and text and by everything that makes the parse of them:
the parser's own code (`carbonc/syntax`, the IR and diagnostic types, the `domain` modules
lowering reads), the grammar, the Lark and Python versions. Only a parse that gave a module is
kept (syntax errors are parsed afresh, so their messages are always today's). Anything wrong
with an entry (missing, torn, of another shape) is a miss, never an error; so is a cache
directory nobody may write."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import stat
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import TypeVar

import msgspec

from carbonc import __version__
from carbonc._data import data_dir
from carbonc.source import Source

__all__ = ["cache_dir", "load", "save"]

#: Bumped when what an entry holds changes shape in a way the fingerprint would not see.
_FORMAT = "carbonc-parse-1"
#: The largest entry read back (a parse is a few KB per KB of source; `.carbon` files are small).
_MAX_BYTES = 16 << 20
#: Entries kept: when there are more, the least recently written go.
_KEEP = 256
#: The modules whose code decides what a parse gives, beside the grammar (relative to `carbonc`):
#: the parser, the IR it lowers into, and what lowering reads (`domain`: units, operators, values).
_PARSER_CODE = ("syntax", "ir", "domain", "diagnostics.py", "codes.py", "source.py")
#: A temporary file older than this is one a killed process left (a write takes milliseconds).
_STALE_S = 3600

_T = TypeVar("_T")


def cache_dir() -> str | None:
    """carbonc's cache directory (`$XDG_CACHE_HOME/carbonc`, `~/.cache/carbonc`, else the user's
    own under the temporary directory), made if missing; None when none can be used."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        root = os.path.join(base, "carbonc")
        os.makedirs(root, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except (OSError, ValueError):  # ValueError: a path with a NUL
        pass
    return _private_temporary()


def _private_temporary() -> str | None:
    """`carbonc-cache-<uid>` under the temporary directory, made only for this user (0700), and
    used only if it still is: the temporary directory is shared, and what the cache holds is
    read back as the parser's output (the grammar's, by Lark, as a pickle)."""
    getuid = getattr(os, "getuid", None)
    root = os.path.join(tempfile.gettempdir(), f"carbonc-cache-{getuid() if getuid else 'user'}")
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        info = os.lstat(root)
        if getuid is not None and (not stat.S_ISDIR(info.st_mode) or info.st_uid != getuid()
                                   or info.st_mode & 0o077):
            return None  # someone else's, or open to others: not ours to trust
        return root if os.access(root, os.W_OK) else None
    except OSError:
        return None


@cache
def _fingerprint() -> bytes | None:
    """A digest of the parser: its code, the grammar, Lark's and Python's versions (None: one
    of them cannot be read, and nothing is cached)."""
    digest = hashlib.sha256(f"{_FORMAT}\0{__version__}\0{sys.version_info[:2]}\0".encode())
    try:
        spec = importlib.util.find_spec("lark")
        if spec is None or spec.origin is None:
            return None
        # Lark's version, read from its source rather than by importing it (the import is what
        # a hit saves).
        lark_init = Path(spec.origin).read_text(encoding="utf-8")
        found = re.search(r"""^__version__\s*(?::\s*str\s*)?=\s*["']([^"']+)["']""", lark_init, re.M)
        if found is None:
            return None
        digest.update(found[1].encode() + b"\0")
        digest.update((data_dir("grammar") / "carbon.lark").read_bytes() + b"\0")
        package = Path(__file__).resolve().parent.parent
        for name in _PARSER_CODE:
            path = package / name
            for file in sorted(path.glob("*.py")) if path.is_dir() else [path]:
                digest.update(f"{file.relative_to(package)}\0".encode() + file.read_bytes() + b"\0")
    except (OSError, UnicodeDecodeError):
        return None
    return digest.digest()


def _entry(source: Source) -> Path | None:
    """Where the parse of `source` is kept (a file's, or a `--set` value's: small, but parsing
    it would load Lark all the same); None when nothing can be cached."""
    fingerprint = _fingerprint()
    if fingerprint is None:
        return None
    root = cache_dir()
    if root is None:
        return None
    # `surrogatepass`: a file name that is not UTF-8, or a `\ud800` escape, holds a lone surrogate.
    named = f"\0{source.path}\0{source.file}\0{source.text}".encode("utf-8", "surrogatepass")
    key = hashlib.sha256(fingerprint + named)
    return Path(root) / f"parse-{key.hexdigest()[:32]}.msgpack"


def load(source: Source, kind: type[_T]) -> _T | None:
    """The kept parse of `source`, decoded as `kind`; None when there is none to use."""
    entry = _entry(source)
    if entry is None:
        return None
    try:
        with open(entry, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
        if len(data) > _MAX_BYTES:
            return None
        return msgspec.msgpack.decode(data, type=kind)
    except (OSError, ValueError):  # msgspec.DecodeError is a ValueError
        return None  # none yet, or unreadable: parse


def save(source: Source, result: object) -> None:
    """Keep the parse of `source` (written beside, then renamed: a reader sees all of it or
    none); a cache that cannot be written is skipped silently, as it only saves time."""
    entry = _entry(source)
    if entry is None:
        return
    try:
        data = msgspec.msgpack.encode(result)
    except (msgspec.EncodeError, ValueError):  # a lone surrogate in a string: parsed each time
        return
    try:
        fd, temporary = tempfile.mkstemp(prefix=".parse-", dir=entry.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, entry)
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(entry.parent)
    except OSError:
        return


def _prune(root: Path) -> None:
    """Keep the newest `_KEEP` entries (a scenario edited often leaves one per version), and
    remove the temporary files of writes a killed process never finished."""
    for leftover in root.glob(".parse-*"):
        try:
            if leftover.stat().st_mtime < time.time() - _STALE_S:
                leftover.unlink()
        except OSError:
            continue
    entries = list(root.glob("parse-*.msgpack"))
    if len(entries) <= _KEEP:
        return
    dated = []
    for entry in entries:
        try:
            dated.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue
    for _, entry in sorted(dated)[:len(dated) - _KEEP]:
        try:
            entry.unlink()
        except OSError:
            continue
