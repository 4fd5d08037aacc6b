"""Deterministic entity and event IDs, drawn from the seed like every other choice.

An ID is a prefix and 14 base62 characters (`pay_8GbsNZNokYbb8c`, as Razorpay's look). The
characters come from BLAKE2b over (seed, kind, batch): one 56-byte digest yields four IDs, and
each byte maps to a character by a lookup table, so a million IDs take about a second.
"""

from __future__ import annotations

import hashlib

from carbonc.compiler._world import ID_PREFIX
from carbonc.domain import vocabulary

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: byte -> base62 character (byte mod 62; the slight skew towards the first 8 characters does
#: not matter for identifiers).
_TABLE = bytes(_BASE62[b % 62] for b in range(256))
_LENGTH = 14
_PER_DIGEST = 4
_DIGESTS_PER_CHUNK = 1 << 12
_PER_CHUNK = _DIGESTS_PER_CHUNK * _PER_DIGEST  # IDs per chunk string (16,384: 229 KB)


class _Column:
    """The ID characters of one kind (or of events), computed a chunk at a time: each chunk is
    one string of `_PER_CHUNK` IDs, so no step ever holds two copies of the whole column."""

    def __init__(self, seed: int, name: str):
        self._prefix = f"{seed}\x1fid/{name}\x1f".encode()
        self._chunks: list[str] = []

    def _extend(self, count: int) -> None:
        blake = hashlib.blake2b
        prefix = self._prefix
        while len(self._chunks) * _PER_CHUNK < count:
            first = len(self._chunks) * _DIGESTS_PER_CHUNK
            raw = bytearray()
            for b in range(first, first + _DIGESTS_PER_CHUNK):
                raw += blake(prefix + str(b).encode(), digest_size=_LENGTH * _PER_DIGEST).digest()
            self._chunks.append(raw.translate(_TABLE).decode("ascii"))

    def get(self, index: int) -> str:
        chunk, offset = divmod(index, _PER_CHUNK)
        if chunk >= len(self._chunks):
            self._extend(index + 1)
        start = offset * _LENGTH
        return self._chunks[chunk][start:start + _LENGTH]


class Ids:
    """Entity IDs by (kind, index) and event IDs by event number."""

    def __init__(self, seed: int):
        self._columns = {k: _Column(seed, k) for k in vocabulary.KINDS}
        self._events = _Column(seed, "event")

    def entity(self, kind: str, idx: int) -> str:
        return f"{ID_PREFIX[kind]}_{self._columns[kind].get(idx)}"

    def event(self, number: int) -> str:
        return f"evt_{self._events.get(number)}"
