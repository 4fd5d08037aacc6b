"""Finds scenarios by name or path: the bundled ones (shipped in the wheel), and those in
`CARBON_SCENARIOS_DIR` when set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from carbonc._data import data_dir
from carbonc.diagnostics import did_you_mean

if TYPE_CHECKING:  # the IR is only loaded by `list_scenarios`, which parses
    from carbonc.ir import nodes as ir


class ScenarioInfo(msgspec.Struct, frozen=True):
    """A bundled scenario: its `name`, `category`, one-line `about`, and `path`."""

    name: str
    category: str
    about: str
    path: str


class UnknownScenario(Exception):
    """A reference is neither a file nor a known scenario name."""

    def __init__(self, ref: str, help: str | None):
        super().__init__(f"no scenario named `{ref}` and no such file")
        self.ref, self.help = ref, help


def search_dirs() -> list[Path]:
    """Directories searched for scenarios by name, in order."""
    dirs = []
    extra = os.environ.get("CARBON_SCENARIOS_DIR")
    if extra:
        dirs.append(Path(extra))
    dirs.append(data_dir("scenarios"))
    return dirs


def bundled_files() -> list[Path]:
    """Every scenario file findable by name, first directory winning, sorted by name."""
    found: dict[str, Path] = {}
    for d in search_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.carbon")):
                found.setdefault(p.stem, p)
    return [found[k] for k in sorted(found)]


def find(ref: str) -> Path:
    """Return the file `ref` names: a path (anything with `/` or `.carbon`, or an existing file)
    or a scenario name. Raise UnknownScenario otherwise."""
    path = Path(ref)
    if ref.endswith(".carbon") or os.sep in ref or "/" in ref or path.exists():
        return path
    for d in search_dirs():
        candidate = d / f"{ref}.carbon"
        if candidate.is_file():
            return candidate
    raise UnknownScenario(ref, did_you_mean(ref, [p.stem for p in bundled_files()])
                          or "`carbonc scenarios` lists the bundled scenarios")


def list_scenarios() -> list[ScenarioInfo]:
    """Describe every bundled scenario (parsed, not checked)."""
    from carbonc.source import SourceReadError, read_source
    from carbonc.syntax import parse

    found = []
    for path in bundled_files():
        try:
            result = parse(read_source(path))
        except SourceReadError:
            continue
        if result.module is not None and result.module.scenarios:
            found.append((path, result.module.scenarios[0]))
    by_name = {sc.name.name: sc for _, sc in found}

    def inherited(sc: ir.Scenario, field: Literal["category", "about"], seen: frozenset[str] = frozenset()) -> str:
        """A scenario's category or about, taken from the scenario it extends if it has none."""
        if field == "category" and sc.category is not None:
            return sc.category.name
        if field == "about" and sc.about is not None:
            return sc.about.value
        base = by_name.get(sc.extends.name) if sc.extends is not None else None
        if base is None or base.name.name in seen:
            return ""
        return inherited(base, field, seen | {sc.name.name})

    return [ScenarioInfo(name=sc.name.name, category=inherited(sc, "category"), about=inherited(sc, "about"),
                         path=str(path)) for path, sc in found]
