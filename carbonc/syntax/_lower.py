"""Lowers Lark's parse tree to IR nodes (`carbonc.ir.nodes`), checking literal well-formedness."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, get_args

from lark import Token, Tree

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.domain.units import MAX_INT, duration_ms, to_minor
from carbonc.ir import nodes as ir
from carbonc.source import Span

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}

#: What a rule's method gets for each child: a token, or what the child's rule method returned.
#: Which one sits at each position only the grammar says, so each method reads its children as
#: the grammar lays them out.
Child = Any
#: A scenario or probe item, tagged with its kind (`("param", ir.Param(...))`) for its block
#: to sort out.
_Item = tuple[str, Child]
_Rule = Callable[[Span, Sequence[Child]], Child]

#: The grammar's verb, operator and HTTP method tokens as the IR's `Literal` types; a token
#: the IR has no name for fails here rather than making a node of a kind mypy does not know.
_VERBS: dict[str, ir.Verb] = {verb: verb for verb in get_args(ir.Verb)}
_BINARY_OPS: dict[str, ir.BinaryOp] = {op: op for op in get_args(ir.BinaryOp)}
_UNARY_OPS: dict[str, ir.UnaryOp] = {op: op for op in get_args(ir.UnaryOp)}
_HTTP_METHODS: dict[str, ir.HttpMethod] = {method: method for method in get_args(ir.HttpMethod)}


def token_span(tok: Token) -> Span:
    """Where `tok` is in the text."""
    return _between(tok, tok)


def _between(first: Token, last: Token) -> Span:
    """From the start of `first` to the end of `last`."""
    start, line, col = first.start_pos, first.line, first.column
    end, end_line, end_col = last.end_pos, last.end_line, last.end_column
    # Lark types positions as optional for tokens made by hand; the lexer's always have them.
    assert start is not None and line is not None and col is not None
    assert end is not None and end_line is not None and end_col is not None
    return Span(start, end, line, col, end_line, end_col)


#: The span of a node with no tokens at all (an empty file).
_NOWHERE = Span(0, 0, 1, 1, 1, 1)


def _join(a: Span, b: Span) -> Span:
    return Span(a.start, b.end, a.line, a.col, b.end_line, b.end_col)


def _span_of(node: ir.Node | Token) -> Span:
    return node.span if isinstance(node, ir.Node) else token_span(node)


class Lower:
    """Tree → IR, bottom up: each rule's method gets the node's `span` and its children
    already lowered, without punctuation and keywords (tokens named `_…`). Literal problems
    (huge integers, bad escapes) go to `diagnostics`.

    A plain recursive walk rather than `lark.Transformer` (which builds a wrapper object per
    node), computing each node's span from its first and last token as it goes.
    """

    def __init__(self, path: str):
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self._rules: dict[str, _Rule] = {}

    def walk(self, tree: Tree[Token]) -> tuple[Child, Token | None, Token | None]:
        """Lower `tree`; return its value and its first and last tokens (None without any)."""
        first: Token | None = None
        last: Token | None = None
        children: list[Child] = []
        for child in tree.children:
            if isinstance(child, Tree):
                value, head, tail = self.walk(child)
                children.append(value)
                if head is not None:
                    first = first or head
                    last = tail
            else:
                first = first or child
                last = child
                if child.type[0] != "_":
                    children.append(child)
        span = _NOWHERE if first is None or last is None else _between(first, last)
        rule = self._rules.get(tree.data)
        if rule is None:
            rule = self._rules[tree.data] = getattr(self, tree.data)
        return rule(span, children), first, last

    def atom(self, span: Span, children: Sequence[Child]) -> Child:
        # `( expr )`: the parentheses only group; the tree keeps the grouping.
        return children[0]

    def _error(self, code: Code, message: str, span: Span, label: str | None = None, help: str | None = None) -> None:
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
                at = token_span(tok)
                start = at.start + 1 + i
                self._error(
                    Code.INVALID_ESCAPE, f"unknown escape `\\{nxt}` in string",
                    Span(start, start + 2, at.line, at.col + 1 + i, at.line, at.col + 3 + i),
                    help='use one of `\\"`, `\\\\`, `\\n`, `\\t`, `\\r` or `\\uXXXX`',
                )
                out.append(nxt)
                i += 2
        return "".join(out)

    # ------------------------------------------------------------ module level

    def start(self, span: Span, children: Sequence[Child]) -> list[Child]:
        return list(children)

    def use_decl(self, span: Span, children: Sequence[Child]) -> ir.Use:
        return ir.Use(span=span, target=self._string(children[0]))

    def profile_decl(self, span: Span, children: Sequence[Child]) -> ir.Profile:
        return ir.Profile(span=span, name=self._ident(children[0]), items=tuple(children[1:]))

    def mix_decl(self, span: Span, children: Sequence[Child]) -> ir.Mix:
        return ir.Mix(span=span, name=self._ident(children[0]), outcomes=children[1])

    def ladder_decl(self, span: Span, children: Sequence[Child]) -> ir.Ladder:
        return ir.Ladder(span=span, name=self._ident(children[0]), steps=children[1])

    def scenario(self, span: Span, children: Sequence[Child]) -> _ScenarioParts:
        name = self._ident(children[0])
        rest = list(children[1:])
        extends = None
        if rest and isinstance(rest[0], Token):
            extends = self._ident(rest.pop(0))
        kinds = ("about", "category", "tags", "param", "seed", "phase", "deliver", "check", "oracle")
        items: dict[str, list[Any]] = {k: [] for k in kinds}
        for item in rest:
            kind, value = item
            items[kind].append(value)
        return _ScenarioParts(span, name, extends, items)

    def about(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("about", (span, self._string(children[0])))

    def category(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("category", (span, self._ident(children[0])))

    def tags(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("tags", (span, tuple(self._ident(t) for t in children)))

    def param(self, span: Span, children: Sequence[Child]) -> _Item:
        desc = self._string(children[2]) if len(children) > 2 else None
        return ("param", ir.Param(span=span, name=self._ident(children[0]), default=children[1], description=desc))

    def seed(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("seed", (span, self.int_lit(span, children)))

    def phase(self, span: Span, children: Sequence[Child]) -> _Item:
        name = self._ident(children[0])
        after = tuple(self._ident(c) for c in children[1:] if isinstance(c, Token))
        actions = tuple(c for c in children[1:] if isinstance(c, ir.Action))
        return ("phase", ir.Phase(span=span, name=name, after=after, actions=actions))

    # ------------------------------------------------------------ statements

    def action(self, span: Span, children: Sequence[Child]) -> ir.Action:
        verb = _VERBS[str(children[0])]
        target = self._ident(children[1]) if isinstance(children[1], Token) else children[1]
        clauses = tuple(c for c in children[2:] if not isinstance(c, ir.Outcomes))
        outcomes = next((c for c in children[2:] if isinstance(c, ir.Outcomes)), None)
        return ir.Action(span=span, verb=verb, target=target, clauses=clauses, outcomes=outcomes)

    def count_clause(self, span: Span, children: Sequence[Child]) -> ir.CountClause:
        return ir.CountClause(span=span, value=children[0])

    def amount_clause(self, span: Span, children: Sequence[Child]) -> ir.AmountClause:
        return ir.AmountClause(span=span, amount=children[0])

    def method_clause(self, span: Span, children: Sequence[Child]) -> ir.MethodClause:
        return ir.MethodClause(span=span, method=self._ident(children[0]))

    def reason_clause(self, span: Span, children: Sequence[Child]) -> ir.ReasonClause:
        return ir.ReasonClause(span=span, value=children[0])

    def code_clause(self, span: Span, children: Sequence[Child]) -> ir.CodeClause:
        return ir.CodeClause(span=span, value=children[0])

    def after_clause(self, span: Span, children: Sequence[Child]) -> ir.AfterClause:
        return ir.AfterClause(span=span, value=children[0])

    def over_clause(self, span: Span, children: Sequence[Child]) -> ir.OverClause:
        return ir.OverClause(span=span, value=children[0])

    def with_clause(self, span: Span, children: Sequence[Child]) -> ir.WithClause:
        return ir.WithClause(span=span, mix=self._ident(children[0]))

    def then_clause(self, span: Span, children: Sequence[Child]) -> ir.ThenClause:
        return ir.ThenClause(span=span, outcomes=children[0])

    def amount_fixed(self, span: Span, children: Sequence[Child]) -> ir.AmountFixed:
        return ir.AmountFixed(span=span, value=children[0])

    def amount_range(self, span: Span, children: Sequence[Child]) -> ir.AmountRange:
        return ir.AmountRange(span=span, low=children[0], high=children[2])

    def amount_full(self, span: Span, children: Sequence[Child]) -> ir.AmountFull:
        return ir.AmountFull(span=span)

    def amount_partial(self, span: Span, children: Sequence[Child]) -> ir.AmountPartial:
        return ir.AmountPartial(span=span, value=children[0])

    def symbol(self, span: Span, children: Sequence[Child]) -> ir.Ident | ir.StringLit:
        tok = children[0]
        return self._string(tok) if tok.type == "STRING" else self._ident(tok)

    def outcomes(self, span: Span, children: Sequence[Child]) -> ir.Outcomes:
        return ir.Outcomes(span=span, items=tuple(children))

    def outcome(self, span: Span, children: Sequence[Child]) -> ir.Outcome:
        return ir.Outcome(span=span, name=self._ident(children[0]), share=children[1], clauses=tuple(children[2:]))

    def rest(self, span: Span, children: Sequence[Child]) -> ir.Rest:
        return ir.Rest(span=token_span(children[0]))

    def selection(self, span: Span, children: Sequence[Child]) -> ir.Selection:
        first = children[0]
        mode: ir.SelectionMode
        if isinstance(first, Token) and first.type in ("EACH", "ALL"):
            mode, quantity, rest = "each" if first.type == "EACH" else "all", None, children[1:]
        elif isinstance(first, Token) and first.type == "FIRST":
            mode, quantity, rest = "first", children[1], children[2:]
        else:
            mode, quantity, rest = "share", first, children[1:]
        state, kind = rest[0]
        where = rest[1] if len(rest) > 1 else None
        return ir.Selection(span=span, mode=mode, quantity=quantity, state=state, kind=kind, where=where)

    def entity_ref(self, span: Span, children: Sequence[Child]) -> tuple[ir.Ident | None, ir.Ident]:
        if len(children) == 2:
            return (self._ident(children[0]), self._ident(children[1]))
        return (None, self._ident(children[0]))

    def where(self, span: Span, children: Sequence[Child]) -> Child:
        return children[0]

    # ------------------------------------------------------------ delivery

    def deliver(self, span: Span, children: Sequence[Child]) -> _Item:
        target = None
        items = list(children)
        if items and isinstance(items[0], (ir.Ident, ir.StringLit)):
            target = items.pop(0)
        return ("deliver", ir.Deliver(span=span, target=target, items=tuple(items)))

    def target(self, span: Span, children: Sequence[Child]) -> ir.Ident | ir.StringLit:
        tok = children[0]
        return self._string(tok) if tok.type == "STRING" else self._ident(tok)

    def order_item(self, span: Span, children: Sequence[Child]) -> ir.OrderItem:
        return ir.OrderItem(span=span, mode=self._ident(children[0]), within=children[1] if len(children) > 1 else None)

    def repeat_item(self, span: Span, children: Sequence[Child]) -> ir.RepeatItem:
        return ir.RepeatItem(span=span, value=children[0])

    def delay_item(self, span: Span, children: Sequence[Child]) -> ir.DelayItem:
        return ir.DelayItem(span=span, delay=children[0], jitter=children[1] if len(children) > 1 else None)

    def drop_item(self, span: Span, children: Sequence[Child]) -> ir.DropItem:
        return ir.DropItem(span=span, value=children[0])

    def signature_item(self, span: Span, children: Sequence[Child]) -> ir.SignatureItem:
        share = children[1] if len(children) > 1 else None
        return ir.SignatureItem(span=span, mode=self._ident(children[0]), share=share)

    def retry_item(self, span: Span, children: Sequence[Child]) -> ir.RetryItem:
        ladder = children[0]
        return ir.RetryItem(span=span, ladder=self._ident(ladder) if isinstance(ladder, Token) else ladder)

    def fail_item(self, span: Span, children: Sequence[Child]) -> ir.FailItem:
        return ir.FailItem(span=span, statuses=tuple(self._ident(t) for t in children))

    def verdict_item(self, span: Span, children: Sequence[Child]) -> ir.VerdictItem:
        return ir.VerdictItem(span=span, mode=self._ident(children[0]), verdict=self._ident(children[1]))

    def timeout_item(self, span: Span, children: Sequence[Child]) -> ir.TimeoutItem:
        return ir.TimeoutItem(span=span, value=children[0])

    def include_item(self, span: Span, children: Sequence[Child]) -> ir.IncludeItem:
        return ir.IncludeItem(span=span, profile=self._ident(children[0]))

    # ------------------------------------------------------------ checks

    def expect(self, span: Span, children: Sequence[Child]) -> _Item:
        sev = children[1] if len(children) > 1 else None
        return ("check", ir.Expect(span=span, condition=children[0], severity=sev))

    def finding(self, span: Span, children: Sequence[Child]) -> _Item:
        sev = children[2] if len(children) > 2 else None
        return ("check", ir.Finding(span=span, condition=children[0], message=self._string(children[1]), severity=sev))

    def probe(self, span: Span, children: Sequence[Child]) -> _Item:
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
                    code=Code.DUPLICATE_SETTING, message=f"`{what}` is set twice in this probe", path=self.path,
                    span=_span_of(extra), label="second setting", help=f"keep one `{what}` line"))
        return ("check", ir.Probe(span=span, method=_HTTP_METHODS[str(method)], url=self._string(url),
                                  selection=selection, expects=expects, severity=sev, headers=headers,
                                  body=bodies[0] if bodies else None, eventually=windows[0] if windows else None))

    def probe_expect(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("expect", children[0])

    def probe_header(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("header", ir.ProbeHeader(span=span, name=self._string(children[0]),
                                         value=self._string(children[1])))

    def probe_body(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("body", self._string(children[0]))

    def probe_eventually(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("eventually", children[0])

    def oracle_use(self, span: Span, children: Sequence[Child]) -> _Item:
        return ("oracle", self._ident(children[0]))

    def map_decl(self, span: Span, children: Sequence[Child]) -> ir.Map:
        return ir.Map(span=span, name=self._ident(children[0]), entries=tuple(children[1:]))

    def map_entry(self, span: Span, children: Sequence[Child]) -> ir.MapEntry:
        key, value = children
        key_node = self._ident(key) if key.type == "NAME" else self._string(key)
        return ir.MapEntry(span=span, key=key_node, value=value)

    def oracle_decl(self, span: Span, children: Sequence[Child]) -> ir.Oracle:
        return ir.Oracle(span=span, name=self._ident(children[0]),
                         probes=tuple(probe for _, probe in children[1:]))

    def severity(self, span: Span, children: Sequence[Child]) -> ir.Ident:
        return self._ident(children[0])

    # ------------------------------------------------------------ expressions

    def binary(self, span: Span, children: Sequence[Child]) -> ir.Binary:
        left, op, right = children
        return ir.Binary(span=_join(_span_of(left), _span_of(right)), op=_BINARY_OPS[str(op)], left=left, right=right)

    def unary(self, span: Span, children: Sequence[Child]) -> ir.Unary:
        op, operand = children
        return ir.Unary(span=_join(token_span(op), _span_of(operand)), op=_UNARY_OPS[str(op)], operand=operand)

    def int_lit(self, span: Span, children: Sequence[Child]) -> ir.IntLit:
        tok = children[0]
        value = _int_value(str(tok))
        if value is None:
            self._error(
                Code.NUMBER_TOO_LARGE, "integer literal is too large", token_span(tok),
                label=f"more than {MAX_INT:,}", help="integers are 64-bit; use a smaller value",
            )
            value = MAX_INT
        return ir.IntLit(span=token_span(tok), value=value, text=str(tok))

    def decimal_lit(self, span: Span, children: Sequence[Child]) -> ir.DecimalLit:
        return ir.DecimalLit(span=token_span(children[0]), text=str(children[0]))

    def percent_lit(self, span: Span, children: Sequence[Child]) -> ir.PercentLit:
        return ir.PercentLit(span=token_span(children[0]), text=str(children[0]))

    def money_lit(self, span: Span, children: Sequence[Child]) -> ir.MoneyLit:
        tok = children[0]
        currency, amount = str(tok).split(None, 1)
        if _int_value(amount.split(".")[0]) is None or to_minor(amount, currency) > MAX_INT:
            self._error(
                Code.NUMBER_TOO_LARGE, "amount is too large", token_span(tok),
                label=f"more than {MAX_INT:,} minor units", help="amounts are 64-bit; use a smaller value",
            )
        return ir.MoneyLit(span=token_span(tok), currency=currency, amount=amount)

    def duration_lit(self, span: Span, children: Sequence[Child]) -> ir.DurationLit:
        tok = children[0]
        ms = duration_ms(str(tok)) if _int_value(str(tok).rstrip("mshd")) is not None else MAX_INT + 1
        if ms > MAX_INT:
            self._error(Code.NUMBER_TOO_LARGE, "duration is too large", token_span(tok), help="use a smaller duration")
            ms = MAX_INT
        return ir.DurationLit(span=token_span(tok), text=str(tok), ms=ms)

    def bool_lit(self, span: Span, children: Sequence[Child]) -> ir.BoolLit:
        return ir.BoolLit(span=token_span(children[0]), value=str(children[0]) == "true")

    def string_lit(self, span: Span, children: Sequence[Child]) -> ir.StringLit:
        return self._string(children[0])

    def name(self, span: Span, children: Sequence[Child]) -> ir.Name:
        return ir.Name(span=span, parts=tuple(str(c) for c in children))

    def call(self, span: Span, children: Sequence[Child]) -> ir.Call:
        return ir.Call(span=span, func=self._ident(children[0]), args=tuple(children[1:]))

    def list(self, span: Span, children: Sequence[Child]) -> ir.ListLit:
        return ir.ListLit(span=span, items=tuple(children))


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


def lower(tree: Tree[Token], path: str) -> tuple[ir.Module, list[Diagnostic]]:
    """Return the IR module for `tree` and any literal diagnostics."""
    lowerer = Lower(path)
    decls_raw, first, last = lowerer.walk(tree)
    diagnostics = lowerer.diagnostics
    decls: list[ir.Decl] = []
    for d in decls_raw:
        if isinstance(d, _ScenarioParts):
            decls.append(_scenario(d, path, diagnostics))
        else:
            decls.append(d)
    span = _NOWHERE if first is None or last is None else _between(first, last)
    return ir.Module(span=span, path=path, decls=tuple(decls)), diagnostics


def _single(items: list[Any], what: str, path: str, diagnostics: list[Diagnostic]) -> Any:
    """The one `about`/`category`/`seed` of a scenario; a second one is reported."""
    for span, _ in items[1:]:
        diagnostics.append(Diagnostic(
            code=Code.DUPLICATE_SETTING, message=f"`{what}` is set twice in this scenario", path=path, span=span,
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
