"""The store's report views, read from `views.sql` (shipped beside this module), as statements to
run when a database is opened."""

from __future__ import annotations

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
