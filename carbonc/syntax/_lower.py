"""Lowers Lark's parse tree to IR nodes (`carbonc.ir.nodes`), checking literal well-formedness."""

from __future__ import annotations

from typing import Any

import lark
from lark import Token, Tree

from carbonc.diagnostics import Diagnostic
from carbonc.domain.units import MAX_INT, duration_ms, to_minor
from carbonc.ir import nodes as ir
from carbonc.source import Span

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def token_span(tok: Token) -> Span:
    return Span(tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)


#: The span of a node with no tokens at all (an empty file).
_NOWHERE = Span(0, 0, 1, 1, 1, 1)


def meta_span(meta: Span) -> Span:
    """A rule method's `meta` is already its node's span (see `Lower._walk`)."""
    return meta


def _join(a: Span, b: Span) -> Span:
    return Span(a.start, b.end, a.line, a.col, b.end_line, b.end_col)


def _span_of(node: Any) -> Span:
    return node.span if isinstance(node, ir.Node) else token_span(node)


class Lower:
    """Tree → IR, bottom up: each rule's method gets the node's span (as `meta`) and its
    children already lowered, without punctuation and keywords (tokens named `_…`). Literal
    problems (huge integers, bad escapes) go to `diagnostics`.

    A plain recursive walk rather than `lark.Transformer` (which builds a wrapper object per
    node), computing each node's span from its first and last token as it goes.
    """

    def __init__(self, path: str):
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self._rules: dict[str, Any] = {}

    def transform(self, tree: Tree) -> Any:
        return self._walk(tree)[0]

    def _walk(self, tree: Tree) -> tuple[Any, Token | None, Token | None]:
        first = last = None
        children: list[Any] = []
        for child in tree.children:
            if isinstance(child, Tree):
                value, head, tail = self._walk(child)
                children.append(value)
                if head is not None:
                    first = first or head
                    last = tail
            else:
                first = first or child
                last = child
                if child.type[0] != "_":
                    children.append(child)
        span = _NOWHERE if first is None else Span(
            first.start_pos, last.end_pos, first.line, first.column, last.end_line, last.end_column)
        rule = self._rules.get(tree.data)
        if rule is None:
            rule = self._rules[tree.data] = getattr(self, tree.data)
        return rule(span, children), first, last

    def atom(self, meta, children):
        # `( expr )`: the parentheses only group; the tree keeps the grouping.
        return children[0]

    def _error(self, code: str, message: str, span: Span, label: str | None = None, help: str | None = None) -> None:
        self.diagnostics.append(
            Diagnostic(code=code, message=message, path=self.path, span=span, label=label, help=help)
        )

    def _ident(self, tok: Token) -> ir.Ident:
        return ir.Ident(span=token_span(tok), name=str(tok))

    def _string(self, tok: Token) -> ir.StringLit:
        return ir.StringLit(span=token_span(tok), value=self._unescape(tok), text=str(tok))

    def _unescape(self, tok: Token) -> str:
        body = str(tok)[1:-1]
        if "\\" not in body:
            return body
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u" and len(body) >= i + 6 and all(c in "0123456789abcdefABCDEF" for c in body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            else:
                start = tok.start_pos + 1 + i
                self._error(
                    "C0107", f"unknown escape `\\{nxt}` in string",
                    Span(start, start + 2, tok.line, tok.column + 1 + i, tok.line, tok.column + 3 + i),
                    help='use one of `\\"`, `\\\\`, `\\n`, `\\t`, `\\r` or `\\uXXXX`',
                )
                out.append(nxt)
                i += 2
        return "".join(out)

    # ------------------------------------------------------------ module level

    def start(self, meta, children):
        return list(children)

    def use_decl(self, meta, children):
        return ir.Use(span=meta_span(meta), target=self._string(children[0]))

    def profile_decl(self, meta, children):
        return ir.Profile(span=meta_span(meta), name=self._ident(children[0]), items=tuple(children[1:]))

    def mix_decl(self, meta, children):
        return ir.Mix(span=meta_span(meta), name=self._ident(children[0]), outcomes=children[1])

    def ladder_decl(self, meta, children):
        return ir.Ladder(span=meta_span(meta), name=self._ident(children[0]), steps=children[1])

    def scenario(self, meta, children):
        name = self._ident(children[0])
        rest = list(children[1:])
        extends = None
        if rest and isinstance(rest[0], Token):
            extends = self._ident(rest.pop(0))
        items: dict[str, list[Any]] = {k: [] for k in ("about", "category", "tags", "param", "seed", "phase", "deliver", "check", "oracle")}
        for item in rest:
            kind, value = item
            items[kind].append(value)
        return _ScenarioParts(meta_span(meta), name, extends, items)

    def about(self, meta, children):
        return ("about", (meta_span(meta), self._string(children[0])))

    def category(self, meta, children):
        return ("category", (meta_span(meta), self._ident(children[0])))

    def tags(self, meta, children):
        return ("tags", (meta_span(meta), tuple(self._ident(t) for t in children)))

    def param(self, meta, children):
        desc = self._string(children[2]) if len(children) > 2 else None
        return ("param", ir.Param(span=meta_span(meta), name=self._ident(children[0]), default=children[1], description=desc))

    def seed(self, meta, children):
        return ("seed", (meta_span(meta), self.int_lit(meta, children)))

    def phase(self, meta, children):
        name = self._ident(children[0])
        after = tuple(self._ident(c) for c in children[1:] if isinstance(c, Token))
        actions = tuple(c for c in children[1:] if isinstance(c, ir.Action))
        return ("phase", ir.Phase(span=meta_span(meta), name=name, after=after, actions=actions))

    # ------------------------------------------------------------ statements

    def action(self, meta, children):
        verb = str(children[0])
        target = self._ident(children[1]) if isinstance(children[1], Token) else children[1]
        clauses = tuple(c for c in children[2:] if not isinstance(c, ir.Outcomes))
        outcomes = next((c for c in children[2:] if isinstance(c, ir.Outcomes)), None)
        return ir.Action(span=meta_span(meta), verb=verb, target=target, clauses=clauses, outcomes=outcomes)  # type: ignore[arg-type]

    def count_clause(self, meta, children):
        return ir.CountClause(span=meta_span(meta), value=children[0])

    def amount_clause(self, meta, children):
        return ir.AmountClause(span=meta_span(meta), amount=children[0])

    def method_clause(self, meta, children):
        return ir.MethodClause(span=meta_span(meta), method=self._ident(children[0]))

    def reason_clause(self, meta, children):
        return ir.ReasonClause(span=meta_span(meta), value=children[0])

    def code_clause(self, meta, children):
        return ir.CodeClause(span=meta_span(meta), value=children[0])

    def after_clause(self, meta, children):
        return ir.AfterClause(span=meta_span(meta), value=children[0])

    def over_clause(self, meta, children):
        return ir.OverClause(span=meta_span(meta), value=children[0])

    def with_clause(self, meta, children):
        return ir.WithClause(span=meta_span(meta), mix=self._ident(children[0]))

    def then_clause(self, meta, children):
        return ir.ThenClause(span=meta_span(meta), outcomes=children[0])

    def amount_fixed(self, meta, children):
        return ir.AmountFixed(span=meta_span(meta), value=children[0])

    def amount_range(self, meta, children):
        return ir.AmountRange(span=meta_span(meta), low=children[0], high=children[2])

    def amount_full(self, meta, children):
        return ir.AmountFull(span=meta_span(meta))

    def amount_partial(self, meta, children):
        return ir.AmountPartial(span=meta_span(meta), value=children[0])

    def symbol(self, meta, children):
        tok = children[0]
        return self._string(tok) if tok.type == "STRING" else self._ident(tok)

    def outcomes(self, meta, children):
        return ir.Outcomes(span=meta_span(meta), items=tuple(children))

    def outcome(self, meta, children):
        return ir.Outcome(span=meta_span(meta), name=self._ident(children[0]), share=children[1], clauses=tuple(children[2:]))

    def rest(self, meta, children):
        return ir.Rest(span=token_span(children[0]))

    def selection(self, meta, children):
        first = children[0]
        if isinstance(first, Token) and first.type in ("EACH", "ALL"):
            mode, quantity, rest = first.lower(), None, children[1:]
        elif isinstance(first, Token) and first.type == "FIRST":
            mode, quantity, rest = "first", children[1], children[2:]
        else:
            mode, quantity, rest = "share", first, children[1:]
        state, kind = rest[0]
        where = rest[1] if len(rest) > 1 else None
        return ir.Selection(span=meta_span(meta), mode=mode, quantity=quantity, state=state, kind=kind, where=where)

    def entity_ref(self, meta, children):
        if len(children) == 2:
            return (self._ident(children[0]), self._ident(children[1]))
        return (None, self._ident(children[0]))

    def where(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ delivery

    def deliver(self, meta, children):
        target = None
        items = list(children)
        if items and isinstance(items[0], (ir.Ident, ir.StringLit)):
            target = items.pop(0)
        return ("deliver", ir.Deliver(span=meta_span(meta), target=target, items=tuple(items)))

    def target(self, meta, children):
        tok = children[0]
        return self._string(tok) if tok.type == "STRING" else self._ident(tok)

    def order_item(self, meta, children):
        return ir.OrderItem(span=meta_span(meta), mode=self._ident(children[0]), within=children[1] if len(children) > 1 else None)

    def repeat_item(self, meta, children):
        return ir.RepeatItem(span=meta_span(meta), value=children[0])

    def delay_item(self, meta, children):
        return ir.DelayItem(span=meta_span(meta), delay=children[0], jitter=children[1] if len(children) > 1 else None)

    def drop_item(self, meta, children):
        return ir.DropItem(span=meta_span(meta), value=children[0])

    def signature_item(self, meta, children):
        return ir.SignatureItem(span=meta_span(meta), mode=self._ident(children[0]), share=children[1] if len(children) > 1 else None)

    def retry_item(self, meta, children):
        ladder = children[0]
        return ir.RetryItem(span=meta_span(meta), ladder=self._ident(ladder) if isinstance(ladder, Token) else ladder)

    def fail_item(self, meta, children):
        return ir.FailItem(span=meta_span(meta), statuses=tuple(self._ident(t) for t in children))

    def verdict_item(self, meta, children):
        return ir.VerdictItem(span=meta_span(meta), mode=self._ident(children[0]), verdict=self._ident(children[1]))

    def timeout_item(self, meta, children):
        return ir.TimeoutItem(span=meta_span(meta), value=children[0])

    def include_item(self, meta, children):
        return ir.IncludeItem(span=meta_span(meta), profile=self._ident(children[0]))

    # ------------------------------------------------------------ checks

    def expect(self, meta, children):
        return ("check", ir.Expect(span=meta_span(meta), condition=children[0], severity=children[1] if len(children) > 1 else None))

    def finding(self, meta, children):
        sev = children[2] if len(children) > 2 else None
        return ("check", ir.Finding(span=meta_span(meta), condition=children[0], message=self._string(children[1]), severity=sev))

    def probe(self, meta, children):
        method, url, target, *rest = children
        selection = target if isinstance(target, ir.Selection) else None  # else the `once` token
        sev = rest.pop() if rest and isinstance(rest[-1], ir.Ident) else None
        expects = tuple(value for kind, value in rest if kind == "expect")
        headers = tuple(value for kind, value in rest if kind == "header")
        bodies = [value for kind, value in rest if kind == "body"]
        windows = [value for kind, value in rest if kind == "eventually"]
        for what, found in (("body", bodies), ("eventually", windows)):
            for extra in found[1:]:
                self.diagnostics.append(Diagnostic(
                    code="C0313", message=f"`{what}` is set twice in this probe", path=self.path,
                    span=_span_of(extra), label="second setting", help=f"keep one `{what}` line"))
        return ("check", ir.Probe(span=meta_span(meta), method=str(method), url=self._string(url),
                                  selection=selection, expects=expects, severity=sev, headers=headers,
                                  body=bodies[0] if bodies else None, eventually=windows[0] if windows else None))

    def probe_expect(self, meta, children):
        return ("expect", children[0])

    def probe_header(self, meta, children):
        return ("header", ir.ProbeHeader(span=meta_span(meta), name=self._string(children[0]),
                                         value=self._string(children[1])))

    def probe_body(self, meta, children):
        return ("body", self._string(children[0]))

    def probe_eventually(self, meta, children):
        return ("eventually", children[0])

    def oracle_use(self, meta, children):
        return ("oracle", self._ident(children[0]))

    def map_decl(self, meta, children):
        return ir.Map(span=meta_span(meta), name=self._ident(children[0]), entries=tuple(children[1:]))

    def map_entry(self, meta, children):
        key, value = children
        key_node = self._ident(key) if key.type == "NAME" else self._string(key)
        return ir.MapEntry(span=meta_span(meta), key=key_node, value=value)

    def oracle_decl(self, meta, children):
        return ir.Oracle(span=meta_span(meta), name=self._ident(children[0]),
                         probes=tuple(probe for _, probe in children[1:]))

    def severity(self, meta, children):
        return self._ident(children[0])

    # ------------------------------------------------------------ expressions

    def binary(self, meta, children):
        left, op, right = children
        return ir.Binary(span=_join(_span_of(left), _span_of(right)), op=str(op), left=left, right=right)  # type: ignore[arg-type]

    def unary(self, meta, children):
        op, operand = children
        return ir.Unary(span=_join(token_span(op), _span_of(operand)), op=str(op), operand=operand)  # type: ignore[arg-type]

    def int_lit(self, meta, children):
        tok = children[0]
        value = _int_value(str(tok))
        if value is None:
            self._error(
                "C0106", "integer literal is too large", token_span(tok),
                label=f"more than {MAX_INT:,}", help="integers are 64-bit; use a smaller value",
            )
            value = MAX_INT
        return ir.IntLit(span=token_span(tok), value=value, text=str(tok))

    def decimal_lit(self, meta, children):
        return ir.DecimalLit(span=token_span(children[0]), text=str(children[0]))

    def percent_lit(self, meta, children):
        return ir.PercentLit(span=token_span(children[0]), text=str(children[0]))

    def money_lit(self, meta, children):
        tok = children[0]
        currency, amount = str(tok).split(None, 1)
        if _int_value(amount.split(".")[0]) is None or to_minor(amount, currency) > MAX_INT:
            self._error(
                "C0106", "amount is too large", token_span(tok),
                label=f"more than {MAX_INT:,} minor units", help="amounts are 64-bit; use a smaller value",
            )
        return ir.MoneyLit(span=token_span(tok), currency=currency, amount=amount)

    def duration_lit(self, meta, children):
        tok = children[0]
        ms = duration_ms(str(tok)) if _int_value(str(tok).rstrip("mshd")) is not None else MAX_INT + 1
        if ms > MAX_INT:
            self._error("C0106", "duration is too large", token_span(tok), help="use a smaller duration")
            ms = MAX_INT
        return ir.DurationLit(span=token_span(tok), text=str(tok), ms=ms)

    def bool_lit(self, meta, children):
        return ir.BoolLit(span=token_span(children[0]), value=str(children[0]) == "true")

    def string_lit(self, meta, children):
        return self._string(children[0])

    def name(self, meta, children):
        return ir.Name(span=meta_span(meta), parts=tuple(str(c) for c in children))

    def call(self, meta, children):
        return ir.Call(span=meta_span(meta), func=self._ident(children[0]), args=tuple(children[1:]))

    def list(self, meta, children):
        return ir.ListLit(span=meta_span(meta), items=tuple(children))


def _int_value(digits: str) -> int | None:
    """The integer `1_000`-style `digits` denote, or None above MAX_INT. Length is checked
    first: Python refuses to convert more than 4,300 digits, and a 2 MB literal is slow."""
    digits = digits.replace("_", "").lstrip("0") or "0"
    if len(digits) > len(str(MAX_INT)):
        return None
    value = int(digits)
    return value if value <= MAX_INT else None


class _ScenarioParts:
    """A scenario's items gathered by kind, turned into ir.Scenario by `lower`."""

    def __init__(self, span: Span, name: ir.Ident, extends: ir.Ident | None, items: dict[str, list[Any]]):
        self.span, self.name, self.extends, self.items = span, name, extends, items


def lower(tree: lark.Tree, path: str) -> tuple[ir.Module, list[Diagnostic]]:
    """Return the IR module for `tree` and any literal diagnostics."""
    lowerer = Lower(path)
    decls_raw, first, last = lowerer._walk(tree)
    diagnostics = lowerer.diagnostics
    decls: list[ir.Decl] = []
    for d in decls_raw:
        if isinstance(d, _ScenarioParts):
            decls.append(_scenario(d, path, diagnostics))
        else:
            decls.append(d)
    span = _NOWHERE if first is None or last is None else Span(
        first.start_pos, last.end_pos, first.line, first.column, last.end_line, last.end_column)
    return ir.Module(span=span, path=path, decls=tuple(decls)), diagnostics


def _single(items: list[Any], what: str, path: str, diagnostics: list[Diagnostic]) -> Any:
    """The one `about`/`category`/`seed` of a scenario; a second one is reported."""
    for span, _ in items[1:]:
        diagnostics.append(Diagnostic(
            code="C0313", message=f"`{what}` is set twice in this scenario", path=path, span=span,
            label="second setting", help=f"keep one `{what}` line",
        ))
    return items[0][1] if items else None


def _scenario(p: _ScenarioParts, path: str, diagnostics: list[Diagnostic]) -> ir.Scenario:
    it = p.items
    tags: tuple[ir.Ident, ...] = tuple(t for _, group in it["tags"] for t in group)
    return ir.Scenario(
        span=p.span, name=p.name, extends=p.extends,
        about=_single(it["about"], "about", path, diagnostics),
        category=_single(it["category"], "category", path, diagnostics),
        tags=tags,
        params=tuple(it["param"]),
        seed=_single(it["seed"], "seed", path, diagnostics),
        phases=tuple(it["phase"]),
        delivers=tuple(it["deliver"]),
        checks=tuple(it["check"]),
        oracles=tuple(it["oracle"]),
    )
