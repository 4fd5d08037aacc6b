"""Deterministic entity and event IDs, drawn from the seed like every other choice.

An ID is a prefix and 14 base62 characters (`pay_8GbsNZNokYbb8c`, as Razorpay's look). The
characters come from BLAKE2b over (seed, kind, batch): one 56-byte digest yields four IDs, and
each byte maps to a character by a lookup table, so a million IDs take about a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from carbonc.compiler._world import ID_PREFIX
from carbonc.domain import vocabulary

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: byte -> base62 character (byte mod 62; the slight skew towards the first 8 characters does
#: not matter for identifiers).
_TABLE = bytes(_BASE62[b % 62] for b in range(256))
_LENGTH = 14
_PER_DIGEST = 4  # `each` divides by it as `>> 2` and `& 3`


class _Column:
    """The ID characters of one kind (or of events). Nothing is kept but the last digest: a
    million orders' IDs held for the whole write cost 80 MB, and they are asked for nearly in
    order (entities by index, messages by time), so most asks reuse it."""

    __slots__ = ("_digest", "_prefix", "_text")

    def __init__(self, seed: int, name: str):
        self._prefix = f"{seed}\x1fid/{name}\x1f".encode()
        self._digest = -1
        self._text = ""

    def _chars(self, digest: int) -> bytes:
        return hashlib.blake2b(self._prefix + str(digest).encode(), digest_size=_LENGTH * _PER_DIGEST).digest()

    def get(self, index: int) -> str:
        digest, slot = divmod(index, _PER_DIGEST)
        if digest != self._digest:
            self._text = self._chars(digest).translate(_TABLE).decode("ascii")
            self._digest = digest
        start = slot * _LENGTH
        return self._text[start:start + _LENGTH]

    def each(self, prefix: str, indexes: Iterable[int]) -> list[str]:
        """`prefix` + the characters of each ID of `indexes`; a run of nearby indexes shares digests."""
        out = []
        digest, text, chars = self._digest, self._text, self._chars
        for index in indexes:
            if index >> 2 != digest:
                digest = index >> 2
                text = chars(digest).translate(_TABLE).decode("ascii")
            start = (index & 3) * _LENGTH
            out.append(prefix + text[start:start + _LENGTH])
        self._digest, self._text = digest, text
        return out

    def run(self, prefix: str, start: int, stop: int) -> list[str]:
        """`prefix` + the characters of IDs `start` to `stop` (exclusive), computed in bulk."""
        first, last = start // _PER_DIGEST, -(-stop // _PER_DIGEST)
        raw = b"".join(map(self._chars, range(first, last))).translate(_TABLE).decode("ascii")
        skip = (start - first * _PER_DIGEST) * _LENGTH
        return [prefix + raw[i:i + _LENGTH] for i in range(skip, skip + (stop - start) * _LENGTH, _LENGTH)]


class Ids:
    """Entity IDs by (kind, index) and event IDs by event number."""

    def __init__(self, seed: int):
        self._columns = {k: _Column(seed, k) for k in vocabulary.KINDS}
        self._prefixes = {k: f"{ID_PREFIX[k]}_" for k in vocabulary.KINDS}
        self._events = _Column(seed, "event")

    def entity(self, kind: str, idx: int) -> str:
        return self._prefixes[kind] + self._columns[kind].get(idx)

    def entities(self, kind: str, start: int, stop: int) -> list[str]:
        """The IDs of entities `start` to `stop` (exclusive) of `kind`."""
        return self._columns[kind].run(self._prefixes[kind], start, stop)

    def each_entity(self, kind: str, indexes: Iterable[int]) -> list[str]:
        """The IDs of the entities `indexes` of `kind`, in bulk."""
        return self._columns[kind].each(self._prefixes[kind], indexes)

    def event(self, number: int) -> str:
        return "evt_" + self._events.get(number)

    def events(self, numbers: Iterable[int]) -> list[str]:
        """The IDs of events `numbers`, in bulk."""
        return self._events.each("evt_", numbers)
