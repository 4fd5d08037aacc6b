"""The typed IR of a `.carbon` module: frozen msgspec Structs, each with the `span` it came from.

The IR keeps literals' exact text so the formatter can print them back; meaning (minor units,
milliseconds, ratios) is derived by `carbonc.domain.units` and checked by the passes.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from carbonc.source import Span


class Node(msgspec.Struct, frozen=True, kw_only=True, tag_field="node"):
    """Base of every IR node; `span` is where it was written."""

    span: Span


class Ident(Node, frozen=True, tag=True):
    """A name as written: `name`."""

    name: str


# ---------------------------------------------------------------- expressions


class IntLit(Node, frozen=True, tag=True):
    """An integer literal: `value`, `text` as written (`1_000`)."""

    value: int
    text: str


class DecimalLit(Node, frozen=True, tag=True):
    """A decimal literal such as `0.15`: `text` as written (never a float)."""

    text: str


class PercentLit(Node, frozen=True, tag=True):
    """A ratio written as a percentage: `text` such as `15%` or `2.5%`."""

    text: str


class MoneyLit(Node, frozen=True, tag=True):
    """A money literal `INR 2500`: ISO 4217 `currency` and `amount` text in major units."""

    currency: str
    amount: str


class DurationLit(Node, frozen=True, tag=True):
    """A duration such as `30s`: `text` as written; `ms` in milliseconds."""

    text: str
    ms: int


class StringLit(Node, frozen=True, tag=True):
    """A string literal: `value` after escapes, `text` as written (with quotes)."""

    value: str
    text: str


class BoolLit(Node, frozen=True, tag=True):
    """`true` or `false`."""

    value: bool


class Name(Node, frozen=True, tag=True):
    """A (dotted) reference: `parts` such as ("payments", "captured")."""

    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


LogicOp = Literal["or", "and"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
ArithOp = Literal["+", "-", "*", "/"]
BinaryOp = Literal[LogicOp, CompareOp, ArithOp]
UnaryOp = Literal["-", "+", "not"]


class Unary(Node, frozen=True, tag=True):
    """`op operand` where op is `-`, `+` or `not`."""

    op: UnaryOp
    operand: Expr


class Binary(Node, frozen=True, tag=True):
    """`left op right`."""

    op: BinaryOp
    left: Expr
    right: Expr


class Call(Node, frozen=True, tag=True):
    """`func(args…)`; `func` is an Ident."""

    func: Ident
    args: tuple[Expr, ...]


class ListLit(Node, frozen=True, tag=True):
    """`[items…]`."""

    items: tuple[Expr, ...]


class Rest(Node, frozen=True, tag=True):
    """`rest`: the share of an outcome mix the other outcomes leave."""


Expr = (
    IntLit | DecimalLit | PercentLit | MoneyLit | DurationLit | StringLit | BoolLit
    | Name | Unary | Binary | Call | ListLit
)
Share = Expr | Rest


# ---------------------------------------------------------------- clauses


class AmountFixed(Node, frozen=True, tag=True):
    """`amount E`: a money value, or a list of money values (edge cases, used in turn)."""

    value: Expr


class AmountRange(Node, frozen=True, tag=True):
    """`amount between LO and HI`."""

    low: Expr
    high: Expr


class AmountFull(Node, frozen=True, tag=True):
    """`amount full` (refunds)."""


class AmountPartial(Node, frozen=True, tag=True):
    """`amount partial E`: a ratio of, or a money amount out of, the parent amount."""

    value: Expr


Amount = AmountFixed | AmountRange | AmountFull | AmountPartial


class CountClause(Node, frozen=True, tag=True):
    """`count E`."""

    value: Expr


class AmountClause(Node, frozen=True, tag=True):
    """`amount …`."""

    amount: Amount


class MethodClause(Node, frozen=True, tag=True):
    """`method upi`."""

    method: Ident


class ReasonClause(Node, frozen=True, tag=True):
    """`reason fraudulent` or `reason "…"`."""

    value: Ident | StringLit


class CodeClause(Node, frozen=True, tag=True):
    """`code BAD_REQUEST_ERROR`-like gateway error code, as a name or a string."""

    value: Ident | StringLit


class AfterClause(Node, frozen=True, tag=True):
    """`after D`: when the transition happens, relative to the entity's previous one."""

    value: Expr


