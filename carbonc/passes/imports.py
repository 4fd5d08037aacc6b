"""Loads the modules a program `use`s — stdlib modules by name, local files relative to the user —
reporting unknown modules (C0203), import cycles (C0205) and repeated uses (W0402)."""

from __future__ import annotations

from pathlib import Path

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.ir import nodes as ir
from carbonc.passes._program import Context, Program
from carbonc.source import SourceReadError, read_source, refuse_unlike_source
from carbonc.syntax import parse


def _is_local(target: str) -> bool:
    return target.startswith((".", "/")) or target.endswith(".carbon")


def _stdlib_names(ctx: Context) -> list[str]:
    return sorted(p.stem for p in ctx.stdlib.glob("*.carbon"))


def _locate(use: ir.Use, importer: str, ctx: Context) -> Path | None:
    """Return the file `use` names, or None (after reporting why)."""
    target = use.target.value
    path = ctx.sources[importer].path
    if _is_local(target):
        base = Path(ctx.sources[importer].file or importer).parent
        candidate = (base / target)
        if candidate.suffix != ".carbon":
            candidate = candidate.with_name(candidate.name + ".carbon")
        if candidate.is_file():
            try:
                refuse_unlike_source(candidate, target)  # a link to a credentials file is not a module
            except SourceReadError as err:
                ctx.report(err.code, err.message, path, use.target.span, help=err.help)
                return None
            return candidate.resolve()
        ctx.report(Code.UNKNOWN_MODULE, f"no module file `{target}`", path, use.target.span,
                   label="not found", help=f"looked for `{candidate}`")
        return None
    candidate = ctx.stdlib / f"{target}.carbon"
    if candidate.is_file():
        return candidate.resolve()
    ctx.report(Code.UNKNOWN_MODULE, f"unknown module `{target}`", path, use.target.span,
               label="not in the standard library",
               help=did_you_mean(target, _stdlib_names(ctx))
               or "stdlib modules: " + ", ".join(f"`{n}`" for n in _stdlib_names(ctx)))
    return None


def load_imports(program: Program, ctx: Context) -> Program:
    """Load every module reachable through `use` from the root, depth first.

    >>> # use "faults" in the root loads <stdlib>/faults.carbon and whatever it uses
    """
    modules = dict(program.modules)
    imports: dict[str, tuple[str, ...]] = {}
    visiting: list[str] = []

    def visit(key: str) -> None:
        visiting.append(key)
        module = modules[key]
        seen: dict[str, ir.Use] = {}
        targets: list[str] = []
        for use in module.uses:
            found = _locate(use, key, ctx)
            if found is None:
                continue
            dep = str(found)
            if dep in seen:
                ctx.report(Code.DUPLICATE_USE, f"module `{use.target.value}` is used twice", module.path, use.span,
                           label="already used above", help="remove this line", severity="warning")
                continue
            seen[dep] = use
            if dep in visiting:
                cycle = [*visiting[visiting.index(dep):], dep]
                chain = " -> ".join(modules[k].path for k in cycle)
                ctx.report(Code.IMPORT_CYCLE, f"import cycle: {chain}", module.path, use.span,
                           label="this use closes the cycle", help="move what both modules need into a third one")
                continue
            targets.append(dep)
            if dep not in modules:
                try:
                    source = read_source(found)
                except SourceReadError as err:
                    ctx.report(err.code, err.message, module.path, use.target.span, help=err.help)
                    continue
                ctx.sources[dep] = source
                result = parse(source)
                ctx.diagnostics.extend(result.diagnostics)
                if result.module is None:
                    continue
                modules[dep] = result.module
                visit(dep)
        imports[key] = tuple(targets)
        visiting.pop()

    visit(program.root)
    for key in modules:
        imports.setdefault(key, ())
    return Program(root=program.root, modules=modules, imports=imports)
