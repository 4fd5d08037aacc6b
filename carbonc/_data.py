"""Locates the data shipped with carbonc: the grammar, the stdlib and the bundled scenarios."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory `name` (`grammar`, `stdlib` or `scenarios`).

    An installed wheel carries them in `carbonc/_data/`; a source checkout (or an
    editable install) has them at the repository's top level.
    """
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