class OverClause(Node, frozen=True, tag=True):
    """`over D`: spread creation over a window (arrival rate)."""

    value: Expr


class WithClause(Node, frozen=True, tag=True):
    """`with MIX`: use a named outcome mix."""

    mix: Ident


class ThenClause(Node, frozen=True, tag=True):
    """`then { … }`: what happens next to the selected entities."""

    outcomes: Outcomes


Clause = (
    CountClause | AmountClause | MethodClause | ReasonClause | CodeClause
    | AfterClause | OverClause | WithClause | ThenClause
)


class Outcome(Node, frozen=True, tag=True):
    """One part of a mix: `name share clauses…`, e.g. `failed 30% reason insufficient_funds`."""

    name: Ident
    share: Share
    clauses: tuple[Clause, ...]


class Outcomes(Node, frozen=True, tag=True):
    """An outcome mix `{ … }`: parts that split a population."""

    items: tuple[Outcome, ...]


# ---------------------------------------------------------------- selections and actions

SelectionMode = Literal["each", "all", "first", "share"]


class Selection(Node, frozen=True, tag=True):
    """Which entities an action applies to: `mode` each/all (every one), first (`first N of`),
    share (`25% of`); `quantity` for first/share; optional `state` and `where` filter."""

    mode: SelectionMode
    quantity: Expr | None
    state: Ident | None
    kind: Ident
    where: Expr | None


Verb = Literal["create", "pay", "capture", "refund", "dispute", "settle", "cancel", "pause"]


class Action(Node, frozen=True, tag=True):
    """A statement in a phase: `verb` and its `target` (an entity kind for `create`, else a
    selection), `clauses`, and an optional outcome mix."""

    verb: Verb
    target: Ident | Selection
    clauses: tuple[Clause, ...]
    outcomes: Outcomes | None


# ---------------------------------------------------------------- delivery


class OrderItem(Node, frozen=True, tag=True):
    """`order sequence|reverse|random|shuffle [within D]`."""

    mode: Ident
    within: Expr | None


class RepeatItem(Node, frozen=True, tag=True):
    """`repeat N`: deliver every message N times (same event id)."""

    value: Expr


class DelayItem(Node, frozen=True, tag=True):
    """`delay D [jitter J]`."""

    delay: Expr
    jitter: Expr | None


class DropItem(Node, frozen=True, tag=True):
    """`drop R`: a share of messages is never delivered."""

    value: Expr


class SignatureItem(Node, frozen=True, tag=True):
    """`signature MODE [share]`; several lines make a mix of modes."""

    mode: Ident
    share: Expr | None


class RetryItem(Node, frozen=True, tag=True):
    """`retry gateway|none|LADDER|[durations]`."""

    ladder: Ident | ListLit


class FailItem(Node, frozen=True, tag=True):
    """`fail on 3xx, 4xx, 5xx, timeout`: endpoint answers that count as a failed delivery."""

    statuses: tuple[Ident, ...]


class VerdictItem(Node, frozen=True, tag=True):
    """`verdict MODE accept|reject`: override the handler verdict expected for a signature mode."""

    mode: Ident
    verdict: Ident


class TimeoutItem(Node, frozen=True, tag=True):
    """`timeout D`: per-request deadline."""

    value: Expr


class IncludeItem(Node, frozen=True, tag=True):
    """`use PROFILE` inside a delivery block: take that profile's settings."""

    profile: Ident


DeliverItem = (
    OrderItem | RepeatItem | DelayItem | DropItem | SignatureItem
    | RetryItem | FailItem | VerdictItem | TimeoutItem | IncludeItem
)


class Deliver(Node, frozen=True, tag=True):
    """`deliver [for TARGET] { items }`: TARGET is an entity kind (`disputes`) or an event glob
    string (`"refund.*"`); without one the policy is the whole run's."""

    target: Ident | StringLit | None
    items: tuple[DeliverItem, ...]


