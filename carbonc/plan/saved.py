"""Writes a plan to disk as newline-delimited JSON and reads it back, record by record; imports
nothing of the compiler, so running a saved plan never loads it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec

from carbonc._gc import paused_gc
from carbonc.errors import ExecutionError, InternalError
from carbonc.files import atomic_writer
from carbonc.plan._writer import ChunkWriter
from carbonc.plan.digest import digest_update, is_plan_text, records_digest
from carbonc.plan.records import FORMAT_VERSION, Entity, Header, Message, Record, Summary

__all__ = ["ColumnarPlan", "HasRecords", "hashed_records", "is_saved_plan", "iter_hashed", "iter_plan", "plan_bytes",
           "read_growing_header", "read_plan_summary", "write_growing", "write_plan"]


# Dicts in records are built in a fixed order (declaration order, or sorted), so plain
# insertion order is deterministic and keeps parameters in the order they were declared. It is
# also the records digest's encoding (`plan.digest.digest_update`), so the lines written are
# what is digested.
_encoder = msgspec.json.Encoder()

#: A batch of records, one column per field, in the record's field order.
Columns = tuple[Iterable[Any], ...]


class HasRecords(Protocol):
    """A plan that gives its records in order (an `exec.PlanInput`, say)."""

    def records(self) -> Iterable[Record]: ...


@runtime_checkable
class ColumnarPlan(Protocol):
    """A plan as `write_plan` takes it (a `carbonc.compiler.CompiledPlan`): its records in bulk,
    so that a million orders' plan is never a Python object per record. The header comes as an
    outline (each probe's `entities` left empty) and each probe's entity IDs in batches, encoded
    (the items of a JSON array); the entities and messages as batches of `Columns`."""

    @property
    def summary(self) -> Summary: ...

    def header_outline(self) -> Header: ...

    def probe_entities(self, probe: int) -> Iterator[bytes]: ...

    def entity_columns(self) -> Iterator[Columns]: ...

    def message_columns(self) -> Iterator[Columns]: ...


def _positional(record: type[msgspec.Struct]) -> Any:
    """A twin of `record` built from its own fields (names, order, tag), so it encodes exactly
    as `record` does, but constructed by position from columns (`map(twin, *columns)`), which
    keyword-only records cannot be; never tracked by the collector (it holds no cycles)."""
    config = record.__struct_config__
    fields = [(f.name, f.type) for f in msgspec.structs.fields(record)]
    return msgspec.defstruct(f"_{record.__name__}Twin", fields, tag=config.tag, tag_field=config.tag_field,
                             frozen=True, gc=False)


_EntityTwin = _positional(Entity)
_MessageTwin = _positional(Message)


def write_plan(plan: ColumnarPlan | HasRecords, path: Path) -> None:
    """Write the whole plan as newline-delimited JSON, each record encoded on its own line, into
    a file that replaces `path` only once it is complete: in bulk from a `ColumnarPlan` (a
    compiled plan; each batch digested and written by a `ChunkWriter` while the next is made),
    record by record from any other."""
    if not isinstance(plan, ColumnarPlan):
        _write_records(plan, path)
        return
    with atomic_writer(path) as out:
        digest = records_digest()
        # Every record made here is acyclic and freed once written: collecting while they are
        # made took 0.3–0.5 s of a million orders' write (11.9–12.0 s without).
        with paused_gc(), ChunkWriter(out) as writer:
            for piece in _joined(_header(plan)):
                writer.write(piece)
            for lines in _record_lines(plan):
                writer.write(lines, digest)
        out.write(_summary_line(plan, digest))


#: Bytes of the header's pieces (most of them a few bytes, or a batch of IDs) joined into one
#: chunk for the writer: the same order of size as a batch of records.
_JOINED = 1 << 20


def _joined(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """`pieces`, consecutive ones joined into chunks of at least `_JOINED` bytes (the last one
    maybe fewer)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        if len(buffer) >= _JOINED:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def plan_bytes(plan: ColumnarPlan) -> Iterator[bytes]:
    """A compiled plan's saved form, in pieces (a batch of records each, after the header's): the
    bytes `write_plan` writes, which a run that compiled its plan hashes in bulk, far faster than
    encoding it record by record as it goes."""
    yield from _header(plan)
    digest = records_digest()
    for lines in _record_lines(plan):
        digest.update(lines)
        yield lines
    yield _summary_line(plan, digest)


def hashed_records(plan: ColumnarPlan, plan_hash: hashlib._Hash) -> Iterator[Entity | Message | Summary]:
    """A compiled plan's records after its header, fed to `plan_hash` as `plan_bytes` gives them
    (header first): each batch is made and encoded once, and read back for the run, rather than
    made twice, as objects for the run and as bytes for the hash."""
    for piece in _header(plan):
        plan_hash.update(piece)
    digest = records_digest()
    for lines in _record_lines(plan):
        digest.update(lines)
        plan_hash.update(lines)
        yield from _records_decoder.decode_lines(lines)
    line = _summary_line(plan, digest)
    plan_hash.update(line)
    yield _body_decoder.decode(line)


def _record_lines(plan: ColumnarPlan) -> Iterator[bytes]:
    """The entity and message lines, a batch at a time (each to be fed to the records digest)."""
    for twin, batches in ((_EntityTwin, plan.entity_columns()), (_MessageTwin, plan.message_columns())):
        for columns in batches:
            yield _encoder.encode_lines(list(map(twin, *columns)))


def _summary_line(plan: ColumnarPlan, digest: hashlib._Hash) -> bytes:
    return _encoder.encode(msgspec.structs.replace(plan.summary, records_sha256=digest.hexdigest())) + b"\n"


def _write_records(plan: HasRecords, path: Path) -> None:
    buffer = bytearray()
    digest = records_digest()
    version = FORMAT_VERSION
    with atomic_writer(path) as out:
        for record in plan.records():
            if isinstance(record, Header):  # a plan read back keeps its format, and its digest's
                version = record.format_version
                digest = records_digest(version)
            elif isinstance(record, (Entity, Message)):
                digest_update(digest, record, version)
            elif isinstance(record, Summary):
                record = msgspec.structs.replace(record, records_sha256=digest.hexdigest())
            _encoder.encode_into(record, buffer, -1)
            buffer.extend(b"\n")
            if len(buffer) > 1 << 20:
                out.write(buffer)
                buffer.clear()
        out.write(buffer)


#: Where a probe's entity IDs go in the encoded outline: only a probe's `entities` field is an
#: empty list under that key (no other key of a header is `entities`, and quotes inside strings
#: are escaped).
_ENTITIES = b'"entities":[]'


def _header(plan: ColumnarPlan) -> Iterator[bytes]:
    """The header line, its probes' entity IDs spliced into the encoded outline batch by batch."""
    outline = plan.header_outline()
    pieces = _encoder.encode(outline).split(_ENTITIES)
    if len(pieces) != len(outline.probes) + 1:
        raise InternalError("a plan header's probes could not be written")  # pragma: no cover
    yield pieces[0]
    for probe, rest in enumerate(pieces[1:]):
        yield b'"entities":['
        separator = b""
        for ids in plan.probe_entities(probe):
            if ids:
                yield separator
                yield ids
                separator = b","
        yield b"]" + rest
    yield b"\n"


_decoder = msgspec.json.Decoder(Header | Entity | Message | Summary)
_body_decoder = msgspec.json.Decoder(Entity | Message | Summary)
_records_decoder = msgspec.json.Decoder(Entity | Message)


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


def iter_hashed(path: Path, digest: hashlib._Hash, *,
                growing: bool = False) -> Iterator[Entity | Message | Summary]:
    """Read a saved plan's records after its header (which is never held: a million orders'
    probes make it 100 MB), feeding `digest` every byte of the file as read; `growing`: as it is
    written (`write_growing`)."""
    with _Growing(path) if growing else path.open("rb") as f:
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


#: How long a reader of a plan being written waits for its next bytes before giving up.
GROWING_WAIT_S = 60.0
#: How long it sleeps between looks (it only ever waits while its run starts: the plan is
#: written far faster than it is sent).
_GROWING_POLL_S = 0.002


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_growing(plan: ColumnarPlan, path: Path) -> None:
    """Write a compiled plan as `write_plan` does, but under a name readers know (`PATH.partial`,
    renamed to `path` once whole), so that they can read it as it is written (`growing=True`):
    the workers of a run start on its entities while its messages are still being written."""
    partial = _partial(path)
    with partial.open("wb") as out:
        for chunk in plan_bytes(plan):
            out.write(chunk)
    os.rename(partial, path)


class _Growing:
    """A plan being written by `write_growing`, read as it grows: a read that finds no more bytes
    waits for them until the file has been renamed whole (then what is left is all there is),
    and fails after `GROWING_WAIT_S` without a byte."""

    def __init__(self, path: Path):
        self._path = path
        self._give_up = time.monotonic() + GROWING_WAIT_S
        while True:
            try:
                self._file, self._whole = path.open("rb"), True
                return
            except FileNotFoundError:
                pass
            try:
                self._file, self._whole = _partial(path).open("rb"), False
                return
            except FileNotFoundError:
                self._wait()  # not begun yet, or renamed whole between the two looks

    def read(self, size: int) -> bytes:
        while True:
            block = self._file.read(size)
            if block or self._whole:
                self._give_up = time.monotonic() + GROWING_WAIT_S
                return block
            # The same file, renamed once its last byte was written: read what is left.
            self._whole = self._path.exists()
            if not self._whole:
                self._wait()

    def _wait(self) -> None:
        if time.monotonic() > self._give_up:
            raise ExecutionError(f"the plan `{self._path}` stopped growing before it was whole")
        time.sleep(_GROWING_POLL_S)

    def __enter__(self) -> _Growing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def read_growing_header(path: Path) -> Header:
    """The header of a plan being written (`write_growing`), once its line is whole."""
    line = bytearray()
    with _Growing(path) as f:
        while (end := line.find(b"\n")) < 0:
            block = f.read(_BLOCK)
            if not block:
                break
            line += block
    header = _decoder.decode(bytes(line if end < 0 else line[:end]).removeprefix(b"\xef\xbb\xbf"))
    if not isinstance(header, Header):
        raise ValueError("not a carbonc plan")
    return header


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
