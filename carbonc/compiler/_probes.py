"""Compiles a scenario's probes (its own and those of the oracles it `use`s) into the plan: each
selection resolved to the entities it picks at the end of the phases, parameters and maps folded
into the expectations, the request kept as templates for the run to fill in.

    probe GET "{{ base }}/orders/{{ order.id }}" for each paid order { expect json.status == "paid" }
    -> Probe(kind="order", entities=("order_…", …), expects=(ProbeExpect('json.status == "paid"', …),))
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import NamedTuple

from carbonc.codes import Code
from carbonc.compiler._checks import fold
from carbonc.compiler._steps import Compiler
from carbonc.diagnostics import Diagnostic
from carbonc.domain import vocabulary
from carbonc.domain.values import Duration, EvalError, Value
from carbonc.errors import CompileError
from carbonc.ir import nodes as ir
from carbonc.ir.text import expr_text
from carbonc.ir.values import evaluate
from carbonc.plan.records import MAX_WINDOW_MS, Probe, ProbeExpect
from carbonc.templates import template_names

#: Names a probe observes, whatever parameters the scenario has: `param status = 200` must not
#: turn `expect status == 200` into `expect true`.
_OBSERVED = frozenset({"status", "json", "headers", "gateway", *vocabulary.KINDS})



class SelectedProbe(NamedTuple):
    """A probe of the plan, its `entities` left empty, and the indexes of the entities of its
    `kind` it selects, in plan order: a million IDs as Python strings took 70 MB a probe, so they
    are made only as they are written (`CompiledPlan.probe_entities`)."""

    probe: Probe
    members: array[int]


def compile_probes(scenario: ir.Scenario, values: Mapping[str, Value], compiler: Compiler,
                   oracles: Mapping[str, tuple[ir.Oracle, str]], maps: Mapping[str, ir.Map],
                   path: str) -> tuple[SelectedProbe, ...]:
    """The plan's probes: the scenario's own, then each `use`d oracle's, in the order written.
    `oracles` and `maps` are the program's, the root module's first (a scenario's file may
    replace a stdlib map, and with it the words every oracle expects)."""
    sources: list[tuple[ir.Probe, str | None, str]] = [
        (c, None, path) for c in scenario.checks if isinstance(c, ir.Probe)]
    for use in scenario.oracles:
        used, used_path = oracles[use.name]
        sources += [(p, use.name, used_path) for p in used.probes]
    tables = {name: _table(m, values) for name, m in maps.items()}

    def observed(n: ir.Expr | ir.Rest) -> bool:
        """What the probe's answer or the gateway gives: a name of either (even one a parameter
        shadows), or a map of the scenario (which a merchant's file may replace)."""
        if isinstance(n, ir.Name):
            return n.dotted not in values or n.parts[0] in _OBSERVED
        return isinstance(n, ir.Call) and n.func.name in tables and n.func.name not in vocabulary.FUNCTIONS

    probes: list[SelectedProbe] = []
    names: set[str] = set()
    errors: list[Diagnostic] = []
    for index, (probe, oracle, where) in enumerate(sources):
        target = "once" if probe.selection is None else f"for {_selection_text(probe)}"
        name = base = (f"oracle {oracle}: " if oracle else "") + f"probe {probe.method} {probe.url.value} {target}"
        copy = 1
        while name in names:
            copy += 1
            name = f"{base} #{copy}"
        names.add(name)
        kind: str | None = None
        members = array("I")
        if probe.selection is not None:
            picked = compiler.final_members(probe.selection, f"probe/{index}")
            if picked is None:
                continue
            kind, selected = picked
            members = array("I", selected)
            del selected
        try:
            expects = tuple(ProbeExpect(expr_text(e), fold(e, values, observed, tables)) for e in probe.expects)
            window = _window(probe.eventually, values)
        except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
            errors.append(Diagnostic(code=Code.TYPE_MISMATCH,
                                     message=f"this probe cannot be computed with these parameter "
                                     f"values: {exc}", path=where, span=probe.span,
                                     help="check the --set values it depends on"))
            continue
        templates = [probe.url.value, *(h.value.value for h in probe.headers)]
        if probe.body is not None:
            templates.append(probe.body.value)
        named = {n for text in templates for n in template_names(text)}
        probes.append(SelectedProbe(Probe(
            name=name, severity=probe.severity.name if probe.severity else None, method=probe.method,
            url=probe.url.value, headers=tuple((h.name.value, h.value.value) for h in probe.headers),
            body=probe.body.value if probe.body is not None else None, kind=kind,
            expects=expects, eventually_ms=window, oracle=oracle, selection=target,
            maps={name: tables[name] for name in sorted(named) if name in tables}), members))
    errors += [e for e in compiler.errors if e not in errors]
    if errors:
        raise CompileError(errors)
    return tuple(probes)


def _selection_text(probe: ir.Probe) -> str:
    from carbonc.fmt._exprs import selection_text

    assert probe.selection is not None
    return selection_text(probe.selection)


def _window(expr: ir.Expr | None, values: Mapping[str, Value]) -> int:
    if expr is None:
        return 0
    value = evaluate(expr, values)
    if not isinstance(value, Duration) or not 0 < value.ms <= MAX_WINDOW_MS:
        raise EvalError("`eventually within` must be a duration between 1ms and 1h")
    return value.ms


def _table(decl: ir.Map, values: Mapping[str, Value]) -> dict[str, int | str | bool]:
    table: dict[str, int | str | bool] = {}
    for entry in decl.entries:
        key = entry.key.name if isinstance(entry.key, ir.Ident) else entry.key.value
        value = evaluate(entry.value, values)
        table[key] = value if isinstance(value, (int, str, bool)) else str(value)
    return table