# ---------------------------------------------------------------- checks


class Expect(Node, frozen=True, tag=True):
    """`expect E [severity S]`: a condition over the run's counts that must hold."""

    condition: Expr
    severity: Ident | None


class Finding(Node, frozen=True, tag=True):
    """`finding when E "message" [severity S]`."""

    condition: Expr
    message: StringLit
    severity: Ident | None


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "HEAD"]


class ProbeHeader(Node, frozen=True, tag=True):
    """`header "Name" "value template"` inside a probe."""

    name: StringLit
    value: StringLit


class Probe(Node, frozen=True, tag=True):
    """`probe METHOD "url template" for SELECTION|once { items } [severity S]`: `selection` is
    None for a probe sent `once` for the whole run; `headers` and `body` are templates like the
    URL; `eventually` the window to poll in until the expectations hold."""

    method: HttpMethod
    url: StringLit
    selection: Selection | None
    expects: tuple[Expr, ...]
    severity: Ident | None
    headers: tuple[ProbeHeader, ...] = ()
    body: StringLit | None = None
    eventually: Expr | None = None


Check = Expect | Finding | Probe


# ---------------------------------------------------------------- declarations


class Param(Node, frozen=True, tag=True):
    """`param NAME = DEFAULT ["description"]`."""

    name: Ident
    default: Expr
    description: StringLit | None


class Phase(Node, frozen=True, tag=True):
    """`phase NAME [after A, B] { actions }`."""

    name: Ident
    after: tuple[Ident, ...]
    actions: tuple[Action, ...]


class Scenario(Node, frozen=True, tag=True):
    """A scenario; its items in kinds, each kind in source order."""

    name: Ident
    extends: Ident | None
    about: StringLit | None
    category: Ident | None
    tags: tuple[Ident, ...]
    params: tuple[Param, ...]
    seed: IntLit | None
    phases: tuple[Phase, ...]
    delivers: tuple[Deliver, ...]
    checks: tuple[Check, ...]
    oracles: tuple[Ident, ...] = ()


class Use(Node, frozen=True, tag=True):
    """`use "module"`: a stdlib module by name, or a local file relative to this one."""

    target: StringLit


class Profile(Node, frozen=True, tag=True):
    """`profile NAME { delivery items }`: a named delivery/fault profile."""

    name: Ident
    items: tuple[DeliverItem, ...]


class Mix(Node, frozen=True, tag=True):
    """`mix NAME { outcomes }`: a named outcome mix."""

    name: Ident
    outcomes: Outcomes


class Ladder(Node, frozen=True, tag=True):
    """`ladder NAME [durations]`: a named retry ladder (delays before each retry)."""

    name: Ident
    steps: ListLit


class MapEntry(Node, frozen=True, tag=True):
    """`key value` in a map: a gateway word (a name or a string) and what the merchant says."""

    key: Ident | StringLit
    value: Expr


class Map(Node, frozen=True, tag=True):
    """`map NAME { key value, … }`: translates gateway words into the merchant's, called like a
    function in a probe (`order_status(order.state)`)."""

    name: Ident
    entries: tuple[MapEntry, ...]


class Oracle(Node, frozen=True, tag=True):
    """`oracle NAME { probes }`: named probes that a scenario takes with `use NAME`."""

    name: Ident
    probes: tuple[Probe, ...]


Decl = Use | Scenario | Profile | Mix | Ladder | Map | Oracle


class Module(Node, frozen=True, tag=True):
    """One `.carbon` file: `path` as shown in diagnostics and its declarations in order."""

    path: str
    decls: tuple[Decl, ...]

    @property
    def uses(self) -> tuple[Use, ...]:
        return tuple(d for d in self.decls if isinstance(d, Use))

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return tuple(d for d in self.decls if isinstance(d, Scenario))


class Comment(msgspec.Struct, frozen=True):
    """A comment as written (`// …` or `/* … */`), kept for the formatter."""

    text: str
    span: Span
