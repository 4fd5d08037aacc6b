"""What many tests do with a run: invoke the command line in-process, and read the DuckDB file
it recorded (read-only, closed at once, so a later command can open it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import duckdb
from click.testing import CliRunner, Result

from carbonc.cli import main


def run(*args: str, command: click.Command = main, env: dict[str, str | None] | None = None) -> Result:
    """`carbonc ARGS...` (or `command`'s), with `env` set for the call (None unsets a variable)."""
    return CliRunner().invoke(command, list(args), prog_name="carbonc", env=env)


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of `sql` over the DuckDB file `db`."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
