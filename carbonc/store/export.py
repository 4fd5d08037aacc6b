"""Copies one run out of the store as Parquet: one file per table, each holding that run's rows,
each written whole or not at all.

    >>> export_run(store, "run_20250101T000000Z_1a2b3c4d", Path("out"))
    [PosixPath('out/runs.parquet'), PosixPath('out/entities.parquet'), …]
"""

from __future__ import annotations

from pathlib import Path

from carbonc.errors import StoreError
from carbonc.files import atomic_path
from carbonc.store import Store
from carbonc.store.reading import latest_run_ids, run_exists
from carbonc.store.schema import TABLES


def export_run(store: Store, run_id: str, directory: Path) -> list[Path]:
    """Write `DIRECTORY/<table>.parquet` for every table, with `run_id`'s rows; return the files.
    Raises StoreError for an unknown run (naming the latest ones) or a directory it cannot write."""
    if not run_exists(store, run_id):
        latest = latest_run_ids(store)
        known = f"; the latest: {', '.join(latest)}" if latest else "; the database has no runs"
        raise StoreError(f"no run `{run_id}` in `{store.path}`{known}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create `{directory}`: {exc.strerror or exc}") from None
    written = []
    for table in TABLES:
        target = directory / f"{table}.parquet"
        try:
            with atomic_path(target) as temporary:
                # Table names come from the schema, never from input; the run id is a parameter.
                store.query(f"COPY (SELECT * FROM {table} WHERE run_id = ?) TO '{_quoted(temporary)}' "
                            "(FORMAT parquet)", [run_id])
        except OSError as exc:
            raise StoreError(f"cannot write `{target}`: {exc.strerror or exc}") from None
        written.append(target)
    return written


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
