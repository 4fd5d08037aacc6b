"""Splits a plan by order tree: shard K of N owns the trees whose root's hash falls to it.

Ordering is promised only within an order tree (an order and everything under it), so trees are
the unit a run can be split by. The split is a pure function of the root's id: every process,
on every machine, given the same plan and `K/N`, agrees on it without talking to the others.

    >>> shard = Shard.parse("2/3")
    >>> shard.owns("order_0001"), str(shard)
    (True, '2/3')
"""

from __future__ import annotations

import hashlib
import re

import msgspec

#: How a shard's verdict on a probe `once` for the run begins: the whole run is not the shard's.
NOT_IN_A_SHARD = "not judged: shard "

#: The most shards a run may be split into (a bound on a flag, not a limit of the method).
MAX_SHARDS = 1024

_SHAPE = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")


class Shard(msgspec.Struct, frozen=True):
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N` with 1 ≤ K ≤ N ≤ MAX_SHARDS; ValueError saying what is wrong otherwise."""
        match = _SHAPE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not K/N (for example 1/4: the first of four shards)")
        index, count = int(match[1]), int(match[2])
        if not 1 <= count <= MAX_SHARDS:
            raise ValueError(f"the number of shards must be 1 to {MAX_SHARDS}, not {count}")
        if not 1 <= index <= count:
            raise ValueError(f"shard {index} of {count} does not exist: K runs from 1 to {count}")
        return cls(index, count)

    def owns(self, root_id: str) -> bool:
        """Whether the order tree whose top entity is `root_id` is this shard's."""
        return self.count == 1 or shard_of(root_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(root_id: str, count: int) -> int:
    """The shard (1-based, of `count`) that owns the tree rooted at `root_id`. A hash rather than
    a running count: it needs no state, and plan ids are sequential, so their hashes are spread
    evenly (1,000 orders in four shards: 245 to 255 trees each)."""
    digest = hashlib.blake2b(root_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count + 1
