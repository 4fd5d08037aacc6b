"""Compiles a checked program into a plan: `compile_plan` turns the scenario's steps into a world of
entities (`_steps`, `_world`), schedules their webhook messages (`_schedule`), folds checks and
probes (`_checks`, `_probes`) and emits the plan's records (`_emit`, in `carbonc.plan.records`)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from typing import TypeVar

import msgspec

from carbonc.codes import Code
from carbonc.compiler._checks import compile_checks
from carbonc.compiler._emit import BATCH, Columns, entity_columns, message_columns, records, summarize
from carbonc.compiler._probes import SelectedProbe, compile_probes
from carbonc.compiler._schedule import Policies, Schedule, delivery_overrides, schedule
from carbonc.compiler._steps import Compiler
from carbonc.compiler._world import World
from carbonc.compiler.ids import Ids
from carbonc.compiler.params import display_value, resolve_params
from carbonc.diagnostics import Diagnostic, did_you_mean
from carbonc.domain.vocabulary import DeliveryOverrides
from carbonc.errors import CompileError
from carbonc.ir import nodes as ir
from carbonc.passes import Program
from carbonc.plan.records import FORMAT_VERSION, Header, Record

__all__ = ["CompiledPlan", "compile_plan"]

_encoder = msgspec.json.Encoder()


class CompiledPlan:
    """A compiled plan: its `header` and `summary`, and its records on demand, one at a time
    (`records`) or in bulk (`plan.saved.ColumnarPlan`, for `write_plan`)."""

    def __init__(self, outline: Header, probes: tuple[SelectedProbe, ...], world: World, schedule: Schedule,
                 policies: Policies):
        self._outline, self._probes = outline, probes
        self._world, self._schedule, self._policies = world, schedule, policies
        self.summary = summarize(world, schedule)

    @functools.cached_property
    def header(self) -> Header:
        """The header, each probe's entity IDs included: made on first use (a million orders'
        probes select 4.7 million entities), an entity that several probes select sharing one
        string."""
        ids = Ids(self._outline.seed)
        by_kind: dict[str, list[str]] = {}
        probes = []
        for selected in self._probes:
            kind = selected.probe.kind
            entities: tuple[str, ...] = ()
            if kind is not None and selected.members:
                if kind not in by_kind:
                    by_kind[kind] = ids.entities(kind, 0, len(self._world.tables[kind]))
                entities = tuple(map(by_kind[kind].__getitem__, selected.members))
            probes.append(msgspec.structs.replace(selected.probe, entities=entities))
        return msgspec.structs.replace(self._outline, probes=tuple(probes))

    def records(self) -> Iterator[Record]:
        return records(self.header, self._world, self._schedule, self._policies, self.summary)

    def header_outline(self) -> Header:
        """The header with each probe's `entities` left empty (`probe_entities` gives them)."""
        return self._outline

    def probe_sizes(self) -> tuple[int, ...]:
        """How many entities each probe selects (the lengths of the header's `entities`)."""
        return tuple(len(selected.members) if selected.probe.kind is not None else 0 for selected in self._probes)

    def probe_entities(self, probe: int) -> Iterator[bytes]:
        """The IDs of the entities probe number `probe` selects, in batches, each as JSON strings
        separated by commas (the items of a JSON array)."""
        selected = self._probes[probe]
        if selected.probe.kind is None:
            return
        kind, members, ids = selected.probe.kind, selected.members, Ids(self._outline.seed)
        for lo in range(0, len(members), BATCH):
            batch = members[lo:lo + BATCH]
            if batch[-1] - batch[0] == len(batch) - 1:
                # A run of entities (a probe of every order, say): made as the bytes written.
                yield ids.quoted_entities(kind, batch[0], batch[-1] + 1)
            else:
                yield _encoder.encode(ids.each_entity(kind, batch))[1:-1]  # the list's items, without its brackets

    def entity_columns(self) -> Iterator[Columns]:
        return entity_columns(self._world, Ids(self._outline.seed))

    def message_columns(self) -> Iterator[Columns]:
        return message_columns(self._world, self._schedule, self._policies, Ids(self._outline.seed))


