"""Resolves names: declarations and their duplicates, `extends`, parameters, metrics, entity
kinds and states, named mixes, profiles and ladders, functions. Merges each scenario with the
scenario it extends.

>>> # `refund refund_rat of captured payments` -> C0204 unknown parameter, did you mean `refund_rate`?
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar, assert_never

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.domain import vocabulary
from carbonc.ir import nodes as ir
from carbonc.ir.walk import (
    action_expressions,
    deliver_item_expressions,
    outcome_expressions,
    subexpressions,
)
from carbonc.passes._program import Context, Program
from carbonc.templates import template_attributes, template_names

_DeclKind = ir.Scenario | ir.Profile | ir.Mix | ir.Ladder | ir.Map | ir.Oracle
_D = TypeVar("_D", ir.Scenario, ir.Profile, ir.Mix, ir.Ladder, ir.Map, ir.Oracle)
_T = TypeVar("_T")

#: The oracles of `stdlib/oracles.carbon`, named in a hint when a file forgot to `use` it.
_STDLIB_ORACLES = frozenset({"idempotency", "forward_only", "amounts", "ledger", "reconciliation"})


def _named_decls(module: ir.Module) -> Iterable[_DeclKind]:
    return (d for d in module.decls if not isinstance(d, ir.Use))


def _kind_word(decl: _DeclKind) -> str:
    return type(decl).__name__.lower()


class _Scope:
    """Declarations visible in one module: its own, then those of the modules it uses."""

    def __init__(self, program: Program, key: str, ctx: Context):
        self.names: dict[str, tuple[_DeclKind, str]] = {}
        module = program.modules[key]
        own: dict[str, _DeclKind] = {}
        for decl in _named_decls(module):
            name = decl.name.name
            if name in own:
                ctx.report(Code.DUPLICATE_DEFINITION, f"{_kind_word(decl)} `{name}` is defined twice", module.path,
                           decl.name.span,
                           label="second definition", help="rename or remove one of them")
                continue
            own[name] = decl
            self.names[name] = (decl, module.path)
        for dep in program.imports.get(key, ()):
            if dep not in program.modules:
                continue
            dep_module = program.modules[dep]
            for decl in _named_decls(dep_module):
                name = decl.name.name
                if name in own:
                    continue  # a module's own declaration shadows an imported one
                if name in self.names and self.names[name][1] != dep_module.path:
                    use = next((u for u in module.uses if Path(u.target.value).stem == Path(dep).stem),
                               module.uses[0])
                    ctx.report(Code.DUPLICATE_DEFINITION,
                               f"`{name}` is defined in both `{self.names[name][1]}` and `{dep_module.path}`",
                               module.path, use.span, label="ambiguous import",
                               help="rename one of the declarations")
                    continue
                self.names[name] = (decl, dep_module.path)

    def find(self, name: str, kind: type[_D]) -> _D | None:
        found = self.names.get(name)
        return found[0] if found and isinstance(found[0], kind) else None

    def names_of(self, kind: type[_DeclKind]) -> list[str]:
        return [n for n, (d, _) in self.names.items() if isinstance(d, kind)]


def _merge(child: ir.Scenario, base: ir.Scenario) -> ir.Scenario:
    """Return `child` with `base`'s items: child params and phases replace base ones by name."""
    params = {p.name.name: p for p in base.params}
    params.update({p.name.name: p for p in child.params})
    phases = {p.name.name: p for p in base.phases}
    phases.update({p.name.name: p for p in child.phases})
    return ir.Scenario(
        span=child.span, name=child.name, extends=child.extends,
        about=child.about or base.about, category=child.category or base.category,
        tags=child.tags or base.tags, params=tuple(params.values()), seed=child.seed or base.seed,
        phases=tuple(phases.values()), delivers=base.delivers + child.delivers, checks=base.checks + child.checks,
        oracles=base.oracles + tuple(o for o in child.oracles if o.name not in {b.name for b in base.oracles}),
    )


