"""Writes a plan to disk as newline-delimited JSON and reads it back, record by record; imports
nothing of the compiler, so running a saved plan never loads it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import msgspec

from carbonc.files import atomic_writer
from carbonc.plan.records import Entity, Header, Message, Record, Summary
from carbonc.plan.verify import digest_update, is_plan_text, records_digest

__all__ = ["is_saved_plan", "iter_hashed", "iter_plan", "read_plan_summary", "write_plan"]


# Dicts in records are built in a fixed order (declaration order, or sorted), so plain
# insertion order is deterministic and keeps parameters in the order they were declared.
_encoder = msgspec.json.Encoder()


class HasRecords(Protocol):
    """A plan that gives its records in order (a `carbonc.compiler.CompiledPlan`)."""

    def records(self) -> Iterable[Record]: ...


def write_plan(plan: HasRecords, path: Path) -> None:
    """Write the whole plan as newline-delimited JSON, streaming record by record, into a file
    that replaces `path` only once it is complete."""
    buffer = bytearray()
    digest = records_digest()
    with atomic_writer(path) as out:
        for record in plan.records():
            if isinstance(record, (Entity, Message)):
                digest_update(digest, record)
            elif isinstance(record, Summary):
                record = msgspec.structs.replace(record, records_sha256=digest.hexdigest())
            _encoder.encode_into(record, buffer, -1)
            buffer.extend(b"\n")
            if len(buffer) > 1 << 20:
                out.write(buffer)
                buffer.clear()
        out.write(buffer)


_decoder = msgspec.json.Decoder(Header | Entity | Message | Summary)
_body_decoder = msgspec.json.Decoder(Entity | Message | Summary)


def iter_plan(path: Path) -> Iterator[Record]:
    """Read a saved plan record by record."""
    with path.open("rb") as f:
        for number, line in enumerate(f):
            if number == 0:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark an editor added
            if line.strip():
                yield _decoder.decode(line)


#: Bytes read from a saved plan at a time while it is hashed.
_BLOCK = 1 << 20


def iter_hashed(path: Path, digest: hashlib._Hash) -> Iterator[Entity | Message | Summary]:
    """Read a saved plan's records after its header (which is never held: a million orders'
    probes make it 100 MB), feeding `digest` every byte of the file as read."""
    with path.open("rb") as f:
        rest = b""
        in_header = True
        while block := f.read(_BLOCK):
            digest.update(block)
            if in_header:
                end = block.find(b"\n")
                if end < 0:
                    continue
                in_header, block = False, block[end + 1:]
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line.strip():
                    yield _body_decoder.decode(line)
        if rest.strip() and not in_header:
            yield _body_decoder.decode(rest)


def read_plan_summary(path: Path) -> tuple[Header, Summary]:
    """Return a saved plan's header and summary as written (its first and last records), unchecked:
    `plan.verify.verify_plan` is what reads a plan that is to be trusted."""
    header = summary = None
    with path.open("rb") as f:
        first = f.readline()
        header = _decoder.decode(first)
        # The summary is the last line: read backwards from the end.
        f.seek(0, 2)
        size = f.tell()
        chunk = min(size, 1 << 16)
        while True:
            f.seek(size - chunk)
            tail = f.read(chunk)
            lines = tail.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or chunk == size:
                summary = _decoder.decode(lines[-1])
                break
            chunk = min(size, chunk * 4)
    if not isinstance(header, Header) or not isinstance(summary, Summary):
        raise ValueError("not a carbonc plan")
    return header, summary


def is_saved_plan(path: Path) -> bool:
    """Whether `path` holds a saved plan (JSON, whatever its spacing) rather than `.carbon` source;
    False for what cannot be read (the caller's reading says why)."""
    try:
        with path.open("rb") as f:
            return is_plan_text(f.read(256))
    except OSError:
        return False
