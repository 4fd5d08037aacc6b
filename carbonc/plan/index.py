"""Indexes a saved plan's entities on disk as it is verified, so that neither verifying nor running
a plan of millions of orders holds its entities in memory: where each entity's line is in the
file, its kind, its parent, the root of its order tree and an order's captured payment, in SQLite
in a private temporary file (deleted when the index is closed, or with the process).

    >>> index = PlanIndex(path)            # `plan.verify` stages every entity and reference
    >>> index.get("pay_8GbsNZNokYbb8c").parent, index.root_of("rfnd_Q2xv9W")
    ('ord_5kPq…', 'ord_5kPq…')

Verifying stages the records in file order (appends, cheap) and resolves every reference in a few
set-wise queries at the end (`build`, then the `first_*` queries): looked up one at a time (5 µs
each once the index outgrows the cache), the seven million references of a million orders would
cost some 35 s more. The file takes some 640 bytes an order (refund-storm: 64 MB for 100,000).
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator
from pathlib import Path

import msgspec

from carbonc.domain.vocabulary import KINDS, PARENT_KINDS
from carbonc.errors import ExecutionError
from carbonc.plan.header import Selection, selected
from carbonc.plan.records import Entity, Header

__all__ = ["PlanIndex"]

#: SQLite's page cache, in KiB (its default is 2 MB): the index of a million orders is some 600 MB
#: on disk, read at random, and the operating system's cache holds it; this one is only the hot part.
_CACHE_KIB = 16_384
#: Rows staged per insert.
_BATCH = 10_000

_SCHEMA = """
CREATE TABLE staged (line INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT,
                     at INTEGER NOT NULL, size INTEGER NOT NULL, captured INTEGER NOT NULL);
CREATE TABLE cited (line INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
                    event TEXT NOT NULL);