class _Resolver:
    def __init__(self, program: Program, ctx: Context):
        self.program, self.ctx = program, ctx
        self.scopes = {key: _Scope(program, key, ctx) for key in program.modules}
        self.cycles: set[frozenset[str]] = set()

    # ------------------------------------------------------------ scenarios

    def merged(self, scenario: ir.Scenario, key: str, path: str, chain: tuple[str, ...] = ()) -> ir.Scenario:
        if scenario.extends is None:
            return scenario
        base_name = scenario.extends.name
        if base_name == scenario.name.name or base_name in chain:
            cycle = (*chain, scenario.name.name)
            cycle = cycle[cycle.index(base_name):]
            if frozenset(cycle) not in self.cycles:
                self.cycles.add(frozenset(cycle))
                shown = f" ({' -> '.join((*cycle, base_name))})" if len(cycle) > 1 else ""
                self.ctx.report(Code.SELF_EXTENDS, f"scenario `{scenario.name.name}` extends itself{shown}", path,
                                scenario.extends.span, label="cycle", help="extend a different scenario")
            return scenario
        scope = self.scopes[key]
        base = scope.find(base_name, ir.Scenario)
        if base is None:
            self.ctx.report(Code.UNKNOWN_BASE, f"unknown scenario `{base_name}` to extend", path, scenario.extends.span,
                            label="not defined or used here",
                            help=did_you_mean(base_name, scope.names_of(ir.Scenario))
                            or "define it in this file or `use` the module that defines it")
            return scenario
        base_key = self._key_of(base, key)
        base = self.merged(base, base_key, self.program.modules[base_key].path, (*chain, scenario.name.name))
        return _merge(scenario, base)

    def _key_of(self, decl: ir.Scenario, fallback: str) -> str:
        for key, module in self.program.modules.items():
            if decl in module.decls:
                return key
        return fallback

    def check_scenario(self, merged: ir.Scenario, declared: ir.Scenario, key: str, path: str) -> None:
        """Check what `declared` itself writes (in its own file), knowing every parameter of `merged`."""
        scope = self.scopes[key]
        self._duplicates(declared.params, "parameter", path, lambda p: p.name)
        self._duplicates(declared.phases, "phase", path, lambda p: p.name)

        params: list[str] = []
        own = {id(p) for p in declared.params}
        for param in merged.params:
            if id(param) in own:
                self.check_expr(param.default, params, (), path, where="a parameter default")
            params.append(param.name.name)
        param_set = set(params)

        for phase in declared.phases:
            for action in phase.actions:
                self.check_action(action, param_set, scope, path)
        for deliver in declared.delivers:
            self.check_deliver(deliver, param_set, scope, path)
        for check in declared.checks:
            match check:
                case ir.Expect(condition=cond) | ir.Finding(condition=cond):
                    self.check_expr(cond, param_set, vocabulary.METRICS, path, where="a check")
                case ir.Probe() as probe:
                    self.check_probe(probe, param_set, scope, path)
                case _:
                    assert_never(check)
        seen: set[str] = set()
        for use in declared.oracles:
            if use.name in seen:
                self.ctx.report(Code.DUPLICATE_DEFINITION, f"oracle `{use.name}` is used twice", path, use.span,
                                label="second use", help="remove one of the `use` lines")
            seen.add(use.name)
            if scope.find(use.name, ir.Oracle) is None:
                if use.name in _STDLIB_ORACLES and not scope.names_of(ir.Oracle):
                    self.ctx.report(Code.UNKNOWN_DECLARATION, f"unknown oracle `{use.name}`", path, use.span,
                                    label="no such oracle",
                                    help='the standard oracles come with `use "oracles"` at the top of the file')
                else:
                    self._unknown_decl(use, "oracle", ir.Oracle, scope, path)

    def check_probe(self, probe: ir.Probe, params: set[str], scope: _Scope, path: str) -> None:
        """A probe's selection and expectations: what the answer (`status`, `json.…`, `headers.…`)
        and the selected entity (`order.state`) or, for a probe sent `once`, the gateway's totals
        (`gateway.captured.INR`) offer; maps are called like functions."""
        maps = set(scope.names_of(ir.Map))
        if probe.selection is not None:
            sel = probe.selection
            kind = self.check_selection(sel, params, path)
            if sel.quantity is not None:
                self.check_expr(sel.quantity, params, (), path, where="a selection")
            fields = {"status"} | ({f"{kind}.{f}" for f in vocabulary.PROBE_FIELDS[kind]} if kind else set())
            prefixes = {"json", "headers"} | (set() if kind else set(vocabulary.KINDS))
        else:
            fields = {"status", "gateway.totals"}
            prefixes = {"json", "headers"}
        if probe.eventually is not None:
            self.check_expr(probe.eventually, params, (), path, where="a probe's window")
        allowed = {"base"} | params | maps | ({"gateway"} if probe.selection is None else {
            vocabulary.kind_of(probe.selection.kind.name) or probe.selection.kind.name})
        kind = vocabulary.kind_of(probe.selection.kind.name) if probe.selection is not None else None
        for text in (probe.url, probe.body, *(h.value for h in probe.headers)):
            if text is None:
                continue
            for name in sorted(template_names(text.value) - allowed):
                self.ctx.report(Code.UNKNOWN_NAME, f"unknown name `{name}` in a probe template", path, text.span,
                                label="not defined here", help=did_you_mean(name, allowed) or (
                                    "templates can use `base`, the selected entity, the parameters and maps"))
            if kind is not None:
                known = list(vocabulary.PROBE_FIELDS[kind])
                for field in sorted(template_attributes(text.value, kind) - set(known)):
                    self.ctx.report(Code.UNKNOWN_NAME, f"unknown field `{kind}.{field}` in a probe template", path,
                                    text.span,
                                    label="not a field of the entity",
                                    help=did_you_mean(field, known) or "fields: " + ", ".join(f"`{f}`" for f in known))
        for e in probe.expects:
            self.check_expr(e, params, (), path, where="a probe", fields=fields, prefixes=prefixes, maps=maps)

    def _duplicates(self, items: Iterable[_T], what: str, path: str, name_of: Callable[[_T], ir.Ident]) -> None:
        seen: set[str] = set()
        for item in items:
            ident = name_of(item)
            if ident.name in seen:
                self.ctx.report(Code.DUPLICATE_DEFINITION, f"{what} `{ident.name}` is defined twice", path, ident.span,
                                label="second definition", help=f"rename or remove one of the {what}s")
            seen.add(ident.name)

    # ------------------------------------------------------------ pieces

    def check_action(self, action: ir.Action, params: set[str], scope: _Scope, path: str) -> None:
        if isinstance(action.target, ir.Selection):
            self.check_selection(action.target, params, path)
        else:
            self.check_kind(action.target, path)
        for expr in action_expressions(action):
            self.check_expr(expr, params, (), path, where="a phase")
        for clause in _all_clauses(action):
            if isinstance(clause, ir.WithClause) and scope.find(clause.mix.name, ir.Mix) is None:
                self._unknown_decl(clause.mix, "outcome mix", ir.Mix, scope, path)

    def check_kind(self, ident: ir.Ident, path: str) -> str | None:
        kind = vocabulary.kind_of(ident.name)
        if kind is None:
            self.ctx.report(Code.UNKNOWN_KIND, f"unknown entity kind `{ident.name}`", path, ident.span,
                            label="not an entity kind",
                            help=did_you_mean(ident.name, [*vocabulary.KINDS, *vocabulary.PLURALS])
                            or "kinds: " + ", ".join(f"`{k}`" for k in vocabulary.KINDS))
        return kind

    def check_selection(self, sel: ir.Selection, params: set[str], path: str) -> str | None:
        kind = self.check_kind(sel.kind, path)
        if kind is not None and sel.state is not None and sel.state.name not in vocabulary.STATES[kind]:
            self.ctx.report(Code.UNKNOWN_STATE, f"`{sel.state.name}` is not a state of a {kind}", path, sel.state.span,
                            label="unknown state",
                            help=did_you_mean(sel.state.name, vocabulary.STATES[kind])
                            or f"{kind} states: " + ", ".join(f"`{s}`" for s in vocabulary.STATES[kind]))
        if sel.where is not None:
            self.check_expr(sel.where, params, (), path, where="a filter", fields=vocabulary.ENTITY_FIELDS)
        return kind

    def check_deliver(self, deliver: ir.Deliver, params: set[str], scope: _Scope, path: str) -> None:
        if isinstance(deliver.target, ir.Ident):
            self.check_kind(deliver.target, path)
        self.check_deliver_items(deliver.items, params, scope, path)

    def check_deliver_items(self, items: Iterable[ir.DeliverItem], params: set[str], scope: _Scope, path: str) -> None:
        for item in items:
            for expr in deliver_item_expressions(item):
                self.check_expr(expr, params, (), path, where="a delivery setting")
            if isinstance(item, ir.IncludeItem) and scope.find(item.profile.name, ir.Profile) is None:
                self._unknown_decl(item.profile, "profile", ir.Profile, scope, path)
            if (isinstance(item, ir.RetryItem) and isinstance(item.ladder, ir.Ident)
                    and item.ladder.name not in vocabulary.RETRY_KEYWORDS
                    and scope.find(item.ladder.name, ir.Ladder) is None):
                self._unknown_decl(item.ladder, "retry ladder", ir.Ladder, scope, path,
                                   extra=vocabulary.RETRY_KEYWORDS)

    def _unknown_decl(self, ident: ir.Ident, what: str, kind: type[_DeclKind], scope: _Scope, path: str,
                      extra: Iterable[str] = ()) -> None:
        known = [*scope.names_of(kind), *extra]
        self.ctx.report(Code.UNKNOWN_DECLARATION, f"unknown {what} `{ident.name}`", path, ident.span,
                        label=f"no such {what}",
                        help=did_you_mean(ident.name, known)
                        or (f"{'an' if what[0] in 'aeiou' else 'a'} {what} must be declared here "
                            "or in a module this file `use`s"))

    def check_expr(self, expr: ir.Expr, params: Iterable[str], metrics: Iterable[str], path: str, *,
                   where: str, fields: Iterable[str] = (), prefixes: Iterable[str] = (),
                   maps: Iterable[str] = ()) -> None:
        params, metrics, fields, prefixes = set(params), set(metrics), set(fields), set(prefixes)
        maps = set(maps)
        for node in subexpressions(expr):
            if isinstance(node, ir.Call) and node.func.name in maps:
                if len(node.args) != 1:
                    self.ctx.report(Code.WRONG_ARITY, f"map `{node.func.name}` takes 1 argument, not {len(node.args)}",
                                    path, node.span, label="wrong number of arguments")
                continue
            if isinstance(node, ir.Call):
                if node.func.name not in vocabulary.FUNCTIONS:
                    self.ctx.report(Code.UNKNOWN_FUNCTION, f"unknown function `{node.func.name}`", path, node.func.span,
                                    label="not a function",
                                    help=did_you_mean(node.func.name, vocabulary.FUNCTIONS)
                                    or "functions: " + ", ".join(f"`{f}`" for f in vocabulary.FUNCTIONS))
                    continue
                lo, hi = vocabulary.FUNCTIONS[node.func.name]
                if not lo <= len(node.args) <= hi:
                    want = str(lo) if lo == hi else f"{lo} to {hi}"
                    takes = f"{want} argument{'s' * (want != '1')}"
                    self.ctx.report(Code.WRONG_ARITY, f"`{node.func.name}` takes {takes}, not {len(node.args)}",
                                    path, node.span, label="wrong number of arguments")
            if not isinstance(node, ir.Name):
                continue
            dotted = node.dotted
            if dotted in params or dotted in metrics or dotted in fields or node.parts[0] in prefixes:
                continue
            if (node.parts[0] == "gateway" and len(node.parts) == 3 and node.parts[1] in vocabulary.GATEWAY_TOTALS
                    and "gateway.totals" in fields):
                continue  # a total per currency: `gateway.captured.INR`
            if where == "a parameter default" and dotted in vocabulary.METRICS:
                continue  # check_types reports it: a default cannot depend on the run
            if len(node.parts) == 1 and not metrics:
                self.ctx.report(Code.UNKNOWN_PARAMETER, f"unknown parameter `{dotted}`", path, node.span,
                                label="not defined in this scenario",
                                help=did_you_mean(dotted, params | fields) or (
                                    f"declare it with `param {dotted} = …`" if not fields else
                                    "filters can use parameters and " + ", ".join(f"`{f}`" for f in sorted(fields))))
            else:
                known = params | metrics | fields
                self.ctx.report(Code.UNKNOWN_NAME, f"unknown name `{dotted}` in {where}", path, node.span,
                                label="not a parameter or a metric of the run" if metrics else "not defined here",
                                help=did_you_mean(dotted, known))

    def check_module_decls(self, key: str) -> None:
        module = self.program.modules[key]
        scope = self.scopes[key]
        for decl in module.decls:
            match decl:
                case ir.Profile(items=items):
                    self.check_deliver_items(items, set(), scope, module.path)
                case ir.Mix(outcomes=outcomes):
                    for expr in outcome_expressions(outcomes):
                        self.check_expr(expr, (), (), module.path, where="a mix")
                case ir.Ladder(steps=steps):
                    self.check_expr(steps, (), (), module.path, where="a ladder")
                case ir.Map(entries=entries):
                    self._duplicates(entries, "map key", module.path,
                                     lambda e: ir.Ident(span=e.key.span, name=_map_key(e.key)))
                    for entry in entries:
                        self.check_expr(entry.value, (), (), module.path, where="a map")
                case ir.Oracle(probes=probes):
                    for probe in probes:
                        self.check_probe(probe, set(), scope, module.path)
                case ir.Use() | ir.Scenario():
                    pass  # uses were followed by load_imports; scenarios are checked merged (check_scenario)
                case _:
                    assert_never(decl)


