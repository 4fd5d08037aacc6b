"""Keeps runs in DuckDB: opens (and creates) the database, appends batches of rows, and marks
how each run ended. The only package that imports duckdb.

    >>> store = open_store(Path("carbon.duckdb"))
    >>> store.begin_run(run)
    >>> store.append(Batch(deliveries=[...]))      # one transaction per batch
    >>> store.finish_run(run.run_id, "completed", finished_at_ms)
    >>> store.close()

Default file `~/.carbon/carbon.duckdb`; `CARBON_DB` overrides it, and an explicit path both.
A writer holds the file's lock for as long as it is open, so two runs at once on one file cannot
interleave: the second is refused with a message naming the first. It opens the DuckDB file itself
only for each batch, or keeps it open across batches (`append(…, hold=True)`) until a reader
(`read_only=True`) asks for it, checked after each batch, or for at most `HOLD_S`, so readers
can open it while a run writes (see `access`).
A run still `running` when the file is next opened for writing belonged to a process that died,
and is marked `interrupted`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from carbonc.errors import StoreError
from carbonc.store.access import HANDOVER_S, WriterLock, bounded_read, connect, first_line
from carbonc.store.engine import duckdb
from carbonc.store.rows import (
    Batch,
    CheckRow,
    DeliveryRow,
    EntityRow,
    MessageRow,
    RunRow,
    TimelineRow,
)
from carbonc.store.schema import (
    TABLES,
    create_statements,
    staged_select,
    upgrade_statements,
)
from carbonc.store.views import mark_statements, marked_sql, view_names, view_statements, views_mark

__all__ = ["Batch", "CheckRow", "DeliveryRow", "EntityRow", "MessageRow", "RunRow", "Staged", "Store",
           "TimelineRow", "default_path", "open_spool", "open_store"]

_STATUSES = ("running", "completed", "failed", "interrupted")
#: DuckDB's memory cap for a writer. What a run commits stays in memory until it is checkpointed
#: into the file (when the writer lets go of it: see `HOLD_S`); what does not fit is set aside in
#: `<database>.tmp` and read back to be checkpointed. `read_json` takes 32 MiB of the cap whatever
#: its `maximum_object_size` (at 32 MB the first batch ran out of memory). A run of 200,000
#: deliveries to nginx, alternated: 125 µs of CPU a delivery at 48 MB, 117 at 96 MB, 112 at 160
#: MB; peak RSS 254, 302 and 362 MB. Checkpointing fills the cap, so it also sets a long run's
#: peak memory, whatever the plan's size: a saved plan of 100,000 orders run with no target
#: peaks at 212-221 MB, a million orders at 228-234 MB (at 48 MB: 175 and 185).
_WRITER_MEMORY_LIMIT = "96MB"
_WRITER_CHECKPOINT_THRESHOLD = "256MB"
#: Longest a writer keeps the DuckDB file open across batches when no reader has asked for it
#: (one that asks gets it after the writer's next batch: see `access`). Opening and closing it
#: for every batch cost ~35 ms a batch; each close checkpoints the log into the file, rewriting
#: the tables' last row groups, so closing every second (as carbonc did) cost a run of 200,000
#: deliveries with two workers ~15% of its writer's CPU. A bound still, well under
#: `access.READER_WAIT_S` (20 s, in every carbonc so far): readers that do not ask (a carbonc
#: from before they did, or one that cannot open the readers' file) still get in in time.
HOLD_S = 10.0
#: The most batches staged by workers that are appended together (see `Store.ingest_spool`).
SPOOL_GROUP = 4
#: The tables a `Batch` has rows for, in the order it is staged and appended.
_BATCH_TABLES = ("entities", "messages", "deliveries", "checks", "gateway_calls")
#: A file of a staged batch in a spool: its table and its number of rows.
_SPOOLED = re.compile(r"([a-z_]+)\.([0-9]{1,9})\.ndjson")

_T = TypeVar("_T")


class Staged(msgspec.Struct, frozen=True, kw_only=True):
    """A batch written out for `Store.ingest`: its `rows`, and `files`, (table, NDJSON file) each
    (none when a worker's writer has put the batch in its spool, or it was empty)."""

    rows: int
    files: tuple[tuple[str, str], ...]

    def discard(self) -> None:
        """Remove the files."""
        for _, file in self.files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file)


