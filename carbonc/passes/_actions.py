"""Type-checks a phase's statements: what each verb applies to and takes, amounts, and outcome
mixes (which outcomes and clauses fit, and that shares add up)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import assert_never

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.domain import vocabulary
from carbonc.domain.units import format_ratio
from carbonc.domain.values import Money
from carbonc.ir import nodes as ir
from carbonc.passes._exprs import BOOL, DURATION, INT, MONEY, RATIO, Env, ExprChecker, article

_REQUIRED_HELP = {
    ("create", "count"): "say how many, e.g. `count 1000`",
    ("create", "amount"): "give an amount, e.g. `amount INR 2500`",
    ("dispute", "reason"): "say why, e.g. `reason fraudulent`",
    ("settle", "after"): "say when, e.g. `after 3d` for T+3",
}


class ActionChecker(ExprChecker):
    """Checks actions, their clauses and amounts, and outcome mixes written inline or named."""

    def __init__(self, env: Env, mixes: Mapping[str, ir.Mix]):
        super().__init__(env)
        self.mixes = mixes

    def action(self, action: ir.Action) -> None:
        spec = vocabulary.VERBS[action.verb]
        kind = self._target(action, spec)
        seen: dict[str, ir.Clause] = {}
        for clause in action.clauses:
            name = _clause_name(clause)
            if name in seen:
                self.report(Code.DUPLICATE_SETTING, f"`{name}` is given twice", clause, label="second one",
                            help="keep one")
            seen[name] = clause
            if name not in spec.clauses:
                allowed = ", ".join(f"`{c}`" for c in sorted(spec.clauses)) or "none"
                self.report(Code.CLAUSE_NOT_ALLOWED, f"`{action.verb}` does not take `{name}`", clause,
                            label="not allowed here", help=f"`{action.verb}` takes: {allowed}")
                continue
            self.clause(clause, action.verb, kind)
        for name in sorted(spec.required - set(seen)):
            self.report(Code.MISSING_CLAUSE, f"`{action.verb}` needs `{name}`", action, label=f"`{name}` missing",
                        help=_REQUIRED_HELP.get((action.verb, name), f"add `{name} …`"))
        context = spec.outcomes
        if action.verb == "create":
            context = "create.mandate" if kind == "mandate" else None
        mixes = [c.outcomes for c in action.clauses if isinstance(c, ir.ThenClause)]
        if action.outcomes is not None:
            mixes.append(action.outcomes)
        if len(mixes) > 1:
            self.report(Code.DUPLICATE_SETTING, "two outcome mixes for one action", mixes[1], label="second mix",
                        help="merge them into one `{ … }` block")
        if action.outcomes is not None and context is None:
            self.report(Code.CLAUSE_NOT_ALLOWED,
                        f"`{action.verb}`{' ' + kind + 's' if kind else ''} takes no outcome mix",
                        action.outcomes, label="not allowed here")
        elif context is not None:
            for mix in mixes:
                self.outcomes(mix, context)
        with_mix = next((c for c in action.clauses if isinstance(c, ir.WithClause)), None)
        if with_mix is not None and mixes:
            self.report(Code.DUPLICATE_SETTING, "both a named mix and an outcome block", with_mix,
                        label="`with` here", help="keep either `with …` or the `{ … }` block")
        if with_mix is not None and context is not None and with_mix.mix.name in self.mixes:
            self.outcomes(self.mixes[with_mix.mix.name].outcomes, context, used_at=with_mix.mix)
        if action.verb == "pay" and with_mix is None and not mixes:
            self.report(Code.MISSING_CLAUSE, "`pay` needs an outcome mix", action,
                        label="what happens to the payments?",
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
                self.report(Code.ACTION_NOT_ALLOWED, f"cannot {action.verb} a {sel.state.name} {kind}", sel.state,
                            label=f"{action.verb} needs " + " or ".join(spec.states),
                            help=f"select {spec.states[0]} {kind}s")
        if kind is not None and kind not in spec.kinds:
            self.report(Code.ACTION_NOT_ALLOWED, f"`{action.verb}` does not apply to {kind}s", ident,
                        label=f"`{action.verb}` applies to " + " and ".join(f"{k}s" for k in spec.kinds))
            return None
        return kind

    def clause(self, clause: ir.Clause, verb: str, kind: str | None) -> None:
        match clause:
            case ir.CountClause(value=v):
                self.want(v, INT, "`count`")
                self.non_negative(v, "`count`")
                if isinstance(n := self.const(v), int) and not isinstance(n, bool) and n > vocabulary.max_entities():
                    self.report(Code.OUT_OF_RANGE, f"`count` must be at most {vocabulary.max_entities():,}", v,
                                label="too many",
                                help=f"a real need for more can raise the limit: {vocabulary.MAX_ENTITIES_VAR}=N")
            case ir.AmountClause(amount=amount):
                self.amount(amount, verb)
            case ir.MethodClause(method=m):
                if m.name not in vocabulary.PAYMENT_METHODS:
                    self.report(Code.UNKNOWN_OPTION, f"unknown payment method `{m.name}`", m, label="not a method",
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
                self.report(Code.CLAUSE_NOT_ALLOWED, f"`{verb}` takes `amount full` or `amount partial …`", amount,
                            label="not a refundable amount", help="write `amount partial INR 100` or `amount full`")
            case ir.AmountFixed(value=ir.ListLit(items=items)):
                if not items:
                    self.report(Code.OUT_OF_RANGE, "an amount list needs at least one amount", amount, label="empty")
                currencies = set()
                for item in items:
                    t = self.want(item, MONEY, "an amount")
                    self.non_negative(item, "an amount", 1)
                    if t.kind == "money" and t.currency:
                        currencies.add(t.currency)
                if len(currencies) > 1:
                    self.report(Code.MIXED_CURRENCIES,
                                "an amount list mixes currencies: " + ", ".join(sorted(currencies)),
                                amount, label="one currency per list")
            case ir.AmountFixed(value=v):
                if verb in partial_verbs:
                    self.report(Code.CLAUSE_NOT_ALLOWED, f"`{verb}` takes `amount full` or `amount partial …`", amount,
                                label="a fixed amount", help="write `amount partial INR 100` or `amount full`")
                    return
                self.want(v, MONEY, "`amount`")
                self.non_negative(v, "an amount", 1)
            case ir.AmountRange(low=lo, high=hi):
                a = self.want(lo, MONEY, "`between`")
                b = self.want(hi, MONEY, "`between`")
                if a.currency and b.currency and a.currency != b.currency:
                    self.report(Code.MIXED_CURRENCIES, f"cannot range from {a.currency} to {b.currency}", amount,
                                label="different currencies")
                low, high = self.const(lo), self.const(hi)
                if (isinstance(low, Money) and isinstance(high, Money) and low.currency == high.currency
                        and low.minor > high.minor):
                    self.report(Code.OUT_OF_RANGE, "the range's low end is above its high end", amount,
                                label="empty range", help="swap the two amounts")
                self.non_negative(lo, "an amount", 1)
            case ir.AmountFull():
                if verb not in partial_verbs:
                    self.report(Code.CLAUSE_NOT_ALLOWED, f"`amount full` is for refunds and disputes, not `{verb}`",
                                amount)
            case ir.AmountPartial(value=v):
                if verb not in partial_verbs:
                    self.report(Code.CLAUSE_NOT_ALLOWED,
                                f"`amount partial` is for refunds and disputes, not `{verb}`", amount)
                    return
                t = self.infer(v)
                if t.kind == "ratio" or t.kind == "number":
                    self.ratio_range(v)
                elif t.kind not in ("money", "any"):
                    self.report(Code.TYPE_MISMATCH, f"`partial` needs a ratio or money, not {article(t)}", v,
                                help="write `partial 50%` or `partial INR 100`")
            case _:
                assert_never(amount)

    # ------------------------------------------------------------ outcome mixes

    def outcomes(self, mix: ir.Outcomes, context: str, used_at: ir.Ident | None = None) -> None:
        allowed = vocabulary.OUTCOMES.get(context, {})
        node_for = (lambda n: used_at) if used_at is not None else (lambda n: n)
        for outcome in mix.items:
            name = outcome.name.name
            if name not in allowed:
                what = context.replace(".", " ")
                self.report(Code.UNKNOWN_OUTCOME, f"`{name}` is not an outcome of {what}", node_for(outcome.name),
                            label="unknown outcome",
                            help=did_you_mean(name, allowed)
                            or "outcomes here: " + ", ".join(f"`{o}`" for o in allowed))
                continue
            for clause in outcome.clauses:
                cname = _clause_name(clause)
                if cname not in allowed[name]:
                    takes = ", ".join(f"`{c}`" for c in sorted(allowed[name])) or "no clauses"
                    self.report(Code.CLAUSE_NOT_ALLOWED, f"outcome `{name}` does not take `{cname}`", node_for(clause),
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
            value = self.const(outcome.share)
            if isinstance(value, Decimal):
                total += value
            else:
                known = False
        for extra in rests[1:]:
            self.report(Code.SHARES_NOT_WHOLE, "only one outcome can take the `rest`", extra, label="second `rest`")
        if not mix.items:
            self.report(Code.MISSING_CLAUSE, "an outcome mix needs at least one outcome", mix, label="empty",
                        help="e.g. `{ captured 100% }`")
            return
        if not known:
            return
        if rests and total > 1:
            self.report(Code.SHARES_NOT_WHOLE, f"outcome shares add up to {format_ratio(total)} before `rest`", mix,
                        label="over 100%", help="lower the shares so `rest` is not negative")
        elif not rests and total != 1:
            self.report(Code.SHARES_NOT_WHOLE, f"outcome shares add up to {format_ratio(total)}, not 100%", mix,
                        label=f"{format_ratio(total)} in all", help="adjust the shares, or give one outcome the `rest`")


def _clause_name(clause: ir.Clause | ir.Node) -> str:
    return type(clause).__name__.removesuffix("Clause").lower()
