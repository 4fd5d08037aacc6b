"""Lays out a module in canonical form: two-space indents, one item per line, fixed item order
within a scenario, aligned parameters, short outcome mixes inline. Comments stay next to the
item they were written next to; blank lines between items are kept (at most one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from carbonc.fmt._exprs import deliver_item_text, selection_text, simple_clause_text
from carbonc.ir import nodes as ir
from carbonc.ir.text import expr_text
from carbonc.source import Source

#: Lines longer than this put outcome mixes on lines of their own.
MAX_WIDTH = 88
_INDENT = "  "


class Printer:
    """Accumulates output lines; places the source's comments as it goes."""

    def __init__(self, source: Source, comments: Sequence[ir.Comment]):
        self.source = source
        self.lines: list[str] = []
        self.comments = sorted(comments, key=lambda c: c.span.start)
        self.next_comment = 0
        #: Indexes of the lines that end in `{` (perhaps followed by comments).
        self.openers: set[int] = set()

    # ------------------------------------------------------------ comments and blank lines

    def _blank_before(self, offset: int) -> bool:
        """Whether what starts at `offset` begins its source line, below an empty line."""
        text = self.source.text
        line_start = text.rfind("\n", 0, offset) + 1
        if line_start == 0 or text[line_start:offset].strip():
            return False
        prev_start = text.rfind("\n", 0, line_start - 1) + 1
        return text[prev_start:line_start - 1].strip() == ""

    def blank(self) -> None:
        """Separate what follows by an empty line, unless it opens a block or follows one."""
        if self.lines and self.lines[-1] != "" and len(self.lines) - 1 not in self.openers:
            self.lines.append("")

    def leading(self, before: int, depth: int) -> None:
        """Emit, on lines of their own, comments that start before offset `before`."""
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].span.start < before:
            comment = self.comments[self.next_comment]
            self.next_comment += 1
            if self._blank_before(comment.span.start):
                self.blank()
            # Only the first line moves: later lines of a block comment are its text, kept as
            # written (their indentation may be a list or a drawing).
            first, *rest = comment.text.split("\n")
            self.lines.append(_INDENT * depth + first.rstrip())
            self.lines += [part.rstrip() for part in rest]

    def trailing(self, node_end: int) -> None:
        """Append to the last line the comments that follow `node_end` on the same source line
        with nothing but commas and closing brackets before them (a node's span ends at its last
        operand, before the parentheses around it; a comment after the next item is that item's)."""
        text = self.source.text
        pos = node_end
        while self.next_comment < len(self.comments):
            comment = self.comments[self.next_comment]
            gap = text[pos:comment.span.start]
            if comment.span.start < pos or gap.strip(" \t\r,)]") or "\n" in gap or "\n" in comment.text:
                break
            self.next_comment += 1
            self.lines[-1] += "  " + comment.text.rstrip()
            pos = comment.span.end

    def has_comments(self, start: int, end: int) -> bool:
        return any(start <= c.span.start < end for c in self.comments[self.next_comment:])

    def item(self, node: ir.Node, text: str, depth: int, start: int | None = None, end: int | None = None) -> None:
        """Emit a one-line item, with its leading and trailing comments; `start` and `end` are
        where the item's text begins and ends when `node` does not cover it (the keyword of
        `about "…"`, the later names of `tags a, b`)."""
        end = node.span.end if end is None else end
        self.begin(node.span.start if start is None else start, depth)
        self.leading(end, depth)  # comments inside a one-line item go above it
        self.lines.append(_INDENT * depth + text)
        self.trailing(end)

    def begin(self, start: int, depth: int) -> None:
        """Emit the comments before an item starting at `start`, then the empty line that
        separates it from them or from the item before, if the source has one."""
        self.leading(start, depth)
        if self._blank_before(start):
            self.blank()

    def _keyword(self, keyword: str, value: ir.Node) -> int:
        """Where the `keyword` written before `value` starts (the IR keeps only the value)."""
        text = self.source.text
        pos = value.span.start
        while (pos := text.rfind(keyword, 0, pos)) > 0:
            if not any(c.span.start <= pos < c.span.end for c in self.comments):
                break
        return max(pos, 0)

    def open_block(self, node: ir.Node, header: str, depth: int, first_child: int | None) -> None:
        """Emit `header {` for a block node; comments on the header's line trail it."""
        self.begin(node.span.start, depth)
        self.openers.add(len(self.lines))
        self.lines.append(_INDENT * depth + header + " {")
        self.trailing_until(node.span.start, first_child if first_child is not None else node.span.end)

    def trailing_until(self, anchor: int, limit: int) -> None:
        """Append to the last line the one-line comments before `limit` that are on the source
        line of offset `anchor`."""
        text = self.source.text
        line_start = text.rfind("\n", 0, anchor) + 1
        line_end = text.find("\n", anchor)
        limit = min(limit, len(text) if line_end < 0 else line_end)
        while self.next_comment < len(self.comments):
            comment = self.comments[self.next_comment]
            if not line_start <= comment.span.start < limit or "\n" in comment.text:
                break
            self.next_comment += 1
            self.lines[-1] += "  " + comment.text.rstrip()

    def close_block(self, node: ir.Node, depth: int, suffix: str = "") -> None:
        self.leading(node.span.end - 1, depth + 1)
        self.lines.append(_INDENT * depth + "}" + suffix)
        self.trailing(node.span.end)

    # ------------------------------------------------------------ declarations

    def module(self, module: ir.Module) -> str:
        previous: ir.Decl | None = None
        for decl in module.decls:
            if previous is not None and not (isinstance(previous, ir.Use) and isinstance(decl, ir.Use)):
                self.blank()
            self.decl(decl)
            previous = decl
        self.leading(len(self.source.text) + 1, 0)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def decl(self, decl: ir.Decl) -> None:
        match decl:
            case ir.Use(target=t):
                self.item(decl, f"use {t.text}", 0)
            case ir.Ladder(name=n, steps=steps):
                self.item(decl, f"ladder {n.name} {expr_text(steps)}", 0)
            case ir.Mix(name=n, outcomes=outcomes):
                self.open_block(decl, f"mix {n.name}", 0, _first(outcomes.items))
                for outcome in outcomes.items:
                    self.outcome(outcome, 1)
                self.close_block(decl, 0)
            case ir.Profile(name=n, items=items):
                self.open_block(decl, f"profile {n.name}", 0, _first(items))
                for item in items:
                    self.item(item, deliver_item_text(item), 1)
                self.close_block(decl, 0)
            case ir.Scenario():
                self.scenario(decl)
            case ir.Map(name=n, entries=entries):
                self.open_block(decl, f"map {n.name}", 0, _first(entries))
                for entry in entries:
                    key = entry.key.name if isinstance(entry.key, ir.Ident) else entry.key.text
                    self.item(entry, f"{key} {expr_text(entry.value)}", 1)
                self.close_block(decl, 0)
            case ir.Oracle(name=n, probes=probes):
                self.open_block(decl, f"oracle {n.name}", 0, _first(probes))
                for probe in probes:
                    self.probe(probe, 1, f" severity {probe.severity.name}" if probe.severity else "")
                self.close_block(decl, 0)
            case _:
                assert_never(decl)

    def scenario(self, sc: ir.Scenario) -> None:
        header = f"scenario {sc.name.name}" + (f" extends {sc.extends.name}" if sc.extends else "")
        children: list[ir.Node] = [n for n in (sc.about, sc.category, sc.seed) if n is not None]
        children += [*sc.tags, *sc.params, *sc.phases, *sc.delivers, *sc.oracles, *sc.checks]
        self.open_block(sc, header, 0, min((c.span.start for c in children), default=None))
        if sc.about:
            self.item(sc.about, f"about {sc.about.text}", 1, self._keyword("about", sc.about))
        if sc.category:
            self.item(sc.category, f"category {sc.category.name}", 1, self._keyword("category", sc.category))
        if sc.tags:
            self.item(sc.tags[0], "tags " + ", ".join(t.name for t in sc.tags), 1,
                      self._keyword("tags", sc.tags[0]), sc.tags[-1].span.end)
        groups: list[Sequence[ir.Node]] = [sc.params, sc.phases, sc.delivers, sc.checks]
        if sc.params or sc.seed:
            self.blank()
            self.params(sc.params)
            if sc.seed is not None:
                self.item(sc.seed, f"seed {sc.seed.text}", 1, self._keyword("seed", sc.seed))
        for phase in sc.phases:
            self.blank()
            self.phase(phase)
        for deliver in sc.delivers:
            self.blank()
            self.deliver(deliver)
        if sc.oracles or sc.checks:
            self.blank()
            for check in sc.checks:
                self.check(check)
            for oracle in sc.oracles:
                self.item(oracle, f"use {oracle.name}", 1, self._keyword("use", oracle))
        del groups
        self.close_block(sc, 0)

    def params(self, params: Sequence[ir.Param]) -> None:
        if not params:
            return
        name_w = max(len(p.name.name) for p in params)
        value_w = max(len(expr_text(p.default)) for p in params)
        for p in params:
            text = f"param {p.name.name:<{name_w}} = "
            value = expr_text(p.default)
            text += f"{value:<{value_w}}  {p.description.text}" if p.description else value
            self.item(p, text.rstrip(), 1)

    def phase(self, phase: ir.Phase) -> None:
        header = f"phase {phase.name.name}"
        if phase.after:
            header += " after " + ", ".join(a.name for a in phase.after)
        self.open_block(phase, header, 1, _first(phase.actions))
        for action in phase.actions:
            self.action(action, 2)
        self.close_block(phase, 1)

    # ------------------------------------------------------------ actions and mixes

    def action(self, action: ir.Action, depth: int) -> None:
        target = action.target.name if isinstance(action.target, ir.Ident) else selection_text(action.target)
        parts = [f"{action.verb} {target}"]
        self.clauses(action, parts, action.clauses, action.outcomes, depth)

    def outcome(self, outcome: ir.Outcome, depth: int) -> None:
        parts = [f"{outcome.name.name} {expr_text(outcome.share)}"]
        self.clauses(outcome, parts, outcome.clauses, None, depth)

    def clauses(self, node: ir.Node, parts: list[str], clauses: Sequence[ir.Clause],
                block: ir.Outcomes | None, depth: int) -> None:
        """Emit `parts` followed by clauses; outcome blocks go inline when short and comment-free."""
        pieces: list[str | ir.Outcomes] = list(parts)
        for clause in clauses:
            if isinstance(clause, ir.ThenClause):
                pieces += ["then", clause.outcomes]
            else:
                pieces.append(simple_clause_text(clause))
        if block is not None:
            pieces.append(block)
        blocks = [p for p in pieces if isinstance(p, ir.Outcomes)]
        inline = " ".join(p if isinstance(p, str) else _inline(p) for p in pieces)
        fits = len(_INDENT * depth + inline) <= MAX_WIDTH
        nested = any(isinstance(c, ir.ThenClause) for b in blocks for o in b.items for c in o.clauses)
        commented = any(self.has_comments(b.span.start, b.span.end) for b in blocks)
        if not blocks or (fits and not nested and not commented):
            self.item(node, inline, depth)
            return
        self.begin(node.span.start, depth)
        self.leading(blocks[0].span.start, depth)
        line: list[str] = []
        opened = False
        for piece in pieces:
            if isinstance(piece, str):
                line.append(piece)
                continue
            prefix = " ".join(line)
            text = (prefix + " {") if prefix else "{"
            if opened:
                self.lines[-1] += " " + text
            else:
                self.lines.append(_INDENT * depth + text)
            opened = True
            self.openers.add(len(self.lines) - 1)
            self.trailing_until(piece.span.start, _first(piece.items) or piece.span.end)
            for outcome in piece.items:
                self.outcome(outcome, depth + 1)
            self.leading(piece.span.end - 1, depth + 1)
            self.lines.append(_INDENT * depth + "}")
            line = []
        if line:
            self.lines[-1] += " " + " ".join(line)
        self.trailing(node.span.end)

    # ------------------------------------------------------------ delivery and checks

    def deliver(self, deliver: ir.Deliver) -> None:
        header = "deliver"
        if deliver.target is not None:
            target = deliver.target.name if isinstance(deliver.target, ir.Ident) else deliver.target.text
            header += f" for {target}"
        self.open_block(deliver, header, 1, _first(deliver.items))
        for item in deliver.items:
            self.item(item, deliver_item_text(item), 2)
        self.close_block(deliver, 1)

    def check(self, check: ir.Check) -> None:
        severity = f" severity {check.severity.name}" if check.severity else ""
        match check:
            case ir.Expect(condition=c):
                self.item(check, f"expect {expr_text(c)}{severity}", 1)
            case ir.Finding(condition=c, message=m):
                self.item(check, f"finding when {expr_text(c)} {m.text}{severity}", 1)
            case ir.Probe():
                self.probe(check, 1, severity)
            case _:
                assert_never(check)

    def probe(self, probe: ir.Probe, depth: int, severity: str) -> None:
        """A probe's block: headers, body and window first, then its expectations."""
        target = "once" if probe.selection is None else f"for {selection_text(probe.selection)}"
        items: list[tuple[ir.Node, str, int | None]] = []
        for h in probe.headers:
            items.append((h, f"header {h.name.text} {h.value.text}", None))
        if probe.body is not None:
            items.append((probe.body, f"body {probe.body.text}", self._keyword("body", probe.body)))
        if probe.eventually is not None:
            items.append((probe.eventually, f"eventually within {expr_text(probe.eventually)}",
                          self._keyword("eventually", probe.eventually)))
        items += [(e, f"expect {expr_text(e)}", self._keyword("expect", e)) for e in probe.expects]
        self.open_block(probe, f"probe {probe.method} {probe.url.text} {target}", depth,
                        min((n.span.start if start is None else start for n, _, start in items), default=None))
        for node, text, start in items:
            self.item(node, text, depth + 1, start)
        self.close_block(probe, depth, severity)


def _first(nodes: Sequence[ir.Node]) -> int | None:
    return nodes[0].span.start if nodes else None


def _inline(block: ir.Outcomes) -> str:
    if not block.items:
        return "{}"
    return "{ " + ", ".join(_outcome_inline(o) for o in block.items) + " }"


def _outcome_inline(outcome: ir.Outcome) -> str:
    parts = [f"{outcome.name.name} {expr_text(outcome.share)}"]
    for clause in outcome.clauses:
        if isinstance(clause, ir.ThenClause):
            parts += ["then", _inline(clause.outcomes)]
        else:
            parts.append(simple_clause_text(clause))
    return " ".join(parts)
