"""The program the passes work on (`Program`) and their shared, mutable `Context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import msgspec

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic, Severity
from carbonc.ir import nodes as ir
from carbonc.source import Source, Span

TypeKind = Literal["int", "ratio", "number", "money", "duration", "string", "bool", "list", "any"]


class Type(msgspec.Struct, frozen=True):
    """A value's type: its `kind`, and the `currency` of money."""

    kind: TypeKind
    currency: str | None = None

    def __str__(self) -> str:
        if self.kind == "money" and self.currency:
            return f"money ({self.currency})"
        return self.kind


class Program(msgspec.Struct, frozen=True, kw_only=True):
    """A root module and everything it uses.

    `modules` maps a module key (its resolved file) to the module, root first; `imports` maps a
    key to the keys of the modules it `use`s; `scenarios` holds the root's scenarios with the
    scenarios they extend merged in; `declared` pairs every module's scenarios as written with
    their merged form; `param_types` the type of every parameter per root scenario.
    """

    root: str
    modules: dict[str, ir.Module]
    imports: dict[str, tuple[str, ...]] = {}
    scenarios: tuple[ir.Scenario, ...] = ()
    declared: dict[str, tuple[tuple[ir.Scenario, ir.Scenario], ...]] = {}
    param_types: dict[str, dict[str, Type]] = {}

    @property
    def root_module(self) -> ir.Module:
        return self.modules[self.root]


@dataclass
class Context:
    """What passes share: the `sources` read (for rendering), `diagnostics` found so far, and
    where the standard library lives."""

    stdlib: Path
    sources: dict[str, Source] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def report(self, code: Code, message: str, path: str, span: Span | None = None, *,
               label: str | None = None, help: str | None = None, severity: Severity = "error") -> None:
        self.diagnostics.append(Diagnostic(
            code=code, severity=severity, message=message, path=path, span=span, label=label, help=help,
        ))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)
