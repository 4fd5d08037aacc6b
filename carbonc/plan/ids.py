"""Deterministic entity and event IDs, drawn from the seed like every other choice.

An ID is a prefix and 14 base62 characters (`pay_8GbsNZNokYbb8c`, as Razorpay's look). The
characters come from BLAKE2b over (seed, kind, batch): one 56-byte digest yields four IDs, and
each byte maps to a character by a lookup table, so a million IDs take about a second.
"""

from __future__ import annotations

import hashlib

from carbonc.ir import model
from carbonc.plan._world import ID_PREFIX

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: byte -> base62 character (byte mod 62; the slight skew towards the first 8 characters does
#: not matter for identifiers).
_TABLE = bytes(_BASE62[b % 62] for b in range(256))
_LENGTH = 14
_PER_DIGEST = 4
_CHUNK = 1 << 14  # digests translated at a time, to keep the transient copy small


class _Column:
    """The ID characters of one kind (or of events), computed in bulk and extended on demand."""

    def __init__(self, seed: int, name: str):
        self._prefix = f"{seed}\x1fid/{name}\x1f".encode()
        self._chars = bytearray()
        self._text = ""  # the characters decoded once, for fast slicing

    def _extend(self, count: int) -> None:
        batch = len(self._chars) // (_LENGTH * _PER_DIGEST)
        needed = -(-count // _PER_DIGEST)
        blake = hashlib.blake2b
        prefix = self._prefix
        for lo in range(batch, needed, _CHUNK):
            raw = bytearray()
            for b in range(lo, min(needed, lo + _CHUNK)):
                raw += blake(prefix + str(b).encode(), digest_size=_LENGTH * _PER_DIGEST).digest()
            self._chars += raw.translate(_TABLE)

    def reserve(self, count: int) -> None:
        """Compute the first `count` IDs now (exactly, so no memory is over-allocated)."""
        self._thaw()
        if count * _LENGTH > len(self._chars):
            self._extend(count)
        # Keep one copy only: the decoded text, which slices fastest.
        self._text, self._chars = self._chars.decode("ascii"), bytearray()

    def _thaw(self) -> None:
        if self._text:
            self._chars, self._text = bytearray(self._text, "ascii"), ""

    def get(self, index: int) -> str:
        end = (index + 1) * _LENGTH
        if end <= len(self._text):
            return self._text[end - _LENGTH:end]
        self._thaw()
        if end > len(self._chars):
            self._extend(max(index + 1, len(self._chars) // _LENGTH * 2))
        return self._chars[end - _LENGTH:end].decode("ascii")


class Ids:
    """Entity IDs by (kind, index) and event IDs by event number."""

    def __init__(self, seed: int):
        self._columns = {k: _Column(seed, k) for k in model.KINDS}
        self._events = _Column(seed, "event")

    def reserve(self, kind: str, count: int) -> None:
        self._columns[kind].reserve(count)

    def reserve_events(self, count: int) -> None:
        self._events.reserve(count)

    def entity(self, kind: str, idx: int) -> str:
        return f"{ID_PREFIX[kind]}_{self._columns[kind].get(idx)}"

    def event(self, number: int) -> str:
        return f"evt_{self._events.get(number)}"