def default_path() -> Path:
    """`CARBON_DB`, else `~/.carbon/carbon.duckdb`."""
    env = os.environ.get("CARBON_DB")
    return Path(env).expanduser() if env else Path.home() / ".carbon" / "carbon.duckdb"


def open_store(path: Path | None = None, *, read_only: bool = False) -> Store:
    """Open (creating if needed) the database at `path` (default: `default_path()`).

    A writer holds the file's lock until `close`; a reader (`read_only`) holds nothing, and can
    open a file a run is writing (see `carbonc.store.access`). Raises StoreError when another
    process writes the file, it is not a DuckDB database, or it cannot be created.
    """
    path = (path or default_path()).expanduser()
    if any(len(part.encode()) > 255 for part in path.parts):
        raise StoreError(f"cannot use `{path}`: a file or directory name is at most 255 bytes")
    if path.is_dir():
        raise StoreError(f"`{path}` is a directory, not a database file")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory for `{path}`: {exc.strerror or exc}") from None
    elif not path.exists():
        raise StoreError(f"no database at `{path}` (nothing has been run yet?)")
    lock = None if read_only else WriterLock(path)
    if lock is not None:
        lock.acquire()
    store = Store(path, read_only=read_only, lock=lock)
    try:
        # Opened once now, so a file that is not a database is refused before anything runs. A
        # writer keeps it open for what it writes first (`begin_run`), as after a batch: each
        # open and close costs ~15 ms of CPU.
        if read_only:
            with store._session():
                pass
        else:
            store._held_guarded(store._prepare)
    except BaseException:
        store.close()
        raise
    return store


def open_spool(spool: Path) -> Store:
    """A writer for a worker of a `--workers` run: its batches are staged whole into `spool`, a
    folder the run's own writer (which holds the database) ingests them from (`ingest_spool`).
    Only the run's writer opens the database, so the workers never wait on each other for it,
    and a batch staged by a worker that then dies is still recorded."""
    store = Store(spool / "-", read_only=False, lock=None)
    store.spool = spool
    return store


