"""Compiles a checked scenario into a `World`: runs its phases in dependency order, applies
selections and outcome mixes with exact counts, and enforces the payment state machine.

Time: a phase starts when everything the phases it comes `after` set in motion has happened
(their last transition); root phases start at 0. Within a phase, actions run in order. An
action on existing entities happens at `max(phase start, the entity's last transition) + after`.
"""

from __future__ import annotations

from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import compress, islice, repeat
from operator import itemgetter
from typing import TypeAlias, TypeVar, assert_never

from carbonc.codes import Code
from carbonc.compiler._world import ONLY, STATE_CODE, Step, World
from carbonc.compiler.ids import Ids
from carbonc.compiler.params import display_value
from carbonc.compiler.rng import Stream, apportion
from carbonc.diagnostics import Diagnostic
from carbonc.domain import vocabulary
from carbonc.domain.units import MAX_DURATION_MS, format_ratio
from carbonc.domain.values import Duration, EvalError, Money, NotConstant, Value
from carbonc.domain.vocabulary import STATES, kind_of
from carbonc.errors import CompileError, InternalError
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.ir.walk import subexpressions
from carbonc.passes.phases import phase_order

#: What a selection's `where` may read of an entity (besides the scenario's parameters).
_ENTITY_NAMES = frozenset({"amount", "currency", "method", "state", "id", "ref"})

#: Entities of one kind, by index, ascending: 4 bytes each, where a list took 40 (a million
#: orders' selections held 90 MB of them at once).
Members: TypeAlias = "array[int]"

#: Entities made or moved in bulk at a time: few enough that their times, as Python integers,
#: stay small beside the world.
_CHUNK = 1 << 16


#: Payments are attempted this long after their order is created (virtual time).
PAYMENT_DELAY_MS = 1_000


def round_count(value: Decimal) -> int:
    """Counts from ratios round half to even, like `round()` in the language: 12.5 -> 12."""
    return int(value.to_integral_value(ROUND_HALF_EVEN))


def _minor(value: Decimal) -> int:
    """Whole minor units of a computed amount, rounded as counts are."""
    return round_count(value)


