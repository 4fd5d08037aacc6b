"""The store's report views, read from `views.sql` (shipped beside this module), as statements to
run when a database is opened, and the mark that says a file has this carbonc's views already."""

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
    """What a file whose views are these carries as the comment of its last view (set once they
    are all made): `carbonc views ` and a hash of their statements."""
    return "carbonc views " + hashlib.sha256("\0".join(_view_sql()).encode()).hexdigest()[:16]


def mark_statement() -> str:
    """`COMMENT ON VIEW` that marks a file's views as `views_mark()` (replacing a view clears it)."""
    return f"COMMENT ON VIEW {view_names()[-1]} IS '{views_mark()}'"


def marked_sql() -> str:
    """A query for the mark of the views of the file open (no row: there is none)."""
    return ("SELECT comment FROM duckdb_views() WHERE database_name = current_database() "
            f"AND schema_name = 'main' AND NOT temporary AND view_name = '{view_names()[-1]}'")
