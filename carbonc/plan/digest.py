"""The digest of a plan's entity and message records (`Summary.records_sha256`), and how a saved
plan is told from `.carbon` source: what running or saving a plan needs without the checks of
`plan.verify` (and the on-disk index they build)."""

from __future__ import annotations

import hashlib

import msgspec

from carbonc.plan.records import FORMAT_VERSION, Entity, Message

__all__ = ["digest_update", "is_plan_text", "records_digest"]

#: The records digest's encoding by format version. Either way a plan re-saved by a JSON tool
#: (other spacing, other key order) keeps its digest: a record is decoded and encoded again. In
#: format 1 with its keys sorted; since format 2 as `plan --out` writes it (fields in their
#: declared order), so that a plan being written is digested from the very bytes it is written
#: as, not encoded a second time (a million orders: ~2 s of 26).
_ENCODERS = {1: msgspec.json.Encoder(order="sorted"), 2: msgspec.json.Encoder()}


def records_digest(version: int = FORMAT_VERSION) -> hashlib._Hash:
    """A fresh digest of a plan's entity and message records (`Summary.records_sha256`), for a
    plan of format `version`. Since format 2 it can be fed the records' lines as written
    (`msgspec.json.Encoder().encode_lines`) as well as record by record (`digest_update`)."""
    return hashlib.sha256(b"carbonc plan records v%d\n" % version)


def digest_update(digest: hashlib._Hash, record: Entity | Message, version: int = FORMAT_VERSION) -> None:
    digest.update(_ENCODERS[version].encode(record))
    digest.update(b"\n")


def is_plan_text(head: bytes) -> bool:
    """Whether a file that starts with `head` is a saved plan (JSON) rather than `.carbon` source,
    which never starts with `{`."""
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")