class Compiler:
    """Builds the world for one scenario with resolved parameter `values` and `seed`."""

    def __init__(self, scenario: ir.Scenario, values: dict[str, Value], seed: int, path: str,
                 mixes: Mapping[str, ir.Mix]):
        self.scenario, self.values, self.seed, self.path, self.mixes = scenario, values, seed, path, mixes
        self.world = World()
        self.ids = Ids(seed)
        self.errors: list[Diagnostic] = []
        self.phase_end: dict[str, int] = {}
        self.created = 0
        self.max_t = 0

    # ------------------------------------------------------------ helpers

    def error(self, code: Code, message: str, node: ir.Node, label: str | None = None, help: str | None = None) -> None:
        self.errors.append(Diagnostic(code=code, message=message, path=self.path, span=node.span,
                                      label=label, help=help))

    def stream(self, name: str) -> Stream:
        return Stream(self.seed, name)

    def value(self, expr: ir.Expr, env: dict[str, Value] | None = None) -> Value:
        try:
            return evaluate(expr, env if env is not None else self.values)
        except (NotConstant, EvalError, ArithmeticError) as exc:
            self.error(Code.TYPE_MISMATCH, f"cannot evaluate this expression: {exc}", expr)
            raise _Abort from None

    def duration(self, expr: ir.Expr | None) -> int:
        if expr is None:
            return 0
        v = self.value(expr)
        if not isinstance(v, Duration) or not 0 <= v.ms <= MAX_DURATION_MS:
            self.error(Code.OUT_OF_RANGE, "a duration here must be between zero and ten years", expr,
                       help="check the --set values this depends on")
            raise _Abort
        return v.ms

    def after(self, clauses: Sequence[ir.Clause]) -> int:
        """The `after` of an action or outcome in ms (0 when it has none)."""
        clause = _clause(clauses, ir.AfterClause)
        return self.duration(clause.value if clause is not None else None)

    def ratio(self, expr: ir.Expr) -> Decimal:
        v = self.value(expr)
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            self.error(Code.TYPE_MISMATCH, "expected a ratio", expr)
            raise _Abort
        v = Decimal(v)
        if not 0 <= v <= 1:
            self.error(Code.RATIO_OUT_OF_RANGE, f"a ratio must lie within 0–100%, this is {format_ratio(v)}", expr,
                       help="check the --set values this depends on")
            raise _Abort
        return v

    def touch(self, at: int) -> None:
        if at > self.max_t:
            self.max_t = at

    # ------------------------------------------------------------ phases

    def run(self) -> World:
        for phase in phase_order(self.scenario):
            start = max((self.phase_end.get(d.name, 0) for d in phase.after), default=0)
            self.max_t = start
            for index, action in enumerate(phase.actions):
                try:
                    self.action(action, f"{phase.name.name}/{index}", start)
                except _Abort:
                    continue
            self.phase_end[phase.name.name] = self.max_t
        if self.errors:
            raise CompileError(self.errors)
        return self.world

    def action(self, action: ir.Action, stream: str, start: int) -> None:
        match action.verb:
            case "create":
                self.create(action, stream, start)
            case "pay":
                self.pay(action, stream, start)
            case "capture":
                self.capture(action, stream, start)
            case "refund":
                self.refund(action, stream, start)
            case "dispute":
                self.dispute(action, stream, start)
            case "settle":
                self.settle(action, stream, start)
            case "cancel" | "pause":
                self.mandate_change(action, stream, start)
            case _:
                assert_never(action.verb)

    # ------------------------------------------------------------ selections and mixes

    def select(self, action: ir.Action, stream: str) -> tuple[str, Members]:
        sel = action.target
        assert isinstance(sel, ir.Selection)
        kind, members = self.members(sel, stream)
        states = self.world.tables[kind].state
        allowed = vocabulary.VERBS[action.verb].states
        if allowed:
            bad = Counter(STATES[kind][states[i]] for i in members if STATES[kind][states[i]] not in allowed)
            if bad:
                listed = ", ".join(f"{n} {s}" for s, n in sorted(bad.items()))
                self.error(Code.ACTION_NOT_ALLOWED, f"`{action.verb}` would act on {kind}s it cannot: {listed}", sel,
                           label=f"{action.verb} needs " + " or ".join(allowed),
                           help=f"select `{allowed[0]} {kind}s`")
                raise _Abort
        return kind, members

    def members(self, sel: ir.Selection, stream: str) -> tuple[str, Members]:
        """The entities `sel` picks in the world as it stands (by their state now), in creation
        order; a share is drawn from `stream`."""
        kind = kind_of(sel.kind.name)
        assert kind is not None
        table = self.world.tables[kind]
        wanted = STATE_CODE[kind][sel.state.name] if sel.state is not None else None
        if wanted is None:
            members = array("I", range(len(table)))
        else:
            # Each state byte translated to whether it is the one wanted (a `map` of `==` took half
            # as long again).
            members = array("I", compress(range(len(table)), table.state.tobytes().translate(ONLY[wanted])))
        if sel.where is not None:
            members = self._where(sel.where, kind, members)
        match sel.mode:
            case "each" | "all":
                pass
            case "first":
                n = self.value(_quantity(sel))
                if isinstance(n, bool) or not isinstance(n, int):
                    self.error(Code.TYPE_MISMATCH, "`first` needs a whole number", _quantity(sel))
                    raise _Abort
                members = members[: max(0, n)]
            case "share":
                k = round_count(self.ratio(_quantity(sel)) * len(members))
                members = array("I", sorted(self.stream(f"{stream}/select").first(members, k)))
            case _:
                assert_never(sel.mode)
        return kind, members

    def final_members(self, sel: ir.Selection, stream: str) -> tuple[str, Members] | None:
        """`members` after the run of phases, for a probe; None (with an error) when the
        selection cannot be computed with these parameters."""
        try:
            return self.members(sel, stream)
        except _Abort:
            return None

    def _where(self, expr: ir.Expr, kind: str, members: Members) -> Members:
        """The `members` (ascending) of `kind` that meet `expr`. The condition is evaluated once
        per distinct value of what it reads of an entity (its state, say), not once per entity: a
        million payments `where state != "pending"` took 20 s evaluated one by one."""
        t = self.world.tables[kind]
        strings = self.world.strings
        reads = {n.dotted for n in subexpressions(expr) if isinstance(n, ir.Name)} & _ENTITY_NAMES
        by_id = bool(reads & {"id", "ref"})  # unique per entity: nothing to share
        if "amount" in reads:
            reads.add("currency")  # an amount is money in its currency
        columns = [column for name, column in (("amount", t.amount), ("currency", t.currency),
                                               ("method", t.method), ("state", t.state)) if name in reads]
        known: dict[tuple[int, ...], bool] = {}

        def test(idx: int) -> bool:
            key = tuple(column[idx] for column in columns)
            if not by_id and key in known:
                return known[key]
            currency = strings[t.currency[idx]]
            env = dict(self.values)
            entity_id = self.ids.entity(kind, idx)
            env.update(amount=Money(currency, Decimal(t.amount[idx])), currency=currency,
                       method=strings[t.method[idx]], state=STATES[kind][t.state[idx]], id=entity_id, ref=entity_id)
            # An error is reported (and compiling stops) at the first entity it arises for, as before.
            result = bool(self.value(expr, env))
            if not by_id:
                known[key] = result
            return result

        if by_id or len(columns) > 1:
            return array("I", filter(test, members))
        # One column read (or none): each distinct value's first entity, found in bulk, and the
        # members picked by their value's verdict, with no Python call per entity (a million
        # payments' test took 0.8 s). Evaluated in the order of those first entities, so an error
        # arises at the same entity as one by one.
        def values() -> Iterator[int]:
            return map(columns[0].__getitem__, members) if columns else repeat(0, len(members))

        first: dict[int, int] = {}
        deque(map(first.setdefault, values(), members), maxlen=0)
        verdict = {value: test(idx) for value, idx in sorted(first.items(), key=itemgetter(1))}
        return array("I", compress(members, map(verdict.__getitem__, values())))

    def split(self, outcomes: ir.Outcomes, members: Members, stream: str) -> list[tuple[ir.Outcome, Members]]:
        """Divide `members` among the mix's outcomes with exact, largest-remainder counts."""
        shares = [None if isinstance(o.share, ir.Rest) else self.ratio(o.share) for o in outcomes.items]
        known = sum((s for s in shares if s is not None), Decimal(0))
        if None in shares:
            if known > 1:
                self.error(Code.SHARES_NOT_WHOLE, f"outcome shares add up to {format_ratio(known)} before `rest`",
                           outcomes,
                           help="check the --set values the shares depend on")
                raise _Abort
        elif known != 1:
            self.error(Code.SHARES_NOT_WHOLE, f"outcome shares add up to {format_ratio(known)}, not 100%", outcomes,
                       help="check the --set values the shares depend on")
            raise _Abort
        counts = apportion(len(members), [Decimal(1) - known if s is None else s for s in shares])
        if max(counts, default=0) == len(members):
            # One outcome takes every member: the shuffle would only be sorted back (a draw per
            # member, a second of a million-order compile).
            whole = members if _ascending(members) else array("I", sorted(members))
            return [(outcome, whole if count else array("I")) for outcome, count in zip(outcomes.items, counts,
                                                                                       strict=True)]
        ordered = self.stream(f"{stream}/mix").order(members)
        out, pos = [], 0
        for outcome, count in zip(outcomes.items, counts, strict=True):
            out.append((outcome, array("I", sorted(ordered[pos:pos + count]))))
            pos += count
        return out

    def outcomes_of(self, action: ir.Action) -> ir.Outcomes | None:
        if action.outcomes is not None:
            return action.outcomes
        for clause in action.clauses:
            if isinstance(clause, ir.ThenClause):
                return clause.outcomes
            if isinstance(clause, ir.WithClause) and clause.mix.name in self.mixes:
                return self.mixes[clause.mix.name].outcomes
        return None

    # ------------------------------------------------------------ verbs

    def create(self, action: ir.Action, stream: str, start: int) -> None:
        assert isinstance(action.target, ir.Ident)
        kind = kind_of(action.target.name)
        count_expr = _clause(action.clauses, ir.CountClause)
        # The checker has made sure `create` names a kind and has a `count`.
        assert kind is not None and count_expr is not None
        count = self.value(count_expr.value)
        if not isinstance(count, int) or count < 0:
            self.error(Code.OUT_OF_RANGE, "`count` must be a whole number of zero or more", count_expr)
            raise _Abort
        self.created += count
        if self.created > vocabulary.max_entities():
            # Checked before anything is built: 10^12 orders would fill memory long before an error.
            self.error(Code.OUT_OF_RANGE, f"the plan would create more than {vocabulary.max_entities():,} entities",
                       count_expr, label="too many",
                       help=f"a real need for more can raise the limit: {vocabulary.MAX_ENTITIES_VAR}=N (a million "
                            "orders compile and save in about 35 s and 250 MB)")
            raise _Abort
        over_clause = _clause(action.clauses, ir.OverClause)
        over = self.duration(over_clause.value if over_clause is not None else None)
        method = _method(action)
        amounts = self.amounts(_clause(action.clauses, ir.AmountClause), count, f"{stream}/amount")
        created = array("I")
        w = self.world
        if w.tables[kind].has_attr:
            for i in range(count):
                at = start + (over * i // count if count else 0)
                currency, minor = amounts(i)
                created.append(w.add(kind, parent=-1, amount=minor, currency=currency, method=method, at=at,
                                     state="created"))
                self.touch(at)
        else:
            codes: dict[str, int] = {}
            for lo in range(0, count, _CHUNK):
                made = list(map(amounts, range(lo, min(count, lo + _CHUNK))))
                for currency in dict.fromkeys(map(itemgetter(0), made)):
                    codes[currency] = w.intern(currency)
                ats = [start + over * i // count for i in range(lo, lo + len(made))]
                created.extend(w.add_many(kind, parents=None, amounts=map(itemgetter(1), made),
                                          currencies=map(codes.__getitem__, map(itemgetter(0), made)),
                                          methods=repeat(w.intern(method), len(made)), ats=ats, state="created"))
                self.touch(max(ats))
        mix = self.outcomes_of(action)
        if kind == "mandate" and mix is not None:
            self.mandate_outcomes(mix, created, stream, "create.mandate")

    def amounts(self, clause: ir.AmountClause | None, count: int, stream: str) -> Callable[[int], tuple[str, int]]:
        """Return a function from entity number to (currency, minor units)."""
        assert clause is not None
        amount = clause.amount
        match amount:
            case ir.AmountFixed(value=ir.ListLit(items=items)):
                values = [self.money(i) for i in items]
                return lambda i: values[i % len(values)]
            case ir.AmountFixed(value=v):
                fixed = self.money(v)
                return lambda i: fixed
            case ir.AmountRange(low=lo, high=hi):
                (cur, a), (_, b) = self.money(lo), self.money(hi)
                if a > b:
                    self.error(Code.OUT_OF_RANGE, "the range's low end is above its high end", amount,
                               help="check the --set values the range depends on")
                    raise _Abort
                draw = self.stream(stream)
                return lambda i: (cur, a + draw.below(i, b - a + 1))
        self.error(Code.CLAUSE_NOT_ALLOWED, "this amount does not apply here", clause)
        raise _Abort

    def money(self, expr: ir.Expr) -> tuple[str, int]:
        v = self.value(expr)
        if not isinstance(v, Money):
            self.error(Code.MONEY_WITHOUT_CURRENCY, "an amount needs money with a currency", expr)
            raise _Abort
        minor = _minor(v.minor)
        if minor < 1:
            self.error(Code.OUT_OF_RANGE, "an amount must be at least one minor unit", expr)
            raise _Abort
        return v.currency, minor

    def pay(self, action: ir.Action, stream: str, start: int) -> None:
        _, orders = self.select(action, stream)
        mix = self.outcomes_of(action)
        assert mix is not None
        method = _method(action)
        after = self.after(action.clauses)
        w = self.world
        otab = w.tables["order"]
        # An order whose last payment is still open (authorised, pending, stuck, captured) is
        # not paid again: only a failed attempt leaves it to retry.
        open_ = [o for o in orders if otab.payment[o] >= 0
                 and w.state_of("payment", otab.payment[o]) not in ("failed", "timed_out")]
        if open_:
            states = Counter(w.state_of("payment", otab.payment[o]) for o in open_)
            listed = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            self.error(Code.ACTION_NOT_ALLOWED, f"`pay` would pay orders again whose payment is still open: {listed}",
                       action.target, label="already has a payment",
                       help="pay `created` orders, or `attempted` ones whose payment failed")
            raise _Abort
        payments = array("I")
        # A payment takes its order's method unless the action names one; strings are shared.
        method_code = w.intern(method)
        for lo in range(0, len(orders), _CHUNK):
            chunk = orders[lo:lo + _CHUNK]
            ats = list(map((PAYMENT_DELAY_MS + after).__add__, map(max, repeat(start), map(otab.last_t.__getitem__,
                                                                                            chunk))))
            made = w.add_many("payment", parents=chunk, amounts=map(otab.amount.__getitem__, chunk),
                              currencies=map(otab.currency.__getitem__, chunk),
                              methods=repeat(method_code, len(chunk)) if method_code
                              else map(otab.method.__getitem__, chunk), ats=ats, state="created")
            for o, p in zip(chunk, made, strict=True):
                otab.payment[o] = p
            payments.extend(made)
            self.touch(max(ats))
        self.payment_outcomes(mix, payments, stream, "pay")

    def follow(self, kind: str, mix: ir.Outcomes, members: Members, stream: str, context: str,
               apply: Callable[[Members, str, list[int], str | None, str | None], None]) -> None:
        """Split `members` by the mix and `apply(entities, outcome, ats, reason, code)` to each
        group, a chunk at a time, each entity at its last transition + the outcome's `after`; then
        follow nested `then` mixes. An outcome moves only the entities it is applied to, so the
        times of a chunk can be found before any of it moves."""
        last_t = self.world.tables[kind].last_t
        for outcome, group in self.split(mix, members, f"{stream}/{context}"):
            name = outcome.name.name
            after = self.after(outcome.clauses)
            reason, code = _symbol(outcome, ir.ReasonClause), _symbol(outcome, ir.CodeClause)
            # Under `failed … then { … }`, `failed` means it stays failed: nothing happens.
            effect = "" if (name == "failed" and context.endswith(".failed")) else name
            for lo in range(0, len(group), _CHUNK):
                chunk = group[lo:lo + _CHUNK]
                ats = list(map(after.__add__, map(last_t.__getitem__, chunk)))
                self.touch(max(ats))
                apply(chunk, effect, ats, reason, code)
            then = _clause(outcome.clauses, ir.ThenClause)
            if then is not None:
                self.follow(kind, then.outcomes, group, f"{stream}/{name}", f"{context}.{name}", apply)

    def payment_outcomes(self, mix: ir.Outcomes, payments: Members, stream: str, context: str) -> None:
        w = self.world
        parent = w.tables["payment"].parent

        states = w.tables["payment"].state
        authorized = STATE_CODE["payment"]["authorized"]

        def apply(ps: Members, name: str, ats: list[int], reason: str | None, code: str | None) -> None:
            orders = array("i", map(parent.__getitem__, ps))
            if name == "captured":
                unauthorized = list(map(authorized.__ne__, map(states.__getitem__, ps)))
                if all(unauthorized):
                    w.move_each(ats, [Step("payment", ps, "authorized"), Step("payment", ps, "captured"),
                                      Step("order", orders, "paid")])
                elif not any(unauthorized):
                    w.move_each(ats, [Step("payment", ps, "captured"), Step("order", orders, "paid")])
                else:
                    for p, order, at, first in zip(ps, orders, ats, unauthorized, strict=True):
                        if first:
                            w.move("payment", p, at, "authorized")
                        w.move("payment", p, at, "captured")
                        w.move("order", order, at, "paid")
            elif name in ("failed", "timed_out"):
                w.move_each(ats, [Step("payment", ps, name,
                                       reason or ("payment_timed_out" if name == "timed_out" else None), code),
                                  Step("order", orders, "attempted")])
            elif name in ("authorized", "pending", "stuck"):
                w.move_each(ats, [Step("payment", ps, name)])
            # "" is a failed payment that stays failed under `failed … then { failed … }`.

        self.follow("payment", mix, payments, stream, context, apply)

    def capture(self, action: ir.Action, stream: str, start: int) -> None:
        _, payments = self.select(action, stream)
        after = self.after(action.clauses)
        w = self.world
        ptab = w.tables["payment"]
        for p in payments:
            at = max(start, ptab.last_t[p]) + after
            w.move("payment", p, at, "captured")
            w.move("order", ptab.parent[p], at, "paid")
            self.touch(at)

    def refund(self, action: ir.Action, stream: str, start: int) -> None:
        _, payments = self.select(action, stream)
        after = self.after(action.clauses)
        default_amount = _clause(action.clauses, ir.AmountClause)
        reason = _symbol(action, ir.ReasonClause)
        mix = self.outcomes_of(action)
        w = self.world
        ptab = w.tables["payment"]
        groups = self.split(mix, payments, f"{stream}/refund") if mix is not None else [(None, payments)]
        for outcome, members in groups:
            clauses = outcome.clauses if outcome is not None else ()
            amount_clause = _clause(clauses, ir.AmountClause) or default_amount
            outcome_after = self.after(clauses)
            state = outcome.name.name if outcome is not None else "processed"
            o_reason = _symbol(outcome, ir.ReasonClause) if outcome is not None else None
            code = _symbol(outcome, ir.CodeClause) if outcome is not None else None
            for p in members:
                remaining = ptab.amount[p] - ptab.reserved[p]
                amount = self.refund_amount(amount_clause, ptab.amount[p], remaining, w.strings[ptab.currency[p]])
                if amount < 1 or amount > remaining:
                    cur = w.strings[ptab.currency[p]]
                    asked, left, paid = (display_value(Money(cur, Decimal(m)))
                                         for m in (amount, remaining, ptab.amount[p]))
                    if remaining == 0:
                        message = f"nothing is left to refund on a payment of {paid}: it is refunded in full"
                        help = "select payments with something left to refund, e.g. `captured payments`"
                    elif amount < 1:
                        message = f"a refund of {asked} refunds nothing"
                        help = "refund at least one minor unit"
                    else:
                        message = f"a refund of {asked} exceeds the {left} left to refund on a payment of {paid}"
                        help = "refund at most what is left: `amount full`"
                    self.error(Code.REFUND_EXCEEDS, message, amount_clause or action,
                               label="more than is left" if amount > remaining else "nothing to refund", help=help)
                    raise _Abort
                at = max(start, ptab.last_t[p]) + after
                r = w.add("refund", parent=p, amount=amount, currency=w.strings[ptab.currency[p]], method=None,
                          at=at, state="created", attr="full" if amount == remaining else "partial")
                done = at + outcome_after
                self.touch(done)
                if state == "failed":
                    w.move("refund", r, done, "failed", o_reason or reason, code)
                    continue
                ptab.reserved[p] += amount
                w.move("refund", r, done, "processed", reason)
                w.move("payment", p, done, "refunded" if ptab.reserved[p] >= ptab.amount[p] else "partially_refunded")

    def refund_amount(self, clause: ir.AmountClause | None, amount: int, remaining: int, currency: str) -> int:
        if clause is None or isinstance(clause.amount, ir.AmountFull):
            return remaining
        if isinstance(clause.amount, ir.AmountPartial):
            v = self.value(clause.amount.value)
            if isinstance(v, Money):
                if v.currency != currency:
                    self.error(Code.MIXED_CURRENCIES, f"a {v.currency} refund of a {currency} payment", clause)
                    raise _Abort
                return _minor(v.minor)
            if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                return max(1, _minor(Decimal(amount) * Decimal(v)))
        self.error(Code.CLAUSE_NOT_ALLOWED, "refunds take `amount full` or `amount partial …`", clause)
        raise _Abort

    def dispute(self, action: ir.Action, stream: str, start: int) -> None:
        _, payments = self.select(action, stream)
        after = self.after(action.clauses)
        reason = _symbol(action, ir.ReasonClause)
        amount_clause = _clause(action.clauses, ir.AmountClause)
        w = self.world
        ptab = w.tables["payment"]
        disputes = array("I")
        for p in payments:
            at = max(start, ptab.last_t[p]) + after
            amount = self.refund_amount(amount_clause, ptab.amount[p], ptab.amount[p], w.strings[ptab.currency[p]])
            if not 1 <= amount <= ptab.amount[p]:
                cur = w.strings[ptab.currency[p]]
                asked, paid = (display_value(Money(cur, Decimal(m))) for m in (amount, ptab.amount[p]))
                self.error(Code.OUT_OF_RANGE, f"a dispute of {asked} on a payment of {paid}", amount_clause or action,
                           label="not within the payment", help="dispute at most the payment: `amount full`")
                raise _Abort
            disputes.append(w.add("dispute", parent=p, amount=amount, currency=w.strings[ptab.currency[p]],
                                  method=None, at=at, state="created", attr=reason))
            w.move("payment", p, at, "disputed")
            self.touch(at)
        mix = self.outcomes_of(action)
        if mix is not None:
            self.dispute_outcomes(mix, disputes, stream, "dispute")

    def dispute_outcomes(self, mix: ir.Outcomes, disputes: Members, stream: str, context: str) -> None:
        def apply(ds: Members, name: str, ats: list[int], reason: str | None, code: str | None) -> None:
            self.world.move_each(ats, [Step("dispute", ds, name)])

        self.follow("dispute", mix, disputes, stream, context, apply)

    def settle(self, action: ir.Action, stream: str, start: int) -> None:
        _, payments = self.select(action, stream)
        after = self.after(action.clauses)
        w = self.world
        ptab = w.tables["payment"]
        # Gateways settle in batches: one settlement per day and currency.
        batches: dict[tuple[int, str], list[tuple[int, int]]] = {}
        twice = [p for p in payments if ptab.settled[p]]
        if twice:
            self.error(Code.ACTION_NOT_ALLOWED, f"`settle` would settle {len(twice)} payments a second time",
                       action.target,
                       label="already settled", help="settle each payment once")
            raise _Abort
        for p in payments:
            ptab.settled[p] = 1
            # T+N counts from capture, whatever happened to the payment since.
            captured = ptab.captured[p]
            at = max(start, captured + after) if captured >= 0 else max(start, ptab.last_t[p]) + after
            currency = w.strings[ptab.currency[p]]
            batches.setdefault((at // 86_400_000, currency), []).append((p, at))
        for (_, currency), members in sorted(batches.items()):
            at = max(t for _, t in members)
            total = sum(ptab.amount[p] - ptab.reserved[p] for p, _ in members)
            s = w.add("settlement", parent=-1, amount=total, currency=currency, method=None, at=at, state="created",
                      attr=str(len(members)))
            w.move("settlement", s, at, "processed")
            for p, _ in members:
                w.move("payment", p, at, "settled")
            self.touch(at)

    def mandate_outcomes(self, mix: ir.Outcomes, mandates: Members, stream: str, context: str) -> None:
        def apply(ms: Members, name: str, ats: list[int], reason: str | None, code: str | None) -> None:
            self.world.move_each(ats, [Step("mandate", ms, name, reason, code)])

        self.follow("mandate", mix, mandates, stream, context, apply)

    def mandate_change(self, action: ir.Action, stream: str, start: int) -> None:
        _, mandates = self.select(action, stream)
        after = self.after(action.clauses)
        reason = _symbol(action, ir.ReasonClause)
        state = "cancelled" if action.verb == "cancel" else "paused"
        mtab = self.world.tables["mandate"]
        for m in mandates:
            at = max(start, mtab.last_t[m]) + after
            self.world.move("mandate", m, at, state, reason)
            self.touch(at)


def _ascending(members: Members) -> bool:
    return all(map(int.__lt__, members, islice(members, 1, None)))


class _Abort(Exception):
    """Stop compiling one action after reporting why; the others are still compiled."""


_C = TypeVar("_C", bound=ir.Clause)


def _clause(clauses: Sequence[ir.Clause], kind: type[_C]) -> _C | None:
    """The first clause of type `kind`, or None."""
    return next((c for c in clauses if isinstance(c, kind)), None)


def _method(action: ir.Action) -> str | None:
    """The payment method the action's `method` clause names, or None."""
    clause = _clause(action.clauses, ir.MethodClause)
    return clause.method.name if clause is not None else None


def _quantity(sel: ir.Selection) -> ir.Expr:
    """The N of `first N of …` or `N% of …`, which the grammar always gives."""
    if sel.quantity is None:
        raise InternalError(f"a `{sel.mode}` selection without its quantity")  # pragma: no cover
    return sel.quantity


def _symbol(node: ir.Action | ir.Outcome | None, kind: type[ir.ReasonClause | ir.CodeClause]) -> str | None:
    """The name or string of the node's `reason` or `code` clause, or None."""
    if node is None:
        return None
    clause = _clause(node.clauses, kind)
    if clause is None:
        return None
    value = clause.value
    return value.name if isinstance(value, ir.Ident) else value.value
