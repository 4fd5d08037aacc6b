"""A counter-based random generator: every draw is BLAKE2b over (seed, stream name, index), so
a value depends only on what it is for, never on call order, process or platform."""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from decimal import Decimal
from itertools import islice
from math import isqrt

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MAX = 2**64


class Stream:
    """Draws of one named stream: `stream.u64(i)` is the same for the same seed and name."""

    __slots__ = ("_hasher",)

    def __init__(self, seed: int, name: str):
        # A draw's hash is a copy of this one fed the draw's index: a hash begun from the prefix
        # for each draw took 40% longer.
        self._hasher = hashlib.blake2b(f"{seed}\x1f{name}\x1f".encode(), digest_size=16)

    def digest(self, index: int) -> bytes:
        h = self._hasher.copy()
        h.update(b"%d" % index)
        return h.digest()

    def u64(self, index: int) -> int:
        """A uniform integer in [0, 2**64)."""
        return int.from_bytes(self.digest(index)[:8], "big")

    def below(self, index: int, n: int) -> int:
        """A uniform integer in [0, n) (n ≤ 2**32 keeps the bias below 2**-32)."""
        return self.u64(index) % n if n > 0 else 0

    def base62(self, index: int, length: int = 14) -> str:
        """`length` base62 characters (IDs like Razorpay's `pay_` + 14)."""
        value = int.from_bytes(self.digest(index), "big")
        chars = []
        for _ in range(length):
            value, r = divmod(value, 62)
            chars.append(_BASE62[r])
        return "".join(chars)

    def order(self, items: Sequence[int]) -> array[int]:
        """Return `items` (non-negative integers) in this stream's pseudo-random order (sorted by
        draw, then item)."""
        packed, width = self._packed(items)
        packed.sort()
        return array("q", map(((1 << width) - 1).__and__, packed))

    def first(self, items: Sequence[int], k: int) -> array[int]:
        """The first `k` of `items` in this stream's order (`order(items)[:k]`), the others left
        unordered: a share of a million members sorted only the ~k drawn lowest (25%: 0.4 → 0.1 s)."""
        n = len(items)
        # Draws are uniform over 64 bits: below the bound drawn here fall `expected` of them on
        # average, k and at least 4 standard deviations more (when that is half of them or more,
        # they are all ordered).
        expected = k + 4 * isqrt(k) + 64 if k >= 0 else n
        if expected * 2 >= n:
            return self.order(items)[:k]
        packed, width = self._packed(items)
        bound = ((expected << 64) // n) << width
        lowest = list(filter(bound.__gt__, packed))
        if len(lowest) < k:  # fewer than k fell below it (about one time in 30,000): order them all
            lowest = packed
        lowest.sort()
        return array("q", map(((1 << width) - 1).__and__, islice(lowest, k)))

    def _packed(self, items: Sequence[int]) -> tuple[list[int], int]:
        """Each item's draw and the item packed into one integer that sorts by both, and the
        item's width in bits: a key list beside a list of the items held three times the memory
        (a million members, 130 MB)."""
        width = max(items, default=0).bit_length()
        copy, from_bytes = self._hasher.copy, int.from_bytes
        packed = []
        for i in items:
            h = copy()
            h.update(b"%d" % i)
            packed.append((from_bytes(h.digest()[:8], "big") << width) | i)
        return packed, width


def apportion(total: int, weights: Sequence[Decimal | int]) -> list[int]:
    """Split `total` into parts proportional to `weights` (exact Decimals or ints) that sum to
    `total`: the largest-remainder method, ties going to the earlier part.

    >>> apportion(1000, [Decimal("0.6"), Decimal("0.4")])
    [600, 400]
    >>> apportion(7, [1, 1, 1])
    [3, 2, 2]
    """
    exact = [Decimal(w) for w in weights]  # int weights too: a quota is never a float
    weight_sum = sum(exact, Decimal(0))
    if total == 0 or weight_sum == 0:
        return [0 for _ in weights]
    quotas = [total * w / weight_sum for w in exact]
    parts = [int(q) for q in quotas]  # floor: weights are non-negative
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