def _map_key(key: ir.Ident | ir.StringLit) -> str:
    return key.name if isinstance(key, ir.Ident) else key.value


def _all_clauses(action: ir.Action) -> Iterator[ir.Clause]:
    """Yield an action's clauses and those of its outcome mixes, nested ones included."""
    stack: list[ir.Clause] = list(action.clauses)
    if action.outcomes is not None:
        stack += [c for o in action.outcomes.items for c in o.clauses]
    while stack:
        clause = stack.pop()
        yield clause
        if isinstance(clause, ir.ThenClause):
            stack += [c for o in clause.outcomes.items for c in o.clauses]


def resolve(program: Program, ctx: Context) -> Program:
    """Check every name in the program and merge scenarios with the scenarios they extend."""
    resolver = _Resolver(program, ctx)
    for key in program.modules:
        resolver.check_module_decls(key)
    declared: dict[str, tuple[tuple[ir.Scenario, ir.Scenario], ...]] = {}
    for key, module in program.modules.items():
        pairs = []
        for scenario in module.scenarios:
            merged = resolver.merged(scenario, key, module.path)
            resolver.check_scenario(merged, scenario, key, module.path)
            pairs.append((scenario, merged))
        declared[key] = tuple(pairs)
    return Program(root=program.root, modules=program.modules, imports=program.imports,
                   scenarios=tuple(m for _, m in declared[program.root]), declared=declared)