CREATE TABLE parent_kinds (kind TEXT PRIMARY KEY, want TEXT NOT NULL);
CREATE TABLE depths (kind TEXT PRIMARY KEY, depth INTEGER NOT NULL);
"""


def _depth(kind: str) -> int:
    """How many parents an entity of `kind` has (a refund's: its payment, then its order)."""
    parent = PARENT_KINDS.get(kind)
    return 0 if parent is None else 1 + _depth(parent)


class PlanIndex:
    """The entities of the saved plan at `path`, indexed on disk; a `dialects.Lookup` (but for the
    IDs a real gateway gives, which belong to a run: `dialects.IndexedLookup`) once `build` has
    run."""

    def __init__(self, path: Path):
        self.path = path
        # An empty name is SQLite's private temporary database: a file no one else can open,
        # removed when the connection closes.
        con = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in (f"cache_size = -{_CACHE_KIB}", "journal_mode = OFF", "synchronous = OFF",
                       "temp_store = FILE", "mmap_size = 0"):
            con.execute(f"PRAGMA {pragma}")
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO parent_kinds VALUES (?, ?)", PARENT_KINDS.items())
        con.executemany("INSERT INTO depths VALUES (?, ?)", ((kind, _depth(kind)) for kind in KINDS))
        self._con = con
        self._fd = os.open(path, os.O_RDONLY)
        self._closer = weakref.finalize(self, _close, con, self._fd)
        self._staged: list[tuple[int, str, str, str | None, int, int, bool]] = []
        self._cited: list[tuple[int, int, str, str, str]] = []
        #: Where each probe's selection is in the file (`plan.header`), and the file.
        self.selections: list[Selection] = []
        self.fd = self._fd
        self._decode = msgspec.json.Decoder(Entity).decode
        self._count = 0

    def close(self) -> None:
        """Remove the index; nothing can be looked up after."""
        self._closer()

    # Built while verifying.

    def stage(self, line: int, entity: Entity, at: int, size: int) -> None:
        """Stage `entity`, read from line `line`, the `size` bytes at byte `at` of the file."""
        captured = entity.kind == "payment" and any(t.state == "captured" for t in entity.transitions)
        self._staged.append((line, entity.id, entity.kind, entity.parent, at, size, captured))
        if len(self._staged) >= _BATCH:
            self._flush()

    def cite(self, line: int, seq: int, entity_id: str, kind: str, event: str) -> None:
        """Stage message `seq`'s reference (on `line`, reporting `event`) to `entity_id`, which
        must be a `kind`."""
        self._cited.append((line, seq, entity_id, kind, event))
        if len(self._cited) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        con = self._con
        con.execute("BEGIN")
        con.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?, ?)", self._staged)
        con.executemany("INSERT INTO cited VALUES (?, ?, ?, ?, ?)", self._cited)
        con.execute("COMMIT")
        self._staged.clear()
        self._cited.clear()

    def build(self) -> tuple[int, str] | None:
        """Index the staged entities by ID; return the line and ID of the first entity defined
        twice, if any (then nothing else can be looked up)."""
        self._flush()
        con = self._con
        con.execute("BEGIN")
        # Sorted by ID, the B-tree is filled in order rather than at random (some times faster);
        # the first definition of an ID is kept. An order is its own root, a payment's is its
        # parent; deeper ones' are filled in below, a generation at a time.
        con.execute("CREATE TABLE entities (id TEXT PRIMARY KEY, kind TEXT NOT NULL, parent TEXT, root TEXT, "
                    "line INTEGER NOT NULL, at INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID")
        con.execute("INSERT OR IGNORE INTO entities SELECT s.id, s.kind, s.parent, "
                    "CASE WHEN d.depth = 1 THEN s.parent WHEN d.depth > 1 THEN NULL ELSE s.id END, "
                    "s.line, s.at, s.size FROM staged s LEFT JOIN depths d ON d.kind = s.kind ORDER BY s.id, s.line")
        twice = None
        if con.execute("SELECT (SELECT count(*) FROM staged) - (SELECT count(*) FROM entities)").fetchone()[0]:
            twice = con.execute("SELECT s.line, s.id FROM staged s JOIN entities e ON e.id = s.id "
                                "AND e.line != s.line ORDER BY s.line LIMIT 1").fetchone()
        if twice is None:
            for (depth,) in con.execute("SELECT DISTINCT depth FROM depths WHERE depth > 1 ORDER BY 1").fetchall():
                con.execute("UPDATE entities SET root = (SELECT p.root FROM entities p WHERE p.id = entities.parent) "
                            "WHERE kind IN (SELECT kind FROM depths WHERE depth = ?)", (depth,))
            # An order's payment is its last captured one (an order does not point at it).
            con.execute("CREATE TABLE paid (order_id TEXT PRIMARY KEY, payment TEXT NOT NULL) WITHOUT ROWID")
            con.execute("INSERT OR REPLACE INTO paid SELECT parent, id FROM staged "
                        "WHERE captured AND parent IS NOT NULL ORDER BY parent, line")
            self._count = con.execute("SELECT count(*) FROM entities").fetchone()[0]
        con.execute("COMMIT")
        return None if twice is None else (twice[0], twice[1])

    def first_orphan(self) -> tuple[int, str, str, str, str | None] | None:
        """The first entity whose parent is not of the kind its own kind has, or defined after
        it: (line, ID, kind, the kind wanted, the parent named)."""
        found: tuple[int, str, str, str, str | None] | None = self._con.execute(
            "SELECT s.line, s.id, s.kind, k.want, s.parent FROM staged s JOIN parent_kinds k ON k.kind = s.kind "
            "LEFT JOIN entities p ON p.id = s.parent "
            "WHERE p.id IS NULL OR p.kind != k.want OR p.line > s.line ORDER BY s.line LIMIT 1").fetchone()
        return found

    def first_unresolved(self) -> tuple[int, int, str, str, str | None] | None:
        """The first message about an entity that is not there or not of the kind cited: (line,
        seq, ID, event, the entity's kind or None)."""
        found: tuple[int, int, str, str, str | None] | None = self._con.execute(
            "SELECT c.line, c.seq, c.id, c.event, e.kind FROM cited c "
            "LEFT JOIN entities e ON e.id = c.id WHERE e.kind IS NOT c.kind ORDER BY c.rowid LIMIT 1").fetchone()
        return found

    def with_selections(self, header: Header) -> Header:
        """`header` with what each probe selects read back from the file."""
        probes = list(header.probes)
        for selection in self.selections:
            if selection.probe < len(probes):
                probe = probes[selection.probe]
                entities = tuple(selected(self._fd, selection))
                probes[selection.probe] = msgspec.structs.replace(probe, entities=entities)
        return msgspec.structs.replace(header, probes=tuple(probes))

    # Looked up while running.

    def get(self, entity_id: str) -> Entity | None:
        found = self._con.execute("SELECT at, size FROM entities WHERE id = ?", (entity_id,)).fetchone()
        return None if found is None else self._read(entity_id, *found)

    def payment_of(self, order_id: str) -> Entity | None:
        payment = self._con.execute("SELECT payment FROM paid WHERE order_id = ?", (order_id,)).fetchone()
        return None if payment is None else self.get(payment[0])

    def root_of(self, entity_id: str) -> str | None:
        """The entity at the top of `entity_id`'s parents (a refund's order), None if unknown:
        one lookup, whatever the depth."""
        found = self._con.execute("SELECT root FROM entities WHERE id = ?", (entity_id,)).fetchone()
        return None if found is None else str(found[0])

    def __iter__(self) -> Iterator[Entity]:
        """Every entity, in plan order."""
        for entity_id, at, size in self._con.execute("SELECT id, at, size FROM staged ORDER BY line"):
            yield self._read(entity_id, at, size)

    def __len__(self) -> int:
        return self._count

    def _read(self, entity_id: str, at: int, size: int) -> Entity:
        try:
            entity = self._decode(os.pread(self._fd, size, at))
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            entity = None
        if entity is None or entity.id != entity_id:
            raise ExecutionError(f"`{self.path}` changed while it ran: entity `{entity_id}` is no longer where it "
                                 "was when the plan was checked")
        return entity


def _close(con: sqlite3.Connection, fd: int) -> None:
    con.close()
    os.close(fd)