class Store:
    """An open results database; see the module docstring. Not thread-safe: one writer."""

    def __init__(self, path: Path, *, read_only: bool, lock: WriterLock | None):
        self.path, self.read_only, self._lock = path, read_only, lock
        # A run appends and rarely reads back: with DuckDB's default cache (most of RAM) a
        # run's memory grew with its size (200,000 deliveries: 500 MB; with this cap: 300 MB).
        # One thread: a batch is small, and DuckDB's own threads cost 0.5 s of CPU over a run of
        # 20,000 deliveries (0.15 s with one), saving no time; each also holds memory of its own
        # (a saved plan of 100,000 orders run with no target: peak RSS 215 -> 200 MB).
        # The checkpoint threshold: at DuckDB's default (16 MB of log) a run's ~2 KB delivery
        # rows made it checkpoint every other batch, rewriting the table's last row group each
        # time: 200,000 delivery rows in batches of 5,000 cost 23 µs of CPU a row, 19 µs at 64 MB,
        # 17 µs at this threshold (no less at 1 GB). The file is still checkpointed whenever the
        # writer closes it (for a reader, when rows stop, or after `HOLD_S`: at most ~130 MB of
        # log at this machine's rate), so the log a crash leaves to replay stays below it.
        self._config: dict[str, str | bool | int | float | list[str]] = (
            {} if read_only else {"memory_limit": _WRITER_MEMORY_LIMIT, "threads": 1,
                                  "checkpoint_threshold": _WRITER_CHECKPOINT_THRESHOLD})
        # Never fetch or load an extension on our behalf: `--db x.sqlite` had DuckDB try to
        # download the SQLite one (from the network, at run time).
        self._config.update(autoinstall_known_extensions=False, autoload_known_extensions=False)
        self._encoder = msgspec.json.Encoder()
        self._stage_dir: tempfile.TemporaryDirectory[str] | None = None
        #: A worker's writer stages its batches here instead (see `open_spool`).
        self.spool: Path | None = None
        self._spooled = 0
        #: The file kept open across batches (`append(…, hold=True)`), and since when.
        self._held: duckdb.DuckDBPyConnection | None = None
        self._held_since = 0.0
        #: Until when readers' asking is not heeded (one asked, then did not come in).
        self._deaf_until = 0.0

    # Lifecycle.

    def _stage_prefix(self) -> str:
        return f".{self.path.name[:200]}.stage-"

    def _clear_stale_staging(self) -> None:
        for stale in self.path.parent.glob(glob_escape(self._stage_prefix()) + "*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)

    @contextlib.contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB file, open for one batch or one read and closed after it: closing
        checkpoints a writer's changes into the file and lets readers in."""
        con = connect(self.path, read_only=self.read_only, config=self._config) if self.read_only else self._open()
        try:
            if self.read_only:
                self._prepare_views(con)
            yield con
        finally:
            con.close()

    def _prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        self._clear_stale_staging()
        # Each open checks first, and changes only what is missing or out of date: creating the
        # tables (if not there) and the views again cost ~25 ms of CPU each time.
        existing = _tables(con)
        complete = all(set(columns) <= set(existing.get(table, ())) for table, columns in _COLUMNS.items())
        if not complete:
            for statement in create_statements():
                con.execute(statement)
            for statement in upgrade_statements(existing):
                con.execute(statement)
        if not complete or not _has_current_views(con):
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in view_statements():
                    con.execute(statement)
                for statement in mark_statements():
                    con.execute(statement)
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
        # We hold the lock: any run still `running` belonged to a process that is gone.
        con.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, "
            "(SELECT max(sent_at) FROM deliveries d WHERE d.run_id = runs.run_id), started_at) "
            "WHERE status = 'running'")

    @staticmethod
    def _prepare_views(con: duckdb.DuckDBPyConnection) -> None:
        # A read-only connection cannot change the file, and the file may come from an older
        # carbonc (no views, or older ones): the connection's own views shadow the file's.
        # A file too old for them (a column missing) is still readable, just not reportable:
        # reading a view then names what is missing.
        with contextlib.suppress(duckdb.Error):
            if _has_current_views(con):
                return  # the file's own are this carbonc's: nothing to shadow
            for statement in view_statements(temporary=True):
                con.execute(statement)

    def release(self) -> None:
        """Close the file kept open across batches, if it is: readers can open it again (and
        closing checkpoints what the batches wrote into the file)."""
        if self._held is not None:
            con, self._held = self._held, None
            with self._translated():
                con.close()

    @property
    def holding(self) -> bool:
        return self._held is not None

    def close(self) -> None:
        try:
            self.release()
        finally:
            self._close()

    def _close(self) -> None:
        if self._stage_dir is not None:
            self._stage_dir.cleanup()
            self._stage_dir = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Writing.

    def begin_run(self, run: RunRow) -> None:
        """Record that `run` has started (status `running`), keeping the file open for the
        run's first batch (as after a batch: see `_held_guarded`)."""
        # Each open and close of the file costs ~20 ms of CPU (a close checkpoints): with
        # `finish_run` and a run's checks kept open too, a run opens it three times fewer.
        self._held_guarded(lambda con: con.execute(
            "INSERT INTO runs (run_id, scenario, source_sha256, plan_sha256, seed, provider, params, started_at, "
            "status, version, target, time_scale, concurrency, replay_of, replay_mode, gateway, shard, checks_plan, "
            "merged_from, workers) VALUES (?, ?, ?, ?, ?, ?, ?, epoch_ms(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.run_id, run.scenario, run.source_sha256, run.plan_sha256, run.seed, run.provider, run.params,
             run.started_at_ms, run.status, run.version, run.target, run.time_scale, run.concurrency,
             run.replay_of, run.replay_mode, run.gateway, run.shard, run.checks_plan, run.merged_from,
             run.workers]))

    def append(self, batch: Batch, *, hold: bool = False) -> None:
        """Append every row of `batch` in one transaction: all of it is kept, or none. With
        `hold`, the file stays open for the next batch, for up to `HOLD_S` (then `release`)."""
        self.ingest(self.stage(batch), hold=hold)

    def stage(self, batch: Batch) -> Staged:
        """Write `batch` out beside the database for `ingest` (a worker's writer: into its spool,
        for the run's writer), so its rows need not stay in memory meanwhile."""
        parts = [(table, rows) for table in _BATCH_TABLES if (rows := getattr(batch, table))]
        rows = sum(len(part) for _, part in parts)
        if not parts or self.spool is not None:
            if parts:
                self._spool(parts)
            return Staged(rows=rows, files=())
        files: list[tuple[str, str]] = []
        try:
            for table, part in parts:
                files.append((table, self._stage(table, part)))
        except BaseException:
            Staged(rows=0, files=tuple(files)).discard()
            raise
        return Staged(rows=rows, files=tuple(files))

    def ingest(self, staged: Staged, *, hold: bool = False) -> None:
        """Append a staged batch in one transaction, and remove its files (appended or not)."""
        if not staged.files:
            return
        try:
            self._ingest(list(staged.files), hold=hold)
        finally:
            staged.discard()

    def ingest_spool(self, spool: Path) -> int:
        """Append every batch the workers have staged in `spool` so far, in the order each worker
        staged them, deleting each once it is in; the rows ingested. Up to `SPOOL_GROUP` batches
        go in together, in one transaction: DuckDB appends a few big inserts for much less than
        many small ones (200,000 delivery rows, 5,000 a batch: 20 µs of CPU a row one batch at a
        time, 14 µs four at a time)."""
        rows = 0
        ready = sorted(spool.glob("batch-*"))
        for at in range(0, len(ready), SPOOL_GROUP):
            group = ready[at:at + SPOOL_GROUP]
            files: dict[str, list[str]] = {}
            for folder in group:
                for file in sorted(folder.iterdir()):
                    # `TABLE.ROWS.ndjson`, as `_spool` names them.
                    named = _SPOOLED.fullmatch(file.name)
                    if named is None or named[1] not in _BATCH_TABLES:
                        raise StoreError(f"`{folder}` holds something other than a worker's staged rows")
                    files.setdefault(named[1], []).append(str(file))
                    rows += int(named[2])
            # Tables in the order a batch stages them (entities before the rows that name them).
            self._ingest([(table, files[table]) for table in _BATCH_TABLES if table in files], hold=True)
            for folder in group:
                shutil.rmtree(folder)
        if not ready:
            self._release_if_due()  # no batch to release after: a reader asking still gets in
        return rows

    def _spool(self, parts: Sequence[tuple[str, Sequence[msgspec.Struct]]]) -> None:
        """Stage a batch whole into the spool: written into a folder of its own, then renamed,
        so the run's writer sees all of a batch or none of it."""
        assert self.spool is not None
        self._spooled += 1
        folder = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.spool))
        try:
            for table, rows in parts:
                (folder / f"{table}.{len(rows)}.ndjson").write_bytes(self._encoder.encode_lines(rows))
            os.rename(folder, self.spool / f"batch-{os.getpid():08d}-{self._spooled:010d}")
        except OSError as exc:
            raise StoreError(_os_error("stage rows for", self.spool, exc)) from None

    def _ingest(self, staged: Sequence[tuple[str, str | list[str]]], *, hold: bool) -> None:
        """Append staged NDJSON files, (table, file or files) each, in one transaction."""

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN TRANSACTION")
            try:
                for table, file in staged:
                    con.execute(staged_select(table), [file])
                con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT has rolled back already: report what failed, not the ROLLBACK.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise

        if hold:
            self._held_guarded(write)
        else:
            self._guarded(write)

    def finish_run(self, run_id: str, status: str, finished_at_ms: int, plan_sha256: str | None = None) -> None:
        """Record how the run ended (`completed`, `failed` or `interrupted`) and, once the whole
        plan has been read, its hash; the file stays open until `close` (or a reader asks)."""
        if status not in _STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self._held_guarded(lambda con: con.execute(
            "UPDATE runs SET status = ?, finished_at = epoch_ms(?), plan_sha256 = coalesce(?, plan_sha256) "
            "WHERE run_id = ?", [status, finished_at_ms, plan_sha256, run_id]))

    def write(self, action: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """`action(con)` in a writer's session of its own (one batch's worth: begin and commit a
        transaction in it to make it all or nothing); a database error is a StoreError."""
        return self._guarded(action)

    def _stage(self, table: str, rows: Sequence[msgspec.Struct]) -> str:
        # Bulk path: DuckDB reads newline-delimited JSON ~40x faster than `executemany` inserts.
        if self._stage_dir is None:
            # Beside the database, named after it: a run killed outright leaves its staging behind,
            # and the next open of this file (which holds its lock) clears it.
            self._stage_dir = tempfile.TemporaryDirectory(prefix=self._stage_prefix(), dir=self.path.parent)
        fd, name = tempfile.mkstemp(suffix=f".{table}.ndjson", dir=self._stage_dir.name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self._encoder.encode_lines(rows))
        except OSError as exc:
            os.unlink(name)
            raise StoreError(_os_error("stage rows for", self.path, exc)) from None
        return name

    def _guarded(self, action: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """`action(con)` in a session of its own, a database error turned into a StoreError that
        says what is kept."""
        if self.read_only:
            raise StoreError(f"`{self.path}` is open read-only")
        self.release()
        with self._translated(), self._session() as con:
            return action(con)

    def _held_guarded(self, action: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """`action(con)` on the file kept open across batches (opened if it is not), closed
        after it if a reader asks for the file, once it has been open `HOLD_S`, or if anything
        failed.

        Every batch is committed (and DuckDB syncs its log at each commit), so keeping the file
        open loses nothing in a crash: the next open replays the log. Closing checkpoints it."""
        if self.read_only:
            raise StoreError(f"`{self.path}` is open read-only")
        if self._held is None:
            self._held = self._open()
            self._held_since = time.monotonic()
        try:
            with self._translated():
                result = action(self._held)
        except BaseException:
            with contextlib.suppress(StoreError):  # the failure itself is what to report
                self.release()
            raise
        self._release_if_due()
        return result

    def _release_if_due(self) -> None:
        """Close the file kept open across batches if a reader asks for it, or it has been open
        `HOLD_S`."""
        if self._held is None:
            return
        now = time.monotonic()
        if now - self._held_since >= HOLD_S or (
                self._lock is not None and now >= self._deaf_until and self._lock.readers_waiting()):
            self.release()

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open the file for writing, once readers that asked for it have it (they retry every
        10 ms): waiting for them at most `access.HANDOVER_S`. Readers that were not in by then
        (a stopped process) are not heeded for `HOLD_S`, so they cannot stall every batch."""
        if self.spool is not None:
            raise StoreError("a worker's writer stages its rows; the run's own writer holds the database")
        if (self._lock is not None and time.monotonic() >= self._deaf_until
                and not self._lock.wait_for_readers(HANDOVER_S)):
            self._deaf_until = time.monotonic() + HOLD_S
        return connect(self.path, read_only=False, config=self._config)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """A database error while writing, as a StoreError that says what is kept."""
        try:
            yield
        except duckdb.Error as exc:
            # DuckDB sets aside what does not fit its memory cap in `<database>.tmp`, beside the
            # file, up to 90% of the free space there: a full disk may fail that first.
            if "No space left" in str(exc) or "failed to offload data block" in str(exc):
                raise StoreError(f"no space left on the device holding `{self.path}`; what was recorded "
                                 "before this batch is kept") from None
            raise StoreError(f"cannot write to `{self.path}`: {first_line(exc)}") from None

    # Reading.

    def query(self, sql: str, params: Sequence[Any] = (), *,
              max_rows: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run `sql`; return column names and rows (the first `max_rows`, if given). While a run
        writes the file, a reader's query is interrupted after `access.READ_DEADLINE_S`."""
        return self.read(lambda con: _query(con, sql, params, max_rows))

    def read(self, action: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """`action(con)` in a session of its own: bounded in time for a reader while a run writes.
        A writer lets go of the file after it (a replay reads between sends, which may take long:
        the file is not kept from readers meanwhile)."""
        writing = self.read_only and WriterLock(self.path).is_held()
        self.release()
        with self._session() as con:
            return bounded_read(self.path, con, lambda: action(con)) if writing else action(con)

    def timeline(self, run_id: str, entity_id: str, limit: int = 200) -> list[TimelineRow]:
        """Every message of `entity_id`'s order tree (the entity at the top of its parents and
        everything under it) as it was sent: one row per attempt (or per message never sent), in
        the order they happened."""
        _, rows = self.query(
            "WITH RECURSIVE up(entity_id, parent_id, depth) AS ("
            "  SELECT entity_id, parent_id, 0 FROM entities WHERE run_id = ? AND entity_id = ?"
            "  UNION ALL SELECT e.entity_id, e.parent_id, up.depth + 1 FROM entities e"
            "  JOIN up ON e.entity_id = up.parent_id WHERE e.run_id = ? AND up.depth < 16),"
            " root AS (SELECT entity_id FROM up ORDER BY depth DESC LIMIT 1),"
            " tree(entity_id, depth) AS ("
            "  SELECT entity_id, 0 FROM root"
            "  UNION ALL SELECT e.entity_id, tree.depth + 1 FROM entities e"
            "  JOIN tree ON e.parent_id = tree.entity_id WHERE e.run_id = ? AND tree.depth < 16)"
            # Each attempt at its own virtual time: a retry happens later than its message was due.
            " SELECT m.seq, m.message_id, m.neutral_event, m.entity_id, m.fault, coalesce(d.virtual_ms, m.virtual_ms),"
            "  d.attempt,"
            "  epoch_ms(d.sent_at), d.status_code, d.error, d.outcome, m.skipped"
            " FROM messages m JOIN tree ON m.entity_id = tree.entity_id"
            " LEFT JOIN deliveries d ON d.run_id = m.run_id AND d.message_id = m.message_id"
            " WHERE m.run_id = ? ORDER BY coalesce(d.virtual_ms, m.send_ms), m.seq, d.attempt LIMIT ?",
            [run_id, entity_id, run_id, run_id, run_id, limit])
        return [TimelineRow(*row) for row in rows]

    def tables(self) -> dict[str, list[str]]:
        """Each table's columns, as the file has them."""
        self.release()
        with self._session() as con:
            return _tables(con)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = (),
           max_rows: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    try:
        cursor = con.execute(sql, list(params))
        rows = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows)
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        raise StoreError(first_line(exc)) from None
    return [d[0] for d in cursor.description or ()], rows


#: Each table's columns, as `_tables` gives them for a file made by this carbonc.
_COLUMNS = {table: [name for name, _ in columns] for table, columns in TABLES.items()}


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    # `duckdb_columns()` rather than `information_schema.columns`: ~1.5 ms rather than ~13, and
    # only the file's own tables (not another database attached, nor a temporary view).
    _, rows = _query(
        con, "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
             "AND schema_name = 'main' AND NOT internal ORDER BY table_name, column_index")
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return {t: out[t] for t in TABLES if t in out}


def _has_current_views(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file's views are this carbonc's: every one there, marked `views.views_mark`."""
    names = view_names()
    marked = con.execute(marked_sql(), [names, views_mark()]).fetchone()
    return marked is not None and marked[0] == len(names)


def _os_error(doing: str, path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        # Rows are staged beside the database: a full disk there is the database's disk.
        return f"no space left on the device holding `{path}`; what was recorded before this batch is kept"
    return f"cannot {doing} `{path}`: {exc.strerror or exc}"
