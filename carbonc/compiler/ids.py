"""Deterministic entity and event IDs, drawn from the seed like every other choice.

An ID is a prefix and 14 base62 characters (`pay_8GbsNZNokYbb8c`, as Razorpay's look). The
characters come from BLAKE2b over (seed, kind, batch): one 56-byte digest yields four IDs, and
each byte maps to a character by a lookup table. IDs are made in bulk, with no Python loop per
ID (a million orders' plan needs 15 million of them): a loop per digest hashes it, and the IDs
are cut from the digests' characters by strided copies and one `split`.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import compress, islice, repeat
from operator import add, lshift, or_

from carbonc.compiler._world import ID_PREFIX, ONLY
from carbonc.domain import vocabulary

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: byte -> base62 character (byte mod 62; the slight skew towards the first 8 characters does
#: not matter for identifiers).
_TABLE = bytes(_BASE62[b % 62] for b in range(256))
_LENGTH = 14
_PER_DIGEST = 4  # `_DIGEST_OF` and `_SLOT` divide by it as `>> 2` and `& 3`
_DIGEST_OF = (2).__rrshift__
_SLOT = (3).__and__

#: A key (`Ids.each_of`) is a column's code above this many bits and an index below them.
_INDEX_BITS = 40
_DIGEST_BITS = _INDEX_BITS - 2
_LOCAL = ((1 << _DIGEST_BITS) - 1).__and__
#: An index range at most this many times as long as the indexes wanted is made whole and
#: picked from: cheaper than finding which digests are wanted once the digests are this dense.
_DENSE = 2


class _Column:
    """The IDs of one kind (or of events): `prefix` and the characters of the column's digests."""

    __slots__ = ("_digest", "_hasher", "_template", "_text", "prefix")

    def __init__(self, seed: int, name: str, prefix: str):
        # Each digest's hash is this one's copy, fed the digest's number: a hash begun from
        # the key for each digest took 40% longer.
        self._hasher = hashlib.blake2b(f"{seed}\x1fid/{name}\x1f".encode(), digest_size=_LENGTH * _PER_DIGEST)
        self.prefix = prefix
        # An ID's line in `_ids`: the prefix, the characters to be filled in, a newline.
        self._template = prefix.encode() + b" " * _LENGTH + b"\n"
        self._digest = -1
        self._text = ""

    def _chars(self, digests: Iterable[int]) -> bytes:
        """The characters of `digests`, one after the other."""
        # A plain loop: each hash is freed as soon as it is read (a `map` chain that held a
        # batch's hashes at once took 60% longer).
        copy = self._hasher.copy
        chars = []
        for digest in digests:
            h = copy()
            h.update(b"%d" % digest)
            chars.append(h.digest())
        return b"".join(chars)

    def get(self, index: int) -> str:
        """One ID; the last digest is kept, as single IDs are asked for nearly in order."""
        digest, slot = divmod(index, _PER_DIGEST)
        if digest != self._digest:
            self._text = self._chars((digest,)).translate(_TABLE).decode("ascii")
            self._digest = digest
        start = slot * _LENGTH
        return self.prefix + self._text[start:start + _LENGTH]

    def ids(self, digests: Iterable[int]) -> list[str]:
        """The four IDs of each of `digests`, in order."""
        lines = self._filled(digests, self._template)
        if not lines:
            return []
        del lines[-1]
        return lines.decode("ascii").split("\n")

    def _filled(self, digests: Iterable[int], template: bytes) -> bytearray:
        """`template` (the prefix, `_LENGTH` blanks, then anything) once for each ID of
        `digests`, its blanks filled in with the ID's characters."""
        chars = self._chars(digests).translate(_TABLE)
        n = len(chars) // _LENGTH
        width = len(template)
        at = template.index(b" " * _LENGTH)
        lines = bytearray(template * n)
        for c in range(_LENGTH):
            lines[at + c::width] = chars[c::_LENGTH]
        return lines

    def run(self, start: int, stop: int) -> list[str]:
        """IDs `start` to `stop` (exclusive)."""
        first = start // _PER_DIGEST
        skip = start - first * _PER_DIGEST
        return self.ids(range(first, -(-stop // _PER_DIGEST)))[skip:skip + stop - start]

    def quoted(self, start: int, stop: int) -> bytes:
        """IDs `start` to `stop` (exclusive) as JSON strings, comma-separated (the items of a
        JSON array), made as bytes: no Python string per ID."""
        first = start // _PER_DIGEST
        template = b'"' + self._template[:-1] + b'",'
        lines = self._filled(range(first, -(-stop // _PER_DIGEST)), template)
        skip = (start - first * _PER_DIGEST) * len(template)
        return bytes(memoryview(lines)[skip:skip + (stop - start) * len(template) - 1])

    def each(self, indexes: Sequence[int]) -> list[str]:
        """The IDs of `indexes`: from the whole range they span when they are dense in it, else
        from the digests they need."""
        if not indexes:
            return []
        lo, hi = min(indexes), max(indexes) + 1
        if hi - lo <= _DENSE * len(indexes):
            ids = self.run(lo, hi)
            return list(map(ids.__getitem__, map(lo.__rsub__, indexes) if lo else indexes))
        return _pick([self], indexes)


def _pick(columns: Sequence[_Column], keys: Sequence[int]) -> list[str]:
    """The IDs of `keys` (a column's number in `columns` above `_INDEX_BITS`, an index below),
    each digest needed hashed once."""
    digests = sorted(set(map(_DIGEST_OF, keys)))
    ids: list[str] = []
    pos = 0
    while pos < len(digests):
        code = digests[pos] >> _DIGEST_BITS
        end = bisect_left(digests, (code + 1) << _DIGEST_BITS, pos)
        ids += columns[code].ids(map(_LOCAL, islice(digests, pos, end)))
        pos = end
    first = dict(zip(digests, range(0, len(ids), _PER_DIGEST), strict=True))
    return list(map(ids.__getitem__, map(add, map(first.__getitem__, map(_DIGEST_OF, keys)), map(_SLOT, keys))))


class Ids:
    """Entity IDs by (kind, index) and event IDs by event number."""

    def __init__(self, seed: int):
        self._kinds = [_Column(seed, k, f"{ID_PREFIX[k]}_") for k in vocabulary.KINDS]
        self._columns = dict(zip(vocabulary.KINDS, self._kinds, strict=True))
        self._events = _Column(seed, "event", "evt_")

    def entity(self, kind: str, idx: int) -> str:
        return self._columns[kind].get(idx)

    def entities(self, kind: str, start: int, stop: int) -> list[str]:
        """The IDs of entities `start` to `stop` (exclusive) of `kind`."""
        return self._columns[kind].run(start, stop)

    def each_entity(self, kind: str, indexes: Sequence[int]) -> list[str]:
        """The IDs of the entities `indexes` of `kind`, in bulk."""
        return self._columns[kind].each(indexes)

    def quoted_entities(self, kind: str, start: int, stop: int) -> bytes:
        """The IDs of entities `start` to `stop` (exclusive) of `kind` as JSON strings,
        comma-separated."""
        return self._columns[kind].quoted(start, stop)

    def each_of(self, kinds: Sequence[int], indexes: Sequence[int]) -> list[str]:
        """The IDs of entities of several kinds in bulk: the `n`th of kind code `kinds[n]` and
        index `indexes[n]`."""
        if not kinds:
            return []
        if min(kinds) == max(kinds):
            return self._kinds[kinds[0]].each(indexes)
        # Messages in time order name a few kinds' entities, each kind's close together: a run
        # of IDs a kind, which the entities' numbers then pick from.
        ids: list[str] = []
        offset = [0] * len(self._kinds)
        codes = bytes(kinds)  # which are each kind's found by `translate` (a `map` of `==` took 3.5 times as long)
        for code in sorted(set(kinds)):
            wanted = list(compress(indexes, codes.translate(ONLY[code])))
            lo, hi = min(wanted), max(wanted) + 1
            if hi - lo > _DENSE * len(wanted):
                return _pick(self._kinds, list(map(or_, map(lshift, kinds, repeat(_INDEX_BITS)), indexes)))
            offset[code] = len(ids) - lo
            ids += self._kinds[code].run(lo, hi)
        return list(map(ids.__getitem__, map(add, map(offset.__getitem__, kinds), indexes)))

    def event(self, number: int) -> str:
        return self._events.get(number)

    def events(self, numbers: Sequence[int]) -> list[str]:
        """The IDs of events `numbers`, in bulk."""
        return self._events.each(numbers)
