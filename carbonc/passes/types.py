"""Checks types and units: money with ISO 4217 currencies and exponents (never a bare number),
ratios within 0–100%, durations, integer ranges, what each verb, outcome and delivery setting
accepts, and that outcome shares add up. Records every parameter's type.

>>> # `amount 2500` -> C0304 money needs a currency; `dispute 150% of …` -> C0305
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import assert_never

from carbonc.diagnostics import did_you_mean
from carbonc.domain import vocabulary
from carbonc.domain.units import CURRENCIES, decimal_places, exponent
from carbonc.domain.values import Duration, EvalError, Money, NotConstant, Value
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.passes._program import Context, Program, Type
from carbonc.source import Span

INT, NUMBER, RATIO, DURATION, STRING, BOOL, ANY, LIST = (
    Type("int"), Type("number"), Type("ratio"), Type("duration"), Type("string"), Type("bool"), Type("any"),
    Type("list"),
)
_NUMERIC = ("int", "number", "ratio")
#: The type a kind named in data has (the probe fields of `carbonc.domain.vocabulary`).
_OF_KIND: Mapping[str, Type] = {t.kind: t for t in (INT, NUMBER, RATIO, DURATION, STRING, BOOL, ANY, LIST)}

#: What a bare word in a check or filter denotes.
_FIELD_TYPES: Mapping[str, Type] = {
    "amount": Type("money"), "currency": STRING, "method": STRING, "state": STRING, "ref": STRING, "id": STRING,
    "status": INT,
}


def _money(currency: str | None) -> Type:
    return Type("money", currency)


class _Checker:
    def __init__(self, ctx: Context, path: str, env_types: dict[str, Type], env_values: dict[str, Value],
                 scope: Mapping[str, ir.Mix] | None = None):
        self.ctx, self.path = ctx, path
        self.types, self.values = env_types, env_values
        self.mixes = scope or {}
        #: Maps by name (called like functions in probes), and whether a probe is being checked.
        self.maps: Mapping[str, ir.Map] = {}
        self.in_probe = False

    def report(self, code: str, message: str, node: ir.Node, *, label: str | None = None,
               help: str | None = None) -> None:
        self.ctx.report(code, message, self.path, node.span, label=label, help=help)

    # ------------------------------------------------------------ expressions

    def infer(self, expr: ir.Expr) -> Type:
        match expr:
            case ir.IntLit():
                return INT
            case ir.DecimalLit():
                return NUMBER
            case ir.PercentLit():
                return RATIO
            case ir.DurationLit():
                return DURATION
            case ir.StringLit():
                return STRING
            case ir.BoolLit():
                return BOOL
            case ir.MoneyLit(currency=cur, amount=amount):
                return self._money_literal(expr, cur, amount)
            case ir.Name(parts=parts):
                key = ".".join(parts)
                if key in self.types:
                    return self.types[key]
                if key in vocabulary.METRICS:
                    return INT
                if self.in_probe and len(parts) == 2 and parts[0] in vocabulary.PROBE_FIELDS:
                    return _OF_KIND[vocabulary.PROBE_FIELDS[parts[0]].get(parts[1], "any")]
                if self.in_probe and parts[0] == "gateway":
                    return INT if len(parts) == 3 else ANY
                return _FIELD_TYPES.get(parts[-1], ANY) if len(parts) == 1 or parts[0] in vocabulary.KINDS else ANY
            case ir.ListLit(items=items):
                for item in items:
                    self.infer(item)
                return LIST
            case ir.Unary(op=op, operand=operand):
                t = self.infer(operand)
                if op == "not":
                    self.want(operand, BOOL, "`not`", got=t)
                    return BOOL
                if t.kind not in (*_NUMERIC, "money", "duration", "any"):
                    self.report("C0303", f"cannot negate {_a(t)}", expr, label=f"this is {_a(t)}")
                return t
            case ir.Binary():
                return self._binary(expr)
            case ir.Call(func=func, args=args) if func.name in self.maps and func.name not in vocabulary.FUNCTIONS:
                for a in args:
                    self.want(a, STRING, f"map `{func.name}`")
                values = [self.infer(e.value) for e in self.maps[func.name].entries]
                return values[0] if values and all(v == values[0] for v in values) else ANY
            case ir.Call(func=func, args=args):
                types = [self.infer(a) for a in args]
                if func.name in ("round", "floor", "ceil"):
                    if types and types[0].kind not in (*_NUMERIC, "any"):
                        self.report("C0303", f"`{func.name}` needs a number, not {_a(types[0])}", args[0])
                    return INT
                if func.name == "rate":
                    return RATIO
                return types[0] if types else ANY
            case _:
                assert_never(expr)

    def _money_literal(self, expr: ir.MoneyLit, cur: str, amount: str) -> Type:
        if cur not in CURRENCIES:
            code = Span(expr.span.start, expr.span.start + len(cur), expr.span.line, expr.span.col,
                        expr.span.line, expr.span.col + len(cur))
            self.ctx.report("C0301", f"unknown currency `{cur}`", self.path, code, label="not an ISO 4217 code",
                            help=_currency_help(cur))
            return _money(None)
        places = decimal_places(amount)
        if places > exponent(cur):
            allowed = exponent(cur)
            places_word = f"{allowed} decimal place{'s' * (allowed != 1)}"
            self.report("C0302", f"`{cur}` has {places_word}, `{amount}` has {places}", expr, label="too precise",
                        help=f"{cur} amounts are whole" if allowed == 0 else f"round to {places_word}")
        return _money(cur)

    def _binary(self, expr: ir.Binary) -> Type:
        op, left, right = expr.op, expr.left, expr.right
        a, b = self.infer(left), self.infer(right)
        unknown = a.kind == "any" or b.kind == "any"
        match op:
            case "and" | "or":
                if not unknown:
                    self.want(left, BOOL, f"`{op}`", got=a)
                    self.want(right, BOOL, f"`{op}`", got=b)
                return BOOL
            case "==" | "!=" | "<" | "<=" | ">" | ">=":
                if unknown or self._currencies_differ(expr, a, b):
                    return BOOL
                if not (a.kind == b.kind or (a.kind in _NUMERIC and b.kind in _NUMERIC)):
                    self._mismatch(expr, f"cannot compare {_a(a)} with {_a(b)}", a, b)
                return BOOL
            case "+" | "-" | "*" | "/":
                if unknown:
                    return b if a.kind == "any" else a
                if self._currencies_differ(expr, a, b):
                    return a
                if op == "/" and isinstance(right, (ir.IntLit, ir.DecimalLit)) and self._const(right) == 0:
                    self.report("C0316", "division by zero", right, label="this is zero")
                    return a
                result = _arith(op, a, b)
                if result is None:
                    self._mismatch(expr, f"cannot use `{op}` on {_a(a)} and {_a(b)}", a, b)
                    return ANY
                return result
            case _:
                assert_never(op)

    def _currencies_differ(self, expr: ir.Binary, a: Type, b: Type) -> bool:
        """Report combining money of two known currencies; return whether it did."""
        if a.kind == "money" and b.kind == "money" and a.currency and b.currency and a.currency != b.currency:
            self.report("C0307", f"cannot combine {a.currency} and {b.currency}", expr,
                        label="different currencies", help="convert to one currency; carbonc never converts")
            return True
        return False

    def _mismatch(self, expr: ir.Binary, message: str, a: Type, b: Type) -> None:
        help = None
        if "money" in (a.kind, b.kind) and {a.kind, b.kind} & set(_NUMERIC):
            help = "give the number a currency, e.g. `INR 100`"
        elif "duration" in (a.kind, b.kind) and {a.kind, b.kind} & set(_NUMERIC):
            help = "give the number a unit, e.g. `30s`"
        self.report("C0303", message, expr, label="type mismatch", help=help)

    def want(self, expr: ir.Expr, want: Type, what: str, got: Type | None = None) -> Type:
        """Check `expr` (of type `got`, if already inferred) can be used where a `want` is needed;
        return its type."""
        got = self.infer(expr) if got is None else got
        if got.kind == "any" or want.kind == "any":
            return got
        ok = got.kind == want.kind or (want.kind == "ratio" and got.kind == "number") or (
            want.kind == "number" and got.kind in _NUMERIC)
        if ok:
            if want.kind == "ratio":
                self.ratio_range(expr)
            return got
        if want.kind == "money" and got.kind in ("int", "number"):
            self.report("C0304", f"{what} needs money with a currency, not a bare number", expr,
                        label="no currency", help=f"write it as money, e.g. `INR {_text(expr)}`")
        elif want.kind == "duration" and got.kind in ("int", "number"):
            self.report("C0303", f"{what} needs a duration, not {_a(got)}", expr, label="no unit",
                        help=f"add a unit: `{_text(expr)}s`, `{_text(expr)}m`, `{_text(expr)}h` or `{_text(expr)}d`")
        elif want.kind == "ratio" and got.kind == "int":
            self.report("C0303", f"{what} needs a ratio, not an integer", expr, label="an integer",
                        help=f"write a percentage such as `{_text(expr)}%`")
        else:
            self.report("C0303", f"{what} needs {_a(want)}, not {_a(got)}", expr, label=f"this is {_a(got)}")
        return got

    def _const(self, expr: ir.Expr) -> Value | None:
        try:
            return evaluate(expr, self.values)
        except (NotConstant, EvalError, ArithmeticError, TypeError, ValueError, KeyError):
            return None

    def ratio_range(self, expr: ir.Expr) -> None:
        value = self._const(expr)
        if isinstance(value, Decimal) and not (0 <= value <= 1):
            self.report("C0305", f"a ratio must lie within 0–100%, this is {_pct(value)}", expr,
                        label="out of range", help="use a share between 0% and 100%")

    def non_negative(self, expr: ir.Expr, what: str, minimum: int = 0) -> None:
        value = self._const(expr)
        number = value.ms if isinstance(value, Duration) else value.minor if isinstance(value, Money) else value
        if isinstance(number, (int, Decimal)) and not isinstance(number, bool) and number < minimum:
            self.report("C0308", f"{what} must be at least {minimum}", expr, label="out of range")

    # ------------------------------------------------------------ actions

    def action(self, action: ir.Action) -> None:
        spec = vocabulary.VERBS[action.verb]
        kind = self._target(action, spec)
        seen: dict[str, ir.Clause] = {}
        for clause in action.clauses:
            name = _clause_name(clause)
            if name in seen:
                self.report("C0313", f"`{name}` is given twice", clause, label="second one", help="keep one")
            seen[name] = clause
            if name not in spec.clauses:
                allowed = ", ".join(f"`{c}`" for c in sorted(spec.clauses)) or "none"
                self.report("C0310", f"`{action.verb}` does not take `{name}`", clause,
                            label="not allowed here", help=f"`{action.verb}` takes: {allowed}")
                continue
            self.clause(clause, action.verb, kind)
        for name in sorted(spec.required - set(seen)):
            self.report("C0312", f"`{action.verb}` needs `{name}`", action, label=f"`{name}` missing",
                        help=_REQUIRED_HELP.get((action.verb, name), f"add `{name} …`"))
        context = spec.outcomes
        if action.verb == "create":
            context = "create.mandate" if kind == "mandate" else None
        mixes = [c.outcomes for c in action.clauses if isinstance(c, ir.ThenClause)]
        if action.outcomes is not None:
            mixes.append(action.outcomes)
        if len(mixes) > 1:
            self.report("C0313", "two outcome mixes for one action", mixes[1], label="second mix",
                        help="merge them into one `{ … }` block")
        if action.outcomes is not None and context is None:
            self.report("C0310", f"`{action.verb}`{' ' + kind + 's' if kind else ''} takes no outcome mix",
                        action.outcomes, label="not allowed here")
        elif context is not None:
            for mix in mixes:
                self.outcomes(mix, context)
        with_mix = next((c for c in action.clauses if isinstance(c, ir.WithClause)), None)
        if with_mix is not None and mixes:
            self.report("C0313", "both a named mix and an outcome block", with_mix,
                        label="`with` here", help="keep either `with …` or the `{ … }` block")
        if with_mix is not None and context is not None and with_mix.mix.name in self.mixes:
            self.outcomes(self.mixes[with_mix.mix.name].outcomes, context, used_at=with_mix.mix)
        if action.verb == "pay" and with_mix is None and not mixes:
            self.report("C0312", "`pay` needs an outcome mix", action, label="what happens to the payments?",
                        help="add `{ captured 100% }` or `with MIX`")

    def _target(self, action: ir.Action, spec: vocabulary.VerbSpec) -> str | None:
        if isinstance(action.target, ir.Ident):
            kind = vocabulary.kind_of(action.target.name)
            ident = action.target
        else:
            sel = action.target
            kind = vocabulary.kind_of(sel.kind.name)
            ident = sel.kind
            if sel.quantity is not None:
                match sel.mode:
                    case "share":
                        self.want(sel.quantity, RATIO, "a share of entities")
                    case "first":
                        self.want(sel.quantity, INT, "`first`")
                        self.non_negative(sel.quantity, "`first`")
                    case "each" | "all":
                        pass  # the grammar gives these no quantity
                    case _:
                        assert_never(sel.mode)
            if sel.where is not None:
                self.want(sel.where, BOOL, "`where`")
            if (kind is not None and kind in spec.kinds and sel.state is not None and spec.states
                    and sel.state.name in vocabulary.STATES[kind] and sel.state.name not in spec.states):
                self.report("C0317", f"cannot {action.verb} a {sel.state.name} {kind}", sel.state,
                            label=f"{action.verb} needs " + " or ".join(spec.states),
                            help=f"select {spec.states[0]} {kind}s")
        if kind is not None and kind not in spec.kinds:
            self.report("C0317", f"`{action.verb}` does not apply to {kind}s", ident,
                        label=f"`{action.verb}` applies to " + " and ".join(f"{k}s" for k in spec.kinds))
            return None
        return kind

    def clause(self, clause: ir.Clause, verb: str, kind: str | None) -> None:
        match clause:
            case ir.CountClause(value=v):
                self.want(v, INT, "`count`")
                self.non_negative(v, "`count`")
                if isinstance(n := self._const(v), int) and not isinstance(n, bool) and n > vocabulary.max_entities():
                    self.report("C0308", f"`count` must be at most {vocabulary.max_entities():,}", v, label="too many",
                                help=f"a real need for more can raise the limit: {vocabulary.MAX_ENTITIES_VAR}=N")
            case ir.AmountClause(amount=amount):
                self.amount(amount, verb)
            case ir.MethodClause(method=m):
                if m.name not in vocabulary.PAYMENT_METHODS:
                    self.report("C0311", f"unknown payment method `{m.name}`", m, label="not a method",
                                help=did_you_mean(m.name, vocabulary.PAYMENT_METHODS)
                                or "methods: " + ", ".join(f"`{x}`" for x in vocabulary.PAYMENT_METHODS))
            case ir.AfterClause(value=v) | ir.OverClause(value=v):
                self.want(v, DURATION, f"`{_clause_name(clause)}`")
                self.non_negative(v, f"`{_clause_name(clause)}`")
            case ir.ReasonClause() | ir.CodeClause():
                pass  # a gateway's words, free-form
            case ir.WithClause() | ir.ThenClause():
                pass  # mixes, checked by `action` and `outcomes`
            case _:
                assert_never(clause)

    def amount(self, amount: ir.Amount, verb: str) -> None:
        partial_verbs = ("refund", "dispute")
        match amount:
            case ir.AmountFixed(value=ir.ListLit()) | ir.AmountRange() if verb in partial_verbs:
                self.report("C0310", f"`{verb}` takes `amount full` or `amount partial …`", amount,
                            label="not a refundable amount", help="write `amount partial INR 100` or `amount full`")
            case ir.AmountFixed(value=ir.ListLit(items=items)):
                if not items:
                    self.report("C0308", "an amount list needs at least one amount", amount, label="empty")
                currencies = set()
                for item in items:
                    t = self.want(item, _money(None), "an amount")
                    self.non_negative(item, "an amount", 1)
                    if t.kind == "money" and t.currency:
                        currencies.add(t.currency)
                if len(currencies) > 1:
                    self.report("C0307", "an amount list mixes currencies: " + ", ".join(sorted(currencies)),
                                amount, label="one currency per list")
            case ir.AmountFixed(value=v):
                if verb in partial_verbs:
                    self.report("C0310", f"`{verb}` takes `amount full` or `amount partial …`", amount,
                                label="a fixed amount", help="write `amount partial INR 100` or `amount full`")
                    return
                self.want(v, _money(None), "`amount`")
                self.non_negative(v, "an amount", 1)
            case ir.AmountRange(low=lo, high=hi):
                a = self.want(lo, _money(None), "`between`")
                b = self.want(hi, _money(None), "`between`")
                if a.currency and b.currency and a.currency != b.currency:
                    self.report("C0307", f"cannot range from {a.currency} to {b.currency}", amount,
                                label="different currencies")
                low, high = self._const(lo), self._const(hi)
                if (isinstance(low, Money) and isinstance(high, Money) and low.currency == high.currency
                        and low.minor > high.minor):
                    self.report("C0308", "the range's low end is above its high end", amount,
                                label="empty range", help="swap the two amounts")
                self.non_negative(lo, "an amount", 1)
            case ir.AmountFull():
                if verb not in partial_verbs:
                    self.report("C0310", f"`amount full` is for refunds and disputes, not `{verb}`", amount)
            case ir.AmountPartial(value=v):
                if verb not in partial_verbs:
                    self.report("C0310", f"`amount partial` is for refunds and disputes, not `{verb}`", amount)
                    return
                t = self.infer(v)
                if t.kind == "ratio" or t.kind == "number":
                    self.ratio_range(v)
                elif t.kind not in ("money", "any"):
                    self.report("C0303", f"`partial` needs a ratio or money, not {_a(t)}", v,
                                help="write `partial 50%` or `partial INR 100`")
            case _:
                assert_never(amount)

    def outcomes(self, mix: ir.Outcomes, context: str, used_at: ir.Ident | None = None) -> None:
        allowed = vocabulary.OUTCOMES.get(context, {})
        node_for = (lambda n: used_at) if used_at is not None else (lambda n: n)
        for outcome in mix.items:
            name = outcome.name.name
            if name not in allowed:
                what = context.replace(".", " ")
                self.report("C0309", f"`{name}` is not an outcome of {what}", node_for(outcome.name),
                            label="unknown outcome",
                            help=did_you_mean(name, allowed)
                            or "outcomes here: " + ", ".join(f"`{o}`" for o in allowed))
                continue
            for clause in outcome.clauses:
                cname = _clause_name(clause)
                if cname not in allowed[name]:
                    takes = ", ".join(f"`{c}`" for c in sorted(allowed[name])) or "no clauses"
                    self.report("C0310", f"outcome `{name}` does not take `{cname}`", node_for(clause),
                                label="not allowed here", help=f"`{name}` takes {takes}")
                    continue
                if isinstance(clause, ir.ThenClause):
                    self.outcomes(clause.outcomes, f"{context}.{name}", used_at)
                else:
                    self.clause(clause, context.split(".")[0], None)
        if used_at is None:
            self.shares(mix)

    def mix_declaration(self, mix: ir.Outcomes) -> None:
        """Check a named mix where it is declared: value types and shares, nested mixes too.
        Which outcomes and clauses fit is checked where it is used (`with MIX`)."""
        for outcome in mix.items:
            for clause in outcome.clauses:
                match clause:
                    case ir.ThenClause(outcomes=inner):
                        self.mix_declaration(inner)
                    case ir.AfterClause(value=v):
                        self.want(v, DURATION, "`after`")
                        self.non_negative(v, "`after`")
                    case ir.AmountClause(amount=ir.AmountPartial(value=v)):
                        self.infer(v)
                    case (ir.AmountClause() | ir.CountClause() | ir.MethodClause() | ir.ReasonClause()
                          | ir.CodeClause() | ir.OverClause() | ir.WithClause()):
                        pass  # checked where the mix is used, against its verb
                    case _:
                        assert_never(clause)
        self.shares(mix)

    def shares(self, mix: ir.Outcomes) -> None:
        """Shares are ratios; with all of them known, they add up to exactly 100% (or leave
        a non-negative remainder for a single `rest`)."""
        total, known, rests = Decimal(0), True, []
        for outcome in mix.items:
            if isinstance(outcome.share, ir.Rest):
                rests.append(outcome.share)
                continue
            self.want(outcome.share, RATIO, "an outcome share")
            value = self._const(outcome.share)
            if isinstance(value, Decimal):
                total += value
            else:
                known = False
        for extra in rests[1:]:
            self.report("C0306", "only one outcome can take the `rest`", extra, label="second `rest`")
        if not mix.items:
            self.report("C0312", "an outcome mix needs at least one outcome", mix, label="empty",
                        help="e.g. `{ captured 100% }`")
            return
        if not known:
            return
        if rests and total > 1:
            self.report("C0306", f"outcome shares add up to {_pct(total)} before `rest`", mix,
                        label="over 100%", help="lower the shares so `rest` is not negative")
        elif not rests and total != 1:
            self.report("C0306", f"outcome shares add up to {_pct(total)}, not 100%", mix,
                        label=f"{_pct(total)} in all", help="adjust the shares, or give one outcome the `rest`")

    # ------------------------------------------------------------ delivery

    def deliver(self, deliver: ir.Deliver) -> None:
        if isinstance(deliver.target, ir.StringLit):
            glob = deliver.target.value
            if not any(fnmatch.fnmatchcase(e, glob) for e in vocabulary.NEUTRAL_EVENTS):
                self.report("C0311", f"`{glob}` matches no event", deliver.target, label="no such event",
                            help=did_you_mean(glob, vocabulary.NEUTRAL_EVENTS)
                            or "events look like `payment.captured`, `refund.*`, `dispute.*`")
        self.deliver_items(deliver.items)

    def deliver_items(self, items: Iterable[ir.DeliverItem]) -> None:
        seen: dict[str, ir.DeliverItem] = {}
        signatures: list[ir.SignatureItem] = []
        for item in items:
            name = type(item).__name__.removesuffix("Item").lower()
            if name in seen and name not in ("signature", "verdict", "include"):
                self.report("C0313", f"`{_DELIVER_WORD.get(name, name)}` is set twice in this block", item,
                            label="second setting", help="keep one")
            seen[name] = item
            match item:
                case ir.OrderItem(mode=mode, within=within):
                    self.option(mode, vocabulary.ORDER_MODES, "delivery order")
                    if within is not None:
                        if mode.name != "shuffle":
                            self.report("C0310", f"`within` goes with `shuffle`, not `{mode.name}`", within,
                                        help="write `order shuffle within 30s`")
                        self.want(within, DURATION, "`within`")
                        self.non_negative(within, "`within`")
                case ir.RepeatItem(value=v):
                    self.want(v, INT, "`repeat`")
                    self.non_negative(v, "`repeat`", 1)
                    if isinstance(n := self._const(v), int) and not isinstance(n, bool) and n > vocabulary.MAX_REPEAT:
                        self.report("C0308", f"`repeat` must be at most {vocabulary.MAX_REPEAT}", v,
                                    label="out of range",
                                    help="a gateway sends a few copies at most; 100 already tests idempotency")
                case ir.DelayItem(delay=d, jitter=j):
                    self.want(d, DURATION, "`delay`")
                    self.non_negative(d, "`delay`")
                    if j is not None:
                        self.want(j, DURATION, "`jitter`")
                        self.non_negative(j, "`jitter`")
                case ir.DropItem(value=v):
                    self.want(v, RATIO, "`drop`")
                case ir.TimeoutItem(value=v):
                    self.want(v, DURATION, "`timeout`")
                    self.non_negative(v, "`timeout`", 1)
                case ir.SignatureItem(mode=mode, share=share):
                    self.option(mode, vocabulary.SIGNATURE_MODES, "signature mode")
                    if share is not None:
                        self.want(share, RATIO, "a signature share")
                    signatures.append(item)
                case ir.RetryItem(ladder=ir.ListLit() as steps):
                    self.ladder(steps)
                case ir.FailItem(statuses=statuses):
                    for status in statuses:
                        if status.name not in vocabulary.FAIL_STATUSES and not (
                                status.name.isdigit() and 100 <= int(status.name) <= 599):
                            self.report("C0311", f"`{status.name}` is not an answer class", status,
                                        label="unknown", help="use `3xx`, `4xx`, `5xx`, `timeout`, `error` "
                                        "or a status code such as `409`")
                case ir.VerdictItem(mode=mode, verdict=verdict):
                    self.option(mode, vocabulary.SIGNATURE_MODES, "signature mode")
                    self.option(verdict, vocabulary.VERDICTS, "verdict")
                case ir.RetryItem() | ir.IncludeItem():
                    pass  # names (`retry gateway`, `use PROFILE`), which resolve checks
                case _:
                    assert_never(item)
        if len(signatures) > 1:
            total = Decimal(0)
            for sig in signatures:
                value = self._const(sig.share) if sig.share is not None else None
                if isinstance(value, Decimal):
                    total += value
            if total > 1:
                self.report("C0306", f"signature shares add up to {_pct(total)}", signatures[-1],
                            label="over 100%", help="the shares of signature modes must not exceed 100%")

    def ladder(self, steps: ir.ListLit) -> None:
        if not steps.items:
            self.report("C0308", "a retry ladder needs at least one step", steps, label="empty",
                        help="write `retry none` for no retries")
        for step in steps.items:
            self.want(step, DURATION, "a retry step")
            self.non_negative(step, "a retry step")

    def option(self, ident: ir.Ident, allowed: Iterable[str], what: str) -> None:
        allowed = tuple(allowed)
        if ident.name not in allowed:
            self.report("C0311", f"unknown {what} `{ident.name}`", ident, label=f"not a {what}",
                        help=did_you_mean(ident.name, allowed) or f"{what}s: " + ", ".join(f"`{a}`" for a in allowed))

    # ------------------------------------------------------------ checks

    def check(self, check: ir.Check) -> None:
        match check:
            case ir.Expect(condition=cond, severity=sev):
                self.want(cond, BOOL, "`expect`")
            case ir.Finding(condition=cond, severity=sev):
                self.want(cond, BOOL, "`finding when`")
            case ir.Probe(severity=sev) as probe:
                self.probe(probe)
            case _:
                assert_never(check)
        if sev is not None:
            self.option(sev, vocabulary.SEVERITIES, "severity")

    def probe(self, probe: ir.Probe) -> None:
        self.template(probe.url, "URL")
        for header in probe.headers:
            if not header.name.value or any(c in header.name.value for c in ' \t\r\n:'):
                self.report("C0314", f"`{header.name.value}` is not an HTTP header name", header.name,
                            label="not a header name", help="header names look like `X-Api-Key`")
            self.template(header.value, "header")
        if probe.body is not None:
            self.template(probe.body, "body")
            if probe.method in ("GET", "HEAD"):
                self.report("C0314", f"a {probe.method} probe sends no body", probe.body, label="ignored",
                            help="use POST, PUT or PATCH to send a body")
        if probe.eventually is not None:
            self.want(probe.eventually, DURATION, "`eventually within`")
            self.non_negative(probe.eventually, "`eventually within`", minimum=1)
        self.in_probe = True
        try:
            for e in probe.expects:
                self.want(e, BOOL, "a probe `expect`")
        finally:
            self.in_probe = False
        if not probe.expects:
            self.report("C0314", "this probe expects nothing", probe.url, label="nothing to judge",
                        help="add a line such as `expect status == 200`")

    def template(self, text: ir.StringLit, what: str) -> None:
        import jinja2  # only programs with probes pay for importing Jinja2

        try:
            jinja2.Environment(autoescape=False).parse(text.value)
        except jinja2.TemplateSyntaxError as err:
            self.report("C0314", f"the probe {what} is not a valid template: {err.message}", text,
                        label="template error", help="templates look like `{{ base }}/orders/{{ order.ref }}`")


_DELIVER_WORD = {"fail": "fail on"}

_REQUIRED_HELP = {
    ("create", "count"): "say how many, e.g. `count 1000`",
    ("create", "amount"): "give an amount, e.g. `amount INR 2500`",
    ("dispute", "reason"): "say why, e.g. `reason fraudulent`",
    ("settle", "after"): "say when, e.g. `after 3d` for T+3",
}


def _arith(op: ir.ArithOp, a: Type, b: Type) -> Type | None:
    ka, kb = a.kind, b.kind
    if ka in _NUMERIC and kb in _NUMERIC:
        if ka == kb == "int" and op != "/":
            return INT
        if ka == kb == "ratio" and op in ("+", "-", "*"):
            return RATIO
        return NUMBER
    # Quantities with a unit add to themselves, scale by numbers, and divide into a number.
    for unit in ("money", "duration"):
        if ka == kb == unit:
            return a if op in ("+", "-") else NUMBER if op == "/" else None
        if ka == unit and kb in _NUMERIC and op in ("*", "/"):
            return a
        if kb == unit and ka in _NUMERIC and op == "*":
            return b
    return None


def _clause_name(clause: ir.Clause | ir.Node) -> str:
    return type(clause).__name__.removesuffix("Clause").lower()


def _a(t: Type) -> str:
    """Name a type with its article for a message: `an integer`, `a ratio`, `money (INR)`."""
    return {"int": "an integer", "bool": "a condition", "any": "a value"}.get(
        t.kind, str(t) if t.kind == "money" else f"a {t}")


#: Names people write for a currency instead of its ISO 4217 code.
_CURRENCY_ALIASES = {"RMB": "CNY", "CNH": "CNY", "NTD": "TWD", "YEN": "JPY", "UKP": "GBP", "STG": "GBP"}


def _currency_help(cur: str) -> str:
    """Suggest the ISO code meant by an alias or a transposition (`IRN` -> `INR`), else the closest."""
    guess = _CURRENCY_ALIASES.get(cur) or next((c for c in sorted(CURRENCIES) if sorted(c) == sorted(cur)), None)
    if guess:
        return f"did you mean `{guess}`?"
    return did_you_mean(cur, CURRENCIES) or "use a three-letter ISO 4217 code such as `INR`"


def _pct(value: Decimal) -> str:
    from carbonc.domain.units import format_ratio
    return format_ratio(value)


def _text(expr: ir.Expr) -> str:
    """`expr` as written in a help line: a number or a name, else an ellipsis."""
    match expr:
        case ir.IntLit(text=t) | ir.DecimalLit(text=t):
            return t
        case ir.Name() as n:
            return n.dotted
        case (ir.PercentLit() | ir.MoneyLit() | ir.DurationLit() | ir.StringLit() | ir.BoolLit() | ir.Unary()
              | ir.Binary() | ir.Call() | ir.ListLit()):
            return "…"
        case _:
            assert_never(expr)


def _param_env(ctx: Context, path: str, scenario: ir.Scenario,
               own: set[int]) -> tuple[dict[str, Type], dict[str, Value]]:
    """Type and evaluate the parameters of (merged) `scenario`; report problems only in those
    written in this file (`own`), since inherited ones are checked where they are declared."""
    types: dict[str, Type] = {}
    values: dict[str, Value] = {}
    silent = Context(stdlib=ctx.stdlib)
    for param in scenario.params:
        report_to = ctx if id(param) in own else silent
        checker = _Checker(report_to, path, types, values)
        t = checker.infer(param.default)
        if t.kind == "ratio":
            checker.ratio_range(param.default)
        name = param.name.name
        types[name] = t
        try:
            values[name] = evaluate(param.default, values)
        except NotConstant as err:
            if str(err) in vocabulary.METRICS:  # unknown names were reported by resolve
                report_to.report("C0303", f"the default of `{name}` must be a constant", path, param.default.span,
                                 label=f"`{err}` depends on the run", help="use literals and earlier parameters only")
        except (EvalError, ArithmeticError):
            pass
    return types, values


def _check_overrides(ctx: Context, path: str, child: ir.Scenario, base: ir.Scenario,
                     types: dict[str, Type]) -> None:
    """A parameter a child scenario overrides keeps the type the base scenario uses it as."""
    base_types, _ = _param_env(Context(stdlib=ctx.stdlib), path, base, set())
    for param in child.params:
        name = param.name.name
        want, got = base_types.get(name), types.get(name)
        if want is None or got is None or "any" in (want.kind, got.kind):
            continue
        same = want.kind == got.kind or {want.kind, got.kind} == {"ratio", "number"}
        if not same or (want.kind == "money" and want.currency != got.currency):
            ctx.report("C0303", f"`{name}` is a {want} in `{base.name.name}`, not a {got}", path,
                       param.default.span, label=f"a {got}",
                       help=f"override it with a {want}, as `{base.name.name}` uses it")


def check_types(program: Program, ctx: Context) -> Program:
    """Type-check every module's declarations and the root's scenarios; record parameter types."""
    param_types: dict[str, dict[str, Type]] = {}
    all_mixes: dict[str, ir.Mix] = {}
    for module in program.modules.values():
        for decl in module.decls:
            if isinstance(decl, ir.Mix):
                all_mixes.setdefault(decl.name.name, decl)
    all_maps: dict[str, ir.Map] = {}
    for module in program.modules.values():
        for decl in module.decls:
            if isinstance(decl, ir.Map):
                all_maps.setdefault(decl.name.name, decl)
    for module in program.modules.values():
        checker = _Checker(ctx, module.path, {}, {}, all_mixes)
        checker.maps = all_maps
        for decl in module.decls:
            match decl:
                case ir.Map(entries=entries):
                    for entry in entries:
                        checker.infer(entry.value)
                case ir.Oracle(probes=probes):
                    for probe in probes:
                        checker.check(probe)
                case ir.Mix(outcomes=outcomes):
                    checker.mix_declaration(outcomes)
                case ir.Profile(items=items):
                    checker.deliver_items(items)
                case ir.Ladder(steps=steps):
                    checker.ladder(steps)
                case ir.Use() | ir.Scenario():
                    pass  # scenarios are checked below, with their parameters
                case _:
                    assert_never(decl)
    merged_by_name = {m.name.name: m for pairs in program.declared.values() for _, m in pairs}
    for key, pairs in program.declared.items():
        path = program.modules[key].path
        for declared, merged in pairs:
            types, values = _param_env(ctx, path, merged, {id(p) for p in declared.params})
            if declared.extends is not None and declared.extends.name in merged_by_name:
                _check_overrides(ctx, path, declared, merged_by_name[declared.extends.name], types)
            if key == program.root:
                param_types[merged.name.name] = types
            checker = _Checker(ctx, path, types, values, all_mixes)
            checker.maps = all_maps
            for phase in declared.phases:
                for action in phase.actions:
                    checker.action(action)
            for deliver in declared.delivers:
                checker.deliver(deliver)
            for check in declared.checks:
                checker.check(check)
    return Program(root=program.root, modules=program.modules, imports=program.imports,
                   scenarios=program.scenarios, declared=program.declared, param_types=param_types)