def _pick(program: Program, name: str | None, path: str) -> ir.Scenario:
    scenarios = program.scenarios
    if not scenarios:
        raise CompileError([Diagnostic(code=Code.NO_SCENARIO, message="this file defines no scenario", path=path,
                                       help="a plan needs a `scenario NAME { … }`")])
    if name is None:
        return scenarios[0]
    for sc in scenarios:
        if sc.name.name == name:
            return sc
    raise CompileError([Diagnostic(code=Code.NO_SCENARIO, message=f"no scenario `{name}` in this file", path=path,
                                   help=did_you_mean(name, [s.name.name for s in scenarios]))])


_D = TypeVar("_D", bound=ir.Profile | ir.Mix | ir.Ladder | ir.Map | ir.Oracle)


def _declarations(program: Program, kind: type[_D]) -> dict[str, tuple[_D, str]]:
    """The program's declarations of `kind` by name, each with the path of its module: the root
    module's first, then the others' in order of their keys; the first of a name wins."""
    out: dict[str, tuple[_D, str]] = {}
    for key in [program.root, *sorted(k for k in program.modules if k != program.root)]:
        module = program.modules[key]
        for decl in module.decls:
            if isinstance(decl, kind):
                out.setdefault(decl.name.name, (decl, module.path))
    return out


def _named(program: Program, kind: type[_D]) -> dict[str, _D]:
    """`_declarations` without their paths."""
    return {name: decl for name, (decl, _) in _declarations(program, kind).items()}


def _naming_overrides(err: CompileError, overrides: Mapping[str, str]) -> CompileError:
    """The compiler's errors, each saying which `--set` values it was compiled with: the source
    line it points at is the scenario's, the value that broke it the command line's."""
    if not overrides:
        return err
    given = " ".join(f"--set {name}={value}" for name, value in overrides.items())
    return CompileError([msgspec.structs.replace(d, help=f"{d.help + '; ' if d.help else ''}compiled with {given}")
                         for d in err.diagnostics])


def compile_plan(program: Program, source_text: str, *, scenario: str | None = None,
                 overrides: Mapping[str, str] | None = None, seed: int | None = None,
                 delivery: DeliveryOverrides | None = None) -> CompiledPlan:
    """Compile the checked `program` (its root's first scenario, or `scenario`) into a plan.

    `overrides` set parameters (`--set`); `delivery` imposes on every message an order, a repeat
    count and a signature mode, over what the scenario's `deliver` blocks say.

    Raises CompileError for unknown or ill-typed overrides and for anything the payment state
    machine forbids (refunding more than was captured, disputing an uncaptured payment, …).
    """
    path = program.root_module.path
    sc = _pick(program, scenario, path)
    imposed = delivery_overrides(delivery or DeliveryOverrides())
    types = program.param_types.get(sc.name.name, {})
    values = resolve_params(sc, types, overrides or {})
    checks = compile_checks(program, sc, values)
    chosen_seed = seed if seed is not None else (sc.seed.value if sc.seed is not None else 0)
    compiler = Compiler(sc, values, chosen_seed, path, _named(program, ir.Mix))
    try:
        world = compiler.run()
    except CompileError as err:
        raise _naming_overrides(err, overrides or {}) from None
    probes = compile_probes(sc, values, compiler, _declarations(program, ir.Oracle), _named(program, ir.Map), path)
    world.drop_bookkeeping()
    policies = Policies(sc, values, _named(program, ir.Profile), _named(program, ir.Ladder), imposed)
    plan_schedule = schedule(world, policies, chosen_seed)
    if policies.errors:
        raise CompileError([
            Diagnostic(code=code, message=f"{why} with these parameter values", path=path, span=node.span,
                       help="check the --set values this depends on")
            for code, node, why in policies.errors.values()
        ])
    header = Header(
        format_version=FORMAT_VERSION,
        scenario=sc.name.name,
        seed=chosen_seed,
        params={name: display_value(v, types.get(name)) for name, v in values.items()},
        source_sha256=hashlib.sha256(source_text.encode()).hexdigest(),
        policies=tuple(policies.policies),
        warnings=tuple(plan_schedule.warnings),
        checks=checks,
        probes=tuple(selected.probe for selected in probes),
    )
    return CompiledPlan(header, probes, world, plan_schedule, policies)
