"""Reads a saved plan's header line in pieces, setting aside what its probes select: a probe of
every paid order lists every order's ID, so the header of a million orders is a 100 MB line (300 MB
decoded), which neither verifying nor running the plan holds.

    >>> with path.open("rb") as f:
    ...     lean, selections, end = read_header(f)   # the header's JSON, each probe's `entities` []
    >>> list(selected(f.fileno(), selections[0]))      # read back from the file, ID by ID
    ['ord_5kPq…', …]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import msgspec

__all__ = ["Selection", "read_header", "selected"]

_BLOCK = 1 << 16
#: Bytes that are no part of a string or a bracket, comma or colon: copied as they are.
_PLAIN = re.compile(rb'[^"{}\[\],:\n]+')
_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
#: A probe's selection: entity IDs (`plan.verify` allows no other), as written by `carbonc plan`.
_ITEMS = re.compile(rb'(?:\s*"[A-Za-z0-9_]{1,64}"\s*,)*')
_LAST = re.compile(rb'\s*("[A-Za-z0-9_]{1,64}"\s*)?]')
_ID = re.compile(rb"[A-Za-z0-9_]+")
#: Longer than any item of a selection, so one that a block cuts is read again whole.
_ITEM_MAX = 80


class Selection(NamedTuple):
    """Where probe number `probe`'s selected IDs are in the file: the bytes from `start` (just
    after the `[`) to `end` (the `]`)."""

    probe: int
    start: int
    end: int


class NotIds(ValueError):
    """A probe's `entities` holds something other than entity IDs."""


def read_header(f: BinaryIO) -> tuple[bytes, list[Selection], int]:
    """Read the first line of the file `f` is at the start of: its JSON with every probe's
    `entities` emptied, where those were, and the offset of the next line. What is not JSON is
    copied as it is, for the decoder to reject; an `entities` list of other than entity IDs
    raises NotIds."""
    return _Scanner(f).run()


def selected(fd: int, selection: Selection) -> Iterator[str]:
    """The IDs of `selection`, read from the open file `fd`, in order."""
    at, rest = selection.start, b""
    while at < selection.end:
        block = os.pread(fd, min(_BLOCK, selection.end - at), at)
        if not block:
            break
        at += len(block)
        data = rest + block
        cut = data.rfind(b",") if at < selection.end else len(data)
        if cut < 0:
            rest = data
            continue
        for found in _ID.findall(data, 0, cut):
            yield found.decode("ascii")
        rest = data[cut:]


class _Scanner:
    """Walks the line's JSON structure: brackets, commas, colons and strings (whose content it
    copies without looking into); keys are decoded only to tell `probes[i].entities`."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = 0  # the file offset of buf[0]
        self.eof = False
        self.out = bytearray()
        self.selections: list[Selection] = []
        #: Open objects and arrays: bracket, the object's current key, the array's item number.
        self.frames: list[list[object]] = []
        self.expect_key = False

    def more(self) -> bool:
        """Read another block onto what is left; False at the end of the file."""
        if self.eof:
            return False
        block = self.f.read(_BLOCK)
        if not block:
            self.eof = True
            return False
        self.base += self.pos
        self.buf = self.buf[self.pos:] + block
        self.pos = 0
        return True

    def run(self) -> tuple[bytes, list[Selection], int]:
        self.more()
        if self.buf.startswith(b"\xef\xbb\xbf"):  # a byte-order mark an editor added
            self.pos = 3
        while True:
            if self.pos >= len(self.buf) and not self.more():
                return bytes(self.out), self.selections, self.base + self.pos
            c = self.buf[self.pos:self.pos + 1]
            if c == b"\n":
                return bytes(self.out), self.selections, self.base + self.pos + 1
            if c == b'"':
                self.string()
                continue
            if c in b"{}[],:":
                self.structure(c)
                continue
            plain = _PLAIN.match(self.buf, self.pos)
            assert plain is not None  # any other byte starts a run of them
            self.out += plain.group()
            self.pos = plain.end()

    def string(self) -> None:
        found = _STRING.match(self.buf, self.pos)
        while found is None and b"\n" not in self.buf[self.pos:] and self.more():
            found = _STRING.match(self.buf, self.pos)
        if found is None:  # not JSON: copy the rest of the line for the decoder to reject
            end = self.buf.find(b"\n", self.pos)
            end = len(self.buf) if end < 0 else end
            self.out += self.buf[self.pos:end]
            self.pos = end
            return
        token = found.group()
        self.out += token
        self.pos = found.end()
        frames = self.frames
        if self.expect_key and frames and frames[-1][0] == b"{":
            try:
                frames[-1][1] = msgspec.json.decode(token)
            except msgspec.DecodeError:
                frames[-1][1] = None
            self.expect_key = False

    def structure(self, c: bytes) -> None:
        frames = self.frames
        self.out += c
        self.pos += 1
        if c == b"{":
            frames.append([c, None, 0])
            self.expect_key = True
        elif c == b"[":
            if (len(frames) == 3 and frames[0][1] == "probes" and frames[1][0] == b"["
                    and frames[2][0] == b"{" and frames[2][1] == "entities"):
                probe = frames[1][2]
                assert isinstance(probe, int)
                self.selection(probe)
            else:
                frames.append([c, None, 0])
        elif c in b"}]":
            if frames:
                frames.pop()
            self.expect_key = False
        elif c == b"," and frames:
            if frames[-1][0] == b"{":
                self.expect_key = True
            else:
                count = frames[-1][2]
                assert isinstance(count, int)
                frames[-1][2] = count + 1

    def selection(self, probe: int) -> None:
        """Skip the IDs of a probe's `entities` (the `[` copied), copying only the `]`."""
        start = self.base + self.pos
        items = 0
        while True:
            found = _ITEMS.match(self.buf, self.pos)
            assert found is not None  # zero items match
            if found.end() > self.pos:
                items += 1
            self.pos = found.end()
            if len(self.buf) - self.pos < _ITEM_MAX and self.more():
                continue
            last = _LAST.match(self.buf, self.pos)
            if last is None or (items and last.group(1) is None):
                raise NotIds(f"probe {probe}'s `entities` holds something other than entity IDs")
            self.pos = last.end()
            self.selections.append(Selection(probe, start, self.base + self.pos - 1))
            self.out += b"]"
            return
