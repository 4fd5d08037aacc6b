"""DuckDB's engine, imported without the Python layer the `duckdb` package builds over it.

In duckdb 2.x the package is a compiled module, `_duckdb`, plus a relational API written in
Python (`duckdb.sql`, `DuckDBPyConnection.table`, `read_json`, …) that the store never calls.
Every name the store uses (`connect`, `DuckDBPyConnection`, its exceptions, `StatementType`,
`extract_statements`) is the compiled module's own, which the package re-exports as they are:
importing only it saved ~30 ms of CPU on every command that opens a database (a 10-order
`carbonc run`: 340 ms, was 380). A release without that module is imported whole."""

from __future__ import annotations

try:
    import _duckdb as duckdb
except ImportError:  # duckdb 1.x: the engine is reached through the package
    import duckdb  # type: ignore[no-redef]

__all__ = ["duckdb"]
