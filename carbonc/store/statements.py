"""Decides whether SQL only reads, by DuckDB's own parse of it, before anything runs: `carbonc
query` refuses the rest (and opens the file read-only besides, a second guard).

    >>> reading_statement("select count(*) from runs")
    'select count(*) from runs'
    >>> reading_statement("drop table runs")
    Traceback (most recent call last):
    carbonc.errors.StoreError: `query` only reads: DROP statements are refused, and nothing was run
"""

from __future__ import annotations

import re
from typing import NoReturn

from carbonc.errors import StoreError
from carbonc.store.access import first_line
from carbonc.store.engine import duckdb

#: Statement kinds that only read. Everything else (INSERT … SET, ATTACH, COPY, EXPORT, LOAD,
#: CALL, which runs table functions like `checkpoint`, TRANSACTION, PREPARE…) is refused.
_READING = frozenset({duckdb.StatementType.SELECT})
#: PRAGMAs that only report; DuckDB parses one that sets something as a SET statement, but a
#: PRAGMA may also act (`PRAGMA enable_profiling`), so only these are let through.
_REPORTING_PRAGMAS = frozenset({
    "table_info", "show_tables", "show_tables_expanded", "database_size", "storage_info", "version", "platform",
    "show", "database_list", "functions", "collations", "metadata_info", "user_agent"})
_PRAGMA_NAME = re.compile(r"\s*pragma\s+(\w+)", re.IGNORECASE)
_EXPLAIN = re.compile(r"\s*explain\s+(analyze\s+)?", re.IGNORECASE)


def reading_statement(sql: str) -> str:
    """`sql`, if it is one statement that only reads; else a StoreError saying why not."""
    try:
        with duckdb.connect(":memory:") as parser:
            statements = parser.extract_statements(sql)
    except duckdb.Error as exc:
        raise StoreError(first_line(exc)) from None
    if len(statements) != 1:
        raise StoreError(f"give exactly one SQL statement, not {len(statements)}")
    statement = statements[0]
    text = statement.query
    if statement.type == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs what it explains: the statement explained must read, too.
        match = _EXPLAIN.match(text)
        if match is None:
            _refuse("EXPLAIN")
        reading_statement(text[match.end():])
        return text
    if statement.type == duckdb.StatementType.PRAGMA:
        name = _PRAGMA_NAME.match(text)
        if name is None or name.group(1).lower() not in _REPORTING_PRAGMAS:
            _refuse("PRAGMA")
        return text
    if statement.type not in _READING:
        _refuse(statement.type.name.replace("_", " "))
    return text


def _refuse(kind: str) -> NoReturn:
    raise StoreError(f"`query` only reads: {kind} statements are refused, and nothing was run")
