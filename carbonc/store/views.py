"""The store's report views, read from `views.sql` (shipped beside this module), as statements to
run when a database is opened, and the mark that says a file has this carbonc's views already
(on every view: one replaced, by hand or by another carbonc, loses its own)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

#: Each view's statement ends with `;` alone on a line, so a `;` inside a view never splits it.
_SEPARATOR = "\n;\n"


@cache
def _view_sql() -> tuple[str, ...]:
    text = resources.files("carbonc.store").joinpath("views.sql").read_text(encoding="utf-8")
    return tuple(s.strip() for s in text.split(_SEPARATOR) if "CREATE" in s)


def view_statements(*, temporary: bool = False) -> list[str]:
    """`CREATE OR REPLACE VIEW` for every report view; `temporary` makes them the connection's own
    (a read-only open of a file made by an older carbonc, which has none or older ones)."""
    if not temporary:
        return list(_view_sql())
    return [s.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMPORARY VIEW", 1) for s in _view_sql()]


def view_names() -> list[str]:
    """The views' names, in the order `views.sql` creates them."""
    return [s.split("CREATE OR REPLACE VIEW", 1)[1].split()[0] for s in _view_sql()]


@cache
def views_mark() -> str:
    """The comment each view of a file carries when they are this carbonc's (set once they are all
    made): `carbonc views ` and a hash of their statements."""
    return "carbonc views " + hashlib.sha256("\0".join(_view_sql()).encode()).hexdigest()[:16]


def mark_statements() -> list[str]:
    """`COMMENT ON VIEW` that marks each view `views_mark()`. Replacing a view clears its mark: a
    file is taken to have this carbonc's views only if every one is there and marked."""
    return [f"COMMENT ON VIEW {name} IS '{views_mark()}'" for name in view_names()]


def marked_sql() -> str:
    """A query for how many of the views named (the first parameter, a list) the file open has,
    marked with the second parameter."""
    return ("SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary AND list_contains(?, view_name) AND comment = ?")
